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
pub const MMOD_ONNX: &str = "mmod.onnx";

/// Paths of the verified model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub shape_predictor: PathBuf,
    pub resnet_onnx: PathBuf,
    pub mmod_dat: PathBuf,
    pub mmod_onnx: PathBuf,
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

/// Verify the dlib files, convert both networks to ONNX where needed, verify the results.
/// `models_dir` is `<cache>/models`.
pub fn ensure(models_dir: &Path) -> anyhow::Result<ModelFiles> {
    let shape_predictor = verified(models_dir, SHAPE_PREDICTOR_DAT)?;
    let resnet_onnx = converted(
        models_dir,
        RESNET_DAT,
        RESNET_ONNX,
        super::convert::convert_file,
    )?;
    let mmod_onnx = converted(
        models_dir,
        MMOD_DAT,
        MMOD_ONNX,
        super::convert::convert_mmod_file,
    )?;
    Ok(ModelFiles {
        shape_predictor,
        resnet_onnx,
        mmod_dat: verified(models_dir, MMOD_DAT)?,
        mmod_onnx,
    })
}

/// `models_dir/onnx` with its pinned sha256, converted from `dat` first when missing or stale.
fn converted(
    models_dir: &Path,
    dat: &str,
    onnx: &str,
    convert: fn(&Path, &Path) -> anyhow::Result<String>,
) -> anyhow::Result<PathBuf> {
    let path = models_dir.join(onnx);
    let want = expected_sha(onnx)?;
    let current = if path.is_file() {
        Some(sha256_file(&path)?)
    } else {
        None
    };
    if current.as_deref() != Some(want) {
        let source = verified(models_dir, dat)?;
        let got = convert(&source, &path)?;
        if got != want {
            bail!(
                "converted {} has sha256 {got}, expected {want} (converter changed? update models/manifest.tsv)",
                path.display()
            );
        }
        tracing::info!(file = %path.display(), sha256 = got, "converted a dlib network to ONNX");
    }
    Ok(path)
}
