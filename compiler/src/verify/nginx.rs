//! The ingress-nginx interpreter: what the controller does with an HTTP request, read
//! from any `networking.k8s.io/v1` Ingress objects of its class.
//!
//! Takes: every manifest read back (whoever wrote them) and the controller's class.
//! Gives: [`NginxIngresses`], an [`IngressLayer`] that answers, per request, no route,
//! a redirect to HTTPS, a refusal (403), or the Service the request reaches; and a
//! [`Problem`] for every object or annotation whose effect it cannot compute.
//! Must not: assume the manifests came from segc (nothing of `backends::nginx` is
//! reused), or panic on any hand edit.
//!
//! The model follows ingress-nginx's own code (`createServers`, `getBackendServers`,
//! `updateServerLocations`, `buildLocation` and the nginx template):
//! - Ingresses are taken oldest first; without creation times that is by
//!   namespace/name, the controller's own tie-break. The first Ingress to name a host
//!   creates its server; every Ingress of the host adds its paths to that one server,
//!   and the first to claim a (path, type) keeps it.
//! - A rule without host belongs to the catch-all server, which answers every host no
//!   server names. An Ingress with `defaultBackend` and no rules takes over the
//!   catch-all's `/`; with rules, its `defaultBackend` answers the paths of the hosts
//!   it creates that no path matches. Everything else is the controller's default
//!   backend: 404, no route.
//! - `*.example.com` matches exactly one label of letters, digits, `_` and `-` (the
//!   controller writes `server_name ~^(?<subdomain>[\w-]+)\.example\.com$`).
//! - `Exact` is `location = /x`. `Prefix` `/x` becomes `location /x/` plus
//!   `location = /x` (so `/x` and `/x/...`, never `/xy`; `Prefix` `/x/` does not match
//!   `/x`). `ImplementationSpecific` is a plain nginx prefix: `/x` matches `/xy`. An
//!   exact location wins, then the longest prefix.
//! - If any location of a server sets `use-regex` or a `rewrite-target`, every location
//!   of that server (every Ingress of the host) becomes `~* "^PATH"`: a
//!   case-insensitive regular expression anchored only at the start, tried longest
//!   path first. This is always reported as a problem.
//! - Every server listens for HTTPS too (with the default certificate when no Ingress
//!   of the host has `tls`), and routes HTTPS requests like plain ones. Plain HTTP is
//!   answered with a 308 when `force-ssl-redirect` is true, or when `ssl-redirect`
//!   (default true) is and the server has a certificate: some Ingress with a rule for
//!   the host has a `tls` section (even one not naming the host: the controller then
//!   serves its default certificate), and the catch-all server always has one.
//! - The redirect comes before the allowlist (nginx's rewrite phase runs before its
//!   access phase).

use std::collections::BTreeMap;

use crate::verify::value::Value;
use regex::Regex;

use super::http_match::{client_range, go_bool, in_ranges, optional_list, optional_str, service_port, WrongShape};
use super::{HttpRequest, IngressLayer, Manifest, ObjectAt, ObjectRef, Problem, Routing, ServicePort};

const ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io/";
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// ingress-nginx's name for the catch-all server.
const CATCH_ALL: &str = "_";

/// Annotations that change how requests are answered in ways this interpreter does not
/// model; each use is a problem.
const NOT_MODELLED: [&str; 12] = [
    "server-alias",
    "permanent-redirect",
    "temporal-redirect",
    "app-root",
    "ssl-passthrough",
    "mirror-target",
    "mirror-uri",
    "default-backend",
    "custom-http-errors",
    "auth-type",
    "auth-tls-verify-client",
    "satisfy",
];

/// Every server ingress-nginx would configure from the Ingresses of its class.
#[derive(Debug)]
pub struct NginxIngresses {
    /// By server name: a host, `*.domain`, or [`CATCH_ALL`].
    servers: BTreeMap<String, Server>,
    client_ranges: Vec<String>,
}

#[derive(Debug)]
struct Server {
    has_certificate: bool,
    /// Some location sets `use-regex` or `rewrite-target`: every path is a regex.
    regex: bool,
    locations: Vec<Location>,
}

#[derive(Debug, Clone)]
struct Location {
    /// The path as the Ingress wrote it.
    written: String,
    /// The path nginx matches (after the controller's normalisation).
    path: String,
    kind: PathKind,
    backend: Backend,
    settings: Settings,
    by: ObjectRef,
    /// The `/` the controller adds to every server, which a path `/` replaces.
    implicit: bool,
    /// On a regex server: `(?i)^PATH`; `None` when the regex crate cannot compile it
    /// (then a case-insensitive string prefix, the closest wider reading).
    pattern: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Exact,
    Prefix,
    ImplementationSpecific,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Backend {
    Service {
        namespace: String,
        service: String,
        port: ServicePort,
    },
    /// The controller's default backend: 404.
    Default,
}

/// What an Ingress's annotations make of each of its locations.
#[derive(Debug, Clone, Default)]
struct Settings {
    ssl_redirect: bool,
    force_ssl_redirect: bool,
    /// `None`: every client.
    allow: Option<Vec<String>>,
    deny: Vec<String>,
    /// A malformed source range: the controller denies the location to everyone.
    refuse_all: bool,
    auth_url: Option<String>,
    grpc: bool,
    use_regex: bool,
    rewrite_target: Option<String>,
}

impl Settings {
    /// Whether a location at `path` with these settings is written as a regex
    /// (`needsRewrite || UseRegex`).
    fn regex_at(&self, path: &str) -> bool {
        self.use_regex || self.rewrite_target.as_deref().is_some_and(|t| t != path)
    }
}

/// One Ingress of the class, read.
struct Ingress {
    at: ObjectRef,
    settings: Settings,
    default_backend: Option<Backend>,
    rules: Vec<Rule>,
    has_tls: bool,
}

struct Rule {
    /// Lower case; [`CATCH_ALL`] for a rule without host.
    host: String,
    paths: Vec<IngressPath>,
}

struct IngressPath {
    path: String,
    kind: PathKind,
    backend: Backend,
}

impl NginxIngresses {
    /// Reads every Ingress of `ingress_class` (by `spec.ingressClassName` or the
    /// `kubernetes.io/ingress.class` annotation, which takes precedence).
    /// Whether the object is of a kind this layer reads.
    pub fn reads(manifest: &Manifest) -> bool {
        manifest.kind() == "Ingress" && matches!(manifest.group(), "networking.k8s.io" | "extensions")
    }

    pub fn new(manifests: &[Manifest], ingress_class: &str) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut ingresses: Vec<Ingress> = manifests
            .iter()
            .filter(|m| NginxIngresses::reads(m))
            .filter_map(|m| read_ingress(m, ingress_class, &mut problems))
            .collect();
        ingresses.sort_by(|a, b| (&a.at.namespace, &a.at.name).cmp(&(&b.at.namespace, &b.at.name)));
        let servers = build_servers(&ingresses, &mut problems);
        let mut client_ranges: Vec<String> =
            ingresses.iter().flat_map(|i| i.settings.allow.iter().flatten().chain(&i.settings.deny)).cloned().collect();
        client_ranges.sort();
        client_ranges.dedup();
        (NginxIngresses { servers, client_ranges }, problems)
    }

    /// The server answering `host`: its own, else the one-label wildcard covering it,
    /// else the catch-all.
    fn server_for(&self, host: &str) -> Option<&Server> {
        if host != CATCH_ALL {
            if let Some(server) = self.servers.get(host) {
                return Some(server);
            }
            if let Some((label, rest)) = host.split_once('.') {
                let one_label = !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
                if one_label {
                    if let Some(server) = self.servers.get(&format!("*.{rest}")) {
                        return Some(server);
                    }
                }
            }
        }
        self.servers.get(CATCH_ALL)
    }
}

impl IngressLayer for NginxIngresses {
    fn name(&self) -> &'static str {
        "ingress-nginx"
    }

    /// Hosts as written (`*.example.com` wildcards); `*` for the catch-all server.
    fn routes(&self) -> Vec<(String, String)> {
        let mut routes: Vec<(String, String)> = self
            .servers
            .iter()
            .flat_map(|(name, server)| {
                let host = if name == CATCH_ALL { "*" } else { name.as_str() };
                server
                    .locations
                    .iter()
                    .filter(|l| !l.implicit || l.backend != Backend::Default)
                    .map(move |l| (host.to_string(), l.written.clone()))
            })
            .collect();
        routes.sort();
        routes.dedup();
        routes
    }

    fn client_ranges(&self) -> Vec<String> {
        self.client_ranges.clone()
    }

    fn route(&self, request: &HttpRequest) -> Routing {
        let Some(server) = self.server_for(&request.host) else { return Routing::NoRoute };
        let Some(location) = select_location(server, &request.path) else { return Routing::NoRoute };
        let s = &location.settings;
        let by = location.by.clone();
        if !request.tls && (s.force_ssl_redirect || (server.has_certificate && s.ssl_redirect)) {
            return Routing::Redirected { by };
        }
        let allowed = s.allow.as_ref().map_or(true, |ranges| in_ranges(ranges, request.client));
        if s.refuse_all || in_ranges(&s.deny, request.client) || !allowed {
            return Routing::Refused { by };
        }
        match &location.backend {
            Backend::Default => Routing::NoRoute,
            Backend::Service { namespace, service, port } => Routing::Routed {
                namespace: namespace.clone(),
                service: service.clone(),
                port: port.clone(),
                grpc: s.grpc,
                auth_url: s.auth_url.clone(),
                by,
            },
        }
    }
}

/// nginx's location choice. Plain servers: an exact location, else the longest prefix
/// (the controller's own `/` losing a tie). Regex servers: the first matching location
/// in the controller's order (longest path first).
fn select_location<'s>(server: &'s Server, path: &str) -> Option<&'s Location> {
    if server.regex {
        return server.locations.iter().find(|l| match &l.pattern {
            Some(pattern) => pattern.is_match(path),
            None => path.to_lowercase().starts_with(&l.path.to_lowercase()),
        });
    }
    if let Some(exact) = server.locations.iter().find(|l| l.kind == PathKind::Exact && l.path == path) {
        return Some(exact);
    }
    server
        .locations
        .iter()
        .filter(|l| l.kind != PathKind::Exact && path.starts_with(&l.path))
        .max_by_key(|l| (l.path.len(), !l.implicit))
}

fn build_servers(ingresses: &[Ingress], problems: &mut Vec<Problem>) -> BTreeMap<String, Server> {
    let mut servers = BTreeMap::new();
    let catch_all_root = Location {
        written: "/".into(),
        path: "/".into(),
        kind: PathKind::Prefix,
        backend: Backend::Default,
        settings: Settings::default(),
        by: ObjectRef::new(ObjectAt {
            file: "<ingress-nginx default backend>".into(),
            document: 0,
            kind: "Server".into(),
            namespace: None,
            name: CATCH_ALL.into(),
        }),
        implicit: true,
        pattern: None,
    };
    servers
        .insert(CATCH_ALL.to_string(), Server { has_certificate: true, regex: false, locations: vec![catch_all_root] });

    // Servers, and what answers their `/` until a path `/` claims it.
    for ingress in ingresses {
        if let (Some(backend), true) = (&ingress.default_backend, ingress.rules.is_empty()) {
            let root = servers.get_mut(CATCH_ALL).and_then(|s| s.locations.first_mut());
            if let Some(root) = root.filter(|r| r.implicit && r.backend == Backend::Default) {
                // The controller keeps the catch-all's redirect and rewrite settings.
                let settings = Settings {
                    ssl_redirect: false,
                    force_ssl_redirect: false,
                    use_regex: false,
                    rewrite_target: None,
                    ..ingress.settings.clone()
                };
                root.backend = backend.clone();
                root.settings = settings;
                root.by = ingress.at.clone();
            }
        }
        for rule in &ingress.rules {
            servers.entry(rule.host.clone()).or_insert_with(|| Server {
                has_certificate: false,
                regex: false,
                locations: vec![Location {
                    written: "/".into(),
                    path: "/".into(),
                    kind: PathKind::Prefix,
                    backend: ingress.default_backend.clone().unwrap_or(Backend::Default),
                    settings: ingress.settings.clone(),
                    by: ingress.at.clone(),
                    implicit: true,
                    pattern: None,
                }],
            });
        }
    }

    for ingress in ingresses.iter().filter(|i| i.has_tls) {
        for rule in &ingress.rules {
            if let Some(server) = servers.get_mut(&rule.host) {
                server.has_certificate = true;
            }
        }
    }

    for ingress in ingresses {
        for rule in &ingress.rules {
            let Some(server) = servers.get_mut(&rule.host) else { continue };
            for path in &rule.paths {
                add_location(server, ingress, &rule.host, path, problems);
            }
        }
    }

    for (name, server) in &mut servers {
        finish_server(name, server, problems);
    }
    servers
}

fn add_location(server: &mut Server, ingress: &Ingress, host: &str, path: &IngressPath, problems: &mut Vec<Problem>) {
    let existing = server.locations.iter_mut().find(|l| l.written == path.path && l.kind == path.kind);
    match existing {
        Some(location) if location.implicit => {
            location.backend = path.backend.clone();
            location.settings = ingress.settings.clone();
            location.by = ingress.at.clone();
            location.implicit = false;
        }
        Some(location) => problems.push(Problem {
            at: ingress.at.clone(),
            message: format!(
                "path `{}` ({:?}) of host `{}` is also claimed by {}; ingress-nginx serves it from the Ingress created first, taken here to be that one",
                path.path,
                path.kind,
                display_host(host),
                location.by,
            ),
        }),
        None => server.locations.push(Location {
            written: path.path.clone(),
            path: path.path.clone(),
            kind: path.kind,
            backend: path.backend.clone(),
            settings: ingress.settings.clone(),
            by: ingress.at.clone(),
            implicit: false,
            pattern: None,
        }),
    }
}

/// `updateServerLocations`, the regex decision and the controller's location order.
fn finish_server(name: &str, server: &mut Server, problems: &mut Vec<Problem>) {
    let exact: Vec<String> =
        server.locations.iter().filter(|l| l.kind == PathKind::Exact).map(|l| l.path.clone()).collect();
    let mut added = Vec::new();
    for location in &mut server.locations {
        let normalisable =
            location.kind == PathKind::Prefix && location.path != "/" && !location.settings.regex_at(&location.path);
        if !normalisable {
            continue;
        }
        if !exact.contains(&location.path) {
            added.push(Location { kind: PathKind::Exact, ..location.clone() });
        }
        if !location.path.ends_with('/') {
            location.path.push('/');
        }
    }
    server.locations.extend(added);
    server.regex = server.locations.iter().any(|l| l.settings.regex_at(&l.path));
    // Longest path first, then reverse lexical: the order the controller writes them,
    // which is the order nginx tries regex locations.
    server.locations.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then_with(|| b.path.cmp(&a.path)));
    if !server.regex {
        return;
    }
    let mut by: Vec<&ObjectRef> =
        server.locations.iter().filter(|l| l.settings.regex_at(&l.path)).map(|l| &l.by).collect();
    by.sort();
    by.dedup();
    for at in by {
        problems.push(Problem {
            at: at.clone(),
            message: format!(
                "`use-regex` or `rewrite-target` makes every path of host `{}` (every Ingress of the host) a case-insensitive regular expression anchored only at the start, matching more than its path type says",
                display_host(name)
            ),
        });
    }
    for location in &mut server.locations {
        match Regex::new(&format!("(?i)^{}", location.path)) {
            Ok(pattern) => location.pattern = Some(pattern),
            Err(_) => problems.push(Problem {
                at: location.by.clone(),
                message: format!(
                    "path `{}` is not a regular expression verify can read; taken as a case-insensitive prefix",
                    location.written
                ),
            }),
        }
    }
}

fn display_host(name: &str) -> &str {
    if name == CATCH_ALL {
        "(any)"
    } else {
        name
    }
}

/// Reads one Ingress; `None` when it is not of the class or cannot be read at all.
fn read_ingress(m: &Manifest, class: &str, problems: &mut Vec<Problem>) -> Option<Ingress> {
    let mut problem = |message: String| problems.push(Problem { at: m.at.clone(), message });
    let metadata = &m.value["metadata"];
    let annotations = read_annotations(&metadata["annotations"], &mut problem);
    let class_name = match optional_str(&m.spec()["ingressClassName"]) {
        Ok(name) => name,
        Err(WrongShape) => {
            problem("`spec.ingressClassName` is not a string".into());
            None
        }
    };
    match (annotations.get(CLASS_ANNOTATION), class_name) {
        (Some(annotated), _) if annotated != class => return None,
        (None, Some(name)) if name != class => return None,
        (None, None) => {
            problem(format!(
                "no ingress class: may be served by a default IngressClass (ingress-nginx serves it if `{class}` is the default); not interpreted"
            ));
            return None;
        }
        _ => {}
    }
    if m.api_version != "networking.k8s.io/v1" {
        problem(format!("`{}` Ingress is no longer served by Kubernetes; not interpreted", m.api_version));
        return None;
    }
    let Some(namespace) = m.at.namespace.clone() else {
        problem("no namespace: it lands wherever it is applied; not interpreted".into());
        return None;
    };
    if annotations.get(&format!("{ANNOTATION_PREFIX}canary")).and_then(|v| go_bool(v)) == Some(true) {
        problem("canary Ingress: it diverts a share of another Ingress's traffic; not interpreted".into());
        return None;
    }
    let settings = read_settings(&annotations, &mut problem);
    let spec = m.spec();
    let default_backend = match &spec["defaultBackend"] {
        Value::Null => None,
        value => read_backend(value, &namespace, "`spec.defaultBackend`", &mut problem),
    };
    let tls = optional_list(&spec["tls"]).unwrap_or_else(|WrongShape| {
        problem("`spec.tls` is not a list".into());
        &[]
    });
    let rules_value = optional_list(&spec["rules"]).unwrap_or_else(|WrongShape| {
        problem("`spec.rules` is not a list".into());
        &[]
    });
    let mut rules = Vec::new();
    for (i, rule) in rules_value.iter().enumerate() {
        let host = match optional_str(&rule["host"]) {
            Ok(Some(host)) if !host.is_empty() => host.to_ascii_lowercase(),
            Ok(_) => CATCH_ALL.to_string(),
            Err(WrongShape) => {
                problem(format!("rule {} has a host that is not a string", i + 1));
                continue;
            }
        };
        let paths_value = optional_list(&rule["http"]["paths"]).unwrap_or_else(|WrongShape| {
            problem(format!("rule {} has `http.paths` that is not a list", i + 1));
            &[]
        });
        let paths = paths_value.iter().filter_map(|p| read_path(p, &namespace, &mut problem)).collect();
        rules.push(Rule { host, paths });
    }
    Some(Ingress { at: m.at.clone(), settings, default_backend, rules, has_tls: !tls.is_empty() })
}

/// Annotations whose values are strings (the API server rejects anything else).
fn read_annotations(value: &Value, problem: &mut impl FnMut(String)) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    match value {
        Value::Null => {}
        Value::Mapping(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    (Some(key), Some(value)) => {
                        annotations.insert(key.to_string(), value.to_string());
                    }
                    (Some(key), None) => problem(format!("annotation `{key}` is not a string; not interpreted")),
                    (None, _) => problem("an annotation key is not a string".into()),
                }
            }
        }
        _ => problem("`metadata.annotations` is not a map".into()),
    }
    annotations
}

fn read_settings(annotations: &BTreeMap<String, String>, problem: &mut impl FnMut(String)) -> Settings {
    let get = |name: &str| annotations.get(&format!("{ANNOTATION_PREFIX}{name}")).map(String::as_str);
    let mut flag = |name: &str, default: bool| match get(name) {
        None => default,
        Some(text) => go_bool(text).unwrap_or_else(|| {
            problem(format!(
                "annotation `{ANNOTATION_PREFIX}{name}: {text}` is not a boolean; ingress-nginx ignores it"
            ));
            default
        }),
    };
    let mut settings = Settings {
        ssl_redirect: flag("ssl-redirect", true),
        force_ssl_redirect: flag("force-ssl-redirect", false),
        use_regex: flag("use-regex", false),
        ..Settings::default()
    };
    settings.rewrite_target = get("rewrite-target").filter(|t| !t.is_empty()).map(str::to_string);
    settings.auth_url = get("auth-url").map(str::trim).filter(|u| !u.is_empty()).map(str::to_string);
    settings.grpc =
        get("backend-protocol").is_some_and(|p| matches!(p.trim().to_ascii_uppercase().as_str(), "GRPC" | "GRPCS"));
    // `allowlist-source-range` is the current name, `whitelist-source-range` its alias.
    let allow = get("allowlist-source-range").or_else(|| get("whitelist-source-range"));
    for (name, text, target) in [("allowlist", allow, true), ("denylist", get("denylist-source-range"), false)] {
        let Some(text) = text else { continue };
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match client_range(item) {
                Some(range) => ranges.push(range),
                None => {
                    problem(format!("{name} entry `{item}` is not an address or CIDR; ingress-nginx denies the paths"));
                    settings.refuse_all = true;
                }
            }
        }
        ranges.sort();
        ranges.dedup();
        if target {
            settings.allow = Some(ranges);
        } else {
            settings.deny = ranges;
        }
    }
    for key in annotations.keys() {
        let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) else { continue };
        if name.ends_with("-snippet") {
            problem(format!(
                "annotation `{key}` injects raw nginx configuration, which may change routing; cannot be verified"
            ));
        } else if NOT_MODELLED.contains(&name) {
            problem(format!("annotation `{key}` changes how requests are answered; not interpreted"));
        }
    }
    settings
}

fn read_path(value: &Value, namespace: &str, problem: &mut impl FnMut(String)) -> Option<IngressPath> {
    let path = match optional_str(&value["path"]) {
        Ok(Some(p)) if !p.is_empty() => p.to_string(),
        Ok(_) => "/".to_string(),
        Err(WrongShape) => {
            problem("a path is not a string; not interpreted".into());
            return None;
        }
    };
    if !path.starts_with('/') {
        problem(format!("path `{path}` does not start with `/`; not interpreted"));
        return None;
    }
    let kind = match optional_str(&value["pathType"]) {
        Ok(Some("Exact")) => PathKind::Exact,
        Ok(Some("Prefix")) => PathKind::Prefix,
        Ok(Some("ImplementationSpecific")) => PathKind::ImplementationSpecific,
        Ok(None) => {
            problem(format!("path `{path}` has no `pathType`; read as ImplementationSpecific (a plain prefix)"));
            PathKind::ImplementationSpecific
        }
        Ok(Some(other)) => {
            problem(format!("path `{path}` has unknown pathType `{other}`; not interpreted"));
            return None;
        }
        Err(WrongShape) => {
            problem(format!("path `{path}` has a pathType that is not a string; not interpreted"));
            return None;
        }
    };
    let backend = read_backend(&value["backend"], namespace, &format!("the backend of path `{path}`"), problem)?;
    Some(IngressPath { path, kind, backend })
}

fn read_backend(value: &Value, namespace: &str, what: &str, problem: &mut impl FnMut(String)) -> Option<Backend> {
    let service = &value["service"];
    if service.is_null() {
        if !value["resource"].is_null() {
            problem(format!("{what} is a resource, not a Service; ingress-nginx answers it with its default backend"));
            return Some(Backend::Default);
        }
        problem(format!("{what} names no Service; not interpreted"));
        return None;
    }
    let Some(name) = service["name"].as_str().filter(|n| !n.is_empty()) else {
        problem(format!("{what} has no Service name; not interpreted"));
        return None;
    };
    let port = match (&service["port"]["name"], &service["port"]["number"]) {
        (Value::String(name), Value::Null) => service_port(&Value::String(name.clone())),
        (Value::Null, number @ Value::Number(_)) => service_port(number),
        _ => None,
    };
    let Some(port) = port else {
        problem(format!("{what} needs exactly one of `port.name` or `port.number`; not interpreted"));
        return None;
    };
    Some(Backend::Service { namespace: namespace.to_string(), service: name.to_string(), port })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backends::nginx::emit;
    use crate::ir::sample::shop;
    use crate::ir::{IngressKind, MeshKind, Policy};
    use crate::verify::manifests::parse_documents;

    const OUTSIDE: &str = "198.18.0.1";

    fn layer(yaml: &str) -> (NginxIngresses, Vec<Problem>) {
        let manifests = parse_documents(Path::new("t.yaml"), yaml).expect("test YAML parses");
        NginxIngresses::new(&manifests, "nginx")
    }

    fn ingress(name: &str, annotations: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{{annotations}}}\nspec:\n  ingressClassName: nginx\n{spec}\n"
        )
    }

    fn rule(host: &str, paths: &[(&str, &str, &str)]) -> String {
        let mut text = format!("  - host: {host}\n    http:\n      paths:\n");
        for (path, kind, service) in paths {
            text.push_str(&format!(
                "      - path: {path}\n        pathType: {kind}\n        backend: {{service: {{name: {service}, port: {{number: 80}}}}}}\n"
            ));
        }
        text
    }

    fn request(host: &str, path: &str, tls: bool) -> HttpRequest {
        HttpRequest { client: OUTSIDE.parse().unwrap(), host: host.into(), path: path.into(), tls }
    }

    fn service_of(routing: Routing) -> Option<String> {
        match routing {
            Routing::Routed { service, .. } => Some(service),
            _ => None,
        }
    }

    fn to(layer: &NginxIngresses, host: &str, path: &str) -> Option<String> {
        service_of(layer.route(&request(host, path, true)))
    }

    #[test]
    fn prefix_matches_by_path_element_and_exact_beats_prefix() {
        let spec = format!(
            "  rules:\n{}",
            rule(
                "a.test",
                &[
                    ("/x", "Prefix", "px"),
                    ("/x/y", "Prefix", "pxy"),
                    ("/x/e", "Exact", "ex"),
                    ("/i", "ImplementationSpecific", "imp")
                ]
            )
        );
        let (l, problems) = layer(&ingress("a", "", &spec));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(to(&l, "a.test", "/x").as_deref(), Some("px"));
        assert_eq!(to(&l, "a.test", "/x/").as_deref(), Some("px"));
        assert_eq!(to(&l, "a.test", "/x/z").as_deref(), Some("px"));
        assert_eq!(to(&l, "a.test", "/xy"), None, "Prefix /x never matches /xy");
        assert_eq!(to(&l, "a.test", "/x/y/z").as_deref(), Some("pxy"), "longest prefix wins");
        assert_eq!(to(&l, "a.test", "/x/e").as_deref(), Some("ex"));
        assert_eq!(to(&l, "a.test", "/x/e/f").as_deref(), Some("px"), "exact is exact");
        assert_eq!(to(&l, "a.test", "/iy").as_deref(), Some("imp"), "ImplementationSpecific is a string prefix");
        assert_eq!(to(&l, "a.test", "/"), None);
        assert_eq!(to(&l, "b.test", "/x"), None, "another host");
    }

    #[test]
    fn a_prefix_with_trailing_slash_does_not_match_the_bare_path() {
        let spec = format!("  rules:\n{}", rule("a.test", &[("/x/", "Prefix", "px")]));
        let (l, _) = layer(&ingress("a", "", &spec));
        assert_eq!(to(&l, "a.test", "/x/a").as_deref(), Some("px"));
        assert_eq!(to(&l, "a.test", "/x"), None);
    }

    #[test]
    fn ingresses_of_a_host_merge_and_the_first_keeps_a_path() {
        let yaml = ingress("b", "", &format!("  rules:\n{}", rule("a.test", &[("/x", "Prefix", "second")])))
            + &ingress(
                "a",
                "",
                &format!("  rules:\n{}", rule("a.test", &[("/x", "Prefix", "first"), ("/y", "Exact", "y")])),
            );
        let (l, problems) = layer(&yaml);
        assert_eq!(to(&l, "a.test", "/x").as_deref(), Some("first"));
        assert_eq!(to(&l, "a.test", "/y").as_deref(), Some("y"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("also claimed"), "{}", problems[0].message);
    }

    #[test]
    fn wildcard_hosts_match_one_label_and_exact_hosts_win() {
        let spec = format!(
            "  rules:\n{}{}",
            rule("\"*.example.com\"", &[("/", "Prefix", "wild")]),
            rule("shop.example.com", &[("/", "Prefix", "shop")])
        );
        let (l, _) = layer(&ingress("a", "", &spec));
        assert_eq!(to(&l, "x.example.com", "/").as_deref(), Some("wild"));
        assert_eq!(to(&l, "shop.example.com", "/").as_deref(), Some("shop"));
        assert_eq!(to(&l, "a.b.example.com", "/"), None);
        assert_eq!(to(&l, "example.com", "/"), None);
    }

    #[test]
    fn rules_without_host_and_default_backends_are_real_routes() {
        let catch_all = ingress("c", "", "  rules:\n  - http:\n      paths:\n      - {path: /any, pathType: Prefix, backend: {service: {name: any, port: {name: http}}}}");
        let default = ingress("d", "", "  defaultBackend: {service: {name: fallback, port: {number: 80}}}");
        let hosted = ingress(
            "e",
            "",
            &format!(
                "  defaultBackend: {{service: {{name: rest, port: {{number: 80}}}}}}\n  rules:\n{}",
                rule("h.test", &[("/a", "Exact", "a")])
            ),
        );
        let (l, problems) = layer(&(catch_all + &default + &hosted));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(to(&l, "unknown.test", "/any/x").as_deref(), Some("any"));
        assert_eq!(to(&l, "unknown.test", "/else").as_deref(), Some("fallback"));
        assert_eq!(to(&l, "h.test", "/a").as_deref(), Some("a"));
        assert_eq!(to(&l, "h.test", "/b").as_deref(), Some("rest"), "the Ingress's own default backend");
        assert_eq!(to(&l, "h.test", "/any"), Some("rest".into()), "a host with a server never falls to the catch-all");
        let routes = l.route(&request("unknown.test", "/any", false));
        assert!(
            matches!(routes, Routing::Redirected { .. }),
            "the catch-all server has the default certificate: {routes:?}"
        );
        assert!(l.routes().contains(&("*".to_string(), "/any".to_string())));
    }

    #[test]
    fn a_regex_annotation_turns_every_path_of_the_host_into_a_case_insensitive_regex() {
        let plain = ingress("a", "", &format!("  rules:\n{}", rule("a.test", &[("/x", "Exact", "ex")])));
        let regex = ingress(
            "b",
            "nginx.ingress.kubernetes.io/use-regex: \"true\"",
            &format!("  rules:\n{}", rule("a.test", &[("/api/v[0-9]+", "ImplementationSpecific", "api")])),
        );
        let other = ingress("c", "", &format!("  rules:\n{}", rule("b.test", &[("/x", "Exact", "ex")])));
        let (l, problems) = layer(&(plain + &regex + &other));
        assert_eq!(to(&l, "a.test", "/x").as_deref(), Some("ex"));
        assert_eq!(to(&l, "a.test", "/X/anything").as_deref(), Some("ex"), "Exact became ~* ^/x");
        assert_eq!(to(&l, "a.test", "/API/V2/x").as_deref(), Some("api"));
        assert_eq!(to(&l, "b.test", "/x/anything"), None, "other hosts keep their meaning");
        assert!(problems.iter().any(|p| p.message.contains("case-insensitive")), "{problems:?}");
    }

    #[test]
    fn tls_hosts_redirect_plain_http_unless_disabled() {
        let spec = |host: &str| {
            format!("  tls: [{{hosts: [{host}], secretName: s}}]\n  rules:\n{}", rule(host, &[("/", "Prefix", "svc")]))
        };
        let yaml = ingress("a", "", &spec("a.test"))
            + &ingress("b", "nginx.ingress.kubernetes.io/ssl-redirect: \"false\"", &spec("b.test"))
            + &ingress("c", "", &format!("  rules:\n{}", rule("c.test", &[("/", "Prefix", "svc")])))
            + &ingress(
                "d",
                "nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\"",
                &format!("  rules:\n{}", rule("d.test", &[("/", "Prefix", "svc")])),
            );
        let (l, problems) = layer(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(matches!(l.route(&request("a.test", "/", false)), Routing::Redirected { .. }));
        assert!(matches!(l.route(&request("a.test", "/nothing-here", false)), Routing::Redirected { .. }));
        assert_eq!(to(&l, "a.test", "/").as_deref(), Some("svc"));
        assert_eq!(service_of(l.route(&request("b.test", "/", false))).as_deref(), Some("svc"));
        assert_eq!(
            service_of(l.route(&request("c.test", "/", false))).as_deref(),
            Some("svc"),
            "no TLS: plain HTTP routed"
        );
        assert_eq!(
            to(&l, "c.test", "/").as_deref(),
            Some("svc"),
            "no TLS: HTTPS still routed with the default certificate"
        );
        assert!(matches!(l.route(&request("d.test", "/", false)), Routing::Redirected { .. }));
    }

    #[test]
    fn allowlists_refuse_clients_outside() {
        let spec = format!("  rules:\n{}", rule("a.test", &[("/", "Prefix", "svc")]));
        let yaml = ingress("a", "nginx.ingress.kubernetes.io/whitelist-source-range: \"10.0.0.0/8, 192.0.2.7\"", &spec)
            + &ingress(
                "b",
                "nginx.ingress.kubernetes.io/allowlist-source-range: \"not-an-ip\"",
                &format!("  rules:\n{}", rule("b.test", &[("/", "Prefix", "svc")])),
            );
        let (l, problems) = layer(&yaml);
        let from = |ip: &str, host: &str| HttpRequest {
            client: ip.parse().unwrap(),
            host: host.into(),
            path: "/".into(),
            tls: true,
        };
        assert!(matches!(l.route(&from(OUTSIDE, "a.test")), Routing::Refused { .. }));
        assert_eq!(service_of(l.route(&from("10.2.3.4", "a.test"))).as_deref(), Some("svc"));
        assert_eq!(service_of(l.route(&from("192.0.2.7", "a.test"))).as_deref(), Some("svc"));
        assert!(matches!(l.route(&from("10.2.3.4", "b.test")), Routing::Refused { .. }));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(l.client_ranges(), ["10.0.0.0/8", "192.0.2.7/32"]);
    }

    #[test]
    fn auth_grpc_and_ports() {
        let spec = "  rules:\n  - host: a.test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {name: grpc}}}}";
        let annotations = "nginx.ingress.kubernetes.io/auth-url: https://auth.test/check, nginx.ingress.kubernetes.io/backend-protocol: GRPC";
        let (l, _) = layer(&ingress("a", annotations, spec));
        match l.route(&request("a.test", "/svc.Method", true)) {
            Routing::Routed { namespace, service, port, grpc, auth_url, by } => {
                assert_eq!((namespace.as_str(), service.as_str()), ("shop", "api"));
                assert_eq!(port, ServicePort::Name("grpc".into()));
                assert!(grpc);
                assert_eq!(auth_url.as_deref(), Some("https://auth.test/check"));
                assert_eq!(by.name, "a");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snippets_other_classes_and_hand_edits_are_problems_not_panics() {
        let spec = format!("  rules:\n{}", rule("a.test", &[("/", "Prefix", "svc")]));
        let snippet = ingress("a", "nginx.ingress.kubernetes.io/configuration-snippet: \"return 200;\"", &spec);
        let other_class = ingress("b", "", &spec).replace("ingressClassName: nginx", "ingressClassName: traefik");
        let no_class = ingress("c", "", &spec).replace("  ingressClassName: nginx\n", "");
        let broken = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d, namespace: shop, annotations: [1]}\nspec:\n  ingressClassName: nginx\n  tls: 3\n  rules:\n  - host: [x]\n  - host: e.test\n    http: {paths: [{path: relative, pathType: Prefix}, {path: /p, pathType: Odd}, {path: /q, pathType: Exact, backend: {service: {name: s, port: {number: 99999}}}}, 7]}\n";
        let (l, problems) = layer(&(snippet + &other_class + &no_class + broken));
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("raw nginx configuration")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("default IngressClass")), "{messages:?}");
        assert!(problems.iter().all(|p| p.at.name != "b"), "other classes are ignored silently");
        assert!(problems.iter().filter(|p| p.at.name == "d").count() >= 5, "{messages:?}");
        assert_eq!(to(&l, "a.test", "/").as_deref(), Some("svc"));
        assert_eq!(to(&l, "e.test", "/q"), None);
    }

    /// The sample plus `api:grpc` on `api.example.com` (exact + prefix paths, two client
    /// ranges, external auth, no TLS).
    fn policy_with_api() -> Policy {
        crate::ir::sample::with_api_exposure(shop(IngressKind::Nginx, MeshKind::Istio))
    }

    fn from_segc(policy: &Policy) -> (NginxIngresses, Vec<Problem>) {
        let manifests = crate::verify::manifests::from_objects(&emit(policy)).expect("segc output reads back");
        NginxIngresses::new(&manifests, "nginx")
    }

    #[test]
    fn segc_output_routes_exactly_what_the_sample_exposes() {
        let (l, problems) = from_segc(&shop(IngressKind::Nginx, MeshKind::Istio));
        assert!(problems.is_empty(), "{problems:?}");
        match l.route(&request("shop.example.com", "/cart", true)) {
            Routing::Routed { namespace, service, port, grpc, auth_url, .. } => {
                assert_eq!(
                    (namespace.as_str(), service.as_str(), port),
                    ("shop", "web", ServicePort::Name("http".into()))
                );
                assert!(!grpc && auth_url.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(l.route(&request("shop.example.com", "/cart", false)), Routing::Redirected { .. }));
        assert_eq!(l.route(&request("other.example.com", "/", true)), Routing::NoRoute);
        assert_eq!(l.routes(), [("shop.example.com".to_string(), "/".to_string())]);
    }

    #[test]
    fn segc_output_keeps_exact_prefix_sources_auth_and_grpc() {
        let (l, problems) = from_segc(&policy_with_api());
        assert!(problems.is_empty(), "{problems:?}");
        let inside = |path: &str, tls: bool| HttpRequest {
            client: "10.1.1.1".parse().unwrap(),
            host: "api.example.com".into(),
            path: path.into(),
            tls,
        };
        for path in ["/healthz", "/x", "/x/y"] {
            match l.route(&inside(path, false)) {
                Routing::Routed { service, grpc, auth_url, .. } => {
                    assert_eq!(service, "api");
                    assert!(grpc);
                    assert_eq!(auth_url.as_deref(), Some("https://auth.example.com/verify"));
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        for path in ["/healthz/", "/xy", "/", "/HEALTHZ"] {
            assert_eq!(l.route(&inside(path, false)), Routing::NoRoute, "{path}");
        }
        assert!(matches!(l.route(&request("api.example.com", "/x", false)), Routing::Refused { .. }));
        assert_eq!(l.client_ranges(), ["10.0.0.0/8", "198.51.100.0/24"]);
    }
}
