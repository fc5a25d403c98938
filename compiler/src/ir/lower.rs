//! Lowering: a checked model and one of its targets to the [`Policy`] backends read.
//!
//! Takes: a [`Model`] free of errors and one [`check::Target`](crate::check::Target).
//! Gives: the sorted, merged [`Policy`], or the diagnostics of rules that depend on the
//! target (an unmeshed caller into a meshed segment under a mesh, E0505).
//! Must not: re-check what `check` checked, print, or depend on declaration order
//! beyond what the IR documents (edge `decls` are in source order).

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::backends::object_name;
use crate::check::{self, Dest, Model, PortDecl};
use crate::diag::{Code, Diagnostic, Label};
use crate::resolve::SegIdx;

use super::*;

/// `"/*"` → `Prefix("/")`, `"/x/*"` → `Prefix("/x")`, anything else exact.
pub fn path_match(path: &str) -> PathMatch {
    if path == "/*" {
        PathMatch::Prefix("/".into())
    } else if let Some(prefix) = path.strip_suffix("/*") {
        PathMatch::Prefix(prefix.into())
    } else {
        PathMatch::Exact(path.into())
    }
}

fn port(decl: &PortDecl) -> Option<Port> {
    decl.spec.map(|(number, protocol)| Port { name: decl.name.clone(), number, protocol })
}

fn sorted_ports(decls: &[PortDecl]) -> Vec<Port> {
    let mut ports: Vec<Port> = decls.iter().filter_map(port).collect();
    ports.sort();
    ports
}

fn sorted_paths<'a>(paths: impl IntoIterator<Item = &'a String>) -> Vec<PathMatch> {
    sorted_set(paths.into_iter().map(|p| path_match(p)).collect())
}

/// `values` sorted and without repeats. A list sorted in place, not a `BTreeSet`: the
/// lists are short (an allow's methods and paths), and a set's first node alone is
/// some hundreds of bytes of fresh memory per list.
fn sorted_set<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort_unstable();
    values.dedup();
    values
}

/// Lowers `model` for `target`. `source_name` is the root file's name as the user gave it.
pub fn lower(model: &Model, target: &check::Target, source_name: &str) -> Result<Policy, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    if target.mesh != MeshKind::None {
        // One flag per segment, read for both ends of every allow: at 20,000 segments
        // the declarations themselves are megabytes, and reading them at random for
        // each allow cost more than the rest of the loop.
        let meshed: Vec<bool> = model.segments.iter().map(|s| s.meshed).collect();
        for a in &model.allows {
            if let Dest::Segment(d) = a.destination {
                if !meshed[a.source.0] && meshed[d.0] {
                    let (source, dest) = (model.segment(a.source), model.segment(d));
                    let mut diag = Diagnostic::new(
                        Code::E0505,
                        format!(
                            "`{}` is unmeshed but `{}` is meshed under target `{}`",
                            source.name, dest.name, target.name
                        ),
                        Label::new(a.header, "strict mTLS would drop this connection"),
                    )
                    .with_label(Label::new(target.header, "this target runs a mesh"));
                    if let Some(span) = source.unmeshed_span {
                        diag = diag.with_label(Label::new(span, format!("`{}` is marked unmeshed", source.name)));
                    }
                    diags.push(diag.with_help(format!(
                        "mesh `{}` (remove `unmeshed`), or build this policy for a target with `mesh none`",
                        source.name
                    )));
                }
            }
        }
    }
    if !diags.is_empty() {
        crate::diag::sort(&mut diags);
        return Err(diags);
    }

    // The user's segments, plus the standard library's that something references.
    let mut included: Vec<bool> = model.segments.iter().map(|s| !s.std).collect();
    for a in &model.allows {
        included[a.source.0] = true;
        if let Dest::Segment(d) = a.destination {
            included[d.0] = true;
        }
    }
    for s in target.controller.iter().chain(&target.dns).chain(&target.control_plane) {
        included[s.0] = true;
    }
    // Sorted as (name, index) pairs, so that comparisons do not go through the
    // segments' declarations at random.
    let mut by_name: Vec<(&str, SegIdx)> = (0..model.segments.len())
        .filter(|i| included[*i])
        .map(|i| (model.segments[i].name.as_str(), SegIdx(i)))
        .collect();
    by_name.par_sort_unstable();
    let order: Vec<SegIdx> = by_name.into_iter().map(|(_, idx)| idx).collect();
    // SegIdx -> SegmentId, for the included segments.
    // u32 (`u32::MAX` for none): merging looks up both ends of every allow here, and
    // at 20,000 segments a list of `Option<SegmentId>` (16 bytes each) outgrew the cache.
    let mut segment_id: Vec<u32> = vec![u32::MAX; model.segments.len()];
    for (i, s) in order.iter().enumerate() {
        segment_id[s.0] = i as u32;
    }
    let segment_id = |s: SegIdx| (segment_id[s.0] != u32::MAX).then(|| SegmentId(segment_id[s.0] as usize));

    // Each segment, edge and exposure lowers on its own: in parallel, in order.
    let segments: Vec<Segment> = order
        .par_iter()
        .map(|idx| {
            let s = model.segment(*idx);
            let mut probes: Vec<Probe> = s
                .probes
                .iter()
                .filter_map(|p| {
                    let port = port(s.ports.get(p.port)?)?;
                    Some(Probe { port, paths: sorted_paths(&p.paths) })
                })
                .collect();
            probes.sort();
            Segment {
                name: s.name.clone(),
                slug: object_name(&[&s.name]),
                namespace: s.namespace.clone(),
                selector: s.selector.clone(),
                account: s.account.clone(),
                service: s.service.clone(),
                ports: sorted_ports(&s.ports),
                meshed: s.meshed,
                managed: !s.std,
                trust: s.trust.map(|l| model.names.level(l).name.clone()).unwrap_or_default(),
                probes,
                decl: s.header,
            }
        })
        .collect();

    let mut external_order: Vec<usize> = (0..model.externals.len()).collect();
    external_order.sort_by(|a, b| model.externals[*a].name.cmp(&model.externals[*b].name));
    let mut external_id: Vec<ExternalId> = vec![ExternalId(0); model.externals.len()];
    for (i, e) in external_order.iter().enumerate() {
        external_id[*e] = ExternalId(i);
    }
    let externals: Vec<External> = external_order
        .iter()
        .map(|i| {
            let e = &model.externals[*i];
            External {
                name: e.name.clone(),
                slug: object_name(&[&e.name]),
                cidrs: sorted_set(e.cidrs.clone()),
                ports: sorted_ports(&e.ports),
                decl: e.header,
            }
        })
        .collect();

    let edges = merge_allows(model, segment_id, &external_id);
    let mut exposures: Vec<Exposure> = model
        .exposures
        .par_iter()
        .filter_map(|e| {
            let segment = segment_id(e.segment)?;
            let port = port(model.segment(e.segment).ports.get(e.port)?)?;
            let paths = if e.paths.is_empty() { vec![PathMatch::Prefix("/".into())] } else { sorted_paths(&e.paths) };
            Some(Exposure {
                segment,
                port,
                host: e.host.clone(),
                paths,
                tls_secret: e.tls.clone(),
                sources: sorted_set(e.sources.clone()),
                auth_url: e.auth_url.clone(),
                decl: e.header,
            })
        })
        .collect();
    exposures.par_sort_by(|a, b| (&a.host, &a.paths, a.segment, &a.port).cmp(&(&b.host, &b.paths, b.segment, &b.port)));

    // Found in a hash set, then sorted: a search tree compared every segment's
    // namespace with several others, and its share of lowering's perf samples grew
    // 2.75× when the policy doubled.
    let managed_namespaces: FxHashSet<&str> =
        segments.iter().filter(|s| s.managed).map(|s| s.namespace.as_str()).collect();
    let managed_namespaces = sorted_set(managed_namespaces.into_iter().map(str::to_string).collect());
    let lookup = |s: Option<SegIdx>| s.and_then(segment_id);
    let Some(controller) = lookup(target.controller) else {
        return Err(vec![Diagnostic::new(
            Code::E0201,
            format!("target `{}` has no ingress controller", target.name),
            Label::new(target.header, "set `controller SEGMENT`"),
        )]);
    };
    Ok(Policy {
        source_name: source_name.to_string(),
        target: Target {
            name: target.name.clone(),
            ingress: target.ingress,
            mesh: target.mesh,
            trust_domain: target.trust_domain.clone(),
            identity_suffix: target.identity_suffix.clone(),
            controller,
            dns: lookup(target.dns),
            control_plane: target.control_plane.iter().filter_map(|s| lookup(Some(*s))).collect(),
        },
        segments,
        externals,
        edges,
        exposures,
        managed_namespaces,
    })
}

/// Merges allows per (source, destination, port) into edges sorted by that key; L7
/// rules are unioned and any unrestricted allow makes the edge unrestricted.
fn merge_allows(
    model: &Model,
    segment_id: impl Fn(SegIdx) -> Option<SegmentId> + Sync,
    external_id: &[ExternalId],
) -> Vec<Edge> {
    let ports = PortTable::new(model);
    // (source, destination, port, allow), the port copied out of the table now, while
    // it is in the cache. The stable sort keeps each edge's allows in source order.
    let mut keyed: Vec<(SegmentId, Destination, PortEntry, &check::Allow)> = Vec::with_capacity(model.allows.len());
    for a in &model.allows {
        let Some(source) = segment_id(a.source) else {
            continue;
        };
        let Some(port) = ports.find(a.destination, a.port) else {
            continue;
        };
        let destination = match a.destination {
            Dest::Segment(d) => segment_id(d).map(Destination::Segment),
            Dest::External(e) => Some(Destination::External(external_id[e.0])),
        };
        let Some(destination) = destination else {
            continue;
        };
        keyed.push((source, destination, port, a));
    }
    keyed.par_sort_by_key(|x| (x.0, x.1, x.2.rank));

    let groups: Vec<_> = keyed.chunk_by(|x, y| (x.0, x.1, x.2.rank) == (y.0, y.1, y.2.rank)).collect();
    groups
        .into_par_iter()
        .filter_map(|group| {
            let (source, destination, port, _) = group[0];
            let port = ports.port(port);
            // `None` once one allow is unrestricted.
            let mut rules: Option<Vec<HttpRule>> = Some(Vec::new());
            let mut decls = Vec::with_capacity(group.len());
            for (_, _, _, a) in group {
                decls.push(a.header);
                let restricted = port.protocol.is_http() && !(a.methods.is_empty() && a.paths.is_empty());
                if !restricted {
                    rules = None;
                } else if let Some(rules) = &mut rules {
                    rules.push(HttpRule { methods: sorted_set(a.methods.clone()), paths: sorted_paths(&a.paths) });
                }
            }
            let l7 = match rules {
                Some(rules) if !rules.is_empty() => L7::Rules(sorted_set(rules)),
                _ => L7::Any,
            };
            Some(Edge { source, destination, port, l7, decls })
        })
        .collect()
}

/// Every port of every segment and external in one list of a few bytes each, with
/// its rank by name among its destination's ports (the order of an edge's port), and
/// each distinct port name once. Merging looks up the port of each allow here, in no
/// order: from the model, each lookup read a destination's list of declarations and
/// then the port's name, in a different place in memory every time, and lowering's
/// share of that grew 3 to 6× when the policy doubled (docs/performance.md).
struct PortTable {
    /// Where each destination's ports start in `ports`: the segments by index, then
    /// the externals.
    start: Vec<usize>,
    /// `None` for a port without a number and protocol (which `check` reported).
    ports: Vec<Option<PortEntry>>,
    /// The distinct port names (`http`, `metrics`, …: few, and shared by most
    /// segments), by [`PortEntry::name`].
    names: Vec<String>,
    segments: usize,
}

#[derive(Clone, Copy)]
struct PortEntry {
    name: u32,
    rank: u32,
    number: u16,
    protocol: Protocol,
}

impl PortTable {
    fn new(model: &Model) -> PortTable {
        let lists = || model.segments.iter().map(|s| &s.ports).chain(model.externals.iter().map(|e| &e.ports));
        let mut table = PortTable {
            start: Vec::with_capacity(model.segments.len() + model.externals.len()),
            ports: Vec::with_capacity(lists().map(Vec::len).sum()),
            names: Vec::new(),
            segments: model.segments.len(),
        };
        let mut name_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut by_name: Vec<usize> = Vec::new();
        for decls in lists() {
            let first = table.ports.len();
            table.start.push(first);
            by_name.clear();
            by_name.extend(0..decls.len());
            by_name.sort_unstable_by(|a, b| decls[*a].name.cmp(&decls[*b].name));
            table.ports.extend(decls.iter().map(|d| {
                let (number, protocol) = d.spec?;
                let name = *name_ids.entry(&d.name).or_insert_with(|| {
                    table.names.push(d.name.clone());
                    (table.names.len() - 1) as u32
                });
                Some(PortEntry { name, rank: 0, number, protocol })
            }));
            for (rank, i) in by_name.iter().enumerate() {
                if let Some(entry) = &mut table.ports[first + i] {
                    entry.rank = rank as u32;
                }
            }
        }
        table
    }

    /// Port `index` of `dest`, if that port lowers.
    fn find(&self, dest: Dest, index: usize) -> Option<PortEntry> {
        let d = match dest {
            Dest::Segment(s) => s.0,
            Dest::External(e) => self.segments + e.0,
        };
        let end = self.start.get(d + 1).copied().unwrap_or(self.ports.len());
        let slot = self.start.get(d)? + index;
        *self.ports[..end].get(slot)?
    }

    fn port(&self, entry: PortEntry) -> Port {
        Port { name: self.names[entry.name as usize].clone(), number: entry.number, protocol: entry.protocol }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lower_as_documented() {
        assert_eq!(path_match("/*"), PathMatch::Prefix("/".into()));
        assert_eq!(path_match("/api/*"), PathMatch::Prefix("/api".into()));
        assert_eq!(path_match("/healthz"), PathMatch::Exact("/healthz".into()));
    }

    #[test]
    fn sets_are_sorted_without_repeats() {
        assert_eq!(sorted_set(vec!["POST", "GET", "POST", "DELETE"]), ["DELETE", "GET", "POST"]);
        // In `PathMatch`'s order: exact paths before prefixes.
        let paths = ["/b/*", "/c", "/b/*", "/a"].map(String::from);
        assert_eq!(
            sorted_paths(&paths),
            [PathMatch::Exact("/a".into()), PathMatch::Exact("/c".into()), PathMatch::Prefix("/b".into())]
        );
    }

    #[test]
    fn the_port_table_ranks_each_destinations_ports_by_name_and_keeps_names_once() {
        let text = "trust {\n  app\n}\n\
            segment a in n {\n  trust app\n  select app=a\n  port web 80/http\n  port admin 81/http\n  port db 5432/tcp\n}\n\
            segment b in n {\n  trust app\n  select app=b\n  port web 8080/http\n}\n\
            external x {\n  cidr 10.0.0.0/8\n  port admin 443/tcp\n}\n";
        let compiled = crate::driver::compile_text("t.seg", text);
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        let model = &compiled.model;
        let segment = |name: &str| Dest::Segment(SegIdx(model.segments.iter().position(|s| s.name == name).unwrap()));
        let table = PortTable::new(model);
        let port = |dest, index| table.find(dest, index).map(|entry| (entry.rank, table.port(entry)));
        let http = |name: &str, number| Port { name: name.into(), number, protocol: Protocol::Http };
        let tcp = |name: &str, number| Port { name: name.into(), number, protocol: Protocol::Tcp };
        assert_eq!(port(segment("a"), 0), Some((2, http("web", 80))));
        assert_eq!(port(segment("a"), 1), Some((0, http("admin", 81))));
        assert_eq!(port(segment("a"), 2), Some((1, tcp("db", 5432))));
        assert_eq!(port(segment("a"), 3), None, "a port past a's own is not b's");
        assert_eq!(port(segment("b"), 0), Some((0, http("web", 8080))));
        assert_eq!(port(Dest::External(crate::resolve::ExtIdx(0)), 0), Some((0, tcp("admin", 443))));
        assert_eq!(table.names.len(), 3, "web, admin and db, once each: {:?}", table.names);
    }
}
