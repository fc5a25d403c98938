//! A hand-written parser for well-formed declarations: the fast path of `parser.rs`.
//!
//! Takes: a file's text and the offset of a top-level declaration (trivia skipped).
//! Gives: the declaration's AST and the offset where its last token ends, exactly as
//! the pest grammar (`grammar.pest`) and `parser.rs`'s conversion would give them, or
//! `None`.
//! Must not: report anything, or accept what the grammar rejects. On `None` the caller
//! parses the declaration again with pest, which finds and describes the error; so
//! this parser may give up on any input, but a tree it returns must be the one pest
//! would build, spans included (`parser.rs` tests this against pest).
//!
//! Why it exists: pest costs about 100 ns per byte here (rule calls, stack guards,
//! keyword alternatives tried by string comparison); a policy of 10,000 segments
//! would spend a third of a second in the parser. This one makes one pass over the
//! bytes, deciding each step on the next word.
//!
//! The functions below follow the grammar rule by rule. Whitespace and comments are
//! skipped between the elements of a rule (pest's implicit `WHITESPACE`/`COMMENT`),
//! never inside tokens; a span ends at its last token, never after trivia.

use crate::diag::{FileId, Span};

use super::ast::*;

/// Parses the declaration that starts at `pos`; see the module documentation.
pub(super) fn declaration(file: FileId, text: &str, pos: usize) -> Option<(Item, usize)> {
    let mut p = Cursor { file, text, bytes: text.as_bytes(), pos };
    let item = match p.word() {
        "import" => p.import(),
        "trust" => p.trust_block().map(Item::Trust),
        "target" => p.target(),
        "segment" => p.segment(),
        "external" => p.external(),
        "allow" => p.allow(),
        "expose" => p.expose(),
        "forbid" => p.forbid(),
        _ => None,
    }?;
    Some((item, p.pos))
}

/// `bare_char` of the grammar: the characters of a bare value.
pub(super) fn is_bare_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'=' | b':' | b'*' | b'@' | b'+' | b'%' | b'~')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The properties a block admits, as their keyword's rule would parse them.
#[derive(Clone, Copy)]
enum Shape {
    /// `kw ~ value`
    One,
    /// `kw ~ value ~ value`
    Two,
    /// `kw ~ list_value+`
    List,
    /// `kw ~ value ~ list_value+`
    OneThenList,
    /// `kw` alone
    Bare,
    /// `kw ~ auth_kind ~ value`, `auth_kind = { kw_url }`
    Auth,
}

fn shape(keyword: Keyword) -> Shape {
    match keyword {
        Keyword::Select | Keyword::Cidr | Keyword::Methods | Keyword::Paths | Keyword::Source => Shape::List,
        Keyword::Port => Shape::Two,
        Keyword::Probe => Shape::OneThenList,
        Keyword::Unmeshed => Shape::Bare,
        Keyword::Auth => Shape::Auth,
        Keyword::Trust
        | Keyword::Account
        | Keyword::Service
        | Keyword::Host
        | Keyword::Tls
        | Keyword::Ingress
        | Keyword::Mesh
        | Keyword::TrustDomain
        | Keyword::IdentitySuffix
        | Keyword::Controller
        | Keyword::Dns => Shape::One,
    }
}

/// `segment_property`, `external_property`, ...: which keywords each block admits.
fn segment_property(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::Trust
            | Keyword::Select
            | Keyword::Account
            | Keyword::Port
            | Keyword::Service
            | Keyword::Unmeshed
            | Keyword::Probe
    )
}

fn external_property(k: Keyword) -> bool {
    matches!(k, Keyword::Trust | Keyword::Cidr | Keyword::Port)
}

fn allow_property(k: Keyword) -> bool {
    matches!(k, Keyword::Methods | Keyword::Paths)
}

fn expose_property(k: Keyword) -> bool {
    matches!(k, Keyword::Host | Keyword::Paths | Keyword::Tls | Keyword::Source | Keyword::Auth)
}

fn target_property(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::Ingress
            | Keyword::Mesh
            | Keyword::TrustDomain
            | Keyword::IdentitySuffix
            | Keyword::Controller
            | Keyword::Dns
    )
}

struct Cursor<'a> {
    file: FileId,
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start..end)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Pest's implicit trivia between elements: whitespace and `//` comments.
    fn skip(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'/' if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    self.pos = memchr_newline(self.bytes, self.pos);
                }
                _ => break,
            }
        }
    }

    /// The bare word at the cursor (empty when none). A keyword rule
    /// (`"word" ~ !bare_char`) matches exactly when this word is the keyword.
    fn word(&self) -> &'a str {
        let end =
            self.bytes[self.pos..].iter().position(|&b| !is_bare_byte(b)).map_or(self.bytes.len(), |n| self.pos + n);
        &self.text[self.pos..end]
    }

    /// A keyword rule: the keyword as a whole word; its span.
    fn keyword(&mut self, keyword: &str) -> Option<Span> {
        if self.word() != keyword {
            return None;
        }
        let start = self.pos;
        self.pos += keyword.len();
        Some(self.span(start, self.pos))
    }

    /// A punctuation rule (`lbrace`, `colon`, ...); its span.
    fn punct(&mut self, s: &str) -> Option<Span> {
        if !self.text[self.pos..].starts_with(s) {
            return None;
        }
        let start = self.pos;
        self.pos += s.len();
        Some(self.span(start, self.pos))
    }

    /// `ident`: `[A-Za-z0-9_]`, then more of those, where runs of `-` are allowed
    /// only when followed by one.
    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_byte) {
            return None;
        }
        let mut end = start + 1;
        loop {
            match self.bytes.get(end) {
                Some(&b) if is_ident_byte(b) => end += 1,
                Some(b'-') => {
                    let mut after = end;
                    while self.bytes.get(after) == Some(&b'-') {
                        after += 1;
                    }
                    if self.bytes.get(after).is_some_and(|&b| is_ident_byte(b)) {
                        end = after;
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.pos = end;
        Some(Value { text: self.text[start..end].to_string(), quoted: false, span: self.span(start, end) })
    }

    /// `value = _{ string | bare }`.
    fn value(&mut self) -> Option<Value> {
        let start = self.pos;
        match self.peek()? {
            b'"' => {
                // `string_inner`: anything but a quote, a backslash or a line end, or
                // a backslash before a quote or a backslash.
                let mut end = start + 1;
                let mut escaped = false;
                loop {
                    match *self.bytes.get(end)? {
                        b'"' => break,
                        b'\n' | b'\r' => return None,
                        b'\\' => match self.bytes.get(end + 1) {
                            Some(b'"' | b'\\') => {
                                escaped = true;
                                end += 2;
                            }
                            _ => return None,
                        },
                        _ => end += 1,
                    }
                }
                let raw = &self.text[start + 1..end];
                let text = if escaped { super::parser::unescape(raw) } else { raw.to_string() };
                self.pos = end + 1;
                Some(Value { text, quoted: true, span: self.span(start, self.pos) })
            }
            _ => {
                let word = self.word();
                if word.is_empty() {
                    return None;
                }
                self.pos += word.len();
                Some(Value { text: word.to_string(), quoted: false, span: self.span(start, self.pos) })
            }
        }
    }

    /// `list_value+`: values up to the next property keyword or non-value, at least one.
    fn list_values(&mut self, values: &mut Vec<Value>) -> Option<()> {
        let before = values.len();
        loop {
            let resume = self.pos;
            self.skip();
            if Keyword::from_word(self.word()).is_some() {
                self.pos = resume;
                break;
            }
            match self.value() {
                Some(v) => values.push(v),
                None => {
                    self.pos = resume;
                    break;
                }
            }
        }
        (values.len() > before).then_some(())
    }

    /// `reference = ${ std_ref | ident }`, `std_ref = ${ "std" ~ "." ~ ident }`.
    fn reference(&mut self) -> Option<Ref> {
        let start = self.pos;
        if self.text[start..].starts_with("std.") {
            self.pos += 4;
            if let Some(name) = self.ident() {
                return Some(Ref { std: true, name, span: self.span(start, self.pos) });
            }
            self.pos = start;
        }
        let name = self.ident()?;
        Some(Ref { std: false, span: name.span, name })
    }

    /// `endpoint = { reference ~ colon ~ ident }`.
    fn endpoint(&mut self) -> Option<Endpoint> {
        let target = self.reference()?;
        self.skip();
        self.punct(":")?;
        self.skip();
        let port = self.ident()?;
        Some(Endpoint { target, port })
    }

    /// `arrow = { "->*" | "->" }`; true for `->*`.
    fn arrow(&mut self) -> Option<bool> {
        if self.punct("->*").is_some() {
            return Some(true);
        }
        self.punct("->").map(|_| false)
    }

    /// `lbrace ~ property* ~ rbrace`, the properties being those `admits` allows.
    fn block(&mut self, admits: fn(Keyword) -> bool) -> Option<Block> {
        let open = self.punct("{")?;
        let mut properties = Vec::new();
        loop {
            self.skip();
            if let Some(close) = self.punct("}") {
                return Some(Block { properties, open, close });
            }
            let keyword = Keyword::from_word(self.word()).filter(|k| admits(*k))?;
            properties.push(self.property(keyword)?);
        }
    }

    fn property(&mut self, keyword: Keyword) -> Option<Property> {
        let keyword_span = self.keyword(keyword.as_str())?;
        let mut values = Vec::new();
        match shape(keyword) {
            Shape::Bare => {}
            Shape::One => {
                self.skip();
                values.push(self.value()?);
            }
            Shape::Two => {
                self.skip();
                values.push(self.value()?);
                self.skip();
                values.push(self.value()?);
            }
            Shape::List => self.list_values(&mut values)?,
            Shape::OneThenList => {
                self.skip();
                values.push(self.value()?);
                self.list_values(&mut values)?;
            }
            Shape::Auth => {
                self.skip();
                // The kind is kept as the first value.
                let kind = self.keyword("url")?;
                values.push(Value { text: "url".into(), quoted: false, span: kind });
                self.skip();
                values.push(self.value()?);
            }
        }
        let end = values.last().map_or(keyword_span.end, |v| v.span.end);
        Some(Property { keyword, keyword_span, values, span: Span { end, ..keyword_span } })
    }

    fn import(&mut self) -> Option<Item> {
        let keyword = self.keyword("import")?;
        self.skip();
        let path = self.value()?;
        Some(Item::Import(Import { span: keyword.to(path.span), path }))
    }

    /// `trust_block = { kw_trust ~ lbrace ~ level* ~ rbrace }`.
    fn trust_block(&mut self) -> Option<TrustBlock> {
        let keyword_span = self.keyword("trust")?;
        self.skip();
        let block_open = self.punct("{")?;
        let mut levels = Vec::new();
        loop {
            self.skip();
            if let Some(block_close) = self.punct("}") {
                return Some(TrustBlock { levels, keyword_span, block_open, block_close });
            }
            levels.push(self.level()?);
        }
    }

    /// `level = { level_name ~ accepts_clause? ~ (requires_clause | allows_clause)* }`.
    fn level(&mut self) -> Option<LevelDecl> {
        if matches!(self.word(), "accepts" | "requires" | "allows") {
            return None;
        }
        let name = self.ident()?;
        let mut level =
            LevelDecl { span: name.span, name, accepts: None, requires: Vec::new(), allows_plaintext: None };
        let resume = self.pos;
        self.skip();
        if let Some(keyword) = self.keyword("accepts") {
            self.skip();
            let mut levels = vec![self.ident()?];
            loop {
                let resume = self.pos;
                self.skip();
                if self.punct(",").is_none() {
                    self.pos = resume;
                    break;
                }
                self.skip();
                levels.push(self.ident()?);
            }
            let span = keyword.to(levels.last().map_or(keyword, |l| l.span));
            level.span = level.span.to(span);
            level.accepts = Some(Accepts { levels, span });
        } else {
            self.pos = resume;
        }
        loop {
            let resume = self.pos;
            self.skip();
            if self.keyword("requires").is_some() {
                self.skip();
                let what = self.ident()?;
                level.span = level.span.to(what.span);
                level.requires.push(what);
            } else if let Some(keyword) = self.keyword("allows") {
                self.skip();
                let plaintext = self.keyword("plaintext")?;
                let span = keyword.to(plaintext);
                level.span = level.span.to(span);
                level.allows_plaintext = Some(span);
            } else {
                self.pos = resume;
                return Some(level);
            }
        }
    }

    /// `target = { kw_target ~ ident ~ target_block }`.
    fn target(&mut self) -> Option<Item> {
        let keyword = self.keyword("target")?;
        self.skip();
        let name = self.ident()?;
        self.skip();
        let block = self.block(target_property)?;
        Some(Item::Target(Target { span: keyword.to(block.close), name, block }))
    }

    /// `segment = { kw_segment ~ ident ~ kw_in ~ ident ~ segment_block }`.
    fn segment(&mut self) -> Option<Item> {
        let keyword = self.keyword("segment")?;
        self.skip();
        let name = self.ident()?;
        self.skip();
        self.keyword("in")?;
        self.skip();
        let namespace = self.ident()?;
        self.skip();
        let block = self.block(segment_property)?;
        Some(Item::Segment(Segment {
            header: keyword.to(namespace.span),
            span: keyword.to(block.close),
            name,
            namespace,
            block,
        }))
    }

    /// `external = { kw_external ~ ident ~ external_block }`.
    fn external(&mut self) -> Option<Item> {
        let keyword = self.keyword("external")?;
        self.skip();
        let name = self.ident()?;
        self.skip();
        let block = self.block(external_property)?;
        Some(Item::External(External { header: keyword.to(name.span), span: keyword.to(block.close), name, block }))
    }

    /// `allow = { kw_allow ~ reference ~ arrow ~ endpoint ~ allow_block? }`.
    fn allow(&mut self) -> Option<Item> {
        let keyword = self.keyword("allow")?;
        self.skip();
        let source = self.reference()?;
        self.skip();
        self.arrow()?;
        self.skip();
        let destination = self.endpoint()?;
        let header = keyword.to(destination.port.span);
        // The block is optional: without a `{` the allow ends at its port. A block
        // that starts but does not parse is left to pest (it ends the allow there and
        // reports the block as the next declaration).
        let resume = self.pos;
        self.skip();
        let block = if self.peek() == Some(b'{') {
            Some(self.block(allow_property)?)
        } else {
            self.pos = resume;
            None
        };
        let span = block.as_ref().map_or(header, |b| keyword.to(b.close));
        Some(Item::Allow(Allow { source, destination, block, header, span }))
    }

    /// `expose = { kw_expose ~ endpoint ~ expose_block }`.
    fn expose(&mut self) -> Option<Item> {
        let keyword = self.keyword("expose")?;
        self.skip();
        let target = self.endpoint()?;
        self.skip();
        let block = self.block(expose_property)?;
        Some(Item::Expose(Expose {
            header: keyword.to(target.port.span),
            span: keyword.to(block.close),
            target,
            block,
        }))
    }

    /// `forbid = { kw_forbid ~ reference ~ arrow ~ reference }`.
    fn forbid(&mut self) -> Option<Item> {
        let keyword = self.keyword("forbid")?;
        self.skip();
        let source = self.reference()?;
        self.skip();
        let transitive = self.arrow()?;
        self.skip();
        let destination = self.reference()?;
        Some(Item::Forbid(Forbid { span: keyword.to(destination.span), source, destination, transitive }))
    }
}

/// The offset of the next `\n` at or after `from`, or the end of the text.
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| from + n)
}
