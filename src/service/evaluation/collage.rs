//! Group photos put together from single-person photos (`rollcall eval collage`): the small
//! faces of a class photo, with every face's person known. LFW's crops have one person in the
//! centre, so each tile is the centre of one crop scaled until its face has the width drawn for
//! the photo, laid out on a plain background in a grid of 1-6. Face widths are drawn
//! log-uniformly from 20 px (the smallest face marking looks for) up to what the grid allows,
//! so about half are under 40 px: the faces where a stranger is most easily taken for a student
//! (docs/recognition.md, "Small faces"). Deterministic for a seed.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::TruthLine;
use crate::vision::Rect;
use crate::vision::decode::{Limits, decode};
use crate::vision::image::RgbImage;

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    /// Photo widths to draw from.
    pub widths: Vec<usize>,
    /// Share of faces that are strangers (drawn from the stranger pool while it lasts).
    pub strangers: f64,
    /// Stop after this many photos (or when the members run out).
    pub max_photos: usize,
    /// Widest face drawn, px.
    pub largest_face: f64,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seed: 1,
            widths: vec![
                273, 320, 400, 500, 640, 800, 1024, 1280, 1600, 2000, 3024, 4032,
            ],
            strangers: 0.2,
            max_photos: usize::MAX,
            largest_face: 300.0,
        }
    }
}

/// A single-person photo: LFW's layout, the person's face in the centre 115/250 of the crop.
#[derive(Debug, Clone)]
pub struct Portrait {
    pub path: PathBuf,
    pub person: String,
}

/// The portraits of `from` (truth lines of single-person photos, relative to `root`): those of
/// a person the enrolment names (members) and the rest (strangers).
pub fn portraits(
    enrol: &[(String, PathBuf)],
    from: &[TruthLine],
    root: &Path,
) -> (Vec<Portrait>, Vec<Portrait>) {
    let class: std::collections::BTreeSet<&str> = enrol.iter().map(|(p, _)| p.as_str()).collect();
    from.iter()
        .filter_map(|t| {
            Some(Portrait {
                path: root.join(&t.photo),
                person: t.person.clone()?,
            })
        })
        .partition(|p| class.contains(p.person.as_str()))
}

/// SplitMix64: a small generator whose sequence never changes with a crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    #[allow(clippy::cast_possible_truncation)]
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Where LFW's crop puts the face, as fractions of the crop: the tile is the centre
/// `TILE` of it, the face the centre `FACE` (LFW's detector box, 115/250).
const TILE: (f64, f64) = (35.0 / 250.0, 215.0 / 250.0);
const FACE: (f64, f64) = (67.5 / 250.0, 182.5 / 250.0);

/// Build photos from `members` (persons of the class) and `strangers` into `out` (JPEG files),
/// each portrait used once; returns the truth lines, photos named relative to `out`.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]
pub fn build(
    members: &[Portrait],
    strangers: &[Portrait],
    spec: &Spec,
    out: &Path,
) -> anyhow::Result<Vec<TruthLine>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut rng = Rng(spec.seed);
    let shuffled = |list: &[Portrait], rng: &mut Rng| {
        let mut v = list.to_vec();
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i + 1));
        }
        v
    };
    let mut members = shuffled(members, &mut rng);
    let mut strangers = shuffled(strangers, &mut rng);
    let limits = Limits::default();
    let mut lines = Vec::new();
    let mut n = 0;
    while !members.is_empty() && n < spec.max_photos {
        let w = spec.widths[rng.below(spec.widths.len())];
        let h = (w as f64 * [0.75, 2.0 / 3.0, 0.5625][rng.below(3)]) as usize;
        let k = 1 + rng.below(6);
        let cols = if (w as f64) / (h as f64) < 1.6 {
            k.min(3)
        } else {
            k
        };
        let rows = k.div_ceil(cols);
        let cell = (w / cols).min(h / rows) as f64;
        let largest = (cell / 1.7).min(spec.largest_face);
        if largest < 20.0 {
            continue;
        }
        let smallest = (0.012 * w as f64).clamp(20.0, largest);
        let face = rng.range(smallest.ln(), largest.ln()).exp();
        let mut canvas = background(w, h, &mut rng);
        let name = format!("c{n:03}_{w}x{h}_{k}f_{face:.0}px.jpg");
        let mut persons: Vec<String> = Vec::new();
        for j in 0..k {
            let pool = if rng.unit() < spec.strangers && !strangers.is_empty() {
                &mut strangers
            } else {
                &mut members
            };
            let Some(pos) = pool.iter().rposition(|p| !persons.contains(&p.person)) else {
                break;
            };
            let p = pool.remove(pos);
            let bytes =
                std::fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
            let img = decode(&bytes, &limits).with_context(|| p.path.display().to_string())?;
            let side = img.width.min(img.height);
            let side_in = side as f64;
            // This face's width (within 15% of the photo's) is the face box's share of the tile.
            let want = face * rng.range(0.85, 1.15);
            let tile_in = (TILE.1 - TILE.0) * side_in;
            let tile = ((want / ((FACE.1 - FACE.0) * side_in)) * tile_in).round() as usize;
            let tile = tile.clamp(8, w.min(h));
            let from = (TILE.0 * side_in).round() as usize;
            let len = (tile_in.round() as usize).clamp(1, side - from);
            let part = img.crop(from, from, len, len);
            let scaled = part.resized(tile, tile);
            let (r, c) = (j / cols, j % cols);
            let jitter = |rng: &mut Rng| (rng.range(-0.1, 0.1) * cell) as i64;
            let cx = (w as f64 * (c as f64 + 0.5) / cols as f64) as i64 + jitter(&mut rng);
            let cy = (h as f64 * (r as f64 + 0.5) / rows as f64) as i64 + jitter(&mut rng);
            let x0 = (cx - tile as i64 / 2).clamp(0, (w - tile) as i64) as usize;
            let y0 = (cy - tile as i64 / 2).clamp(0, (h - tile) as i64) as usize;
            canvas.paste(&scaled, x0, y0);
            let at = |f: f64, o: usize| {
                o as i64 + ((f - TILE.0) / (TILE.1 - TILE.0) * tile as f64) as i64
            };
            let b = Rect::new(
                at(FACE.0, x0),
                at(FACE.0, y0),
                at(FACE.1, x0),
                at(FACE.1, y0),
            );
            persons.push(p.person.clone());
            lines.push(TruthLine {
                photo: name.clone(),
                person: Some(p.person),
                bbox: Some(b),
            });
        }
        std::fs::write(out.join(&name), canvas.to_jpeg(90)?)?;
        n += 1;
    }
    Ok(lines)
}

/// A left-to-right blend of two colours with a little noise.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn background(w: usize, h: usize, rng: &mut Rng) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let a: [f64; 3] = std::array::from_fn(|_| rng.range(40.0, 220.0));
    let b: [f64; 3] = std::array::from_fn(|_| rng.range(40.0, 220.0));
    for y in 0..h {
        for x in 0..w {
            let t = x as f64 / w as f64;
            for ch in 0..3 {
                let v = a[ch] * (1.0 - t) + b[ch] * t + rng.range(-8.0, 8.0);
                img.data[(y * w + x) * 3 + ch] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}
