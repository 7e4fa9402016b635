//! Aligned face chips, bit-exact with dlib's `get_face_chip_details` + `extract_image_chip`
//! (what `dlib.get_face_chip` returns and what the ResNet reads in `compute_face_descriptor`).
//! Spec: `docs/dlib-formats.md` section 6 and its pitfalls (6.4); the arithmetic below follows
//! dlib's operation order so that the f64 results round the same way.

use super::image::RgbImage;
use super::{CHIP_SIZE, Landmarks5};

/// dlib drectangle: f64, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DRect {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

/// Where a chip lies in the source image: `rect` (before rotation) turned by `angle` radians
/// about its centre, sampled onto a `size` x `size` chip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipDetails {
    pub rect: DRect,
    pub angle: f64,
    pub size: usize,
}

/// Padding `face_recognition` passes to `get_face_chip_details`.
const CHIP_PADDING: f64 = 0.25;

/// dlib's mean-face template for the 5-point model, in the unit square, landmark order.
const TEMPLATE: [[f64; 2]; 5] = [
    [0.859_567_459_599_2, 0.213_498_153_801_4],
    [0.646_060_476_410_4, 0.228_967_438_767_7],
    [0.120_575_062_078_9, 0.213_727_452_684_8],
    [0.334_085_061_371_2, 0.229_064_240_324_2],
    [0.490_112_313_567_9, 0.627_797_531_647_5],
];

impl DRect {
    /// dlib's `is_empty`: an inverted rectangle has no area.
    fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    /// Inclusive width (`r - l + 1`), 0 when empty, as dlib's `width()`.
    fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.right - self.left + 1.0
        }
    }

    fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.bottom - self.top + 1.0
        }
    }

    fn area(&self) -> f64 {
        self.width() * self.height()
    }

    fn center(&self) -> [f64; 2] {
        [
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        ]
    }

    fn is_finite(&self) -> bool {
        self.left.is_finite()
            && self.top.is_finite()
            && self.right.is_finite()
            && self.bottom.is_finite()
    }

    /// `pyramid_down<2>::rect_down`: both corners through `p/2 - (1.25, 0.75)`.
    fn down(&self) -> Self {
        Self {
            left: self.left / 2.0 - 1.25,
            top: self.top / 2.0 - 0.75,
            right: self.right / 2.0 - 1.25,
            bottom: self.bottom / 2.0 - 0.75,
        }
    }
}

/// dlib's `rotate_point(center, p, angle)` with precomputed `sin`/`cos`.
fn rotate(center: [f64; 2], p: [f64; 2], sin: f64, cos: f64) -> [f64; 2] {
    let (dx, dy) = (p[0] - center[0], p[1] - center[1]);
    [
        cos * dx - sin * dy + center[0],
        sin * dx + cos * dy + center[1],
    ]
}

/// `get_face_chip_details` for a 5-point shape: the similarity transform (Umeyama, least
/// squares) from the padded template to the landmarks, reduced to a rectangle and an angle.
#[must_use]
pub fn chip_details(landmarks: &Landmarks5, size: usize, padding: f64) -> ChipDetails {
    let s = size as f64;
    // dlib divides a matrix expression by a scalar as a multiplication by its reciprocal.
    let inv = 1.0 / (2.0 * padding + 1.0);
    let from = TEMPLATE.map(|[x, y]| [(padding + x) * inv * s, (padding + y) * inv * s]);
    let to = landmarks.map(|p| [p.x as f64, p.y as f64]);

    let n = from.len() as f64;
    let mut mean_from = [0.0; 2];
    let mut mean_to = [0.0; 2];
    for (f, t) in from.iter().zip(&to) {
        mean_from = [mean_from[0] + f[0], mean_from[1] + f[1]];
        mean_to = [mean_to[0] + t[0], mean_to[1] + t[1]];
    }
    mean_from = [mean_from[0] / n, mean_from[1] / n];
    mean_to = [mean_to[0] / n, mean_to[1] / n];

    let mut sigma_from = 0.0;
    let mut cov = [[0.0; 2]; 2];
    for (f, t) in from.iter().zip(&to) {
        let df = [f[0] - mean_from[0], f[1] - mean_from[1]];
        let dt = [t[0] - mean_to[0], t[1] - mean_to[1]];
        sigma_from += df[0] * df[0] + df[1] * df[1];
        for (row, dti) in cov.iter_mut().zip(dt) {
            row[0] += dti * df[0];
            row[1] += dti * df[1];
        }
    }
    sigma_from /= n;
    let inv_n = 1.0 / n;
    let [[a, b], [c, d]] = cov.map(|row| row.map(|v| v * inv_n));

    // Umeyama's `R = U S V^T` and `c = trace(D S) / sigma_from` in closed form for 2x2: split
    // cov into a similarity part [[p, -q], [q, p]] and an anti-similarity part. The singular
    // values are |A| +- |B|, and with the reflection fix (flip the smaller one when
    // det(cov) < 0) trace(D S) is 2|A| in every case while R is the rotation A/|A|. Same
    // result as dlib's SVD route up to rounding (golden parity ~1e-13), no iteration, and no
    // NaN when cov is zero (all landmarks at one point): then c = 0 and dlib's R is I.
    let p = (a + d) / 2.0;
    let q = (c - b) / 2.0;
    let norm = p.hypot(q);
    let (rot_cos, rot_sin) = if norm > 0.0 {
        (p / norm, q / norm)
    } else {
        (1.0, 0.0)
    };
    // dlib keeps c = 1 when the template collapses to a point (size 0).
    let scale_c = if sigma_from == 0.0 {
        1.0
    } else {
        1.0 / sigma_from * (2.0 * norm)
    };
    let m = [
        [scale_c * rot_cos, -(scale_c * rot_sin)],
        [scale_c * rot_sin, scale_c * rot_cos],
    ];
    let t = [
        mean_to[0] - (m[0][0] * mean_from[0] + m[0][1] * mean_from[1]),
        mean_to[1] - (m[1][0] * mean_from[0] + m[1][1] * mean_from[1]),
    ];

    // chip_details(from, to, dims): angle and scale from M (1, 0); the rectangle is centred on
    // the image of the chip centre, `S*scale - 1` wide (centered_drect; dlib-formats.md 6.4).
    let (vx, vy) = (m[0][0], m[1][0]);
    let angle = vy.atan2(vx);
    let scale = (vx * vx + vy * vy).sqrt();
    let half = s / 2.0;
    let centre = [
        m[0][0] * half + m[0][1] * half + t[0],
        m[1][0] * half + m[1][1] * half + t[1],
    ];
    let w = s * scale - 1.0;
    ChipDetails {
        rect: DRect {
            left: centre[0] - w / 2.0,
            top: centre[1] - w / 2.0,
            right: centre[0] + w / 2.0,
            bottom: centre[1] + w / 2.0,
        },
        angle,
        size,
    }
}

/// The aligned `CHIP_SIZE` chip with `face_recognition`'s padding: exactly what the ResNet sees.
#[must_use]
pub fn face_chip(img: &RgbImage, landmarks: &Landmarks5) -> RgbImage {
    extract_chip(img, &chip_details(landmarks, CHIP_SIZE, CHIP_PADDING))
}

/// A rectangular window of an RGB buffer (dlib's `sub_image`): sampling sees only the window,
/// so its borders decide which samples are black.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [u8],
    /// Pixels per row of `data`.
    stride: usize,
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
}

impl<'a> View<'a> {
    fn whole(img: &'a RgbImage) -> Self {
        Self {
            data: &img.data,
            stride: img.width,
            x0: 0,
            y0: 0,
            width: img.width,
            height: img.height,
        }
    }

    /// Byte offset of (x, y) of the window; the caller keeps it inside.
    #[inline]
    fn offset(&self, x: usize, y: usize) -> usize {
        ((self.y0 + y) * self.stride + self.x0 + x) * 3
    }
}

/// `extract_image_chip(img, details, chip)` with bilinear interpolation: a `size` x `size`
/// chip, black where the source has no pixels. Never panics; a `size` whose buffer would not
/// fit in memory addressing yields an empty image.
#[must_use]
pub fn extract_chip(img: &RgbImage, details: &ChipDetails) -> RgbImage {
    let size = details.size;
    if size
        .checked_mul(size)
        .and_then(|n| n.checked_mul(3))
        .is_none()
    {
        return RgbImage::new(0, 0);
    }
    let mut chip = RgbImage::new(size, size);
    let rect = details.rect;
    // dlib would loop forever on an infinite rect (its pyramid depth never drops); nothing
    // can be sampled from one anyway.
    if size == 0 || !rect.is_finite() || !details.angle.is_finite() {
        return chip;
    }
    // Both views must agree with the image buffer before any indexing.
    let expected_len = img
        .width
        .checked_mul(img.height)
        .and_then(|n| n.checked_mul(3));
    if expected_len != Some(img.data.len()) {
        return chip;
    }
    let s = size as f64;

    // dlib's fast path: no rotation and a rect of exactly the chip size is a plain copy of
    // the lround-ed rectangle (never the case for real faces, but it is dlib's behaviour).
    if details.angle == 0.0 && rect.height() == s && rect.width() == s {
        copy_rect(img, lround(rect.left), lround(rect.top), &mut chip);
        return chip;
    }

    // dlib-formats.md 6.2: pyramid depth and crop margin (grow = 2, 6, 14, ...) from the chip
    // rect.
    let chip_area = s * s;
    let mut grow = 2.0;
    let mut down = rect.down();
    while down.area() > chip_area {
        down = down.down();
        grow = grow * 2.0 + 2.0;
    }

    // Crop box: bounding box of the rotated rect, grown, clipped to the image in f64 and then
    // converted with lround (dlib's drectangle -> rectangle); dlib adds it to an initially
    // empty rectangle, so an empty box stays (0, 0, -1, -1).
    let (sin, cos) = details.angle.sin_cos();
    let centre = rect.center();
    let corners = [
        [rect.left, rect.top],
        [rect.right, rect.top],
        [rect.left, rect.bottom],
        [rect.right, rect.bottom],
    ]
    .map(|p| rotate(centre, p, sin, cos));
    let (mut bl, mut bt, mut br, mut bb) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for [x, y] in corners {
        bl = bl.min(x);
        bt = bt.min(y);
        br = br.max(x);
        bb = bb.max(y);
    }
    let box_l = lround((bl - grow).max(0.0));
    let box_t = lround((bt - grow).max(0.0));
    let box_r = lround((br + grow).min(img.width as f64 - 1.0));
    let box_b = lround((bb + grow).min(img.height as f64 - 1.0));
    let crop = if box_l > box_r || box_t > box_b {
        View {
            width: 0,
            height: 0,
            ..View::whole(img)
        }
    } else {
        // Clipped to [0, W-1] x [0, H-1] above, so these are in range.
        View {
            x0: box_l as usize,
            y0: box_t as usize,
            width: (box_r - box_l + 1) as usize,
            height: (box_b - box_t + 1) as usize,
            ..View::whole(img)
        }
    };

    // Level chooser, on the rect in crop coordinates.
    let mut src_rect = DRect {
        left: rect.left - crop.x0 as f64,
        top: rect.top - crop.y0 as f64,
        right: rect.right - crop.x0 as f64,
        bottom: rect.bottom - crop.y0 as f64,
    };
    let mut level = 0usize;
    while src_rect.down().area() > chip_area {
        level += 1;
        src_rect = src_rect.down();
    }
    // dlib builds every level up to the depth found above; only the chosen one is read, and
    // each level depends only on the previous one, so building up to it gives the same pixels.
    let mut pyramid = None;
    for _ in 0..level {
        let next = match &pyramid {
            None => pyr_down(crop),
            Some(prev) => pyr_down(View::whole(prev)),
        };
        let empty = next.width == 0;
        pyramid = Some(next);
        if empty {
            break;
        }
    }
    let src = pyramid.as_ref().map_or(crop, View::whole);

    // dlib-formats.md 6.3, size-1 convention: chip (0,0), (S-1,0), (0,S-1) go to the rotated tl,
    // tr, bl corners of the rect; dlib fits this affine map by least squares (exact for three
    // points) and applies it as `m * p + b` per pixel.
    let centre = src_rect.center();
    let tl = rotate(centre, [src_rect.left, src_rect.top], sin, cos);
    let tr = rotate(centre, [src_rect.right, src_rect.top], sin, cos);
    let bl = rotate(centre, [src_rect.left, src_rect.bottom], sin, cos);
    let (m, b) = if size == 1 {
        // All three chip points coincide: the least-squares fit is their centroid.
        (
            [[0.0; 2]; 2],
            [(tl[0] + tr[0] + bl[0]) / 3.0, (tl[1] + tr[1] + bl[1]) / 3.0],
        )
    } else {
        let n = s - 1.0;
        (
            [
                [(tr[0] - tl[0]) / n, (bl[0] - tl[0]) / n],
                [(tr[1] - tl[1]) / n, (bl[1] - tl[1]) / n],
            ],
            tl,
        )
    };
    sample_bilinear(src, m, b, &mut chip);
    chip
}

/// C's `lround` (half away from zero); out-of-range values saturate instead of being UB.
fn lround(v: f64) -> i64 {
    v.round() as i64
}

/// dlib's `basic_extract_image_chip`: copy the chip-sized window at (left, top), black
/// outside the image.
fn copy_rect(img: &RgbImage, left: i64, top: i64, chip: &mut RgbImage) {
    let size = chip.width;
    let (w, h) = (img.width as i64, img.height as i64);
    for r in 0..size {
        let y = top.saturating_add(r as i64);
        if !(0..h).contains(&y) {
            continue;
        }
        for c in 0..size {
            let x = left.saturating_add(c as i64);
            if (0..w).contains(&x) {
                let src = (y as usize * img.width + x as usize) * 3;
                let dst = (r * size + c) * 3;
                chip.data[dst..dst + 3].copy_from_slice(&img.data[src..src + 3]);
            }
        }
    }
}

/// `transform_image` with `interpolate_bilinear`: f64 weights, truncation to u8, and black
/// unless all four neighbours lie inside the source (dlib-formats.md 6.4).
fn sample_bilinear(src: View<'_>, m: [[f64; 2]; 2], b: [f64; 2], chip: &mut RgbImage) {
    let (w, h) = (src.width as f64, src.height as f64);
    let size = chip.width;
    for (r, row) in chip.data.chunks_exact_mut(size * 3).enumerate() {
        let rf = r as f64;
        for (c, px) in row.chunks_exact_mut(3).enumerate() {
            let cf = c as f64;
            let x = m[0][0] * cf + m[0][1] * rf + b[0];
            let y = m[1][0] * cf + m[1][1] * rf + b[1];
            // dlib's test `floor(x) >= 0 && floor(x) + 1 < w` is `0 <= x < w - 1` for an
            // integer w; written so that NaN lands on the black side. On that range floor is
            // truncation, which avoids a libm call per coordinate.
            if !(x >= 0.0 && y >= 0.0 && x < w - 1.0 && y < h - 1.0) {
                continue;
            }
            let (left, top) = (x as usize, y as usize);
            let lr = x - left as f64;
            let tb = y - top as f64;
            let i_tl = src.offset(left, top);
            let i_bl = src.offset(left, top + 1);
            for (k, out) in px.iter_mut().enumerate() {
                let tlv = f64::from(src.data[i_tl + k]);
                let trv = f64::from(src.data[i_tl + 3 + k]);
                let blv = f64::from(src.data[i_bl + k]);
                let brv = f64::from(src.data[i_bl + 3 + k]);
                let v =
                    (1.0 - tb) * ((1.0 - lr) * tlv + lr * trv) + tb * ((1.0 - lr) * blv + lr * brv);
                *out = v as u8;
            }
        }
    }
}

/// `pyramid_down<2>` for RGB u8: 5x5 binomial filter ([1 4 6 4 1] both ways) anchored at the
/// top-left, every other pixel, integer sums divided by 256 (truncating). Output is
/// `(w-3)/2` x `(h-3)/2`; inputs with a side <= 8 give an empty image.
fn pyr_down(src: View<'_>) -> RgbImage {
    if src.width <= 8 || src.height <= 8 {
        return RgbImage::new(0, 0);
    }
    let out_w = (src.width - 3) / 2;
    let out_h = (src.height - 3) / 2;
    // Row pass for every source row; the column pass reads five of them per output row.
    let mut temp = vec![0u32; src.height * out_w * 3];
    for (y, trow) in temp.chunks_exact_mut(out_w * 3).enumerate() {
        let base = src.offset(0, y);
        let row = &src.data[base..base + src.width * 3];
        for (c, t) in trow.chunks_exact_mut(3).enumerate() {
            let p = &row[c * 6..c * 6 + 15];
            for (k, tv) in t.iter_mut().enumerate() {
                *tv = u32::from(p[k])
                    + 4 * u32::from(p[3 + k])
                    + 6 * u32::from(p[6 + k])
                    + 4 * u32::from(p[9 + k])
                    + u32::from(p[12 + k]);
            }
        }
    }
    let mut out = RgbImage::new(out_w, out_h);
    let stride = out_w * 3;
    for (dr, orow) in out.data.chunks_exact_mut(stride).enumerate() {
        let rows: [&[u32]; 5] =
            std::array::from_fn(|i| &temp[(2 * dr + i) * stride..(2 * dr + i + 1) * stride]);
        for (i, o) in orow.iter_mut().enumerate() {
            let sum = rows[0][i] + 4 * rows[1][i] + 6 * rows[2][i] + 4 * rows[3][i] + rows[4][i];
            // At most 256 * 255, so the quotient fits.
            *o = (sum / 256) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::Point;
    use crate::vision::testdata::{golden_dir, golden_json};

    fn pts(v: [[i64; 2]; 5]) -> Landmarks5 {
        v.map(|[x, y]| Point { x, y })
    }

    /// A deterministic textured image.
    fn noise(width: usize, height: usize) -> RgbImage {
        let mut img = RgbImage::new(width, height);
        let mut state: u32 = 0x1234_5678;
        for v in &mut img.data {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *v = (state >> 24) as u8;
        }
        img
    }

    fn constant(width: usize, height: usize, rgb: [u8; 3]) -> RgbImage {
        let mut img = RgbImage::new(width, height);
        for px in img.data.chunks_exact_mut(3) {
            px.copy_from_slice(&rgb);
        }
        img
    }

    const FACE: [[i64; 2]; 5] = [[196, 98], [177, 98], [129, 99], [147, 99], [162, 134]];

    #[test]
    fn near_identity_is_a_copy_with_black_last_row_and_column() {
        let img = noise(150, 150);
        // A non-zero angle skips the plain-copy fast path; sin(1e-300) does not move a sample.
        let details = ChipDetails {
            rect: DRect {
                left: 0.0,
                top: 0.0,
                right: 149.0,
                bottom: 149.0,
            },
            angle: 1e-300,
            size: 150,
        };
        let chip = extract_chip(&img, &details);
        for y in 0..150 {
            for x in 0..150 {
                // Sample 149 needs pixel 150 for its right/bottom neighbour: black (6.4).
                let want = if x == 149 || y == 149 {
                    [0, 0, 0]
                } else {
                    img.pixel(x, y)
                };
                assert_eq!(chip.pixel(x, y), want, "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn unrotated_exact_size_rect_is_a_plain_copy() {
        let img = noise(200, 180);
        let details = ChipDetails {
            rect: DRect {
                left: 70.0,
                top: 40.0,
                right: 219.0,
                bottom: 189.0,
            },
            angle: 0.0,
            size: 150,
        };
        let chip = extract_chip(&img, &details);
        for y in 0..150 {
            for x in 0..150 {
                let (sx, sy) = (x + 70, y + 40);
                let want = if sx < 200 && sy < 180 {
                    img.pixel(sx, sy)
                } else {
                    [0, 0, 0]
                };
                assert_eq!(chip.pixel(x, y), want, "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn half_pixel_shift_averages_neighbours_and_truncates() {
        // Columns alternate 0 and 255: halfway samples are 127.5, truncated to 127.
        let mut img = RgbImage::new(40, 40);
        for y in 0..40 {
            for x in (1..40).step_by(2) {
                let i = (y * 40 + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let details = ChipDetails {
            rect: DRect {
                left: 0.5,
                top: 0.0,
                right: 9.5,
                bottom: 9.0,
            },
            angle: 1e-300,
            size: 10,
        };
        let chip = extract_chip(&img, &details);
        assert!(
            chip.data.iter().all(|&v| v == 127),
            "{:?}",
            &chip.data[..30]
        );
    }

    #[test]
    fn rotating_landmarks_by_90_degrees_rotates_the_chip_angle() {
        let base = chip_details(&pts(FACE), 150, 0.25);
        let turned = chip_details(&pts(FACE.map(|[x, y]| [1000 - y, x])), 150, 0.25);
        let d = turned.angle - base.angle;
        assert!((d - std::f64::consts::FRAC_PI_2).abs() < 1e-12, "{d}");
        let (wb, wt) = (base.rect.width(), turned.rect.width());
        assert!((wb - wt).abs() < 1e-9, "{wb} vs {wt}");
        assert!(
            base.angle.abs() < 0.05 && wb > 100.0 && wb < 140.0,
            "{base:?}"
        );
    }

    #[test]
    fn mirrored_landmarks_still_give_a_proper_rotation() {
        // A reflection cannot be fitted by a rotation: Umeyama's fix keeps a finite, smaller
        // similarity instead of a mirrored one.
        let base = chip_details(&pts(FACE), 150, 0.25);
        let mirrored = chip_details(&pts(FACE.map(|[x, y]| [400 - x, y])), 150, 0.25);
        assert!(mirrored.angle.is_finite() && mirrored.rect.is_finite());
        assert!(mirrored.rect.width() < base.rect.width());
    }

    #[test]
    fn degenerate_landmarks_give_an_empty_rect_and_the_local_colour() {
        let details = chip_details(&pts([[50, 60]; 5]), 150, 0.25);
        assert_eq!(details.angle, 0.0);
        assert!(details.rect.is_empty(), "{details:?}");
        let img = constant(100, 100, [10, 20, 30]);
        let chip = extract_chip(&img, &details);
        assert_eq!((chip.width, chip.height), (150, 150));
        assert!(chip.data.chunks_exact(3).all(|p| p == [10, 20, 30]));
    }

    #[test]
    fn large_face_goes_through_the_pyramid() {
        // A face ~4x the chip: two pyramid levels; a constant image stays constant through
        // the binomial filter and the bilinear sampling.
        let img = constant(1400, 1400, [100, 150, 200]);
        let face = FACE.map(|[x, y]| [x * 5 - 100, y * 5]);
        let details = chip_details(&pts(face), 150, 0.25);
        assert!(
            details.rect.down().down().area() > 150.0 * 150.0,
            "{details:?}"
        );
        let chip = extract_chip(&img, &details);
        assert!(chip.data.chunks_exact(3).all(|p| p == [100, 150, 200]));
    }

    #[test]
    fn faces_outside_or_tiny_images_are_black() {
        let far = pts(FACE.map(|[x, y]| [x + 10_000, y - 10_000]));
        let huge = pts([
            [i64::MAX, i64::MIN],
            [i64::MIN, i64::MAX],
            [0, 0],
            [i64::MAX, i64::MAX],
            [i64::MIN, 0],
        ]);
        for img in [
            noise(20, 20),
            RgbImage::new(0, 0),
            noise(1, 1),
            noise(0, 7),
            noise(9, 9),
        ] {
            for lm in [far, huge, pts(FACE), pts([[0, 0]; 5])] {
                let chip = face_chip(&img, &lm);
                assert_eq!((chip.width, chip.height), (150, 150));
                if img.width < 2 || img.height < 2 || lm == far {
                    assert!(chip.data.iter().all(|&v| v == 0), "{img:?} {lm:?}");
                }
            }
        }
    }

    #[test]
    fn odd_sizes_and_non_finite_details_do_not_panic() {
        let img = noise(64, 48);
        assert_eq!(
            extract_chip(&img, &chip_details(&pts(FACE), 0, 0.25)).width,
            0
        );
        let one = extract_chip(&img, &chip_details(&pts(FACE), 1, 0.25));
        assert_eq!((one.width, one.height), (1, 1));
        for (angle, v) in [(f64::NAN, 1.0), (0.3, f64::INFINITY), (0.3, f64::NAN)] {
            let details = ChipDetails {
                rect: DRect {
                    left: -v,
                    top: 0.0,
                    right: v,
                    bottom: 10.0,
                },
                angle,
                size: 150,
            };
            assert!(extract_chip(&img, &details).data.iter().all(|&x| x == 0));
        }
        let weird = chip_details(&pts(FACE), 150, -0.5);
        let chip = extract_chip(&img, &weird);
        assert_eq!((chip.width, chip.height), (150, 150));
        let huge = ChipDetails {
            size: usize::MAX,
            ..weird
        };
        assert_eq!(extract_chip(&img, &huge).width, 0);
    }

    fn f64_at(v: &serde_json::Value, what: &str) -> f64 {
        v.as_f64().unwrap_or_else(|| panic!("{what}: not a number"))
    }

    fn landmarks_of(face: &serde_json::Value) -> Landmarks5 {
        let arr = face["landmarks5"]
            .as_array()
            .unwrap_or_else(|| panic!("landmarks5 missing"));
        assert_eq!(arr.len(), 5);
        std::array::from_fn(|i| Point {
            x: arr[i][0].as_i64().unwrap_or_else(|| panic!("landmark x")),
            y: arr[i][1].as_i64().unwrap_or_else(|| panic!("landmark y")),
        })
    }

    #[test]
    fn golden_chip_details_and_pixels() {
        let Some(dir) = golden_dir("golden_chip_details_and_pixels") else {
            return;
        };
        let golden = golden_json(&dir);
        let images = golden["images"]
            .as_array()
            .unwrap_or_else(|| panic!("images missing"));
        let mut checked_chips = 0;
        let mut faces = 0;
        for image in images {
            let decoded = image["decoded_png"]
                .as_str()
                .unwrap_or_else(|| panic!("decoded_png missing"));
            let img = RgbImage::open(&dir.join(decoded)).unwrap_or_else(|e| panic!("{e}"));
            for detector in ["cnn", "hog"] {
                let list = image[detector].as_array().map_or(&[][..], Vec::as_slice);
                for (k, face) in list.iter().enumerate() {
                    let name = format!("{decoded} {detector}[{k}]");
                    faces += 1;
                    let details = chip_details(&landmarks_of(face), CHIP_SIZE, CHIP_PADDING);
                    assert!(
                        details.rect.is_finite() && details.angle.is_finite(),
                        "{name}: {details:?}"
                    );
                    let chip = extract_chip(&img, &details);
                    assert_eq!((chip.width, chip.height), (CHIP_SIZE, CHIP_SIZE), "{name}");

                    let want = &face["chip_details"];
                    if want.is_null() {
                        continue;
                    }
                    let ltrb = &want["rect_ltrb"];
                    let got = [
                        details.rect.left,
                        details.rect.top,
                        details.rect.right,
                        details.rect.bottom,
                    ];
                    let mut geometry_dev: f64 = 0.0;
                    for (i, g) in got.iter().enumerate() {
                        let w = f64_at(&ltrb[i], "rect_ltrb");
                        assert!((g - w).abs() <= 1e-9, "{name}: rect[{i}] {g} vs {w}");
                        geometry_dev = geometry_dev.max((g - w).abs());
                    }
                    let w_angle = f64_at(&want["angle"], "angle");
                    assert!(
                        (details.angle - w_angle).abs() <= 1e-9,
                        "{name}: angle {} vs {w_angle}",
                        details.angle
                    );
                    geometry_dev = geometry_dev.max((details.angle - w_angle).abs());
                    assert_eq!(want["rows"].as_u64(), Some(CHIP_SIZE as u64), "{name}");
                    assert_eq!(want["cols"].as_u64(), Some(CHIP_SIZE as u64), "{name}");

                    let png = face["chip150_png"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: chip150_png missing"));
                    let expected = RgbImage::open(&dir.join(png)).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!((expected.width, expected.height), (CHIP_SIZE, CHIP_SIZE));
                    let diffs: Vec<u8> = chip
                        .data
                        .iter()
                        .zip(&expected.data)
                        .map(|(a, b)| a.abs_diff(*b))
                        .filter(|&d| d > 0)
                        .collect();
                    let max = diffs.iter().copied().max().unwrap_or(0);
                    eprintln!(
                        "{name}: rect/angle max dev {geometry_dev:e}; {} of {} chip values \
                         differ, max {max}",
                        diffs.len(),
                        chip.data.len()
                    );
                    // Measured: exact for all golden chips, biden's pyramid path included.
                    assert!(
                        diffs.is_empty(),
                        "{name}: {} differ, max {max}",
                        diffs.len()
                    );
                    checked_chips += 1;
                }
            }
        }
        assert_eq!(checked_chips, 4, "golden chips compared");
        assert!(faces > 4);
    }

    /// Release-mode timing: `cargo test --release --lib vision::chip -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, run in release mode"]
    fn chip_timing() {
        let Some(dir) = golden_dir("chip_timing") else {
            return;
        };
        let golden = golden_json(&dir);
        let images = golden["images"]
            .as_array()
            .unwrap_or_else(|| panic!("images missing"));
        for image in images {
            let Some(face) = image["cnn"].as_array().and_then(|l| l.first()) else {
                continue;
            };
            let decoded = image["decoded_png"].as_str().unwrap_or_default();
            let img = RgbImage::open(&dir.join(decoded)).unwrap_or_else(|e| panic!("{e}"));
            let landmarks = landmarks_of(face);
            let runs = 200;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(face_chip(
                    std::hint::black_box(&img),
                    std::hint::black_box(&landmarks),
                ));
            }
            let per = start.elapsed() / runs;
            let width = chip_details(&landmarks, CHIP_SIZE, CHIP_PADDING)
                .rect
                .width();
            eprintln!("{decoded}: chip rect {width:.0} px wide, {per:?} per chip");
        }
    }
}
