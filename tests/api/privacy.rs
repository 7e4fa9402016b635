//! Privacy: a biometric-free server, audited views, retention, embeddings never served, and
//! backup + restore of the database with its images.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{data_url, photo};

use crate::support::binary::Server;
use crate::support::world::{enrol_faces, student, subject, teacher, upload};
use crate::support::{expect_detail, ok, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_biometric_free_server_takes_attendance_manually() {
    let app = spawn_app_with(&["--biometrics", "false"]).await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "BIO0", &[&s1]).await;
    ok(app
        .post(
            &format!("/api/students/{s1}/consent"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    let d = expect_detail(
        upload(&app, &t1, Some(&s1), &photo("obama.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("turned off"), "{d}");
    for save in [false, true] {
        let d = expect_detail(
            app.post(
                "/api/attendance/mark",
                &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": save}),
                Some(&t1),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(d.contains("manually"), "{d}");
    }
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-03-03", "present_students": [s1]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["summary"]["present"], 1);
    let admin = app.admin_token().await;
    let health = ok(app.get("/health/detailed", Some(&admin)).await).await;
    assert_eq!(health["checks"]["models"]["status"], "turned_off");
}

/// Every key and value of a JSON document, flattened.
fn walk<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push((k.as_str(), x));
                walk(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn views_are_audited_embeddings_never_served_and_drafts_expire() {
    let app = spawn_app_with(&["--draft-retention-days", "7", "--face-retention-days", "30"]).await;
    let admin = app.admin_token().await;
    let (t1, t1_id) = teacher(&app, "t1@school.test").await;
    let (s_token, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "PRIV1", &[&s1]).await;
    assert_eq!(enrol_faces(&app, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    let marked = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": true, "date": "2026-03-03"}),
            Some(&t1),
        )
        .await)
    .await;
    let draft = marked["draft"]["draft_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Nothing anyone can read carries an embedding.
    let faces = ok(app
        .get(&format!("/api/students/{s1}/faces"), Some(&t1))
        .await)
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let mut served = vec![marked, faces];
    for (path, token) in [
        (format!("/api/students/{s1}"), &t1),
        (format!("/api/subjects/{sid}/students"), &t1),
        (format!("/api/attendance/drafts/{draft}"), &t1),
        (format!("/settings/teachers/subjects/{sid}/students"), &t1),
        ("/students/me/profile".to_owned(), &s_token),
        ("/students/me/subjects".to_owned(), &s_token),
        ("/api/auth/me".to_owned(), &s_token),
    ] {
        served.push(ok(app.get(&path, Some(token)).await).await);
    }
    for doc in &served {
        let mut all = Vec::new();
        walk(doc, &mut all);
        for (key, value) in all {
            let k = key.to_ascii_lowercase();
            assert!(
                !(k.contains("embedding") || k.contains("encoding") || k.contains("descriptor")),
                "{key} served: {doc}"
            );
            let long_floats = value
                .as_array()
                .is_some_and(|a| a.len() >= 64 && a.iter().all(Value::is_f64));
            assert!(!long_floats, "{key} looks like an embedding: {doc}");
        }
    }

    // Looking at a face or exporting attendance leaves a trace an administrator can read.
    for path in [
        format!("/api/students/{s1}/faces/{sample}/image"),
        format!("/api/attendance/drafts/{draft}/photos/1"),
        format!("/api/attendance/subjects/{sid}/export.csv"),
    ] {
        let resp = app.get(&path, Some(&t1)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let log = ok(app
        .get("/api/admin/audit?action=face.view", Some(&admin))
        .await)
    .await;
    assert_eq!(log["entries"][0]["actor_id"], t1_id.as_str(), "{log}");
    assert_eq!(log["entries"][0]["target"], s1.as_str(), "{log}");
    let log = ok(app
        .get(
            &format!("/api/admin/audit?actor={t1_id}&action=attendance."),
            Some(&admin),
        )
        .await)
    .await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"attendance.export"), "{actions:?}");
    assert!(
        actions.contains(&"attendance.draft.photo_view"),
        "{actions:?}"
    );
    expect_detail(
        app.get("/api/admin/audit?limit=0", Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Retention: nothing is young enough to go yet; then the draft ages past 7 days and the
    // face sample past 30, and both go with their files.
    let purged = ok(app
        .post("/api/admin/retention/run", &json!({}), Some(&admin))
        .await)
    .await;
    assert_eq!(purged, json!({"drafts": 0, "face_samples": 0, "files": 0}));
    let files_before = app.stored_images();
    assert_eq!(files_before, 2, "one enrolment photo and one class photo");
    let db = app.db();
    let day = 24 * 3600;
    db.execute(
        "UPDATE attendance_drafts SET updated_at = updated_at - ?1",
        [8 * day],
    )
    .unwrap();
    db.execute(
        "UPDATE face_samples SET created_at = created_at - ?1",
        [31 * day],
    )
    .unwrap();
    let purged = ok(app
        .post("/api/admin/retention/run", &json!({}), Some(&admin))
        .await)
    .await;
    assert_eq!(purged, json!({"drafts": 1, "face_samples": 1, "files": 2}));
    assert_eq!(app.stored_images(), 0);
    expect_detail(
        app.get(&format!("/api/attendance/drafts/{draft}"), Some(&t1))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let log = ok(app
        .get("/api/admin/audit?action=retention.purge", Some(&admin))
        .await)
    .await;
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
}

fn rollcall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .output()
        .expect("running rollcall")
}

#[tokio::test]
async fn backup_while_serving_then_restore_into_a_new_data_dir() {
    if let Some(url) =
        crate::support::backend::database_url(std::path::Path::new("/backup-refused"))
    {
        // PostgreSQL is backed up with its own tools: both commands refuse and say so.
        let out = tempfile::tempdir().expect("tempdir");
        for command in ["backup", "restore"] {
            let done = Command::new(env!("CARGO_BIN_EXE_rollcall"))
                .args([command, "--data-dir", "/nonexistent"])
                .arg(out.path().join("copy"))
                .env("ROLLCALL_DATABASE_URL", &url)
                .output()
                .expect("running rollcall");
            let err = String::from_utf8_lossy(&done.stderr);
            assert!(
                !done.status.success() && err.contains("pg_dump"),
                "{command}: {err}"
            );
        }
        return;
    }
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "BAK1", &[&s1]).await;
    assert_eq!(enrol_faces(&app, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-03-03", "present_students": [s1]}),
            Some(&t1),
        )
        .await)
    .await;
    let faces = ok(app
        .get(&format!("/api/students/{s1}/faces"), Some(&t1))
        .await)
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let original = app
        .get(
            &format!("/api/students/{s1}/faces/{sample}/image"),
            Some(&t1),
        )
        .await
        .bytes()
        .await
        .unwrap_or_default();

    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("backup");
    let data = app.data_dir.path().display().to_string();
    let run = rollcall(&["backup", "--data-dir", &data, &out.display().to_string()]);
    let said =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert!(said.contains("1 face images"), "{said}");
    // A second backup to the same place is refused, not overwritten.
    assert!(
        !rollcall(&["backup", "--data-dir", &data, &out.display().to_string()])
            .status
            .success()
    );

    let restored = scratch.path().join("restored");
    let run = rollcall(&[
        "restore",
        "--data-dir",
        &restored.display().to_string(),
        &out.display().to_string(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Restoring over a database is refused.
    let again = rollcall(&[
        "restore",
        "--data-dir",
        &restored.display().to_string(),
        &out.display().to_string(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));

    // The restored server has the account, the attendance and the face image.
    let server = Server::start(&restored).await;
    let token = server.login("t1@school.test", "teacher-pass-1").await;
    let image = server
        .client
        .get(format!(
            "{}/api/students/{s1}/faces/{sample}/image",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.bytes().await.unwrap_or_default(), original);
    let csv = server
        .client
        .get(format!(
            "{}/api/attendance/subjects/{sid}/export.csv",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    assert!(csv.contains("2026-03-03"), "{csv}");
    server.kill9();
}

/// An EXIF block (APP1 payload) with orientation 6 and a GPS position, as a phone writes one.
fn exif_with_gps(orientation: u16) -> Vec<u8> {
    let mut t = b"Exif\0\0II\x2a\0\x08\0\0\0".to_vec();
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value);
    };
    // Offsets are from the TIFF header (after "Exif\0\0"): IFD0 at 8 (2 entries, ends at 38),
    // the GPS IFD at 38 (4 entries, ends at 92), latitude at 92, longitude at 116.
    t.extend_from_slice(&2u16.to_le_bytes());
    let o = orientation.to_le_bytes();
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, 4, 1, 38u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, 92u32.to_le_bytes());
    entry(&mut t, 0x0003, 2, 2, *b"W\0\0\0");
    entry(&mut t, 0x0004, 5, 3, 116u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    for (num, den) in [
        (51u32, 1u32),
        (30, 1),
        (1234, 100),
        (0, 1),
        (7, 1),
        (3900, 100),
    ] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t
}

/// `jpeg` with an EXIF block (GPS, `orientation`), an XMP block and a comment after its SOI.
fn with_metadata(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let segment = |marker: u8, payload: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        s.extend_from_slice(payload);
        s
    };
    let mut out = jpeg[..2].to_vec();
    out.extend(segment(0xE1, &exif_with_gps(orientation)));
    out.extend(segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><exif:GPSLatitude>51,30.2N</exif:GPSLatitude></x:xmpmeta>",
    ));
    out.extend(segment(0xFE, b"taken at 10 Downing Street"));
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The JPEG's markers before its image data, and whether any metadata text is in the file.
fn jpeg_markers(jpeg: &[u8]) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut markers = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        i += 2 + usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
    }
    markers
}

fn assert_no_metadata(what: &str, jpeg: &[u8]) {
    let markers = jpeg_markers(jpeg);
    assert!(
        markers.iter().all(|m| !matches!(m, 0xE1..=0xEF | 0xFE)),
        "{what}: metadata segments {markers:02x?}"
    );
    for needle in [
        &b"Exif"[..],
        b"GPS",
        b"xmpmeta",
        b"ns.adobe.com",
        b"Downing",
        b"ICC_PROFILE",
    ] {
        assert!(
            !jpeg.windows(needle.len()).any(|w| w == needle),
            "{what}: {:?} is in the file",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test]
async fn stored_photos_are_upright_and_free_of_metadata_and_embeddings_unchanged() {
    use rollcall::vision::pipeline::{Pipeline, Subject};

    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t-exif@school.test").await;
    let (_, s1) = student(&app, "s-exif@school.test").await;
    let sid = subject(&app, &t1, "EXIF1", &[&s1]).await;

    // A phone's portrait: the pixels stored on their side (the sensor's way round), EXIF
    // orientation 6 to turn them upright, a GPS position, XMP and a comment.
    let upright = image::load_from_memory(&photo("obama.jpg"))
        .unwrap()
        .to_rgb8();
    let sideways = image::imageops::rotate270(&upright);
    let mut raw = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut raw, 95)
        .encode_image(&sideways)
        .unwrap();
    let uploaded = with_metadata(&raw, 6);
    assert!(uploaded.windows(4).any(|w| w == b"Exif"));

    ok(app
        .post(
            &format!("/api/students/{s1}/consent"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    ok(upload(&app, &t1, Some(&s1), &uploaded).await).await;
    let faces = ok(app
        .get(&format!("/api/students/{s1}/faces"), Some(&t1))
        .await)
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let bbox: Vec<i64> = faces[0]["box"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let resp = app
        .get(
            &format!("/api/students/{s1}/faces/{sample}/image"),
            Some(&t1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let stored = resp.bytes().await.unwrap_or_default().to_vec();
    assert_no_metadata("face image", &stored);
    // Upright as it is, with no orientation tag left to apply; the box is in its pixels.
    let shown = image::load_from_memory(&stored).unwrap().to_rgb8();
    assert_eq!(shown.dimensions(), upright.dimensions());
    let (w, h) = (i64::from(shown.width()), i64::from(shown.height()));
    assert!(
        bbox.len() == 4 && bbox[0] >= 0 && bbox[1] >= 0 && bbox[2] <= w && bbox[3] <= h,
        "box {bbox:?} outside {w}x{h}"
    );

    // The embedding is the one the pipeline computes from the uploaded bytes, metadata and all.
    let settings = rollcall::config::Settings::try_from_args(["rollcall"]).unwrap();
    let options = settings.vision.pipeline_options().unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache");
    let pipeline = Pipeline::load(&cache, options).unwrap();
    let direct = pipeline.faces_of(&uploaded, Subject::Portrait).unwrap();
    assert_eq!(direct.faces.len(), 1);
    let blob: Vec<u8> = app
        .db()
        .query_row(
            "SELECT embedding FROM face_samples WHERE id = ?1",
            [&sample],
            |r| r.get(0),
        )
        .unwrap();
    let kept = rollcall::matching::decode_blob(&blob).unwrap();
    let worst = kept
        .iter()
        .zip(direct.faces[0].embedding.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "stored embedding differs by {worst}");
    // The face found in the stored image is where the stored box says.
    let again = pipeline.faces_of(&stored, Subject::Portrait).unwrap();
    let found = again.faces[0].clipped(again.width, again.height);
    for (a, b) in found.iter().zip(&bbox) {
        assert!(
            (a - b).abs() <= 4,
            "box {bbox:?}, found in the stored image {found:?}"
        );
    }

    // A class photo saved in a draft is stored the same way.
    let marked = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&uploaded), "subject_id": sid, "save": true}),
            Some(&t1),
        )
        .await)
    .await;
    let draft = marked["draft"]["draft_id"].as_str().unwrap_or_default();
    let resp = app
        .get(
            &format!("/api/attendance/drafts/{draft}/photos/1"),
            Some(&t1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let photo_bytes = resp.bytes().await.unwrap_or_default().to_vec();
    assert_no_metadata("draft photo", &photo_bytes);
    let shown = image::load_from_memory(&photo_bytes).unwrap().to_rgb8();
    assert_eq!(shown.dimensions(), upright.dimensions());
    assert_eq!(marked["faces"][0]["student"]["id"], s1.as_str(), "{marked}");

    // Nothing of the upload is in the image store either (files, or the database's rows).
    for (entry, bytes) in app.stored_image_bytes() {
        assert_no_metadata(&entry, &bytes);
    }
}

#[tokio::test]
async fn photos_an_older_version_stored_with_metadata_are_reencoded_at_start() {
    use sha2::Digest;

    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t-old@school.test").await;
    let (_, s1) = student(&app, "s-old@school.test").await;
    subject(&app, &t1, "OLD1", &[&s1]).await;
    let upright = image::load_from_memory(&photo("obama.jpg"))
        .unwrap()
        .to_rgb8();
    let mut raw = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut raw, 95)
        .encode_image(&image::imageops::rotate270(&upright))
        .unwrap();
    let uploaded = with_metadata(&raw, 6);
    assert_eq!(
        enrol_faces(&app, &t1, &s1, std::slice::from_ref(&uploaded)).await,
        1
    );

    // What an older rollcall did: the upload itself in the store, the sample pointing at it.
    let old_sha = hex::encode(sha2::Sha256::digest(&uploaded));
    app.plant_image(&old_sha, &uploaded);
    let sample: String = app
        .db()
        .query_row(
            "UPDATE face_samples SET image_sha256 = ?1 RETURNING id",
            [&old_sha],
            |r| r.get(0),
        )
        .unwrap();

    // The next start re-encodes it in the background.
    let restarted = crate::support::serve(app.data_dir.path(), &[]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sha: String = app
            .db()
            .query_row(
                "SELECT image_sha256 FROM face_samples WHERE id = ?1",
                [&sample],
                |r| r.get(0),
            )
            .unwrap();
        if sha != old_sha {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old photo was not re-encoded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let resp = app
        .client
        .get(format!(
            "http://{restarted}/api/students/{s1}/faces/{sample}/image"
        ))
        .bearer_auth(&t1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stored = resp.bytes().await.unwrap_or_default().to_vec();
    assert_no_metadata("re-encoded face image", &stored);
    let shown = image::load_from_memory(&stored).unwrap().to_rgb8();
    assert_eq!(shown.dimensions(), upright.dimensions());
    assert!(
        !app.image_stored(&old_sha),
        "the old image is still in the store"
    );
    for (entry, bytes) in app.stored_image_bytes() {
        assert_no_metadata(&entry, &bytes);
    }
}

/// The audit log between two moments: `since` is inclusive, `until` exclusive, and a window
/// that ends before it starts is refused with a clear 422.
#[tokio::test]
async fn the_audit_log_reads_a_window_of_time() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Three entries an hour apart, long ago (the server's own entries are all of today).
    let t0: i64 = 1_700_000_000;
    for (i, at) in [t0, t0 + 3600, t0 + 7200].into_iter().enumerate() {
        app.db()
            .execute(
                "INSERT INTO audit_log (at, actor_id, action, target, detail) \
                 VALUES (?1, NULL, 'test.window', ?2, '')",
                rusqlite::params![at, format!("entry-{i}")],
            )
            .unwrap_or_else(|e| panic!("insert: {e}"));
    }
    let targets = |q: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let log = ok(app
                .get(
                    &format!("/api/admin/audit?action=test.window&{q}"),
                    Some(admin),
                )
                .await)
            .await;
            log["entries"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e["target"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    assert_eq!(
        targets(String::new()).await,
        ["entry-2", "entry-1", "entry-0"]
    );
    assert_eq!(
        targets(format!("since={}", t0 + 3600)).await,
        ["entry-2", "entry-1"]
    );
    assert_eq!(targets(format!("until={}", t0 + 3600)).await, ["entry-0"]);
    assert_eq!(
        targets(format!("since={t0}&until={}", t0 + 7200)).await,
        ["entry-1", "entry-0"]
    );
    assert_eq!(
        targets(format!("since={}&until={}", t0 + 1, t0 + 3601)).await,
        ["entry-1"]
    );
    for q in [
        format!("since={t0}&until={t0}"),
        format!("since={}&until={t0}", t0 + 1),
    ] {
        let detail = expect_detail(
            app.get(&format!("/api/admin/audit?{q}"), Some(&admin))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            detail.contains("until must be later than since"),
            "{q}: {detail}"
        );
    }
    expect_detail(
        app.get("/api/admin/audit?until=soon", Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}
