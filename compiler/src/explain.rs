//! Explain: why one connection is allowed or denied, in the policy and in every layer.
//!
//! Takes: a compilation without errors, its lowered [`Policy`] for one target, and a
//! [`Query`] (source, destination, optional port, optional HTTP request).
//! Gives: an [`Explanation`] per port of the destination: whether the policy declares
//! it and the `.seg` lines that decide it (the allows, or the missing allow, the
//! destination level's `accepts` rule and the forbids that would reject one), and per
//! layer the emitted object that lets it through or the absence that blocks it,
//! decided by verify's interpreters on the objects the backends emit in memory.
//! Must not: print, or decide anything itself that the checker or the interpreters
//! decide: it only asks them and collects their answers.

use std::path::Path;

use crate::backends;
use crate::check::{Dest, Model};
use crate::diag::{did_you_mean, Span};
use crate::driver::Compiled;
use crate::ir::{MeshKind, Policy, Port};
use crate::resolve::{LevelId, Named, SegIdx};
use crate::syntax::ast;
use crate::verify::declared::{Declared, Grant};
use crate::verify::{
    self, istio, linkerd, netpol, Connection, Decision, Endpoint, L4Port, Layer, Manifest, ObjectRef, Request,
    Transport, World,
};

/// What to explain. Names are written as in the policy (`web`, `std.prometheus`,
/// `stripe`); `port` is a port name of the destination or a number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub source: String,
    pub destination: String,
    pub port: Option<String>,
    /// With `method`, asks about one HTTP request instead of the connection.
    pub path: Option<String>,
    pub method: Option<String>,
}

impl Query {
    /// The HTTP request asked about, when a path or method was given: the method
    /// defaults to `GET`, the path to `/`.
    pub fn request(&self) -> Option<Request> {
        if self.path.is_none() && self.method.is_none() {
            return None;
        }
        Some(Request {
            method: self.method.as_deref().unwrap_or("GET").to_ascii_uppercase(),
            path: self.path.clone().unwrap_or_else(|| "/".to_string()),
        })
    }
}

/// Why a query cannot be answered (a usage error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// No segment or external has this name.
    UnknownName { name: String, suggestion: Option<String> },
    /// The source is an external: only segments open connections segc governs.
    SourceNotSegment { name: String },
    /// The destination has no such port.
    UnknownPort { destination: String, port: String, available: Vec<String>, suggestion: Option<String> },
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::UnknownName { name, suggestion } => {
                write!(f, "unknown segment or external `{name}`")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                Ok(())
            }
            QueryError::SourceNotSegment { name } => {
                write!(f, "`{name}` is an external: only segments are sources of connections")
            }
            QueryError::UnknownPort { destination, port, available, suggestion } => {
                write!(f, "`{destination}` has no port `{port}`; its ports are {}", available.join(", "))?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for QueryError {}

/// A `.seg` line that takes part in the decision, and what it says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReason {
    pub span: Span,
    pub note: String,
}

/// Why the policy declares a connection or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyVerdict {
    /// The `allow` / `expose` lines that declare it.
    Declared(Vec<SourceReason>),
    /// Implied by the target: cluster DNS or the mesh control plane.
    Implied(&'static str),
    /// Not declared; the lines that would reject an allow (may be empty: nothing
    /// forbids it, it is simply not allowed).
    NotDeclared(Vec<SourceReason>),
    /// The connection is declared, but the request is outside its methods and paths.
    RequestNotDeclared(Vec<SourceReason>),
}

impl PolicyVerdict {
    pub fn allowed(&self) -> bool {
        matches!(self, PolicyVerdict::Declared(_) | PolicyVerdict::Implied(_))
    }
}

/// One layer's (or one side's) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVerdict {
    /// `NetworkPolicy egress`, `NetworkPolicy ingress`, `Istio`, `Linkerd`.
    pub layer: String,
    pub allowed: bool,
    /// The objects that let it through, or the ones whose rules deny it.
    pub because: Vec<ObjectRef>,
    /// When denied: the object that denies by default, if any.
    pub default_deny: Option<ObjectRef>,
    /// The layer does not govern the connection (e.g. a mesh, into an unmeshed pod).
    pub not_governed: bool,
}

/// The explanation of one port of the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortExplanation {
    pub port: Port,
    pub policy: PolicyVerdict,
    pub layers: Vec<LayerVerdict>,
}

impl PortExplanation {
    /// Allowed when the policy declares it and every governing layer lets it through.
    pub fn allowed(&self) -> bool {
        self.policy.allowed() && self.layers.iter().all(|l| l.allowed || l.not_governed)
    }
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub source: String,
    pub destination: String,
    pub request: Option<Request>,
    /// One per port asked about, in the destination's port order.
    pub ports: Vec<PortExplanation>,
}

impl Explanation {
    /// Allowed when at least one port asked about is allowed.
    pub fn allowed(&self) -> bool {
        self.ports.iter().any(PortExplanation::allowed)
    }
}

/// Explains `query` for the lowered `policy` of `compiled`.
pub fn explain(compiled: &Compiled, policy: &Policy, query: &Query) -> Result<Explanation, QueryError> {
    let source = find(policy, &query.source)?;
    let Endpoint::Segment(source_id) = source else {
        return Err(QueryError::SourceNotSegment { name: query.source.clone() });
    };
    let destination = find(policy, &query.destination)?;
    let ports = match &destination {
        Endpoint::Segment(id) => &policy.segment(*id).ports,
        Endpoint::External(id) => &policy.external(*id).ports,
        // `find` names only segments and externals.
        _ => &[][..],
    };
    let chosen: Vec<&Port> = match &query.port {
        None => ports.iter().collect(),
        Some(p) => {
            let found = ports.iter().find(|port| &port.name == p || p.parse() == Ok(port.number));
            match found {
                Some(port) => vec![port],
                None => {
                    let available: Vec<String> = ports.iter().map(|p| format!("`{}`", p.name)).collect();
                    let suggestion = did_you_mean(p, ports.iter().map(|p| p.name.as_str())).map(str::to_string);
                    return Err(QueryError::UnknownPort {
                        destination: query.destination.clone(),
                        port: p.clone(),
                        available,
                        suggestion,
                    });
                }
            }
        }
    };

    let world = World::new(policy);
    let declared = Declared::new(&world);
    let objects = backends::emit_all(policy);
    let manifests = to_manifests(&objects);
    let layers = Layers::new(policy, &manifests);
    let request = query.request();
    let model_source = model_segment(&compiled.model, &policy.segment(source_id).name);
    let model_dest = model_dest(&compiled.model, &query.destination);

    let mut out = Vec::new();
    for port in chosen {
        let connection = Connection {
            source: source.clone(),
            destination: destination.clone(),
            port: L4Port { number: port.number, transport: Transport::of(port.protocol) },
        };
        let verdict = match declared.grant(&connection) {
            Some(Grant::Declared(spans)) => {
                let reasons = spans.iter().map(|s| SourceReason { span: *s, note: "declares it".into() }).collect();
                match &request {
                    Some(r) if !declared.allows_request(&connection, r) => {
                        let reasons = spans
                            .iter()
                            .map(|s| SourceReason {
                                span: *s,
                                note: format!("admits only its methods and paths, not {} {}", r.method, r.path),
                            })
                            .collect();
                        PolicyVerdict::RequestNotDeclared(reasons)
                    }
                    _ => PolicyVerdict::Declared(reasons),
                }
            }
            Some(Grant::Dns) => PolicyVerdict::Implied("cluster DNS, which every managed pod may query"),
            Some(Grant::ControlPlane) => PolicyVerdict::Implied("the mesh control plane, which every proxy must reach"),
            None => PolicyVerdict::NotDeclared(match (model_source, model_dest) {
                (Some(s), Some(d)) => rejections(&compiled.model, s, d),
                _ => Vec::new(),
            }),
        };
        let verdicts = layers.decide(&world, &connection, request.as_ref(), &objects);
        out.push(PortExplanation { port: port.clone(), policy: verdict, layers: verdicts });
    }
    Ok(Explanation { source: query.source.clone(), destination: query.destination.clone(), request, ports: out })
}

/// A segment or external of the lowered policy by the name the policy uses.
fn find(policy: &Policy, name: &str) -> Result<Endpoint, QueryError> {
    if let Some(i) = policy.segments.iter().position(|s| s.name == name) {
        return Ok(Endpoint::Segment(crate::ir::SegmentId(i)));
    }
    if let Some(i) = policy.externals.iter().position(|e| e.name == name) {
        return Ok(Endpoint::External(crate::ir::ExternalId(i)));
    }
    let candidates =
        policy.segments.iter().map(|s| s.name.as_str()).chain(policy.externals.iter().map(|e| e.name.as_str()));
    Err(QueryError::UnknownName {
        name: name.to_string(),
        suggestion: did_you_mean(name, candidates).map(str::to_string),
    })
}

fn model_segment(model: &Model, name: &str) -> Option<SegIdx> {
    model.segments.iter().position(|s| s.name == name).map(SegIdx)
}

fn model_dest(model: &Model, name: &str) -> Option<Dest> {
    if let Some(s) = model_segment(model, name) {
        return Some(Dest::Segment(s));
    }
    model.externals.iter().position(|e| e.name == name).map(|i| Dest::External(crate::resolve::ExtIdx(i)))
}

/// The lines that would reject `allow source -> destination`: the destination
/// level's `accepts` rule when it does not accept the source's level, and every
/// `forbid` whose two sides cover the pair.
fn rejections(model: &Model, source: SegIdx, destination: Dest) -> Vec<SourceReason> {
    let names = &model.names;
    let mut out = Vec::new();
    let source_level = model.segment(source).trust;
    let dest_level = model.dest_level(destination);
    if let (Some(src), Some(dst)) = (source_level, dest_level) {
        if !names.accepts(dst, src) {
            let level = names.level(dst);
            let note = format!(
                "`{}` does not accept `{}`, so an allow here would be rejected (E0502)",
                level.name,
                names.level(src).name
            );
            // The built-in levels have no line of their own: point at the destination's
            // declaration instead.
            let span = level.accepts_span().unwrap_or_else(|| match destination {
                Dest::Segment(s) => model.segment(s).header,
                Dest::External(e) => model.external(e).header,
            });
            out.push(SourceReason { span, note });
        }
    }
    let covers = |r: &ast::Ref, named_node: Named, level: Option<LevelId>| match names.lookup(r) {
        Ok(Named::Level(l)) => Some(l) == level,
        Ok(n) => n == named_node,
        Err(_) => false,
    };
    let dest_named = match destination {
        Dest::Segment(s) => Named::Segment(s),
        Dest::External(e) => Named::External(e),
    };
    for f in &names.forbids {
        if covers(&f.source, Named::Segment(source), source_level) && covers(&f.destination, dest_named, dest_level) {
            out.push(SourceReason {
                span: f.span,
                note: "forbids this pair, so an allow here would be rejected".into(),
            });
        }
    }
    out.sort_by_key(|r| (r.span.file, r.span.range().start));
    out
}

/// The emitted objects as verify reads them back: serialised and parsed again, each
/// named by the path `segc build` would write it to.
pub fn to_manifests(objects: &[backends::Object]) -> Vec<Manifest> {
    // segc's own YAML always parses back; an object that does not is left out rather
    // than failing the explanation (verify's tests guard the round trip).
    objects.iter().filter_map(|o| verify::manifests::from_object(o).ok()).flatten().collect()
}

/// The connection-level interpreters of the target, built as verify builds them.
struct Layers {
    netpol: netpol::NetworkPolicies,
    mesh: Option<Box<dyn Layer>>,
}

impl Layers {
    fn new(policy: &Policy, manifests: &[Manifest]) -> Layers {
        // Problems are what verify reports about hand-edited manifests; segc's own
        // objects have none worth showing here.
        let (netpol, _) = netpol::NetworkPolicies::new(manifests);
        let mesh: Option<Box<dyn Layer>> = match policy.target.mesh {
            MeshKind::Istio => Some(Box::new(istio::IstioPolicies::new(manifests, &policy.target.trust_domain).0)),
            MeshKind::Linkerd => {
                Some(Box::new(linkerd::LinkerdPolicies::new(manifests, &policy.target.identity_suffix).0))
            }
            MeshKind::None => None,
        };
        // The ingress controller's own routing is not asked: explain is about
        // connections, and the controller's connection to a segment is decided here.
        Layers { netpol, mesh }
    }

    fn decide(
        &self,
        world: &World,
        connection: &Connection,
        request: Option<&Request>,
        objects: &[backends::Object],
    ) -> Vec<LayerVerdict> {
        let mut out = Vec::new();
        let governed = self.netpol.governs(world, connection);
        if let Some([egress, ingress]) = self.netpol.sides(world, connection) {
            let source_ns = world.pod(&connection.source).map(|p| p.namespace.to_string());
            let dest_ns = world.pod(&connection.destination).map(|p| p.namespace.to_string());
            for (side, decision, ns) in [("egress", egress, source_ns), ("ingress", ingress, dest_ns)] {
                let default_deny = default_deny(objects, "NetworkPolicy", ns.as_deref(), |o| o.name == "default-deny");
                out.push(verdict(format!("NetworkPolicy {side}"), decision, default_deny, !governed));
            }
        }
        if let Some(mesh) = &self.mesh {
            let governs = mesh.governs(world, connection);
            let decision = match request {
                Some(r) => mesh.decide_requests(world, connection, std::slice::from_ref(r)).remove(0),
                None => mesh.decide(world, connection, None),
            };
            let dest_ns = world.pod(&connection.destination).map(|p| p.namespace.to_string());
            let default_deny = match mesh.name() {
                "Istio" => {
                    default_deny(objects, "AuthorizationPolicy", dest_ns.as_deref(), |o| o.name == "allow-nothing")
                }
                // A Linkerd Server admits nothing without an AuthorizationPolicy.
                _ => default_deny(objects, "Server", dest_ns.as_deref(), |o| {
                    let body = o.body();
                    let port = &body["spec"]["port"];
                    port.as_u64() == Some(u64::from(connection.port.number))
                        || world.pod(&connection.destination).is_some_and(|pod| {
                            pod.named_ports
                                .iter()
                                .any(|(n, num, _)| *num == connection.port.number && port.as_str() == Some(n))
                        })
                }),
            };
            out.push(verdict(mesh.name().to_string(), decision, default_deny, !governs));
        }
        out
    }
}

fn verdict(layer: String, decision: Decision, default_deny: Option<ObjectRef>, not_governed: bool) -> LayerVerdict {
    let default_deny = if decision.allowed { None } else { default_deny };
    LayerVerdict { layer, allowed: decision.allowed, because: decision.because, default_deny, not_governed }
}

/// The first emitted object of `kind` in `namespace` that `pick` accepts, as a reference.
fn default_deny(
    objects: &[backends::Object],
    kind: &str,
    namespace: Option<&str>,
    pick: impl Fn(&backends::Object) -> bool,
) -> Option<ObjectRef> {
    let namespace = namespace?;
    let object = objects.iter().find(|o| o.kind == kind && o.namespace.as_deref() == Some(namespace) && pick(o))?;
    let path = crate::emit::path_of(object);
    verify::manifests::parse_documents(Path::new(&path), object.yaml()).ok()?.into_iter().next().map(|m| m.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver;

    const SHOP: &str = include_str!("../../examples/shop.seg");
    const EDGE: &str = include_str!("../../examples/edge.seg");

    fn run(text: &str, query: Query) -> Result<Explanation, QueryError> {
        let compiled = driver::compile_text("policy.seg", text);
        let policy = driver::lower(&compiled, None).expect("lowers");
        explain(&compiled, &policy, &query)
    }

    fn q(source: &str, destination: &str, port: Option<&str>) -> Query {
        Query {
            source: source.into(),
            destination: destination.into(),
            port: port.map(str::to_string),
            ..Query::default()
        }
    }

    #[test]
    fn a_declared_edge_is_allowed_by_every_layer() {
        let e = run(SHOP, q("web", "api", Some("http"))).expect("explains");
        assert!(e.allowed());
        let port = &e.ports[0];
        assert!(matches!(&port.policy, PolicyVerdict::Declared(r) if r.len() == 1));
        let layers: Vec<&str> = port.layers.iter().map(|l| l.layer.as_str()).collect();
        assert_eq!(layers, ["NetworkPolicy egress", "NetworkPolicy ingress", "Istio"]);
        assert!(port.layers.iter().all(|l| l.allowed && !l.because.is_empty()), "{:?}", port.layers);
    }

    #[test]
    fn a_denied_edge_names_the_accepts_rule_the_forbid_and_the_default_deny() {
        let e = run(SHOP, q("web", "db", None)).expect("explains");
        assert!(!e.allowed());
        let port = &e.ports[0];
        let PolicyVerdict::NotDeclared(reasons) = &port.policy else { panic!("{:?}", port.policy) };
        assert_eq!(reasons.len(), 2, "accepts and forbid: {reasons:?}");
        assert!(reasons[0].note.contains("`restricted` does not accept `dmz`"));
        assert!(reasons[1].note.contains("forbids"));
        let ingress = &port.layers[1];
        assert!(!ingress.allowed);
        assert_eq!(ingress.default_deny.as_ref().map(|d| d.name.as_str()), Some("default-deny"));
        assert!(port.layers.iter().any(|l| !l.allowed));
    }

    #[test]
    fn a_request_outside_the_paths_is_denied() {
        let mut query = q("web", "api", Some("http"));
        query.path = Some("/admin".into());
        let e = run(SHOP, query).expect("explains");
        assert!(!e.allowed());
        assert!(matches!(e.ports[0].policy, PolicyVerdict::RequestNotDeclared(_)));
        let istio = e.ports[0].layers.iter().find(|l| l.layer == "Istio").expect("istio");
        assert!(!istio.allowed);
        let mut query = q("web", "api", Some("8080"));
        query.path = Some("/api/orders".into());
        query.method = Some("post".into());
        assert!(run(SHOP, query).expect("explains").allowed());
    }

    #[test]
    fn the_controller_reaches_exposed_segments_under_linkerd() {
        let e = run(EDGE, q("std.traefik", "gateway", None)).expect("explains");
        assert!(e.allowed(), "{e:?}");
        assert!(matches!(&e.ports[0].policy, PolicyVerdict::Declared(_)));
        let e = run(EDGE, q("gateway", "secrets", None)).expect("explains");
        assert!(!e.allowed());
        let linkerd = e.ports[0].layers.iter().find(|l| l.layer == "Linkerd").expect("linkerd");
        assert!(!linkerd.allowed);
    }

    #[test]
    fn unknown_names_and_ports_suggest() {
        assert_eq!(
            run(SHOP, q("web", "stirpe", None)),
            Err(QueryError::UnknownName { name: "stirpe".into(), suggestion: Some("stripe".into()) })
        );
        assert!(
            matches!(run(SHOP, q("web", "api", Some("htp"))), Err(QueryError::UnknownPort { suggestion: Some(s), .. }) if s == "http")
        );
        assert!(matches!(run(SHOP, q("stripe", "api", None)), Err(QueryError::SourceNotSegment { .. })));
    }
}
