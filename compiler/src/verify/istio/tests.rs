use std::path::Path;

use super::*;
use crate::backends;
use crate::ir::sample::{self, shop};
use crate::ir::{Destination, IngressKind, MeshKind, Policy};
use crate::verify::manifests::{from_objects, parse_documents};
use crate::verify::test_support::{self, conn, req, seg};

fn load_with(yaml: &str, trust_domain: &str) -> (IstioPolicies, Vec<Problem>) {
    let manifests = parse_documents(Path::new("t.yaml"), yaml).expect("test yaml");
    IstioPolicies::new(&manifests, trust_domain)
}

fn load(yaml: &str) -> IstioPolicies {
    let (policies, problems) = load_with(yaml, "cluster.local");
    assert!(problems.is_empty(), "unexpected problems: {problems:?}");
    policies
}

fn problems(yaml: &str) -> Vec<String> {
    load_with(yaml, "cluster.local").1.into_iter().map(|p| p.message).collect()
}

fn policy() -> Policy {
    shop(IngressKind::Nginx, MeshKind::Istio)
}

/// Whether `source` may reach `destination:port`, with `request` if given.
fn allowed(
    layer: &IstioPolicies,
    source: Endpoint,
    destination: Endpoint,
    port: u16,
    request: Option<Request>,
) -> bool {
    test_support::allowed(layer, &policy(), source, destination, port, request)
}

const STRICT_SHOP: &str = "
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
";

fn api_policy(spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: api}}}}\n{spec}"
    )
}

#[test]
fn without_policies_everything_passes_even_plaintext() {
    let layer = load("");
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(allowed(&layer, seg(sample::BATCH), seg(sample::API), 9000, Some(req("DELETE", "/x"))));
}

#[test]
fn strict_refuses_plaintext_and_admits_meshed_peers() {
    let layer = load(STRICT_SHOP);
    assert!(!allowed(&layer, seg(sample::BATCH), seg(sample::API), 9000, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::WEB), 8080, None));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    // Another namespace keeps the default, PERMISSIVE.
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::DB), 5432, None));
    let policy = policy();
    let world = World::new(&policy);
    let denied = layer.decide(&world, &conn(Endpoint::Internet, seg(sample::API), 8080), None);
    assert_eq!(denied.because.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["default"]);
}

#[test]
fn the_most_specific_peer_authentication_wins() {
    let layer = load(
        "
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: mesh, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ignored-in-root, namespace: istio-system}
spec: {selector: {matchLabels: {app: postgres}}, mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: shop, namespace: shop}
spec: {mtls: {mode: UNSET}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {9000: {mode: STRICT}, '9090': {mode: UNSET}}
",
    );
    // Mesh-wide STRICT reaches data (the root selector is ignored) and shop (UNSET).
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::DB), 5432, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::WEB), 8080, None));
    // api's own policy is PERMISSIVE, except port 9000; an UNSET port keeps PERMISSIVE.
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 9090, None));
    assert!(!allowed(&layer, seg(sample::BATCH), seg(sample::API), 9000, None));
}

#[test]
fn disable_takes_the_principal_away() {
    let principal_rule = api_policy(
        "  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: api, namespace: shop}\nspec: {selector: {matchLabels: {app: api}}, mtls: {mode: DISABLE}}\n",
    );
    let layer = load(&principal_rule);
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn allow_nothing_empty_rules_and_the_match_everything_rule() {
    for spec in ["spec: {}", "spec: {rules: []}", "spec:\n  action: ALLOW"] {
        let yaml = format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: n, namespace: shop}}\n{spec}\n");
        let layer = load(&yaml);
        assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None), "{spec}");
        assert!(!allowed(&layer, seg(sample::API), seg(sample::WEB), 8080, None), "{spec}");
        // Other namespaces are not affected.
        assert!(allowed(&layer, seg(sample::API), seg(sample::DB), 5432, None), "{spec}");
    }
    let layer = load(&api_policy("  rules: [{}]\n"));
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 1234, Some(req("PUT", "/any"))));
}

#[test]
fn deny_wins_over_allow() {
    let layer = load(&format!(
        "{}---\n{}",
        api_policy("  rules: [{}]\n"),
        api_policy("  action: DENY\n  rules: [{from: [{source: {namespaces: [monitoring]}}]}]\n")
            .replace("name: p,", "name: d,")
    ));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 9090, None));
    let policy = policy();
    let world = World::new(&policy);
    let d = layer.decide(&world, &conn(seg(sample::PROMETHEUS), seg(sample::API), 9090), None);
    assert!(!d.allowed);
    assert_eq!(d.because.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["d"]);
}

#[test]
fn custom_is_a_problem_and_assumed_to_deny_what_it_matches() {
    let yaml =
        api_policy("  action: CUSTOM\n  provider: {name: ext}\n  rules: [{to: [{operation: {paths: [/admin*]}}]}]\n");
    let messages = problems(&yaml);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("CUSTOM"));
    let layer = load_with(&yaml, "cluster.local").0;
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/admin/x"))));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/shop"))));
}

#[test]
fn audit_changes_nothing() {
    let layer = load(&api_policy("  action: AUDIT\n  rules: [{}]\n"));
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
}

#[test]
fn principal_patterns() {
    let cases = [
        ("principals: [cluster.local/ns/shop/sa/web]", true, false, false),
        ("principals: [cluster.local/ns/shop/*]", true, true, false),
        ("principals: ['*/sa/prometheus']", false, false, true),
        ("principals: ['*']", true, true, true),
        ("notPrincipals: [cluster.local/ns/shop/sa/web]", false, true, true),
        ("namespaces: [shop]", true, true, false),
        ("namespaces: ['mon*']", false, false, true),
        ("notNamespaces: [shop]", false, false, true),
    ];
    for (source, web, other, prometheus) in cases {
        let layer = load(&api_policy(&format!("  rules: [{{from: [{{source: {{{source}}}}}]}}]\n")));
        assert_eq!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None), web, "{source} web");
        assert_eq!(
            allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None),
            other,
            "{source} other pod"
        );
        assert_eq!(allowed(&layer, seg(sample::PROMETHEUS), seg(sample::API), 9090, None), prometheus, "{source} prom");
    }
    // Plaintext has no principal: `*` (any authenticated) and namespaces refuse it,
    // `notPrincipals` does not.
    for (source, plaintext) in
        [("principals: ['*']", false), ("namespaces: [shop]", false), ("notPrincipals: ['*']", true)]
    {
        let layer = load(&api_policy(&format!("  rules: [{{from: [{{source: {{{source}}}}}]}}]\n")));
        assert_eq!(allowed(&layer, seg(sample::BATCH), seg(sample::API), 9000, None), plaintext, "{source}");
    }
}

#[test]
fn cluster_local_in_a_policy_means_the_local_trust_domain() {
    let yaml = api_policy("  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]\n");
    let (layer, problems) = load_with(&yaml, "prod.example");
    assert!(problems.is_empty());
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    let yaml = api_policy("  rules: [{from: [{source: {principals: [other.example/ns/shop/sa/web]}}]}]\n");
    assert!(!allowed(&load_with(&yaml, "prod.example").0, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn ip_blocks_see_external_addresses_and_only_catch_all_blocks_see_pods() {
    let layer = load(&api_policy("  rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]\n"));
    assert!(allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    let layer = load(&api_policy("  rules: [{from: [{source: {remoteIpBlocks: [0.0.0.0/0]}}]}]\n"));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(allowed(&layer, Endpoint::Internet, seg(sample::API), 8080, None));
    let layer = load(&api_policy("  rules: [{from: [{source: {notIpBlocks: [203.0.113.7]}}]}]\n"));
    assert!(allowed(&layer, Endpoint::External(sample::STRIPE), seg(sample::API), 8080, None));
}

#[test]
fn operations_ports_methods_and_paths() {
    let layer = load(&api_policy(
        "  rules:\n  - to: [{operation: {ports: ['8080'], methods: [GET], paths: [/api, '/api/*', '*.json'], notPaths: [/api/secret]}}]\n  - to: [{operation: {notPorts: ['8080', '9000']}}]\n",
    ));
    let web = || seg(sample::WEB);
    let api = || seg(sample::API);
    assert!(allowed(&layer, web(), api(), 8080, Some(req("GET", "/api/x"))));
    assert!(allowed(&layer, web(), api(), 8080, Some(req("GET", "/a/b.json"))));
    assert!(!allowed(&layer, web(), api(), 8080, Some(req("GET", "/api/secret"))));
    assert!(!allowed(&layer, web(), api(), 8080, Some(req("POST", "/api/x"))));
    assert!(!allowed(&layer, web(), api(), 8080, Some(req("GET", "/apix"))));
    assert!(allowed(&layer, web(), api(), 9090, Some(req("DELETE", "/anything"))));
    // gRPC is HTTP too, but no rule admits 9000.
    assert!(!allowed(&layer, web(), api(), 9000, None));
}

#[test]
fn hosts_match_only_when_any_host_is_allowed() {
    let layer = load(&api_policy("  rules: [{to: [{operation: {hosts: [api.shop.svc]}}]}]\n"));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    let layer = load(&api_policy("  rules: [{to: [{operation: {hosts: ['*']}}]}]\n"));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn http_fields_on_a_tcp_port_drop_allow_rules_and_widen_deny_rules() {
    let db_policy = |spec: &str| {
        format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: db, namespace: data}}\nspec:\n  selector: {{matchLabels: {{app: postgres}}}}\n{spec}")
    };
    let layer = load(&db_policy("  rules: [{to: [{operation: {ports: ['5432'], methods: [GET]}}]}]\n"));
    assert!(!allowed(&layer, seg(sample::API), seg(sample::DB), 5432, None));
    // A DENY on `GET` from web denies all of web's TCP traffic; api is untouched.
    let layer = load(&db_policy(
        "  action: DENY\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}], to: [{operation: {methods: [GET]}}]}]\n",
    ));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::DB), 5432, None));
    assert!(allowed(&layer, seg(sample::API), seg(sample::DB), 5432, None));
    // On an HTTP port the same DENY only takes GET.
    let layer = load(&api_policy(
        "  action: DENY\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}], to: [{operation: {methods: [GET]}}]}]\n",
    ));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/"))));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("POST", "/"))));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn conditions() {
    let layer = load(&api_policy(
        "  rules:\n  - when: [{key: source.namespace, values: [monitoring]}, {key: destination.port, values: ['9090']}]\n  - when: [{key: 'request.headers[x-admin]', values: ['1']}]\n  - when: [{key: source.principal, values: [cluster.local/ns/shop/sa/web]}, {key: 'request.headers[x-block]', notValues: ['1']}]\n",
    ));
    assert!(allowed(&layer, seg(sample::PROMETHEUS), seg(sample::API), 9090, None));
    assert!(!allowed(&layer, seg(sample::PROMETHEUS), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/"))));
    // On a TCP port a rule with a request condition is dropped from ALLOW.
    let yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: db, namespace: data}\nspec:\n  rules: [{when: [{key: 'request.headers[x]', notValues: ['1']}]}]\n";
    assert!(!allowed(&load(yaml), seg(sample::API), seg(sample::DB), 5432, None));
}

#[test]
fn unknown_conditions_are_problems_that_never_allow() {
    let allow = api_policy("  rules: [{when: [{key: connection.sni, values: [x]}]}]\n");
    assert!(problems(&allow)[0].contains("connection.sni"));
    assert!(!allowed(&load_with(&allow, "cluster.local").0, seg(sample::WEB), seg(sample::API), 8080, None));
    let deny = api_policy("  action: DENY\n  rules: [{when: [{key: destination.ip, values: [10.0.0.1]}]}]\n");
    assert!(!allowed(&load_with(&deny, "cluster.local").0, seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn request_none_asks_whether_some_request_passes() {
    let layer = load(&api_policy("  rules: [{to: [{operation: {methods: [PATCH], paths: ['/v2/*', '*.csv']}}]}]\n"));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, Some(req("GET", "/v2/x"))));
    // Everything allowed is then denied again: nothing passes.
    let deny = api_policy("  action: DENY\n  rules: [{to: [{operation: {paths: ['/v2/*', '*.csv']}}]}]\n")
        .replace("name: p,", "name: d,");
    let layer = load(&format!("{}---\n{deny}", api_policy("  rules: [{to: [{operation: {paths: ['/v2/*']}}]}]\n")));
    assert!(!allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
    // A path both a prefix and a suffix describe is found.
    let both = api_policy("  rules: [{to: [{operation: {paths: ['/v2/*'], notPaths: ['*.csv']}}]}]\n");
    assert!(allowed(&load(&both), seg(sample::WEB), seg(sample::API), 8080, None));
}

#[test]
fn scope_namespace_selector_and_root() {
    let yaml = "
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: everywhere, namespace: istio-system}
spec: {}
";
    let layer = load(yaml);
    assert!(!allowed(&layer, seg(sample::API), seg(sample::DB), 5432, None));
    assert!(!allowed(&layer, seg(sample::API), seg(sample::PROMETHEUS), 9090, None));
    let yaml = "
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: postgres-anywhere, namespace: istio-system}
spec: {selector: {matchLabels: {app: postgres}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: monitoring}
spec: {selector: {matchLabels: {app: api}}}
";
    let layer = load(yaml);
    assert!(!allowed(&layer, seg(sample::API), seg(sample::DB), 5432, None));
    assert!(allowed(&layer, seg(sample::WEB), seg(sample::API), 8080, None));
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
fn candidates_follow_exact_principals_and_ports() {
    let layer = load(&format!(
        "{STRICT_SHOP}---\n{}",
        api_policy("  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}], to: [{operation: {ports: ['8080']}}]}]\n")
    ));
    let policy = policy();
    let world = World::new(&policy);
    let into_api: Vec<Connection> =
        layer.candidates(&world).into_iter().filter(|c| c.destination == seg(sample::API)).collect();
    assert_eq!(into_api, vec![conn(seg(sample::WEB), seg(sample::API), 8080)]);
    // Without an ALLOW policy a workload may be reached from anywhere on any port.
    let everything = layer.candidates(&world);
    assert!(everything.contains(&conn(Endpoint::Internet, seg(sample::DB), 5432)));
    assert!(everything.contains(&conn(Endpoint::Internet, seg(sample::DB), 65535)));
}

#[test]
fn paths_lists_literals() {
    let layer =
        load(&api_policy("  rules: [{to: [{operation: {paths: [/a, '/b/*', '*.json', '*'], notPaths: [/c]}}]}]\n"));
    assert_eq!(layer.paths(), [".json", "/a", "/b/", "/c"]);
}

#[test]
fn hand_edits_are_problems_never_panics() {
    let bad = [
        ("spec: {rules: x}", "not a list"),
        ("spec: {rules: [{from: [5]}]}", "not a mapping"),
        ("spec: {rules: [{from: [{source: {principals: a}}]}]}", "not a list"),
        ("spec: {rules: [{from: [{source: {principals: [[a]]}}]}]}", "not a string"),
        ("spec: {action: MAYBE}", "unknown action"),
        ("spec: {action: 3}", "not a string"),
        ("spec: {selector: {matchLabels: {app: [x]}}}", "string pair"),
        ("spec: {rules: [{when: [{values: [x]}]}]}", "key` is missing"),
        ("spec: {targetRefs: [{kind: Gateway, name: g}]}", "waypoint"),
        ("spec: [1]", "not a mapping"),
    ];
    for (spec, expected) in bad {
        let yaml = format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: n, namespace: shop}}\n{spec}\n");
        let messages = problems(&yaml);
        assert!(messages.iter().any(|m| m.contains(expected)), "{spec}: {messages:?}");
    }
    let bad_pa = [
        ("spec: {mtls: {mode: SOMETIMES}}", "unknown mTLS mode"),
        ("spec: {mtls: {mode: 1}}", "not a string"),
        ("spec: {portLevelMtls: {8080: {mode: STRICT}}}", "needs a `selector`"),
        ("spec: {selector: {matchLabels: {a: b}}, portLevelMtls: {http: {mode: STRICT}}}", "not a port number"),
        ("spec: {mtls: STRICT}", "not a mapping"),
    ];
    for (spec, expected) in bad_pa {
        let yaml = format!("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: n, namespace: shop}}\n{spec}\n");
        let messages = problems(&yaml);
        assert!(messages.iter().any(|m| m.contains(expected)), "{spec}: {messages:?}");
    }
    let messages =
        problems("apiVersion: security.istio.io/v2\nkind: AuthorizationPolicy\nmetadata: {name: n, namespace: shop}\n");
    assert!(messages[0].contains("apiVersion"));
    let messages = problems("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: n}\n");
    assert!(messages[0].contains("namespace"));
    // Kinds verify does not interpret are ignored.
    assert!(problems("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: n}\nspec: 1\n")
        .is_empty());
}

#[test]
fn a_typo_is_reported_and_the_rest_still_applies() {
    let yaml = api_policy("  rules: [{form: [{source: {principals: [x]}}], to: [{operation: {ports: ['8080']}}]}]\n");
    let (layer, problems) = load_with(&yaml, "cluster.local");
    assert!(problems[0].message.contains("unknown field `form`"), "{problems:?}");
    // As Istio reads it: the `from` is gone, so everyone may use 8080.
    assert!(allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 8080, None));
    assert!(!allowed(&layer, Endpoint::OtherPod(sample::SHOP), seg(sample::API), 9090, None));
}

#[test]
fn duplicate_namespace_peer_authentications_are_reported() {
    let yaml = format!("{STRICT_SHOP}---\n{}", STRICT_SHOP.replace("name: default", "name: second"));
    let messages = problems(&yaml);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("same scope"));
}

// --- segc's own output, read back --------------------------------------------------

fn emitted(policy: &Policy) -> IstioPolicies {
    let manifests = from_objects(&backends::istio::emit(policy)).expect("segc output reads back");
    let (layer, problems) = IstioPolicies::new(&manifests, &policy.target.trust_domain);
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
    assert!(!decide(seg(sample::PROMETHEUS), web.clone(), 8080, None));
    assert!(!decide(Endpoint::OtherPod(sample::SHOP), api.clone(), 8080, Some(req("GET", "/api/x"))));
    assert!(!decide(Endpoint::OtherNamespace, web.clone(), 8080, None));
    // batch is declared but has no identity: strict mTLS refuses its plaintext.
    assert!(!decide(seg(sample::BATCH), api.clone(), 9000, None));
    assert!(!decide(Endpoint::Internet, web, 8080, None));
    assert!(decide(api.clone(), seg(sample::DB), 5432, None));
    assert!(!decide(api, seg(sample::DB), 5433, None));
}

#[test]
fn segc_output_allows_exactly_the_declared_connections_into_managed_meshed_segments() {
    for ingress in [IngressKind::Nginx, IngressKind::Traefik] {
        let policy = shop(ingress, MeshKind::Istio);
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
        let candidates: BTreeSet<Connection> =
            layer.candidates(&world).into_iter().filter(|c| managed(&c.destination)).collect();
        for c in &declared {
            assert!(candidates.contains(c), "{c:?} is not a candidate");
        }
        // Every pair into a managed segment, on every port tried, for completeness.
        for destination in world.endpoints.iter().filter(|e| managed(e)) {
            for source in &world.endpoints {
                for port in world.ports_to(destination) {
                    let c = Connection { source: source.clone(), destination: destination.clone(), port };
                    let allowed = layer.decide(&world, &c, None).allowed;
                    assert_eq!(allowed, declared.contains(&c), "{c:?}");
                    assert!(!allowed || candidates.contains(&c), "{c:?} allowed but not a candidate");
                }
            }
        }
    }
}
