//! Tests of the NetworkPolicy layer against the hand-built shop policy. Every object is
//! parsed back into the typed NetworkPolicy before it is inspected, so a malformed body
//! fails here.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::ir::sample::{self, shop};
use crate::ir::{Edge, Exposure, External, IngressKind, PathMatch, Protocol, L7};

fn nginx_istio() -> Policy {
    shop(IngressKind::Nginx, MeshKind::Istio)
}

fn typed(object: &Object) -> NetworkPolicy {
    serde_yaml::from_str(object.yaml()).expect("emitted body parses as a NetworkPolicy")
}

/// The spec of the object `name` in `namespace`, or a panic listing what was emitted.
fn spec(objects: &[Object], namespace: &str, name: &str) -> NetworkPolicySpec {
    let found = objects.iter().find(|o| o.namespace.as_deref() == Some(namespace) && o.name == name);
    let Some(object) = found else {
        let all: Vec<String> = objects.iter().map(|o| format!("{:?}/{}", o.namespace, o.name)).collect();
        panic!("no {namespace}/{name} among {all:?}");
    };
    typed(object).spec.expect("every policy has a spec")
}

fn names(objects: &[Object]) -> Vec<(String, String)> {
    objects.iter().map(|o| (o.namespace.clone().unwrap_or_default(), o.name.clone())).collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The peer a test expects for pods `pods` in namespace `ns`.
fn pods_peer(ns: &str, pods: &[(&str, &str)]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(labels(&[("kubernetes.io/metadata.name", ns)])),
            ..LabelSelector::default()
        }),
        pod_selector: Some(LabelSelector { match_labels: Some(labels(pods)), ..LabelSelector::default() }),
        ip_block: None,
    }
}

fn ports(list: &[(u16, &str)]) -> Vec<NetworkPolicyPort> {
    list.iter()
        .map(|(n, t)| NetworkPolicyPort {
            port: Some(IntOrString::Int(i32::from(*n))),
            protocol: Some(t.to_string()),
            end_port: None,
        })
        .collect()
}

fn types(spec: &NetworkPolicySpec) -> Vec<&str> {
    spec.policy_types.iter().flatten().map(String::as_str).collect()
}

/// (peers, ports) of every ingress rule.
fn ingress_rules(spec: &NetworkPolicySpec) -> Vec<(Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> {
    spec.ingress
        .iter()
        .flatten()
        .map(|r| (r.from.clone().unwrap_or_default(), r.ports.clone().unwrap_or_default()))
        .collect()
}

/// (peers, ports) of every egress rule.
fn egress_rules(spec: &NetworkPolicySpec) -> Vec<(Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> {
    spec.egress
        .iter()
        .flatten()
        .map(|r| (r.to.clone().unwrap_or_default(), r.ports.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn shop_emits_exactly_these_policies_sorted_by_namespace_and_name() {
    let objects = emit(&nginx_istio());
    let expected = [
        ("data", "allow-dns"),
        ("data", "allow-mesh-control-plane"),
        ("data", "db-ingress"),
        ("data", "default-deny"),
        ("shop", "allow-dns"),
        ("shop", "allow-mesh-control-plane"),
        ("shop", "api-egress"),
        ("shop", "api-ingress"),
        ("shop", "batch-egress"),
        ("shop", "default-deny"),
        ("shop", "web-egress"),
        ("shop", "web-ingress"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(n, m)| (n.to_string(), m.to_string())).collect();
    assert_eq!(names(&objects), expected);
    for object in &objects {
        assert_eq!(object.backend, Backend::NetworkPolicy);
        assert_eq!(object.api_version, "networking.k8s.io/v1");
        assert_eq!(object.kind, "NetworkPolicy");
        let labels = typed(object).metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("segc"));
    }
}

#[test]
fn yaml_carries_api_version_and_kind_first() {
    let objects = emit(&nginx_istio());
    let yaml = objects[0].yaml().to_string();
    assert!(yaml.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"), "{yaml}");
}

#[test]
fn nothing_is_written_outside_the_managed_namespaces() {
    let policy = nginx_istio();
    for object in emit(&policy) {
        let namespace = object.namespace.expect("NetworkPolicy is namespaced");
        assert!(policy.managed_namespaces.contains(&namespace), "{namespace}/{}", object.name);
    }
}

#[test]
fn default_deny_isolates_every_pod_both_ways_with_no_rules() {
    let objects = emit(&nginx_istio());
    for namespace in ["data", "shop"] {
        let spec = spec(&objects, namespace, "default-deny");
        assert_eq!(spec.pod_selector, Some(LabelSelector::default()));
        assert_eq!(types(&spec), ["Ingress", "Egress"]);
        assert_eq!(spec.ingress, None);
        assert_eq!(spec.egress, None);
    }
    let deny = objects.iter().find(|o| o.name == "default-deny").expect("emitted");
    let yaml = deny.yaml().to_string();
    assert!(yaml.contains("podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n"), "{yaml}");
}

#[test]
fn dns_is_one_peer_of_namespace_and_pods_on_udp_and_tcp_53() {
    let objects = emit(&nginx_istio());
    for namespace in ["data", "shop"] {
        let spec = spec(&objects, namespace, "allow-dns");
        assert_eq!(spec.pod_selector, Some(LabelSelector::default()));
        assert_eq!(types(&spec), ["Egress"]);
        assert_eq!(spec.ingress, None);
        assert_eq!(
            egress_rules(&spec),
            [(vec![pods_peer("kube-system", &[("k8s-app", "kube-dns")])], ports(&[(53, "TCP"), (53, "UDP")]))]
        );
    }
}

#[test]
fn proxies_may_reach_the_mesh_control_plane_and_nothing_else_of_it() {
    let istio = spec(&emit(&nginx_istio()), "shop", ALLOW_MESH_CONTROL_PLANE);
    assert_eq!(types(&istio), ["Egress"]);
    assert_eq!(istio.pod_selector, Some(LabelSelector::default()));
    assert_eq!(
        egress_rules(&istio),
        vec![(vec![pods_peer("istio-system", &[("istio", "pilot")])], ports(&[(15012, "TCP")]))]
    );

    let linkerd = spec(&emit(&shop(IngressKind::Nginx, MeshKind::Linkerd)), "shop", ALLOW_MESH_CONTROL_PLANE);
    assert_eq!(
        egress_rules(&linkerd),
        vec![
            (
                vec![pods_peer("linkerd", &[("linkerd.io/control-plane-component", "destination")])],
                ports(&[(8086, "TCP"), (8090, "TCP")])
            ),
            (
                vec![pods_peer("linkerd", &[("linkerd.io/control-plane-component", "identity")])],
                ports(&[(8080, "TCP")])
            ),
        ]
    );

    let no_mesh = emit(&shop(IngressKind::Nginx, MeshKind::None));
    assert!(no_mesh.iter().all(|o| o.name != ALLOW_MESH_CONTROL_PLANE));
}

#[test]
fn dns_off_emits_no_dns_policy() {
    let mut policy = nginx_istio();
    policy.target.dns = None;
    let objects = emit(&policy);
    assert!(objects.iter().all(|o| o.name != "allow-dns"));
    assert!(objects.iter().any(|o| o.name == "default-deny"));
}

#[test]
fn ingress_has_one_rule_per_source_with_namespace_and_pods_in_one_peer() {
    let objects = emit(&nginx_istio());
    let api = spec(&objects, "shop", "api-ingress");
    assert_eq!(
        api.pod_selector,
        Some(LabelSelector { match_labels: Some(labels(&[("app", "api")])), ..Default::default() })
    );
    assert_eq!(types(&api), ["Ingress"]);
    assert_eq!(api.egress, None);
    assert_eq!(
        ingress_rules(&api),
        [
            (vec![pods_peer("shop", &[("app", "batch")])], ports(&[(9000, "TCP")])),
            (vec![pods_peer("monitoring", &[("app.kubernetes.io/name", "prometheus")])], ports(&[(9090, "TCP")])),
            (vec![pods_peer("shop", &[("app", "web")])], ports(&[(8080, "TCP")])),
        ]
    );
    let db = spec(&objects, "data", "db-ingress");
    assert_eq!(ingress_rules(&db), [(vec![pods_peer("shop", &[("app", "api")])], ports(&[(5432, "TCP")]))]);
}

#[test]
fn exposures_admit_the_target_ingress_controller_on_the_pod_port() {
    let nginx = spec(&emit(&nginx_istio()), "shop", "web-ingress");
    let controller = [("app.kubernetes.io/component", "controller"), ("app.kubernetes.io/name", "ingress-nginx")];
    assert_eq!(ingress_rules(&nginx), [(vec![pods_peer("ingress-nginx", &controller)], ports(&[(8080, "TCP")]))]);

    let traefik = spec(&emit(&shop(IngressKind::Traefik, MeshKind::Istio)), "shop", "web-ingress");
    assert_eq!(
        ingress_rules(&traefik),
        [(vec![pods_peer("traefik", &[("app.kubernetes.io/name", "traefik")])], ports(&[(8080, "TCP")]))]
    );
}

#[test]
fn egress_has_one_rule_per_destination_and_one_ip_block_per_cidr() {
    let mut policy = nginx_istio();
    policy.externals[sample::STRIPE.0].cidrs = vec!["198.51.100.0/24".into(), "203.0.113.0/24".into()];
    let objects = emit(&policy);
    let api = spec(&objects, "shop", "api-egress");
    assert_eq!(types(&api), ["Egress"]);
    assert_eq!(api.ingress, None);
    let block = |cidr: &str| NetworkPolicyPeer {
        ip_block: Some(k8s_openapi::api::networking::v1::IPBlock { cidr: cidr.into(), except: None }),
        ..NetworkPolicyPeer::default()
    };
    assert_eq!(
        egress_rules(&api),
        [
            (vec![pods_peer("data", &[("app", "postgres")])], ports(&[(5432, "TCP")])),
            (vec![block("198.51.100.0/24"), block("203.0.113.0/24")], ports(&[(443, "TCP")])),
        ]
    );
    let web = spec(&objects, "shop", "web-egress");
    assert_eq!(egress_rules(&web), [(vec![pods_peer("shop", &[("app", "api")])], ports(&[(8080, "TCP")]))]);
}

#[test]
fn std_segments_get_only_the_managed_side() {
    let objects = emit(&nginx_istio());
    // std.prometheus -> api: api accepts it (checked above), but nothing is emitted for
    // prometheus's own egress, nor for the controller's or DNS's ingress.
    for namespace in ["monitoring", "ingress-nginx", "kube-system"] {
        assert!(objects.iter().all(|o| o.namespace.as_deref() != Some(namespace)));
    }
    assert!(objects.iter().all(|o| !o.name.starts_with("std-")));

    // api -> std.prometheus: only api's egress.
    let mut policy = nginx_istio();
    let web = Port { name: "web".into(), number: 9090, protocol: Protocol::Http };
    policy.edges.push(Edge {
        source: sample::API,
        destination: Destination::Segment(sample::PROMETHEUS),
        port: web,
        l7: L7::Any,
        decls: vec![],
    });
    let objects = emit(&policy);
    assert!(objects.iter().all(|o| o.namespace.as_deref() != Some("monitoring")));
    let api = spec(&objects, "shop", "api-egress");
    assert!(egress_rules(&api).contains(&(
        vec![pods_peer("monitoring", &[("app.kubernetes.io/name", "prometheus")])],
        ports(&[(9090, "TCP")])
    )));
}

#[test]
fn ports_of_one_source_are_merged_sorted_and_deduplicated() {
    let mut policy = nginx_istio();
    // web may now also call api:metrics (9090) and api:grpc (9000); and a second name
    // for 8080 must not repeat the port.
    let port = |name: &str, number, protocol| Port { name: String::from(name), number, protocol };
    policy.segments[sample::API.0].ports.push(port("alt", 8080, Protocol::Tcp));
    for p in
        [port("metrics", 9090, Protocol::Http), port("grpc", 9000, Protocol::Grpc), port("alt", 8080, Protocol::Tcp)]
    {
        policy.edges.push(Edge {
            source: sample::WEB,
            destination: Destination::Segment(sample::API),
            port: p,
            l7: L7::Any,
            decls: vec![],
        });
    }
    let objects = emit(&policy);
    let api = spec(&objects, "shop", "api-ingress");
    let from_web = ingress_rules(&api).into_iter().find(|(peers, _)| peers == &[pods_peer("shop", &[("app", "web")])]);
    assert_eq!(from_web.map(|(_, p)| p), Some(ports(&[(8080, "TCP"), (9000, "TCP"), (9090, "TCP")])));
    let web = spec(&objects, "shop", "web-egress");
    assert_eq!(
        egress_rules(&web),
        [(vec![pods_peer("shop", &[("app", "api")])], ports(&[(8080, "TCP"), (9000, "TCP"), (9090, "TCP")]))]
    );
}

#[test]
fn udp_ports_keep_their_transport() {
    let mut policy = nginx_istio();
    let syslog = Port { name: "syslog".into(), number: 514, protocol: Protocol::Udp };
    policy.segments[sample::DB.0].ports.push(syslog.clone());
    policy.edges.push(Edge {
        source: sample::API,
        destination: Destination::Segment(sample::DB),
        port: syslog,
        l7: L7::Any,
        decls: vec![],
    });
    let db = spec(&emit(&policy), "data", "db-ingress");
    assert_eq!(
        ingress_rules(&db),
        [(vec![pods_peer("shop", &[("app", "api")])], ports(&[(514, "UDP"), (5432, "TCP")]))]
    );
}

#[test]
fn an_edge_and_an_exposure_from_the_controller_share_one_rule() {
    let mut policy = nginx_istio();
    policy.edges.push(Edge {
        source: sample::INGRESS_NGINX,
        destination: Destination::Segment(sample::API),
        port: Port { name: "http".into(), number: 8080, protocol: Protocol::Http },
        l7: L7::Any,
        decls: vec![],
    });
    policy.exposures.push(Exposure {
        segment: sample::API,
        port: Port { name: "metrics".into(), number: 9090, protocol: Protocol::Http },
        host: "metrics.example.com".into(),
        paths: vec![PathMatch::Prefix("/".into())],
        tls_secret: None,
        sources: vec![],
        auth_url: None,
        decl: policy.exposures[0].decl,
    });
    let api = spec(&emit(&policy), "shop", "api-ingress");
    let controller = [("app.kubernetes.io/component", "controller"), ("app.kubernetes.io/name", "ingress-nginx")];
    let from_controller: Vec<_> = ingress_rules(&api)
        .into_iter()
        .filter(|(peers, _)| peers == &[pods_peer("ingress-nginx", &controller)])
        .collect();
    assert_eq!(
        from_controller,
        [(vec![pods_peer("ingress-nginx", &controller)], ports(&[(8080, "TCP"), (9090, "TCP")]))]
    );
}

/// The shape that keeps every rule no wider than declared, checked on every object of
/// several targets and variants.
#[test]
fn no_rule_is_wider_than_declared() {
    let mut managed_controller = nginx_istio();
    managed_controller.segments[sample::INGRESS_NGINX.0].managed = true;
    managed_controller.managed_namespaces.push("ingress-nginx".into());
    managed_controller.managed_namespaces.sort();
    let policies = [
        nginx_istio(),
        shop(IngressKind::Traefik, MeshKind::Linkerd),
        shop(IngressKind::Nginx, MeshKind::None),
        managed_controller,
    ];
    for policy in &policies {
        for object in emit(policy) {
            let spec = typed(&object).spec.expect("spec");
            assert!(spec.pod_selector.is_some(), "{}: podSelector is always explicit", object.name);
            assert!(!types(&spec).is_empty(), "{}: policyTypes are always explicit", object.name);
            let rules = ingress_rules(&spec).into_iter().chain(egress_rules(&spec));
            for (peers, ports) in rules {
                assert!(!peers.is_empty(), "{}: empty from/to admits everyone", object.name);
                assert!(!ports.is_empty(), "{}: a rule without ports admits every port", object.name);
                for port in &ports {
                    assert!(
                        matches!(port.port, Some(IntOrString::Int(n)) if n > 0),
                        "{}: numbered ports only",
                        object.name
                    );
                    assert!(matches!(port.protocol.as_deref(), Some("TCP" | "UDP")));
                    assert_eq!(port.end_port, None);
                }
                for peer in &peers {
                    match (&peer.ip_block, &peer.namespace_selector, &peer.pod_selector) {
                        (Some(block), None, None) => assert_eq!(block.except, None),
                        (None, Some(ns), Some(_)) => {
                            let ns = ns.match_labels.as_ref().expect("namespace by name");
                            assert_eq!(ns.keys().collect::<Vec<_>>(), ["kubernetes.io/metadata.name"]);
                        }
                        other => panic!("{}: peer {other:?} is neither pods of one namespace nor a CIDR", object.name),
                    }
                }
            }
        }
    }
}

#[test]
fn only_a_managed_dns_accepts_pods_of_every_managed_namespace() {
    // std.dns is unmanaged in the sample: no peer admits whole namespaces.
    let objects = emit(&nginx_istio());
    for object in &objects {
        let spec = typed(object).spec.expect("spec");
        for (peers, _) in ingress_rules(&spec) {
            assert!(peers.iter().all(|p| p.pod_selector != Some(LabelSelector::default())), "{}", object.name);
        }
    }

    let mut policy = nginx_istio();
    policy.segments[sample::DNS.0].managed = true;
    policy.managed_namespaces = vec!["data".into(), "kube-system".into(), "shop".into()];
    let dns = spec(&emit(&policy), "kube-system", "std-dns-ingress");
    let every_pod_of = |ns: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(labels(&[("kubernetes.io/metadata.name", ns)])),
            ..LabelSelector::default()
        }),
        pod_selector: Some(LabelSelector::default()),
        ip_block: None,
    };
    assert_eq!(
        ingress_rules(&dns),
        ["data", "kube-system", "shop"].map(|ns| (vec![every_pod_of(ns)], ports(&[(53, "TCP"), (53, "UDP")])))
    );
}

#[test]
fn a_managed_controller_accepts_clients_and_calls_exposed_segments() {
    let mut policy = nginx_istio();
    policy.segments[sample::INGRESS_NGINX.0].managed = true;
    policy.managed_namespaces = vec!["data".into(), "ingress-nginx".into(), "shop".into()];
    let objects = emit(&policy);
    let egress = spec(&objects, "ingress-nginx", "std-ingress-nginx-egress");
    assert_eq!(egress_rules(&egress), [(vec![pods_peer("shop", &[("app", "web")])], ports(&[(8080, "TCP")]))]);

    let ingress = spec(&objects, "ingress-nginx", "std-ingress-nginx-ingress");
    let block = |cidr: &str| NetworkPolicyPeer {
        ip_block: Some(k8s_openapi::api::networking::v1::IPBlock { cidr: cidr.into(), except: None }),
        ..NetworkPolicyPeer::default()
    };
    let controller_ports = ports(&[(80, "TCP"), (443, "TCP")]);
    assert_eq!(
        ingress_rules(&ingress),
        [(vec![block("0.0.0.0/0")], controller_ports.clone()), (vec![block("::/0")], controller_ports.clone())]
    );

    // Anywhere absorbs another exposure's allowlist.
    let mut second = policy.exposures[0].clone();
    second.host = "admin.example.com".into();
    second.sources = vec!["192.0.2.0/24".into()];
    policy.exposures.push(second);
    let ingress = spec(&emit(&policy), "ingress-nginx", "std-ingress-nginx-ingress");
    assert_eq!(ingress_rules(&ingress).len(), 2);
    policy.exposures.pop();

    // With a source allowlist, only those clients.
    policy.exposures[0].sources = vec!["192.0.2.0/24".into()];
    let ingress = spec(&emit(&policy), "ingress-nginx", "std-ingress-nginx-ingress");
    assert_eq!(ingress_rules(&ingress), [(vec![block("192.0.2.0/24")], controller_ports)]);
}

#[test]
fn linkerd_adds_the_proxy_inbound_port_between_meshed_pods_only() {
    let objects = emit(&shop(IngressKind::Nginx, MeshKind::Linkerd));
    let api = spec(&objects, "shop", "api-ingress");
    assert_eq!(
        ingress_rules(&api),
        [
            // batch is unmeshed: its connections keep their port on the wire.
            (vec![pods_peer("shop", &[("app", "batch")])], ports(&[(9000, "TCP")])),
            (
                vec![pods_peer("monitoring", &[("app.kubernetes.io/name", "prometheus")])],
                ports(&[(4143, "TCP"), (9090, "TCP")])
            ),
            (vec![pods_peer("shop", &[("app", "web")])], ports(&[(4143, "TCP"), (8080, "TCP")])),
        ]
    );
    let api_egress = spec(&objects, "shop", "api-egress");
    let rules = egress_rules(&api_egress);
    assert_eq!(rules[0], (vec![pods_peer("data", &[("app", "postgres")])], ports(&[(4143, "TCP"), (5432, "TCP")])));
    // An external is never meshed.
    assert_eq!(rules[1].1, ports(&[(443, "TCP")]));
    // DNS keeps port 53 only.
    let dns = spec(&objects, "shop", "allow-dns");
    assert_eq!(egress_rules(&dns)[0].1, ports(&[(53, "TCP"), (53, "UDP")]));

    // Istio keeps the original port on the wire: no extra port.
    let istio = spec(&emit(&nginx_istio()), "shop", "api-ingress");
    assert!(ingress_rules(&istio).iter().all(|(_, p)| p.iter().all(|p| p.port != Some(IntOrString::Int(4143)))));
}

#[test]
fn an_external_without_addresses_never_becomes_an_empty_to() {
    let mut policy = nginx_istio();
    policy.externals[sample::STRIPE.0].cidrs.clear();
    let api = spec(&emit(&policy), "shop", "api-egress");
    assert_eq!(egress_rules(&api), [(vec![pods_peer("data", &[("app", "postgres")])], ports(&[(5432, "TCP")]))]);

    // A segment whose only destination has no addresses gets no egress policy at all.
    let mut policy = nginx_istio();
    policy.externals.push(External {
        name: "void".into(),
        slug: "void".into(),
        cidrs: vec![],
        ports: vec![],
        decl: policy.externals[0].decl,
    });
    let void = ExternalId(1);
    policy.edges.retain(|e| e.source != sample::BATCH);
    policy.edges.push(Edge {
        source: sample::BATCH,
        destination: Destination::External(void),
        port: Port { name: "https".into(), number: 443, protocol: Protocol::Tcp },
        l7: L7::Any,
        decls: vec![],
    });
    assert!(emit(&policy).iter().all(|o| o.name != "batch-egress"));
}

#[test]
fn the_same_policy_gives_identical_objects() {
    for (ingress, mesh) in [(IngressKind::Nginx, MeshKind::Istio), (IngressKind::Traefik, MeshKind::Linkerd)] {
        let one = emit(&shop(ingress, mesh));
        let two = emit(&shop(ingress, mesh));
        assert_eq!(one, two);
        let text = |objects: &[Object]| -> Vec<String> { objects.iter().map(|o| o.yaml().to_string()).collect() };
        assert_eq!(text(&one), text(&two));
        let keys: Vec<_> = one.iter().map(|o| (o.namespace.clone(), o.name.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "sorted by (namespace, name) and unique");
    }
}

#[test]
fn packed_peers_are_the_segments_own() {
    let mut policy = nginx_istio();
    // A segment without labels, and one whose label texts run into each other.
    policy.segments[0].selector.clear();
    policy.segments[1].selector = labels(&[("a", "bc"), ("ab", "c"), ("tier", "")]);
    let packed = PeerTexts::new(&policy);
    for (i, segment) in policy.segments.iter().enumerate() {
        assert_eq!(packed.peer(SegmentId(i)), segment_peer(segment), "segment {}", segment.name);
    }
}
