//! The command line: parses arguments, runs the library, renders diagnostics, and maps
//! outcomes to exit codes.
//!
//! Takes: arguments and the file system.
//! Gives: output on stdout/stderr and an [`ExitStatus`].
//! Must not: contain compiler logic: every decision about a policy belongs to the
//! library phases; this module only wires them to the terminal.

mod build;
mod check;
mod completions;
mod diff;
mod explain;
mod fmt;
mod graph;
mod man;
mod verify;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::{self, export, ColorChoice, Diagnostic, SourceMap};

/// segc: one `.seg` policy to consistent ingress, NetworkPolicy and mesh policy.
#[derive(Debug, Parser)]
#[command(name = "segc", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policies and report every error and warning.
    Check(CheckArgs),
    /// Rewrite policies in the canonical form.
    Fmt(FmtArgs),
    /// Compile a policy to Kubernetes manifests.
    Build(BuildArgs),
    /// Prove that the manifests in a directory allow exactly what the policy declares.
    Verify(VerifyArgs),
    /// Explain why one connection is allowed or denied, in the policy and in every layer.
    Explain(ExplainArgs),
    /// Draw the policy as a graph (Mermaid or Graphviz dot).
    Graph(GraphArgs),
    /// Print a shell completion script to standard output.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of segc or of one command to standard output.
    Man(ManArgs),
    /// Compare two policies (or a policy with its git history) and flag what widens access.
    Diff(diff::DiffArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The `.seg` files to check (each with its imports).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// How to report diagnostics: text on stderr, or a JSON or SARIF document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The `.seg` files to format in place; `-` reads standard input and writes the
    /// result to standard output.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 naming every file that is not in canonical form.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The root `.seg` file.
    pub file: PathBuf,
    /// The target to build (required when the policy declares several).
    #[arg(long)]
    pub target: Option<String>,
    /// The output directory: one file per object.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        required_unless_present = "stdout",
        conflicts_with = "stdout"
    )]
    pub out: Option<PathBuf>,
    /// Print one multi-document YAML stream instead of writing files.
    #[arg(long)]
    pub stdout: bool,
    /// Write nothing; exit 1 listing every missing, stale or extra generated file in DIR.
    #[arg(long, requires = "out")]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The root `.seg` file.
    pub file: PathBuf,
    /// The directory of manifests to read (any layout; files segc did not write too).
    pub dir: PathBuf,
    /// The target the manifests are for (required when the policy declares several).
    #[arg(long)]
    pub target: Option<String>,
    /// How to report diagnostics: text on stderr, or a JSON or SARIF document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How `check` and `verify` report diagnostics (docs/diagnostics.md, "Machine-readable
/// output").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rendered for people, on stderr.
    Text,
    /// segc's JSON document (schema version 1), on stdout.
    Json,
    /// A SARIF 2.1.0 log, on stdout.
    Sarif,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The root `.seg` file.
    pub file: PathBuf,
    /// The source segment, as the policy names it (`web`, `std.prometheus`).
    pub source: String,
    /// The destination segment or external, optionally with a port name or number
    /// (`api:http`, `db:5432`); without a port, every port of the destination.
    #[arg(value_name = "DESTINATION[:PORT]")]
    pub destination: String,
    /// The target whose layers to ask (required when the policy declares several).
    #[arg(long)]
    pub target: Option<String>,
    /// Ask about an HTTP request with this path (method `GET` unless given).
    #[arg(long)]
    pub path: Option<String>,
    /// Ask about an HTTP request with this method (path `/` unless given).
    #[arg(long)]
    pub method: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The root `.seg` file.
    pub file: PathBuf,
    /// Draw the lowered policy of this target (merged edges, the ingress controller);
    /// without it, the policy as declared.
    #[arg(long)]
    pub target: Option<String>,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: crate::graph::Format,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (`check`, `build`, ...); without it, the page of
    /// segc itself, which lists every command.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// How a run ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything is fine (warnings allowed unless denied).
    Success = 0,
    /// The input has errors, or `--check` found differences.
    Failure = 1,
    /// Usage or I/O error: segc could not do what was asked.
    Error = 2,
}

impl ExitStatus {
    fn worst(self, other: ExitStatus) -> ExitStatus {
        if (other as i32) > (self as i32) {
            other
        } else {
            self
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitStatus {
    let color = color_choice(cli.color);
    match cli.command {
        Command::Check(args) => check::run(&args, color),
        Command::Fmt(args) => fmt::run(&args, color),
        Command::Build(args) => build::run(&args, color),
        Command::Verify(args) => verify::run(&args, color),
        Command::Explain(args) => explain::run(&args, color),
        Command::Graph(args) => graph::run(&args, color),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Diff(args) => diff::run(&args, cli.color, color),
    }
}

fn color_choice(color: Color) -> ColorChoice {
    match color {
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
        Color::Auto => {
            if std::env::var_os("NO_COLOR").is_some() || !std::io::stderr().is_terminal() {
                ColorChoice::Never
            } else {
                ColorChoice::Always
            }
        }
    }
}

/// Prints diagnostics to stderr and a one-line summary when there are any.
fn report(sources: &SourceMap, diagnostics: &[Diagnostic], color: ColorChoice, what: &str) {
    if diagnostics.is_empty() {
        return;
    }
    eprint!("{}", diag::render_all(sources, diagnostics, color));
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    eprintln!("{what}: {}, {}", plural(errors, "error"), plural(warnings, "warning"));
}

/// Prints the diagnostics of every batch as one document on stdout, for `--format json`
/// or `sarif` (nothing for `text`, which [`report`] prints as it goes). A failed write
/// (a closed pipe) is an I/O error.
fn print_document(format: Format, batches: &[export::Batch<'_>]) -> ExitStatus {
    let document = match format {
        Format::Text => return ExitStatus::Success,
        Format::Json => export::to_json_all(batches),
        Format::Sarif => export::to_sarif_all(batches, env!("CARGO_PKG_VERSION")),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(document.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitStatus::Success,
        Err(e) => usage_error(format_args!("cannot write to standard output: {e}")),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Compiles a root file and prints its diagnostics (warnings included, on stderr).
/// `Err` holds the exit status when the run cannot go on: the file cannot be read (2)
/// or has errors (1).
fn compile_policy(file: &std::path::Path, color: ColorChoice) -> Result<crate::driver::Compiled, ExitStatus> {
    let name = file.display().to_string();
    let compiled = crate::driver::compile(file).map_err(|e| usage_error(format_args!("cannot read {name}: {e}")))?;
    report(&compiled.sources, &compiled.diagnostics, color, &name);
    if compiled.has_errors() {
        return Err(ExitStatus::Failure);
    }
    Ok(compiled)
}

/// Lowers a compiled policy for a target, the same way for every command: a policy
/// without a target, or with errors only a target reveals, fails (1); a target that
/// was not named when several exist, or does not exist, is a usage error (2).
fn lower_policy(
    compiled: &crate::driver::Compiled,
    target: Option<&str>,
    color: ColorChoice,
    name: &str,
) -> Result<crate::ir::Policy, ExitStatus> {
    use crate::driver::LowerError;
    crate::driver::lower(compiled, target).map_err(|e| match e {
        LowerError::NoTarget => {
            eprintln!("error: {name}: {e}");
            ExitStatus::Failure
        }
        LowerError::Diagnostics(diagnostics) => {
            report(&compiled.sources, &diagnostics, color, name);
            ExitStatus::Failure
        }
        LowerError::TargetRequired { .. } | LowerError::UnknownTarget { .. } => {
            usage_error(format_args!("{name}: {e}"))
        }
    })
}

/// An error that is not about the policy (a file that cannot be read, a bad argument).
fn usage_error(message: impl std::fmt::Display) -> ExitStatus {
    eprintln!("error: {message}");
    ExitStatus::Error
}
