//! The `rollcall` command line: `embed` prints one face's landmarks and embedding.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache")
}

fn rollcall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .env("ROLLCALL_CACHE_DIR", cache())
        .output()
        .expect("running rollcall")
}

#[test]
fn embed_prints_landmarks_and_embedding_close_to_dlib() {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/obama_golden.json")).unwrap();
    let face = &fixture["faces"][1];
    assert_eq!(face["detector"], "cnn");
    let photo = cache().join("testdata/face_recognition/obama.jpg");
    let out = rollcall(&[
        "embed",
        &photo.display().to_string(),
        "--box",
        "354,135,599,379",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["landmarks"].as_array().map(Vec::len), Some(5));
    let got: Vec<f64> = v["embedding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    let want: Vec<f64> = face["encoding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(got.len(), 128);
    let l2 = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    // JPEG decoded by the `image` crate, not libjpeg-turbo: a few grey levels of drift.
    assert!(l2 < 0.1, "L2 to dlib's encoding: {l2}");
}

#[test]
fn embed_accepts_boxes_past_the_edge_and_rejects_bad_ones() {
    let photo = cache()
        .join("testdata/face_recognition/obama.jpg")
        .display()
        .to_string();
    let out = rollcall(&["embed", &photo, "--box", "-40,-30,200,210"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in ["1,2,3", "10,10,5,5", "a,b,c,d"] {
        let out = rollcall(&["embed", &photo, "--box", bad]);
        assert!(!out.status.success(), "--box {bad} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--box"),
            "{bad}"
        );
    }
    let out = rollcall(&["embed", "/nonexistent.jpg", "--box", "1,1,50,50"]);
    assert!(!out.status.success());
}

/// A reader that stops reading (`rollcall openapi | head`) ends the command quietly with
/// status 141, as a shell reports a process ended by SIGPIPE, not with a panic; any other
/// failed write is an error that says what failed.
#[test]
fn closed_or_full_standard_output_ends_the_command_without_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running rollcall");
    // The document is several pipe buffers long: the writer meets the closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waiting for rollcall");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("openapi")
        .stdout(full)
        .output()
        .expect("running rollcall");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("writing to standard output") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
