//! The Kubernetes NetworkPolicy layer: the policy's allowed connections at L4.
//!
//! Takes: a lowered [`Policy`].
//! Gives: `networking.k8s.io/v1` NetworkPolicy objects, only in the managed namespaces:
//! - `default-deny` per namespace: every pod isolated for ingress and egress;
//! - `allow-dns` per namespace (unless the target says `dns off`): every pod may query the
//!   cluster DNS on the DNS segment's ports;
//! - `<segment>-ingress` per managed segment that receives anything: one rule per source
//!   (the callers of its edges, the ingress controller for its exposures);
//! - `<segment>-egress` per managed segment that calls anything: one rule per destination.
//!
//! Must not: write into a namespace it does not manage (the standard library's), allow
//! anything wider than declared (no empty `from`/`to`, no rule without ports, no named
//! ports, no Service ports), or depend on anything but the policy's sorted order.
//!
//! Every rule is assembled first as plain data (`Rules`: sorted (peer, port) pairs
//! per segment) in one pass over the edges and exposures, then rendered; the
//! Kubernetes types appear only in the rendering functions.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rayon::prelude::*;

use super::{metadata, object_name, Backend, Object};
use crate::ir::{Destination, ExternalId, MeshKind, Policy, Port, Segment, SegmentId};

/// The label the API server sets on every namespace (Kubernetes ≥ 1.21) to its own name.
/// Peers select namespaces by it, so a peer can never match a namespace merely because
/// someone copied a label onto it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Linkerd's proxy inbound port (`proxy.ports.inbound`, default 4143). Between two
/// meshed pods Linkerd replaces the destination port with this one on the wire, so a
/// policy that lists only the application port would drop all meshed traffic.
const LINKERD_INBOUND_PORT: u16 = 4143;

/// `0.0.0.0/0` and `::/0`: an exposure without a source allowlist admits any client.
const ANYWHERE: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The name of the per-namespace isolation policy.
pub const DEFAULT_DENY: &str = "default-deny";
/// The name of the per-namespace DNS policy.
pub const ALLOW_DNS: &str = "allow-dns";
/// The name of the per-namespace policy that lets proxies reach the mesh control plane.
pub const ALLOW_MESH_CONTROL_PLANE: &str = "allow-mesh-control-plane";

/// One end of a connection as NetworkPolicy can name it. The order (segments by name,
/// then externals, namespaces, CIDRs) is the order of rules in a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Peer<'p> {
    /// The segment's pods: its namespace AND its selector, in one peer.
    Segment(SegmentId),
    /// Every address of an external, one ipBlock per CIDR.
    External(ExternalId),
    /// Every pod of a namespace (callers of a managed DNS segment).
    Namespace(&'p str),
    /// Clients outside the cluster (callers of a managed ingress controller).
    Cidr(&'p str),
}

/// A port as NetworkPolicy matches it: number and transport. Ordered by number first,
/// so ports read in numeric order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct L4Port {
    number: u16,
    transport: &'static str,
}

impl L4Port {
    fn of(port: &Port) -> L4Port {
        L4Port { number: port.number, transport: port.protocol.transport() }
    }

    fn tcp(number: u16) -> L4Port {
        L4Port { number, transport: "TCP" }
    }
}

/// The rules of one direction of one segment: who (or whom) on which port, one pair
/// per port, sorted and without repeats once [`connections`] returns. A segment has a
/// handful; a sorted vector of them costs one allocation, where a map of peers to
/// sets of ports cost one per peer (hundreds of thousands at 20,000 segments).
type Rules<'p> = Vec<(Peer<'p>, L4Port)>;

/// Every NetworkPolicy of the policy, sorted by (namespace, name).
pub fn emit(policy: &Policy) -> Vec<Object> {
    let (inbound, outbound) = connections(policy);
    let peers = PeerTexts::new(policy);
    let segments = super::segments_by_namespace(policy);
    // Namespaces share nothing (a policy's name is unique in its namespace): build
    // them in parallel, each sorted on its own; collecting keeps namespace order.
    // Sorting every object at once moved each 112-byte object a dozen times and took
    // a scratch buffer of half of them, fresh memory at 20,000 segments (perf).
    policy
        .managed_namespaces
        .par_iter()
        .flat_map_iter(|namespace| {
            let segments = segments.get(namespace.as_str()).map_or(&[][..], Vec::as_slice);
            let mut objects: Vec<Object> = [
                Some(default_deny(namespace)),
                allow_dns(policy, namespace),
                allow_mesh_control_plane(policy, namespace),
            ]
            .into_iter()
            .flatten()
            .chain(segments.iter().filter(|(_, segment)| segment.managed).flat_map(|&(id, segment)| {
                let ingress = ingress_policy(policy, &peers, segment, &inbound[id.0]);
                let egress = egress_policy(policy, &peers, segment, &outbound[id.0]);
                [ingress, egress].into_iter().flatten()
            }))
            .map(|np| Object::new(Backend::NetworkPolicy, &np))
            .collect();
            objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            objects
        })
        .collect()
}

/// Every allowed connection, from both ends: (what each segment accepts, what each
/// segment may call), indexed by [`SegmentId`]. One pass over edges and exposures;
/// unmanaged segments get entries too, and [`emit`] simply never renders them.
/// Indexed rather than keyed: a search tree over every segment, touched at random by
/// each edge's far end, cost more than the rest of the backend at 20,000 segments.
fn connections(policy: &Policy) -> (Vec<Rules<'_>>, Vec<Rules<'_>>) {
    let mut inbound: Vec<Rules> = vec![Rules::new(); policy.segments.len()];
    let mut outbound: Vec<Rules> = vec![Rules::new(); policy.segments.len()];
    let proxied = linkerd_proxied(policy);

    for edge in &policy.edges {
        match edge.destination {
            Destination::Segment(dest) => {
                let ports = wire_ports(&proxied, edge.source, dest, &edge.port);
                add(&mut inbound, dest, Peer::Segment(edge.source), &ports);
                add(&mut outbound, edge.source, Peer::Segment(dest), &ports);
            }
            Destination::External(ext) => {
                add(&mut outbound, edge.source, Peer::External(ext), &[L4Port::of(&edge.port)]);
            }
        }
    }

    // An exposure is a connection from the ingress controller's pods to the segment's
    // pods on the exposed port, and from the clients to the controller.
    let controller = policy.target.controller;
    let mut clients: BTreeSet<&str> = BTreeSet::new();
    for exposure in &policy.exposures {
        let ports = wire_ports(&proxied, controller, exposure.segment, &exposure.port);
        add(&mut inbound, exposure.segment, Peer::Segment(controller), &ports);
        add(&mut outbound, controller, Peer::Segment(exposure.segment), &ports);
        if exposure.sources.is_empty() {
            clients.extend(ANYWHERE);
        } else {
            clients.extend(exposure.sources.iter().map(String::as_str));
        }
    }
    // Any client at all makes a narrower allowlist of another exposure redundant.
    if clients.contains(ANYWHERE[0]) {
        clients = ANYWHERE.into_iter().collect();
    }
    // Only a managed controller is ever rendered; its pods then need the clients'
    // traffic on every port it declares (which port serves which host is the
    // controller's business, not the policy's).
    let controller_ports: Vec<L4Port> = policy.controller().ports.iter().map(L4Port::of).collect();
    for cidr in clients {
        add(&mut inbound, controller, Peer::Cidr(cidr), &controller_ports);
    }

    // A managed DNS segment must answer every pod that `allow-dns` lets query it.
    if let Some(dns) = policy.target.dns {
        let dns_ports: Vec<L4Port> = policy.segment(dns).ports.iter().map(L4Port::of).collect();
        for namespace in &policy.managed_namespaces {
            add(&mut inbound, dns, Peer::Namespace(namespace), &dns_ports);
        }
    }

    inbound.par_iter_mut().chain(outbound.par_iter_mut()).for_each(|rules| {
        rules.sort_unstable();
        rules.dedup();
    });
    (inbound, outbound)
}

/// Grants `peer` each of `ports` in the rules of the segment `at`.
fn add<'p>(rules: &mut [Rules<'p>], at: SegmentId, peer: Peer<'p>, ports: &[L4Port]) {
    rules[at.0].extend(ports.iter().map(|port| (peer, *port)));
}

/// The destination ports a connection from `source` to `dest` on `port` carries on the
/// wire: the pod's port, and under Linkerd also the proxy's inbound port when both ends
/// are meshed (Linkerd rewrites the destination port between meshed pods).
/// `proxied` is [`linkerd_proxied`].
fn wire_ports(proxied: &[bool], source: SegmentId, dest: SegmentId, port: &Port) -> Vec<L4Port> {
    let mut ports = vec![L4Port::of(port)];
    if !proxied.is_empty() && proxied[source.0] && proxied[dest.0] {
        ports.push(L4Port::tcp(LINKERD_INBOUND_PORT));
    }
    ports
}

/// Under Linkerd, whether each segment (by [`SegmentId`]) runs Linkerd's proxy; empty
/// under any other mesh. One flag per segment because [`wire_ports`] asks for both
/// ends of every edge: reading the far end's [`Segment`] instead is a read at random
/// per edge, which at 20,000 segments misses the cache.
fn linkerd_proxied(policy: &Policy) -> Vec<bool> {
    match policy.target.mesh {
        MeshKind::Linkerd => policy.segments.iter().map(|s| s.meshed).collect(),
        MeshKind::Istio | MeshKind::None => Vec::new(),
    }
}

/// Isolates every pod of the namespace in both directions: with no rules, only what
/// other policies allow gets through.
fn default_deny(namespace: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: metadata(DEFAULT_DENY, namespace),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(policy_types(&["Ingress", "Egress"])),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// Lets every pod of the namespace query the cluster DNS: one peer (the DNS namespace
/// AND the DNS pods) on every port of the DNS segment (`std.dns`: UDP 53 and TCP 53,
/// TCP being needed for truncated answers). `None` when the target turned DNS off.
fn allow_dns(policy: &Policy, namespace: &str) -> Option<NetworkPolicy> {
    let dns = policy.segment(policy.target.dns?);
    egress_to_platform(ALLOW_DNS, namespace, &[dns])
}

/// Lets every pod of the namespace reach the mesh control plane (istiod; Linkerd's
/// destination and identity services): without it, default deny keeps proxies from
/// getting configuration and certificates, and meshed pods never become ready.
/// `None` without a mesh.
fn allow_mesh_control_plane(policy: &Policy, namespace: &str) -> Option<NetworkPolicy> {
    let segments: Vec<&Segment> = policy.target.control_plane.iter().map(|id| policy.segment(*id)).collect();
    egress_to_platform(ALLOW_MESH_CONTROL_PLANE, namespace, &segments)
}

/// An egress policy for every pod of the namespace to platform segments, one rule per
/// segment (its namespace AND its pods, on its ports). `None` when there is nothing to
/// allow; a segment without ports is skipped, since a rule without ports would open
/// every port.
fn egress_to_platform(name: &str, namespace: &str, segments: &[&Segment]) -> Option<NetworkPolicy> {
    let egress: Vec<NetworkPolicyEgressRule> = segments
        .iter()
        .filter_map(|segment| {
            let mut ports: Vec<L4Port> = segment.ports.iter().map(L4Port::of).collect();
            ports.sort_unstable();
            ports.dedup();
            (!ports.is_empty()).then(|| NetworkPolicyEgressRule {
                to: Some(vec![segment_peer(segment)]),
                ports: Some(render_ports(&ports)),
            })
        })
        .collect();
    if egress.is_empty() {
        return None;
    }
    Some(NetworkPolicy {
        metadata: metadata(name, namespace),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(policy_types(&["Egress"])),
            egress: Some(egress),
            ..NetworkPolicySpec::default()
        }),
    })
}

/// `<slug>-ingress`: the segment's pods accept each source on its ports. `None` when no
/// rule survives rendering (a policy without rules would only repeat `default-deny`).
fn ingress_policy(policy: &Policy, peers: &PeerTexts, segment: &Segment, rules: &Rules) -> Option<NetworkPolicy> {
    let ingress: Vec<NetworkPolicyIngressRule> = rendered_rules(policy, peers, rules)
        .map(|(peers, ports)| NetworkPolicyIngressRule { from: Some(peers), ports: Some(ports) })
        .collect();
    if ingress.is_empty() {
        return None;
    }
    Some(NetworkPolicy {
        metadata: metadata(object_name(&[&segment.slug, "ingress"]), segment.namespace.clone()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&segment.selector)),
            policy_types: Some(policy_types(&["Ingress"])),
            ingress: Some(ingress),
            ..NetworkPolicySpec::default()
        }),
    })
}

/// `<slug>-egress`: the segment's pods may call each destination on its ports.
fn egress_policy(policy: &Policy, peers: &PeerTexts, segment: &Segment, rules: &Rules) -> Option<NetworkPolicy> {
    let egress: Vec<NetworkPolicyEgressRule> = rendered_rules(policy, peers, rules)
        .map(|(peers, ports)| NetworkPolicyEgressRule { to: Some(peers), ports: Some(ports) })
        .collect();
    if egress.is_empty() {
        return None;
    }
    Some(NetworkPolicy {
        metadata: metadata(object_name(&[&segment.slug, "egress"]), segment.namespace.clone()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&segment.selector)),
            policy_types: Some(policy_types(&["Egress"])),
            egress: Some(egress),
            ..NetworkPolicySpec::default()
        }),
    })
}

/// One (peers, ports) pair per peer of `rules`, in order, leaving out any whose peers
/// would render empty: an empty `from`/`to` means "all" to Kubernetes (and every peer
/// of `rules` has at least one port).
fn rendered_rules<'a>(
    policy: &'a Policy,
    segments: &'a PeerTexts,
    rules: &'a Rules,
) -> impl Iterator<Item = (Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> + 'a {
    rules.chunk_by(|a, b| a.0 == b.0).filter_map(move |run| {
        let peers = render_peer(policy, segments, &run[0].0);
        let ports: Vec<L4Port> = run.iter().map(|(_, port)| *port).collect();
        (!peers.is_empty()).then(|| (peers, render_ports(&ports)))
    })
}

fn render_peer(policy: &Policy, segments: &PeerTexts, peer: &Peer) -> Vec<NetworkPolicyPeer> {
    match peer {
        Peer::Segment(id) => vec![segments.peer(*id)],
        Peer::External(id) => policy.external(*id).cidrs.iter().map(|cidr| cidr_peer(cidr)).collect(),
        Peer::Namespace(namespace) => vec![NetworkPolicyPeer {
            namespace_selector: Some(namespace_selector(namespace)),
            // Every pod of the namespace, on purpose; written out so a reviewer sees it.
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        }],
        Peer::Cidr(cidr) => vec![cidr_peer(cidr)],
    }
}

/// The segment's pods and nothing else: namespace AND pods in ONE peer (two peers would
/// mean namespace OR pods). The namespace is named even when it is the policy's own, so
/// the peer reads the same wherever it appears.
fn segment_peer(segment: &Segment) -> NetworkPolicyPeer {
    peer_of(&segment.namespace, selector(&segment.selector))
}

fn peer_of(namespace: &str, pods: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(namespace_selector(namespace)),
        pod_selector: Some(pods),
        ..NetworkPolicyPeer::default()
    }
}

/// Every segment as a rule's peer names it (its namespace, then each label's key and
/// value), packed end to end. A rule's peer is a segment from anywhere in the policy:
/// read from the IR, each peer cost a cache miss on the segment, its namespace, its
/// label tree and each label, 60 % of the rules' building at 20,000 segments (perf),
/// growing faster than the policy. Read from here, it costs one or two.
struct PeerTexts {
    /// Per segment, its namespace, then each label's key and value, each followed by
    /// a NUL, which no Kubernetes name, label key or value contains (the checker
    /// validates them). A separator rather than a list of where each text ends: that
    /// list was twice the size of the texts, and at 20,000 segments the two no longer
    /// fitted a core's cache (their reads grew 3.4× when the policy doubled, by perf).
    text: String,
    /// Where each segment's texts start in `text`; one more closes the last.
    starts: Vec<u32>,
}

impl PeerTexts {
    fn new(policy: &Policy) -> PeerTexts {
        let mut texts = PeerTexts { text: String::new(), starts: Vec::with_capacity(policy.segments.len() + 1) };
        for segment in &policy.segments {
            texts.starts.push(texts.text.len() as u32);
            texts.push(&segment.namespace);
            for (key, value) in &segment.selector {
                texts.push(key);
                texts.push(value);
            }
        }
        texts.starts.push(texts.text.len() as u32);
        texts
    }

    fn push(&mut self, text: &str) {
        debug_assert!(!text.contains('\0'), "{text:?} would split in two");
        self.text.push_str(text);
        self.text.push('\0');
    }

    /// The same peer as [`segment_peer`] of the segment `id`.
    fn peer(&self, id: SegmentId) -> NetworkPolicyPeer {
        let (start, end) = (self.starts[id.0] as usize, self.starts[id.0 + 1] as usize);
        // Each text ends with a NUL, so the last piece of the split is empty.
        let mut texts = self.text[start..end].split('\0');
        let namespace = texts.next().unwrap_or_default();
        let mut labels = BTreeMap::new();
        while let (Some(key), Some(value)) = (texts.next(), texts.next()) {
            labels.insert(key.to_string(), value.to_string());
        }
        let pods = LabelSelector { match_labels: (!labels.is_empty()).then_some(labels), ..LabelSelector::default() };
        peer_of(namespace, pods)
    }
}

fn cidr_peer(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock { cidr: cidr.to_string(), except: None }),
        ..NetworkPolicyPeer::default()
    }
}

fn namespace_selector(namespace: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())].into_iter().collect()),
        ..LabelSelector::default()
    }
}

fn selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: (!labels.is_empty()).then(|| labels.clone()), ..LabelSelector::default() }
}

/// Numbered ports with their transport, in the given (sorted, numeric) order: never a
/// name, which would resolve against whatever the pod spec says today.
fn render_ports(ports: &[L4Port]) -> Vec<NetworkPolicyPort> {
    ports
        .iter()
        .map(|p| NetworkPolicyPort {
            port: Some(IntOrString::Int(i32::from(p.number))),
            protocol: Some(p.transport.to_string()),
            end_port: None,
        })
        .collect()
}

fn policy_types(types: &[&str]) -> Vec<String> {
    types.iter().map(|t| t.to_string()).collect()
}

#[cfg(test)]
mod tests;
