//! The on-disk form of one embedding: 128 little-endian `f32`s (512 bytes), as stored in SQLite BLOBs.

use super::{DIM, Error};

/// Size in bytes of an encoded embedding.
pub const BLOB_LEN: usize = DIM * 4;

/// Encode an embedding as little-endian `f32`s, whatever the host's byte order.
pub fn encode_blob(embedding: &[f32; DIM]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOB_LEN);
    for v in embedding {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decode and validate a BLOB written by [`encode_blob`].
///
/// Refuses anything but exactly 512 bytes and any NaN or infinity: one bad value would poison
/// every distance computed against it and, with NaN, the ordering of candidates.
pub fn decode_blob(bytes: &[u8]) -> Result<[f32; DIM], Error> {
    let (chunks, rest) = bytes.as_chunks::<4>();
    if chunks.len() != DIM || !rest.is_empty() {
        return Err(Error::BlobLength(bytes.len()));
    }
    let mut out = [0.0f32; DIM];
    for (i, (dst, chunk)) in out.iter_mut().zip(chunks).enumerate() {
        let v = f32::from_le_bytes(*chunk);
        if !v.is_finite() {
            return Err(Error::BlobNonFinite(i));
        }
        *dst = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_and_little_endian() {
        let mut e = [0.0f32; DIM];
        for (i, v) in e.iter_mut().enumerate() {
            *v = (i as f32 - 64.0) * 0.013;
        }
        e[5] = -0.0;
        e[6] = f32::MIN_POSITIVE;
        let blob = encode_blob(&e);
        assert_eq!(blob.len(), BLOB_LEN);
        assert_eq!(&blob[4..8], &e[1].to_le_bytes());
        let back = decode_blob(&blob).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(back.map(f32::to_bits), e.map(f32::to_bits));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for len in [0, 4, BLOB_LEN - 1, BLOB_LEN + 1, BLOB_LEN + 4] {
            assert_eq!(decode_blob(&vec![0u8; len]), Err(Error::BlobLength(len)));
        }
    }

    #[test]
    fn non_finite_values_are_refused() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut e = [0.1f32; DIM];
            e[77] = bad;
            assert_eq!(decode_blob(&encode_blob(&e)), Err(Error::BlobNonFinite(77)));
        }
    }
}
