//! The distance kernel, once per instruction set, chosen at run time.
//!
//! The release binary is built for baseline x86-64 (SSE2) so that it runs on any server; LLVM
//! may then use AVX2 or AVX-512 only inside functions marked `#[target_feature]`, and a program
//! may call those only after checking that the CPU has the features. [`run`] does that check
//! (once, cached) and calls the widest kernel available:
//!
//! - [`avx512`]: `core::arch` AVX-512F intrinsics, 8 queries x 3 panels per block;
//! - [`avx2`]: AVX2 + FMA intrinsics, 6 queries x 1 panel;
//! - [`portable`]: plain array code that LLVM vectorises for the baseline (SSE2, NEON).
//!
//! Each kernel computes the dot products of a block of queries with a block of gallery panels
//! in registers, turns them into `|q|^2 + |g|^2 - 2 q.g`, and compares them with each query's
//! current list bound, giving a 16-bit mask per (query, panel); rows in the mask go to
//! [`Scan::offer`].
//!
//! Why intrinsics rather than auto-vectorised arrays for the wide kernels (measured on this
//! Xeon, 40 queries, L2-resident gallery, one core): the array form reached 190-215 GFLOP/s for
//! some block shapes (4x4, 6x4 panels) but fell to 6-7 GFLOP/s for others (8x3, 8x2, 1x8) and
//! for odd AVX2 shapes, depending on LLVM's unrolling and SLP decisions; the intrinsic form
//! gives 195-220 GFLOP/s for every shape tried, close to the core's peak of two 16-lane FMAs per
//! cycle. The intrinsics used are all safe in a `#[target_feature]` function (loads go through
//! `_mm512_set_ps` on an array reference, which LLVM turns into one vector load, and the rare
//! way back to an array goes through lane extracts).
#![allow(unsafe_code)]
// Why `unsafe` is allowed in this file (and not in its submodules, which deny it): calling a
// `#[target_feature]` function from code compiled without those features is `unsafe`, since
// running AVX-512 instructions on a CPU without them is undefined behaviour. Each such call in
// `run` is made only after `is_x86_feature_detected!` has confirmed every feature that the
// callee enables. There are no raw pointers and no other unsafe operations.

use std::sync::OnceLock;

use super::search::Scan;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

/// Instruction set of the search kernel, from the portable fallback to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Compiled for the target's baseline (SSE2 on x86-64, NEON on AArch64).
    Portable,
    /// x86-64 with AVX2 and FMA: 8-lane vectors, 16 registers.
    Avx2,
    /// x86-64 with AVX-512F: 16-lane vectors, 32 registers.
    Avx512,
}

/// The widest instruction set this CPU supports (detected once).
pub fn detected_isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512f") && has!("avx2") && has!("fma") {
        Isa::Avx512
    } else if has!("avx2") && has!("fma") {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Portable
}

/// Run the kernel over `scan` with `wanted`, lowered to what the CPU supports.
pub(super) fn run(wanted: Isa, scan: &mut Scan<'_, '_>) {
    match wanted.min(detected_isa()) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detected_isa()` is at least `Avx512` only if avx512f, avx2 and fma were
        // detected, which is every feature `avx512::scan` enables.
        Isa::Avx512 => unsafe { avx512::scan(scan) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detected_isa()` is at least `Avx2` only if avx2 and fma were detected, which
        // is every feature `avx2::scan` enables.
        Isa::Avx2 => unsafe { avx2::scan(scan) },
        _ => portable::scan(scan),
    }
}

/// Defines `scan` (and its two helpers) over a module's `block::<QB, GB>` function,
/// which returns, per (query, panel), a mask of the rows that may enter that query's list and
/// their approximate squared distances as a vector (turned into an array by the module's
/// `to_array` only when the mask is not empty).
/// `$qb` queries and `$gb` panels per block; remainders use smaller blocks, each its own fully
/// unrolled instance. The `$attr`s (the target features) apply to all three functions.
macro_rules! define_scan {
    ($(#[$attr:meta])* qb = $qb:literal, gb = $gb:literal) => {
        /// Panel groups outside, query groups inside: each group of panels comes from memory
        /// once and is used by every query while it is in L1, so the memory stream overlaps
        /// with the arithmetic instead of preceding it.
        $(#[$attr])*
        pub(super) fn scan(scan: &mut $crate::matching::search::Scan<'_, '_>) {
            const { assert!($qb >= 1 && $qb <= 8 && $gb >= 1) };
            let range = scan.panel_range.clone();
            let mut p = range.start;
            while range.end - p >= $gb {
                all_queries::<$gb>(scan, p);
                p += $gb;
            }
            while p < range.end {
                all_queries::<1>(scan, p);
                p += 1;
            }
        }

        /// Every query against panels `p..p + GB`, `$qb` queries at a time.
        $(#[$attr])*
        #[inline]
        fn all_queries<const GB: usize>(
            scan: &mut $crate::matching::search::Scan<'_, '_>,
            p: usize,
        ) {
            let nq = scan.queries.len();
            let mut q0 = 0;
            while q0 < nq {
                // The remainder group uses a smaller block: each size is its own fully
                // unrolled instance.
                q0 += match (nq - q0).min($qb) {
                    8.. => one_block::<$qb, GB>(scan, q0, p),
                    7 => one_block::<7, GB>(scan, q0, p),
                    6 => one_block::<6, GB>(scan, q0, p),
                    5 => one_block::<5, GB>(scan, q0, p),
                    4 => one_block::<4, GB>(scan, q0, p),
                    3 => one_block::<3, GB>(scan, q0, p),
                    2 => one_block::<2, GB>(scan, q0, p),
                    _ => one_block::<1, GB>(scan, q0, p),
                };
            }
        }

        /// Queries `q0..q0 + QB` against panels `p..p + GB`; returns `QB`.
        $(#[$attr])*
        #[inline]
        fn one_block<const QB: usize, const GB: usize>(
            scan: &mut $crate::matching::search::Scan<'_, '_>,
            q0: usize,
            p: usize,
        ) -> usize {
            let (Some(queries), Some(panels), Some(norms)) = (
                scan.queries.get(q0..).and_then(|q| q.first_chunk::<QB>()),
                scan.panels.get(p..).and_then(|x| x.first_chunk::<GB>()),
                scan.panel_sq_norms.get(p..).and_then(|x| x.first_chunk::<GB>()),
            ) else {
                unreachable!("callers stay within the queries and the panel range");
            };
            let qn: [f32; QB] = std::array::from_fn(|i| scan.query_sq_norms[q0 + i]);
            let bounds: [f32; QB] = std::array::from_fn(|i| scan.sinks[q0 + i].bound());
            // Prefetch the panel group after next, one panel per query block (one line per
            // dimension), so the requests are spread over the arithmetic. A single query block
            // (one face) is a plain stream that the hardware prefetcher follows on its own;
            // prefetching it too measured no faster.
            let block_index = q0 / $qb;
            let ahead = if scan.queries.len() > $qb && block_index < GB {
                let next = p + 2 * GB + block_index;
                scan.panels.get(next..next + 1).unwrap_or_default()
            } else {
                &[]
            };
            let (masks, d2) = block::<QB, GB>(queries, panels, &qn, norms, &bounds, ahead);
            for i in 0..QB {
                for j in 0..GB {
                    if masks[i][j] != 0 {
                        scan.offer(q0 + i, p + j, masks[i][j], &to_array(d2[i][j]));
                    }
                }
            }
            QB
        }
    };
}
use define_scan;
