//! Backends: the lowered policy to Kubernetes objects, one module per layer.
//!
//! Takes: an [`ir::Policy`](crate::ir::Policy).
//! Gives: [`Object`]s: typed Kubernetes objects (k8s-openapi for core kinds, serde
//! structs for CRDs) serialised to YAML text in their field order, with the layer,
//! namespace, kind and name that `emit` derives a file path from.
//! Must not: see the AST, report user errors (the checker has), or touch the disk.
//!
//! Every backend is a pure function of the policy and iterates it in its sorted order,
//! so its output is deterministic. Backends build independent objects (per namespace,
//! segment or exposure) in parallel with rayon; collecting a parallel iterator keeps
//! the sequential order, so the output does not depend on scheduling.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rayon::prelude::*;
use serde::Serialize;

use crate::ir::{Destination, Edge, IngressKind, MeshKind, Policy, Segment, SegmentId};

mod exposure;
pub mod istio;
pub mod linkerd;
mod names;
pub mod netpol;
pub mod nginx;
pub mod traefik;
pub(crate) mod yaml;

pub use names::{object_name, unique_name};

/// The label every emitted object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "segc");

/// A backend: one layer of one implementation. Clap parses it, and an unknown name
/// lists the valid ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Backend {
    /// Kubernetes NetworkPolicy (L4, every target).
    #[value(name = "netpol")]
    NetworkPolicy,
    /// ingress-nginx Ingress objects.
    Nginx,
    /// Traefik IngressRoute and Middleware.
    Traefik,
    /// Istio PeerAuthentication and AuthorizationPolicy.
    Istio,
    /// Linkerd Server, HTTPRoute, AuthorizationPolicy and authentications.
    Linkerd,
}

impl Backend {
    /// The directory name of the layer in the output (`netpol`, `nginx`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::NetworkPolicy => "netpol",
            Backend::Nginx => "nginx",
            Backend::Traefik => "traefik",
            Backend::Istio => "istio",
            Backend::Linkerd => "linkerd",
        }
    }

    /// The backends a policy's target selects, in emission order.
    pub fn for_target(policy: &Policy) -> Vec<Backend> {
        let mut backends = vec![Backend::NetworkPolicy];
        backends.push(match policy.target.ingress {
            IngressKind::Nginx => Backend::Nginx,
            IngressKind::Traefik => Backend::Traefik,
        });
        match policy.target.mesh {
            MeshKind::Istio => backends.push(Backend::Istio),
            MeshKind::Linkerd => backends.push(Backend::Linkerd),
            MeshKind::None => {}
        }
        backends
    }

    /// Runs the backend.
    pub fn emit(self, policy: &Policy) -> Vec<Object> {
        match self {
            Backend::NetworkPolicy => netpol::emit(policy),
            Backend::Nginx => nginx::emit(policy),
            Backend::Traefik => traefik::emit(policy),
            Backend::Istio => istio::emit(policy),
            Backend::Linkerd => linkerd::emit(policy),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every object of every backend the policy's target selects, backend by backend in
/// [`Backend::for_target`] order. The backends are independent, so they run in
/// parallel; collecting keeps their order.
pub fn emit_all(policy: &Policy) -> Vec<Object> {
    let per_backend: Vec<Vec<Object>> = Backend::for_target(policy).into_par_iter().map(|b| b.emit(policy)).collect();
    let mut objects = Vec::with_capacity(per_backend.iter().map(Vec::len).sum());
    // Moved in parallel: the joined list is fresh memory (11 MB at 10,000 segments
    // under `edge`), which one thread took up to 45 ms to fault in (perf).
    for backend in per_backend {
        objects.par_extend(backend);
    }
    objects
}

/// Every segment of the policy, grouped by namespace, each group in policy order: built
/// once, so that a backend working namespace by namespace does not scan every segment
/// for each namespace (that would be quadratic in the size of the policy).
fn segments_by_namespace(policy: &Policy) -> BTreeMap<&str, Vec<(SegmentId, &Segment)>> {
    let mut groups: BTreeMap<&str, Vec<(SegmentId, &Segment)>> = BTreeMap::new();
    for (i, segment) in policy.segments.iter().enumerate() {
        groups.entry(segment.namespace.as_str()).or_default().push((SegmentId(i), segment));
    }
    groups
}

/// The edges into each segment (indexed by segment id), each list in policy order:
/// built once, so that the mesh backends working segment by segment find a segment's
/// callers without scanning every edge.
fn edges_by_destination(policy: &Policy) -> Vec<Vec<&Edge>> {
    let mut into: Vec<Vec<&Edge>> = vec![Vec::new(); policy.segments.len()];
    for edge in &policy.edges {
        if let Destination::Segment(id) = edge.destination {
            into[id.0].push(edge);
        }
    }
    into
}

/// One emitted Kubernetes object.
///
/// The object is kept as its YAML text, serialised once from the backend's typed
/// object: that text is what `emit` writes, and it takes a fraction of the memory
/// (and time) a `serde_yaml::Value` tree of the same object would. [`Object::body`]
/// parses it back for the few readers (tests, `explain`) that want a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub backend: Backend,
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds (Namespace); every other object is namespaced.
    pub namespace: Option<String>,
    pub name: String,
    /// The whole object (apiVersion, kind, metadata, spec) in field order, as YAML.
    /// Shared with the file it is rendered to, which then copies no text (an
    /// `Arc<String>` rather than an `Arc<str>`, which would copy it here instead).
    yaml: Arc<String>,
}

impl Object {
    /// Serialises a typed object. The identifying fields come from the same typed
    /// object the text is serialised from, so they can never disagree with it.
    pub fn new<T: Resource>(backend: Backend, typed: &T) -> Object {
        // Serialising plain structs of strings, numbers and maps to YAML has no failure
        // mode; a failure here is a bug in the backend's types.
        let yaml = yaml::to_string(typed).expect("backend objects serialise to YAML");
        let metadata = typed.metadata();
        Object {
            backend,
            api_version: typed.api_version().to_string(),
            kind: typed.kind().to_string(),
            namespace: metadata.namespace.clone().filter(|ns| !ns.is_empty()),
            name: metadata.name.clone().unwrap_or_default(),
            yaml: Arc::new(yaml),
        }
    }

    /// The object as YAML, without the generated-file header.
    pub fn yaml(&self) -> &str {
        &self.yaml
    }

    /// [`Object::yaml`], shared.
    pub fn shared_yaml(&self) -> Arc<String> {
        Arc::clone(&self.yaml)
    }

    /// The object as a YAML tree, parsed from [`Object::yaml`] on each call.
    pub fn body(&self) -> serde_yaml::Value {
        // segc's own YAML always parses back; failing would be a bug.
        serde_yaml::from_str(&self.yaml).expect("emitted YAML parses back")
    }
}

/// A typed Kubernetes object a backend emits: it serialises `apiVersion`, `kind` and
/// `metadata` (built by [`metadata`]), and gives [`Object::new`] the same fields.
pub trait Resource: Serialize {
    fn api_version(&self) -> &str;
    fn kind(&self) -> &str;
    fn metadata(&self) -> &ObjectMeta;
}

/// The core kinds serialise their `apiVersion` and `kind` from these constants.
impl<T> Resource for T
where
    T: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize,
{
    fn api_version(&self) -> &str {
        T::API_VERSION
    }

    fn kind(&self) -> &str {
        T::KIND
    }

    fn metadata(&self) -> &ObjectMeta {
        k8s_openapi::Metadata::metadata(self)
    }
}

/// Implements [`Resource`] for custom resources typed as structs with `api_version`,
/// `kind` and `metadata` fields.
macro_rules! custom_resource {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::backends::Resource for $ty {
            fn api_version(&self) -> &str {
                &self.api_version
            }

            fn kind(&self) -> &str {
                &self.kind
            }

            fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
        })+
    };
}
pub(crate) use custom_resource;

/// Metadata for an emitted object: name, namespace and the managed-by label.
pub fn metadata(name: impl Into<String>, namespace: impl Into<String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())].into_iter().collect()),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ir::sample::{shop, with_api_exposure};

    fn policies() -> Vec<Policy> {
        let mut out = Vec::new();
        for ingress in [IngressKind::Nginx, IngressKind::Traefik] {
            for mesh in [MeshKind::Istio, MeshKind::Linkerd, MeshKind::None] {
                out.push(with_api_exposure(shop(ingress, mesh)));
            }
        }
        out
    }

    #[test]
    fn the_namespace_index_lists_what_a_scan_finds_in_order() {
        for policy in policies() {
            let index = segments_by_namespace(&policy);
            let namespaces: BTreeSet<&str> = policy.segments.iter().map(|s| s.namespace.as_str()).collect();
            assert_eq!(index.keys().copied().collect::<BTreeSet<_>>(), namespaces);
            for (namespace, segments) in &index {
                let scanned: Vec<(SegmentId, &Segment)> = policy.segments_in(namespace).collect();
                assert_eq!(segments, &scanned, "{namespace}");
            }
        }
    }

    #[test]
    fn identifying_fields_agree_with_the_text() {
        for policy in policies() {
            for object in emit_all(&policy) {
                let body = object.body();
                assert_eq!(body["apiVersion"].as_str(), Some(object.api_version.as_str()));
                assert_eq!(body["kind"].as_str(), Some(object.kind.as_str()));
                assert_eq!(body["metadata"]["name"].as_str(), Some(object.name.as_str()));
                assert_eq!(body["metadata"]["namespace"].as_str(), object.namespace.as_deref());
            }
        }
    }

    #[test]
    fn emit_all_is_every_backend_in_target_order() {
        for policy in policies() {
            let sequential: Vec<Object> =
                Backend::for_target(&policy).into_iter().flat_map(|b| b.emit(&policy)).collect();
            assert_eq!(emit_all(&policy), sequential);
        }
    }
}
