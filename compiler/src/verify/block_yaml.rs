//! Reading the YAML segc writes, without libyaml.
//!
//! Takes: the text of a manifest file. Gives: its documents as [`Value`]s, exactly as
//! `serde_yaml` would read them, or `None` when the text leaves the subset modelled
//! here; the caller then reads it with `serde_yaml`, which also words every error.
//! Must not: return a value `serde_yaml` would not, or accept text `serde_yaml`
//! refuses. When in doubt it declines.
//!
//! Why: reading a build of a hundred thousand objects back through libyaml's scanner,
//! parser and serde's event layer took most of `segc verify`'s time. The subset is the
//! block style serde_yaml writes (and so `backends::yaml`): printable ASCII, one entry
//! or item per line, two-space nesting with sequences under a key not indented,
//! `key: value` with plain or single-quoted scalars, `{}` and `[]` for empty
//! collections, full-line comments and `---` between documents. Scalars resolve as
//! serde_yaml resolves them (`de.rs` `visit_untagged_scalar`): a plain scalar that
//! could be a number other than a simple decimal, or that is spelled like one of the
//! uncommon null and boolean forms, is left to serde_yaml. Anchors, tags, flow
//! collections with content, block scalars, multi-line scalars, double-quoted escapes,
//! complex keys, directives and empty documents are all declined.

use crate::verify::value::{Mapping, Value};

/// The documents of `text`, or `None` when it is outside the modelled subset.
pub fn documents(text: &str) -> Option<Vec<Value>> {
    // Tabs, carriage returns, other control characters and anything beyond ASCII
    // have rules of their own in YAML (line breaks such as U+2028, indentation).
    if text.bytes().any(|b| (b < b' ' && b != b'\n') || b >= 0x7f) {
        return None;
    }
    let mut documents = Vec::new();
    let mut lines = Vec::new();
    let mut started = false;
    for raw in text.split('\n') {
        let content = raw.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if raw == "---" {
            // A leading `---` opens the first document; later ones close the previous.
            if started {
                documents.push(document(&lines)?);
                lines.clear();
            }
            started = true;
            continue;
        }
        if content.starts_with("---") || content.starts_with("...") {
            return None;
        }
        started = true;
        lines.push(Line::of(raw.len() - content.len(), content));
    }
    if !started {
        return None;
    }
    documents.push(document(&lines)?);
    Some(documents)
}

/// One line of content: its indentation and text. A sequence item `- x` is the item
/// mark at `indent` and `x` as the content, which starts at `indent + 2`.
#[derive(Debug, Clone, Copy)]
struct Line<'t> {
    indent: usize,
    item: bool,
    content: &'t str,
}

impl<'t> Line<'t> {
    fn of(indent: usize, content: &'t str) -> Line<'t> {
        match content.strip_prefix("- ") {
            Some(rest) => Line { indent, item: true, content: rest },
            None if content == "-" => Line { indent, item: true, content: "" },
            None => Line { indent, item: false, content },
        }
    }
}

/// One document: a block mapping or sequence that uses every line.
fn document(lines: &[Line]) -> Option<Value> {
    // An empty document reads as null in serde_yaml; whether it counts as a document
    // depends on where the markers are. Left to serde_yaml.
    let first = lines.first()?;
    if let [only] = lines {
        // `{}` and `[]` as a whole document.
        if !only.item && (only.content == "{}" || only.content == "[]") {
            return scalar(only.content);
        }
    }
    let mut reader = Reader { lines, at: 0, entries: Vec::new(), items: Vec::new() };
    let value = reader.node(first.indent)?;
    (reader.at == lines.len()).then_some(value)
}

struct Reader<'l, 't> {
    lines: &'l [Line<'t>],
    at: usize,
    /// The entries and items of the collections being read, innermost last: each
    /// collection takes its own off the end at exactly its size, so none is grown
    /// and shrunk (a hundred thousand objects are made of millions of them).
    entries: Vec<(Value, Value)>,
    items: Vec<Value>,
}

impl<'t> Reader<'_, 't> {
    fn peek(&self) -> Option<Line<'t>> {
        self.lines.get(self.at).copied()
    }

    /// The block collection whose first line is the current one, at `indent`.
    fn node(&mut self, indent: usize) -> Option<Value> {
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if line.item {
            return self.sequence(indent);
        }
        match entry(line.content)? {
            Some(_) => self.mapping(indent, false),
            // A lone scalar as a document or nested block: not something segc writes.
            None => None,
        }
    }

    /// The value of an entry or item whose own line ends after `key:` or `-`: a
    /// collection on the following lines, or null. `indent` is the entry's own;
    /// `compact_sequence` says a sequence may start at that same indentation (under
    /// a mapping key, as serde_yaml writes it).
    fn nested(&mut self, indent: usize, compact_sequence: bool) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > indent => self.node(next.indent),
            Some(next) if next.indent == indent && next.item && compact_sequence => self.sequence(indent),
            _ => Some(Value::Null),
        }
    }

    /// A block mapping at `indent`. With `first_in_item`, its first entry is the
    /// content of the current item line (`- key: value`).
    fn mapping(&mut self, indent: usize, first_in_item: bool) -> Option<Value> {
        let start = self.entries.len();
        let mut in_item = first_in_item;
        while let Some(line) = self.peek() {
            let belongs = if in_item { true } else { line.indent == indent && !line.item };
            if !belongs {
                break;
            }
            in_item = false;
            let (key, rest) = entry(line.content)??;
            self.at += 1;
            let value = match rest {
                "" => self.nested(indent, true)?,
                rest => scalar(rest.strip_prefix(' ')?)?,
            };
            self.entries.push((key, value));
        }
        Mapping::from_entries(self.entries.drain(start..).collect()).map(Value::Mapping)
    }

    /// A block sequence at `indent`.
    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let start = self.items.len();
        while let Some(line) = self.peek() {
            if line.indent != indent || !line.item {
                break;
            }
            let item = if line.content.is_empty() {
                self.at += 1;
                self.nested(indent, false)?
            } else if line.content == "-" || line.content.starts_with("- ") {
                // `- - x`: a sequence in a sequence, which segc does not write.
                return None;
            } else if entry(line.content)?.is_some() {
                self.mapping(indent + 2, true)?
            } else {
                self.at += 1;
                scalar(line.content)?
            };
            self.items.push(item);
        }
        Some(Value::Sequence(self.items.drain(start..).collect()))
    }
}

/// `key: rest` or `key:` split into the key and what follows the colon;
/// `Some(None)` when the content is no entry (a scalar), `None` when it is outside the
/// subset.
fn entry(content: &str) -> Option<Option<(Value, &str)>> {
    if let Some(quoted) = content.strip_prefix('\'') {
        let (key, rest) = single_quoted(quoted)?;
        // A quoted scalar alone (`- '8080'`) is no entry.
        let Some(rest) = rest.strip_prefix(':') else { return Some(None) };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        return Some(Some((Value::String(key.into()), rest)));
    }
    let colon = colon_space(content).or_else(|| content.strip_suffix(':').map(str::len));
    let Some(colon) = colon else {
        // `a:b` is a plain scalar in YAML, but a colon is worth a second look.
        return if content.contains(':') { None } else { Some(None) };
    };
    let key = &content[..colon];
    // libyaml takes at most 1024 characters as a simple key; a colon inside a key has
    // rules of its own.
    if key.len() > 1000 || key.contains(':') || !plain_text(key) {
        return None;
    }
    Some(Some((plain(key)?, &content[colon + 1..])))
}

/// A scalar that is the whole rest of a line.
fn scalar(text: &str) -> Option<Value> {
    match text {
        "{}" => return Some(Value::Mapping(Mapping::new())),
        "[]" => return Some(Value::Sequence(Box::default())),
        _ => {}
    }
    if let Some(quoted) = text.strip_prefix('\'') {
        let (value, rest) = single_quoted(quoted)?;
        return rest.is_empty().then(|| Value::String(value.into()));
    }
    if let Some(quoted) = text.strip_prefix('"') {
        let (value, rest) = quoted.split_once('"')?;
        return (rest.is_empty() && !value.contains('\\')).then(|| Value::String(value.into()));
    }
    if !plain_text(text) {
        return None;
    }
    plain(text)
}

/// Whether `text` reads as one plain scalar when it is the rest of a line or a key:
/// it does not start with a space or an indicator (`-`, `?` and `:` may start one when
/// more than a space follows, as in `::/0`), and has no comment, no `: ` and no
/// trailing space or colon.
fn plain_text(text: &str) -> bool {
    let starts_plain = match text.as_bytes() {
        [] => false,
        [b'-' | b'?' | b':', second, ..] => *second != b' ',
        [first, ..] => !b" -?:,[]{}#&*!|>'\"%@`".contains(first),
    };
    starts_plain
        && !(text.ends_with(' ') || text.ends_with(':') || space_hash(text).is_some() || colon_space(text).is_some())
}

// The two searches below look for the rarer byte of the pair and check its
// neighbour. A two-byte `&str` pattern (`text.find(": ")`) sets up a general
// substring searcher at every call, which on lines this short cost more than the
// search: 4 % of `verify`'s CPU time at 10,000 segments (perf).

/// Where the first `": "` of `text` starts.
fn colon_space(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b':', bytes).find(|&i| bytes.get(i + 1) == Some(&b' '))
}

/// Where the first `" #"` of `text` starts.
fn space_hash(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'#', bytes).find(|&i| i > 0 && bytes[i - 1] == b' ').map(|i| i - 1)
}

/// A single-quoted scalar's value (`''` is a quote) and the text after its closing
/// quote; `quoted` starts after the opening one. Only on one line.
fn single_quoted(quoted: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut rest = quoted;
    loop {
        let end = rest.find('\'')?;
        value.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Some((value, rest)),
        }
    }
}

/// A plain scalar resolved as serde_yaml resolves it: null, boolean, number or string.
/// Declines forms whose resolution has more rules than modelled here.
fn plain(text: &str) -> Option<Value> {
    match text {
        "~" | "null" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "Null" | "NULL" | "True" | "TRUE" | "False" | "FALSE" => return None,
        _ => {}
    }
    let first = *text.as_bytes().first()?;
    // serde_yaml tries integers in four radixes (`0x1f`, `-0o17`, `+5`) and then Rust's
    // float syntax (`1e3`, `.5`), keeping finite floats, and leading zeros make a
    // string. Only decimals are modelled; text that starts like a number is
    // still certainly a string when it has a character none of those forms has
    // (`10.0.0.0/8`, `12:30`).
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let decimal = text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || first != b'0');
        if decimal {
            return text.parse::<u64>().ok().map(|n| Value::Number(n.into()));
        }
        if let Some(digits) = text.strip_prefix('-') {
            let negative = !digits.is_empty() && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
            if negative {
                return text.parse::<i64>().ok().map(|n| Value::Number(n.into()));
            }
        }
        let numeric = |b: u8| b.is_ascii_hexdigit() || b"+-.xXoOiInNtTyY".contains(&b);
        if text.bytes().all(numeric) {
            return None;
        }
    }
    Some(Value::String(text.into()))
}

#[cfg(test)]
#[path = "block_yaml_tests.rs"]
mod tests;
