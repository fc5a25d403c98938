//! Diagnostics: the codes, the data every phase reports, and rendering.
//!
//! Takes: spans into the [`SourceMap`] and messages from the phases.
//! Gives: [`Diagnostic`] values, their stable [`Code`]s, and terminal rendering via
//! codespan-reporting, and JSON/SARIF documents ([`export`]).
//! Must not: decide exit codes or print on its own (that is `cli`'s job), or know
//! anything about the phases that produce diagnostics.

mod code;
pub mod export;
mod render;
mod source;
mod suggest;

pub use code::{Code, Severity};
pub use render::{render, render_all, ColorChoice};
pub use source::{FileId, Origin, SourceFile, SourceMap, Span};
pub use suggest::did_you_mean;

/// A message about the user's input, anchored on the offending text.
///
/// Messages are lowercase, one line, no trailing period, user names in backticks;
/// guidance goes in `help`, context in secondary labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// The offending text and what is wrong with it.
    pub primary: Label,
    /// Declarations involved (the `accepts` line an edge breaks, the first duplicate, ...).
    pub secondary: Vec<Label>,
    /// How to fix it, where the fix is clear.
    pub help: Option<String>,
    /// Extra facts that are not fixes (e.g. the path that breaks a transitive forbid).
    pub notes: Vec<String>,
}

/// A span with a short message shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Label {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Label { span, message: message.into() }
    }
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>, primary: Label) -> Self {
        Diagnostic { code, message: message.into(), primary, secondary: Vec::new(), help: None, notes: Vec::new() }
    }

    pub fn with_label(mut self, label: Label) -> Self {
        self.secondary.push(label);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// Sorts diagnostics into source order (file, then offset, then code) so that every
/// run reports them identically whatever order the phases found them in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.primary.span.file, a.primary.span.start, a.primary.span.end, a.code)
            .cmp(&(b.primary.span.file, b.primary.span.start, b.primary.span.end, b.code))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// True when any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}
