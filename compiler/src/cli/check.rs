//! `segc check FILE...`

use super::{report, usage_error, CheckArgs, ExitStatus};
use crate::diag::{ColorChoice, Severity};
use crate::driver;

pub fn run(args: &CheckArgs, color: ColorChoice) -> ExitStatus {
    let mut status = ExitStatus::Success;
    for file in &args.files {
        let compiled = match driver::compile(file) {
            Ok(compiled) => compiled,
            Err(e) => {
                status = status.worst(usage_error(format_args!("cannot read {}: {e}", file.display())));
                continue;
            }
        };
        report(&compiled.sources, &compiled.diagnostics, color, &file.display().to_string());
        let fails = compiled.diagnostics.iter().any(|d| d.severity() == Severity::Error || args.deny_warnings);
        if fails {
            status = status.worst(ExitStatus::Failure);
        }
    }
    status
}
