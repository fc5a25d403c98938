//! What the policy declares, as the same questions verify asks of every layer: is this
//! connection allowed, is this request allowed, where does the ingress route this
//! request.
//!
//! Besides `allow` and `expose`, a policy declares what every managed namespace needs
//! to work: DNS, the mesh control plane, and, under Linkerd, the proxy port that
//! carries meshed connections. Those are declared too, by the target.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::diag::Span;
use crate::ir::{Destination, Edge, Exposure, HttpRule, MeshKind, PathMatch, SegmentId, L7};

use super::world::{cidr_contains, Connection, Endpoint, L4Port, Request, Transport, World};
use super::HttpRequest;

/// Linkerd's outbound proxy connects to the destination proxy's inbound port.
pub const LINKERD_INBOUND_PORT: u16 = 4143;

/// Why a connection is declared: the `.seg` lines, or what the target implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `allow` lines (their headers) and/or `expose` lines.
    Declared(Vec<Span>),
    /// Cluster DNS for every pod of a managed namespace.
    Dns,
    /// The mesh control plane for every pod of a managed namespace.
    ControlPlane,
}

/// What requests a declared connection admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requests {
    Any,
    Rules(Vec<HttpRule>),
}

/// Where the ingress should send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedRoute<'p> {
    /// No exposure covers it.
    NoRoute,
    /// An exposure covers it but the client is outside its allowlist.
    Refused(&'p Exposure),
    /// An exposure with TLS covers it and the request is plain HTTP: it must not reach
    /// the segment (a redirect or no route are both fine).
    NeedsTls(&'p Exposure),
    Routed(&'p Exposure),
}

/// The declared connections, indexed for the questions verify asks.
#[derive(Debug)]
pub struct Declared<'p> {
    world: &'p World<'p>,
    /// Hashed: verify looks up every connection it compares.
    connections: FxHashMap<Connection, (Grant, Requests)>,
    /// Under Linkerd, kubelet probes: `GET` on the probe paths of a port from any
    /// network (the kubelet is not an endpoint; Linkerd authorizes every network, as
    /// its own default probe authorization does). Keyed by (destination, port).
    probes: BTreeMap<Endpoint, BTreeMap<L4Port, (Span, Vec<PathMatch>)>>,
    /// Per segment (by index), the paths the policy declares into it: allows,
    /// exposures and probes.
    paths_into: Vec<Vec<&'p PathMatch>>,
    /// Exposures (indexes) by their host as written: a request's host finds its own
    /// and its one-label wildcard's without looking at every exposure.
    exposures_by_host: FxHashMap<&'p str, Vec<usize>>,
}

/// The requests declared on one connection (see [`Declared::requests_on`]).
pub struct DeclaredRequests<'d> {
    requests: Option<&'d Requests>,
    probe: Option<&'d [PathMatch]>,
}

impl DeclaredRequests<'_> {
    /// [`Declared::allows_request`] or [`Declared::probe_allows`].
    pub fn allow(&self, request: &Request) -> bool {
        let declared = match self.requests {
            None => false,
            Some(Requests::Any) => true,
            Some(Requests::Rules(rules)) => rules.iter().any(|r| rule_matches(r, request)),
        };
        declared
            || (request.method == "GET"
                && self.probe.is_some_and(|paths| paths.iter().any(|p| path_matches(p, &request.path))))
    }

    /// [`DeclaredRequests::allow`] of every request of `methods` × `paths`, in that
    /// order (each method with every path): a rule's methods and paths are each
    /// matched once, not once per request.
    pub fn allow_all(&self, methods: &[String], paths: &[String]) -> Vec<bool> {
        let mut out = vec![false; methods.len() * paths.len()];
        let mut admit = |method_ok: &[bool], path_ok: &[bool]| {
            for (m, _) in method_ok.iter().enumerate().filter(|(_, ok)| **ok) {
                for (p, _) in path_ok.iter().enumerate().filter(|(_, ok)| **ok) {
                    out[m * paths.len() + p] = true;
                }
            }
        };
        match self.requests {
            None => {}
            Some(Requests::Any) => admit(&vec![true; methods.len()], &vec![true; paths.len()]),
            Some(Requests::Rules(rules)) => {
                for rule in rules {
                    let method_ok: Vec<bool> =
                        methods.iter().map(|m| rule.methods.is_empty() || rule.methods.contains(m)).collect();
                    let path_ok: Vec<bool> = paths
                        .iter()
                        .map(|p| rule.paths.is_empty() || rule.paths.iter().any(|r| path_matches(r, p)))
                        .collect();
                    admit(&method_ok, &path_ok);
                }
            }
        }
        if let Some(probe) = self.probe {
            let method_ok: Vec<bool> = methods.iter().map(|m| m == "GET").collect();
            let path_ok: Vec<bool> = paths.iter().map(|p| probe.iter().any(|r| path_matches(r, p))).collect();
            admit(&method_ok, &path_ok);
        }
        out
    }
}

impl<'p> Declared<'p> {
    pub fn new(world: &'p World<'p>) -> Declared<'p> {
        let policy = world.policy;
        let mut paths_into: Vec<Vec<&PathMatch>> =
            policy.segments.iter().map(|s| s.probes.iter().flat_map(|p| &p.paths).collect()).collect();
        for edge in &policy.edges {
            if let Destination::Segment(id) = edge.destination {
                paths_into[id.0].extend(rule_paths(&edge.l7));
            }
        }
        let mut exposures_by_host: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, exposure) in policy.exposures.iter().enumerate() {
            paths_into[exposure.segment.0].extend(&exposure.paths);
            exposures_by_host.entry(&exposure.host).or_default().push(i);
        }
        let mut declared = Declared {
            world,
            connections: FxHashMap::default(),
            probes: BTreeMap::new(),
            paths_into,
            exposures_by_host,
        };
        if policy.target.mesh == MeshKind::Linkerd {
            for (i, segment) in policy.segments.iter().enumerate().filter(|(_, s)| s.managed && s.meshed) {
                for probe in &segment.probes {
                    let port = L4Port { number: probe.port.number, transport: Transport::of(probe.port.protocol) };
                    let entry = declared
                        .probes
                        .entry(Endpoint::Segment(SegmentId(i)))
                        .or_default()
                        .entry(port)
                        .or_insert_with(|| (segment.decl, Vec::new()));
                    entry.1.extend(probe.paths.iter().cloned());
                }
            }
        }
        for edge in &policy.edges {
            declared.add_edge(edge);
        }
        let controller = policy.target.controller;
        for exposure in &policy.exposures {
            let requests = Requests::Rules(vec![HttpRule { methods: Vec::new(), paths: exposure.paths.clone() }]);
            declared.add_segment_connection(
                controller,
                exposure.segment,
                &exposure.port,
                vec![exposure.decl],
                requests,
            );
            // A controller of the user's own is in a managed namespace: its clients are
            // declared too (whoever the exposures admit).
            if policy.segment(controller).managed {
                for source in declared.clients(exposure) {
                    for port in &policy.segment(controller).ports {
                        let port = L4Port { number: port.number, transport: Transport::of(port.protocol) };
                        let connection =
                            Connection { source: source.clone(), destination: Endpoint::Segment(controller), port };
                        declared.insert(connection, Grant::Declared(vec![exposure.decl]), Requests::Any);
                    }
                }
            }
        }
        let managed_pods: Vec<Endpoint> = policy
            .managed_namespaces
            .iter()
            .flat_map(|ns| world.pods_in(ns).iter().cloned())
            .filter(|e| !matches!(e, Endpoint::Segment(id) if !policy.segment(*id).managed))
            .collect();
        let platform = policy
            .target
            .dns
            .map(|d| (d, Grant::Dns))
            .into_iter()
            .chain(policy.target.control_plane.iter().map(|c| (*c, Grant::ControlPlane)));
        for (segment, grant) in platform.collect::<Vec<_>>() {
            for source in &managed_pods {
                for port in &policy.segment(segment).ports {
                    let port = L4Port { number: port.number, transport: Transport::of(port.protocol) };
                    let connection =
                        Connection { source: source.clone(), destination: Endpoint::Segment(segment), port };
                    declared.insert(connection, grant.clone(), Requests::Any);
                }
            }
        }
        declared
    }

    fn add_edge(&mut self, edge: &Edge) {
        let requests = match &edge.l7 {
            L7::Any => Requests::Any,
            L7::Rules(rules) => Requests::Rules(rules.clone()),
        };
        match edge.destination {
            Destination::Segment(dest) => {
                self.add_segment_connection(edge.source, dest, &edge.port, edge.decls.clone(), requests)
            }
            Destination::External(ext) => {
                let port = L4Port { number: edge.port.number, transport: Transport::of(edge.port.protocol) };
                let connection =
                    Connection { source: Endpoint::Segment(edge.source), destination: Endpoint::External(ext), port };
                self.insert(connection, Grant::Declared(edge.decls.clone()), requests);
            }
        }
    }

    /// A connection between two segments, plus Linkerd's proxy port when both are
    /// meshed (NetworkPolicy sees that port on the wire; meshes never do).
    fn add_segment_connection(
        &mut self,
        source: SegmentId,
        dest: SegmentId,
        port: &crate::ir::Port,
        decls: Vec<Span>,
        requests: Requests,
    ) {
        let policy = self.world.policy;
        let l4 = L4Port { number: port.number, transport: Transport::of(port.protocol) };
        let connection =
            Connection { source: Endpoint::Segment(source), destination: Endpoint::Segment(dest), port: l4 };
        self.insert(connection, Grant::Declared(decls.clone()), requests);
        if policy.target.mesh == MeshKind::Linkerd && policy.segment(source).meshed && policy.segment(dest).meshed {
            let proxy = L4Port { number: LINKERD_INBOUND_PORT, transport: Transport::Tcp };
            let connection =
                Connection { source: Endpoint::Segment(source), destination: Endpoint::Segment(dest), port: proxy };
            self.insert(connection, Grant::Declared(decls), Requests::Any);
        }
    }

    fn insert(&mut self, connection: Connection, grant: Grant, requests: Requests) {
        use std::collections::hash_map::Entry;
        match self.connections.entry(connection) {
            Entry::Vacant(v) => {
                v.insert((grant, requests));
            }
            Entry::Occupied(mut o) => {
                let (old_grant, old_requests) = o.get_mut();
                if let (Grant::Declared(old), Grant::Declared(new)) = (&mut *old_grant, grant) {
                    old.extend(new);
                }
                *old_requests = match (std::mem::replace(old_requests, Requests::Any), requests) {
                    (Requests::Rules(mut a), Requests::Rules(b)) => {
                        a.extend(b);
                        Requests::Rules(a)
                    }
                    _ => Requests::Any,
                };
            }
        }
    }

    /// Endpoints standing for the clients an exposure admits.
    fn clients(&self, exposure: &Exposure) -> Vec<Endpoint> {
        self.world
            .endpoints
            .iter()
            .filter(|e| match self.world.address(e) {
                Some(ip) => exposure.sources.is_empty() || exposure.sources.iter().any(|c| cidr_contains(c, ip)),
                None => false,
            })
            .cloned()
            .collect()
    }

    /// The probe paths declared for the connection's destination port (any source),
    /// under Linkerd; `None` elsewhere.
    pub fn probe(&self, connection: &Connection) -> Option<&(Span, Vec<PathMatch>)> {
        self.probes.get(&connection.destination)?.get(&connection.port)
    }

    /// One connection per probed port, from a pod of another namespace: a
    /// representative of "any network" that keeps the comparison linear.
    pub fn probe_connections(&self) -> impl Iterator<Item = Connection> + '_ {
        self.probes.iter().flat_map(|(destination, ports)| {
            ports.keys().map(|port| Connection {
                source: Endpoint::OtherNamespace,
                destination: destination.clone(),
                port: *port,
            })
        })
    }

    /// Whether a probe declared on the connection's port admits the request.
    pub fn probe_allows(&self, connection: &Connection, request: &Request) -> bool {
        request.method == "GET"
            && self.probe(connection).is_some_and(|(_, paths)| paths.iter().any(|p| path_matches(p, &request.path)))
    }

    /// Every declared connection, in no particular order.
    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.connections.keys()
    }

    /// Why the connection is declared, or `None` when it is not.
    pub fn grant(&self, connection: &Connection) -> Option<&Grant> {
        self.connections.get(connection).map(|(g, _)| g)
    }

    /// Whether the request is declared on the connection (any request when the
    /// connection is declared without methods and paths).
    pub fn allows_request(&self, connection: &Connection, request: &Request) -> bool {
        match self.connections.get(connection) {
            None => false,
            Some((_, Requests::Any)) => true,
            Some((_, Requests::Rules(rules))) => rules.iter().any(|r| rule_matches(r, request)),
        }
    }

    /// The requests declared on a connection, looked up once for many requests.
    pub fn requests_on(&self, connection: &Connection) -> DeclaredRequests<'_> {
        DeclaredRequests {
            requests: self.connections.get(connection).map(|(_, r)| r),
            probe: self.probe(connection).map(|(_, paths)| paths.as_slice()),
        }
    }

    /// The exposures whose host matches `host`, in the policy's order.
    fn exposures_on(&self, host: &str) -> Vec<&'p Exposure> {
        // `*.rest` matches a host of one more label: the part after its first dot.
        let wildcard = host.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        let mut found: Vec<usize> = [Some(host), wildcard.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|h| self.exposures_by_host.get(h))
            .flatten()
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        let exposures = &self.world.policy.exposures;
        found.into_iter().map(|i| &exposures[i]).filter(|e| host_matches(&e.host, host)).collect()
    }

    /// Where the ingress should send a request.
    pub fn route(&self, request: &HttpRequest) -> ExpectedRoute<'p> {
        // The most specific exposure wins, as in both controllers: exact host before
        // wildcard, exact path before prefix, longer prefix before shorter.
        let best = self
            .exposures_on(&request.host)
            .into_iter()
            .flat_map(|e| e.paths.iter().filter(|p| path_matches(p, &request.path)).map(move |p| (e, p)))
            .max_by_key(|(e, p)| (!e.host.starts_with("*."), specificity(p)));
        let Some((exposure, _)) = best else { return ExpectedRoute::NoRoute };
        if !exposure.sources.is_empty() && !exposure.sources.iter().any(|c| cidr_contains(c, request.client)) {
            return ExpectedRoute::Refused(exposure);
        }
        if exposure.tls_secret.is_some() && !request.tls {
            return ExpectedRoute::NeedsTls(exposure);
        }
        ExpectedRoute::Routed(exposure)
    }

    /// Sample paths for L7 comparisons: every path the policy or the layers mention,
    /// the path just below it, a sibling that shares its prefix as text (`/apix` for
    /// `/api`), the root, and a path nobody mentions.
    pub fn sample_paths(&self, mentioned: impl IntoIterator<Item = String>) -> Vec<String> {
        let policy = self.world.policy;
        let declared = policy
            .edges
            .iter()
            .flat_map(|e| rule_paths(&e.l7))
            .chain(policy.exposures.iter().flat_map(|e| e.paths.iter()))
            .chain(policy.segments.iter().flat_map(|s| s.probes.iter().flat_map(|p| p.paths.iter())));
        samples_around(declared, mentioned)
    }

    /// [`Declared::sample_paths`] for requests into one destination: the paths the
    /// policy declares into it, and those the layer's rules for it mention.
    pub fn sample_paths_to(&self, destination: &Endpoint, mentioned: impl IntoIterator<Item = String>) -> Vec<String> {
        let Endpoint::Segment(id) = destination else { return samples_around(std::iter::empty(), mentioned) };
        samples_around(self.paths_into[id.0].iter().copied(), mentioned)
    }

    /// [`Declared::sample_paths`] for requests to one host: the paths exposed on it,
    /// and those the ingress's routes for it mention.
    pub fn sample_paths_for_host(&self, host: &str, mentioned: impl IntoIterator<Item = String>) -> Vec<String> {
        samples_around(self.exposures_on(host).into_iter().flat_map(|e| e.paths.iter()), mentioned)
    }

    /// Sample methods: every method the policy or the layer mentions, `GET` (probes),
    /// and one nobody mentions, which stands for all the others (no rule can tell them
    /// apart).
    pub fn sample_methods(&self, mentioned: impl IntoIterator<Item = String>) -> Vec<String> {
        let policy = self.world.policy;
        let declared = policy.edges.iter().flat_map(|e| match &e.l7 {
            L7::Rules(rules) => rules.iter().flat_map(|r| r.methods.iter().cloned()).collect::<Vec<_>>(),
            L7::Any => Vec::new(),
        });
        let mut methods: BTreeSet<String> = declared.chain(mentioned).collect();
        methods.insert("GET".to_string());
        methods.insert(UNMENTIONED_METHOD.to_string());
        methods.into_iter().collect()
    }

    /// Sample client addresses: the internet and one address of every range the
    /// policy or the layer mentions.
    pub fn sample_clients(&self, ranges: impl IntoIterator<Item = String>) -> Vec<IpAddr> {
        let mut clients: BTreeSet<IpAddr> = self.world.address(&Endpoint::Internet).into_iter().collect();
        let declared = self.world.policy.exposures.iter().flat_map(|e| e.sources.iter().cloned());
        for range in declared.chain(ranges) {
            if let Some(ip) = super::world::first_address(&range) {
                clients.insert(ip);
            }
        }
        clients.into_iter().collect()
    }
}

fn rule_paths(l7: &L7) -> Vec<&PathMatch> {
    match l7 {
        L7::Rules(rules) => rules.iter().flat_map(|r| r.paths.iter()).collect(),
        L7::Any => Vec::new(),
    }
}

/// The sample paths around declared and mentioned paths (see
/// [`Declared::sample_paths`]).
fn samples_around<'a>(
    declared: impl Iterator<Item = &'a PathMatch>,
    mentioned: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut bases: BTreeSet<String> = declared
        .map(|p| match p {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p.clone(),
        })
        .collect();
    for path in mentioned {
        bases.insert(path.trim_end_matches('*').trim_end_matches('/').to_string());
    }
    let mut samples = BTreeSet::new();
    samples.insert("/".to_string());
    samples.insert("/segc-verify-elsewhere".to_string());
    for base in bases {
        if base.is_empty() || base == "/" {
            continue;
        }
        samples.insert(format!("{base}/segc-sample"));
        samples.insert(format!("{base}x"));
        samples.insert(format!("{base}/"));
        samples.insert(base);
    }
    samples.into_iter().collect()
}

/// A method that neither the language nor any layer names: it stands for every method
/// nobody mentions.
pub const UNMENTIONED_METHOD: &str = "PURGE";

fn rule_matches(rule: &HttpRule, request: &Request) -> bool {
    (rule.methods.is_empty() || rule.methods.contains(&request.method))
        && (rule.paths.is_empty() || rule.paths.iter().any(|p| path_matches(p, &request.path)))
}

/// The language's path semantics: `Prefix("/x")` is `/x` and everything below it by
/// segment; `Prefix("/")` is every path.
pub fn path_matches(pattern: &PathMatch, path: &str) -> bool {
    match pattern {
        PathMatch::Exact(p) => p == path,
        PathMatch::Prefix(p) if p == "/" => true,
        PathMatch::Prefix(p) => path == p || path.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('/')),
    }
}

fn specificity(path: &PathMatch) -> (usize, bool) {
    match path {
        PathMatch::Exact(p) => (p.len(), true),
        PathMatch::Prefix(p) => (p.len(), false),
    }
}

/// `*.example.com` matches exactly one label before `example.com`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::{self, shop};
    use crate::ir::IngressKind;

    fn conn(source: Endpoint, destination: Endpoint, number: u16) -> Connection {
        Connection { source, destination, port: L4Port { number, transport: Transport::Tcp } }
    }

    #[test]
    fn edges_exposures_and_platform_are_declared() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let world = World::new(&policy);
        let declared = Declared::new(&world);
        let web = Endpoint::Segment(sample::WEB);
        let api = Endpoint::Segment(sample::API);
        assert!(declared.grant(&conn(web.clone(), api.clone(), 8080)).is_some());
        assert!(declared.grant(&conn(api.clone(), web.clone(), 8080)).is_none());
        let controller = Endpoint::Segment(sample::INGRESS_NGINX);
        assert!(declared.grant(&conn(controller, web.clone(), 8080)).is_some());
        let dns = Endpoint::Segment(sample::DNS);
        let udp = Connection {
            source: Endpoint::OtherPod(sample::SHOP),
            destination: dns,
            port: L4Port { number: 53, transport: Transport::Udp },
        };
        assert_eq!(declared.grant(&udp), Some(&Grant::Dns));
        let get = |path: &str| Request { method: "GET".into(), path: path.into() };
        let web_api = conn(web, api, 8080);
        assert!(declared.allows_request(&web_api, &get("/api/v1")));
        assert!(declared.allows_request(&web_api, &get("/api")));
        assert!(!declared.allows_request(&web_api, &get("/apix")));
        assert!(!declared.allows_request(&web_api, &Request { method: "DELETE".into(), path: "/api".into() }));
    }

    #[test]
    fn linkerd_proxy_port_is_declared_between_meshed_segments_only() {
        let policy = shop(IngressKind::Nginx, MeshKind::Linkerd);
        let world = World::new(&policy);
        let declared = Declared::new(&world);
        let web = Endpoint::Segment(sample::WEB);
        let api = Endpoint::Segment(sample::API);
        assert!(declared.grant(&conn(web, api.clone(), LINKERD_INBOUND_PORT)).is_some());
        let batch = Endpoint::Segment(sample::BATCH); // unmeshed
        assert!(declared.grant(&conn(batch, api, LINKERD_INBOUND_PORT)).is_none());
    }

    #[test]
    fn routes_follow_hosts_paths_tls_and_allowlists() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        policy.exposures[0].sources = vec!["198.51.100.0/24".into()];
        let world = World::new(&policy);
        let declared = Declared::new(&world);
        let request = |host: &str, client: [u8; 4], tls: bool| HttpRequest {
            client: IpAddr::from(client),
            host: host.into(),
            path: "/x".into(),
            tls,
        };
        assert!(matches!(
            declared.route(&request("shop.example.com", [198, 51, 100, 7], true)),
            ExpectedRoute::Routed(_)
        ));
        assert!(matches!(
            declared.route(&request("shop.example.com", [198, 51, 100, 7], false)),
            ExpectedRoute::NeedsTls(_)
        ));
        assert!(matches!(declared.route(&request("shop.example.com", [8, 8, 8, 8], true)), ExpectedRoute::Refused(_)));
        assert_eq!(declared.route(&request("other.example.com", [198, 51, 100, 7], true)), ExpectedRoute::NoRoute);
    }

    #[test]
    fn requests_of_every_method_and_path_are_those_allowed_one_by_one() {
        for mesh in [MeshKind::Istio, MeshKind::Linkerd] {
            let policy = shop(IngressKind::Nginx, mesh);
            let world = World::new(&policy);
            let declared = Declared::new(&world);
            let methods: Vec<String> = ["DELETE", "GET", "POST", "PURGE"].map(String::from).to_vec();
            let paths: Vec<String> =
                ["/", "/api", "/api/", "/apix", "/api/v1", "/healthz", "/cart", "/x"].map(String::from).to_vec();
            let mut connections: Vec<Connection> = declared.connections().cloned().collect();
            connections.extend(declared.probe_connections());
            for connection in connections {
                let on = declared.requests_on(&connection);
                let one_by_one: Vec<bool> = methods
                    .iter()
                    .flat_map(|m| paths.iter().map(move |p| Request { method: m.clone(), path: p.clone() }))
                    .map(|r| on.allow(&r))
                    .collect();
                assert_eq!(on.allow_all(&methods, &paths), one_by_one, "{connection:?}");
            }
        }
    }

    #[test]
    fn exposures_by_host_are_those_whose_host_matches() {
        let mut policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let mut wildcard = policy.exposures[0].clone();
        wildcard.host = "*.example.com".into();
        policy.exposures.push(wildcard);
        let mut other = policy.exposures[0].clone();
        other.host = "*.".into();
        policy.exposures.push(other);
        let world = World::new(&policy);
        let declared = Declared::new(&world);
        for host in
            ["shop.example.com", "a.example.com", "a.b.example.com", "example.com", "x.", ".", "", "*.example.com"]
        {
            let scanned: Vec<&Exposure> = policy.exposures.iter().filter(|e| host_matches(&e.host, host)).collect();
            assert_eq!(declared.exposures_on(host), scanned, "{host}");
        }
    }

    #[test]
    fn hosts_and_paths_match_like_the_language_says() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(path_matches(&PathMatch::Prefix("/x".into()), "/x/y"));
        assert!(path_matches(&PathMatch::Prefix("/x".into()), "/x"));
        assert!(!path_matches(&PathMatch::Prefix("/x".into()), "/xy"));
    }
}
