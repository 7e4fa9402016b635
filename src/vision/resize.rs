//! dlib's bilinear `resize_image`, reproduced to the bit: it feeds `pyramid_up` (RGB, u8) and
//! the MMOD detector's tiled pyramid (float planes), and detector boxes and confidences depend
//! on its exact arithmetic (`docs/dlib-formats.md`, section 7.2).
//!
//! dlib evaluates groups of four output columns in single precision: lane `k` starts at
//! `f32(-4s + k s)` and is advanced by `f32(4s)` before each group, the left index is the
//! truncated lane value, weights are `f32` products of `f32` fractions, and the sum is taken left
//! to right in `f32`. The loop stops at the first group whose last right neighbour would be
//! outside the input; the remaining columns use a double-precision scalar path.

/// A single-channel view: `data[y * stride + x]` for `x < width`, `y < height`.
#[derive(Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

/// Row position and weights shared by every column of one output row.
struct Row {
    top: usize,
    bottom: usize,
    tb: f64,
}

fn rows(in_h: usize, out_h: usize) -> impl Iterator<Item = Row> {
    #[allow(clippy::cast_precision_loss)]
    let y_scale = (in_h as f64 - 1.0) / (out_h.max(2) as f64 - 1.0);
    let mut y = -y_scale;
    (0..out_h).map(move |_| {
        y += y_scale;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let top = y.floor().max(0.0) as usize;
        let top = top.min(in_h - 1);
        #[allow(clippy::cast_precision_loss)]
        let tb = y - top as f64;
        Row {
            top,
            bottom: (top + 1).min(in_h - 1),
            tb,
        }
    })
}

/// Where and how one output column samples its row: dlib's four-wide single-precision path
/// (`lr`, `1 - lr` as f32) or its double-precision scalar tail.
#[derive(Clone, Copy)]
enum Col {
    Simd { left: usize, lr: f32, ilr: f32 },
    Scalar { left: usize, right: usize, lr: f64 },
}

/// The sampling of every output column (the same for every row).
fn columns(in_w: usize, out_w: usize) -> Vec<Col> {
    let mut cols = Vec::with_capacity(out_w);
    #[allow(clippy::cast_precision_loss)]
    let x_scale = (in_w as f64 - 1.0) / (out_w.max(2) as f64 - 1.0);
    let x0 = -4.0 * x_scale;
    #[allow(clippy::cast_possible_truncation)]
    let mut lanes = [
        x0 as f32,
        (x0 + x_scale) as f32,
        (x0 + 2.0 * x_scale) as f32,
        (x0 + 3.0 * x_scale) as f32,
    ];
    #[allow(clippy::cast_possible_truncation)]
    let step = (4.0 * x_scale) as f32;
    let mut c = 0usize;
    while c < out_w {
        let mut group = [Col::Scalar {
            left: 0,
            right: 0,
            lr: 0.0,
        }; 4];
        let mut last_left = 0;
        for (k, lane) in lanes.iter_mut().enumerate() {
            *lane += step;
            // _mm_cvttps_epi32: truncation toward zero (lanes are never negative here).
            #[allow(clippy::cast_possible_truncation)]
            let l = *lane as i32;
            #[allow(clippy::cast_precision_loss)]
            let lr = *lane - l as f32;
            last_left = usize::try_from(l).unwrap_or(0);
            group[k] = Col::Simd {
                left: last_left,
                lr,
                ilr: 1.0 - lr,
            };
        }
        if last_left + 1 >= in_w {
            break;
        }
        cols.extend(group.into_iter().take(out_w - c));
        c += 4;
    }
    #[allow(clippy::cast_precision_loss)]
    let mut x = -x_scale + c as f64 * x_scale;
    for _ in c..out_w {
        x += x_scale;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let left = (x.floor().max(0.0) as usize).min(in_w - 1);
        #[allow(clippy::cast_precision_loss)]
        let lr = x - left as f64;
        cols.push(Col::Scalar {
            left,
            right: (left + 1).min(in_w - 1),
            lr,
        });
    }
    cols
}

/// Resize one float plane into `out` (`out_w x out_h` at `out_stride`), as dlib's
/// `resize_image(float image, interpolate_bilinear)`. No rounding.
pub fn resize_plane(
    src: Plane<'_>,
    out: &mut [f32],
    out_stride: usize,
    out_w: usize,
    out_h: usize,
) {
    if src.width == 0 || src.height == 0 || out_w == 0 || out_h == 0 {
        return;
    }
    let cols = columns(src.width, out_w);
    for (r, row) in rows(src.height, out_h).enumerate() {
        let top = &src.data[row.top * src.stride..][..src.width];
        let bot = &src.data[row.bottom * src.stride..][..src.width];
        let dst = &mut out[r * out_stride..][..out_w];
        #[allow(clippy::cast_possible_truncation)]
        let (tb, itb) = (row.tb as f32, (1.0 - row.tb) as f32);
        for (d, col) in dst.iter_mut().zip(&cols) {
            *d = match *col {
                Col::Simd { left, lr, ilr } => {
                    (itb * ilr) * top[left]
                        + (itb * lr) * top[left + 1]
                        + (tb * ilr) * bot[left]
                        + (tb * lr) * bot[left + 1]
                }
                Col::Scalar { left, right, lr } => {
                    let v = (1.0 - row.tb)
                        * ((1.0 - lr) * f64::from(top[left]) + lr * f64::from(top[right]))
                        + row.tb * ((1.0 - lr) * f64::from(bot[left]) + lr * f64::from(bot[right]));
                    #[allow(clippy::cast_possible_truncation)]
                    let v = v as f32;
                    v
                }
            };
        }
    }
}

/// Resize an interleaved RGB8 image to `out_w x out_h`, as dlib's RGB `resize_image` with
/// bilinear interpolation (values truncated to u8).
#[must_use]
pub fn resize_rgb(src: &[u8], in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    let mut out = vec![0u8; out_w * out_h * 3];
    if in_w == 0 || in_h == 0 || out_w == 0 {
        return out;
    }
    let cols = columns(in_w, out_w);
    for (row, dst) in rows(in_h, out_h).zip(out.chunks_exact_mut(out_w * 3)) {
        let top = &src[row.top * in_w * 3..][..in_w * 3];
        let bot = &src[row.bottom * in_w * 3..][..in_w * 3];
        #[allow(clippy::cast_possible_truncation)]
        let (tb, itb) = (row.tb as f32, (1.0 - row.tb) as f32);
        for (d, col) in dst.chunks_exact_mut(3).zip(&cols) {
            match *col {
                Col::Simd { left, lr, ilr } => {
                    let w = [itb * ilr, itb * lr, tb * ilr, tb * lr];
                    let (l, r) = (left * 3, left * 3 + 3);
                    for ch in 0..3 {
                        let v = w[0] * f32::from(top[l + ch])
                            + w[1] * f32::from(top[r + ch])
                            + w[2] * f32::from(bot[l + ch])
                            + w[3] * f32::from(bot[r + ch]);
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        {
                            d[ch] = v as u8;
                        }
                    }
                }
                Col::Scalar { left, right, lr } => {
                    for ch in 0..3 {
                        let (tl, tr) = (
                            f64::from(top[left * 3 + ch]),
                            f64::from(top[right * 3 + ch]),
                        );
                        let (bl, br) = (
                            f64::from(bot[left * 3 + ch]),
                            f64::from(bot[right * 3 + ch]),
                        );
                        let v = (1.0 - row.tb) * ((1.0 - lr) * tl + lr * tr)
                            + row.tb * ((1.0 - lr) * bl + lr * br);
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        {
                            d[ch] = v as u8;
                        }
                    }
                }
            }
        }
    }
    out
}
