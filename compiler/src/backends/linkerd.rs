//! Linkerd: default-deny inbound policy and identity-based authorization for the
//! managed namespaces.
//!
//! Takes: the lowered [`Policy`].
//! Gives, per managed namespace:
//! - the `Namespace` annotated `config.linkerd.io/default-inbound-policy: deny`, so
//!   that ports no Server describes refuse every connection;
//! - a `Server` per TCP port of every managed meshed segment, named `SEGMENT-PORT`
//!   (a Server with no authorization refuses everything);
//! - an `AuthorizationPolicy` on the Server, named like it, for the callers that may
//!   send anything to the port;
//! - where some caller may send only some requests (methods, paths, exposed paths) or
//!   the kubelet probes the port: `HTTPRoute`s on the Server, named
//!   `SEGMENT-PORT-CALLERS`, each with an `AuthorizationPolicy` of the same name for the
//!   callers it admits (see `routes` for why routes are grouped by caller set), plus
//!   `SEGMENT-PORT-default`, a catch-all route that keeps the unrestricted callers'
//!   other requests routable;
//! - a `MeshTLSAuthentication` per set of callers, named after them, listing their
//!   identities `ACCOUNT.NAMESPACE.IDENTITY_SUFFIX`, and one `NetworkAuthentication`
//!   `all-networks` for probe routes.
//!
//! Must not: write into namespaces the user does not manage, admit a caller on a port
//! or request it was not declared for, or attach a route that leaves a declared request
//! without a matching route.
//!
//! Left out on purpose (NetworkPolicy still guards all of it): edges into externals and
//! the standard library's segments (mesh policy is inbound only; egress is
//! NetworkPolicy's job); `unmeshed` destinations (no proxy reads the policy) and callers
//! without a mesh identity (nothing to name); UDP ports (Linkerd proxies TCP only).

mod crd;
mod routes;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use rayon::prelude::*;

use self::crd::*;
use self::routes::{Atom, Caller};
use super::{metadata, object_name, unique_name, Backend, Object};
use crate::ir::{PathMatch, Policy, Port, Protocol, Segment, SegmentId, L7};

/// The namespace annotation Linkerd's injector copies onto each pod it injects.
const DEFAULT_POLICY_ANNOTATION: &str = "config.linkerd.io/default-inbound-policy";
/// The NetworkAuthentication of probe routes: every address, as Linkerd's default
/// probe authorization (`probeNetworks`) admits.
const ALL_NETWORKS: &str = "all-networks";
/// The catch-all route's caller label, after Linkerd's own `default` route.
const CATCH_ALL: &str = "default";
/// Upstream limits: matches per HTTPRoute rule, rules per HTTPRoute.
const MAX_MATCHES: usize = 8;
const MAX_RULES: usize = 16;

/// Every object of the Linkerd layer, namespace by namespace.
pub fn emit(policy: &Policy) -> Vec<Object> {
    let inbound = Inbound::index(policy);
    let segments = super::segments_by_namespace(policy);
    // Namespaces share nothing (names and authentications are per namespace): build
    // them in parallel; collecting keeps namespace order.
    policy
        .managed_namespaces
        .par_iter()
        .flat_map_iter(|namespace| {
            let segments = segments.get(namespace.as_str()).map_or(&[][..], Vec::as_slice);
            Namespaced::new(policy, namespace).emit(&inbound, segments)
        })
        .collect()
}

/// Edges and exposures grouped by destination, built once so that emitting is linear in
/// the policy's size.
struct Inbound<'p> {
    /// Edges into each segment (by id), in policy order.
    edges: Vec<Vec<&'p crate::ir::Edge>>,
    /// Exposed paths per (segment, port), merged over every exposure of the port.
    exposures: BTreeMap<(SegmentId, &'p Port), BTreeSet<&'p PathMatch>>,
}

impl<'p> Inbound<'p> {
    fn index(policy: &'p Policy) -> Self {
        let edges = super::edges_by_destination(policy);
        let mut exposures: BTreeMap<(SegmentId, &Port), BTreeSet<&PathMatch>> = BTreeMap::new();
        for exposure in &policy.exposures {
            exposures.entry((exposure.segment, &exposure.port)).or_default().extend(&exposure.paths);
        }
        Inbound { edges, exposures }
    }
}

/// Who may reach one port of a segment.
#[derive(Default)]
struct Grants {
    /// Callers that may send anything.
    open: BTreeSet<SegmentId>,
    /// Callers (and the kubelet) that may send only some requests.
    restricted: BTreeMap<Caller, BTreeSet<Atom>>,
}

impl Grants {
    fn of(policy: &Policy, inbound: &Inbound, id: SegmentId, port: &Port) -> Grants {
        let mut grants = Grants::default();
        for edge in inbound.edges.get(id.0).into_iter().flatten().filter(|e| e.port == *port) {
            if policy.segment(edge.source).meshed {
                grants.add(edge.source, port, &edge.l7);
            }
        }
        let controller = policy.target.controller;
        if policy.segment(controller).meshed {
            if let Some(paths) = inbound.exposures.get(&(id, port)) {
                let atoms = paths.iter().map(|p| Atom::new(p, None)).collect();
                grants.add_atoms(Caller::Segment(controller), atoms);
            }
        }
        if port.protocol.is_http() {
            let probes = policy.segment(id).probes.iter().filter(|p| p.port == *port);
            let atoms: BTreeSet<Atom> =
                probes.flat_map(|p| &p.paths).map(|path| Atom::new(path, Some("GET"))).collect();
            if !atoms.is_empty() {
                grants.restricted.insert(Caller::Probes, atoms);
            }
        }
        // A caller open by one declaration needs no route for its others.
        for caller in &grants.open {
            grants.restricted.remove(&Caller::Segment(*caller));
        }
        grants
    }

    fn add(&mut self, caller: SegmentId, port: &Port, l7: &L7) {
        match l7 {
            // On a TCP port Linkerd sees no requests, only the connection: the edge is
            // the declared L4 triple there, as in every L4 layer.
            L7::Rules(rules) if port.protocol.is_http() => {
                let mut atoms = BTreeSet::new();
                for rule in rules {
                    let any_path = [PathMatch::Prefix("/".into())];
                    let paths = if rule.paths.is_empty() { &any_path[..] } else { &rule.paths[..] };
                    for path in paths {
                        if rule.methods.is_empty() {
                            atoms.insert(Atom::new(path, None));
                        }
                        // A method HTTPRoute cannot express is dropped: refused, not widened.
                        for method in rule.methods.iter().filter(|m| routes::METHODS.contains(&m.as_str())) {
                            atoms.insert(Atom::new(path, Some(method)));
                        }
                    }
                }
                self.add_atoms(Caller::Segment(caller), atoms);
            }
            _ => {
                self.open.insert(caller);
            }
        }
    }

    fn add_atoms(&mut self, caller: Caller, atoms: BTreeSet<Atom>) {
        match caller {
            Caller::Segment(id) if atoms.contains(&Atom::any()) => {
                self.open.insert(id);
            }
            _ if atoms.is_empty() => {}
            _ => self.restricted.entry(caller).or_default().extend(atoms),
        }
    }
}

/// Object names in use in one namespace, per kind, so that two objects never share one.
#[derive(Default)]
struct Names(BTreeMap<&'static str, BTreeSet<String>>);

impl Names {
    /// `base`, or `base-2`, `base-3`, ... when an object of the kind already has it.
    fn claim(&mut self, kind: &'static str, base: String) -> String {
        unique_name(self.0.entry(kind).or_default(), base)
    }
}

/// The objects of one managed namespace, built up port by port.
struct Namespaced<'p> {
    policy: &'p Policy,
    namespace: &'p str,
    names: Names,
    /// MeshTLSAuthentication names, per set of callers.
    authentications: BTreeMap<BTreeSet<SegmentId>, String>,
    probes_authorized: bool,
    /// Servers, routes and authorization policies, in segment and port order.
    objects: Vec<Object>,
}

impl<'p> Namespaced<'p> {
    fn new(policy: &'p Policy, namespace: &'p str) -> Self {
        Namespaced {
            policy,
            namespace,
            names: Names::default(),
            authentications: BTreeMap::new(),
            probes_authorized: false,
            objects: Vec::new(),
        }
    }

    /// The namespace's objects; `segments` are the namespace's, in policy order.
    fn emit(mut self, inbound: &Inbound, segments: &[(SegmentId, &Segment)]) -> Vec<Object> {
        let policy = self.policy;
        for &(id, segment) in segments {
            if !segment.managed || !segment.meshed {
                continue;
            }
            // Linkerd proxies TCP only: a UDP port has no Server to describe.
            for port in segment.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
                let grants = Grants::of(policy, inbound, id, port);
                self.port(segment, port, &grants);
            }
        }
        let mut out = vec![Object::new(Backend::Linkerd, &default_deny(self.namespace))];
        if self.probes_authorized {
            out.push(Object::new(Backend::Linkerd, &all_networks(self.namespace)));
        }
        for (callers, name) in &self.authentications {
            let identities = callers.iter().map(|c| identity(policy, policy.segment(*c))).collect();
            let authn = MeshTlsAuthentication {
                api_version: AUTHZ_API,
                kind: "MeshTLSAuthentication",
                metadata: metadata(name.as_str(), self.namespace),
                spec: MeshTlsAuthenticationSpec { identities },
            };
            out.push(Object::new(Backend::Linkerd, &authn));
        }
        out.append(&mut self.objects);
        out
    }

    /// The Server of one port, its open callers' policy, and its routes.
    fn port(&mut self, segment: &Segment, port: &Port, grants: &Grants) {
        let server_name = self.names.claim("Server", object_name(&[&segment.slug, &port.name]));
        let server = Server {
            api_version: SERVER_API,
            kind: "Server",
            metadata: metadata(server_name.as_str(), self.namespace),
            spec: ServerSpec {
                pod_selector: PodSelector { match_labels: segment.selector.clone() },
                port: port.number,
                proxy_protocol: proxy_protocol(port.protocol),
            },
        };
        self.objects.push(Object::new(Backend::Linkerd, &server));
        let server_ref = Ref { group: GROUP, kind: "Server", name: server_name.clone() };
        if !grants.open.is_empty() {
            let authn = self.mesh_tls(&grants.open);
            self.authorize(server_name.clone(), server_ref.clone(), authn);
        }
        for (callers, atoms) in routes::groups(&grants.restricted, !grants.open.is_empty()) {
            let label = self.label(&callers);
            let base = object_name(&[&segment.slug, &port.name, &label]);
            let authn = self.route_authentication(&callers);
            // Past the CRD's limits, the same group continues in further routes.
            for (index, chunk) in atoms.chunks(MAX_MATCHES * MAX_RULES).enumerate() {
                let base = if index == 0 { base.clone() } else { object_name(&[&base, &(index + 1).to_string()]) };
                let route_name = self.names.claim("HTTPRoute", base);
                let route = HttpRoute {
                    api_version: HTTP_ROUTE_API,
                    kind: "HTTPRoute",
                    metadata: metadata(route_name.as_str(), self.namespace),
                    spec: HttpRouteSpec {
                        parent_refs: vec![server_ref.clone()],
                        rules: chunk
                            .chunks(MAX_MATCHES)
                            .map(|c| HttpRouteRule { matches: c.iter().map(route_match).collect() })
                            .collect(),
                    },
                };
                self.objects.push(Object::new(Backend::Linkerd, &route));
                if let Some(authn) = &authn {
                    let target = Ref { group: GROUP, kind: "HTTPRoute", name: route_name.clone() };
                    self.authorize(route_name, target, authn.clone());
                }
            }
        }
    }

    /// An AuthorizationPolicy named like its target.
    fn authorize(&mut self, base: String, target: Ref, authn: Ref) {
        let name = self.names.claim("AuthorizationPolicy", base);
        let authz = AuthorizationPolicy {
            api_version: AUTHZ_API,
            kind: "AuthorizationPolicy",
            metadata: metadata(name, self.namespace),
            spec: AuthorizationPolicySpec { target_ref: target, required_authentication_refs: vec![authn] },
        };
        self.objects.push(Object::new(Backend::Linkerd, &authz));
    }

    /// The authentication a route's own policy requires, or `None` for the catch-all
    /// route, which admits only the Server's open callers.
    fn route_authentication(&mut self, callers: &BTreeSet<Caller>) -> Option<Ref> {
        if callers.contains(&Caller::Probes) {
            self.probes_authorized = true;
            return Some(Ref { group: GROUP, kind: "NetworkAuthentication", name: ALL_NETWORKS.into() });
        }
        let segments: BTreeSet<SegmentId> =
            callers.iter().filter_map(|c| if let Caller::Segment(id) = c { Some(*id) } else { None }).collect();
        (!segments.is_empty()).then(|| self.mesh_tls(&segments))
    }

    /// The MeshTLSAuthentication for a set of callers, named after them, made once.
    fn mesh_tls(&mut self, callers: &BTreeSet<SegmentId>) -> Ref {
        let name = match self.authentications.get(callers) {
            Some(name) => name.clone(),
            None => {
                let slugs: Vec<&str> = callers.iter().map(|c| self.policy.segment(*c).slug.as_str()).collect();
                let name = self.names.claim("MeshTLSAuthentication", object_name(&slugs));
                self.authentications.insert(callers.clone(), name.clone());
                name
            }
        };
        Ref { group: GROUP, kind: "MeshTLSAuthentication", name }
    }

    /// A route's caller label: the callers' slugs, `probes`, or `default`.
    fn label(&self, callers: &BTreeSet<Caller>) -> String {
        if callers.is_empty() {
            return CATCH_ALL.into();
        }
        let parts: Vec<&str> = callers
            .iter()
            .map(|c| match c {
                Caller::Segment(id) => self.policy.segment(*id).slug.as_str(),
                Caller::Probes => "probes",
            })
            .collect();
        parts.join("-")
    }
}

/// The namespace with Linkerd's default inbound policy set to `deny`.
fn default_deny(namespace: &str) -> Namespace {
    let mut meta = metadata(namespace, String::new());
    // Namespaces are cluster-scoped.
    meta.namespace = None;
    meta.annotations = Some([(DEFAULT_POLICY_ANNOTATION.to_string(), "deny".to_string())].into());
    Namespace { metadata: meta, ..Namespace::default() }
}

fn all_networks(namespace: &str) -> NetworkAuthentication {
    NetworkAuthentication {
        api_version: AUTHZ_API,
        kind: "NetworkAuthentication",
        metadata: metadata(ALL_NETWORKS, namespace),
        spec: NetworkAuthenticationSpec { networks: vec![Network { cidr: "0.0.0.0/0" }, Network { cidr: "::/0" }] },
    }
}

/// How the proxy treats the port. `unknown` lets Linkerd detect HTTP/1 or HTTP/2, so an
/// `http` port works whichever the application speaks, and HTTPRoutes apply once
/// detected. gRPC is `HTTP/2`: on a `gRPC` Server Linkerd reads GRPCRoutes only and
/// would ignore the HTTPRoutes that carry method and path restrictions. TCP ports are
/// `opaque`: no detection (and no detection delay for server-speaks-first protocols).
fn proxy_protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Http => "unknown",
        Protocol::Grpc => "HTTP/2",
        Protocol::Tcp | Protocol::Udp => "opaque",
    }
}

fn route_match(atom: &Atom) -> HttpRouteMatch {
    let path = match &atom.path {
        PathMatch::Exact(p) => HttpPathMatch { kind: "Exact", value: p.clone() },
        PathMatch::Prefix(p) => HttpPathMatch { kind: "PathPrefix", value: p.clone() },
    };
    HttpRouteMatch { path, method: atom.method.clone() }
}

/// The caller's Linkerd identity: `ACCOUNT.NAMESPACE.IDENTITY_SUFFIX`.
fn identity(policy: &Policy, segment: &Segment) -> String {
    format!("{}.{}.{}", segment.account, segment.namespace, policy.target.identity_suffix)
}

#[cfg(test)]
mod tests;
