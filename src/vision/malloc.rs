//! Large buffers go back to the system when freed.
//!
//! A photo's analysis allocates and frees buffers of megabytes: the decoded image (36 MB at
//! 12 MP), the detector's pyramid tensors, the proposal crops. glibc serves a block above its
//! mmap threshold with its own mapping and unmaps it on free, but it raises that threshold
//! to the size of every mapped block freed (up to 32 MB). After the first large photo the
//! next buffers come from the heap arenas, where freed memory stays resident and fragments
//! across threads: the same 12 MP photo peaked at 370 to 477 MiB from run to run.
//!
//! The threshold is fixed at 16 MiB: the large photos' big tensors get mappings of their own
//! (that 12 MP photo: 311 to 353 MiB), while a portrait's tensors, all smaller, are reused
//! from the heap. Each mapping is paid again in page faults every time it is allocated, so
//! lower thresholds trade time for memory: 1 MiB made a portrait 40% slower (docs/detection.md,
//! "Memory", has the measurements).

/// Blocks from this size up get their own mapping, returned to the system when freed.
const MMAP_THRESHOLD: libc::c_int = 16 << 20;

/// Fix glibc's mmap threshold for this process (once is enough; later calls change nothing).
/// Elsewhere than glibc this does nothing.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it takes no pointers, and glibc
    // serialises it with allocation. It returns 0 when the value is refused, which leaves the
    // default behaviour: nothing to handle.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
