//! The NetworkPolicy interpreter: which connections Kubernetes NetworkPolicy objects
//! allow, read from any manifests with the API's own semantics.
//!
//! Takes: every [`Manifest`] verify read; only `networking.k8s.io/v1` NetworkPolicy
//! objects count (other kinds are ignored).
//! Gives: [`NetworkPolicies`], a [`Layer`] that decides each connection of a [`World`]
//! and enumerates the connections its rules could allow; a [`Problem`] for every
//! object it could not read.
//! Must not: share logic with `backends::netpol` or assume segc wrote the objects (they
//! may be hand-edited or foreign), or panic on anything in a manifest.
//!
//! Semantics, as the API documents them:
//! - a policy applies to the pods of its namespace that `spec.podSelector` matches;
//! - a pod is isolated for ingress (egress) when any policy applying to it has
//!   `Ingress` (`Egress`) in its effective `policyTypes`; a direction nobody isolates
//!   allows everything;
//! - an isolated direction allows a connection when any rule of any such policy
//!   matches both a peer and a port; a connection needs the source's egress and the
//!   destination's ingress (an address outside the cluster has no side of its own);
//! - named ports resolve against the destination pod's container ports, in both
//!   directions; `ipBlock` matches only addresses outside the cluster (which addresses
//!   of pods it matches is left to the CNI, so verify takes it to match none).

mod parse;

use std::collections::BTreeMap;

use rayon::prelude::*;

use parse::{NetPol, Peer, PortMatch, PortRule, Rule};

use super::index::SelectorIndex;
use super::manifests::group_of;
use super::world::{cidr_contains, NAMESPACE_NAME_LABEL};
use super::{
    Candidates, Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, OpenSide, Pod, Problem, Request,
    Verdict, World,
};

/// The only API version of NetworkPolicy that Kubernetes serves (since 1.16).
const API_VERSION: &str = "networking.k8s.io/v1";
const KIND: &str = "NetworkPolicy";

/// Every NetworkPolicy of the manifests, ready to decide connections.
#[derive(Debug, Default)]
pub struct NetworkPolicies {
    /// In the order read, one per (namespace, name).
    policies: Vec<NetPol>,
    /// Indexes into `policies` by the namespace and a label of the pods they select: a
    /// policy only ever applies to its own namespace.
    selecting: SelectorIndex,
    /// Per policy, its ingress and egress rules by the peers they name.
    peers: Vec<[PeerIndex; 2]>,
}

/// One direction's rules of one policy, by the peers they name: a policy may hold a rule
/// per peer (a segment reached by many), and deciding a connection should look only at
/// the rules that can name its peer. Policies with a few rules are not indexed: trying
/// them all costs less than the index.
#[derive(Debug, Default)]
struct PeerIndex {
    /// How many rules there are.
    rules: usize,
    /// For a policy with many rules: its rules with a pod peer, by the namespace and a
    /// label that peer requires.
    pods: Option<SelectorIndex>,
    /// Rules with an `ipBlock` peer: candidates for addresses outside the cluster.
    addresses: Vec<usize>,
    /// Rules without peers: every endpoint.
    everyone: Vec<usize>,
}

/// Above this many rules, a direction of a policy is indexed by peer.
const UNINDEXED_RULES: usize = 8;

impl PeerIndex {
    fn new(policy: &NetPol, rules: Option<&[Rule]>) -> PeerIndex {
        let rules = rules.unwrap_or_default();
        if rules.len() <= UNINDEXED_RULES {
            return PeerIndex { rules: rules.len(), ..PeerIndex::default() };
        }
        let mut pods = SelectorIndex::default();
        let mut index = PeerIndex { rules: rules.len(), ..PeerIndex::default() };
        for (i, rule) in rules.iter().enumerate() {
            let Some(peers) = &rule.peers else {
                index.everyone.push(i);
                continue;
            };
            for peer in peers {
                match peer {
                    Peer::Pods { namespaces, pods: selector } => {
                        pods.insert(i, peer_namespace(policy, namespaces.as_ref()), selector.required_label())
                    }
                    Peer::IpBlock { .. } => index.addresses.push(i),
                }
            }
        }
        index.pods = Some(pods);
        index
    }

    /// Whether `admits` holds for a rule that may name the peer, a pod or (`None`) an
    /// address.
    fn any_rule(&self, pod: Option<&Pod>, mut admits: impl FnMut(usize) -> bool) -> bool {
        let Some(pods) = &self.pods else { return (0..self.rules).any(admits) };
        let named = match pod {
            Some(pod) => pods.each_candidate(pod.namespace, pod.labels).any(&mut admits),
            None => self.addresses.iter().any(|r| admits(*r)),
        };
        named || self.everyone.iter().any(|r| admits(*r))
    }
}

/// The one namespace a pod peer can be in, if its selectors confine it to one: the
/// policy's own without a `namespaceSelector`, else the namespace the selector names by
/// its name label (the only label a namespace is known to carry).
fn peer_namespace<'p>(policy: &'p NetPol, namespaces: Option<&'p parse::Selector>) -> Option<&'p str> {
    match namespaces {
        None => Some(&policy.namespace),
        Some(selector) => selector.required_value(NAMESPACE_NAME_LABEL),
    }
}

/// A side of a pod; the discriminant indexes [`NetworkPolicies::peers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress = 0,
    Egress = 1,
}

/// What one side (the source's egress, the destination's ingress) says.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    /// Nothing isolates this side (or it is an address outside the cluster).
    Open,
    /// The policies with a rule that matches.
    Allowed(Vec<ObjectRef>),
    /// Isolated and no rule matches: the policies that isolate it (never empty).
    Denied(Vec<ObjectRef>),
}

/// What [`NetworkPolicies`] reads of one object of its kind, on its own: verify reads
/// each object as it parses it and keeps only this.
#[derive(Debug)]
pub struct Item {
    at: ObjectRef,
    api_version: String,
    /// `None` at an apiVersion that is not read.
    read: Option<Result<NetPol, String>>,
}

impl NetworkPolicies {
    pub fn new(manifests: &[Manifest]) -> (NetworkPolicies, Vec<Problem>) {
        NetworkPolicies::from_items(manifests.par_iter().filter_map(NetworkPolicies::read).collect())
    }

    /// The object read on its own, if it is a NetworkPolicy (of any group).
    pub fn read(manifest: &Manifest) -> Option<Item> {
        (manifest.kind() == KIND).then(|| Item {
            at: manifest.at.clone(),
            api_version: manifest.api_version.clone(),
            read: (manifest.api_version == API_VERSION).then(|| parse::read(manifest)),
        })
    }

    /// The layer of the objects read, in the order of their files.
    pub fn from_items(items: Vec<Item>) -> (NetworkPolicies, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut by_name: BTreeMap<(String, String), NetPol> = BTreeMap::new();
        for Item { at, api_version, read } in items {
            let Some(read) = read else {
                // Kubernetes' own kind at a version no supported cluster serves; another
                // group's NetworkPolicy (Calico's, ...) is not ours to read.
                if matches!(group_of(&api_version), "networking.k8s.io" | "extensions") {
                    problems.push(Problem {
                        at,
                        message: format!("`{api_version}` is not served by Kubernetes; use `{API_VERSION}`"),
                    });
                }
                continue;
            };
            match read {
                Ok(policy) => {
                    let key = (policy.namespace.clone(), at.name.clone());
                    if let Some(earlier) = by_name.insert(key, policy) {
                        // Applied in order, the later object replaces the earlier one.
                        problems.push(Problem {
                            at,
                            message: format!("has the same namespace and name as {}, which it replaces", earlier.at),
                        });
                    }
                }
                Err(message) => problems.push(Problem { at, message }),
            }
        }
        let mut policies: Vec<NetPol> = by_name.into_values().collect();
        policies.par_sort_by(|a, b| a.at.cmp(&b.at));
        let mut selecting = SelectorIndex::default();
        for (i, p) in policies.iter().enumerate() {
            selecting.insert(i, Some(&p.namespace), p.pods.required_label());
        }
        let peers = policies
            .par_iter()
            .map(|p| [PeerIndex::new(p, p.ingress.as_deref()), PeerIndex::new(p, p.egress.as_deref())])
            .collect();
        (NetworkPolicies { policies, selecting, peers }, problems)
    }

    /// The policies (indexes, in order) that isolate `pod` in `direction`.
    fn isolating(&self, pod: &Pod, direction: Direction) -> Vec<usize> {
        let mut found = self.selecting.candidates(pod.namespace, pod.labels);
        found.retain(|i| {
            let policy = &self.policies[*i];
            policy.pods.matches(pod.labels) && rules(policy, direction).is_some()
        });
        found
    }

    /// The policy's rules of `direction` and their index.
    fn rules_of(&self, policy: usize, direction: Direction) -> (&NetPol, &[Rule], &PeerIndex) {
        let p = &self.policies[policy];
        let index = &self.peers[policy][direction as usize];
        (p, rules(p, direction).unwrap_or_default(), index)
    }

    /// One side of a connection: the destination's ingress or the source's egress.
    fn side(&self, world: &World, connection: &Connection, direction: Direction) -> Side {
        let selected = match direction {
            Direction::Ingress => &connection.destination,
            Direction::Egress => &connection.source,
        };
        let Some(pod) = world.pod(selected) else { return Side::Open };
        let isolating = self.isolating(&pod, direction);
        if isolating.is_empty() {
            return Side::Open;
        }
        let allows = self.allowing(world, connection, direction);
        let allowing: Vec<ObjectRef> =
            isolating.iter().filter(|i| allows(**i)).map(|i| self.policies[*i].at.clone()).collect();
        if allowing.is_empty() {
            Side::Denied(isolating.iter().map(|i| self.policies[*i].at.clone()).collect())
        } else {
            Side::Allowed(allowing)
        }
    }

    /// Whether a policy (by index) has a rule of `direction` that admits the
    /// connection's peer on that side and its port.
    fn allowing<'a>(
        &'a self,
        world: &'a World,
        connection: &'a Connection,
        direction: Direction,
    ) -> impl Fn(usize) -> bool + 'a {
        let peer = match direction {
            Direction::Ingress => &connection.source,
            Direction::Egress => &connection.destination,
        };
        let peer_pod = world.pod(peer);
        move |i| {
            let (policy, rules, index) = self.rules_of(i, direction);
            !rules.is_empty()
                && index.any_rule(peer_pod.as_ref(), |r| rule_allows(world, policy, &rules[r], peer, connection))
        }
    }

    /// The policies isolating each endpoint of the world (by position), [ingress,
    /// egress]: found once for all connections.
    fn isolation(&self, world: &World) -> Vec<[Vec<usize>; 2]> {
        world
            .endpoints
            .par_iter()
            .map(|e| match world.pod(e) {
                Some(pod) => [Direction::Ingress, Direction::Egress].map(|d| self.isolating(&pod, d)),
                None => [Vec::new(), Vec::new()],
            })
            .collect()
    }

    /// The connections one side of a pod (the endpoint at `position`) isolated by
    /// `isolating` could allow: each of its rules, with the peers and ports it admits.
    fn candidates_of(
        &self,
        world: &World,
        position: usize,
        direction: Direction,
        isolating: &[usize],
    ) -> Vec<Connection> {
        let pod_endpoint = &world.endpoints[position];
        let connect = |peer: &Endpoint, port: L4Port| match direction {
            Direction::Ingress => Connection { source: peer.clone(), destination: pod_endpoint.clone(), port },
            Direction::Egress => Connection { source: pod_endpoint.clone(), destination: peer.clone(), port },
        };
        let mut out = Vec::new();
        for i in isolating {
            let (policy, rules, _) = self.rules_of(*i, direction);
            for rule in rules {
                let mut peers: Vec<&Endpoint> = match &rule.peers {
                    None => world.endpoints.iter().collect(),
                    Some(peers) => peers.iter().flat_map(|peer| peers_matching(world, policy, peer)).collect(),
                };
                peers.sort();
                peers.dedup();
                // Into this pod the ports are the same for every peer.
                let ingress_ports = (direction == Direction::Ingress).then(|| rule_ports(world, rule, pod_endpoint));
                for peer in peers {
                    let ports = match &ingress_ports {
                        Some(ports) => ports.clone(),
                        None => rule_ports(world, rule, peer),
                    };
                    out.extend(ports.into_iter().map(|port| connect(peer, port)));
                }
            }
        }
        out
    }
}

/// The endpoints a peer of a policy's rule matches, found through the world's indexes
/// of pods by namespace and label and of addresses.
fn peers_matching<'w>(world: &'w World, policy: &NetPol, peer: &Peer) -> Vec<&'w Endpoint> {
    let candidates: Box<dyn Iterator<Item = &'w Endpoint>> = match peer {
        Peer::Pods { namespaces, pods } => {
            Box::new(world.pods_with(peer_namespace(policy, namespaces.as_ref()), pods.required_label()).iter())
        }
        Peer::IpBlock { cidr, .. } => Box::new(world.addresses_in(cidr)),
    };
    candidates.filter(|e| peer_matches(world, policy, peer, e)).collect()
}

fn rules(policy: &NetPol, direction: Direction) -> Option<&[Rule]> {
    match direction {
        Direction::Ingress => policy.ingress.as_deref(),
        Direction::Egress => policy.egress.as_deref(),
    }
}

impl Layer for NetworkPolicies {
    fn name(&self) -> &'static str {
        "NetworkPolicy"
    }

    fn governs(&self, world: &World, connection: &Connection) -> bool {
        world.pod(&connection.source).is_some() || world.pod(&connection.destination).is_some()
    }

    fn candidates(&self, world: &World) -> Vec<Connection> {
        self.candidate_groups(world).expand(world)
    }

    /// The rules of isolated sides, with the peers and ports they admit, one by one;
    /// sides nothing isolates as open sides.
    fn candidate_groups(&self, world: &World) -> Candidates {
        let isolation = self.isolation(world);
        let mut open_sides = Vec::new();
        for (endpoint, isolating) in world.endpoints.iter().zip(&isolation) {
            if world.pod(endpoint).is_some() {
                for direction in [Direction::Ingress, Direction::Egress] {
                    if isolating[direction as usize].is_empty() {
                        let ingress = direction == Direction::Ingress;
                        open_sides.push(OpenSide { pod: endpoint.clone(), ingress });
                    }
                }
            }
        }
        let mut connections: Vec<Connection> = (0..world.endpoints.len())
            .into_par_iter()
            .flat_map_iter(|i| {
                let [ingress, egress] = &isolation[i];
                let into = self.candidates_of(world, i, Direction::Ingress, ingress);
                into.into_iter().chain(self.candidates_of(world, i, Direction::Egress, egress))
            })
            .collect();
        connections.par_sort_unstable();
        connections.dedup();
        Candidates { connections, open_sides, ..Candidates::default() }
    }

    /// Allowed when both the source's egress and the destination's ingress allow it;
    /// `because` names the policies whose rules allowed it, or, when denied, the
    /// policies that isolate the side(s) that denied it.
    fn decide(&self, world: &World, connection: &Connection, _request: Option<&Request>) -> Decision {
        combine(&[Direction::Egress, Direction::Ingress].map(|d| self.side(world, connection, d)))
    }

    /// The policies isolating each endpoint found once for all connections.
    fn verdicts(&self, world: &World, connections: &[Connection]) -> Vec<Verdict> {
        let isolation = self.isolation(world);
        // Whether a side allows: open (nothing isolates it), or some isolating policy
        // has a rule for it.
        let allows = |connection: &Connection, direction: Direction| {
            let selected = match direction {
                Direction::Ingress => &connection.destination,
                Direction::Egress => &connection.source,
            };
            match world.position(selected) {
                Some(i) => {
                    let isolating = &isolation[i][direction as usize];
                    isolating.is_empty() || {
                        let allowing = self.allowing(world, connection, direction);
                        isolating.iter().any(|p| allowing(*p))
                    }
                }
                None => !matches!(self.side(world, connection, direction), Side::Denied(_)),
            }
        };
        connections
            .par_iter()
            .map(|c| {
                let sides = [allows(c, Direction::Egress), allows(c, Direction::Ingress)];
                Verdict { allowed: sides == [true, true], sides: Some(sides) }
            })
            .collect()
    }

    fn paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// [egress of the source, ingress of the destination]; an open side (nothing
    /// isolates it) allows.
    fn sides(&self, world: &World, connection: &Connection) -> Option<[Decision; 2]> {
        Some([Direction::Egress, Direction::Ingress].map(|d| side_decision(self.side(world, connection, d))))
    }
}

/// A side on its own: an open side allows.
fn side_decision(side: Side) -> Decision {
    match side {
        Side::Open => Decision::allow(Vec::new()),
        Side::Allowed(by) => Decision::allow(by),
        Side::Denied(by) => Decision::deny(by),
    }
}

/// The decision of both sides: denied by the policies of the side(s) that deny it,
/// else allowed by those whose rules allow it, sorted, each once.
fn combine(sides: &[Side; 2]) -> Decision {
    let of = |pick: fn(&Side) -> Option<&Vec<ObjectRef>>| {
        let mut objects: Vec<ObjectRef> = sides.iter().filter_map(pick).flatten().cloned().collect();
        // Each side's objects are sorted already (policies are kept in that order).
        if sides.iter().filter(|s| pick(s).is_some()).count() > 1 {
            objects.sort();
            objects.dedup();
        }
        objects
    };
    let denied = of(|s| if let Side::Denied(by) = s { Some(by) } else { None });
    if !denied.is_empty() {
        return Decision::deny(denied);
    }
    Decision::allow(of(|s| if let Side::Allowed(by) = s { Some(by) } else { None }))
}

fn rule_allows(world: &World, policy: &NetPol, rule: &Rule, peer: &Endpoint, connection: &Connection) -> bool {
    rule_matches_peer(world, policy, rule, peer)
        && none_or_any(rule.ports.as_ref(), |p| port_matches(world, p, connection.port, &connection.destination))
}

fn rule_matches_peer(world: &World, policy: &NetPol, rule: &Rule, endpoint: &Endpoint) -> bool {
    none_or_any(rule.peers.as_ref(), |p| peer_matches(world, policy, p, endpoint))
}

fn peer_matches(world: &World, policy: &NetPol, peer: &Peer, endpoint: &Endpoint) -> bool {
    match peer {
        Peer::Pods { namespaces, pods } => world.pod(endpoint).is_some_and(|pod| {
            let in_namespace = match namespaces {
                None => pod.namespace == policy.namespace,
                Some(selector) => selector.matches(pod.namespace_labels),
            };
            in_namespace && pods.matches(pod.labels)
        }),
        // Pods have no address in the world: an ipBlock never matches one.
        Peer::IpBlock { cidr, except } => world
            .address(endpoint)
            .is_some_and(|ip| cidr_contains(cidr, ip) && !except.iter().any(|e| cidr_contains(e, ip))),
    }
}

/// Whether a port rule admits `port` on a connection to `destination`. A named port
/// is looked up among the destination pod's container ports, with the rule's protocol;
/// a destination that is not a pod has no named ports.
fn port_matches(world: &World, rule: &PortRule, port: L4Port, destination: &Endpoint) -> bool {
    if rule.protocol != port.transport {
        return false;
    }
    match &rule.port {
        PortMatch::Any => true,
        PortMatch::Range(first, last) => (*first..=*last).contains(&port.number),
        PortMatch::Name(name) => world.pod(destination).is_some_and(|pod| {
            pod.named_ports.iter().any(|(n, number, transport)| {
                *n == name.as_str() && *number == port.number && *transport == port.transport
            })
        }),
    }
}

/// The ports a rule could admit to `destination`, for enumerating candidates: without
/// `ports`, [`World::ports_to`]; a protocol-wide rule, those numbers in its protocol;
/// a range, its ends and the destination's ports inside it; a name, what it resolves to.
fn rule_ports(world: &World, rule: &Rule, destination: &Endpoint) -> Vec<L4Port> {
    let known = world.ports_into(destination);
    let Some(port_rules) = &rule.ports else { return known.into_owned() };
    let mut out = Vec::new();
    for p in port_rules {
        let with_protocol = |number: u16| L4Port { number, transport: p.protocol };
        match &p.port {
            PortMatch::Any => out.extend(known.iter().map(|k| with_protocol(k.number))),
            PortMatch::Range(first, last) => {
                out.push(with_protocol(*first));
                out.push(with_protocol(*last));
                out.extend(
                    known.iter().filter(|k| (*first..=*last).contains(&k.number)).map(|k| with_protocol(k.number)),
                );
            }
            PortMatch::Name(name) => {
                if let Some(pod) = world.pod(destination) {
                    out.extend(
                        pod.named_ports
                            .iter()
                            .filter(|(n, _, transport)| *n == name.as_str() && *transport == p.protocol)
                            .map(|(_, number, _)| with_protocol(*number)),
                    );
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `None` (an absent or empty list) matches everything; a list, when any item does.
fn none_or_any<T>(items: Option<&Vec<T>>, f: impl FnMut(&T) -> bool) -> bool {
    match items {
        None => true,
        Some(items) => items.iter().any(f),
    }
}

#[cfg(test)]
mod tests;

/// The indexes against the plain scans they replace, on random policies.
#[cfg(test)]
mod index_tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::ir::sample::shop;
    use crate::ir::{IngressKind, MeshKind};
    use crate::verify::manifests::parse_documents;

    const NAMESPACES: [&str; 3] = ["shop", "data", "kube-system"];
    const APPS: [&str; 4] = ["web", "api", "postgres", "batch"];

    /// A selector of the sample's labels: `{}` or one or two `app`/`k8s-app` labels.
    fn selector() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{}".to_string()),
            prop::sample::select(APPS.to_vec()).prop_map(|app| format!("{{matchLabels: {{app: {app}}}}}")),
            Just("{matchLabels: {k8s-app: kube-dns}}".to_string()),
            Just("{matchLabels: {app: web, tier: x}}".to_string()),
            Just("{matchExpressions: [{key: app, operator: In, values: [api, web]}]}".to_string()),
        ]
    }

    fn peer() -> impl Strategy<Value = String> {
        let namespace = prop::sample::select(NAMESPACES.to_vec())
            .prop_map(|ns| format!("{{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}"));
        prop_oneof![
            selector().prop_map(|pods| format!("{{podSelector: {pods}}}")),
            (namespace.clone(), selector())
                .prop_map(|(ns, pods)| format!("{{namespaceSelector: {ns}, podSelector: {pods}}}")),
            namespace.prop_map(|ns| format!("{{namespaceSelector: {ns}}}")),
            Just("{namespaceSelector: {}}".to_string()),
            Just("{ipBlock: {cidr: 0.0.0.0/0}}".to_string()),
        ]
    }

    /// A rule: some peers (none: every peer) and a port.
    fn rule() -> impl Strategy<Value = String> {
        (prop::collection::vec(peer(), 0..3), prop::sample::select(vec![None, Some(8080), Some(5432)])).prop_map(
            |(peers, port)| {
                let ports = port.map_or(String::new(), |p| format!(", ports: [{{port: {p}}}]"));
                format!("{{from: [{}]{ports}}}", peers.join(", "))
            },
        )
    }

    /// A policy with up to a dozen ingress rules, so that some are indexed by peer.
    fn policy() -> impl Strategy<Value = (String, String, Vec<String>)> {
        (
            prop::sample::select(NAMESPACES.to_vec()).prop_map(str::to_string),
            selector(),
            prop::collection::vec(rule(), 0..12),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn indexed_lookups_equal_linear_scans(policies in prop::collection::vec(policy(), 1..6)) {
            let yaml: String = policies
                .iter()
                .enumerate()
                .map(|(i, (ns, pods, rules))| {
                    format!(
                        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{i}, namespace: {ns}}}\nspec: {{podSelector: {pods}, ingress: [{}]}}\n---\n",
                        rules.join(", ")
                    )
                })
                .collect();
            let (layer, problems) = NetworkPolicies::new(&parse_documents(Path::new("t.yaml"), &yaml).unwrap());
            prop_assert!(problems.is_empty(), "{problems:?}");
            let policy = shop(IngressKind::Nginx, MeshKind::None);
            let world = World::new(&policy);
            for endpoint in &world.endpoints {
                let Some(pod) = world.pod(endpoint) else { continue };
                let linear: Vec<usize> = (0..layer.policies.len())
                    .filter(|i| {
                        let p = &layer.policies[*i];
                        p.namespace == pod.namespace && p.pods.matches(pod.labels) && p.ingress.is_some()
                    })
                    .collect();
                prop_assert_eq!(layer.isolating(&pod, Direction::Ingress), linear);
            }
            for i in 0..layer.policies.len() {
                let (policy, rules, index) = layer.rules_of(i, Direction::Ingress);
                for peer in &world.endpoints {
                    let indexed = index.any_rule(world.pod(peer).as_ref(), |r| rule_matches_peer(&world, policy, &rules[r], peer));
                    let linear = rules.iter().any(|r| rule_matches_peer(&world, policy, r, peer));
                    prop_assert_eq!(indexed, linear, "{:?} {:?}", policy.at, peer);
                }
            }
        }
    }

    /// [`Layer::verdicts`] with the isolating policies found once agrees with deciding
    /// each connection on its own.
    #[test]
    fn verdicts_agree_with_decide_and_sides() {
        let policy = shop(IngressKind::Nginx, MeshKind::None);
        let world = World::new(&policy);
        let manifests = crate::verify::manifests::from_objects(&crate::backends::netpol::emit(&policy)).unwrap();
        let layer = NetworkPolicies::new(&manifests).0;
        let connections: Vec<Connection> = world
            .endpoints
            .iter()
            .flat_map(|s| world.endpoints.iter().map(move |d| (s, d)))
            .flat_map(|(s, d)| {
                world.ports_to(d).into_iter().map(|port| Connection { source: s.clone(), destination: d.clone(), port })
            })
            .collect();
        let verdicts = layer.verdicts(&world, &connections);
        for (connection, verdict) in connections.iter().zip(verdicts) {
            let sides = layer.sides(&world, connection).map(|s| s.map(|d| d.allowed));
            assert_eq!(
                verdict,
                Verdict { allowed: layer.decide(&world, connection, None).allowed, sides },
                "{connection:?}"
            );
        }
    }
}
