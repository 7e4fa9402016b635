//! Memory at rest: once photos are analysed and the server is quiet, what they left in the heap
//! goes back to the system (docs/detection.md, "Memory").

use std::time::{Duration, Instant};

use image::{GenericImage, RgbImage};
use serde_json::json;

use crate::support::binary::{Server, school};
use crate::support::media::{data_url, decode, photo};

/// The server's resident memory (VmRSS) in MiB.
fn rss_mib(pid: u32) -> u64 {
    let mib = rollcall::telemetry::status_mib(&pid.to_string(), "VmRSS");
    assert!(mib > 0, "VmRSS of the server (pid {pid}) not readable");
    mib
}

/// obama.jpg four across and two down: 3640x2274, eight faces.
fn large_photo() -> Vec<u8> {
    let tile = decode(&photo("obama.jpg"));
    let (w, h) = (tile.width(), tile.height());
    let mut grid = RgbImage::new(4 * w, 2 * h);
    for i in 0..8 {
        grid.copy_from(&tile, (i % 4) * w, (i / 4) * h).unwrap();
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&grid)
        .unwrap();
    jpeg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_large_photos_the_quiet_server_goes_back_under_250_mib() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let pid = s.child.as_ref().unwrap().id();
    let (teacher, subject, _) = school(&s, 0).await;
    let body = json!({"image": data_url(&large_photo()), "subject_id": subject});
    // Two at once, as two teachers would: both analysis slots busy.
    let (a, b) = tokio::join!(
        s.ok("/api/attendance/mark", &body, Some(&teacher)),
        s.ok("/api/attendance/mark", &body, Some(&teacher)),
    );
    assert_eq!(
        (a["count"].as_u64(), b["count"].as_u64()),
        (Some(8), Some(8))
    );
    let busy = rss_mib(pid);
    // Wait for the observable event (the resident size falling under the budget), bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rest = busy;
    while rest > 250 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rest = rss_mib(pid);
    }
    eprintln!("server RSS just after the marks {busy} MiB, at rest {rest} MiB");
    assert!(
        rest <= 250,
        "at rest the server still holds {rest} MiB (just after the marks {busy} MiB)"
    );
}
