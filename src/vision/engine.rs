//! Everything after the face box, with the models loaded once: 5-point landmarks, the aligned
//! 150x150 chip, and one batched ResNet run for all faces of a photo.

use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;

use super::chip::face_chip;
use super::embed::Embedder;
use super::image::RgbImage;
use super::landmarks::ShapePredictor;
use super::{EMBEDDING_DIM, Landmarks5, Rect, models, runtime};

/// Where the ONNX Runtime library lives inside the cache (fetched by `scripts/setup`).
pub const ORT_LIB: &str = "onnxruntime/libonnxruntime.so.1.32.0";

/// One face, described.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub landmarks: Landmarks5,
    pub embedding: [f32; EMBEDDING_DIM],
}

/// One face's landmarks and aligned chip, not yet through the network.
pub struct Aligned {
    /// In the pixels of the image the face was aligned in.
    pub landmarks: Landmarks5,
    chip: RgbImage,
    /// The mirror image's chip (the flip option).
    mirror: Option<RgbImage>,
}

/// Threads and sessions for the ResNet.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// ONNX Runtime sessions (parallel requests); each holds its own copy of the arena.
    pub sessions: usize,
    /// Intra-op threads per session.
    pub intra_threads: usize,
    /// Test-time flip: each embedding is the mean of the face's and of its mirror image's
    /// (box mirrored, landmarks found again on the mirrored photo, so the chip is the mirrored
    /// chip; not re-normalised). Twice the landmark and network work. Off: dlib's embedding,
    /// bit for bit.
    pub flip: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            sessions: 1,
            intra_threads: cores,
            flip: false,
        }
    }
}

/// The landmark model and the embedding network, shared read-only across threads.
pub struct FaceDescriber {
    predictor: ShapePredictor,
    embedder: Embedder,
    flip: bool,
}

/// `img` mirrored left to right.
#[must_use]
pub fn mirrored(img: &RgbImage) -> RgbImage {
    let mut out = RgbImage::new(img.width, img.height);
    let row = img.width * 3;
    for (src, dst) in img
        .data
        .chunks_exact(row)
        .zip(out.data.chunks_exact_mut(row))
    {
        for (s, d) in src.chunks_exact(3).zip(dst.chunks_exact_mut(3).rev()) {
            d.copy_from_slice(s);
        }
    }
    out
}

/// `r` in the mirrored image of an image `width` pixels wide (inclusive rectangle).
#[must_use]
pub fn mirrored_rect(r: Rect, width: usize) -> Rect {
    let last = i64::try_from(width).unwrap_or(i64::MAX) - 1;
    Rect::new(last - r.right, r.top, last - r.left, r.bottom)
}

impl FaceDescriber {
    /// Load ONNX Runtime and the models from `cache_dir` (converting the ResNet if needed).
    pub fn load(cache_dir: &Path, options: EngineOptions) -> anyhow::Result<Self> {
        let lib = std::path::absolute(cache_dir.join(ORT_LIB))
            .context("resolving the ONNX Runtime path")?;
        anyhow::ensure!(
            lib.is_file(),
            "{} is missing: run scripts/setup",
            lib.display()
        );
        runtime::init(&lib)?;
        let files = models::ensure(&cache_dir.join("models"))?;
        Ok(Self {
            predictor: ShapePredictor::load(&files.shape_predictor)?,
            embedder: Embedder::new(
                &files.resnet_onnx,
                options.sessions.max(1),
                options.intra_threads.max(1),
            )?,
            flip: options.flip,
        })
    }

    /// Landmarks of one face box (dlib's inclusive rectangle, may extend past the image).
    pub fn landmarks(&self, img: &RgbImage, rect: Rect) -> anyhow::Result<Landmarks5> {
        self.predictor
            .predict5(img, rect)
            .context("the landmark model is not a 5-point model")
    }

    /// Embeddings of aligned 150x150 chips, in one batched run.
    pub fn embed_chips(&self, chips: &[RgbImage]) -> anyhow::Result<Vec<[f32; EMBEDDING_DIM]>> {
        self.embedder.embed(chips)
    }

    /// Landmarks, chip and embedding for every box, with one batched network run.
    pub fn describe(&self, img: &RgbImage, boxes: &[Rect]) -> anyhow::Result<Vec<Described>> {
        self.embed_aligned(self.align(img, boxes)?)
    }

    /// Landmarks and aligned chip of every box (with the flip option, also the mirror image's
    /// chip), ready for [`FaceDescriber::embed_aligned`].
    pub fn align(&self, img: &RgbImage, boxes: &[Rect]) -> anyhow::Result<Vec<Aligned>> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        // Landmarks and chips are independent per face (~0.7 ms each): spread them over the cores.
        let aligned = boxes
            .par_iter()
            .map(|b| self.landmarks(img, *b).map(|l| (l, face_chip(img, &l))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut mirrors: Vec<Option<RgbImage>> = (0..boxes.len()).map(|_| None).collect();
        if self.flip {
            let mirror = mirrored(img);
            let flipped = boxes
                .par_iter()
                .map(|b| {
                    self.landmarks(&mirror, mirrored_rect(*b, img.width))
                        .map(|l| face_chip(&mirror, &l))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            mirrors = flipped.into_iter().map(Some).collect();
        }
        Ok(aligned
            .into_iter()
            .zip(mirrors)
            .map(|((landmarks, chip), mirror)| Aligned {
                landmarks,
                chip,
                mirror,
            })
            .collect())
    }

    /// Embeddings of aligned faces (from any number of images), in one batched network run;
    /// with the flip option each is the mean of the chip's and its mirror image's.
    pub fn embed_aligned(&self, aligned: Vec<Aligned>) -> anyhow::Result<Vec<Described>> {
        if aligned.is_empty() {
            return Ok(Vec::new());
        }
        let n = aligned.len();
        let mut landmarks = Vec::with_capacity(n);
        let mut chips = Vec::with_capacity(2 * n);
        let mut mirrors = Vec::new();
        for a in aligned {
            landmarks.push(a.landmarks);
            chips.push(a.chip);
            mirrors.extend(a.mirror);
        }
        anyhow::ensure!(
            mirrors.is_empty() || mirrors.len() == n,
            "some faces have a mirror image's chip and some do not"
        );
        let flipped = !mirrors.is_empty();
        chips.extend(mirrors);
        let mut embeddings = self.embed_chips(&chips)?;
        if flipped {
            let mirror = embeddings.split_off(n);
            for (e, m) in embeddings.iter_mut().zip(&mirror) {
                for (x, y) in e.iter_mut().zip(m) {
                    *x = (*x + *y) / 2.0;
                }
            }
        }
        Ok(landmarks
            .into_iter()
            .zip(embeddings)
            .map(|(landmarks, embedding)| Described {
                landmarks,
                embedding,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::*;
    use crate::vision::testdata;

    /// One describer per test process (ONNX Runtime allows one environment anyway).
    fn describer() -> &'static FaceDescriber {
        static D: OnceLock<FaceDescriber> = OnceLock::new();
        D.get_or_init(|| {
            FaceDescriber::load(
                &testdata::cache_dir(),
                EngineOptions {
                    sessions: 1,
                    intra_threads: 2,
                    flip: false,
                },
            )
            .unwrap_or_else(|e| panic!("{e:#}"))
        })
    }

    fn rect(v: &Value) -> Rect {
        let n = |i: usize| v[i].as_i64().unwrap_or_else(|| panic!("bad rect {v}"));
        Rect::new(n(0), n(1), n(2), n(3))
    }

    fn floats(v: &Value) -> Vec<f32> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array"))
            .iter()
            .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
            .collect()
    }

    fn points(v: &Value) -> Vec<[i64; 2]> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array"))
            .iter()
            .map(|p| [p[0].as_i64().unwrap_or(-1), p[1].as_i64().unwrap_or(-1)])
            .collect()
    }

    fn max_abs_and_l2(a: &[f32], b: &[f32]) -> (f32, f32) {
        let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        (
            d.iter().fold(0f32, |m, x| m.max(x.abs())),
            d.iter().map(|x| x * x).sum::<f32>().sqrt(),
        )
    }

    /// Every golden face (HOG and CNN boxes, and the clipped-box variants): exact landmarks and
    /// an embedding within float noise of dlib's, starting from the reference decode.
    #[test]
    fn golden_faces_match_dlib() {
        let Some(dir) = testdata::golden_dir("golden_faces_match_dlib") else {
            return;
        };
        let golden = testdata::golden_json(&dir);
        let d = describer();
        let (mut checked, mut worst_abs, mut worst_l2) = (0, 0f32, 0f32);
        for image in golden["images"].as_array().into_iter().flatten() {
            let png = dir.join(image["decoded_png"].as_str().unwrap_or_default());
            let img = RgbImage::open(&png).unwrap_or_else(|e| panic!("{e:#}"));
            let mut faces: Vec<&Value> = Vec::new();
            for det in ["hog", "cnn"] {
                for f in image[det].as_array().into_iter().flatten() {
                    faces.push(f);
                    if f.get("from_css").is_some() {
                        faces.push(&f["from_css"]);
                    }
                }
            }
            let boxes: Vec<Rect> = faces.iter().map(|f| rect(&f["rect_ltrb"])).collect();
            let got = d.describe(&img, &boxes).unwrap_or_else(|e| panic!("{e:#}"));
            for (f, g) in faces.iter().zip(&got) {
                let lm: Vec<[i64; 2]> = g.landmarks.iter().map(|p| [p.x, p.y]).collect();
                assert_eq!(lm, points(&f["landmarks5"]), "{png:?} {}", f["rect_ltrb"]);
                let (abs, l2) = max_abs_and_l2(&g.embedding, &floats(&f["encoding"]));
                assert!(
                    abs < 1e-4 && l2 < 0.01,
                    "{png:?} {}: max abs {abs}, L2 {l2}",
                    f["rect_ltrb"]
                );
                worst_abs = worst_abs.max(abs);
                worst_l2 = worst_l2.max(l2);
                checked += 1;
            }
        }
        assert_eq!(checked, 46, "44 golden faces + 2 clipped-box variants");
        eprintln!("golden: {checked} faces, worst max abs {worst_abs:e}, worst L2 {worst_l2:e}");
    }

    /// The four golden chips, embedded in one batch, and the same in a batch of 40.
    #[test]
    fn golden_chips_embed_like_dlib_in_any_batch() {
        let Some(dir) = testdata::golden_dir("golden_chips_embed_like_dlib_in_any_batch") else {
            return;
        };
        let golden = testdata::golden_json(&dir);
        let mut chips = Vec::new();
        let mut expected = Vec::new();
        for image in golden["images"].as_array().into_iter().flatten() {
            for f in image["cnn"].as_array().into_iter().flatten() {
                if let Some(png) = f["chip150_png"].as_str() {
                    chips.push(RgbImage::open(&dir.join(png)).unwrap_or_else(|e| panic!("{e:#}")));
                    expected.push(floats(&f["encoding"]));
                }
            }
        }
        assert_eq!(chips.len(), 4);
        let d = describer();
        let small = d.embed_chips(&chips).unwrap_or_else(|e| panic!("{e:#}"));
        for (got, want) in small.iter().zip(&expected) {
            let (abs, l2) = max_abs_and_l2(got, want);
            assert!(abs < 1e-4 && l2 < 0.01, "max abs {abs}, L2 {l2}");
        }
        let forty: Vec<RgbImage> = chips.iter().cycle().take(40).cloned().collect();
        let big = d.embed_chips(&forty).unwrap_or_else(|e| panic!("{e:#}"));
        for (i, got) in big.iter().enumerate() {
            let (abs, _) = max_abs_and_l2(got, &small[i % 4]);
            assert!(abs < 1e-5, "batch 40 row {i} differs from batch 4 by {abs}");
        }
    }

    /// Without the shared data set (docs/architecture.md, "Test data"): obama.jpg from the
    /// face_recognition sdist, decoded as uploads are (libjpeg-turbo-exact, the pixels PIL gave
    /// dlib), against dlib's numbers kept as a fixture: landmarks exact, embeddings within float
    /// noise.
    #[test]
    fn obama_jpg_is_close_to_dlib_and_far_from_biden() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/obama_golden.json"))
                .unwrap_or_else(|e| panic!("{e}"));
        let photos = testdata::cache_dir().join("testdata/face_recognition");
        let img = RgbImage::open(&photos.join("obama.jpg")).unwrap_or_else(|e| panic!("{e:#}"));
        let d = describer();
        for f in fixture["faces"].as_array().into_iter().flatten() {
            let got = d
                .describe(&img, &[rect(&f["rect_ltrb"])])
                .unwrap_or_else(|e| panic!("{e:#}"));
            let (_, l2) = max_abs_and_l2(&got[0].embedding, &floats(&f["encoding"]));
            assert!(l2 < 1e-4, "{}: L2 {l2} to dlib's encoding", f["detector"]);
            let lm: Vec<[i64; 2]> = got[0].landmarks.iter().map(|p| [p.x, p.y]).collect();
            assert_eq!(lm, points(&f["landmarks5"]));
        }
        // A different person is far beyond the 0.6 tolerance; obama2.jpg is within it.
        let cnn = rect(&fixture["faces"][1]["rect_ltrb"]);
        let obama = d.describe(&img, &[cnn]).unwrap_or_else(|e| panic!("{e:#}"))[0].embedding;
        let biden = RgbImage::open(&photos.join("biden.jpg")).unwrap_or_else(|e| panic!("{e:#}"));
        // biden.jpg's CNN box in the golden data.
        let b = d
            .describe(&biden, &[Rect::new(425, 214, 719, 507)])
            .unwrap_or_else(|e| panic!("{e:#}"))[0]
            .embedding;
        let (_, dist) = max_abs_and_l2(&obama, &b);
        assert!(dist > 0.6, "obama vs biden distance {dist}");
    }

    #[test]
    fn mirroring_twice_is_the_identity() {
        let mut img = RgbImage::new(3, 2);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = u8::try_from(i).unwrap_or(0);
        }
        let m = mirrored(&img);
        assert_eq!(m.pixel(0, 1), img.pixel(2, 1));
        assert_eq!(m.pixel(1, 0), img.pixel(1, 0));
        assert_eq!(mirrored(&m), img);
        let r = Rect::new(-5, 1, 1, 9);
        assert_eq!(mirrored_rect(r, 3), Rect::new(1, 1, 7, 9));
        assert_eq!(mirrored_rect(mirrored_rect(r, 3), 3), r);
    }

    /// With the flip, a face and its mirror image get the same embedding (the mean of the same
    /// two chips, up to batch noise); it stays near the plain one, with the same landmarks, and
    /// Obama stays far from Biden.
    #[test]
    fn flipped_embedding_is_mirror_symmetric_and_keeps_identities() {
        let flip = FaceDescriber::load(
            &testdata::cache_dir(),
            EngineOptions {
                sessions: 1,
                intra_threads: 2,
                flip: true,
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let photos = testdata::cache_dir().join("testdata/face_recognition");
        let img = RgbImage::open(&photos.join("obama.jpg")).unwrap_or_else(|e| panic!("{e:#}"));
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/obama_golden.json"))
                .unwrap_or_else(|e| panic!("{e}"));
        let cnn = rect(&fixture["faces"][1]["rect_ltrb"]);
        let plain = describer()
            .describe(&img, &[cnn])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let both = flip
            .describe(&img, &[cnn])
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(both[0].landmarks, plain[0].landmarks);
        let (_, moved) = max_abs_and_l2(&both[0].embedding, &plain[0].embedding);
        assert!(
            moved > 0.0 && moved < 0.2,
            "flip moved the embedding by {moved}"
        );
        let other = flip
            .describe(&mirrored(&img), &[mirrored_rect(cnn, img.width)])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (_, asym) = max_abs_and_l2(&both[0].embedding, &other[0].embedding);
        assert!(asym < 1e-4, "photo and mirror photo differ by {asym}");
        let biden = RgbImage::open(&photos.join("biden.jpg")).unwrap_or_else(|e| panic!("{e:#}"));
        let b = flip
            .describe(&biden, &[Rect::new(425, 214, 719, 507)])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (_, dist) = max_abs_and_l2(&both[0].embedding, &b[0].embedding);
        assert!(dist > 0.6, "obama vs biden distance {dist} with flip");
    }

    #[test]
    fn no_boxes_no_work_and_wrong_chip_sizes_are_errors() {
        let d = describer();
        assert!(
            d.describe(&RgbImage::new(10, 10), &[])
                .unwrap_or_else(|e| panic!("{e:#}"))
                .is_empty()
        );
        assert!(d.embed_chips(&[RgbImage::new(149, 150)]).is_err());
        // A box far outside a tiny image still yields a (black-chip) embedding, never a panic.
        let out = d.describe(&RgbImage::new(4, 4), &[Rect::new(-500, -500, -400, -400)]);
        assert_eq!(out.map(|v| v.len()).unwrap_or(0), 1);
    }
}
