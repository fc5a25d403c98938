//! The `segc` binary: everything is in the library's `cli` module.
#![deny(unsafe_code)]

use clap::Parser;

mod allocator;

fn main() {
    allocator::keep_freed_memory();
    let cli = segc::cli::Cli::parse();
    std::process::exit(segc::cli::run(cli) as i32);
}
