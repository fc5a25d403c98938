//! "Did you mean" for unknown names: one helper, one threshold, used by every phase.

/// Names closer than this (normalised Damerau-Levenshtein similarity, 0..1) are offered.
const SIMILARITY_THRESHOLD: f64 = 0.7;

/// The candidate most similar to `name`, if any is similar enough. Ties break on the
/// candidate's text so the suggestion is deterministic.
///
/// Candidates are many when a policy of thousands of names refers to names it does not
/// declare (a forgotten import), so a cheap upper bound on the similarity skips every
/// candidate that could neither reach the threshold nor beat the best so far before
/// the edit distance is computed; the result is the same.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let bound = SimilarityBound::new(name);
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let upper = bound.of(candidate);
        if upper < SIMILARITY_THRESHOLD || best.is_some_and(|(s, _)| s > upper) {
            continue;
        }
        let score = strsim::normalized_damerau_levenshtein(name, candidate);
        if score < SIMILARITY_THRESHOLD {
            continue;
        }
        best = match best {
            Some((s, c)) if s > score || (s == score && c <= candidate) => Some((s, c)),
            _ => Some((score, candidate)),
        };
    }
    best.map(|(_, c)| c)
}

/// An upper bound on `normalized_damerau_levenshtein(name, candidate)`, from a lower
/// bound on the distance: the difference in length, and for ASCII texts the bag
/// distance (characters of one text that the other lacks, counted with multiplicity;
/// every edit changes at most one of each, and a transposition none).
struct SimilarityBound {
    /// `name`'s length in characters.
    len: usize,
    /// `name`'s byte counts, when it is ASCII.
    counts: Option<[u8; 128]>,
}

impl SimilarityBound {
    fn new(name: &str) -> Self {
        let counts = (name.is_ascii() && name.len() <= usize::from(u8::MAX)).then(|| {
            let mut counts = [0u8; 128];
            for b in name.bytes() {
                counts[usize::from(b)] += 1;
            }
            counts
        });
        SimilarityBound { len: name.chars().count(), counts }
    }

    fn of(&self, candidate: &str) -> f64 {
        let (len, distance) = match &self.counts {
            Some(counts) if candidate.is_ascii() => {
                let mut left = *counts;
                let mut extra = 0;
                for b in candidate.bytes() {
                    let slot = &mut left[usize::from(b)];
                    if *slot > 0 {
                        *slot -= 1;
                    } else {
                        extra += 1;
                    }
                }
                let missing = self.len - (candidate.len() - extra);
                (candidate.len(), extra.max(missing))
            }
            _ => {
                let len = candidate.chars().count();
                (len, self.len.abs_diff(len))
            }
        };
        if self.len.max(len) == 0 {
            return 1.0;
        }
        // The formula strsim uses, with the distance at its lower bound: never below
        // the real score, so a skipped candidate could not have been chosen.
        1.0 - (distance as f64) / (self.len.max(len) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["web", "api", "database"];
        assert_eq!(did_you_mean("databse", names), Some("database"));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(did_you_mean("web", names), None, "an exact match is not a suggestion");
    }

    #[test]
    fn ties_are_deterministic() {
        assert_eq!(did_you_mean("ab", ["ac", "aa"]), did_you_mean("ab", ["aa", "ac"]));
    }

    /// `did_you_mean` without the bound.
    fn unbounded<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
        let mut best: Option<(f64, &'a str)> = None;
        for &candidate in candidates {
            if candidate == name {
                continue;
            }
            let score = strsim::normalized_damerau_levenshtein(name, candidate);
            if score < SIMILARITY_THRESHOLD {
                continue;
            }
            best = match best {
                Some((s, c)) if s > score || (s == score && c <= candidate) => Some((s, c)),
                _ => Some((score, candidate)),
            };
        }
        best.map(|(_, c)| c)
    }

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[abcé1-]{0,9}", 1 => "[a-z0-9.-]{0,14}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_bound_never_changes_the_suggestion(
            name in word(),
            candidates in proptest::collection::vec(word(), 0..30),
        ) {
            let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
            prop_assert_eq!(did_you_mean(&name, candidates.iter().copied()), unbounded(&name, &candidates));
        }

        #[test]
        fn the_bound_is_never_below_the_similarity(a in word(), b in word()) {
            prop_assert!(SimilarityBound::new(&a).of(&b) >= strsim::normalized_damerau_levenshtein(&a, &b));
        }
    }
}
