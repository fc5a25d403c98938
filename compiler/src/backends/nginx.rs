//! The ingress-nginx backend: one `networking.k8s.io/v1` Ingress per exposure.
//!
//! Takes: the policy's exposures. Gives: Ingress objects of class `nginx`, each in the
//! exposed segment's namespace, routing the exposure's host and paths to the segment's
//! Service by port name.
//! Must not: emit regular-expression paths, `use-regex`, `rewrite-target` or any
//! `*-snippet` annotation (they make nginx match more than declared, or let arbitrary
//! configuration in), or route anything an exposure does not declare.
//!
//! Paths use the Ingress API's own types, whose meaning matches the policy's exactly:
//! `Exact` is byte-for-byte, and `Prefix` matches by path element (`/x` matches `/x` and
//! `/x/y`, never `/xy`). Everything ingress-nginx-specific (the class and the
//! annotations) sits in [`controller`], so another Ingress controller (F5 NGINX) can
//! reuse the rest.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};

use rayon::prelude::*;

use super::exposure::exposure_names;
use super::{metadata, Backend, Object};
use crate::ir::{Exposure, PathMatch, Policy};

/// ingress-nginx's class and annotations: the only part of this backend that speaks
/// ingress-nginx's dialect. Names and values follow the ingress-nginx annotations
/// reference (`docs/user-guide/nginx-configuration/annotations.md`).
pub mod controller {
    use std::collections::BTreeMap;

    use crate::backends::exposure::client_ranges;
    use crate::ir::{Exposure, Protocol};

    /// `spec.ingressClassName` of the chart's default IngressClass.
    pub const INGRESS_CLASS: &str = "nginx";

    const PREFIX: &str = "nginx.ingress.kubernetes.io/";
    /// Redirects HTTP to HTTPS (308) on a host with TLS.
    pub const SSL_REDIRECT: &str = "nginx.ingress.kubernetes.io/ssl-redirect";
    /// Redirects even when TLS ends before the controller (a cloud load balancer).
    pub const FORCE_SSL_REDIRECT: &str = "nginx.ingress.kubernetes.io/force-ssl-redirect";
    /// Client CIDRs allowed, comma separated; others get 403. Newer releases also
    /// accept the alias `allowlist-source-range`; this spelling works on every release.
    pub const WHITELIST_SOURCE_RANGE: &str = "nginx.ingress.kubernetes.io/whitelist-source-range";
    /// External authentication: nginx asks this URL before proxying each request.
    pub const AUTH_URL: &str = "nginx.ingress.kubernetes.io/auth-url";
    /// How nginx talks to the backend (`GRPC` for gRPC ports).
    pub const BACKEND_PROTOCOL: &str = "nginx.ingress.kubernetes.io/backend-protocol";

    /// The annotations an exposure needs, sorted by key.
    pub fn annotations(exposure: &Exposure) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::new();
        let mut set = |key: &str, value: String| {
            debug_assert!(key.starts_with(PREFIX));
            annotations.insert(key.to_string(), value);
        };
        if exposure.tls_secret.is_some() {
            set(SSL_REDIRECT, "true".into());
            set(FORCE_SSL_REDIRECT, "true".into());
        }
        let ranges = client_ranges(exposure);
        if !ranges.is_empty() {
            set(WHITELIST_SOURCE_RANGE, ranges.join(","));
        }
        if let Some(url) = &exposure.auth_url {
            set(AUTH_URL, url.clone());
        }
        if exposure.port.protocol == Protocol::Grpc {
            set(BACKEND_PROTOCOL, "GRPC".into());
        }
        annotations
    }
}

/// One Ingress per exposure, in the policy's exposure order.
pub fn emit(policy: &Policy) -> Vec<Object> {
    let names = exposure_names(policy);
    // Exposures are independent: build them in parallel; collecting keeps their order.
    policy
        .exposures
        .par_iter()
        .zip(names)
        .map(|(exposure, name)| Object::new(Backend::Nginx, &ingress(policy, exposure, name)))
        .collect()
}

fn ingress(policy: &Policy, exposure: &Exposure, name: String) -> Ingress {
    let segment = policy.segment(exposure.segment);
    let mut meta = metadata(name, segment.namespace.clone());
    let annotations = controller::annotations(exposure);
    meta.annotations = Some(annotations).filter(|a: &BTreeMap<_, _>| !a.is_empty());
    // The Service exposes the segment's port under the port's own name (the contract
    // documented in docs/targets.md): a Service port *number* need not equal the pod's.
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: segment.service.clone(),
            port: Some(ServiceBackendPort { name: Some(exposure.port.name.clone()), number: None }),
        }),
        resource: None,
    };
    let paths = exposure
        .paths
        .iter()
        .map(|path| {
            let (path_type, text) = path_type(path);
            HTTPIngressPath { path: Some(text.to_string()), path_type: path_type.to_string(), backend: backend.clone() }
        })
        .collect();
    let tls = exposure
        .tls_secret
        .as_ref()
        .map(|secret| vec![IngressTLS { hosts: Some(vec![exposure.host.clone()]), secret_name: Some(secret.clone()) }]);
    Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: Some(controller::INGRESS_CLASS.to_string()),
            tls,
            rules: Some(vec![IngressRule {
                host: Some(exposure.host.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            default_backend: None,
        }),
        status: None,
    }
}

/// The Ingress `pathType` and `path` of a policy path. `Prefix("/")` is `Prefix` `/`,
/// which the API defines as every path.
fn path_type(path: &PathMatch) -> (&'static str, &str) {
    match path {
        PathMatch::Exact(p) => ("Exact", p),
        PathMatch::Prefix(p) => ("Prefix", p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::{shop, WEB};
    use crate::ir::{IngressKind, MeshKind, Port, Protocol};
    use serde_yaml::Value;

    fn policy() -> Policy {
        shop(IngressKind::Nginx, MeshKind::Istio)
    }

    /// The sample plus `api:grpc` on `api.example.com` (exact + prefix paths, two
    /// client ranges, external auth, no TLS).
    fn policy_with_api() -> Policy {
        crate::ir::sample::with_api_exposure(policy())
    }

    fn ingress_of(object: &Object) -> Ingress {
        serde_yaml::from_str(object.yaml()).expect("emitted YAML parses back as an Ingress")
    }

    fn annotation(object: &Object, key: &str) -> Option<String> {
        object.body()["metadata"]["annotations"][key].as_str().map(str::to_string)
    }

    #[test]
    fn the_sample_exposure_is_one_ingress_to_the_service_port_by_name() {
        let objects = emit(&policy());
        assert_eq!(objects.len(), 1);
        let object = &objects[0];
        assert_eq!(object.backend, Backend::Nginx);
        assert_eq!(object.api_version, "networking.k8s.io/v1");
        assert_eq!(object.kind, "Ingress");
        assert_eq!(object.name, "web-shop-example-com");
        assert_eq!(object.namespace.as_deref(), Some("shop"));
        assert_eq!(object.body()["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str(), Some("segc"));
        let spec = ingress_of(object).spec.expect("spec");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let rules = spec.rules.expect("rules");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].host.as_deref(), Some("shop.example.com"));
        let paths = &rules[0].http.as_ref().expect("http").paths;
        assert_eq!(paths.len(), 1);
        assert_eq!((paths[0].path_type.as_str(), paths[0].path.as_deref()), ("Prefix", Some("/")));
        let service = paths[0].backend.service.as_ref().expect("service backend");
        assert_eq!(service.name, "web");
        let port = service.port.as_ref().expect("port");
        assert_eq!((port.name.as_deref(), port.number), (Some("http"), None));
    }

    #[test]
    fn exact_and_prefix_paths_keep_their_meaning() {
        let objects = emit(&policy_with_api());
        let api = objects.iter().find(|o| o.name == "api-api-example-com").expect("api ingress");
        let rules = ingress_of(api).spec.and_then(|s| s.rules).expect("rules");
        let paths: Vec<(String, String)> = rules[0]
            .http
            .as_ref()
            .expect("http")
            .paths
            .iter()
            .map(|p| (p.path_type.clone(), p.path.clone().unwrap_or_default()))
            .collect();
        // Prefix `/x` is the API's element-wise prefix: /x and /x/..., never /xy.
        assert_eq!(paths, [("Exact".to_string(), "/healthz".to_string()), ("Prefix".to_string(), "/x".to_string())]);
    }

    #[test]
    fn tls_sets_the_secret_and_redirects() {
        let objects = emit(&policy());
        let spec = ingress_of(&objects[0]).spec.expect("spec");
        let tls = spec.tls.expect("tls");
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0].hosts.as_deref(), Some(&["shop.example.com".to_string()][..]));
        assert_eq!(tls[0].secret_name.as_deref(), Some("shop-tls"));
        assert_eq!(annotation(&objects[0], controller::SSL_REDIRECT), Some("true".to_string()));
        assert_eq!(annotation(&objects[0], controller::FORCE_SSL_REDIRECT), Some("true".to_string()));
    }

    #[test]
    fn without_tls_there_is_no_tls_block_or_redirect() {
        let objects = emit(&policy_with_api());
        let api = &objects[0];
        assert!(ingress_of(api).spec.expect("spec").tls.is_none());
        assert_eq!(annotation(api, controller::SSL_REDIRECT), None);
        assert_eq!(annotation(api, controller::FORCE_SSL_REDIRECT), None);
    }

    #[test]
    fn sources_auth_and_grpc_become_annotations() {
        let objects = emit(&policy_with_api());
        let api = &objects[0];
        assert_eq!(annotation(api, controller::WHITELIST_SOURCE_RANGE), Some("10.0.0.0/8,198.51.100.0/24".to_string()));
        assert_eq!(annotation(api, controller::AUTH_URL), Some("https://auth.example.com/verify".to_string()));
        assert_eq!(annotation(api, controller::BACKEND_PROTOCOL), Some("GRPC".to_string()));
        // The sample's web exposure has none of them: anywhere, no auth, plain HTTP.
        let web = &objects[1];
        assert_eq!(web.name, "web-shop-example-com");
        for key in [controller::WHITELIST_SOURCE_RANGE, controller::AUTH_URL, controller::BACKEND_PROTOCOL] {
            assert_eq!(annotation(web, key), None, "{key}");
        }
    }

    #[test]
    fn never_regex_paths_use_regex_rewrites_or_snippets() {
        for object in emit(&policy_with_api()) {
            let annotations = object.body()["metadata"]["annotations"].as_mapping().cloned().unwrap_or_default();
            for key in annotations.keys() {
                let key = key.as_str().unwrap_or_default();
                assert!(!key.ends_with("-snippet"), "{key}");
                assert!(!key.ends_with("/use-regex") && !key.ends_with("/rewrite-target"), "{key}");
            }
            let rules = ingress_of(&object).spec.and_then(|s| s.rules).expect("rules");
            for path in rules.iter().flat_map(|r| &r.http.as_ref().expect("http").paths) {
                assert!(path.path_type == "Exact" || path.path_type == "Prefix", "{}", path.path_type);
            }
        }
    }

    #[test]
    fn output_is_deterministic_and_names_are_unique_dns_labels() {
        let mut policy = policy_with_api();
        let mut second = policy.exposures[1].clone();
        second.segment = WEB;
        second.port = Port { name: "http".into(), number: 8080, protocol: Protocol::Http };
        second.paths = vec![PathMatch::Prefix("/other".into())];
        policy.exposures.push(second);
        let objects = emit(&policy);
        assert_eq!(objects, emit(&policy));
        let mut names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
        for name in &names {
            assert!(name.len() <= 63, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), objects.len());
    }

    #[test]
    fn serialised_yaml_names_its_kind() {
        let text = serde_yaml::to_string(&emit(&policy())[0].body()).expect("yaml");
        assert!(text.starts_with("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"), "{text}");
        assert_eq!(serde_yaml::from_str::<Value>(&text).expect("parses"), emit(&policy())[0].body());
    }
}
