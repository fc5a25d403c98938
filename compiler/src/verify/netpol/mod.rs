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

use std::collections::{BTreeMap, BTreeSet};

use parse::{NetPol, Peer, PortMatch, PortRule, Rule};

use super::world::cidr_contains;
use super::{Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, Pod, Problem, Request, World};

/// The only API version of NetworkPolicy that Kubernetes serves (since 1.16).
const API_VERSION: &str = "networking.k8s.io/v1";
const KIND: &str = "NetworkPolicy";

/// Every NetworkPolicy of the manifests, ready to decide connections.
#[derive(Debug, Default)]
pub struct NetworkPolicies {
    /// In the order read, one per (namespace, name).
    policies: Vec<NetPol>,
    /// Indexes into `policies` by namespace: a policy only ever applies to its own.
    by_namespace: BTreeMap<String, Vec<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
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

impl NetworkPolicies {
    pub fn new(manifests: &[Manifest]) -> (NetworkPolicies, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut by_name: BTreeMap<(String, String), NetPol> = BTreeMap::new();
        for manifest in manifests {
            if manifest.kind() != KIND {
                continue;
            }
            if manifest.api_version != API_VERSION {
                // Kubernetes' own kind at a version no supported cluster serves; another
                // group's NetworkPolicy (Calico's, ...) is not ours to read.
                if matches!(manifest.group(), "networking.k8s.io" | "extensions") {
                    problems.push(Problem {
                        at: manifest.at.clone(),
                        message: format!("`{}` is not served by Kubernetes; use `{API_VERSION}`", manifest.api_version),
                    });
                }
                continue;
            }
            match parse::read(manifest) {
                Ok(policy) => {
                    let key = (policy.namespace.clone(), manifest.at.name.clone());
                    if let Some(earlier) = by_name.insert(key, policy) {
                        // Applied in order, the later object replaces the earlier one.
                        problems.push(Problem {
                            at: manifest.at.clone(),
                            message: format!("has the same namespace and name as {}, which it replaces", earlier.at),
                        });
                    }
                }
                Err(message) => problems.push(Problem { at: manifest.at.clone(), message }),
            }
        }
        let mut policies: Vec<NetPol> = by_name.into_values().collect();
        policies.sort_by(|a, b| a.at.cmp(&b.at));
        let mut by_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in policies.iter().enumerate() {
            by_namespace.entry(p.namespace.clone()).or_default().push(i);
        }
        (NetworkPolicies { policies, by_namespace }, problems)
    }

    /// The policies that isolate `pod` in `direction`, with their rules.
    fn isolating<'s>(&'s self, pod: &Pod, direction: Direction) -> Vec<(&'s NetPol, &'s [Rule])> {
        let indexes = self.by_namespace.get(pod.namespace).map_or(&[][..], Vec::as_slice);
        indexes
            .iter()
            .filter_map(|i| self.policies.get(*i))
            .filter(|p| p.pods.matches(pod.labels))
            .filter_map(|p| rules(p, direction).map(|r| (p, r)))
            .collect()
    }

    /// One side of a connection: the destination's ingress or the source's egress.
    fn side(&self, world: &World, connection: &Connection, direction: Direction) -> Side {
        let (selected, peer) = match direction {
            Direction::Ingress => (&connection.destination, &connection.source),
            Direction::Egress => (&connection.source, &connection.destination),
        };
        let Some(pod) = world.pod(selected) else { return Side::Open };
        let isolating = self.isolating(&pod, direction);
        if isolating.is_empty() {
            return Side::Open;
        }
        let allowing: Vec<ObjectRef> = isolating
            .iter()
            .filter(|(policy, rules)| rules.iter().any(|r| rule_allows(world, policy, r, peer, connection)))
            .map(|(policy, _)| policy.at.clone())
            .collect();
        if allowing.is_empty() {
            Side::Denied(isolating.into_iter().map(|(p, _)| p.at.clone()).collect())
        } else {
            Side::Allowed(allowing)
        }
    }

    /// The connections one side of `pod` could allow, into `out`.
    fn candidates_of(
        &self,
        world: &World,
        pod_endpoint: &Endpoint,
        direction: Direction,
        out: &mut BTreeSet<Connection>,
    ) {
        let Some(pod) = world.pod(pod_endpoint) else { return };
        let connect = |peer: &Endpoint, port: L4Port| match direction {
            Direction::Ingress => Connection { source: peer.clone(), destination: pod_endpoint.clone(), port },
            Direction::Egress => Connection { source: pod_endpoint.clone(), destination: peer.clone(), port },
        };
        let isolating = self.isolating(&pod, direction);
        if isolating.is_empty() {
            for peer in &world.endpoints {
                let destination = if direction == Direction::Ingress { pod_endpoint } else { peer };
                out.extend(world.ports_to(destination).into_iter().map(|port| connect(peer, port)));
            }
            return;
        }
        for (policy, rules) in isolating {
            for rule in rules {
                for peer in world.endpoints.iter().filter(|e| rule_matches_peer(world, policy, rule, e)) {
                    let destination = if direction == Direction::Ingress { pod_endpoint } else { peer };
                    out.extend(rule_ports(world, rule, destination).into_iter().map(|port| connect(peer, port)));
                }
            }
        }
    }
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
        let mut out = BTreeSet::new();
        for endpoint in &world.endpoints {
            self.candidates_of(world, endpoint, Direction::Ingress, &mut out);
            self.candidates_of(world, endpoint, Direction::Egress, &mut out);
        }
        out.into_iter().collect()
    }

    /// Allowed when both the source's egress and the destination's ingress allow it;
    /// `because` names the policies whose rules allowed it, or, when denied, the
    /// policies that isolate the side(s) that denied it.
    fn decide(&self, world: &World, connection: &Connection, _request: Option<&Request>) -> Decision {
        let sides = [self.side(world, connection, Direction::Egress), self.side(world, connection, Direction::Ingress)];
        let denied: BTreeSet<ObjectRef> = sides
            .iter()
            .filter_map(|s| if let Side::Denied(by) = s { Some(by) } else { None })
            .flatten()
            .cloned()
            .collect();
        if !denied.is_empty() {
            return Decision::deny(denied.into_iter().collect());
        }
        let allowed: BTreeSet<ObjectRef> = sides
            .iter()
            .filter_map(|s| if let Side::Allowed(by) = s { Some(by) } else { None })
            .flatten()
            .cloned()
            .collect();
        Decision::allow(allowed.into_iter().collect())
    }

    fn paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// [egress of the source, ingress of the destination]; an open side (nothing
    /// isolates it) allows.
    fn sides(&self, world: &World, connection: &Connection) -> Option<[Decision; 2]> {
        let decision = |side: Side| match side {
            Side::Open => Decision::allow(Vec::new()),
            Side::Allowed(by) => Decision::allow(by),
            Side::Denied(by) => Decision::deny(by),
        };
        Some([
            decision(self.side(world, connection, Direction::Egress)),
            decision(self.side(world, connection, Direction::Ingress)),
        ])
    }
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
    let known = world.ports_to(destination);
    let Some(port_rules) = &rule.ports else { return known };
    let mut out = BTreeSet::new();
    for p in port_rules {
        let with_protocol = |number: u16| L4Port { number, transport: p.protocol };
        match &p.port {
            PortMatch::Any => out.extend(known.iter().map(|k| with_protocol(k.number))),
            PortMatch::Range(first, last) => {
                out.insert(with_protocol(*first));
                out.insert(with_protocol(*last));
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
    out.into_iter().collect()
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
