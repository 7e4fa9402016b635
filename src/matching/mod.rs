//! Matching faces to enrolled students: no I/O, no async, no web types.
//!
//! - [`Gallery`]: a subject's enrolled embeddings, contiguous `f32` with precomputed norms,
//!   built from `(student, embedding)` pairs or from the database's little-endian BLOBs
//!   ([`encode_blob`] / [`decode_blob`]); [`GalleryCache`] shares built galleries.
//! - [`search`]: all faces of a photo against a gallery in one pass (rayon + SIMD), exact L2
//!   distance, per student the nearest embedding, the `k` nearest students per face.
//! - [`Thresholds`] and [`Verdict`]: present / uncertain / unknown by distance.
//! - [`assign`] / [`match_faces`]: one face per student and one student per face, globally optimal.
//! - [`least_covering`]: which of a student's samples to let go when the gallery is full.

mod assign;
mod blob;
mod coverage;
mod error;
mod gallery;
mod search;
mod simd;
mod verdict;

pub use assign::{FaceMatch, assign, match_faces};
pub use blob::{BLOB_LEN, decode_blob, encode_blob};
pub use coverage::least_covering;
pub use error::Error;
pub use gallery::{Gallery, GalleryBuilder, GalleryCache};
pub use search::{Candidate, SearchOptions, distance, search, search_with, sq_norm};
pub use simd::{Isa, detected_isa};
pub use verdict::{Thresholds, Verdict};

/// Length of a face embedding (dlib's ResNet).
pub const DIM: usize = 128;
