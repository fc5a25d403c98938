//! The Traefik interpreter: what Traefik does with an HTTP request, read from any
//! IngressRoute and Middleware objects (`traefik.io/v1alpha1`, and the older
//! `traefik.containo.us/v1alpha1`).
//!
//! Takes: every manifest read back (whoever wrote them). Gives: [`TraefikRoutes`], an
//! [`IngressLayer`] that answers, per request, no route, a redirect, a refusal (403)
//! or the Service the request reaches; and a [`Problem`] for every object or reference
//! whose effect it cannot compute.
//! Must not: assume the manifests came from segc (nothing of `backends::traefik` is
//! reused), or panic on any hand edit.
//!
//! The model (Traefik v3 with its Helm chart's entry points):
//! - A request on plain HTTP arrives on entry point `web`, an HTTPS request on
//!   `websecure`. A route without `entryPoints` listens on every entry point. A route
//!   with `tls` serves only HTTPS; one without serves plain HTTP, and HTTPS on
//!   `websecure`, where the chart enables TLS for every router.
//! - `match` is parsed as Traefik's rule language (`&&` binds tighter than `||`, `!`,
//!   parentheses; arguments in backticks or double quotes). `Host` compares without
//!   case; `HostRegexp`, `PathRegexp` are Go regular expressions, unanchored as Go's
//!   `MatchString` (anchors only where written); `Path` is the whole path and
//!   `PathPrefix` a plain string prefix (`/x` matches `/xy`). `ClientIP` checks the
//!   client address. The requests verify sends carry no headers or query, so `Header`,
//!   `HeaderRegexp` and `Query`, `QueryRegexp` never match (and their negation always
//!   does); their method is unknown, so `Method` is taken to match every method.
//! - Among the matching routes the highest `priority` wins; without one (or 0) the
//!   priority is the length of the rule.
//! - Middlewares run in order: `ipAllowList` (or `ipWhiteList`) refuses clients outside
//!   its ranges, `redirectScheme` to `https` redirects plain HTTP, `forwardAuth` asks
//!   its address first, `chain` runs its own list. Other kinds that cannot change who
//!   reaches which Service are ignored; any other kind is a problem.
//! - A route whose rule does not parse, whose middleware does not exist, or whose
//!   middleware or Service lies in another namespace (Traefik's default
//!   `allowCrossNamespace: false`) is refused by Traefik: it does not exist here either,
//!   and is reported.

use std::collections::BTreeMap;

use regex::Regex;
use rustc_hash::FxHashMap;

use crate::verify::value::Value;

use super::http_match::{client_range, in_ranges, optional_list, optional_str, service_port, WrongShape};
use super::{HttpRequest, IngressLayer, Manifest, ObjectRef, Problem, Routing, ServicePort};

const GROUPS: [&str; 2] = ["traefik.io", "traefik.containo.us"];
const WEB: &str = "web";
const WEBSECURE: &str = "websecure";
/// Middleware kinds that only reshape requests or responses (headers, paths, limits),
/// never decide who reaches which Service.
const NEUTRAL_MIDDLEWARES: [&str; 15] = [
    "addPrefix",
    "buffering",
    "circuitBreaker",
    "compress",
    "contentType",
    "grpcWeb",
    "headers",
    "inFlightReq",
    "passTLSClientCert",
    "rateLimit",
    "replacePath",
    "replacePathRegex",
    "retry",
    "stripPrefix",
    "stripPrefixRegex",
];
/// How deep `chain` middlewares may nest before verify gives up (Traefik rejects loops).
const MAX_CHAIN_DEPTH: usize = 8;

/// Every HTTP route Traefik would build from the IngressRoutes.
#[derive(Debug)]
pub struct TraefikRoutes {
    /// Highest priority first; among equals, by object and position.
    routes: Vec<Route>,
    /// Routes (indexes) whose rule needs one of some hosts, by each of them (lower
    /// case); the others in `any_host`. A request's host finds its routes without
    /// trying every rule.
    by_host: FxHashMap<String, Vec<usize>>,
    any_host: Vec<usize>,
    client_ranges: Vec<String>,
}

#[derive(Debug)]
struct Route {
    rule: Rule,
    priority: i64,
    plain: bool,
    secure: bool,
    steps: Vec<Step>,
    namespace: String,
    service: String,
    port: ServicePort,
    grpc: bool,
    by: ObjectRef,
}

/// What a middleware does to a request.
#[derive(Debug, Clone)]
enum Step {
    Allow { ranges: Vec<String>, by: ObjectRef },
    RedirectToHttps { by: ObjectRef },
    Auth { url: String },
}

/// A parsed `match` rule.
#[derive(Debug)]
enum Rule {
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
    Not(Box<Rule>),
    Host(Vec<String>),
    HostRegexp(Vec<Regex>),
    Path(Vec<String>),
    PathPrefix(Vec<String>),
    PathRegexp(Vec<Regex>),
    ClientIp(Vec<String>),
    /// `Method`: the request's method is unknown, so it matches.
    Always,
    /// `Header`, `Query`: the request carries none.
    Never,
}

impl Rule {
    fn matches(&self, request: &HttpRequest) -> bool {
        match self {
            Rule::And(a, b) => a.matches(request) && b.matches(request),
            Rule::Or(a, b) => a.matches(request) || b.matches(request),
            Rule::Not(a) => !a.matches(request),
            Rule::Host(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(&request.host)),
            Rule::HostRegexp(patterns) => patterns.iter().any(|p| p.is_match(&request.host)),
            Rule::Path(paths) => paths.contains(&request.path),
            Rule::PathPrefix(prefixes) => prefixes.iter().any(|p| request.path.starts_with(p.as_str())),
            Rule::PathRegexp(patterns) => patterns.iter().any(|p| p.is_match(&request.path)),
            Rule::ClientIp(ranges) => in_ranges(ranges, request.client),
            Rule::Always => true,
            Rule::Never => false,
        }
    }

    /// The hosts (lower case) a request must have one of for the rule to match, when
    /// the rule needs one.
    fn required_hosts(&self) -> Option<Vec<String>> {
        match self {
            Rule::Host(hosts) => Some(hosts.iter().map(|h| h.to_ascii_lowercase()).collect()),
            Rule::And(a, b) => a.required_hosts().or_else(|| b.required_hosts()),
            Rule::Or(a, b) => Some([a.required_hosts()?, b.required_hosts()?].concat()),
            _ => None,
        }
    }

    /// Literal hosts and paths the rule mentions (for sample requests).
    fn literals(&self, hosts: &mut Vec<String>, paths: &mut Vec<String>) {
        match self {
            Rule::And(a, b) | Rule::Or(a, b) => {
                a.literals(hosts, paths);
                b.literals(hosts, paths);
            }
            Rule::Not(a) => a.literals(hosts, paths),
            Rule::Host(h) => hosts.extend(h.iter().map(|h| h.to_ascii_lowercase())),
            Rule::HostRegexp(p) => hosts.extend(p.iter().map(|p| p.as_str().to_string())),
            Rule::Path(p) | Rule::PathPrefix(p) => paths.extend(p.iter().cloned()),
            Rule::PathRegexp(p) => paths.extend(p.iter().map(|p| p.as_str().to_string())),
            Rule::ClientIp(_) | Rule::Always | Rule::Never => {}
        }
    }
}

impl TraefikRoutes {
    /// Whether the object is of a group this layer reads.
    pub fn reads(manifest: &Manifest) -> bool {
        GROUPS.contains(&manifest.group())
    }

    pub fn new(manifests: &[Manifest]) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let ours = |m: &&Manifest| TraefikRoutes::reads(m);
        let mut middlewares = BTreeMap::new();
        for m in manifests.iter().filter(ours) {
            match m.kind() {
                "Middleware" => {
                    if let Some(namespace) = &m.at.namespace {
                        middlewares.insert((namespace.clone(), m.at.name.clone()), m);
                    } else {
                        problem(&mut problems, m, "Middleware without namespace; not interpreted".into());
                    }
                }
                "IngressRouteTCP" | "IngressRouteUDP" => problem(
                    &mut problems,
                    m,
                    format!("{} may take TLS or plain connections before any HTTP route; not interpreted", m.kind()),
                ),
                _ => {}
            }
        }
        let mut routes = Vec::new();
        for m in manifests.iter().filter(ours).filter(|m| m.kind() == "IngressRoute") {
            read_ingress_route(m, &middlewares, &mut routes, &mut problems);
        }
        // Stable: equal priorities keep object and position order.
        routes.sort_by_key(|r| std::cmp::Reverse(r.priority));
        let mut client_ranges: Vec<String> = routes
            .iter()
            .flat_map(|r| &r.steps)
            .filter_map(|s| match s {
                Step::Allow { ranges, .. } => Some(ranges.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        client_ranges.sort();
        client_ranges.dedup();
        let mut by_host: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut any_host = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            match route.rule.required_hosts() {
                Some(mut hosts) => {
                    hosts.sort();
                    hosts.dedup();
                    for host in hosts {
                        by_host.entry(host).or_default().push(i);
                    }
                }
                None => any_host.push(i),
            }
        }
        (TraefikRoutes { routes, by_host, any_host, client_ranges }, problems)
    }
}

impl TraefikRoutes {
    /// The first route (by priority) that listens on the request's scheme and whose
    /// rule matches it.
    fn route_taken(&self, request: &HttpRequest) -> Option<&Route> {
        let listening = |r: &&Route| if request.tls { r.secure } else { r.plain };
        // The routes that may match the host, in order.
        let mut candidates: Vec<usize> =
            self.by_host.get(&request.host.to_ascii_lowercase()).map_or(&[][..], Vec::as_slice).to_vec();
        candidates.extend_from_slice(&self.any_host);
        candidates.sort_unstable();
        let routes = candidates.into_iter().map(|i| &self.routes[i]);
        routes.filter(listening).find(|r| r.rule.matches(request))
    }
}

impl IngressLayer for TraefikRoutes {
    fn name(&self) -> &'static str {
        "Traefik"
    }

    /// Literal hosts (or host regexes) crossed with literal paths (or path regexes) of
    /// each rule; `*` when a rule names no host, `/` when it names no path.
    fn routes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for route in &self.routes {
            let (mut hosts, mut paths) = (Vec::new(), Vec::new());
            route.rule.literals(&mut hosts, &mut paths);
            if hosts.is_empty() {
                hosts.push("*".into());
            }
            if paths.is_empty() {
                paths.push("/".into());
            }
            for host in &hosts {
                out.extend(paths.iter().map(|p| (host.clone(), p.clone())));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn client_ranges(&self) -> Vec<String> {
        self.client_ranges.clone()
    }

    fn route(&self, request: &HttpRequest) -> Routing {
        let Some(route) = self.route_taken(request) else { return Routing::NoRoute };
        let mut auth_url = None;
        for step in &route.steps {
            match step {
                Step::Allow { ranges, by } if !in_ranges(ranges, request.client) => {
                    return Routing::Refused { by: by.clone() }
                }
                Step::RedirectToHttps { by } if !request.tls => return Routing::Redirected { by: by.clone() },
                Step::Auth { url } if auth_url.is_none() => auth_url = Some(url.clone()),
                _ => {}
            }
        }
        Routing::Routed {
            namespace: route.namespace.clone(),
            service: route.service.clone(),
            port: route.port.clone(),
            grpc: route.grpc,
            auth_url,
            by: route.by.clone(),
        }
    }
}

fn problem(problems: &mut Vec<Problem>, m: &Manifest, message: String) {
    problems.push(Problem { at: m.at.clone(), message });
}

type Middlewares<'m> = BTreeMap<(String, String), &'m Manifest>;

fn read_ingress_route(m: &Manifest, middlewares: &Middlewares, routes: &mut Vec<Route>, problems: &mut Vec<Problem>) {
    let Some(namespace) = m.at.namespace.clone() else {
        problem(problems, m, "IngressRoute without namespace: it lands wherever it is applied; not interpreted".into());
        return;
    };
    let spec = m.spec();
    let entry_points: Vec<&str> = match optional_list(&spec["entryPoints"]) {
        Ok(list) => list.iter().filter_map(Value::as_str).collect(),
        Err(WrongShape) => {
            problem(problems, m, "`spec.entryPoints` is not a list; not interpreted".into());
            return;
        }
    };
    for other in entry_points.iter().filter(|e| **e != WEB && **e != WEBSECURE) {
        problem(problems, m, format!("entry point `{other}` is not `web` or `websecure`; its traffic is not verified"));
    }
    let listens = |name: &str| entry_points.is_empty() || entry_points.contains(&name);
    let tls = !spec["tls"].is_null();
    let (plain, secure) = (listens(WEB) && !tls, listens(WEBSECURE));
    let list = optional_list(&spec["routes"]).unwrap_or_else(|WrongShape| {
        problem(problems, m, "`spec.routes` is not a list; not interpreted".into());
        &[]
    });
    for (i, value) in list.iter().enumerate() {
        let mut report = |message: String| {
            problems.push(Problem { at: m.at.clone(), message: format!("route {}: {message}", i + 1) })
        };
        if let Some(route) = read_route(value, m, &namespace, middlewares, &mut report) {
            routes.push(Route { plain, secure, ..route });
        }
    }
}

fn read_route(
    value: &Value,
    m: &Manifest,
    namespace: &str,
    middlewares: &Middlewares,
    report: &mut impl FnMut(String),
) -> Option<Route> {
    let Some(text) = value["match"].as_str() else {
        report("no `match` rule; Traefik refuses the route".into());
        return None;
    };
    if let Some(kind) = value["kind"].as_str().filter(|k| *k != "Rule") {
        report(format!("kind `{kind}` is not `Rule`; Traefik refuses the route"));
        return None;
    }
    let rule = match parse_rule(text) {
        Ok(rule) => rule,
        Err(e) => {
            report(format!("rule `{text}` does not parse ({e}); Traefik refuses the route"));
            return None;
        }
    };
    let priority = match &value["priority"] {
        Value::Null => 0,
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => {
            report("`priority` is not a number; taken as the default".into());
            0
        }
    };
    let priority = if priority == 0 { i64::try_from(text.len()).unwrap_or(i64::MAX) } else { priority };

    let mut steps = Vec::new();
    let refs = optional_list(&value["middlewares"]).unwrap_or_else(|WrongShape| {
        report("`middlewares` is not a list; ignored".into());
        &[]
    });
    for reference in refs {
        resolve_middleware(reference, namespace, middlewares, 0, &mut steps, report)?;
    }

    let services = optional_list(&value["services"]).unwrap_or(&[]);
    let Some(service) = services.first() else {
        report("no service; Traefik refuses the route".into());
        return None;
    };
    if services.len() > 1 {
        report("several services share the traffic; only the first is verified".into());
    }
    if let Some(kind) = service["kind"].as_str().filter(|k| *k != "Service") {
        report(format!("service kind `{kind}` (weighted or mirrored traffic) is not interpreted"));
        return None;
    }
    let Some(name) = service["name"].as_str().filter(|n| !n.is_empty()) else {
        report("the service has no name; Traefik refuses the route".into());
        return None;
    };
    let service_namespace = match optional_str(&service["namespace"]) {
        Ok(ns) => ns.unwrap_or(namespace),
        Err(WrongShape) => {
            report("the service namespace is not a string; Traefik refuses the route".into());
            return None;
        }
    };
    if service_namespace != namespace {
        report(format!(
            "service `{service_namespace}/{name}` is in another namespace, which Traefik refuses unless `allowCrossNamespace` is on"
        ));
        return None;
    }
    let Some(port) = service_port(&service["port"]) else {
        report(format!("service `{name}` has no valid `port`; Traefik refuses the route"));
        return None;
    };
    let grpc = service["scheme"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("h2c"));
    Some(Route {
        rule,
        priority,
        plain: false,
        secure: false,
        steps,
        namespace: namespace.to_string(),
        service: name.to_string(),
        port,
        grpc,
        by: m.at.clone(),
    })
}

/// Appends what a referenced middleware does to `steps`; `None` when Traefik would
/// refuse the route because of the reference.
fn resolve_middleware(
    reference: &Value,
    namespace: &str,
    middlewares: &Middlewares,
    depth: usize,
    steps: &mut Vec<Step>,
    report: &mut impl FnMut(String),
) -> Option<()> {
    let Some(written) = reference["name"].as_str().filter(|n| !n.is_empty()) else {
        report("a middleware reference has no name; Traefik refuses the route".into());
        return None;
    };
    let explicit_namespace = reference["namespace"].as_str().filter(|n| !n.is_empty());
    let found = match written.split_once('@') {
        Some((global, "kubernetescrd")) => {
            // `NAMESPACE-NAME@kubernetescrd`: the middleware's name across providers.
            middlewares.iter().find(|((ns, name), _)| format!("{ns}-{name}") == global).map(|(_, m)| *m)
        }
        Some((_, provider)) => {
            report(format!("middleware `{written}` comes from provider `{provider}`, which verify cannot see"));
            return Some(());
        }
        None => middlewares.get(&(explicit_namespace.unwrap_or(namespace).to_string(), written.to_string())).copied(),
    };
    let Some(m) = found else {
        report(format!("middleware `{written}` does not exist; Traefik refuses the route"));
        return None;
    };
    if m.at.namespace.as_deref() != Some(namespace) {
        report(format!(
            "middleware `{written}` is in another namespace, which Traefik refuses unless `allowCrossNamespace` is on"
        ));
        return None;
    }
    let spec = match m.spec() {
        Value::Mapping(spec) => spec,
        _ => {
            report(format!("middleware `{written}` has no spec; Traefik refuses the route"));
            return None;
        }
    };
    let kinds: Vec<&str> = spec.keys().filter_map(Value::as_str).collect();
    if kinds.len() != 1 {
        report(format!(
            "middleware `{written}` must set exactly one kind, not {}; Traefik refuses the route",
            kinds.len()
        ));
        return None;
    }
    let kind = kinds[0];
    let body = &m.spec()[kind];
    let by = m.at.clone();
    match kind {
        "ipAllowList" | "ipWhiteList" => {
            let mut ranges = Vec::new();
            for item in optional_list(&body["sourceRange"]).unwrap_or(&[]) {
                match item.as_str().and_then(client_range) {
                    Some(range) => ranges.push(range),
                    None => {
                        report(format!("middleware `{written}`: source range {item:?} is not an address or CIDR; Traefik refuses the route"));
                        return None;
                    }
                }
            }
            if !body["ipStrategy"].is_null() {
                // Reads X-Forwarded-For, which clients write: any client can pass.
                report(format!(
                    "middleware `{written}` checks X-Forwarded-For (`ipStrategy`), which clients choose; taken to admit every client"
                ));
                ranges = vec!["0.0.0.0/0".into(), "::/0".into()];
            }
            ranges.sort();
            ranges.dedup();
            steps.push(Step::Allow { ranges, by });
        }
        "forwardAuth" => match body["address"].as_str().filter(|a| !a.is_empty()) {
            Some(url) => steps.push(Step::Auth { url: url.to_string() }),
            None => {
                report(format!("middleware `{written}` has no `forwardAuth.address`; Traefik refuses the route"));
                return None;
            }
        },
        "redirectScheme" => match body["scheme"].as_str() {
            Some("https") => steps.push(Step::RedirectToHttps { by }),
            other => report(format!("middleware `{written}` redirects to scheme {other:?}; not interpreted")),
        },
        "chain" if depth < MAX_CHAIN_DEPTH => {
            for inner in optional_list(&body["middlewares"]).unwrap_or(&[]) {
                resolve_middleware(inner, namespace, middlewares, depth + 1, steps, report)?;
            }
        }
        "chain" => {
            report(format!(
                "middleware `{written}` nests chains deeper than {MAX_CHAIN_DEPTH}; Traefik refuses the route"
            ));
            return None;
        }
        neutral if NEUTRAL_MIDDLEWARES.contains(&neutral) => {}
        other => {
            report(format!("middleware `{written}` of kind `{other}` may answer requests itself; not interpreted"))
        }
    }
    Some(())
}

// ---------------------------------------------------------------------------------
// The rule language.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Text(String),
    Open,
    Close,
    Comma,
    And,
    Or,
    Not,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '!' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Not,
                });
            }
            '&' | '|' => {
                chars.next();
                if chars.next() != Some(c) {
                    return Err(format!("lone `{c}`"));
                }
                tokens.push(if c == '&' { Token::And } else { Token::Or });
            }
            '`' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('`') => break,
                        Some(c) => value.push(c),
                        None => return Err("unclosed backtick".into()),
                    }
                }
                tokens.push(Token::Text(value));
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(c @ ('\\' | '"' | '\'')) => value.push(c),
                            other => return Err(format!("unsupported escape {other:?}")),
                        },
                        Some(c) => value.push(c),
                        None => return Err("unclosed string".into()),
                    }
                }
                tokens.push(Token::Text(value));
            }
            c if c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric() || **c == '_') {
                    name.push(c);
                    chars.next();
                }
                tokens.push(Token::Name(name));
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let mut parser = Parser { tokens: tokenize(text)?, at: 0 };
    let rule = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(rule),
        Some(token) => Err(format!("unexpected {token:?}")),
    }
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Rule, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Rule::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Rule, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Rule::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Rule, String> {
        match self.next() {
            Some(Token::Not) => Ok(Rule::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Token::Name(name)) => self.matcher(&name),
            other => Err(format!("expected a matcher, found {other:?}")),
        }
    }

    fn matcher(&mut self, name: &str) -> Result<Rule, String> {
        if self.next() != Some(Token::Open) {
            return Err(format!("`{name}` needs `(`"));
        }
        let mut args = Vec::new();
        loop {
            match self.next() {
                Some(Token::Text(text)) => args.push(text),
                Some(Token::Close) if args.is_empty() => break,
                other => return Err(format!("expected a value in `{name}`, found {other:?}")),
            }
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => break,
                other => return Err(format!("expected `,` or `)` in `{name}`, found {other:?}")),
            }
        }
        if args.is_empty() {
            return Err(format!("`{name}` needs a value"));
        }
        let regexes = |args: &[String]| -> Result<Vec<Regex>, String> {
            args.iter().map(|a| Regex::new(a).map_err(|e| format!("`{a}` is not a regular expression: {e}"))).collect()
        };
        Ok(match name {
            "Host" | "HostHeader" => Rule::Host(args),
            "HostRegexp" => Rule::HostRegexp(regexes(&args)?),
            "Path" => Rule::Path(args),
            "PathPrefix" => Rule::PathPrefix(args),
            "PathRegexp" => Rule::PathRegexp(regexes(&args)?),
            "ClientIP" => {
                let ranges: Option<Vec<String>> = args.iter().map(|a| client_range(a)).collect();
                Rule::ClientIp(ranges.ok_or("`ClientIP` needs addresses or CIDRs")?)
            }
            "Method" => Rule::Always,
            "Header" | "HeaderRegexp" | "Headers" | "HeadersRegexp" | "Query" | "QueryRegexp" => Rule::Never,
            other => return Err(format!("unknown matcher `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backends::traefik::emit;
    use crate::ir::sample::shop;
    use crate::ir::{IngressKind, MeshKind, Policy};
    use crate::verify::manifests::parse_documents;

    const OUTSIDE: &str = "198.18.0.1";

    fn layer(yaml: &str) -> (TraefikRoutes, Vec<Problem>) {
        let manifests = parse_documents(Path::new("t.yaml"), yaml).expect("test YAML parses");
        TraefikRoutes::new(&manifests)
    }

    /// An IngressRoute in `shop` with one route per (rule, service, extra route fields).
    fn ingress_route(name: &str, head: &str, routes: &[(&str, &str, &str)]) -> String {
        let mut text = format!(
            "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n{head}  routes:\n"
        );
        for (rule, service, extra) in routes {
            text.push_str(&format!(
                "  - match: '{rule}'\n    kind: Rule\n    services: [{{name: {service}, port: 80}}]\n{extra}"
            ));
        }
        text
    }

    fn middleware(name: &str, spec: &str) -> String {
        format!("---\napiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n")
    }

    fn request(host: &str, path: &str, tls: bool) -> HttpRequest {
        HttpRequest { client: OUTSIDE.parse().unwrap(), host: host.into(), path: path.into(), tls }
    }

    #[test]
    fn routes_by_host_are_those_a_scan_of_every_route_finds() {
        let yaml = ingress_route(
            "r",
            "",
            &[
                ("Host(`A.example.com`) && PathPrefix(`/a`)", "a", ""),
                ("Host(`a.example.com`, `b.example.com`)", "ab", ""),
                ("Host(`c.example.com`) || Host(`a.example.com`)", "ca", ""),
                ("Host(`c.example.com`) || PathPrefix(`/c`)", "c-or-path", ""),
                ("!Host(`a.example.com`)", "not-a", ""),
                ("HostRegexp(`^.+\\.example\\.com$`) && Path(`/r`)", "regexp", ""),
                ("PathPrefix(`/`)", "catch-all", "    priority: 1\n"),
            ],
        );
        let (layer, problems) = layer(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        for host in ["a.example.com", "A.EXAMPLE.com", "b.example.com", "c.example.com", "d.example.com", "example"] {
            for path in ["/", "/a", "/c", "/r", "/x"] {
                for tls in [true, false] {
                    let request = request(host, path, tls);
                    let listening = |r: &&Route| if tls { r.secure } else { r.plain };
                    let scanned = layer.routes.iter().filter(listening).find(|r| r.rule.matches(&request));
                    let taken = layer.route_taken(&request);
                    assert_eq!(taken.map(|r| &r.service), scanned.map(|r| &r.service), "{host}{path} {tls}");
                }
            }
        }
    }

    fn service_of(routing: Routing) -> Option<String> {
        match routing {
            Routing::Routed { service, .. } => Some(service),
            _ => None,
        }
    }

    fn matches(rule: &str, host: &str, path: &str) -> bool {
        parse_rule(rule).expect("rule parses").matches(&request(host, path, false))
    }

    #[test]
    fn rules_parse_with_and_binding_tighter_than_or_and_negation() {
        // a || b && c is a || (b && c).
        assert!(matches("Host(`a.test`) || Host(`b.test`) && Path(`/p`)", "a.test", "/other"));
        assert!(!matches("Host(`a.test`) || Host(`b.test`) && Path(`/p`)", "b.test", "/other"));
        assert!(!matches("(Host(`a.test`) || Host(`b.test`)) && Path(`/p`)", "a.test", "/other"));
        assert!(matches("Host(`a.test`) && !PathPrefix(`/admin`)", "a.test", "/x"));
        assert!(!matches("Host(`a.test`) && !PathPrefix(`/admin`)", "a.test", "/admin/x"));
        assert!(matches("!!Host(\"A.TEST\")", "a.test", "/"));
        assert!(matches("PathPrefix(`/x`)", "h", "/xy"), "PathPrefix is a string prefix");
        assert!(!matches("Path(`/x`)", "h", "/x/"));
        assert!(matches(r"HostRegexp(`^[^.]+\.example\.com$`)", "a.example.com", "/"));
        assert!(!matches(r"HostRegexp(`^[^.]+\.example\.com$`)", "a.b.example.com", "/"));
        assert!(matches(r"HostRegexp(`example\.com`)", "evil-example.com.attacker", "/"), "unanchored as written");
        assert!(matches("PathRegexp(`^/v[0-9]+/`)", "h", "/v2/x"));
        assert!(matches("Method(`POST`) && Path(`/`)", "h", "/"));
        assert!(!matches("Header(`X-A`, `b`)", "h", "/"));
        assert!(matches("!Query(`a`, `b`)", "h", "/"));
        assert!(matches("ClientIP(`198.18.0.0/15`)", "h", "/"));
        assert!(!matches("ClientIP(`10.0.0.1`)", "h", "/"));
        for bad in [
            "Host(`a`",
            "Host(`a`) &&",
            "Host(a)",
            "Nope(`a`)",
            "Host(`a`) & Path(`/`)",
            "HostRegexp(`(`)",
            "Host()",
            "",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_highest_priority_wins_and_the_default_is_the_rule_length() {
        let short = "Host(`a.test`) && PathPrefix(`/`)";
        let long = "Host(`a.test`) && PathPrefix(`/api`)";
        let yaml =
            ingress_route("r", "  entryPoints: [websecure]\n  tls: {}\n", &[(short, "root", ""), (long, "api", "")]);
        let (l, problems) = layer(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(service_of(l.route(&request("a.test", "/api/x", true))).as_deref(), Some("api"));
        assert_eq!(service_of(l.route(&request("a.test", "/apx", true))).as_deref(), Some("root"));
        let yaml = ingress_route(
            "r",
            "  entryPoints: [websecure]\n",
            &[(short, "root", "    priority: 100\n"), (long, "api", "")],
        );
        let (l, _) = layer(&yaml);
        assert_eq!(service_of(l.route(&request("a.test", "/api/x", true))).as_deref(), Some("root"));
    }

    #[test]
    fn entry_points_and_tls_decide_which_scheme_a_route_serves() {
        let rule = "Host(`a.test`)";
        let yaml = ingress_route("web", "  entryPoints: [web]\n", &[(rule, "plain", "")])
            + &ingress_route(
                "secure",
                "  entryPoints: [websecure]\n  tls: {secretName: s}\n",
                &[("Host(`b.test`)", "secure", "")],
            )
            + &ingress_route("all", "", &[("Host(`c.test`)", "all", "")])
            + &ingress_route("alltls", "  tls: {}\n", &[("Host(`d.test`)", "alltls", "")]);
        let (l, _) = layer(&yaml);
        assert_eq!(service_of(l.route(&request("a.test", "/", false))).as_deref(), Some("plain"));
        assert_eq!(l.route(&request("a.test", "/", true)), Routing::NoRoute);
        assert_eq!(service_of(l.route(&request("b.test", "/", true))).as_deref(), Some("secure"));
        assert_eq!(l.route(&request("b.test", "/", false)), Routing::NoRoute);
        assert_eq!(service_of(l.route(&request("c.test", "/", false))).as_deref(), Some("all"));
        assert_eq!(service_of(l.route(&request("c.test", "/", true))).as_deref(), Some("all"));
        assert_eq!(l.route(&request("d.test", "/", false)), Routing::NoRoute, "a TLS router ignores plain HTTP");
        assert_eq!(service_of(l.route(&request("d.test", "/", true))).as_deref(), Some("alltls"));
    }

    #[test]
    fn middlewares_resolve_and_apply_in_order() {
        let refs = "    middlewares: [{name: allow}, {name: shop-auth@kubernetescrd}, {name: https, namespace: shop}, {name: hdr}]\n";
        let yaml = middleware("allow", "{ipAllowList: {sourceRange: [10.0.0.0/8]}}")
            + &middleware("auth", "{forwardAuth: {address: 'https://auth.test/'}}")
            + &middleware("https", "{redirectScheme: {scheme: https}}")
            + &middleware("hdr", "{headers: {customRequestHeaders: {X-A: b}}}")
            + &ingress_route("r", "", &[("Host(`a.test`)", "svc", refs)]);
        let (l, problems) = layer(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let from = |ip: &str, tls: bool| HttpRequest {
            client: ip.parse().unwrap(),
            host: "a.test".into(),
            path: "/".into(),
            tls,
        };
        assert!(matches!(l.route(&from(OUTSIDE, true)), Routing::Refused { by } if by.name == "allow"));
        assert!(matches!(l.route(&from("10.0.0.1", false)), Routing::Redirected { by } if by.name == "https"));
        match l.route(&from("10.0.0.1", true)) {
            Routing::Routed { auth_url, .. } => assert_eq!(auth_url.as_deref(), Some("https://auth.test/")),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.client_ranges(), ["10.0.0.0/8"]);
    }

    #[test]
    fn a_missing_or_foreign_middleware_removes_the_route() {
        let yaml = ingress_route("r", "", &[("Host(`a.test`)", "svc", "    middlewares: [{name: nope}]\n")])
            + &ingress_route("s", "", &[("Host(`b.test`)", "svc", "    middlewares: [{name: m, namespace: other}]\n")])
            + "---\napiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: m, namespace: other}\nspec: {headers: {}}\n"
            + &ingress_route("t", "", &[("Host(`c.test`)", "svc", "    middlewares: [{name: odd}]\n")])
            + &middleware("odd", "{errors: {service: {name: x, port: 80}}}");
        let (l, problems) = layer(&yaml);
        assert_eq!(l.route(&request("a.test", "/", true)), Routing::NoRoute);
        assert_eq!(l.route(&request("b.test", "/", true)), Routing::NoRoute);
        assert_eq!(service_of(l.route(&request("c.test", "/", true))).as_deref(), Some("svc"));
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("`nope` does not exist")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("another namespace")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("kind `errors`")), "{messages:?}");
    }

    #[test]
    fn services_hand_edits_and_older_groups() {
        let old =
            ingress_route("r", "", &[("Host(`a.test`)", "svc", "")]).replace("traefik.io/", "traefik.containo.us/");
        let weighted = ingress_route("w", "", &[("Host(`w.test`)", "svc", "")])
            .replace("port: 80}]", "port: 80}, {name: other, port: 80}]");
        let h2c =
            ingress_route("g", "", &[("Host(`g.test`)", "api", "")]).replace("port: 80}]", "port: grpc, scheme: h2c}]");
        let broken = "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: b, namespace: shop}\nspec:\n  entryPoints: 3\n---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: c, namespace: shop}\nspec:\n  routes: [{match: 'Host(`x`'}, {match: 'Host(`y.test`)'}, {match: 'Host(`z.test`)', services: [{name: s}]}, 5]\n";
        let (l, problems) = layer(&(old + &weighted + &h2c + broken));
        assert_eq!(service_of(l.route(&request("a.test", "/", false))).as_deref(), Some("svc"));
        assert_eq!(service_of(l.route(&request("w.test", "/", false))).as_deref(), Some("svc"));
        match l.route(&request("g.test", "/", true)) {
            Routing::Routed { port, grpc, .. } => {
                assert_eq!(port, ServicePort::Name("grpc".into()));
                assert!(grpc);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(l.route(&request("z.test", "/", true)), Routing::NoRoute);
        assert!(problems.iter().any(|p| p.at.name == "w" && p.message.contains("several services")), "{problems:?}");
        assert!(problems.iter().filter(|p| p.at.name == "c").count() >= 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.at.name == "b"), "{problems:?}");
    }

    /// The sample plus `api:grpc` on `api.example.com` (exact + prefix paths, two client
    /// ranges, external auth, no TLS).
    fn policy_with_api() -> Policy {
        crate::ir::sample::with_api_exposure(shop(IngressKind::Traefik, MeshKind::Istio))
    }

    fn from_segc(policy: &Policy) -> (TraefikRoutes, Vec<Problem>) {
        let manifests = crate::verify::manifests::from_objects(&emit(policy)).expect("segc output reads back");
        TraefikRoutes::new(&manifests)
    }

    #[test]
    fn segc_output_routes_exactly_what_the_sample_exposes() {
        let (l, problems) = from_segc(&shop(IngressKind::Traefik, MeshKind::Istio));
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
        assert_eq!(
            l.route(&request("shop.example.com", "/cart", false)),
            Routing::NoRoute,
            "TLS routes are not on web"
        );
        assert_eq!(l.route(&request("other.example.com", "/", true)), Routing::NoRoute);
        assert_eq!(l.routes(), [("shop.example.com".to_string(), "/".to_string())]);
    }

    #[test]
    fn segc_output_keeps_exact_prefix_sources_auth_and_grpc() {
        let (l, problems) = from_segc(&policy_with_api());
        assert!(problems.is_empty(), "{problems:?}");
        let inside = |path: &str| HttpRequest {
            client: "10.1.1.1".parse().unwrap(),
            host: "api.example.com".into(),
            path: path.into(),
            tls: false,
        };
        for path in ["/healthz", "/x", "/x/", "/x/y"] {
            match l.route(&inside(path)) {
                Routing::Routed { service, grpc, auth_url, .. } => {
                    assert_eq!(service, "api");
                    assert!(grpc);
                    assert_eq!(auth_url.as_deref(), Some("https://auth.example.com/verify"));
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        for path in ["/healthz/", "/xy", "/"] {
            assert_eq!(l.route(&inside(path)), Routing::NoRoute, "{path}");
        }
        assert!(matches!(l.route(&request("api.example.com", "/x", false)), Routing::Refused { .. }));
        assert_eq!(l.route(&request("api.example.com", "/x", true)), Routing::NoRoute, "not on websecure");
        assert_eq!(l.client_ranges(), ["10.0.0.0/8", "198.51.100.0/24"]);
    }
}
