//! Graph: the policy as a picture, in Mermaid (renders on GitHub) or Graphviz dot.
//!
//! Takes: a checked model (the policy as declared) or, for one target, the lowered
//! [`Policy`] (allows merged per edge, the standard-library segments the target
//! uses, the ingress controller named on the internet node).
//! Gives: [`Graph`], plain data (segments grouped by namespace, externals, the
//! internet, edges with their labels), and [`render`] of it as text.
//! Must not: print, or reorder anything by hash: node ids come from sorted names, so
//! the same policy always draws the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{Dest, Model};
use crate::ir::{self, Destination, PathMatch, Policy};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

/// One colour per trust level, lowest first; levels beyond the palette reuse it.
const PALETTE: &[(&str, &str)] = &[
    ("#f8d7da", "#b02a37"), // internet: red
    ("#fff3cd", "#997404"), // amber
    ("#d1e7dd", "#146c43"), // green
    ("#cfe2ff", "#0a58ca"), // blue
    ("#e2d9f3", "#59359a"), // purple
    ("#d2f4ea", "#13795b"), // teal
    ("#fde2cf", "#ca6510"), // orange
    ("#e9ecef", "#495057"), // grey: platform when it is eighth or later
];

/// A segment or external.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Stable identifier in the output (`s0`, `x1`).
    pub id: String,
    pub name: String,
    /// Index into [`Graph::levels`]; `None` when unknown.
    pub level: Option<usize>,
}

/// A connection drawn as an arrow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Arrow {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// What is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Trust level names, lowest first.
    pub levels: Vec<String>,
    /// Segments per namespace, sorted by name.
    pub namespaces: BTreeMap<String, Vec<Node>>,
    pub externals: Vec<Node>,
    /// The label of the internet node (`internet`, or `internet via std.traefik`).
    pub internet: String,
    /// Sorted.
    pub arrows: Vec<Arrow>,
}

/// The node id of the internet.
pub const INTERNET_ID: &str = "internet";

/// The policy as declared: the user's segments and the standard-library segments its
/// allows and exposures name.
pub fn from_model(model: &Model) -> Graph {
    let mut used: BTreeSet<usize> = BTreeSet::new();
    for a in &model.allows {
        used.insert(a.source.0);
        if let Dest::Segment(s) = a.destination {
            used.insert(s.0);
        }
    }
    used.extend(model.exposures.iter().map(|e| e.segment.0));
    let segments: Vec<(usize, &str, &str, Option<usize>)> = model
        .segments
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.std || used.contains(i))
        .map(|(i, s)| (i, s.name.as_str(), s.namespace.as_str(), s.trust.map(|l| l.0)))
        .collect();
    let externals: Vec<(usize, &str, Option<usize>)> =
        model.externals.iter().enumerate().map(|(i, e)| (i, e.name.as_str(), e.trust.map(|l| l.0))).collect();
    let (namespaces, externals, seg_id, ext_id) = nodes(&segments, &externals);
    let mut arrows = Vec::new();
    for a in &model.allows {
        let port = &model.dest_ports(a.destination)[a.port];
        let (Some(from), Some(to)) = (
            seg_id.get(&a.source.0),
            match a.destination {
                Dest::Segment(s) => seg_id.get(&s.0),
                Dest::External(e) => ext_id.get(&e.0),
            },
        ) else {
            continue;
        };
        let mut label = port_label(&port.name, port.spec.map(|(n, _)| n));
        let l7 = [a.methods.join(" "), a.paths.join(" ")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
        if !l7.is_empty() {
            label.push_str(&format!(": {}", l7.join(" ")));
        }
        arrows.push(Arrow { from: from.clone(), to: to.clone(), label });
    }
    for e in &model.exposures {
        let Some(to) = seg_id.get(&e.segment.0) else { continue };
        let paths = if e.paths.is_empty() { vec!["/*".to_string()] } else { e.paths.clone() };
        let port = &model.segment(e.segment).ports[e.port];
        arrows.push(Arrow {
            from: INTERNET_ID.to_string(),
            to: to.clone(),
            label: exposure_label(&e.host, &paths, &port.name, e.tls.is_some()),
        });
    }
    arrows.sort();
    arrows.dedup();
    Graph {
        levels: model.names.levels.iter().map(|l| l.name.clone()).collect(),
        namespaces,
        externals,
        internet: "internet".to_string(),
        arrows,
    }
}

/// The lowered policy of one target: merged edges, the segments the target uses.
/// Levels and externals' trust come from the model (the IR keeps only names).
pub fn from_policy(model: &Model, policy: &Policy) -> Graph {
    let levels: Vec<String> = model.names.levels.iter().map(|l| l.name.clone()).collect();
    let level_of = |name: &str| levels.iter().position(|l| l == name);
    let segments: Vec<(usize, &str, &str, Option<usize>)> = policy
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.name.as_str(), s.namespace.as_str(), level_of(&s.trust)))
        .collect();
    let external_level =
        |name: &str| model.externals.iter().find(|e| e.name == name).and_then(|e| e.trust).map(|l| l.0).or(Some(0));
    let externals: Vec<(usize, &str, Option<usize>)> =
        policy.externals.iter().enumerate().map(|(i, e)| (i, e.name.as_str(), external_level(&e.name))).collect();
    let (namespaces, externals, seg_id, ext_id) = nodes(&segments, &externals);
    let mut arrows = Vec::new();
    for edge in &policy.edges {
        let (Some(from), Some(to)) = (
            seg_id.get(&edge.source.0),
            match edge.destination {
                Destination::Segment(s) => seg_id.get(&s.0),
                Destination::External(e) => ext_id.get(&e.0),
            },
        ) else {
            continue;
        };
        let mut label = port_label(&edge.port.name, Some(edge.port.number));
        if let ir::L7::Rules(rules) = &edge.l7 {
            let rules: Vec<String> = rules
                .iter()
                .map(|r| {
                    let mut words = r.methods.clone();
                    words.extend(r.paths.iter().map(path_text));
                    words.join(" ")
                })
                .collect();
            label.push_str(&format!(": {}", rules.join("; ")));
        }
        arrows.push(Arrow { from: from.clone(), to: to.clone(), label });
    }
    for e in &policy.exposures {
        let Some(to) = seg_id.get(&e.segment.0) else { continue };
        let paths: Vec<String> = e.paths.iter().map(path_text).collect();
        arrows.push(Arrow {
            from: INTERNET_ID.to_string(),
            to: to.clone(),
            label: exposure_label(&e.host, &paths, &e.port.name, e.tls_secret.is_some()),
        });
    }
    arrows.sort();
    arrows.dedup();
    Graph { levels, namespaces, externals, internet: format!("internet via {}", policy.controller().name), arrows }
}

type Nodes = (BTreeMap<String, Vec<Node>>, Vec<Node>, BTreeMap<usize, String>, BTreeMap<usize, String>);

/// Nodes with ids in name order (so ids do not depend on declaration order).
fn nodes(segments: &[(usize, &str, &str, Option<usize>)], externals: &[(usize, &str, Option<usize>)]) -> Nodes {
    let mut segments = segments.to_vec();
    segments.sort_by_key(|s| s.1);
    let mut externals = externals.to_vec();
    externals.sort_by_key(|e| e.1);
    let mut namespaces: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    let mut seg_id = BTreeMap::new();
    for (n, (i, name, ns, level)) in segments.iter().enumerate() {
        let id = format!("s{n}");
        seg_id.insert(*i, id.clone());
        namespaces.entry(ns.to_string()).or_default().push(Node { id, name: name.to_string(), level: *level });
    }
    let mut ext_id = BTreeMap::new();
    let mut nodes = Vec::new();
    for (n, (i, name, level)) in externals.iter().enumerate() {
        let id = format!("x{n}");
        ext_id.insert(*i, id.clone());
        nodes.push(Node { id, name: name.to_string(), level: *level });
    }
    (namespaces, nodes, seg_id, ext_id)
}

fn port_label(name: &str, number: Option<u16>) -> String {
    match number {
        Some(n) => format!("{name} {n}"),
        None => name.to_string(),
    }
}

fn exposure_label(host: &str, paths: &[String], port: &str, tls: bool) -> String {
    let tls = if tls { " (TLS)" } else { "" };
    format!("{host} {} to {port}{tls}", paths.join(" "))
}

/// A path as the policy writes it: `/x/*` for a prefix, `/*` for every path.
fn path_text(p: &PathMatch) -> String {
    match p {
        PathMatch::Exact(p) => p.clone(),
        PathMatch::Prefix(p) if p == "/" => "/*".to_string(),
        PathMatch::Prefix(p) => format!("{p}/*"),
    }
}

/// The levels any node uses, lowest first (the internet's always: it has a node).
fn used_levels(graph: &Graph) -> BTreeSet<usize> {
    let mut used: BTreeSet<usize> = [0].into();
    let all = graph.namespaces.values().flatten().chain(&graph.externals);
    used.extend(all.filter_map(|n| n.level));
    used.retain(|l| *l < graph.levels.len());
    used
}

fn colour(level: usize) -> (&'static str, &'static str) {
    PALETTE[level % PALETTE.len()]
}

/// Renders the graph.
pub fn render(graph: &Graph, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(graph),
        Format::Dot => dot(graph),
    }
}

/// Text inside a quoted Mermaid label: quotes and angle brackets as entity codes
/// (Mermaid would end the label or read HTML), `#` too (it starts an entity).
fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            c => out.push(c),
        }
    }
    out
}

fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str(&format!("  {INTERNET_ID}((\"{}\")):::level0\n", mermaid_text(&graph.internet)));
    for (i, (ns, nodes)) in graph.namespaces.iter().enumerate() {
        out.push_str(&format!("  subgraph ns{i}[\"namespace {}\"]\n", mermaid_text(ns)));
        for n in nodes {
            out.push_str(&format!("    {}[\"{}\"]{}\n", n.id, mermaid_text(&n.name), mermaid_class(n)));
        }
        out.push_str("  end\n");
    }
    for n in &graph.externals {
        out.push_str(&format!("  {}[/\"{}\"/]{}\n", n.id, mermaid_text(&n.name), mermaid_class(n)));
    }
    for a in &graph.arrows {
        out.push_str(&format!("  {} -->|\"{}\"| {}\n", a.from, mermaid_text(&a.label), a.to));
    }
    out.push_str("  subgraph legend[\"trust levels\"]\n");
    let used = used_levels(graph);
    for l in &used {
        out.push_str(&format!("    legend{l}[\"{}\"]:::level{l}\n", mermaid_text(&graph.levels[*l])));
    }
    out.push_str("  end\n");
    for l in &used {
        let (fill, stroke) = colour(*l);
        out.push_str(&format!("  classDef level{l} fill:{fill},stroke:{stroke},color:#212529\n"));
    }
    out
}

fn mermaid_class(n: &Node) -> String {
    n.level.map(|l| format!(":::level{l}")).unwrap_or_default()
}

/// A dot string literal's contents.
fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph policy {\n  rankdir=LR;\n  node [style=filled, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    let attrs = |n: &Node| match n.level {
        Some(l) => {
            let (fill, stroke) = colour(l);
            format!(", fillcolor=\"{fill}\", color=\"{stroke}\"")
        }
        None => String::new(),
    };
    let (fill, stroke) = colour(0);
    out.push_str(&format!(
        "  {INTERNET_ID} [label=\"{}\", shape=circle, fillcolor=\"{fill}\", color=\"{stroke}\"];\n",
        dot_text(&graph.internet)
    ));
    for (i, (ns, nodes)) in graph.namespaces.iter().enumerate() {
        out.push_str(&format!("  subgraph cluster_ns{i} {{\n    label=\"namespace {}\";\n", dot_text(ns)));
        for n in nodes {
            out.push_str(&format!("    {} [label=\"{}\", shape=box{}];\n", n.id, dot_text(&n.name), attrs(n)));
        }
        out.push_str("  }\n");
    }
    for n in &graph.externals {
        out.push_str(&format!("  {} [label=\"{}\", shape=parallelogram{}];\n", n.id, dot_text(&n.name), attrs(n)));
    }
    for a in &graph.arrows {
        out.push_str(&format!("  {} -> {} [label=\"{}\"];\n", a.from, a.to, dot_text(&a.label)));
    }
    out.push_str("  subgraph cluster_legend {\n    label=\"trust levels\";\n");
    for l in used_levels(graph) {
        let (fill, stroke) = colour(l);
        out.push_str(&format!(
            "    legend{l} [label=\"{}\", shape=box, fillcolor=\"{fill}\", color=\"{stroke}\"];\n",
            dot_text(&graph.levels[l])
        ));
    }
    out.push_str("  }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver;

    const SHOP: &str = include_str!("../../examples/shop.seg");

    fn model_graph(text: &str) -> Graph {
        from_model(&driver::compile_text("shop.seg", text).model)
    }

    #[test]
    fn shop_groups_by_namespace_and_labels_edges() {
        let g = model_graph(SHOP);
        let names: Vec<(&str, Vec<&str>)> =
            g.namespaces.iter().map(|(ns, n)| (ns.as_str(), n.iter().map(|n| n.name.as_str()).collect())).collect();
        assert_eq!(names, [("data", vec!["db"]), ("monitoring", vec!["std.prometheus"]), ("shop", vec!["api", "web"])]);
        let labels: Vec<&str> = g.arrows.iter().map(|a| a.label.as_str()).collect();
        assert!(labels.contains(&"http 8080: GET POST /api/* /healthz"), "{labels:?}");
        assert!(labels.contains(&"shop.example.com /* to http (TLS)"), "{labels:?}");
        let mermaid = render(&g, Format::Mermaid);
        assert!(mermaid.starts_with("flowchart LR\n"));
        assert!(mermaid.contains("internet -->|\"shop.example.com /* to http (TLS)\"|"));
    }

    #[test]
    fn declaration_order_does_not_change_the_output() {
        let reordered =
            SHOP.replace("allow api -> db:pg\n", "").replace("expose web:http", "allow api -> db:pg\nexpose web:http");
        for format in [Format::Mermaid, Format::Dot] {
            assert_eq!(render(&model_graph(SHOP), format), render(&model_graph(&reordered), format));
        }
    }

    #[test]
    fn the_target_graph_merges_allows_and_names_the_controller() {
        let text = SHOP.replace("allow api -> db:pg", "allow api -> db:pg\nallow web -> api:http { methods PUT }");
        let compiled = driver::compile_text("shop.seg", &text);
        let policy = driver::lower(&compiled, None).expect("lowers");
        let g = from_policy(&compiled.model, &policy);
        assert_eq!(g.internet, "internet via std.ingress-nginx");
        let web_api: Vec<&Arrow> = g.arrows.iter().filter(|a| a.label.starts_with("http 8080")).collect();
        assert_eq!(web_api.len(), 1, "{web_api:?}");
        assert!(web_api[0].label.contains("; PUT"), "{}", web_api[0].label);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(mermaid_text("a\"b<c>#d|"), "a#quot;b#lt;c#gt;#35;d#124;");
        assert_eq!(dot_text("a\"b\\"), "a\\\"b\\\\");
    }
}
