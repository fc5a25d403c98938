//! `segc build FILE [--target NAME] (-o DIR [--check] | --stdout)`

use super::{compile_policy, lower_policy, usage_error, BuildArgs, ExitStatus};
use crate::backends;
use crate::diag::ColorChoice;
use crate::emit;

pub fn run(args: &BuildArgs, color: ColorChoice) -> ExitStatus {
    let name = args.file.display().to_string();
    let compiled = match compile_policy(&args.file, color) {
        Ok(compiled) => compiled,
        Err(status) => return status,
    };
    let policy = match lower_policy(&compiled, args.target.as_deref(), color, &name) {
        Ok(policy) => policy,
        Err(status) => return status,
    };
    // The policy is self-contained: free the sources and the checked model before
    // the backends allocate their objects.
    drop(compiled);
    let objects = backends::emit_all(&policy);
    let source_name = file_name(&args.file);
    if args.stdout {
        return match emit::stream(&source_name, &policy.target.name, &objects) {
            Ok(text) => {
                print!("{text}");
                ExitStatus::Success
            }
            Err(e) => usage_error(format_args!("internal error: {e}")),
        };
    }
    let Some(dir) = &args.out else {
        return usage_error("give an output directory with -o DIR, or --stdout");
    };
    let files = match emit::render(&source_name, &policy.target.name, &objects) {
        Ok(files) => files,
        Err(e) => return usage_error(format_args!("internal error: {e}")),
    };
    drop(objects);
    if args.check {
        return match emit::check(dir, &files) {
            Ok(changes) if changes.is_empty() => ExitStatus::Success,
            Ok(changes) => {
                for change in &changes {
                    println!("{}: {}", change.kind.as_str(), dir.join(&change.path).display());
                }
                eprintln!("{} is out of date: run `segc build {name} -o {}`", dir.display(), dir.display());
                ExitStatus::Failure
            }
            Err(e) => usage_error(e),
        };
    }
    match emit::write(dir, &files) {
        Ok(report) => {
            eprintln!(
                "{}: {} objects for target `{}`: {} written, {} removed, {} unchanged",
                dir.display(),
                files.len(),
                policy.target.name,
                report.written.len(),
                report.removed.len(),
                report.unchanged
            );
            ExitStatus::Success
        }
        Err(e) => usage_error(e),
    }
}

/// The source as named in generated headers: the file name only, so the output does
/// not depend on where the build ran.
fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}
