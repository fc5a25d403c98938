//! The mutation suite: hand edits of emitted YAML that open or close a path, each of
//! which `segc verify` must catch with the right code and message; and every golden
//! output must verify clean.

use std::fs;
use std::path::{Path, PathBuf};

use segc::diag::{render_all, Code, ColorChoice, Diagnostic};
use segc::{backends, driver, emit, verify};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds an example for a target into a fresh directory.
fn build(example: &str, target: &str) -> (driver::Compiled, segc::ir::Policy, tempfile::TempDir) {
    let compiled = driver::compile(&repo().join("examples").join(example)).unwrap();
    assert!(!compiled.has_errors());
    let policy = driver::lower(&compiled, Some(target)).unwrap();
    let files = emit::render(example, target, &backends::emit_all(&policy)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    emit::write(dir.path(), &files).unwrap();
    (compiled, policy, dir)
}

/// Verifies the directory: the diagnostics, each rendered.
fn run_verify(
    compiled: &driver::Compiled,
    policy: &segc::ir::Policy,
    dir: &Path,
) -> (Vec<(Diagnostic, String)>, String) {
    let mut sources = compiled.sources.clone();
    let diagnostics = verify::verify(&mut sources, dir, policy).unwrap();
    // Objects parsed first and read after, as the benchmarks and tools do, find the
    // same: verify reads each object as it parses it only to save memory.
    let mut parsed_sources = compiled.sources.clone();
    let manifests = verify::manifests::read_dir(dir).unwrap();
    assert_eq!(verify::verify_manifests(&mut parsed_sources, dir, policy, manifests), diagnostics);
    let text = render_all(&sources, &diagnostics, ColorChoice::Never);
    let each = diagnostics
        .into_iter()
        .map(|d| {
            let rendered = render_all(&sources, std::slice::from_ref(&d), ColorChoice::Never);
            (d, rendered)
        })
        .collect();
    (each, text)
}

#[test]
fn every_example_verifies_clean_for_every_target() {
    for (example, target) in [
        ("shop.seg", "prod"),
        ("edge.seg", "edge"),
        ("multi-team/main.seg", "prod"),
        ("multi-team/main.seg", "staging"),
    ] {
        let (compiled, policy, dir) = build(example, target);
        let (diagnostics, text) = run_verify(&compiled, &policy, dir.path());
        assert!(diagnostics.is_empty(), "{example} ({target}) does not verify clean:\n{text}");
    }
}

/// One hand edit.
enum Edit {
    /// Replace the first occurrence of a text in a file (which must occur).
    Replace(&'static str, &'static str, &'static str),
    /// Delete a file.
    Delete(&'static str),
    /// Add a file with this content.
    Add(&'static str, &'static str),
}

struct Mutation {
    name: &'static str,
    example: &'static str,
    target: &'static str,
    edits: &'static [Edit],
    code: Code,
    /// Must appear in the rendered diagnostic with that code.
    message: &'static str,
}

fn apply(dir: &Path, edit: &Edit) {
    match edit {
        Edit::Replace(file, from, to) => {
            let path = dir.join(file);
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(text.contains(from), "{file} does not contain {from:?}:\n{text}");
            fs::write(&path, text.replacen(from, to, 1)).unwrap();
        }
        Edit::Delete(file) => fs::remove_file(dir.join(file)).unwrap(),
        Edit::Add(file, text) => {
            let path = dir.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }
}

const SHOP_WEB_IN: &str = "netpol/shop/networkpolicy-web-ingress.yaml";
const SHOP_API_IN: &str = "netpol/shop/networkpolicy-api-ingress.yaml";
const SHOP_DENY: &str = "netpol/shop/networkpolicy-default-deny.yaml";
const SHOP_ISTIO_API: &str = "istio/shop/authorizationpolicy-api.yaml";
const SHOP_INGRESS: &str = "nginx/shop/ingress-web-shop-example-com.yaml";
const PAY_INGRESS: &str = "nginx/payments/ingress-webhooks-pay-example-com.yaml";
const EDGE_ROUTE: &str = "traefik/api/ingressroute-gateway-api-example-com.yaml";

const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "widen a pod selector to the whole namespace",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_API_IN, "      podSelector:\n        matchLabels:\n          app: web\n", "      podSelector: {}\n")],
        code: Code::E0801,
        message: "NetworkPolicy: the ingress side of `api` allows connections from `api`, a pod of `shop` that no segment selects",
    },
    Mutation {
        name: "drop the namespace's default deny",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Delete(SHOP_DENY)],
        code: Code::E0801,
        message: "a pod of `shop` that no segment selects",
    },
    Mutation {
        name: "an egress rule without destinations",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(
            "netpol/shop/networkpolicy-web-egress.yaml",
            "    to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: shop\n      podSelector:\n        matchLabels:\n          app: api\n",
            "",
        )],
        code: Code::E0801,
        message: "NetworkPolicy allows `web` to reach",
    },
    Mutation {
        name: "change a port",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_API_IN, "port: 8080", "port: 8081")],
        code: Code::E0802,
        message: "NetworkPolicy denies `web` → `api` on TCP 8080",
    },
    Mutation {
        name: "a named port that does not exist",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_API_IN, "port: 8080", "port: https")],
        code: Code::E0802,
        message: "NetworkPolicy denies `web` → `api`",
    },
    Mutation {
        name: "add 0.0.0.0/0",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_WEB_IN, "  - from:\n", "  - from:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n")],
        code: Code::E0801,
        message: "an address outside every external",
    },
    Mutation {
        name: "split one peer into two (AND becomes OR)",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(
            SHOP_API_IN,
            "          kubernetes.io/metadata.name: shop\n      podSelector:",
            "          kubernetes.io/metadata.name: shop\n    - podSelector:",
        )],
        code: Code::E0801,
        message: "a pod of `shop` that no segment selects",
    },
    Mutation {
        name: "drop DNS",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Delete("netpol/shop/networkpolicy-allow-dns.yaml")],
        code: Code::E0802,
        message: "`std.dns` on UDP 53",
    },
    Mutation {
        name: "drop Istio's allow-nothing",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Delete("istio/shop/authorizationpolicy-allow-nothing.yaml")],
        code: Code::E0801,
        message: "Istio allows",
    },
    Mutation {
        name: "add a path to an Istio rule",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_ISTIO_API, "        - /healthz\n", "        - /healthz\n        - /admin/*\n")],
        code: Code::E0801,
        message: "/admin",
    },
    Mutation {
        name: "add a method to an Istio rule",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_ISTIO_API, "        - POST\n", "        - POST\n        - DELETE\n")],
        code: Code::E0801,
        message: "DELETE",
    },
    Mutation {
        name: "swap a principal",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_ISTIO_API, "cluster.local/ns/shop/sa/web", "cluster.local/ns/monitoring/sa/prometheus")],
        code: Code::E0802,
        message: "Istio denies `web` → `api`",
    },
    Mutation {
        name: "drop the ports of an Istio rule",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_ISTIO_API, "        ports:\n        - '9090'\n", "        methods:\n        - GET\n")],
        code: Code::E0801,
        message: "Istio allows `std.prometheus`",
    },
    Mutation {
        name: "add an extra ALLOW that matches everything",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Add(
            "extra/allow-all.yaml",
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-all\n  namespace: shop\nspec:\n  action: ALLOW\n  rules:\n  - {}\n",
        )],
        code: Code::E0801,
        message: "Istio allows",
    },
    Mutation {
        name: "turn an ALLOW into a DENY",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_ISTIO_API, "action: ALLOW", "action: DENY")],
        code: Code::E0802,
        message: "Istio denies",
    },
    Mutation {
        name: "remove TLS",
        example: "shop.seg",
        target: "prod",
        edits: &[
            Edit::Replace(SHOP_INGRESS, "  tls:\n  - hosts:\n    - shop.example.com\n    secretName: shop-tls\n", ""),
            Edit::Replace(SHOP_INGRESS, "    nginx.ingress.kubernetes.io/force-ssl-redirect: 'true'\n", ""),
            Edit::Replace(SHOP_INGRESS, "    nginx.ingress.kubernetes.io/ssl-redirect: 'true'\n", ""),
        ],
        code: Code::E0804,
        message: "over plain HTTP",
    },
    Mutation {
        name: "change the host",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_INGRESS, "  - host: shop.example.com\n", "  - host: admin.example.com\n")],
        code: Code::E0804,
        message: "does not route shop.example.com as declared",
    },
    Mutation {
        name: "a second Ingress for the same host, to another segment",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Add(
            "nginx/shop/extra.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: extra\n  namespace: shop\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: shop.example.com\n    http:\n      paths:\n      - path: /admin\n        pathType: Prefix\n        backend:\n          service:\n            name: api\n            port:\n              name: http\n",
        )],
        code: Code::E0803,
        message: "shadow path: ingress-nginx routes shop.example.com to `api`:http, but Istio denies `std.ingress-nginx` → `api`:8080",
    },
    Mutation {
        name: "route to another backend",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_INGRESS, "            name: web\n", "            name: api\n")],
        code: Code::E0804,
        message: "routes shop.example.com to `api`:http, not to the exposed port",
    },
    Mutation {
        name: "drop a client allowlist",
        example: "multi-team/main.seg",
        target: "prod",
        edits: &[Edit::Replace(PAY_INGRESS, "    nginx.ingress.kubernetes.io/whitelist-source-range: 198.51.100.0/24\n", "")],
        code: Code::E0804,
        message: "admits clients outside the exposure's `source`",
    },
    Mutation {
        name: "drop external authentication",
        example: "multi-team/main.seg",
        target: "prod",
        edits: &[Edit::Replace(PAY_INGRESS, "    nginx.ingress.kubernetes.io/auth-url: https://auth.example.com/verify\n", "")],
        code: Code::E0804,
        message: "without the declared external authentication",
    },
    Mutation {
        name: "widen an ingress path from exact to prefix",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Replace(EDGE_ROUTE, "Path(`/status`)", "PathPrefix(`/status`)")],
        code: Code::E0804,
        message: "which no exposure declares",
    },
    Mutation {
        name: "Traefik prefix without its slash matches /v1x",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Replace(EDGE_ROUTE, "(Path(`/v1`) || PathPrefix(`/v1/`))", "PathPrefix(`/v1`)")],
        code: Code::E0804,
        message: "which no exposure declares",
    },
    Mutation {
        name: "move a TLS route to plain HTTP",
        example: "edge.seg",
        target: "edge",
        edits: &[
            Edit::Replace(EDGE_ROUTE, "  - websecure\n", "  - web\n"),
            Edit::Replace(EDGE_ROUTE, "  tls:\n    secretName: api-tls\n", ""),
        ],
        code: Code::E0804,
        message: "over plain HTTP",
    },
    Mutation {
        name: "delete a Linkerd HTTPRoute",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Delete("linkerd/api/httproute-orders-http-gateway.yaml")],
        code: Code::E0802,
        message: "Linkerd denies `gateway` → `orders`",
    },
    Mutation {
        name: "swap a Linkerd identity",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Replace(
            "linkerd/vault/meshtlsauthentication-orders.yaml",
            "orders.api.serviceaccount",
            "gateway.api.serviceaccount",
        )],
        code: Code::E0801,
        message: "Linkerd allows `gateway`",
    },
    Mutation {
        name: "drop Linkerd's default deny",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Replace("linkerd/_cluster/namespace-api.yaml", "config.linkerd.io/default-inbound-policy: deny", "config.linkerd.io/default-inbound-policy: all-unauthenticated")],
        code: Code::E0801,
        message: "a pod of `api` that no segment selects",
    },
    Mutation {
        name: "authorize every network on a Linkerd Server",
        example: "edge.seg",
        target: "edge",
        edits: &[Edit::Replace("linkerd/api/authorizationpolicy-orders-grpc.yaml", "kind: MeshTLSAuthentication\n    name: gateway", "kind: NetworkAuthentication\n    name: all-networks")],
        code: Code::E0801,
        message: "Linkerd allows",
    },
    Mutation {
        name: "an Ingress verify cannot read fully (a snippet)",
        example: "shop.seg",
        target: "prod",
        edits: &[Edit::Replace(SHOP_INGRESS, "  annotations:\n", "  annotations:\n    nginx.ingress.kubernetes.io/configuration-snippet: 'return 200;'\n")],
        code: Code::W0801,
        message: "cannot verify Ingress/web-shop-example-com",
    },
];

#[test]
fn every_mutation_is_caught_with_the_right_message() {
    assert!(MUTATIONS.len() >= 25);
    let mut missed = Vec::new();
    for mutation in MUTATIONS {
        let (compiled, policy, dir) = build(mutation.example, mutation.target);
        for edit in mutation.edits {
            apply(dir.path(), edit);
        }
        let (diagnostics, text) = run_verify(&compiled, &policy, dir.path());
        let matching =
            diagnostics.iter().any(|(d, rendered)| d.code == mutation.code && rendered.contains(mutation.message));
        if !matching {
            missed.push(format!(
                "{}: expected {} containing {:?}, got:\n{text}",
                mutation.name, mutation.code, mutation.message
            ));
        }
    }
    assert!(missed.is_empty(), "{} of {} mutations missed:\n\n{}", missed.len(), MUTATIONS.len(), missed.join("\n\n"));
}
