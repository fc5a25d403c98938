//! The global allocator of the `segc` binary, set up the same way in the examples and
//! benchmarks that time it (they include this file), so their figures are the CLI's.
//!
//! segc allocates many small, short-lived values (YAML nodes, names, spans) from
//! several threads; mimalloc keeps that fast and the heap compact where the system
//! allocator fragments (docs/performance.md has the figures).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc's `mi_option_e` (`mimalloc.h`, v2 and v3 alike),
/// which the Rust bindings do not name.
pub const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse until the process exits, rather than handing it back
/// to the OS a second after it is freed (mimalloc's default). segc runs for seconds:
/// memory handed back between phases was only faulted in again, zeroed page by page,
/// and on virtual machines that return freed memory to the host that costs
/// milliseconds per megabyte (docs/performance.md, "Memory the host takes back").
pub fn keep_freed_memory() {
    // SAFETY: sets one integer option; mimalloc reads it at each purge decision, so
    // setting it after allocation has started is supported.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
}
