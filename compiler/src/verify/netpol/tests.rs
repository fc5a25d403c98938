//! Tests of the NetworkPolicy interpreter: one focused test per rule of the API's
//! semantics on hand-written manifests, and segc's own output, which must allow exactly
//! what the sample policy declares.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::ir::sample::{self, shop, API, BATCH, DB, DNS, INGRESS_NGINX, PROMETHEUS, STRIPE, WEB};
use crate::ir::{Destination, IngressKind, MeshKind, Policy, Port, SegmentId};
use crate::verify::manifests::parse_documents;
use crate::verify::world::{Transport, OTHER_NAMESPACE};

/// A NetworkPolicy document with `spec` written in YAML flow style.
fn np(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n---\n"
    )
}

fn read(yaml: &str) -> (NetworkPolicies, Vec<Problem>) {
    NetworkPolicies::new(&parse_documents(Path::new("t.yaml"), yaml).expect("test YAML parses"))
}

/// The layer of manifests that must all be readable.
fn layer(yaml: &str) -> NetworkPolicies {
    let (layer, problems) = read(yaml);
    assert!(problems.is_empty(), "unexpected problems: {problems:?}");
    layer
}

fn shop_policy() -> Policy {
    shop(IngressKind::Nginx, MeshKind::None)
}

fn seg(id: SegmentId) -> Endpoint {
    Endpoint::Segment(id)
}

fn tcp(number: u16) -> L4Port {
    L4Port { number, transport: Transport::Tcp }
}

fn udp(number: u16) -> L4Port {
    L4Port { number, transport: Transport::Udp }
}

fn connection(source: &Endpoint, destination: &Endpoint, port: L4Port) -> Connection {
    Connection { source: source.clone(), destination: destination.clone(), port }
}

fn decide(layer: &NetworkPolicies, world: &World, source: &Endpoint, destination: &Endpoint, port: L4Port) -> Decision {
    layer.decide(world, &connection(source, destination, port), None)
}

fn allows(layer: &NetworkPolicies, world: &World, source: &Endpoint, destination: &Endpoint, port: L4Port) -> bool {
    decide(layer, world, source, destination, port).allowed
}

fn names(decision: &Decision) -> Vec<&str> {
    decision.because.iter().map(|r| r.name.as_str()).collect()
}

fn other_pod(namespace: &str) -> Endpoint {
    Endpoint::OtherPod(shop_policy().namespace_id(namespace).expect("a managed namespace"))
}

#[test]
fn without_policies_everything_is_allowed_and_only_pods_are_governed() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let layer = layer("");
    let d = decide(&layer, &world, &seg(WEB), &seg(DB), tcp(1234));
    assert!(d.allowed && d.because.is_empty());
    assert!(layer.governs(&world, &connection(&Endpoint::Internet, &seg(WEB), tcp(80))));
    assert!(layer.governs(&world, &connection(&seg(API), &Endpoint::External(STRIPE), tcp(443))));
    assert!(!layer.governs(&world, &connection(&Endpoint::Internet, &Endpoint::External(STRIPE), tcp(443))));
    assert!(layer.paths().is_empty());
    assert_eq!(layer.name(), "NetworkPolicy");
}

#[test]
fn other_kinds_and_groups_are_ignored() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: shop}\nspec: {podSelector: {}}\n---\n\
                apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: y, namespace: shop}\nspec: {}\n";
    let layer = layer(yaml);
    assert!(layer.policies.is_empty());
}

#[test]
fn default_deny_isolates_only_the_pods_of_its_namespace() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let layer = layer(&np("shop", "deny", "{podSelector: {}, policyTypes: [Ingress]}"));
    let d = decide(&layer, &world, &seg(WEB), &seg(API), tcp(8080));
    assert!(!d.allowed);
    assert_eq!(names(&d), ["deny"]);
    assert!(!allows(&layer, &world, &Endpoint::Internet, &other_pod("shop"), tcp(80)));
    // `data` has no policy; egress from `shop` is not isolated.
    assert!(allows(&layer, &world, &seg(API), &seg(DB), tcp(5432)));
    assert!(allows(&layer, &world, &seg(WEB), &Endpoint::Internet, tcp(443)));
}

#[test]
fn a_policy_without_policy_types_isolates_ingress_and_egress_only_with_egress_rules() {
    let policy = shop_policy();
    let world = World::new(&policy);
    // Only ingress rules: ingress isolated, egress open.
    let ingress_only = layer(&np(
        "shop",
        "api",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}",
    ));
    assert!(allows(&ingress_only, &world, &seg(WEB), &seg(API), tcp(8080)));
    assert!(!allows(&ingress_only, &world, &seg(BATCH), &seg(API), tcp(9000)));
    assert!(allows(&ingress_only, &world, &seg(API), &Endpoint::Internet, tcp(443)));

    // Egress rules and no ingress rules: Ingress is still implied, so nothing gets in.
    let egress_rules = layer(&np(
        "shop",
        "api",
        "{podSelector: {matchLabels: {app: api}}, egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: postgres}}}]}]}",
    ));
    assert!(allows(&egress_rules, &world, &seg(API), &seg(DB), tcp(5432)));
    assert!(!allows(&egress_rules, &world, &seg(API), &Endpoint::External(STRIPE), tcp(443)));
    assert!(!allows(&egress_rules, &world, &seg(WEB), &seg(API), tcp(8080)));

    // An empty egress list does not imply Egress.
    let empty_egress = layer(&np("shop", "api", "{podSelector: {matchLabels: {app: api}}, egress: []}"));
    assert!(allows(&empty_egress, &world, &seg(API), &Endpoint::Internet, tcp(443)));
    assert!(!allows(&empty_egress, &world, &seg(WEB), &seg(API), tcp(8080)));

    // Rules of a direction that policyTypes leaves out are ignored.
    let ignored =
        layer(&np("shop", "api", "{podSelector: {matchLabels: {app: api}}, policyTypes: [Egress], ingress: [{}]}"));
    assert!(allows(&ignored, &world, &seg(WEB), &seg(API), tcp(8080)));
    assert!(!allows(&ignored, &world, &seg(API), &seg(DB), tcp(5432)));
}

#[test]
fn a_policy_without_spec_denies_all_ingress_in_its_namespace() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let layer =
        layer("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bare, namespace: data}\n");
    assert!(!allows(&layer, &world, &seg(API), &seg(DB), tcp(5432)));
    assert!(allows(&layer, &world, &seg(DB), &seg(API), tcp(8080)));
}

#[test]
fn namespace_and_pod_selectors_in_one_peer_are_and_in_two_peers_or() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let shop_ns = "namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}";
    let web = "podSelector: {matchLabels: {app: web}}";
    let and = layer(&np(
        "data",
        "db",
        &format!("{{podSelector: {{matchLabels: {{app: postgres}}}}, ingress: [{{from: [{{{shop_ns}, {web}}}]}}]}}"),
    ));
    assert!(allows(&and, &world, &seg(WEB), &seg(DB), tcp(5432)));
    assert!(!allows(&and, &world, &seg(API), &seg(DB), tcp(5432)));
    assert!(!allows(&and, &world, &other_pod("data"), &seg(DB), tcp(5432)));

    let or = layer(&np(
        "data",
        "db",
        &format!(
            "{{podSelector: {{matchLabels: {{app: postgres}}}}, ingress: [{{from: [{{{shop_ns}}}, {{{web}}}]}}]}}"
        ),
    ));
    // Any pod of `shop`; `app=web` alone means the policy's own namespace, `data`.
    assert!(allows(&or, &world, &seg(API), &seg(DB), tcp(5432)));
    assert!(allows(&or, &world, &other_pod("shop"), &seg(DB), tcp(5432)));
    assert!(!allows(&or, &world, &other_pod("data"), &seg(DB), tcp(5432)));
    assert!(!allows(&or, &world, &Endpoint::OtherNamespace, &seg(DB), tcp(5432)));
}

#[test]
fn empty_selectors_and_empty_lists_match_everything_they_can() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let spec = |ingress: &str| format!("{{podSelector: {{matchLabels: {{app: api}}}}, ingress: [{ingress}]}}");

    let all_namespaces = layer(&np("shop", "x", &spec("{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}")));
    assert!(allows(&all_namespaces, &world, &Endpoint::OtherNamespace, &seg(API), tcp(8080)));
    assert!(allows(&all_namespaces, &world, &seg(DNS), &seg(API), tcp(8080)));
    assert!(!allows(&all_namespaces, &world, &Endpoint::Internet, &seg(API), tcp(8080)));
    assert!(!allows(&all_namespaces, &world, &seg(WEB), &seg(API), tcp(9000)));

    let own_namespace = layer(&np("shop", "x", &spec("{from: [{podSelector: {}}]}")));
    assert!(allows(&own_namespace, &world, &other_pod("shop"), &seg(API), tcp(1)));
    assert!(!allows(&own_namespace, &world, &other_pod("data"), &seg(API), tcp(8080)));

    for everything in ["{}", "{from: [], ports: []}", "null"] {
        let layer = layer(&np("shop", "x", &spec(everything)));
        assert!(allows(&layer, &world, &Endpoint::Internet, &seg(API), udp(7)), "{everything}");
        assert!(allows(&layer, &world, &Endpoint::OtherNamespace, &seg(API), tcp(65535)), "{everything}");
    }
}

#[test]
fn match_expressions_follow_label_selector_semantics() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let isolate = |expression: &str| {
        layer(&np(
            "shop",
            "x",
            &format!("{{podSelector: {{matchExpressions: [{expression}]}}, policyTypes: [Ingress]}}"),
        ))
    };
    let isolated = |layer: &NetworkPolicies, e: &Endpoint| !allows(layer, &world, &Endpoint::Internet, e, tcp(80));

    let l = isolate("{key: app, operator: In, values: [api, web]}");
    assert!(isolated(&l, &seg(API)) && isolated(&l, &seg(WEB)));
    assert!(!isolated(&l, &seg(BATCH)) && !isolated(&l, &other_pod("shop")));

    // NotIn also matches pods without the key.
    let l = isolate("{key: app, operator: NotIn, values: [api]}");
    assert!(!isolated(&l, &seg(API)));
    assert!(isolated(&l, &seg(WEB)) && isolated(&l, &other_pod("shop")));

    let l = isolate("{key: app, operator: Exists}");
    assert!(isolated(&l, &seg(API)) && !isolated(&l, &other_pod("shop")));

    let l = isolate("{key: app, operator: DoesNotExist}");
    assert!(!isolated(&l, &seg(API)) && isolated(&l, &other_pod("shop")));

    // matchLabels AND matchExpressions.
    let l = layer(&np(
        "shop",
        "x",
        "{podSelector: {matchLabels: {app: api}, matchExpressions: [{key: app, operator: In, values: [web]}]}, policyTypes: [Ingress]}",
    ));
    assert!(!isolated(&l, &seg(API)) && !isolated(&l, &seg(WEB)));
    // The policy's namespace bounds its selector: a policy in `data` never isolates `shop`.
    let l = layer(&np("data", "x", "{podSelector: {matchExpressions: [{key: app, operator: Exists}]}}"));
    assert!(!isolated(&l, &seg(API)) && isolated(&l, &seg(DB)));
}

#[test]
fn named_ports_resolve_against_the_destination_pod() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let ingress = |ports: &str| {
        layer(&np(
            "shop",
            "x",
            &format!("{{podSelector: {{matchLabels: {{app: api}}}}, ingress: [{{ports: [{ports}]}}]}}"),
        ))
    };

    let http = ingress("{port: http}");
    assert!(allows(&http, &world, &seg(WEB), &seg(API), tcp(8080)));
    assert!(!allows(&http, &world, &seg(WEB), &seg(API), tcp(9000)));
    // The name's protocol must match the rule's.
    let udp_http = ingress("{port: http, protocol: UDP}");
    assert!(!allows(&udp_http, &world, &seg(WEB), &seg(API), tcp(8080)));
    assert!(!allows(&udp_http, &world, &seg(WEB), &seg(API), udp(8080)));
    // A name no container port has matches nothing.
    let nope = ingress("{port: nope}");
    for port in [tcp(8080), tcp(9000), tcp(9090)] {
        assert!(!allows(&nope, &world, &seg(WEB), &seg(API), port));
    }
    assert!(rule_ports(&world, &nope.policies[0].ingress.as_ref().unwrap()[0], &seg(API)).is_empty());

    // Egress: the name is the destination's, not the source's.
    let egress = layer(&np(
        "shop",
        "x",
        "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{ports: [{port: pg}, {port: https}]}]}",
    ));
    assert!(allows(&egress, &world, &seg(WEB), &seg(DB), tcp(5432)));
    assert!(!allows(&egress, &world, &seg(WEB), &seg(API), tcp(5432)));
    // An address outside the cluster has no named ports.
    assert!(!allows(&egress, &world, &seg(WEB), &Endpoint::External(STRIPE), tcp(443)));
}

#[test]
fn end_port_opens_an_inclusive_range_of_one_protocol() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let l = layer(&np(
        "shop",
        "x",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{ports: [{port: 8000, endPort: 9000}]}]}",
    ));
    assert!(allows(&l, &world, &seg(WEB), &seg(API), tcp(8000)));
    assert!(allows(&l, &world, &seg(WEB), &seg(API), tcp(8080)));
    assert!(allows(&l, &world, &seg(WEB), &seg(API), tcp(9000)));
    assert!(!allows(&l, &world, &seg(WEB), &seg(API), tcp(9090)));
    assert!(!allows(&l, &world, &seg(WEB), &seg(API), udp(8080)));
    // A protocol without a port opens every port of that protocol only.
    let l = layer(&np("shop", "x", "{podSelector: {matchLabels: {app: api}}, ingress: [{ports: [{protocol: UDP}]}]}"));
    assert!(allows(&l, &world, &seg(WEB), &seg(API), udp(1)));
    assert!(!allows(&l, &world, &seg(WEB), &seg(API), tcp(8080)));
}

#[test]
fn ip_blocks_match_addresses_outside_the_cluster_minus_their_exceptions() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let l = layer(&np(
        "shop",
        "x",
        "{podSelector: {matchLabels: {app: api}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [203.0.113.0/24]}}]}]}",
    ));
    assert!(allows(&l, &world, &seg(API), &Endpoint::Internet, tcp(443)));
    assert!(!allows(&l, &world, &seg(API), &Endpoint::External(STRIPE), tcp(443)));
    // Pods have no address verify knows: an ipBlock never matches them.
    assert!(!allows(&l, &world, &seg(API), &seg(DB), tcp(5432)));

    let l = layer(&np(
        "shop",
        "x",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{ipBlock: {cidr: 203.0.113.0/24}}]}]}",
    ));
    assert!(allows(&l, &world, &Endpoint::External(STRIPE), &seg(API), tcp(8080)));
    assert!(!allows(&l, &world, &Endpoint::Internet, &seg(API), tcp(8080)));
}

#[test]
fn a_connection_needs_both_the_source_egress_and_the_destination_ingress() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let web_egress = np(
        "shop",
        "web-egress",
        "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: api}}}]}]}",
    );
    let api_deny = np("shop", "api-deny", "{podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}");
    let api_ingress = np(
        "shop",
        "api-ingress",
        "{podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}]}",
    );

    let only_egress = layer(&format!("{web_egress}{api_deny}"));
    let d = decide(&only_egress, &world, &seg(WEB), &seg(API), tcp(8080));
    assert!(!d.allowed);
    assert_eq!(names(&d), ["api-deny"], "only the side that denies is named");

    let both = layer(&format!("{web_egress}{api_deny}{api_ingress}"));
    let d = decide(&both, &world, &seg(WEB), &seg(API), tcp(8080));
    assert!(d.allowed);
    assert_eq!(names(&d), ["web-egress", "api-ingress"], "the allowing policies of both sides, in file order");
    // Egress denies what ingress would allow.
    let d = decide(&both, &world, &seg(WEB), &seg(DB), tcp(5432));
    assert!(!d.allowed);
    assert_eq!(names(&d), ["web-egress"]);
    // Both sides deny: both are named.
    let d = decide(&both, &world, &seg(WEB), &seg(API), tcp(9000));
    assert_eq!(names(&d), ["api-deny", "api-ingress"]);
    let d = decide(&both, &world, &seg(WEB), &other_pod("shop"), tcp(80));
    assert_eq!(names(&d), ["web-egress"]);
}

#[test]
fn malformed_objects_are_problems_and_are_left_out() {
    let cases = [
        ("{podSelector: x}", "`spec.podSelector` must be a mapping"),
        ("{podSelector: {}, ingress: [{form: [{podSelector: {}}]}]}", "`spec.ingress[0].form` is not a field"),
        ("{podSelector: {matchLabels: {version: 1}}}", "`spec.podSelector.matchLabels.version` must be a string"),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 80.5}]}]}",
            "`spec.ingress[0].ports[0].port` must be a port number",
        ),
        ("{podSelector: {}, ingress: [{ports: [{port: 0}]}]}", "must be a port number from 1 to 65535"),
        ("{podSelector: {}, ingress: [{ports: [{port: 70000}]}]}", "must be a port number"),
        ("{podSelector: {}, ingress: [{ports: [{port: '8080'}]}]}", "neither a number nor a valid port name"),
        ("{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}", "needs a numeric `port`"),
        ("{podSelector: {}, ingress: [{ports: [{endPort: 90}]}]}", "needs a numeric `port`"),
        ("{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}", "must not be below `port`"),
        ("{podSelector: {}, ingress: [{ports: [{port: 90, protocol: tcp}]}]}", "must be `TCP`, `UDP` or `SCTP`"),
        ("{podSelector: {}, policyTypes: [ingress]}", "`spec.policyTypes[0]` must be `Ingress` or `Egress`"),
        ("{podSelector: {}, policyTypes: Ingress}", "`spec.policyTypes` must be a list"),
        ("{podSelector: {matchExpressions: [{key: app, operator: in, values: [a]}]}}", "`In`, `NotIn`"),
        ("{podSelector: {matchExpressions: [{key: app, operator: In}]}}", "must not be empty"),
        ("{podSelector: {matchExpressions: [{key: app, operator: Exists, values: [a]}]}}", "must be empty"),
        ("{podSelector: {matchExpressions: [{operator: Exists}]}}", "[0].key` is missing"),
        ("{podSelector: {}, ingress: [{from: [{}]}]}", "names no peer"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}", "may not combine"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}", "is not a CIDR"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {}}]}]}", "ipBlock.cidr` is missing"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}", "strict subset"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}", "strict subset"),
        ("{podSelector: {}, egress: {to: []}}", "`spec.egress` must be a list"),
        ("[1, 2]", "`spec` must be a mapping"),
        ("{podSelector: !!binary aGVsbG8=}", "`spec.podSelector` must be a mapping"),
    ];
    for (spec, expected) in cases {
        let (layer, problems) = read(&np("shop", "bad", spec));
        assert_eq!(problems.len(), 1, "{spec}: {problems:?}");
        assert!(problems[0].message.contains(expected), "{spec}: {:?} lacks {expected:?}", problems[0].message);
        assert_eq!(problems[0].at.name, "bad");
        assert!(layer.policies.is_empty(), "{spec}");
    }

    let metadata_cases = [
        ("metadata: {name: x}", "`metadata.namespace` is missing"),
        ("metadata: {namespace: shop}", "`metadata.name` is missing"),
        ("metadata: 5", "`metadata` must be a mapping"),
        ("metadata: {name: x, namespace: [shop]}", "`metadata.namespace` must be a string"),
    ];
    for (metadata, expected) in metadata_cases {
        let (_, problems) =
            read(&format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n{metadata}\nspec: {{}}\n"));
        assert_eq!(problems.len(), 1, "{metadata}");
        assert!(problems[0].message.contains(expected), "{metadata}: {}", problems[0].message);
    }

    let (_, problems) =
        read("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: old, namespace: shop}\nspec: {}\n");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("not served"), "{}", problems[0].message);
}

#[test]
fn a_malformed_object_leaves_the_others_in_force() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let yaml = format!(
        "{}{}",
        np("shop", "deny", "{podSelector: {}, policyTypes: [Ingress, Egress]}"),
        np("shop", "bad", "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: 1}}}]}]}")
    );
    let (layer, problems) = read(&yaml);
    assert_eq!(problems.len(), 1);
    assert!(!allows(&layer, &world, &seg(WEB), &seg(API), tcp(8080)));
}

#[test]
fn a_later_object_of_the_same_name_replaces_the_earlier_one() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let yaml = format!(
        "{}{}",
        np("shop", "x", "{podSelector: {}, policyTypes: [Ingress]}"),
        np("shop", "x", "{podSelector: {}, policyTypes: [Ingress], ingress: [{}]}")
    );
    let (layer, problems) = read(&yaml);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].at.document, 2);
    assert!(problems[0].message.contains("replaces"), "{}", problems[0].message);
    assert!(allows(&layer, &world, &seg(WEB), &seg(API), tcp(8080)));
}

#[test]
fn candidates_come_from_rules_and_include_addresses_outside_the_cluster() {
    let policy = shop_policy();
    let world = World::new(&policy);
    let yaml = format!(
        "{}{}{}",
        np("shop", "deny", "{podSelector: {}, policyTypes: [Ingress, Egress]}"),
        np("data", "deny", "{podSelector: {}, policyTypes: [Ingress, Egress]}"),
        np(
            "shop",
            "api",
            "{podSelector: {matchLabels: {app: api}}, egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 443}]}, {to: [{namespaceSelector: {}}], ports: [{port: 6000, endPort: 6010}]}]}",
        )
    );
    let layer = layer(&yaml);
    let candidates = layer.candidates(&world);
    let has = |s: &Endpoint, d: &Endpoint, p: L4Port| candidates.contains(&connection(s, d, p));
    assert!(has(&seg(API), &Endpoint::Internet, tcp(443)));
    assert!(has(&seg(API), &Endpoint::External(STRIPE), tcp(443)));
    assert!(has(&seg(API), &Endpoint::OtherNamespace, tcp(6000)));
    assert!(has(&seg(API), &seg(DNS), tcp(6010)));
    // A destination nobody isolates: every source on its ports.
    assert!(has(&Endpoint::Internet, &seg(DNS), udp(53)));
    // Isolated both ways with no rule of its own: web calls only pods nobody isolates
    // (their ingress admits every source), and is called by api's rule to every
    // namespace and by pods nobody isolates (candidates; web's own ingress denies them).
    let isolated = [Endpoint::Internet, Endpoint::External(STRIPE), seg(BATCH), seg(DB), other_pod("shop")];
    for other in &isolated {
        assert!(!candidates.iter().any(|c| c.source == seg(WEB) && c.destination == *other));
        assert!(!candidates.iter().any(|c| c.destination == seg(WEB) && c.source == *other));
    }
    assert!(has(&seg(WEB), &seg(DNS), udp(53)));
    assert!(has(&seg(DNS), &seg(WEB), tcp(8080)));
    assert!(has(&seg(API), &seg(WEB), tcp(6000)));
    assert!(!layer.decide(&world, &connection(&seg(API), &seg(WEB), tcp(6000)), None).allowed);
    let mut sorted = candidates.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, candidates, "sorted and deduplicated");
}

// ---- segc's own output ----

/// segc's NetworkPolicy objects, written out and read back as any manifest would be.
fn segc_manifests(policy: &Policy) -> Vec<Manifest> {
    crate::verify::manifests::from_objects(&crate::backends::netpol::emit(policy)).expect("segc output reads back")
}

fn l4(port: &Port) -> L4Port {
    L4Port { number: port.number, transport: Transport::of(port.protocol) }
}

/// What the sample declares, worked out from the policy itself: every edge and
/// exposure (plus Linkerd's proxy port between meshed pods), DNS and the mesh control
/// plane from every pod of a managed namespace.
fn declared(policy: &Policy, world: &World) -> BTreeSet<Connection> {
    let linkerd = policy.target.mesh == MeshKind::Linkerd;
    let mut out = BTreeSet::new();
    let mut between = |source: SegmentId, destination: SegmentId, port: &Port| {
        out.insert(connection(&seg(source), &seg(destination), l4(port)));
        if linkerd && policy.segment(source).meshed && policy.segment(destination).meshed {
            out.insert(connection(&seg(source), &seg(destination), tcp(4143)));
        }
    };
    for edge in &policy.edges {
        if let Destination::Segment(destination) = edge.destination {
            between(edge.source, destination, &edge.port);
        }
    }
    for exposure in &policy.exposures {
        between(policy.target.controller, exposure.segment, &exposure.port);
    }
    for edge in &policy.edges {
        if let Destination::External(external) = edge.destination {
            out.insert(connection(&seg(edge.source), &Endpoint::External(external), l4(&edge.port)));
        }
    }
    let platform: Vec<SegmentId> =
        policy.target.dns.into_iter().chain(policy.target.control_plane.iter().copied()).collect();
    for pod in managed_pods(policy, world) {
        for id in &platform {
            for port in &policy.segment(*id).ports {
                out.insert(connection(&pod, &seg(*id), l4(port)));
            }
        }
    }
    out
}

fn managed_pods(policy: &Policy, world: &World) -> Vec<Endpoint> {
    world
        .endpoints
        .iter()
        .filter(|e| world.pod(e).is_some_and(|p| policy.managed_namespaces.iter().any(|ns| ns == p.namespace)))
        .cloned()
        .collect()
}

/// Every connection of the world, on every port anything declares (in both
/// transports), Linkerd's proxy port and one port nothing declares, that touches a
/// managed namespace and that the layer allows.
fn allowed_touching_managed(layer: &NetworkPolicies, policy: &Policy, world: &World) -> BTreeSet<Connection> {
    let mut numbers: BTreeSet<u16> = [4143, 1, 65535].into();
    numbers.extend(policy.segments.iter().flat_map(|s| &s.ports).map(|p| p.number));
    numbers.extend(policy.externals.iter().flat_map(|e| &e.ports).map(|p| p.number));
    let managed = managed_pods(policy, world);
    let mut out = BTreeSet::new();
    for source in &world.endpoints {
        for destination in &world.endpoints {
            if !managed.contains(source) && !managed.contains(destination) {
                continue;
            }
            for number in &numbers {
                for port in [tcp(*number), udp(*number)] {
                    let c = connection(source, destination, port);
                    if layer.decide(world, &c, None).allowed {
                        out.insert(c);
                    }
                }
            }
        }
    }
    out
}

fn describe(world: &World, connections: &BTreeSet<Connection>) -> Vec<String> {
    connections
        .iter()
        .map(|c| {
            format!(
                "{} -> {} {}/{}",
                world.describe(&c.source),
                world.describe(&c.destination),
                c.port.number,
                c.port.transport
            )
        })
        .collect()
}

#[test]
fn segc_output_allows_exactly_what_the_sample_declares() {
    for (ingress, mesh) in [
        (IngressKind::Nginx, MeshKind::None),
        (IngressKind::Nginx, MeshKind::Linkerd),
        (IngressKind::Traefik, MeshKind::Istio),
    ] {
        let policy = shop(ingress, mesh);
        let world = World::new(&policy);
        let (layer, problems) = NetworkPolicies::new(&segc_manifests(&policy));
        assert!(problems.is_empty(), "{problems:?}");
        let allowed = allowed_touching_managed(&layer, &policy, &world);
        let declared = declared(&policy, &world);
        let wider: BTreeSet<Connection> = allowed.difference(&declared).cloned().collect();
        let narrower: BTreeSet<Connection> = declared.difference(&allowed).cloned().collect();
        assert!(wider.is_empty(), "{mesh:?}: allowed but not declared: {:#?}", describe(&world, &wider));
        assert!(narrower.is_empty(), "{mesh:?}: declared but not allowed: {:#?}", describe(&world, &narrower));

        let candidates: BTreeSet<Connection> = layer.candidates(&world).into_iter().collect();
        let missing: BTreeSet<Connection> = allowed.difference(&candidates).cloned().collect();
        assert!(missing.is_empty(), "{mesh:?}: allowed but not a candidate: {:#?}", describe(&world, &missing));
    }
}

#[test]
fn segc_output_on_linkerd_decides_specific_connections() {
    let policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
    let world = World::new(&policy);
    let (layer, problems) = NetworkPolicies::new(&segc_manifests(&policy));
    assert!(problems.is_empty(), "{problems:?}");

    let d = decide(&layer, &world, &seg(WEB), &seg(API), tcp(8080));
    assert!(d.allowed);
    assert_eq!(names(&d), ["api-ingress", "web-egress"]);
    assert_eq!(d.because[0].file, Path::new("netpol/shop/networkpolicy-api-ingress.yaml"));
    // Linkerd's proxy port between meshed pods, but not from the unmeshed `batch`.
    assert!(allows(&layer, &world, &seg(WEB), &seg(API), tcp(4143)));
    assert!(allows(&layer, &world, &seg(BATCH), &seg(API), tcp(9000)));
    assert!(!allows(&layer, &world, &seg(BATCH), &seg(API), tcp(4143)));
    assert!(!allows(&layer, &world, &seg(BATCH), &seg(API), tcp(8080)));
    // From outside the managed namespaces, only on the declared port.
    assert!(allows(&layer, &world, &seg(PROMETHEUS), &seg(API), tcp(9090)));
    assert!(!allows(&layer, &world, &seg(PROMETHEUS), &seg(API), tcp(8080)));
    assert!(allows(&layer, &world, &seg(INGRESS_NGINX), &seg(WEB), tcp(8080)));
    assert!(!allows(&layer, &world, &Endpoint::Internet, &seg(WEB), tcp(8080)));
    // External: only its CIDR, only its port.
    assert!(allows(&layer, &world, &seg(API), &Endpoint::External(STRIPE), tcp(443)));
    assert!(!allows(&layer, &world, &seg(API), &Endpoint::Internet, tcp(443)));
    assert!(!allows(&layer, &world, &seg(WEB), &Endpoint::External(STRIPE), tcp(443)));
    // DNS and the control plane from every pod, even one no segment selects.
    let d = decide(&layer, &world, &other_pod("data"), &seg(DNS), udp(53));
    assert!(d.allowed);
    assert_eq!(names(&d), ["allow-dns"]);
    assert!(allows(&layer, &world, &seg(WEB), &seg(DNS), tcp(53)));
    assert!(!allows(&layer, &world, &seg(WEB), &seg(DNS), udp(54)));
    assert!(allows(&layer, &world, &seg(DB), &seg(sample::LINKERD_DESTINATION), tcp(8086)));
    assert!(allows(&layer, &world, &seg(DB), &seg(sample::LINKERD_IDENTITY), tcp(8080)));
    assert!(!allows(&layer, &world, &seg(DB), &seg(sample::LINKERD_IDENTITY), tcp(8086)));
    // Default deny: denied by the isolating policies of the side that denies.
    let d = decide(&layer, &world, &seg(API), &seg(WEB), tcp(8080));
    assert!(!d.allowed);
    // Every egress policy of `shop` selects api (DNS and the control plane select all pods).
    assert_eq!(names(&d), ["allow-dns", "allow-mesh-control-plane", "api-egress", "default-deny", "web-ingress"]);
    let d = decide(&layer, &world, &Endpoint::OtherNamespace, &seg(DB), tcp(5432));
    assert_eq!(names(&d), ["db-ingress", "default-deny"]);
    assert!(!allows(&layer, &world, &other_pod("shop"), &Endpoint::Internet, tcp(443)));
    assert_eq!(OTHER_NAMESPACE, world.pod(&Endpoint::OtherNamespace).unwrap().namespace);
}
