//! Collisions inside a namespace: selectors that can select the same pod (E0601) and
//! segments that share a Service name (E0603).
//!
//! Two matchLabels selectors can select one pod exactly when no key they both name has
//! different values (a pod may carry the union of both). Comparing every pair would be
//! quadratic, so each namespace is indexed by (key, value) and by key: for a selector,
//! the candidates are the segments with the same value for one of its keys, plus those
//! without that key, taking the key with the fewest candidates. In the common case
//! (every selector carries a distinguishing `app=NAME`) that is a handful per segment.
//! Worst case: n selectors that share a key and value and differ only in keys the
//! others lack are n candidates each, O(n² · k) for k keys per selector; that case is
//! mostly real overlaps, whose number bounds the output anyway.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::diag::{Code, Diagnostic, Label};
use crate::resolve::SegIdx;

use super::Model;

/// Two selectors (sorted maps) are disjoint when some shared key differs.
fn can_overlap(a: &std::collections::BTreeMap<String, String>, b: &std::collections::BTreeMap<String, String>) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().all(|(k, v)| match large.get(k) {
        Some(w) => w == v,
        None => true,
    })
}

pub(super) fn check_selectors(model: &Model, diags: &mut Vec<Diagnostic>) {
    // namespace -> segments with a non-empty selector (an empty one was reported).
    // A user segment in a standard-library namespace is already an error (E0210);
    // comparing it with the library's selectors would only repeat that.
    let std_namespaces: HashSet<&str> = model.segments.iter().filter(|s| s.std).map(|s| s.namespace.as_str()).collect();
    let mut by_namespace: HashMap<&str, Vec<SegIdx>> = HashMap::new();
    for (i, s) in model.segments.iter().enumerate() {
        if !s.selector.is_empty() && (s.std || !std_namespaces.contains(s.namespace.as_str())) {
            by_namespace.entry(s.namespace.as_str()).or_default().push(SegIdx(i));
        }
    }
    let mut pairs: BTreeSet<(SegIdx, SegIdx)> = BTreeSet::new();
    for members in by_namespace.values() {
        let mut with_pair: HashMap<(&str, &str), Vec<SegIdx>> = HashMap::new();
        let mut with_key: HashMap<&str, Vec<SegIdx>> = HashMap::new();
        for &idx in members {
            for (k, v) in &model.segment(idx).selector {
                with_pair.entry((k, v)).or_default().push(idx);
                with_key.entry(k).or_default().push(idx);
            }
        }
        // Segments lacking a key, computed once per key that some selector picks.
        let mut lacking_cache: HashMap<&str, Vec<SegIdx>> = HashMap::new();
        for &idx in members {
            let selector = &model.segment(idx).selector;
            // The most selective key: fewest segments with the same value or without it.
            let Some((key, value)) = selector.iter().min_by_key(|(k, v)| {
                let same = with_pair.get(&(k.as_str(), v.as_str())).map_or(0, Vec::len);
                let have = with_key.get(k.as_str()).map_or(0, Vec::len);
                same + members.len() - have
            }) else {
                continue;
            };
            let same = with_pair.get(&(key.as_str(), value.as_str())).map(Vec::as_slice).unwrap_or_default();
            let lacking = lacking_cache.entry(key.as_str()).or_insert_with(|| {
                members.iter().copied().filter(|m| !model.segment(*m).selector.contains_key(key.as_str())).collect()
            });
            for &other in same.iter().chain(lacking.iter()) {
                if other > idx && can_overlap(selector, &model.segment(other).selector) {
                    pairs.insert((idx, other));
                }
            }
        }
    }
    for (a, b) in pairs {
        let (first, second) = (model.segment(a), model.segment(b));
        let labels: Vec<String> = second
            .selector
            .iter()
            .chain(&first.selector)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        diags.push(
            Diagnostic::new(
                Code::E0601,
                format!(
                    "segments `{}` and `{}` in namespace `{}` can select the same pod",
                    first.name, second.name, first.namespace
                ),
                Label::new(second.header, format!("`{}` is declared here", second.name)),
            )
            .with_label(Label::new(first.header, format!("`{}` is declared here", first.name)))
            .with_note(format!("a pod labelled {} would belong to both", labels.join(" ")))
            .with_help("give each segment a label the other lacks or sets differently, e.g. distinct `app=` values"),
        );
    }
}

pub(super) fn check_services(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(&str, &str), SegIdx> = HashMap::new();
    for (i, s) in model.segments.iter().enumerate() {
        match seen.get(&(s.namespace.as_str(), s.service.as_str())) {
            Some(first) => {
                let first = model.segment(*first);
                diags.push(
                    Diagnostic::new(
                        Code::E0603,
                        format!(
                            "segments `{}` and `{}` share the Service name `{}` in namespace `{}`",
                            first.name, s.name, s.service, s.namespace
                        ),
                        Label::new(s.header, format!("`{}` is fronted by Service `{}`", s.name, s.service)),
                    )
                    .with_label(Label::new(
                        first.header,
                        format!("`{}` is fronted by Service `{}`", first.name, first.service),
                    ))
                    .with_help("set `service NAME` on one of them"),
                );
            }
            None => {
                seen.insert((s.namespace.as_str(), s.service.as_str()), SegIdx(i));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn overlap_means_no_conflicting_shared_key() {
        assert!(can_overlap(&sel(&[("app", "web")]), &sel(&[("tier", "front")])));
        assert!(can_overlap(&sel(&[("app", "web")]), &sel(&[("app", "web"), ("tier", "x")])));
        assert!(!can_overlap(&sel(&[("app", "web")]), &sel(&[("app", "api")])));
    }
}
