//! What the ingress backends (nginx, traefik) share about an exposure: its object name
//! and its client ranges.
//!
//! Takes: the policy's exposures. Gives: plain strings, in the exposures' order.
//! Must not: know anything about a particular ingress controller's objects.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::object_name;
use crate::ir::{Exposure, PathMatch, Policy};

/// One name per exposure of `policy`, in the same order: `SEGMENT-HOST`
/// (`web-shop-example-com`). Exposures that would share a name get the port too
/// (`web-http-shop-example-com`), and any that still collide a short hash of what they
/// expose, so every name is unique while the common case stays readable. The names
/// depend only on the exposures, never on declaration order.
pub(super) fn exposure_names(policy: &Policy) -> Vec<String> {
    let exposures = &policy.exposures;
    let slug = |e: &Exposure| policy.segment(e.segment).slug.as_str();
    let mut names: Vec<String> = exposures.iter().map(|e| object_name(&[slug(e), &e.host])).collect();
    rename_collisions(&mut names, |i| {
        let e = &exposures[i];
        object_name(&[slug(e), &e.port.name, &e.host])
    });
    rename_collisions(&mut names, |i| {
        let e = &exposures[i];
        object_name(&[slug(e), &e.port.name, &e.host, &identity_hash(policy, e)])
    });
    names
}

/// Replaces every name that occurs more than once with `rename(index)`.
fn rename_collisions(names: &mut [String], rename: impl Fn(usize) -> String) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names.iter() {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    let colliding: Vec<usize> =
        names.iter().enumerate().filter(|(_, n)| counts[n.as_str()] > 1).map(|(i, _)| i).collect();
    for i in colliding {
        names[i] = rename(i);
    }
}

/// Eight hex digits that identify what an exposure exposes (segment, port, host, paths).
fn identity_hash(policy: &Policy, e: &Exposure) -> String {
    let mut hasher = Sha256::new();
    for part in [policy.segment(e.segment).name.as_str(), e.port.name.as_str(), e.host.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for path in &e.paths {
        let (kind, text) = match path {
            PathMatch::Exact(p) => ("exact", p),
            PathMatch::Prefix(p) => ("prefix", p),
        };
        hasher.update(kind.as_bytes());
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The exposure's client CIDRs, sorted and deduplicated (empty: any client).
pub(super) fn client_ranges(e: &Exposure) -> Vec<String> {
    let mut ranges = e.sources.clone();
    ranges.sort();
    ranges.dedup();
    ranges
}

/// True for a wildcard host (`*.example.com`), which matches exactly one DNS label in
/// place of the `*`.
pub(super) fn is_wildcard(host: &str) -> bool {
    host.starts_with("*.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::{shop, API, WEB};
    use crate::ir::{IngressKind, MeshKind, Port, Protocol};

    fn with_exposure(
        policy: &mut Policy,
        segment: crate::ir::SegmentId,
        port: Port,
        host: &str,
        paths: Vec<PathMatch>,
    ) {
        let mut e = policy.exposures[0].clone();
        e.segment = segment;
        e.port = port;
        e.host = host.into();
        e.paths = paths;
        policy.exposures.push(e);
    }

    #[test]
    fn names_are_segment_and_host_when_unique() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        assert_eq!(exposure_names(&policy), ["web-shop-example-com"]);
    }

    #[test]
    fn colliding_names_get_the_port_then_a_hash() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let grpc = Port { name: "grpc".into(), number: 9000, protocol: Protocol::Grpc };
        let http = Port { name: "http".into(), number: 8080, protocol: Protocol::Http };
        // Same segment and host, other port: the port tells them apart.
        with_exposure(&mut policy, WEB, grpc, "shop.example.com", vec![PathMatch::Prefix("/rpc".into())]);
        // api on one host twice with the same port: only a hash tells them apart.
        with_exposure(&mut policy, API, http.clone(), "api.example.com", vec![PathMatch::Prefix("/a".into())]);
        with_exposure(&mut policy, API, http, "api.example.com", vec![PathMatch::Prefix("/b".into())]);
        let names = exposure_names(&policy);
        assert_eq!(names[0], "web-http-shop-example-com");
        assert_eq!(names[1], "web-grpc-shop-example-com");
        assert!(names[2].starts_with("api-http-api-example-com-"), "{}", names[2]);
        assert_ne!(names[2], names[3]);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names, exposure_names(&policy), "names are deterministic");
    }

    #[test]
    fn client_ranges_are_sorted_and_deduplicated() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.exposures[0].sources = vec!["198.51.100.0/24".into(), "10.0.0.0/8".into(), "198.51.100.0/24".into()];
        assert_eq!(client_ranges(&policy.exposures[0]), ["10.0.0.0/8", "198.51.100.0/24"]);
    }
}
