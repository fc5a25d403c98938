//! `segc graph FILE [--target NAME] --format mermaid|dot`

use super::{compile_policy, lower_policy, ExitStatus, GraphArgs};
use crate::diag::ColorChoice;
use crate::graph;

pub fn run(args: &GraphArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    let compiled = match compile_policy(&args.file, color) {
        Ok(compiled) => compiled,
        Err(status) => return status,
    };
    // Without a target, the policy as declared; with one, what that target builds.
    let drawn = match &args.target {
        None => graph::from_model(&compiled.model),
        Some(target) => match lower_policy(&compiled, Some(target), color, &name) {
            Ok(policy) => graph::from_policy(&compiled.model, &policy),
            Err(status) => return status,
        },
    };
    print!("{}", graph::render(&drawn, args.format));
    ExitStatus::Success
}
