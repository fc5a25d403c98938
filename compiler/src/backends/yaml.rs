//! YAML text for emitted objects: byte for byte what `serde_yaml::to_string` writes,
//! at a fraction of its cost.
//!
//! Takes: any `Serialize` value. Gives: its YAML document as `serde_yaml` 0.9 would
//! write it (block style, two-space indentation, sequences inside mappings not
//! indented, no line wrapping, scalars plain unless they would read back as something
//! else or contain YAML indicators, then single-quoted).
//! Must not: produce any text `serde_yaml` would not. Anything outside the subset this
//! writer models (non-ASCII or control characters, multi-line strings, tags, keys that
//! are not scalars or are too long to be simple keys, a document that is not a
//! collection) makes it hand the whole value to `serde_yaml` instead.
//!
//! Why: `serde_yaml` runs every scalar through libyaml's general emitter and a trial
//! parse; for a build of a hundred thousand objects that was most of `segc build`'s
//! time. This writer follows libyaml's emitter (`unsafe-libyaml` `emitter.rs`: the
//! indentation state, `write_indent`, `write_indicator`, `analyze_scalar`,
//! `select_scalar_style`) and serde_yaml's scalar style inference (`ser.rs`
//! `serialize_str`, `de.rs` `visit_untagged_scalar`) for the subset it accepts; the
//! tests compare it with `serde_yaml` on random documents.

use std::cell::RefCell;
use std::fmt::{self, Display};

use serde::ser::{self, Serialize};

/// The YAML document of `value`, exactly as `serde_yaml::to_string` writes it.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_yaml::Error> {
    thread_local! {
        /// Text is written into a buffer reused by every object of the thread, then
        /// copied out at its exact size: a hundred thousand objects then take only
        /// the memory their text needs, without growing one string each.
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let written = BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        let mut emitter = Emitter::new(std::mem::take(buffer));
        let written = match value.serialize(&mut emitter) {
            Ok(()) if emitter.done => Some(emitter.out.as_str().to_owned()),
            _ => None,
        };
        *buffer = emitter.out;
        written
    });
    match written {
        Some(text) => Ok(text),
        // Outside the modelled subset (or a serialisation error, which serde_yaml then
        // reports in its own words).
        None => serde_yaml::to_string(value),
    }
}

/// Something this writer does not model; `to_string` falls back to `serde_yaml`.
#[derive(Debug)]
struct Unsupported;

impl Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not modelled by the fast YAML writer")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(_msg: T) -> Self {
        Unsupported
    }
}

type Result<T = (), E = Unsupported> = std::result::Result<T, E>;

/// Where a node sits, as libyaml's `emit_node` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    SequenceItem,
    MappingKey,
    MappingValue,
}

/// An open collection. libyaml looks one event ahead to write an empty collection in
/// flow style (`[]`, `{}`); here a collection stays `pending` until its first entry.
#[derive(Debug)]
struct Frame {
    mapping: bool,
    context: Context,
    pending: bool,
    /// For mappings: the last node was a key, so the next is its value.
    after_key: bool,
}

/// libyaml's emitter state, for block collections of single-line ASCII scalars.
struct Emitter {
    out: String,
    /// Characters written on the current line (all ASCII, so bytes).
    column: usize,
    /// The last character written is whitespace (or nothing was written on the line).
    whitespace: bool,
    /// Only indentation (and indicators such as `- `) is on the current line.
    indention: bool,
    /// Current indentation; -1 before the root collection.
    indent: isize,
    indents: Vec<isize>,
    frames: Vec<Frame>,
    /// The document is complete.
    done: bool,
}

/// libyaml's default indentation.
const BEST_INDENT: isize = 2;
/// libyaml writes a longer key in the explicit `? key` form.
const MAX_SIMPLE_KEY: usize = 128;

impl Emitter {
    /// An emitter writing into `out`, which must be empty.
    fn new(out: String) -> Emitter {
        Emitter {
            out,
            column: 0,
            whitespace: true,
            indention: true,
            indent: -1,
            indents: Vec::new(),
            frames: Vec::new(),
            done: false,
        }
    }

    fn put(&mut self, text: &str) {
        self.out.push_str(text);
        self.column += text.len();
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// `yaml_emitter_increase_indent` for block collections.
    fn increase_indent(&mut self, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = 0;
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    /// `yaml_emitter_write_indent`.
    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(" ");
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// `yaml_emitter_write_indicator`.
    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(" ");
        }
        self.put(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// Called before every node: writes what libyaml writes between the previous
    /// event and this node (a pending collection's start, `- `, the indentation of a
    /// key, `: `), and says where the node sits.
    fn node_start(&mut self) -> Result<Context> {
        if self.done {
            return Err(Unsupported);
        }
        let Some(index) = self.frames.len().checked_sub(1) else {
            return Ok(Context::Root);
        };
        if self.frames[index].pending {
            self.frames[index].pending = false;
            let frame = &self.frames[index];
            // A block sequence directly under a mapping key is not indented.
            let indentless = !frame.mapping && frame.context == Context::MappingValue && !self.indention;
            self.increase_indent(indentless);
        }
        let frame = &mut self.frames[index];
        if !frame.mapping {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            return Ok(Context::SequenceItem);
        }
        frame.after_key = !frame.after_key;
        if frame.after_key {
            self.write_indent();
            Ok(Context::MappingKey)
        } else {
            self.write_indicator(":", false, false, false);
            Ok(Context::MappingValue)
        }
    }

    fn node_end(&mut self) {
        if self.frames.is_empty() {
            // `yaml_emitter_emit_document_end`: an implicit end after the root.
            self.write_indent();
            self.done = true;
        }
    }

    fn collection_start(&mut self, mapping: bool) -> Result {
        let context = self.node_start()?;
        if context == Context::MappingKey {
            // A collection as a key is never a simple key unless empty; not modelled.
            return Err(Unsupported);
        }
        self.frames.push(Frame { mapping, context, pending: true, after_key: false });
        Ok(())
    }

    fn collection_end(&mut self) -> Result {
        let frame = self.frames.pop().ok_or(Unsupported)?;
        if frame.pending {
            // Empty: libyaml writes it in flow style.
            let (open, close) = if frame.mapping { ("{", "}") } else { ("[", "]") };
            self.write_indicator(open, true, true, false);
            self.write_indicator(close, false, false, false);
        } else {
            if frame.mapping && frame.after_key {
                // A key without a value.
                return Err(Unsupported);
            }
            self.indent = self.indents.pop().ok_or(Unsupported)?;
        }
        self.node_end();
        Ok(())
    }

    /// A scalar in `style` (`Plain` for numbers and booleans; strings get the style
    /// serde_yaml infers).
    fn scalar(&mut self, value: &str, style: Style) -> Result {
        // Printable ASCII only: no line breaks, tabs, control or non-ASCII characters,
        // whose handling (escapes, literal blocks, widths) this writer does not model.
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(Unsupported);
        }
        let context = self.node_start()?;
        if context == Context::Root {
            return Err(Unsupported);
        }
        if context == Context::MappingKey && value.len() > MAX_SIMPLE_KEY {
            return Err(Unsupported);
        }
        // `yaml_emitter_select_scalar_style` for a single-line, printable scalar in
        // block context: plain when allowed, otherwise single quotes (always allowed
        // here). An empty plain scalar is quoted as a key.
        let plain =
            style == Style::Plain && plain_allowed(value) && !(value.is_empty() && context == Context::MappingKey);
        if plain {
            // `yaml_emitter_write_plain_scalar`; without a width limit nothing breaks.
            if !self.whitespace && !value.is_empty() {
                self.put(" ");
            }
            self.put(value);
        } else {
            // `yaml_emitter_write_single_quoted_scalar`.
            self.write_indicator("'", true, false, false);
            for (i, part) in value.split('\'').enumerate() {
                if i > 0 {
                    self.put("''");
                }
                self.put(part);
            }
            self.write_indicator("'", false, false, false);
        }
        self.whitespace = false;
        self.indention = false;
        self.node_end();
        Ok(())
    }

    /// A string, in the style serde_yaml's `serialize_str` asks for.
    fn string(&mut self, value: &str) -> Result {
        let style = if reads_as_non_string(value) { Style::SingleQuoted } else { Style::Plain };
        self.scalar(value, style)
    }
}

/// The style a scalar is requested in (libyaml may still quote a plain one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
}

/// Whether libyaml's `analyze_scalar` allows a printable ASCII, single-line scalar
/// plain in block context: no leading or trailing space, no `---` or `...` start, no
/// indicator that would start another token.
fn plain_allowed(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return true;
    }
    if bytes.starts_with(b"---") || bytes.starts_with(b"...") {
        return false;
    }
    if bytes[0] == b' ' || bytes[bytes.len() - 1] == b' ' {
        return false;
    }
    // The end of the scalar counts as whitespace, as libyaml's terminating NUL does.
    let blank_at = |i: usize| i >= bytes.len() || bytes[i] == b' ';
    match bytes[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@'
        | b'`' => return false,
        b'?' | b':' | b'-' if blank_at(1) => return false,
        _ => {}
    }
    for i in 1..bytes.len() {
        match bytes[i] {
            b':' if blank_at(i + 1) => return false,
            b'#' if bytes[i - 1] == b' ' => return false,
            _ => {}
        }
    }
    true
}

/// Whether serde_yaml reads the plain scalar back as something other than a string
/// (null, a boolean, an integer, a float) or as a string only by its leading zeros,
/// in which case its serializer single-quotes it (`visit_untagged_scalar`).
fn reads_as_non_string(v: &str) -> bool {
    match v.as_bytes().first() {
        None => return true,
        // Nothing but these keywords reads as a non-string when it starts with a
        // letter: numbers start with a digit, a sign or a dot (and Rust's `inf` and
        // `nan` are not finite, which serde_yaml does not take for floats).
        Some(c) if c.is_ascii_alphabetic() => {
            return matches!(v, "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        }
        Some(_) => {}
    }
    v == "~"
        || digits_but_not_number(v)
        || parse_unsigned_int(v).is_some()
        || parse_negative_int(v).is_some()
        || parse_f64(v).is_some()
}

/// serde_yaml's `digits_but_not_number`: leading zeros make digits a string (YAML 1.2).
fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

/// serde_yaml's `parse_unsigned_int`, at its widest type.
fn parse_unsigned_int(scalar: &str) -> Option<u128> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = u128::from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    unpositive.parse::<u128>().ok()
}

/// serde_yaml's `parse_negative_int`, at its widest type.
fn parse_negative_int(scalar: &str) -> Option<i128> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if let Ok(int) = i128::from_str_radix(&format!("-{rest}"), radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    scalar.parse::<i128>().ok()
}

/// serde_yaml's `parse_f64`.
fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = match scalar.strip_prefix('+') {
        Some(unpositive) if unpositive.starts_with(['+', '-']) => return None,
        Some(unpositive) => unpositive,
        None => scalar,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN);
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl ser::Serializer for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result {
        self.scalar(if v { "true" } else { "false" }, Style::Plain)
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i128(self, v: i128) -> Result {
        self.scalar(&v.to_string(), Style::Plain)
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u128(u128::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u128(u128::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u128(u128::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.serialize_u128(u128::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result {
        self.scalar(&v.to_string(), Style::Plain)
    }

    // serde_yaml formats floats with `ryu`; not modelled.
    fn serialize_f32(self, _v: f32) -> Result {
        Err(Unsupported)
    }

    fn serialize_f64(self, _v: f64) -> Result {
        Err(Unsupported)
    }

    fn serialize_char(self, v: char) -> Result {
        self.scalar(v.encode_utf8(&mut [0; 4]), Style::SingleQuoted)
    }

    fn serialize_str(self, v: &str) -> Result {
        self.string(v)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(Unsupported)
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.scalar("null", Style::Plain)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    // Variants with data become YAML tags in serde_yaml: not modelled.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(Unsupported)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self> {
        self.collection_start(false)?;
        Ok(self)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self> {
        self.collection_start(true)?;
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        self.collection_start(true)?;
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result {
        let text = value.to_string();
        // serde_yaml reads a `!`-prefixed string it gets this way as a tag in some
        // positions; not modelled.
        if text.starts_with('!') {
            return Err(Unsupported);
        }
        self.string(&text)
    }
}

impl ser::SerializeSeq for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.collection_end()
    }
}

impl ser::SerializeTuple for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.collection_end()
    }
}

impl ser::SerializeTupleStruct for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.collection_end()
    }
}

impl ser::SerializeMap for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.collection_end()
    }
}

impl ser::SerializeStruct for &mut Emitter {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.string(key)?;
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.collection_end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_yaml::{Mapping, Value};

    use super::*;

    fn same_as_serde_yaml<T: Serialize + ?Sized>(value: &T) {
        let expected = serde_yaml::to_string(value).expect("serde_yaml serialises it");
        assert_eq!(to_string(value).expect("serialises"), expected);
    }

    /// Whether the fast writer handled the value itself (rather than falling back).
    fn modelled<T: Serialize + ?Sized>(value: &T) -> bool {
        let mut emitter = Emitter::new(String::new());
        value.serialize(&mut emitter).is_ok() && emitter.done
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Mapping(entries.iter().map(|(k, v)| (Value::from(*k), v.clone())).collect())
    }

    #[test]
    fn nested_collections_indent_as_serde_yaml_does() {
        let seq = |items: Vec<Value>| Value::Sequence(items);
        let doc = map(&[
            ("apiVersion", "v1".into()),
            ("empty", map(&[])),
            ("none", seq(vec![])),
            (
                "spec",
                map(&[
                    ("list", seq(vec!["a".into(), map(&[("x", 1.into()), ("y", seq(vec![2.into(), 3.into()]))])])),
                    ("nested", seq(vec![seq(vec!["a".into(), seq(vec![])]), map(&[])])),
                    ("flag", true.into()),
                    ("null", Value::Null),
                ]),
            ),
        ]);
        same_as_serde_yaml(&doc);
        assert!(modelled(&doc));
        same_as_serde_yaml(&map(&[]));
        same_as_serde_yaml(&seq(vec![]));
        same_as_serde_yaml(&seq(vec![seq(vec![seq(vec!["deep".into()])])]));
    }

    /// Scalars that exercise YAML's quoting and resolution rules; the reader's tests
    /// use them too.
    pub(crate) const TRICKY: &[&str] = &[
        "",
        "~",
        "null",
        "Null",
        "true",
        "FALSE",
        "yes",
        "0",
        "8080",
        "-1",
        "+1",
        "007",
        "-007",
        "0x1f",
        "0o17",
        "0b101",
        "-0x1f",
        "+0x1f",
        "0x+1",
        "1.5",
        "1e3",
        ".5",
        "5.",
        ".inf",
        "-.inf",
        ".nan",
        "inf",
        "NaN",
        "1_000",
        "10.0.0.0/8",
        "::/0",
        "0.0.0.0/0",
        "*.example.com",
        "a: b",
        "a:b",
        "a #b",
        "a#b",
        "#a",
        "- a",
        "-a",
        "---",
        "...",
        "?",
        "? a",
        ":",
        "a:",
        " a",
        "a ",
        "it's",
        "'",
        "\"",
        "@x",
        "`x`",
        "%x",
        "!x",
        "&x",
        "[x]",
        "x]",
        "{x}",
        "x,y",
        "|",
        ">",
        "Host(`a.b`) && PathPrefix(`/`)",
        "a\tb",
        "a\nb",
        "é",
        "cluster.local/ns/a/sa/b",
        "GET",
        "/api/*",
        "12:30",
        "1:2:3",
    ];

    #[test]
    fn scalars_are_quoted_as_serde_yaml_quotes_them() {
        for &s in TRICKY {
            same_as_serde_yaml(&map(&[("k", s.into())]));
            same_as_serde_yaml(&map(&[(s, "v".into())]));
            same_as_serde_yaml(&vec![s]);
        }
        let long_key = "k".repeat(MAX_SIMPLE_KEY + 1);
        same_as_serde_yaml(&map(&[(long_key.as_str(), "v".into())]));
        same_as_serde_yaml(&map(&[("k", Value::from(1.5))]));
        same_as_serde_yaml(&map(&[("k", Value::from(-3))]));
        same_as_serde_yaml(&map(&[("k", Value::from(u64::MAX))]));
    }

    #[test]
    fn typed_structs_and_maps_match() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Doc {
            api_version: &'static str,
            labels: BTreeMap<String, String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            port: u16,
            kind: Kind,
            pair: (u8, char),
        }
        #[derive(serde::Serialize)]
        enum Kind {
            Server,
        }
        let doc = Doc {
            api_version: "v1",
            labels: [("app".to_string(), "web".to_string()), ("only".to_string(), "!x".to_string())].into(),
            skipped: None,
            port: 8080,
            kind: Kind::Server,
            pair: (1, '\''),
        };
        same_as_serde_yaml(&doc);
        assert!(modelled(&doc));
    }

    /// Scalars from characters that exercise every quoting rule; with `unmodelled`,
    /// also characters that make the writer fall back to serde_yaml.
    fn scalar(unmodelled: bool) -> impl Strategy<Value = Value> {
        let text = if unmodelled {
            "[a-z0-9 .:#'\"!&*,?|>%@`{}\\[\\]~+/_()=\\\\-]{0,8}|[a-z \t\né\r\u{85}\u{2028}]{0,4}"
        } else {
            "[a-z0-9 .:#'\"!&*,?|>%@`{}\\[\\]~+/_()=\\\\-]{0,8}"
        };
        prop_oneof![
            text.prop_map(Value::from),
            "(0x|0o|0b|-0x|-0o|-0b|\\+|-|\\.)?[0-9a-fnix_.e+-]{0,5}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    /// Random documents of maps, sequences and [`scalar`]s, as serde_yaml values.
    pub(crate) fn document(unmodelled: bool) -> impl Strategy<Value = Value> {
        let collection = move |inner: BoxedStrategy<Value>| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                prop::collection::vec((scalar(unmodelled), inner), 0..4)
                    .prop_map(|entries| Value::Mapping(entries.into_iter().collect::<Mapping>())),
            ]
        };
        collection(scalar(unmodelled).boxed().prop_recursive(4, 48, 6, collection).boxed())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_documents_are_modelled_and_match_serde_yaml(doc in document(false)) {
            let expected = serde_yaml::to_string(&doc).expect("serde_yaml serialises it");
            prop_assert!(modelled(&doc), "fell back on {:?}", doc);
            prop_assert_eq!(to_string(&doc).expect("serialises"), expected);
        }

        #[test]
        fn unmodelled_documents_fall_back_to_the_same_text(doc in document(true)) {
            let expected = serde_yaml::to_string(&doc).expect("serde_yaml serialises it");
            prop_assert_eq!(to_string(&doc).expect("serialises"), expected);
        }
    }
}
