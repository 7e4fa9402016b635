//! What a photo's analysis allocated goes back to the system: large buffers when freed, the
//! heap's free pages once the process has been quiet for a moment ([`trim_when_idle`]).
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

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Analyses running in this process (see [`analysing`]).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// An analysis ended since the last trim.
static DIRTY: AtomicBool = AtomicBool::new(false);

/// When the last analysis ended, in milliseconds since [`epoch`].
static LAST_END_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

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

/// Marks one photo analysis as running until dropped (see [`trim_when_idle`]).
#[must_use = "the analysis counts as running until the guard is dropped"]
pub fn analysing() -> Analysing {
    RUNNING.fetch_add(1, Ordering::AcqRel);
    Analysing(())
}

/// See [`analysing`].
pub struct Analysing(());

impl Drop for Analysing {
    fn drop(&mut self) {
        LAST_END_MS.store(now_ms(), Ordering::Release);
        DIRTY.store(true, Ordering::Release);
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// From now on, once no analysis has run for `quiet`, give the heap's free pages back to the
/// system (`malloc_trim`): what a photo's smaller buffers left in glibc's arenas would otherwise
/// stay resident while a server waits for the next photo (`scripts/bench-e2e`: 152 MiB at rest
/// after the first mark instead of 321 MiB; docs/detection.md, "Memory"). A burst of photos is not slowed: the
/// heap is trimmed after it, not between its photos (trimming after every photo cost 4-7%).
/// Starts one background thread the first time; later calls do nothing.
pub fn trim_when_idle(quiet: Duration) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        epoch();
        let tick = (quiet / 2).max(Duration::from_millis(100));
        let quiet_ms = u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX);
        let spawned = std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let idle = RUNNING.load(Ordering::Acquire) == 0
                        && now_ms().saturating_sub(LAST_END_MS.load(Ordering::Acquire)) >= quiet_ms;
                    if idle && DIRTY.swap(false, Ordering::AcqRel) {
                        trim();
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("heap trimming not started: {e}");
        }
    });
}

/// Give the heap's free pages back to the system. Elsewhere than glibc this does nothing.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only releases memory glibc holds as free; it
    // locks each arena while it works. Its result (whether anything was released) needs no
    // handling.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
