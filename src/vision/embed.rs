//! 128-d face embeddings: N aligned chips in, one batched ONNX Runtime run, N vectors out.
//! The converted graph normalises pixels itself, so this only lays the chips out as NCHW floats.

use std::path::Path;

use anyhow::ensure;
use ort::value::TensorRef;

use super::image::RgbImage;
use super::runtime::SessionPool;
use super::{CHIP_SIZE, EMBEDDING_DIM};

pub struct Embedder {
    pool: SessionPool,
}

impl Embedder {
    /// Load the converted ResNet (`runtime::init` must have run).
    pub fn new(onnx: &Path, sessions: usize, intra_threads: usize) -> anyhow::Result<Self> {
        Ok(Self {
            pool: SessionPool::new(onnx, sessions, intra_threads)?,
        })
    }

    /// Embed 150x150 chips (as `chip::face_chip` makes them). Output is dlib's raw descriptor,
    /// not normalised (distances compare with the 0.6 tolerance as in face_recognition).
    pub fn embed(&self, chips: &[RgbImage]) -> anyhow::Result<Vec<[f32; EMBEDDING_DIM]>> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let plane = CHIP_SIZE * CHIP_SIZE;
        let mut input = vec![0f32; chips.len() * 3 * plane];
        for (chip, out) in chips.iter().zip(input.chunks_exact_mut(3 * plane)) {
            ensure!(
                chip.width == CHIP_SIZE && chip.height == CHIP_SIZE && chip.data.len() == 3 * plane,
                "a chip must be {CHIP_SIZE}x{CHIP_SIZE}, got {}x{}",
                chip.width,
                chip.height
            );
            let (r, rest) = out.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            for (i, px) in chip.data.chunks_exact(3).enumerate() {
                r[i] = f32::from(px[0]);
                g[i] = f32::from(px[1]);
                b[i] = f32::from(px[2]);
            }
        }
        let n = chips.len();
        let flat = self.pool.with(|session| -> anyhow::Result<Vec<f32>> {
            let tensor =
                TensorRef::from_array_view(([n, 3, CHIP_SIZE, CHIP_SIZE], input.as_slice()))
                    .map_err(|e| anyhow::anyhow!("input tensor: {e}"))?;
            let outputs = session
                .run(ort::inputs![tensor])
                .map_err(|e| anyhow::anyhow!("running the ResNet: {e}"))?;
            let (_, data) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(|e| anyhow::anyhow!("reading the embeddings: {e}"))?;
            Ok(data.to_vec())
        })?;
        ensure!(
            flat.len() == n * EMBEDDING_DIM,
            "the ResNet returned {} values for {n} chips",
            flat.len()
        );
        Ok(flat
            .chunks_exact(EMBEDDING_DIM)
            .map(|c| {
                let mut v = [0f32; EMBEDDING_DIM];
                v.copy_from_slice(c);
                v
            })
            .collect())
    }
}
