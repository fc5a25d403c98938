//! `forbid A -> B` and `forbid A ->* B`: assertions over the graph of allows and
//! exposures (an exposure is an edge from `internet` to the segment).
//!
//! Cost: a direct forbid looks at the edges out of the nodes matching A. A transitive
//! forbid is decided by a search linear in nodes + edges: from the nodes matching A,
//! which answers every forbid with the same A, or backwards from the nodes matching B,
//! which answers every forbid with the same B. Whichever side has fewer distinct names
//! is searched, so forbids from many segments to one level (or the reverse) cost a
//! search or two. Only a forbid that is broken needs the forward search, for the chain
//! its diagnostic shows. What stays quadratic is many forbids between many distinct
//! pairs that do not repeat either side, which policies do not write.

use std::collections::{HashMap, VecDeque};

use crate::diag::{Code, Diagnostic, Label, Span};
use crate::resolve::{ExtIdx, LevelId, Named, Names, SegIdx};

use super::{Dest, Model};

/// A node of the connection graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Internet,
    Segment(SegIdx),
    External(ExtIdx),
}

/// Edges listed by one of their ends: the edges at node `i` are
/// `edges[first[i]..first[i + 1]]`. One list for the whole graph, not one per node: a
/// search then reads memory in order, where 20,000 small lists scattered over the heap
/// made the forbid checks grow 2.5× when the policy doubled.
#[derive(Default)]
struct Adjacency {
    first: Vec<usize>,
    edges: Vec<Edge>,
}

/// An edge of the graph: an allow, or an exposure (from the internet).
#[derive(Debug, Clone, Copy)]
struct Edge {
    from: u32,
    to: u32,
    /// The allow's or exposure's header.
    decl: Span,
}

impl Adjacency {
    /// `edges` listed by `end` (`from` or `to`) among `nodes` nodes, each node's edges
    /// in the order given.
    fn new(nodes: usize, mut edges: Vec<Edge>, end: fn(&Edge) -> u32) -> Adjacency {
        // Stable. Allows are mostly declared source by source, and a sort would take
        // a buffer half the list's size (fresh memory) even when there is nothing to do.
        if !edges.windows(2).all(|w| end(&w[0]) <= end(&w[1])) {
            edges.sort_by_key(end);
        }
        let mut first = vec![0; nodes + 1];
        for e in &edges {
            first[end(e) as usize + 1] += 1;
        }
        for i in 0..nodes {
            first[i + 1] += first[i];
        }
        Adjacency { first, edges }
    }

    fn at(&self, node: usize) -> &[Edge] {
        &self.edges[self.first[node]..self.first[node + 1]]
    }
}

struct Graph {
    /// Node index: 0 is the internet, then segments, then externals. Edges out of a
    /// node are in declaration order (allows, then exposures); only exposures leave
    /// the internet.
    out: Adjacency,
    segments: usize,
    /// The trust level of each node: read for the far end of every edge a forbid of
    /// a level looks at, so kept apart from the (much larger) declarations.
    level: Vec<Option<LevelId>>,
    /// The nodes of each trust level, in index order.
    by_level: Vec<Vec<usize>>,
}

impl Graph {
    fn len(&self) -> usize {
        self.level.len()
    }

    fn index(&self, node: Node) -> usize {
        match node {
            Node::Internet => 0,
            Node::Segment(s) => 1 + s.0,
            Node::External(e) => 1 + self.segments + e.0,
        }
    }

    /// The nodes a forbid's side names, in index order.
    fn matching(&self, pattern: Named) -> impl Iterator<Item = usize> + '_ {
        let (one, level): (Option<usize>, &[usize]) = match pattern {
            Named::Segment(s) => (Some(self.index(Node::Segment(s))), &[]),
            Named::External(e) => (Some(self.index(Node::External(e))), &[]),
            Named::Level(l) => (None, &self.by_level[l.0]),
        };
        one.into_iter().chain(level.iter().copied())
    }

    /// Whether node `i` is one a forbid's side names.
    fn matches(&self, pattern: Named, i: usize) -> bool {
        match pattern {
            Named::Segment(s) => i == self.index(Node::Segment(s)),
            Named::External(e) => i == self.index(Node::External(e)),
            Named::Level(l) => self.level[i] == Some(l),
        }
    }

    /// The edges out of node `i`.
    fn out(&self, i: usize) -> &[Edge] {
        self.out.at(i)
    }

    /// The edges listed by the node they lead into.
    fn edges_into(&self) -> Adjacency {
        Adjacency::new(self.len(), self.out.edges.clone(), |e| e.to)
    }

    /// Which nodes reach a node matching `b` by at least one edge (a backward
    /// breadth-first search; `into` is [`Graph::edges_into`]).
    fn reaching(&self, into: &Adjacency, b: Named) -> Vec<bool> {
        let mut reaching = vec![false; self.len()];
        let mut queue: VecDeque<usize> = self.matching(b).collect();
        while let Some(j) = queue.pop_front() {
            for e in into.at(j) {
                let i = e.from as usize;
                if !reaching[i] {
                    reaching[i] = true;
                    queue.push_back(i);
                }
            }
        }
        reaching
    }

    fn node(&self, i: usize) -> Node {
        if i == 0 {
            Node::Internet
        } else if i <= self.segments {
            Node::Segment(SegIdx(i - 1))
        } else {
            Node::External(ExtIdx(i - 1 - self.segments))
        }
    }
}

fn level_of(model: &Model, node: Node) -> Option<LevelId> {
    match node {
        Node::Internet => Some(Names::INTERNET),
        Node::Segment(s) => model.segment(s).trust,
        Node::External(e) => model.external(e).trust,
    }
}

fn name_of(model: &Model, node: Node) -> String {
    match node {
        Node::Internet => "internet".to_string(),
        Node::Segment(s) => model.segment(s).name.clone(),
        Node::External(e) => model.external(e).name.clone(),
    }
}

pub(super) fn check_forbids(model: &Model, diags: &mut Vec<Diagnostic>) {
    let names = &model.names;
    let graph = graph(model);
    let resolved: Vec<_> =
        names.forbids.iter().map(|f| (names.lookup(&f.source), names.lookup(&f.destination))).collect();
    // The chain that breaks each transitive forbid, one search per distinct source.
    let mut by_source: HashMap<Named, Vec<usize>> = HashMap::new();
    for (i, (f, sides)) in names.forbids.iter().zip(&resolved).enumerate() {
        if let (true, (Ok(a), Ok(_))) = (f.transitive, sides) {
            by_source.entry(*a).or_default().push(i);
        }
    }
    let mut by_destination: HashMap<Named, Vec<usize>> = HashMap::new();
    for forbids in by_source.values() {
        for &i in forbids {
            if let (_, Ok(b)) = &resolved[i] {
                by_destination.entry(*b).or_default().push(i);
            }
        }
    }
    // With fewer destinations than sources, search backwards from each destination
    // first, and forwards only from the sources of the forbids that are broken.
    if by_destination.len() < by_source.len() {
        let into = graph.edges_into();
        let mut broken = vec![false; resolved.len()];
        for (b, forbids) in &by_destination {
            let reaching = graph.reaching(&into, *b);
            for &i in forbids {
                if let (Ok(a), _) = &resolved[i] {
                    broken[i] = graph.matching(*a).any(|n| reaching[n]);
                }
            }
        }
        by_source.retain(|_, forbids| {
            forbids.retain(|i| broken[*i]);
            !forbids.is_empty()
        });
    }
    let mut chains: Vec<Option<Path>> = vec![None; resolved.len()];
    for (a, forbids) in by_source {
        let search = Search::run(&graph, a);
        for i in forbids {
            if let (_, Ok(b)) = &resolved[i] {
                chains[i] = search.path_to(&graph, *b);
            }
        }
    }
    for ((f, sides), chain) in names.forbids.iter().zip(resolved).zip(chains) {
        let (a, b) = match sides {
            (Ok(a), Ok(b)) => (a, b),
            (ra, rb) => {
                diags.extend(ra.err());
                diags.extend(rb.err());
                continue;
            }
        };
        let rule = format!(
            "forbid {} {} {}",
            f.source.display(),
            if f.transitive { "->*" } else { "->" },
            f.destination.display()
        );
        if !f.transitive {
            for from in graph.matching(a) {
                for edge in graph.out(from) {
                    if !graph.matches(b, edge.to as usize) {
                        continue;
                    }
                    let (from, to, span) = (graph.node(from), graph.node(edge.to as usize), edge.decl);
                    let what = if from == Node::Internet {
                        format!("exposing `{}` breaks `{rule}`", name_of(model, to))
                    } else {
                        format!("allow `{} -> {}` breaks `{rule}`", name_of(model, from), name_of(model, to))
                    };
                    diags.push(
                        Diagnostic::new(Code::E0701, what, Label::new(span, "this edge is forbidden"))
                            .with_label(Label::new(f.span, "forbidden here"))
                            .with_help("remove the edge, or change the forbid if the policy has changed"),
                    );
                }
            }
            continue;
        }
        if let Some(path) = chain {
            let mut d = Diagnostic::new(
                Code::E0702,
                format!("a chain of edges breaks `{rule}`"),
                Label::new(f.span, "this forbid is broken"),
            );
            let mut chain = vec![name_of(model, graph.node(path[0].0))];
            for (node, span) in &path[1..] {
                chain.push(name_of(model, graph.node(*node)));
                if let Some(span) = span {
                    d = d.with_label(Label::new(*span, "part of the chain"));
                }
            }
            diags.push(
                d.with_note(format!("the path: {}", chain.join(" -> ")))
                    .with_help("remove one edge of the path, or change the forbid if the policy has changed"),
            );
        }
    }
}

fn graph(model: &Model) -> Graph {
    let segments = model.segments.len();
    let n = 1 + segments + model.externals.len();
    let mut graph = Graph {
        out: Adjacency::default(), // once the edges are listed, below
        segments,
        level: Vec::with_capacity(n),
        by_level: vec![Vec::new(); model.names.levels.len()],
    };
    let mut edges = Vec::with_capacity(model.allows.len() + model.exposures.len());
    for a in &model.allows {
        let to = match a.destination {
            Dest::Segment(s) => Node::Segment(s),
            Dest::External(e) => Node::External(e),
        };
        let (from, to) = (graph.index(Node::Segment(a.source)), graph.index(to));
        edges.push(Edge { from: from as u32, to: to as u32, decl: a.header });
    }
    for e in &model.exposures {
        let to = graph.index(Node::Segment(e.segment));
        edges.push(Edge { from: 0, to: to as u32, decl: e.header });
    }
    graph.out = Adjacency::new(n, edges, |e| e.from);
    for i in 0..n {
        let level = level_of(model, graph.node(i));
        if let Some(level) = level {
            graph.by_level[level.0].push(i);
        }
        graph.level.push(level);
    }
    graph
}

/// A path through the graph: each node with the edge that reached it (none for the
/// first).
type Path = Vec<(usize, Option<Span>)>;

/// The whole breadth-first search from the nodes matching a forbid's source, as far as
/// it reaches. Up to the first edge into a node matching B, it is the search that
/// stops there, so it finds that search's path for every B.
struct Search {
    start: Vec<bool>,
    /// The edge that discovered each node: (from, declaration).
    reached: Vec<Option<(usize, Span)>>,
    /// The first edge that led into each node, as (position in the search, from,
    /// declaration); a start node counts too, reached again.
    first_edge_into: Vec<Option<(usize, usize, Span)>>,
    /// The earliest of those among each level's nodes: (position, node).
    first_into_level: Vec<Option<(usize, usize)>>,
}

impl Search {
    fn run(graph: &Graph, a: Named) -> Search {
        let n = graph.len();
        let mut start = vec![false; n];
        let mut queue = VecDeque::new();
        for i in graph.matching(a) {
            start[i] = true;
            queue.push_back(i);
        }
        let mut visited = start.clone();
        let mut reached: Vec<Option<(usize, Span)>> = vec![None; n];
        let mut first_edge_into: Vec<Option<(usize, usize, Span)>> = vec![None; n];
        let mut position = 0;
        while let Some(i) = queue.pop_front() {
            for edge in graph.out(i) {
                let (j, span) = (edge.to as usize, edge.decl);
                first_edge_into[j].get_or_insert((position, i, span));
                position += 1;
                if !visited[j] {
                    visited[j] = true;
                    reached[j] = Some((i, span));
                    queue.push_back(j);
                }
            }
        }
        let mut first_into_level: Vec<Option<(usize, usize)>> = vec![None; graph.by_level.len()];
        for (j, first) in first_edge_into.iter().enumerate() {
            if let (Some((position, _, _)), Some(level)) = (first, graph.level[j]) {
                let slot = &mut first_into_level[level.0];
                if slot.map_or(true, |(p, _)| *position < p) {
                    *slot = Some((*position, j));
                }
            }
        }
        Search { start, reached, first_edge_into, first_into_level }
    }

    /// The shortest path to the nearest node matching `b` (at least one edge away), as
    /// (node, edge that reached it): the one the search met first.
    fn path_to(&self, graph: &Graph, b: Named) -> Option<Path> {
        let j = match b {
            Named::Level(l) => self.first_into_level[l.0]?.1,
            Named::Segment(s) => graph.index(Node::Segment(s)),
            Named::External(e) => graph.index(Node::External(e)),
        };
        let (_, i, span) = self.first_edge_into[j]?;
        let mut path = vec![(j, Some(span))];
        let mut at = i;
        while !self.start[at] {
            let Some((prev, s)) = self.reached[at] else { break };
            path.push((at, Some(s)));
            at = prev;
        }
        path.push((at, None));
        path.reverse();
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `node` is one a forbid's side names, from the declarations (not from
    /// the graph's own tables, which are what is under test).
    fn matches(model: &Model, pattern: Named, node: Node) -> bool {
        match pattern {
            Named::Segment(s) => node == Node::Segment(s),
            Named::External(e) => node == Node::External(e),
            Named::Level(l) => level_of(model, node) == Some(l),
        }
    }

    /// The definition: every edge against every direct forbid, and for a transitive
    /// forbid a search from A that stops at the first edge into a node matching B.
    fn reference(model: &Model) -> Vec<Diagnostic> {
        let names = &model.names;
        let graph = graph(model);
        let mut edges: Vec<(Node, Node, Span, bool)> = Vec::new();
        for a in &model.allows {
            let to = match a.destination {
                Dest::Segment(s) => Node::Segment(s),
                Dest::External(e) => Node::External(e),
            };
            edges.push((Node::Segment(a.source), to, a.header, false));
        }
        for e in &model.exposures {
            edges.push((Node::Internet, Node::Segment(e.segment), e.header, true));
        }
        let mut diags = Vec::new();
        for f in &names.forbids {
            let (Ok(a), Ok(b)) = (names.lookup(&f.source), names.lookup(&f.destination)) else { continue };
            if !f.transitive {
                for (from, to, span, exposure) in &edges {
                    if matches(model, a, *from) && matches(model, b, *to) {
                        diags.push((f.span, *span, *exposure, name_of(model, *from), name_of(model, *to)));
                    }
                }
                continue;
            }
            let n = graph.len();
            let mut reached: Vec<Option<(usize, Span)>> = vec![None; n];
            let start: Vec<bool> = (0..n).map(|i| matches(model, a, graph.node(i))).collect();
            let mut queue: VecDeque<usize> = (0..n).filter(|i| start[*i]).collect();
            let mut visited = start.clone();
            'search: while let Some(i) = queue.pop_front() {
                for edge in graph.out(i) {
                    let (j, span) = (edge.to as usize, edge.decl);
                    if matches(model, b, graph.node(j)) {
                        let mut chain = vec![name_of(model, graph.node(j))];
                        let mut at = i;
                        while !start[at] {
                            let Some((prev, _)) = reached[at] else { break };
                            chain.push(name_of(model, graph.node(at)));
                            at = prev;
                        }
                        chain.push(name_of(model, graph.node(at)));
                        chain.reverse();
                        diags.push((f.span, span, true, chain.join(" -> "), String::new()));
                        break 'search;
                    }
                    if !visited[j] {
                        visited[j] = true;
                        reached[j] = Some((i, span));
                        queue.push_back(j);
                    }
                }
            }
        }
        diags
            .into_iter()
            .map(|(forbid, span, flag, x, y)| {
                Diagnostic::new(Code::E0701, format!("{flag} {x} {y}"), Label::new(span, ""))
                    .with_label(Label::new(forbid, ""))
            })
            .collect()
    }

    /// What `check_forbids` reported, in the reference's terms.
    fn reported(model: &Model) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        check_forbids(model, &mut diags);
        diags
            .into_iter()
            .filter_map(|d| {
                let forbid = d.secondary.iter().find(|l| l.message == "forbidden here").map(|l| l.span);
                match d.code {
                    Code::E0701 => {
                        let what = d.message.split(" breaks").next().unwrap_or_default();
                        let (flag, x, y) = match what.strip_prefix("exposing `") {
                            Some(to) => (true, "internet".to_string(), to.trim_end_matches('`').to_string()),
                            None => {
                                let inner = what.trim_start_matches("allow `").trim_end_matches('`');
                                let (x, y) = inner.split_once(" -> ").unwrap_or_default();
                                (false, x.to_string(), y.to_string())
                            }
                        };
                        Some(
                            Diagnostic::new(Code::E0701, format!("{flag} {x} {y}"), Label::new(d.primary.span, ""))
                                .with_label(Label::new(forbid?, "")),
                        )
                    }
                    Code::E0702 => {
                        // The last chain label is the edge into B.
                        let last = d.secondary.last()?.span;
                        let path = d.notes[0].trim_start_matches("the path: ").to_string();
                        Some(
                            Diagnostic::new(Code::E0701, format!("true {path} "), Label::new(last, ""))
                                .with_label(Label::new(d.primary.span, "")),
                        )
                    }
                    _ => None,
                }
            })
            .collect()
    }

    fn policy() -> impl Strategy<Value = String> {
        let levels = proptest::collection::vec(0..4usize, 6);
        let ext_levels = proptest::collection::vec(0..5usize, 2);
        let allows = proptest::collection::vec((0..6usize, 0..8usize), 0..14);
        let exposures = proptest::collection::vec(0..6usize, 0..3);
        let side = prop_oneof![
            (0..6usize).prop_map(|i| format!("s{i}")),
            (0..2usize).prop_map(|i| format!("x{i}")),
            prop::sample::select(vec!["internet".to_string(), "a".into(), "b".into(), "c".into()])
        ];
        let forbids = proptest::collection::vec((side.clone(), any::<bool>(), side), 0..6);
        (levels, ext_levels, allows, exposures, forbids).prop_map(|(levels, ext_levels, allows, exposures, forbids)| {
            let level = |l: usize| ["internet", "a", "b", "c", "platform"][l];
            let mut text = String::from("trust {\n  a accepts internet, a, b, c\n  b accepts internet, a, b, c\n  c accepts internet, a, b, c allows plaintext\n}\n");
            for (i, l) in levels.iter().enumerate() {
                text += &format!("segment s{i} in ns {{ trust {} select app=s{i} port p 80/http }}\n", level(*l));
            }
            for (i, l) in ext_levels.iter().enumerate() {
                text += &format!("external x{i} {{ trust {} cidr 10.0.{i}.0/24 port p 443/tcp }}\n", level(*l));
            }
            for (from, to) in allows {
                let to = if to < 6 { format!("s{to}") } else { format!("x{}", to - 6) };
                text += &format!("allow s{from} -> {to}:p\n");
            }
            for s in exposures {
                text += &format!("expose s{s}:p {{ host \"h{s}.example\" tls t }}\n");
            }
            for (a, transitive, b) in forbids {
                text += &format!("forbid {a} {} {b}\n", if transitive { "->*" } else { "->" });
            }
            text
        })
    }

    /// Many sources, one destination: decided backwards from the destination, then
    /// forwards from the one source whose forbid is broken, for its chain.
    #[test]
    fn forbids_from_many_sources_to_one_level() {
        let mut text = String::from("trust {\n  a accepts internet, a, b\n  b accepts internet, a, b\n}\n");
        for i in 0..8 {
            let level = if i < 6 { "a" } else { "b" };
            text += &format!("segment s{i} in ns {{ trust {level} select app=s{i} port p 80/http }}\n");
        }
        text += "allow s0 -> s1:p\nallow s1 -> s6:p\nallow s2 -> s3:p\n";
        for i in 0..6 {
            text += &format!("forbid s{i} ->* b\n");
        }
        let compiled = crate::driver::compile_text("t.seg", &text);
        let mut expected = reference(&compiled.model);
        let mut found = reported(&compiled.model);
        crate::diag::sort(&mut expected);
        crate::diag::sort(&mut found);
        assert_eq!(found.len(), 2, "s0 and s1 reach s6: {found:?}");
        assert_eq!(found, expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn indexed_forbids_report_what_the_definition_does(text in policy()) {
            let compiled = crate::driver::compile_text("t.seg", &text);
            let mut expected = reference(&compiled.model);
            let mut found = reported(&compiled.model);
            crate::diag::sort(&mut expected);
            crate::diag::sort(&mut found);
            prop_assert_eq!(found, expected, "{}", text);
        }
    }
}
