//! The abstract syntax tree of one `.seg` file.
//!
//! Every node keeps its span. Values are kept as written (bare or quoted) and are
//! validated by `check`, not here: the AST records what the user wrote, so that `fmt`
//! can print it back and the checker can point at the exact text.
//! Spans never take part in equality: two trees are equal when they mean the same.

use std::hash::{Hash, Hasher};

use crate::diag::{FileId, Span};

/// A name or value as written: a bare word (`web`, `app=web`, `203.0.113.0/24`) or a
/// quoted string (`"shop.example.com"`, kept without its quotes, escapes resolved).
#[derive(Debug, Clone)]
pub struct Value {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Value {}
impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

/// A name that declares or refers to something (`web`, `dmz`, `http`).
pub type Ident = Value;

/// A reference to a segment, external or trust level: `web` or `std.prometheus`.
#[derive(Debug, Clone)]
pub struct Ref {
    /// `true` for `std.NAME`.
    pub std: bool,
    pub name: Ident,
    /// The whole reference, `std.` included.
    pub span: Span,
}

impl PartialEq for Ref {
    fn eq(&self, other: &Self) -> bool {
        self.std == other.std && self.name == other.name
    }
}
impl Eq for Ref {}

impl Ref {
    /// The reference as the user wrote it: `web` or `std.prometheus`.
    pub fn display(&self) -> String {
        if self.std {
            format!("std.{}", self.name.text)
        } else {
            self.name.text.clone()
        }
    }
}

/// `SEGMENT:PORT`, the destination of an allow or the target of an expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub target: Ref,
    pub port: Ident,
}

/// The keyword that opens a property line inside a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Keyword {
    // segment / external
    Trust,
    Select,
    Account,
    Port,
    Service,
    Unmeshed,
    Probe,
    Cidr,
    // allow / expose
    Methods,
    Paths,
    Host,
    Tls,
    Source,
    Auth,
    // target
    Ingress,
    Mesh,
    TrustDomain,
    IdentitySuffix,
    Controller,
    Dns,
}

impl Keyword {
    pub const ALL: &'static [Keyword] = &[
        Keyword::Trust,
        Keyword::Select,
        Keyword::Account,
        Keyword::Port,
        Keyword::Service,
        Keyword::Unmeshed,
        Keyword::Probe,
        Keyword::Cidr,
        Keyword::Methods,
        Keyword::Paths,
        Keyword::Host,
        Keyword::Tls,
        Keyword::Source,
        Keyword::Auth,
        Keyword::Ingress,
        Keyword::Mesh,
        Keyword::TrustDomain,
        Keyword::IdentitySuffix,
        Keyword::Controller,
        Keyword::Dns,
    ];

    /// The keyword as written in a `.seg` file.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Trust => "trust",
            Keyword::Select => "select",
            Keyword::Account => "account",
            Keyword::Port => "port",
            Keyword::Service => "service",
            Keyword::Unmeshed => "unmeshed",
            Keyword::Probe => "probe",
            Keyword::Cidr => "cidr",
            Keyword::Methods => "methods",
            Keyword::Paths => "paths",
            Keyword::Host => "host",
            Keyword::Tls => "tls",
            Keyword::Source => "source",
            Keyword::Auth => "auth",
            Keyword::Ingress => "ingress",
            Keyword::Mesh => "mesh",
            Keyword::TrustDomain => "trust-domain",
            Keyword::IdentitySuffix => "identity-suffix",
            Keyword::Controller => "controller",
            Keyword::Dns => "dns",
        }
    }

    /// The keyword written `s`, if any (the inverse of [`Keyword::as_str`]).
    pub fn from_word(s: &str) -> Option<Keyword> {
        Some(match s {
            "trust" => Keyword::Trust,
            "select" => Keyword::Select,
            "account" => Keyword::Account,
            "port" => Keyword::Port,
            "service" => Keyword::Service,
            "unmeshed" => Keyword::Unmeshed,
            "probe" => Keyword::Probe,
            "cidr" => Keyword::Cidr,
            "methods" => Keyword::Methods,
            "paths" => Keyword::Paths,
            "host" => Keyword::Host,
            "tls" => Keyword::Tls,
            "source" => Keyword::Source,
            "auth" => Keyword::Auth,
            "ingress" => Keyword::Ingress,
            "mesh" => Keyword::Mesh,
            "trust-domain" => Keyword::TrustDomain,
            "identity-suffix" => Keyword::IdentitySuffix,
            "controller" => Keyword::Controller,
            "dns" => Keyword::Dns,
            _ => return None,
        })
    }
}

/// One property line in a block: `port http 8080/http`, `select app=web tier=frontend`,
/// `unmeshed`. The grammar fixes which keywords a block admits and how many values
/// each takes, so `values` always has the arity documented in docs/language.md.
#[derive(Debug, Clone)]
pub struct Property {
    pub keyword: Keyword,
    pub keyword_span: Span,
    pub values: Vec<Value>,
    /// The whole line, keyword to last value.
    pub span: Span,
}

impl PartialEq for Property {
    fn eq(&self, other: &Self) -> bool {
        self.keyword == other.keyword && self.values == other.values
    }
}
impl Eq for Property {}

/// `{ ... }` after a declaration: its properties in source order, and the span of the
/// closing brace (for `fmt` and for labels such as "this block has no `select`").
#[derive(Debug, Clone)]
pub struct Block {
    pub properties: Vec<Property>,
    pub open: Span,
    pub close: Span,
}

impl PartialEq for Block {
    fn eq(&self, other: &Self) -> bool {
        self.properties == other.properties
    }
}
impl Eq for Block {}

impl Block {
    /// Every property with this keyword, in source order.
    pub fn all(&self, keyword: Keyword) -> impl Iterator<Item = &Property> {
        self.properties.iter().filter(move |p| p.keyword == keyword)
    }

    /// The first property with this keyword (duplicates are the checker's concern).
    pub fn first(&self, keyword: Keyword) -> Option<&Property> {
        self.all(keyword).next()
    }
}

/// `import "std/k8s"` or `import "teams/payments.seg"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub path: Value,
    pub span: Span,
}

/// `trust { ... }`: the user's levels, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBlock {
    pub levels: Vec<LevelDecl>,
    /// The `trust` keyword.
    pub keyword_span: Span,
    pub block_open: Span,
    pub block_close: Span,
}

/// `restricted accepts internal requires mtls`.
#[derive(Debug, Clone)]
pub struct LevelDecl {
    pub name: Ident,
    /// `None` when the line has no `accepts` clause (the level then accepts itself and
    /// every higher level).
    pub accepts: Option<Accepts>,
    /// `requires mtls`, `requires tls`: each requirement as written.
    pub requires: Vec<Ident>,
    /// `allows plaintext`: the span of the clause when present.
    pub allows_plaintext: Option<Span>,
    /// The whole line.
    pub span: Span,
}

impl PartialEq for LevelDecl {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.accepts == other.accepts
            && self.requires == other.requires
            && self.allows_plaintext.is_some() == other.allows_plaintext.is_some()
    }
}
impl Eq for LevelDecl {}

/// `accepts internet, dmz, internal`.
#[derive(Debug, Clone)]
pub struct Accepts {
    pub levels: Vec<Ident>,
    /// From `accepts` to the last level.
    pub span: Span,
}

impl PartialEq for Accepts {
    fn eq(&self, other: &Self) -> bool {
        self.levels == other.levels
    }
}
impl Eq for Accepts {}

/// `target prod { ingress nginx  mesh istio }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: Ident,
    pub block: Block,
    pub span: Span,
}

/// `segment web in shop { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: Ident,
    pub namespace: Ident,
    pub block: Block,
    /// `segment NAME in NAMESPACE`, without the block.
    pub header: Span,
    pub span: Span,
}

/// `external stripe { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub name: Ident,
    pub block: Block,
    pub header: Span,
    pub span: Span,
}

/// `allow SRC -> DST:PORT { methods ... paths ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub source: Ref,
    pub destination: Endpoint,
    /// `None` when the allow has no `{ }` body.
    pub block: Option<Block>,
    /// `allow SRC -> DST:PORT`, without the block.
    pub header: Span,
    pub span: Span,
}

/// `expose SEG:PORT { host ... paths ... tls ... source ... auth url ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    pub target: Endpoint,
    pub block: Block,
    pub header: Span,
    pub span: Span,
}

/// `forbid A -> B` or, transitively, `forbid A ->* B`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbid {
    pub source: Ref,
    pub destination: Ref,
    pub transitive: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Import(Import),
    Trust(TrustBlock),
    Target(Target),
    Segment(Segment),
    External(External),
    Allow(Allow),
    Expose(Expose),
    Forbid(Forbid),
}

/// Which kind of declaration an [`Item`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Import,
    Trust,
    Target,
    Segment,
    External,
    Allow,
    Expose,
    Forbid,
}

/// A declaration of a [`File`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRef<'a> {
    Import(&'a Import),
    Trust(&'a TrustBlock),
    Target(&'a Target),
    Segment(&'a Segment),
    External(&'a External),
    Allow(&'a Allow),
    Expose(&'a Expose),
    Forbid(&'a Forbid),
}

impl ItemRef<'_> {
    pub fn span(&self) -> Span {
        match self {
            ItemRef::Import(i) => i.span,
            ItemRef::Trust(t) => t.keyword_span.to(t.block_close),
            ItemRef::Target(t) => t.span,
            ItemRef::Segment(s) => s.span,
            ItemRef::External(e) => e.span,
            ItemRef::Allow(a) => a.span,
            ItemRef::Expose(e) => e.span,
            ItemRef::Forbid(f) => f.span,
        }
    }
}

/// A `// ...` comment: its text from the slashes to the end of the line (no newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

/// One parsed file: every declaration that parsed, one list per kind, each in source
/// order, and `order` to interleave them again. The parser reports what did not parse
/// as diagnostics and recovers at the next top-level keyword.
///
/// By kind, because the checker takes each kind whole: a policy's 100,000 allows move
/// into the symbol table as one list. Moved one at a time out of a list of every item
/// (224 bytes each), they cost `check` a tenth of its time at 20,000 segments, and that
/// part grew fourfold when the policy doubled (docs/performance.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub id: FileId,
    pub imports: Vec<Import>,
    pub trusts: Vec<TrustBlock>,
    pub targets: Vec<Target>,
    pub segments: Vec<Segment>,
    pub externals: Vec<External>,
    pub allows: Vec<Allow>,
    pub exposes: Vec<Expose>,
    pub forbids: Vec<Forbid>,
    /// The kind of every declaration, in source order (filled by [`File::push`]).
    pub order: Vec<ItemKind>,
    /// Every comment, in source order (for `fmt`; the compiler ignores them).
    pub comments: Vec<Comment>,
}

impl File {
    /// A file without declarations.
    pub fn new(id: FileId, comments: Vec<Comment>) -> File {
        File {
            id,
            imports: Vec::new(),
            trusts: Vec::new(),
            targets: Vec::new(),
            segments: Vec::new(),
            externals: Vec::new(),
            allows: Vec::new(),
            exposes: Vec::new(),
            forbids: Vec::new(),
            order: Vec::new(),
            comments,
        }
    }

    /// Adds the declaration that follows every declaration so far.
    pub fn push(&mut self, item: Item) {
        let kind = match item {
            Item::Import(i) => push(&mut self.imports, i, ItemKind::Import),
            Item::Trust(t) => push(&mut self.trusts, t, ItemKind::Trust),
            Item::Target(t) => push(&mut self.targets, t, ItemKind::Target),
            Item::Segment(s) => push(&mut self.segments, s, ItemKind::Segment),
            Item::External(e) => push(&mut self.externals, e, ItemKind::External),
            Item::Allow(a) => push(&mut self.allows, a, ItemKind::Allow),
            Item::Expose(e) => push(&mut self.exposes, e, ItemKind::Expose),
            Item::Forbid(f) => push(&mut self.forbids, f, ItemKind::Forbid),
        };
        self.order.push(kind);
    }

    /// Every declaration, in source order.
    pub fn items(&self) -> impl Iterator<Item = ItemRef<'_>> {
        // How many of each kind came before, by `ItemKind as usize`.
        let mut seen = [0usize; 8];
        self.order.iter().filter_map(move |&kind| {
            let i = seen[kind as usize];
            seen[kind as usize] += 1;
            // `get`: an item missing from a list changed behind `push`'s back is skipped.
            match kind {
                ItemKind::Import => self.imports.get(i).map(ItemRef::Import),
                ItemKind::Trust => self.trusts.get(i).map(ItemRef::Trust),
                ItemKind::Target => self.targets.get(i).map(ItemRef::Target),
                ItemKind::Segment => self.segments.get(i).map(ItemRef::Segment),
                ItemKind::External => self.externals.get(i).map(ItemRef::External),
                ItemKind::Allow => self.allows.get(i).map(ItemRef::Allow),
                ItemKind::Expose => self.exposes.get(i).map(ItemRef::Expose),
                ItemKind::Forbid => self.forbids.get(i).map(ItemRef::Forbid),
            }
        })
    }
}

fn push<T>(list: &mut Vec<T>, item: T, kind: ItemKind) -> ItemKind {
    list.push(item);
    kind
}
