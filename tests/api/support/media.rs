//! Photos for the tests: the face_recognition test images from `.cache/`, decoded, re-encoded
//! and composed, and data URLs of them; and where the optional shared data set is.

use std::path::PathBuf;

use base64::Engine as _;
use image::{DynamicImage, GenericImage, RgbImage};

/// `data/` of the optional shared data set: `ROLLCALL_SHARED_DIR`, or `../shared` beside the
/// checkout (docs/architecture.md, "Test data"). The tests that use it check for their files
/// and say SKIPPED without them.
pub fn shared_data() -> PathBuf {
    std::env::var_os("ROLLCALL_SHARED_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
            PathBuf::from,
        )
        .join("data")
}

/// A test photo from `.cache/testdata/face_recognition/` (fetched by `scripts/setup`).
pub fn photo(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/testdata/face_recognition")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn decode(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes).expect("decode").to_rgb8()
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

pub fn data_url(bytes: &[u8]) -> String {
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Two photos side by side (PNG).
pub fn side_by_side(a: &[u8], b: &[u8]) -> Vec<u8> {
    let (a, b) = (decode(a), decode(b));
    let mut out = RgbImage::new(a.width() + b.width(), a.height().max(b.height()));
    out.copy_from(&a, 0, 0).expect("paste");
    out.copy_from(&b, a.width(), 0).expect("paste");
    png(&out)
}

/// A 640x480 webcam-style frame: the photo fitted into the frame's height on grey (PNG).
pub fn webcam_frame(photo: &[u8]) -> Vec<u8> {
    let img = decode(photo);
    let h = 480u32;
    let w = (img.width() * h / img.height()).min(640);
    let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
    frame.copy_from(&small, (640 - w) / 2, 0).expect("paste");
    png(&frame)
}
