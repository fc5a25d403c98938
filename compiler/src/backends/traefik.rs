//! The Traefik backend: per exposure one IngressRoute (`traefik.io/v1alpha1`) and the
//! Middlewares it needs.
//!
//! Takes: the policy's exposures. Gives: an IngressRoute on entry point `websecure`
//! (with TLS) or `web` (without), one route per declared path to the segment's Service
//! by port name; an `ipAllowList` Middleware when the exposure lists client ranges and
//! a `forwardAuth` Middleware when it names an auth URL, both beside the route in the
//! exposed segment's namespace.
//! Must not: emit a matcher wider than the declared path (see `path_rule`), or route
//! anything an exposure does not declare.
//!
//! The CRDs are typed here as plain serde structs, checked against Traefik v3's
//! `traefik.io_ingressroutes.yaml` and `traefik.io_middlewares.yaml`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::exposure::{client_ranges, exposure_names, is_wildcard};
use super::{metadata, object_name, Backend, Object};
use crate::ir::{Exposure, PathMatch, Policy, Protocol};

const API_VERSION: &str = "traefik.io/v1alpha1";
/// The entry points of Traefik's Helm chart: `web` (HTTP) and `websecure` (HTTPS).
const ENTRY_POINT_HTTP: &str = "web";
const ENTRY_POINT_HTTPS: &str = "websecure";

/// Route priorities: an exact host outranks a wildcard one, then a longer path a
/// shorter one, and an exact path a prefix of the same length. This is the order
/// ingress-nginx (and the Ingress API) choose between overlapping exposures; Traefik's
/// default priority (the length of the whole rule) would pick by rule length instead.
const HOST_TIER: i64 = 1_000_000;

super::custom_resource!(IngressRoute, Middleware);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRoute {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: IngressRouteSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteSpec {
    pub entry_points: Vec<String>,
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[serde(rename = "match")]
    pub rule: String,
    /// Always `Rule`.
    pub kind: String,
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<MiddlewareRef>,
    pub services: Vec<ServiceRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiddlewareRef {
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    pub name: String,
    pub namespace: String,
    /// The Service port's name (the CRD's `port` is int-or-string).
    pub port: String,
    /// `h2c` for gRPC: HTTP/2 without TLS to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    pub secret_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Middleware {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: MiddlewareSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiddlewareSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allow_list: Option<IpAllowList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_auth: Option<ForwardAuth>,
}

/// Rejects (403) clients outside `source_range`. With no `ipStrategy` Traefik checks
/// the connection's address, never a client-supplied `X-Forwarded-For`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAllowList {
    pub source_range: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardAuth {
    pub address: String,
}

/// Per exposure, in the policy's exposure order: its Middlewares (allow list, then
/// auth), then its IngressRoute.
pub fn emit(policy: &Policy) -> Vec<Object> {
    let names = exposure_names(policy);
    // Exposures are independent: build them in parallel; collecting keeps their order.
    policy
        .exposures
        .par_iter()
        .zip(names)
        .flat_map_iter(|(exposure, name)| exposure_objects(policy, exposure, name))
        .collect()
}

/// One exposure's Middlewares, then its IngressRoute.
fn exposure_objects(policy: &Policy, exposure: &Exposure, name: String) -> Vec<Object> {
    let namespace = &policy.segment(exposure.segment).namespace;
    let middlewares = middlewares(exposure, &name, namespace);
    let refs = middlewares
        .iter()
        .map(|m| MiddlewareRef { name: m.metadata.name.clone().unwrap_or_default(), namespace: namespace.clone() })
        .collect();
    let mut objects: Vec<Object> = middlewares.iter().map(|m| Object::new(Backend::Traefik, m)).collect();
    objects.push(Object::new(Backend::Traefik, &ingress_route(policy, exposure, name, refs)));
    objects
}

/// The allow list first, so that a client outside it never reaches the auth service.
fn middlewares(exposure: &Exposure, name: &str, namespace: &str) -> Vec<Middleware> {
    let middleware = |suffix: &str, spec: MiddlewareSpec| Middleware {
        api_version: API_VERSION.into(),
        kind: "Middleware".into(),
        metadata: metadata(object_name(&[name, suffix]), namespace),
        spec,
    };
    let mut middlewares = Vec::new();
    let ranges = client_ranges(exposure);
    if !ranges.is_empty() {
        let spec = MiddlewareSpec { ip_allow_list: Some(IpAllowList { source_range: ranges }), ..Default::default() };
        middlewares.push(middleware("allowlist", spec));
    }
    if let Some(url) = &exposure.auth_url {
        let spec = MiddlewareSpec { forward_auth: Some(ForwardAuth { address: url.clone() }), ..Default::default() };
        middlewares.push(middleware("auth", spec));
    }
    middlewares
}

fn ingress_route(policy: &Policy, exposure: &Exposure, name: String, middlewares: Vec<MiddlewareRef>) -> IngressRoute {
    let segment = policy.segment(exposure.segment);
    // The Service exposes the segment's port under the port's own name (the contract
    // documented in docs/targets.md): a Service port *number* need not equal the pod's.
    let service = ServiceRef {
        name: segment.service.clone(),
        namespace: segment.namespace.clone(),
        port: exposure.port.name.clone(),
        scheme: (exposure.port.protocol == Protocol::Grpc).then(|| "h2c".to_string()),
    };
    // One route per path, so that each carries its own priority (see HOST_TIER).
    let routes = exposure
        .paths
        .iter()
        .map(|path| Route {
            rule: format!("{} && {}", host_rule(&exposure.host), path_rule(path)),
            kind: "Rule".into(),
            priority: priority(&exposure.host, path),
            middlewares: middlewares.clone(),
            services: vec![service.clone()],
        })
        .collect();
    let (entry_point, tls) = match &exposure.tls_secret {
        Some(secret) => (ENTRY_POINT_HTTPS, Some(Tls { secret_name: secret.clone() })),
        None => (ENTRY_POINT_HTTP, None),
    };
    IngressRoute {
        api_version: API_VERSION.into(),
        kind: "IngressRoute".into(),
        metadata: metadata(name, segment.namespace.clone()),
        spec: IngressRouteSpec { entry_points: vec![entry_point.into()], routes, tls },
    }
}

/// `Host(`h`)`; a wildcard `*.example.com` becomes an anchored `HostRegexp` for exactly
/// one DNS label, as the Ingress API defines the wildcard (`Host(`*.example.com`)`
/// needs a recent Traefik; older ones would compare it literally).
fn host_rule(host: &str) -> String {
    match host.strip_prefix("*.") {
        Some(suffix) => format!("HostRegexp({})", literal(&format!("^[^.]+\\.{}$", regex_escape(suffix)))),
        None => format!("Host({})", literal(host)),
    }
}

/// The matcher of one policy path. Traefik's `PathPrefix(`/x`)` is a plain string
/// prefix (`strings.HasPrefix` in its muxer), so it would also match `/xy`; the
/// policy's `/x/*` means `/x` and what lies below it by path element, which is
/// `Path(`/x`) || PathPrefix(`/x/`)`. `Prefix("/")` is every path: `PathPrefix(`/`)`.
fn path_rule(path: &PathMatch) -> String {
    match path {
        PathMatch::Exact(p) => format!("Path({})", literal(p)),
        PathMatch::Prefix(p) if path.is_any() => format!("PathPrefix({})", literal(p)),
        PathMatch::Prefix(p) => {
            let below = format!("{}/", p.trim_end_matches('/'));
            format!("(Path({}) || PathPrefix({}))", literal(p), literal(&below))
        }
    }
}

fn priority(host: &str, path: &PathMatch) -> i64 {
    let path_rank = match path {
        PathMatch::Exact(p) => 2 * p.len() as i64 + 1,
        PathMatch::Prefix(p) => 2 * p.len() as i64,
    };
    let host_rank = if is_wildcard(host) { 0 } else { 1 };
    host_rank * HOST_TIER + path_rank.min(HOST_TIER - 1)
}

/// A rule value as a Go string literal: in backticks, or, when the value holds a
/// backtick, in double quotes with `\` and `"` escaped, so no value can end the
/// literal early and add matchers of its own.
fn literal(value: &str) -> String {
    if !value.contains('`') {
        return format!("`{value}`");
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '\\' | '"' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Escapes every character a Go regexp gives a meaning to.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::{shop, WEB};
    use crate::ir::{IngressKind, MeshKind, Port};

    fn policy() -> Policy {
        shop(IngressKind::Traefik, MeshKind::Istio)
    }

    /// The sample plus `api:grpc` on `api.example.com` (exact + prefix paths, two
    /// client ranges, external auth, no TLS).
    fn policy_with_api() -> Policy {
        crate::ir::sample::with_api_exposure(policy())
    }

    fn route_of(object: &Object) -> IngressRoute {
        assert_eq!(object.kind, "IngressRoute");
        serde_yaml::from_str(object.yaml()).expect("emitted YAML parses back as an IngressRoute")
    }

    fn middleware_of(object: &Object) -> Middleware {
        assert_eq!(object.kind, "Middleware");
        serde_yaml::from_str(object.yaml()).expect("emitted YAML parses back as a Middleware")
    }

    /// A reading of a Traefik rule as built here, to check what it matches: `Path`
    /// compares the whole path, `PathPrefix` is a string prefix (as in Traefik's muxer).
    fn rule_matches(rule: &str, path: &str) -> bool {
        let path_part = rule.split_once(" && ").map(|(_, p)| p).expect("host && path");
        path_part.trim_start_matches('(').trim_end_matches(')').split(" || ").any(|matcher| {
            let (name, value) = matcher.split_once("(`").expect("matcher");
            let value = value.trim_end_matches(')').trim_end_matches('`');
            match name {
                "Path" => path == value,
                "PathPrefix" => path.starts_with(value),
                other => panic!("unexpected matcher {other}"),
            }
        })
    }

    #[test]
    fn the_sample_exposure_is_one_tls_route_to_the_service_port_by_name() {
        let objects = emit(&policy());
        assert_eq!(objects.len(), 1, "no sources and no auth: no middleware");
        let object = &objects[0];
        assert_eq!((object.backend, object.api_version.as_str()), (Backend::Traefik, "traefik.io/v1alpha1"));
        assert_eq!(object.name, "web-shop-example-com");
        assert_eq!(object.namespace.as_deref(), Some("shop"));
        let route = route_of(object);
        assert_eq!(route.spec.entry_points, ["websecure"]);
        assert_eq!(route.spec.tls, Some(Tls { secret_name: "shop-tls".into() }));
        assert_eq!(route.spec.routes.len(), 1);
        let r = &route.spec.routes[0];
        assert_eq!(r.rule, "Host(`shop.example.com`) && PathPrefix(`/`)");
        assert_eq!(r.kind, "Rule");
        assert!(r.middlewares.is_empty());
        assert_eq!(
            r.services,
            [ServiceRef { name: "web".into(), namespace: "shop".into(), port: "http".into(), scheme: None }]
        );
    }

    #[test]
    fn prefix_paths_match_by_path_element_not_by_string() {
        let objects = emit(&policy_with_api());
        let route = route_of(objects.iter().find(|o| o.kind == "IngressRoute").expect("route"));
        let rules: Vec<&str> = route.spec.routes.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "Host(`api.example.com`) && Path(`/healthz`)",
                "Host(`api.example.com`) && (Path(`/x`) || PathPrefix(`/x/`))",
            ]
        );
        let prefix = rules[1];
        assert!(rule_matches(prefix, "/x"));
        assert!(rule_matches(prefix, "/x/"));
        assert!(rule_matches(prefix, "/x/y/z"));
        assert!(!rule_matches(prefix, "/xy"), "the /xy pitfall of a bare PathPrefix(`/x`)");
        assert!(!rule_matches(prefix, "/"));
        let exact = rules[0];
        assert!(rule_matches(exact, "/healthz"));
        assert!(!rule_matches(exact, "/healthz/"));
        assert!(!rule_matches(exact, "/healthzz"));
    }

    #[test]
    fn priorities_follow_longest_match_and_exact_hosts() {
        let any = PathMatch::Prefix("/".into());
        let short = PathMatch::Prefix("/a".into());
        let long = PathMatch::Prefix("/a/b".into());
        let exact = PathMatch::Exact("/a".into());
        let h = "shop.example.com";
        assert!(priority(h, &long) > priority(h, &short));
        assert!(priority(h, &short) > priority(h, &any));
        assert!(priority(h, &exact) > priority(h, &short));
        assert!(priority(h, &any) > priority("*.example.com", &long), "an exact host outranks a wildcard");
        assert!(priority(h, &any) > 0, "0 would mean Traefik's default priority");
    }

    #[test]
    fn without_tls_the_route_is_on_web() {
        let objects = emit(&policy_with_api());
        let route = route_of(objects.iter().find(|o| o.kind == "IngressRoute").expect("route"));
        assert_eq!(route.spec.entry_points, ["web"]);
        assert_eq!(route.spec.tls, None);
    }

    #[test]
    fn sources_and_auth_are_middlewares_the_route_references() {
        let objects = emit(&policy_with_api());
        let kinds: Vec<(&str, &str)> = objects.iter().map(|o| (o.kind.as_str(), o.name.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("Middleware", "api-api-example-com-allowlist"),
                ("Middleware", "api-api-example-com-auth"),
                ("IngressRoute", "api-api-example-com"),
                ("IngressRoute", "web-shop-example-com"),
            ]
        );
        let allow = middleware_of(&objects[0]);
        assert_eq!(allow.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(
            allow.spec.ip_allow_list,
            Some(IpAllowList { source_range: vec!["10.0.0.0/8".into(), "198.51.100.0/24".into()] })
        );
        assert_eq!(allow.spec.forward_auth, None);
        let auth = middleware_of(&objects[1]);
        assert_eq!(auth.spec.forward_auth, Some(ForwardAuth { address: "https://auth.example.com/verify".into() }));
        assert_eq!(auth.spec.ip_allow_list, None);
        let route = route_of(&objects[2]);
        for r in &route.spec.routes {
            let refs: Vec<(&str, &str)> =
                r.middlewares.iter().map(|m| (m.name.as_str(), m.namespace.as_str())).collect();
            assert_eq!(refs, [("api-api-example-com-allowlist", "shop"), ("api-api-example-com-auth", "shop")]);
        }
    }

    #[test]
    fn grpc_ports_speak_h2c_to_the_service() {
        let objects = emit(&policy_with_api());
        let route = route_of(&objects[2]);
        let service = &route.spec.routes[0].services[0];
        assert_eq!((service.name.as_str(), service.port.as_str()), ("api", "grpc"));
        assert_eq!(service.scheme.as_deref(), Some("h2c"));
    }

    #[test]
    fn wildcard_hosts_match_one_label() {
        assert_eq!(host_rule("*.example.com"), r"HostRegexp(`^[^.]+\.example\.com$`)");
        assert_eq!(host_rule("shop.example.com"), "Host(`shop.example.com`)");
    }

    #[test]
    fn a_backtick_cannot_end_a_rule_value() {
        assert_eq!(literal("/a"), "`/a`");
        assert_eq!(literal("/a`) || Path(`/b"), r#""/a`) || Path(`/b""#);
        assert_eq!(literal("/\"`\\"), r#""/\"`\\""#);
    }

    #[test]
    fn output_is_deterministic_and_names_are_unique_dns_labels() {
        let mut policy = policy_with_api();
        let mut second = policy.exposures[0].clone();
        second.segment = WEB;
        second.port = Port { name: "http".into(), number: 8080, protocol: Protocol::Http };
        second.paths = vec![PathMatch::Prefix("/other".into())];
        policy.exposures.push(second);
        let objects = emit(&policy);
        assert_eq!(objects, emit(&policy));
        let mut names: Vec<(&str, &str)> = objects.iter().map(|o| (o.kind.as_str(), o.name.as_str())).collect();
        for (_, name) in &names {
            assert!(name.len() <= 63, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), objects.len());
    }

    #[test]
    fn serialised_yaml_names_its_kind_and_skips_empty_fields() {
        let objects = emit(&policy());
        let text = objects[0].yaml().to_string();
        assert!(text.starts_with("apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\n"), "{text}");
        assert!(!text.contains("null") && !text.contains("middlewares") && !text.contains("scheme"), "{text}");
    }
}
