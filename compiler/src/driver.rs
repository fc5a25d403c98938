//! The library's entry points: compile a root file (or text) and lower it for a target.
//!
//! Takes: a path or text. Gives: [`Compiled`] (sources, sorted diagnostics, the checked
//! model) and, for one target, the [`ir::Policy`] backends read.
//! Must not: print, exit, or decide exit codes (the CLI maps `has_errors` to 1 and an
//! unreadable root file to 2).

use std::fmt;
use std::path::Path;

use crate::check::{self, Model};
use crate::diag::{self, Diagnostic, SourceMap};
use crate::ir;
use crate::resolve;

/// One compilation: every file read, every diagnostic (sorted with [`diag::sort`]), and
/// the checked model.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub model: Model,
    /// The root file's name as the user gave it (`<stdin>` for standard input).
    pub root_name: String,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.diagnostics)
    }

    /// The names of the declared targets, sorted.
    pub fn target_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.model.names.targets.iter().map(|t| t.name.text.clone()).collect();
        names.sort();
        names
    }
}

/// Compiles the root file at `path` and everything it imports. Err only when the root
/// file cannot be read; every problem with its content is a diagnostic.
pub fn compile(path: &Path) -> std::io::Result<Compiled> {
    let loaded = resolve::load(path)?;
    Ok(finish(loaded, path.display().to_string()))
}

/// Compiles `text` as a root file named `name` (standard input, tests); imports
/// resolve relative to the current directory.
pub fn compile_text(name: &str, text: &str) -> Compiled {
    finish(resolve::load_text(name, text), name.to_string())
}

fn finish(loaded: resolve::Loaded, root_name: String) -> Compiled {
    let (model, diagnostics, sources) = check::check(loaded);
    Compiled { sources, diagnostics, model, root_name }
}

/// Why a compilation could not be lowered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LowerError {
    /// The policy declares no `target`.
    NoTarget,
    /// Several targets exist and none was named.
    TargetRequired { available: Vec<String> },
    /// The named target does not exist.
    UnknownTarget { name: String, available: Vec<String> },
    /// The compilation has errors, or the target breaks a target-specific rule; the
    /// diagnostics are sorted.
    Diagnostics(Vec<Diagnostic>),
}

impl fmt::Display for LowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        match self {
            LowerError::NoTarget => {
                write!(f, "the policy declares no `target`; add e.g. `target prod {{ ingress nginx  mesh istio }}`")
            }
            LowerError::TargetRequired { available } => {
                write!(f, "the policy declares several targets; pick one with `--target` ({})", list(available))
            }
            LowerError::UnknownTarget { name, available } => {
                write!(f, "unknown target `{name}`; the policy declares {}", list(available))?;
                if let Some(s) = diag::did_you_mean(name, available.iter().map(String::as_str)) {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                Ok(())
            }
            LowerError::Diagnostics(d) => write!(f, "{} error(s)", d.iter().filter(|d| d.is_error()).count()),
        }
    }
}

impl std::error::Error for LowerError {}

/// Lowers a compilation for `target` (`None`: the only target declared).
pub fn lower(compiled: &Compiled, target: Option<&str>) -> Result<ir::Policy, LowerError> {
    if compiled.has_errors() {
        let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        return Err(LowerError::Diagnostics(errors));
    }
    let available = compiled.target_names();
    let chosen = match target {
        Some(name) => compiled
            .model
            .targets
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| LowerError::UnknownTarget { name: name.to_string(), available: available.clone() })?,
        None => match compiled.model.targets.as_slice() {
            [] => return Err(LowerError::NoTarget),
            [only] => only,
            _ => return Err(LowerError::TargetRequired { available }),
        },
    };
    ir::lower(&compiled.model, chosen, &compiled.root_name).map_err(LowerError::Diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = include_str!("../../examples/shop.seg");

    #[test]
    fn shop_compiles_with_one_warning() {
        let c = compile_text("shop.seg", SHOP);
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec![diag::Code::W0104],
            "{}",
            diag::render_all(&c.sources, &c.diagnostics, diag::ColorChoice::Never)
        );
        assert_eq!(c.target_names(), vec!["prod".to_string()]);
    }

    #[test]
    fn shop_lowers_like_the_hand_built_sample() {
        let c = compile_text("shop.seg", SHOP);
        let policy = lower(&c, None).expect("shop lowers");
        let names: Vec<&str> = policy.segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "db", "std.dns", "std.ingress-nginx", "std.istiod", "std.prometheus", "web"]);
        let control_plane: Vec<&str> =
            policy.target.control_plane.iter().map(|s| policy.segment(*s).name.as_str()).collect();
        assert_eq!(control_plane, ["std.istiod"]);
        assert_eq!(policy.managed_namespaces, ["data", "shop"]);
        assert_eq!(policy.edges.len(), 4);
        let sample = ir::sample::shop(ir::IngressKind::Nginx, ir::MeshKind::Istio);
        let web_api = |p: &ir::Policy| {
            p.edges.iter().find(|e| p.segment(e.source).name == "web").map(|e| (e.port.clone(), e.l7.clone()))
        };
        assert_eq!(web_api(&policy), web_api(&sample));
        assert_eq!(policy.exposures[0].paths, sample.exposures[0].paths);
        assert_eq!(policy.exposures[0].sources, Vec::<String>::new(), "0.0.0.0/0 is the default");
        assert_eq!(policy.controller().name, "std.ingress-nginx");
        assert_eq!(policy.target.dns.map(|d| policy.segment(d).name.as_str()), Some("std.dns"));
    }

    #[test]
    fn target_selection() {
        let two = SHOP.replace("target prod {", "target edge { ingress traefik mesh linkerd }\ntarget prod {");
        let c = compile_text("shop.seg", &two);
        assert!(!c.has_errors());
        assert_eq!(lower(&c, None), Err(LowerError::TargetRequired { available: vec!["edge".into(), "prod".into()] }));
        assert!(matches!(lower(&c, Some("prd")), Err(LowerError::UnknownTarget { .. })));
        let edge = lower(&c, Some("edge")).expect("edge lowers");
        assert_eq!(edge.controller().name, "std.traefik");
        assert_eq!(edge.target.identity_suffix, "serviceaccount.identity.linkerd.cluster.local");
    }

    #[test]
    fn unmeshed_callers_fail_under_a_mesh_only() {
        let text = SHOP.replace("  trust dmz\n", "  trust dmz\n  unmeshed\n");
        let c = compile_text("shop.seg", &text);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        match lower(&c, None) {
            Err(LowerError::Diagnostics(d)) => assert_eq!(d[0].code, diag::Code::E0505),
            other => panic!("expected E0505, got {other:?}"),
        }
        let none = text.replace("mesh istio", "mesh none");
        assert!(lower(&compile_text("shop.seg", &none), None).is_ok());
    }

    #[test]
    fn allows_merge_per_edge() {
        let text = SHOP.replace("allow api -> db:pg", "allow api -> db:pg\nallow web -> api:http { methods PUT }");
        let policy = lower(&compile_text("shop.seg", &text), None).expect("lowers");
        let edge = policy.edges.iter().find(|e| policy.segment(e.source).name == "web").expect("web edge");
        assert_eq!(edge.decls.len(), 2);
        match &edge.l7 {
            ir::L7::Rules(rules) => assert_eq!(rules.len(), 2),
            other => panic!("expected rules, got {other:?}"),
        }
        let open = SHOP.replace("allow api -> db:pg", "allow api -> db:pg\nallow web -> api:http");
        let policy = lower(&compile_text("shop.seg", &open), None).expect("lowers");
        let edge = policy.edges.iter().find(|e| policy.segment(e.source).name == "web").expect("web edge");
        assert_eq!(edge.l7, ir::L7::Any);
    }
}
