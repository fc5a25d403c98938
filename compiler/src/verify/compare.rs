//! Comparing every layer with the declaration, and turning differences into
//! diagnostics.
//!
//! Connection layers are compared over the union of what the layer might allow (its
//! candidates) and what the policy declares, so the work follows the rules, not all
//! pairs of endpoints. L7 layers are compared on sample requests (every method, and
//! paths around every path anyone mentions); the ingress on sample requests of every
//! host, path, client range and scheme. Each route the ingress takes is also checked
//! against the other layers: a route they refuse is a shadow path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, FileId, Label, Origin, SourceMap, Span};
use crate::ir::{MeshKind, SegmentId};

use super::declared::{Declared, ExpectedRoute, Grant, LINKERD_INBOUND_PORT};
use super::world::{Connection, Endpoint, L4Port, Request, World};
use super::{Decision, HttpRequest, IngressLayer, Layer, ObjectRef, Problem, Routing, ServicePort};

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
    let mut report = Vec::new();
    let mut universe: BTreeSet<Connection> = layer.candidates(world).into_iter().collect();
    universe.extend(declared.connections().cloned());
    if is_mesh {
        universe.extend(declared.probe_connections());
    }
    let methods = declared.sample_methods(layer.methods());
    let mut paths_to: BTreeMap<Endpoint, Vec<String>> = BTreeMap::new();
    // Differences grouped per (code, destination, port), so one widened rule is one
    // diagnostic, not one per source.
    let mut wider: BTreeMap<(Endpoint, L4Port), Vec<Peer>> = BTreeMap::new();
    // One side of a two-sided layer wider than declared while the other still blocks:
    // (side, the pod whose side it is, port) → (the peer, objects).
    let mut half_open: BTreeMap<(&str, Endpoint, L4Port), Vec<Peer>> = BTreeMap::new();
    for connection in universe {
        if !in_scope(world, &connection, is_mesh) || !layer.governs(world, &connection) {
            continue;
        }
        // Linkerd's proxy port exists only on the wire, below the mesh's own policy.
        if is_mesh && world.policy.target.mesh == MeshKind::Linkerd && connection.port.number == LINKERD_INBOUND_PORT {
            continue;
        }
        let probe_grant;
        let grant = match (declared.grant(&connection), declared.probe(&connection)) {
            (Some(grant), _) => Some(grant),
            (None, Some((span, _))) if is_mesh => {
                probe_grant = Grant::Declared(vec![*span]);
                Some(&probe_grant)
            }
            _ => None,
        };
        let decision = layer.decide(world, &connection, None);
        match (grant, decision.allowed) {
            (None, true) => wider
                .entry((connection.destination.clone(), connection.port))
                .or_default()
                .push((connection.source.clone(), decision.because)),
            (None, false) => {
                if let Some([egress, ingress]) = layer.sides(world, &connection) {
                    if egress.allowed && is_managed_pod(world, &connection.source) {
                        half_open
                            .entry(("egress", connection.source.clone(), connection.port))
                            .or_default()
                            .push((connection.destination.clone(), egress.because));
                    }
                    if ingress.allowed && is_managed_pod(world, &connection.destination) {
                        half_open
                            .entry(("ingress", connection.destination.clone(), connection.port))
                            .or_default()
                            .push((connection.source.clone(), ingress.because));
                    }
                }
            }
            (Some(grant), false) => narrower(world, layer.name(), &connection, grant, &decision, &mut report),
            (Some(grant), true) if is_mesh && is_http(world, &connection) => {
                let paths = paths_to.entry(connection.destination.clone()).or_insert_with(|| {
                    declared.sample_paths_to(&connection.destination, layer.paths_to(world, &connection.destination))
                });
                compare_requests(world, declared, layer, &connection, grant, (&methods, paths), &mut report)
            }
            _ => {}
        }
    }
    for ((destination, port), sources) in wider {
        let names: Vec<String> = sources.iter().map(|(s, _)| world.describe(s)).collect();
        let objects: Vec<ObjectRef> = sources.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
        let anchor = anchor_span(world, &destination, &sources[0].0);
        let message = format!(
            "{} allows {} to reach {} on {}, which no allow declares",
            layer.name(),
            list(&names),
            world.describe(&destination),
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
            world.describe(&pod),
            list(&names),
            port_text(port)
        );
        let anchor = anchor_span(world, &pod, &peers[0].0);
        let diagnostic = Diagnostic::new(Code::E0801, message, Label::new(anchor, "nothing here allows it"))
            .with_note(format!("only the other end's {other} rules still block it"))
            .with_help("remove or narrow the rule, or declare the connection with `allow` and rebuild");
        report.push(pending(diagnostic, &objects, "allowed by"));
    }
    report
}

/// A pod of a managed namespace: the user's segment or a pod no segment selects.
fn is_managed_pod(world: &World, endpoint: &Endpoint) -> bool {
    match endpoint {
        Endpoint::Segment(id) => world.policy.segment(*id).managed,
        Endpoint::OtherPod(_) => true,
        _ => false,
    }
}

/// Connections this run is responsible for: into a pod of a managed namespace, and
/// (for NetworkPolicy, which also governs egress) out of one.
fn in_scope(world: &World, connection: &Connection, is_mesh: bool) -> bool {
    is_managed_pod(world, &connection.destination) || (!is_mesh && is_managed_pod(world, &connection.source))
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

fn compare_requests(
    world: &World,
    declared: &Declared,
    layer: &dyn Layer,
    connection: &Connection,
    grant: &Grant,
    (methods, paths): (&[String], &[String]),
    report: &mut Vec<Pending>,
) {
    let mut extra = Vec::new();
    let mut missing = Vec::new();
    let mut objects = Vec::new();
    let requests: Vec<Request> = methods
        .iter()
        .flat_map(|m| paths.iter().map(move |p| Request { method: m.clone(), path: p.clone() }))
        .collect();
    let decisions = layer.decide_requests(world, connection, &requests);
    for (request, decision) in requests.iter().zip(decisions) {
        let expected = declared.allows_request(connection, request) || declared.probe_allows(connection, request);
        if decision.allowed && !expected {
            objects.extend(decision.because);
            extra.push(format!("{} {}", request.method, request.path));
        } else if expected && !decision.allowed {
            objects.extend(decision.because);
            missing.push(format!("{} {}", request.method, request.path));
        }
    }
    let span = match grant {
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
    let paths_for = |host: &str| {
        let mentioned =
            routes.iter().filter(|(h, _)| !is_plain_host(h) || sample_host(h) == host).map(|(_, p)| p.clone());
        declared.sample_paths_for_host(host, mentioned)
    };
    // The layers' answers for the controller's connection behind a route, by
    // (segment, port, path): many sample requests share them.
    let mut behind_decisions: BTreeMap<(SegmentId, String, String), Vec<BehindDecision>> = BTreeMap::new();
    let clients = declared.sample_clients(ingress.client_ranges());
    let name = ingress.name();
    let controller = Endpoint::Segment(policy.target.controller);

    let mut findings: BTreeMap<FindingKey, (Vec<String>, Vec<ObjectRef>)> = BTreeMap::new();
    let mut add = |code: Code, span: Span, message: String, example: String, by: Option<&ObjectRef>| {
        let entry = findings.entry((code, span, message)).or_default();
        entry.0.push(example);
        entry.1.extend(by.cloned());
    };
    for host in &hosts {
        for path in &paths_for(host) {
            for client in &clients {
                for tls in [true, false] {
                    let request = HttpRequest { client: *client, host: host.clone(), path: path.clone(), tls };
                    let example = format!("{}://{host}{path} from {client}", if tls { "https" } else { "http" });
                    let expected = declared.route(&request);
                    let actual = ingress.route(&request);
                    let routed = match &actual {
                        Routing::Routed { namespace, service, port, auth_url, by, .. } => {
                            Some((backend(world, namespace, service, port), auth_url.clone(), by.clone()))
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
                                    example.clone(),
                                    Some(by),
                                );
                            }
                            if exposure.auth_url.is_some() && auth.is_none() {
                                add(
                                    Code::E0804,
                                    exposure.decl,
                                    format!("{name} routes {host} without the declared external authentication"),
                                    example.clone(),
                                    Some(by),
                                );
                            }
                        }
                        (ExpectedRoute::Routed(exposure), None) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} does not route {host} as declared"),
                            example.clone(),
                            routing_object(&actual),
                        ),
                        (ExpectedRoute::NoRoute, Some((target, _, by))) => add(
                            Code::E0804,
                            target_span(world, target),
                            format!(
                                "{name} routes {host} to {}, which no exposure declares",
                                backend_text(world, target)
                            ),
                            example.clone(),
                            Some(by),
                        ),
                        (ExpectedRoute::Refused(exposure), Some((_, _, by))) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} admits clients outside the exposure's `source` to {host}"),
                            example.clone(),
                            Some(by),
                        ),
                        (ExpectedRoute::NeedsTls(exposure), Some((_, _, by))) => add(
                            Code::E0804,
                            exposure.decl,
                            format!("{name} serves {host} over plain HTTP, but the exposure requires TLS"),
                            example.clone(),
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
                            port: L4Port { number: port.number, transport: port.protocol.transport() },
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
                                    example.clone(),
                                    Some(by),
                                );
                            }
                        }
                    }
                }
            }
        }
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

/// The segment and port (by name) a backend Service port reaches, when segc can tell:
/// the Service must front a segment of the policy, and the port be named.
fn backend(world: &World, namespace: &str, service: &str, port: &ServicePort) -> Option<(SegmentId, String)> {
    let (i, segment) =
        world.policy.segments.iter().enumerate().find(|(_, s)| s.namespace == namespace && s.service == service)?;
    match port {
        ServicePort::Name(name) => segment.port(name).map(|p| (SegmentId(i), p.name.clone())),
        ServicePort::Number(_) => None,
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
