//! The pest parser, driven one declaration at a time, and the conversion of its
//! parse tree into the AST. Nothing pest-specific leaves this file.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use crate::diag::{did_you_mean, Code, Diagnostic, FileId, Label, SourceMap, Span};

use super::ast::*;
use super::DECLARATION_KEYWORDS;
use super::{direct, lexical};

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct SegParser;

/// Parses one file of the source map. Always returns a tree: the declarations that
/// parsed, plus a diagnostic for each stretch of text that did not.
pub fn parse(sources: &SourceMap, file: FileId) -> (File, Vec<Diagnostic>) {
    parse_with(sources, file, direct::declaration)
}

/// A parser that may decline any declaration (`None`), for which pest is then used.
pub(super) type FastPath = fn(FileId, &str, usize) -> Option<(Item, usize)>;

/// [`parse`] with `fast` tried first at every declaration; the tests compare the
/// direct parser with one that always declines (pest alone).
pub(super) fn parse_with(sources: &SourceMap, file: FileId, fast: FastPath) -> (File, Vec<Diagnostic>) {
    let text = sources.get(file).text.as_str();
    let lex = lexical::scan(file, text);
    let mut diagnostics = lex.diagnostics;
    let mut file_ast = File::new(file, Vec::new());
    let mut pos = skip_trivia(text, 0);
    while pos < text.len() {
        // Well-formed declarations take the direct parser; pest parses the rest again,
        // to report and recover exactly as the grammar says.
        let parsed = match fast(file, text, pos) {
            Some((item, end)) => Ok((Some(item), end)),
            None => pest_declaration(file, text, pos),
        };
        match parsed {
            Ok((item, end)) => {
                if let Some(item) = item {
                    file_ast.push(item);
                }
                // An empty match cannot happen (every declaration starts with a
                // keyword), but guarantee progress regardless.
                pos = skip_trivia(text, end.max(pos + 1));
            }
            Err(error) => {
                let at = pos + error_offset(&error);
                // The bad lines are sorted and disjoint: the first that does not end
                // before `at` is the only one that can hold it.
                let first = lex.bad_lines.partition_point(|r| r.end < at);
                let on_bad_line = lex.bad_lines.get(first).is_some_and(|r| r.start <= at);
                if !on_bad_line {
                    diagnostics.push(syntax_error(file, text, at, &error.variant));
                }
                pos = recover(text, pos, at);
            }
        }
    }
    file_ast.comments = lex.comments;
    (file_ast, diagnostics)
}

/// The declaration at `pos` by the grammar: its item (`None` only if pest matched
/// `item` without a declaration inside, which the grammar rules out) and where pest's
/// match ends.
///
/// pest first gets a window of the text rather than all of it: building an error, it
/// scans its input from the end back to the error's line, which over the rest of the
/// file at every broken declaration would be quadratic. An error from a parse that
/// cannot have read the end of its window (see [`read_bound`]) is the error over the
/// whole text; otherwise the window grows. A match is always taken over the whole
/// text, since a window may have cut off a block the declaration ends with; a match
/// builds no error, and pest reads only as far as the grammar needs.
fn pest_declaration(file: FileId, text: &str, pos: usize) -> Result<(Option<Item>, usize), pest::error::Error<Rule>> {
    let mut window = INITIAL_WINDOW;
    let pairs = loop {
        let mut end = pos.saturating_add(window).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let whole = end == text.len();
        match SegParser::parse(Rule::item, &text[pos..end]) {
            Ok(pairs) if whole => break pairs,
            Err(error) if whole || read_bound(text, pos + error_offset(&error)) < end => return Err(error),
            Ok(_) => window = usize::MAX,
            Err(_) => window = window.saturating_mul(4),
        }
    };
    let Some(pair) = pairs.peek() else { return Ok((None, text.len())) };
    let end = pos + pair.as_span().end();
    let builder = Builder { file, base: pos };
    Ok((pair.into_inner().next().map(|item| builder.item(item)), end))
}

/// The first window pest gets: larger than any sensible declaration.
const INITIAL_WINDOW: usize = 4096;

/// An offset beyond every byte a failed parse may have read, given where it failed
/// (pest's error position: the furthest position at which a rule was tried). Every
/// token that matched ends at or before that position, and a token tried there or
/// earlier reads at most to the end of its line (a string) or a few bytes on (a
/// keyword and its boundary); so the end of the line plus a margin bounds every read.
fn read_bound(text: &str, frontier: usize) -> usize {
    const MARGIN: usize = 64;
    let line_end = text[frontier.min(text.len())..].find('\n').map_or(text.len(), |n| frontier + n);
    line_end + MARGIN
}

/// Skips whitespace and comments.
fn skip_trivia(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'/' if bytes.get(pos + 1) == Some(&b'/') => {
                pos = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
            }
            _ => break,
        }
    }
    pos
}

/// Where to resume after an error at `at` in the declaration that starts at `start`:
/// the next line whose first word starts a declaration (the line of the error itself
/// when the error is at such a word), or the end of the text.
fn recover(text: &str, start: usize, at: usize) -> usize {
    let at = at.min(text.len());
    let line_of_at = text[..at].rfind('\n').map_or(0, |n| n + 1);
    if at > start && text[line_of_at..at].trim().is_empty() && starts_declaration(&text[at..]) {
        return at;
    }
    let mut line = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
    while line < text.len() {
        let first = skip_blanks(text, line);
        if starts_declaration(&text[first..]) {
            return first;
        }
        line = text[line..].find('\n').map_or(text.len(), |n| line + n + 1);
    }
    text.len()
}

fn skip_blanks(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// True when `rest` starts with a declaration keyword as a whole word. `trust` also
/// needs its `{`, so that a segment's `trust dmz` line is not taken for a trust block.
fn starts_declaration(rest: &str) -> bool {
    let word = bare_word(rest);
    if !DECLARATION_KEYWORDS.contains(&word) {
        return false;
    }
    word != "trust" || rest[word.len()..].trim_start().starts_with('{')
}

fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/=:*@+%~".contains(c)
}

fn bare_word(rest: &str) -> &str {
    let end = rest.find(|c: char| !is_bare_char(c)).unwrap_or(rest.len());
    &rest[..end]
}

fn error_offset(error: &pest::error::Error<Rule>) -> usize {
    match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// A pest error in the language's words: what was expected, what was found.
fn syntax_error(file: FileId, text: &str, at: usize, variant: &ErrorVariant<Rule>) -> Diagnostic {
    let rest = &text[at.min(text.len())..];
    let (found, len) = found_token(rest);
    let expected: Vec<&'static str> = match variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&'static str> = positives.iter().filter_map(|r| describe(*r)).collect();
            names.sort_by_key(|n| expected_rank(n));
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let expected_text = join_alternatives(&expected);
    let message = if expected_text.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {expected_text}, found {found}")
    };
    let label =
        if expected_text.is_empty() { "unexpected here".to_string() } else { format!("expected {expected_text}") };
    let mut diag = Diagnostic::new(Code::E0101, message, Label::new(Span::new(file, at..at + len), label));
    let word = bare_word(rest);
    let keywords = expected.iter().filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')));
    if let Some(suggestion) = did_you_mean(word, keywords) {
        diag = diag.with_help(format!("did you mean `{suggestion}`?"));
    } else if expected.contains(&"a declaration (`segment`, `allow`, `expose`, ...)") {
        diag = diag.with_help(
            "a file holds declarations: `import`, `trust`, `target`, `segment`, `external`, `allow`, `expose`, `forbid`",
        );
    }
    diag
}

/// The token at the error, for the message, and its length for the label.
fn found_token(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    let word = bare_word(rest);
    if !word.is_empty() {
        let shown: String = word.chars().take(40).collect();
        return (format!("`{shown}`"), word.len());
    }
    match c {
        '"' => ("a string".to_string(), 1),
        '\n' | '\r' => ("end of line".to_string(), 0),
        c if c.is_control() => (format!("character U+{:04X}", c as u32), c.len_utf8()),
        c => (format!("`{c}`"), c.len_utf8()),
    }
}

/// Rule names in the user's words; `None` for rules never worth naming.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::item
        | Rule::import
        | Rule::trust_block
        | Rule::target
        | Rule::segment
        | Rule::external
        | Rule::allow
        | Rule::expose
        | Rule::forbid => "a declaration (`segment`, `allow`, `expose`, ...)",
        Rule::bare | Rule::string | Rule::string_inner => "a value",
        Rule::ident | Rule::level => "a name",
        Rule::reference | Rule::std_ref => "a segment or level name",
        Rule::endpoint => "`SEGMENT:PORT`",
        Rule::lbrace
        | Rule::segment_block
        | Rule::external_block
        | Rule::allow_block
        | Rule::expose_block
        | Rule::target_block => "`{`",
        Rule::rbrace => "`}`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::arrow => "`->`",
        Rule::kw_import => "`import`",
        Rule::kw_trust | Rule::prop_trust => "`trust`",
        Rule::kw_target => "`target`",
        Rule::kw_segment => "`segment`",
        Rule::kw_external => "`external`",
        Rule::kw_allow => "`allow`",
        Rule::kw_expose => "`expose`",
        Rule::kw_forbid => "`forbid`",
        Rule::kw_in => "`in`",
        Rule::kw_accepts | Rule::accepts_clause => "`accepts`",
        Rule::kw_requires | Rule::requires_clause => "`requires`",
        Rule::kw_allows | Rule::allows_clause => "`allows`",
        Rule::kw_plaintext => "`plaintext`",
        Rule::kw_select | Rule::prop_select => "`select`",
        Rule::kw_account | Rule::prop_account => "`account`",
        Rule::kw_port | Rule::prop_port => "`port`",
        Rule::kw_service | Rule::prop_service => "`service`",
        Rule::kw_unmeshed | Rule::prop_unmeshed => "`unmeshed`",
        Rule::kw_cidr | Rule::prop_cidr => "`cidr`",
        Rule::kw_methods | Rule::prop_methods => "`methods`",
        Rule::kw_paths | Rule::prop_paths => "`paths`",
        Rule::kw_host | Rule::prop_host => "`host`",
        Rule::kw_tls | Rule::prop_tls => "`tls`",
        Rule::kw_source | Rule::prop_source => "`source`",
        Rule::kw_auth | Rule::prop_auth => "`auth`",
        Rule::kw_url | Rule::auth_kind => "`url`",
        Rule::kw_ingress | Rule::prop_ingress => "`ingress`",
        Rule::kw_mesh | Rule::prop_mesh => "`mesh`",
        Rule::kw_trust_domain | Rule::prop_trust_domain => "`trust-domain`",
        Rule::kw_identity_suffix | Rule::prop_identity_suffix => "`identity-suffix`",
        Rule::kw_controller | Rule::prop_controller => "`controller`",
        Rule::kw_dns | Rule::prop_dns => "`dns`",
        Rule::kw_probe | Rule::prop_probe => "`probe`",
        _ => return None,
    })
}

/// Keywords first (alphabetically), then punctuation, then descriptions, so that
/// messages list alternatives in a stable, readable order.
fn expected_rank(name: &str) -> (u8, &str) {
    let rank = if name.starts_with("`") && name[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        0
    } else if name.starts_with('`') {
        1
    } else {
        2
    };
    (rank, name)
}

fn join_alternatives(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Converts pest pairs of one declaration into AST nodes. `base` is the offset of the
/// declaration's text in the file (pest saw a slice starting there).
struct Builder {
    file: FileId,
    base: usize,
}

impl Builder {
    /// The pair's span, ending at its last token: pest lets a rule that ends in a
    /// failed optional (`allow_block?`) swallow the whitespace and comments it skipped.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let start = pair.as_span().start();
        let end = last_token_end(pair);
        Span::new(self.file, self.base + start..self.base + end)
    }

    fn item(&self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::import => {
                let mut inner = pair.into_inner();
                inner.next(); // kw_import
                let path = self.value(inner.next().expect("grammar: import has a value"));
                Item::Import(Import { path, span })
            }
            Rule::trust_block => Item::Trust(self.trust_block(pair)),
            Rule::target => {
                let mut inner = pair.into_inner();
                inner.next(); // kw_target
                let name = self.value(inner.next().expect("grammar: target has a name"));
                let block = self.block(inner.next().expect("grammar: target has a block"));
                Item::Target(Target { name, block, span })
            }
            Rule::segment => {
                let mut inner = pair.into_inner();
                let keyword = self.span(&inner.next().expect("grammar: segment keyword"));
                let name = self.value(inner.next().expect("grammar: segment has a name"));
                inner.next(); // kw_in
                let namespace = self.value(inner.next().expect("grammar: segment has a namespace"));
                let block = self.block(inner.next().expect("grammar: segment has a block"));
                Item::Segment(Segment { header: keyword.to(namespace.span), name, namespace, block, span })
            }
            Rule::external => {
                let mut inner = pair.into_inner();
                let keyword = self.span(&inner.next().expect("grammar: external keyword"));
                let name = self.value(inner.next().expect("grammar: external has a name"));
                let block = self.block(inner.next().expect("grammar: external has a block"));
                Item::External(External { header: keyword.to(name.span), name, block, span })
            }
            Rule::allow => {
                let mut inner = pair.into_inner();
                let keyword = self.span(&inner.next().expect("grammar: allow keyword"));
                let source = self.reference(inner.next().expect("grammar: allow has a source"));
                inner.next(); // arrow
                let destination = self.endpoint(inner.next().expect("grammar: allow has a destination"));
                let block = inner.next().map(|b| self.block(b));
                let header = keyword.to(destination.port.span);
                Item::Allow(Allow { source, destination, block, header, span })
            }
            Rule::expose => {
                let mut inner = pair.into_inner();
                let keyword = self.span(&inner.next().expect("grammar: expose keyword"));
                let target = self.endpoint(inner.next().expect("grammar: expose has a target"));
                let block = self.block(inner.next().expect("grammar: expose has a block"));
                Item::Expose(Expose { header: keyword.to(target.port.span), target, block, span })
            }
            Rule::forbid => {
                let mut inner = pair.into_inner();
                inner.next(); // kw_forbid
                let source = self.reference(inner.next().expect("grammar: forbid has a source"));
                let arrow = inner.next().expect("grammar: forbid has an arrow");
                let transitive = arrow.as_str() == "->*";
                let destination = self.reference(inner.next().expect("grammar: forbid has a destination"));
                Item::Forbid(Forbid { source, destination, transitive, span })
            }
            rule => unreachable!("grammar: `item` cannot contain {rule:?}"),
        }
    }

    fn trust_block(&self, pair: Pair<'_, Rule>) -> TrustBlock {
        let mut keyword_span = None;
        let mut block_open = None;
        let mut block_close = None;
        let mut levels = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::kw_trust => keyword_span = Some(self.span(&child)),
                Rule::lbrace => block_open = Some(self.span(&child)),
                Rule::rbrace => block_close = Some(self.span(&child)),
                Rule::level => levels.push(self.level(child)),
                _ => {}
            }
        }
        TrustBlock {
            levels,
            keyword_span: keyword_span.expect("grammar: trust keyword"),
            block_open: block_open.expect("grammar: trust block opens"),
            block_close: block_close.expect("grammar: trust block closes"),
        }
    }

    fn level(&self, pair: Pair<'_, Rule>) -> LevelDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.value(inner.next().expect("grammar: level has a name"));
        let mut level = LevelDecl { name, accepts: None, requires: Vec::new(), allows_plaintext: None, span };
        for clause in inner {
            let clause_span = self.span(&clause);
            match clause.as_rule() {
                Rule::accepts_clause => {
                    let levels =
                        clause.into_inner().filter(|p| p.as_rule() == Rule::ident).map(|p| self.value(p)).collect();
                    level.accepts = Some(Accepts { levels, span: clause_span });
                }
                Rule::requires_clause => {
                    let what = clause.into_inner().find(|p| p.as_rule() == Rule::ident);
                    level.requires.extend(what.map(|p| self.value(p)));
                }
                Rule::allows_clause => level.allows_plaintext = Some(clause_span),
                _ => {}
            }
        }
        level
    }

    fn block(&self, pair: Pair<'_, Rule>) -> Block {
        let mut open = None;
        let mut close = None;
        let mut properties = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::lbrace => open = Some(self.span(&child)),
                Rule::rbrace => close = Some(self.span(&child)),
                _ => properties.push(self.property(child)),
            }
        }
        Block { properties, open: open.expect("grammar: block opens"), close: close.expect("grammar: block closes") }
    }

    fn property(&self, pair: Pair<'_, Rule>) -> Property {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let keyword_pair = inner.next().expect("grammar: a property starts with its keyword");
        let keyword = property_keyword(rule);
        let values = inner
            .map(|p| match p.as_rule() {
                // `auth url VALUE`: the kind is kept as the first value.
                Rule::auth_kind => Value { text: "url".into(), quoted: false, span: self.span(&p) },
                _ => self.value(p),
            })
            .collect();
        Property { keyword, keyword_span: self.span(&keyword_pair), values, span }
    }

    fn value(&self, pair: Pair<'_, Rule>) -> Value {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::string => {
                let raw = pair.into_inner().next().map_or("", |p| p.as_str());
                Value { text: unescape(raw), quoted: true, span }
            }
            _ => Value { text: pair.as_str().to_string(), quoted: false, span },
        }
    }

    fn reference(&self, pair: Pair<'_, Rule>) -> Ref {
        let span = self.span(&pair);
        let inner = pair.into_inner().next().expect("grammar: a reference has a name");
        match inner.as_rule() {
            Rule::std_ref => {
                let name = inner.into_inner().next().expect("grammar: std.NAME has a name");
                Ref { std: true, name: self.value(name), span }
            }
            _ => Ref { std: false, name: self.value(inner), span },
        }
    }

    fn endpoint(&self, pair: Pair<'_, Rule>) -> Endpoint {
        let mut inner = pair.into_inner();
        let target = self.reference(inner.next().expect("grammar: an endpoint has a target"));
        inner.next(); // colon
        let port = self.value(inner.next().expect("grammar: an endpoint has a port"));
        Endpoint { target, port }
    }
}

fn last_token_end(pair: &Pair<'_, Rule>) -> usize {
    // Atomic rules never hold trivia; a string's last inner token stops before the
    // closing quote.
    if matches!(pair.as_rule(), Rule::string | Rule::bare | Rule::reference | Rule::ident) {
        return pair.as_span().end();
    }
    match pair.clone().into_inner().last() {
        Some(last) => last_token_end(&last),
        None => pair.as_span().end(),
    }
}

fn property_keyword(rule: Rule) -> Keyword {
    match rule {
        Rule::prop_trust => Keyword::Trust,
        Rule::prop_select => Keyword::Select,
        Rule::prop_account => Keyword::Account,
        Rule::prop_port => Keyword::Port,
        Rule::prop_service => Keyword::Service,
        Rule::prop_unmeshed => Keyword::Unmeshed,
        Rule::prop_cidr => Keyword::Cidr,
        Rule::prop_methods => Keyword::Methods,
        Rule::prop_paths => Keyword::Paths,
        Rule::prop_host => Keyword::Host,
        Rule::prop_tls => Keyword::Tls,
        Rule::prop_source => Keyword::Source,
        Rule::prop_auth => Keyword::Auth,
        Rule::prop_ingress => Keyword::Ingress,
        Rule::prop_mesh => Keyword::Mesh,
        Rule::prop_trust_domain => Keyword::TrustDomain,
        Rule::prop_identity_suffix => Keyword::IdentitySuffix,
        Rule::prop_controller => Keyword::Controller,
        Rule::prop_dns => Keyword::Dns,
        Rule::prop_probe => Keyword::Probe,
        rule => unreachable!("grammar: {rule:?} is not a property"),
    }
}

pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Origin;

    fn parse_text(text: &str) -> (File, Vec<Diagnostic>, SourceMap) {
        let mut sources = SourceMap::new();
        let id = sources.add("t.seg", Origin::Stdin, text.to_string());
        let (file, diags) = parse(&sources, id);
        (file, diags, sources)
    }

    #[test]
    fn spans_cover_exactly_the_written_text() {
        let (file, diags, sources) = parse_text("expose web:http { host \"a.example\" }\nallow a -> b:c   // x\n\n");
        assert!(diags.is_empty());
        let items: Vec<_> = file.items().collect();
        let ItemRef::Expose(expose) = items[0] else { panic!() };
        assert_eq!(sources.snippet(expose.block.properties[0].values[0].span), "\"a.example\"");
        assert_eq!(sources.snippet(items[1].span()), "allow a -> b:c");
    }

    #[test]
    fn declarations_of_every_kind_come_back_in_source_order() {
        let text = "allow a -> b:c\nsegment b in n { trust t }\nforbid a -> b\nallow b -> a:d\nexternal e { cidr 10.0.0.0/8 }\nsegment a in n { trust t }\n";
        let (file, diags, sources) = parse_text(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!((file.allows.len(), file.segments.len()), (2, 2));
        let snippets: Vec<&str> =
            file.items().map(|item| sources.snippet(item.span()).split_whitespace().take(2).last().unwrap()).collect();
        assert_eq!(snippets, ["a", "b", "a", "b", "e", "a"]);
        assert!(matches!(file.items().nth(2), Some(ItemRef::Forbid(_))));
        assert!(matches!(file.items().nth(4), Some(ItemRef::External(_))));
    }

    #[test]
    fn values_lists_stop_at_the_next_keyword_and_newlines_do_not_matter() {
        let (file, diags, _) = parse_text("segment a in b { select app=a tier=x\n account svc port http\n 80/http }");
        assert!(diags.is_empty(), "{diags:?}");
        let Some(ItemRef::Segment(seg)) = file.items().next() else { panic!() };
        let texts: Vec<Vec<&str>> =
            seg.block.properties.iter().map(|p| p.values.iter().map(|v| v.text.as_str()).collect()).collect();
        assert_eq!(texts, vec![vec!["app=a", "tier=x"], vec!["svc"], vec!["http", "80/http"]]);
    }

    #[test]
    fn every_error_is_reported_and_parsing_resumes() {
        let (file, diags, _) = parse_text("segment a in b { selct x }\nallow a => b:c\nforbid a -> b\n");
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(diags.iter().all(|d| d.code == Code::E0101));
        assert_eq!(file.items().count(), 1, "the forbid still parses");
        assert_eq!(diags[0].help.as_deref(), Some("did you mean `select`?"));
    }

    #[test]
    fn a_missing_brace_does_not_swallow_the_next_declaration() {
        let (file, diags, _) = parse_text("segment a in b { trust x\nsegment c in d { trust y }\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("found `segment`"), "{}", diags[0].message);
        assert_eq!(file.items().count(), 1);
    }

    #[test]
    fn junk_never_panics_and_is_linear() {
        let junk: String = (0..200_000u32).map(|i| char::from(b" {}\"/:x\n-=>*"[(i % 12) as usize])).collect();
        let (_, diags, _) = parse_text(&junk);
        assert!(!diags.is_empty());
    }

    /// The windowed pest parse and pest over the whole text: the same match (item
    /// and end) or the same error (offset and expectations).
    fn assert_window_agrees(text: &str) {
        let show = |r: Result<(Option<Item>, usize), pest::error::Error<Rule>>| match r {
            Ok((item, end)) => format!("{item:?} ending at {end}"),
            Err(e) => format!("error at {}: {:?}", error_offset(&e), e.variant),
        };
        let whole = SegParser::parse(Rule::item, text).map(|mut pairs| {
            let pair = pairs.next().expect("a match");
            let end = pair.as_span().end();
            (pair.into_inner().next().map(|item| Builder { file: FileId(0), base: 0 }.item(item)), end)
        });
        assert_eq!(show(pest_declaration(FileId(0), text, 0)), show(whole), "on a text of {} bytes", text.len());
    }

    #[test]
    fn windowed_pest_agrees_with_pest_over_the_whole_text() {
        let lines = |n: usize, line: &str| -> String { (0..n).map(|i| format!("  {line}{i}\n")).collect() };
        let methods = lines(600, "methods GET");
        let values = lines(600, "v");
        let mut texts = vec![
            format!("allow a -> b:c {{\n{methods}}}\n"),
            format!("allow a -> b:c {{\n{methods} bogus }}\nallow d -> e:f\n"),
            format!("allow a -> b:c\n{}{{ methods GET }}", lines(600, "// note ")),
            format!("segment a in b {{ select\n{values} selct x }}"),
            format!("segment a in b {{ select\n{values} \"open\n}}"),
            format!("trust {{\n{}  x accepts }}", lines(600, "l")),
        ];
        // Errors, strings and keywords at every offset around the first window's end.
        for pad in INITIAL_WINDOW - 80..INITIAL_WINDOW + 40 {
            let blank = " ".repeat(pad);
            texts.push(format!("segment a in b {{{blank}bogus }}"));
            texts.push(format!("segment a in b {{{blank}select \"no end\nx }}"));
            texts.push(format!("target t {{{blank}identity-suffix x }}"));
            texts.push(format!("target t {{{blank}identity-suffi x }}"));
            texts.push(format!("segment a in b {{ select \"{}\" }}", "é".repeat(pad / 2)));
            texts.push(format!("allow a -> b:c {{{blank}methods GET }}"));
            texts.push(format!("allow a -> b:c {{{blank}methods GET"));
        }
        for text in &texts {
            assert_window_agrees(text);
        }
    }

    #[test]
    fn the_std_prefix_is_part_of_a_reference() {
        let (file, diags, _) = parse_text("allow std.prometheus -> api:metrics");
        assert!(diags.is_empty());
        let Some(ItemRef::Allow(allow)) = file.items().next() else { panic!() };
        assert!(allow.source.std);
        assert_eq!(allow.source.name.text, "prometheus");
        assert_eq!(allow.source.display(), "std.prometheus");
    }
}
