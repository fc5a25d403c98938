//! Lowering: a checked model and one of its targets to the [`Policy`] backends read.
//!
//! Takes: a [`Model`] free of errors and one [`check::Target`](crate::check::Target).
//! Gives: the sorted, merged [`Policy`], or the diagnostics of rules that depend on the
//! target (an unmeshed caller into a meshed segment under a mesh, E0505).
//! Must not: re-check what `check` checked, print, or depend on declaration order
//! beyond what the IR documents (edge `decls` are in source order).

use std::collections::BTreeSet;

use rayon::prelude::*;

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
    paths.into_iter().map(|p| path_match(p)).collect::<BTreeSet<_>>().into_iter().collect()
}

/// Lowers `model` for `target`. `source_name` is the root file's name as the user gave it.
pub fn lower(model: &Model, target: &check::Target, source_name: &str) -> Result<Policy, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    if target.mesh != MeshKind::None {
        for a in &model.allows {
            let source = model.segment(a.source);
            if let Dest::Segment(d) = a.destination {
                let dest = model.segment(d);
                if !source.meshed && dest.meshed {
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
    let mut order: Vec<SegIdx> = (0..model.segments.len()).filter(|i| included[*i]).map(SegIdx).collect();
    order.par_sort_unstable_by(|a, b| model.segment(*a).name.cmp(&model.segment(*b).name));
    // SegIdx -> SegmentId, for the included segments.
    let mut segment_id: Vec<Option<SegmentId>> = vec![None; model.segments.len()];
    for (i, s) in order.iter().enumerate() {
        segment_id[s.0] = Some(SegmentId(i));
    }
    let segment_id = |s: SegIdx| segment_id[s.0];

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
            let cidrs: BTreeSet<String> = e.cidrs.iter().cloned().collect();
            External {
                name: e.name.clone(),
                slug: object_name(&[&e.name]),
                cidrs: cidrs.into_iter().collect(),
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
            let sources: BTreeSet<String> = e.sources.iter().cloned().collect();
            Some(Exposure {
                segment,
                port,
                host: e.host.clone(),
                paths,
                tls_secret: e.tls.clone(),
                sources: sources.into_iter().collect(),
                auth_url: e.auth_url.clone(),
                decl: e.header,
            })
        })
        .collect();
    exposures.par_sort_by(|a, b| (&a.host, &a.paths, a.segment, &a.port).cmp(&(&b.host, &b.paths, b.segment, &b.port)));

    let managed_namespaces: BTreeSet<&str> =
        model.segments.iter().filter(|s| !s.std).map(|s| s.namespace.as_str()).collect();
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
        managed_namespaces: managed_namespaces.into_iter().map(str::to_string).collect(),
    })
}

/// Merges allows per (source, destination, port) into edges sorted by that key; L7
/// rules are unioned and any unrestricted allow makes the edge unrestricted.
fn merge_allows(
    model: &Model,
    segment_id: impl Fn(SegIdx) -> Option<SegmentId> + Sync,
    external_id: &[ExternalId],
) -> Vec<Edge> {
    // (source, destination, port declaration, allow). A destination's port names are
    // unique, so ordering by name orders as the ports themselves do; the stable sort
    // keeps each edge's allows in source order.
    let mut keyed: Vec<(SegmentId, Destination, &PortDecl, &check::Allow)> = Vec::with_capacity(model.allows.len());
    for a in &model.allows {
        let Some(source) = segment_id(a.source) else {
            continue;
        };
        let Some(decl) = model.dest_ports(a.destination).get(a.port).filter(|d| d.spec.is_some()) else {
            continue;
        };
        let destination = match a.destination {
            Dest::Segment(d) => segment_id(d).map(Destination::Segment),
            Dest::External(e) => Some(Destination::External(external_id[e.0])),
        };
        let Some(destination) = destination else {
            continue;
        };
        keyed.push((source, destination, decl, a));
    }
    keyed.par_sort_by(|x, y| (x.0, x.1, &x.2.name).cmp(&(y.0, y.1, &y.2.name)));

    let groups: Vec<_> = keyed.chunk_by(|x, y| (x.0, x.1, &x.2.name) == (y.0, y.1, &y.2.name)).collect();
    groups
        .into_par_iter()
        .filter_map(|group| {
            let (source, destination, decl, _) = group[0];
            let port = port(decl)?;
            // `None` once one allow is unrestricted.
            let mut rules: Option<BTreeSet<HttpRule>> = Some(BTreeSet::new());
            let mut decls = Vec::with_capacity(group.len());
            for (_, _, _, a) in group {
                decls.push(a.header);
                let restricted = port.protocol.is_http() && !(a.methods.is_empty() && a.paths.is_empty());
                if !restricted {
                    rules = None;
                } else if let Some(rules) = &mut rules {
                    rules.insert(HttpRule {
                        methods: a.methods.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect(),
                        paths: sorted_paths(&a.paths),
                    });
                }
            }
            let l7 = match rules {
                Some(rules) if !rules.is_empty() => L7::Rules(rules.into_iter().collect()),
                _ => L7::Any,
            };
            Some(Edge { source, destination, port, l7, decls })
        })
        .collect()
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
}
