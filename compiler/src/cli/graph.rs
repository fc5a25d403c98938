//! `segc graph FILE [--target NAME] --format mermaid|dot`

use super::{report, usage_error, ExitStatus, GraphArgs};
use crate::diag::ColorChoice;
use crate::driver::{self, LowerError};
use crate::graph;

pub fn run(args: &GraphArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    let compiled = match driver::compile(&args.file) {
        Ok(compiled) => compiled,
        Err(e) => return usage_error(format_args!("cannot read {name}: {e}")),
    };
    if compiled.has_errors() {
        report(&compiled.sources, &compiled.diagnostics, color, &name);
        return ExitStatus::Failure;
    }
    // Without a target, the policy as declared; with one, what that target builds.
    let drawn = match &args.target {
        None => graph::from_model(&compiled.model),
        Some(target) => match driver::lower(&compiled, Some(target)) {
            Ok(policy) => graph::from_policy(&compiled.model, &policy),
            Err(LowerError::Diagnostics(diagnostics)) => {
                report(&compiled.sources, &diagnostics, color, &name);
                return ExitStatus::Failure;
            }
            Err(e) => return usage_error(format_args!("{name}: {e}")),
        },
    };
    print!("{}", graph::render(&drawn, args.format));
    ExitStatus::Success
}
