//! Diagnostics to text, through codespan-reporting.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::term;
use codespan_reporting::term::termcolor;

use super::{Diagnostic, Severity, SourceMap};

/// Whether rendering may use colour (the CLI decides from the terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Never,
    Always,
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<super::FileId> {
    let severity = match d.severity() {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels =
        vec![cs::Label::primary(d.primary.span.file, d.primary.span.range()).with_message(d.primary.message.clone())];
    labels.extend(
        d.secondary.iter().map(|l| cs::Label::secondary(l.span.file, l.span.range()).with_message(l.message.clone())),
    );
    let mut notes: Vec<String> = d.notes.clone();
    if let Some(help) = &d.help {
        notes.push(format!("help: {help}"));
    }
    cs::Diagnostic::new(severity)
        .with_code(d.code.as_str())
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// Renders one diagnostic as rustc-style text.
pub fn render(sources: &SourceMap, d: &Diagnostic, color: ColorChoice) -> String {
    render_all(sources, std::slice::from_ref(d), color)
}

/// Renders diagnostics in the order given.
pub fn render_all(sources: &SourceMap, diags: &[Diagnostic], color: ColorChoice) -> String {
    let config = term::Config::default();
    let styles = term::Styles::default();
    let mut out = String::new();
    for d in diags {
        let cs = to_codespan(d);
        // Rendering into memory fails only if a span lies outside its file, which would
        // be a compiler bug; fall back to a plain header rather than panic.
        let rendered = match color {
            ColorChoice::Never => term::emit_into_string(&config, sources, &cs).ok(),
            ColorChoice::Always => {
                let mut buffer = termcolor::Buffer::ansi();
                let mut writer = term::StylesWriter::new(&mut buffer, &styles);
                term::emit_to_write_style(&mut writer, &config, sources, &cs)
                    .ok()
                    .map(|()| String::from_utf8_lossy(buffer.as_slice()).into_owned())
            }
        };
        out.push_str(&rendered.unwrap_or_else(|| format!("{}[{}]: {}\n", severity_word(d), d.code, d.message)));
    }
    out
}

fn severity_word(d: &Diagnostic) -> &'static str {
    match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
