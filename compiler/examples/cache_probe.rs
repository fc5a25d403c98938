//! How this machine's caches answer reads at the sizes segc's tables reach between
//! 10,000 and 20,000 segments, so that a phase's growth can be told from the
//! machine's.
//!
//! ```sh
//! cargo run --release --example cache_probe
//! ```
//!
//! For each size, prints the time per step of a pointer chase through a random cycle
//! (each read waits for the one before: the latency of the cache level the table
//! fits in), the same with a second thread chasing its own table of that size at the
//! same time (whether the two cores share the level), and the time per read of a
//! million independent random reads (what a loop of lookups pays, the processor
//! overlapping its misses). Uses segc's allocator, so tables sit in the same kind of
//! pages as segc's. docs/performance.md (ninth session) has the figures.

use std::time::Instant;

#[path = "../src/allocator.rs"]
mod allocator;

const KIB: usize = 1 << 10;
const SIZES_KIB: [usize; 8] = [256, 768, 1536, 3072, 5 * 1024, 10 * 1024, 20 * 1024, 40 * 1024];
const CHASE_STEPS: usize = 4_000_000;
const READS: usize = 1_000_000;
const REPEATS: usize = 5;

/// A 64-bit linear congruential generator: enough randomness to defeat prefetching.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

/// `len` slots forming one random cycle: `table[i]` is the slot after `i`.
fn random_cycle(len: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    let mut rng = Lcg(seed);
    for i in (1..len).rev() {
        order.swap(i, rng.next() % (i + 1));
    }
    let mut table = vec![0u32; len];
    for (k, &slot) in order.iter().enumerate() {
        table[slot as usize] = order[(k + 1) % len];
    }
    table
}

fn chase(table: &[u32], steps: usize) -> u32 {
    let mut at = 0u32;
    for _ in 0..steps {
        at = table[at as usize];
    }
    at
}

fn random_reads(table: &[u32], reads: usize) -> u64 {
    let mut rng = Lcg(7);
    (0..reads).map(|_| u64::from(table[rng.next() % table.len()])).sum()
}

/// The fastest of [`REPEATS`] runs of `f`, in nanoseconds per one of `per` steps.
fn fastest(per: usize, mut f: impl FnMut()) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e9 / per as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    allocator::keep_freed_memory();
    println!("| table | chase (ns/step) | chase, two threads (ns/step) | random reads (ns/read) |");
    println!("|---:|---:|---:|---:|");
    for kib in SIZES_KIB {
        let len = kib * KIB / size_of::<u32>();
        let (mine, other) = (random_cycle(len, 1), random_cycle(len, 2));
        // One lap first: the table is faulted in and cached before it is timed.
        std::hint::black_box(chase(&mine, len));
        let alone = fastest(CHASE_STEPS, || {
            std::hint::black_box(chase(&mine, CHASE_STEPS));
        });
        let together = fastest(CHASE_STEPS, || {
            std::thread::scope(|scope| {
                let second = scope.spawn(|| chase(&other, CHASE_STEPS));
                std::hint::black_box(chase(&mine, CHASE_STEPS));
                std::hint::black_box(second.join().expect("the second chase does not panic"));
            });
        });
        let reads = fastest(READS, || {
            std::hint::black_box(random_reads(&mine, READS));
        });
        println!("| {kib} KiB | {alone:.1} | {together:.1} | {reads:.1} |");
    }
}
