//! What matching refuses, as one error type for the layer: a stored embedding that is not one,
//! thresholds that make no sense, a gallery that cannot be built.

use super::BLOB_LEN;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A BLOB of the wrong size for an embedding.
    #[error("embedding blob has {0} bytes, expected {BLOB_LEN}")]
    BlobLength(usize),
    /// A BLOB holding NaN or an infinity at this index.
    #[error("embedding blob has a non-finite value at index {0}")]
    BlobNonFinite(usize),
    #[error(
        "thresholds must be finite and positive (confident {confident}, uncertain {uncertain})"
    )]
    ThresholdsNotPositive { confident: f32, uncertain: f32 },
    #[error("confident threshold {confident} must be below uncertain threshold {uncertain}")]
    ThresholdsOrder { confident: f32, uncertain: f32 },
    /// A gallery row holding NaN or an infinity.
    #[error("embedding {row} has a non-finite value")]
    NonFinite { row: usize },
    /// A gallery row whose BLOB is not an embedding.
    #[error("embedding {row}: {source}")]
    Blob { row: usize, source: Box<Error> },
    #[error("gallery exceeds {} embeddings", u32::MAX)]
    TooLarge,
}
