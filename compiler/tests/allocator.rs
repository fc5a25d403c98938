//! The binary's allocator set-up (`src/allocator.rs`) names a mimalloc option by its
//! number, which the Rust bindings do not export: this checks that the number is the
//! purge delay's, and that setting it takes.

use std::ffi::c_long;

#[path = "../src/allocator.rs"]
mod allocator;

/// mimalloc's default purge delay in milliseconds: 1000 in v3, 10 in v2. No option
/// next to it in the enum defaults to either (they are 0, 1, or -1).
const DEFAULT_PURGE_DELAYS: [c_long; 2] = [1000, 10];

fn purge_delay() -> c_long {
    // SAFETY: reads one integer option.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_get(allocator::PURGE_DELAY)
    }
}

#[test]
fn keeping_freed_memory_sets_the_purge_delay_to_never() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        assert!(DEFAULT_PURGE_DELAYS.contains(&purge_delay()), "allocator::PURGE_DELAY is not the purge delay");
    }
    allocator::keep_freed_memory();
    assert_eq!(purge_delay(), -1);
}
