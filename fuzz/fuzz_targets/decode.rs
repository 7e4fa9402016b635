//! Arbitrary upload bytes through the pipeline's entry: size check, format sniffing, header
//! check against the limits (the decompression-bomb guard), decoding (libjpeg-turbo for JPEG,
//! the `image` crate for PNG, WebP, GIF and BMP; HEIC recognised and refused), EXIF orientation and the RGB8 conversion. The face
//! models are not run: they see only what this returns.
//!
//! Must never panic, and never hand back an image beyond the limits. The limits are tighter
//! than the server's (4 MP, 4096 px per side) so that one input costs milliseconds, not a
//! second; the checks are the same code whatever the numbers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall::vision::decode::{self, DecodeError, Limits};
use rollcall::vision::pipeline::PipelineOptions;

fn limits() -> Limits {
    Limits {
        max_pixels: 4 << 20,
        max_side: 4096,
        ..PipelineOptions::default().limits
    }
}

/// libfuzzer-sys's panic hook aborts on every panic, even one `decode` catches (its contract:
/// a panicking decoder, a bug in a dependency, is reported as `Corrupt`). This hook only
/// prints, so a caught panic is judged by what `decode` returns; a panic that escapes still
/// aborts (libfuzzer-sys catches it around the target and aborts), which is a crash.
fn report_panics_without_aborting() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("caught? {info}"))));
}

fuzz_target!(|data: &[u8]| {
    report_panics_without_aborting();
    let limits = limits();
    let sniffed = decode::sniff(data);
    assert_eq!(decode::mime_type(data).is_some(), sniffed.is_some());
    match decode::decode(data, &limits) {
        Ok(img) => {
            assert!(sniffed.is_some(), "decoded an unsniffed format");
            let (w, h) = (img.width, img.height);
            assert!(w > 0 && h > 0, "empty image {w}x{h}");
            assert!(
                w <= limits.max_side as usize && h <= limits.max_side as usize,
                "side beyond the limit: {w}x{h}"
            );
            assert!(
                (w * h) as u64 <= limits.max_pixels,
                "too many pixels: {w}x{h}"
            );
            assert_eq!(img.data.len(), w * h * 3, "buffer size");
        }
        Err(DecodeError::Empty) => assert!(data.is_empty()),
        Err(DecodeError::Unsupported) => assert!(sniffed.is_none()),
        Err(DecodeError::Heic) => assert!(sniffed.is_none() && decode::is_heic(data)),
        Err(DecodeError::TooManyPixels { width, height }) => {
            assert!(
                width > limits.max_side
                    || height > limits.max_side
                    || u64::from(width) * u64::from(height) > limits.max_pixels,
                "refused {width}x{height} within the limits"
            );
        }
        Err(DecodeError::TooLarge { .. } | DecodeError::Corrupt(_)) => {}
    }
});
