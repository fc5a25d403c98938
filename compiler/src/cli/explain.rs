//! `segc explain FILE SRC DST[:PORT] [--target NAME] [--path P] [--method M]`

use super::{compile_policy, lower_policy, usage_error, ExitStatus, ExplainArgs};
use crate::diag::{ColorChoice, SourceMap, Span};
use crate::explain::{self, Explanation, LayerVerdict, PolicyVerdict, Query, SourceReason};

pub fn run(args: &ExplainArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    let compiled = match compile_policy(&args.file, color) {
        Ok(compiled) => compiled,
        Err(status) => return status,
    };
    let policy = match lower_policy(&compiled, args.target.as_deref(), color, &name) {
        Ok(policy) => policy,
        Err(status) => return status,
    };
    let (destination, port) = match args.destination.rsplit_once(':') {
        Some((d, p)) => (d.to_string(), Some(p.to_string())),
        None => (args.destination.clone(), None),
    };
    let query =
        Query { source: args.source.clone(), destination, port, path: args.path.clone(), method: args.method.clone() };
    match explain::explain(&compiled, &policy, &query) {
        Ok(explanation) => {
            print!("{}", render(&compiled.sources, &explanation));
            if explanation.allowed() {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            }
        }
        Err(e) => usage_error(e),
    }
}

/// The explanation as text: the verdict first, then per port the `.seg` lines and the
/// layers.
fn render(sources: &SourceMap, e: &Explanation) -> String {
    let mut out = String::new();
    let request = e.request.as_ref().map(|r| format!(" ({} {})", r.method, r.path)).unwrap_or_default();
    let verdict = if e.allowed() { "ALLOWED" } else { "DENIED" };
    out.push_str(&format!("{verdict}: {} -> {}{request}\n", e.source, e.destination));
    for port in &e.ports {
        let word = if port.allowed() { "allowed" } else { "denied" };
        out.push_str(&format!(
            "\n{}:{} ({}/{}): {word}\n",
            e.destination,
            port.port.name,
            port.port.number,
            port.port.protocol.as_str()
        ));
        match &port.policy {
            PolicyVerdict::Declared(reasons) => {
                out.push_str("  policy: declared by\n");
                lines(&mut out, sources, reasons);
            }
            PolicyVerdict::Implied(what) => out.push_str(&format!("  policy: implied by the target: {what}\n")),
            PolicyVerdict::RequestNotDeclared(reasons) => {
                out.push_str("  policy: the connection is declared, but not this request\n");
                lines(&mut out, sources, reasons);
            }
            PolicyVerdict::NotDeclared(reasons) => {
                out.push_str(&format!("  policy: no `allow {} -> {}:{}`\n", e.source, e.destination, port.port.name));
                lines(&mut out, sources, reasons);
            }
        }
        for layer in &port.layers {
            out.push_str(&layer_line(layer));
        }
    }
    out
}

fn lines(out: &mut String, sources: &SourceMap, reasons: &[SourceReason]) {
    for r in reasons {
        out.push_str(&format!("    {}\n      {}\n", source_line(sources, r.span), r.note));
    }
}

/// `file:line: text` of the first line a span covers.
fn source_line(sources: &SourceMap, span: Span) -> String {
    let file = sources.get(span.file);
    let (line, _) = file.line_col(span.range().start);
    let text = file.text.lines().nth(line - 1).unwrap_or("").trim();
    format!("{}:{line}: {text}", file.name)
}

fn layer_line(layer: &LayerVerdict) -> String {
    if layer.not_governed {
        return format!("  {}: does not govern this connection\n", layer.layer);
    }
    let mut out = String::new();
    if layer.allowed {
        if layer.because.is_empty() {
            out.push_str(&format!("  {}: allowed (no object isolates this side)\n", layer.layer));
        } else {
            out.push_str(&format!("  {}: allowed by\n", layer.layer));
        }
    } else {
        // The interpreters name the objects that apply to the denied side; none of
        // their rules admits the connection, so what blocks it is the default deny.
        let deny = layer.default_deny.as_ref().map_or_else(|| "none emitted".to_string(), |d| d.to_string());
        out.push_str(&format!(
            "  {}: denied: no {} object admits it (default deny: {deny})\n",
            layer.layer,
            layer.layer.split(' ').next().unwrap_or_default()
        ));
        if !layer.because.is_empty() {
            out.push_str("    objects that apply:\n");
        }
    }
    let indent = if layer.allowed { "    " } else { "      " };
    for object in &layer.because {
        out.push_str(&format!("{indent}{object}\n"));
    }
    out
}
