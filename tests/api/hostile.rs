//! Crafted hostile input against every upload and text path: each gets a clear 4xx with a
//! `{"detail"}`, nothing is written where it should not be, and the server's memory stays
//! bounded (nextest runs each test in its own process, so the process's peak RSS is this
//! server's).

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::contract::checked;
use crate::support::media::{data_url, photo};
use crate::support::world::{student, subject, teacher};
use crate::support::{body, expect_detail, ok, peak_rss_mib, spawn_app};

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    let mut tagged = kind.to_vec();
    tagged.extend_from_slice(data);
    out.extend_from_slice(&tagged);
    out.extend_from_slice(&crc32fast::hash(&tagged).to_be_bytes());
}

/// A valid PNG header declaring `w` x `h` RGB pixels, with a few bytes of image data: a
/// decompression bomb's shape (decoding it would need w * h * 3 bytes).
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a stored empty block: valid framing, far too little data.
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// One multipart part: field name, file name, content type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, &'a str, &'a [u8]);

async fn expect_4xx(what: &str, resp: reqwest::Response, want: &[u16]) -> String {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text:.200}"));
    assert!(
        want.contains(&status),
        "{what}: HTTP {status} {v} (want one of {want:?})"
    );
    let detail = v["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no detail in {v}"))
        .to_owned();
    println!("{what:55} -> {status} {detail}");
    detail
}

#[tokio::test]
async fn crafted_uploads_and_bodies_get_clear_4xx() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "HOST1", &[&s1]).await;
    ok(app
        .post(
            &format!("/api/students/{s1}/consent"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    let before = peak_rss_mib();

    let jpeg = photo("obama.jpg");
    let truncated = jpeg[..jpeg.len() / 3].to_vec();
    let bomb = png_bomb(30_000, 30_000);
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let huge = vec![0xFFu8; 50 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("truncated JPEG (a third of obama.jpg)", truncated, &[422]),
        ("30000x30000 PNG bomb (200 bytes)", bomb, &[413, 422]),
        ("zero-byte file", Vec::new(), &[400, 415, 422]),
        ("a PDF named face.jpg", pdf, &[415]),
        ("50 MB upload", huge, &[413]),
    ];
    let mark = "/api/attendance/mark";
    for (name, bytes, want) in &cases {
        let sid_bytes = sid.as_bytes();
        let parts: [Part<'_>; 2] = [
            ("file", Some("face.jpg"), "image/jpeg", bytes),
            ("subject_id", None, "text/plain", sid_bytes),
        ];
        expect_4xx(
            &format!("mark multipart: {name}"),
            app.post_multipart(mark, &parts, Some(&t1)).await,
            want,
        )
        .await;
        let s1_bytes = s1.as_bytes();
        let parts: [Part<'_>; 2] = [
            ("file", Some("face.jpg"), "image/jpeg", bytes),
            ("student_id", None, "text/plain", s1_bytes),
        ];
        expect_4xx(
            &format!("enrol multipart: {name}"),
            app.post_multipart("/api/students/upload-face", &parts, Some(&t1))
                .await,
            want,
        )
        .await;
        // The avatar route keeps the seed's 400 for a file that is not its declared type.
        let avatar_want: Vec<u16> = want.iter().copied().chain([400]).collect();
        expect_4xx(
            &format!("avatar multipart: {name}"),
            app.post_multipart(
                "/api/settings/upload-avatar",
                &[("file", Some("face.jpg"), "image/jpeg", bytes)],
                Some(&t1),
            )
            .await,
            &avatar_want,
        )
        .await;
        if bytes.len() < 1024 * 1024 {
            expect_4xx(
                &format!("mark JSON data URL: {name}"),
                app.post(
                    mark,
                    &json!({"image": data_url(bytes), "subject_id": sid}),
                    Some(&t1),
                )
                .await,
                want,
            )
            .await;
        }
    }

    // Bodies that are not what the route takes.
    let huge_b64 = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 30 * 1024 * 1024]);
    expect_4xx(
        "mark JSON: 40 MB of base64",
        app.post(
            mark,
            &json!({"image": huge_b64, "subject_id": sid}),
            Some(&t1),
        )
        .await,
        &[413],
    )
    .await;
    expect_4xx(
        "mark JSON: base64 that is not base64",
        app.post(
            mark,
            &json!({"image": "data:image/jpeg;base64,!!!***", "subject_id": sid}),
            Some(&t1),
        )
        .await,
        &[400],
    )
    .await;
    expect_4xx(
        "mark: text/plain body",
        checked(
            "POST",
            mark,
            app.client
                .post(app.url(mark))
                .bearer_auth(&t1)
                .header("content-type", "text/plain")
                .body("hello")
                .send()
                .await
                .unwrap(),
        )
        .await,
        &[415],
    )
    .await;
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    for path in [
        mark,
        "/api/attendance/confirm",
        "/api/subjects",
        "/api/settings",
    ] {
        let resp = app
            .client
            .request(
                if path == "/api/settings" {
                    reqwest::Method::PATCH
                } else {
                    reqwest::Method::POST
                },
                app.url(path),
            )
            .bearer_auth(&t1)
            .header("content-type", "application/json")
            .body(deep.clone())
            .send()
            .await
            .unwrap();
        let method = if path == "/api/settings" {
            "PATCH"
        } else {
            "POST"
        };
        let resp = checked(method, path, resp).await;
        expect_4xx(
            &format!("{path}: JSON nested 10000 deep"),
            resp,
            &[400, 422],
        )
        .await;
    }
    let upload_in_json =
        json!({"image": data_url(&photo("obama.jpg")), "subject_id": "../../etc/passwd"});
    expect_4xx(
        "mark: subject_id ../../etc/passwd",
        app.post(mark, &upload_in_json, Some(&t1)).await,
        &[400, 422],
    )
    .await;

    let peak = peak_rss_mib();
    println!("peak RSS: {before} MiB before the hostile uploads, {peak} MiB after");
    assert!(
        peak < 1024,
        "the server's memory grew to {peak} MiB on hostile uploads"
    );
    // None of it was stored.
    let samples: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM face_samples", [], |r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(samples, 0);
}

#[tokio::test]
async fn sql_metacharacters_and_path_traversal_are_just_text() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let nasty = [
        "Robert'); DROP TABLE users;--",
        "\" OR \"1\"=\"1",
        "%' OR '1'='1",
        "x\0y",
        "../../../../etc/passwd",
        "<script>alert(1)</script>",
    ];
    for (i, text) in nasty.iter().enumerate() {
        // Account, subject and student text fields keep the text as given (or refuse it 4xx).
        let resp = app
            .post(
                "/api/students",
                &json!({"name": text, "email": format!("n{i}@school.test"), "roll": text}),
                Some(&t1),
            )
            .await;
        let status = resp.status();
        let v = body(resp).await;
        if status == StatusCode::OK {
            assert_eq!(v["name"].as_str(), Some(*text), "{v}");
        } else {
            assert!(
                status.is_client_error() && v["detail"].is_string(),
                "{status} {v}"
            );
        }
        let resp = app
            .post(
                "/api/subjects",
                &json!({"name": text, "code": format!("C{i}")}),
                Some(&t1),
            )
            .await;
        assert!(
            resp.status().is_success() || resp.status().is_client_error(),
            "{}",
            resp.status()
        );
        // Logins and searches with it find nothing.
        let resp = app
            .post(
                "/api/auth/login",
                &json!({"email": text, "password": text}),
                None,
            )
            .await;
        assert!(
            [401, 422].contains(&resp.status().as_u16()),
            "login with {text:?}: {}",
            resp.status()
        );
        let q: String = url_escape(text);
        let resp = app.get(&format!("/api/students?q={q}"), Some(&admin)).await;
        if text.contains('\0') {
            // NUL is refused wherever text reaches the database, searches included.
            expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
            continue;
        }
        let found = ok(resp).await;
        let names: Vec<&str> = found["students"]
            .as_array()
            .or_else(|| found.as_array())
            .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            names.iter().all(|n| n.contains(text)),
            "{text:?} found {names:?}"
        );
    }
    // Every table is still there and the admin can still log in.
    let users: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap_or(-1);
    assert!(users >= 2);
    app.admin_token().await;

    // Upload file names never become paths: the avatar is stored under its content hash.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(4, 4)
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let png = png.into_inner();
    let v = ok(app
        .post_multipart(
            "/api/settings/upload-avatar",
            &[("file", Some("../../../../tmp/evil.png"), "image/png", &png)],
            Some(&t1),
        )
        .await)
    .await;
    let url = v["avatarUrl"].as_str().unwrap_or_default();
    assert!(!url.contains(".."), "{url}");
    // Nothing outside the avatar folder is served.
    for path in [
        "/avatars/../rollcall.sqlite3",
        "/avatars/..%2frollcall.sqlite3",
        "/avatars/%2e%2e/rollcall.sqlite3",
        "/avatars/..%5crollcall.sqlite3",
    ] {
        let resp = app.get(path, None).await;
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        assert!(
            status.is_client_error() && !bytes.starts_with(b"SQLite format"),
            "{path}: {status}"
        );
    }
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
