//! Finding the objects whose label selector may select a pod, without scanning every
//! object.
//!
//! Takes: items (by index into the caller's list), each with the namespace its
//! selector is confined to (if any) and one label its selector requires (if any).
//! Gives: [`SelectorIndex::candidates`], for a pod's namespace and labels, the items
//! that may select it, in ascending order. That is a superset: the caller still checks
//! each candidate with the selector's full semantics (other labels, expressions).
//! Must not: leave out an item that selects the pod. An item is filed under a label
//! and namespace only when its selector cannot match a pod without them, so every
//! item that matches is found under the pod's namespace or one of its labels.
//!
//! Verify asks "which policies apply to this pod" and "which rules name this peer"
//! once or twice per connection; a linear scan there makes verify quadratic in the
//! size of the policy.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

/// Items by the namespace and one label their selectors require.
#[derive(Debug, Default)]
pub struct SelectorIndex {
    /// Items by a hash of where they are filed: (namespace or none, label or none).
    /// Two places may share a hash; that only adds candidates, which callers check
    /// anyway, and keeps the index one flat table of numbers.
    filed: FxHashMap<u64, Vec<usize>>,
    /// Whether any item is filed without a namespace.
    anywhere: bool,
}

/// Where an item is filed, hashed.
fn place(namespace: Option<&str>, label: Option<(&str, &str)>) -> u64 {
    FxBuildHasher.hash_one((namespace, label))
}

impl SelectorIndex {
    /// Files `item`: `namespace` when it can only select pods of that namespace,
    /// `label` when it can only select pods that carry that label (key, value).
    pub fn insert(&mut self, item: usize, namespace: Option<&str>, label: Option<(&str, &str)>) {
        self.anywhere |= namespace.is_none();
        self.filed.entry(place(namespace, label)).or_default().push(item);
    }

    /// The items that may select a pod of `namespace` with `labels`: ascending, each
    /// once.
    pub fn candidates(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let mut out: Vec<usize> = self.each_candidate(namespace, labels).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`SelectorIndex::candidates`] in no particular order, perhaps more than once,
    /// for questions that depend on neither ("does any ...").
    pub fn each_candidate<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = usize> + 'a {
        let namespaces = [Some(namespace), None].into_iter().filter(|ns| ns.is_some() || self.anywhere);
        let places = namespaces.flat_map(move |ns| {
            let labelled = labels.iter().map(move |(k, v)| place(ns, Some((k.as_str(), v.as_str()))));
            std::iter::once(place(ns, None)).chain(labelled)
        });
        let filed = (!self.filed.is_empty()).then_some(places).into_iter().flatten();
        filed.filter_map(|p| self.filed.get(&p)).flatten().copied()
    }
}

/// The label a `matchLabels` map requires that an index files its selector under: the
/// first one (any would do; each is required).
pub fn first_label(labels: &BTreeMap<String, String>) -> Option<(&str, &str)> {
    labels.iter().next().map(|(k, v)| (k.as_str(), v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A selector of the test: optional namespace, `matchLabels`.
    type Item = (Option<String>, BTreeMap<String, String>);

    fn matches((namespace, selector): &Item, pod_namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        namespace.as_deref().map_or(true, |ns| ns == pod_namespace)
            && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn candidates_are_filed_by_namespace_and_label() {
        let mut index = SelectorIndex::default();
        index.insert(0, Some("a"), Some(("app", "web")));
        index.insert(1, Some("a"), None);
        index.insert(2, Some("b"), Some(("app", "web")));
        index.insert(3, None, Some(("app", "web")));
        index.insert(4, None, None);
        index.insert(5, Some("a"), Some(("app", "db")));
        assert_eq!(index.candidates("a", &labels(&[("app", "web"), ("tier", "x")])), vec![0, 1, 3, 4]);
        assert_eq!(index.candidates("b", &labels(&[])), vec![4]);
        assert_eq!(index.candidates("c", &labels(&[("app", "web")])), vec![3, 4]);
    }

    fn namespace() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string)
    }

    fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["app", "tier", "team"]).prop_map(str::to_string),
            prop::sample::select(vec!["x", "y", "z"]).prop_map(str::to_string),
            0..3,
        )
    }

    proptest! {
        /// Filtering the candidates gives exactly what a scan of every item gives.
        #[test]
        fn candidates_filtered_equal_a_linear_scan(
            items in prop::collection::vec((prop::option::of(namespace()), label_map()), 0..20),
            pod_namespace in namespace(),
            pod_labels in label_map(),
        ) {
            let mut index = SelectorIndex::default();
            for (i, (namespace, selector)) in items.iter().enumerate() {
                index.insert(i, namespace.as_deref(), first_label(selector));
            }
            let indexed: Vec<usize> = index
                .candidates(&pod_namespace, &pod_labels)
                .into_iter()
                .filter(|i| matches(&items[*i], &pod_namespace, &pod_labels))
                .collect();
            let scanned: Vec<usize> =
                (0..items.len()).filter(|i| matches(&items[*i], &pod_namespace, &pod_labels)).collect();
            prop_assert_eq!(indexed, scanned);
        }
    }
}
