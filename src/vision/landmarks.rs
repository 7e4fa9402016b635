//! dlib's ERT shape predictor (`shape_predictor_5_face_landmarks.dat`; the 68-point file has the
//! same layout but is not exercised here): parses the model into flat arrays and predicts
//! landmarks for a face box, bit-exact with dlib. File layout and algorithm:
//! `docs/dlib-formats.md`, section 5.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, ensure};

use super::dlib::Reader;
use super::image::RgbImage;
use super::{Landmarks5, Point, Rect};

/// Upper bounds for sizes read from the file, so a corrupt file fails instead of allocating
/// absurd amounts. The real files use 15 stages x 500 trees x 15 splits and 800 features.
const MAX_STAGES: usize = 1 << 10;
const MAX_TREES_PER_STAGE: usize = 1 << 16;
const MAX_SPLITS_PER_TREE: usize = 1 << 12;
const MAX_FEATURES_PER_STAGE: usize = 1 << 16;
const MAX_PARTS: usize = 1 << 12;

/// One internal node of a regression tree: go left when `f[idx1] - f[idx2] > thresh`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Split {
    idx1: u32,
    idx2: u32,
    thresh: f32,
}

/// One cascade stage: its trees and its feature pixels, as ranges into the flat arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stage {
    /// Tree numbers (tree `t` owns `splits[t*S..][..S]` and `leaves[t*(S+1)*2N..][..(S+1)*2N]`).
    trees: Range<usize>,
    /// Indices into `anchors` and `deltas`.
    features: Range<usize>,
}

/// A parsed shape predictor. Plain data (`Send + Sync`); `predict` only reads it, so one instance
/// serves any number of threads.
#[derive(Clone, PartialEq)]
pub struct ShapePredictor {
    /// Mean shape, `x0, y0, x1, y1, ...` in box-normalised coordinates (2N values).
    initial_shape: Vec<f32>,
    /// Splits per tree; every tree has this many and one more leaf (checked at load).
    splits_per_tree: usize,
    /// The splits of all trees, tree after tree.
    splits: Vec<Split>,
    /// The leaves of all trees, tree after tree, each a shape increment of 2N values.
    leaves: Vec<f32>,
    stages: Vec<Stage>,
    /// Per feature pixel: the landmark it is anchored to.
    anchors: Vec<u32>,
    /// Per feature pixel: its offset from the anchor in normalised coordinates.
    deltas: Vec<[f32; 2]>,
    /// Largest feature and tree counts of a stage (sizes of the per-call scratch buffers).
    max_features: usize,
    max_trees: usize,
}

impl fmt::Debug for ShapePredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShapePredictor")
            .field("parts", &self.num_parts())
            .field("stages", &self.stages.len())
            .field("trees", &(self.splits.len() / self.splits_per_tree.max(1)))
            .field("splits_per_tree", &self.splits_per_tree)
            .field("features", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

impl ShapePredictor {
    /// Parse a dlib `shape_predictor` stream. The whole input must be consumed and every index
    /// must be in range, so `predict` cannot index out of bounds.
    ///
    /// # Errors
    /// A malformed or truncated stream, trailing bytes, inconsistent sizes (leaves that are not
    /// 2N values, trees of different depths) or out-of-range split and anchor indices.
    pub fn from_dat(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut r = Reader::new(bytes);
        r.expect_int(1, "shape predictor version")?;

        let (nr, nc, initial_shape) = r.matrix_f32().context("initial shape")?;
        ensure!(
            nc == 1 && nr >= 2 && nr % 2 == 0 && nr / 2 <= MAX_PARTS,
            "initial shape is {nr}x{nc}, expected 2N x 1"
        );
        let dims = nr;

        let num_stages = r.count(MAX_STAGES).context("number of stages")?;
        let mut trees = Vec::with_capacity(num_stages);
        let mut splits_per_tree = None;
        let mut splits = Vec::new();
        let mut leaves = Vec::new();
        let mut num_trees = 0;
        for s in 0..num_stages {
            let n = r.count(MAX_TREES_PER_STAGE)?;
            for t in 0..n {
                read_tree(&mut r, dims, &mut splits_per_tree, &mut splits, &mut leaves)
                    .with_context(|| format!("stage {s}, tree {t}"))?;
            }
            trees.push(num_trees..num_trees + n);
            num_trees += n;
        }
        let splits_per_tree = splits_per_tree.unwrap_or(0);

        let n = r.count(MAX_STAGES)?;
        ensure!(n == num_stages, "{n} anchor lists for {num_stages} stages");
        let mut anchors = Vec::new();
        let mut features = Vec::with_capacity(num_stages);
        for s in 0..num_stages {
            let n = r.count(MAX_FEATURES_PER_STAGE)?;
            let start = anchors.len();
            for _ in 0..n {
                let a = r.uint()?;
                ensure!(
                    a < (dims / 2) as u64,
                    "stage {s}: anchor {a} is not a landmark (N = {})",
                    dims / 2
                );
                anchors.push(u32::try_from(a)?);
            }
            features.push(start..anchors.len());
        }

        let n = r.count(MAX_STAGES)?;
        ensure!(n == num_stages, "{n} delta lists for {num_stages} stages");
        let mut deltas = Vec::with_capacity(anchors.len());
        for (s, range) in features.iter().enumerate() {
            let n = r.count(MAX_FEATURES_PER_STAGE)?;
            ensure!(
                n == range.len(),
                "stage {s}: {n} deltas for {} anchors",
                range.len()
            );
            for _ in 0..n {
                deltas.push([r.float32()?, r.float32()?]);
            }
        }
        r.expect_end()?;

        let stages: Vec<Stage> = trees
            .into_iter()
            .zip(features)
            .map(|(trees, features)| Stage { trees, features })
            .collect();
        for (s, stage) in stages.iter().enumerate() {
            let stage_splits =
                &splits[stage.trees.start * splits_per_tree..stage.trees.end * splits_per_tree];
            let limit = stage.features.len();
            for sp in stage_splits {
                ensure!(
                    (sp.idx1 as usize) < limit && (sp.idx2 as usize) < limit,
                    "stage {s}: split reads features {} and {} of {limit}",
                    sp.idx1,
                    sp.idx2
                );
            }
        }
        let max_features = stages.iter().map(|s| s.features.len()).max().unwrap_or(0);
        let max_trees = stages.iter().map(|s| s.trees.len()).max().unwrap_or(0);

        Ok(Self {
            initial_shape,
            splits_per_tree,
            splits,
            leaves,
            stages,
            anchors,
            deltas,
            max_features,
            max_trees,
        })
    }

    /// Read and parse a `.dat` file.
    ///
    /// # Errors
    /// The file cannot be read, or [`Self::from_dat`] rejects it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_dat(&bytes).with_context(|| format!("parsing {}", path.display()))
    }

    /// Number of landmarks the model predicts (5 or 68 for dlib's files).
    #[must_use]
    pub fn num_parts(&self) -> usize {
        self.initial_shape.len() / 2
    }

    /// Landmarks for the face in `rect` (as a detector returned it, possibly sticking out of the
    /// image), in the model's order.
    #[must_use]
    pub fn predict(&self, img: &RgbImage, rect: Rect) -> Vec<Point> {
        let frame = BoxFrame::new(rect);
        let dims = self.initial_shape.len();
        let leaf_block = (self.splits_per_tree + 1) * dims;
        let mut shape = self.initial_shape.clone();
        let mut features = Vec::with_capacity(self.max_features);
        let mut reached = Vec::with_capacity(self.max_trees);
        for stage in &self.stages {
            self.extract_features(img, &frame, stage, &shape, &mut features);
            // All trees of a stage read the features computed at the start of the stage, so
            // walk them all first: the leaf loads (the model is ~5 MB of leaves, mostly cache
            // misses) then have known addresses and overlap instead of waiting on each walk.
            reached.clear();
            reached.extend(stage.trees.clone().map(|t| {
                let splits = &self.splits[t * self.splits_per_tree..][..self.splits_per_tree];
                t * leaf_block + leaf_index(splits, &features) * dims
            }));
            // Added in tree order: f32 addition is not associative.
            for &at in &reached {
                for (s, v) in shape.iter_mut().zip(&self.leaves[at..][..dims]) {
                    *s += *v;
                }
            }
        }
        shape
            .chunks_exact(2)
            .map(|p| {
                let (x, y) = frame.to_image(p[0], p[1]);
                Point {
                    x: round_half_up(x),
                    y: round_half_up(y),
                }
            })
            .collect()
    }

    /// The five landmarks of the 5-point model; `None` when this model has another part count.
    #[must_use]
    pub fn predict5(&self, img: &RgbImage, rect: Rect) -> Option<Landmarks5> {
        if self.num_parts() != 5 {
            return None;
        }
        Landmarks5::try_from(self.predict(img, rect)).ok()
    }

    /// dlib's `extract_feature_pixel_values`: each feature is the grey value at its anchor
    /// landmark plus its delta, the delta rotated and scaled like the current shape.
    fn extract_features(
        &self,
        img: &RgbImage,
        frame: &BoxFrame,
        stage: &Stage,
        shape: &[f32],
        out: &mut Vec<f32>,
    ) {
        let m = similarity(&self.initial_shape, shape);
        out.clear();
        let anchors = &self.anchors[stage.features.clone()];
        let deltas = &self.deltas[stage.features.clone()];
        for (&a, &[dx, dy]) in anchors.iter().zip(deltas) {
            let a = a as usize;
            // dlib-formats.md 5.2: float32 throughout, each product rounded on its own, as
            // dlib's `tform*delta + anchor`. Rust never fuses `a*b + c*d` into an FMA; a BLAS
            // matmul here was measured flipping a tree decision (obama.jpg, CNN box).
            let qx = ((m[0][0] * dx) + (m[0][1] * dy)) + shape[2 * a];
            let qy = ((m[1][0] * dx) + (m[1][1] * dy)) + shape[2 * a + 1];
            let (x, y) = frame.to_image(qx, qy);
            out.push(grey_at(img, round_half_up(x), round_half_up(y)));
        }
    }
}

/// Read one `regression_tree` (splits, then leaves) onto the flat arrays.
fn read_tree(
    r: &mut Reader<'_>,
    dims: usize,
    splits_per_tree: &mut Option<usize>,
    splits: &mut Vec<Split>,
    leaves: &mut Vec<f32>,
) -> anyhow::Result<()> {
    let n = r.count(MAX_SPLITS_PER_TREE)?;
    let expected = *splits_per_tree.get_or_insert(n);
    ensure!(
        n == expected,
        "{n} splits, but earlier trees have {expected} (trees must share one depth)"
    );
    for _ in 0..n {
        let idx1 = u32::try_from(r.uint()?)?;
        let idx2 = u32::try_from(r.uint()?)?;
        let thresh = r.float32()?;
        splits.push(Split { idx1, idx2, thresh });
    }
    // Walking `i -> 2i+1 | 2i+2` from 0 until `i >= n` ends in `n..=2n`: exactly n+1 leaves.
    let num_leaves = r.count(MAX_SPLITS_PER_TREE + 1)?;
    ensure!(
        num_leaves == n + 1,
        "{num_leaves} leaves for {n} splits (expected {})",
        n + 1
    );
    for l in 0..num_leaves {
        let (nr, nc, values) = r.matrix_f32()?;
        ensure!(
            nr == dims && nc == 1,
            "leaf {l} is {nr}x{nc}, expected {dims}x1"
        );
        leaves.extend_from_slice(&values);
    }
    Ok(())
}

/// Leaf reached by the features: dlib's `regression_tree::operator()`.
#[inline]
fn leaf_index(splits: &[Split], features: &[f32]) -> usize {
    let mut i = 0;
    while i < splits.len() {
        let s = splits[i];
        // Grey values are integers, so the f32 difference is exact.
        // Branch-free (left child `2i+1`, right `2i+2`): the direction is data-dependent and
        // mispredicts half the time.
        let left = features[s.idx1 as usize] - features[s.idx2 as usize] > s.thresh;
        i = 2 * i + 2 - usize::from(left);
    }
    i - splits.len()
}

/// dlib's `pinv` of the 3x3 matrix with columns `(0,0,1), (1,0,1), (1,1,1)` (the corners
/// `unnormalizing_tform` maps from), as its SVD computes it (dlib 20.0, no LAPACK, like the
/// reference wheel). The exact inverse is `[[-1,0,1],[1,-1,0],[0,1,0]]`; the last-bit errors
/// below are kept on purpose, see `BoxFrame`.
const UNNORMALIZE_PINV: [[f64; 3]; 3] = [
    [
        f64::from_bits(0xbff0_0000_0000_0001),
        f64::from_bits(0xbcb0_0000_0000_0000),
        f64::from_bits(0x3ff0_0000_0000_0001),
    ],
    [
        f64::from_bits(0x3fef_ffff_ffff_fffd),
        f64::from_bits(0xbfef_ffff_ffff_fffb),
        f64::from_bits(0x3ca8_0000_0000_0000),
    ],
    [
        f64::from_bits(0x0000_0000_0000_0000),
        f64::from_bits(0x3ff0_0000_0000_0001),
        f64::from_bits(0x3c98_0000_0000_0000),
    ],
];

/// Maps box-normalised coordinates to image coordinates: dlib's `unnormalizing_tform(rect)`.
///
/// Ideally `X = l + x*(r-l)`, `Y = t + y*(b-t)` (5.3: `r - l`, not the inclusive width).
/// dlib instead fits an affine transform to three box corners by least squares
/// (`find_affine_transform`, i.e. `Q * pinv(P)`), which carries errors of ~1e-14 px. They only
/// matter when a point lands exactly on a half pixel, where `floor(v + 0.5)` then goes the other
/// way: with the ideal formula 5 of 42,200 random boxes checked against dlib gave different
/// landmarks. Replaying dlib's arithmetic (same constants, same operation order) gave none.
struct BoxFrame {
    /// Rows `[m00, m01, b0]` and `[m10, m11, b1]`.
    m: [[f64; 3]; 2],
}

impl BoxFrame {
    #[allow(clippy::cast_precision_loss)] // dlib itself goes through float here
    fn new(rect: Rect) -> Self {
        // Corner images `tl, tr, br` as dlib's `vector<float,2>`, then widened to double.
        let (l, t, r, b) = (
            f64::from(rect.left as f32),
            f64::from(rect.top as f32),
            f64::from(rect.right as f32),
            f64::from(rect.bottom as f32),
        );
        let q = [[l, r, r], [t, t, b]];
        let p = &UNNORMALIZE_PINV;
        let row = |q: [f64; 3]| {
            [0, 1, 2].map(|j| ((q[0] * p[0][j]) + (q[1] * p[1][j])) + (q[2] * p[2][j]))
        };
        Self {
            m: [row(q[0]), row(q[1])],
        }
    }

    /// In f64, from the float32 shape coordinates, as dlib's `point_transform_affine`
    /// (`m*p + b`, products rounded separately).
    #[inline]
    fn to_image(&self, x: f32, y: f32) -> (f64, f64) {
        let (x, y) = (f64::from(x), f64::from(y));
        let [r0, r1] = &self.m;
        (
            ((r0[0] * x) + (r0[1] * y)) + r0[2],
            ((r1[0] * x) + (r1[1] * y)) + r1[2],
        )
    }
}

/// dlib's conversion of a real point to an integer `point` (5.3): `floor(v + 0.5)`, so
/// halves go up, unlike `f64::round`. Integer casts instead of `f64::floor`, which is a libm call
/// on baseline x86-64 and showed in profiles. Exact for |v| < 2^63; saturates beyond, where
/// dlib's own conversion is undefined.
#[inline]
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn round_half_up(v: f64) -> i64 {
    let w = v + 0.5;
    let t = w as i64; // toward zero
    if (t as f64) > w {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Grey value at an integer position, 0 outside the image (docs/dlib-formats.md 5.2): dlib's
/// `get_pixel_intensity` of an RGB pixel is the integer mean `(R+G+B)/3`, not a luma formula.
#[inline]
fn grey_at(img: &RgbImage, x: i64, y: i64) -> f32 {
    if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y))
        && x < img.width
        && y < img.height
    {
        let [r, g, b] = img.pixel(x, y);
        f32::from((u16::from(r) + u16::from(g) + u16::from(b)) / 3)
    } else {
        0.0
    }
}

/// The 2x2 part of dlib's `find_similarity_transform(from, to)` (Umeyama least squares,
/// rotation + uniform scale), computed in f64 and then cast to f32 as dlib does.
///
/// dlib takes an SVD of the cross-covariance; in 2-D the optimum has the closed form used here
/// (`c*R = [[a, -b], [b, a]]`, with the reflection case of the SVD giving the same matrix). The two
/// differ only in the last f64 bits, which the cast to f32 absorbs: on 300,000 random shapes
/// around the 5-point mean shape, this gave the same f32 matrix as dlib 20.0's code every time.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn similarity(from: &[f32], to: &[f32]) -> [[f32; 2]; 2] {
    let n = from.len() / 2;
    // dlib uses the identity for a single landmark.
    if n < 2 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let points = || {
        from.chunks_exact(2).zip(to.chunks_exact(2)).map(|(f, t)| {
            (
                [f64::from(f[0]), f64::from(f[1])],
                [f64::from(t[0]), f64::from(t[1])],
            )
        })
    };
    let count = n as f64;
    let (mut mean_from, mut mean_to) = ([0.0; 2], [0.0; 2]);
    for (f, t) in points() {
        mean_from = [mean_from[0] + f[0], mean_from[1] + f[1]];
        mean_to = [mean_to[0] + t[0], mean_to[1] + t[1]];
    }
    let mean_from = [mean_from[0] / count, mean_from[1] / count];
    let mean_to = [mean_to[0] / count, mean_to[1] / count];

    // sigma_from = mean squared spread of `from`; cov = mean of (to - mean_to)(from - mean_from)^T.
    let mut sigma_from = 0.0;
    let mut cov = [[0.0f64; 2]; 2];
    for (f, t) in points() {
        let (fx, fy) = (f[0] - mean_from[0], f[1] - mean_from[1]);
        let (tx, ty) = (t[0] - mean_to[0], t[1] - mean_to[1]);
        sigma_from += fx * fx + fy * fy;
        cov[0][0] += tx * fx;
        cov[0][1] += tx * fy;
        cov[1][0] += ty * fx;
        cov[1][1] += ty * fy;
    }
    sigma_from /= count;
    for v in cov.iter_mut().flatten() {
        *v /= count;
    }
    // All mean-shape points equal: dlib keeps scale 1 and the SVD of the zero covariance gives
    // no rotation. Never the case for a trained model.
    if sigma_from == 0.0 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let a = (cov[0][0] + cov[1][1]) / sigma_from;
    let b = (cov[1][0] - cov[0][1]) / sigma_from;
    [[a as f32, -b as f32], [b as f32, a as f32]]
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::*;
    use crate::vision::testdata;

    const MODEL: &str = "shape_predictor_5_face_landmarks.dat";

    /// The real 5-point model, parsed once per test binary (parsing is slow in debug builds).
    fn model() -> &'static ShapePredictor {
        static SP: OnceLock<ShapePredictor> = OnceLock::new();
        SP.get_or_init(|| {
            ShapePredictor::load(&testdata::model_file(MODEL)).unwrap_or_else(|e| panic!("{e:#}"))
        })
    }

    fn rect_of(v: &Value) -> Rect {
        let n: Vec<i64> = v
            .as_array()
            .unwrap_or_else(|| panic!("rect is not an array: {v}"))
            .iter()
            .map(|x| x.as_i64().unwrap_or_else(|| panic!("bad rect value {x}")))
            .collect();
        assert_eq!(n.len(), 4, "rect {v}");
        Rect::new(n[0], n[1], n[2], n[3])
    }

    fn landmarks_of(v: &Value) -> Vec<Point> {
        v.as_array()
            .unwrap_or_else(|| panic!("landmarks are not an array: {v}"))
            .iter()
            .map(|p| {
                let c = |i: usize| {
                    p.get(i)
                        .and_then(Value::as_i64)
                        .unwrap_or_else(|| panic!("bad point {p}"))
                };
                Point { x: c(0), y: c(1) }
            })
            .collect()
    }

    #[test]
    fn is_plain_shared_data() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ShapePredictor>();
    }

    #[test]
    fn parses_the_5_point_model_exactly() {
        let sp = model();
        assert_eq!(sp.num_parts(), 5);
        // First value as annotated in docs/dlib-formats.md 5.4: 0xc6b86e * 2^-24.
        assert_eq!(sp.initial_shape[0], 13_023_342.0 / 16_777_216.0);
        assert_eq!(sp.stages.len(), 15);
        assert_eq!(sp.splits_per_tree, 15);
        for stage in &sp.stages {
            assert_eq!(stage.trees.len(), 500);
            assert_eq!(stage.features.len(), 800);
        }
        assert_eq!(sp.splits.len(), 15 * 500 * 15);
        assert_eq!(sp.leaves.len(), 15 * 500 * 16 * 10);
        assert_eq!(sp.anchors.len(), 15 * 800);
        assert_eq!(sp.deltas.len(), 15 * 800);
        assert_eq!(sp.max_features, 800);
    }

    /// A hand-built model: N = 2, one stage, one tree with one split on two feature pixels.
    fn tiny_model(idx2: u8, leaf_rows: u8, anchor: u8) -> Vec<u8> {
        // Integers 0..=127 are `01 v`; 0.5 = 1 * 2^-1 is `01 01 81 01`; 0.25 = `01 01 81 02`;
        // 0 = `01 00 01 00`; a positive count `01 n`; matrix dims negated: `81 rows 81 cols`.
        let half = [0x01, 0x01, 0x81, 0x01];
        let quarter = [0x01, 0x01, 0x81, 0x02];
        let zero = [0x01, 0x00, 0x01, 0x00];
        let mut b = vec![0x01, 0x01]; // version
        b.extend([0x81, 0x04, 0x81, 0x01]); // initial shape 4x1: (0.25, 0.25), (0.5, 0.5)
        b.extend(quarter);
        b.extend(quarter);
        b.extend(half);
        b.extend(half);
        b.extend([0x01, 0x01, 0x01, 0x01]); // 1 stage, 1 tree
        b.extend([0x01, 0x01, 0x01, 0x00, 0x01, idx2]); // 1 split: f[0] - f[idx2] > 0
        b.extend(zero);
        b.extend([0x01, 0x02]); // 2 leaves
        // Leaf 0 (left, f0 brighter) moves point 0 by +0.5 in x; leaf 1 moves nothing.
        b.extend([0x81, leaf_rows, 0x81, 0x01]);
        b.extend(half);
        for _ in 1..leaf_rows {
            b.extend(zero);
        }
        b.extend([0x81, 0x04, 0x81, 0x01]);
        for _ in 0..4 {
            b.extend(zero);
        }
        b.extend([0x01, 0x01, 0x01, 0x02, 0x01, anchor, 0x01, 0x01]); // anchors: [anchor, 1]
        b.extend([0x01, 0x01, 0x01, 0x02]); // deltas: [(0, 0), (0, 0)]
        for _ in 0..4 {
            b.extend(zero);
        }
        b
    }

    #[test]
    fn tiny_model_walks_the_tree_and_rejects_bad_indices() {
        let sp = ShapePredictor::from_dat(&tiny_model(1, 4, 0)).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(sp.num_parts(), 2);
        assert!(
            sp.predict5(&RgbImage::new(1, 1), Rect::new(0, 0, 0, 0))
                .is_none()
        );

        // Box (0,0)-(8,8): point 0 at (2,2), point 1 at (4,4). Feature 0 reads (2,2), feature 1
        // reads (4,4); grey (R+G+B)/3 with integer division.
        let mut img = RgbImage::new(9, 9);
        img.data[(2 * 9 + 2) * 3..][..3].copy_from_slice(&[10, 10, 12]); // grey 10
        img.data[(4 * 9 + 4) * 3..][..3].copy_from_slice(&[9, 9, 9]); // grey 9
        let rect = Rect::new(0, 0, 8, 8);
        let p = sp.predict(&img, rect);
        // 10 > 9: left leaf, point 0 moves from x 0.25 to 0.75, i.e. pixel 6.
        assert_eq!(p, vec![Point { x: 6, y: 2 }, Point { x: 4, y: 4 }]);
        img.data[(4 * 9 + 4) * 3..][..3].copy_from_slice(&[10, 10, 11]); // grey 10: not >
        assert_eq!(
            sp.predict(&img, rect),
            vec![Point { x: 2, y: 2 }, Point { x: 4, y: 4 }]
        );
        // A box whose points fall outside the image reads 0 for both features (right leaf).
        assert_eq!(
            sp.predict(&img, Rect::new(-100, -100, -92, -92)),
            vec![Point { x: -98, y: -98 }, Point { x: -96, y: -96 }]
        );

        let good = tiny_model(1, 4, 0);
        assert!(
            ShapePredictor::from_dat(&tiny_model(2, 4, 0)).is_err(),
            "split index"
        );
        assert!(
            ShapePredictor::from_dat(&tiny_model(1, 2, 0)).is_err(),
            "leaf size"
        );
        assert!(
            ShapePredictor::from_dat(&tiny_model(1, 4, 2)).is_err(),
            "anchor"
        );
        assert!(
            ShapePredictor::from_dat(&good[..good.len() - 1]).is_err(),
            "truncated"
        );
        let mut long = good;
        long.push(0);
        assert!(ShapePredictor::from_dat(&long).is_err(), "trailing byte");
    }

    /// Every golden face (HOG and CNN boxes, plus the clipped `from_css` boxes) must give dlib's
    /// landmarks exactly, on the reference's decoded pixels.
    #[test]
    fn golden_landmarks_exact() {
        let Some(dir) = testdata::golden_dir("golden_landmarks_exact") else {
            return;
        };
        let golden = testdata::golden_json(&dir);
        let sp = model();
        let images = golden["images"]
            .as_array()
            .unwrap_or_else(|| panic!("golden.json: no images"));
        let (mut faces, mut from_css, mut mismatches) = (0, 0, Vec::new());
        for image in images {
            let png = image["decoded_png"]
                .as_str()
                .unwrap_or_else(|| panic!("no decoded_png in {}", image["file"]));
            let img = RgbImage::open(&dir.join(png)).unwrap_or_else(|e| panic!("{e:#}"));
            for detector in ["hog", "cnn"] {
                let list = image[detector]
                    .as_array()
                    .unwrap_or_else(|| panic!("{png}: no {detector} list"));
                for (i, face) in list.iter().enumerate() {
                    let mut cases = vec![(face, "rect_ltrb")];
                    if let Some(css) = face.get("from_css") {
                        cases.push((css, "from_css"));
                        from_css += 1;
                    }
                    faces += 1;
                    for (case, what) in cases {
                        let rect = rect_of(&case["rect_ltrb"]);
                        let want = landmarks_of(&case["landmarks5"]);
                        let got = sp.predict5(&img, rect).map(Vec::from);
                        if got.as_ref() != Some(&want) {
                            mismatches.push(format!(
                                "{png} {detector}{i} {what}: got {got:?}, want {want:?}"
                            ));
                        }
                    }
                }
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
        assert_eq!((faces, from_css), (44, 2), "faces checked");
    }

    /// Without the shared data: the cached `obama.jpg` (the golden image, byte for byte) decoded
    /// by the `image` crate. Its pixels differ from PIL's by a few grey levels, so
    /// landmarks may move by a pixel or two from the reference.
    #[test]
    fn obama_jpeg_close_to_reference() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/obama_golden.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        let img =
            RgbImage::open(&testdata::cache_dir().join("testdata/face_recognition/obama.jpg"))
                .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            (img.width as u64, img.height as u64),
            (
                fixture["width"].as_u64().unwrap_or(0),
                fixture["height"].as_u64().unwrap_or(0)
            )
        );
        let faces = fixture["faces"]
            .as_array()
            .unwrap_or_else(|| panic!("fixture: no faces"));
        let (mut points, mut within_1) = (0, 0);
        for face in faces {
            let want = landmarks_of(&face["landmarks5"]);
            let got = model()
                .predict5(&img, rect_of(&face["rect_ltrb"]))
                .unwrap_or_else(|| panic!("not a 5-point model"));
            for (g, w) in got.iter().zip(&want) {
                let d = (g.x - w.x).abs().max((g.y - w.y).abs());
                assert!(
                    d <= 2,
                    "{} landmark {g:?} vs reference {w:?}",
                    face["detector"]
                );
                points += 1;
                within_1 += usize::from(d <= 1);
            }
        }
        assert_eq!(points, 10);
        assert!(within_1 >= 8, "only {within_1} of 10 landmarks within 1 px");
    }

    #[test]
    fn rounds_halves_up_like_dlib() {
        let cases = [
            (0.5, 1),
            (-0.5, 0),
            (-1.5, -1),
            (2.499_999, 2),
            (-0.500_001, -1),
            (-3.0, -3),
            (1e300, i64::MAX),
            (-1e300, i64::MIN),
        ];
        for (v, want) in cases {
            assert_eq!(round_half_up(v), want, "{v}");
        }
    }

    /// Box mappings at exact half pixels, where dlib's least-squares transform rounds away from
    /// the ideal `l + x*(r-l)`. Expected values printed by dlib 20.0's `find_affine_transform`
    /// (compiled from source, same as the reference wheel: no LAPACK).
    #[test]
    fn box_mapping_replays_dlib_rounding() {
        let cases = [
            // rect, normalised point, dlib's rounded point (the ideal formula gives the comment)
            ((1079, 2789, 1213, 2901), (1.25, 0.25), (1246, 2817)), // x 1247
            ((2520, 2713, 3781, 2822), (0.5, -0.5), (3150, 2659)),  // x 3151
            ((48, -219, -101, 87), (0.375, 0.25), (-8, -143)),      // y -142
            ((1330, 800, 2026, 1241), (1.25, -0.5), (2200, 579)),   // y 580
            ((2886, 292, 3448, 507), (1.5, -0.5), (3729, 184)),     // y 185
        ];
        for ((l, t, r, b), (x, y), (px, py)) in cases {
            let (gx, gy) = BoxFrame::new(Rect::new(l, t, r, b)).to_image(x, y);
            assert_eq!(
                (round_half_up(gx), round_half_up(gy)),
                (px, py),
                "rect {l} {t} {r} {b}, point {x} {y}"
            );
        }
        // And bit for bit.
        let (gx, gy) = BoxFrame::new(Rect::new(2886, 292, 3448, 507)).to_image(1.5, -0.5);
        assert_eq!(
            (gx.to_bits(), gy.to_bits()),
            (4_660_418_572_793_675_770, 4_640_695_533_214_629_881)
        );
    }

    /// Two boxes where a feature pixel falls exactly on a half pixel and dlib's rounding flips a
    /// tree decision (found among random boxes; landmarks from the reference dlib-bin 20.0.1.post1
    /// on the golden decoded pixels).
    #[test]
    fn half_pixel_features_like_dlib() {
        let Some(dir) = testdata::golden_dir("half_pixel_features_like_dlib") else {
            return;
        };
        let cases = [
            (
                "decoded/obama_small_border_crop.png",
                Rect::new(49, -35, 198, 97),
                [(142, 24), (119, 24), (65, 25), (86, 25), (101, 56)],
            ),
            (
                "decoded/2008_002470.png",
                Rect::new(-136, 158, 46, 378),
                [(13, 239), (-10, 240), (-75, 238), (-46, 239), (-22, 309)],
            ),
        ];
        for (png, rect, want) in cases {
            let img = RgbImage::open(&dir.join(png)).unwrap_or_else(|e| panic!("{e:#}"));
            let want = want.map(|(x, y)| Point { x, y });
            assert_eq!(model().predict5(&img, rect), Some(want), "{png} {rect:?}");
        }
    }

    /// Release-mode timing: `cargo test --release vision::landmarks -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, run by hand in release mode"]
    fn time_predict5() {
        let img =
            RgbImage::open(&testdata::cache_dir().join("testdata/face_recognition/obama.jpg"))
                .unwrap_or_else(|e| panic!("{e:#}"));
        let sp = model();
        let rect = Rect::new(354, 135, 599, 379);
        let runs = 5_000u32;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(sp.predict5(std::hint::black_box(&img), rect));
        }
        let per_face = start.elapsed() / runs;
        eprintln!("predict5: {:.1} us per face", per_face.as_secs_f64() * 1e6);
    }
}
