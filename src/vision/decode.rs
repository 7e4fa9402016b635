//! Turning untrusted upload bytes into an [`RgbImage`], safely.
//!
//! Uploads are hostile until proven otherwise, so the order of checks matters: the byte count
//! is checked before anything is parsed, the format is taken from the magic bytes only (never a
//! file name or content type), and the declared width and height are read from the header and
//! checked before a single pixel buffer is allocated. That last step is the guard against
//! decompression bombs: a few hundred bytes of PNG can declare 30000x30000 pixels.
//!
//! The conversion to RGB8 matches PIL's `convert('RGB')` (what `face_recognition` does):
//! grayscale is replicated, alpha is dropped rather than composited, 16-bit samples are scaled
//! to 8 bits. Unlike `face_recognition`, the EXIF orientation is applied, so phone photos
//! come out upright.
//!
//! JPEG pixels themselves depend on the decoder: IDCT rounding and chroma upsampling are not
//! fixed by the standard. PIL decodes with libjpeg-turbo (islow IDCT, fancy upsampling), and
//! zune-jpeg (the `image` crate's decoder) differs from it by a few grey levels, enough to move
//! landmarks by a pixel. So JPEGs go through MozJPEG's copy of the libjpeg-turbo decoder by
//! default ([`JpegDecoder::Turbo`]), which gives PIL's pixels; zune stays selectable.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

use super::image::RgbImage;

/// What an upload may be; anything beyond is refused before it is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Size of the encoded file.
    pub max_bytes: usize,
    /// Declared `width * height`.
    pub max_pixels: u64,
    /// Declared width and height, each.
    pub max_side: u32,
}

impl Default for Limits {
    /// 20 MiB, 50 megapixels, 12 000 px per side: above any phone camera, far below what
    /// would hurt the server.
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 12_000,
        }
    }
}

/// Why an upload was refused. The messages are shown to the client (as 4xx details), so they
/// say what is wrong with the file, not how the server works.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the image is empty")]
    Empty,
    #[error("the image is too large: {bytes} bytes, at most {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("the image has too many pixels: {width}x{height}")]
    TooManyPixels { width: u32, height: u32 },
    #[error("unsupported image format: {ACCEPTED} are accepted")]
    Unsupported,
    /// HEIC/HEIF (the iPhone camera's default): recognised, but not decoded (an HEVC decoder
    /// is C code with a patent-encumbered codec and a history of memory bugs on hostile input).
    #[error(
        "HEIC/HEIF photos (the iPhone camera's default) are not accepted: export the photo as JPEG, or set the camera to Most Compatible (Settings > Camera > Formats); {ACCEPTED} are accepted"
    )]
    Heic,
    #[error("the image is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// The formats uploads may be in, as told to clients.
pub const ACCEPTED: &str = "JPEG, PNG, WebP, GIF (first frame) and BMP";

/// Headroom on top of the pixel buffer for the decoders' own tables, metadata chunks and
/// row buffers.
const ALLOC_SLACK: u64 = 64 * 1024 * 1024;

/// Bytes per pixel the allocation budget is sized for: RGBA8, the widest common layout.
/// 16-bit images near the pixel limit exceed it and are refused as too many pixels.
const BUDGET_BYTES_PER_PIXEL: u64 = 4;

/// Which decoder turns JPEG data into pixels. PNG and WebP always use the `image` crate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JpegDecoder {
    /// libjpeg-turbo's decoder as vendored by MozJPEG (C, statically linked), with the
    /// defaults PIL uses: islow IDCT, fancy upsampling. Same pixels as `face_recognition`.
    #[default]
    Turbo,
    /// zune-jpeg via the `image` crate (pure Rust); differs from PIL by a few levels.
    Zune,
}

/// Decode an uploaded JPEG, PNG, WebP, GIF (its first frame) or BMP into an upright RGB8 image within `limits`, JPEGs with
/// the default [`JpegDecoder`].
///
/// Never panics: a panicking decoder (a bug in a dependency) is reported as [`DecodeError::Corrupt`].
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<RgbImage, DecodeError> {
    decode_with(bytes, limits, JpegDecoder::default())
}

/// [`decode`] with a choice of JPEG decoder.
pub fn decode_with(
    bytes: &[u8],
    limits: &Limits,
    jpeg: JpegDecoder,
) -> Result<RgbImage, DecodeError> {
    // Size first: nothing about an oversized body is worth parsing.
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = match sniff(bytes) {
        Some(f) => f,
        None if is_heic(bytes) => return Err(DecodeError::Heic),
        None => return Err(DecodeError::Unsupported),
    };
    // `image` decodes JPEG leniently and fills a cut-off scan with grey; a half-uploaded
    // photo must be refused like PIL refuses it, not enrolled as half a face.
    if format == ImageFormat::Jpeg && !jpeg_reaches_eoi(bytes) {
        return Err(DecodeError::Corrupt(
            "the JPEG data ends before its end-of-image marker".to_owned(),
        ));
    }
    // The decoders are meant never to panic, but they parse hostile data; one bug there must
    // cost a 4xx, not a worker thread. libjpeg reports fatal errors by unwinding too (the
    // `mozjpeg` crate's error handler), with its message as the payload.
    catch_unwind(AssertUnwindSafe(|| match (format, jpeg) {
        (ImageFormat::Jpeg, JpegDecoder::Turbo) => decode_jpeg_turbo(bytes, limits),
        _ => decode_format(bytes, format, limits),
    }))
    .unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .and_then(|m| m.strip_prefix("libjpeg fatal error: "))
            .map_or("the image could not be decoded", str::trim);
        Err(DecodeError::Corrupt(msg.to_owned()))
    })
}

/// The format from the magic bytes alone. `image`'s own guesser knows more formats (TIFF,
/// ICO, ...) than we want to expose to uploads, so the allow-list lives here.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(PNG) {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if bytes.len() >= 26 && bytes.starts_with(b"BM") {
        // The 14-byte file header, then a DIB header whose size is one of the known ones.
        let dib = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
        matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124).then_some(ImageFormat::Bmp)
    } else {
        None
    }
}

/// Whether the bytes are an HEIC/HEIF photo: an ISO media file whose `ftyp` box names an HEIF
/// brand (major or compatible).
#[must_use]
pub fn is_heic(bytes: &[u8]) -> bool {
    const BRANDS: [&[u8]; 8] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
    ];
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return false;
    }
    let size = usize::try_from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .unwrap_or(0)
        .clamp(16, bytes.len().min(256));
    // Major brand at 8..12, minor version at 12..16, compatible brands after.
    std::iter::once(&bytes[8..12])
        .chain(bytes[16..size].chunks_exact(4))
        .any(|b| BRANDS.contains(&b))
}

/// Width and height from the header of an accepted upload format (JPEG, PNG, WebP, GIF, BMP),
/// without decoding the pixels; `None` for anything else or a header that does not parse.
#[must_use]
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let format = sniff(bytes)?;
    catch_unwind(AssertUnwindSafe(|| {
        ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .ok()
    }))
    .ok()
    .flatten()
}

/// The content type of an accepted upload format (`image/jpeg`, `image/png`, `image/webp`,
/// `image/gif`, `image/bmp`), from the magic bytes alone; `None` for anything else.
#[must_use]
pub fn mime_type(bytes: &[u8]) -> Option<&'static str> {
    sniff(bytes).map(|f| f.to_mime_type())
}

/// Whether the JPEG's segment structure runs up to an EOI marker within `bytes`.
///
/// Walks the segments by their lengths (so an EXIF thumbnail's own EOI inside APP1 does not
/// count) and the entropy-coded data after each SOS up to the next real marker; progressive
/// files have several scans. Data after the EOI (phone vendors append trailers) is ignored.
fn jpeg_reaches_eoi(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let mut i = 2; // past SOI
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while i + 1 < n && bytes[i] == 0xFF && bytes[i + 1] == 0xFF {
            i += 1;
        }
        if i + 1 >= n || bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        i += 2;
        match marker {
            0xD9 => return true,
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        if i + 2 > n {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        if len < 2 || i + len > n {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data: 0xFF is escaped as FF 00, restarts are FF D0..D7; any other
            // marker ends the scan.
            loop {
                if i + 1 >= n {
                    return false;
                }
                if bytes[i] != 0xFF {
                    i += 1;
                    continue;
                }
                match bytes[i + 1] {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    0xFF => i += 1,
                    _ => break,
                }
            }
        }
    }
}

fn decode_format(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<RgbImage, DecodeError> {
    let budget = limits
        .max_pixels
        .saturating_mul(BUDGET_BYTES_PER_PIXEL)
        .saturating_add(ALLOC_SLACK);

    // Open the decoder with only the memory budget: width/height limits here would make
    // `into_decoder` fail with a generic limit error before we learn the declared size, and
    // the client deserves "30000x30000 is too many pixels". Opening reads headers only.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits(None, budget));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;

    // The decompression-bomb guard: refuse on the declared size, before allocating pixels.
    let (width, height) = decoder.dimensions();
    check_declared_size(width, height, limits)?;
    let too_many = DecodeError::TooManyPixels { width, height };
    // Second guard, in case a decoder's idea of the output differs from its header: the
    // buffer `from_decoder` allocates is `total_bytes`, and the decoder's own limits now
    // include the side limits too.
    if decoder.total_bytes() > budget {
        return Err(too_many);
    }
    decoder
        .set_limits(image_limits(Some(limits.max_side), budget))
        .map_err(|e| limit_or_corrupt(e, width, height))?;

    // A broken EXIF block is no reason to refuse a photo whose pixels are fine: shown as
    // stored, like `face_recognition` would.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img =
        DynamicImage::from_decoder(decoder).map_err(|e| limit_or_corrupt(e, width, height))?;
    upright_rgb8(img, orientation)
}

/// The guard against decompression bombs, on the size a header declares.
fn check_declared_size(width: u32, height: u32, limits: &Limits) -> Result<(), DecodeError> {
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(DecodeError::TooManyPixels { width, height });
    }
    if width == 0 || height == 0 {
        return Err(DecodeError::Corrupt("the image has no pixels".to_owned()));
    }
    Ok(())
}

/// JPEG through libjpeg-turbo's decoder (MozJPEG's copy), configured as PIL configures it.
///
/// `jpeg_read_header` parses the markers up to the first scan and allocates only tables; the
/// declared size is checked before `jpeg_start_decompress`, which allocates the sample buffers
/// (and for progressive files the whole-image coefficient buffer, 2 bytes per sample).
fn decode_jpeg_turbo(bytes: &[u8], limits: &Limits) -> Result<RgbImage, DecodeError> {
    use mozjpeg::{ColorSpace, Decompress, Marker};

    let io_corrupt = |e: std::io::Error| DecodeError::Corrupt(e.to_string());
    // APP1 is kept for the EXIF orientation.
    let dec = Decompress::builder()
        .with_markers(&[Marker::APP(1)])
        .from_mem(bytes)
        .map_err(io_corrupt)?;

    let (w, h) = dec.size();
    let width = u32::try_from(w).unwrap_or(u32::MAX);
    let height = u32::try_from(h).unwrap_or(u32::MAX);
    check_declared_size(width, height, limits)?;

    // The first APP1 that is EXIF; a broken one means "as stored", as on the zune path.
    let orientation = dec
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);

    // Defaults already are PIL's (islow IDCT, fancy upsampling, no scaling). Grayscale and
    // YCbCr/RGB files are converted by libjpeg (grey replicated, as `convert('RGB')` does);
    // four-channel files come out as CMYK and get PIL's conversion below.
    let cmyk = matches!(
        dec.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let mut started = if cmyk {
        dec.to_colorspace(ColorSpace::JCS_CMYK)
    } else {
        dec.rgb()
    }
    .map_err(io_corrupt)?;
    if (started.width(), started.height()) != (w, h) {
        return Err(DecodeError::Corrupt(
            "the image's output size differs from its header".to_owned(),
        ));
    }
    let mut data: Vec<u8> = started.read_scanlines().map_err(io_corrupt)?;
    started.finish().map_err(io_corrupt)?;
    if cmyk {
        data = pil_cmyk_to_rgb(&data);
    }
    let img = image::RgbImage::from_raw(width, height, data)
        .ok_or_else(|| DecodeError::Corrupt("the decoded image has an invalid size".to_owned()))?;
    upright_rgb8(DynamicImage::ImageRgb8(img), orientation)
}

/// PIL's JPEG CMYK to RGB: the plugin reads libjpeg's CMYK as inverted (`CMYK;I`, Adobe's
/// convention, assumed for every four-channel JPEG), then `convert('RGB')` computes
/// `255 - k - c * (255 - k) / 255` per channel (`cmyk2rgb` in Convert.c, rounded like
/// `MULDIV255`). In libjpeg's raw values that is `k' - (255 - c') * k' / 255`.
fn pil_cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let nk = u32::from(px[3]); // 255 - K, K = 255 - raw
        for &raw in &px[..3] {
            let c = 255 - u32::from(raw);
            // Within 0..=nk (PIL clips the same way), so it fits a byte.
            out.push(u8::try_from(nk.saturating_sub(muldiv255(c, nk))).unwrap_or(0));
        }
    }
    out
}

/// Apply the EXIF orientation and convert to our RGB8 layout.
fn upright_rgb8(mut img: DynamicImage, orientation: Orientation) -> Result<RgbImage, DecodeError> {
    img.apply_orientation(orientation);

    // `into_rgb8` is PIL's `convert('RGB')`: luma replicated, alpha dropped, 16 bits scaled.
    let rgb = img.into_rgb8();
    let (w, h) = (rgb.width(), rgb.height());
    let (w, h) = (usize::try_from(w), usize::try_from(h));
    match (w, h) {
        (Ok(w), Ok(h)) => RgbImage::from_raw(w, h, rgb.into_raw()),
        _ => None,
    }
    .ok_or_else(|| DecodeError::Corrupt("the decoded image has an invalid size".to_owned()))
}

fn image_limits(max_side: Option<u32>, budget: u64) -> image::Limits {
    let mut l = image::Limits::no_limits();
    l.max_image_width = max_side;
    l.max_image_height = max_side;
    l.max_alloc = Some(budget);
    l
}

/// A limit hit after the header check still means "too big to decode", so say it in the
/// same words; everything else is a broken file.
fn limit_or_corrupt(e: ImageError, width: u32, height: u32) -> DecodeError {
    match e {
        ImageError::Limits(_) => DecodeError::TooManyPixels { width, height },
        e => corrupt(e),
    }
}

fn corrupt(e: ImageError) -> DecodeError {
    DecodeError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use image::{ImageBuffer, Luma, Rgb, Rgba};

    use super::*;
    use crate::vision::testdata::{cache_dir, golden_dir, golden_json};

    fn photo(name: &str) -> Vec<u8> {
        let p = cache_dir().join("testdata/face_recognition").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn ok(bytes: &[u8]) -> RgbImage {
        decode(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn encode<P, C>(img: &ImageBuffer<P, C>, format: ImageFormat) -> Vec<u8>
    where
        P: image::Pixel + image::PixelWithColorType,
        [P::Subpixel]: image::EncodableLayout,
        C: std::ops::Deref<Target = [P::Subpixel]>,
    {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format)
            .unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    #[test]
    fn photos_decode_at_their_size() {
        let img = ok(&photo("obama.jpg"));
        assert_eq!((img.width, img.height), (910, 1137));
        assert_eq!(img.data.len(), 910 * 1137 * 3);

        // Real camera files (EXIF thumbnails with their own EOI inside APP1) pass the
        // truncation check.
        for name in [
            "biden.jpg",
            "obama2.jpg",
            "obama3.jpg",
            "obama_partial_face.jpg",
        ] {
            assert!(decode(&photo(name), &Limits::default()).is_ok(), "{name}");
        }

        // RGBA: alpha dropped, same size.
        let img = ok(&photo("32bit.png"));
        assert_eq!((img.width, img.height), (626, 1200));
        assert_eq!(img.data.len(), 626 * 1200 * 3);
    }

    #[test]
    fn rgba_alpha_is_dropped_not_composited() {
        let img = ImageBuffer::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgba([10u8, 20, 30, 0])
            } else {
                Rgba([200, 100, 50, 128])
            }
        });
        let out = ok(&encode(&img, ImageFormat::Png));
        assert_eq!(out.data, vec![10, 20, 30, 200, 100, 50]);
    }

    #[test]
    fn grayscale_is_replicated() {
        let img = ImageBuffer::from_fn(3, 1, |x, _| Luma([[0u8, 77, 255][x as usize]]));
        let out = ok(&encode(&img, ImageFormat::Png));
        assert_eq!((out.width, out.height), (3, 1));
        assert_eq!(out.data, vec![0, 0, 0, 77, 77, 77, 255, 255, 255]);
    }

    #[test]
    fn sixteen_bit_is_scaled_to_eight() {
        // 0x8080 is 128 whether the scaling rounds (/257) or truncates (>>8).
        let img = ImageBuffer::from_fn(3, 1, |x, _| Luma([[0u16, 0x8080, 0xFFFF][x as usize]]));
        let out = ok(&encode(&img, ImageFormat::Png));
        assert_eq!(out.data, vec![0, 0, 0, 128, 128, 128, 255, 255, 255]);

        let img = ImageBuffer::from_pixel(1, 1, Rgb([0xFFFFu16, 0x8080, 0]));
        let out = ok(&encode(&img, ImageFormat::Png));
        assert_eq!(out.data, vec![255, 128, 0]);
    }

    #[test]
    fn webp_decodes() {
        let img = ImageBuffer::from_pixel(4, 2, Rgb([1u8, 2, 3]));
        // The `image` crate only writes lossless WebP, so the pixels survive exactly.
        let out = ok(&encode(&img, ImageFormat::WebP));
        assert_eq!((out.width, out.height), (4, 2));
        assert_eq!(out.pixel(3, 1), [1, 2, 3]);
    }

    #[test]
    fn empty_and_oversized_are_refused_first() {
        assert!(matches!(
            decode(b"", &Limits::default()),
            Err(DecodeError::Empty)
        ));
        let small = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        // Not an image either, but the size check comes first.
        assert!(matches!(
            decode(b"hello world", &small),
            Err(DecodeError::TooLarge { bytes: 11, max: 10 })
        ));
        let jpeg = photo("obama.jpg");
        let small = Limits {
            max_bytes: jpeg.len() - 1,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&jpeg, &small),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    /// A palette PNG the fuzzer found (2026-12-06) that makes the `png` crate (0.18.1) panic in
    /// its palette transform: `decode` answers Corrupt, it never panics.
    #[test]
    fn a_png_that_panics_its_decoder_is_corrupt() {
        let bytes: &[u8] = &[
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x09, 0x02, 0x03, 0x00, 0x00,
            0x00, 0x94, 0x14, 0x4e, 0xf9, 0x00, 0x00, 0x00, 0x1c, 0x50, 0x4c, 0x54, 0x45, 0x00,
            0xff, 0x28, 0x50, 0xaf, 0x28, 0xa0, 0x5f, 0x28, 0xf0, 0x0f, 0x28, 0x4f, 0x05, 0x2d,
            0x75, 0x00, 0x00, 0x00, 0x03, 0x74, 0x49, 0x52, 0x4e, 0x53, 0x00, 0x80, 0xff, 0xec,
            0xf7, 0xb3, 0x18, 0x00, 0x00, 0x00, 0x20, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63,
            0x90, 0x96, 0x96, 0x66, 0x3b, 0xc8, 0xc9, 0xc9, 0x71, 0x60, 0xd8, 0xc3, 0x63, 0x71,
            0x03, 0xb8, 0x63, 0xb1, 0xc7, 0x0e, 0x35, 0xe0, 0x12, 0x03, 0x00, 0x49, 0xe3, 0x0f,
            0x46, 0x7d, 0x1a, 0x0f, 0x45, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
            0x42, 0x60, 0xdf, 0x82,
        ];
        assert_eq!(sniff(bytes), Some(ImageFormat::Png));
        assert!(matches!(
            decode(bytes, &Limits::default()),
            Err(DecodeError::Corrupt(_))
        ));
    }

    /// GIF (its first frame) and BMP decode to the same pixels as the PNG they were made from.
    #[test]
    fn gif_and_bmp_decode_like_png() {
        let img = ImageBuffer::from_fn(40, 30, |x, y| {
            // A handful of colours, so the GIF palette holds them exactly.
            Rgb([
                [0u8, 255, 90][(x % 3) as usize],
                [30u8, 200][(y % 2) as usize],
                77,
            ])
        });
        let png = ok(&encode(&img, ImageFormat::Png));
        for format in [ImageFormat::Gif, ImageFormat::Bmp] {
            let bytes = encode(&img, format);
            assert_eq!(sniff(&bytes), Some(format));
            assert_eq!(mime_type(&bytes), Some(format.to_mime_type()));
            let out = ok(&bytes);
            assert_eq!((out.width, out.height), (40, 30), "{format:?}");
            assert_eq!(out.data, png.data, "{format:?}");
        }
        // An animated GIF: the first frame.
        let mut gif = Vec::new();
        {
            let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
            for v in [10u8, 240] {
                let frame = image::Frame::new(ImageBuffer::from_pixel(8, 8, Rgba([v, v, v, 255])));
                enc.encode_frame(frame).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let first = ok(&gif);
        assert!(
            first.data.iter().all(|&v| v == 10),
            "{:?}",
            &first.data[..6]
        );
    }

    /// A GIF or BMP declaring a huge size is refused before any pixel buffer is allocated.
    #[test]
    fn gif_and_bmp_bombs_are_refused_on_their_header() {
        // A real 2x2 GIF whose logical screen then claims 60000x60000.
        let mut gif = encode(
            &ImageBuffer::from_pixel(2, 2, Rgb([9u8, 9, 9])),
            ImageFormat::Gif,
        );
        gif[6..10].copy_from_slice(&[0x60, 0xEA, 0x60, 0xEA]);
        // BMP: 14-byte file header, 40-byte info header with 30000x30000, 24 bits.
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 8]);
        bmp.extend_from_slice(&54u32.to_le_bytes());
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&30_000i32.to_le_bytes());
        bmp.extend_from_slice(&30_000i32.to_le_bytes());
        bmp.extend_from_slice(&1u16.to_le_bytes());
        bmp.extend_from_slice(&24u16.to_le_bytes());
        bmp.extend_from_slice(&[0; 24]);
        for bytes in [&gif, &bmp] {
            assert!(
                matches!(
                    decode(bytes, &Limits::default()),
                    Err(DecodeError::TooManyPixels { .. })
                ),
                "{:?}",
                decode(bytes, &Limits::default()).map(|i| (i.width, i.height))
            );
        }
    }

    /// An iPhone HEIC is recognised and told apart from any other unknown file.
    #[test]
    fn heic_is_named_in_the_refusal() {
        let mut heic = 24u32.to_be_bytes().to_vec();
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        heic.extend_from_slice(&[0; 64]);
        assert!(is_heic(&heic));
        let Err(err) = decode(&heic, &Limits::default()) else {
            panic!("a HEIC decoded")
        };
        assert!(matches!(err, DecodeError::Heic));
        assert!(err.to_string().contains("HEIC"), "{err}");
        assert!(err.to_string().contains("JPEG"), "{err}");
        // A compatible brand is enough (major brand mif1 / msf1 files).
        let mut mif = 20u32.to_be_bytes().to_vec();
        mif.extend_from_slice(b"ftypmsf1\0\0\0\0hevc");
        assert!(is_heic(&mif));
        // An MP4 video is not a HEIC photo.
        let mut mp4 = 20u32.to_be_bytes().to_vec();
        mp4.extend_from_slice(b"ftypisom\0\0\0\0mp41");
        assert!(!is_heic(&mp4));
        assert!(matches!(
            decode(&mp4, &Limits::default()),
            Err(DecodeError::Unsupported)
        ));
    }

    #[test]
    fn unknown_magic_is_unsupported() {
        for bytes in [
            &b"II*\x00\x08\x00\x00\x00"[..],
            b"just some text",
            b"BM\x00\x00",
            b"RIFF\x00\x00\x00\x00WAVE",
            b"\xFF",
        ] {
            assert!(
                matches!(
                    decode(bytes, &Limits::default()),
                    Err(DecodeError::Unsupported)
                ),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn truncated_and_garbage_are_corrupt() {
        let jpeg = photo("obama.jpg");
        let half = &jpeg[..jpeg.len() / 2];
        match decode(half, &Limits::default()) {
            Err(DecodeError::Corrupt(msg)) => assert!(!msg.is_empty()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Only the final EOI missing is still truncated; trailing bytes after it are fine.
        assert!(matches!(
            decode(&jpeg[..jpeg.len() - 2], &Limits::default()),
            Err(DecodeError::Corrupt(_))
        ));
        let mut trailer = jpeg.clone();
        trailer.extend_from_slice(b"vendor trailer");
        assert!(decode(&trailer, &Limits::default()).is_ok());
        // Right magic, nothing behind it.
        for bytes in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        ] {
            assert!(
                matches!(
                    decode(bytes, &Limits::default()),
                    Err(DecodeError::Corrupt(_))
                ),
                "{bytes:?}"
            );
        }
        // Every prefix of a small PNG that cuts into its pixel data fails cleanly (no panic,
        // no success). A missing IEND (the last 12 bytes) loses no pixels and is tolerated.
        let png = encode(
            &ImageBuffer::from_pixel(5, 5, Rgb([9u8, 8, 7])),
            ImageFormat::Png,
        );
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        for n in 1..png.len() - 12 {
            let r = decode(&png[..n], &Limits::default());
            assert!(r.is_err(), "prefix {n} decoded");
        }
    }

    #[test]
    fn png_bomb_is_refused_from_the_header() {
        let mut png = encode(
            &ImageBuffer::from_pixel(1, 1, Rgb([0u8, 0, 0])),
            ImageFormat::Png,
        );
        // Signature (8), then the IHDR chunk: length (4), "IHDR" (4), width, height, ...;
        // its CRC covers type and data, bytes 12..29.
        assert_eq!(&png[12..16], b"IHDR");
        png[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        let crc = crc32fast::hash(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());

        let start = Instant::now();
        let r = decode(&png, &Limits::default());
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(
                r,
                Err(DecodeError::TooManyPixels {
                    width: 30_000,
                    height: 30_000
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn side_and_pixel_limits_apply_to_real_photos() {
        let jpeg = photo("obama.jpg");
        let narrow = Limits {
            max_side: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&jpeg, &narrow),
            Err(DecodeError::TooManyPixels {
                width: 910,
                height: 1137
            })
        ));
        let few = Limits {
            max_pixels: 910 * 1137 - 1,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&jpeg, &few),
            Err(DecodeError::TooManyPixels { .. })
        ));
        let exact = Limits {
            max_pixels: 910 * 1137,
            max_side: 1137,
            ..Limits::default()
        };
        assert!(decode(&jpeg, &exact).is_ok());
    }

    /// A 40x20 JPEG, left half red, right half blue, with an EXIF orientation tag inserted
    /// right after SOI.
    fn oriented_jpeg(orientation: u8) -> Vec<u8> {
        let img = ImageBuffer::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([255u8, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        crate::vision::testdata::with_exif_orientation(
            &encode(&img, ImageFormat::Jpeg),
            orientation,
        )
    }

    fn is_red([r, g, b]: [u8; 3]) -> bool {
        r > 200 && g < 60 && b < 60
    }

    fn is_blue([r, g, b]: [u8; 3]) -> bool {
        b > 200 && r < 60 && g < 60
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 6 = "rotate 90 degrees clockwise to display": the left edge becomes the top.
        let img = ok(&oriented_jpeg(6));
        assert_eq!((img.width, img.height), (20, 40));
        assert!(is_red(img.pixel(10, 10)), "{:?}", img.pixel(10, 10));
        assert!(is_blue(img.pixel(10, 30)), "{:?}", img.pixel(10, 30));

        // 1 = as stored.
        let img = ok(&oriented_jpeg(1));
        assert_eq!((img.width, img.height), (40, 20));
        assert!(is_red(img.pixel(10, 10)), "{:?}", img.pixel(10, 10));
        assert!(is_blue(img.pixel(30, 10)), "{:?}", img.pixel(30, 10));
    }

    #[test]
    fn obama_is_upright_and_matches_the_plain_decoder() {
        // Its EXIF says orientation 1, so with zune the result is exactly what the `image`
        // crate's own loader gives, and with the default decoder what `RgbImage::open` gives.
        let p = cache_dir().join("testdata/face_recognition/obama.jpg");
        let plain = image::open(&p)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_rgb8();
        let zune = decode_with(&photo("obama.jpg"), &Limits::default(), JpegDecoder::Zune)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(zune.data, plain.into_raw());
        let opened = RgbImage::open(Path::new(&p)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened, ok(&photo("obama.jpg")));
    }

    fn rgb_sha256(img: &RgbImage) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&img.data))
    }

    /// sha256 of PIL's `Image.open('obama.jpg').convert('RGB').tobytes()` (pillow 13.0.0,
    /// libjpeg-turbo 3.2.0), as recorded in golden.json's `decoded_rgb_sha256`.
    const OBAMA_PIL_RGB_SHA256: &str =
        "fc008c49b09a2c260f438218a38efcc471b10df79f39e34117c0a7453a722afd";

    #[test]
    fn turbo_decodes_obama_exactly_like_pil() {
        let img = decode_with(&photo("obama.jpg"), &Limits::default(), JpegDecoder::Turbo)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width, img.height), (910, 1137));
        assert_eq!(rgb_sha256(&img), OBAMA_PIL_RGB_SHA256);
        // ... and it is the default.
        assert_eq!(ok(&photo("obama.jpg")), img);
        // zune is a few levels off, which is why it is not the default.
        let zune = decode_with(&photo("obama.jpg"), &Limits::default(), JpegDecoder::Zune)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(rgb_sha256(&zune), OBAMA_PIL_RGB_SHA256);
        let max_diff = zune
            .data
            .iter()
            .zip(&img.data)
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(max_diff.is_some_and(|d| d <= 8), "{max_diff:?}");
    }

    #[test]
    fn turbo_matches_pil_on_the_golden_jpegs() {
        let Some(dir) = golden_dir("turbo_matches_pil_on_the_golden_jpegs") else {
            return;
        };
        let golden = golden_json(&dir);
        let images = golden["images"].as_array().cloned().unwrap_or_default();
        let mut checked = 0;
        for entry in images {
            let (Some(file), Some(sha)) =
                (entry["file"].as_str(), entry["decoded_rgb_sha256"].as_str())
            else {
                continue;
            };
            if !file.ends_with(".jpg") {
                continue;
            }
            let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let img = decode_with(&bytes, &Limits::default(), JpegDecoder::Turbo)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(rgb_sha256(&img), sha, "{file}");
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} golden JPEGs");
    }

    #[test]
    fn cmyk_converts_like_pil() {
        // libjpeg's raw CMYK (Adobe-inverted) -> PIL's RGB, values from pillow 13.0.0:
        // Image.new('CMYK', (1, 1), 255 - raw).convert('RGB').
        let cases: [([u8; 4], [u8; 3]); 6] = [
            ([255, 255, 255, 255], [255, 255, 255]),
            ([0, 0, 0, 0], [0, 0, 0]),
            ([245, 55, 178, 225], [216, 49, 157]),
            ([127, 191, 223, 55], [27, 41, 48]),
            ([0, 255, 127, 254], [0, 254, 127]),
            ([252, 5, 238, 1], [1, 0, 1]),
        ];
        let raw: Vec<u8> = cases.iter().flat_map(|(c, _)| *c).collect();
        let rgb: Vec<u8> = cases.iter().flat_map(|(_, r)| *r).collect();
        assert_eq!(pil_cmyk_to_rgb(&raw), rgb);
    }

    #[test]
    fn grayscale_jpeg_is_replicated_by_both_decoders() {
        let img =
            ImageBuffer::from_fn(24, 16, |x, y| Luma([u8::try_from(x * 10 + y).unwrap_or(0)]));
        let jpeg = encode(&img, ImageFormat::Jpeg);
        for decoder in [JpegDecoder::Turbo, JpegDecoder::Zune] {
            let out = decode_with(&jpeg, &Limits::default(), decoder)
                .unwrap_or_else(|e| panic!("{decoder:?}: {e}"));
            assert_eq!((out.width, out.height), (24, 16));
            assert!(
                out.data
                    .chunks_exact(3)
                    .all(|p| p[0] == p[1] && p[1] == p[2]),
                "{decoder:?}"
            );
        }
    }

    /// Tiny 13x8 JPEGs PIL decodes but the golden set lacks (made with MozJPEG's encoder):
    /// (name, base64 file, sha256 of pillow 13.0.0's `convert('RGB')` bytes).
    const PIL_FIXTURES: [(&str, &str, &str); 3] = [
        (
            "arithmetic-coded progressive",
            concat!(
                "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkMEQ8SEhEPERETFhwXExQa",
                "FRERGCEYGh0dHx8fExciJCIeJBweHx7/2wBDAQUFBQcGBw4ICA4eFBEUHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4e",
                "Hh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh7/ygARCAAIAA0DASIAAhEBAxEB/8wABgAQARD/2gAMAwEAAhADEAAA",
                "Af7IS9iX2P/MAAQQBf/aAAgBAQABBQIa5/8AteD/zAAEEQX/2gAIAQMBAT8BSTpg/8wABBEF/9oACAECAQE/AZj/",
                "zAAEEAX/2gAIAQEABj8C+YD/zAAEEAX/2gAIAQEAAT8h5JDiYnattVgcXP/aAAwDAQACAAMAAAAQsP/MAAQRBf/a",
                "AAgBAwEBPxAAwP/MAAQRBf/aAAgBAgEBPxDcMVD/zAAEEAX/2gAIAQEAAT8QTNL53S1fcrcdlQjlyEj/2Q==",
            ),
            "784962a2d40cc12842777d8807920a8fb2dc26b68822d23f6f796fe6d2152f1d",
        ),
        (
            "Adobe YCCK, 2x2 subsampled",
            concat!(
                "/9j/7gAOQWRvYmUAZAAAAAAC/9sAhAAFBQUFBQUFBgYFCAgHCAgLCgkJCgsRDA0MDQwRGhATEBATEBoXGxYVFhsX",
                "KSAcHCApLyclJy85MzM5R0RHXV19AQUFBQUFBQUGBgUICAcICAsKCQkKCxEMDQwNDBEaEBMQEBMQGhcbFhUWGxcp",
                "IBwcICkvJyUnLzkzMzlHREddXX3/wgAUCAAIAA0EASIAAhEBAxEBBCIA/8QAKQABAQEBAAAAAAAAAAAAAAAAAAYF",
                "BwEBAAAAAAAAAAAAAAAAAAAAB//aAA4EAQACEAMQBAAAAACiwAyQIfmJ/8QAFxAAAwEAAAAAAAAAAAAAAAAAAAED",
                "Av/aAAgBAQABCALVB0P/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oACAECAQEIAn//xAAUEQEAAAAAAAAAAAAAAAAA",
                "AAAA/9oACAEDAQEIAn//xAAaEAACAgMAAAAAAAAAAAAAAAACAwEEAAUi/9oACAEEAAEIArO2ec21A6SsdZ//xAAU",
                "EAEAAAAAAAAAAAAAAAAAAAAQ/9oACAEBAAk/Aj//xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oACAECAQk/An//xAAU",
                "EQEAAAAAAAAAAAAAAAAAAAAA/9oACAEDAQk/An//xAAfEAACAQMFAQAAAAAAAAAAAAABAhEAAxIhMVGRobH/2gAI",
                "AQQACT8CvoyXRq+LgAAbKDMT9oYmSWjk+91//8QAGBAAAgMAAAAAAAAAAAAAAAAAACExYcH/2gAIAQEAAT8huGxp",
                "/8QAFBEBAAAAAAAAAAAAAAAAAAAAAP/aAAgBAgEBPyF//8QAFhEBAQEAAAAAAAAAAAAAAAAAIQAB/9oACAEDAQE/",
                "IdC//8QAGhABAAIDAQAAAAAAAAAAAAAAAREhADFhQf/aAAgBBAABPyFPUyqgn6O62x8cmAF9OA2Wb9z/xAAZEAEA",
                "AwEBAAAAAAAAAAAAAAABABEhQXH/2gAIAQEAAT8QVTg92iOMs6x//8QAGBEBAAMBAAAAAAAAAAAAAAAAAQARITH/",
                "2gAIAQIBAT8QdBvpP//EABgRAAIDAAAAAAAAAAAAAAAAAAABITGh/9oACAEDAQE/EKk2T//EABgQAQEBAQEAAAAA",
                "AAAAAAAAAAERACFB/9oACAEEAAE/EOVz9inJjRd1uB3k0BOlTbn/2Q==",
            ),
            "c90c64cadf9873e6a489527f1cf00cfeebce2ec014b2e355f445a0706ca1db1d",
        ),
        (
            "4:4:0 (h1v2) chroma",
            concat!(
                "/9j/4AAQSkZJRgABAQAAAQABAAD/2wCEAAUFBQUFBQUGBgUICAcICAsKCQkKCxEMDQwNDBEaEBMQEBMQGhcbFhUW",
                "GxcpIBwcICkvJyUnLzkzMzlHREddXX0BBQUFBQUFBQYGBQgIBwgICwoJCQoLEQwNDA0MERoQExAQExAaFxsWFRYb",
                "FykgHBwgKS8nJScvOTMzOUdER11dff/CABEIAAgADQMBEgACEQEDEQH/xAAqAAEBAAAAAAAAAAAAAAAAAAAABgEA",
                "AwEAAAAAAAAAAAAAAAAAAgQGB//aAAwDAQACEAMQAAAAnGmQdCNb/8QAIBAAAQIFBQAAAAAAAAAAAAAAAQIDAAQF",
                "EWESIjGywf/aAAgBAQABPwCUpqb7jZRxwfIZpzxbGlCbZBHWP//EABkRAAMBAQEAAAAAAAAAAAAAAAECEQAhof/a",
                "AAgBAgEBPwA8WDgKnyZUU2jf/8QAGhEAAgIDAAAAAAAAAAAAAAAAAQIAEQMhMf/aAAgBAwEBPwBFDuwJNdqZSUfU",
                "/9k=",
            ),
            "cfabfa986c05d71bbd894d48e84ae243611765ced7d66090e39e899d0e4f2cc5",
        ),
    ];

    #[test]
    fn turbo_matches_pil_on_rarer_jpeg_variants() {
        use base64::Engine;
        for (name, b64, sha) in PIL_FIXTURES {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let img = decode_with(&bytes, &Limits::default(), JpegDecoder::Turbo)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((img.width, img.height), (13, 8), "{name}");
            assert_eq!(rgb_sha256(&img), sha, "{name}");
        }
    }

    /// `jpeg` with the frame header's height and width replaced.
    fn with_declared_size(mut jpeg: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .unwrap_or_else(|| panic!("no SOF0"));
        // FFC0, length (2), precision (1), height (2), width (2).
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        jpeg
    }

    #[test]
    fn jpeg_checks_hold_for_both_decoders() {
        let jpeg = photo("obama.jpg");
        let bomb = with_declared_size(oriented_jpeg(1), 60_000, 60_000);
        for decoder in [JpegDecoder::Turbo, JpegDecoder::Zune] {
            let run = |bytes: &[u8], limits: &Limits| decode_with(bytes, limits, decoder);
            // A declared 60000x60000 is refused from the header, without decoding.
            let start = Instant::now();
            let r = run(&bomb, &Limits::default());
            assert!(start.elapsed() < Duration::from_secs(1), "{decoder:?}");
            assert!(
                matches!(
                    r,
                    Err(DecodeError::TooManyPixels {
                        width: 60_000,
                        height: 60_000
                    })
                ),
                "{decoder:?}: {r:?}"
            );
            let narrow = Limits {
                max_side: 1000,
                ..Limits::default()
            };
            assert!(
                matches!(
                    run(&jpeg, &narrow),
                    Err(DecodeError::TooManyPixels {
                        width: 910,
                        height: 1137
                    })
                ),
                "{decoder:?}"
            );
            // Truncation, and garbage where the header should be.
            assert!(
                matches!(
                    run(&jpeg[..jpeg.len() / 2], &Limits::default()),
                    Err(DecodeError::Corrupt(_))
                ),
                "{decoder:?}"
            );
            // SOI, a DQT for table 7 (there are 4), EOI: passes the EOI walk, fails in the
            // decoder; libjpeg's own message comes through its unwinding error handler.
            let garbage = b"\xFF\xD8\xFF\xDB\x00\x04\x07\x00\xFF\xD9";
            match run(garbage, &Limits::default()) {
                Err(DecodeError::Corrupt(msg)) => {
                    assert!(msg.contains("DQT"), "{decoder:?}: {msg}");
                }
                other => panic!("{decoder:?}: expected Corrupt, got {other:?}"),
            }
            // EXIF orientation 6: the left edge becomes the top.
            let img = run(&oriented_jpeg(6), &Limits::default())
                .unwrap_or_else(|e| panic!("{decoder:?}: {e}"));
            assert_eq!((img.width, img.height), (20, 40), "{decoder:?}");
            assert!(is_red(img.pixel(10, 10)), "{decoder:?}");
            assert!(is_blue(img.pixel(10, 30)), "{decoder:?}");
        }
    }
}
