//! Where tests find their data: the fetched cache (always, via `scripts/setup`) and the
//! optional shared data set (`../shared`, or `ROLLCALL_SHARED_DIR`); docs/architecture.md,
//! "Test data", says what each holds. Tests that need the shared data print a plain SKIPPED
//! line and return when it is absent.

#![allow(dead_code)] // helpers are used by the parity tests as they land

use std::path::PathBuf;

/// `.cache/` of this checkout (or `ROLLCALL_CACHE_DIR`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("ROLLCALL_CACHE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"),
        PathBuf::from,
    )
}

/// Load ONNX Runtime from the cache, for tests that build a network without a whole pipeline.
pub fn init_runtime() {
    let lib = std::path::absolute(cache_dir().join(super::engine::ORT_LIB))
        .unwrap_or_else(|e| panic!("{e}"));
    super::runtime::init(&lib).unwrap_or_else(|e| panic!("{e:#}"));
}

/// A dlib model file fetched by `scripts/setup`; panics with a hint when setup was not run.
pub fn model_file(name: &str) -> PathBuf {
    let p = cache_dir().join("models/dlib").join(name);
    assert!(p.is_file(), "{} missing: run scripts/setup", p.display());
    p
}

/// The shared data set, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ROLLCALL_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    dir.join("golden/golden.json").is_file().then_some(dir)
}

/// `golden/` of the shared data set, or `None` after printing why the caller skips.
pub fn golden_dir(test: &str) -> Option<PathBuf> {
    shared_dir_for(test).map(|d| d.join("golden"))
}

/// Parsed `golden.json`.
pub fn golden_json(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("golden.json"))
        .unwrap_or_else(|e| panic!("golden.json: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("golden.json: {e}"))
}

/// The shared data set for a test that needs it, or a printed SKIPPED line.
pub fn shared_dir_for(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.is_none() {
        eprintln!("SKIPPED {test}: ../shared is not present (set ROLLCALL_SHARED_DIR)");
    }
    dir
}

/// `jpeg` with an APP1 EXIF segment right after SOI whose only tag is the orientation.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let payload: Vec<u8> = [
        &b"Exif\0\0"[..],
        // Little-endian TIFF header, first IFD at offset 8.
        b"II\x2A\x00\x08\x00\x00\x00",
        // One entry: tag 0x0112 (Orientation), SHORT, count 1, value; then no next IFD.
        b"\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00",
        &[orientation, 0, 0, 0],
        b"\x00\x00\x00\x00",
    ]
    .concat();
    let len = u16::try_from(payload.len() + 2).unwrap_or_else(|e| panic!("{e}"));
    [
        &[0xFF, 0xD8, 0xFF, 0xE1][..],
        &len.to_be_bytes(),
        &payload,
        &jpeg[2..],
    ]
    .concat()
}
