//! `segc check [--format text|json|sarif] FILE...`
//!
//! Text diagnostics go to stderr file by file; a JSON or SARIF document of every file's
//! diagnostics goes to stdout once all are checked. Exit codes are the same in every
//! format.

use super::{print_document, report, usage_error, CheckArgs, ExitStatus, Format};
use crate::diag::export::Batch;
use crate::diag::{ColorChoice, Severity};
use crate::driver::{self, Compiled};

pub fn run(args: &CheckArgs, color: ColorChoice) -> ExitStatus {
    let mut status = ExitStatus::Success;
    let mut checked: Vec<Compiled> = Vec::new();
    for file in &args.files {
        let compiled = match driver::compile(file) {
            Ok(compiled) => compiled,
            Err(e) => {
                status = status.worst(usage_error(format_args!("cannot read {}: {e}", file.display())));
                continue;
            }
        };
        let fails = compiled.diagnostics.iter().any(|d| d.severity() == Severity::Error || args.deny_warnings);
        if fails {
            status = status.worst(ExitStatus::Failure);
        }
        if args.format == Format::Text {
            report(&compiled.sources, &compiled.diagnostics, color, &file.display().to_string());
        } else {
            checked.push(compiled);
        }
    }
    let batches: Vec<Batch<'_>> =
        checked.iter().map(|c| Batch { sources: &c.sources, diagnostics: &c.diagnostics }).collect();
    status.worst(print_document(args.format, &batches))
}
