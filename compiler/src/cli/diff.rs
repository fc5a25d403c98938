//! `segc diff OLD NEW` and `segc diff --git REV FILE`
//!
//! Compiles both sides, compares their checked models with [`crate::diff::diff`] and
//! prints the changes. With `--git`, the old side is FILE's directory as it was at REV:
//! every regular file under that directory (the project root: imports cannot leave it)
//! is written from git into a temporary directory and the copy of FILE is compiled
//! there, so imports are read from the same revision.
//!
//! Exit status: 0 nothing changed, 1 something changed, 2 usage, I/O or git errors, or
//! a side with errors (a policy with errors has no meaning to compare).

use std::io::{IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{Args, ValueEnum};

use super::{usage_error, Color, ExitStatus};
use crate::diag::{self, ColorChoice};
use crate::diff::{self, render};
use crate::driver::{self, Compiled};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// OLD and NEW root files; with `--git REV`, the one FILE to compare with its
    /// version at REV.
    #[arg(required = true, num_args = 1..=2, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Compare FILE (and its imports) with the same files at this git revision.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,
    /// How to print the changes.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For a terminal (coloured when stdout is one and NO_COLOR is unset).
    Text,
    /// A pull-request comment.
    Markdown,
    /// For tools; the schema is in docs/diff.md.
    Json,
}

/// One side, compiled, with the name to call it in messages.
struct Side {
    label: String,
    compiled: Compiled,
}

pub fn run(args: &DiffArgs, color: Color, diag_color: ColorChoice) -> ExitStatus {
    // The temporary checkout must outlive both compilations' diagnostics.
    let mut checkout_dir: Option<tempfile::TempDir> = None;
    let (old, new) = match (&args.git, args.files.as_slice()) {
        (None, [old, new]) => (compile(old, old.display().to_string()), compile(new, new.display().to_string())),
        (Some(rev), [file]) => {
            let old = match checkout(rev, file) {
                Ok((dir, root, label)) => {
                    checkout_dir = Some(dir);
                    compile(&root, label)
                }
                Err(message) => Err(usage_error(message)),
            };
            (old, compile(file, file.display().to_string()))
        }
        (None, _) => return usage_error("`segc diff` takes two files, OLD and NEW (or `--git REV FILE`)"),
        (Some(_), _) => return usage_error("`segc diff --git REV` takes one file"),
    };
    let (old, new) = match (old, new) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(status), _) | (_, Err(status)) => return status,
    };
    for (side, which) in [(&old, "old"), (&new, "new")] {
        if side.compiled.has_errors() {
            let errors: Vec<_> = side.compiled.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
            let mut rendered = diag::render_all(&side.compiled.sources, &errors, diag_color);
            if let (Some(dir), Some(rev), "old") = (&checkout_dir, &args.git, which) {
                // Show the checkout's files by their revision, not their temporary path.
                rendered = rendered.replace(&format!("{}/", dir.path().display()), &format!("{rev}:"));
            }
            eprint!("{rendered}");
            return usage_error(format_args!("the {which} policy `{}` has errors; fix them to compare it", side.label));
        }
    }
    let changes = diff::diff(&old.compiled.model, &new.compiled.model);
    let out = match args.format {
        DiffFormat::Text => render::text(&changes, stdout_color(color)),
        DiffFormat::Markdown => render::markdown(&changes),
        DiffFormat::Json => render::json(&changes),
    };
    print!("{out}");
    if changes.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

fn compile(path: &Path, label: String) -> Result<Side, ExitStatus> {
    match driver::compile(path) {
        Ok(compiled) => Ok(Side { label, compiled }),
        Err(e) => Err(usage_error(format_args!("cannot read {label}: {e}"))),
    }
}

/// Colour the text report: `--color always`, or `auto` with stdout a terminal and
/// NO_COLOR unset.
fn stdout_color(color: Color) -> bool {
    match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
    }
}

/// Runs git in `dir`; its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("git {}: {}", args.join(" "), stderr.trim()));
    }
    Ok(output.stdout)
}

/// Writes FILE's directory as it was at `rev` into a temporary directory. Gives the
/// directory (deleted when dropped), the copy of FILE in it, and `REV:PATH` to call it.
fn checkout(rev: &str, file: &Path) -> Result<(tempfile::TempDir, PathBuf, String), String> {
    let file_name = file.file_name().ok_or_else(|| format!("{} is not a file", file.display()))?;
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = parent.canonicalize().map_err(|e| format!("cannot read {}: {e}", parent.display()))?;
    let top = String::from_utf8(git(&dir, &["rev-parse", "--show-toplevel"])?)
        .map_err(|_| "git printed a repository path that is not UTF-8".to_string())?;
    let top = Path::new(top.trim()).canonicalize().map_err(|e| format!("cannot read the repository root: {e}"))?;
    let relative_dir =
        dir.strip_prefix(&top).map_err(|_| format!("{} is not inside {}", dir.display(), top.display()))?;
    let to_git = |p: &Path| p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>();
    let dir_spec = to_git(relative_dir).join("/");
    let mut file_parts = to_git(relative_dir);
    file_parts.push(file_name.to_string_lossy().into_owned());
    let file_spec = file_parts.join("/");
    let label = format!("{rev}:{file_spec}");

    // `rev^{commit}` rejects trees and blobs with git's own message.
    git(&top, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{rev}^{{commit}}")])
        .map_err(|_| format!("`{rev}` is not a git revision in {}", top.display()))?;
    let mut ls = vec!["ls-tree", "-r", "-z", "--full-tree", rev];
    if !dir_spec.is_empty() {
        ls.extend(["--", dir_spec.as_str()]);
    }
    let listing = git(&top, &ls)?;
    let mut blobs: Vec<(String, String)> = Vec::new();
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let Ok(entry) = std::str::from_utf8(entry) else { continue };
        let Some((meta, path)) = entry.split_once('\t') else { continue };
        let fields: Vec<&str> = meta.split(' ').collect();
        // Regular files only: symlinks (120000) and submodules are not followed.
        if let ["100644" | "100755", "blob", object] = fields.as_slice() {
            blobs.push((object.to_string(), path.to_string()));
        }
    }
    if !blobs.iter().any(|(_, p)| *p == file_spec) {
        return Err(format!("`{file_spec}` does not exist at `{rev}`"));
    }
    let temp = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let contents = cat_blobs(&top, blobs.iter().map(|(object, _)| object.as_str()).collect())?;
    for ((_, path), bytes) in blobs.iter().zip(contents) {
        let relative = Path::new(path);
        if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        let target = temp.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot write {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, bytes).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    let root = temp.path().join(file_spec);
    Ok((temp, root, label))
}

/// The contents of `objects`, in order, through one `git cat-file --batch`.
fn cat_blobs(top: &Path, objects: Vec<&str>) -> Result<Vec<Vec<u8>>, String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("git cat-file has no stdin")?;
    let request: String = objects.iter().map(|o| format!("{o}\n")).collect();
    // Write from another thread: git answers while it reads, and a full pipe on either
    // side would otherwise block both processes.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut output = Vec::new();
    child.stdout.take().ok_or("git cat-file has no stdout")?.read_to_end(&mut output).map_err(|e| e.to_string())?;
    let written = writer.join().map_err(|_| "writing to git cat-file failed".to_string())?;
    written.map_err(|e| format!("writing to git cat-file: {e}"))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("git cat-file failed".to_string());
    }
    // Each answer is `OBJECT blob SIZE\n`, SIZE bytes, then `\n`.
    let mut out = Vec::with_capacity(objects.len());
    let mut rest = output.as_slice();
    for object in objects {
        let newline = rest.iter().position(|b| *b == b'\n').ok_or("git cat-file answered too little")?;
        let header = String::from_utf8_lossy(&rest[..newline]).into_owned();
        let size: usize = match header.split(' ').collect::<Vec<_>>().as_slice() {
            [o, "blob", size] if *o == object => size.parse().map_err(|_| format!("git cat-file: `{header}`"))?,
            _ => return Err(format!("git cat-file: unexpected `{header}`")),
        };
        let body = rest.get(newline + 1..newline + 1 + size).ok_or("git cat-file answered too little")?;
        out.push(body.to_vec());
        rest = rest.get(newline + 2 + size..).unwrap_or_default();
    }
    Ok(out)
}
