//! "Did you mean" for unknown names: one helper, one threshold, used by every phase.

/// Names closer than this (normalised Damerau-Levenshtein similarity, 0..1) are offered.
const SIMILARITY_THRESHOLD: f64 = 0.7;

/// The candidate most similar to `name`, if any is similar enough. Ties break on the
/// candidate's text so the suggestion is deterministic.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
