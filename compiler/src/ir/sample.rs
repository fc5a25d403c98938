//! A hand-built policy (shop.seg from the language sketch, plus a probe, an
//! unmeshed segment and a gRPC port) for backend unit tests, independent of the front
//! end so that a backend test fails only for the backend's own reasons.

use std::collections::BTreeMap;

use super::*;
use crate::diag::{FileId, Span};

fn span() -> Span {
    Span::new(FileId(0), 0..0)
}

fn port(name: &str, number: u16, protocol: Protocol) -> Port {
    Port { name: name.into(), number, protocol }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[allow(clippy::too_many_arguments)]
fn segment(
    name: &str,
    namespace: &str,
    selector: &[(&str, &str)],
    account: &str,
    ports: Vec<Port>,
    managed: bool,
    trust: &str,
) -> Segment {
    Segment {
        name: name.into(),
        slug: name.replace('.', "-"),
        namespace: namespace.into(),
        selector: labels(selector),
        account: account.into(),
        service: name.trim_start_matches("std.").into(),
        ports,
        meshed: true,
        managed,
        trust: trust.into(),
        probes: Vec::new(),
        decl: span(),
    }
}

/// Segment ids in [`shop`], sorted by name as the IR requires.
pub const API: SegmentId = SegmentId(0);
pub const BATCH: SegmentId = SegmentId(1);
pub const DB: SegmentId = SegmentId(2);
pub const DNS: SegmentId = SegmentId(3);
pub const INGRESS_NGINX: SegmentId = SegmentId(4);
pub const ISTIOD: SegmentId = SegmentId(5);
pub const LINKERD_DESTINATION: SegmentId = SegmentId(6);
pub const LINKERD_IDENTITY: SegmentId = SegmentId(7);
pub const PROMETHEUS: SegmentId = SegmentId(8);
pub const TRAEFIK: SegmentId = SegmentId(9);
pub const WEB: SegmentId = SegmentId(10);
pub const STRIPE: ExternalId = ExternalId(0);
/// The managed namespaces, `data` and `shop`.
pub const DATA: NamespaceId = NamespaceId(0);
pub const SHOP: NamespaceId = NamespaceId(1);

/// shop.seg lowered for `target`'s ingress and mesh, plus:
/// - `batch` in `shop`, unmeshed, calling `api:grpc` (a gRPC port of api);
/// - a probe of `web:http` on `/healthz`.
pub fn shop(ingress: IngressKind, mesh: MeshKind) -> Policy {
    let mut web =
        segment("web", "shop", &[("app", "web")], "web", vec![port("http", 8080, Protocol::Http)], true, "dmz");
    web.probes =
        vec![Probe { port: port("http", 8080, Protocol::Http), paths: vec![PathMatch::Exact("/healthz".into())] }];
    let mut batch = segment("batch", "shop", &[("app", "batch")], "batch", vec![], true, "internal");
    batch.meshed = false;
    let segments = vec![
        segment(
            "api",
            "shop",
            &[("app", "api")],
            "api",
            vec![
                port("grpc", 9000, Protocol::Grpc),
                port("http", 8080, Protocol::Http),
                port("metrics", 9090, Protocol::Http),
            ],
            true,
            "internal",
        ),
        batch,
        segment(
            "db",
            "data",
            &[("app", "postgres")],
            "postgres",
            vec![port("pg", 5432, Protocol::Tcp)],
            true,
            "restricted",
        ),
        segment(
            "std.dns",
            "kube-system",
            &[("k8s-app", "kube-dns")],
            "coredns",
            vec![port("dns", 53, Protocol::Udp), port("dns-tcp", 53, Protocol::Tcp)],
            false,
            "platform",
        ),
        segment(
            "std.ingress-nginx",
            "ingress-nginx",
            &[("app.kubernetes.io/component", "controller"), ("app.kubernetes.io/name", "ingress-nginx")],
            "ingress-nginx",
            vec![port("http", 80, Protocol::Http), port("https", 443, Protocol::Tcp)],
            false,
            "platform",
        ),
        segment(
            "std.istiod",
            "istio-system",
            &[("istio", "pilot")],
            "istiod",
            vec![port("xds", 15012, Protocol::Tcp)],
            false,
            "platform",
        ),
        segment(
            "std.linkerd-destination",
            "linkerd",
            &[("linkerd.io/control-plane-component", "destination")],
            "linkerd-destination",
            vec![port("destination", 8086, Protocol::Tcp), port("policy", 8090, Protocol::Tcp)],
            false,
            "platform",
        ),
        segment(
            "std.linkerd-identity",
            "linkerd",
            &[("linkerd.io/control-plane-component", "identity")],
            "linkerd-identity",
            vec![port("identity", 8080, Protocol::Tcp)],
            false,
            "platform",
        ),
        segment(
            "std.prometheus",
            "monitoring",
            &[("app.kubernetes.io/name", "prometheus")],
            "prometheus",
            vec![port("web", 9090, Protocol::Http)],
            false,
            "platform",
        ),
        segment(
            "std.traefik",
            "traefik",
            &[("app.kubernetes.io/name", "traefik")],
            "traefik",
            vec![port("web", 8000, Protocol::Http), port("websecure", 8443, Protocol::Tcp)],
            false,
            "platform",
        ),
        web,
    ];
    let externals = vec![External {
        name: "stripe".into(),
        slug: "stripe".into(),
        cidrs: vec!["203.0.113.0/24".into()],
        ports: vec![port("https", 443, Protocol::Tcp)],
        decl: span(),
    }];
    let edge = |source, destination, port: Port, l7| Edge { source, destination, port, l7, decls: vec![span()] };
    let edges = vec![
        edge(API, Destination::Segment(DB), port("pg", 5432, Protocol::Tcp), L7::Any),
        edge(API, Destination::External(STRIPE), port("https", 443, Protocol::Tcp), L7::Any),
        edge(BATCH, Destination::Segment(API), port("grpc", 9000, Protocol::Grpc), L7::Any),
        edge(PROMETHEUS, Destination::Segment(API), port("metrics", 9090, Protocol::Http), L7::Any),
        edge(
            WEB,
            Destination::Segment(API),
            port("http", 8080, Protocol::Http),
            L7::Rules(vec![HttpRule {
                methods: vec!["GET".into(), "POST".into()],
                paths: vec![PathMatch::Exact("/healthz".into()), PathMatch::Prefix("/api".into())],
            }]),
        ),
    ];
    let exposures = vec![Exposure {
        segment: WEB,
        port: port("http", 8080, Protocol::Http),
        host: "shop.example.com".into(),
        paths: vec![PathMatch::Prefix("/".into())],
        tls_secret: Some("shop-tls".into()),
        sources: vec![],
        auth_url: None,
        decl: span(),
    }];
    let controller = match ingress {
        IngressKind::Nginx => INGRESS_NGINX,
        IngressKind::Traefik => TRAEFIK,
    };
    Policy {
        source_name: "shop.seg".into(),
        target: Target {
            name: "prod".into(),
            ingress,
            mesh,
            trust_domain: "cluster.local".into(),
            identity_suffix: "serviceaccount.identity.linkerd.cluster.local".into(),
            controller,
            dns: Some(DNS),
            control_plane: match mesh {
                MeshKind::Istio => vec![ISTIOD],
                MeshKind::Linkerd => vec![LINKERD_DESTINATION, LINKERD_IDENTITY],
                MeshKind::None => vec![],
            },
        },
        segments,
        externals,
        edges,
        exposures,
        managed_namespaces: vec!["data".into(), "shop".into()],
    }
}

/// `policy` plus an exposure of `api:grpc` on `api.example.com` with an exact and a
/// prefix path, two client ranges, external auth and no TLS: every exposure feature the
/// sample's own exposure leaves out.
pub fn with_api_exposure(mut policy: Policy) -> Policy {
    let mut api = policy.exposures[0].clone();
    api.segment = API;
    api.port = port("grpc", 9000, Protocol::Grpc);
    api.host = "api.example.com".into();
    api.paths = vec![PathMatch::Exact("/healthz".into()), PathMatch::Prefix("/x".into())];
    api.tls_secret = None;
    api.sources = vec!["10.0.0.0/8".into(), "198.51.100.0/24".into()];
    api.auth_url = Some("https://auth.example.com/verify".into());
    policy.exposures.push(api);
    policy.exposures.sort_by(|a, b| (&a.host, &a.paths).cmp(&(&b.host, &b.paths)));
    policy
}
