//! `rollcall embed` and `rollcall faces`: what the vision pipeline sees in one image, as JSON.

use std::path::PathBuf;

use anyhow::Context;

use super::common::CacheArg;

/// Print the 5 landmarks and the 128-d embedding of one face box in an image, as JSON.
#[derive(Debug, clap::Args)]
pub struct Embed {
    /// Image file (JPEG, PNG).
    image: PathBuf,
    /// dlib's inclusive rectangle LEFT,TOP,RIGHT,BOTTOM, as a detector returns it
    /// (values may be negative or beyond the image).
    #[arg(long = "box", value_name = "L,T,R,B", allow_hyphen_values = true)]
    face_box: String,
    #[command(flatten)]
    cache: CacheArg,
}

impl Embed {
    pub fn run(self) -> anyhow::Result<()> {
        embed(&self.image, &self.face_box, &self.cache.resolve())
    }
}

/// Find every face in a photo and print boxes, landmarks and embeddings as JSON, with
/// timings (`--repeat` runs the whole photo path that many times).
#[derive(Debug, clap::Args)]
pub struct Faces {
    /// Photo (JPEG, PNG, WebP, GIF, BMP), decoded as an upload would be.
    image: PathBuf,
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Analyse as a portrait or live webcam frame (faces of at least 80 px and 10% of the
    /// longer side), as enrolment and live attendance do.
    #[arg(long)]
    portrait: bool,
    #[command(flatten)]
    vision: crate::config::VisionSettings,
    #[command(flatten)]
    cache: CacheArg,
}

impl Faces {
    pub fn run(self) -> anyhow::Result<()> {
        faces(
            &self.image,
            self.repeat,
            self.portrait,
            &self.vision,
            &self.cache.resolve(),
        )
    }
}

fn embed(image: &std::path::Path, face_box: &str, cache: &std::path::Path) -> anyhow::Result<()> {
    use crate::vision::engine::{EngineOptions, FaceDescriber};
    let rect = parse_box(face_box)?;
    let img = crate::vision::image::RgbImage::open(image)?;
    let describer = FaceDescriber::load(cache, EngineOptions::default())?;
    let face = describer
        .describe(&img, &[rect])?
        .pop()
        .context("no result for the box")?;
    let out = serde_json::json!({
        "landmarks": face.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
        "embedding": face.embedding.to_vec(),
    });
    outln!("{out}")?;
    Ok(())
}

fn faces(
    image: &std::path::Path,
    repeat: usize,
    portrait: bool,
    vision: &crate::config::VisionSettings,
    cache: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::vision::pipeline::{Pipeline, Subject};
    let subject = if portrait {
        Subject::Portrait
    } else {
        Subject::Class
    };
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    let started = std::time::Instant::now();
    let pipeline = Pipeline::load(cache, vision.pipeline_options()?)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = std::time::Instant::now();
        let analysis = pipeline.faces_of(&bytes, subject)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(analysis);
    }
    let analysis = last.context("no run")?;
    let faces: Vec<_> = analysis
        .faces
        .iter()
        .map(|f| {
            serde_json::json!({
                "box": [f.rect.left, f.rect.top, f.rect.right, f.rect.bottom],
                "score": f.score,
                "landmarks": f.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                "embedding": f.embedding.to_vec(),
            })
        })
        .collect();
    let out = serde_json::json!({
        "width": analysis.width,
        "height": analysis.height,
        "faces": faces,
        "load_ms": load_ms,
        "ms": times,
    });
    outln!("{out}")?;
    Ok(())
}

/// `L,T,R,B` as four integers.
fn parse_box(raw: &str) -> anyhow::Result<crate::vision::Rect> {
    let v: Vec<i64> = raw
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--box {raw:?}: expected four integers L,T,R,B"))?;
    match v[..] {
        [l, t, r, b] if r >= l && b >= t => Ok(crate::vision::Rect::new(l, t, r, b)),
        [_, _, _, _] => anyhow::bail!("--box {raw:?}: right must be >= left and bottom >= top"),
        _ => anyhow::bail!("--box {raw:?}: expected four integers L,T,R,B"),
    }
}
