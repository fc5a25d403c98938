//! Verify: prove from the manifests themselves that every layer allows exactly what
//! the policy declares.
//!
//! Takes: a lowered [`Policy`] and every object of a directory,
//! whoever wrote them: its files ([`manifests::files`]), each read by the layers as it
//! is parsed (`reads.rs`), or objects already parsed ([`manifests::read_dir`]).
//! Gives: per layer, the connections (and for L7 layers, requests) it allows, computed
//! with the layer's real semantics by an interpreter, compared with the declared set;
//! every difference as a diagnostic naming the layer, the connection, the object and
//! the `.seg` line that declares (or should declare) it.
//! Must not: trust that the manifests came from segc, or look at the AST. The
//! interpreters (one file per layer) are shared by later commands (`explain`).

mod block_yaml;
mod compare;
mod crd_value;
pub mod declared;
pub mod http_match;
mod index;
pub mod istio;
pub mod linkerd;
pub mod manifests;
pub mod netpol;
pub mod nginx;
mod reads;
#[cfg(test)]
mod test_support;
pub mod traefik;
pub mod value;
pub mod world;

use std::net::IpAddr;
use std::path::Path;

use rayon::prelude::*;

use crate::diag::{Diagnostic, SourceMap};
use crate::ir::Policy;

use compare::Reporter;
use declared::Declared;

pub use manifests::{Manifest, ObjectAt, ObjectRef};
pub use world::{Connection, Endpoint, L4Port, Pod, Request, Transport, World};

/// An object a layer's interpreter could not read (wrong types, missing fields, values
/// the API server would reject) or cannot verify with certainty, and why. Reported as
/// a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: ObjectRef,
    pub message: String,
}

/// What a layer decided about a connection or request, and the objects that decided it:
/// the rules that let it through, or the policies that apply and deny it (empty when
/// nothing applies at all, e.g. no route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub because: Vec<ObjectRef>,
}

impl Decision {
    pub fn allow(because: Vec<ObjectRef>) -> Decision {
        Decision { allowed: true, because }
    }

    pub fn deny(because: Vec<ObjectRef>) -> Decision {
        Decision { allowed: false, because }
    }
}

/// An interpreter of one connection-level layer (NetworkPolicy, Istio, Linkerd), built
/// from the manifests and a [`World`].
pub trait Layer: Sync {
    /// The layer's name in messages: `NetworkPolicy`, `Istio`, `Linkerd`.
    fn name(&self) -> &'static str;

    /// Whether the layer enforces this connection at all. NetworkPolicy governs the
    /// ingress side of every pod and the egress side of every pod; a mesh governs only
    /// destinations that run its proxy. Connections a layer does not govern are not
    /// compared for it.
    fn governs(&self, world: &World, connection: &Connection) -> bool;

    /// Every connection between endpoints of the world that the layer might allow,
    /// enumerated from its rules (a superset is fine). Its cost must be proportional to
    /// the rules and what they match, never to all pairs of endpoints. A rule without
    /// ports contributes [`World::ports_to`] of the destination.
    fn candidates(&self, world: &World) -> Vec<Connection>;

    /// [`Layer::candidates`] in groups the comparison can take as a whole: ports a
    /// rule opens to whole classes of sources (every network, every meshed client),
    /// and sides of pods nothing isolates, rather than one connection per source or
    /// peer. The comparison then stays linear where such rules are common (Linkerd's
    /// probe routes admit every network; pods of other namespaces are not isolated).
    /// The default lists every candidate.
    fn candidate_groups(&self, world: &World) -> Candidates {
        Candidates { connections: self.candidates(world), ..Candidates::default() }
    }

    /// Whether the connection is allowed. With `request: None`, whether *any* traffic
    /// on the connection can pass (for L7 layers: at least one request); with a
    /// request, whether that HTTP request passes (L4 layers ignore it).
    fn decide(&self, world: &World, connection: &Connection, request: Option<&Request>) -> Decision;

    /// [`Layer::decide`] for many requests on one connection. Layers whose decision
    /// has a per-connection part (the caller's identity, the Server, its routes)
    /// override it to compute that part once.
    fn decide_requests(&self, world: &World, connection: &Connection, requests: &[Request]) -> Vec<Decision> {
        requests.iter().map(|r| self.decide(world, connection, Some(r))).collect()
    }

    /// Literal paths the layer's rules mention, for choosing sample requests.
    fn paths(&self) -> Vec<String>;

    /// The paths of the rules that can apply to requests into `destination` (a subset
    /// of [`Layer::paths`]); the default is all of them. Sampling only these keeps the
    /// work per connection proportional to its own rules.
    fn paths_to(&self, _world: &World, _destination: &Endpoint) -> Vec<String> {
        self.paths()
    }

    /// HTTP methods the layer's rules mention (upper case), for choosing sample
    /// requests: a method no rule of the layer or the policy mentions is decided like
    /// any other unmentioned method, so one of those stands for all.
    fn methods(&self) -> Vec<String> {
        Vec::new()
    }

    /// For layers enforced at both ends (NetworkPolicy): the source's egress and the
    /// destination's ingress decisions, so that a side wider than declared shows even
    /// while the other side still blocks the connection. `None` for one-sided layers.
    fn sides(&self, _world: &World, _connection: &Connection) -> Option<[Decision; 2]> {
        None
    }

    /// Whether [`Layer::decide`] (any request) and [`Layer::sides`] allow each of many
    /// connections, in their order, worked out in parallel. Comparisons ask this of
    /// every connection and want the objects only where the layer and the policy
    /// differ. Layers override it to skip naming objects, and to find what applies to
    /// each endpoint once rather than once per connection.
    fn verdicts(&self, world: &World, connections: &[Connection]) -> Vec<Verdict> {
        connections
            .par_iter()
            .map(|c| Verdict {
                allowed: self.decide(world, c, None).allowed,
                sides: self.sides(world, c).map(|sides| sides.map(|s| s.allowed)),
            })
            .collect()
    }

    /// Whether [`Layer::decide_requests`] allows each request, on each of several
    /// connections into one destination. Layers override it to work out what depends
    /// on the destination (or on the request alone) once, and to skip naming objects.
    fn allows_requests(&self, world: &World, connections: &[&Connection], requests: &[Request]) -> Vec<Vec<bool>> {
        let allowed =
            |c: &Connection| self.decide_requests(world, c, requests).into_iter().map(|d| d.allowed).collect();
        connections.iter().map(|c| allowed(c)).collect()
    }
}

/// Whether a layer allows a connection (see [`Layer::verdicts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// For two-sided layers, whether [egress, ingress] allow it.
    pub sides: Option<[bool; 2]>,
}

/// [`Layer::verdicts`] for a layer that decides every connection to a destination from
/// the same state: `allowed_to(destination)` works that state out once and returns
/// what decides each connection to it. Destinations are decided in parallel; the
/// verdicts come back in the connections' order, without sides.
pub(crate) fn verdicts_by_destination<'c, A>(
    connections: &'c [Connection],
    allowed_to: impl Fn(&'c Endpoint) -> A + Sync,
) -> Vec<Verdict>
where
    A: FnMut(&'c Connection) -> bool,
{
    let decided: Vec<(usize, bool)> = by_destination(connections, 0..connections.len())
        .par_iter()
        .flat_map_iter(|(destination, indexes)| {
            let mut allowed = allowed_to(destination);
            indexes.iter().map(|i| (*i, allowed(&connections[*i]))).collect::<Vec<_>>()
        })
        .collect();
    let mut verdicts = vec![Verdict { allowed: false, sides: None }; connections.len()];
    for (i, allowed) in decided {
        verdicts[i].allowed = allowed;
    }
    verdicts
}

/// The `indexes` of `connections` grouped by destination, destinations in order, each
/// group in the order given: work that depends on the destination is then done once
/// per group.
pub(crate) fn by_destination(
    connections: &[Connection],
    indexes: impl IntoIterator<Item = usize>,
) -> Vec<(&Endpoint, Vec<usize>)> {
    let mut groups: std::collections::BTreeMap<&Endpoint, Vec<usize>> = Default::default();
    for i in indexes {
        groups.entry(&connections[i].destination).or_default().push(i);
    }
    groups.into_iter().collect()
}

/// The candidates of a layer (see [`Layer::candidate_groups`]): connections one by
/// one, open ports with classes of sources, and open sides of pods.
#[derive(Debug, Default)]
pub struct Candidates {
    pub connections: Vec<Connection>,
    /// Disjoint classes of endpoints, each sorted.
    pub classes: Vec<Vec<Endpoint>>,
    /// At an open port the layer decides alike (for every request, naming the same
    /// objects) every two members of a class that are not sources of `connections`
    /// into that port: a source the port's rules tell apart from its class is listed
    /// there.
    pub open: Vec<OpenPort>,
    /// Sides (of a two-sided layer) that nothing isolates: every connection through
    /// one is a candidate. The layer lists in `connections` those that a peer's own
    /// side may admit, unless that side is open too or the peer has none (an
    /// address): the connections an open side adds beyond these are ones the peer's
    /// side denies.
    pub open_sides: Vec<OpenSide>,
}

/// A pod's side that nothing isolates: it admits every peer, on the ports of the
/// connection's destination ([`World::ports_to`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSide {
    pub pod: Endpoint,
    /// Ingress (the pod is the destination) or egress (the source).
    pub ingress: bool,
}

impl OpenSide {
    /// The connections through this side with each of `peers`.
    pub fn connections<'a>(
        &'a self,
        world: &'a World,
        peers: impl IntoIterator<Item = &'a Endpoint> + 'a,
    ) -> impl Iterator<Item = Connection> + 'a {
        peers.into_iter().flat_map(move |peer| {
            let (source, destination) = if self.ingress { (peer, &self.pod) } else { (&self.pod, peer) };
            world.ports_to(destination).into_iter().map(move |port| Connection {
                source: source.clone(),
                destination: destination.clone(),
                port,
            })
        })
    }
}

/// A destination port that members of some classes may reach.
#[derive(Debug)]
pub struct OpenPort {
    pub destination: Endpoint,
    pub port: L4Port,
    /// Indexes into [`Candidates::classes`].
    pub classes: Vec<usize>,
}

impl Candidates {
    /// Every candidate connection, one by one, sorted.
    pub fn expand(self, world: &World) -> Vec<Connection> {
        let mut out = self.connections;
        for open in &self.open {
            for member in open.classes.iter().flat_map(|c| &self.classes[*c]) {
                out.push(Connection { source: member.clone(), destination: open.destination.clone(), port: open.port });
            }
        }
        for side in &self.open_sides {
            out.extend(side.connections(world, &world.endpoints));
        }
        out.par_sort_unstable();
        out.dedup();
        out
    }
}

/// An HTTP request arriving at the ingress controller from outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpRequest {
    pub client: IpAddr,
    /// Lower case.
    pub host: String,
    pub path: String,
    /// HTTPS (true) or plain HTTP (false).
    pub tls: bool,
}

/// A Service port as an ingress backend names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServicePort {
    Name(String),
    Number(u16),
}

/// What an ingress controller does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// No route matches (404).
    NoRoute,
    /// A route matches but refuses the client (allowlist): 403.
    Refused { by: ObjectRef },
    /// Plain HTTP answered with a redirect to HTTPS.
    Redirected { by: ObjectRef },
    /// Forwarded to a Service.
    Routed {
        namespace: String,
        service: String,
        port: ServicePort,
        /// gRPC (HTTP/2) to the backend.
        grpc: bool,
        /// External authentication every request must pass first.
        auth_url: Option<String>,
        by: ObjectRef,
    },
}

/// An interpreter of one ingress controller's objects.
pub trait IngressLayer: Sync {
    /// `ingress-nginx` or `Traefik`.
    fn name(&self) -> &'static str;

    /// Every (host, path) its routes mention, as written (hosts may be wildcards), for
    /// choosing sample requests.
    fn routes(&self) -> Vec<(String, String)>;

    /// Client CIDRs its allowlists mention, for choosing sample clients.
    fn client_ranges(&self) -> Vec<String>;

    /// What the controller does with the request.
    fn route(&self, request: &HttpRequest) -> Routing;
}

/// Verifies the manifests under `dir` against the policy: every difference between a
/// layer and the declaration, as diagnostics in source order. Manifest files that a
/// diagnostic points into are added to `sources`.
pub fn verify(sources: &mut SourceMap, dir: &Path, policy: &Policy) -> Result<Vec<Diagnostic>, manifests::ReadError> {
    verify_files(sources, dir, policy, manifests::files(dir)?)
}

/// [`verify`] of the files already listed under `dir` (the CLI lists them while it
/// compiles the policy). Each object is read by its layer as soon as it is parsed.
pub fn verify_files(
    sources: &mut SourceMap,
    dir: &Path,
    policy: &Policy,
    files: Vec<manifests::File>,
) -> Result<Vec<Diagnostic>, manifests::ReadError> {
    let world = World::new(policy);
    let read = reads::read_files(policy, files)?;
    Ok(compare_layers(sources, dir, &world, read))
}

/// [`verify`] of objects already parsed from `dir`.
pub fn verify_manifests(
    sources: &mut SourceMap,
    dir: &Path,
    policy: &Policy,
    manifests: Vec<Manifest>,
) -> Vec<Diagnostic> {
    let world = World::new(policy);
    let read = reads::read_manifests(policy, manifests);
    compare_layers(sources, dir, &world, read)
}

/// What the layers allow against what the policy declares.
fn compare_layers(sources: &mut SourceMap, dir: &Path, world: &World, read: reads::Read) -> Vec<Diagnostic> {
    // What the policy declares is worked out once the objects' trees are freed, so it
    // reuses their memory, and beside the layers' indexing, which leaves a core idle
    // (Linkerd's is the longest: at 10,000 segments it sorts 34,000 Servers and routes
    // by age; `Declared::new` took 40 ms after it on one core).
    let (layers, declared) = rayon::join(|| read.into_layers(), || Declared::new(world));
    let reads::Layers { netpol, mesh, ingress, problems } = layers;
    let mut report = Reporter::new(sources, dir);
    for problem in &problems {
        report.problem(problem);
    }

    // The three comparisons read the same data and are independent: run them side by
    // side, then label what they found in a fixed order.
    let mut behind: Vec<(&dyn Layer, bool)> = vec![(&netpol, false)];
    if let Some(mesh) = &mesh {
        behind.push((mesh.as_ref(), true));
    }
    let ((netpol_found, mesh_found), ingress_found) = rayon::join(
        || {
            rayon::join(
                || compare::compare_layer(world, &declared, &netpol, false),
                || {
                    mesh.as_ref()
                        .map(|m| compare::compare_layer(world, &declared, m.as_ref(), true))
                        .unwrap_or_default()
                },
            )
        },
        || compare::compare_ingress(world, &declared, ingress.as_ref(), &behind),
    );
    for found in netpol_found.into_iter().chain(mesh_found).chain(ingress_found) {
        report.add(found);
    }
    let mut diagnostics = report.diagnostics;
    crate::diag::sort(&mut diagnostics);
    // Freeing what the layers read took 75 ms of CPU at 10,000 segments (`edge`): a
    // thread of its own does it, so the answer does not wait (and `segc verify` exits
    // without waiting for it). Should no thread start, the closure and what it holds
    // are dropped here. `declared` borrows the policy, and is freed here.
    let read = (netpol, mesh, ingress);
    let _ = std::thread::Builder::new().name("segc-free".into()).spawn(move || drop(read));
    drop(declared);
    diagnostics
}
