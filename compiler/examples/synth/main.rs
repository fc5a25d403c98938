//! A generator of large, valid, realistic policies for benchmarks and scale tests.
//!
//! ```sh
//! cargo run --release --example synth -- --segments 10000 --namespaces 100 \
//!     --edges-per-segment 5 --exposures 1000 --seed 1 > big.seg
//! ```
//!
//! What the policy holds is described in `policy.rs`, which the benchmarks share.

use clap::Parser;

mod policy;

#[derive(Debug, Parser)]
#[command(about = "Write a valid, realistic .seg policy of the given size to stdout")]
struct Args {
    #[arg(long, default_value_t = 1000)]
    segments: usize,
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    #[arg(long, default_value_t = 5)]
    edges_per_segment: usize,
    #[arg(long, default_value_t = 100)]
    exposures: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    let params = policy::Params {
        segments: args.segments,
        namespaces: args.namespaces,
        edges_per_segment: args.edges_per_segment,
        exposures: args.exposures,
        seed: args.seed,
    };
    print!("{}", policy::generate(&params));
}
