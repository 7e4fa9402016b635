//! Students, consent and face enrolment through real photos.

use std::path::PathBuf;

use image::{DynamicImage, GenericImage, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{decode, photo, png, shared_data};
use crate::support::world::{student, subject, teacher, upload};
use crate::support::{TestApp, expect_detail, ok, spawn_app, spawn_app_with};

/// Two portraits side by side.
fn two_faces() -> Vec<u8> {
    let (a, b) = (decode(&photo("obama.jpg")), decode(&photo("biden.jpg")));
    let mut out = RgbImage::new(a.width() + b.width(), a.height().max(b.height()));
    out.copy_from(&a, 0, 0).expect("paste");
    out.copy_from(&b, a.width(), 0).expect("paste");
    png(&out)
}

/// A box blur of the given radius (separable, edges clamped).
fn box_blurred(bytes: &[u8], radius: i64) -> Vec<u8> {
    let img = decode(bytes);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let pass = |src: &RgbImage, dx: i64, dy: i64| {
        let mut out = RgbImage::new(src.width(), src.height());
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0u32; 3];
                for k in -radius..=radius {
                    let (sx, sy) = ((x + k * dx).clamp(0, w - 1), (y + k * dy).clamp(0, h - 1));
                    let p = src.get_pixel(
                        u32::try_from(sx).unwrap_or(0),
                        u32::try_from(sy).unwrap_or(0),
                    );
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
                let n = u32::try_from(2 * radius + 1).unwrap_or(1);
                let px = image::Rgb([0, 1, 2].map(|c| u8::try_from(sum[c] / n).unwrap_or(255)));
                out.put_pixel(
                    u32::try_from(x).unwrap_or(0),
                    u32::try_from(y).unwrap_or(0),
                    px,
                );
            }
        }
        out
    };
    let once = pass(&img, 1, 0);
    png(&pass(&once, 0, 1))
}

fn count(app: &TestApp, sql: &str, id: &str) -> i64 {
    app.db()
        .query_row(sql, [id], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn face_enrolment_consent_checks_and_access() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (s1, s1_id) = student(&app, "s1@school.test").await;
    let (s2, _) = student(&app, "s2@school.test").await;
    subject(&app, &t1, "M1", &[&s1_id]).await;

    // Without consent: 403, nothing stored.
    let d = expect_detail(
        upload(&app, &t1, Some(&s1_id), &photo("obama.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("consent"), "{d}");
    assert_eq!(app.stored_images(), 0);

    // The teacher records the paper form; another teacher may not act for this student.
    let consent = ok(app
        .post(
            &format!("/api/students/{s1_id}/consent"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    assert!(consent["consent_at"].is_string());
    expect_detail(
        upload(&app, &t2, Some(&s1_id), &photo("obama.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Accepted: a sample row, an image file, the seed's answer plus the sample.
    let done = ok(upload(&app, &t1, Some(&s1_id), &photo("obama.jpg")).await).await;
    println!("obama.jpg sharpness {}", done["sharpness"]);
    assert_eq!(
        done["message"],
        "Photo uploaded and face registered successfully"
    );
    assert_eq!(done["faces_total"], 1);
    let sample = done["sample_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        done["image_url"],
        format!("/api/students/{s1_id}/faces/{sample}/image")
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            &s1_id
        ),
        1
    );
    assert_eq!(app.stored_images(), 1);

    // The student's own upload on the seed path, another sharp photo.
    let mine = ok(app
        .post_multipart(
            "/students/me/face-image",
            &[("file", Some("me.jpg"), "image/jpeg", &photo("obama2.jpg"))],
            Some(&s1),
        )
        .await)
    .await;
    println!("obama2.jpg sharpness {}", mine["sharpness"]);
    // A student's photo of themselves waits for a teacher's approval before it is matched.
    assert_eq!(mine["pending_review"], true);
    assert_eq!(mine["faces_total"], 1);

    // Rejected photos.
    let d = expect_detail(
        upload(&app, &s1, None, &two_faces()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("2 faces found"), "{d}");
    let d = expect_detail(
        upload(&app, &s1, None, b"%PDF-1.4 not a photo").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(d.contains("JPEG, PNG, WebP, GIF"), "{d}");
    // Box blurs of radius 4 and 8 px on a 246 px face are refused (calibration:
    // docs/enrolment.md).
    for radius in [4, 8] {
        let d = expect_detail(
            upload(&app, &s1, None, &box_blurred(&photo("obama.jpg"), radius)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(d.contains("blurred"), "radius {radius}: {d}");
    }

    // Listing and the image: the student and their teacher; not another student or teacher.
    let list = ok(app
        .get(&format!("/api/students/{s1_id}/faces"), Some(&t1))
        .await)
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert!(list[0].get("embedding").is_none());
    assert!(list[0]["box"].is_array());
    let image_url = format!("/api/students/{s1_id}/faces/{sample}/image");
    for token in [&t1, &s1] {
        let resp = app.get(&image_url, Some(token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/jpeg")
        );
        // The photo's pixels, re-encoded without the upload's metadata.
        let bytes = resp.bytes().await.unwrap_or_default();
        assert_eq!(
            decode(&bytes).dimensions(),
            decode(&photo("obama.jpg")).dimensions()
        );
    }
    for token in [&s2, &t2] {
        expect_detail(
            app.get(&image_url, Some(token)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect_detail(app.get(&image_url, None).await, StatusCode::UNAUTHORIZED).await;
    expect_detail(
        app.get(&format!("/api/students/{s1_id}/faces/bad/image"), Some(&t1))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Deleting one sample removes its file.
    ok(app
        .delete(&format!("/api/students/{s1_id}/faces/{sample}"), Some(&s1))
        .await)
    .await;
    assert_eq!(app.stored_images(), 1);
    expect_detail(app.get(&image_url, Some(&t1)).await, StatusCode::NOT_FOUND).await;

    // Withdrawing consent deletes every sample and file; uploads are refused again.
    let w = ok(app
        .delete(&format!("/api/students/{s1_id}/consent"), Some(&s1))
        .await)
    .await;
    assert_eq!(w["deleted_samples"], 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            &s1_id
        ),
        0
    );
    assert_eq!(app.stored_images(), 0);
    expect_detail(
        upload(&app, &s1, None, &photo("obama.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

/// `img` scaled by `f` (Lanczos, as a photo editor shrinks a photo).
fn scaled(img: &RgbImage, f: f64) -> RgbImage {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let size = |v: u32| (f64::from(v) * f).round() as u32;
    image::imageops::resize(
        img,
        size(img.width()),
        size(img.height()),
        image::imageops::FilterType::Lanczos3,
    )
}

fn encoded(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encode {format:?}: {e}"));
    out.into_inner()
}

/// The photos schools have: small faces are looked for with the photo enlarged and accepted
/// from 40 px; a smaller one, or none, is named for what it is; GIF and BMP are photos too, and
/// an iPhone HEIC is answered with what to do.
#[tokio::test]
async fn enrolment_accepts_small_faces_and_more_formats_and_says_why_not() {
    let app = spawn_app_with(&["--require-consent", "false"]).await;
    let t1 = app.admin_token().await;
    let (_, s1_id) = student(&app, "s1@school.test").await;
    let obama = decode(&photo("obama.jpg"));
    // obama.jpg's face is 246 px wide (inclusive) in a 910 px wide photo.
    let face = |f: f64| 246.0 * f;

    // About 52 px: under the portrait pass's 80 px window, found with the photo enlarged.
    let small = scaled(&obama, 0.21);
    let done = ok(upload(&app, &t1, Some(&s1_id), &png(&small)).await).await;
    println!("{:.0} px face accepted: {done}", face(0.21));
    let id = done["sample_id"].as_str().unwrap_or_default().to_owned();
    let list = ok(app
        .get(&format!("/api/students/{s1_id}/faces"), Some(&t1))
        .await)
    .await;
    let sample = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .unwrap_or_default();
    let b = |i: usize| sample["box"][i].as_i64().unwrap_or(-1);
    let width = b(2) - b(0) + 1;
    assert!((40..=64).contains(&width), "{sample}");

    // About 31 px: found, and refused for its size, which the message names.
    let tiny = scaled(&obama, 0.125);
    let d = expect_detail(
        upload(&app, &t1, Some(&s1_id), &png(&tiny)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    println!("{:.0} px face: {d}", face(0.125));
    let px: i64 = d
        .strip_prefix("A face of ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{d}"));
    assert!((24..40).contains(&px), "{d}");
    assert!(d.contains("at least 40 px"), "{d}");

    // No face at all, even enlarged four times.
    let blank = RgbImage::from_pixel(300, 240, image::Rgb([128, 120, 110]));
    let d = expect_detail(
        upload(&app, &t1, Some(&s1_id), &png(&blank)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        d.contains("No face found, even with the photo enlarged 4x"),
        "{d}"
    );

    // GIF and BMP photos are enrolled like JPEGs (the GIF's palette costs little).
    let half = scaled(&obama, 0.5);
    for format in [image::ImageFormat::Gif, image::ImageFormat::Bmp] {
        let done = ok(upload(&app, &t1, Some(&s1_id), &encoded(&half, format)).await).await;
        println!("{format:?}: {done}");
        assert!(done["sample_id"].is_string(), "{format:?}: {done}");
    }

    // An iPhone HEIC: refused with what to do instead.
    let mut heic = 24u32.to_be_bytes().to_vec();
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0; 512]);
    let d = expect_detail(
        upload(&app, &t1, Some(&s1_id), &heic).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(d.contains("HEIC") && d.contains("Most Compatible"), "{d}");

    // Three photos stored: the small face, the GIF and the BMP; nothing for the refusals.
    let list = ok(app
        .get(&format!("/api/students/{s1_id}/faces"), Some(&t1))
        .await)
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
}

#[tokio::test]
async fn consent_can_be_switched_off() {
    // Students' own uploads used at once, as before staff review existed.
    let app = spawn_app_with(&[
        "--require-consent",
        "false",
        "--review-self-uploads",
        "false",
    ])
    .await;
    let (s1, s1_id) = student(&app, "s1@school.test").await;
    let photos = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
    let mut last = Value::Null;
    // (The cap of 30, chosen for coverage, is tested in service::faces and gallery.rs.)
    for i in 0..6 {
        // Identical bytes share one stored image; vary them by re-encoding every other upload.
        let bytes = photo(photos[i % photos.len()]);
        let bytes = if i >= photos.len() {
            png(&decode(&bytes))
        } else {
            bytes
        };
        last = ok(upload(&app, &s1, None, &bytes).await).await;
    }
    assert_eq!(last["faces_total"], 6);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            &s1_id
        ),
        6
    );
    let files = app.stored_images();
    let distinct = count(
        &app,
        "SELECT COUNT(DISTINCT image_sha256) FROM face_samples WHERE student_id = ?1",
        &s1_id,
    );
    assert_eq!(i64::try_from(files).unwrap_or(0), distinct);
}

#[tokio::test]
async fn student_accounts_crud_delete_and_audit() {
    let app = spawn_app_with(&["--require-consent", "false"]).await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let admin = app.admin_token().await;
    let sid = subject(&app, &t1, "M1", &[]).await;

    let created = ok(app
        .post(
            "/api/students",
            &json!({"name": "Asha R", "email": "asha@school.test", "roll": "21CS045",
                    "branch": "cse", "year": "2", "subject_ids": [sid]}),
            Some(&t1),
        )
        .await)
    .await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let password = created["password"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["roll"], "21CS045");
    expect_detail(
        app.post(
            "/api/students",
            &json!({"name": "Dup", "email": "asha@school.test", "subject_ids": [sid]}),
            Some(&t1),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    // A teacher's new student must join one of their subjects, or the teacher would lose them.
    expect_detail(
        app.post(
            "/api/students",
            &json!({"name": "Nowhere", "email": "nowhere@school.test"}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Lists: the teacher sees their students, search by roll or name; another teacher sees none.
    let page = ok(app.get("/api/students?q=21cs", Some(&t1)).await).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["students"][0]["id"], id.as_str());
    let page = ok(app
        .get("/api/students?q=asha&page=1&per_page=100", Some(&admin))
        .await)
    .await;
    assert_eq!(page["total"], 1);
    let page = ok(app.get("/api/students", Some(&t2)).await).await;
    assert_eq!(page["total"], 0);
    expect_detail(
        app.get("/api/students?per_page=101", Some(&t1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // The student: own profile (seed shape), limited self-edit; teacher routes refused.
    let login = app.login("asha@school.test", &password).await;
    let st = crate::support::token_of(&login);
    let profile = ok(app.get("/students/me/profile", Some(&st)).await).await;
    assert_eq!(profile["userId"], id.as_str());
    assert_eq!(profile["subjects"][0]["code"], "M1");
    assert_eq!(profile["attendance"]["total_classes"], 0);
    assert_eq!(profile["image_url"], Value::Null);
    // The seed's by-id profile: the same body for the student's teacher; others refused.
    let by_id = ok(app.get(&format!("/students/{id}/profile"), Some(&t1)).await).await;
    assert_eq!(by_id, profile);
    expect_detail(
        app.get(&format!("/students/{id}/profile"), Some(&t2)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get(&format!("/students/{id}/profile"), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_detail(
        app.get("/students/not-an-id/profile", Some(&t1)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let me = ok(app
        .put(
            &format!("/api/students/{id}"),
            &json!({"year": "3"}),
            Some(&st),
        )
        .await)
    .await;
    assert_eq!(me["year"], "3");
    expect_detail(
        app.put(
            &format!("/api/students/{id}"),
            &json!({"roll": "X"}),
            Some(&st),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/api/students", Some(&st)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.delete(&format!("/api/students/{id}"), Some(&st)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get(&format!("/api/students/{id}"), Some(&t2)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/api/students/zzz", Some(&t1)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_detail(
        app.get("/students/me/profile", Some(&t1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/students/me/profile", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A face, then delete the student: user row, enrolments, samples, files gone; audited.
    ok(upload(&app, &t1, Some(&id), &photo("biden.jpg")).await).await;
    assert_eq!(app.stored_images(), 1);
    // Deleting an account is an administrator's act, even for the teacher who created it (a
    // teacher removes a student from their subject).
    for t in [&t2, &t1] {
        let d = expect_detail(
            app.delete(&format!("/api/students/{id}"), Some(t)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(d, "Administrator access required");
    }
    ok(app
        .delete(&format!("/api/students/{id}"), Some(&admin))
        .await)
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE id = ?1", &id),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM enrolments WHERE student_id = ?1",
            &id
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            &id
        ),
        0
    );
    assert_eq!(app.stored_images(), 0);
    // Nothing else keyed by the student survives either.
    for sql in [
        "SELECT COUNT(*) FROM students WHERE user_id = ?1",
        "SELECT COUNT(*) FROM auth_sessions WHERE user_id = ?1",
        "SELECT COUNT(*) FROM password_resets WHERE user_id = ?1",
        "SELECT COUNT(*) FROM email_verifications WHERE user_id = ?1",
    ] {
        assert_eq!(count(&app, sql, &id), 0, "{sql}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'student.delete' AND target = ?1",
            &id
        ),
        1
    );
    expect_detail(
        app.get(&format!("/api/students/{id}"), Some(&admin)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn missing_models_are_a_503_not_a_panic() {
    let app = spawn_app_with(&[
        "--require-consent",
        "false",
        "--cache-dir",
        "/nonexistent-rollcall-cache",
    ])
    .await;
    let (s1, _) = student(&app, "s1@school.test").await;
    let d = expect_detail(
        upload(&app, &s1, None, &photo("obama.jpg")).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(d.contains("unavailable"), "{d}");
}

#[tokio::test]
async fn upload_needs_a_file_and_a_token() {
    let app = spawn_app().await;
    let (s1, _) = student(&app, "s1@school.test").await;
    expect_detail(
        app.post_multipart(
            "/api/students/upload-face",
            &[("other", None, "text/plain", b"x")],
            Some(&s1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.post("/api/students/upload-face", &json!({}), Some(&s1))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    expect_detail(
        app.post_multipart(
            "/api/students/upload-face",
            &[("file", Some("a.jpg"), "image/jpeg", &photo("obama.jpg"))],
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let _ = spawn_app;
}

/// Run the `rollcall` binary to completion off the async runtime.
async fn rollcall(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        crate::support::backend::rollcall_command(&args)
            .env(
                "ROLLCALL_CACHE_DIR",
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"),
            )
            .output()
            .expect("running rollcall")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn enroll_command_takes_a_folder_of_photos() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for (email, roll) in [
        ("a@school.test", "21CS001"),
        ("b@school.test", ""),
        ("c@school.test", "21CS003"),
    ] {
        let created = ok(app
            .post(
                "/api/students",
                &json!({"name": email, "email": email, "roll": roll}),
                Some(&admin),
            )
            .await)
        .await;
        ids.push(created["id"].as_str().unwrap_or_default().to_owned());
    }
    let folder = tempfile::tempdir().unwrap();
    let write = |rel: &str, bytes: &[u8]| {
        let path = folder.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
    };
    write("21cs001.jpg", &photo("obama.jpg"));
    write("b@school.test/1.jpg", &photo("biden.jpg"));
    write("b@school.test/2.png", &two_faces());
    write("NOPE.jpg", &photo("obama2.jpg"));
    write("notes.txt", b"ignored");
    let data_dir = app.data_dir.path().display().to_string();
    let folder_arg = folder.path().display().to_string();

    // Without consent every photo is refused.
    let out = rollcall(vec![
        "enroll".into(),
        "--data-dir".into(),
        data_dir.clone(),
        folder_arg.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("enrolled 0 photos of 0 students, rejected 4"),
        "{stdout}"
    );
    assert!(stdout.contains("consent"), "{stdout}");

    // With the school's forms recorded: two enrolled; the group photo and the unknown roll skipped.
    let out = rollcall(vec![
        "enroll".into(),
        "--data-dir".into(),
        data_dir,
        "--record-consent".into(),
        folder_arg,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("enrolled 2 photos of 2 students, rejected 2"),
        "{stdout}"
    );
    assert!(stdout.contains("2 faces found"), "{stdout}");
    assert!(stdout.contains("no student with roll NOPE"), "{stdout}");
    let samples = |id: &str| {
        count(
            &app,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            id,
        )
    };
    assert_eq!(
        (samples(&ids[0]), samples(&ids[1]), samples(&ids[2])),
        (1, 1, 0)
    );
    let consent = count(
        &app,
        "SELECT COUNT(*) FROM students WHERE user_id = ?1 AND consent_at IS NOT NULL",
        &ids[0],
    );
    assert_eq!(consent, 1);
    // Recorded as `rollcall consent` records it: audited, operator as actor, the notice named.
    let detail: String = app
        .db()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'student.consent' AND target = ?1 AND actor_id IS NULL",
            [&ids[0]],
            |r| r.get(0),
        )
        .expect("no consent audit entry");
    assert!(
        detail.starts_with("given; notice sha256=") && detail.ends_with("via cli"),
        "{detail}"
    );
    assert_eq!(app.stored_images(), 2);
}

/// The sample folder of the face_recognition examples (one folder per person, named by name):
/// `--create-missing` makes the accounts, `--subject` enrols them, every photo is checked.
#[tokio::test]
async fn enroll_command_on_the_knn_sample_folders() {
    let shared = shared_data().join("knn-examples/train");
    if !shared.is_dir() {
        eprintln!(
            "SKIPPED enroll_command_on_the_knn_sample_folders: {} is not present",
            shared.display()
        );
        return;
    }
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subject(&app, &admin, "knn101", &[]).await;
    let out = rollcall(vec![
        "enroll".into(),
        "--data-dir".into(),
        app.data_dir.path().display().to_string(),
        "--record-consent".into(),
        "--create-missing".into(),
        "--subject".into(),
        "KNN101".into(),
        shared.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let enrolled = count(
        &app,
        "SELECT COUNT(*) FROM enrolments e JOIN subjects s ON s.id = e.subject_id WHERE s.code = ?1",
        "KNN101",
    );
    assert_eq!(enrolled, 5, "{stdout}");
    let with_faces = count(
        &app,
        "SELECT COUNT(DISTINCT student_id) FROM face_samples WHERE ?1 = ?1",
        "x",
    );
    assert_eq!(
        with_faces, 5,
        "every person has at least one usable photo: {stdout}"
    );
    assert!(stdout.contains("into KNN101"), "{stdout}");
    // The accounts and enrolments it made are audited as the API's are, the operator as actor.
    let via_cli = |action: &str| {
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = ?1 AND actor_id IS NULL AND detail LIKE '%via cli'",
            action,
        )
    };
    assert_eq!(
        (via_cli("student.create"), via_cli("subject.enrol")),
        (5, 5)
    );
    // Running it again changes nobody's account: the students now exist by roll.
    let again = rollcall(vec![
        "enroll".into(),
        "--data-dir".into(),
        app.data_dir.path().display().to_string(),
        "--subject".into(),
        "KNN101".into(),
        shared.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    let students = count(
        &app,
        "SELECT COUNT(*) FROM users WHERE role = 'student' AND ?1 = ?1",
        "x",
    );
    assert_eq!(students, 5, "{stdout}");
}
