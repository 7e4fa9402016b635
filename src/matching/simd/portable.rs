//! Portable kernel: plain arrays that LLVM vectorises for the target's baseline (SSE2 on x86-64,
//! NEON on AArch64). 2 queries x 1 panel: 8 accumulators of 4 lanes in 16 xmm registers.
#![deny(unsafe_code)]

use crate::matching::DIM;
use crate::matching::gallery::{LANES, Panel};

super::define_scan!(qb = 2, gb = 1);

/// `a * b + c`, fused where the target has FMA (AArch64, or an x86 build with it enabled);
/// elsewhere `mul_add` would be a slow library call, so multiply then add.
#[inline(always)]
fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(any(target_arch = "aarch64", target_feature = "fma")) {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Already an array.
#[inline(always)]
fn to_array(v: [f32; LANES]) -> [f32; LANES] {
    v
}

/// Per (query, panel): the rows whose approximate squared distance is at most the query's bound
/// (a mask), and those distances.
// Index loops: each index walks several arrays at once (queries, panels, accumulators).
#[allow(clippy::needless_range_loop)]
#[inline]
fn block<const QB: usize, const GB: usize>(
    queries: &[[f32; DIM]; QB],
    panels: &[Panel; GB],
    query_sq_norms: &[f32; QB],
    panel_sq_norms: &[[f32; LANES]; GB],
    bounds: &[f32; QB],
    ahead: &[Panel],
) -> ([[u16; GB]; QB], [[[f32; LANES]; GB]; QB]) {
    // No prefetch here: the baseline build has no portable way to express it.
    let _ = ahead;
    let mut acc = [[[0.0f32; LANES]; GB]; QB];
    for d in 0..DIM {
        for (j, panel) in panels.iter().enumerate() {
            let g = &panel.0[d];
            for (i, q) in queries.iter().enumerate() {
                let b = q[d];
                for (a, &x) in acc[i][j].iter_mut().zip(g) {
                    *a = mul_add(x, b, *a);
                }
            }
        }
    }
    let mut masks = [[0u16; GB]; QB];
    for (i, row) in acc.iter_mut().enumerate() {
        for (j, dots) in row.iter_mut().enumerate() {
            let gn = &panel_sq_norms[j];
            let mut mask = 0u16;
            for l in 0..LANES {
                dots[l] = query_sq_norms[i] + gn[l] - 2.0 * dots[l];
                mask |= u16::from(dots[l] <= bounds[i]) << l;
            }
            masks[i][j] = mask;
        }
    }
    (masks, acc)
}
