//! The time of each phase of one `segc build` followed by one `segc verify`, in a
//! fresh process, as the CLI runs them.
//!
//! ```sh
//! cargo run --release --example phase_times -- big.seg --target edge --out /dev/shm/out
//! ```
//!
//! Prints one `PHASE WALL USER SYSTEM PEAK` line per phase (milliseconds: the wall
//! clock, then the CPU time of all threads in user and in kernel mode; then the peak
//! resident memory so far, in MiB): parse, check, lower, each backend of the target,
//! render, write (into `--out`, which must not exist yet) and verify (reading the
//! files back, as `segc verify` does). The kernel's share is mostly zeroing fresh
//! memory and file system calls, and is where a noisy machine varies most between
//! runs. The divan benchmark (`benches/phases.rs`) times phases again and again in
//! one long-lived process, whose heap also holds every size's fixtures; this times
//! each phase once, on a fresh heap, which is how segc runs in CI.
//! `benches/doubling.sh` runs it at two sizes and compares.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use segc::backends::Backend;
use segc::{check, driver, emit, resolve, verify};

#[path = "../src/allocator.rs"]
mod allocator;

#[derive(Debug, Parser)]
#[command(about = "Time each phase of building and verifying a policy")]
struct Args {
    /// The root `.seg` file.
    policy: PathBuf,
    #[arg(long)]
    target: String,
    /// Where to write the build; must not exist yet.
    #[arg(long)]
    out: PathBuf,
}

/// Times phases one after the other: the wall clock, and the CPU time of the process
/// in user and kernel mode (all threads).
struct Laps {
    wall: Instant,
    user: f64,
    system: f64,
}

impl Laps {
    fn start() -> Laps {
        let Usage { user, system, .. } = usage();
        Laps { wall: Instant::now(), user, system }
    }

    /// Prints the times since the previous lap under `phase`, in milliseconds.
    fn lap(&mut self, phase: &str) {
        let wall = self.wall.elapsed().as_secs_f64() * 1000.0;
        let Usage { user, system, peak_mib } = usage();
        println!("{phase} {wall:.2} {:.2} {:.2} {peak_mib}", user - self.user, system - self.system);
        *self = Laps::start();
    }
}

/// What the process has used so far.
struct Usage {
    /// CPU time in user mode, milliseconds.
    user: f64,
    /// CPU time in kernel mode, milliseconds.
    system: f64,
    /// Peak resident memory, MiB.
    peak_mib: i64,
}

fn usage() -> Usage {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    // Linux reports the peak in KiB.
    Usage { user: ms(usage.ru_utime), system: ms(usage.ru_stime), peak_mib: usage.ru_maxrss / 1024 }
}

fn main() -> ExitCode {
    allocator::keep_freed_memory();
    let args = Args::parse();
    if args.out.exists() {
        eprintln!("error: {} exists; give a new directory", args.out.display());
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut laps = Laps::start();
    let loaded = resolve::load(&args.policy).map_err(|e| format!("cannot read {}: {e}", args.policy.display()))?;
    laps.lap("parse");
    let (model, diagnostics, sources) = check::check(loaded);
    laps.lap("check");
    let compiled = driver::Compiled { sources, diagnostics, model, root_name: args.policy.display().to_string() };
    if compiled.has_errors() {
        return Err("the policy has errors; run `segc check` on it".into());
    }
    let policy = driver::lower(&compiled, Some(&args.target)).map_err(|e| e.to_string())?;
    laps.lap("lower");
    let mut objects = Vec::new();
    for backend in Backend::for_target(&policy) {
        objects.extend(backend.emit(&policy));
        laps.lap(&format!("backend-{backend}"));
    }
    let files = emit::render(&compiled.root_name, &args.target, &objects)?;
    laps.lap("render");
    emit::write(&args.out, &files).map_err(|e| e.to_string())?;
    laps.lap("write");
    // As the CLI: `segc verify` starts from the policy and the directory alone.
    drop((files, objects));
    let mut sources = compiled.sources;
    drop(compiled.model);
    laps = Laps::start();
    let found = verify::verify(&mut sources, &args.out, &policy).map_err(|e| e.to_string())?;
    laps.lap("verify");
    match found.iter().filter(|d| d.is_error()).count() {
        0 => Ok(()),
        n => Err(format!("verify found {n} errors in the build")),
    }
}
