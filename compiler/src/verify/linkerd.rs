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
use std::net::IpAddr;

use crate::verify::value::{Mapping, Value};

use super::crd_value::{age, mapping, mapping_or_empty, sequence, show};
use super::world::cidr_contains;
use super::{Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, Pod, Problem, Request, World};

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
    mesh_tls: BTreeMap<(String, String), Vec<IdentityMatch>>,
    networks: BTreeMap<(String, String), Vec<Network>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    Identities(Vec<IdentityMatch>),
}

#[derive(Debug, Clone)]
enum IdentityMatch {
    Any,
    /// `*.NS.SUFFIX`: identities ending in `.NS.SUFFIX`.
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
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
        let mut layer = LinkerdPolicies {
            identity_suffix: identity_suffix.to_string(),
            namespace_defaults: BTreeMap::new(),
            servers: Vec::new(),
            routes: Vec::new(),
            policies: Vec::new(),
            server_authorizations: Vec::new(),
            mesh_tls: BTreeMap::new(),
            networks: BTreeMap::new(),
        };
        let mut problems = Vec::new();
        let mut server_ages = Vec::new();
        let mut route_ages = Vec::new();
        for manifest in manifests {
            let mut notes = Vec::new();
            if let Err(e) = layer.read(manifest, &mut notes, &mut server_ages, &mut route_ages) {
                notes.push(e);
            }
            problems.extend(notes.into_iter().map(|message| Problem { at: manifest.at.clone(), message }));
        }
        layer.servers = sort_by_age(std::mem::take(&mut layer.servers), server_ages);
        layer.routes = sort_by_age(std::mem::take(&mut layer.routes), route_ages);
        layer.missing_references(&mut problems);
        (layer, problems)
    }

    /// Reads one manifest if it is a kind Linkerd's inbound policy reads.
    fn read(
        &mut self,
        manifest: &Manifest,
        notes: &mut Vec<String>,
        server_ages: &mut Vec<(String, String)>,
        route_ages: &mut Vec<(String, String)>,
    ) -> Result<(), String> {
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
            _ => return Ok(()),
        };
        if !versions.contains(&version) {
            return Err(format!(
                "apiVersion `{}` is not one verify reads ({})",
                manifest.api_version,
                versions.join(", ")
            ));
        }
        if kind == "Namespace" {
            return self.read_namespace(manifest);
        }
        let namespace = manifest.at.namespace.clone().ok_or("has no `metadata.namespace`")?;
        let empty = Mapping::new();
        let spec = mapping_or_empty(manifest.spec(), "spec", &empty)?;
        let name = manifest.at.name.clone();
        match kind {
            "Server" => {
                self.servers.push(server(manifest, spec, namespace, notes)?);
                server_ages.push(age(manifest));
            }
            "HTTPRoute" => {
                if let Some(route) = route(manifest, spec, namespace, notes)? {
                    self.routes.push(route);
                    route_ages.push(age(manifest));
                }
            }
            "AuthorizationPolicy" => self.policies.push(authorization_policy(manifest, spec, namespace)?),
            "MeshTLSAuthentication" => {
                let identities = self.mesh_tls_identities(spec, &namespace)?;
                self.mesh_tls.insert((namespace, name), identities);
            }
            "NetworkAuthentication" => {
                let networks = networks(spec.get("networks"), "spec.networks")?;
                if networks.is_empty() {
                    return Err("`spec.networks` is empty: Linkerd rejects it".into());
                }
                self.networks.insert((namespace, name), networks);
            }
            _ => self.server_authorizations.push(self.server_authorization(manifest, spec, namespace)?),
        }
        Ok(())
    }

    fn read_namespace(&mut self, manifest: &Manifest) -> Result<(), String> {
        let annotations = &manifest.value["metadata"]["annotations"];
        let Some(value) = annotations.get(DEFAULT_POLICY_ANNOTATION) else { return Ok(()) };
        let policy = default_policy(value).map_err(|e| format!("annotation `{DEFAULT_POLICY_ANNOTATION}`: {e}"))?;
        self.namespace_defaults.insert(manifest.at.name.clone(), (policy, manifest.at.clone()));
        Ok(())
    }

    fn identity(&self, namespace: &str, account: &str) -> String {
        format!("{account}.{namespace}.{}", self.identity_suffix)
    }

    fn mesh_tls_identities(&self, spec: &Mapping, namespace: &str) -> Result<Vec<IdentityMatch>, String> {
        let mut out: Vec<IdentityMatch> =
            strings(spec.get("identities"), "spec.identities")?.iter().map(|s| identity_match(s)).collect();
        for (i, reference) in sequence(spec.get("identityRefs"), "spec.identityRefs")?.iter().enumerate() {
            let at = format!("spec.identityRefs[{i}]");
            let reference = mapping(reference, &at)?;
            let name = string(reference, "name", &at)?;
            match string(reference, "kind", &at)?.as_str() {
                "ServiceAccount" => {
                    let ns = optional_string(reference, "namespace", &at)?.unwrap_or_else(|| namespace.to_string());
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
            (Some(Value::String(name)), None) => ServerRef::Name(name.clone()),
            (None, Some(selector)) => ServerRef::Selector(label_selector(selector, "spec.server.selector")?),
            _ => return Err("`spec.server` must have exactly one of `name` (a string) and `selector`".into()),
        };
        let client = mapping(spec.get("client").unwrap_or(&Value::Null), "spec.client")?;
        let networks = networks(client.get("networks"), "spec.client.networks")?;
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
                let accounts = sequence(mesh.get("serviceAccounts"), "spec.client.meshTLS.serviceAccounts")?;
                for (i, account) in accounts.iter().enumerate() {
                    let at = format!("spec.client.meshTLS.serviceAccounts[{i}]");
                    let account = mapping(account, &at)?;
                    let ns = optional_string(account, "namespace", &at)?.unwrap_or_else(|| namespace.clone());
                    ids.push(IdentityMatch::Exact(self.identity(&ns, &string(account, "name", &at)?)));
                }
                if ids.is_empty() {
                    return Err("authorizes no clients: Linkerd rejects it".into());
                }
                ClientAuthentication::Identities(ids)
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
                    AuthenticationRef::MeshTls(ns, name) => (!self.mesh_tls.contains_key(&(ns.clone(), name.clone())))
                        .then_some(("MeshTLSAuthentication", name)),
                    AuthenticationRef::Network(ns, name) => (!self.networks.contains_key(&(ns.clone(), name.clone())))
                        .then_some(("NetworkAuthentication", name)),
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
        if port.transport != "TCP" {
            return None;
        }
        self.servers.iter().find(|s| {
            s.namespace == pod.namespace
                && s.pod_selector.matches(pod.labels)
                && match &s.port {
                    PortRef::Number(n) => *n == port.number,
                    PortRef::Name(name) => pod
                        .named_ports
                        .iter()
                        .any(|(n, number, transport)| n == name && *number == port.number && *transport == "TCP"),
                }
        })
    }

    fn default_for(&self, namespace: &str) -> (DefaultPolicy, Vec<ObjectRef>) {
        match self.namespace_defaults.get(namespace) {
            Some((policy, at)) => (*policy, vec![at.clone()]),
            None => (CLUSTER_DEFAULT, Vec::new()),
        }
    }

    fn routes_of<'a>(&'a self, server: &'a Server) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes.iter().filter(move |r| r.namespace == server.namespace && r.servers.contains(&server.name))
    }

    /// Authorizations of the whole Server (and its namespace) that admit the peer.
    fn server_grants(&self, server: &Server, peer: &Peer) -> Vec<ObjectRef> {
        let mut out = Vec::new();
        for policy in self.policies.iter().filter(|p| p.namespace == server.namespace) {
            let targets = match &policy.target {
                Target::Server(name) => *name == server.name,
                Target::Namespace => true,
                Target::Route(..) => false,
            };
            if targets && self.satisfied(policy, peer) {
                out.push(policy.at.clone());
            }
        }
        for authz in self.server_authorizations.iter().filter(|a| a.namespace == server.namespace) {
            let selects = match &authz.server {
                ServerRef::Name(name) => *name == server.name,
                ServerRef::Selector(selector) => selector.matches(&server.labels),
            };
            let network = authz.networks.is_empty() || authz.networks.iter().any(|n| n.admits(peer));
            let client = match &authz.client {
                ClientAuthentication::Unauthenticated => true,
                ClientAuthentication::AnyTls => peer.identity.is_some(),
                ClientAuthentication::Identities(ids) => ids.iter().any(|m| m.admits(peer)),
            };
            if selects && network && client {
                out.push(authz.at.clone());
            }
        }
        out
    }

    fn route_grants(&self, route: &Route, peer: &Peer) -> Vec<ObjectRef> {
        self.policies
            .iter()
            .filter(|p| p.namespace == route.namespace)
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
            AuthenticationRef::MeshTls(ns, name) => {
                self.mesh_tls.get(&(ns.clone(), name.clone())).is_some_and(|ids| ids.iter().any(|m| m.admits(peer)))
            }
            AuthenticationRef::Network(ns, name) => {
                self.networks.get(&(ns.clone(), name.clone())).is_some_and(|nets| nets.iter().any(|n| n.admits(peer)))
            }
            AuthenticationRef::ServiceAccount(ns, name) => peer.identity.as_deref() == Some(&self.identity(ns, name)),
        })
    }

    fn decide_request(&self, server: &Server, routes: &[&Route], peer: &Peer, request: &Request) -> Decision {
        let Some(route) = select_route(routes, request) else {
            return Decision::deny(Vec::new());
        };
        let mut grants = self.route_grants(route, peer);
        grants.extend(self.server_grants(server, peer));
        if !grants.is_empty() {
            Decision::allow(grants)
        } else if server.access.admits(peer) {
            Decision::allow(vec![server.at.clone()])
        } else {
            Decision::deny(vec![route.at.clone(), server.at.clone()])
        }
    }

    /// Endpoints an authorization may admit: narrowed through exact identities where a
    /// required authentication names only those, else every endpoint.
    fn grantees<'w>(
        &self,
        policy: &AuthorizationPolicy,
        world: &'w World,
        by_identity: &BTreeMap<String, Vec<&'w Endpoint>>,
    ) -> Vec<&'w Endpoint> {
        for reference in &policy.required {
            let exact: Option<Vec<String>> = match reference {
                AuthenticationRef::ServiceAccount(ns, name) => Some(vec![self.identity(ns, name)]),
                AuthenticationRef::MeshTls(ns, name) => {
                    self.mesh_tls.get(&(ns.clone(), name.clone())).and_then(|ids| {
                        ids.iter()
                            .map(|m| if let IdentityMatch::Exact(s) = m { Some(s.clone()) } else { None })
                            .collect()
                    })
                }
                AuthenticationRef::Network(..) => None,
            };
            if let Some(identities) = exact {
                return identities.iter().flat_map(|i| by_identity.get(i).into_iter().flatten().copied()).collect();
            }
        }
        world.endpoints.iter().collect()
    }
}

impl Layer for LinkerdPolicies {
    fn name(&self) -> &'static str {
        "Linkerd"
    }

    /// Connections into a meshed pod over TCP: the proxy does not handle UDP.
    fn governs(&self, world: &World, connection: &Connection) -> bool {
        connection.port.transport == "TCP" && world.pod(&connection.destination).is_some_and(|p| p.meshed)
    }

    fn candidates(&self, world: &World) -> Vec<Connection> {
        let mut by_identity: BTreeMap<String, Vec<&Endpoint>> = BTreeMap::new();
        for endpoint in &world.endpoints {
            if let Some(pod) = world.pod(endpoint).filter(|p| p.meshed) {
                by_identity.entry(self.identity(pod.namespace, pod.account)).or_default().push(endpoint);
            }
        }
        let mut out = Vec::new();
        for destination in &world.endpoints {
            let Some(pod) = world.pod(destination).filter(|p| p.meshed) else { continue };
            let mut ports: BTreeSet<L4Port> = world.ports_to(destination).into_iter().collect();
            for server in
                self.servers.iter().filter(|s| s.namespace == pod.namespace && s.pod_selector.matches(pod.labels))
            {
                if let PortRef::Number(n) = server.port {
                    ports.insert(L4Port { number: n, transport: "TCP" });
                }
            }
            for port in ports {
                let sources: BTreeSet<&Endpoint> = match self.server_for(&pod, port) {
                    None => {
                        let (policy, _) = self.default_for(pod.namespace);
                        world.endpoints.iter().filter(|s| policy.admits(&self.peer(world, s))).collect()
                    }
                    Some(server) if server.access != DefaultPolicy::Deny => world.endpoints.iter().collect(),
                    Some(server) => {
                        let routes: Vec<&Route> = self.routes_of(server).collect();
                        let mut sources = BTreeSet::new();
                        for policy in self.policies.iter().filter(|p| p.namespace == server.namespace) {
                            let relevant = match &policy.target {
                                Target::Server(name) => *name == server.name,
                                Target::Namespace => true,
                                Target::Route(name, _) => routes.iter().any(|r| r.name == *name),
                            };
                            if relevant {
                                sources.extend(self.grantees(policy, world, &by_identity));
                            }
                        }
                        if self.server_authorizations.iter().any(|a| a.namespace == server.namespace) {
                            // Rare and legacy: not narrowed.
                            sources.extend(world.endpoints.iter());
                        }
                        sources
                    }
                };
                out.extend(sources.into_iter().map(|s| Connection {
                    source: s.clone(),
                    destination: destination.clone(),
                    port,
                }));
            }
        }
        out.sort();
        out.dedup();
        out
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
                requests.iter().map(|r| self.decide_request(server, &routes, &peer, r)).collect()
            }
            // Without routes the answer does not depend on the request.
            _ => {
                let decision = self.decide(world, connection, None);
                requests.iter().map(|_| decision.clone()).collect()
            }
        }
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
        if let Some(request) = request {
            return self.decide_request(server, &routes, &peer, request);
        }
        let mut first_denial = None;
        for request in sample_requests(&routes) {
            let decision = self.decide_request(server, &routes, &peer, &request);
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
        let servers =
            self.servers.iter().filter(|s| s.namespace == pod.namespace && s.pod_selector.matches(pod.labels));
        for server in servers {
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

/// The single route a request goes to: the best match, the first on ties.
fn select_route<'r>(routes: &[&'r Route], request: &Request) -> Option<&'r Route> {
    let mut best: Option<((usize, bool), &Route)> = None;
    for route in routes {
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
                best = Some((rank, route));
            }
        }
    }
    best.map(|(_, r)| r)
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
        .any(|p| p.number == port.number && p.protocol.transport() == port.transport && p.protocol.is_http())
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
    let pod_selector = label_selector(spec.get("podSelector").unwrap_or(&Value::Null), "spec.podSelector")?;
    let port = match spec.get("port") {
        Some(Value::Number(n)) => PortRef::Number(
            n.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| format!("`spec.port` {n} is not a port"))?,
        ),
        Some(Value::String(s)) => PortRef::Name(s.clone()),
        other => {
            return Err(format!("`spec.port` is {}, not a port number or name", show(other.unwrap_or(&Value::Null))))
        }
    };
    let http_routes = match spec.get("proxyProtocol") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => match s.as_str() {
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
    for (i, parent) in sequence(spec.get("parentRefs"), "spec.parentRefs")?.iter().enumerate() {
        let at = format!("spec.parentRefs[{i}]");
        let parent = mapping(parent, &at)?;
        let kind = optional_string(parent, "kind", &at)?;
        let group = optional_string(parent, "group", &at)?;
        let parent_namespace = optional_string(parent, "namespace", &at)?;
        if kind.as_deref() == Some("Server")
            && group.as_deref() == Some(GROUP)
            && parent_namespace.map_or(true, |ns| ns == namespace)
        {
            servers.push(string(parent, "name", &at)?);
        }
    }
    if servers.is_empty() {
        return Ok(None);
    }
    if !sequence(spec.get("hostnames"), "spec.hostnames")?.is_empty() {
        notes.push("`spec.hostnames`: verify's requests carry no host, so this route is taken never to match".into());
        return Ok(Some(route_of(manifest, namespace, servers, Vec::new())));
    }
    let mut rules = Vec::new();
    let rule_values = sequence(spec.get("rules"), "spec.rules")?;
    for (i, rule) in rule_values.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        let empty = Mapping::new();
        let rule = mapping_or_empty(rule, &at, &empty)?;
        let mut matches = Vec::new();
        for (j, m) in sequence(rule.get("matches"), &format!("{at}.matches"))?.iter().enumerate() {
            matches.push(route_match(m, &format!("{at}.matches[{j}]"), notes)?);
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

fn route_match(value: &Value, at: &str, notes: &mut Vec<String>) -> Result<RouteMatch, String> {
    let empty = Mapping::new();
    let m = mapping_or_empty(value, at, &empty)?;
    let mut never = false;
    for key in ["headers", "queryParams"] {
        if !sequence(m.get(key), &format!("{at}.{key}"))?.is_empty() {
            notes.push(format!("`{at}` matches on {key}: verify's requests carry none, so it never matches"));
            never = true;
        }
    }
    let path = match m.get("path").filter(|v| !v.is_null()) {
        None => PathMatch::Prefix("/".into()),
        Some(path) => {
            let path = mapping(path, &format!("{at}.path"))?;
            let value = optional_string(path, "value", &format!("{at}.path"))?.unwrap_or_else(|| "/".into());
            match optional_string(path, "type", &format!("{at}.path"))?.as_deref() {
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
    for (i, reference) in
        sequence(spec.get("requiredAuthenticationRefs"), "spec.requiredAuthenticationRefs")?.iter().enumerate()
    {
        let at = format!("spec.requiredAuthenticationRefs[{i}]");
        let reference = mapping(reference, &at)?;
        let name = string(reference, "name", &at)?;
        let ns = optional_string(reference, "namespace", &at)?.unwrap_or_else(|| namespace.clone());
        required.push(match string(reference, "kind", &at)?.as_str() {
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

fn networks(value: Option<&Value>, at: &str) -> Result<Vec<Network>, String> {
    let mut out = Vec::new();
    for (i, network) in sequence(value, at)?.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let network = mapping(network, &at)?;
        let cidr = string(network, "cidr", &at)?;
        let except = strings(network.get("except"), &format!("{at}.except"))?;
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

fn label_selector(value: &Value, at: &str) -> Result<LabelSelector, String> {
    let selector = mapping(value, at)?;
    let mut out = LabelSelector::default();
    if let Some(labels) = selector.get("matchLabels").filter(|v| !v.is_null()) {
        for (k, v) in mapping(labels, &format!("{at}.matchLabels"))? {
            match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => out.labels.insert(k.to_string(), v.to_string()),
                _ => return Err(format!("`{at}.matchLabels` entry {}: {} is not a string pair", show(k), show(v))),
            };
        }
    }
    for (i, e) in sequence(selector.get("matchExpressions"), &format!("{at}.matchExpressions"))?.iter().enumerate() {
        let at = format!("{at}.matchExpressions[{i}]");
        let e = mapping(e, &at)?;
        let operator = match string(e, "operator", &at)?.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => return Err(format!("`{at}.operator` `{other}` is not a selector operator")),
        };
        out.expressions.push(Expression {
            key: string(e, "key", &at)?,
            operator,
            values: strings(e.get("values"), &format!("{at}.values"))?,
        });
    }
    Ok(out)
}

fn strings(value: Option<&Value>, at: &str) -> Result<Vec<String>, String> {
    sequence(value, at)?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("`{at}` holds {}, not a string", show(v))))
        .collect()
}

fn string(map: &Mapping, key: &str, at: &str) -> Result<String, String> {
    optional_string(map, key, at)?.ok_or_else(|| format!("`{at}.{key}` is missing"))
}

fn optional_string(map: &Mapping, key: &str, at: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{at}.{key}` is {}, not a string", show(other))),
    }
}

#[cfg(test)]
mod tests;
