//! `forbid A -> B` and `forbid A ->* B`: assertions over the graph of allows and
//! exposures (an exposure is an edge from `internet` to the segment).
//!
//! Cost: a direct forbid looks at every edge once (forbids × edges, and forbids are
//! few); a transitive forbid is one breadth-first search from every node matching A,
//! linear in nodes + edges.

use std::collections::VecDeque;

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

struct Graph {
    /// Node index: 0 is the internet, then segments, then externals.
    out: Vec<Vec<(usize, Span)>>,
    segments: usize,
}

impl Graph {
    fn index(&self, node: Node) -> usize {
        match node {
            Node::Internet => 0,
            Node::Segment(s) => 1 + s.0,
            Node::External(e) => 1 + self.segments + e.0,
        }
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

fn matches(model: &Model, pattern: Named, node: Node) -> bool {
    match pattern {
        Named::Segment(s) => node == Node::Segment(s),
        Named::External(e) => node == Node::External(e),
        Named::Level(l) => level_of(model, node) == Some(l),
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
    let mut graph = Graph {
        out: vec![Vec::new(); 1 + model.segments.len() + model.externals.len()],
        segments: model.segments.len(),
    };
    // (from, to, declaration, is exposure)
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
    for (from, to, span, _) in &edges {
        let (i, j) = (graph.index(*from), graph.index(*to));
        graph.out[i].push((j, *span));
    }
    for f in &names.forbids {
        let resolved = (names.lookup(&f.source), names.lookup(&f.destination));
        let (a, b) = match resolved {
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
            for (from, to, span, exposure) in &edges {
                if matches(model, a, *from) && matches(model, b, *to) {
                    let what = if *exposure {
                        format!("exposing `{}` breaks `{rule}`", name_of(model, *to))
                    } else {
                        format!("allow `{} -> {}` breaks `{rule}`", name_of(model, *from), name_of(model, *to))
                    };
                    diags.push(
                        Diagnostic::new(Code::E0701, what, Label::new(*span, "this edge is forbidden"))
                            .with_label(Label::new(f.span, "forbidden here"))
                            .with_help("remove the edge, or change the forbid if the policy has changed"),
                    );
                }
            }
            continue;
        }
        if let Some(path) = shortest_path(model, &graph, a, b) {
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

/// Breadth-first from every node matching `a` to the nearest node matching `b` (at
/// least one edge away); the path as (node, edge that reached it).
fn shortest_path(model: &Model, graph: &Graph, a: Named, b: Named) -> Option<Vec<(usize, Option<Span>)>> {
    let n = graph.out.len();
    let mut reached: Vec<Option<(usize, Span)>> = vec![None; n];
    let mut start = vec![false; n];
    let mut queue = VecDeque::new();
    for (i, is_start) in start.iter_mut().enumerate() {
        if matches(model, a, graph.node(i)) {
            *is_start = true;
            queue.push_back(i);
        }
    }
    let mut visited = start.clone();
    while let Some(i) = queue.pop_front() {
        for &(j, span) in &graph.out[i] {
            if matches(model, b, graph.node(j)) {
                let mut path = vec![(j, Some(span))];
                let mut at = i;
                while !start[at] {
                    let Some((prev, s)) = reached[at] else { break };
                    path.push((at, Some(s)));
                    at = prev;
                }
                path.push((at, None));
                path.reverse();
                return Some(path);
            }
            if !visited[j] {
                visited[j] = true;
                reached[j] = Some((i, span));
                queue.push_back(j);
            }
        }
    }
    None
}
