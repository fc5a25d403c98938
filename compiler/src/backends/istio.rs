//! Istio: strict mTLS and identity-based authorization for the managed namespaces.
//!
//! Takes: the lowered [`Policy`].
//! Gives: per managed namespace, a `PeerAuthentication` named `default` (mTLS
//! `STRICT`) and an empty `AuthorizationPolicy` named `allow-nothing` (Istio's idiom
//! for deny-all); per managed meshed segment that anything may reach, one `ALLOW`
//! `AuthorizationPolicy` named after the segment whose rules name each caller's
//! principal (`TRUST_DOMAIN/ns/NS/sa/ACCOUNT`) and the destination port, plus methods
//! and paths on http/grpc ports.
//! Must not: write into namespaces the user does not manage, emit a rule without both a
//! `from` principal and a `to` port (an empty rule matches everything), or put HTTP
//! fields on a port Istio treats as TCP.
//!
//! What is left out on purpose (NetworkPolicy still guards all of it):
//! - Edges into externals and into the standard library's segments: mesh policy is
//!   inbound only, enforced by the destination's sidecar, and segc never writes into
//!   namespaces it does not manage. Egress is enforced by NetworkPolicy.
//! - Destinations marked `unmeshed`: they have no sidecar, so a policy selecting them
//!   would be read by nobody and would only mislead a reviewer.
//! - Callers without a mesh identity (`unmeshed` segments, and the ingress controller
//!   when it is unmeshed): there is no principal to name, and strict mTLS refuses their
//!   plaintext anyway. Lowering rejects such edges into `requires mtls` levels.
//! - UDP ports: sidecars do not intercept UDP, so a rule for one would never be read.
//! - Kubelet probes: Istio's injector rewrites HTTP probes to the sidecar agent by
//!   default, so they never meet the workload's authorization policy.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rayon::prelude::*;
use serde::Serialize;

use super::{metadata, object_name, unique_name, Backend, Object};
use crate::ir::{HttpRule, PathMatch, Policy, Port, Protocol, Segment, SegmentId, L7};

const API_VERSION: &str = "security.istio.io/v1";
/// The namespace-wide deny-all policy's name (Istio's documented idiom).
const ALLOW_NOTHING: &str = "allow-nothing";
/// Istio's conventional name for a namespace-wide PeerAuthentication.
const PEER_AUTHENTICATION: &str = "default";
/// Upstream schema limit on `spec.rules`.
const MAX_RULES: usize = 512;

super::custom_resource!(PeerAuthentication, AuthorizationPolicy);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerAuthentication {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: PeerAuthenticationSpec,
}

#[derive(Debug, Serialize)]
struct PeerAuthenticationSpec {
    mtls: Mtls,
}

#[derive(Debug, Serialize)]
struct Mtls {
    mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationPolicy {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    /// With every field unset this serialises as `{}`, which is `allow-nothing`.
    spec: AuthorizationPolicySpec,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationPolicySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadSelector {
    match_labels: BTreeMap<String, String>,
}

/// One rule: `from` and `to` are both always present and non-empty (an ALLOW rule
/// missing either matches more than the edge it stands for).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct Rule {
    from: Vec<RuleFrom>,
    to: Vec<RuleTo>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct RuleFrom {
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct Source {
    principals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct RuleTo {
    operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct Operation {
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    paths: Vec<String>,
}

/// Every object of the Istio layer, in namespace order, then segment order.
pub fn emit(policy: &Policy) -> Vec<Object> {
    let inbound = Inbound::index(policy);
    let segments = super::segments_by_namespace(policy);
    // Namespaces share nothing (names are unique per namespace): build them in
    // parallel; collecting keeps namespace order.
    policy
        .managed_namespaces
        .par_iter()
        .flat_map_iter(|namespace| {
            namespace_objects(policy, &inbound, namespace, segments.get(namespace.as_str()).map_or(&[], Vec::as_slice))
        })
        .collect()
}

/// The objects of one managed namespace: mTLS, deny-all, then one policy per managed
/// meshed segment (of `segments`, the namespace's) that anything may reach.
fn namespace_objects(
    policy: &Policy,
    inbound: &Inbound,
    namespace: &str,
    segments: &[(SegmentId, &Segment)],
) -> Vec<Object> {
    let mut objects = vec![
        Object::new(Backend::Istio, &peer_authentication(namespace)),
        Object::new(Backend::Istio, &allow_nothing(namespace)),
    ];
    // Names already taken in this namespace, so that a segment called
    // `allow-nothing` cannot replace the deny-all policy.
    let mut taken: BTreeSet<String> = [ALLOW_NOTHING.to_string()].into();
    for &(id, segment) in segments {
        if !segment.managed || !segment.meshed {
            continue;
        }
        let mut rules = segment_rules(policy, inbound, id).into_iter().peekable();
        let mut index = 0;
        while rules.peek().is_some() {
            let chunk: Vec<Rule> = rules.by_ref().take(MAX_RULES).collect();
            let base =
                if index == 0 { segment.slug.clone() } else { object_name(&[&segment.slug, &(index + 1).to_string()]) };
            let name = unique_name(&mut taken, base);
            objects.push(Object::new(Backend::Istio, &allow_policy(segment, name, chunk)));
            index += 1;
        }
    }
    objects
}

fn peer_authentication(namespace: &str) -> PeerAuthentication {
    PeerAuthentication {
        api_version: API_VERSION,
        kind: "PeerAuthentication",
        metadata: metadata(PEER_AUTHENTICATION, namespace),
        spec: PeerAuthenticationSpec { mtls: Mtls { mode: "STRICT" } },
    }
}

fn allow_nothing(namespace: &str) -> AuthorizationPolicy {
    AuthorizationPolicy {
        api_version: API_VERSION,
        kind: "AuthorizationPolicy",
        metadata: metadata(ALLOW_NOTHING, namespace),
        spec: AuthorizationPolicySpec::default(),
    }
}

fn allow_policy(segment: &Segment, name: String, rules: Vec<Rule>) -> AuthorizationPolicy {
    AuthorizationPolicy {
        api_version: API_VERSION,
        kind: "AuthorizationPolicy",
        metadata: metadata(name, &segment.namespace),
        spec: AuthorizationPolicySpec {
            selector: Some(WorkloadSelector { match_labels: segment.selector.clone() }),
            action: Some("ALLOW"),
            rules,
        },
    }
}

/// Edges and exposures grouped by destination segment, built once so that emitting is
/// linear in the policy's size.
struct Inbound<'p> {
    /// Edges into each segment (by id), in policy order.
    edges: Vec<Vec<&'p crate::ir::Edge>>,
    /// Exposed paths per (segment, port), merged over every exposure of that port.
    exposures: BTreeMap<SegmentId, BTreeMap<Port, BTreeSet<PathMatch>>>,
    /// Each segment's principal (by id), formatted once rather than per edge from a
    /// caller's scattered fields.
    principals: Vec<Option<String>>,
}

impl<'p> Inbound<'p> {
    fn index(policy: &'p Policy) -> Self {
        let edges = super::edges_by_destination(policy);
        let mut exposures: BTreeMap<SegmentId, BTreeMap<Port, BTreeSet<PathMatch>>> = BTreeMap::new();
        for exposure in &policy.exposures {
            exposures
                .entry(exposure.segment)
                .or_default()
                .entry(exposure.port.clone())
                .or_default()
                .extend(exposure.paths.iter().cloned());
        }
        let principals = policy.segments.iter().map(|s| principal(policy, s)).collect();
        Inbound { edges, exposures, principals }
    }
}

/// The ALLOW rules of one destination segment: one per (caller, port, HTTP rule), then
/// one per exposed port for the ingress controller. Identical rules are emitted once.
fn segment_rules(policy: &Policy, inbound: &Inbound, id: SegmentId) -> Vec<Rule> {
    let mut rules = Vec::new();
    for edge in inbound.edges.get(id.0).into_iter().flatten() {
        let Some(principal) = &inbound.principals[edge.source.0] else {
            continue;
        };
        rules.extend(edge_rules(principal, &edge.port, &edge.l7));
    }
    if let Some(principal) = &inbound.principals[policy.target.controller.0] {
        for (port, paths) in inbound.exposures.get(&id).into_iter().flatten() {
            let exposed = HttpRule { methods: Vec::new(), paths: paths.iter().cloned().collect() };
            rules.extend(edge_rules(principal, port, &L7::Rules(vec![exposed])));
        }
    }
    // The first of identical rules stays, without copying any.
    let mut seen = BTreeSet::new();
    let first: Vec<bool> = rules.iter().map(|rule| seen.insert(rule)).collect();
    drop(seen);
    rules.into_iter().zip(first).filter_map(|(rule, first)| first.then_some(rule)).collect()
}

/// The caller's SPIFFE principal, or `None` for a caller with no mesh identity.
fn principal(policy: &Policy, source: &Segment) -> Option<String> {
    source.meshed.then(|| format!("{}/ns/{}/sa/{}", policy.target.trust_domain, source.namespace, source.account))
}

/// Rules admitting `principal` on `port` as `l7` allows. On a port Istio treats as TCP
/// only the port can be checked, so methods and paths are left out there (the edge is
/// then exactly the declared L4 triple, as in every L4 layer); UDP gets no rule.
fn edge_rules(principal: &str, port: &Port, l7: &L7) -> Vec<Rule> {
    let rule = |methods: Vec<String>, paths: Vec<String>| Rule {
        from: vec![RuleFrom { source: Source { principals: vec![principal.to_string()] } }],
        to: vec![RuleTo { operation: Operation { ports: vec![port.number.to_string()], methods, paths } }],
    };
    match (port.protocol, l7) {
        (Protocol::Udp, _) => Vec::new(),
        (Protocol::Http | Protocol::Grpc, L7::Rules(http_rules)) => {
            http_rules.iter().map(|r| rule(r.methods.clone(), istio_paths(&r.paths))).collect()
        }
        _ => vec![rule(Vec::new(), Vec::new())],
    }
}

/// Istio path patterns for a set of path matches; empty means any path. Istio knows
/// exact paths and `prefix*`, so `Prefix("/x")` (`/x` and everything below it by
/// segment, never `/xy`) becomes `/x` and `/x/*`.
fn istio_paths(paths: &[PathMatch]) -> Vec<String> {
    if paths.is_empty() || paths.iter().any(PathMatch::is_any) {
        return Vec::new();
    }
    let mut out = BTreeSet::new();
    for path in paths {
        match path {
            PathMatch::Exact(p) => {
                out.insert(p.clone());
            }
            PathMatch::Prefix(p) => {
                let p = p.trim_end_matches('/');
                out.insert(p.to_string());
                out.insert(format!("{p}/*"));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::{self, shop};
    use crate::ir::{Destination, Edge, Exposure, IngressKind, MeshKind};

    fn objects() -> Vec<Object> {
        emit(&shop(IngressKind::Nginx, MeshKind::Istio))
    }

    fn find(objects: &[Object], kind: &str, namespace: &str, name: &str) -> serde_yaml::Value {
        objects
            .iter()
            .find(|o| o.kind == kind && o.namespace.as_deref() == Some(namespace) && o.name == name)
            .unwrap_or_else(|| panic!("no {kind} {namespace}/{name}"))
            .body()
    }

    fn rules(body: &serde_yaml::Value) -> &Vec<serde_yaml::Value> {
        body["spec"]["rules"].as_sequence().expect("rules")
    }

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).expect("test yaml")
    }

    #[test]
    fn every_managed_namespace_gets_strict_mtls_and_allow_nothing() {
        let objects = objects();
        for ns in ["data", "shop"] {
            let pa = find(&objects, "PeerAuthentication", ns, "default");
            assert_eq!(pa["apiVersion"], "security.istio.io/v1");
            assert_eq!(pa["spec"], yaml("mtls: {mode: STRICT}"));
            let deny = find(&objects, "AuthorizationPolicy", ns, "allow-nothing");
            assert_eq!(deny["spec"], yaml("{}"));
            assert!(serde_yaml::to_string(&deny).unwrap().contains("spec: {}"));
        }
        // Nothing is written into the standard library's namespaces.
        assert!(objects.iter().all(|o| matches!(o.namespace.as_deref(), Some("data" | "shop"))));
    }

    #[test]
    fn api_admits_exactly_its_callers() {
        let objects = objects();
        let api = find(&objects, "AuthorizationPolicy", "shop", "api");
        assert_eq!(api["spec"]["action"], "ALLOW");
        assert_eq!(api["spec"]["selector"], yaml("matchLabels: {app: api}"));
        // batch is unmeshed: no principal, no rule. prometheus: metrics, any request.
        // web: GET/POST on /api, /api/* and /healthz.
        let expected = yaml(
            r#"
- from: [{source: {principals: [cluster.local/ns/monitoring/sa/prometheus]}}]
  to: [{operation: {ports: ["9090"]}}]
- from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]
  to: [{operation: {ports: ["8080"], methods: [GET, POST], paths: [/api, /api/*, /healthz]}}]
"#,
        );
        assert_eq!(api["spec"]["rules"], expected);
    }

    #[test]
    fn exposure_admits_the_controller_on_the_exposed_port_only() {
        let objects = objects();
        let web = find(&objects, "AuthorizationPolicy", "shop", "web");
        let expected = yaml(
            r#"
- from: [{source: {principals: [cluster.local/ns/ingress-nginx/sa/ingress-nginx]}}]
  to: [{operation: {ports: ["8080"]}}]
"#,
        );
        assert_eq!(web["spec"]["rules"], expected);
        let traefik = emit(&shop(IngressKind::Traefik, MeshKind::Istio));
        let web = find(&traefik, "AuthorizationPolicy", "shop", "web");
        assert_eq!(
            web["spec"]["rules"][0]["from"][0]["source"]["principals"][0],
            "cluster.local/ns/traefik/sa/traefik"
        );
    }

    #[test]
    fn exposed_paths_restrict_the_controller() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.exposures[0].paths = vec![PathMatch::Exact("/".into()), PathMatch::Prefix("/shop".into())];
        let objects = emit(&policy);
        let web = find(&objects, "AuthorizationPolicy", "shop", "web");
        assert_eq!(
            web["spec"]["rules"][0]["to"],
            yaml(r#"[{operation: {ports: ["8080"], paths: [/, /shop, /shop/*]}}]"#)
        );
    }

    #[test]
    fn segment_without_callers_gets_no_allow_policy() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.edges.retain(|e| e.destination != Destination::Segment(sample::DB));
        let objects = emit(&policy);
        assert!(!objects.iter().any(|o| o.namespace.as_deref() == Some("data") && o.name == "db"));
    }

    #[test]
    fn db_admits_api_on_its_tcp_port() {
        let objects = objects();
        let db = find(&objects, "AuthorizationPolicy", "data", "db");
        assert_eq!(db["spec"]["selector"], yaml("matchLabels: {app: postgres}"));
        assert_eq!(
            db["spec"]["rules"],
            yaml(
                r#"[{from: [{source: {principals: [cluster.local/ns/shop/sa/api]}}], to: [{operation: {ports: ["5432"]}}]}]"#
            )
        );
    }

    #[test]
    fn no_rule_is_empty_or_lacks_principals_or_ports() {
        for mesh_policy in [shop(IngressKind::Nginx, MeshKind::Istio), shop(IngressKind::Traefik, MeshKind::Istio)] {
            for object in emit(&mesh_policy) {
                if object.kind != "AuthorizationPolicy" || object.name == ALLOW_NOTHING {
                    continue;
                }
                let body = object.body();
                let rules = rules(&body);
                assert!(!rules.is_empty(), "{} has no rules", object.name);
                for rule in rules {
                    let principals = rule["from"][0]["source"]["principals"].as_sequence().expect("principals");
                    assert!(!principals.is_empty());
                    let ports = rule["to"][0]["operation"]["ports"].as_sequence().expect("ports");
                    assert!(!ports.is_empty());
                }
            }
        }
    }

    #[test]
    fn http_fields_only_on_http_and_grpc_ports() {
        // A (malformed) edge with paths on the TCP port of db: only the port is kept.
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let pg = policy.segment(sample::DB).ports[0].clone();
        policy.edges[0] = Edge {
            source: sample::API,
            destination: Destination::Segment(sample::DB),
            port: pg,
            l7: L7::Rules(vec![HttpRule { methods: vec!["GET".into()], paths: vec![PathMatch::Exact("/x".into())] }]),
            decls: vec![],
        };
        let objects = emit(&policy);
        let db = find(&objects, "AuthorizationPolicy", "data", "db");
        assert_eq!(db["spec"]["rules"][0]["to"], yaml(r#"[{operation: {ports: ["5432"]}}]"#));
        // And on a gRPC port they are kept.
        let grpc = policy.segment(sample::API).port("grpc").cloned().expect("grpc port");
        let rules = edge_rules("p", &grpc, &L7::Rules(vec![HttpRule { methods: vec!["POST".into()], paths: vec![] }]));
        assert_eq!(rules[0].to[0].operation.methods, vec!["POST".to_string()]);
    }

    #[test]
    fn udp_ports_get_no_rule() {
        let udp = Port { name: "dns".into(), number: 53, protocol: Protocol::Udp };
        assert!(edge_rules("p", &udp, &L7::Any).is_empty());
    }

    #[test]
    fn paths_translate_by_segment() {
        assert_eq!(istio_paths(&[PathMatch::Prefix("/x".into())]), vec!["/x", "/x/*"]);
        assert_eq!(istio_paths(&[PathMatch::Exact("/x".into())]), vec!["/x"]);
        assert!(istio_paths(&[PathMatch::Prefix("/".into())]).is_empty());
        assert!(istio_paths(&[PathMatch::Exact("/a".into()), PathMatch::Prefix("/".into())]).is_empty());
        assert!(istio_paths(&[]).is_empty());
    }

    #[test]
    fn unmeshed_destinations_and_callers_are_skipped() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.segments[sample::WEB.0].meshed = false;
        let objects = emit(&policy);
        // web has no sidecar: no policy selects it; as a caller it has no principal.
        assert!(!objects.iter().any(|o| o.name == "web"));
        let api = find(&objects, "AuthorizationPolicy", "shop", "api");
        assert!(!serde_yaml::to_string(&api).unwrap().contains("sa/web"));
        // An unmeshed controller cannot be named either.
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.segments[sample::INGRESS_NGINX.0].meshed = false;
        assert!(!emit(&policy).iter().any(|o| o.name == "web"));
    }

    #[test]
    fn trust_domain_is_used_in_principals() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.target.trust_domain = "prod.example".into();
        let objects = emit(&policy);
        let db = find(&objects, "AuthorizationPolicy", "data", "db");
        assert_eq!(db["spec"]["rules"][0]["from"][0]["source"]["principals"][0], "prod.example/ns/shop/sa/api");
    }

    #[test]
    fn duplicate_exposures_give_one_rule() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let second = Exposure { host: "www.example.com".into(), ..policy.exposures[0].clone() };
        policy.exposures.push(second);
        let objects = emit(&policy);
        assert_eq!(rules(&find(&objects, "AuthorizationPolicy", "shop", "web")).len(), 1);
    }

    #[test]
    fn a_segment_named_allow_nothing_does_not_replace_the_deny_all() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.segments[sample::WEB.0].slug = ALLOW_NOTHING.into();
        let objects = emit(&policy);
        assert_eq!(find(&objects, "AuthorizationPolicy", "shop", "allow-nothing")["spec"], yaml("{}"));
        let renamed = find(&objects, "AuthorizationPolicy", "shop", "allow-nothing-2");
        assert_eq!(renamed["spec"]["selector"], yaml("matchLabels: {app: web}"));
    }

    #[test]
    fn names_are_dns_labels_unique_and_output_is_deterministic() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let objects = emit(&policy);
        assert_eq!(objects, emit(&policy));
        let mut seen = BTreeSet::new();
        for o in &objects {
            assert!(o.name.len() <= 63 && !o.name.is_empty());
            assert!(o.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(seen.insert((o.kind.clone(), o.namespace.clone(), o.name.clone())), "duplicate {}", o.name);
            assert_eq!(o.api_version, "security.istio.io/v1");
            assert_eq!(o.body()["metadata"]["labels"]["app.kubernetes.io/managed-by"], "segc");
        }
    }
}
