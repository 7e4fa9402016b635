//! Accuracy figures for the pipeline on public data: LFW verification pairs and hand-labelled
//! face boxes in group photos (`rollcall eval ...`).

use std::path::Path;

use anyhow::{Context, bail, ensure};

use super::Rect;
use super::image::RgbImage;
use super::pipeline::{Pipeline, Upsample};

/// One LFW pair: two image paths (relative to the image root) and whether they are the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub same: bool,
}

fn lfw_path(name: &str, n: &str) -> anyhow::Result<String> {
    let n: u32 = n.parse().with_context(|| format!("image number {n:?}"))?;
    ensure!(
        !name.contains(['/', '\\']) && !name.starts_with('.'),
        "bad name {name:?}"
    );
    Ok(format!("{name}/{name}_{n:04}.jpg"))
}

/// Parse LFW's `pairs.txt` (View 2 format: a header line, then `name n1 n2` for matched and
/// `name1 n1 name2 n2` for mismatched pairs).
pub fn parse_pairs(text: &str) -> anyhow::Result<Vec<Pair>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            [] => {}
            [name, n1, n2] => out.push(Pair {
                a: lfw_path(name, n1)?,
                b: lfw_path(name, n2)?,
                same: true,
            }),
            [p, n1, q, n2] => out.push(Pair {
                a: lfw_path(p, n1)?,
                b: lfw_path(q, n2)?,
                same: false,
            }),
            _ => bail!("pairs line {}: {line:?}", i + 1),
        }
    }
    ensure!(!out.is_empty(), "no pairs");
    Ok(out)
}

/// The first `n` matched and the first `n` mismatched pairs (a quick subset).
#[must_use]
pub fn first_pairs(pairs: &[Pair], n: usize) -> Vec<Pair> {
    let same = pairs.iter().filter(|p| p.same).take(n);
    let different = pairs.iter().filter(|p| !p.same).take(n);
    same.chain(different).cloned().collect()
}

/// What `rollcall eval lfw` reports.
#[derive(Debug, Clone)]
pub struct LfwReport {
    pub pairs: usize,
    pub images: usize,
    /// Images where no face was detected and a centred box was used instead.
    pub fallbacks: usize,
    pub accuracy_at_06: f64,
    pub best_threshold: f32,
    pub best_accuracy: f64,
    /// Distances of (same, different) pairs, for the caller's own statistics.
    pub distances: Vec<(f32, bool)>,
    /// Time spent in landmarks, chips and embeddings (one face per image), in seconds.
    pub describe_secs: f64,
}

/// The face an LFW image is about: the detection nearest the centre (LFW crops are centred
/// on the labelled person), or `None` when nothing was detected.
fn central(faces: &[(Rect, f32)], width: usize, height: usize) -> Option<Rect> {
    #[allow(clippy::cast_precision_loss)]
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    faces
        .iter()
        .map(|(r, _)| {
            #[allow(clippy::cast_precision_loss)]
            let (x, y) = (
                (r.left + r.right) as f64 / 2.0,
                (r.top + r.bottom) as f64 / 2.0,
            );
            (*r, (x - cx).powi(2) + (y - cy).powi(2))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r)
}

/// The box used when the detector finds nothing: the centre of an LFW crop, where its
/// Viola-Jones detection put the face (about 115 px of 250).
fn centre_box(width: usize, height: usize) -> Rect {
    let (w, h) = (
        i64::try_from(width).unwrap_or(250),
        i64::try_from(height).unwrap_or(250),
    );
    let side = w.min(h) * 115 / 250;
    let (l, t) = ((w - side) / 2, (h - side) / 2);
    Rect::new(l, t, l + side - 1, t + side - 1)
}

/// Embed every image of `pairs` (each once) and score the pairs.
pub fn lfw(
    pipeline: &Pipeline,
    pairs: &[Pair],
    images: &Path,
    upsample: Upsample,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<LfwReport> {
    let mut names: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut embeddings = std::collections::HashMap::new();
    let mut fallbacks = 0;
    let mut describe_secs = 0.0;
    for (i, name) in names.iter().enumerate() {
        let path = images.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let img = super::decode::decode(&bytes, &pipeline.options().limits)
            .with_context(|| format!("decoding {}", path.display()))?;
        let dets = pipeline.detect(&img, upsample)?;
        let rect = if let Some(r) = central(&dets, img.width, img.height) {
            r
        } else {
            fallbacks += 1;
            centre_box(img.width, img.height)
        };
        let started = std::time::Instant::now();
        let d = pipeline
            .describer()
            .describe(&img, &[rect])?
            .pop()
            .context("no description")?;
        describe_secs += started.elapsed().as_secs_f64();
        embeddings.insert(*name, d.embedding);
        progress(i + 1, names.len());
    }
    let mut distances = Vec::with_capacity(pairs.len());
    for p in pairs {
        let (a, b) = (&embeddings[p.a.as_str()], &embeddings[p.b.as_str()]);
        let d = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        distances.push((d, p.same));
    }
    let accuracy = |t: f32| {
        let right = distances.iter().filter(|(d, s)| (*d <= t) == *s).count();
        #[allow(clippy::cast_precision_loss)]
        let a = right as f64 / distances.len() as f64;
        a
    };
    // Best threshold on this fold (optimistic: chosen on the data it is scored on).
    let mut best = (0.6f32, accuracy(0.6));
    for (d, _) in &distances {
        let a = accuracy(*d);
        if a > best.1 {
            best = (*d, a);
        }
    }
    Ok(LfwReport {
        pairs: pairs.len(),
        images: names.len(),
        fallbacks,
        accuracy_at_06: accuracy(0.6),
        best_threshold: best.0,
        best_accuracy: best.1,
        distances,
        describe_secs,
    })
}

/// One labelled image of an imglab XML file.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub file: String,
    pub boxes: Vec<Rect>,
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    Some(&rest[..rest.find(quote)?])
}

/// Parse dlib's imglab XML (`<image file=...><box top left width height [ignore]/>`).
/// Boxes marked `ignore` are dropped (none in dlib's example sets).
pub fn parse_imglab(xml: &str) -> anyhow::Result<Vec<Labelled>> {
    let mut out: Vec<Labelled> = Vec::new();
    for tag in xml.split('<').skip(1) {
        if tag.starts_with("image ") {
            let file = attr(tag, "file").context("<image> without file")?;
            out.push(Labelled {
                file: file.to_owned(),
                boxes: Vec::new(),
            });
        } else if tag.starts_with("box ") {
            let n = |k: &str| -> anyhow::Result<i64> {
                attr(tag, k)
                    .with_context(|| format!("<box> without {k}"))?
                    .parse()
                    .with_context(|| format!("<box> {k}"))
            };
            if attr(tag, "ignore") == Some("1") {
                continue;
            }
            let (t, l, w, h) = (n("top")?, n("left")?, n("width")?, n("height")?);
            out.last_mut()
                .context("<box> outside <image>")?
                .boxes
                .push(Rect::new(l, t, l + w - 1, t + h - 1));
        }
    }
    Ok(out)
}

/// Intersection over union of two inclusive rectangles.
#[must_use]
pub fn iou(a: Rect, b: Rect) -> f64 {
    let iw = (a.right.min(b.right) - a.left.max(b.left) + 1).max(0);
    let ih = (a.bottom.min(b.bottom) - a.top.max(b.top) + 1).max(0);
    let area = |r: Rect| (r.right - r.left + 1) * (r.bottom - r.top + 1);
    let inter = iw * ih;
    #[allow(clippy::cast_precision_loss)]
    let v = inter as f64 / (area(a) + area(b) - inter) as f64;
    v
}

/// Detection quality on labelled photos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoxCounts {
    pub truth: usize,
    pub detected: usize,
    pub matched: usize,
}

impl BoxCounts {
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn recall(&self) -> f64 {
        self.matched as f64 / self.truth.max(1) as f64
    }
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn precision(&self) -> f64 {
        if self.detected == 0 {
            1.0
        } else {
            self.matched as f64 / self.detected as f64
        }
    }
}

/// Greedy one-to-one matching at IoU >= 0.5, best pairs first.
#[must_use]
pub fn match_boxes(truth: &[Rect], detected: &[Rect]) -> BoxCounts {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, t) in truth.iter().enumerate() {
        for (j, d) in detected.iter().enumerate() {
            let v = iou(*t, *d);
            if v >= 0.5 {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_t, mut used_d) = (vec![false; truth.len()], vec![false; detected.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !used_t[i] && !used_d[j] {
            used_t[i] = true;
            used_d[j] = true;
            matched += 1;
        }
    }
    BoxCounts {
        truth: truth.len(),
        detected: detected.len(),
        matched,
    }
}

/// Detect on every labelled image and count matches.
pub fn boxes(
    pipeline: &Pipeline,
    labelled: &[Labelled],
    dir: &Path,
    upsample: Upsample,
) -> anyhow::Result<BoxCounts> {
    let runs = boxes_compared(pipeline, labelled, dir, &[upsample], 1.0, 1)?;
    Ok(runs.first().map(|r| r.counts).unwrap_or_default())
}

/// One rule's result over a set of labelled photos.
#[derive(Debug, Clone, Default)]
pub struct BoxRun {
    pub counts: BoxCounts,
    /// Per photo, the median time of detection + landmarks + embeddings, ms.
    pub ms: Vec<f64>,
}

/// The inclusive rectangle `r` of a photo scaled by `scale`.
#[must_use]
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
pub fn scale_rect(r: Rect, scale: f64) -> Rect {
    let f = |v: i64| (v as f64 * scale).round() as i64;
    Rect::new(f(r.left), f(r.top), f(r.right + 1) - 1, f(r.bottom + 1) - 1)
}

/// Every labelled photo (and its boxes) scaled by `scale`, analysed by each rule in turn,
/// `repeat` rounds interleaved (rule A, rule B, A, B...) so that a busy machine slows all
/// rules alike; matches counted on the last round.
pub fn boxes_compared(
    pipeline: &Pipeline,
    labelled: &[Labelled],
    dir: &Path,
    rules: &[Upsample],
    scale: f32,
    repeat: usize,
) -> anyhow::Result<Vec<BoxRun>> {
    let mut runs = vec![BoxRun::default(); rules.len()];
    for l in labelled {
        let path = dir.join(&l.file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let img = super::decode::decode(&bytes, &pipeline.options().limits)
            .with_context(|| format!("decoding {}", path.display()))?;
        let img = super::pipeline::scaled(&img, scale);
        let truth: Vec<Rect> = l
            .boxes
            .iter()
            .map(|r| scale_rect(*r, f64::from(scale)))
            .collect();
        let mut times = vec![Vec::new(); rules.len()];
        let mut last = vec![Vec::new(); rules.len()];
        for _ in 0..repeat.max(1) {
            for (i, rule) in rules.iter().enumerate() {
                let t = std::time::Instant::now();
                let faces = pipeline.faces_with(&img, *rule)?;
                times[i].push(t.elapsed().as_secs_f64() * 1e3);
                last[i] = faces.iter().map(|f| f.rect).collect();
            }
        }
        for (i, run) in runs.iter_mut().enumerate() {
            let c = match_boxes(&truth, &last[i]);
            run.counts.truth += c.truth;
            run.counts.detected += c.detected;
            run.counts.matched += c.matched;
            run.ms.push(median(&mut times[i]));
        }
    }
    Ok(runs)
}

/// The median of `v` (0 when empty).
#[must_use]
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// A deliberate blur, for calibrating the enrolment sharpness gate on copies of real faces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blur {
    /// Gaussian of this sigma.
    Gauss(f32),
    /// Horizontal motion (a box of this many pixels).
    Motion(f32),
}

impl std::str::FromStr for Blur {
    type Err = String;
    /// `gauss:SIGMA` or `motion:LENGTH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected gauss:SIGMA or motion:LENGTH");
        let (kind, v) = s.split_once(':').ok_or_else(bad)?;
        let v: f32 = v.parse().map_err(|_| bad())?;
        if !(v > 0.0 && v < 200.0) {
            return Err(bad());
        }
        match kind {
            "gauss" => Ok(Self::Gauss(v)),
            "motion" => Ok(Self::Motion(v)),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Blur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gauss(s) => write!(f, "gauss:{s}"),
            Self::Motion(l) => write!(f, "motion:{l}"),
        }
    }
}

impl Blur {
    /// The same blur `factor` times stronger.
    #[must_use]
    pub fn scaled(self, factor: f32) -> Self {
        match self {
            Self::Gauss(s) => Self::Gauss(s * factor),
            Self::Motion(l) => Self::Motion(l * factor),
        }
    }

    /// Horizontal and vertical kernels (normalised).
    fn kernels(self) -> (Vec<f32>, Vec<f32>) {
        match self {
            Self::Gauss(sigma) => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let r = (3.0 * sigma).ceil().max(1.0) as usize;
                #[allow(clippy::cast_precision_loss)]
                let k: Vec<f32> = (0..=2 * r)
                    .map(|i| {
                        let x = i as f32 - r as f32;
                        (-x * x / (2.0 * sigma * sigma)).exp()
                    })
                    .collect();
                let sum: f32 = k.iter().sum();
                let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
                (k.clone(), k)
            }
            Self::Motion(len) => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let n = (len.round().max(1.0) as usize) | 1;
                #[allow(clippy::cast_precision_loss)]
                let k = vec![1.0 / n as f32; n];
                (k, vec![1.0])
            }
        }
    }

    /// A copy of `img` with the rectangle `[l, t, r, b)` (clipped to the image) blurred;
    /// pixels outside it are unchanged, the kernel reads past its edges (clamped at the
    /// image's).
    #[must_use]
    pub fn apply(self, img: &RgbImage, rect: [i64; 4]) -> RgbImage {
        let (kx, ky) = self.kernels();
        let clamp = |v: i64, max: usize| usize::try_from(v.max(0)).unwrap_or(0).min(max);
        let (l, t) = (clamp(rect[0], img.width), clamp(rect[1], img.height));
        let (r, b) = (clamp(rect[2], img.width), clamp(rect[3], img.height));
        let mut out = img.clone();
        if r <= l || b <= t {
            return out;
        }
        let (rx, ry) = (kx.len() / 2, ky.len() / 2);
        // Horizontal pass over the rows the vertical pass reads.
        let (y0, y1) = (t.saturating_sub(ry), (b + ry).min(img.height));
        let w = r - l;
        let mut rows = vec![0f32; (y1 - y0) * w * 3];
        for y in y0..y1 {
            for x in l..r {
                for c in 0..3 {
                    let mut acc = 0.0;
                    for (i, k) in kx.iter().enumerate() {
                        let sx = (x + i).saturating_sub(rx).min(img.width - 1);
                        acc += k * f32::from(img.data[(y * img.width + sx) * 3 + c]);
                    }
                    rows[((y - y0) * w + (x - l)) * 3 + c] = acc;
                }
            }
        }
        for y in t..b {
            for x in l..r {
                for c in 0..3 {
                    let mut acc = 0.0;
                    for (i, k) in ky.iter().enumerate() {
                        let sy = (y + i).saturating_sub(ry).clamp(y0, y1 - 1);
                        acc += k * rows[((sy - y0) * w + (x - l)) * 3 + c];
                    }
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let v = acc.round().clamp(0.0, 255.0) as u8;
                    out.data[(y * img.width + x) * 3 + c] = v;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blurs_parse_and_keep_flat_areas_and_the_outside() {
        assert_eq!("gauss:2".parse::<Blur>(), Ok(Blur::Gauss(2.0)));
        assert_eq!("motion:9".parse::<Blur>(), Ok(Blur::Motion(9.0)));
        assert!("gauss:0".parse::<Blur>().is_err());
        assert!("box:2".parse::<Blur>().is_err());
        let mut img = RgbImage::new(20, 10);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = if (i / 3) % 20 < 10 { 0 } else { 200 };
        }
        for blur in [Blur::Gauss(2.0), Blur::Motion(5.0)] {
            let out = blur.apply(&img, [2, 2, 18, 8]);
            // Outside the rectangle, and far from the edge inside it, nothing changes.
            assert_eq!(out.pixel(0, 0), img.pixel(0, 0));
            assert_eq!(out.pixel(19, 9), img.pixel(19, 9));
            assert_eq!(out.pixel(2, 5), [0, 0, 0]);
            // Across the edge, grey between the two.
            let [v, _, _] = out.pixel(10, 5);
            assert!(v > 20 && v < 180, "{blur}: {v}");
        }
    }

    #[test]
    fn pairs_and_imglab_parse() {
        let pairs =
            parse_pairs("1\t2\nA_B\t1\t4\nA_B\t1\tC_D\t12\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pairs,
            vec![
                Pair {
                    a: "A_B/A_B_0001.jpg".into(),
                    b: "A_B/A_B_0004.jpg".into(),
                    same: true
                },
                Pair {
                    a: "A_B/A_B_0001.jpg".into(),
                    b: "C_D/C_D_0012.jpg".into(),
                    same: false
                },
            ]
        );
        assert!(parse_pairs("1\t1\n../x\t1\t2\n").is_err());
        assert!(parse_pairs("1\t1\na b c d e\n").is_err());
        let xml = "<images><image file='a.jpg' width='5'>\n<box top='10' left='20' width='30' height='40'/>\n<box top='1' left='2' width='3' height='4' ignore='1'/></image><image file=\"b.jpg\"></image></images>";
        let l = parse_imglab(xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].file, "a.jpg");
        assert_eq!(l[0].boxes, vec![Rect::new(20, 10, 49, 49)]);
        assert!(l[1].boxes.is_empty());
    }

    fn pipeline() -> Pipeline {
        let mut options = super::super::pipeline::PipelineOptions::default();
        options.engine.intra_threads = 2;
        Pipeline::load(&crate::vision::testdata::cache_dir(), options)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// LFW fold 1, a subset (the full fold is `rollcall eval lfw`, figures in README.md).
    #[test]
    fn lfw_subset_verifies_like_dlib() {
        let Some(shared) = crate::vision::testdata::shared_dir_for("lfw_subset_verifies_like_dlib")
        else {
            return;
        };
        let dir = shared.join("data/lfw-fold1");
        let text = std::fs::read_to_string(dir.join("pairs.txt")).unwrap_or_else(|e| panic!("{e}"));
        let all = parse_pairs(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 600);
        let pairs = first_pairs(&all, 40);
        let p = pipeline();
        let r = lfw(&p, &pairs, &dir, p.options().upsample, |_, _| {})
            .unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!(
            "LFW subset: {} pairs, accuracy {:.4} at 0.6, {} fallbacks",
            r.pairs, r.accuracy_at_06, r.fallbacks
        );
        assert_eq!(r.pairs, 80);
        assert!(r.accuracy_at_06 >= 0.95, "accuracy {}", r.accuracy_at_06);
        assert_eq!(r.fallbacks, 0);
    }

    /// dlib's hand-labelled group photos (faces of 37-50 px): one upsampling finds 40 of 43
    /// at IoU >= 0.5, two find all; no more than one false alarm.
    #[test]
    fn labelled_group_photos_recall_and_precision() {
        let Some(shared) =
            crate::vision::testdata::shared_dir_for("labelled_group_photos_recall_and_precision")
        else {
            return;
        };
        let dir = shared.join("data/dlib-faces");
        let mut labelled = Vec::new();
        for f in ["training.xml", "testing.xml"] {
            let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
            labelled.extend(parse_imglab(&text).unwrap_or_else(|e| panic!("{e}")));
        }
        let p = pipeline();
        let one =
            boxes(&p, &labelled, &dir, Upsample::Times(1)).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(one.truth, 43);
        assert!(one.recall() >= 0.9 && one.precision() >= 0.95, "{one:?}");
        let two =
            boxes(&p, &labelled, &dir, Upsample::Times(2)).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(two.recall() >= 0.99 && two.precision() >= 0.95, "{two:?}");
    }

    #[test]
    fn matching_is_one_to_one() {
        let t = [Rect::new(0, 0, 9, 9), Rect::new(100, 100, 109, 109)];
        let d = [
            Rect::new(0, 0, 9, 9),
            Rect::new(1, 1, 10, 10),
            Rect::new(300, 300, 310, 310),
        ];
        let c = match_boxes(&t, &d);
        assert_eq!(
            c,
            BoxCounts {
                truth: 2,
                detected: 3,
                matched: 1
            }
        );
        assert!((c.recall() - 0.5).abs() < 1e-12);
        assert!((c.precision() - 1.0 / 3.0).abs() < 1e-12);
    }
}
