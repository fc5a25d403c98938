use std::collections::BTreeSet;

use super::*;
use crate::ir::sample::{self, shop};
use crate::ir::{Destination, Edge, HttpRule, IngressKind, MeshKind};

const SUFFIX: &str = "serviceaccount.identity.linkerd.cluster.local";

fn objects() -> Vec<Object> {
    emit(&shop(IngressKind::Nginx, MeshKind::Linkerd))
}

fn get(objects: &[Object], kind: &str, namespace: &str, name: &str) -> Option<serde_yaml::Value> {
    objects
        .iter()
        .find(|o| o.kind == kind && o.namespace.as_deref() == Some(namespace) && o.name == name)
        .map(Object::body)
}

fn find(objects: &[Object], kind: &str, namespace: &str, name: &str) -> serde_yaml::Value {
    get(objects, kind, namespace, name).unwrap_or_else(|| panic!("no {kind} {namespace}/{name}"))
}

fn names(objects: &[Object], kind: &str, namespace: &str) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.kind == kind && o.namespace.as_deref() == Some(namespace))
        .map(|o| o.name.clone())
        .collect()
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).expect("test yaml")
}

fn http_port(policy: &Policy, segment: SegmentId, name: &str) -> Port {
    policy.segment(segment).port(name).cloned().expect("port")
}

#[test]
fn managed_namespaces_default_to_deny() {
    let objects = objects();
    let namespaces: Vec<&Object> = objects.iter().filter(|o| o.kind == "Namespace").collect();
    assert_eq!(namespaces.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["data", "shop"]);
    for ns in namespaces {
        assert_eq!(ns.namespace, None);
        assert_eq!(ns.api_version, "v1");
        assert_eq!(ns.body()["metadata"]["annotations"], yaml("config.linkerd.io/default-inbound-policy: deny"));
        assert!(ns.body()["metadata"].get("namespace").is_none());
    }
    // Nothing is written into the standard library's namespaces.
    assert!(objects.iter().all(|o| matches!(o.namespace.as_deref(), None | Some("data" | "shop"))));
}

#[test]
fn a_server_per_tcp_port_of_every_managed_meshed_segment() {
    let objects = objects();
    assert_eq!(names(&objects, "Server", "shop"), ["api-grpc", "api-http", "api-metrics", "web-http"]);
    assert_eq!(names(&objects, "Server", "data"), ["db-pg"]);
    let api_http = find(&objects, "Server", "shop", "api-http");
    assert_eq!(api_http["apiVersion"], "policy.linkerd.io/v1beta3");
    assert_eq!(api_http["spec"], yaml("{podSelector: {matchLabels: {app: api}}, port: 8080, proxyProtocol: unknown}"));
    assert_eq!(find(&objects, "Server", "shop", "api-grpc")["spec"]["proxyProtocol"], "HTTP/2");
    assert_eq!(find(&objects, "Server", "data", "db-pg")["spec"]["proxyProtocol"], "opaque");
}

#[test]
fn udp_ports_and_unmeshed_segments_get_no_server() {
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    policy.segments[sample::DB.0].ports.push(Port { name: "stats".into(), number: 8125, protocol: Protocol::Udp });
    policy.segments[sample::WEB.0].meshed = false;
    let objects = emit(&policy);
    assert_eq!(names(&objects, "Server", "data"), ["db-pg"]);
    assert!(!names(&objects, "Server", "shop").contains(&"web-http".to_string()));
}

#[test]
fn restricted_edge_gets_a_route_and_a_route_policy() {
    let objects = objects();
    let route = find(&objects, "HTTPRoute", "shop", "api-http-web");
    let expected = yaml(
        r#"
parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-http}]
rules:
- matches:
  - {path: {type: Exact, value: /healthz}, method: GET}
  - {path: {type: Exact, value: /healthz}, method: POST}
  - {path: {type: PathPrefix, value: /api}, method: GET}
  - {path: {type: PathPrefix, value: /api}, method: POST}
"#,
    );
    assert_eq!(route["spec"], expected);
    let authz = find(&objects, "AuthorizationPolicy", "shop", "api-http-web");
    let expected = yaml(
        r#"
targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: api-http-web}
requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web}]
"#,
    );
    assert_eq!(authz["spec"], expected);
    let authn = find(&objects, "MeshTLSAuthentication", "shop", "web");
    assert_eq!(authn["spec"]["identities"], yaml(&format!("[web.shop.{SUFFIX}]")));
    // No caller may send anything to api:http: no catch-all, no Server-wide policy.
    assert!(get(&objects, "HTTPRoute", "shop", "api-http-default").is_none());
    assert!(get(&objects, "AuthorizationPolicy", "shop", "api-http").is_none());
}

#[test]
fn unrestricted_edge_is_authorized_on_the_server() {
    let objects = objects();
    let authz = find(&objects, "AuthorizationPolicy", "shop", "api-metrics");
    let expected = yaml(
        r#"
targetRef: {group: policy.linkerd.io, kind: Server, name: api-metrics}
requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: std-prometheus}]
"#,
    );
    assert_eq!(authz["spec"], expected);
    let authn = find(&objects, "MeshTLSAuthentication", "shop", "std-prometheus");
    assert_eq!(authn["spec"]["identities"], yaml(&format!("[prometheus.monitoring.{SUFFIX}]")));
    assert!(objects.iter().all(|o| o.kind != "HTTPRoute" || !o.name.starts_with("api-metrics")));
    let db = find(&objects, "AuthorizationPolicy", "data", "db-pg");
    assert_eq!(db["spec"]["targetRef"]["name"], "db-pg");
    let api = find(&objects, "MeshTLSAuthentication", "data", "api");
    assert_eq!(api["spec"]["identities"], yaml(&format!("[api.shop.{SUFFIX}]")));
}

#[test]
fn unmeshed_callers_are_not_authorized() {
    // batch -> api:grpc: batch has no identity, so api:grpc has a Server and nothing else.
    let objects = objects();
    assert!(get(&objects, "AuthorizationPolicy", "shop", "api-grpc").is_none());
    assert!(get(&objects, "MeshTLSAuthentication", "shop", "batch").is_none());
}

#[test]
fn probes_and_exposure_on_web() {
    let objects = objects();
    // The controller may send anything (exposure "/*"): authorized on the Server.
    let server_authz = find(&objects, "AuthorizationPolicy", "shop", "web-http");
    assert_eq!(server_authz["spec"]["targetRef"], yaml("{group: policy.linkerd.io, kind: Server, name: web-http}"));
    assert_eq!(server_authz["spec"]["requiredAuthenticationRefs"][0]["name"], "std-ingress-nginx");
    let controller = find(&objects, "MeshTLSAuthentication", "shop", "std-ingress-nginx");
    assert_eq!(controller["spec"]["identities"], yaml(&format!("[ingress-nginx.ingress-nginx.{SUFFIX}]")));
    // The probe route admits the kubelet from any network, on GET /healthz only.
    let probes = find(&objects, "HTTPRoute", "shop", "web-http-probes");
    assert_eq!(probes["spec"]["rules"], yaml("[{matches: [{path: {type: Exact, value: /healthz}, method: GET}]}]"));
    let probe_authz = find(&objects, "AuthorizationPolicy", "shop", "web-http-probes");
    assert_eq!(
        probe_authz["spec"]["requiredAuthenticationRefs"],
        yaml("[{group: policy.linkerd.io, kind: NetworkAuthentication, name: all-networks}]")
    );
    let networks = find(&objects, "NetworkAuthentication", "shop", "all-networks");
    assert_eq!(networks["spec"], yaml("networks: [{cidr: 0.0.0.0/0}, {cidr: '::/0'}]"));
    // With routes attached, the controller's other requests need the catch-all route;
    // it has no policy of its own, so only the Server's callers may use it.
    let catch_all = find(&objects, "HTTPRoute", "shop", "web-http-default");
    assert_eq!(catch_all["spec"]["rules"], yaml("[{matches: [{path: {type: PathPrefix, value: /}}]}]"));
    assert!(get(&objects, "AuthorizationPolicy", "shop", "web-http-default").is_none());
    // No probes anywhere in data: no NetworkAuthentication there.
    assert!(get(&objects, "NetworkAuthentication", "data", "all-networks").is_none());
}

#[test]
fn exposed_paths_restrict_the_controller_to_a_route() {
    let mut policy = shop(IngressKind::Traefik, MeshKind::Linkerd);
    policy.exposures[0].paths = vec![PathMatch::Prefix("/shop".into())];
    let objects = emit(&policy);
    assert!(get(&objects, "AuthorizationPolicy", "shop", "web-http").is_none());
    assert!(get(&objects, "HTTPRoute", "shop", "web-http-default").is_none());
    let route = find(&objects, "HTTPRoute", "shop", "web-http-std-traefik");
    assert_eq!(route["spec"]["rules"], yaml("[{matches: [{path: {type: PathPrefix, value: /shop}}]}]"));
    let authz = find(&objects, "AuthorizationPolicy", "shop", "web-http-std-traefik");
    assert_eq!(authz["spec"]["requiredAuthenticationRefs"][0]["name"], "std-traefik");
    let authn = find(&objects, "MeshTLSAuthentication", "shop", "std-traefik");
    assert_eq!(authn["spec"]["identities"], yaml(&format!("[traefik.traefik.{SUFFIX}]")));
}

#[test]
fn open_and_restricted_callers_share_a_port_without_widening() {
    // prometheus may send anything to api:http as well; web stays restricted.
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    let http = http_port(&policy, sample::API, "http");
    policy.edges.push(Edge {
        source: sample::PROMETHEUS,
        destination: Destination::Segment(sample::API),
        port: http,
        l7: L7::Any,
        decls: vec![],
    });
    let objects = emit(&policy);
    let server_authz = find(&objects, "AuthorizationPolicy", "shop", "api-http");
    assert_eq!(server_authz["spec"]["targetRef"]["kind"], "Server");
    assert_eq!(server_authz["spec"]["requiredAuthenticationRefs"][0]["name"], "std-prometheus");
    // Catch-all so prometheus' other paths still match a route; web is not on it.
    find(&objects, "HTTPRoute", "shop", "api-http-default");
    assert!(get(&objects, "AuthorizationPolicy", "shop", "api-http-default").is_none());
    let web = find(&objects, "AuthorizationPolicy", "shop", "api-http-web");
    assert_eq!(web["spec"]["targetRef"]["kind"], "HTTPRoute");
}

#[test]
fn overlapping_callers_share_the_inner_route() {
    // web: GET/POST on /api/* and /healthz; api-v1 caller (db's account, for the test):
    // any method on /api/v1/*. GET /api/v1/x must admit both.
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    let http = http_port(&policy, sample::API, "http");
    policy.edges.push(Edge {
        source: sample::DB,
        destination: Destination::Segment(sample::API),
        port: http,
        l7: L7::Rules(vec![HttpRule { methods: vec![], paths: vec![PathMatch::Prefix("/api/v1".into())] }]),
        decls: vec![],
    });
    let objects = emit(&policy);
    let both = find(&objects, "HTTPRoute", "shop", "api-http-db-web");
    assert_eq!(
        both["spec"]["rules"],
        yaml("[{matches: [{path: {type: PathPrefix, value: /api/v1}, method: GET}, {path: {type: PathPrefix, value: /api/v1}, method: POST}]}]")
    );
    let authn = find(&objects, "MeshTLSAuthentication", "shop", "db-web");
    assert_eq!(authn["spec"]["identities"], yaml(&format!("[postgres.data.{SUFFIX}, web.shop.{SUFFIX}]")));
    let db_only = find(&objects, "HTTPRoute", "shop", "api-http-db");
    assert_eq!(db_only["spec"]["rules"], yaml("[{matches: [{path: {type: PathPrefix, value: /api/v1}}]}]"));
}

#[test]
fn rules_on_a_tcp_port_authorize_the_connection() {
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    policy.edges[0].l7 = L7::Rules(vec![HttpRule { methods: vec!["GET".into()], paths: vec![] }]);
    let objects = emit(&policy);
    assert_eq!(find(&objects, "AuthorizationPolicy", "data", "db-pg")["spec"]["targetRef"]["kind"], "Server");
    assert!(names(&objects, "HTTPRoute", "data").is_empty());
}

#[test]
fn methods_httproute_cannot_express_are_refused_not_widened() {
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    policy.edges[4].l7 = L7::Rules(vec![HttpRule { methods: vec!["PURGE".into()], paths: vec![] }]);
    let objects = emit(&policy);
    assert!(get(&objects, "AuthorizationPolicy", "shop", "api-http").is_none());
    assert!(names(&objects, "AuthorizationPolicy", "shop").iter().all(|n| !n.starts_with("api-http")));
}

#[test]
fn long_path_lists_respect_the_route_limits() {
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    let paths = (0..200).map(|i| PathMatch::Exact(format!("/p{i:03}"))).collect();
    policy.edges[4].l7 = L7::Rules(vec![HttpRule { methods: vec![], paths }]);
    let objects = emit(&policy);
    let routes: Vec<&Object> =
        objects.iter().filter(|o| o.kind == "HTTPRoute" && o.name.starts_with("api-http-web")).collect();
    assert_eq!(routes.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["api-http-web", "api-http-web-2"]);
    let mut total = 0;
    for route in routes {
        let body = route.body();
        let rules = body["spec"]["rules"].as_sequence().expect("rules");
        assert!(rules.len() <= MAX_RULES);
        for rule in rules {
            let matches = rule["matches"].as_sequence().expect("matches").len();
            assert!(matches <= MAX_MATCHES);
            total += matches;
        }
        assert!(get(&objects, "AuthorizationPolicy", "shop", &route.name).is_some());
    }
    assert_eq!(total, 200);
}

#[test]
fn every_reference_resolves_in_its_namespace() {
    for policy in [shop(IngressKind::Nginx, MeshKind::Linkerd), shop(IngressKind::Traefik, MeshKind::Linkerd)] {
        let objects = emit(&policy);
        for o in &objects {
            let ns = o.namespace.as_deref().unwrap_or_default();
            let spec = &o.body()["spec"];
            let refs: Vec<&serde_yaml::Value> = match o.kind.as_str() {
                "AuthorizationPolicy" => {
                    let mut refs = vec![&spec["targetRef"]];
                    refs.extend(spec["requiredAuthenticationRefs"].as_sequence().expect("refs"));
                    assert_eq!(spec["requiredAuthenticationRefs"].as_sequence().map(Vec::len), Some(1));
                    refs
                }
                "HTTPRoute" => spec["parentRefs"].as_sequence().expect("parents").iter().collect(),
                _ => vec![],
            };
            for r in refs {
                let (kind, name) = (r["kind"].as_str().expect("kind"), r["name"].as_str().expect("name"));
                assert_eq!(r["group"], "policy.linkerd.io");
                assert!(
                    get(&objects, kind, ns, name).is_some(),
                    "{} {} refers to missing {kind} {name}",
                    o.kind,
                    o.name
                );
            }
        }
    }
}

#[test]
fn every_route_but_the_catch_all_has_a_policy() {
    let objects = objects();
    for o in objects.iter().filter(|o| o.kind == "HTTPRoute") {
        let ns = o.namespace.as_deref().unwrap_or_default();
        let has_policy = get(&objects, "AuthorizationPolicy", ns, &o.name).is_some();
        assert_eq!(has_policy, !o.name.ends_with("-default"), "{}", o.name);
    }
}

#[test]
fn names_are_dns_labels_unique_and_output_is_deterministic() {
    let policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    let objects = emit(&policy);
    assert_eq!(objects, emit(&policy));
    let mut seen = BTreeSet::new();
    for o in &objects {
        assert!(!o.name.is_empty() && o.name.len() <= 63);
        assert!(o.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{}", o.name);
        assert!(seen.insert((o.kind.clone(), o.namespace.clone(), o.name.clone())), "duplicate {} {}", o.kind, o.name);
        assert_eq!(o.body()["metadata"]["labels"]["app.kubernetes.io/managed-by"], "segc");
    }
}

#[test]
fn colliding_names_get_a_suffix() {
    let mut names = Names::default();
    assert_eq!(names.claim("Server", "api-http".into()), "api-http");
    assert_eq!(names.claim("Server", "api-http".into()), "api-http-2");
    assert_eq!(names.claim("HTTPRoute", "api-http".into()), "api-http");
}

#[test]
fn identity_suffix_is_used() {
    let mut policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    policy.target.identity_suffix = "serviceaccount.identity.linkerd.prod.example".into();
    let objects = emit(&policy);
    let api = find(&objects, "MeshTLSAuthentication", "data", "api");
    assert_eq!(api["spec"]["identities"], yaml("[api.shop.serviceaccount.identity.linkerd.prod.example]"));
}
