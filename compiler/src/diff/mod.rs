//! Semantic diff of two checked policies, with the changes that widen access flagged as
//! risks for a reviewer.
//!
//! Takes: two [`Model`]s (each from a compilation without errors).
//! Gives: [`diff`], a sorted `Vec<Change>` of plain data; [`render`] turns it into text,
//! Markdown or JSON.
//! Must not: read files, print, or compare YAML: the diff is of what the policy declares
//! (names, levels, edges, exposures), so that reformatting or reordering a policy is no
//! change at all.
//!
//! Every thing is identified by name on both sides: segments and externals by name
//! (`web`, `std.prometheus`), edges by (source, destination, port name), exposures by
//! (host, path set), levels and targets by name, forbids by their text.

pub mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::check::{Dest, Model};
use crate::ir::{IngressKind, MeshKind};
use crate::resolve::{AcceptRule, ExtIdx, LevelId, Names, SegIdx};
use crate::syntax::ast;
use crate::verify::world::cidr_contains;

/// What kind of declaration changed; the order is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Level,
    Segment,
    External,
    Edge,
    Exposure,
    Forbid,
    Target,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Level => "level",
            Kind::Segment => "segment",
            Kind::External => "external",
            Kind::Edge => "edge",
            Kind::Exposure => "exposure",
            Kind::Forbid => "forbid",
            Kind::Target => "target",
        }
    }

    /// The heading of this kind's section in a report.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Level => "Trust levels",
            Kind::Segment => "Segments",
            Kind::External => "Externals",
            Kind::Edge => "Edges",
            Kind::Exposure => "Exposures",
            Kind::Forbid => "Forbids",
            Kind::Target => "Targets",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Removed,
    Changed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Added => "added",
            Action::Removed => "removed",
            Action::Changed => "changed",
        }
    }
}

/// One changed declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub action: Action,
    /// What changed, as the user names it: `web`, `api -> db:pg`, `shop.example.com /*`.
    pub subject: String,
    /// One line per changed field (or, for an addition or removal, what it declares).
    pub details: Vec<String>,
    /// One line per way this change widens access (without the `risk:` prefix).
    pub risks: Vec<String>,
}

impl Change {
    fn new(kind: Kind, action: Action, subject: impl Into<String>) -> Self {
        Change { kind, action, subject: subject.into(), details: Vec::new(), risks: Vec::new() }
    }
}

/// Every difference between `old` and `new`, sorted by kind, subject and action.
pub fn diff(old: &Model, new: &Model) -> Vec<Change> {
    let mut out = Vec::new();
    diff_levels(&levels(&old.names), &levels(&new.names), &mut out);
    diff_segments(&segments(old), &segments(new), &mut out);
    diff_externals(&externals(old), &externals(new), &mut out);
    diff_edges(&edges(old), &edges(new), new, &mut out);
    diff_exposures(&exposures(old), &exposures(new), &mut out);
    diff_forbids(&forbids(&old.names), &forbids(&new.names), &mut out);
    diff_targets(&targets(old), &targets(new), &mut out);
    out.sort_by(|a, b| (a.kind, &a.subject, a.action).cmp(&(b.kind, &b.subject, b.action)));
    out
}

/// Every risk line of `changes`, in report order.
pub fn risks(changes: &[Change]) -> Vec<&str> {
    changes.iter().flat_map(|c| c.risks.iter().map(String::as_str)).collect()
}

// ---------------------------------------------------------------- helpers

/// The keys of two maps, each once, sorted.
fn keys<'a, K: Ord, V>(old: &'a BTreeMap<K, V>, new: &'a BTreeMap<K, V>) -> BTreeSet<&'a K> {
    old.keys().chain(new.keys()).collect()
}

fn quoted<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let list: Vec<String> = items.into_iter().map(|i| format!("`{i}`")).collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

/// `name: `old` → `new`` when the values differ.
fn field(details: &mut Vec<String>, name: &str, old: &str, new: &str) {
    if old != new {
        details.push(format!("{name}: `{old}` → `{new}`"));
    }
}

/// `name: added `a`; removed `b`` when the sets differ.
fn set_field(details: &mut Vec<String>, name: &str, old: &BTreeSet<String>, new: &BTreeSet<String>) {
    let added: Vec<&String> = new.difference(old).collect();
    let removed: Vec<&String> = old.difference(new).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", quoted(added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", quoted(removed)));
    }
    if !parts.is_empty() {
        details.push(format!("{name}: {}", parts.join("; ")));
    }
}

/// The level's name, or `?` when it did not resolve (only in a model with errors).
fn level_name(names: &Names, level: Option<LevelId>) -> String {
    level.map_or_else(|| "?".to_string(), |l| names.level(l).name.clone())
}

/// `app=web tier=frontend`.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// `/api/* /healthz`, or `every path` for the default.
fn paths_text(paths: &[String]) -> String {
    if paths.is_empty() {
        "every path".to_string()
    } else {
        paths.join(" ")
    }
}

/// True when request path pattern `inner` matches only paths that `outer` matches
/// (`"/x/*"` matches `/x` and everything below it; other paths match exactly).
fn path_covers(outer: &str, inner: &str) -> bool {
    if outer == inner || outer == "/*" {
        return true;
    }
    match outer.strip_suffix("/*") {
        Some(prefix) => {
            let inner_base = inner.strip_suffix("/*").unwrap_or(inner);
            inner_base == prefix || inner_base.starts_with(&format!("{prefix}/"))
        }
        None => false,
    }
}

/// True when every path `inner` allows is allowed by `outer` (empty = every path).
fn paths_cover(outer: &[String], inner: &[String]) -> bool {
    if outer.is_empty() {
        return true;
    }
    if inner.is_empty() {
        return outer.iter().any(|o| o == "/*");
    }
    inner.iter().all(|i| outer.iter().any(|o| path_covers(o, i)))
}

/// True when CIDR `inner` lies inside CIDR `outer` (both canonical).
fn cidr_covers(outer: &str, inner: &str) -> bool {
    let (Some((_, outer_len)), Some((network, inner_len))) = (outer.split_once('/'), inner.split_once('/')) else {
        return false;
    };
    let (Ok(outer_len), Ok(inner_len), Ok(network)) =
        (outer_len.parse::<u32>(), inner_len.parse::<u32>(), network.parse::<IpAddr>())
    else {
        return false;
    };
    inner_len >= outer_len && cidr_contains(outer, network)
}

/// The CIDRs of `new` that reach addresses no CIDR of `old` covers.
fn wider_cidrs<'a>(old: &BTreeSet<String>, new: &'a BTreeSet<String>) -> Vec<&'a String> {
    new.iter().filter(|n| !old.iter().any(|o| cidr_covers(o, n))).collect()
}

// ---------------------------------------------------------------- trust levels

#[derive(Debug, Clone, PartialEq, Eq)]
struct LevelView {
    builtin: bool,
    /// The names of the levels this level accepts calls from, as the rule resolves on
    /// this side (a level without `accepts` accepts itself and every higher level).
    accepts: BTreeSet<String>,
    requires: BTreeSet<String>,
    allows_plaintext: bool,
}

struct Levels {
    order: Vec<String>,
    by_name: BTreeMap<String, LevelView>,
}

fn levels(names: &Names) -> Levels {
    let ids = (0..names.levels.len()).map(LevelId);
    let mut by_name = BTreeMap::new();
    for id in ids.clone() {
        let level = names.level(id);
        let accepts = ids.clone().filter(|s| names.accepts(id, *s)).map(|s| names.level(s).name.clone()).collect();
        let mut requires = BTreeSet::new();
        if level.requires_mtls {
            requires.insert("mtls".to_string());
        }
        if level.requires_tls {
            requires.insert("tls".to_string());
        }
        let builtin = matches!(level.accepts, AcceptRule::Everything | AcceptRule::AllButInternet);
        by_name.insert(
            level.name.clone(),
            LevelView { builtin, accepts, requires, allows_plaintext: level.allows_plaintext },
        );
    }
    Levels { order: names.levels.iter().map(|l| l.name.clone()).collect(), by_name }
}

fn diff_levels(old: &Levels, new: &Levels, out: &mut Vec<Change>) {
    for name in keys(&old.by_name, &new.by_name) {
        match (old.by_name.get(name), new.by_name.get(name)) {
            (None, Some(n)) => {
                let mut c = Change::new(Kind::Level, Action::Added, name);
                c.details.push(format!("accepts {}", quoted(&n.accepts)));
                if !n.requires.is_empty() {
                    c.details.push(format!("requires {}", quoted(&n.requires)));
                }
                if n.allows_plaintext {
                    c.details.push("allows plaintext".to_string());
                }
                out.push(c);
            }
            (Some(_), None) => out.push(Change::new(Kind::Level, Action::Removed, name)),
            (Some(o), Some(n)) => {
                let mut c = Change::new(Kind::Level, Action::Changed, name);
                // The built-in levels' rules are fixed; the levels they accept change
                // only because levels were added or removed, which is reported there.
                if !(o.builtin && n.builtin) {
                    let widened: BTreeSet<String> = n.accepts.difference(&o.accepts).cloned().collect();
                    let narrowed: BTreeSet<String> = o.accepts.difference(&n.accepts).cloned().collect();
                    if !widened.is_empty() {
                        c.details.push(format!("now accepts {}", quoted(&widened)));
                        c.risks.push(format!("`{name}` now accepts calls from {}", quoted(&widened)));
                    }
                    if !narrowed.is_empty() {
                        c.details.push(format!("no longer accepts {}", quoted(&narrowed)));
                    }
                }
                set_field(&mut c.details, "requires", &o.requires, &n.requires);
                for lost in o.requires.difference(&n.requires) {
                    c.risks.push(format!("`{name}` no longer requires {lost}"));
                }
                if o.allows_plaintext != n.allows_plaintext {
                    if n.allows_plaintext {
                        c.details.push("now allows plaintext".to_string());
                        c.risks.push(format!("`{name}` now allows plaintext"));
                    } else {
                        c.details.push("no longer allows plaintext".to_string());
                    }
                }
                if !c.details.is_empty() {
                    out.push(c);
                }
            }
            (None, None) => {}
        }
    }
    let common = |order: &[String], other: &BTreeMap<String, LevelView>| -> Vec<String> {
        order.iter().filter(|n| other.contains_key(*n)).cloned().collect()
    };
    let old_order = common(&old.order, &new.by_name);
    let new_order = common(&new.order, &old.by_name);
    if old_order != new_order {
        let mut c = Change::new(Kind::Level, Action::Changed, "trust order");
        c.details.push(format!("`{}` → `{}`", old_order.join(" < "), new_order.join(" < ")));
        out.push(c);
    }
}

// ---------------------------------------------------------------- segments

#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentView {
    namespace: String,
    trust: String,
    selector: BTreeMap<String, String>,
    account: String,
    service: String,
    /// `name number/protocol`, by name.
    ports: BTreeMap<String, String>,
    meshed: bool,
    /// `port path`.
    probes: BTreeSet<String>,
}

/// `name number/protocol`, or the name alone when its specification was invalid.
fn port_text(port: &crate::check::PortDecl) -> String {
    match port.spec {
        Some((number, protocol)) => format!("{} {number}/{}", port.name, protocol.as_str()),
        None => port.name.clone(),
    }
}

fn ports(decls: &[crate::check::PortDecl]) -> BTreeMap<String, String> {
    decls.iter().map(|p| (p.name.clone(), port_text(p))).collect()
}

fn segments(model: &Model) -> BTreeMap<String, SegmentView> {
    model
        .segments
        .iter()
        .map(|s| {
            let probes = s
                .probes
                .iter()
                .flat_map(|p| {
                    let port = s.ports.get(p.port).map_or("?", |d| d.name.as_str());
                    p.paths.iter().map(move |path| format!("{port} {path}"))
                })
                .collect();
            let view = SegmentView {
                namespace: s.namespace.clone(),
                trust: level_name(&model.names, s.trust),
                selector: s.selector.clone(),
                account: s.account.clone(),
                service: s.service.clone(),
                ports: ports(&s.ports),
                meshed: s.meshed,
                probes,
            };
            (s.name.clone(), view)
        })
        .collect()
}

fn port_set(ports: &BTreeMap<String, String>) -> BTreeSet<String> {
    ports.values().cloned().collect()
}

fn diff_segments(old: &BTreeMap<String, SegmentView>, new: &BTreeMap<String, SegmentView>, out: &mut Vec<Change>) {
    for name in keys(old, new) {
        match (old.get(name), new.get(name)) {
            (None, Some(n)) => {
                let mut c = Change::new(Kind::Segment, Action::Added, name);
                c.details.push(format!(
                    "in `{}`, trust `{}`, select `{}`",
                    n.namespace,
                    n.trust,
                    selector_text(&n.selector)
                ));
                c.details.push(format!("ports {}", quoted(n.ports.values())));
                out.push(c);
            }
            (Some(_), None) => out.push(Change::new(Kind::Segment, Action::Removed, name)),
            (Some(o), Some(n)) if o != n => {
                let mut c = Change::new(Kind::Segment, Action::Changed, name);
                let d = &mut c.details;
                field(d, "namespace", &o.namespace, &n.namespace);
                field(d, "trust", &o.trust, &n.trust);
                let (old_sel, new_sel) = (selector_text(&o.selector), selector_text(&n.selector));
                field(d, "select", &old_sel, &new_sel);
                field(d, "account", &o.account, &n.account);
                field(d, "service", &o.service, &n.service);
                set_field(d, "ports", &port_set(&o.ports), &port_set(&n.ports));
                if o.meshed != n.meshed {
                    d.push(if n.meshed { "now meshed" } else { "now unmeshed" }.to_string());
                }
                set_field(d, "probes", &o.probes, &n.probes);
                // Fewer labels, the rest unchanged: every pod selected before still is,
                // and more may be.
                let wider = n.selector.len() < o.selector.len()
                    && n.selector.iter().all(|(k, v)| o.selector.get(k) == Some(v))
                    && o.namespace == n.namespace;
                if wider {
                    c.risks.push(format!(
                        "`{name}` ({}) selects more pods: `{old_sel}` → `{}`",
                        n.trust,
                        if new_sel.is_empty() { "every pod".to_string() } else { new_sel }
                    ));
                }
                out.push(c);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- externals

#[derive(Debug, Clone, PartialEq, Eq)]
struct ExternalView {
    trust: String,
    cidrs: BTreeSet<String>,
    ports: BTreeMap<String, String>,
}

fn externals(model: &Model) -> BTreeMap<String, ExternalView> {
    model
        .externals
        .iter()
        .map(|e| {
            let view = ExternalView {
                trust: level_name(&model.names, e.trust),
                cidrs: e.cidrs.iter().cloned().collect(),
                ports: ports(&e.ports),
            };
            (e.name.clone(), view)
        })
        .collect()
}

fn diff_externals(old: &BTreeMap<String, ExternalView>, new: &BTreeMap<String, ExternalView>, out: &mut Vec<Change>) {
    for name in keys(old, new) {
        match (old.get(name), new.get(name)) {
            (None, Some(n)) => {
                let mut c = Change::new(Kind::External, Action::Added, name);
                c.details.push(format!("trust `{}`, cidr {}", n.trust, quoted(&n.cidrs)));
                c.details.push(format!("ports {}", quoted(n.ports.values())));
                out.push(c);
            }
            (Some(_), None) => out.push(Change::new(Kind::External, Action::Removed, name)),
            (Some(o), Some(n)) if o != n => {
                let mut c = Change::new(Kind::External, Action::Changed, name);
                field(&mut c.details, "trust", &o.trust, &n.trust);
                set_field(&mut c.details, "cidr", &o.cidrs, &n.cidrs);
                set_field(&mut c.details, "ports", &port_set(&o.ports), &port_set(&n.ports));
                let wider = wider_cidrs(&o.cidrs, &n.cidrs);
                if !wider.is_empty() {
                    c.risks.push(format!("external `{name}` now reaches {}, beyond its old ranges", quoted(wider)));
                }
                out.push(c);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- edges

/// One request rule of an edge: methods and paths, each sorted (empty = any).
type Rule = (Vec<String>, Vec<String>);

/// What an edge lets through at L7: everything, or the union of its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
enum L7 {
    Any,
    Rules(BTreeSet<Rule>),
}

fn rule_text((methods, paths): &Rule) -> String {
    let methods = if methods.is_empty() { "any method".to_string() } else { methods.join(" ") };
    format!("{methods} {}", paths_text(paths))
}

fn l7_text(l7: &L7) -> String {
    match l7 {
        L7::Any => "every request".to_string(),
        L7::Rules(rules) => rules.iter().map(rule_text).collect::<Vec<_>>().join("; "),
    }
}

/// True when every request `inner` allows is allowed by `outer`.
fn rule_covers((outer_methods, outer_paths): &Rule, (inner_methods, inner_paths): &Rule) -> bool {
    let methods = outer_methods.is_empty()
        || (!inner_methods.is_empty() && inner_methods.iter().all(|m| outer_methods.contains(m)));
    methods && paths_cover(outer_paths, inner_paths)
}

/// True when `new` allows a request `old` did not (rule by rule: a new rule that only
/// the union of several old rules covers still counts, which errs towards a risk line).
fn l7_wider(old: &L7, new: &L7) -> bool {
    match (old, new) {
        (L7::Any, _) => false,
        (L7::Rules(_), L7::Any) => true,
        (L7::Rules(old), L7::Rules(new)) => new.iter().any(|n| !old.iter().any(|o| rule_covers(o, n))),
    }
}

/// An edge's identity: source, destination and port names.
type EdgeKey = (String, String, String);

fn edges(model: &Model) -> BTreeMap<EdgeKey, L7> {
    let mut out: BTreeMap<EdgeKey, L7> = BTreeMap::new();
    for allow in &model.allows {
        let port = model.dest_ports(allow.destination).get(allow.port).map_or("?", |p| p.name.as_str());
        let key = (
            model.segment(allow.source).name.clone(),
            model.dest_name(allow.destination).to_string(),
            port.to_string(),
        );
        let rule = if allow.methods.is_empty() && allow.paths.is_empty() {
            None
        } else {
            let mut methods = allow.methods.clone();
            methods.sort();
            methods.dedup();
            let mut paths = allow.paths.clone();
            paths.sort();
            paths.dedup();
            Some((methods, paths))
        };
        let entry = out.entry(key).or_insert_with(|| L7::Rules(BTreeSet::new()));
        match (entry, rule) {
            (entry, None) => *entry = L7::Any,
            (L7::Rules(rules), Some(rule)) => {
                rules.insert(rule);
            }
            (L7::Any, Some(_)) => {}
        }
    }
    out
}

fn edge_subject((source, destination, port): &EdgeKey) -> String {
    format!("{source} -> {destination}:{port}")
}

/// Every segment and external by name, to find an edge's destination once per edge.
fn destinations(model: &Model) -> BTreeMap<&str, Dest> {
    let segments = model.segments.iter().enumerate().map(|(i, s)| (s.name.as_str(), Dest::Segment(SegIdx(i))));
    let externals = model.externals.iter().enumerate().map(|(i, e)| (e.name.as_str(), Dest::External(ExtIdx(i))));
    segments.chain(externals).collect()
}

/// Why a new edge of `model` deserves a reviewer's look: it climbs to a higher trust
/// level, or enters a level that requires mTLS.
fn new_edge_risk(model: &Model, index: &BTreeMap<&str, Dest>, (source, destination, port): &EdgeKey) -> Option<String> {
    let Some(Dest::Segment(source_idx)) = index.get(source.as_str()) else { return None };
    let source_level = model.segment(*source_idx).trust?;
    let dest_level = model.dest_level(*index.get(destination.as_str())?)?;
    let mut reasons = Vec::new();
    if dest_level > source_level {
        reasons.push("a higher trust level");
    }
    if model.names.level(dest_level).requires_mtls {
        reasons.push("requires mtls");
    }
    if reasons.is_empty() {
        return None;
    }
    let names = &model.names;
    Some(format!(
        "new edge `{source}` ({}) -> `{destination}:{port}` ({}: {})",
        names.level(source_level).name,
        names.level(dest_level).name,
        reasons.join(", ")
    ))
}

fn diff_edges(old: &BTreeMap<EdgeKey, L7>, new: &BTreeMap<EdgeKey, L7>, new_model: &Model, out: &mut Vec<Change>) {
    let index = destinations(new_model);
    for key in keys(old, new) {
        let subject = edge_subject(key);
        match (old.get(key), new.get(key)) {
            (None, Some(n)) => {
                let mut c = Change::new(Kind::Edge, Action::Added, subject);
                c.details.push(format!("allows {}", l7_text(n)));
                c.risks.extend(new_edge_risk(new_model, &index, key));
                out.push(c);
            }
            (Some(o), None) => {
                let mut c = Change::new(Kind::Edge, Action::Removed, subject);
                c.details.push(format!("allowed {}", l7_text(o)));
                out.push(c);
            }
            (Some(o), Some(n)) if o != n => {
                let mut c = Change::new(Kind::Edge, Action::Changed, subject.clone());
                c.details.push(format!("requests: `{}` → `{}`", l7_text(o), l7_text(n)));
                if l7_wider(o, n) {
                    c.risks.push(format!("`{subject}` now allows more requests: {}", l7_text(n)));
                }
                out.push(c);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- exposures

#[derive(Debug, Clone, PartialEq, Eq)]
struct ExposureView {
    /// `segment:port`.
    target: String,
    segment: String,
    level: String,
    paths: Vec<String>,
    tls: Option<String>,
    /// Client CIDRs; empty = anywhere.
    sources: BTreeSet<String>,
    auth: Option<String>,
}

/// An exposure's identity: host and sorted paths (empty = every path).
type ExposureKey = (String, Vec<String>);

fn exposures(model: &Model) -> BTreeMap<ExposureKey, ExposureView> {
    model
        .exposures
        .iter()
        .map(|e| {
            let segment = model.segment(e.segment);
            let port = segment.ports.get(e.port).map_or("?", |p| p.name.as_str());
            let mut paths = e.paths.clone();
            paths.sort();
            paths.dedup();
            let view = ExposureView {
                target: format!("{}:{port}", segment.name),
                segment: segment.name.clone(),
                level: level_name(&model.names, segment.trust),
                paths: paths.clone(),
                tls: e.tls.clone(),
                sources: e.sources.iter().cloned().collect(),
                auth: e.auth_url.clone(),
            };
            ((e.host.clone(), paths), view)
        })
        .collect()
}

/// `shop.example.com /api/* /healthz`, or `db.example.com (every path)`.
fn exposure_subject(host: &str, paths: &[String]) -> String {
    if paths.is_empty() {
        format!("{host} (every path)")
    } else {
        format!("{host} {}", paths.join(" "))
    }
}

fn sources_text(sources: &BTreeSet<String>) -> String {
    if sources.is_empty() {
        "anywhere".to_string()
    } else {
        sources.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

fn exposure_summary(e: &ExposureView) -> Vec<String> {
    vec![
        format!("to `{}` (trust `{}`)", e.target, e.level),
        format!("tls {}", e.tls.as_deref().map_or("none".to_string(), |t| format!("`{t}`"))),
        format!("source {}", sources_text(&e.sources)),
        format!("auth {}", e.auth.as_deref().map_or("none".to_string(), |a| format!("`{a}`"))),
    ]
}

fn diff_exposures(
    old: &BTreeMap<ExposureKey, ExposureView>,
    new: &BTreeMap<ExposureKey, ExposureView>,
    out: &mut Vec<Change>,
) {
    // An exposure whose paths changed has a new key; pair it with the one it replaces
    // when the pairing is unambiguous: exactly one unmatched exposure of the same host
    // and segment port on each side.
    let mut removed: BTreeMap<(&str, &str), Vec<&ExposureKey>> = BTreeMap::new();
    let mut added: BTreeMap<(&str, &str), Vec<&ExposureKey>> = BTreeMap::new();
    for (key, view) in old {
        if !new.contains_key(key) {
            removed.entry((key.0.as_str(), view.target.as_str())).or_default().push(key);
        }
    }
    for (key, view) in new {
        if !old.contains_key(key) {
            added.entry((key.0.as_str(), view.target.as_str())).or_default().push(key);
        }
    }
    let mut pairs: Vec<(&ExposureKey, &ExposureKey)> = Vec::new();
    for (group, olds) in &removed {
        if let (Some(news), [one_old]) = (added.get(group), olds.as_slice()) {
            if let [one_new] = news.as_slice() {
                pairs.push((one_old, one_new));
            }
        }
    }
    let paired_old: BTreeSet<&ExposureKey> = pairs.iter().map(|p| p.0).collect();
    let paired_new: BTreeSet<&ExposureKey> = pairs.iter().map(|p| p.1).collect();

    for key in keys(old, new) {
        match (old.get(key), new.get(key)) {
            (None, Some(n)) if !paired_new.contains(key) => {
                let mut c = Change::new(Kind::Exposure, Action::Added, exposure_subject(&key.0, &key.1));
                c.details = exposure_summary(n);
                c.risks.push(format!(
                    "`{}` ({}) is now exposed to the internet at `{}`",
                    n.segment,
                    n.level,
                    exposure_subject(&key.0, &key.1)
                ));
                out.push(c);
            }
            (Some(o), None) if !paired_old.contains(key) => {
                let mut c = Change::new(Kind::Exposure, Action::Removed, exposure_subject(&key.0, &key.1));
                c.details.push(format!("to `{}`", o.target));
                out.push(c);
            }
            (Some(o), Some(n)) if o != n => out.push(exposure_change(&key.0, o, n)),
            _ => {}
        }
    }
    for (old_key, new_key) in pairs {
        if let (Some(o), Some(n)) = (old.get(old_key), new.get(new_key)) {
            out.push(exposure_change(&new_key.0, o, n));
        }
    }
}

fn exposure_change(host: &str, o: &ExposureView, n: &ExposureView) -> Change {
    let subject = exposure_subject(host, &n.paths);
    let mut c = Change::new(Kind::Exposure, Action::Changed, subject.clone());
    let d = &mut c.details;
    field(d, "to", &o.target, &n.target);
    field(d, "paths", &paths_text(&o.paths), &paths_text(&n.paths));
    let none = || "none".to_string();
    field(d, "tls", &o.tls.clone().unwrap_or_else(none), &n.tls.clone().unwrap_or_else(none));
    field(d, "source", &sources_text(&o.sources), &sources_text(&n.sources));
    field(d, "auth", &o.auth.clone().unwrap_or_else(none), &n.auth.clone().unwrap_or_else(none));
    let r = &mut c.risks;
    if o.segment != n.segment {
        r.push(format!("`{}` ({}) is now exposed to the internet at `{subject}`", n.segment, n.level));
    }
    if o.tls.is_some() && n.tls.is_none() {
        r.push(format!("`{subject}` lost TLS: traffic to `{}` is now plaintext", n.target));
    }
    if o.auth.is_some() && n.auth.is_none() {
        r.push(format!("`{subject}` lost its auth check: `{}` is reachable without authentication", n.target));
    }
    // Empty sources mean anywhere: nothing is wider than that.
    let source_wider =
        !o.sources.is_empty() && (n.sources.is_empty() || !wider_cidrs(&o.sources, &n.sources).is_empty());
    if source_wider {
        r.push(format!("`{subject}` accepts clients from more addresses: {}", sources_text(&n.sources)));
    }
    if !paths_cover(&o.paths, &n.paths) {
        r.push(format!("`{subject}` exposes more paths of `{}`: {}", n.target, paths_text(&n.paths)));
    }
    c
}

// ---------------------------------------------------------------- forbids

fn ref_text(r: &ast::Ref) -> String {
    if r.std {
        format!("std.{}", r.name.text)
    } else {
        r.name.text.clone()
    }
}

fn forbids(names: &Names) -> BTreeSet<String> {
    names
        .forbids
        .iter()
        .map(|f| {
            format!("{} {} {}", ref_text(&f.source), if f.transitive { "->*" } else { "->" }, ref_text(&f.destination))
        })
        .collect()
}

fn diff_forbids(old: &BTreeSet<String>, new: &BTreeSet<String>, out: &mut Vec<Change>) {
    for added in new.difference(old) {
        out.push(Change::new(Kind::Forbid, Action::Added, added.clone()));
    }
    for removed in old.difference(new) {
        let mut c = Change::new(Kind::Forbid, Action::Removed, removed.clone());
        c.risks.push(format!("`forbid {removed}` was removed: the compiler no longer guards it"));
        out.push(c);
    }
}

// ---------------------------------------------------------------- targets

#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetView {
    ingress: String,
    mesh: String,
    trust_domain: String,
    identity_suffix: String,
    controller: String,
    dns: String,
}

fn targets(model: &Model) -> BTreeMap<String, TargetView> {
    let name = |s: Option<SegIdx>, none: &str| s.map_or(none.to_string(), |s| model.segment(s).name.clone());
    model
        .targets
        .iter()
        .map(|t| {
            let view = TargetView {
                ingress: match t.ingress {
                    IngressKind::Nginx => "nginx",
                    IngressKind::Traefik => "traefik",
                }
                .to_string(),
                mesh: match t.mesh {
                    MeshKind::Istio => "istio",
                    MeshKind::Linkerd => "linkerd",
                    MeshKind::None => "none",
                }
                .to_string(),
                trust_domain: t.trust_domain.clone(),
                identity_suffix: t.identity_suffix.clone(),
                controller: name(t.controller, "?"),
                dns: name(t.dns, "off"),
            };
            (t.name.clone(), view)
        })
        .collect()
}

fn diff_targets(old: &BTreeMap<String, TargetView>, new: &BTreeMap<String, TargetView>, out: &mut Vec<Change>) {
    for name in keys(old, new) {
        match (old.get(name), new.get(name)) {
            (None, Some(n)) => {
                let mut c = Change::new(Kind::Target, Action::Added, name);
                c.details.push(format!("ingress `{}`, mesh `{}`", n.ingress, n.mesh));
                out.push(c);
            }
            (Some(_), None) => out.push(Change::new(Kind::Target, Action::Removed, name)),
            (Some(o), Some(n)) if o != n => {
                let mut c = Change::new(Kind::Target, Action::Changed, name);
                let d = &mut c.details;
                field(d, "ingress", &o.ingress, &n.ingress);
                field(d, "mesh", &o.mesh, &n.mesh);
                field(d, "trust domain", &o.trust_domain, &n.trust_domain);
                field(d, "identity suffix", &o.identity_suffix, &n.identity_suffix);
                field(d, "controller", &o.controller, &n.controller);
                field(d, "dns", &o.dns, &n.dns);
                out.push(c);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::compile_text;

    /// examples/shop.seg without its comments, so that tests can edit it line by line.
    fn shop() -> String {
        let text = include_str!("../../../examples/shop.seg");
        text.lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code).trim_end()).collect::<Vec<_>>().join("\n")
            + "\n"
    }

    fn model(text: &str) -> Model {
        let c = compile_text("shop.seg", text);
        assert!(
            !c.has_errors(),
            "{}",
            crate::diag::render_all(&c.sources, &c.diagnostics, crate::diag::ColorChoice::Never)
        );
        c.model
    }

    /// The changes from shop.seg to shop.seg with each `(from, to)` replacement made.
    fn changes(edits: &[(&str, &str)]) -> Vec<Change> {
        let mut new = shop();
        for (from, to) in edits {
            assert!(new.contains(from), "`{from}` not in shop.seg");
            new = new.replacen(from, to, 1);
        }
        diff(&model(&shop()), &model(&new))
    }

    fn one(edits: &[(&str, &str)]) -> Change {
        let mut all = changes(edits);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    const EXPOSE: &str =
        "expose web:http {\n  host \"shop.example.com\"\n  paths \"/*\"\n  tls shop-tls\n  source 0.0.0.0/0\n}";

    #[test]
    fn same_policy_reordered_has_no_changes() {
        assert!(changes(&[]).is_empty());
        let moved = shop().replace("allow api -> stripe:https\n", "") + "\nallow api -> stripe:https\n";
        assert!(diff(&model(&shop()), &model(&moved)).is_empty());
    }

    #[test]
    fn segments_added_removed_and_changed() {
        let c = one(&[("  account postgres\n", "  account pg\n  unmeshed\n")]);
        assert_eq!((c.kind, c.action, c.subject.as_str()), (Kind::Segment, Action::Changed, "db"));
        assert_eq!(c.details, ["account: `postgres` → `pg`", "now unmeshed"]);
        assert!(c.risks.is_empty());

        let c = one(&[("  port metrics 9090/http\n", "  port metrics 9091/http\n")]);
        assert_eq!(c.details, ["ports: added `metrics 9091/http`; removed `metrics 9090/http`"]);

        let added = "segment cache in shop {\n  trust internal\n  select app=cache\n  port redis 6379/tcp\n}\n";
        let all = changes(&[("external stripe", &format!("{added}\nexternal stripe"))]);
        assert_eq!(all[0].action, Action::Added);
        assert_eq!(all[0].details, ["in `shop`, trust `internal`, select `app=cache`", "ports `redis 6379/tcp`"]);
    }

    #[test]
    fn a_wider_selector_is_a_risk_and_a_different_one_is_not() {
        let narrow = &[("  select app=api\n", "  select app=api tier=backend\n")][..];
        let mut tiered = shop();
        tiered = tiered.replacen(narrow[0].0, narrow[0].1, 1);
        let wider = diff(&model(&tiered), &model(&shop()));
        assert_eq!(wider[0].risks, ["`api` (internal) selects more pods: `app=api tier=backend` → `app=api`"]);
        let narrower = one(narrow);
        assert_eq!(narrower.details, ["select: `app=api` → `app=api tier=backend`"]);
        assert!(narrower.risks.is_empty());
        assert!(one(&[("  select app=api\n", "  select app=api2\n")]).risks.is_empty());
    }

    #[test]
    fn externals_and_wider_cidrs() {
        let c = one(&[("cidr 203.0.113.0/24", "cidr 203.0.112.0/20")]);
        assert_eq!((c.kind, c.action), (Kind::External, Action::Changed));
        assert_eq!(c.risks, ["external `stripe` now reaches `203.0.112.0/20`, beyond its old ranges"]);
        let narrower = one(&[("cidr 203.0.113.0/24", "cidr 203.0.113.0/25")]);
        assert_eq!(narrower.details, ["cidr: added `203.0.113.0/25`; removed `203.0.113.0/24`"]);
        assert!(narrower.risks.is_empty());
    }

    #[test]
    fn edges_added_removed_and_l7_changes() {
        let all = changes(&[("allow api -> stripe:https\n", "")]);
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].kind, all[0].action, all[0].subject.as_str()),
            (Kind::Edge, Action::Removed, "api -> stripe:https")
        );

        let c = one(&[("methods GET POST", "methods GET")]);
        assert_eq!(c.details, ["requests: `GET POST /api/* /healthz` → `GET /api/* /healthz`"]);
        assert!(c.risks.is_empty(), "fewer methods is narrower");
        let c = one(&[("methods GET POST", "methods GET POST DELETE")]);
        assert_eq!(c.risks, ["`web -> api:http` now allows more requests: DELETE GET POST /api/* /healthz"]);
        let c = one(&[("  paths \"/api/*\" \"/healthz\"\n", "")]);
        assert_eq!(c.risks, ["`web -> api:http` now allows more requests: GET POST every path"]);
    }

    #[test]
    fn new_edges_up_the_trust_order_or_into_mtls_are_risks() {
        let c = one(&[("allow api -> stripe:https\n", "allow api -> stripe:https\nallow web -> api:metrics\n")]);
        assert_eq!(c.action, Action::Added);
        assert_eq!(c.risks, ["new edge `web` (dmz) -> `api:metrics` (internal: a higher trust level)"]);
        // Same level, but the level requires mTLS.
        let two_dbs = "segment db2 in data {\n  trust restricted\n  select app=db2\n  port pg 5432/tcp\n}\n";
        let base = shop()
            .replace("external stripe", &format!("{two_dbs}\nexternal stripe"))
            .replace("restricted accepts internal", "restricted accepts internal, restricted");
        let new = base.replace("allow api -> db:pg\n", "allow api -> db:pg\nallow api -> db2:pg\nallow db -> db2:pg\n");
        let all = diff(&model(&base), &model(&new));
        let risks: Vec<&str> = risks(&all);
        assert_eq!(
            risks,
            [
                "new edge `api` (internal) -> `db2:pg` (restricted: a higher trust level, requires mtls)",
                "new edge `db` (restricted) -> `db2:pg` (restricted: requires mtls)"
            ]
        );
        // Down the order, into a level without requirements: no risk.
        assert!(one(&[("allow api -> stripe:https\n", "allow api -> stripe:https\nallow api -> web:http\n")])
            .risks
            .is_empty());
    }

    #[test]
    fn exposure_changes_and_their_risks() {
        // dmz allows plaintext, so the exposure may drop TLS.
        let secured = shop()
            .replace("  source 0.0.0.0/0", "  source 10.0.0.0/8\n  auth url \"https://auth.example.com/verify\"")
            .replace("accepts internet, dmz, internal", "accepts internet, dmz, internal allows plaintext");
        let old = model(&secured);
        let loosened = secured
            .replace("  tls shop-tls\n", "")
            .replace("  source 10.0.0.0/8\n", "  source 0.0.0.0/0\n")
            .replace("  auth url \"https://auth.example.com/verify\"\n", "");
        let all = diff(&old, &model(&loosened));
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(all[0].subject, "shop.example.com /*");
        assert_eq!(
            all[0].details,
            [
                "tls: `shop-tls` → `none`",
                "source: `10.0.0.0/8` → `anywhere`",
                "auth: `https://auth.example.com/verify` → `none`"
            ]
        );
        assert_eq!(
            all[0].risks,
            [
                "`shop.example.com /*` lost TLS: traffic to `web:http` is now plaintext",
                "`shop.example.com /*` lost its auth check: `web:http` is reachable without authentication",
                "`shop.example.com /*` accepts clients from more addresses: anywhere"
            ]
        );
        // The reverse only tightens.
        assert!(risks(&diff(&model(&loosened), &old)).is_empty());
        let wider_source = secured.replace("source 10.0.0.0/8", "source 10.0.0.0/8 192.168.0.0/16");
        assert_eq!(
            risks(&diff(&old, &model(&wider_source))),
            ["`shop.example.com /*` accepts clients from more addresses: 10.0.0.0/8 192.168.0.0/16"]
        );
    }

    #[test]
    fn exposure_paths_pair_into_one_change() {
        let api = shop().replace("  paths \"/*\"\n  tls", "  paths \"/api/*\"\n  tls");
        let c = diff(&model(&api), &model(&shop()));
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!((c[0].action, c[0].subject.as_str()), (Action::Changed, "shop.example.com /*"));
        assert_eq!(c[0].risks, ["`shop.example.com /*` exposes more paths of `web:http`: /*"]);
        assert!(diff(&model(&shop()), &model(&api))[0].risks.is_empty(), "fewer paths is narrower");
        let gone = diff(&model(&shop()), &model(&shop().replace(EXPOSE, "")));
        assert_eq!((gone[0].kind, gone[0].action), (Kind::Exposure, Action::Removed));
    }

    #[test]
    fn new_exposure_is_a_risk() {
        let new = shop()
            .replace(EXPOSE, &format!("{EXPOSE}\nexpose web:http {{\n  host \"www.example.com\"\n  tls www-tls\n}}"));
        let all = diff(&model(&shop()), &model(&new));
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].risks, ["`web` (dmz) is now exposed to the internet at `www.example.com (every path)`"]);
    }

    #[test]
    fn levels_accepts_requirements_and_order() {
        let c = one(&[("restricted accepts internal requires mtls", "restricted accepts dmz, internal requires mtls")]);
        assert_eq!((c.kind, c.subject.as_str()), (Kind::Level, "restricted"));
        assert_eq!(c.risks, ["`restricted` now accepts calls from `dmz`"]);
        let c = one(&[("dmz        accepts internet, dmz, internal", "dmz        accepts internet, internal")]);
        assert_eq!(c.details, ["no longer accepts `dmz`"]);
        assert!(c.risks.is_empty());
        let c = one(&[("accepts internal requires mtls", "accepts internal")]);
        assert_eq!(c.risks, ["`restricted` no longer requires mtls"]);

        let added = changes(&[("  restricted accepts", "  vault accepts restricted\n  restricted accepts")]);
        let subjects: Vec<(&str, Action)> = added.iter().map(|c| (c.subject.as_str(), c.action)).collect();
        assert_eq!(subjects, [("vault", Action::Added)], "{added:#?}");
        let reordered = changes(&[(
            "  dmz        accepts internet, dmz, internal\n  internal   accepts dmz, internal, platform\n",
            "  internal   accepts dmz, internal, platform\n  dmz        accepts internet, dmz, internal\n",
        )]);
        assert!(reordered.iter().any(|c| c.subject == "trust order" && c.details == ["`internet < dmz < internal < restricted < platform` → `internet < internal < dmz < restricted < platform`"]), "{reordered:#?}");
    }

    #[test]
    fn forbids_and_targets() {
        let all = changes(&[("forbid dmz -> restricted", "forbid web -> stripe")]);
        let forbids: Vec<(Action, &str, &[String])> =
            all.iter().map(|c| (c.action, c.subject.as_str(), c.risks.as_slice())).collect();
        assert_eq!(
            forbids,
            [
                (
                    Action::Removed,
                    "dmz -> restricted",
                    &["`forbid dmz -> restricted` was removed: the compiler no longer guards it".to_string()][..]
                ),
                (Action::Added, "web -> stripe", &[][..])
            ]
        );
        let c = one(&[("mesh istio", "mesh linkerd")]);
        assert_eq!((c.kind, c.action, c.subject.as_str()), (Kind::Target, Action::Changed, "prod"));
        assert_eq!(c.details, ["mesh: `istio` → `linkerd`"]);
    }
}
