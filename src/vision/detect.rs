//! dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`, what face_recognition runs
//! with `model="cnn"`): the network converted to ONNX by `convert::mmod_to_onnx`, around it the
//! tiled image pyramid, score-map decoding and non-maximum suppression of
//! `docs/dlib-formats.md` section 4, and face_recognition's `pyramid_up` upsampling (4.5).

use std::path::Path;

use anyhow::{Context, ensure};
use ort::value::TensorRef;
use rayon::prelude::*;

use super::Rect;
use super::convert::{MMOD_OUTPUT, MmodOptions, mmod_to_onnx};
use super::image::RgbImage;
use super::resize::{Plane, resize_plane};
use super::runtime::SessionPool;

/// One face as the detector reports it: dlib's inclusive rectangle in the caller's image
/// (it may extend past the borders) and the MMOD confidence (> 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub rect: Rect,
    pub score: f32,
}

/// An integer rectangle in tensor space (inclusive), as dlib's `rectangle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl Tile {
    fn width(&self) -> i64 {
        self.right - self.left + 1
    }
    fn height(&self) -> i64 {
        self.bottom - self.top + 1
    }
    fn area(&self) -> i64 {
        if self.right < self.left || self.bottom < self.top {
            0
        } else {
            self.width() * self.height()
        }
    }
    fn intersect(&self, o: &Self) -> Self {
        Self {
            left: self.left.max(o.left),
            top: self.top.max(o.top),
            right: self.right.min(o.right),
            bottom: self.bottom.min(o.bottom),
        }
    }
    fn contains(&self, x: i64, y: i64) -> bool {
        self.left <= x && x <= self.right && self.top <= y && y <= self.bottom
    }
    /// Distance from (x, y) to the nearest point of the rectangle.
    #[allow(clippy::cast_precision_loss)]
    fn distance(&self, x: i64, y: i64) -> f64 {
        let nx = x.clamp(self.left, self.right);
        let ny = y.clamp(self.top, self.bottom);
        (((nx - x).pow(2) + (ny - y).pow(2)) as f64).sqrt()
    }
}

/// Every level of the pyramid (dlib's rule): see [`Layout::first_levels`].
pub const ALL_LEVELS: usize = usize::MAX;

/// The tiled pyramid's geometry: tensor size and one rect per level (dlib's
/// `compute_tiled_image_pyramid_details` with `pyramid_down<6>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub levels: Vec<Tile>,
}

/// `pyramid_down<6>`'s output size: `floor(5/6 * n)`.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]
fn down6(n: i64) -> i64 {
    ((5.0 / 6.0) * n as f64).floor() as i64
}

impl Layout {
    /// dlib's layout of the whole pyramid of a `width` x `height` image.
    #[must_use]
    pub fn new(height: usize, width: usize, padding: i64, outer: i64) -> Self {
        Self::first_levels(height, width, padding, outer, ALL_LEVELS)
    }

    /// The layout of the pyramid's first `levels` levels only (at least the first), tiled by
    /// dlib's rule as if they were the whole pyramid.
    #[must_use]
    pub fn first_levels(
        height: usize,
        width: usize,
        padding: i64,
        outer: i64,
        levels: usize,
    ) -> Self {
        let (h0, w0) = (
            i64::try_from(height).unwrap_or(0),
            i64::try_from(width).unwrap_or(0),
        );
        if h0 * w0 == 0 {
            return Self {
                rows: 0,
                cols: 0,
                levels: Vec::new(),
            };
        }
        let mut sizes = vec![(h0, w0)];
        let (mut h, mut w) = (h0, w0);
        while sizes.len() < levels.max(1) {
            (h, w) = (down6(h), down6(w));
            if h * w == 0 || h < 5 {
                break;
            }
            sizes.push((h, w));
        }
        let total: i64 = sizes.iter().map(|(h, _)| h + padding).sum::<i64>() - 2 * padding;
        let mut height = 0;
        let mut prev_w = 0;
        for &(h, w) in &sizes {
            if w <= w0 - prev_w - padding && (height - h0) * 2 >= total - h0 {
                break;
            }
            height += h + padding;
            prev_w = w;
        }
        height -= padding;
        let rows = height + 2 * outer;
        let cols = w0 + 2 * outer;

        let mut levels = Vec::with_capacity(sizes.len());
        let mut y = outer;
        let mut i = 0;
        while y < height + outer && i < sizes.len() {
            let (h, w) = sizes[i];
            levels.push(Tile {
                left: outer,
                top: y,
                right: outer + w - 1,
                bottom: y + h - 1,
            });
            y += h + padding;
            i += 1;
        }
        y -= padding;
        while i < sizes.len() {
            let (h, w) = sizes[i];
            let (r, b) = (outer + w0 - 1, y - 1);
            let tile = Tile {
                left: r - (w - 1),
                top: b - (h - 1),
                right: r,
                bottom: b,
            };
            if tile.intersect(&levels[0]).area() != 0 {
                break;
            }
            levels.push(tile);
            y -= h + padding;
            i += 1;
        }
        Self {
            rows: usize::try_from(rows).unwrap_or(0),
            cols: usize::try_from(cols).unwrap_or(0),
            levels,
        }
    }

    /// Index of the level containing (x, y), or the nearest one (dlib's `nearest_rect`).
    fn nearest(&self, x: i64, y: i64) -> usize {
        let mut best = (f64::INFINITY, 0);
        for (i, t) in self.levels.iter().enumerate() {
            if t.contains(x, y) {
                return i;
            }
            let d = t.distance(x, y);
            if d < best.0 {
                best = (d, i);
            }
        }
        best.1
    }
}

/// The image size after `pyramid_up` (pyramid_down<2> geometry: 320x240 -> 642x481).
#[must_use]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]
pub fn pyramid_up_size(width: usize, height: usize) -> (usize, usize) {
    let w = ((width as f64 - 1.0 + 1.25) * 2.0).round() as usize + 1;
    let h = ((height as f64 - 1.0 + 0.75) * 2.0).round() as usize + 1;
    (w, h)
}

/// dlib's `pyramid_up` with `pyramid_down<2>`: a bilinear upsampling to about twice the size.
#[must_use]
pub fn pyramid_up(img: &RgbImage) -> RgbImage {
    if img.width == 0 || img.height == 0 {
        return img.clone();
    }
    let (w, h) = pyramid_up_size(img.width, img.height);
    img.resized(w, h)
}

/// The network's input: the tiled pyramid of `img`, normalised, NCHW planes.
#[must_use]
pub fn pyramid_tensor(img: &RgbImage, layout: &Layout, mean: [f32; 3]) -> Vec<f32> {
    let plane = layout.rows * layout.cols;
    let mut t = vec![0f32; 3 * plane];
    let Some(level0) = layout.levels.first() else {
        return t;
    };
    let stride = layout.cols;
    let at = |tile: &Tile| {
        usize::try_from(tile.top).unwrap_or(0) * stride + usize::try_from(tile.left).unwrap_or(0)
    };
    // One channel per task: the three planes are independent.
    t.par_chunks_exact_mut(plane)
        .enumerate()
        .for_each(|(ch, planes)| {
            let mut scratch = Vec::new();
            let base = at(level0);
            for y in 0..img.height {
                let row = &mut planes[base + y * stride..][..img.width];
                let src = &img.data[y * img.width * 3..][..img.width * 3];
                for (d, px) in row.iter_mut().zip(src.chunks_exact(3)) {
                    *d = (f32::from(px[ch]) - mean[ch]) / 256.0;
                }
            }
            for pair in layout.levels.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                let (src_at, dst_at) = (at(from), at(to));
                let dims = |t: &Tile| {
                    (
                        usize::try_from(t.width()).unwrap_or(0),
                        usize::try_from(t.height()).unwrap_or(0),
                    )
                };
                let ((sw, sh), (dw, dh)) = (dims(from), dims(to));
                // Levels are disjoint but interleave in memory (side by side in the second
                // column), so the source is copied out first; the copy costs little next to the conv.
                scratch.clear();
                for y in 0..sh {
                    scratch.extend_from_slice(&planes[src_at + y * stride..][..sw]);
                }
                let src = Plane {
                    data: &scratch,
                    stride: sw,
                    width: sw,
                    height: sh,
                };
                resize_plane(src, &mut planes[dst_at..], stride, dw, dh);
            }
        });
    t
}

/// Greedy non-maximum suppression as dlib's `test_box_overlap`: `a` and `b` overlap when they
/// intersect and the intersection over the area of their bounding box exceeds `iou`, or covers
/// more than `covered` of either.
#[allow(clippy::cast_precision_loss)]
fn overlaps(a: &Rect, b: &Rect, iou: f64, covered: f64) -> bool {
    let t = |r: &Rect| Tile {
        left: r.left,
        top: r.top,
        right: r.right,
        bottom: r.bottom,
    };
    let (ta, tb) = (t(a), t(b));
    let inner = ta.intersect(&tb).area() as f64;
    if inner == 0.0 {
        return false;
    }
    let outer = Tile {
        left: a.left.min(b.left),
        top: a.top.min(b.top),
        right: a.right.max(b.right),
        bottom: a.bottom.max(b.bottom),
    }
    .area() as f64;
    inner / outer > iou || inner / ta.area() as f64 > covered || inner / tb.area() as f64 > covered
}

#[allow(clippy::cast_possible_truncation)]
fn lround(v: f64) -> i64 {
    v.round() as i64
}

/// Turn a score map into detections in the pyramid's level-0 image space (before any
/// upsampling is undone): positive cells, window geometry, pyramid mapping, NMS.
#[must_use]
pub fn decode(
    scores: &[f32],
    score_cols: usize,
    layout: &Layout,
    options: &MmodOptions,
    threshold: f32,
) -> Vec<Detection> {
    let mut candidates: Vec<(f32, [f64; 4])> = Vec::new();
    #[allow(clippy::cast_precision_loss)]
    let (half_w, half_h) = (
        (options.window.0 as f64 - 1.0) / 2.0,
        (options.window.1 as f64 - 1.0) / 2.0,
    );
    for (i, &s) in scores.iter().enumerate() {
        if s <= threshold {
            continue;
        }
        let (r, c) = (i / score_cols.max(1), i % score_cols.max(1));
        // Three stride-2 5x5 convs without padding: p -> 2p + 2 each.
        let (xt, yt) = (
            8 * i64::try_from(c).unwrap_or(0) + 14,
            8 * i64::try_from(r).unwrap_or(0) + 14,
        );
        let k = layout.nearest(xt, yt);
        let Some(tile) = layout.levels.get(k) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let mut b = [
            (xt - tile.left) as f64 - half_w,
            (yt - tile.top) as f64 - half_h,
            (xt - tile.left) as f64 + half_w,
            (yt - tile.top) as f64 + half_h,
        ];
        for _ in 0..k {
            for v in &mut b {
                *v = *v * (6.0 / 5.0) + 0.3;
            }
        }
        candidates.push((s, b));
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<Detection> = Vec::new();
    for (score, b) in candidates {
        let rect = Rect::new(lround(b[0]), lround(b[1]), lround(b[2]), lround(b[3]));
        if kept
            .iter()
            .any(|d| overlaps(&d.rect, &rect, options.nms_iou, options.nms_covered))
        {
            continue;
        }
        kept.push(Detection { rect, score });
    }
    kept
}

/// `pyramid_down<2>::rect_down`: undo one `pyramid_up` on an integer rectangle.
#[must_use]
pub fn rect_down2(r: Rect) -> Rect {
    #[allow(clippy::cast_precision_loss)]
    let f = |v: i64, off: f64| lround(v as f64 / 2.0 - off);
    Rect::new(
        f(r.left, 1.25),
        f(r.top, 0.75),
        f(r.right, 1.25),
        f(r.bottom, 0.75),
    )
}

/// The detector: the converted network and the options read from the same file.
pub struct Detector {
    pool: SessionPool,
    options: MmodOptions,
}

impl Detector {
    /// Parse and convert `mmod_human_face_detector.dat` (`runtime::init` must have run).
    pub fn load(dat: &Path, sessions: usize, intra_threads: usize) -> anyhow::Result<Self> {
        let bytes = std::fs::read(dat).with_context(|| format!("reading {}", dat.display()))?;
        let (onnx, options) =
            mmod_to_onnx(&bytes).with_context(|| format!("converting {}", dat.display()))?;
        Ok(Self {
            pool: SessionPool::from_memory(&onnx, sessions, intra_threads)?,
            options,
        })
    }

    #[must_use]
    pub fn options(&self) -> &MmodOptions {
        &self.options
    }

    /// The score map of the first `levels` pyramid levels of `img` (no upsampling):
    /// `(scores, rows, cols, layout)`.
    pub fn score_map(
        &self,
        img: &RgbImage,
        levels: usize,
    ) -> anyhow::Result<(Vec<f32>, usize, usize, Layout)> {
        let layout = Layout::first_levels(
            img.height,
            img.width,
            self.options.padding,
            self.options.outer_padding,
            levels,
        );
        // Three stride-2 5x5 convolutions need at least 29 rows and columns; the outer
        // padding (22) and `detect`'s 16 px floor guarantee 38.
        ensure!(
            layout.rows >= 29 && layout.cols >= 29,
            "image too small for the detector"
        );
        let input = pyramid_tensor(img, &layout, self.options.mean);
        let (rows, cols) = (layout.rows, layout.cols);
        let (scores, h, w) = self.pool.with(|session| -> anyhow::Result<_> {
            let tensor = TensorRef::from_array_view(([1, 3, rows, cols], input.as_slice()))
                .map_err(|e| anyhow::anyhow!("input tensor: {e}"))?;
            let outputs = session
                .run(ort::inputs![tensor])
                .map_err(|e| anyhow::anyhow!("running the detector: {e}"))?;
            let (shape, data) = outputs[MMOD_OUTPUT]
                .try_extract_tensor::<f32>()
                .map_err(|e| anyhow::anyhow!("reading the score map: {e}"))?;
            ensure!(shape.len() == 4, "score map shape {shape:?}");
            let h = usize::try_from(shape[2])?;
            let w = usize::try_from(shape[3])?;
            Ok((data.to_vec(), h, w))
        })?;
        Ok((scores, h, w, layout))
    }

    /// dlib's overlap rule of this detector's NMS: `a` and `b` are the same face.
    #[must_use]
    pub fn same_face(&self, a: &Rect, b: &Rect) -> bool {
        overlaps(a, b, self.options.nms_iou, self.options.nms_covered)
    }

    /// Faces in `img` as face_recognition's `face_locations(img, upsample, "cnn")` finds
    /// them (before it clips them to the image): `upsample` times `pyramid_up`, then the
    /// network, decoding and NMS, then the boxes mapped back to `img`. Sorted by confidence.
    pub fn detect(&self, img: &RgbImage, upsample: u32) -> anyhow::Result<Vec<Detection>> {
        self.detect_levels(img, upsample, ALL_LEVELS)
    }

    /// As [`Detector::detect`] on the first `levels` levels of the pyramid only: faces of at
    /// most `80 * 1.2^(levels - 1)` px in the upsampled image (docs/detection.md, "Crops").
    pub fn detect_levels(
        &self,
        img: &RgbImage,
        upsample: u32,
        levels: usize,
    ) -> anyhow::Result<Vec<Detection>> {
        let mut work = std::borrow::Cow::Borrowed(img);
        for _ in 0..upsample {
            work = std::borrow::Cow::Owned(pyramid_up(&work));
        }
        if work.width < 16 || work.height < 16 {
            return Ok(Vec::new());
        }
        let (scores, _, cols, layout) = self.score_map(&work, levels)?;
        let mut dets = decode(&scores, cols, &layout, &self.options, 0.0);
        for d in &mut dets {
            for _ in 0..upsample {
                d.rect = rect_down2(d.rect);
            }
        }
        Ok(dets)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::*;
    use crate::vision::eval::iou;
    use crate::vision::{models, testdata};

    fn detector() -> &'static Detector {
        static D: OnceLock<Detector> = OnceLock::new();
        D.get_or_init(|| {
            testdata::init_runtime();
            Detector::load(
                &testdata::cache_dir().join("models").join(models::MMOD_DAT),
                1,
                2,
            )
            .unwrap_or_else(|e| panic!("{e:#}"))
        })
    }

    #[test]
    fn converter_reads_the_whole_file_and_its_options() {
        let dat = std::fs::read(testdata::model_file("mmod_human_face_detector.dat"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, options) = mmod_to_onnx(&dat).unwrap_or_else(|e| panic!("{e:#}"));
        let (b, _) = mmod_to_onnx(&dat).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(a, b, "deterministic");
        assert_eq!(options.window, (80, 80));
        assert!((options.nms_iou - 0.338_276_135_110_995_5).abs() < 1e-15);
        assert!((options.nms_covered - 1.0).abs() < f64::EPSILON);
        assert_eq!((options.padding, options.outer_padding), (10, 11));
        assert!((options.mean[0] - 122.782).abs() < 1e-3);
        assert!(mmod_to_onnx(&dat[..dat.len() - 1]).is_err());
    }

    /// docs/dlib-formats.md 4.2's worked example (obama_small.jpg after one pyramid_up).
    #[test]
    fn tiled_pyramid_layout_as_dlib() {
        assert_eq!(pyramid_up_size(320, 240), (642, 481));
        let l = Layout::new(481, 642, 10, 11);
        assert_eq!((l.rows, l.cols), (1783, 664));
        assert_eq!(l.levels.len(), 24);
        let ltrb = |t: &Tile| [t.left, t.top, t.right, t.bottom];
        assert_eq!(ltrb(&l.levels[0]), [11, 11, 652, 491]);
        assert_eq!(ltrb(&l.levels[1]), [11, 502, 545, 901]);
        assert_eq!(ltrb(&l.levels[2]), [11, 912, 455, 1244]);
        assert_eq!(ltrb(&l.levels[5]), [397, 1581, 652, 1771]);
        assert!(Layout::new(0, 10, 10, 11).levels.is_empty());
    }

    /// The first levels of a pyramid are tiled where the whole pyramid has them, in a smaller
    /// tensor, and find the faces their window allows: obama.jpg's face (a box of about 230 px)
    /// on the whole pyramid only; at 0.4x (about 92 px) on three levels too, in the same place.
    #[test]
    fn the_first_levels_find_only_the_faces_their_window_allows() {
        let whole = Layout::new(481, 642, 10, 11);
        let three = Layout::first_levels(481, 642, 10, 11, 3);
        assert_eq!(three.levels, whole.levels[..3]);
        assert_eq!(three.cols, whole.cols);
        assert!(
            three.rows < whole.rows * 3 / 4,
            "{} of {} rows",
            three.rows,
            whole.rows
        );
        assert_eq!(Layout::first_levels(481, 642, 10, 11, 0).levels.len(), 1);

        let d = detector();
        let path = testdata::cache_dir().join("testdata/face_recognition/obama.jpg");
        let img = RgbImage::open(&path).unwrap_or_else(|e| panic!("{e:#}"));
        let boxes = |img: &RgbImage, levels: usize| -> Vec<Rect> {
            d.detect_levels(img, 0, levels)
                .unwrap_or_else(|e| panic!("{e:#}"))
                .iter()
                .map(|f| f.rect)
                .collect()
        };
        let large = boxes(&img, ALL_LEVELS);
        assert_eq!(large.len(), 1, "{large:?}");
        assert!(large[0].width() > 200, "{large:?}");
        assert!(boxes(&img, 3).is_empty());

        let small = crate::vision::pipeline::scaled(&img, 0.4);
        let (all, first) = (boxes(&small, ALL_LEVELS), boxes(&small, 3));
        assert_eq!((all.len(), first.len()), (1, 1), "{all:?} {first:?}");
        assert!(first[0].width() <= 115, "{first:?}");
        assert!(iou(all[0], first[0]) > 0.9, "{all:?} {first:?}");
    }

    /// Every image of the golden set's geometry file.
    #[test]
    fn golden_pyramid_geometry() {
        let Some(dir) = testdata::golden_dir("golden_pyramid_geometry") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("mmod_geometry.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        let geo: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let mut n = 0;
        for img in geo["images"].as_array().into_iter().flatten() {
            let hw = |k: &str| {
                let v = &img[k];
                (
                    usize::try_from(v[0].as_u64().unwrap_or(0)).unwrap_or(0),
                    usize::try_from(v[1].as_u64().unwrap_or(0)).unwrap_or(0),
                )
            };
            let (h, w) = hw("upsampled_hw");
            let l = Layout::new(h, w, 10, 11);
            assert_eq!((l.rows, l.cols), hw("tensor_hw"), "{}", img["file"]);
            let rects: Vec<[i64; 4]> = l
                .levels
                .iter()
                .map(|t| [t.left, t.top, t.right, t.bottom])
                .collect();
            let want: Vec<[i64; 4]> = img["level_rects_ltrb"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| std::array::from_fn(|i| r[i].as_i64().unwrap_or(-1)))
                .collect();
            assert_eq!(rects, want, "{}", img["file"]);
            n += 1;
        }
        assert!(n >= 9, "{n} images");
    }

    /// Boxes identical to face_recognition's `face_locations(img, 1, "cnn")` (before its
    /// clipping) and confidences within float noise, on the reference decode of each image.
    #[test]
    fn golden_cnn_boxes_match_dlib() {
        let Some(dir) = testdata::golden_dir("golden_cnn_boxes_match_dlib") else {
            return;
        };
        let golden = testdata::golden_json(&dir);
        let d = detector();
        let (mut faces, mut worst) = (0, 0f32);
        for image in golden["images"].as_array().into_iter().flatten() {
            let png = dir.join(image["decoded_png"].as_str().unwrap_or_default());
            let img = RgbImage::open(&png).unwrap_or_else(|e| panic!("{e:#}"));
            let got = d.detect(&img, 1).unwrap_or_else(|e| panic!("{e:#}"));
            let want: Vec<(Rect, f32)> = image["cnn"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    let r = &f["rect_ltrb"];
                    let n = |i: usize| r[i].as_i64().unwrap_or(-1);
                    #[allow(clippy::cast_possible_truncation)]
                    let s = f["mmod_confidence"].as_f64().unwrap_or(f64::NAN) as f32;
                    (Rect::new(n(0), n(1), n(2), n(3)), s)
                })
                .collect();
            let rects: Vec<Rect> = got.iter().map(|d| d.rect).collect();
            let want_rects: Vec<Rect> = want.iter().map(|w| w.0).collect();
            assert_eq!(rects, want_rects, "{png:?}");
            for (g, w) in got.iter().zip(&want) {
                let diff = (g.score - w.1).abs();
                assert!(diff < 1e-4, "{png:?}: confidence {} vs {}", g.score, w.1);
                worst = worst.max(diff);
            }
            faces += want.len();
        }
        assert_eq!(faces, 22);
        eprintln!("golden CNN: {faces} boxes exact, worst confidence diff {worst:e}");
    }
}
