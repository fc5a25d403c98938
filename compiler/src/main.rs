//! The `segc` binary: everything is in the library's `cli` module.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = segc::cli::Cli::parse();
    std::process::exit(segc::cli::run(cli) as i32);
}
