//! The `segc` binary: everything is in the library's `cli` module.
#![forbid(unsafe_code)]

use clap::Parser;

// segc allocates many small, short-lived values (YAML nodes, names, spans) from
// several threads; mimalloc keeps that fast and the heap compact where the system
// allocator fragments (docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = segc::cli::Cli::parse();
    std::process::exit(segc::cli::run(cli) as i32);
}
