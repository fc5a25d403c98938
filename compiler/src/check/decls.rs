//! Declarations: segments, externals and targets, property by property.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::{did_you_mean, Code, Diagnostic, Label, Span};
use crate::ir::{IngressKind, MeshKind};
use crate::resolve::{Names, SegIdx, INTERNET};
use crate::syntax::ast::{self, Block, Keyword, Property, Value};

use super::values::{self, CidrError, PortSpecError};
use super::{External, Model, PortDecl, ProbeDecl, Segment, Target};

/// The first property with `keyword`; every further one is E0207.
pub(super) fn once<'a>(block: &'a Block, keyword: Keyword, diags: &mut Vec<Diagnostic>) -> Option<&'a Property> {
    let mut all = block.all(keyword);
    let first = all.next()?;
    for extra in all {
        diags.push(
            Diagnostic::new(
                Code::E0207,
                format!("`{}` is given twice", keyword.as_str()),
                Label::new(extra.span, "given again here"),
            )
            .with_label(Label::new(first.span, "first given here"))
            .with_help(format!("keep one `{}` line", keyword.as_str())),
        );
    }
    Some(first)
}

/// E0208 on `header` when the block lacks `keyword`; `line` is the line to add.
pub(super) fn missing(what: &str, keyword: Keyword, header: Span, line: &str) -> Diagnostic {
    Diagnostic::new(
        Code::E0208,
        format!("{what} has no `{}`", keyword.as_str()),
        Label::new(header, format!("`{}` is required here", keyword.as_str())),
    )
    .with_help(format!("add a line such as `{line}` to the block"))
}

fn invalid_name(code: Code, what: &str, value: &Value, why: String) -> Diagnostic {
    Diagnostic::new(code, format!("invalid {what} `{}`", value.text), Label::new(value.span, why))
}

/// Checks a value with a validator, reporting E0403 with `what`; true when valid.
fn k8s_name(value: &Value, what: &str, rule: fn(&str) -> Result<(), String>, diags: &mut Vec<Diagnostic>) -> bool {
    match rule(&value.text) {
        Ok(()) => true,
        Err(why) => {
            diags.push(invalid_name(Code::E0403, what, value, why));
            false
        }
    }
}

fn value_of(p: Option<&Property>, i: usize) -> Option<&Value> {
    p.and_then(|p| p.values.get(i))
}

/// The `trust LEVEL` of a segment or external.
fn trust_of(
    names: &Names,
    block: &Block,
    diags: &mut Vec<Diagnostic>,
) -> (Option<crate::resolve::LevelId>, Option<Span>) {
    let prop = once(block, Keyword::Trust, diags);
    match value_of(prop, 0) {
        Some(v) => match names.lookup_level(v) {
            Ok(level) => (Some(level), prop.map(|p| p.span)),
            Err(d) => {
                diags.push(d);
                (None, prop.map(|p| p.span))
            }
        },
        None => (None, None),
    }
}

/// Every `port` line of a block: names, numbers, protocols, and their uniqueness.
fn ports(block: &Block, diags: &mut Vec<Diagnostic>) -> Vec<PortDecl> {
    let mut out: Vec<PortDecl> = Vec::new();
    let mut by_name: HashMap<&str, Span> = HashMap::new();
    let mut by_number: HashMap<(u16, &'static str), (Span, &str)> = HashMap::new();
    for prop in block.all(Keyword::Port) {
        let (Some(name), Some(spec)) = (prop.values.first(), prop.values.get(1)) else {
            continue;
        };
        if let Err(why) = values::port_name(&name.text) {
            diags
                .push(invalid_name(Code::E0404, "port name", name, why).with_help(
                    "port names are IANA service names: up to 15 lower-case letters, digits and single `-`",
                ));
        }
        if let Some(first) = by_name.get(name.text.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::E0205,
                    format!("port `{}` is declared twice", name.text),
                    Label::new(name.span, "declared again here"),
                )
                .with_label(Label::new(*first, "first declared here")),
            );
            continue;
        }
        by_name.insert(&name.text, name.span);
        let parsed = match values::port_spec(&spec.text) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                diags.push(port_spec_error(spec, error));
                None
            }
        };
        if let Some((number, protocol)) = parsed {
            let key = (number, protocol.transport());
            if let Some((first, first_name)) = by_number.get(&key) {
                diags.push(
                    Diagnostic::new(
                        Code::E0410,
                        format!("ports `{first_name}` and `{}` both use {number}/{}", name.text, protocol.transport()),
                        Label::new(spec.span, "same number and transport"),
                    )
                    .with_label(Label::new(*first, format!("`{first_name}` declared here")))
                    .with_help("a pod port is one number and transport; declare it once"),
                );
            } else {
                by_number.insert(key, (prop.span, &name.text));
            }
        }
        out.push(PortDecl { name: name.text.clone(), spec: parsed, span: prop.span });
    }
    out
}

fn port_spec_error(spec: &Value, error: PortSpecError) -> Diagnostic {
    // Sub-spans only make sense for bare values, where text and source agree.
    let sub = |at: std::ops::Range<usize>| {
        if spec.quoted {
            spec.span
        } else {
            Span {
                file: spec.span.file,
                start: spec.span.start + at.start as u32,
                end: spec.span.start + at.end as u32,
            }
        }
    };
    match error {
        PortSpecError::Malformed => Diagnostic::new(
            Code::E0402,
            format!("invalid port specification `{}`", spec.text),
            Label::new(spec.span, "expected NUMBER/PROTOCOL"),
        )
        .with_help(format!("write e.g. `8080/http`; the protocol is one of {}", list(values::PROTOCOLS))),
        PortSpecError::OutOfRange { number, at } => Diagnostic::new(
            Code::E0401,
            format!("port number `{number}` is out of range"),
            Label::new(sub(at), "must be between 1 and 65535"),
        ),
        PortSpecError::UnknownProtocol { protocol, at } => {
            let d = Diagnostic::new(
                Code::E0402,
                format!("unknown protocol `{protocol}`"),
                Label::new(sub(at), "not a protocol"),
            );
            match did_you_mean(&protocol, values::PROTOCOLS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`? the protocols are {}", list(values::PROTOCOLS))),
                None => d.with_help(format!("the protocols are {}", list(values::PROTOCOLS))),
            }
        }
    }
}

pub(super) fn list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Validates `select` pairs; a key given twice is E0405.
fn selector(prop: &Property, diags: &mut Vec<Diagnostic>) -> BTreeMap<String, String> {
    // Each key's value, and where the key was first selected.
    let mut out: BTreeMap<String, (String, Span)> = BTreeMap::new();
    for v in &prop.values {
        match values::label_pair(&v.text) {
            Ok((key, value)) => {
                if let Some((_, first)) = out.get(&key) {
                    diags.push(
                        Diagnostic::new(
                            Code::E0405,
                            format!("label key `{key}` is selected twice"),
                            Label::new(v.span, "selected again here"),
                        )
                        .with_label(Label::new(*first, "first selected here"))
                        .with_help("a pod has one value per key; keep one"),
                    );
                    continue;
                }
                out.insert(key, (value, v.span));
            }
            Err(why) => diags.push(
                Diagnostic::new(Code::E0405, format!("invalid label selector `{}`", v.text), Label::new(v.span, why))
                    .with_help("label keys are `[PREFIX/]NAME` (name up to 63 characters), values up to 63 characters"),
            ),
        }
    }
    out.into_iter().map(|(key, (value, _))| (key, value)).collect()
}

pub(super) fn check_segments(model: &mut Model, diags: &mut Vec<Diagnostic>) {
    let std_namespaces: HashSet<String> =
        model.names.segments.iter().filter(|s| s.std).map(|s| s.ast.namespace.text.clone()).collect();
    let first_level = model.names.levels.get(1).filter(|_| model.names.user_levels > 0).map(|l| l.name.clone());
    let mut segments = Vec::with_capacity(model.names.segments.len());
    for decl in &model.names.segments {
        let ast = &decl.ast;
        let block = &ast.block;
        if !decl.std {
            k8s_name(&ast.name, "segment name", values::dns1123_label, diags);
            if std_namespaces.contains(&ast.namespace.text) {
                diags.push(
                    Diagnostic::new(
                        Code::E0210,
                        format!("namespace `{}` belongs to the standard library", ast.namespace.text),
                        Label::new(ast.namespace.span, "a standard-library namespace"),
                    )
                    .with_help("segc never writes into the standard library's namespaces; put your segment in a namespace of your own"),
                );
            }
        }
        k8s_name(&ast.namespace, "namespace", values::dns1123_label, diags);
        let (trust, trust_span) = trust_of(&model.names, block, diags);
        if block.first(Keyword::Trust).is_none() {
            let level = first_level.as_deref().unwrap_or(INTERNET);
            diags.push(missing(
                &format!("segment `{}`", decl.display),
                Keyword::Trust,
                ast.header,
                &format!("trust {level}"),
            ));
        }
        let select = once(block, Keyword::Select, diags);
        let selector = match select {
            Some(p) => selector(p, diags),
            None => {
                diags.push(missing(
                    &format!("segment `{}`", decl.display),
                    Keyword::Select,
                    ast.header,
                    &format!("select app={}", ast.name.text),
                ));
                BTreeMap::new()
            }
        };
        let account = match value_of(once(block, Keyword::Account, diags), 0) {
            Some(v) => {
                k8s_name(v, "service account", values::dns1123_subdomain, diags);
                v.text.clone()
            }
            None => ast.name.text.clone(),
        };
        let service = match value_of(once(block, Keyword::Service, diags), 0) {
            Some(v) => {
                k8s_name(v, "Service name", values::dns1035_label, diags);
                v.text.clone()
            }
            None => ast.name.text.clone(),
        };
        let unmeshed_span = once(block, Keyword::Unmeshed, diags).map(|p| p.span);
        let ports = ports(block, diags);
        let mut probes = Vec::new();
        for prop in block.all(Keyword::Probe) {
            let Some(port_name) = prop.values.first() else {
                continue;
            };
            let Some(port) = ports.iter().position(|p| p.name == port_name.text) else {
                diags.push(unknown_port(&decl.display, ast.header, port_name, &ports));
                continue;
            };
            let paths: Vec<String> =
                prop.values[1..].iter().filter(|v| check_path(v, diags)).map(|v| v.text.clone()).collect();
            probes.push(ProbeDecl { port, paths });
        }
        segments.push(Segment {
            name: decl.display.clone(),
            std: decl.std,
            namespace: ast.namespace.text.clone(),
            namespace_span: ast.namespace.span,
            trust,
            trust_span,
            selector,
            account,
            service,
            ports,
            meshed: unmeshed_span.is_none(),
            unmeshed_span,
            probes,
            header: ast.header,
        });
    }
    model.segments = segments;
}

/// E0202: `owner` (declared at `decl`) has no port `port`.
pub(super) fn unknown_port(owner: &str, decl: Span, port: &Value, ports: &[PortDecl]) -> Diagnostic {
    let mut d = Diagnostic::new(
        Code::E0202,
        format!("`{owner}` has no port `{}`", port.text),
        Label::new(port.span, "unknown port"),
    )
    .with_label(Label::new(decl, format!("`{owner}` is declared here")));
    d = match did_you_mean(&port.text, ports.iter().map(|p| p.name.as_str())) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None if ports.is_empty() => {
            d.with_help(format!("`{owner}` declares no ports; add a `port NAME NUMBER/PROTOCOL` line"))
        }
        None => d.with_help(format!(
            "`{owner}` declares {}",
            ports.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", ")
        )),
    };
    d
}

/// E0408 for an invalid path; true when valid.
pub(super) fn check_path(v: &Value, diags: &mut Vec<Diagnostic>) -> bool {
    match values::path(&v.text) {
        Ok(()) => true,
        Err(why) => {
            diags.push(
                Diagnostic::new(Code::E0408, format!("invalid path `{}`", v.text), Label::new(v.span, why))
                    .with_help("write `/x` for exactly `/x`, `/x/*` for `/x` and below, `/*` for every path"),
            );
            false
        }
    }
}

/// Validates CIDRs (E0406); returns the canonical texts of the valid ones.
pub(super) fn cidrs(values: &[Value], diags: &mut Vec<Diagnostic>) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for v in values {
        match values::cidr(&v.text) {
            Ok(c) => out.push((c, v.span)),
            Err(CidrError::Invalid(why)) => {
                diags.push(Diagnostic::new(Code::E0406, format!("invalid CIDR `{}`", v.text), Label::new(v.span, why)))
            }
            Err(CidrError::NotCanonical(canonical)) => diags.push(
                Diagnostic::new(
                    Code::E0406,
                    format!("CIDR `{}` is not a network address", v.text),
                    Label::new(v.span, "host bits are set or the prefix length is missing"),
                )
                .with_help(format!("write `{canonical}`")),
            ),
        }
    }
    out
}

pub(super) fn check_externals(model: &mut Model, diags: &mut Vec<Diagnostic>) {
    let mut externals = Vec::with_capacity(model.names.externals.len());
    for ast in &model.names.externals {
        k8s_name(&ast.name, "external name", values::dns1123_label, diags);
        let block = &ast.block;
        let (trust, trust_span) = if block.first(Keyword::Trust).is_some() {
            trust_of(&model.names, block, diags)
        } else {
            (Some(Names::INTERNET), None)
        };
        let mut cidr_list = Vec::new();
        match once(block, Keyword::Cidr, diags) {
            Some(p) => {
                for (c, span) in cidrs(&p.values, diags) {
                    if values::is_whole_internet(&c) {
                        diags.push(
                            Diagnostic::new(
                                Code::W0106,
                                format!("external `{}` covers the whole internet", ast.name.text),
                                Label::new(span, "every address"),
                            )
                            .with_help(
                                "list the service's own address ranges, so an allow to it cannot reach anything else",
                            ),
                        );
                    }
                    cidr_list.push(c);
                }
            }
            None => diags.push(missing(
                &format!("external `{}`", ast.name.text),
                Keyword::Cidr,
                ast.header,
                "cidr 203.0.113.0/24",
            )),
        }
        let ports = ports(block, diags);
        if block.first(Keyword::Port).is_none() {
            diags.push(missing(
                &format!("external `{}`", ast.name.text),
                Keyword::Port,
                ast.header,
                "port https 443/tcp",
            ));
        }
        externals.push(External {
            name: ast.name.text.clone(),
            trust,
            trust_span,
            cidrs: cidr_list,
            ports,
            header: ast.header,
        });
    }
    model.externals = externals;
}

const INGRESSES: &[&str] = &["nginx", "traefik"];
const MESHES: &[&str] = &["istio", "linkerd", "none"];

/// E0209 for a value not in `valid`.
fn unknown_choice(what: &str, v: &Value, valid: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(
        Code::E0209,
        format!("unknown {what} `{}`", v.text),
        Label::new(v.span, format!("not a supported {what}")),
    );
    match did_you_mean(&v.text, valid.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`? supported: {}", list(valid))),
        None => d.with_help(format!("supported: {}", list(valid))),
    }
}

/// Resolves a target's `controller`/`dns` value to a segment.
fn segment_value(names: &Names, v: &Value, diags: &mut Vec<Diagnostic>) -> Option<SegIdx> {
    let r = match v.text.strip_prefix("std.") {
        Some(rest) => ast::Ref { std: true, name: Value { text: rest.to_string(), ..v.clone() }, span: v.span },
        None => ast::Ref { std: false, name: v.clone(), span: v.span },
    };
    match names.lookup(&r) {
        Ok(crate::resolve::Named::Segment(s)) => Some(s),
        Ok(other) => {
            diags.push(Diagnostic::new(
                Code::E0201,
                format!("`{}` is not a segment", names.display(other)),
                Label::new(v.span, "a segment is needed here"),
            ));
            None
        }
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

pub(super) fn check_targets(model: &mut Model, diags: &mut Vec<Diagnostic>) {
    let names = &model.names;
    let mut targets = Vec::new();
    for t in &names.targets {
        let block = &t.block;
        let what = format!("target `{}`", t.name.text);
        let ingress = match value_of(once(block, Keyword::Ingress, diags), 0) {
            None => {
                diags.push(missing(&what, Keyword::Ingress, t.name.span, "ingress nginx"));
                None
            }
            Some(v) => match v.text.as_str() {
                "nginx" => Some(IngressKind::Nginx),
                "traefik" => Some(IngressKind::Traefik),
                _ => {
                    diags.push(unknown_choice("ingress controller", v, INGRESSES));
                    None
                }
            },
        };
        let mesh = match value_of(once(block, Keyword::Mesh, diags), 0) {
            None => {
                diags.push(missing(&what, Keyword::Mesh, t.name.span, "mesh istio"));
                None
            }
            Some(v) => match v.text.as_str() {
                "istio" => Some(MeshKind::Istio),
                "linkerd" => Some(MeshKind::Linkerd),
                "none" => Some(MeshKind::None),
                _ => {
                    diags.push(unknown_choice("mesh", v, MESHES));
                    None
                }
            },
        };
        let trust_domain = match value_of(once(block, Keyword::TrustDomain, diags), 0) {
            Some(v) => {
                k8s_name(v, "trust domain", values::dns1123_subdomain, diags);
                v.text.clone()
            }
            None => "cluster.local".to_string(),
        };
        let identity_suffix = match value_of(once(block, Keyword::IdentitySuffix, diags), 0) {
            Some(v) => {
                k8s_name(v, "identity suffix", values::dns1123_subdomain, diags);
                v.text.clone()
            }
            None => format!("serviceaccount.identity.linkerd.{trust_domain}"),
        };
        // Defaults that live in the standard library: one diagnostic per target.
        let mut needs_std = Vec::new();
        let controller = match value_of(once(block, Keyword::Controller, diags), 0) {
            Some(v) => segment_value(names, v, diags),
            None => {
                let default = match ingress {
                    Some(IngressKind::Traefik) => "traefik",
                    _ => "ingress-nginx",
                };
                if names.std_imported {
                    match names.lookup_std(default, t.name.span) {
                        Ok(s) => Some(s),
                        Err(d) => {
                            diags.push(d);
                            None
                        }
                    }
                } else {
                    needs_std.push(format!("the ingress controller `std.{default}`"));
                    None
                }
            }
        };
        let dns = match value_of(once(block, Keyword::Dns, diags), 0) {
            Some(v) if v.text == "off" => None,
            Some(v) => segment_value(names, v, diags),
            None if names.std_imported => match names.lookup_std("dns", t.name.span) {
                Ok(s) => Some(s),
                Err(d) => {
                    diags.push(d);
                    None
                }
            },
            None => {
                needs_std.push("the cluster DNS `std.dns`".to_string());
                None
            }
        };
        // The mesh control plane that every proxy must reach (not configurable: it is
        // where the mesh is installed, which the standard library describes).
        let control_plane_names: &[&str] = match mesh {
            Some(MeshKind::Istio) => &["istiod"],
            Some(MeshKind::Linkerd) => &["linkerd-destination", "linkerd-identity"],
            _ => &[],
        };
        let mut control_plane = Vec::new();
        if !control_plane_names.is_empty() && !names.std_imported {
            needs_std.push(format!("the mesh control plane `std.{}`", control_plane_names.join("`, `std.")));
        } else {
            for name in control_plane_names {
                match names.lookup_std(name, t.name.span) {
                    Ok(s) => control_plane.push(s),
                    Err(d) => diags.push(d),
                }
            }
        }
        if !needs_std.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::E0204,
                    format!("{what} uses the standard library, which no file imports"),
                    Label::new(t.name.span, format!("its defaults are {}", needs_std.join(" and "))),
                )
                .with_help("add import \"std/k8s\" (or set `controller` and `dns` explicitly)"),
            );
        }
        if let (Some(ingress), Some(mesh)) = (ingress, mesh) {
            targets.push(Target {
                name: t.name.text.clone(),
                ingress,
                mesh,
                trust_domain,
                identity_suffix,
                controller,
                dns,
                control_plane,
                header: t.name.span,
            });
        }
    }
    model.targets = targets;
}
