//! Comparing every layer with the declaration, and turning differences into
//! diagnostics.
//!
//! Connection layers are compared over the union of what the layer might allow (its
//! candidates) and what the policy declares, so the work follows the rules, not all
//! pairs of endpoints. Where a rule opens a port or a side to every source alike, one
//! representative stands for the rest until it disagrees. L7 layers are compared on
//! sample requests (every method, and paths around every path anyone mentions); the
//! ingress on sample requests of every host, path, client range and scheme. Each
//! route the ingress takes is also checked against the other layers: a route they
//! refuse is a shadow path.
//!
//! Connections, destinations and hosts are compared in parallel and what they find is
//! gathered in a fixed order. Layers answer allowed-or-not first; the objects behind
//! an answer are looked up only for a difference to report.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use rayon::prelude::*;

use crate::diag::{Code, Diagnostic, FileId, Label, Origin, SourceMap, Span};
use crate::ir::{MeshKind, SegmentId};

use super::declared::{Declared, ExpectedRoute, Grant, LINKERD_INBOUND_PORT};
use super::world::{Connection, Endpoint, L4Port, Request, Transport, World};
use super::{
    by_destination, Candidates, Decision, HttpRequest, IngressLayer, Layer, ObjectRef, OpenSide, Problem, Routing,
    ServicePort, Verdict,
};

/// At most this many example requests or sources are listed in one diagnostic.
const EXAMPLES: usize = 3;

/// A difference found by a comparison: the diagnostic, the manifest objects to label,
/// and how to label them ("allowed by", "denied by"). Comparisons run in parallel and
/// return these; the [`Reporter`] then labels them one by one.
pub struct Pending {
    diagnostic: Diagnostic,
    objects: Vec<ObjectRef>,
    role: &'static str,
}

fn pending(diagnostic: Diagnostic, objects: &[ObjectRef], role: &'static str) -> Pending {
    Pending { diagnostic, objects: objects.to_vec(), role }
}

/// Builds diagnostics, registering manifest files in the source map on first use so
/// that labels can point into the YAML.
pub struct Reporter<'s> {
    sources: &'s mut SourceMap,
    dir: PathBuf,
    files: BTreeMap<PathBuf, Option<FileId>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'s> Reporter<'s> {
    pub fn new(sources: &'s mut SourceMap, dir: &Path) -> Reporter<'s> {
        Reporter { sources, dir: dir.to_path_buf(), files: BTreeMap::new(), diagnostics: Vec::new() }
    }

    /// A label on the object's `name:` line in its file (or the file's start).
    fn object_label(&mut self, at: &ObjectRef, message: impl Into<String>) -> Option<Label> {
        let dir = self.dir.clone();
        let sources = &mut *self.sources;
        let file = *self.files.entry(at.file.clone()).or_insert_with(|| {
            let path = dir.join(&at.file);
            let text = std::fs::read_to_string(&path).ok()?;
            Some(sources.add(path.display().to_string(), Origin::User(path), text))
        });
        let file = file?;
        let text = &self.sources.get(file).text;
        let start = document_start(text, at.document);
        let needle = format!("name: {}", at.name);
        let span = text[start..]
            .find(&needle)
            .map(|i| start + i..start + i + needle.len())
            .unwrap_or(start..start + text[start..].find('\n').unwrap_or(0));
        Some(Label::new(Span::new(file, span), message))
    }

    /// Labels a finding and adds it.
    pub fn add(&mut self, found: Pending) {
        self.push(found.diagnostic, &found.objects, found.role);
    }

    fn push(&mut self, mut diagnostic: Diagnostic, objects: &[ObjectRef], role: &str) {
        let mut seen = BTreeSet::new();
        for at in objects.iter().filter(|a| seen.insert((*a).clone())).take(EXAMPLES) {
            let message = format!("{role} {}/{}", at.kind, at.name);
            match self.object_label(at, message) {
                Some(label) => diagnostic.secondary.push(label),
                None => diagnostic.notes.push(format!("{role} {at}")),
            }
        }
        self.diagnostics.push(diagnostic);
    }

    pub fn problem(&mut self, problem: &Problem) {
        let message = format!("cannot verify {}/{}: {}", problem.at.kind, problem.at.name, problem.message);
        // The file was just read; should it have vanished since, anchor on the start of
        // the policy's root file and name the object in a note instead.
        let (label, note) = match self.object_label(&problem.at, "here") {
            Some(label) => (label, None),
            None => (Label::new(Span::new(FileId(0), 0..0), "verifying this policy"), Some(problem.at.to_string())),
        };
        let mut diagnostic = Diagnostic::new(Code::W0801, message, label)
            .with_help("verify reports what it can; check this object by hand");
        if let Some(note) = note {
            diagnostic = diagnostic.with_note(note);
        }
        self.diagnostics.push(diagnostic);
    }
}

/// Offset of the 1-based `document` in a multi-document YAML text.
fn document_start(text: &str, document: usize) -> usize {
    let mut offset = 0;
    let mut seen = 1;
    for line in text.split_inclusive('\n') {
        if seen >= document {
            return offset;
        }
        if line.trim_end() == "---" {
            seen += 1;
        }
        offset += line.len();
    }
    0
}

/// The other end of a connection found wider than declared, and the objects that
/// allow it.
type Peer = (Endpoint, Vec<ObjectRef>);

/// Compares one connection layer with the declaration.
pub fn compare_layer(world: &World, declared: &Declared, layer: &dyn Layer, is_mesh: bool) -> Vec<Pending> {
    let universe = universe(world, declared, layer, is_mesh);
    let outcomes = compare_all(world, declared, layer, is_mesh, &universe);

    let mut report = Vec::new();
    // Differences grouped per (code, destination, port), so one widened rule is one
    // diagnostic, not one per source.
    let mut wider: BTreeMap<(&Endpoint, L4Port), Vec<Peer>> = BTreeMap::new();
    // One side of a two-sided layer wider than declared while the other still blocks:
    // (side, the pod whose side it is, port) → (the peer, objects).
    let mut half_open: BTreeMap<(&str, &Endpoint, L4Port), Vec<Peer>> = BTreeMap::new();
    for (connection, outcome) in universe.iter().zip(outcomes) {
        match outcome {
            Outcome::Agrees | Outcome::CompareRequests => {}
            Outcome::Found(found) => report.extend(found),
            Outcome::Wider(because) => wider
                .entry((&connection.destination, connection.port))
                .or_default()
                .push((connection.source.clone(), because)),
            Outcome::HalfOpen { egress, ingress } => {
                if let Some(because) = egress {
                    half_open
                        .entry(("egress", &connection.source, connection.port))
                        .or_default()
                        .push((connection.destination.clone(), because));
                }
                if let Some(because) = ingress {
                    half_open
                        .entry(("ingress", &connection.destination, connection.port))
                        .or_default()
                        .push((connection.source.clone(), because));
                }
            }
        }
    }
    for ((destination, port), sources) in wider {
        let names: Vec<String> = sources.iter().map(|(s, _)| world.describe(s)).collect();
        let objects: Vec<ObjectRef> = sources.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
        let anchor = anchor_span(world, destination, &sources[0].0);
        let message = format!(
            "{} allows {} to reach {} on {}, which no allow declares",
            layer.name(),
            list(&names),
            world.describe(destination),
            port_text(port)
        );
        let diagnostic = Diagnostic::new(Code::E0801, message, Label::new(anchor, "nothing here allows it"))
            .with_help("remove or narrow the rule, or declare the connection with `allow` and rebuild");
        report.push(pending(diagnostic, &objects, "allowed by"));
    }
    for ((side, pod, port), peers) in half_open {
        let names: Vec<String> = peers.iter().map(|(p, _)| world.describe(p)).collect();
        let objects: Vec<ObjectRef> = peers.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
        let (relation, other) = if side == "ingress" { ("from", "egress") } else { ("to", "ingress") };
        let message = format!(
            "{}: the {side} side of {} allows connections {relation} {} on {}, which no allow declares",
            layer.name(),
            world.describe(pod),
            list(&names),
            port_text(port)
        );
        let anchor = anchor_span(world, pod, &peers[0].0);
        let diagnostic = Diagnostic::new(Code::E0801, message, Label::new(anchor, "nothing here allows it"))
            .with_note(format!("only the other end's {other} rules still block it"))
            .with_help("remove or narrow the rule, or declare the connection with `allow` and rebuild");
        report.push(pending(diagnostic, &objects, "allowed by"));
    }
    report
}

/// The connections to compare, sorted: the layer's candidates and the declared
/// connections, those the comparison covers.
fn universe(world: &World, declared: &Declared, layer: &dyn Layer, is_mesh: bool) -> Vec<Connection> {
    let Candidates { connections, classes, open, open_sides } = layer.candidate_groups(world);
    let mut universe = connections;
    universe.extend(declared.connections().cloned());
    if is_mesh {
        universe.extend(declared.probe_connections());
    }
    universe.extend(open_side_connections(world, &open_sides));
    sort_unique(&mut universe);
    // An open port is compared class by class on one member that neither the layer
    // nor the policy names there: the layer decides the others alike, the policy
    // declares nothing for any of them (or only the port's probes), so they all agree
    // with the declaration if the representative does. Otherwise each is compared.
    // For two-sided layers whether a connection is compared depends on its source
    // too: there every member is compared.
    let mut members = Vec::new();
    let mut representatives = Vec::new();
    for open in &open {
        for class in open.classes.iter().map(|c| &classes[*c]) {
            let connections = class.iter().map(|m| Connection {
                source: m.clone(),
                destination: open.destination.clone(),
                port: open.port,
            });
            if is_mesh {
                let unnamed = connections.filter(|c| universe.binary_search(c).is_err());
                representatives.extend(unnamed.take(1).map(|c| (c, class)));
            } else {
                members.extend(connections);
            }
        }
    }
    representatives.retain(|(c, _)| compared(world, layer, is_mesh, c));
    let (representatives, of_class): (Vec<Connection>, Vec<&Vec<Endpoint>>) = representatives.into_iter().unzip();
    let outcomes = compare_all(world, declared, layer, is_mesh, &representatives);
    for ((representative, outcome), class) in representatives.iter().zip(outcomes).zip(of_class) {
        if !matches!(outcome, Outcome::Agrees) {
            members.extend(class.iter().map(|m| Connection { source: m.clone(), ..representative.clone() }));
        }
    }
    if !members.is_empty() {
        universe.extend(members);
        sort_unique(&mut universe);
    }
    universe.retain(|c| compared(world, layer, is_mesh, c));
    universe
}

/// The connections through open sides that the comparison must look at. An open
/// side of a pod of a managed namespace may be wider than declared: each of its
/// connections. Another pod's (a namespace the policy does not manage) cannot be
/// reported on its own, so only its connections the peer's side may allow: with
/// peers that have no side or an open one (the layer lists those through a peer's
/// isolated side with the rest).
fn open_side_connections(world: &World, sides: &[OpenSide]) -> Vec<Connection> {
    // Per open side, the peers whose side facing it (egress for an ingress side) is
    // open or missing: by `ingress` of the open side.
    let sideless = world.endpoints.iter().filter(|e| world.pod(e).is_none());
    let facing = |ingress: bool| -> Vec<&Endpoint> {
        let open = sides.iter().filter(|s| s.ingress != ingress).map(|s| &s.pod);
        sideless.clone().chain(open).collect()
    };
    let facing = [facing(false), facing(true)];
    let everyone: Vec<&Endpoint> = world.endpoints.iter().collect();
    sides
        .par_iter()
        .flat_map_iter(|side| {
            let peers = if world.managed_pod(&side.pod) { &everyone } else { &facing[usize::from(side.ingress)] };
            side.connections(world, peers.iter().copied()).collect::<Vec<_>>()
        })
        .collect()
}

/// Sorts connections and drops repeats.
fn sort_unique(connections: &mut Vec<Connection>) {
    connections.par_sort_unstable();
    connections.dedup();
}

/// Whether the comparison covers the connection: one this run is responsible for,
/// that the layer governs.
fn compared(world: &World, layer: &dyn Layer, is_mesh: bool, connection: &Connection) -> bool {
    in_scope(world, connection, is_mesh)
        && layer.governs(world, connection)
        // Linkerd's proxy port exists only on the wire, below the mesh's own policy.
        && !(is_mesh && world.policy.target.mesh == MeshKind::Linkerd && connection.port.number == LINKERD_INBOUND_PORT)
}

/// Compares each connection on its own, in parallel, and returns what each found in
/// their order, so the report does not depend on scheduling.
fn compare_all(
    world: &World,
    declared: &Declared,
    layer: &dyn Layer,
    is_mesh: bool,
    connections: &[Connection],
) -> Vec<Outcome> {
    if connections.is_empty() {
        return Vec::new();
    }
    let verdicts = layer.verdicts(world, connections);
    let mut outcomes: Vec<Outcome> = connections
        .par_iter()
        .zip(verdicts)
        .map(|(connection, verdict)| compare_connection(world, declared, (layer, is_mesh), connection, verdict))
        .collect();
    // Connections whose requests are to be compared, by destination: they share the
    // sample requests, which are built once per destination.
    let to_compare = (0..connections.len()).filter(|i| matches!(outcomes[*i], Outcome::CompareRequests));
    let groups = by_destination(connections, to_compare);
    if groups.is_empty() {
        return outcomes;
    }
    let methods = declared.sample_methods(layer.methods());
    let found: Vec<(usize, Vec<Pending>)> = groups
        .par_iter()
        .flat_map_iter(|(destination, indexes)| {
            let paths = declared.sample_paths_to(destination, layer.paths_to(world, destination));
            let requests: Vec<Request> = methods
                .iter()
                .flat_map(|m| paths.iter().map(move |p| Request { method: m.clone(), path: p.clone() }))
                .collect();
            let into: Vec<&Connection> = indexes.iter().map(|i| &connections[*i]).collect();
            let allowed = layer.allows_requests(world, &into, &requests);
            let samples = Samples { methods: &methods, paths: &paths, requests: &requests };
            indexes
                .iter()
                .zip(allowed)
                .map(|(i, allowed)| (*i, compare_requests(world, declared, layer, &connections[*i], &samples, allowed)))
                .collect::<Vec<_>>()
        })
        .collect();
    for (i, found) in found {
        outcomes[i] = if found.is_empty() { Outcome::Agrees } else { Outcome::Found(found) };
    }
    outcomes
}

/// What comparing one connection found.
enum Outcome {
    /// The layer agrees with the declaration.
    Agrees,
    /// Differences reported on their own (a declared connection denied, requests).
    Found(Vec<Pending>),
    /// Allowed though not declared, by these objects.
    Wider(Vec<ObjectRef>),
    /// Declared and allowed by an L7 layer: requests on it are to be compared.
    CompareRequests,
    /// Denied and not declared, but one side allows it (by these objects) while the
    /// other blocks it.
    HalfOpen { egress: Option<Vec<ObjectRef>>, ingress: Option<Vec<ObjectRef>> },
}

/// Compares the layer's verdict on one connection with the declaration (for L7
/// layers, requests on it are compared next).
fn compare_connection(
    world: &World,
    declared: &Declared,
    (layer, is_mesh): (&dyn Layer, bool),
    connection: &Connection,
    Verdict { allowed, sides }: Verdict,
) -> Outcome {
    // The objects behind a decision are looked up only to report a difference.
    let grant = grant_of(declared, connection, is_mesh);
    match (grant, allowed) {
        (None, true) => Outcome::Wider(layer.decide(world, connection, None).because),
        (None, false) => match sides {
            Some([egress, ingress]) => {
                let egress = egress && world.managed_pod(&connection.source);
                let ingress = ingress && world.managed_pod(&connection.destination);
                match layer.sides(world, connection).filter(|_| egress || ingress) {
                    Some([egress_side, ingress_side]) => Outcome::HalfOpen {
                        egress: egress.then_some(egress_side.because),
                        ingress: ingress.then_some(ingress_side.because),
                    },
                    None => Outcome::Agrees,
                }
            }
            None => Outcome::Agrees,
        },
        (Some(grant), false) => {
            let mut found = Vec::new();
            let decision = layer.decide(world, connection, None);
            narrower(world, layer.name(), connection, &grant, &decision, &mut found);
            Outcome::Found(found)
        }
        (Some(_), true) if is_mesh && is_http(world, connection) => Outcome::CompareRequests,
        _ => Outcome::Agrees,
    }
}

/// Why the connection is declared: an allow (or what the target implies), or, for a
/// mesh, a probe on its port.
fn grant_of<'d>(declared: &'d Declared, connection: &Connection, is_mesh: bool) -> Option<Cow<'d, Grant>> {
    if let Some(grant) = declared.grant(connection) {
        return Some(Cow::Borrowed(grant));
    }
    let probe = if is_mesh { declared.probe(connection) } else { None };
    probe.map(|(span, _)| Cow::Owned(Grant::Declared(vec![*span])))
}

/// Connections this run is responsible for: into a pod of a managed namespace, and
/// (for NetworkPolicy, which also governs egress) out of one.
fn in_scope(world: &World, connection: &Connection, is_mesh: bool) -> bool {
    world.managed_pod(&connection.destination) || (!is_mesh && world.managed_pod(&connection.source))
}

fn is_http(world: &World, connection: &Connection) -> bool {
    match &connection.destination {
        Endpoint::Segment(id) => {
            world.policy.segment(*id).ports.iter().any(|p| p.number == connection.port.number && p.protocol.is_http())
        }
        _ => false,
    }
}

fn narrower(
    world: &World,
    layer: &str,
    connection: &Connection,
    grant: &Grant,
    decision: &Decision,
    report: &mut Vec<Pending>,
) {
    let (span, what) = match grant {
        Grant::Declared(spans) => (spans.first().copied(), "declared here"),
        Grant::Dns => (None, "cluster DNS"),
        Grant::ControlPlane => (None, "the mesh control plane"),
    };
    let span = span.unwrap_or_else(|| anchor_span(world, &connection.source, &connection.destination));
    let message = format!(
        "{layer} denies {} → {} on {}, which the policy declares",
        world.describe(&connection.source),
        world.describe(&connection.destination),
        port_text(connection.port)
    );
    let mut diagnostic = Diagnostic::new(Code::E0802, message, Label::new(span, what));
    if decision.because.is_empty() {
        diagnostic = diagnostic.with_note(format!("no {layer} object admits it"));
    }
    let diagnostic = diagnostic.with_help("rebuild the manifests from the policy (`segc build`)");
    report.push(pending(diagnostic, &decision.because, "denied by"));
}

/// The sample requests into a destination: every method with every path.
struct Samples<'a> {
    methods: &'a [String],
    paths: &'a [String],
    requests: &'a [Request],
}

/// Compares the layer with the declaration on sample requests of a declared
/// connection the layer allows, given whether the layer allows each.
fn compare_requests(
    world: &World,
    declared: &Declared,
    layer: &dyn Layer,
    connection: &Connection,
    samples: &Samples,
    allowed: Vec<bool>,
) -> Vec<Pending> {
    let mut report = Vec::new();
    let Some(grant) = grant_of(declared, connection, true) else { return report };
    let requests = samples.requests;
    let expected = declared.requests_on(connection).allow_all(samples.methods, samples.paths);
    // The objects behind the decisions are looked up only to report a difference.
    if allowed == expected {
        return report;
    }
    let mut extra = Vec::new();
    let mut missing = Vec::new();
    let mut objects = Vec::new();
    let decisions = layer.decide_requests(world, connection, requests);
    for ((request, decision), expected) in requests.iter().zip(decisions).zip(expected) {
        if decision.allowed && !expected {
            objects.extend(decision.because);
            extra.push(format!("{} {}", request.method, request.path));
        } else if expected && !decision.allowed {
            objects.extend(decision.because);
            missing.push(format!("{} {}", request.method, request.path));
        }
    }
    let span = match grant.as_ref() {
        Grant::Declared(spans) => spans.first().copied(),
        _ => None,
    }
    .unwrap_or_else(|| anchor_span(world, &connection.destination, &connection.source));
    let who = format!(
        "{} → {} on {}",
        world.describe(&connection.source),
        world.describe(&connection.destination),
        port_text(connection.port)
    );
    if !extra.is_empty() {
        let message = format!("{} allows {who} requests the policy does not declare: {}", layer.name(), list(&extra));
        let diagnostic = Diagnostic::new(Code::E0801, message, Label::new(span, "the declared methods and paths"))
            .with_help("rebuild the manifests from the policy (`segc build`)");
        report.push(pending(diagnostic, &objects, "allowed by"));
    }
    if !missing.is_empty() {
        let message = format!("{} denies {who} requests the policy declares: {}", layer.name(), list(&missing));
        let diagnostic = Diagnostic::new(Code::E0802, message, Label::new(span, "declared here"))
            .with_help("rebuild the manifests from the policy (`segc build`)");
        report.push(pending(diagnostic, &objects, "denied by"));
    }
    report
}

/// Compares the ingress with the exposures, and every route it takes with the layers
/// behind it.
pub fn compare_ingress(
    world: &World,
    declared: &Declared,
    ingress: &dyn IngressLayer,
    behind: &[(&dyn Layer, bool)],
) -> Vec<Pending> {
    let mut report = Vec::new();
    let policy = world.policy;
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    for exposure in &policy.exposures {
        hosts.insert(sample_host(&exposure.host));
    }
    let routes = ingress.routes();
    for (host, _) in &routes {
        if is_plain_host(host) {
            hosts.insert(sample_host(host));
        }
    }
    hosts.insert("segc-verify-elsewhere.invalid".to_string());
    // Per host, the paths around those exposed on it and those its routes mention;
    // routes whose host is a pattern (catch-all, regular expression) count for every
    // host.
    let mut mentioned: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    let mut everywhere: Vec<&String> = Vec::new();
    for (host, path) in &routes {
        if is_plain_host(host) {
            mentioned.entry(sample_host(host)).or_default().push(path);
        } else {
            everywhere.push(path);
        }
    }
    let paths_for = |host: &str| {
        let own = mentioned.get(host).into_iter().flatten();
        declared.sample_paths_for_host(host, own.chain(&everywhere).map(|p| (*p).clone()))
    };
    let ingress_side = IngressSide {
        world,
        declared,
        ingress,
        behind,
        clients: declared.sample_clients(ingress.client_ranges()),
        backends: Backends::new(world),
    };
    // Each host on its own, in parallel; what they found is gathered in host order.
    let hosts: Vec<String> = hosts.into_iter().collect();
    let found: Vec<Vec<Finding>> =
        hosts.par_iter().map(|host| ingress_side.compare_host(host, &paths_for(host))).collect();
    let mut findings: BTreeMap<FindingKey, (Vec<String>, Vec<ObjectRef>)> = BTreeMap::new();
    for (key, example, by) in found.into_iter().flatten() {
        let entry = findings.entry(key).or_default();
        entry.0.push(example);
        entry.1.extend(by);
    }
    for ((code, span, message), (examples, objects)) in findings {
        let label = if code == Code::E0803 { "exposed here" } else { "declared here" };
        let diagnostic = Diagnostic::new(code, message, Label::new(span, label))
            .with_note(format!("for example {}", list(&examples)))
            .with_help("rebuild the manifests from the policy (`segc build`)");
        report.push(pending(diagnostic, &objects, "by"));
    }
    report
}

/// An ingress difference, grouped by (code, anchor, message); example requests and the
/// objects involved accumulate under it.
type FindingKey = (Code, Span, String);

/// One example of an ingress difference, and the object involved.
type Finding = (FindingKey, String, Option<ObjectRef>);

/// What comparing the ingress on one host needs.
struct IngressSide<'a> {
    world: &'a World<'a>,
    declared: &'a Declared<'a>,
    ingress: &'a dyn IngressLayer,
    behind: &'a [(&'a dyn Layer, bool)],
    clients: Vec<IpAddr>,
    backends: Backends<'a>,
}

impl IngressSide<'_> {
    /// Every sample request to `host` (on each of `paths`, from each client, with and
    /// without TLS), routed by the ingress and by the declaration, and each route
    /// through the layers behind the controller: the differences, in that order.
    fn compare_host(&self, host: &str, paths: &[String]) -> Vec<Finding> {
        let IngressSide { world, declared, ingress, behind, .. } = *self;
        let policy = world.policy;
        let name = ingress.name();
        let controller = Endpoint::Segment(policy.target.controller);
        let mut found = Vec::new();
        // The layers' answers for the controller's connection behind a route, by
        // (segment, port, path): many sample requests share them.
        let mut behind_decisions: BTreeMap<(SegmentId, String, String), Vec<BehindDecision>> = BTreeMap::new();
        for path in paths {
            for client in &self.clients {
                for tls in [true, false] {
                    let request = HttpRequest { client: *client, host: host.to_string(), path: path.clone(), tls };
                    let example = || format!("{}://{host}{path} from {client}", if tls { "https" } else { "http" });
                    let mut add = |code: Code, span: Span, message: String, by: Option<&ObjectRef>| {
                        found.push(((code, span, message), example(), by.cloned()));
                    };
                    let expected = declared.route(&request);
                    let actual = ingress.route(&request);
                    let routed = match &actual {
                        Routing::Routed { namespace, service, port, auth_url, by, .. } => {
                            Some((self.backends.backend(namespace, service, port), auth_url.clone(), by.clone()))
                        }
                        _ => None,
                    };
                    match (&expected, &routed) {
                        (ExpectedRoute::Routed(exposure), Some((target, auth, by))) => {
                            if *target != Some((exposure.segment, exposure.port.name.clone())) {
                                add(
                                    Code::E0804,
                                    exposure.decl,
                                    format!(
                                        "{name} routes {host} to {}, not to the exposed port",
                                        backend_text(world, target)
                                    ),
                                    Some(by),
                                );
                            }
                            if exposure.auth_url.is_some() && auth.is_none() {
                                add(
                                    Code::E0804,
                                    exposure.decl,
                                    format!("{name} routes {host} without the declared external authentication"),
                                    Some(by),
                                );
                            }
                        }
                        (ExpectedRoute::Routed(exposure), None) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} does not route {host} as declared"),
                            routing_object(&actual),
                        ),
                        (ExpectedRoute::NoRoute, Some((target, _, by))) => add(
                            Code::E0804,
                            target_span(world, target),
                            format!(
                                "{name} routes {host} to {}, which no exposure declares",
                                backend_text(world, target)
                            ),
                            Some(by),
                        ),
                        (ExpectedRoute::Refused(exposure), Some((_, _, by))) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} admits clients outside the exposure's `source` to {host}"),
                            Some(by),
                        ),
                        (ExpectedRoute::NeedsTls(exposure), Some((_, _, by))) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} serves {host} over plain HTTP, but the exposure requires TLS"),
                            Some(by),
                        ),
                        _ => {}
                    }
                    // Every route must pass the layers behind the controller too.
                    if let Some((Some((segment, port_name)), _, by)) = &routed {
                        let Some(port) = policy.segment(*segment).port(port_name) else { continue };
                        let connection = Connection {
                            source: controller.clone(),
                            destination: Endpoint::Segment(*segment),
                            port: L4Port { number: port.number, transport: Transport::of(port.protocol) },
                        };
                        let decisions =
                            behind_decisions.entry((*segment, port_name.clone(), path.clone())).or_insert_with(|| {
                                let get = Request { method: "GET".into(), path: path.clone() };
                                behind
                                    .iter()
                                    .enumerate()
                                    .filter(|(_, (layer, _))| layer.governs(world, &connection))
                                    .map(|(i, (layer, is_mesh))| {
                                        let http = *is_mesh && port.protocol.is_http();
                                        (i, layer.decide(world, &connection, http.then_some(&get)), http)
                                    })
                                    .collect()
                            });
                        for (i, decision, http) in decisions.iter() {
                            let (layer, _) = behind[*i];
                            let http = *http;
                            if !decision.allowed {
                                let span = match &expected {
                                    ExpectedRoute::Routed(e) => e.decl,
                                    _ => target_span(world, &Some((*segment, port_name.clone()))),
                                };
                                add(
                                    Code::E0803,
                                    span,
                                    format!(
                                        "shadow path: {name} routes {host} to `{}`:{port_name}, but {} denies {} → `{}`:{}{}",
                                        policy.segment(*segment).name,
                                        layer.name(),
                                        world.describe(&controller),
                                        policy.segment(*segment).name,
                                        port.number,
                                        if http { " for these paths" } else { "" }
                                    ),
                                    Some(by),
                                );
                            }
                        }
                    }
                }
            }
        }
        found
    }
}

/// The segments that Services front, by (namespace, Service): the first segment of
/// the policy that does.
struct Backends<'p> {
    world: &'p World<'p>,
    segments: FxHashMap<&'p str, FxHashMap<&'p str, SegmentId>>,
}

impl<'p> Backends<'p> {
    fn new(world: &'p World<'p>) -> Backends<'p> {
        let mut segments: FxHashMap<&str, FxHashMap<&str, SegmentId>> = FxHashMap::default();
        for (i, segment) in world.policy.segments.iter().enumerate() {
            segments.entry(&segment.namespace).or_default().entry(&segment.service).or_insert(SegmentId(i));
        }
        Backends { world, segments }
    }

    /// The segment and port (by name) a backend Service port reaches, when segc can
    /// tell: the Service must front a segment of the policy, and the port be named.
    fn backend(&self, namespace: &str, service: &str, port: &ServicePort) -> Option<(SegmentId, String)> {
        let id = *self.segments.get(namespace)?.get(service)?;
        match port {
            ServicePort::Name(name) => self.world.policy.segment(id).port(name).map(|p| (id, p.name.clone())),
            ServicePort::Number(_) => None,
        }
    }
}

/// A layer behind the controller (its index in `behind`), its decision, and whether
/// the request's path took part in it.
type BehindDecision = (usize, Decision, bool);

/// A host name or `*.` wildcard, as opposed to a pattern (a catch-all `*`, a regular
/// expression).
fn is_plain_host(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A concrete host for a possibly wildcard host.
fn sample_host(host: &str) -> String {
    match host.strip_prefix("*.") {
        Some(rest) => format!("segc-sample.{rest}"),
        None => host.to_string(),
    }
}

fn routing_object(routing: &Routing) -> Option<&ObjectRef> {
    match routing {
        Routing::Refused { by } | Routing::Redirected { by } | Routing::Routed { by, .. } => Some(by),
        Routing::NoRoute => None,
    }
}

fn backend_text(world: &World, target: &Option<(SegmentId, String)>) -> String {
    match target {
        Some((segment, port)) => format!("`{}`:{port}", world.policy.segment(*segment).name),
        None => "a Service port that fronts no declared segment port".to_string(),
    }
}

fn target_span(world: &World, target: &Option<(SegmentId, String)>) -> Span {
    match target {
        Some((segment, _)) => world.policy.segment(*segment).decl,
        None => world.policy.controller().decl,
    }
}

/// The `.seg` declaration to anchor a difference on: the first endpoint that is one of
/// the user's segments or externals, else the other's, else the controller's.
fn anchor_span(world: &World, first: &Endpoint, second: &Endpoint) -> Span {
    let span_of = |e: &Endpoint| match e {
        Endpoint::Segment(id) if world.policy.segment(*id).managed => Some(world.policy.segment(*id).decl),
        Endpoint::External(id) => Some(world.policy.external(*id).decl),
        _ => None,
    };
    span_of(first).or_else(|| span_of(second)).unwrap_or(world.policy.controller().decl)
}

fn port_text(port: L4Port) -> String {
    format!("{} {}", port.transport, port.number)
}

fn list(items: &[String]) -> String {
    let unique: Vec<&String> = {
        let mut seen = BTreeSet::new();
        items.iter().filter(|i| seen.insert(*i)).collect()
    };
    let shown: Vec<&str> = unique.iter().take(EXAMPLES).map(|s| s.as_str()).collect();
    match unique.len().saturating_sub(EXAMPLES) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::verify::value::Value;

    use super::*;
    use crate::ir::sample::shop;
    use crate::ir::{IngressKind, MeshKind, Policy};
    use crate::verify::{istio, linkerd, manifests, netpol, Manifest};

    /// A layer that answers every question through the trait's plain defaults: its
    /// candidates one by one, each verdict from `decide` and `sides`, each request
    /// from `decide_requests`. Comparing through it must find exactly what comparing
    /// through the layer's own groups and shortcuts finds.
    struct Plain<'a>(&'a dyn Layer);

    impl Layer for Plain<'_> {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn governs(&self, world: &World, connection: &Connection) -> bool {
            self.0.governs(world, connection)
        }
        fn candidates(&self, world: &World) -> Vec<Connection> {
            self.0.candidates(world)
        }
        fn decide(&self, world: &World, connection: &Connection, request: Option<&Request>) -> Decision {
            self.0.decide(world, connection, request)
        }
        fn decide_requests(&self, world: &World, connection: &Connection, requests: &[Request]) -> Vec<Decision> {
            self.0.decide_requests(world, connection, requests)
        }
        fn paths(&self) -> Vec<String> {
            self.0.paths()
        }
        fn paths_to(&self, world: &World, destination: &Endpoint) -> Vec<String> {
            self.0.paths_to(world, destination)
        }
        fn methods(&self) -> Vec<String> {
            self.0.methods()
        }
        fn sides(&self, world: &World, connection: &Connection) -> Option<[Decision; 2]> {
            self.0.sides(world, connection)
        }
    }

    fn findings(found: Vec<Pending>) -> Vec<(Diagnostic, Vec<ObjectRef>, &'static str)> {
        found.into_iter().map(|p| (p.diagnostic, p.objects, p.role)).collect()
    }

    /// Hand edits that open what segc closed: a namespace's default-deny and a
    /// segment's egress policy gone, a Linkerd probe route and namespace default
    /// opened to everything, an Istio policy made namespace-wide.
    fn widen(manifests: &mut Vec<Manifest>) {
        manifests
            .retain(|m| !(m.kind() == "NetworkPolicy" && (m.at.name == "web-egress" || m.at.name == "default-deny")));
        for m in manifests.iter_mut() {
            let name = m.at.name.clone();
            match m.kind() {
                "HTTPRoute" if name.contains("probes") => {
                    m.value["spec"]["rules"] =
                        serde_yaml::from_str("[{matches: [{path: {type: PathPrefix, value: /}}]}]").unwrap();
                }
                "Namespace" => {
                    m.value["metadata"]["annotations"]["config.linkerd.io/default-inbound-policy"] =
                        Value::String("all-unauthenticated".into());
                }
                "AuthorizationPolicy" if m.group() == "security.istio.io" && name == "api" => {
                    if let Value::Mapping(spec) = &mut m.value["spec"] {
                        spec.remove("selector");
                    }
                }
                _ => {}
            }
        }
    }

    /// Every layer of the sample, on segc's output and widened by hand.
    fn sample_layers(mesh: MeshKind) -> Vec<(Policy, Vec<Manifest>)> {
        let policy = shop(IngressKind::Nginx, mesh);
        let emitted = manifests::from_objects(&crate::backends::emit_all(&policy)).expect("segc output reads back");
        let mut widened = emitted.clone();
        widen(&mut widened);
        vec![(policy.clone(), emitted), (policy, widened)]
    }

    fn layers_of(policy: &Policy, manifests: &[Manifest]) -> Vec<(Box<dyn Layer>, bool)> {
        let mut layers: Vec<(Box<dyn Layer>, bool)> =
            vec![(Box::new(netpol::NetworkPolicies::new(manifests).0), false)];
        match policy.target.mesh {
            MeshKind::Istio => {
                layers.push((Box::new(istio::IstioPolicies::new(manifests, &policy.target.trust_domain).0), true))
            }
            MeshKind::Linkerd => layers
                .push((Box::new(linkerd::LinkerdPolicies::new(manifests, &policy.target.identity_suffix).0), true)),
            MeshKind::None => {}
        }
        layers
    }

    /// `verdicts` and `allows_requests`, which layers override to skip objects and
    /// share work, answer as `decide`, `sides` and `decide_requests` do, on every
    /// connection of the sample's world.
    #[test]
    fn shortcuts_answer_as_decide() {
        for mesh in [MeshKind::Istio, MeshKind::Linkerd] {
            for (policy, manifests) in sample_layers(mesh) {
                let world = World::new(&policy);
                let connections: Vec<Connection> = world
                    .endpoints
                    .iter()
                    .flat_map(|s| world.endpoints.iter().map(move |d| (s, d)))
                    .flat_map(|(s, d)| {
                        let ports = world.ports_to(d).into_iter();
                        ports.map(|port| Connection { source: s.clone(), destination: d.clone(), port })
                    })
                    .collect();
                let requests: Vec<Request> = ["GET", "POST", "PURGE"]
                    .iter()
                    .flat_map(|m| ["/", "/healthz", "/api", "/api/x", "/cart", "/x"].map(|p| (m, p)))
                    .map(|(m, p)| Request { method: m.to_string(), path: p.to_string() })
                    .collect();
                for (layer, _) in layers_of(&policy, &manifests) {
                    let verdicts = layer.verdicts(&world, &connections);
                    for (connection, verdict) in connections.iter().zip(verdicts) {
                        let sides = layer.sides(&world, connection).map(|s| s.map(|d| d.allowed));
                        let decided = Verdict { allowed: layer.decide(&world, connection, None).allowed, sides };
                        assert_eq!(verdict, decided, "{} {connection:?}", layer.name());
                    }
                    for destination in &world.endpoints {
                        let into: Vec<&Connection> =
                            connections.iter().filter(|c| c.destination == *destination).collect();
                        let allowed = layer.allows_requests(&world, &into, &requests);
                        for (connection, allowed) in into.iter().zip(allowed) {
                            let decided: Vec<bool> = layer
                                .decide_requests(&world, connection, &requests)
                                .iter()
                                .map(|d| d.allowed)
                                .collect();
                            assert_eq!(allowed, decided, "{} {connection:?}", layer.name());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn groups_and_shortcuts_find_what_plain_comparison_finds() {
        for mesh in [MeshKind::Istio, MeshKind::Linkerd, MeshKind::None] {
            let mut unedited = Vec::new();
            for (edited, (policy, manifests)) in sample_layers(mesh).into_iter().enumerate() {
                let edited = edited == 1;
                let world = World::new(&policy);
                let declared = Declared::new(&world);
                for (i, (layer, is_mesh)) in layers_of(&policy, &manifests).iter().enumerate() {
                    let grouped = findings(compare_layer(&world, &declared, layer.as_ref(), *is_mesh));
                    let plain = findings(compare_layer(&world, &declared, &Plain(layer.as_ref()), *is_mesh));
                    assert_eq!(grouped, plain, "{mesh:?} {} (edited: {edited})", layer.name());
                    if edited {
                        // The edits show: each layer finds more than in segc's output.
                        assert!(grouped.len() > unedited[i], "{mesh:?} {}: {grouped:#?}", layer.name());
                    } else {
                        unedited.push(grouped.len());
                    }
                }
            }
        }
    }
}
