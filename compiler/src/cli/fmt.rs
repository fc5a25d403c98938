//! `segc fmt FILE...`, `segc fmt -`, `segc fmt --check FILE...`

use std::io::{Read, Write};
use std::path::Path;

use super::{report, usage_error, ExitStatus, FmtArgs};
use crate::diag::{self, ColorChoice, Origin, SourceMap};
use crate::syntax;

pub fn run(args: &FmtArgs, color: ColorChoice) -> ExitStatus {
    let mut status = ExitStatus::Success;
    for file in &args.files {
        status = status.worst(if file == Path::new("-") { stdin(args, color) } else { one_file(file, args, color) });
    }
    status
}

/// The canonical text, or the diagnostics that prevent formatting.
fn format_text(name: &str, origin: Origin, bytes: Vec<u8>, color: ColorChoice) -> Option<String> {
    let mut sources = SourceMap::new();
    let text = match syntax::decode(bytes) {
        Ok(text) => text,
        Err(e) => {
            let id = sources.add(name, origin, e.shown_text());
            report(&sources, &[e.to_diagnostic(id)], color, name);
            return None;
        }
    };
    let id = sources.add(name, origin, text);
    let (file, mut diagnostics) = syntax::parse(&sources, id);
    if !diagnostics.is_empty() {
        diag::sort(&mut diagnostics);
        report(&sources, &diagnostics, color, name);
        return None;
    }
    Some(syntax::format::format(&file, sources.get(id)))
}

fn stdin(args: &FmtArgs, color: ColorChoice) -> ExitStatus {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        return usage_error(format_args!("cannot read standard input: {e}"));
    }
    let original = bytes.clone();
    let Some(formatted) = format_text("<stdin>", Origin::Stdin, bytes, color) else {
        return ExitStatus::Failure;
    };
    if args.check {
        if original != formatted.as_bytes() {
            println!("<stdin>");
            return ExitStatus::Failure;
        }
        return ExitStatus::Success;
    }
    match std::io::stdout().write_all(formatted.as_bytes()) {
        Ok(()) => ExitStatus::Success,
        Err(e) => usage_error(format_args!("cannot write standard output: {e}")),
    }
}

fn one_file(path: &Path, args: &FmtArgs, color: ColorChoice) -> ExitStatus {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return usage_error(format_args!("cannot read {}: {e}", path.display())),
    };
    let original = bytes.clone();
    let name = path.display().to_string();
    let Some(formatted) = format_text(&name, Origin::User(path.to_path_buf()), bytes, color) else {
        return ExitStatus::Failure;
    };
    if original == formatted.as_bytes() {
        return ExitStatus::Success;
    }
    if args.check {
        println!("{name}");
        return ExitStatus::Failure;
    }
    match write_atomically(path, &formatted) {
        Ok(()) => ExitStatus::Success,
        Err(e) => usage_error(format_args!("cannot write {name}: {e}")),
    }
}

/// Replaces the file through a temporary file in the same directory, so an
/// interrupted `fmt` never leaves half a policy behind.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(text.as_bytes())?;
    if let Ok(metadata) = std::fs::metadata(path) {
        temp.as_file().set_permissions(metadata.permissions())?;
    }
    temp.persist(path).map(|_| ()).map_err(|e| e.error)
}
