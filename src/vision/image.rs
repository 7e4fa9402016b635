//! A plain RGB8 image: row-major, 3 bytes per pixel, no stride.

use std::path::Path;

#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `height * width * 3` bytes, R G B.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// A black image.
    #[must_use]
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }

    /// Wrap raw RGB bytes; `None` when the length does not match.
    #[must_use]
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width.checked_mul(height)?.checked_mul(3)?).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// The pixel at (x, y); the caller keeps x < width and y < height.
    #[inline]
    #[must_use]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Decode a trusted file (tests, CLI) the way uploads are decoded: JPEG through the
    /// libjpeg-turbo-exact decoder (the pixels PIL gives face_recognition), EXIF orientation
    /// applied, alpha dropped as PIL's `convert('RGB')` does. Only the upload size limits are
    /// relaxed.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let limits = super::decode::Limits {
            max_bytes: usize::MAX,
            ..super::decode::Limits::default()
        };
        super::decode::decode(&bytes, &limits)
            .map_err(|e| anyhow::anyhow!("decoding {}: {e}", path.display()))
    }

    /// The pixels as a baseline JPEG at `quality` (1-100) and nothing else: a JFIF header, no
    /// EXIF (so no GPS position, camera serial or orientation tag), XMP, ICC profile or comment.
    pub fn to_jpeg(&self, quality: u8) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode(
            &self.data,
            u32::try_from(self.width)?,
            u32::try_from(self.height)?,
            image::ExtendedColorType::Rgb8,
        )?;
        Ok(out)
    }

    /// This image resampled to `width` x `height` (dlib's bilinear resize, as the detector's
    /// working images are made).
    #[must_use]
    pub fn resized(&self, width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: super::resize::resize_rgb(&self.data, self.width, self.height, width, height),
        }
    }

    /// `src` copied over this image with its top left corner at (`x0`, `y0`); it must fit
    /// inside.
    pub fn paste(&mut self, src: &Self, x0: usize, y0: usize) {
        for y in 0..src.height {
            let dst = ((y0 + y) * self.width + x0) * 3;
            self.data[dst..dst + src.width * 3]
                .copy_from_slice(&src.data[y * src.width * 3..(y + 1) * src.width * 3]);
        }
    }

    /// Copy of the rectangle `[x0, x0+w) x [y0, y0+h)`, which must lie inside the image.
    #[must_use]
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Self {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in y0..y0 + h {
            let start = (y * self.width + x0) * 3;
            out.extend_from_slice(&self.data[start..start + w * 3]);
        }
        Self {
            width: w,
            height: h,
            data: out,
        }
    }
}
