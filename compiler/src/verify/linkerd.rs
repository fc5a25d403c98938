//! Linkerd: what default inbound policies, `Server`s, `HTTPRoute`s and authorizations let
//! through to meshed pods, read with Linkerd's own semantics.
//!
//! Takes: every manifest read from a directory (whoever wrote them) and the identity
//! suffix; objects of other kinds are ignored.
//! Gives: [`LinkerdPolicies`], a [`Layer`] that decides connections and HTTP requests
//! into meshed pods, and a [`Problem`] for every object it could not interpret.
//! Must not: assume the objects came from segc (no reuse of the backend's logic), or
//! panic on any hand edit: a field of the wrong shape is a problem, never a crash.
//!
//! Semantics (policy.linkerd.io; linkerd2 policy-controller and linkerd2-proxy):
//! - A port no `Server` selects follows the default inbound policy: the namespace's
//!   `config.linkerd.io/default-inbound-policy` annotation (from `Namespace` objects among
//!   the manifests), else the cluster default `all-unauthenticated`.
//! - A port a `Server` selects admits only what an authorization admits, else what the
//!   Server's `accessPolicy` admits (default `deny`). Authorizations: an
//!   `AuthorizationPolicy` targeting the Server, its namespace, or the request's route,
//!   whose `requiredAuthenticationRefs` are *all* satisfied (a reference to an object
//!   that does not exist voids the policy), and a `ServerAuthorization` selecting the
//!   Server.
//! - On an HTTP port, once routes are attached to a Server each request goes to exactly
//!   one route, chosen as linkerd2-proxy does (`http-route`): the longest path match
//!   (an exact and a prefix match of the same length tie), then a method match, then
//!   the oldest route (`creationTimestamp`, then name) and the first rule and match in
//!   order. A request no route matches is refused (404).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::net::IpAddr;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::verify::value::{Mapping, Value};

use super::crd_value::{age, mapping, mapping_or_empty, sequence, show, At};
use super::index::{first_label, SelectorIndex};
use super::world::{cidr_contains, Transport};
use super::{
    verdicts_by_destination, Candidates, Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, OpenPort,
    Pod, Problem, Request, Verdict, World,
};

const GROUP: &str = "policy.linkerd.io";
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The namespace annotation that sets the default inbound policy.
pub const DEFAULT_POLICY_ANNOTATION: &str = "config.linkerd.io/default-inbound-policy";
/// Linkerd's install default (`proxy.defaultInboundPolicy`), which verify cannot see.
const CLUSTER_DEFAULT: DefaultPolicy = DefaultPolicy::AllUnauthenticated;
/// Linkerd's default `clusterNetworks`: what `cluster-*` policies call "in the cluster".
const CLUSTER_NETWORKS: [&str; 5] = ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"];
/// Path and method for sample requests that no route names.
const UNNAMED: &str = "segc-verify";

/// The Linkerd policy of a directory, ready to decide.
#[derive(Debug)]
pub struct LinkerdPolicies {
    identity_suffix: String,
    /// Default inbound policy per namespace, with the Namespace object that set it.
    namespace_defaults: BTreeMap<String, (DefaultPolicy, ObjectRef)>,
    /// Oldest first.
    servers: Vec<Server>,
    /// Oldest first.
    routes: Vec<Route>,
    policies: Vec<AuthorizationPolicy>,
    server_authorizations: Vec<ServerAuthorization>,
    /// By namespace, then name.
    mesh_tls: Named<Identities>,
    networks: Named<Vec<Network>>,
    /// Indexes of what decides a connection, built once all is read (see [`Indexes`]).
    indexes: Indexes,
}

/// Objects by namespace, then name.
type Named<T> = FxHashMap<String, FxHashMap<String, T>>;

fn named<'a, T>(map: &'a Named<T>, namespace: &str, name: &str) -> Option<&'a T> {
    map.get(namespace)?.get(name)
}

/// Indexes into the object lists of [`LinkerdPolicies`], ascending (so in age or read
/// order), for the questions every connection asks: which Server selects the pod,
/// which routes attach to it, which policies target it, its namespace or its routes.
#[derive(Debug, Default)]
struct Indexes {
    /// Servers by namespace and a label of the pods they select.
    servers: SelectorIndex,
    /// Routes by (namespace, Server name).
    routes_of_server: Named<Vec<usize>>,
    /// AuthorizationPolicies by (namespace, name of the Server they target).
    server_policies: Named<Vec<usize>>,
    /// AuthorizationPolicies by (namespace, name of the HTTPRoute they target).
    route_policies: Named<Vec<usize>>,
    /// AuthorizationPolicies by the namespace they target.
    namespace_policies: FxHashMap<String, Vec<usize>>,
    /// ServerAuthorizations by namespace.
    server_authorizations: FxHashMap<String, Vec<usize>>,
}

impl Indexes {
    fn new(layer: &LinkerdPolicies) -> Indexes {
        let mut indexes = Indexes::default();
        for (i, server) in layer.servers.iter().enumerate() {
            indexes.servers.insert(i, Some(&server.namespace), first_label(&server.pod_selector.labels));
        }
        for (i, route) in layer.routes.iter().enumerate() {
            for server in &route.servers {
                let list = indexes.routes_of_server.entry(route.namespace.clone()).or_default();
                let list = list.entry(server.clone()).or_default();
                // A route naming a Server twice attaches once.
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        for (i, policy) in layer.policies.iter().enumerate() {
            let namespace = policy.namespace.clone();
            match &policy.target {
                Target::Server(name) => {
                    indexes.server_policies.entry(namespace).or_default().entry(name.clone()).or_default().push(i)
                }
                Target::Route(name, _) => {
                    indexes.route_policies.entry(namespace).or_default().entry(name.clone()).or_default().push(i)
                }
                Target::Namespace => indexes.namespace_policies.entry(namespace).or_default().push(i),
            }
        }
        for (i, authz) in layer.server_authorizations.iter().enumerate() {
            indexes.server_authorizations.entry(authz.namespace.clone()).or_default().push(i);
        }
        indexes
    }
}

fn listed(list: Option<&Vec<usize>>) -> &[usize] {
    list.map_or(&[], Vec::as_slice)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DefaultPolicy {
    AllUnauthenticated,
    AllAuthenticated,
    ClusterUnauthenticated,
    ClusterAuthenticated,
    Deny,
    Audit,
}

#[derive(Debug, Default)]
struct LabelSelector {
    labels: BTreeMap<String, String>,
    expressions: Vec<Expression>,
}

#[derive(Debug)]
struct Expression {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug)]
struct Server {
    at: ObjectRef,
    namespace: String,
    name: String,
    /// The Server's own labels, for ServerAuthorization selectors.
    labels: BTreeMap<String, String>,
    pod_selector: LabelSelector,
    port: PortRef,
    /// Whether HTTPRoutes can apply (`opaque` and `TLS` are never parsed, `gRPC` reads
    /// GRPCRoutes only).
    http_routes: bool,
    access: DefaultPolicy,
}

#[derive(Debug)]
enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug)]
struct Route {
    at: ObjectRef,
    group: String,
    namespace: String,
    name: String,
    /// Names of the Servers (in the route's namespace) it attaches to.
    servers: Vec<String>,
    /// Each rule's matches; an empty rule matches every request.
    rules: Vec<Vec<RouteMatch>>,
}

#[derive(Debug)]
struct RouteMatch {
    path: PathMatch,
    method: Option<String>,
    /// Matches on headers, query parameters or a regular expression: verify's requests
    /// carry none and regular expressions are not evaluated, so it never matches.
    never: bool,
}

#[derive(Debug)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Debug)]
struct AuthorizationPolicy {
    at: ObjectRef,
    namespace: String,
    target: Target,
    required: Vec<AuthenticationRef>,
}

#[derive(Debug)]
enum Target {
    Server(String),
    /// An HTTPRoute by name, and the group the reference gives (if any).
    Route(String, Option<String>),
    Namespace,
}

#[derive(Debug)]
enum AuthenticationRef {
    MeshTls(String, String),
    Network(String, String),
    ServiceAccount(String, String),
}

#[derive(Debug)]
struct ServerAuthorization {
    at: ObjectRef,
    namespace: String,
    server: ServerRef,
    /// Empty means every address.
    networks: Vec<Network>,
    client: ClientAuthentication,
}

#[derive(Debug)]
enum ServerRef {
    Name(String),
    Selector(LabelSelector),
}

#[derive(Debug)]
enum ClientAuthentication {
    Unauthenticated,
    /// `meshTLS.unauthenticatedTLS`: any TLS client.
    AnyTls,
    Identities(Identities),
}

/// Identities a client must have one of: exact ones in a set (a MeshTLSAuthentication
/// may list every client of a busy Server), the rest (wildcards) in order.
#[derive(Debug)]
struct Identities {
    exact: BTreeSet<String>,
    patterns: Vec<IdentityMatch>,
}

impl Identities {
    fn new(matches: Vec<IdentityMatch>) -> Identities {
        let mut exact = BTreeSet::new();
        let mut patterns = Vec::new();
        for m in matches {
            match m {
                IdentityMatch::Exact(identity) => {
                    exact.insert(identity);
                }
                other => patterns.push(other),
            }
        }
        Identities { exact, patterns }
    }

    fn admits(&self, peer: &Peer) -> bool {
        peer.identity.as_ref().is_some_and(|identity| self.exact.contains(identity))
            || self.patterns.iter().any(|m| m.admits(peer))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum IdentityMatch {
    Any,
    /// `*.NS.SUFFIX`: identities ending in `.NS.SUFFIX`.
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Network {
    cidr: String,
    except: Vec<String>,
}

/// What the destination's proxy knows about the client.
struct Peer {
    identity: Option<String>,
    address: Option<IpAddr>,
    /// A pod, or an address in the cluster networks.
    in_cluster: bool,
}

impl LinkerdPolicies {
    pub fn new(manifests: &[Manifest], identity_suffix: &str) -> (Self, Vec<Problem>) {
        let layer = LinkerdPolicies::reader(identity_suffix);
        let items = manifests.par_iter().filter_map(|m| layer.read_item(m)).collect();
        layer.with_items(items)
    }

    /// The layer before it has read anything: what reads each object on its own
    /// ([`LinkerdPolicies::read_item`]), then takes them all
    /// ([`LinkerdPolicies::with_items`]).
    pub fn reader(identity_suffix: &str) -> Self {
        LinkerdPolicies {
            identity_suffix: identity_suffix.to_string(),
            namespace_defaults: BTreeMap::new(),
            servers: Vec::new(),
            routes: Vec::new(),
            policies: Vec::new(),
            server_authorizations: Vec::new(),
            mesh_tls: FxHashMap::default(),
            networks: FxHashMap::default(),
            indexes: Indexes::default(),
        }
    }

    /// The object read on its own, if it decides anything or something is wrong with it.
    pub fn read_item(&self, manifest: &Manifest) -> Option<Item> {
        let mut notes = Vec::new();
        let read = self.read(manifest, &mut notes).unwrap_or_else(|e| {
            notes.push(e);
            None
        });
        let age = matches!(read, Some(Read::Server(_) | Read::Route(_))).then(|| age(manifest));
        (read.is_some() || !notes.is_empty()).then(|| Item { at: manifest.at.clone(), age, read, notes })
    }

    /// The layer of the objects read, in the order of their files.
    pub fn with_items(mut self, items: Vec<Item>) -> (Self, Vec<Problem>) {
        let layer = &mut self;
        let mut problems = Vec::new();
        let mut server_ages = Vec::new();
        let mut route_ages = Vec::new();
        for Item { at, age, read, notes } in items {
            match read {
                Some(Read::Namespace(policy)) => {
                    layer.namespace_defaults.insert(at.name.clone(), (policy, at.clone()));
                }
                Some(Read::Server(server)) => {
                    layer.servers.push(server);
                    server_ages.push(age.unwrap_or_default());
                }
                Some(Read::Route(route)) => {
                    layer.routes.push(route);
                    route_ages.push(age.unwrap_or_default());
                }
                Some(Read::Policy(policy)) => layer.policies.push(policy),
                Some(Read::MeshTls(namespace, identities)) => {
                    layer.mesh_tls.entry(namespace).or_default().insert(at.name.clone(), identities);
                }
                Some(Read::Network(namespace, networks)) => {
                    layer.networks.entry(namespace).or_default().insert(at.name.clone(), networks);
                }
                Some(Read::ServerAuthorization(authz)) => layer.server_authorizations.push(authz),
                None => {}
            }
            problems.extend(notes.into_iter().map(|message| Problem { at: at.clone(), message }));
        }
        // Side by side: each sort compares names at random across the whole layer.
        let (servers, routes) = (std::mem::take(&mut layer.servers), std::mem::take(&mut layer.routes));
        (layer.servers, layer.routes) =
            rayon::join(|| sort_by_age(servers, server_ages), || sort_by_age(routes, route_ages));
        layer.missing_references(&mut problems);
        layer.indexes = Indexes::new(layer);
        (self, problems)
    }

    /// Reads one manifest if it is a kind Linkerd's inbound policy reads.
    fn read(&self, manifest: &Manifest, notes: &mut Vec<String>) -> Result<Option<Read>, String> {
        let version = manifest.api_version.rsplit('/').next().unwrap_or_default();
        let kind = manifest.kind();
        let versions: &[&str] = match (manifest.group(), kind) {
            ("", "Namespace") => &["v1"],
            (GROUP, "Server") => &["v1beta1", "v1beta2", "v1beta3"],
            (GROUP, "HTTPRoute") => &["v1alpha1", "v1beta1", "v1beta2", "v1beta3"],
            (GATEWAY_GROUP, "HTTPRoute") => &["v1", "v1beta1"],
            (GROUP, "AuthorizationPolicy" | "MeshTLSAuthentication" | "NetworkAuthentication") => &["v1alpha1"],
            (GROUP, "ServerAuthorization") => &["v1alpha1", "v1beta1"],
            (GROUP | GATEWAY_GROUP, "GRPCRoute") => {
                return Err("GRPCRoutes are not interpreted: requests on gRPC Servers are not verified".into())
            }
            _ => return Ok(None),
        };
        if !versions.contains(&version) {
            return Err(format!(
                "apiVersion `{}` is not one verify reads ({})",
                manifest.api_version,
                versions.join(", ")
            ));
        }
        if kind == "Namespace" {
            return read_namespace(manifest);
        }
        let namespace = manifest.at.namespace.clone().ok_or("has no `metadata.namespace`")?;
        let empty = Mapping::new();
        let spec = mapping_or_empty(manifest.spec(), "spec", &empty)?;
        Ok(Some(match kind {
            "Server" => Read::Server(server(manifest, spec, namespace, notes)?),
            "HTTPRoute" => match route(manifest, spec, namespace, notes)? {
                Some(route) => Read::Route(route),
                None => return Ok(None),
            },
            "AuthorizationPolicy" => Read::Policy(authorization_policy(manifest, spec, namespace)?),
            "MeshTLSAuthentication" => {
                let identities = self.mesh_tls_identities(spec, &namespace)?;
                Read::MeshTls(namespace, Identities::new(identities))
            }
            "NetworkAuthentication" => {
                let networks = networks(spec.get("networks"), &At::Root("spec.networks"))?;
                if networks.is_empty() {
                    return Err("`spec.networks` is empty: Linkerd rejects it".into());
                }
                Read::Network(namespace, networks)
            }
            _ => Read::ServerAuthorization(self.server_authorization(manifest, spec, namespace)?),
        }))
    }

    fn identity(&self, namespace: &str, account: &str) -> String {
        format!("{account}.{namespace}.{}", self.identity_suffix)
    }

    fn mesh_tls_identities(&self, spec: &Mapping, namespace: &str) -> Result<Vec<IdentityMatch>, String> {
        let mut out: Vec<IdentityMatch> =
            strings(spec.get("identities"), "spec.identities")?.iter().map(|s| identity_match(s)).collect();
        let refs_at = At::Root("spec.identityRefs");
        for (i, reference) in sequence(spec.get("identityRefs"), refs_at)?.iter().enumerate() {
            let at = refs_at.index(i);
            let reference = mapping(reference, at)?;
            let name = string(reference, "name", at)?;
            match string(reference, "kind", at)?.as_str() {
                "ServiceAccount" => {
                    let ns = optional_string(reference, "namespace", at)?.unwrap_or_else(|| namespace.to_string());
                    out.push(IdentityMatch::Exact(self.identity(&ns, &name)));
                }
                "Namespace" => out.push(IdentityMatch::Suffix(format!("{name}.{}", self.identity_suffix))),
                other => {
                    return Err(format!("`{at}` has kind `{other}`; Linkerd accepts ServiceAccount and Namespace"))
                }
            }
        }
        if out.is_empty() {
            return Err("names no identities: Linkerd rejects it".into());
        }
        Ok(out)
    }

    fn server_authorization(
        &self,
        manifest: &Manifest,
        spec: &Mapping,
        namespace: String,
    ) -> Result<ServerAuthorization, String> {
        let server = mapping(spec.get("server").unwrap_or(&Value::Null), "spec.server")?;
        let server = match (server.get("name"), server.get("selector")) {
            (Some(Value::String(name)), None) => ServerRef::Name(name.to_string()),
            (None, Some(selector)) => ServerRef::Selector(label_selector(selector, &At::Root("spec.server.selector"))?),
            _ => return Err("`spec.server` must have exactly one of `name` (a string) and `selector`".into()),
        };
        let client = mapping(spec.get("client").unwrap_or(&Value::Null), "spec.client")?;
        let networks = networks(client.get("networks"), &At::Root("spec.client.networks"))?;
        let unauthenticated = match client.get("unauthenticated") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("`spec.client.unauthenticated` is {}, not a boolean", show(other))),
        };
        let client = if unauthenticated {
            ClientAuthentication::Unauthenticated
        } else if let Some(mesh) = client.get("meshTLS").filter(|v| !v.is_null()) {
            let mesh = mapping(mesh, "spec.client.meshTLS")?;
            if mesh.get("unauthenticatedTLS").and_then(Value::as_bool) == Some(true) {
                ClientAuthentication::AnyTls
            } else {
                let mut ids: Vec<IdentityMatch> = strings(mesh.get("identities"), "spec.client.meshTLS.identities")?
                    .iter()
                    .map(|s| identity_match(s))
                    .collect();
                let accounts_at = At::Root("spec.client.meshTLS.serviceAccounts");
                let accounts = sequence(mesh.get("serviceAccounts"), accounts_at)?;
                for (i, account) in accounts.iter().enumerate() {
                    let at = accounts_at.index(i);
                    let account = mapping(account, at)?;
                    let ns = optional_string(account, "namespace", at)?.unwrap_or_else(|| namespace.clone());
                    ids.push(IdentityMatch::Exact(self.identity(&ns, &string(account, "name", at)?)));
                }
                if ids.is_empty() {
                    return Err("authorizes no clients: Linkerd rejects it".into());
                }
                ClientAuthentication::Identities(Identities::new(ids))
            }
        } else {
            return Err("`spec.client` has neither `meshTLS` nor `unauthenticated: true`".into());
        };
        Ok(ServerAuthorization { at: manifest.at.clone(), namespace, server, networks, client })
    }

    /// A reference to an object the manifests do not hold voids its policy in Linkerd;
    /// worth telling, since the object may exist in the cluster.
    fn missing_references(&self, problems: &mut Vec<Problem>) {
        for policy in &self.policies {
            for reference in &policy.required {
                let missing = match reference {
                    AuthenticationRef::MeshTls(ns, name) => {
                        named(&self.mesh_tls, ns, name).is_none().then_some(("MeshTLSAuthentication", name))
                    }
                    AuthenticationRef::Network(ns, name) => {
                        named(&self.networks, ns, name).is_none().then_some(("NetworkAuthentication", name))
                    }
                    AuthenticationRef::ServiceAccount(..) => None,
                };
                if let Some((kind, name)) = missing {
                    problems.push(Problem {
                        at: policy.at.clone(),
                        message: format!(
                            "requires {kind} `{name}`, which is not among the manifests: Linkerd ignores the policy"
                        ),
                    });
                }
            }
        }
    }

    fn peer(&self, world: &World, endpoint: &Endpoint) -> Peer {
        let pod = world.pod(endpoint);
        let address = world.address(endpoint);
        Peer {
            identity: pod.as_ref().filter(|p| p.meshed).map(|p| self.identity(p.namespace, p.account)),
            address,
            in_cluster: pod.is_some()
                || address.is_some_and(|ip| CLUSTER_NETWORKS.iter().any(|n| cidr_contains(n, ip))),
        }
    }

    /// The Server that describes a pod's port: the oldest, if several do.
    fn server_for(&self, pod: &Pod, port: L4Port) -> Option<&Server> {
        if port.transport != Transport::Tcp {
            return None;
        }
        self.servers_selecting(pod).into_iter().find(|s| match &s.port {
            PortRef::Number(n) => *n == port.number,
            PortRef::Name(name) => pod
                .named_ports
                .iter()
                .any(|(n, number, transport)| n == name && *number == port.number && *transport == Transport::Tcp),
        })
    }

    /// The Servers that select a pod, oldest first.
    fn servers_selecting(&self, pod: &Pod) -> Vec<&Server> {
        let candidates = self.indexes.servers.candidates(pod.namespace, pod.labels);
        let servers = candidates.into_iter().map(|i| &self.servers[i]);
        servers.filter(|s| s.namespace == pod.namespace && s.pod_selector.matches(pod.labels)).collect()
    }

    fn default_for(&self, namespace: &str) -> (DefaultPolicy, Vec<ObjectRef>) {
        match self.namespace_defaults.get(namespace) {
            Some((policy, at)) => (*policy, vec![at.clone()]),
            None => (CLUSTER_DEFAULT, Vec::new()),
        }
    }

    /// The routes attached to a Server, oldest first.
    fn routes_of<'a>(&'a self, server: &Server) -> impl Iterator<Item = &'a Route> + 'a {
        let attached = listed(named(&self.indexes.routes_of_server, &server.namespace, &server.name));
        attached.iter().map(|i| &self.routes[*i])
    }

    /// Authorizations of the whole Server (and its namespace) that admit the peer.
    fn server_grants(&self, server: &Server, peer: &Peer) -> Vec<ObjectRef> {
        let mut out = Vec::new();
        for policy in self.server_policies(server) {
            if self.satisfied(policy, peer) {
                out.push(policy.at.clone());
            }
        }
        let authorizations = listed(self.indexes.server_authorizations.get(&server.namespace));
        for authz in authorizations.iter().map(|i| &self.server_authorizations[*i]) {
            let selects = match &authz.server {
                ServerRef::Name(name) => *name == server.name,
                ServerRef::Selector(selector) => selector.matches(&server.labels),
            };
            let network = authz.networks.is_empty() || authz.networks.iter().any(|n| n.admits(peer));
            let client = match &authz.client {
                ClientAuthentication::Unauthenticated => true,
                ClientAuthentication::AnyTls => peer.identity.is_some(),
                ClientAuthentication::Identities(ids) => ids.admits(peer),
            };
            if selects && network && client {
                out.push(authz.at.clone());
            }
        }
        out
    }

    /// The AuthorizationPolicies that target a Server or its namespace, in order.
    fn server_policies(&self, server: &Server) -> Vec<&AuthorizationPolicy> {
        let mut indexes: Vec<usize> = listed(named(&self.indexes.server_policies, &server.namespace, &server.name))
            .iter()
            .chain(listed(self.indexes.namespace_policies.get(&server.namespace)))
            .copied()
            .collect();
        indexes.sort_unstable();
        indexes.into_iter().map(|i| &self.policies[i]).collect()
    }

    fn route_grants(&self, route: &Route, peer: &Peer) -> Vec<ObjectRef> {
        listed(named(&self.indexes.route_policies, &route.namespace, &route.name))
            .iter()
            .map(|i| &self.policies[*i])
            .filter(|p| match &p.target {
                Target::Route(name, group) => *name == route.name && group.as_ref().map_or(true, |g| *g == route.group),
                _ => false,
            })
            .filter(|p| self.satisfied(p, peer))
            .map(|p| p.at.clone())
            .collect()
    }

    /// Every required authentication holds (and exists).
    fn satisfied(&self, policy: &AuthorizationPolicy, peer: &Peer) -> bool {
        policy.required.iter().all(|reference| match reference {
            AuthenticationRef::MeshTls(ns, name) => named(&self.mesh_tls, ns, name).is_some_and(|ids| ids.admits(peer)),
            AuthenticationRef::Network(ns, name) => {
                named(&self.networks, ns, name).is_some_and(|nets| nets.iter().any(|n| n.admits(peer)))
            }
            AuthenticationRef::ServiceAccount(ns, name) => peer.identity.as_deref() == Some(&self.identity(ns, name)),
        })
    }

    /// The decision on a request that goes to `route`: what authorizes the route or the
    /// whole Server (`server_grants`), else the Server's access policy.
    fn decide_route(&self, server: &Server, route: &Route, peer: &Peer, server_grants: &[ObjectRef]) -> Decision {
        let mut grants = self.route_grants(route, peer);
        grants.extend_from_slice(server_grants);
        if !grants.is_empty() {
            Decision::allow(grants)
        } else if server.access.admits(peer) {
            Decision::allow(vec![server.at.clone()])
        } else {
            Decision::deny(vec![route.at.clone(), server.at.clone()])
        }
    }

    /// The identities the authorizations of a Server (and of its routes) name one by
    /// one, and whether some authorization may also admit sources it does not name
    /// (by network, by wildcard identity, or a legacy ServerAuthorization).
    fn named_sources(&self, server: &Server) -> (BTreeSet<String>, bool) {
        let mut identities = BTreeSet::new();
        let mut open = false;
        let mut relevant = self.server_policies(server);
        for route in self.routes_of(server) {
            let targeting = named(&self.indexes.route_policies, &server.namespace, &route.name);
            relevant.extend(listed(targeting).iter().map(|i| &self.policies[*i]));
        }
        for policy in relevant {
            // A policy needs all its authentications: one that names only exact
            // identities narrows it to those.
            let mut narrowed = false;
            for reference in &policy.required {
                match reference {
                    AuthenticationRef::ServiceAccount(ns, name) => {
                        identities.insert(self.identity(ns, name));
                        narrowed = true;
                    }
                    AuthenticationRef::MeshTls(ns, name) => {
                        if let Some(ids) = named(&self.mesh_tls, ns, name) {
                            identities.extend(ids.exact.iter().cloned());
                            narrowed |= ids.patterns.is_empty();
                        }
                    }
                    AuthenticationRef::Network(..) => {}
                }
            }
            open |= !narrowed;
        }
        let authorizations = listed(self.indexes.server_authorizations.get(&server.namespace));
        for authz in authorizations.iter().map(|i| &self.server_authorizations[*i]) {
            // Rare and legacy: not narrowed.
            open = true;
            if let ClientAuthentication::Identities(ids) = &authz.client {
                identities.extend(ids.exact.iter().cloned());
            }
        }
        (identities, open)
    }

    /// The world's endpoints in classes that every object of this directory treats
    /// alike unless it names their identity: the same answer to whether they have an
    /// identity, are in the cluster, are in each network and match each wildcard
    /// identity.
    fn source_classes(&self, world: &World) -> Vec<Vec<Endpoint>> {
        let mut networks: BTreeSet<&Network> = self.networks.values().flat_map(|m| m.values()).flatten().collect();
        networks.extend(self.server_authorizations.iter().flat_map(|a| &a.networks));
        let client_patterns = self.server_authorizations.iter().filter_map(|a| match &a.client {
            ClientAuthentication::Identities(ids) => Some(&ids.patterns),
            _ => None,
        });
        let patterns: BTreeSet<&IdentityMatch> = self
            .mesh_tls
            .values()
            .flat_map(|m| m.values())
            .map(|ids| &ids.patterns)
            .chain(client_patterns)
            .flatten()
            .collect();
        let mut classes: BTreeMap<(bool, bool, Vec<bool>), Vec<Endpoint>> = BTreeMap::new();
        for endpoint in &world.endpoints {
            let peer = self.peer(world, endpoint);
            let admitted = networks.iter().map(|n| n.admits(&peer)).chain(patterns.iter().map(|m| m.admits(&peer)));
            let key = (peer.identity.is_some(), peer.in_cluster, admitted.collect());
            classes.entry(key).or_default().push(endpoint.clone());
        }
        classes.into_values().collect()
    }
}

impl Layer for LinkerdPolicies {
    fn name(&self) -> &'static str {
        "Linkerd"
    }

    /// Connections into a meshed pod over TCP: the proxy does not handle UDP.
    fn governs(&self, world: &World, connection: &Connection) -> bool {
        connection.port.transport == Transport::Tcp && world.pod(&connection.destination).is_some_and(|p| p.meshed)
    }

    fn candidates(&self, world: &World) -> Vec<Connection> {
        self.candidate_groups(world).expand(world)
    }

    /// Sources an authorization names by identity one by one; ports open to every
    /// network, every meshed client or by a namespace's default, as classes of
    /// sources alike to every object of this directory (see `Self::source_classes`).
    fn candidate_groups(&self, world: &World) -> Candidates {
        let mut by_identity: BTreeMap<String, Vec<&Endpoint>> = BTreeMap::new();
        for endpoint in &world.endpoints {
            if let Some(pod) = world.pod(endpoint).filter(|p| p.meshed) {
                by_identity.entry(self.identity(pod.namespace, pod.account)).or_default().push(endpoint);
            }
        }
        let classes = self.source_classes(world);
        let every_class: Vec<usize> = (0..classes.len()).collect();
        // What a default policy admits depends on the source's class alone: find it
        // once per policy.
        let mut admitted: BTreeMap<DefaultPolicy, Vec<usize>> = BTreeMap::new();
        let mut connections = Vec::new();
        let mut open = Vec::new();
        for destination in &world.endpoints {
            let Some(pod) = world.pod(destination).filter(|p| p.meshed) else { continue };
            let mut ports: BTreeSet<L4Port> = world.ports_to(destination).into_iter().collect();
            for server in self.servers_selecting(&pod) {
                if let PortRef::Number(n) = server.port {
                    ports.insert(L4Port { number: n, transport: Transport::Tcp });
                }
            }
            for port in ports {
                let open_classes = match self.server_for(&pod, port) {
                    None => {
                        let (policy, _) = self.default_for(pod.namespace);
                        admitted
                            .entry(policy)
                            .or_insert_with(|| {
                                let admits = |c: &usize| policy.admits(&self.peer(world, &classes[*c][0]));
                                every_class.iter().copied().filter(admits).collect()
                            })
                            .clone()
                    }
                    Some(server) => {
                        let (identities, open_to_all) = self.named_sources(server);
                        for source in identities.iter().filter_map(|i| by_identity.get(i)).flatten() {
                            let source = (*source).clone();
                            connections.push(Connection { source, destination: destination.clone(), port });
                        }
                        if open_to_all || server.access != DefaultPolicy::Deny {
                            every_class.clone()
                        } else {
                            Vec::new()
                        }
                    }
                };
                if !open_classes.is_empty() {
                    open.push(OpenPort { destination: destination.clone(), port, classes: open_classes });
                }
            }
        }
        connections.sort();
        connections.dedup();
        Candidates { connections, classes, open, open_sides: Vec::new() }
    }

    /// The per-connection part (identity, Server, routes) once, then each request.
    fn decide_requests(&self, world: &World, connection: &Connection, requests: &[Request]) -> Vec<Decision> {
        let Some(pod) = world.pod(&connection.destination).filter(|p| p.meshed) else {
            return requests.iter().map(|_| Decision::allow(Vec::new())).collect();
        };
        let server = self.server_for(&pod, connection.port);
        let routes: Vec<&Route> = match server {
            Some(server) if server.http_routes && is_http(world, &connection.destination, connection.port) => {
                self.routes_of(server).collect()
            }
            _ => Vec::new(),
        };
        match server {
            Some(server) if !routes.is_empty() => {
                let peer = self.peer(world, &connection.source);
                let mut on_routes = OnRoutes::new(self, server, &routes, &peer);
                requests.iter().map(|r| on_routes.decide(r)).collect()
            }
            // Without routes the answer does not depend on the request.
            _ => {
                let decision = self.decide(world, connection, None);
                requests.iter().map(|_| decision.clone()).collect()
            }
        }
    }

    /// Per destination port, its Server, routes and sample requests once.
    fn verdicts(&self, world: &World, connections: &[Connection]) -> Vec<Verdict> {
        verdicts_by_destination(connections, |destination| {
            let pod = world.pod(destination).filter(|p| p.meshed);
            // Per port, what decides it and (once needed) its sample requests.
            let mut ports: BTreeMap<L4Port, (Inbound, Option<Vec<Request>>)> = BTreeMap::new();
            move |connection: &Connection| {
                // Without a proxy nothing is enforced.
                let Some(pod) = &pod else { return true };
                let (inbound, samples) =
                    ports.entry(connection.port).or_insert_with(|| (self.inbound(world, pod, connection), None));
                let peer = self.peer(world, &connection.source);
                match inbound.server {
                    None => self.default_for(pod.namespace).0.admits(&peer),
                    Some(server) if inbound.routes.is_empty() => {
                        !self.server_grants(server, &peer).is_empty() || server.access.admits(&peer)
                    }
                    // As `decide`: whether any sample request passes.
                    Some(server) => {
                        let mut on_routes = OnRoutes::new(self, server, &inbound.routes, &peer);
                        let samples = samples.get_or_insert_with(|| sample_requests(&inbound.routes));
                        samples.iter().any(|r| on_routes.allows(r))
                    }
                }
            }
        })
    }

    /// Per port, the route each request goes to once: it does not depend on the peer.
    fn allows_requests(&self, world: &World, connections: &[&Connection], requests: &[Request]) -> Vec<Vec<bool>> {
        let mut ports: BTreeMap<L4Port, (Inbound, Vec<Option<usize>>)> = BTreeMap::new();
        let mut allowed = |connection: &Connection| {
            let Some(pod) = world.pod(&connection.destination).filter(|p| p.meshed) else {
                return vec![true; requests.len()];
            };
            let (inbound, selected) = ports.entry(connection.port).or_insert_with(|| {
                let inbound = self.inbound(world, &pod, connection);
                let selected = requests.iter().map(|r| select_route(&inbound.routes, r)).collect();
                (inbound, selected)
            });
            match inbound.server {
                Some(server) if !inbound.routes.is_empty() => {
                    let peer = self.peer(world, &connection.source);
                    let mut on_routes = OnRoutes::new(self, server, &inbound.routes, &peer);
                    selected.iter().map(|route| route.is_some_and(|i| on_routes.allows_on(i))).collect()
                }
                // Without routes the answer does not depend on the request.
                _ => vec![self.decide(world, connection, None).allowed; requests.len()],
            }
        };
        connections.iter().map(|c| allowed(c)).collect()
    }

    fn decide(&self, world: &World, connection: &Connection, request: Option<&Request>) -> Decision {
        // Without a proxy nothing is enforced.
        let Some(pod) = world.pod(&connection.destination).filter(|p| p.meshed) else {
            return Decision::allow(Vec::new());
        };
        let peer = self.peer(world, &connection.source);
        let Some(server) = self.server_for(&pod, connection.port) else {
            let (policy, by) = self.default_for(pod.namespace);
            return if policy.admits(&peer) { Decision::allow(by) } else { Decision::deny(by) };
        };
        let routes: Vec<&Route> = if server.http_routes && is_http(world, &connection.destination, connection.port) {
            self.routes_of(server).collect()
        } else {
            Vec::new()
        };
        if routes.is_empty() {
            let grants = self.server_grants(server, &peer);
            return if !grants.is_empty() {
                Decision::allow(grants)
            } else if server.access.admits(&peer) {
                Decision::allow(vec![server.at.clone()])
            } else {
                Decision::deny(vec![server.at.clone()])
            };
        }
        let mut on_routes = OnRoutes::new(self, server, &routes, &peer);
        if let Some(request) = request {
            return on_routes.decide(request);
        }
        let mut first_denial = None;
        for request in sample_requests(&routes) {
            let decision = on_routes.decide(&request);
            if decision.allowed {
                return decision;
            }
            first_denial.get_or_insert(decision);
        }
        first_denial.unwrap_or_else(|| Decision::deny(Vec::new()))
    }

    fn paths(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for m in self.routes.iter().flat_map(|r| &r.rules).flatten() {
            match &m.path {
                PathMatch::Exact(p) | PathMatch::Prefix(p) => out.insert(p.clone()),
            };
        }
        out.into_iter().collect()
    }

    /// The paths of the routes of the Servers that select the destination pod.
    fn paths_to(&self, world: &World, destination: &Endpoint) -> Vec<String> {
        let Some(pod) = world.pod(destination) else { return Vec::new() };
        let mut out = BTreeSet::new();
        for server in self.servers_selecting(&pod) {
            for m in self.routes_of(server).flat_map(|r| &r.rules).flatten() {
                match &m.path {
                    PathMatch::Exact(p) | PathMatch::Prefix(p) => out.insert(p.clone()),
                };
            }
        }
        out.into_iter().collect()
    }

    fn methods(&self) -> Vec<String> {
        let methods: BTreeSet<String> =
            self.routes.iter().flat_map(|r| &r.rules).flatten().filter_map(|m| m.method.clone()).collect();
        methods.into_iter().collect()
    }
}

impl DefaultPolicy {
    fn admits(self, peer: &Peer) -> bool {
        match self {
            DefaultPolicy::AllUnauthenticated | DefaultPolicy::Audit => true,
            // Meshed clients are pods, always inside the cluster.
            DefaultPolicy::AllAuthenticated | DefaultPolicy::ClusterAuthenticated => peer.identity.is_some(),
            DefaultPolicy::ClusterUnauthenticated => peer.in_cluster,
            DefaultPolicy::Deny => false,
        }
    }
}

impl IdentityMatch {
    fn admits(&self, peer: &Peer) -> bool {
        let Some(identity) = peer.identity.as_deref() else { return false };
        match self {
            IdentityMatch::Any => true,
            IdentityMatch::Suffix(suffix) => {
                identity.strip_suffix(suffix.as_str()).is_some_and(|rest| rest.ends_with('.'))
            }
            IdentityMatch::Exact(exact) => identity == exact,
        }
    }
}

impl Network {
    /// Pod addresses are unknown: a pod is inside only a network that holds every
    /// address (`0.0.0.0/0`, `::/0`) and excepts nothing.
    fn admits(&self, peer: &Peer) -> bool {
        match peer.address {
            Some(ip) => block_contains(&self.cidr, ip) && !self.except.iter().any(|e| block_contains(e, ip)),
            None => self.cidr.split_once('/').is_some_and(|(_, bits)| bits == "0") && self.except.is_empty(),
        }
    }
}

impl LabelSelector {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    Operator::In => value.is_some_and(|v| e.values.contains(v)),
                    Operator::NotIn => !value.is_some_and(|v| e.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

impl RouteMatch {
    /// How specific the match is for the request, as linkerd2-proxy ranks it: matched
    /// path length, then whether a method matched; `None` if it does not match.
    fn rank(&self, request: &Request) -> Option<(usize, bool)> {
        if self.never {
            return None;
        }
        if self.method.as_ref().is_some_and(|m| *m != request.method) {
            return None;
        }
        let length = match &self.path {
            PathMatch::Exact(p) => (*p == request.path).then_some(p.len())?,
            PathMatch::Prefix(p) if p == "/" => 1,
            PathMatch::Prefix(p) => {
                let prefix = p.trim_end_matches('/');
                let rest = request.path.trim_end_matches('/').strip_prefix(prefix)?;
                (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len())?
            }
        };
        Some((length, self.method.is_some()))
    }
}

/// What decides connections into a meshed pod's port, whoever the peer: the Server
/// that selects it, the routes that apply, and requests that sample them.
struct Inbound<'a> {
    server: Option<&'a Server>,
    /// Empty when routes do not apply (no Server, not HTTP, or none attached).
    routes: Vec<&'a Route>,
}

impl LinkerdPolicies {
    fn inbound(&self, world: &World, pod: &Pod, connection: &Connection) -> Inbound<'_> {
        let server = self.server_for(pod, connection.port);
        let routes: Vec<&Route> = match server {
            Some(server) if server.http_routes && is_http(world, &connection.destination, connection.port) => {
                self.routes_of(server).collect()
            }
            _ => Vec::new(),
        };
        Inbound { server, routes }
    }
}

/// Requests on a Server with routes, from one peer: a request's decision depends only on
/// the route it goes to, so each route's is found once.
struct OnRoutes<'a> {
    layer: &'a LinkerdPolicies,
    server: &'a Server,
    routes: &'a [&'a Route],
    peer: &'a Peer,
    server_grants: Vec<ObjectRef>,
    /// Per route (by position in `routes`), its decision once found.
    decided: Vec<Option<Decision>>,
    /// Per route, whether its decision allows, once found.
    allowed: Vec<Option<bool>>,
}

impl<'a> OnRoutes<'a> {
    fn new(layer: &'a LinkerdPolicies, server: &'a Server, routes: &'a [&'a Route], peer: &'a Peer) -> Self {
        let server_grants = layer.server_grants(server, peer);
        let (decided, allowed) = (vec![None; routes.len()], vec![None; routes.len()]);
        OnRoutes { layer, server, routes, peer, server_grants, decided, allowed }
    }

    /// Whether [`OnRoutes::decide`] allows, without naming the objects.
    fn allows(&mut self, request: &Request) -> bool {
        select_route(self.routes, request).is_some_and(|i| self.allows_on(i))
    }

    /// Whether requests that go to the `i`th route are allowed.
    fn allows_on(&mut self, i: usize) -> bool {
        let (layer, server, route, peer) = (self.layer, self.server, self.routes[i], self.peer);
        let server_granted = !self.server_grants.is_empty();
        *self.allowed[i].get_or_insert_with(|| {
            server_granted || server.access.admits(peer) || !layer.route_grants(route, peer).is_empty()
        })
    }

    fn decide(&mut self, request: &Request) -> Decision {
        let Some(i) = select_route(self.routes, request) else {
            return Decision::deny(Vec::new());
        };
        let (layer, server, route, peer) = (self.layer, self.server, self.routes[i], self.peer);
        let grants = &self.server_grants;
        self.decided[i].get_or_insert_with(|| layer.decide_route(server, route, peer, grants)).clone()
    }
}

/// The single route a request goes to (its position): the best match, the first on
/// ties.
fn select_route(routes: &[&Route], request: &Request) -> Option<usize> {
    let mut best: Option<((usize, bool), usize)> = None;
    for (i, route) in routes.iter().enumerate() {
        let rank = route
            .rules
            .iter()
            .filter_map(|rule| {
                if rule.is_empty() {
                    // A rule without matches matches everything, like `PathPrefix /`.
                    return Some((1, false));
                }
                rule.iter().filter_map(|m| m.rank(request)).reduce(|a, b| if a >= b { a } else { b })
            })
            .reduce(|a, b| if a >= b { a } else { b });
        if let Some(rank) = rank {
            if best.map_or(true, |(b, _)| rank > b) {
                best = Some((rank, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

/// One request per combination of the methods and paths the routes mention, plus a
/// method and a path none mentions: every route a request can land on gets one.
fn sample_requests(routes: &[&Route]) -> Vec<Request> {
    let mut methods: BTreeSet<String> = ["GET".to_string(), UNNAMED.to_ascii_uppercase()].into();
    let mut paths: BTreeSet<String> = [format!("/{UNNAMED}")].into();
    for m in routes.iter().flat_map(|r| &r.rules).flatten() {
        methods.extend(m.method.clone());
        match &m.path {
            PathMatch::Exact(p) => {
                paths.insert(p.clone());
            }
            PathMatch::Prefix(p) => {
                paths.insert(p.clone());
                paths.insert(format!("{}/{UNNAMED}", p.trim_end_matches('/')));
            }
        }
    }
    methods.iter().flat_map(|m| paths.iter().map(move |p| Request { method: m.clone(), path: p.clone() })).collect()
}

/// Whether the traffic on the port is HTTP: a segment port declared `http` or `grpc`.
/// Anything else (tcp, undeclared, a pod no segment describes) is opaque to routes.
fn is_http(world: &World, destination: &Endpoint, port: L4Port) -> bool {
    let Endpoint::Segment(id) = destination else { return false };
    world
        .policy
        .segment(*id)
        .ports
        .iter()
        .any(|p| p.number == port.number && Transport::of(p.protocol) == port.transport && p.protocol.is_http())
}

fn block_contains(block: &str, ip: IpAddr) -> bool {
    if block.contains('/') {
        cidr_contains(block, ip)
    } else {
        block.parse::<IpAddr>().is_ok_and(|b| b == ip)
    }
}

fn identity_match(text: &str) -> IdentityMatch {
    if text == "*" {
        IdentityMatch::Any
    } else if let Some(suffix) = text.strip_prefix("*.") {
        IdentityMatch::Suffix(suffix.to_string())
    } else {
        IdentityMatch::Exact(text.to_string())
    }
}

/// Puts objects in age order: creation time, then name.
fn sort_by_age<T>(items: Vec<T>, ages: Vec<(String, String)>) -> Vec<T> {
    let mut paired: Vec<((String, String), T)> = ages.into_iter().zip(items).collect();
    paired.sort_by(|a, b| a.0.cmp(&b.0));
    paired.into_iter().map(|(_, item)| item).collect()
}

// --- Reading the objects -------------------------------------------------------------

/// What [`LinkerdPolicies`] reads of one object, on its own: verify reads each object
/// as it parses it and keeps only this.
pub struct Item {
    at: ObjectRef,
    /// Of Servers and routes, which the oldest of several wins.
    age: Option<(String, String)>,
    read: Option<Read>,
    /// What is wrong with the object.
    notes: Vec<String>,
}

/// One object read, of a kind that decides something.
enum Read {
    /// A Namespace's default inbound policy.
    Namespace(DefaultPolicy),
    Server(Server),
    Route(Route),
    Policy(AuthorizationPolicy),
    /// A MeshTLSAuthentication in a namespace.
    MeshTls(String, Identities),
    /// A NetworkAuthentication in a namespace.
    Network(String, Vec<Network>),
    ServerAuthorization(ServerAuthorization),
}

/// A Namespace's default inbound policy, if its annotation sets one.
fn read_namespace(manifest: &Manifest) -> Result<Option<Read>, String> {
    let annotations = &manifest.value["metadata"]["annotations"];
    let Some(value) = annotations.get(DEFAULT_POLICY_ANNOTATION) else { return Ok(None) };
    let policy = default_policy(value).map_err(|e| format!("annotation `{DEFAULT_POLICY_ANNOTATION}`: {e}"))?;
    Ok(Some(Read::Namespace(policy)))
}

fn default_policy(value: &Value) -> Result<DefaultPolicy, String> {
    Ok(match value.as_str() {
        Some("all-unauthenticated") => DefaultPolicy::AllUnauthenticated,
        Some("all-authenticated") => DefaultPolicy::AllAuthenticated,
        Some("cluster-unauthenticated") => DefaultPolicy::ClusterUnauthenticated,
        Some("cluster-authenticated") => DefaultPolicy::ClusterAuthenticated,
        Some("deny") => DefaultPolicy::Deny,
        Some("audit") => DefaultPolicy::Audit,
        _ => return Err(format!("{} is not a Linkerd default policy", show(value))),
    })
}

fn server(manifest: &Manifest, spec: &Mapping, namespace: String, notes: &mut Vec<String>) -> Result<Server, String> {
    if spec.contains_key("externalWorkloadSelector") {
        return Err("`externalWorkloadSelector` selects mesh expansion workloads, which verify does not model".into());
    }
    let pod_selector = label_selector(spec.get("podSelector").unwrap_or(&Value::Null), &At::Root("spec.podSelector"))?;
    let port = match spec.get("port") {
        Some(Value::Number(n)) => PortRef::Number(
            n.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| format!("`spec.port` {n} is not a port"))?,
        ),
        Some(Value::String(s)) => PortRef::Name(s.to_string()),
        other => {
            return Err(format!("`spec.port` is {}, not a port number or name", show(other.unwrap_or(&Value::Null))))
        }
    };
    let http_routes = match spec.get("proxyProtocol") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => match &**s {
            "unknown" | "HTTP/1" | "HTTP/2" => true,
            "gRPC" => {
                notes.push("proxyProtocol `gRPC` reads GRPCRoutes only; its HTTPRoutes are ignored".into());
                false
            }
            "opaque" | "TLS" => false,
            other => return Err(format!("unknown `spec.proxyProtocol` `{other}`")),
        },
        Some(other) => return Err(format!("`spec.proxyProtocol` is {}, not a string", show(other))),
    };
    let access = match spec.get("accessPolicy") {
        None | Some(Value::Null) => DefaultPolicy::Deny,
        Some(v) => default_policy(v).map_err(|e| format!("`spec.accessPolicy`: {e}"))?,
    };
    let mut labels = BTreeMap::new();
    if let Some(Value::Mapping(m)) = manifest.value["metadata"].get("labels") {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                labels.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(Server {
        at: manifest.at.clone(),
        namespace,
        name: manifest.at.name.clone(),
        labels,
        pod_selector,
        port,
        http_routes,
        access,
    })
}

/// `Ok(None)` for a route attached to no Server (an outbound or gateway route).
fn route(
    manifest: &Manifest,
    spec: &Mapping,
    namespace: String,
    notes: &mut Vec<String>,
) -> Result<Option<Route>, String> {
    let mut servers = Vec::new();
    let parents_at = At::Root("spec.parentRefs");
    for (i, parent) in sequence(spec.get("parentRefs"), parents_at)?.iter().enumerate() {
        let at = parents_at.index(i);
        let parent = mapping(parent, at)?;
        let kind = optional_string(parent, "kind", at)?;
        let group = optional_string(parent, "group", at)?;
        let parent_namespace = optional_string(parent, "namespace", at)?;
        if kind.as_deref() == Some("Server")
            && group.as_deref() == Some(GROUP)
            && parent_namespace.map_or(true, |ns| ns == namespace)
        {
            servers.push(string(parent, "name", at)?);
        }
    }
    if servers.is_empty() {
        return Ok(None);
    }
    if !sequence(spec.get("hostnames"), "spec.hostnames")?.is_empty() {
        notes.push("`spec.hostnames`: verify's requests carry no host, so this route is taken never to match".into());
        return Ok(Some(route_of(manifest, namespace, servers, Vec::new())));
    }
    let rules_at = At::Root("spec.rules");
    let rule_values = sequence(spec.get("rules"), rules_at)?;
    let mut rules = Vec::with_capacity(rule_values.len().max(1));
    for (i, rule) in rule_values.iter().enumerate() {
        let at = rules_at.index(i);
        let empty = Mapping::new();
        let rule = mapping_or_empty(rule, at, &empty)?;
        let matches_at = at.field("matches");
        let match_values = sequence(rule.get("matches"), matches_at)?;
        let mut matches = Vec::with_capacity(match_values.len());
        for (j, m) in match_values.iter().enumerate() {
            matches.push(route_match(m, &matches_at.index(j), notes)?);
        }
        rules.push(matches);
    }
    // No rules at all: one rule matching everything, as the Gateway API defaults it.
    if rule_values.is_empty() {
        rules.push(Vec::new());
    }
    Ok(Some(route_of(manifest, namespace, servers, rules)))
}

fn route_of(manifest: &Manifest, namespace: String, servers: Vec<String>, rules: Vec<Vec<RouteMatch>>) -> Route {
    Route {
        at: manifest.at.clone(),
        group: manifest.group().to_string(),
        namespace,
        name: manifest.at.name.clone(),
        servers,
        rules,
    }
}

fn route_match(value: &Value, at: &At, notes: &mut Vec<String>) -> Result<RouteMatch, String> {
    let empty = Mapping::new();
    let m = mapping_or_empty(value, at, &empty)?;
    let mut never = false;
    for key in ["headers", "queryParams"] {
        if !sequence(m.get(key), at.field(key))?.is_empty() {
            notes.push(format!("`{at}` matches on {key}: verify's requests carry none, so it never matches"));
            never = true;
        }
    }
    let path = match m.get("path").filter(|v| !v.is_null()) {
        None => PathMatch::Prefix("/".into()),
        Some(path) => {
            let path_at = at.field("path");
            let path = mapping(path, path_at)?;
            let value = optional_string(path, "value", path_at)?.unwrap_or_else(|| "/".into());
            match optional_string(path, "type", path_at)?.as_deref() {
                None | Some("PathPrefix") => PathMatch::Prefix(value),
                Some("Exact") => PathMatch::Exact(value),
                Some("RegularExpression") => {
                    notes.push(format!(
                        "`{at}` is a regular expression, which verify does not evaluate; it never matches"
                    ));
                    never = true;
                    PathMatch::Exact(value)
                }
                Some(other) => return Err(format!("`{at}.path.type` `{other}` is not a path match type")),
            }
        }
    };
    let method = optional_string(m, "method", at)?;
    Ok(RouteMatch { path, method, never })
}

fn authorization_policy(manifest: &Manifest, spec: &Mapping, namespace: String) -> Result<AuthorizationPolicy, String> {
    let target = mapping(spec.get("targetRef").unwrap_or(&Value::Null), "spec.targetRef")?;
    let kind = string(target, "kind", "spec.targetRef")?;
    let name = string(target, "name", "spec.targetRef")?;
    let group = optional_string(target, "group", "spec.targetRef")?;
    let target = match kind.as_str() {
        "Server" => Target::Server(name),
        "HTTPRoute" => Target::Route(name, group),
        "Namespace" if name == namespace => Target::Namespace,
        "Namespace" => return Err(format!("targets namespace `{name}`; Linkerd accepts only its own namespace")),
        other => return Err(format!("targets a `{other}`, which verify does not interpret")),
    };
    let mut required = Vec::new();
    let refs_at = At::Root("spec.requiredAuthenticationRefs");
    for (i, reference) in sequence(spec.get("requiredAuthenticationRefs"), refs_at)?.iter().enumerate() {
        let at = refs_at.index(i);
        let reference = mapping(reference, at)?;
        let name = string(reference, "name", at)?;
        let ns = optional_string(reference, "namespace", at)?.unwrap_or_else(|| namespace.clone());
        required.push(match string(reference, "kind", at)?.as_str() {
            "MeshTLSAuthentication" => AuthenticationRef::MeshTls(ns, name),
            "NetworkAuthentication" => AuthenticationRef::Network(ns, name),
            "ServiceAccount" => AuthenticationRef::ServiceAccount(ns, name),
            other => return Err(format!("`{at}` has kind `{other}`, which is not an authentication")),
        });
    }
    if required.is_empty() {
        return Err("`spec.requiredAuthenticationRefs` is empty: Linkerd rejects it".into());
    }
    Ok(AuthorizationPolicy { at: manifest.at.clone(), namespace, target, required })
}

fn networks(value: Option<&Value>, at: &At) -> Result<Vec<Network>, String> {
    let mut out = Vec::new();
    for (i, network) in sequence(value, at)?.iter().enumerate() {
        let at = at.index(i);
        let network = mapping(network, at)?;
        let cidr = string(network, "cidr", at)?;
        let except = strings(network.get("except"), at.field("except"))?;
        for block in std::iter::once(&cidr).chain(&except) {
            let address = block.split('/').next().unwrap_or_default();
            if address.parse::<IpAddr>().is_err() {
                return Err(format!("`{at}`: `{block}` is not an address or CIDR"));
            }
        }
        out.push(Network { cidr, except });
    }
    Ok(out)
}

fn label_selector(value: &Value, at: &At) -> Result<LabelSelector, String> {
    let selector = mapping(value, at)?;
    let mut out = LabelSelector::default();
    if let Some(labels) = selector.get("matchLabels").filter(|v| !v.is_null()) {
        for (k, v) in mapping(labels, at.field("matchLabels"))? {
            match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => out.labels.insert(k.to_string(), v.to_string()),
                _ => return Err(format!("`{at}.matchLabels` entry {}: {} is not a string pair", show(k), show(v))),
            };
        }
    }
    let expressions_at = at.field("matchExpressions");
    for (i, e) in sequence(selector.get("matchExpressions"), expressions_at)?.iter().enumerate() {
        let at = expressions_at.index(i);
        let e = mapping(e, at)?;
        let operator = match string(e, "operator", at)?.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => return Err(format!("`{at}.operator` `{other}` is not a selector operator")),
        };
        out.expressions.push(Expression {
            key: string(e, "key", at)?,
            operator,
            values: strings(e.get("values"), at.field("values"))?,
        });
    }
    Ok(out)
}

fn strings(value: Option<&Value>, at: impl Display) -> Result<Vec<String>, String> {
    sequence(value, &at)?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("`{at}` holds {}, not a string", show(v))))
        .collect()
}

fn string(map: &Mapping, key: &str, at: impl Display) -> Result<String, String> {
    optional_string(map, key, &at)?.ok_or_else(|| format!("`{at}.{key}` is missing"))
}

fn optional_string(map: &Mapping, key: &str, at: impl Display) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.to_string())),
        Some(other) => Err(format!("`{at}.{key}` is {}, not a string", show(other))),
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
    fn indexes_find_what_scans_of_every_object_find() {
        let policy = shop(IngressKind::Traefik, MeshKind::Linkerd);
        let manifests = crate::verify::manifests::from_objects(&crate::backends::emit_all(&policy)).unwrap();
        let (layer, problems) = LinkerdPolicies::new(&manifests, &policy.target.identity_suffix);
        assert!(problems.is_empty(), "{problems:?}");
        let world = World::new(&policy);
        for endpoint in &world.endpoints {
            let Some(pod) = world.pod(endpoint) else { continue };
            let scanned: Vec<&Server> = layer
                .servers
                .iter()
                .filter(|s| s.namespace == pod.namespace && s.pod_selector.matches(pod.labels))
                .collect();
            let indexed = layer.servers_selecting(&pod);
            assert_eq!(
                indexed.iter().map(|s| &s.at).collect::<Vec<_>>(),
                scanned.iter().map(|s| &s.at).collect::<Vec<_>>()
            );
        }
        assert!(!layer.servers.is_empty() && !layer.routes.is_empty() && !layer.policies.is_empty());
        for server in &layer.servers {
            let scanned: Vec<&ObjectRef> = layer
                .routes
                .iter()
                .filter(|r| r.namespace == server.namespace && r.servers.contains(&server.name))
                .map(|r| &r.at)
                .collect();
            assert_eq!(layer.routes_of(server).map(|r| &r.at).collect::<Vec<_>>(), scanned);
            let scanned: Vec<&ObjectRef> = layer
                .policies
                .iter()
                .filter(|p| p.namespace == server.namespace)
                .filter(|p| match &p.target {
                    Target::Server(name) => *name == server.name,
                    Target::Namespace => true,
                    Target::Route(..) => false,
                })
                .map(|p| &p.at)
                .collect();
            assert_eq!(layer.server_policies(server).iter().map(|p| &p.at).collect::<Vec<_>>(), scanned);
        }
    }
}
