//! The model files: where they live in the cache, their pinned sha256 (`models/manifest.tsv`),
//! and turning dlib's ResNet into ONNX when the converted file is missing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// `models/manifest.tsv`: relative path, sha256, source. Compiled in so a binary checks exactly
/// the files it was built for.
const MANIFEST: &str = include_str!("../../models/manifest.tsv");

pub const RESNET_DAT: &str = "dlib/dlib_face_recognition_resnet_model_v1.dat";
pub const SHAPE_PREDICTOR_DAT: &str = "dlib/shape_predictor_5_face_landmarks.dat";
pub const RESNET_ONNX: &str = "resnet.onnx";
pub const MMOD_DAT: &str = "dlib/mmod_human_face_detector.dat";

/// Paths of the verified model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub shape_predictor: PathBuf,
    pub resnet_onnx: PathBuf,
}

fn expected_sha(file: &str) -> anyhow::Result<&'static str> {
    MANIFEST
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut cols = l.split('\t');
            (cols.next() == Some(file)).then(|| cols.next()).flatten()
        })
        .with_context(|| format!("{file} is not in models/manifest.tsv"))
}

pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// `dir/file`, checked against its pinned sha256.
pub fn verified(dir: &Path, file: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(file);
    if !path.is_file() {
        bail!("{} is missing: run scripts/setup", path.display());
    }
    let want = expected_sha(file)?;
    let got = sha256_file(&path)?;
    if got != want {
        bail!(
            "{} has sha256 {got}, expected {want}: run scripts/setup",
            path.display()
        );
    }
    Ok(path)
}

/// Verify the dlib files, convert the ResNet to ONNX if needed, verify the result.
/// `models_dir` is `<cache>/models`.
pub fn ensure(models_dir: &Path) -> anyhow::Result<ModelFiles> {
    let shape_predictor = verified(models_dir, SHAPE_PREDICTOR_DAT)?;
    let onnx = models_dir.join(RESNET_ONNX);
    let want = expected_sha(RESNET_ONNX)?;
    let current = if onnx.is_file() {
        Some(sha256_file(&onnx)?)
    } else {
        None
    };
    if current.as_deref() != Some(want) {
        let dat = verified(models_dir, RESNET_DAT)?;
        let got = super::convert::convert_file(&dat, &onnx)?;
        if got != want {
            bail!(
                "converted {} has sha256 {got}, expected {want} (converter changed? update models/manifest.tsv)",
                onnx.display()
            );
        }
        tracing::info!(file = %onnx.display(), sha256 = got, "converted the ResNet to ONNX");
    }
    Ok(ModelFiles {
        shape_predictor,
        resnet_onnx: onnx,
    })
}
