//! The image store on PostgreSQL: face photos, draft photos and avatars live in the database,
//! so every server of the database serves them and none keeps them in its data directory
//! (docs/postgres.md §2). On SQLite they are files in the data directory, which the other
//! suites (students, drafts, privacy, settings) look at.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::binary::Server;
use crate::support::media::{data_url, photo};
use crate::support::world::{enrol_faces, student, subject, teacher};
use crate::support::{backend, files_in, ok, spawn_app};

/// GET `path` on `base` with `token`: (status, cache-control, body).
async fn fetch(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String, Vec<u8>) {
    let mut req = client.get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let status = resp.status();
    let cache = resp
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        cache,
        resp.bytes().await.unwrap_or_default().to_vec(),
    )
}

#[tokio::test]
async fn photos_uploaded_through_one_server_are_served_by_another_with_an_empty_data_dir() {
    if backend::postgres_admin().is_none() {
        eprintln!(
            "SKIPPED: needs PostgreSQL (ROLLCALL_TEST_BACKEND=postgres, ROLLCALL_TEST_POSTGRES from \
             scripts/setup-postgres): on SQLite the photos are the server's own files"
        );
        return;
    }
    // Server A: a face photo, a class photo saved in a draft, an avatar.
    let a = spawn_app().await;
    let (t1, _) = teacher(&a, "t-images@school.test").await;
    let (_, s1) = student(&a, "s-images@school.test").await;
    let sid = subject(&a, &t1, "IMG1", &[&s1]).await;
    assert_eq!(enrol_faces(&a, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    let faces = ok(a.get(&format!("/api/students/{s1}/faces"), Some(&t1)).await).await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let marked = ok(a
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": true}),
            Some(&t1),
        )
        .await)
    .await;
    let draft = marked["draft"]["draft_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no draft: {marked}"))
        .to_owned();
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(3, 2)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let avatar = ok(a
        .post_multipart(
            "/api/settings/upload-avatar",
            &[("file", Some("me.png"), "image/png", png.get_ref())],
            Some(&t1),
        )
        .await)
    .await;
    let avatar_path = avatar["avatarUrl"]
        .as_str()
        .and_then(|u| u.find("/avatars/").map(|i| u[i..].to_owned()))
        .unwrap_or_else(|| panic!("no avatar URL: {avatar}"));
    let face_path = format!("/api/students/{s1}/faces/{sample}/image");
    let draft_path = format!("/api/attendance/drafts/{draft}/photos/1");
    assert_eq!(a.stored_images(), 2, "the face photo and the class photo");

    // Server B: the same database, a data directory of its own, empty.
    let b_dir = tempfile::tempdir().unwrap();
    let url = backend::database_url(a.data_dir.path()).unwrap();
    let b = Server::start_on(b_dir.path(), &url).await;
    for (path, token) in [
        (&face_path, Some(t1.as_str())),
        (&draft_path, Some(t1.as_str())),
        (&avatar_path, None),
    ] {
        let (status_a, _, from_a) = fetch(&a.client, &a.base, path, token).await;
        let (status_b, cache_b, from_b) = fetch(&b.client, &b.base, path, token).await;
        assert_eq!(
            (status_a, status_b),
            (StatusCode::OK, StatusCode::OK),
            "{path}"
        );
        assert!(
            !from_b.is_empty() && from_a == from_b,
            "{path}: B serves other bytes"
        );
        assert_eq!(cache_b, "no-store", "{path}");
        image::load_from_memory(&from_b).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let (status, _, _) = fetch(&b.client, &b.base, "/avatars/missing.jpg", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the sample through B takes its image away for A too.
    let resp = b
        .client
        .delete(format!("{}/api/students/{s1}/faces/{sample}", b.base))
        .bearer_auth(&t1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, _, _) = fetch(&a.client, &a.base, &face_path, Some(&t1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(a.stored_images(), 1, "the class photo is left");

    // Neither server wrote a photo into its data directory.
    for dir in [a.data_dir.path(), b_dir.path()] {
        for sub in ["faces", "avatars"] {
            assert_eq!(files_in(&dir.join(sub)), 0, "{}/{sub}", dir.display());
        }
    }
    b.kill9();
}
