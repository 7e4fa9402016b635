//! The face pipeline, free of web and async types: dlib model files, 5-point landmarks,
//! aligned chips and ResNet embeddings through ONNX Runtime. Everything here is synchronous
//! and shared across threads; callers run it on a blocking pool.

pub mod chip;
pub mod convert;
pub mod decode;
pub mod detect;
pub mod dlib;
pub mod embed;
pub mod engine;
pub mod eval;
pub mod image;
pub mod landmarks;
pub mod malloc;
pub mod models;
pub mod mtcnn;
pub mod onnx;
pub mod pipeline;
pub mod resize;
pub mod runtime;
#[cfg(test)]
pub(crate) mod testdata;
pub mod torch;

/// dlib's integer rectangle: inclusive on all sides (`width = right - left + 1`).
/// Values may lie outside the image, as detectors return them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl Rect {
    #[must_use]
    pub const fn new(left: i64, top: i64, right: i64, bottom: i64) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    /// Width as dlib counts it, both edges included.
    #[must_use]
    pub const fn width(&self) -> i64 {
        self.right - self.left + 1
    }
}

/// An integer pixel position, as dlib's `point` (landmarks are rounded with `floor(v + 0.5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

/// The five landmarks of dlib's 5-point model, in its order: outer and inner corner of the eye
/// on the image right, outer and inner corner of the eye on the image left, base of the nose.
pub type Landmarks5 = [Point; 5];

/// Faces narrower than this (photo pixels, counted inclusively as dlib counts its rectangles)
/// are small: narrower than enrolment accepts. The class-photo pipeline aligns them in an
/// enlarged crop, and marking asks a nearer match of them (docs/recognition.md, "Small faces").
pub const SMALL_FACE_PX: i64 = 40;

/// Length of a face embedding.
pub const EMBEDDING_DIM: usize = 128;

/// Side of the aligned face chip the ResNet reads.
pub const CHIP_SIZE: usize = 150;
