//! Linkerd's policy kinds as plain serde structs, field for field as the upstream CRDs
//! (`policy.linkerd.io`, checked against edge-26.8.3) spell them; unset optional fields
//! are left out.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

pub const GROUP: &str = "policy.linkerd.io";
pub const SERVER_API: &str = "policy.linkerd.io/v1beta3";
pub const HTTP_ROUTE_API: &str = "policy.linkerd.io/v1beta3";
pub const AUTHZ_API: &str = "policy.linkerd.io/v1alpha1";

crate::backends::custom_resource!(Server, HttpRoute, AuthorizationPolicy, MeshTlsAuthentication, NetworkAuthentication);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ServerSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSpec {
    pub pod_selector: PodSelector,
    pub port: u16,
    pub proxy_protocol: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSelector {
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: HttpRouteSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<Ref>,
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Debug, Serialize)]
pub struct HttpRouteRule {
    pub matches: Vec<HttpRouteMatch>,
}

#[derive(Debug, Serialize)]
pub struct HttpRouteMatch {
    pub path: HttpPathMatch,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HttpPathMatch {
    /// `Exact` or `PathPrefix` (prefixes match by path segment).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

/// A reference to another policy object in the same namespace (`parentRefs`,
/// `targetRef`, `requiredAuthenticationRefs`).
#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    pub group: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: AuthorizationPolicySpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicySpec {
    pub target_ref: Ref,
    /// All of them must be satisfied; segc always gives exactly one.
    pub required_authentication_refs: Vec<Ref>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshTlsAuthentication {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: MeshTlsAuthenticationSpec,
}

#[derive(Debug, Serialize)]
pub struct MeshTlsAuthenticationSpec {
    /// Any one of them authenticates.
    pub identities: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAuthentication {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: NetworkAuthenticationSpec,
}

#[derive(Debug, Serialize)]
pub struct NetworkAuthenticationSpec {
    pub networks: Vec<Network>,
}

#[derive(Debug, Serialize)]
pub struct Network {
    pub cidr: &'static str,
}
