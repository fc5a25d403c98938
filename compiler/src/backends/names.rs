//! Object names: readable, stable, DNS-1123, at most 63 characters.

use sha2::{Digest, Sha256};

/// Kubernetes limits most names to a DNS-1123 label's length.
const MAX_NAME: usize = 63;
/// Hex digits of the hash appended to a shortened name.
const HASH_LEN: usize = 8;

/// Joins parts with `-` into a DNS-1123 label: lower case, `[a-z0-9-]`, no leading,
/// trailing or doubled `-` (characters outside the alphabet, such as the `.` of
/// `std.prometheus`, become `-`). Longer than 63 characters, it keeps a readable prefix
/// and appends a hash of the full name, so distinct inputs stay distinct and the same
/// input always gives the same name.
pub fn object_name(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let mut name = String::with_capacity(joined.len());
    for c in joined.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if c == '-' && (name.is_empty() || name.ends_with('-')) {
            continue;
        }
        name.push(c);
    }
    while name.ends_with('-') {
        name.pop();
    }
    if name.len() <= MAX_NAME && name == joined {
        return name;
    }
    if name.len() <= MAX_NAME && !name.is_empty() {
        // Sanitising changed the text: two different inputs could now collide (`a.b`,
        // `a-b`), but only if both are used, and segment names are DNS-1123 labels
        // already; keep the readable form.
        return name;
    }
    let digest = Sha256::digest(joined.as_bytes());
    let hash: String = digest.iter().take(HASH_LEN / 2).map(|b| format!("{b:02x}")).collect();
    let keep = MAX_NAME - HASH_LEN - 1;
    let mut prefix: String = name.chars().take(keep).collect();
    while prefix.ends_with('-') {
        prefix.pop();
    }
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    }
}

/// `base`, or `base-2`, `base-3`, ... if another object of the same kind in the same
/// namespace already took it; the chosen name is recorded in `taken`.
pub fn unique_name(taken: &mut std::collections::BTreeSet<String>, base: String) -> String {
    let mut name = base.clone();
    let mut n = 2usize;
    while taken.contains(&name) {
        name = object_name(&[&base, &n.to_string()]);
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_get_a_number() {
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(unique_name(&mut taken, "web".into()), "web");
        assert_eq!(unique_name(&mut taken, "web".into()), "web-2");
        assert_eq!(unique_name(&mut taken, "web".into()), "web-3");
    }

    #[test]
    fn short_names_read_as_written() {
        assert_eq!(object_name(&["web", "to", "api", "http"]), "web-to-api-http");
        assert_eq!(object_name(&["std.prometheus", "to", "api"]), "std-prometheus-to-api");
    }

    #[test]
    fn long_names_are_shortened_stably_and_stay_distinct() {
        let a = "a".repeat(40);
        let one = object_name(&[&a, "to", &a, "x"]);
        let two = object_name(&[&a, "to", &a, "y"]);
        assert!(one.len() <= 63 && two.len() <= 63);
        assert_ne!(one, two);
        assert_eq!(one, object_name(&[&a, "to", &a, "x"]));
        assert!(!one.ends_with('-') && !one.starts_with('-'));
    }
}
