//! `segc verify FILE [--target NAME] DIR`

use super::{report, usage_error, ExitStatus, VerifyArgs};
use crate::diag::ColorChoice;
use crate::driver::{self, LowerError};
use crate::verify;

pub fn run(args: &VerifyArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    if !args.dir.is_dir() {
        return usage_error(format_args!("{} is not a directory", args.dir.display()));
    }
    // Reading the manifests does not depend on the policy: do both at once.
    let (compiled, manifests) = rayon::join(|| driver::compile(&args.file), || verify::manifests::read_dir(&args.dir));
    let compiled = match compiled {
        Ok(compiled) => compiled,
        Err(e) => return usage_error(format_args!("cannot read {name}: {e}")),
    };
    if compiled.has_errors() {
        report(&compiled.sources, &compiled.diagnostics, color, &name);
        return ExitStatus::Failure;
    }
    let policy = match driver::lower(&compiled, args.target.as_deref()) {
        Ok(policy) => policy,
        Err(LowerError::Diagnostics(diagnostics)) => {
            report(&compiled.sources, &diagnostics, color, &name);
            return ExitStatus::Failure;
        }
        Err(e @ LowerError::NoTarget) => {
            eprintln!("error: {name}: {e}");
            return ExitStatus::Failure;
        }
        Err(e) => return usage_error(format_args!("{name}: {e}")),
    };
    let manifests = match manifests {
        Ok(manifests) => manifests,
        Err(e) => return usage_error(e),
    };
    let mut sources = compiled.sources.clone();
    let diagnostics = verify::verify_manifests(&mut sources, &args.dir, &policy, &manifests);
    let what = format!("{} against {name} (target `{}`)", args.dir.display(), policy.target.name);
    report(&sources, &diagnostics, color, &what);
    if diagnostics.iter().any(|d| d.is_error()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
