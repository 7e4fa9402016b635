//! Where tests find their data: the fetched cache (always, via `scripts/setup`) and the
//! optional shared data set (`../shared`, or `ROLLCALL_SHARED_DIR`). Tests that need the shared
//! data print a plain SKIPPED line and return when it is absent.

#![allow(dead_code)] // helpers are used by the parity tests as they land

use std::path::PathBuf;

/// `.cache/` of this checkout (or `ROLLCALL_CACHE_DIR`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("ROLLCALL_CACHE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"),
        PathBuf::from,
    )
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
