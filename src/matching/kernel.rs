//! The distance kernel: dot products of a few queries with a few gallery panels held in
//! registers, then the `|q|^2 + |g|^2 - 2 q.g` epilogue and a vector filter against each
//! query's current top-k bound.
//!
//! Written as plain array arithmetic over [`LANES`] lanes with compile-time block sizes, so that
//! LLVM fully unrolls the block loops and maps each `[f32; LANES]` accumulator to vector
//! registers. The same code is compiled once per instruction set in [`super::simd`]; this module
//! has no `unsafe` and no intrinsics.

use super::DIM;
use super::gallery::{LANES, Panel};
use super::search::Scan;

/// How `a * b + c` is evaluated: fused where the target has FMA, separately where `mul_add`
/// would become a slow library call.
pub(super) trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// One rounding, one instruction (x86 FMA, AArch64 FMLA).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64", target_feature = "fma")),
    allow(dead_code)
)]
pub(super) struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// Multiply then add, for CPUs without FMA.
#[cfg_attr(any(target_arch = "aarch64", target_feature = "fma"), allow(dead_code))]
pub(super) struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

type Lanes = [f32; LANES];

/// `acc[i][j][lane] = queries[i] . row(panels[j], lane)`.
///
/// Per dimension: `GB` vector loads of the gallery, `QB` broadcasts, `QB * GB` multiply-adds
/// into independent accumulators (enough of them to hide the FMA latency).
#[inline(always)]
fn dots<M: MulAdd, const QB: usize, const GB: usize>(
    queries: &[[f32; DIM]; QB],
    panels: &[Panel; GB],
) -> [[Lanes; GB]; QB] {
    let mut acc = [[[0.0f32; LANES]; GB]; QB];
    for d in 0..DIM {
        for (j, panel) in panels.iter().enumerate() {
            let g = &panel.0[d];
            for (i, q) in queries.iter().enumerate() {
                let b = q[d];
                let a = &mut acc[i][j];
                for l in 0..LANES {
                    a[l] = M::mul_add(g[l], b, a[l]);
                }
            }
        }
    }
    acc
}

/// Scan `scan.panel_range` for every query of the scan, `QB` queries and `GB` panels at a time.
#[inline(always)]
pub(super) fn scan<M: MulAdd, const QB: usize, const GB: usize>(scan: &mut Scan<'_>) {
    const { assert!(QB >= 1 && QB <= 8 && GB >= 1) };
    let nq = scan.queries.len();
    let mut q0 = 0;
    while q0 < nq {
        // The remainder group uses a smaller block: each size is its own fully unrolled kernel.
        let step = match (nq - q0).min(QB) {
            8.. => scan_queries::<M, QB, GB>(scan, q0),
            7 => scan_queries::<M, 7, GB>(scan, q0),
            6 => scan_queries::<M, 6, GB>(scan, q0),
            5 => scan_queries::<M, 5, GB>(scan, q0),
            4 => scan_queries::<M, 4, GB>(scan, q0),
            3 => scan_queries::<M, 3, GB>(scan, q0),
            2 => scan_queries::<M, 2, GB>(scan, q0),
            _ => scan_queries::<M, 1, GB>(scan, q0),
        };
        q0 += step;
    }
}

/// One group of `QB` queries against the whole panel range; returns `QB` (0 if out of range).
#[inline(always)]
fn scan_queries<M: MulAdd, const QB: usize, const GB: usize>(
    scan: &mut Scan<'_>,
    q0: usize,
) -> usize {
    let Some(queries) = scan.queries.get(q0..).and_then(|q| q.first_chunk::<QB>()) else {
        return QB.max(1);
    };
    let queries = *queries;
    let qn: [f32; QB] = std::array::from_fn(|i| scan.query_sq_norms[q0 + i]);
    let (start, end) = (scan.panel_range.start, scan.panel_range.end);
    let all = scan.panels;
    let mut p = start;
    while p + GB <= end {
        if let Some(group) = all[p..].first_chunk::<GB>() {
            let acc = dots::<M, QB, GB>(&queries, group);
            epilogue::<QB, GB>(scan, q0, p, &qn, &acc);
        }
        p += GB;
    }
    while p < end {
        if let Some(group) = all[p..].first_chunk::<1>() {
            let acc = dots::<M, QB, 1>(&queries, group);
            epilogue::<QB, 1>(scan, q0, p, &qn, &acc);
        }
        p += 1;
    }
    QB
}

/// Turn dot products into squared distances and hand rows that may enter a query's top-k to
/// [`Scan::offer`]. Almost every block is rejected here by one vector compare per query.
#[inline(always)]
fn epilogue<const QB: usize, const GB: usize>(
    scan: &mut Scan<'_>,
    q0: usize,
    p: usize,
    qn: &[f32; QB],
    acc: &[[Lanes; GB]; QB],
) {
    for (i, row) in acc.iter().enumerate() {
        let bound = scan.sinks[q0 + i].filter_bound();
        for (j, dots) in row.iter().enumerate() {
            let gn = &scan.panel_sq_norms[p + j];
            let mut d2 = [0.0f32; LANES];
            let mut hit = false;
            for l in 0..LANES {
                d2[l] = qn[i] + gn[l] - 2.0 * dots[l];
                hit |= d2[l] < bound;
            }
            if hit {
                scan.offer(q0 + i, p + j, &d2);
            }
        }
    }
}
