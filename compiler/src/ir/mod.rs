//! The lowered policy for one target: what every backend reads.
//!
//! Takes: a checked compilation (see `lower`), free of errors.
//! Gives: [`Policy`], plain sorted data with every name resolved, every default applied
//! and every allow merged per (source, destination, port).
//! Must not: hold AST nodes or report user errors (the checker has already), or know
//! anything about YAML or a particular backend.
//!
//! Determinism: every vector here is sorted by the key documented on it, so a backend
//! that iterates in order emits the same objects whatever the declaration order was.

use std::collections::BTreeMap;

use crate::diag::Span;

mod lower;
#[cfg(test)]
pub mod sample;
pub use lower::lower;

/// Index into [`Policy::segments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub usize);

/// Index into [`Policy::externals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExternalId(pub usize);

/// Index into [`Policy::managed_namespaces`]; they are sorted, so ids sort as the
/// names do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespaceId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Http,
    Grpc,
}

impl Protocol {
    /// HTTP-aware protocols, where methods and paths mean something.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Grpc)
    }

    /// The transport protocol as Kubernetes spells it (`TCP`, `UDP`).
    pub fn transport(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            _ => "TCP",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

/// A named port of a segment or external: `port http 8080/http`. The number is the
/// pod's (container) port, never a Service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub name: String,
    pub number: u16,
    pub protocol: Protocol,
}

/// A workload: pods selected by labels in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The name as the policy refers to it: `web`, or `std.prometheus` for the standard
    /// library's segments.
    pub name: String,
    /// A DNS-1123 label derived from the name for object names: `web`, `std-prometheus`.
    pub slug: String,
    pub namespace: String,
    /// matchLabels, sorted by key.
    pub selector: BTreeMap<String, String>,
    /// The service account, which is the mesh identity.
    pub account: String,
    /// The Service that fronts the segment (ingress backends point at it).
    pub service: String,
    /// Sorted by name.
    pub ports: Vec<Port>,
    /// `false` for segments marked `unmeshed`: they have no mesh identity.
    pub meshed: bool,
    /// `true` for the user's own segments; `false` for the standard library's, whose
    /// namespaces segc never writes into.
    pub managed: bool,
    /// The trust level's name.
    pub trust: String,
    /// Paths the kubelet probes (`probe http "/healthz"`), sorted by port then path.
    pub probes: Vec<Probe>,
    /// The `segment NAME in NS` header.
    pub decl: Span,
}

impl Segment {
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }
}

/// Kubelet probes of one port: `probe http "/healthz" "/ready"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probe {
    pub port: Port,
    /// Sorted, deduplicated.
    pub paths: Vec<PathMatch>,
}

/// Addresses outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub name: String,
    pub slug: String,
    /// Canonical CIDR text (`203.0.113.0/24`), sorted.
    pub cidrs: Vec<String>,
    pub ports: Vec<Port>,
    pub decl: Span,
}

/// The destination of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Destination {
    Segment(SegmentId),
    External(ExternalId),
}

/// How a request path is matched. `"/x/*"` lowers to `Prefix("/x")`, which matches
/// `/x` and everything below it by path segment (not `/xy`); `"/*"` lowers to
/// `Prefix("/")`, every path; any other path is `Exact`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    /// True for `Prefix("/")`, which matches every path.
    pub fn is_any(&self) -> bool {
        matches!(self, PathMatch::Prefix(p) if p == "/")
    }
}

/// One `allow` body: requests whose method is in `methods` (empty = any method) and
/// whose path matches one of `paths` (empty = any path).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpRule {
    /// Upper case, sorted, deduplicated.
    pub methods: Vec<String>,
    /// Sorted, deduplicated.
    pub paths: Vec<PathMatch>,
}

/// What an edge admits above L4.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L7 {
    /// Any request (every allow without methods/paths, and every tcp/udp edge).
    Any,
    /// Only requests matching one of these rules (sorted, deduplicated, never empty).
    Rules(Vec<HttpRule>),
}

/// One allowed connection: every `allow` with the same source, destination and port,
/// merged (L7 rules are unioned; one unrestricted allow makes the edge unrestricted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub source: SegmentId,
    pub destination: Destination,
    pub port: Port,
    pub l7: L7,
    /// The `allow` headers that declared it, in source order.
    pub decls: Vec<Span>,
}

/// An ingress route from the internet through the target's ingress controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub segment: SegmentId,
    pub port: Port,
    /// Lower case, as declared (`shop.example.com`, `*.example.com`).
    pub host: String,
    /// Sorted, never empty (`Prefix("/")` when the exposure declares no paths).
    pub paths: Vec<PathMatch>,
    /// The TLS secret in the segment's namespace.
    pub tls_secret: Option<String>,
    /// Client CIDRs allowed; empty means anywhere.
    pub sources: Vec<String>,
    /// External authentication (nginx auth-url, traefik forwardAuth).
    pub auth_url: Option<String>,
    /// The `expose SEG:PORT` header.
    pub decl: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IngressKind {
    Nginx,
    Traefik,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MeshKind {
    Istio,
    Linkerd,
    None,
}

/// The implementations and parameters one build emits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub ingress: IngressKind,
    pub mesh: MeshKind,
    /// Istio principals are `TRUST_DOMAIN/ns/NS/sa/SA` (default `cluster.local`).
    pub trust_domain: String,
    /// Linkerd identities are `SA.NS.IDENTITY_SUFFIX`
    /// (default `serviceaccount.identity.linkerd.cluster.local`).
    pub identity_suffix: String,
    /// The ingress controller's segment (default: `std.ingress-nginx` or `std.traefik`).
    pub controller: SegmentId,
    /// The cluster DNS segment that every managed pod may query, or `None` (`dns off`).
    pub dns: Option<SegmentId>,
    /// The mesh control plane every managed pod's proxy must reach (`std.istiod`;
    /// `std.linkerd-destination` and `std.linkerd-identity`); empty without a mesh.
    pub control_plane: Vec<SegmentId>,
}

/// The whole lowered policy for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The root `.seg` file as the user named it, for the generated-file header.
    pub source_name: String,
    pub target: Target,
    /// Every segment the policy uses (the user's, and the standard library's that are
    /// referenced, the controller and DNS included), sorted by name.
    pub segments: Vec<Segment>,
    /// Sorted by name.
    pub externals: Vec<External>,
    /// Sorted by (source, destination, port).
    pub edges: Vec<Edge>,
    /// Sorted by (host, paths, segment, port).
    pub exposures: Vec<Exposure>,
    /// The namespaces of the user's own segments, sorted: the only ones segc writes into.
    pub managed_namespaces: Vec<String>,
}

impl Policy {
    pub fn segment(&self, id: SegmentId) -> &Segment {
        &self.segments[id.0]
    }

    pub fn external(&self, id: ExternalId) -> &External {
        &self.externals[id.0]
    }

    pub fn namespace(&self, id: NamespaceId) -> &str {
        &self.managed_namespaces[id.0]
    }

    /// The id of a managed namespace.
    pub fn namespace_id(&self, name: &str) -> Option<NamespaceId> {
        self.managed_namespaces.binary_search_by(|ns| ns.as_str().cmp(name)).ok().map(NamespaceId)
    }

    pub fn controller(&self) -> &Segment {
        self.segment(self.target.controller)
    }

    /// Segments in a namespace, in policy order.
    pub fn segments_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = (SegmentId, &'a Segment)> + 'a {
        self.segments.iter().enumerate().filter(move |(_, s)| s.namespace == namespace).map(|(i, s)| (SegmentId(i), s))
    }

    /// The user's own segments.
    pub fn managed_segments(&self) -> impl Iterator<Item = (SegmentId, &Segment)> {
        self.segments.iter().enumerate().filter(|(_, s)| s.managed).map(|(i, s)| (SegmentId(i), s))
    }
}
