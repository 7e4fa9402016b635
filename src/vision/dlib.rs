//! Reader for dlib's serialization format (the `.dat` model files): variable-length integers,
//! mantissa/exponent floats, strings, matrices and raw float32 tensors. See
//! `docs/dlib-formats.md`, section 1.

use anyhow::{Context, bail, ensure};

/// A cursor over a dlib stream. Every read checks bounds; malformed input is an error.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A tensor's shape and float32 payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// `num_samples, k, nr, nc`.
    pub dims: [i64; 4],
    pub data: Vec<f32>,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    #[must_use]
    pub fn is_at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Fail unless the whole stream was consumed.
    pub fn expect_end(&self) -> anyhow::Result<()> {
        ensure!(
            self.is_at_end(),
            "{} trailing bytes after offset {}",
            self.bytes.len() - self.pos,
            self.pos
        );
        Ok(())
    }

    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).context("length overflow")?;
        ensure!(
            end <= self.bytes.len(),
            "unexpected end of stream at offset {} (need {n} bytes)",
            self.pos
        );
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// Any dlib integer (signed or unsigned), widened to i64.
    pub fn int(&mut self) -> anyhow::Result<i64> {
        let at = self.pos;
        let control = self.byte()?;
        ensure!(
            control & 0x70 == 0,
            "bad integer control byte {control:#04x} at offset {at}"
        );
        let n = usize::from(control & 0x0f);
        ensure!(
            (1..=8).contains(&n),
            "bad integer length {n} at offset {at}"
        );
        let mut magnitude: u64 = 0;
        for (i, b) in self.take(n)?.iter().enumerate() {
            magnitude |= u64::from(*b) << (8 * i);
        }
        let value = i64::try_from(magnitude)
            .with_context(|| format!("integer too large at offset {at}"))?;
        Ok(if control & 0x80 != 0 { -value } else { value })
    }

    /// An unsigned integer (a negative value is an error).
    pub fn uint(&mut self) -> anyhow::Result<u64> {
        let at = self.pos;
        let v = self.int()?;
        u64::try_from(v)
            .with_context(|| format!("negative value {v} for an unsigned field at offset {at}"))
    }

    /// A count or size, bounded so a corrupt file cannot ask for absurd allocations.
    pub fn count(&mut self, max: usize) -> anyhow::Result<usize> {
        let at = self.pos;
        let v = usize::try_from(self.uint()?)?;
        ensure!(v <= max, "size {v} at offset {at} exceeds the limit {max}");
        Ok(v)
    }

    /// A `float`/`double` scalar: mantissa (int) times 2^exponent (int), computed in f64.
    pub fn float(&mut self) -> anyhow::Result<f64> {
        let at = self.pos;
        let first = *self
            .bytes
            .get(self.pos)
            .context("unexpected end of stream")?;
        ensure!(
            first & 0x70 == 0,
            "legacy ASCII float at offset {at} is not supported"
        );
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            32000 => f64::INFINITY,
            32001 => f64::NEG_INFINITY,
            32002 => f64::NAN,
            e => {
                let e = i32::try_from(e)
                    .with_context(|| format!("float exponent out of range at offset {at}"))?;
                // mantissa fits 53 bits for every value dlib writes.
                #[allow(clippy::cast_precision_loss)]
                let m = mantissa as f64;
                m * 2f64.powi(e)
            }
        })
    }

    /// A `float` scalar narrowed to f32.
    #[allow(clippy::cast_possible_truncation)]
    pub fn float32(&mut self) -> anyhow::Result<f32> {
        Ok(self.float()? as f32)
    }

    pub fn bool(&mut self) -> anyhow::Result<bool> {
        let at = self.pos;
        match self.byte()? {
            b'0' => Ok(false),
            b'1' => Ok(true),
            b => bail!("bad bool byte {b:#04x} at offset {at}"),
        }
    }

    pub fn string(&mut self) -> anyhow::Result<String> {
        let n = self.count(1 << 20)?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).context("string is not UTF-8")
    }

    /// Read a string and require it to be `expected` (layer version tags).
    pub fn expect_string(&mut self, expected: &str) -> anyhow::Result<()> {
        let at = self.pos;
        let s = self.string()?;
        ensure!(
            s == expected,
            "expected {expected:?} at offset {at}, found {s:?}"
        );
        Ok(())
    }

    /// Read an integer and require it to be `expected`.
    pub fn expect_int(&mut self, expected: i64, what: &str) -> anyhow::Result<()> {
        let at = self.pos;
        let v = self.int()?;
        ensure!(
            v == expected,
            "{what}: expected {expected} at offset {at}, found {v}"
        );
        Ok(())
    }

    /// A `matrix<float>`: rows and columns (stored negated), then row-major varint floats.
    pub fn matrix_f32(&mut self) -> anyhow::Result<(usize, usize, Vec<f32>)> {
        let at = self.pos;
        let nr = usize::try_from(self.int()?.unsigned_abs())?;
        let nc = usize::try_from(self.int()?.unsigned_abs())?;
        let n = nr
            .checked_mul(nc)
            .filter(|n| *n <= 1 << 24)
            .with_context(|| format!("matrix too large at offset {at}"))?;
        let data = (0..n)
            .map(|_| self.float32())
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((nr, nc, data))
    }

    /// A `resizable_tensor`: version 2, four dims, raw little-endian float32 payload.
    pub fn tensor(&mut self) -> anyhow::Result<Tensor> {
        self.expect_int(2, "tensor version")?;
        let dims = [self.int()?, self.int()?, self.int()?, self.int()?];
        let count = dims
            .iter()
            .try_fold(1usize, |acc, d| {
                usize::try_from(*d).ok().and_then(|d| acc.checked_mul(d))
            })
            .filter(|n| *n <= 1 << 28)
            .with_context(|| format!("bad tensor dims {dims:?}"))?;
        let raw = self.take(count.checked_mul(4).context("tensor too large")?)?;
        let data = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Tensor { dims, data })
    }

    /// An `alias_tensor` (shape only): version 1, four dims.
    pub fn alias_tensor(&mut self) -> anyhow::Result<[i64; 4]> {
        self.expect_int(1, "alias_tensor version")?;
        Ok([self.int()?, self.int()?, self.int()?, self.int()?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_documented() {
        let bytes = [
            0x01, 0x01, 0x01, 0x96, 0x81, 0x04, 0x02, 0x2c, 0x01, 0x01, 0x00,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int().ok(), Some(1));
        assert_eq!(r.int().ok(), Some(150));
        assert_eq!(r.int().ok(), Some(-4));
        assert_eq!(r.int().ok(), Some(300));
        assert_eq!(r.int().ok(), Some(0));
        assert!(r.expect_end().is_ok());
        assert!(Reader::new(&[0x00]).int().is_err(), "zero-length integer");
        assert!(Reader::new(&[0x21, 0x00]).int().is_err(), "reserved bits");
        assert!(Reader::new(&[0x02, 0x00]).int().is_err(), "truncated");
        assert!(
            Reader::new(&[0x81, 0x04]).uint().is_err(),
            "negative unsigned"
        );
    }

    #[test]
    fn floats_as_documented() {
        // 1.0 from a double (16 * 2^-4) and from a float (128 * 2^-7); 0.04 and 0.6 from the ResNet header.
        let bytes = [
            0x01, 0x10, 0x81, 0x04, 0x01, 0x80, 0x81, 0x07, 0x03, 0x0a, 0xd7, 0xa3, 0x81, 0x1c,
            0x03, 0x9a, 0x99, 0x99, 0x81, 0x18,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.float().ok(), Some(1.0));
        assert_eq!(r.float().ok(), Some(1.0));
        assert_eq!(r.float32().ok(), Some(0.04));
        assert_eq!(r.float32().ok(), Some(0.6));
        assert!(r.expect_end().is_ok());
    }

    #[test]
    fn tensors_strings_and_bools() {
        let mut bytes = vec![0x01, 0x02, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x01];
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
        bytes.extend_from_slice(&[0x01, 0x03, b'a', b'b', b'c', b'1', b'0']);
        let mut r = Reader::new(&bytes);
        let t = r.tensor().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.dims, [1, 2, 1, 1]);
        assert_eq!(t.data, vec![1.5, -2.0]);
        assert_eq!(r.string().ok().as_deref(), Some("abc"));
        assert_eq!(r.bool().ok(), Some(true));
        assert_eq!(r.bool().ok(), Some(false));
        assert!(r.expect_end().is_ok());
        assert!(
            Reader::new(&[0x01, 0x02, 0x01, 0x7f]).tensor().is_err(),
            "truncated dims"
        );
    }
}
