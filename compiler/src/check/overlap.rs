//! Collisions inside a namespace: selectors that can select the same pod (E0601) and
//! segments that share a Service name (E0603).
//!
//! Two matchLabels selectors can select one pod exactly when no key they both name has
//! different values (a pod may carry the union of both). Comparing every pair would be
//! quadratic. Most namespaces are settled in one pass: when one key is named by every
//! selector, each with its own value (`app=NAME`), no two overlap. Otherwise the
//! namespace is indexed two ways, and each group of selectors with the same keys takes
//! the cheaper:
//! - by (key, value) and by key: a selector's candidates are the selectors with the
//!   same value for one of its keys, plus those without that key, taking the key with
//!   the fewest. In the common case (every selector carries a distinguishing
//!   `app=NAME`) that is a handful per selector.
//! - by key set: against each group of selectors with the same keys, the selectors
//!   that overlap are exactly those with the same values on the keys both groups name,
//!   one hash lookup. That costs a pass over the namespace per group, and wins when
//!   keys are shared but few distinguish (two label schemes in one namespace).
//!
//! Worst case: many distinct key sets whose keys are each shared or lacked by many
//! selectors, O(n²) for n selectors in a namespace; n segments whose selectors really
//! overlap are n² pairs reported anyway.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::diag::{Code, Diagnostic, Label};
use crate::resolve::SegIdx;

use super::Model;

type Selector = BTreeMap<String, String>;

/// Two selectors (sorted maps) are disjoint when some shared key differs.
fn can_overlap(a: &Selector, b: &Selector) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().all(|(k, v)| match large.get(k) {
        Some(w) => w == v,
        None => true,
    })
}

/// Every pair `(i, j)`, `i < j`, of non-empty selectors that can select the same pod.
fn overlapping(selectors: &[&Selector]) -> BTreeSet<(usize, usize)> {
    if separated_by_one_key(selectors) {
        return BTreeSet::new();
    }
    overlapping_with(selectors, |by_key, by_key_set| by_key <= by_key_set)
}

/// Whether one key is named by every selector, with a different value in each: then
/// no two of them can select the same pod. That is the common namespace (every segment
/// selects its own `app=NAME`), answered in one pass instead of building the indexes
/// below.
fn separated_by_one_key(selectors: &[&Selector]) -> bool {
    let Some(first) = selectors.first() else { return true };
    first.keys().any(|key| {
        let mut values = FxHashSet::with_capacity_and_hasher(selectors.len(), FxBuildHasher);
        selectors.iter().all(|s| s.get(key).is_some_and(|value| values.insert(value.as_str())))
    })
}

/// [`overlapping`], with `prefer_key(cost by key, cost by key set)` choosing the index
/// for each group of selectors with the same keys (tests force each).
fn overlapping_with(selectors: &[&Selector], prefer_key: impl Fn(usize, usize) -> bool) -> BTreeSet<(usize, usize)> {
    let n = selectors.len();
    let mut with_pair: FxHashMap<(&str, &str), Vec<usize>> = FxHashMap::default();
    let mut with_key: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    let mut group_ids: FxHashMap<Vec<&str>, usize> = FxHashMap::default();
    // (keys, members) for each distinct key set, in order of first appearance.
    let mut groups: Vec<(Vec<&str>, Vec<usize>)> = Vec::new();
    for (i, selector) in selectors.iter().enumerate() {
        for (k, v) in selector.iter() {
            with_pair.entry((k, v)).or_default().push(i);
            with_key.entry(k).or_default().push(i);
        }
        let keys: Vec<&str> = selector.keys().map(String::as_str).collect();
        let id = match group_ids.get(&keys) {
            Some(id) => *id,
            None => {
                group_ids.insert(keys.clone(), groups.len());
                groups.push((keys, Vec::new()));
                groups.len() - 1
            }
        };
        groups[id].1.push(i);
    }
    // The most selective key of a selector and its number of candidates: selectors
    // with the same value, plus those without the key.
    let best_key: Vec<Option<(usize, &str, &str)>> = selectors
        .iter()
        .map(|selector| {
            selector
                .iter()
                .map(|(k, v)| {
                    let same = with_pair.get(&(k.as_str(), v.as_str())).map_or(0, Vec::len);
                    let have = with_key.get(k.as_str()).map_or(0, Vec::len);
                    (same + n - have, k.as_str(), v.as_str())
                })
                .min()
        })
        .collect();
    let mut pairs = BTreeSet::new();
    // Selectors lacking a key, computed once per key that some selector picks.
    let mut lacking_cache: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (keys, members) in &groups {
        let by_key: usize = members.iter().filter_map(|&i| best_key[i]).map(|(cost, _, _)| cost).sum();
        let by_key_set = n + members.len() * groups.len();
        if prefer_key(by_key, by_key_set) {
            for &i in members {
                let Some((_, key, value)) = best_key[i] else { continue };
                let same = with_pair.get(&(key, value)).map(Vec::as_slice).unwrap_or_default();
                let lacking = lacking_cache
                    .entry(key)
                    .or_insert_with(|| (0..n).filter(|&m| !selectors[m].contains_key(key)).collect());
                for &other in same.iter().chain(lacking.iter()) {
                    if other > i && can_overlap(selectors[i], selectors[other]) {
                        pairs.insert((i, other));
                    }
                }
            }
        } else {
            for (other_keys, other_members) in &groups {
                let shared: Vec<&str> = keys.iter().copied().filter(|k| other_keys.binary_search(k).is_ok()).collect();
                let values = |i: usize| -> Vec<&str> { shared.iter().map(|k| selectors[i][*k].as_str()).collect() };
                let mut by_values: FxHashMap<Vec<&str>, Vec<usize>> = FxHashMap::default();
                for &other in other_members {
                    by_values.entry(values(other)).or_default().push(other);
                }
                for &i in members {
                    for &other in by_values.get(&values(i)).map(Vec::as_slice).unwrap_or_default() {
                        if other > i {
                            pairs.insert((i, other));
                        }
                    }
                }
            }
        }
    }
    pairs
}

pub(super) fn check_selectors(model: &Model, diags: &mut Vec<Diagnostic>) {
    // namespace -> segments with a non-empty selector (an empty one was reported).
    // A user segment in a standard-library namespace is already an error (E0210);
    // comparing it with the library's selectors would only repeat that.
    let std_namespaces: FxHashSet<&str> =
        model.segments.iter().filter(|s| s.std).map(|s| s.namespace.as_str()).collect();
    let mut by_namespace: FxHashMap<&str, Vec<SegIdx>> = FxHashMap::default();
    for (i, s) in model.segments.iter().enumerate() {
        if !s.selector.is_empty() && (s.std || !std_namespaces.contains(s.namespace.as_str())) {
            by_namespace.entry(s.namespace.as_str()).or_default().push(SegIdx(i));
        }
    }
    let mut pairs: BTreeSet<(SegIdx, SegIdx)> = BTreeSet::new();
    for members in by_namespace.values() {
        let selectors: Vec<&Selector> = members.iter().map(|m| &model.segment(*m).selector).collect();
        // Members are in index order, so positions order as the segments do.
        pairs.extend(overlapping(&selectors).into_iter().map(|(i, j)| (members[i], members[j])));
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
    // FxHash, as for every table of the policy's own names (no flooding to defend against).
    let mut seen: FxHashMap<(&str, &str), SegIdx> =
        FxHashMap::with_capacity_and_hasher(model.segments.len(), FxBuildHasher);
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
    use proptest::prelude::*;

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Every pair, compared directly.
    fn brute_force(selectors: &[&Selector]) -> BTreeSet<(usize, usize)> {
        let n = selectors.len();
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| can_overlap(selectors[i], selectors[j]))
            .collect()
    }

    fn selectors() -> impl Strategy<Value = Vec<Selector>> {
        let pair = ("[a-d]", "[xy]");
        proptest::collection::vec(proptest::collection::btree_map(pair.0, pair.1, 1..4), 0..24)
    }

    /// Selectors that all name `app`, whose values sometimes repeat (then the pass over
    /// `app` cannot separate them and the indexes decide).
    fn selectors_with_app() -> impl Strategy<Value = Vec<Selector>> {
        let selector =
            ("[0-9]{1,2}", proptest::collection::btree_map("[a-c]", "[xy]", 0..3)).prop_map(|(app, mut rest)| {
                rest.insert("app".to_string(), app);
                rest
            });
        proptest::collection::vec(selector, 0..24)
    }

    proptest! {
        #[test]
        fn one_distinguishing_key_agrees_with_comparing_every_pair(selectors in selectors_with_app()) {
            let selectors: Vec<&Selector> = selectors.iter().collect();
            let expected = brute_force(&selectors);
            if separated_by_one_key(&selectors) {
                prop_assert!(expected.is_empty());
            }
            prop_assert_eq!(overlapping(&selectors), expected);
        }

        #[test]
        fn both_indexes_find_exactly_the_overlapping_pairs(selectors in selectors()) {
            let selectors: Vec<&Selector> = selectors.iter().collect();
            let expected = brute_force(&selectors);
            prop_assert_eq!(&overlapping_with(&selectors, |_, _| true), &expected);
            prop_assert_eq!(&overlapping_with(&selectors, |_, _| false), &expected);
            prop_assert_eq!(&overlapping(&selectors), &expected);
        }
    }

    #[test]
    fn two_label_schemes_take_the_key_set_index() {
        // Half the selectors name `p`, half `q`, all `r`: by key, each selector has half
        // the namespace as candidates; by key set, two groups.
        let selectors: Vec<Selector> = (0..400)
            .map(|i| {
                let scheme = if i % 2 == 0 { "p" } else { "q" };
                sel(&[(scheme, &i.to_string()), ("r", scheme)])
            })
            .collect();
        let refs: Vec<&Selector> = selectors.iter().collect();
        let chose_key = std::cell::Cell::new(0);
        let found = overlapping_with(&refs, |by_key, by_key_set| {
            let key = by_key <= by_key_set;
            chose_key.set(chose_key.get() + usize::from(key));
            key
        });
        assert!(found.is_empty());
        assert_eq!(chose_key.get(), 0);
    }

    #[test]
    fn a_key_every_selector_sets_differently_separates_them() {
        let distinct: Vec<Selector> =
            (0..300).map(|i| sel(&[("app", &format!("s{i}")), ("tier", ["edge", "app"][i % 2])])).collect();
        let refs: Vec<&Selector> = distinct.iter().collect();
        assert!(separated_by_one_key(&refs));
        assert!(overlapping(&refs).is_empty());
        // One repeated value, or one selector without the key, and the pass cannot tell.
        let mut repeated = distinct.clone();
        repeated[7] = sel(&[("app", "s3"), ("tier", "app")]);
        let refs: Vec<&Selector> = repeated.iter().collect();
        assert!(!separated_by_one_key(&refs));
        assert_eq!(overlapping(&refs), BTreeSet::from([(3, 7)]));
        let mut lacking = distinct.clone();
        lacking[5] = sel(&[("tier", "app")]);
        let refs: Vec<&Selector> = lacking.iter().collect();
        assert!(!separated_by_one_key(&refs));
        assert_eq!(overlapping(&refs), brute_force(&refs));
    }

    #[test]
    fn overlap_means_no_conflicting_shared_key() {
        assert!(can_overlap(&sel(&[("app", "web")]), &sel(&[("tier", "front")])));
        assert!(can_overlap(&sel(&[("app", "web")]), &sel(&[("app", "web"), ("tier", "x")])));
        assert!(!can_overlap(&sel(&[("app", "web")]), &sel(&[("app", "api")])));
    }
}
