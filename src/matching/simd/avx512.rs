//! AVX-512F kernel: 8 queries x 3 panels = 24 accumulators of 16 lanes, plus 3 gallery vectors
//! and a broadcast, within the 32 zmm registers; 24 FMAs per 3 loads and 8 broadcasts.
#![deny(unsafe_code)]

use std::arch::x86_64::{
    __m128, __m512, _CMP_LE_OQ, _MM_HINT_T1, _mm_extract_ps, _mm_prefetch, _mm512_add_ps,
    _mm512_cmp_ps_mask, _mm512_extractf32x4_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_set_ps,
    _mm512_set1_ps, _mm512_setzero_ps,
};

use crate::matching::DIM;
use crate::matching::gallery::{LANES, Panel};

super::define_scan!(
    #[target_feature(enable = "avx512f,avx2,fma")]
    qb = 8,
    gb = 3
);

/// One 16-lane vector from an array; LLVM emits a single unaligned load.
#[target_feature(enable = "avx512f")]
#[inline]
fn load(v: &[f32; LANES]) -> __m512 {
    _mm512_set_ps(
        v[15], v[14], v[13], v[12], v[11], v[10], v[9], v[8], v[7], v[6], v[5], v[4], v[3], v[2],
        v[1], v[0],
    )
}

/// The lanes of a vector, for the rare blocks with rows to offer.
#[target_feature(enable = "avx512f")]
#[inline]
fn to_array(v: __m512) -> [f32; LANES] {
    #[target_feature(enable = "avx512f")]
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
        quarter(_mm512_extractf32x4_ps::<0>(v)),
        quarter(_mm512_extractf32x4_ps::<1>(v)),
        quarter(_mm512_extractf32x4_ps::<2>(v)),
        quarter(_mm512_extractf32x4_ps::<3>(v)),
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
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn block<const QB: usize, const GB: usize>(
    queries: &[[f32; DIM]; QB],
    panels: &[Panel; GB],
    query_sq_norms: &[f32; QB],
    panel_sq_norms: &[[f32; LANES]; GB],
    bounds: &[f32; QB],
    ahead: &[Panel],
) -> ([[u16; GB]; QB], [[__m512; GB]; QB]) {
    let mut acc = [[_mm512_setzero_ps(); GB]; QB];
    for d in 0..DIM {
        for next in ahead {
            _mm_prefetch::<_MM_HINT_T1>(next.0[d].as_ptr().cast());
        }
        let mut g = [_mm512_setzero_ps(); GB];
        for j in 0..GB {
            g[j] = load(&panels[j].0[d]);
        }
        for i in 0..QB {
            let b = _mm512_set1_ps(queries[i][d]);
            for j in 0..GB {
                acc[i][j] = _mm512_fmadd_ps(g[j], b, acc[i][j]);
            }
        }
    }
    let mut masks = [[0u16; GB]; QB];
    let two = _mm512_set1_ps(2.0);
    for j in 0..GB {
        let gn = load(&panel_sq_norms[j]);
        for i in 0..QB {
            let sum = _mm512_add_ps(_mm512_set1_ps(query_sq_norms[i]), gn);
            // Reuse the accumulator for the distance: no extra registers.
            acc[i][j] = _mm512_fnmadd_ps(two, acc[i][j], sum);
            masks[i][j] = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(acc[i][j], _mm512_set1_ps(bounds[i]));
        }
    }
    (masks, acc)
}
