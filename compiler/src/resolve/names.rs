//! The symbol table: every declaration of every loaded file in one flat namespace.
//!
//! Takes: the loaded files. Gives: [`Names`], the declarations by kind with their
//! indices, the trust levels in order, and lookups that turn a reference into what it
//! names, with E0201/E0203/E0204 on failure; reports duplicates (E0205), a second trust
//! block (E0206), reserved names (E0210) and unknown requirements (E0209).
//! Must not: validate values or apply any rule about edges (that is `check`).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Label, Origin, SourceMap, Span};
use crate::syntax::ast;

/// Index into [`Names::segments`] (user and standard-library segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegIdx(pub usize);
/// Index into [`Names::externals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtIdx(pub usize);
/// Index into [`Names::levels`]; the order is the trust order (`internet` is 0,
/// `platform` is last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelId(pub usize);

/// What a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Named {
    Segment(SegIdx),
    External(ExtIdx),
    Level(LevelId),
}

/// A segment declaration and where it comes from.
#[derive(Debug, Clone)]
pub struct SegmentDecl {
    pub ast: ast::Segment,
    /// Declared in the standard library (referenced as `std.NAME`).
    pub std: bool,
    /// The name as policies refer to it: `web` or `std.prometheus`.
    pub display: String,
}

/// Which levels a level accepts calls from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptRule {
    /// `internet`: every level (externals are internet destinations).
    Everything,
    /// `platform`: every level but `internet` (workloads call cluster services).
    AllButInternet,
    /// No `accepts` clause: the level itself and every higher level.
    SelfAndAbove,
    /// `accepts a, b`: exactly these (unknown names already reported and dropped).
    Listed(Vec<LevelId>),
}

#[derive(Debug, Clone)]
pub struct Level {
    pub name: String,
    /// `None` for the built-in `internet` and `platform`.
    pub decl: Option<ast::LevelDecl>,
    pub accepts: AcceptRule,
    pub requires_mtls: bool,
    pub requires_tls: bool,
    pub allows_plaintext: bool,
}

impl Level {
    /// Where to point when explaining what this level accepts: the `accepts` clause,
    /// else the level's line; `None` for the built-in levels.
    pub fn accepts_span(&self) -> Option<Span> {
        let decl = self.decl.as_ref()?;
        Some(decl.accepts.as_ref().map_or(decl.span, |a| a.span))
    }
}

/// Every declaration of a compilation, by kind, in load order.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub segments: Vec<SegmentDecl>,
    pub externals: Vec<ast::External>,
    pub levels: Vec<Level>,
    /// Targets with distinct names (a duplicate is reported and dropped).
    pub targets: Vec<ast::Target>,
    pub allows: Vec<ast::Allow>,
    pub exposes: Vec<ast::Expose>,
    pub forbids: Vec<ast::Forbid>,
    /// The number of levels the user declared (the trust block's lines that count).
    pub user_levels: usize,
    pub std_imported: bool,
    /// FxHash: every reference of a policy is looked up here, and the keys come from
    /// the policy's own files (no hash flooding to defend against).
    user: FxHashMap<String, Named>,
    std: HashMap<String, SegIdx>,
    /// Every level by name, so that a lookup does not scan the levels.
    level_ids: HashMap<String, LevelId>,
}

/// The built-in levels and the names the user may not declare.
pub const INTERNET: &str = "internet";
pub const PLATFORM: &str = "platform";
const RESERVED: &[&str] = &[INTERNET, PLATFORM, "std"];
/// The requirements a level may state.
const REQUIREMENTS: &[&str] = &["mtls", "tls"];

// Lookups return the diagnostic itself as the error: it is the cold path, and the caller
// decides whether to report it, so boxing would only add noise.
#[allow(clippy::result_large_err)]
impl Names {
    pub const INTERNET: LevelId = LevelId(0);

    pub fn platform(&self) -> LevelId {
        LevelId(self.levels.len().saturating_sub(1))
    }

    pub fn level(&self, id: LevelId) -> &Level {
        &self.levels[id.0]
    }

    /// True when segments of level `source` may call segments of level `destination`.
    pub fn accepts(&self, destination: LevelId, source: LevelId) -> bool {
        match &self.level(destination).accepts {
            AcceptRule::Everything => true,
            AcceptRule::AllButInternet => source != Self::INTERNET,
            AcceptRule::SelfAndAbove => source >= destination,
            AcceptRule::Listed(levels) => levels.contains(&source),
        }
    }

    /// The level a `trust NAME` line names (E0203 if none).
    pub fn lookup_level(&self, name: &ast::Ident) -> Result<LevelId, Diagnostic> {
        if let Some(id) = self.level_ids.get(&name.text) {
            return Ok(*id);
        }
        let mut d = Diagnostic::new(
            Code::E0203,
            format!("unknown trust level `{}`", name.text),
            Label::new(name.span, "not a trust level"),
        );
        d = match did_you_mean(&name.text, self.levels.iter().map(|l| l.name.as_str())) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "the levels are {}",
                self.levels.iter().map(|l| format!("`{}`", l.name)).collect::<Vec<_>>().join(", ")
            )),
        };
        Err(d)
    }

    /// What a reference names: a segment, an external or a trust level.
    pub fn lookup(&self, r: &ast::Ref) -> Result<Named, Diagnostic> {
        if r.std {
            return self.lookup_std(&r.name.text, r.span).map(Named::Segment);
        }
        if let Some(named) = self.user.get(&r.name.text) {
            return Ok(*named);
        }
        if let Some(id) = self.level_ids.get(&r.name.text) {
            return Ok(Named::Level(*id));
        }
        let mut d = Diagnostic::new(
            Code::E0201,
            format!("unknown segment or external `{}`", r.name.text),
            Label::new(r.span, "not declared in any file of this compilation"),
        );
        let candidates = self.user.keys().map(String::as_str).chain(self.levels.iter().map(|l| l.name.as_str()));
        if let Some(s) = did_you_mean(&r.name.text, candidates) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if self.std.contains_key(&r.name.text) {
            d = d.with_help(format!("standard-library segments are written `std.{}`", r.name.text));
        }
        Err(d)
    }

    /// A standard-library segment by its bare name (E0204 if none or not imported).
    pub fn lookup_std(&self, name: &str, span: Span) -> Result<SegIdx, Diagnostic> {
        if !self.std_imported {
            return Err(Diagnostic::new(
                Code::E0204,
                format!("`std.{name}` needs the standard library, which no file imports"),
                Label::new(span, "from the standard library"),
            )
            .with_help("add import \"std/k8s\""));
        }
        if let Some(idx) = self.std.get(name) {
            return Ok(*idx);
        }
        let mut d = Diagnostic::new(
            Code::E0204,
            format!("unknown standard-library segment `std.{name}`"),
            Label::new(span, "not in the standard library"),
        );
        let mut names: Vec<&str> = self.std.keys().map(String::as_str).collect();
        names.sort_unstable();
        d = match did_you_mean(name, names.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `std.{s}`?")),
            None => d.with_help(format!(
                "the standard library has {}",
                names.iter().map(|n| format!("`std.{n}`")).collect::<Vec<_>>().join(", ")
            )),
        };
        Err(d)
    }

    /// The user's segments.
    pub fn user_segments(&self) -> impl Iterator<Item = (SegIdx, &SegmentDecl)> {
        self.segments.iter().enumerate().filter(|(_, s)| !s.std).map(|(i, s)| (SegIdx(i), s))
    }

    /// The name of what a reference resolved to, as the user writes it.
    pub fn display(&self, named: Named) -> String {
        match named {
            Named::Segment(s) => self.segments[s.0].display.clone(),
            Named::External(e) => self.externals[e.0].name.text.clone(),
            Named::Level(l) => self.levels[l.0].name.clone(),
        }
    }

    /// Where a name is declared (`None` for the built-in levels).
    pub fn decl_span(&self, named: Named) -> Option<Span> {
        match named {
            Named::Segment(s) => Some(self.segments[s.0].ast.header),
            Named::External(e) => Some(self.externals[e.0].header),
            Named::Level(l) => self.levels[l.0].decl.as_ref().map(|d| d.name.span),
        }
    }
}

/// Collects the declarations of `files` (the loaded files, in load order), moving
/// them into the table.
pub fn build(mut files: Vec<ast::File>, sources: &SourceMap, std_imported: bool) -> (Names, Vec<Diagnostic>) {
    // Allows, exposures and forbids need no name of their own: each list moves whole.
    let mut names = Names {
        std_imported,
        allows: concat(files.iter_mut().map(|f| std::mem::take(&mut f.allows))),
        exposes: concat(files.iter_mut().map(|f| std::mem::take(&mut f.exposes))),
        forbids: concat(files.iter_mut().map(|f| std::mem::take(&mut f.forbids))),
        ..Names::default()
    };
    let segments = files.iter().map(|f| f.segments.len()).sum();
    let externals = files.iter().map(|f| f.externals.len()).sum();
    names.segments.reserve_exact(segments);
    names.externals.reserve_exact(externals);
    names.user.reserve(segments + externals);
    let mut diags = Vec::new();
    let mut trust: Option<ast::TrustBlock> = None;
    let mut targets: HashMap<String, Span> = HashMap::new();
    for file in files {
        let std = matches!(sources.get(file.id).origin, Origin::Std(_));
        for block in file.trusts {
            match &trust {
                None => trust = Some(block),
                Some(first) => diags.push(
                    Diagnostic::new(
                        Code::E0206,
                        "a second `trust` block",
                        Label::new(block.keyword_span, "second trust block"),
                    )
                    .with_label(Label::new(first.keyword_span, "the first trust block"))
                    .with_help("declare every level, lowest first, in one `trust` block"),
                ),
            }
        }
        for t in file.targets {
            match targets.get(&t.name.text) {
                Some(first) => diags.push(duplicate("target", &t.name, *first)),
                None => {
                    targets.insert(t.name.text.clone(), t.name.span);
                    names.targets.push(t);
                }
            }
        }
        // Segments and externals share one namespace: they are declared in source
        // order, so that of two with one name the later is the duplicate.
        let (mut segments, mut externals) = (file.segments.into_iter(), file.externals.into_iter());
        for kind in &file.order {
            match kind {
                ast::ItemKind::Segment => {
                    if let Some(s) = segments.next() {
                        declare_segment(&mut names, &mut diags, s, std);
                    }
                }
                ast::ItemKind::External => {
                    if let Some(e) = externals.next() {
                        if declare(&mut names, &mut diags, &e.name, "external") {
                            names.user.insert(e.name.text.clone(), Named::External(ExtIdx(names.externals.len())));
                            names.externals.push(e);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    build_levels(&mut names, &mut diags, trust);
    (names, diags)
}

fn declare_segment(names: &mut Names, diags: &mut Vec<Diagnostic>, s: ast::Segment, std: bool) {
    if std {
        names.std.insert(s.name.text.clone(), SegIdx(names.segments.len()));
        let display = format!("std.{}", s.name.text);
        names.segments.push(SegmentDecl { ast: s, std: true, display });
    } else if declare(names, diags, &s.name, "segment") {
        let idx = SegIdx(names.segments.len());
        names.user.insert(s.name.text.clone(), Named::Segment(idx));
        let display = s.name.text.clone();
        names.segments.push(SegmentDecl { ast: s, std: false, display });
    }
}

/// The lists joined in order. The one list that is not empty, as in a policy of one
/// file, is given back as it is: 100,000 allows are not copied.
fn concat<T>(lists: impl Iterator<Item = Vec<T>>) -> Vec<T> {
    let mut lists = lists.filter(|list| !list.is_empty()).collect::<Vec<_>>().into_iter();
    let Some(mut joined) = lists.next() else { return Vec::new() };
    joined.reserve_exact(lists.as_slice().iter().map(Vec::len).sum());
    for mut list in lists {
        joined.append(&mut list);
    }
    joined
}

fn duplicate(kind: &str, name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::E0205,
        format!("{kind} `{}` is declared twice", name.text),
        Label::new(name.span, "declared again here"),
    )
    .with_label(Label::new(first, "first declared here"))
    .with_help("names of segments, externals and trust levels share one namespace across all files; rename one")
}

/// Checks a user segment or external name is neither reserved nor taken; true when the
/// caller should record it.
fn declare(names: &mut Names, diags: &mut Vec<Diagnostic>, name: &ast::Ident, kind: &str) -> bool {
    if RESERVED.contains(&name.text.as_str()) {
        diags.push(reserved(name));
        return false;
    }
    if let Some(first) = names.user.get(&name.text).and_then(|n| names.decl_span(*n)) {
        diags.push(duplicate(kind, name, first));
        return false;
    }
    true
}

fn reserved(name: &ast::Ident) -> Diagnostic {
    Diagnostic::new(
        Code::E0210,
        format!("`{}` is a reserved name", name.text),
        Label::new(name.span, "reserved"),
    )
    .with_help("`internet` and `platform` are the built-in trust levels and `std` names the standard library; choose another name")
}

fn build_levels(names: &mut Names, diags: &mut Vec<Diagnostic>, trust: Option<ast::TrustBlock>) {
    let builtin = |name: &str, accepts| Level {
        name: name.to_string(),
        decl: None,
        accepts,
        requires_mtls: false,
        requires_tls: false,
        allows_plaintext: false,
    };
    names.levels.push(builtin(INTERNET, AcceptRule::Everything));
    let decls: Vec<ast::LevelDecl> = trust.map(|t| t.levels).unwrap_or_default();
    let mut kept: Vec<&ast::LevelDecl> = Vec::new();
    let mut kept_by_name: HashMap<&str, Span> = HashMap::new();
    for decl in &decls {
        if RESERVED.contains(&decl.name.text.as_str()) {
            diags.push(reserved(&decl.name));
        } else if let Some(first) = kept_by_name.get(decl.name.text.as_str()) {
            diags.push(duplicate("trust level", &decl.name, *first));
        } else if let Some(other) = names.user.get(&decl.name.text).and_then(|n| names.decl_span(*n)) {
            diags.push(duplicate("trust level", &decl.name, other));
        } else {
            kept_by_name.insert(&decl.name.text, decl.name.span);
            kept.push(decl);
        }
    }
    for decl in &kept {
        names.levels.push(Level {
            name: decl.name.text.clone(),
            decl: Some((*decl).clone()),
            accepts: AcceptRule::SelfAndAbove,
            requires_mtls: false,
            requires_tls: false,
            allows_plaintext: decl.allows_plaintext.is_some(),
        });
    }
    names.user_levels = kept.len();
    names.levels.push(builtin(PLATFORM, AcceptRule::AllButInternet));
    names.level_ids = names.levels.iter().enumerate().map(|(i, l)| (l.name.clone(), LevelId(i))).collect();
    // Accepts clauses name levels declared anywhere in the block, so resolve them once
    // every level is known.
    for (i, decl) in kept.iter().enumerate() {
        let id = i + 1;
        if let Some(accepts) = &decl.accepts {
            let mut listed = Vec::new();
            for name in &accepts.levels {
                match names.lookup_level(name) {
                    Ok(level) => listed.push(level),
                    Err(d) => diags.push(d),
                }
            }
            names.levels[id].accepts = AcceptRule::Listed(listed);
        }
        for requirement in &decl.requires {
            match requirement.text.as_str() {
                "mtls" => names.levels[id].requires_mtls = true,
                "tls" => names.levels[id].requires_tls = true,
                other => {
                    let mut d = Diagnostic::new(
                        Code::E0209,
                        format!("unknown requirement `{other}`"),
                        Label::new(requirement.span, "not a requirement"),
                    );
                    d = match did_you_mean(other, REQUIREMENTS.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`? a level may require `mtls` or `tls`")),
                        None => d.with_help("a level may require `mtls` or `tls`"),
                    };
                    diags.push(d);
                }
            }
        }
    }
}
