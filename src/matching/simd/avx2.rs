//! AVX2 + FMA kernel: a panel is two 8-lane vectors; 6 queries x 1 panel = 12 accumulators,
//! plus 2 gallery vectors and a broadcast, within the 16 ymm registers.
#![deny(unsafe_code)]

use std::arch::x86_64::{
    __m128, __m256, _CMP_LE_OQ, _MM_HINT_T1, _mm_extract_ps, _mm_prefetch, _mm256_add_ps,
    _mm256_cmp_ps, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_movemask_ps,
    _mm256_set_ps, _mm256_set1_ps, _mm256_setzero_ps,
};

use crate::matching::DIM;
use crate::matching::gallery::{LANES, Panel};

super::define_scan!(
    #[target_feature(enable = "avx2,fma")]
    qb = 6,
    gb = 1
);

/// Lanes `8 * half .. 8 * half + 8` of an array as one vector (a single unaligned load).
#[target_feature(enable = "avx2")]
#[inline]
fn load(v: &[f32; LANES], half: usize) -> __m256 {
    let o = half * 8;
    _mm256_set_ps(
        v[o + 7],
        v[o + 6],
        v[o + 5],
        v[o + 4],
        v[o + 3],
        v[o + 2],
        v[o + 1],
        v[o],
    )
}

/// The lanes of a panel's two vectors, for the rare blocks with rows to offer.
#[target_feature(enable = "avx2")]
#[inline]
fn to_array(v: [__m256; 2]) -> [f32; LANES] {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn quarter(x: __m128) -> [f32; 4] {
        [
            f32::from_bits(_mm_extract_ps::<0>(x) as u32),
            f32::from_bits(_mm_extract_ps::<1>(x) as u32),
            f32::from_bits(_mm_extract_ps::<2>(x) as u32),
            f32::from_bits(_mm_extract_ps::<3>(x) as u32),
        ]
    }
    let q = [
        quarter(_mm256_extractf128_ps::<0>(v[0])),
        quarter(_mm256_extractf128_ps::<1>(v[0])),
        quarter(_mm256_extractf128_ps::<0>(v[1])),
        quarter(_mm256_extractf128_ps::<1>(v[1])),
    ];
    let mut out = [0.0f32; LANES];
    for (dst, src) in out.chunks_exact_mut(4).zip(q) {
        dst.copy_from_slice(&src);
    }
    out
}

/// Per (query, panel): the rows whose approximate squared distance is at most the query's bound
/// (a mask), and those distances.
// Index loops: each index walks several arrays at once (queries, panels, accumulators).
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn block<const QB: usize, const GB: usize>(
    queries: &[[f32; DIM]; QB],
    panels: &[Panel; GB],
    query_sq_norms: &[f32; QB],
    panel_sq_norms: &[[f32; LANES]; GB],
    bounds: &[f32; QB],
    ahead: &[Panel],
) -> ([[u16; GB]; QB], [[[__m256; 2]; GB]; QB]) {
    let mut acc = [[[_mm256_setzero_ps(); 2]; GB]; QB];
    for d in 0..DIM {
        for next in ahead {
            _mm_prefetch::<_MM_HINT_T1>(next.0[d].as_ptr().cast());
        }
        let mut g = [[_mm256_setzero_ps(); 2]; GB];
        for j in 0..GB {
            g[j] = [load(&panels[j].0[d], 0), load(&panels[j].0[d], 1)];
        }
        for i in 0..QB {
            let b = _mm256_set1_ps(queries[i][d]);
            for j in 0..GB {
                for h in 0..2 {
                    acc[i][j][h] = _mm256_fmadd_ps(g[j][h], b, acc[i][j][h]);
                }
            }
        }
    }
    let mut masks = [[0u16; GB]; QB];
    let two = _mm256_set1_ps(2.0);
    for j in 0..GB {
        for i in 0..QB {
            let mut mask = 0u16;
            for h in 0..2 {
                let sum = _mm256_add_ps(
                    _mm256_set1_ps(query_sq_norms[i]),
                    load(&panel_sq_norms[j], h),
                );
                acc[i][j][h] = _mm256_fnmadd_ps(two, acc[i][j][h], sum);
                let below = _mm256_cmp_ps::<_CMP_LE_OQ>(acc[i][j][h], _mm256_set1_ps(bounds[i]));
                // movemask sets the low 8 bits, one per lane.
                mask |= ((_mm256_movemask_ps(below) & 0xff) as u16) << (8 * h);
            }
            masks[i][j] = mask;
        }
    }
    (masks, acc)
}
