//! The canonical form of a `.seg` file, for `segc fmt`.
//!
//! Takes: a parsed [`File`] without syntax errors and its source text.
//! Gives: the file's text in canonical form: two-space indentation, one property per
//! line, single spaces between tokens, level names aligned in the trust block, at
//! most one blank line in a row and none just inside braces. What it keeps: every
//! comment, the order of declarations and properties, bare or quoted spelling, where
//! the author put blank lines, and the column of a trailing comment when the code
//! before it leaves room.
//! Must not: change meaning. `format(format(x)) == format(x)`.

use crate::diag::SourceFile;

use super::ast::*;

/// One line of output before comments are merged in.
struct Line {
    indent: usize,
    text: String,
    /// Byte offsets of the construct this line prints, in the source.
    start: usize,
    end: usize,
    /// A `}` that closes a block: comments before it belong inside the block.
    closes: bool,
}

/// Formats a file. The file must have parsed without errors: the formatter prints the
/// AST, and text that did not parse is not in it.
pub fn format(file: &File, source: &SourceFile) -> String {
    let mut lines = Vec::new();
    for item in file.items() {
        print_item(item, &mut lines);
    }
    render(&lines, &file.comments, source)
}

fn print_item(item: ItemRef<'_>, out: &mut Vec<Line>) {
    match item {
        ItemRef::Import(import) => out.push(line(0, format!("import {}", value(&import.path)), import.span.range())),
        ItemRef::Trust(trust) => print_trust(trust, out),
        ItemRef::Target(target) => {
            let header = format!("target {}", target.name.text);
            print_block(header, target.span.start as usize, &target.block, out);
        }
        ItemRef::Segment(segment) => {
            let header = format!("segment {} in {}", segment.name.text, segment.namespace.text);
            print_block(header, segment.span.start as usize, &segment.block, out);
        }
        ItemRef::External(external) => {
            let header = format!("external {}", external.name.text);
            print_block(header, external.span.start as usize, &external.block, out);
        }
        ItemRef::Allow(allow) => {
            let header = format!("allow {} -> {}", reference(&allow.source), endpoint(&allow.destination));
            match &allow.block {
                Some(block) if !block.properties.is_empty() => {
                    print_block(header, allow.span.start as usize, block, out)
                }
                _ => out.push(line(0, header, allow.span.range())),
            }
        }
        ItemRef::Expose(expose) => {
            let header = format!("expose {}", endpoint(&expose.target));
            print_block(header, expose.span.start as usize, &expose.block, out);
        }
        ItemRef::Forbid(forbid) => {
            let arrow = if forbid.transitive { "->*" } else { "->" };
            let text = format!("forbid {} {arrow} {}", reference(&forbid.source), reference(&forbid.destination));
            out.push(line(0, text, forbid.span.range()));
        }
    }
}

fn print_trust(trust: &TrustBlock, out: &mut Vec<Line>) {
    let start = trust.keyword_span.start as usize;
    out.push(line(0, "trust {".into(), start..trust.block_open.end as usize));
    let width = trust.levels.iter().map(|l| l.name.text.len()).max().unwrap_or(0);
    for level in &trust.levels {
        let mut clauses = Vec::new();
        if let Some(accepts) = &level.accepts {
            let names: Vec<&str> = accepts.levels.iter().map(|l| l.text.as_str()).collect();
            clauses.push(format!("accepts {}", names.join(", ")));
        }
        clauses.extend(level.requires.iter().map(|r| format!("requires {}", r.text)));
        if level.allows_plaintext.is_some() {
            clauses.push("allows plaintext".into());
        }
        let text = if clauses.is_empty() {
            level.name.text.clone()
        } else {
            format!("{:width$} {}", level.name.text, clauses.join(" "))
        };
        out.push(line(1, text, level.span.range()));
    }
    out.push(close(trust.block_close.range()));
}

fn print_block(header: String, start: usize, block: &Block, out: &mut Vec<Line>) {
    if block.properties.is_empty() {
        out.push(line(0, format!("{header} {{}}"), start..block.close.end as usize));
        return;
    }
    out.push(line(0, format!("{header} {{"), start..block.open.end as usize));
    for property in &block.properties {
        let mut text = property.keyword.as_str().to_string();
        for v in &property.values {
            text.push(' ');
            text.push_str(&value(v));
        }
        out.push(line(1, text, property.span.range()));
    }
    out.push(close(block.close.range()));
}

fn line(indent: usize, text: String, range: std::ops::Range<usize>) -> Line {
    Line { indent, text, start: range.start, end: range.end, closes: false }
}

fn close(range: std::ops::Range<usize>) -> Line {
    Line { closes: true, ..line(0, "}".into(), range) }
}

fn value(v: &Value) -> String {
    if v.quoted {
        format!("\"{}\"", v.text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.text.clone()
    }
}

fn reference(r: &Ref) -> String {
    r.display()
}

fn endpoint(e: &Endpoint) -> String {
    format!("{}:{}", reference(&e.target), e.port.text)
}

/// A comment placed relative to the output lines.
enum Placement {
    /// On its own line before output line `index` (or at the end when `index` is the
    /// number of lines).
    Before(usize),
    /// After the code of output line `index`, aiming for `column` (in characters).
    Trailing(usize, usize),
}

fn render(lines: &[Line], comments: &[Comment], source: &SourceFile) -> String {
    let text = source.text.as_str();
    let mut before: Vec<Vec<&Comment>> = vec![Vec::new(); lines.len() + 1];
    let mut trailing: Vec<Vec<(usize, &Comment)>> = vec![Vec::new(); lines.len()];
    for comment in comments {
        match place(comment, lines, source) {
            Placement::Before(i) => before[i].push(comment),
            Placement::Trailing(i, col) => trailing[i].push((col, comment)),
        }
    }

    let mut out = Printer { out: String::new(), last: Last::Nothing, previous_end: 0 };
    for (i, l) in lines.iter().enumerate() {
        for comment in &before[i] {
            let start = comment.span.start as usize;
            out.separate(out.blank_in_source(text, start));
            let indent = if l.closes { l.indent + 1 } else { l.indent };
            out.line(indent, comment.text.trim_end(), &[]);
            out.finish(Last::Comment, comment.span.end as usize);
        }
        let blank_in_source = out.blank_in_source(text, l.start);
        out.separate(blank_in_source && !l.closes);
        out.line(l.indent, &l.text, &trailing[i]);
        out.finish(if l.text.ends_with('{') { Last::BlockStart } else { Last::Code }, l.end);
    }
    for comment in &before[lines.len()] {
        out.separate(out.blank_in_source(text, comment.span.start as usize));
        out.line(0, comment.text.trim_end(), &[]);
        out.finish(Last::Comment, comment.span.end as usize);
    }
    out.out
}

/// What was printed last, which decides whether a blank line may or must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    /// A line ending in `{`: no blank line directly inside a block.
    BlockStart,
    Comment,
    Code,
}

struct Printer {
    out: String,
    last: Last,
    /// Source offset of the end of what was printed last.
    previous_end: usize,
}

impl Printer {
    fn blank_in_source(&self, text: &str, start: usize) -> bool {
        self.last != Last::Nothing && has_blank_line(text, self.previous_end, start)
    }

    fn separate(&mut self, blank: bool) {
        if blank && !matches!(self.last, Last::Nothing | Last::BlockStart) {
            self.out.push('\n');
        }
    }

    fn line(&mut self, indent: usize, code: &str, trailing: &[(usize, &Comment)]) {
        push_indent(&mut self.out, indent);
        self.out.push_str(code);
        let mut width = indent * 2 + code.chars().count();
        for (column, comment) in trailing {
            let pad = if *column > width { column - width } else { 1 };
            let text = comment.text.trim_end();
            self.out.push_str(&" ".repeat(pad));
            self.out.push_str(text);
            width += pad + text.chars().count();
        }
        self.out.push('\n');
    }

    fn finish(&mut self, last: Last, end: usize) {
        self.last = last;
        self.previous_end = end;
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// Where a comment goes: trailing the output line whose construct shares its source
/// line (or, for a comment after a value continued on a later line, the line printing
/// that construct); otherwise on its own line before the next construct.
fn place(comment: &Comment, lines: &[Line], source: &SourceFile) -> Placement {
    let start = comment.span.start as usize;
    let line_index = source.line_index(start);
    let line_start = source.line_start(line_index).unwrap_or(0);
    let own_line = source.text[line_start..start].trim().is_empty();
    // The first output line that starts after the comment.
    let next = lines.partition_point(|l| l.start < start);
    if own_line {
        return Placement::Before(next);
    }
    let column = source.text[line_start..start].chars().count();
    // Prefer the last output line whose construct starts on the comment's line.
    let same_line = lines[..next].iter().rposition(|l| source.line_index(l.start) == line_index);
    match same_line.or_else(|| next.checked_sub(1)) {
        Some(i) => Placement::Trailing(i, column),
        None => Placement::Before(next),
    }
}

/// True when the source between two printed constructs holds an empty line. Only
/// whitespace and trailing comments lie between them, so two line breaks mean a
/// blank line.
fn has_blank_line(text: &str, from: usize, to: usize) -> bool {
    text.get(from.min(to)..to).is_some_and(|between| between.matches('\n').count() >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Origin, SourceMap};

    fn fmt(text: &str) -> String {
        let mut sources = SourceMap::new();
        let id = sources.add("t.seg", Origin::Stdin, text.to_string());
        let (file, diags) = crate::syntax::parse(&sources, id);
        assert!(diags.is_empty(), "{diags:?}");
        format(&file, sources.get(id))
    }

    fn assert_idempotent(text: &str) -> String {
        let once = fmt(text);
        assert_eq!(fmt(&once), once, "formatting twice changes the text");
        once
    }

    #[test]
    fn normalises_spacing_indentation_and_one_property_per_line() {
        let out = assert_idempotent(
            "segment   web in shop { trust dmz select app=web\n    port http 8080/http }\nallow web->api:http",
        );
        assert_eq!(
            out,
            "segment web in shop {\n  trust dmz\n  select app=web\n  port http 8080/http\n}\nallow web -> api:http\n"
        );
    }

    #[test]
    fn aligns_trust_levels() {
        let out = assert_idempotent("trust {\n dmz accepts internet\n restricted requires mtls\n  internal\n}\n");
        assert_eq!(out, "trust {\n  dmz        accepts internet\n  restricted requires mtls\n  internal\n}\n");
    }

    #[test]
    fn keeps_every_comment_and_trailing_columns() {
        let text = "// head\nimport \"std/k8s\"      // std\n\nsegment a in b { // open\n  // inside\n  trust x   // t\n  // before close\n}\n// tail\n";
        let out = assert_idempotent(text);
        for c in ["// head", "// std", "// open", "// inside", "// t", "// before close", "// tail"] {
            assert!(out.contains(c), "lost {c} in:\n{out}");
        }
        assert!(out.contains("import \"std/k8s\"      // std\n"), "{out}");
        assert!(out.contains("  // before close\n}"), "{out}");
    }

    #[test]
    fn blank_lines_collapse_to_one_and_stay_where_the_author_put_them() {
        let out = assert_idempotent(
            "allow a -> b:c\n\n\n\nallow a -> b:d\nallow a -> b:e\nexternal x { cidr 10.0.0.0/8 }\nforbid a -> b\n",
        );
        assert_eq!(
            out,
            "allow a -> b:c\n\nallow a -> b:d\nallow a -> b:e\nexternal x {\n  cidr 10.0.0.0/8\n}\nforbid a -> b\n"
        );
    }

    #[test]
    fn keeps_quoting_and_escapes() {
        let out = assert_idempotent(
            "expose web:http { host \"a.example\" paths \"/x\\\"y\" tls t auth url \"https://a/b\" }\n",
        );
        assert!(out.contains("host \"a.example\""));
        assert!(out.contains("paths \"/x\\\"y\""));
        assert!(out.contains("auth url \"https://a/b\""));
    }

    #[test]
    fn crlf_becomes_lf() {
        assert_eq!(assert_idempotent("forbid a -> b\r\n"), "forbid a -> b\n");
    }

    #[test]
    fn shop_example_is_already_canonical() {
        let shop = include_str!("../../../examples/shop.seg");
        assert_eq!(fmt(shop), shop);
    }
}
