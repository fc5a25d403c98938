//! Backends: the lowered policy to Kubernetes objects, one module per layer.
//!
//! Takes: an [`ir::Policy`](crate::ir::Policy).
//! Gives: [`Object`]s: typed Kubernetes objects (k8s-openapi for core kinds, serde
//! structs for CRDs) turned into YAML values in their field order, with the layer,
//! namespace, kind and name that `emit` derives a file path from.
//! Must not: see the AST, report user errors (the checker has), or touch the disk.
//!
//! Every backend is a pure function of the policy and iterates it in its sorted order,
//! so its output is deterministic.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::ir::{IngressKind, MeshKind, Policy};

mod exposure;
pub mod istio;
pub mod linkerd;
mod names;
pub mod netpol;
pub mod nginx;
pub mod traefik;

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

/// Every object of every backend the policy's target selects.
pub fn emit_all(policy: &Policy) -> Vec<Object> {
    Backend::for_target(policy).into_iter().flat_map(|b| b.emit(policy)).collect()
}

/// One emitted Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub backend: Backend,
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds (Namespace); every other object is namespaced.
    pub namespace: Option<String>,
    pub name: String,
    /// The whole object (apiVersion, kind, metadata, spec) in field order.
    pub body: serde_yaml::Value,
}

impl Object {
    /// Wraps a typed object. `T` must serialise `apiVersion`, `kind` and a `metadata`
    /// built by [`metadata`]; the fields are read back from the value so that they can
    /// never disagree with the body.
    pub fn new<T: Serialize>(backend: Backend, typed: &T) -> Object {
        // Serialising plain structs of strings, numbers and maps into a YAML value has
        // no failure mode; a failure here is a bug in the backend's types.
        let body = serde_yaml::to_value(typed).expect("backend objects serialise to YAML");
        let field = |path: &[&str]| -> String {
            let mut v = &body;
            for key in path {
                v = &v[*key];
            }
            v.as_str().unwrap_or_default().to_string()
        };
        Object {
            backend,
            api_version: field(&["apiVersion"]),
            kind: field(&["kind"]),
            namespace: Some(field(&["metadata", "namespace"])).filter(|ns| !ns.is_empty()),
            name: field(&["metadata", "name"]),
            body,
        }
    }
}

/// Metadata for an emitted object: name, namespace and the managed-by label.
pub fn metadata(name: impl Into<String>, namespace: impl Into<String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())].into_iter().collect()),
        ..ObjectMeta::default()
    }
}
