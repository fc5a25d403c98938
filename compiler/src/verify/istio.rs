//! Istio: what `PeerAuthentication` and `AuthorizationPolicy` objects let through to
//! workloads that run a sidecar, read with Istio's own semantics.
//!
//! Takes: every manifest read from a directory (whoever wrote them) and the mesh's trust
//! domain; objects of other kinds are ignored.
//! Gives: [`IstioPolicies`], a [`Layer`] that decides connections and HTTP requests into
//! meshed pods, and a [`Problem`] for every object it could not interpret.
//! Must not: assume the objects came from segc (no reuse of the backend's logic), or
//! panic on any hand edit: a field of the wrong shape is a problem, never a crash.
//!
//! Semantics (security.istio.io `v1` and `v1beta1`):
//! - mTLS mode per (workload, port): the workload's own PeerAuthentication (selector in
//!   its namespace; `portLevelMtls` first), else the namespace's (no selector), else the
//!   mesh's (no selector, root namespace `istio-system`), else `PERMISSIVE`; `UNSET`
//!   inherits. `STRICT` refuses plaintext; `DISABLE` takes every peer's principal away.
//!   A selector in the root namespace is ignored, as Istio does.
//! - Authorization (the order Envoy's filters run): a matching `CUSTOM` rule denies (the
//!   external authorizer is not modelled: it may deny, so verify assumes it does), then a
//!   matching `DENY` rule denies, then with no `ALLOW` policy the request passes, else it
//!   passes iff some rule of some `ALLOW` policy matches. `AUDIT` changes nothing.
//! - On a port that is not HTTP, Istio drops a whole `ALLOW` rule that uses HTTP-only
//!   fields (methods, paths, hosts, requestPrincipals, `request.*` conditions), and drops
//!   only those fields from a `DENY` rule, which then denies more (istio
//!   `pilot/pkg/security/authz/model`, `checkError`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::verify::value::{Mapping, Value};
use rayon::prelude::*;

use super::crd_value::{age, mapping, mapping_or_empty, sequence, show, At};
use super::index::{first_label, SelectorIndex};
use super::world::{cidr_contains, Transport};
use super::{
    verdicts_by_destination, Candidates, Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, OpenPort,
    Pod, Problem, Request, Verdict, World,
};

/// Istio's default root namespace (mesh config `rootNamespace`): policies here without a
/// selector apply to the whole mesh.
pub const ROOT_NAMESPACE: &str = "istio-system";
const GROUP: &str = "security.istio.io";
const VERSIONS: [&str; 2] = ["v1", "v1beta1"];
/// A trust domain in a policy's principal that Istio reads as "the local trust domain".
const LOCAL_TRUST_DOMAIN: &str = "cluster.local";
/// Path and method for sample requests that no rule names.
const UNNAMED: &str = "segc-verify";

/// The Istio policies of a directory, ready to decide.
#[derive(Debug)]
pub struct IstioPolicies {
    trust_domain: String,
    /// Oldest first.
    peer_authentications: Vec<PeerAuthentication>,
    /// Indexes into `peer_authentications` by namespace and a label of the workloads
    /// they select.
    peer_authentications_in: SelectorIndex,
    authorization_policies: Vec<AuthorizationPolicy>,
    /// Indexes into `authorization_policies` by the namespace (none for the root
    /// namespace, whose policies apply everywhere) and a label of the workloads they
    /// select.
    applying: SelectorIndex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mtls {
    Strict,
    Permissive,
    Disable,
}

#[derive(Debug)]
struct PeerAuthentication {
    at: ObjectRef,
    namespace: String,
    selector: Option<BTreeMap<String, String>>,
    /// `None` for `UNSET` (inherit).
    mode: Option<Mtls>,
    ports: BTreeMap<u16, Mtls>,
    /// Istio keeps the oldest of equally specific policies: creation time, then name.
    age: (String, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Deny,
    Custom,
}

#[derive(Debug)]
struct AuthorizationPolicy {
    at: ObjectRef,
    namespace: String,
    /// `None` (or empty) selects every workload in scope.
    selector: Option<BTreeMap<String, String>>,
    action: Action,
    rules: Vec<Rule>,
}

/// One rule: an empty `from` or `to` matches everything, as in Istio.
#[derive(Debug, Default)]
struct Rule {
    from: Vec<Source>,
    to: Vec<Operation>,
    when: Vec<Condition>,
}

/// A constrained attribute: one of `values` (if any) and none of `not_values`.
#[derive(Debug, Default)]
struct Field {
    values: Vec<String>,
    not_values: Vec<String>,
}

#[derive(Debug, Default)]
struct Source {
    principals: Field,
    namespaces: Field,
    ip_blocks: Field,
    remote_ip_blocks: Field,
    request_principals: Field,
}

#[derive(Debug, Default)]
struct Operation {
    ports: Field,
    methods: Field,
    paths: Field,
    hosts: Field,
}

#[derive(Debug)]
enum Condition {
    SourcePrincipal(Field),
    SourceNamespace(Field),
    /// `source.ip` and `remote.ip`: without proxies in between they are the same address.
    SourceIp(Field),
    DestinationPort(Field),
    /// `request.headers[..]` and `request.auth.*`: verify's requests carry no headers and
    /// no JWT, so values never match and not-values never exclude. HTTP-only.
    Request(Field),
    /// A key verify does not model (reported as a problem): taken to match in `DENY` and
    /// `CUSTOM` rules and never in `ALLOW` rules, i.e. never in the allowing direction.
    Unknown,
}

/// What the destination's sidecar knows about the peer.
struct Peer {
    principal: Option<String>,
    address: Option<IpAddr>,
}

/// A connection into a sidecar, as far as its requests do not matter.
struct Inbound<'a> {
    /// The authorization policies that apply to the destination, in order.
    policies: Vec<&'a AuthorizationPolicy>,
    peer: Peer,
    /// The destination port as policies write it (`"8080"`).
    port: String,
    /// Whether Istio parses the port as HTTP.
    http: bool,
    /// On an HTTP port, per policy, the rules whose sources and conditions admit the
    /// peer: they do not depend on the request, which then only has to match one of
    /// their operations.
    peer_rules: Vec<Vec<&'a Rule>>,
}

impl Inbound<'_> {
    fn evaluate(&self, layer: &IstioPolicies, traffic: Traffic) -> Decision {
        decision(&self.policies, |i| self.matches(layer, i, traffic))
    }

    /// Whether [`Inbound::evaluate`] allows, without naming the objects.
    fn allows(&self, layer: &IstioPolicies, traffic: Traffic) -> bool {
        allowed(&self.policies, |i| self.matches(layer, i, traffic))
    }

    /// Whether a rule of the `i`th policy matches.
    fn matches(&self, layer: &IstioPolicies, i: usize, traffic: Traffic) -> bool {
        match traffic {
            Traffic::Http(_) if self.http => {
                self.peer_rules[i].iter().any(|r| operations_match(r, &self.port, traffic))
            }
            _ => {
                let policy = self.policies[i];
                policy.rules.iter().any(|r| layer.rule_matches(r, policy.action, &self.peer, &self.port, traffic))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Traffic<'a> {
    /// A port Istio does not parse as HTTP.
    Tcp,
    Http(&'a Request),
}

impl IstioPolicies {
    pub fn new(manifests: &[Manifest], trust_domain: &str) -> (Self, Vec<Problem>) {
        let items = manifests.par_iter().filter_map(|m| IstioPolicies::read(m, trust_domain)).collect();
        IstioPolicies::from_items(items, trust_domain)
    }

    /// The object read on its own, if it is a kind this layer reads.
    pub fn read(manifest: &Manifest, trust_domain: &str) -> Option<Item> {
        let ours = manifest.group() == GROUP && matches!(manifest.kind(), "PeerAuthentication" | "AuthorizationPolicy");
        ours.then(|| {
            let mut notes = Vec::new();
            let read = read_object(manifest, trust_domain, &mut notes);
            Item { at: manifest.at.clone(), read, notes }
        })
    }

    /// The layer of the objects read, in the order of their files.
    pub fn from_items(items: Vec<Item>, trust_domain: &str) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut peer_authentications = Vec::new();
        let mut authorization_policies = Vec::new();
        for Item { at, read, notes } in items {
            match read {
                Some(Read::PeerAuthentication(pa)) => peer_authentications.push(pa),
                Some(Read::AuthorizationPolicy(policy)) => authorization_policies.push(policy),
                None => {}
            }
            problems.extend(notes.into_iter().map(|message| Problem { at: at.clone(), message }));
        }
        peer_authentications.sort_by(|a, b| a.age.cmp(&b.age));
        conflicting_peer_authentications(&peer_authentications, &mut problems);
        let mut peer_authentications_in = SelectorIndex::default();
        for (i, pa) in peer_authentications.iter().enumerate() {
            peer_authentications_in.insert(i, Some(&pa.namespace), pa.selector.as_ref().and_then(first_label));
        }
        let mut applying = SelectorIndex::default();
        for (i, p) in authorization_policies.iter().enumerate() {
            let namespace = (p.namespace != ROOT_NAMESPACE).then_some(p.namespace.as_str());
            applying.insert(i, namespace, p.selector.as_ref().and_then(first_label));
        }
        let policies = IstioPolicies {
            trust_domain: trust_domain.to_string(),
            peer_authentications,
            peer_authentications_in,
            authorization_policies,
            applying,
        };
        (policies, problems)
    }

    fn principal(&self, pod: &Pod) -> String {
        format!("{}/ns/{}/sa/{}", self.trust_domain, pod.namespace, pod.account)
    }

    /// The mTLS mode of a workload's port and the PeerAuthentication that set it.
    fn mtls(&self, pod: &Pod, port: u16) -> (Mtls, Option<&ObjectRef>) {
        let find = |namespace: &str, workload: bool| {
            let candidates = self.peer_authentications_in.candidates(namespace, pod.labels);
            candidates.into_iter().map(|i| &self.peer_authentications[i]).find(|pa| {
                pa.namespace == namespace
                    && match (&pa.selector, workload) {
                        (None, false) => true,
                        (Some(selector), true) => labels_match(selector, pod.labels),
                        _ => false,
                    }
            })
        };
        let mesh = find(ROOT_NAMESPACE, false);
        let namespace = find(pod.namespace, false);
        // Istio ignores workload selectors in the root namespace.
        let workload = if pod.namespace == ROOT_NAMESPACE { None } else { find(pod.namespace, true) };
        let mut mode = (Mtls::Permissive, None);
        for pa in [mesh, namespace, workload].into_iter().flatten() {
            if let Some(m) = pa.mode {
                mode = (m, Some(&pa.at));
            }
        }
        if let Some(pa) = workload {
            if let Some(m) = pa.ports.get(&port) {
                mode = (*m, Some(&pa.at));
            }
        }
        mode
    }

    /// The authorization policies that apply to a workload, in order.
    fn applicable(&self, pod: &Pod) -> Vec<&AuthorizationPolicy> {
        let candidates = self.applying.candidates(pod.namespace, pod.labels);
        let policies = candidates.into_iter().map(|i| &self.authorization_policies[i]);
        policies
            .filter(|p| {
                (p.namespace == pod.namespace || p.namespace == ROOT_NAMESPACE)
                    && p.selector.as_ref().map_or(true, |s| labels_match(s, pod.labels))
            })
            .collect()
    }

    /// What decides a connection besides the request, or the decision when the
    /// request cannot matter (no sidecar; plaintext refused).
    fn inbound<'a>(&'a self, world: &World, connection: &Connection) -> Result<Inbound<'a>, Decision> {
        // Without a sidecar nothing is enforced.
        let Some(pod) = world.pod(&connection.destination).filter(|p| p.meshed) else {
            return Err(Decision::allow(Vec::new()));
        };
        self.inbound_to(world, connection, &pod, self.applicable(&pod))
    }

    /// [`Self::inbound`] when the destination is a meshed `pod` and `policies` are
    /// those that apply to it.
    fn inbound_to<'a>(
        &'a self,
        world: &World,
        connection: &Connection,
        pod: &Pod,
        policies: Vec<&'a AuthorizationPolicy>,
    ) -> Result<Inbound<'a>, Decision> {
        let port = connection.port.number;
        let (mode, set_by) = self.mtls(pod, port);
        let source_pod = world.pod(&connection.source);
        let meshed_source = source_pod.as_ref().is_some_and(|p| p.meshed);
        if mode == Mtls::Strict && !meshed_source {
            return Err(Decision::deny(set_by.into_iter().cloned().collect()));
        }
        let principal = match source_pod {
            Some(p) if p.meshed && mode != Mtls::Disable => Some(self.principal(&p)),
            _ => None,
        };
        let peer = Peer { principal, address: world.address(&connection.source) };
        let port = port.to_string();
        let http = is_http(world, &connection.destination, connection.port);
        let peer_rules = if http {
            let admits = |r: &&Rule, action| self.admits_on_http(r, action, &peer, &port);
            policies.iter().map(|p| p.rules.iter().filter(|r| admits(r, p.action)).collect()).collect()
        } else {
            Vec::new()
        };
        Ok(Inbound { policies, peer, port, http, peer_rules })
    }

    fn rule_matches(&self, rule: &Rule, action: Action, peer: &Peer, port: &str, traffic: Traffic) -> bool {
        let tcp = matches!(traffic, Traffic::Tcp);
        if tcp && action == Action::Allow && rule.uses_http() {
            return false;
        }
        let from = rule.from.is_empty() || rule.from.iter().any(|s| self.source_matches(s, peer, tcp));
        from && operations_match(rule, port, traffic)
            && rule.when.iter().all(|c| self.condition_matches(c, action, peer, port, tcp))
    }

    /// [`Self::rule_matches`] on HTTP but for the operations: the part that does not
    /// depend on the request.
    fn admits_on_http(&self, rule: &Rule, action: Action, peer: &Peer, port: &str) -> bool {
        (rule.from.is_empty() || rule.from.iter().any(|s| self.source_matches(s, peer, false)))
            && rule.when.iter().all(|c| self.condition_matches(c, action, peer, port, false))
    }

    fn source_matches(&self, source: &Source, peer: &Peer, tcp: bool) -> bool {
        let principal = peer.principal.as_deref();
        field_matches(&source.principals, principal, string_match)
            && field_matches(&source.namespaces, principal.and_then(namespace_of), string_match)
            && ip_matches(&source.ip_blocks, peer.address)
            && ip_matches(&source.remote_ip_blocks, peer.address)
            // No request carries a JWT; on TCP the field is dropped (DENY) or the rule is.
            && (tcp || field_matches(&source.request_principals, None, string_match))
    }

    fn condition_matches(&self, condition: &Condition, action: Action, peer: &Peer, port: &str, tcp: bool) -> bool {
        let principal = peer.principal.as_deref();
        match condition {
            Condition::SourcePrincipal(f) => field_matches(f, principal, string_match),
            Condition::SourceNamespace(f) => field_matches(f, principal.and_then(namespace_of), string_match),
            Condition::SourceIp(f) => ip_matches(f, peer.address),
            Condition::DestinationPort(f) => field_matches(f, Some(port), |p, v| p == v),
            Condition::Request(f) => tcp || field_matches(f, None, string_match),
            Condition::Unknown => action != Action::Allow,
        }
    }

    /// Endpoints a rule's `from` may admit, resolved through exact principals and
    /// namespaces; anything looser admits every endpoint.
    fn rule_sources<'w>(
        &self,
        rule: &Rule,
        world: &'w World,
        by_principal: &BTreeMap<String, Vec<&'w Endpoint>>,
    ) -> BTreeSet<&'w Endpoint> {
        let everyone = || world.endpoints.iter().collect::<BTreeSet<_>>();
        if rule.from.is_empty() {
            return everyone();
        }
        let mut out = BTreeSet::new();
        for source in &rule.from {
            let exact = |f: &Field| !f.values.is_empty() && f.values.iter().all(|v| !v.contains('*'));
            if exact(&source.principals) {
                for principal in &source.principals.values {
                    let local = principal
                        .strip_prefix(LOCAL_TRUST_DOMAIN)
                        .filter(|rest| rest.starts_with('/'))
                        .map(|rest| format!("{}{rest}", self.trust_domain));
                    for key in std::iter::once(principal).chain(local.as_ref()) {
                        out.extend(by_principal.get(key).into_iter().flatten().copied());
                    }
                }
            } else if exact(&source.namespaces) {
                for namespace in &source.namespaces.values {
                    out.extend(world.pods_in(namespace));
                }
            } else {
                return everyone();
            }
        }
        out
    }
}

impl Rule {
    /// Whether the rule names any HTTP-only attribute.
    fn uses_http(&self) -> bool {
        self.from.iter().any(|s| s.request_principals.is_set())
            || self.to.iter().any(|o| o.methods.is_set() || o.paths.is_set() || o.hosts.is_set())
            || self.when.iter().any(|c| matches!(c, Condition::Request(_)))
    }
}

impl Field {
    fn is_set(&self) -> bool {
        !self.values.is_empty() || !self.not_values.is_empty()
    }

    fn patterns(&self) -> impl Iterator<Item = &String> {
        self.values.iter().chain(&self.not_values)
    }
}

impl Layer for IstioPolicies {
    fn name(&self) -> &'static str {
        "Istio"
    }

    /// Connections into a meshed pod over TCP: sidecars do not intercept UDP.
    fn governs(&self, world: &World, connection: &Connection) -> bool {
        connection.port.transport == Transport::Tcp && world.pod(&connection.destination).is_some_and(|p| p.meshed)
    }

    fn candidates(&self, world: &World) -> Vec<Connection> {
        self.candidate_groups(world).expand(world)
    }

    /// Sources that ALLOW rules name by principal or namespace one by one. Into a
    /// workload no policy applies to, open ports: its sidecar tells sources apart only
    /// by whether they have one (mTLS).
    fn candidate_groups(&self, world: &World) -> Candidates {
        let (meshed, unmeshed): (Vec<Endpoint>, Vec<Endpoint>) =
            world.endpoints.iter().cloned().partition(|e| world.pod(e).is_some_and(|p| p.meshed));
        let classes = vec![meshed, unmeshed];
        let mut open = Vec::new();
        let mut by_principal: BTreeMap<String, Vec<&Endpoint>> = BTreeMap::new();
        for endpoint in &world.endpoints {
            if let Some(pod) = world.pod(endpoint).filter(|p| p.meshed) {
                by_principal.entry(self.principal(&pod)).or_default().push(endpoint);
            }
        }
        let mut out = Vec::new();
        let mut push = |source: &Endpoint, destination: &Endpoint, port: L4Port| {
            out.push(Connection { source: source.clone(), destination: destination.clone(), port });
        };
        for destination in &world.endpoints {
            let Some(pod) = world.pod(destination).filter(|p| p.meshed) else { continue };
            let applicable = self.applicable(&pod);
            if applicable.is_empty() {
                for port in world.ports_to(destination) {
                    open.push(OpenPort { destination: destination.clone(), port, classes: vec![0, 1] });
                }
                continue;
            }
            let allows: Vec<&AuthorizationPolicy> =
                applicable.into_iter().filter(|p| p.action == Action::Allow).collect();
            if allows.is_empty() {
                // Nothing but DENY can apply, which never adds a connection.
                for source in &world.endpoints {
                    for port in world.ports_to(destination) {
                        push(source, destination, port);
                    }
                }
                continue;
            }
            for rule in allows.iter().flat_map(|p| &p.rules) {
                let ports = rule_ports(rule).unwrap_or_else(|| world.ports_to(destination));
                for source in self.rule_sources(rule, world, &by_principal) {
                    for port in &ports {
                        push(source, destination, *port);
                    }
                }
            }
        }
        out.par_sort_unstable();
        out.dedup();
        Candidates { connections: out, classes, open, open_sides: Vec::new() }
    }

    fn decide(&self, world: &World, connection: &Connection, request: Option<&Request>) -> Decision {
        let inbound = match self.inbound(world, connection) {
            Ok(inbound) => inbound,
            Err(decided) => return decided,
        };
        if !inbound.http {
            return inbound.evaluate(self, Traffic::Tcp);
        }
        if let Some(request) = request {
            return inbound.evaluate(self, Traffic::Http(request));
        }
        // Any request at all: one sample per class of requests the rules tell apart.
        let mut first_denial = None;
        for request in sample_requests(&inbound.policies) {
            let decision = inbound.evaluate(self, Traffic::Http(&request));
            if decision.allowed {
                return decision;
            }
            first_denial.get_or_insert(decision);
        }
        first_denial.unwrap_or_else(|| Decision::deny(Vec::new()))
    }

    /// Per destination, the policies that apply and the sample requests once.
    fn verdicts(&self, world: &World, connections: &[Connection]) -> Vec<Verdict> {
        verdicts_by_destination(connections, |destination| {
            let pod = world.pod(destination).filter(|p| p.meshed);
            let policies = pod.as_ref().map(|p| self.applicable(p)).unwrap_or_default();
            let mut samples = None;
            move |connection: &Connection| {
                // Without a sidecar nothing is enforced.
                let Some(pod) = &pod else { return true };
                match self.inbound_to(world, connection, pod, policies.clone()) {
                    Err(decided) => decided.allowed,
                    Ok(inbound) if !inbound.http => inbound.allows(self, Traffic::Tcp),
                    // As `decide`: whether any sample request passes.
                    Ok(inbound) => samples
                        .get_or_insert_with(|| sample_requests(&policies))
                        .iter()
                        .any(|r| inbound.allows(self, Traffic::Http(r))),
                }
            }
        })
    }

    fn allows_requests(&self, world: &World, connections: &[&Connection], requests: &[Request]) -> Vec<Vec<bool>> {
        let allowed = |connection: &Connection| match self.inbound(world, connection) {
            Ok(inbound) if inbound.http => requests.iter().map(|r| inbound.allows(self, Traffic::Http(r))).collect(),
            Ok(inbound) => vec![inbound.allows(self, Traffic::Tcp); requests.len()],
            Err(decided) => vec![decided.allowed; requests.len()],
        };
        connections.iter().map(|c| allowed(c)).collect()
    }

    /// The connection's part (peer, mTLS, applicable policies) once, then each request.
    fn decide_requests(&self, world: &World, connection: &Connection, requests: &[Request]) -> Vec<Decision> {
        match self.inbound(world, connection) {
            Ok(inbound) if inbound.http => requests.iter().map(|r| inbound.evaluate(self, Traffic::Http(r))).collect(),
            Ok(inbound) => {
                let decision = inbound.evaluate(self, Traffic::Tcp);
                requests.iter().map(|_| decision.clone()).collect()
            }
            Err(decided) => requests.iter().map(|_| decided.clone()).collect(),
        }
    }

    fn paths(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for operation in self.authorization_policies.iter().flat_map(|p| &p.rules).flat_map(|r| &r.to) {
            for pattern in operation.paths.patterns() {
                let literal = pattern.trim_start_matches('*').trim_end_matches('*');
                if !literal.is_empty() {
                    out.insert(literal.to_string());
                }
            }
        }
        out.into_iter().collect()
    }

    /// The paths of the rules of the policies that apply to the destination workload.
    fn paths_to(&self, world: &World, destination: &Endpoint) -> Vec<String> {
        let Some(pod) = world.pod(destination) else { return Vec::new() };
        let mut out = BTreeSet::new();
        for operation in self.applicable(&pod).into_iter().flat_map(|p| &p.rules).flat_map(|r| &r.to) {
            for pattern in operation.paths.patterns() {
                let literal = pattern.trim_start_matches('*').trim_end_matches('*');
                if !literal.is_empty() {
                    out.insert(literal.to_string());
                }
            }
        }
        out.into_iter().collect()
    }

    fn methods(&self) -> Vec<String> {
        let operations = self.authorization_policies.iter().flat_map(|p| &p.rules).flat_map(|r| &r.to);
        let methods: BTreeSet<String> = operations.flat_map(|o| o.methods.patterns().cloned()).collect();
        methods.into_iter().collect()
    }
}

/// Istio's order of actions, given whether each policy has a matching rule: a
/// matching `CUSTOM` policy denies, then a matching `DENY` one; with no `ALLOW`
/// policy the traffic passes, else it passes iff an `ALLOW` policy matches.
fn decision(policies: &[&AuthorizationPolicy], matches: impl Fn(usize) -> bool) -> Decision {
    let with = |action: Action| (0..policies.len()).filter(move |i| policies[*i].action == action);
    let at = |i: usize| policies[i].at.clone();
    for action in [Action::Custom, Action::Deny] {
        let hits: Vec<ObjectRef> = with(action).filter(|i| matches(*i)).map(at).collect();
        if !hits.is_empty() {
            return Decision::deny(hits);
        }
    }
    if with(Action::Allow).next().is_none() {
        return Decision::allow(Vec::new());
    }
    let hits: Vec<ObjectRef> = with(Action::Allow).filter(|i| matches(*i)).map(at).collect();
    if hits.is_empty() {
        Decision::deny(with(Action::Allow).map(at).collect())
    } else {
        Decision::allow(hits)
    }
}

/// Whether [`decision`] allows, without naming the objects.
fn allowed(policies: &[&AuthorizationPolicy], matches: impl Fn(usize) -> bool) -> bool {
    let with = |action: Action| (0..policies.len()).filter(move |i| policies[*i].action == action);
    if with(Action::Custom).chain(with(Action::Deny)).any(&matches) {
        return false;
    }
    let mut allows = with(Action::Allow).peekable();
    allows.peek().is_none() || allows.any(matches)
}

/// Whether Istio parses the destination port as HTTP: a segment port declared `http`
/// or `grpc`. Any other port (tcp, undeclared, a pod no segment describes) is TCP.
fn is_http(world: &World, destination: &Endpoint, port: L4Port) -> bool {
    let Endpoint::Segment(id) = destination else { return false };
    world
        .policy
        .segment(*id)
        .ports
        .iter()
        .any(|p| p.number == port.number && Transport::of(p.protocol) == port.transport && p.protocol.is_http())
}

/// One request per combination of the methods and path patterns the policies mention,
/// plus a method and a path none mentions: every class of requests the rules can tell
/// apart has a representative.
fn sample_requests(policies: &[&AuthorizationPolicy]) -> Vec<Request> {
    let mut methods: BTreeSet<String> = ["GET".to_string(), UNNAMED.to_ascii_uppercase()].into();
    let mut exact = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    let mut suffixes = BTreeSet::new();
    for operation in policies.iter().flat_map(|p| &p.rules).flat_map(|r| &r.to) {
        methods.extend(operation.methods.patterns().cloned());
        for pattern in operation.paths.patterns() {
            if pattern == "*" {
                continue;
            } else if let Some(suffix) = pattern.strip_prefix('*') {
                suffixes.insert(suffix.to_string());
            } else if let Some(prefix) = pattern.strip_suffix('*') {
                prefixes.insert(prefix.to_string());
            } else {
                exact.insert(pattern.clone());
            }
        }
    }
    let mut paths: BTreeSet<String> = exact;
    paths.insert(format!("/{UNNAMED}"));
    for prefix in &prefixes {
        paths.insert(prefix.clone());
        paths.insert(format!("{prefix}{UNNAMED}"));
        for suffix in &suffixes {
            paths.insert(format!("{prefix}{suffix}"));
        }
    }
    for suffix in &suffixes {
        paths.insert(format!("/{UNNAMED}{suffix}"));
    }
    methods.iter().flat_map(|m| paths.iter().map(move |p| Request { method: m.clone(), path: p.clone() })).collect()
}

/// The ports a rule's `to` names, or `None` when some operation leaves them open.
fn rule_ports(rule: &Rule) -> Option<Vec<L4Port>> {
    if rule.to.is_empty() {
        return None;
    }
    let mut ports = BTreeSet::new();
    for operation in &rule.to {
        if operation.ports.values.is_empty() {
            return None;
        }
        for port in &operation.ports.values {
            ports.insert(L4Port { number: port.parse().ok()?, transport: Transport::Tcp });
        }
    }
    Some(ports.into_iter().collect())
}

/// A rule's `to`: empty, or some operation matches.
fn operations_match(rule: &Rule, port: &str, traffic: Traffic) -> bool {
    rule.to.is_empty() || rule.to.iter().any(|o| operation_matches(o, port, traffic))
}

fn operation_matches(operation: &Operation, port: &str, traffic: Traffic) -> bool {
    let port_ok = field_matches(&operation.ports, Some(port), |p, v| p == v);
    match traffic {
        // HTTP-only fields are dropped on TCP (an ALLOW rule using them never gets here).
        Traffic::Tcp => port_ok,
        Traffic::Http(request) => {
            port_ok
                && field_matches(&operation.methods, Some(&request.method), |p, v| p == v)
                && field_matches(&operation.paths, Some(&request.path), string_match)
                // Requests carry no host verify knows: only `*` matches every host.
                && field_matches(&operation.hosts, Some("*"), |p, _| p == "*")
        }
    }
}

/// Istio reads a principal written with the `cluster.local` trust domain as one of
/// the local trust domain: adds that form next to each such pattern of the policy, so
/// that matching principals is a plain string match.
fn add_local_principals(policy: &mut AuthorizationPolicy, trust_domain: &str) {
    if trust_domain == LOCAL_TRUST_DOMAIN {
        return;
    }
    let add = |field: &mut Field| {
        let local = |patterns: &[String]| -> Vec<String> {
            patterns
                .iter()
                .filter_map(|p| p.strip_prefix(LOCAL_TRUST_DOMAIN).filter(|rest| rest.starts_with('/')))
                .map(|rest| format!("{trust_domain}{rest}"))
                .collect()
        };
        let (values, not_values) = (local(&field.values), local(&field.not_values));
        field.values.extend(values);
        field.not_values.extend(not_values);
    };
    for rule in &mut policy.rules {
        for source in &mut rule.from {
            add(&mut source.principals);
        }
        for condition in &mut rule.when {
            if let Condition::SourcePrincipal(field) = condition {
                add(field);
            }
        }
    }
}

/// `values` (if any) contain a match for `value` and `not_values` none. A missing value
/// (no principal) matches no value and no not-value.
fn field_matches(field: &Field, value: Option<&str>, matcher: impl Fn(&str, &str) -> bool) -> bool {
    let hit = |patterns: &[String]| value.is_some_and(|v| patterns.iter().any(|p| matcher(p, v)));
    (field.values.is_empty() || hit(&field.values)) && !hit(&field.not_values)
}

/// Istio's string match: `*` any non-empty value, `x*` prefix, `*x` suffix, else exact.
fn string_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        !value.is_empty()
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else {
        pattern == value
    }
}

/// IP blocks against an address. Pod addresses are unknown, so a pod is inside only the
/// blocks that hold every address (`0.0.0.0/0`, `::/0`).
fn ip_matches(field: &Field, address: Option<IpAddr>) -> bool {
    let contains = |block: &String| match address {
        Some(ip) if block.contains('/') => cidr_contains(block, ip),
        Some(ip) => block.parse::<IpAddr>().is_ok_and(|b| b == ip),
        None => block.split_once('/').is_some_and(|(_, bits)| bits == "0"),
    };
    (field.values.is_empty() || field.values.iter().any(contains)) && !field.not_values.iter().any(contains)
}

/// The namespace inside a principal `TD/ns/NS/sa/SA`.
fn namespace_of(principal: &str) -> Option<&str> {
    let (_, rest) = principal.split_once("/ns/")?;
    rest.split('/').next()
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Two PeerAuthentications of the same scope: Istio keeps the oldest, which verify can
/// only guess from `creationTimestamp` (absent in files).
fn conflicting_peer_authentications(all: &[PeerAuthentication], problems: &mut Vec<Problem>) {
    /// A namespace and a selector (none: namespace-wide).
    type Scope<'a> = (&'a str, Option<&'a BTreeMap<String, String>>);
    let mut seen: BTreeMap<Scope, &ObjectRef> = BTreeMap::new();
    // `all` is oldest first, so the first of a scope is the one Istio keeps.
    for pa in all {
        match seen.entry((&pa.namespace, pa.selector.as_ref())) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(&pa.at);
            }
            std::collections::btree_map::Entry::Occupied(e) => problems.push(Problem {
                at: pa.at.clone(),
                message: format!(
                    "has the same scope as {}; Istio keeps the older one, verify assumes {}",
                    e.get(),
                    e.get().name
                ),
            }),
        }
    }
}

// --- Reading the objects -------------------------------------------------------------

/// One object read.
enum Read {
    PeerAuthentication(PeerAuthentication),
    AuthorizationPolicy(AuthorizationPolicy),
}

/// What [`IstioPolicies`] reads of one object of its kinds, on its own: verify reads
/// each object as it parses it and keeps only this.
pub struct Item {
    at: ObjectRef,
    read: Option<Read>,
    /// What is wrong with the object.
    notes: Vec<String>,
}

/// A PeerAuthentication or AuthorizationPolicy, if it decides anything; what is wrong
/// with it into `notes`.
fn read_object(manifest: &Manifest, trust_domain: &str, notes: &mut Vec<String>) -> Option<Read> {
    let version = manifest.api_version.rsplit('/').next().unwrap_or_default();
    if !VERSIONS.contains(&version) {
        notes.push(format!("apiVersion `{}` is not one verify reads (v1, v1beta1)", manifest.api_version));
        return None;
    }
    let Some(namespace) = manifest.at.namespace.clone() else {
        notes.push("has no `metadata.namespace`".into());
        return None;
    };
    if manifest.kind() == "PeerAuthentication" {
        return match peer_authentication(manifest, namespace, notes) {
            Ok(pa) => Some(Read::PeerAuthentication(pa)),
            Err(e) => {
                notes.push(e);
                None
            }
        };
    }
    match authorization_policy(manifest, namespace, notes) {
        Ok(Some(mut policy)) => {
            if policy.action == Action::Custom {
                notes.push(
                    "action `CUSTOM` hands requests to an external authorizer that verify cannot see; \
                     verify assumes it denies what its rules match"
                        .into(),
                );
            }
            add_local_principals(&mut policy, trust_domain);
            Some(Read::AuthorizationPolicy(policy))
        }
        Ok(None) => None,
        Err(e) => {
            notes.push(e);
            None
        }
    }
}

fn peer_authentication(
    manifest: &Manifest,
    namespace: String,
    notes: &mut Vec<String>,
) -> Result<PeerAuthentication, String> {
    let spec = mapping(manifest.spec(), "spec")?;
    check_keys(spec, "spec", &["selector", "mtls", "portLevelMtls"], notes);
    let selector = selector(spec, notes)?;
    let mode = match spec.get("mtls") {
        None | Some(Value::Null) => None,
        Some(m) => mtls_mode(mapping(m, "spec.mtls")?)?,
    };
    let mut ports = BTreeMap::new();
    if let Some(levels) = spec.get("portLevelMtls").filter(|v| !v.is_null()) {
        if selector.is_none() {
            return Err("`portLevelMtls` needs a `selector` (Istio rejects it otherwise)".into());
        }
        for (port, m) in mapping(levels, "spec.portLevelMtls")? {
            let number = match port {
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("`spec.portLevelMtls` key {} is not a port number", show(port)))?;
            if let Some(m) = mtls_mode(mapping(m, "spec.portLevelMtls entry")?)? {
                ports.insert(number, m);
            }
        }
    }
    Ok(PeerAuthentication { at: manifest.at.clone(), namespace, selector, mode, ports, age: age(manifest) })
}

fn mtls_mode(mtls: &Mapping) -> Result<Option<Mtls>, String> {
    match mtls.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match &**s {
            "UNSET" => Ok(None),
            "STRICT" => Ok(Some(Mtls::Strict)),
            "PERMISSIVE" => Ok(Some(Mtls::Permissive)),
            "DISABLE" => Ok(Some(Mtls::Disable)),
            other => Err(format!("unknown mTLS mode `{other}`")),
        },
        Some(other) => Err(format!("mTLS `mode` is {}, not a string", show(other))),
    }
}

/// `Ok(None)` for an object that never decides anything (`AUDIT`).
fn authorization_policy(
    manifest: &Manifest,
    namespace: String,
    notes: &mut Vec<String>,
) -> Result<Option<AuthorizationPolicy>, String> {
    let empty = Mapping::new();
    // A missing spec is `spec: {}`: ALLOW with no rules, i.e. allow nothing.
    let spec = mapping_or_empty(manifest.spec(), "spec", &empty)?;
    check_keys(spec, "spec", &["selector", "action", "rules", "provider", "targetRef", "targetRefs"], notes);
    if spec.contains_key("targetRef") || spec.contains_key("targetRefs") {
        return Err("`targetRef(s)` attach the policy to a gateway or waypoint, which verify does not model".into());
    }
    let action = match spec.get("action") {
        None | Some(Value::Null) => Action::Allow,
        Some(Value::String(s)) => match &**s {
            "ALLOW" => Action::Allow,
            "DENY" => Action::Deny,
            "CUSTOM" => Action::Custom,
            "AUDIT" => return Ok(None),
            other => return Err(format!("unknown action `{other}`")),
        },
        Some(other) => return Err(format!("`spec.action` is {}, not a string", show(other))),
    };
    let mut rules = Vec::new();
    let rules_at = At::Root("spec.rules");
    for (i, rule) in sequence(spec.get("rules"), rules_at)?.iter().enumerate() {
        rules.push(read_rule(rule, &rules_at.index(i), notes)?);
    }
    Ok(Some(AuthorizationPolicy {
        at: manifest.at.clone(),
        namespace,
        selector: selector(spec, notes)?,
        action,
        rules,
    }))
}

fn read_rule(value: &Value, at: &At, notes: &mut Vec<String>) -> Result<Rule, String> {
    let empty = Mapping::new();
    let rule = mapping_or_empty(value, at, &empty)?;
    check_keys(rule, at, &["from", "to", "when"], notes);
    let mut out = Rule::default();
    let from_at = at.field("from");
    let from = sequence(rule.get("from"), from_at)?;
    // Sized exactly: pushed one by one, a Vec of these wide structs starts at four,
    // which held most of the layer's memory (a rule rarely has more than one of each).
    out.from.reserve_exact(from.len());
    for (i, from) in from.iter().enumerate() {
        let entry_at = from_at.index(i);
        let entry = mapping_or_empty(from, entry_at, &empty)?;
        check_keys(entry, entry_at, &["source"], notes);
        let at = entry_at.field("source");
        let source = mapping_or_empty(entry.get("source").unwrap_or(&Value::Null), at, &empty)?;
        check_keys(
            source,
            at,
            &[
                "principals",
                "notPrincipals",
                "namespaces",
                "notNamespaces",
                "ipBlocks",
                "notIpBlocks",
                "remoteIpBlocks",
                "notRemoteIpBlocks",
                "requestPrincipals",
                "notRequestPrincipals",
            ],
            notes,
        );
        out.from.push(Source {
            principals: field(source, &at, ["principals", "notPrincipals"])?,
            namespaces: field(source, &at, ["namespaces", "notNamespaces"])?,
            ip_blocks: field(source, &at, ["ipBlocks", "notIpBlocks"])?,
            remote_ip_blocks: field(source, &at, ["remoteIpBlocks", "notRemoteIpBlocks"])?,
            request_principals: field(source, &at, ["requestPrincipals", "notRequestPrincipals"])?,
        });
    }
    let to_at = at.field("to");
    let to = sequence(rule.get("to"), to_at)?;
    out.to.reserve_exact(to.len());
    for (i, to) in to.iter().enumerate() {
        let entry_at = to_at.index(i);
        let entry = mapping_or_empty(to, entry_at, &empty)?;
        check_keys(entry, entry_at, &["operation"], notes);
        let at = entry_at.field("operation");
        let operation = mapping_or_empty(entry.get("operation").unwrap_or(&Value::Null), at, &empty)?;
        check_keys(
            operation,
            at,
            &["ports", "notPorts", "methods", "notMethods", "paths", "notPaths", "hosts", "notHosts"],
            notes,
        );
        out.to.push(Operation {
            ports: field(operation, &at, ["ports", "notPorts"])?,
            methods: field(operation, &at, ["methods", "notMethods"])?,
            paths: field(operation, &at, ["paths", "notPaths"])?,
            hosts: field(operation, &at, ["hosts", "notHosts"])?,
        });
    }
    let when_at = at.field("when");
    let when = sequence(rule.get("when"), when_at)?;
    out.when.reserve_exact(when.len());
    for (i, when) in when.iter().enumerate() {
        let at = when_at.index(i);
        let condition = mapping(when, at)?;
        check_keys(condition, at, &["key", "values", "notValues"], notes);
        let key = condition.get("key").and_then(Value::as_str).ok_or_else(|| format!("`{at}.key` is missing"))?;
        let f = Field {
            values: strings(condition.get("values"), at)?,
            not_values: strings(condition.get("notValues"), at)?,
        };
        out.when.push(match key {
            "source.principal" => Condition::SourcePrincipal(f),
            "source.namespace" => Condition::SourceNamespace(f),
            "source.ip" | "remote.ip" => Condition::SourceIp(f),
            "destination.port" => Condition::DestinationPort(f),
            k if k.starts_with("request.headers[") || k.starts_with("request.auth.") => Condition::Request(f),
            other => {
                notes.push(format!(
                    "`{at}` uses condition `{other}`, which verify does not model; \
                     it is taken to match in DENY and CUSTOM rules and never in ALLOW rules"
                ));
                Condition::Unknown
            }
        });
    }
    Ok(out)
}

/// `name` and `notName` of an Istio source or operation.
fn field(map: &Mapping, at: &At, [name, not]: [&str; 2]) -> Result<Field, String> {
    Ok(Field { values: strings(map.get(name), at.field(name))?, not_values: strings(map.get(not), at.field(not))? })
}

fn selector(spec: &Mapping, notes: &mut Vec<String>) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(selector) = spec.get("selector").filter(|v| !v.is_null()) else { return Ok(None) };
    let selector = mapping(selector, "spec.selector")?;
    check_keys(selector, "spec.selector", &["matchLabels"], notes);
    let Some(labels) = selector.get("matchLabels").filter(|v| !v.is_null()) else { return Ok(None) };
    let mut out = BTreeMap::new();
    for (k, v) in mapping(labels, "spec.selector.matchLabels")? {
        match (k.as_str(), v.as_str()) {
            (Some(k), Some(v)) => out.insert(k.to_string(), v.to_string()),
            _ => {
                return Err(format!("`spec.selector.matchLabels` entry {}: {} is not a string pair", show(k), show(v)))
            }
        };
    }
    // An empty selector selects every workload, like no selector.
    Ok(Some(out).filter(|m| !m.is_empty()))
}

/// A list of strings; numbers are taken as written (`ports: [8080]`).
fn strings(value: Option<&Value>, at: impl std::fmt::Display) -> Result<Vec<String>, String> {
    sequence(value, &at)?
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(format!("`{at}` holds {}, not a string", show(other))),
        })
        .collect()
}

/// Unknown fields change nothing in Istio (the API server prunes them), so they are
/// ignored here too, but a typo such as `form:` silently widens a rule: worth telling.
fn check_keys(map: &Mapping, at: impl std::fmt::Display, known: &[&str], notes: &mut Vec<String>) {
    for key in map.keys() {
        if !key.as_str().is_some_and(|k| known.contains(&k)) {
            notes.push(format!("`{at}` has unknown field {}, which Istio ignores", show(key)));
        }
    }
}

#[cfg(test)]
mod tests;

/// The indexes against the plain scans they replace.
#[cfg(test)]
mod index_tests {
    use super::*;
    use crate::ir::sample::shop;
    use crate::ir::{IngressKind, MeshKind};

    #[test]
    fn applicable_policies_are_those_a_scan_finds() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let mut manifests = crate::verify::manifests::from_objects(&crate::backends::emit_all(&policy)).unwrap();
        // A mesh-wide policy, one in another namespace and a namespace-wide one.
        let extra = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: mesh, namespace: istio-system}\nspec: {action: DENY, rules: [{to: [{operation: {ports: ['1']}}]}]}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: root-api, namespace: istio-system}\nspec: {selector: {matchLabels: {app: api}}, rules: [{}]}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: shop-wide, namespace: shop}\nspec: {rules: [{}]}\n";
        manifests.extend(crate::verify::manifests::parse_documents(std::path::Path::new("t.yaml"), extra).unwrap());
        let (layer, _) = IstioPolicies::new(&manifests, &policy.target.trust_domain);
        let world = World::new(&policy);
        for endpoint in &world.endpoints {
            let Some(pod) = world.pod(endpoint) else { continue };
            let scanned: Vec<&ObjectRef> = layer
                .authorization_policies
                .iter()
                .filter(|p| {
                    (p.namespace == pod.namespace || p.namespace == ROOT_NAMESPACE)
                        && p.selector.as_ref().map_or(true, |s| labels_match(s, pod.labels))
                })
                .map(|p| &p.at)
                .collect();
            let indexed: Vec<&ObjectRef> = layer.applicable(&pod).iter().map(|p| &p.at).collect();
            assert_eq!(indexed, scanned, "{endpoint:?}");
        }
    }
}
