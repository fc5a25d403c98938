//! How long this machine takes to hand a process fresh memory: allocates N MiB (with
//! segc's allocator) and writes one byte per 4 KiB page, timing each 100 MiB.
//!
//! ```sh
//! cargo run --release --example first_touch -- 400
//! ```
//!
//! On a dedicated machine this is the kernel zeroing pages, a fraction of a millisecond
//! per MiB. On a virtual machine whose host takes back the memory its guests free, a
//! page the guest had freed must first be supplied by the host again, which can cost
//! ten times as much or more; docs/performance.md ("Memory the host takes back")
//! explains how that shows in segc's timings.

use std::time::Instant;

#[path = "../src/allocator.rs"]
mod allocator;

const MIB: usize = 1 << 20;
const STEP_MIB: usize = 100;

fn main() {
    allocator::keep_freed_memory();
    let mib: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 400,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: first_touch [MIB]");
            std::process::exit(2);
        }
    };
    // Zeroed memory comes straight from the OS, untouched until written below.
    let mut memory = vec![0u8; mib * MIB];
    let total = Instant::now();
    for (i, chunk) in memory.chunks_mut(STEP_MIB * MIB).enumerate() {
        let step = Instant::now();
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        let end = i * STEP_MIB + chunk.len() / MIB;
        println!("{:>5}-{end:<5} MiB {:8.1} ms", i * STEP_MIB, step.elapsed().as_secs_f64() * 1000.0);
    }
    println!("total {mib} MiB {:8.1} ms", total.elapsed().as_secs_f64() * 1000.0);
    // Keeps the writes from being optimised away.
    std::hint::black_box(&memory);
}
