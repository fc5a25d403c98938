//! `segc verify FILE [--target NAME] [--format text|json|sarif] DIR`
//!
//! Whatever stage produced the diagnostics (the policy's own errors, lowering, or the
//! comparison with the manifests), they are reported in the chosen format.

use super::{print_document, report, usage_error, ExitStatus, Format, VerifyArgs};
use crate::diag::export::Batch;
use crate::diag::{ColorChoice, Diagnostic, SourceMap};
use crate::driver::{self, LowerError};
use crate::verify;

pub fn run(args: &VerifyArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    if !args.dir.is_dir() {
        return usage_error(format_args!("{} is not a directory", args.dir.display()));
    }
    // Listing the files does not depend on the policy: do both at once. Each file is
    // read and parsed once the target is known, its objects read by their layers at once.
    let (compiled, files) = rayon::join(|| driver::compile(&args.file), || verify::manifests::files(&args.dir));
    let compiled = match compiled {
        Ok(compiled) => compiled,
        Err(e) => return usage_error(format_args!("cannot read {name}: {e}")),
    };
    if compiled.has_errors() {
        let written = output(args.format, &compiled.sources, &compiled.diagnostics, color, &name);
        return ExitStatus::Failure.worst(written);
    }
    let policy = match driver::lower(&compiled, args.target.as_deref()) {
        Ok(policy) => policy,
        Err(LowerError::Diagnostics(diagnostics)) => {
            let written = output(args.format, &compiled.sources, &diagnostics, color, &name);
            return ExitStatus::Failure.worst(written);
        }
        Err(e @ LowerError::NoTarget) => {
            eprintln!("error: {name}: {e}");
            return ExitStatus::Failure;
        }
        Err(e) => return usage_error(format_args!("{name}: {e}")),
    };
    let files = match files {
        Ok(files) => files,
        Err(e) => return usage_error(e),
    };
    // Only the sources are needed from here (to label diagnostics): the checked model
    // is freed before the manifests are interpreted.
    let mut sources = compiled.sources;
    drop(compiled.model);
    let diagnostics = match verify::verify_files(&mut sources, &args.dir, &policy, files) {
        Ok(diagnostics) => diagnostics,
        Err(e) => return usage_error(e),
    };
    let what = format!("{} against {name} (target `{}`)", args.dir.display(), policy.target.name);
    let written = output(args.format, &sources, &diagnostics, color, &what);
    let found = if diagnostics.iter().any(|d| d.is_error()) { ExitStatus::Failure } else { ExitStatus::Success };
    found.worst(written)
}

/// Text on stderr, or one JSON/SARIF document on stdout.
fn output(
    format: Format,
    sources: &SourceMap,
    diagnostics: &[Diagnostic],
    color: ColorChoice,
    what: &str,
) -> ExitStatus {
    if format == Format::Text {
        report(sources, diagnostics, color, what);
        ExitStatus::Success
    } else {
        print_document(format, &[Batch { sources, diagnostics }])
    }
}
