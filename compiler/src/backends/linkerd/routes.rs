//! Which HTTPRoutes a Linkerd Server needs so that route-level authorization admits
//! exactly the declared requests.
//!
//! Takes: per caller, the request classes ([`Atom`]s: a path match and an optional
//! method) it may send to one port, and whether some caller may send anything.
//! Gives: route groups: request classes that must be admitted for the same callers.
//! Must not: admit a caller on a class that is not inside one of its own classes.
//!
//! Why this is not one route per caller: Linkerd's inbound proxy sends each request to
//! exactly one route, the one with the most specific match (longest path match, then a
//! method match; see linkerd2-proxy `http-route`), and checks only that route's
//! authorizations (plus the Server's). If `web` may `GET /api/*` and `app` may use
//! `/api/v1/*` with any method, `GET /api/v1/x` from `web` lands on `app`'s route and
//! would be refused. So the classes are first closed under intersection (here: add
//! `GET /api/v1/*`), then every class admits every caller whose own classes contain it.
//! A request then always lands on a class inside one of its caller's classes.
//!
//! One case remains that no set of routes can fix: Linkerd ranks `Exact /x` and
//! `PathPrefix /x` equally for a request to `/x` (same matched length) and breaks the
//! tie by route age. If the two classes admit different callers, a request for exactly
//! `/x` may be refused to a caller allowed only the exact path: narrower, never wider.

use std::collections::{BTreeMap, BTreeSet};

use crate::ir::{PathMatch, SegmentId};

/// The methods Linkerd's HTTPRoute can match (its CRD's enum).
pub const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// A class of requests: one HTTPRoute match. `Prefix` paths carry no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Atom {
    pub path: PathMatch,
    /// `None`: any method.
    pub method: Option<String>,
}

impl Atom {
    pub fn new(path: &PathMatch, method: Option<&str>) -> Atom {
        let path = match path {
            PathMatch::Prefix(p) if p.trim_end_matches('/').is_empty() => PathMatch::Prefix("/".into()),
            PathMatch::Prefix(p) => PathMatch::Prefix(p.trim_end_matches('/').into()),
            exact => exact.clone(),
        };
        Atom { path, method: method.map(str::to_string) }
    }

    /// Every request.
    pub fn any() -> Atom {
        Atom::new(&PathMatch::Prefix("/".into()), None)
    }
}

/// Who a route admits on its own (callers admitted on the whole Server are not listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caller {
    Segment(SegmentId),
    /// The kubelet's probes, authorized from every network as Linkerd's own default
    /// probe route is.
    Probes,
}

/// The route groups of one port, keyed by the callers they admit; empty when the port
/// needs no route (nobody is restricted to some requests and nothing is probed).
///
/// `restricted` holds the classes of every caller that may send only some requests;
/// `open` says whether some caller may send anything (it is then authorized on the
/// Server, and a catch-all class keeps its other requests from matching no route).
pub fn groups(restricted: &BTreeMap<Caller, BTreeSet<Atom>>, open: bool) -> BTreeMap<BTreeSet<Caller>, Vec<Atom>> {
    let mut out: BTreeMap<BTreeSet<Caller>, Vec<Atom>> = BTreeMap::new();
    if restricted.values().all(BTreeSet::is_empty) {
        return out;
    }
    // Methods per path, and who declared each (path, method).
    let mut methods: BTreeMap<&PathMatch, BTreeSet<Option<&str>>> = BTreeMap::new();
    let mut declared: BTreeMap<&PathMatch, Vec<(Option<&str>, Caller)>> = BTreeMap::new();
    for (caller, atoms) in restricted {
        for atom in atoms {
            methods.entry(&atom.path).or_default().insert(atom.method.as_deref());
            declared.entry(&atom.path).or_default().push((atom.method.as_deref(), *caller));
        }
    }
    let any = Atom::any();
    if open {
        methods.entry(&any.path).or_default().insert(None);
    }
    // Close under intersection. Two classes intersect only when one path contains the
    // other, and the intersection takes the inner path and the one method: new classes
    // appear only where an any-method class sits inside a class with a method.
    let mut closed: BTreeSet<Atom> = BTreeSet::new();
    for (path, own) in &methods {
        for method in own {
            closed.insert(Atom { path: (*path).clone(), method: method.map(str::to_string) });
        }
        if !own.contains(&None) {
            continue;
        }
        for outer in containing(path) {
            for method in methods.get(&outer).into_iter().flatten().flatten() {
                closed.insert(Atom { path: (*path).clone(), method: Some(method.to_string()) });
            }
        }
    }
    // Admit on each class every caller with a class containing it.
    for atom in closed {
        let mut callers = BTreeSet::new();
        let own = std::iter::once(atom.path.clone()).chain(containing(&atom.path));
        for path in own {
            for (method, caller) in declared.get(&path).into_iter().flatten() {
                if method.is_none() || *method == atom.method.as_deref() {
                    callers.insert(*caller);
                }
            }
        }
        // The probe authorization admits every client, so naming others beside it
        // would only add objects.
        if callers.contains(&Caller::Probes) {
            callers = [Caller::Probes].into();
        }
        out.entry(callers).or_default().push(atom);
    }
    out
}

/// The prefix paths that contain `path`, innermost first, excluding `path` itself:
/// for `Exact("/a/b")` they are `Prefix("/a/b")`, `Prefix("/a")`, `Prefix("/")`; for
/// `Prefix("/a/b")`, `Prefix("/a")` and `Prefix("/")`. Linear in the path's length.
fn containing(path: &PathMatch) -> Vec<PathMatch> {
    let (text, include_self) = match path {
        PathMatch::Exact(p) => (p.as_str(), true),
        PathMatch::Prefix(p) => (p.as_str(), false),
    };
    let trimmed = text.trim_end_matches('/');
    let mut out = Vec::new();
    if trimmed.is_empty() {
        // `/` itself: only an exact `/` is contained in a prefix.
        if include_self {
            out.push(PathMatch::Prefix("/".into()));
        }
        return out;
    }
    if include_self {
        out.push(PathMatch::Prefix(trimmed.to_string()));
    }
    let mut end = trimmed.len();
    while let Some(slash) = trimmed[..end].rfind('/') {
        let parent = if slash == 0 { "/" } else { &trimmed[..slash] };
        out.push(PathMatch::Prefix(parent.to_string()));
        if slash == 0 {
            break;
        }
        end = slash;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(p: &str, m: Option<&str>) -> Atom {
        Atom::new(&PathMatch::Exact(p.into()), m)
    }

    fn prefix(p: &str, m: Option<&str>) -> Atom {
        Atom::new(&PathMatch::Prefix(p.into()), m)
    }

    const WEB: Caller = Caller::Segment(SegmentId(7));
    const APP: Caller = Caller::Segment(SegmentId(0));

    #[test]
    fn containing_paths_walk_up_by_segment() {
        let p = |s: &str| PathMatch::Prefix(s.into());
        assert_eq!(containing(&PathMatch::Exact("/a/b".into())), vec![p("/a/b"), p("/a"), p("/")]);
        assert_eq!(containing(&PathMatch::Prefix("/a/b".into())), vec![p("/a"), p("/")]);
        assert_eq!(containing(&PathMatch::Prefix("/".into())), vec![]);
        assert_eq!(containing(&PathMatch::Exact("/".into())), vec![p("/")]);
        assert_eq!(containing(&PathMatch::Exact("/a/".into())), vec![p("/a"), p("/")]);
    }

    #[test]
    fn no_restriction_needs_no_route() {
        assert!(groups(&BTreeMap::new(), true).is_empty());
    }

    #[test]
    fn one_restricted_caller_gets_one_group() {
        let restricted = [(WEB, [prefix("/api", Some("GET")), exact("/healthz", Some("GET"))].into())].into();
        let groups = groups(&restricted, false);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[&[WEB].into()], vec![exact("/healthz", Some("GET")), prefix("/api", Some("GET"))]);
    }

    #[test]
    fn an_open_caller_adds_a_catch_all_that_admits_no_restricted_caller() {
        let restricted = [(WEB, [prefix("/api", None)].into())].into();
        let groups = groups(&restricted, true);
        assert_eq!(groups[&BTreeSet::new()], vec![Atom::any()]);
        assert_eq!(groups[&[WEB].into()], vec![prefix("/api", None)]);
    }

    #[test]
    fn nested_classes_admit_the_outer_caller_too() {
        // web: GET /api/*; app: anything under /api/v1. GET /api/v1/x must admit both.
        let restricted = [(WEB, [prefix("/api", Some("GET"))].into()), (APP, [prefix("/api/v1", None)].into())].into();
        let groups = groups(&restricted, false);
        assert_eq!(groups[&[WEB].into()], vec![prefix("/api", Some("GET"))]);
        assert_eq!(groups[&[APP].into()], vec![prefix("/api/v1", None)]);
        assert_eq!(groups[&[APP, WEB].into()], vec![prefix("/api/v1", Some("GET"))]);
    }

    #[test]
    fn disjoint_methods_do_not_mix() {
        let restricted =
            [(WEB, [prefix("/api", Some("GET"))].into()), (APP, [prefix("/api", Some("POST"))].into())].into();
        let groups = groups(&restricted, false);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[&[WEB].into()], vec![prefix("/api", Some("GET"))]);
    }

    #[test]
    fn probes_admit_everyone_so_they_stand_alone() {
        let restricted =
            [(WEB, [exact("/healthz", Some("GET"))].into()), (Caller::Probes, [exact("/healthz", Some("GET"))].into())]
                .into();
        let groups = groups(&restricted, false);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[&[Caller::Probes].into()], vec![exact("/healthz", Some("GET"))]);
    }

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(prefix("/api/", None), prefix("/api", None));
        assert_eq!(prefix("", None), Atom::any());
    }
}
