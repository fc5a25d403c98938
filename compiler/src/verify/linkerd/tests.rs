use std::path::Path;

use super::*;
use crate::backends;
use crate::ir::sample::{self, shop};
use crate::ir::{Destination, IngressKind, MeshKind, PathMatch as IrPath, Policy};
use crate::verify::manifests::{from_objects, parse_documents};
use crate::verify::test_support::{self, conn, req, seg};

const SUFFIX: &str = "serviceaccount.identity.linkerd.cluster.local";

fn load_all(yaml: &str) -> (LinkerdPolicies, Vec<Problem>) {
    let manifests = parse_documents(Path::new("t.yaml"), yaml).expect("test yaml");
    LinkerdPolicies::new(&manifests, SUFFIX)
}

fn load(yaml: &str) -> LinkerdPolicies {
    let (layer, problems) = load_all(yaml);
    assert!(problems.is_empty(), "unexpected problems: {problems:?}");
    layer
}

fn problems(yaml: &str) -> Vec<String> {
    load_all(yaml).1.into_iter().map(|p| p.message).collect()
}

fn policy() -> Policy {
    shop(IngressKind::Nginx, MeshKind::Linkerd)
}

/// Whether `source` may reach `destination:port`, with `request` if given.
fn allowed(
    layer: &LinkerdPolicies,
    source: Endpoint,
    destination: Endpoint,
    port: u16,
    request: Option<Request>,
) -> bool {
    test_support::allowed(layer, &policy(), source, destination, port, request)
}

fn namespace(name: &str, default: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  annotations: {{config.linkerd.io/default-inbound-policy: {default}}}\n")
}

/// A Server for api's http port (8080), plus more YAML.
fn api_server(more: &str) -> String {
    format!(
        "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {{name: api-http, namespace: shop}}\nspec: {{podSelector: {{matchLabels: {{app: api}}}}, port: 8080, proxyProtocol: unknown}}\n---\n{more}"
    )
}

fn authz(name: &str, target_kind: &str, target: &str, refs: &str) -> String {
    format!(
        "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  targetRef: {{group: policy.linkerd.io, kind: {target_kind}, name: {target}}}\n  requiredAuthenticationRefs: {refs}\n---\n"
    )
}

fn mesh_tls(name: &str, spec: &str) -> String {
    format!("apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n---\n")
}

fn network(name: &str, spec: &str) -> String {
    format!("apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n---\n")
}

fn route(name: &str, created: &str, rules: &str) -> String {
    format!(
        "apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: shop, creationTimestamp: '{created}'}}\nspec:\n  parentRefs: [{{group: policy.linkerd.io, kind: Server, name: api-http}}]\n  rules: {rules}\n---\n"
    )
}

#[test]
fn without_objects_the_cluster_default_admits_everyone() {
    let layer = load("");
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(allowed(&layer, seg(sample::BATCH), seg(sample::DB), 5432, None));
}

#[test]
fn namespace_default_policies() {
    let cases = [
        ("deny", false, false, false),
        ("all-authenticated", true, false, false),
        ("cluster-authenticated", true, false, false),
        ("cluster-unauthenticated", true, true, false),
        ("audit", true, true, true),
        ("all-unauthenticated", true, true, true),
    ];
    for (default, meshed, plaintext_pod, internet) in cases {
        let layer = load(&namespace("shop", default));
        assert_eq!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None), meshed, "{default}");
        assert_eq!(allowed(&layer, seg(sample::BATCH), seg(sample::API), 9000, None), plaintext_pod, "{default}");
        assert_eq!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None), internet, "{default}");
        // Other namespaces keep the cluster default.
        assert!(allowed(&layer, Endpoint::Internet, seg(sample::DB), 5432, None), "{default}");
    }
    assert!(problems(&namespace("shop", "maybe"))[0].contains("not a Linkerd default policy"));
}

#[test]
fn a_server_without_authorization_refuses_everything_on_its_port_only() {
    let layer = load(&api_server(""));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 9090, None));
    let policy = policy();
    let world = World::new(&policy);
    let d = layer.decide(&world, &conn(seg(sample::WEB), seg(sample::API), 8080), None);
    assert_eq!(d.because.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["api-http"]);
}

#[test]
fn servers_select_by_expressions_and_named_ports_and_honour_access_policy() {
    let yaml = "apiVersion: policy.linkerd.io/v1beta1\nkind: Server\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchExpressions: [{key: app, operator: In, values: [web, x]}, {key: tier, operator: DoesNotExist}]}\n  port: http\n";
    let layer = load(yaml);
    assert!(!allowed(&layer, seg(sample::API), seg(sample::WEB), 8080, None));
    assert!(allowed(&layer, seg(sample::API), seg(sample::API), 8080, None));
    let layer = load(&format!("{yaml}  accessPolicy: all-authenticated\n"));
    assert!(allowed(&layer, seg(sample::API), seg(sample::WEB), 8080, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::WEB), 8080, None));
}

#[test]
fn mesh_tls_identities_refs_and_wildcards() {
    let cases = [
        (format!("{{identities: [web.shop.{SUFFIX}]}}"), true, false, false),
        (format!("{{identities: ['*.shop.{SUFFIX}']}}"), true, true, false),
        ("{identities: ['*']}".to_string(), true, true, true),
        ("{identityRefs: [{kind: ServiceAccount, name: web}]}".to_string(), true, false, false),
        (
            "{identityRefs: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]}".to_string(),
            false,
            false,
            true,
        ),
        ("{identityRefs: [{kind: Namespace, name: monitoring}]}".to_string(), false, false, true),
    ];
    for (spec, web, other, prometheus) in cases {
        let yaml = api_server(&format!(
            "{}{}",
            mesh_tls("callers", &spec),
            authz(
                "p",
                "Server",
                "api-http",
                "[{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: callers}]"
            )
        ));
        let layer = load(&yaml);
        assert_eq!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None), web, "{spec}");
        assert_eq!(allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None), other, "{spec}");
        assert_eq!(allowed(&layer, seg(sample::PROMETHEUS), seg(sample::API), 8080, None), prometheus, "{spec}");
        // Unmeshed clients have no identity.
        assert!(!allowed(&layer, seg(sample::BATCH), seg(sample::API), 8080, None), "{spec}");
    }
}

#[test]
fn every_required_authentication_must_hold() {
    let stripe_only = "{networks: [{cidr: 203.0.113.0/24, except: [203.0.113.128/25]}]}";
    let refs =
        "[{kind: ServiceAccount, name: web}, {group: policy.linkerd.io, kind: NetworkAuthentication, name: nets}]";
    let layer =
        load(&api_server(&format!("{}{}", network("nets", stripe_only), authz("p", "Server", "api-http", refs))));
    // web has the identity but no address in the network; stripe the address, no identity.
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::API), 8080, None));
    let all = "{networks: [{cidr: 0.0.0.0/0}, {cidr: '::/0'}]}";
    let layer = load(&api_server(&format!("{}{}", network("nets", all), authz("p", "Server", "api-http", refs))));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    // Networks alone: addresses outside the cluster by CIDR, pods only by catch-alls.
    let net_ref = "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: nets}]";
    let layer =
        load(&api_server(&format!("{}{}", network("nets", stripe_only), authz("p", "Server", "api-http", net_ref))));
    assert!(allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    let except = "{networks: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}]}";
    let layer = load(&api_server(&format!("{}{}", network("nets", except), authz("p", "Server", "api-http", net_ref))));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
}

#[test]
fn a_missing_authentication_voids_the_policy_and_is_reported() {
    let yaml = api_server(&authz(
        "p",
        "Server",
        "api-http",
        "[{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: nobody}]",
    ));
    let (layer, problems) = load_all(&yaml);
    assert!(problems[0].message.contains("not among the manifests"), "{problems:?}");
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn namespace_targets_cover_every_server_of_the_namespace() {
    let yaml = api_server(
        &authz("p", "Namespace", "shop", "[{kind: ServiceAccount, name: web}]")
            .replace("group: policy.linkerd.io, ", ""),
    );
    let layer = load(&yaml);
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, seg(sample::PROMETHEUS), seg(sample::API), 8080, None));
    let other = api_server(&authz("p", "Namespace", "data", "[{kind: ServiceAccount, name: web}]"));
    assert!(problems(&other)[0].contains("only its own namespace"));
}

#[test]
fn server_authorizations() {
    let sa = |spec: &str| {
        api_server(&format!(
            "apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {{name: sa, namespace: shop}}\nspec: {spec}\n"
        ))
    };
    let layer = load(&sa("{server: {name: api-http}, client: {meshTLS: {serviceAccounts: [{name: web}]}}}"));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None));
    let layer = load(&sa("{server: {selector: {matchLabels: {}}}, client: {meshTLS: {unauthenticatedTLS: true}}}"));
    assert!(allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, seg(sample::BATCH), seg(sample::API), 8080, None));
    let layer =
        load(&sa("{server: {name: api-http}, client: {unauthenticated: true, networks: [{cidr: 203.0.113.0/24}]}}"));
    assert!(allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    let layer = load(&sa("{server: {name: other}, client: {unauthenticated: true}}"));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
}

#[test]
fn each_request_goes_to_the_most_specific_route() {
    let web = "[{kind: ServiceAccount, name: web}]";
    let prom = "[{kind: ServiceAccount, name: prometheus, namespace: monitoring}]";
    let yaml = api_server(&format!(
        "{}{}{}{}{}{}",
        route("api", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /api}}]}]"),
        route(
            "api-v1-get",
            "2024-01-02T00:00:00Z",
            "[{matches: [{path: {type: PathPrefix, value: /api/v1/}, method: GET}]}]"
        ),
        route("exact", "2024-01-03T00:00:00Z", "[{matches: [{path: {type: Exact, value: /api}}]}]"),
        authz("api", "HTTPRoute", "api", web),
        authz("api-v1-get", "HTTPRoute", "api-v1-get", prom),
        authz("exact", "HTTPRoute", "exact", prom),
    ));
    let layer = load(&yaml);
    let (w, p, api) = (|| seg(sample::WEB), || seg(sample::PROMETHEUS), || seg(sample::API));
    assert!(allowed(&layer, w(), api(), 8080, Some(req("POST", "/api/x"))));
    assert!(!allowed(&layer, p(), api(), 8080, Some(req("POST", "/api/x"))));
    // The longer prefix with a method takes GET /api/v1/...; other methods stay on /api.
    assert!(allowed(&layer, p(), api(), 8080, Some(req("GET", "/api/v1/x"))));
    assert!(!allowed(&layer, w(), api(), 8080, Some(req("GET", "/api/v1/x"))));
    assert!(allowed(&layer, w(), api(), 8080, Some(req("POST", "/api/v1/x"))));
    // Exact `/api` ties with PathPrefix `/api` (same length): the older route wins.
    assert!(allowed(&layer, w(), api(), 8080, Some(req("GET", "/api"))));
    assert!(!allowed(&layer, p(), api(), 8080, Some(req("GET", "/api"))));
    // `/apix` and `/` match no route: refused, whoever asks.
    assert!(!allowed(&layer, w(), api(), 8080, Some(req("GET", "/apix"))));
    assert!(!allowed(&layer, w(), api(), 8080, Some(req("GET", "/"))));
    // Some request passes for both.
    assert!(allowed(&layer, w(), api(), 8080, None));
    assert!(allowed(&layer, p(), api(), 8080, None));
    assert!(!allowed(&layer, Endpoint::OtherPod(sample::SHOP), api(), 8080, None));
}

#[test]
fn a_method_match_beats_no_method_at_equal_length() {
    let yaml = api_server(&format!(
        "{}{}{}",
        route("any", "2024-01-01T00:00:00Z", "[{matches: [{path: {value: /x}}]}]"),
        route("get", "2024-01-02T00:00:00Z", "[{matches: [{path: {value: /x}, method: GET}]}]"),
        authz("any", "HTTPRoute", "any", "[{kind: ServiceAccount, name: web}]"),
    ));
    let layer = load(&yaml);
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/x"))));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("PUT", "/x/y"))));
}

#[test]
fn server_policies_authorize_every_route_and_routes_without_rules_match_all() {
    let yaml = api_server(&format!(
        "{}{}",
        route("only-health", "", "[{matches: [{path: {type: Exact, value: /healthz}}]}]"),
        authz("p", "Server", "api-http", "[{kind: ServiceAccount, name: web}]"),
    ));
    let layer = load(&yaml);
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/healthz"))));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/other"))));
    let layer = load(&api_server(&format!(
        "{}{}",
        route("all", "", "[{}]"),
        authz("p", "Server", "api-http", "[{kind: ServiceAccount, name: web}]")
    )));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/other"))));
}

#[test]
fn gateway_api_routes_attach_to_servers_too() {
    let gateway_route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: gw, namespace: shop}\nspec:\n  parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-http}]\n  rules: [{matches: [{path: {type: Exact, value: /gw}}]}]\n---\n";
    let yaml = api_server(&format!(
        "{gateway_route}{}",
        authz("p", "HTTPRoute", "gw", "[{kind: ServiceAccount, name: web}]")
            .replace("group: policy.linkerd.io", "group: gateway.networking.k8s.io")
    ));
    let layer = load(&yaml);
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/gw"))));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/other"))));
    // A route on a Gateway is not inbound policy.
    let outbound = gateway_route.replace("group: policy.linkerd.io, kind: Server", "kind: Gateway");
    assert!(load(&outbound).routes.is_empty());
}

#[test]
fn routes_are_ignored_on_opaque_servers_and_tcp_ports() {
    let opaque = api_server(&format!(
        "{}{}",
        route("r", "", "[{matches: [{path: {type: Exact, value: /x}}]}]"),
        authz("p", "HTTPRoute", "r", "[{kind: ServiceAccount, name: web}]")
    ))
    .replace("proxyProtocol: unknown", "proxyProtocol: opaque");
    let layer = load(&opaque);
    // Without routes only Server-level authorizations count, and there are none.
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/x"))));
    let server = "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: db, namespace: data}\nspec: {podSelector: {matchLabels: {app: postgres}}, port: 5432}\n---\napiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, namespace: data}\nspec: {parentRefs: [{group: policy.linkerd.io, kind: Server, name: db}], rules: [{matches: [{path: {value: /nothing}}]}]}\n---\napiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: data}\nspec: {targetRef: {group: policy.linkerd.io, kind: Server, name: db}, requiredAuthenticationRefs: [{kind: ServiceAccount, name: api, namespace: shop}]}\n";
    let layer = load(server);
    assert!(allowed(&layer, seg(sample::API), seg(sample::DB), 5432, Some(req("GET", "/other"))));
}

#[test]
fn unverifiable_matches_are_problems_and_never_match() {
    let yaml = api_server(&format!(
        "{}{}",
        route("r", "", "[{matches: [{path: {value: /}, headers: [{name: x, value: y}]}]}]"),
        authz("p", "HTTPRoute", "r", "[{kind: ServiceAccount, name: web}]")
    ));
    let messages = problems(&yaml);
    assert!(messages[0].contains("headers"), "{messages:?}");
    assert!(!allowed(&load_all(&yaml).0, seg(sample::WEB), seg(sample::API), 8080, None));
    let hostnames = route("r", "", "[{}]").replace("  rules:", "  hostnames: [api.shop]\n  rules:");
    assert!(problems(&api_server(&hostnames))[0].contains("hostnames"));
}

#[test]
fn hand_edits_are_problems_never_panics() {
    let server = |spec: &str| {
        format!("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {{name: s, namespace: shop}}\nspec: {spec}\n")
    };
    let cases = [
        (server("{port: 8080}"), "podSelector"),
        (server("{podSelector: {matchLabels: {app: api}}}"), "spec.port"),
        (server("{podSelector: {matchLabels: {app: api}}, port: 70000}"), "not a port"),
        (server("{podSelector: {matchLabels: {app: api}}, port: 1, proxyProtocol: SMTP}"), "proxyProtocol"),
        (server("{podSelector: {matchExpressions: [{key: a, operator: Near}]}, port: 1}"), "operator"),
        (server("{podSelector: {matchLabels: {app: api}}, port: 1, accessPolicy: sometimes}"), "accessPolicy"),
        (server("[1]"), "not a mapping"),
        (authz("p", "Server", "s", "[]"), "empty"),
        (authz("p", "Service", "s", "[{kind: ServiceAccount, name: a}]"), "Service"),
        (authz("p", "Server", "s", "[{kind: Secret, name: a}]"), "not an authentication"),
        (authz("p", "Server", "s", "x"), "not a list"),
        (mesh_tls("m", "{}"), "no identities"),
        (mesh_tls("m", "{identities: [1]}"), "not a string"),
        (mesh_tls("m", "{identityRefs: [{kind: Pod, name: a}]}"), "Pod"),
        (network("n", "{networks: [{cidr: nonsense}]}"), "not an address"),
        (network("n", "{}"), "empty"),
        (route("r", "", "[{matches: [{path: {type: Glob, value: /x}}]}]"), "path match type"),
        (route("r", "", "[{matches: [{method: [GET]}]}]"), "not a string"),
        (
            "apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: a, namespace: shop}\nspec: {server: {name: s}, client: {}}\n".into(),
            "neither",
        ),
        ("apiVersion: policy.linkerd.io/v1beta1\nkind: GRPCRoute\nmetadata: {name: g, namespace: shop}\n".into(), "GRPCRoutes"),
        ("apiVersion: policy.linkerd.io/v9\nkind: Server\nmetadata: {name: s, namespace: shop}\n".into(), "apiVersion"),
        ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s}\n".into(), "namespace"),
    ];
    for (yaml, expected) in cases {
        let messages = problems(&yaml);
        assert!(messages.iter().any(|m| m.contains(expected)), "{yaml}: {messages:?}");
    }
    // Kinds verify does not interpret are ignored.
    assert!(problems("apiVersion: policy.linkerd.io/v1alpha1\nkind: HTTPLocalRateLimitPolicy\nmetadata: {name: n}\n")
        .is_empty());
}

#[test]
fn governs_meshed_pods_over_tcp_only() {
    let layer = load("");
    let policy = policy();
    let world = World::new(&policy);
    assert!(layer.governs(&world, &conn(seg(sample::WEB), seg(sample::API), 8080)));
    assert!(!layer.governs(&world, &conn(seg(sample::API), seg(sample::BATCH), 8080)));
    assert!(!layer.governs(&world, &conn(seg(sample::API), Endpoint::External(sample::STRIPE), 443)));
    let udp = Connection {
        port: L4Port { number: 53, transport: Transport::Udp },
        ..conn(seg(sample::API), seg(sample::DNS), 53)
    };
    assert!(!layer.governs(&world, &udp));
}

#[test]
fn candidates_follow_exact_identities() {
    let yaml = format!(
        "{}---\n{}",
        namespace("shop", "deny"),
        api_server(&format!(
            "{}{}",
            mesh_tls("callers", &format!("{{identities: [web.shop.{SUFFIX}]}}")),
            authz(
                "p",
                "Server",
                "api-http",
                "[{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: callers}]"
            )
        ))
    );
    let layer = load(&yaml);
    let policy = policy();
    let world = World::new(&policy);
    let into_api: Vec<Connection> =
        layer.candidates(&world).into_iter().filter(|c| c.destination == seg(sample::API)).collect();
    assert_eq!(into_api, vec![conn(seg(sample::WEB), seg(sample::API), 8080)]);
    assert!(layer.candidates(&world).contains(&conn(Endpoint::Internet, seg(sample::DB), 5432)));
}

#[test]
fn paths_lists_route_paths() {
    let layer =
        load(&api_server(&route("r", "", "[{matches: [{path: {value: /b}}, {path: {type: Exact, value: /a}}]}]")));
    assert_eq!(layer.paths(), ["/a", "/b"]);
}

// --- segc's own output, read back --------------------------------------------------

fn emitted(policy: &Policy) -> LinkerdPolicies {
    let manifests = from_objects(&backends::linkerd::emit(policy)).expect("segc output reads back");
    let (layer, problems) = LinkerdPolicies::new(&manifests, &policy.target.identity_suffix);
    assert!(problems.is_empty(), "{problems:?}");
    layer
}

#[test]
fn segc_output_allows_the_declared_requests_and_nothing_else() {
    let policy = policy();
    let layer = emitted(&policy);
    let world = World::new(&policy);
    let decide = |source: Endpoint, destination: Endpoint, port: u16, request: Option<Request>| {
        layer.decide(&world, &conn(source, destination, port), request.as_ref()).allowed
    };
    let (web, api) = (seg(sample::WEB), seg(sample::API));
    assert!(decide(web.clone(), api.clone(), 8080, Some(req("GET", "/api/x"))));
    assert!(decide(web.clone(), api.clone(), 8080, Some(req("POST", "/api"))));
    assert!(decide(web.clone(), api.clone(), 8080, Some(req("GET", "/healthz"))));
    assert!(!decide(web.clone(), api.clone(), 8080, Some(req("DELETE", "/api/x"))));
    assert!(!decide(web.clone(), api.clone(), 8080, Some(req("GET", "/apix"))));
    assert!(!decide(web.clone(), api.clone(), 9090, None));
    assert!(decide(seg(sample::PROMETHEUS), api.clone(), 9090, Some(req("DELETE", "/anything"))));
    assert!(!decide(seg(sample::PROMETHEUS), api.clone(), 8080, None));
    assert!(decide(seg(sample::INGRESS_NGINX), web.clone(), 8080, Some(req("GET", "/cart"))));
    assert!(!decide(seg(sample::PROMETHEUS), web.clone(), 8080, Some(req("GET", "/cart"))));
    assert!(!decide(Endpoint::OtherPod(sample::SHOP), api.clone(), 8080, Some(req("GET", "/api/x"))));
    // batch is declared but has no identity to authorize.
    assert!(!decide(seg(sample::BATCH), api.clone(), 9000, None));
    assert!(decide(api.clone(), seg(sample::DB), 5432, None));
    assert!(!decide(web.clone(), seg(sample::DB), 5432, None));
    // Undeclared ports fall to the namespace default: deny.
    assert!(!decide(api.clone(), seg(sample::DB), 5433, None));
    // The probe route admits every network, but only GET on the probe path.
    for source in [Endpoint::Internet, Endpoint::OtherNamespace, seg(sample::BATCH)] {
        assert!(decide(source.clone(), web.clone(), 8080, Some(req("GET", "/healthz"))), "{source:?}");
        assert!(!decide(source.clone(), web.clone(), 8080, Some(req("POST", "/healthz"))), "{source:?}");
        assert!(!decide(source.clone(), web.clone(), 8080, Some(req("GET", "/cart"))), "{source:?}");
    }
}

#[test]
fn segc_output_allows_exactly_the_declared_connections_into_managed_meshed_segments() {
    for ingress in [IngressKind::Nginx, IngressKind::Traefik] {
        let policy = shop(ingress, MeshKind::Linkerd);
        let layer = emitted(&policy);
        let world = World::new(&policy);
        let mut declared = BTreeSet::new();
        for edge in &policy.edges {
            if let Destination::Segment(d) = edge.destination {
                if policy.segment(edge.source).meshed {
                    declared.insert(conn(seg(edge.source), seg(d), edge.port.number));
                }
            }
        }
        for exposure in &policy.exposures {
            declared.insert(conn(seg(policy.target.controller), seg(exposure.segment), exposure.port.number));
        }
        let managed = |e: &Endpoint| {
            world.pod(e).is_some_and(|p| p.meshed && policy.managed_namespaces.iter().any(|n| n == p.namespace))
        };
        // Probed ports admit anyone for the probe requests.
        let mut probed = BTreeSet::new();
        for (id, segment) in policy.managed_segments() {
            for probe in &segment.probes {
                probed.insert((seg(id), probe.port.number));
            }
        }
        let candidates: BTreeSet<Connection> =
            layer.candidates(&world).into_iter().filter(|c| managed(&c.destination)).collect();
        for destination in world.endpoints.iter().filter(|e| managed(e)) {
            for source in &world.endpoints {
                for port in world.ports_to(destination) {
                    let c = Connection { source: source.clone(), destination: destination.clone(), port };
                    let expected = declared.contains(&c) || probed.contains(&(destination.clone(), port.number));
                    let allowed = layer.decide(&world, &c, None).allowed;
                    assert_eq!(allowed, expected, "{c:?}");
                    assert!(!allowed || candidates.contains(&c), "{c:?} allowed but not a candidate");
                    if probed.contains(&(destination.clone(), port.number)) && !declared.contains(&c) {
                        let probe = req("GET", "/healthz");
                        assert!(layer.decide(&world, &c, Some(&probe)).allowed, "{c:?}");
                        assert!(!layer.decide(&world, &c, Some(&req("GET", "/x"))).allowed, "{c:?}");
                    }
                }
            }
        }
        // The sample's one probe is exact `/healthz`.
        assert_eq!(policy.segment(sample::WEB).probes[0].paths, [IrPath::Exact("/healthz".into())]);
    }
}
