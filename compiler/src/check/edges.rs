//! Edges: allows and exposures, their ports, HTTP restrictions and trust.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::hash_table::{self, HashTable};
use rustc_hash::FxBuildHasher;

use crate::diag::{Code, Diagnostic, Label, Span};
use crate::resolve::{LevelId, Named, Names, SegIdx};
use crate::syntax::ast::{self, Keyword, Value};

use super::decls::{check_path, cidrs, missing, once, unknown_port};
use super::directory::Directory;
use super::values;
use super::{Allow, Dest, Exposure, Model, PortDecl};

/// The port `name` of a destination, or E0202.
fn find_port<'a>(
    owner: &str,
    decl: Span,
    ports: &'a [PortDecl],
    name: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<(usize, &'a PortDecl)> {
    match ports.iter().enumerate().find(|(_, p)| p.name == name.text) {
        Some(found) => Some(found),
        None => {
            diags.push(unknown_port(owner, decl, name, ports));
            None
        }
    }
}

fn kind_of(named: Named) -> &'static str {
    match named {
        Named::Segment(_) => "segment",
        Named::External(_) => "external",
        Named::Level(_) => "trust level",
    }
}

/// Why `source_level` may not call `dest_level`, in words, for the secondary label.
fn accepts_words(names: &Names, dest: LevelId) -> String {
    let level = names.level(dest);
    match &level.accepts {
        crate::resolve::AcceptRule::Everything => format!("`{}` accepts every level", level.name),
        crate::resolve::AcceptRule::AllButInternet => {
            format!("`{}` accepts every level but `internet`", level.name)
        }
        crate::resolve::AcceptRule::SelfAndAbove => {
            format!("`{}` accepts only itself and higher levels (no `accepts` clause)", level.name)
        }
        crate::resolve::AcceptRule::Listed(ls) => format!(
            "`{}` accepts only {}",
            level.name,
            ls.iter().map(|l| format!("`{}`", names.level(*l).name)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Checks every allow, giving those that resolved (for `model.allows`). Marks in
/// `used` every segment an allow names, even when the allow has other errors.
pub(super) fn check_allows(model: &Model, used: &mut [bool], diags: &mut Vec<Diagnostic>) -> Vec<Allow> {
    let names = &model.names;
    let directory = Directory::new(model);
    let mut allows = Vec::with_capacity(names.allows.len());
    // The hash of each allow's `key`.
    let mut hashes = Vec::with_capacity(names.allows.len());
    for a in &names.allows {
        let source = match names.lookup(&a.source) {
            Ok(Named::Segment(s)) => {
                used[s.0] = true;
                Some(s)
            }
            Ok(other) => {
                diags.push(
                    Diagnostic::new(
                        Code::E0506,
                        format!("{} `{}` cannot be the source of an allow", kind_of(other), a.source.display()),
                        Label::new(a.source.span, "not a segment"),
                    )
                    .with_help("an allow starts at a segment; traffic from the internet enters through `expose`"),
                );
                None
            }
            Err(d) => {
                diags.push(d);
                None
            }
        };
        let target = &a.destination.target;
        let destination = match names.lookup(target) {
            Ok(Named::Segment(s)) => {
                used[s.0] = true;
                Some(Dest::Segment(s))
            }
            Ok(Named::External(e)) => Some(Dest::External(e)),
            Ok(Named::Level(_)) => {
                diags.push(Diagnostic::new(
                    Code::E0201,
                    format!("`{}` is a trust level, not a segment or external", target.display()),
                    Label::new(target.span, "an allow's destination is a segment or an external"),
                ));
                None
            }
            Err(d) => {
                diags.push(d);
                None
            }
        };
        let block = a.block.as_ref();
        let methods_prop = block.and_then(|b| once(b, Keyword::Methods, diags));
        let paths_prop = block.and_then(|b| once(b, Keyword::Paths, diags));
        let mut methods = Vec::new();
        for v in methods_prop.map(|p| p.values.as_slice()).unwrap_or_default() {
            match values::method(&v.text) {
                Ok(()) => methods.push(v.text.clone()),
                Err((why, help)) => {
                    let mut d = Diagnostic::new(
                        Code::E0409,
                        format!("invalid HTTP method `{}`", v.text),
                        Label::new(v.span, why),
                    );
                    d.help = help;
                    diags.push(d);
                }
            }
        }
        let mut paths = Vec::new();
        for v in paths_prop.map(|p| p.values.as_slice()).unwrap_or_default() {
            if check_path(v, diags) {
                paths.push(v.text.clone());
            }
        }
        let Some(dest) = destination else { continue };
        let Some((port, http)) = directory.port(dest, &a.destination.port.text) else {
            let (name, header) = (model.dest_name(dest), dest_header(model, dest));
            diags.push(unknown_port(name, header, &a.destination.port, model.dest_ports(dest)));
            continue;
        };
        if http == Some(false) {
            for prop in [methods_prop, paths_prop].into_iter().flatten() {
                diags.push(not_http(prop, &model.dest_ports(dest)[port]));
            }
        }
        let Some(source) = source else { continue };
        check_trust(model, &directory, a, (source, dest), diags);
        let allow = Allow { source, destination: dest, port, methods, paths, header: a.header };
        // Hashed now, while its methods and paths are in the cache.
        hashes.push(FxBuildHasher.hash_one(key(&allow)));
        allows.push(allow);
    }
    report_duplicates(model, &allows, &hashes, diags);
    allows
}

/// W0105 for every allow that repeats an earlier one (the same [`key`]).
/// `hashes` holds the hash of each allow's key.
fn report_duplicates(model: &Model, allows: &[Allow], hashes: &[u64], diags: &mut Vec<Diagnostic>) {
    // A table of indices into `allows`, not a map of keys: at 100,000 allows the keys
    // (88 bytes each) filled 11 MB, visited at random, and the table of indices one.
    // Keys are compared only when their hashes are equal, which nearly always means
    // that the allows are the same.
    let mut first: HashTable<usize> = HashTable::with_capacity(allows.len());
    for (i, (a, &hash)) in allows.iter().zip(hashes).enumerate() {
        let same = |j: &usize| hashes[*j] == hash && key(&allows[*j]) == key(a);
        match first.entry(hash, same, |j| hashes[*j]) {
            hash_table::Entry::Vacant(slot) => {
                slot.insert(i);
            }
            hash_table::Entry::Occupied(earlier) => {
                let port = &model.dest_ports(a.destination)[a.port].name;
                diags.push(
                    Diagnostic::new(
                        Code::W0105,
                        format!(
                            "duplicate allow `{} -> {}:{port}`",
                            model.segment(a.source).name,
                            model.dest_name(a.destination)
                        ),
                        Label::new(a.header, "allowed again here"),
                    )
                    .with_label(Label::new(allows[*earlier.get()].header, "first allowed here"))
                    .with_help("remove one of them"),
                );
            }
        }
    }
}

/// What makes two allows the same: source, destination, port and the sets of
/// methods and paths.
fn key(a: &Allow) -> (SegIdx, Dest, usize, Cow<'_, [String]>, Cow<'_, [String]>) {
    (a.source, a.destination, a.port, as_set(&a.methods), as_set(&a.paths))
}

/// `values` sorted and without repeats: borrowed when they already are, as they
/// mostly are.
fn as_set(values: &[String]) -> Cow<'_, [String]> {
    if values.windows(2).all(|pair| pair[0] < pair[1]) {
        return Cow::Borrowed(values);
    }
    let mut set = values.to_vec();
    set.sort_unstable();
    set.dedup();
    Cow::Owned(set)
}

/// E0501: methods or paths on a port that does not speak HTTP.
fn not_http(prop: &ast::Property, decl: &PortDecl) -> Diagnostic {
    let protocol = decl.spec.map(|(_, protocol)| protocol.as_str()).unwrap_or_default();
    let keyword = prop.keyword.as_str();
    Diagnostic::new(
        Code::E0501,
        format!("`{keyword}` on port `{}`, which is {protocol}", decl.name),
        Label::new(prop.span, "only http and grpc ports have methods and paths"),
    )
    .with_label(Label::new(decl.span, "declared here"))
    .with_help(format!("remove the `{keyword}` line, or declare the port as http or grpc"))
}

fn dest_header(model: &Model, dest: Dest) -> Span {
    match dest {
        Dest::Segment(s) => model.segment(s).header,
        Dest::External(e) => model.external(e).header,
    }
}

/// E0502 (the destination's level does not accept the source's) and E0505 (a caller
/// without a mesh identity into a level that requires mTLS).
fn check_trust(
    model: &Model,
    directory: &Directory,
    a: &ast::Allow,
    (source, dest): (SegIdx, Dest),
    diags: &mut Vec<Diagnostic>,
) {
    let (Some(src_level), Some(dst_level)) = (directory.source_level(source), directory.level(dest)) else {
        return;
    };
    let names = &model.names;
    if !names.accepts(dst_level, src_level) {
        diags.push(wrong_way(model, a, (source, dest), (src_level, dst_level)));
    }
    let dst = names.level(dst_level);
    if dst.requires_mtls && !directory.meshed(source) {
        let src = model.segment(source);
        let mut d = Diagnostic::new(
            Code::E0505,
            format!("`{}` is unmeshed but `{}` requires mTLS", src.name, model.dest_name(dest)),
            Label::new(a.header, "this caller has no mesh identity"),
        );
        if let Some(span) = src.unmeshed_span {
            d = d.with_label(Label::new(span, format!("`{}` is marked unmeshed", src.name)));
        }
        if let Some(decl) = &dst.decl {
            d = d.with_label(Label::new(decl.span, format!("`{}` requires mtls", dst.name)));
        }
        diags.push(d.with_help(format!("mesh `{}` (remove `unmeshed`), or remove this allow", src.name)));
    }
}

/// E0502, for an allow whose destination's level does not accept its source's.
fn wrong_way(
    model: &Model,
    a: &ast::Allow,
    (source, dest): (SegIdx, Dest),
    (src_level, dst_level): (LevelId, LevelId),
) -> Diagnostic {
    let names = &model.names;
    let (src, dest_name) = (model.segment(source), model.dest_name(dest));
    let dst = names.level(dst_level);
    let mut d = Diagnostic::new(
        Code::E0502,
        format!(
            "`{}` (trust `{}`) may not call `{}` (trust `{}`)",
            src.name,
            names.level(src_level).name,
            dest_name,
            dst.name
        ),
        Label::new(a.header, "this allow crosses trust levels the wrong way"),
    );
    if let Some(span) = dst.accepts_span() {
        d = d.with_label(Label::new(span, accepts_words(names, dst_level)));
    }
    if let Some(span) = src.trust_span {
        d = d.with_label(Label::new(span, format!("`{}` is `{}`", src.name, names.level(src_level).name)));
    }
    let dst_trust_span = match dest {
        Dest::Segment(s) => model.segment(s).trust_span,
        Dest::External(e) => model.external(e).trust_span,
    };
    if let Some(span) = dst_trust_span {
        d = d.with_label(Label::new(span, format!("`{dest_name}` is `{}`", dst.name)));
    }
    let help = match dst.decl {
        Some(_) => {
            format!("add `{}` to what `{}` accepts, or remove this allow", names.level(src_level).name, dst.name)
        }
        None => accepts_words(names, dst_level),
    };
    d.with_help(help)
}

/// Checks every exposure into `model.exposures`. Marks in `used` every segment an
/// exposure names, even when the exposure has other errors.
pub(super) fn check_exposures(model: &mut Model, used: &mut [bool], diags: &mut Vec<Diagnostic>) {
    let names = &model.names;
    let mut exposures = Vec::new();
    let mut routes: HashMap<(String, String), Span> = HashMap::new();
    let lowest_user_level = (names.user_levels > 0).then_some(LevelId(1));
    for e in &names.exposes {
        let target = &e.target.target;
        let block = &e.block;
        // Properties first, so that every value error is reported even when the
        // segment does not resolve.
        let host_prop = once(block, Keyword::Host, diags);
        let host = host_prop.and_then(|p| p.values.first());
        let host_ok = match host {
            None => {
                diags.push(missing(
                    &format!("expose `{}`", target.display()),
                    Keyword::Host,
                    e.header,
                    "host \"shop.example.com\"",
                ));
                false
            }
            Some(h) => match values::host(&h.text) {
                Ok(wildcard) => {
                    if wildcard {
                        diags.push(
                            Diagnostic::new(
                                Code::W0101,
                                format!("wildcard host `{}`", h.text),
                                Label::new(h.span, "matches every subdomain"),
                            )
                            .with_help("name each host you mean to expose"),
                        );
                    }
                    true
                }
                Err(why) => {
                    diags.push(Diagnostic::new(
                        Code::E0407,
                        format!("invalid host `{}`", h.text),
                        Label::new(h.span, why),
                    ));
                    false
                }
            },
        };
        let paths_prop = once(block, Keyword::Paths, diags);
        let mut paths = Vec::new();
        for v in paths_prop.map(|p| p.values.as_slice()).unwrap_or_default() {
            if check_path(v, diags) {
                paths.push(v.text.clone());
            }
        }
        let tls = once(block, Keyword::Tls, diags).and_then(|p| p.values.first());
        if let Some(v) = tls {
            if let Err(why) = values::dns1123_subdomain(&v.text) {
                diags.push(Diagnostic::new(
                    Code::E0403,
                    format!("invalid TLS secret name `{}`", v.text),
                    Label::new(v.span, why),
                ));
            }
        }
        let mut sources = Vec::new();
        if let Some(p) = once(block, Keyword::Source, diags) {
            for (c, span) in cidrs(&p.values, diags) {
                if values::is_whole_internet(&c) {
                    diags.push(
                        Diagnostic::new(
                            Code::W0104,
                            format!("`source {c}` is the default"),
                            Label::new(span, "every client address"),
                        )
                        .with_help("remove the `source` line, or list the client ranges you mean"),
                    );
                } else {
                    sources.push(c);
                }
            }
        }
        let auth_url = once(block, Keyword::Auth, diags).and_then(|p| p.values.get(1));
        if let Some(v) = auth_url {
            if let Err(why) = values::auth_url(&v.text) {
                diags.push(Diagnostic::new(
                    Code::E0411,
                    format!("invalid auth URL `{}`", v.text),
                    Label::new(v.span, why),
                ));
            }
        }
        let resolved = names.lookup(target);
        if let Ok(Named::Segment(s)) = resolved {
            used[s.0] = true;
        }
        let segment = match resolved {
            Ok(Named::Segment(s)) if !model.segment(s).std => s,
            Ok(other) => {
                let what = match other {
                    Named::Segment(_) => "a standard-library segment",
                    Named::External(_) => "an external",
                    Named::Level(_) => "a trust level",
                };
                diags.push(
                    Diagnostic::new(
                        Code::E0508,
                        format!("`{}` is {what}, not one of your segments", target.display()),
                        Label::new(target.span, "cannot be exposed"),
                    )
                    .with_help("only segments declared in your files can be exposed"),
                );
                continue;
            }
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let seg = model.segment(segment);
        let Some((port, decl)) = find_port(&seg.name, seg.header, &seg.ports, &e.target.port, diags) else {
            continue;
        };
        if let Some((_, protocol)) = decl.spec {
            if !protocol.is_http() {
                diags.push(
                    Diagnostic::new(
                        Code::E0507,
                        format!("port `{}` of `{}` is {}, not http or grpc", decl.name, seg.name, protocol.as_str()),
                        Label::new(e.target.port.span, "cannot be routed by an ingress controller"),
                    )
                    .with_label(Label::new(decl.span, "declared here")),
                );
            }
        }
        if let Some(level_id) = seg.trust {
            let level = names.level(level_id);
            let accepts_internet = names.accepts(level_id, Names::INTERNET);
            if !accepts_internet {
                let mut d = Diagnostic::new(
                    Code::E0503,
                    format!(
                        "`{}` (trust `{}`) cannot be exposed: `{}` does not accept `internet`",
                        seg.name, level.name, level.name
                    ),
                    Label::new(e.header, "an exposure is an edge from `internet`"),
                );
                if let Some(span) = level.accepts_span() {
                    d = d.with_label(Label::new(span, accepts_words(names, level_id)));
                }
                diags.push(d.with_help(format!(
                    "add `internet` to what `{}` accepts, or expose a segment of a level that does",
                    level.name
                )));
            }
            let tls_required = level.requires_tls || (accepts_internet && !level.allows_plaintext);
            if tls_required && tls.is_none() {
                let mut d = Diagnostic::new(
                    Code::E0504,
                    format!("exposure of `{}` has no `tls`, which trust `{}` requires", seg.name, level.name),
                    Label::new(e.header, "served without TLS"),
                );
                if let Some(decl) = &level.decl {
                    d = d.with_label(Label::new(decl.span, "TLS is required by this level"));
                }
                diags.push(d.with_help(format!(
                    "add `tls {}-tls` (a TLS secret in namespace `{}`), or say `allows plaintext` on level `{}`",
                    seg.name, seg.namespace, level.name
                )));
            }
            let catch_all = paths.is_empty() || paths.iter().any(|p| p == "/*");
            if catch_all && accepts_internet && lowest_user_level.is_some_and(|lowest| level_id > lowest) {
                let span = paths_prop.map_or(e.header, |p| p.span);
                diags.push(
                    Diagnostic::new(
                        Code::W0102,
                        format!("every path of `{}` (trust `{}`) is exposed", seg.name, level.name),
                        Label::new(span, "catch-all path"),
                    )
                    .with_help("list the paths the internet needs, e.g. `paths \"/api/*\"`"),
                );
            }
        }
        if let (true, Some(h)) = (host_ok, host) {
            let route_paths: Vec<String> = if paths.is_empty() { vec!["/*".to_string()] } else { paths.clone() };
            for p in route_paths {
                let key = (h.text.clone(), p.clone());
                if let Some(first) = routes.get(&key) {
                    diags.push(
                        Diagnostic::new(
                            Code::E0602,
                            format!("host `{}` path `{p}` is exposed twice", h.text),
                            Label::new(e.header, "exposed again here"),
                        )
                        .with_label(Label::new(*first, "first exposed here"))
                        .with_help("one host and path reach one backend; remove or change one exposure"),
                    );
                } else {
                    routes.insert(key, e.header);
                }
            }
            exposures.push(Exposure {
                segment,
                port,
                host: h.text.clone(),
                paths,
                tls: tls.map(|v| v.text.clone()),
                sources,
                auth_url: auth_url.map(|v| v.text.clone()),
                header: e.header,
            });
        }
    }
    model.exposures = exposures;
}

/// W0103: a user segment that no allow or exposure mentions.
///
/// Skipped when a file has syntax errors: the allow that failed to parse may be the
/// one that uses the segment.
///
/// `used` marks the segments that allows and exposures name (see [`check_allows`]):
/// names that resolved count even when the edge had other errors, so that one mistake
/// does not also make its segments look unused.
pub(super) fn check_unused(model: &Model, used: &[bool], syntax_errors: bool, diags: &mut Vec<Diagnostic>) {
    if syntax_errors {
        return;
    }
    let names = &model.names;
    let mut used = used.to_vec();
    for t in &model.targets {
        for s in t.controller.iter().chain(t.dns.iter()) {
            used[s.0] = true;
        }
    }
    for (idx, decl) in names.user_segments() {
        if !used[idx.0] {
            diags.push(
                Diagnostic::new(
                    Code::W0103,
                    format!("segment `{}` is never used", decl.display),
                    Label::new(decl.ast.name.span, "no allow or expose mentions it"),
                )
                .with_help("its pods get default-deny only; add the allows it needs, or remove it"),
            );
        }
    }
}
