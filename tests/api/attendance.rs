//! Attendance through real HTTP and real photos: marking, confirming, figures, CSV.

use std::time::Instant;

use base64::Engine as _;
use image::{GenericImage, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{
    data_url, decode, photo, png, shared_data, side_by_side, webcam_frame,
};
use crate::support::world::{enrol_faces, student, subject, teacher};
use crate::support::{TestApp, expect_detail, ok, spawn_app};

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

async fn mark_json(app: &TestApp, token: &str, sid: &str, image: &[u8]) -> reqwest::Response {
    app.post(
        "/api/attendance/mark",
        &json!({"image": data_url(image), "subject_id": sid}),
        Some(token),
    )
    .await
}

/// The ids of the students on faces with status present.
fn present(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no faces in {v}"))
        .iter()
        .filter(|f| f["status"] == "present")
        .filter_map(|f| f["student"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn mark_confirm_figures_and_csv() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (obama, obama_id) = student(&app, "obama@school.test").await;
    let (biden, biden_id) = student(&app, "biden@school.test").await;
    let (zoe, zoe_id) = student(&app, "zoe@school.test").await;
    let (_, stranger_id) = student(&app, "stranger@school.test").await;
    let sid = subject(&app, &t1, "ATT1", &[&obama_id, &biden_id, &zoe_id]).await;
    let odd_name = "Doe, Zoë \"Z\"";
    ok(app
        .put(
            &format!("/api/students/{zoe_id}"),
            &json!({"name": odd_name, "roll": "R-3"}),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(
        enrol_faces(
            &app,
            &t1,
            &obama_id,
            &[photo("obama.jpg"), photo("obama2.jpg")]
        )
        .await,
        2
    );
    assert_eq!(
        enrol_faces(&app, &t1, &biden_id, &[photo("biden.jpg")]).await,
        1
    );

    // One face: obama present, biden and zoe not seen.
    let started = Instant::now();
    let v = ok(mark_json(&app, &t1, &sid, &photo("obama3.jpg")).await).await;
    println!(
        "mark obama3.jpg (first, loads models): {:?}",
        started.elapsed()
    );
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["subject_id"], sid.as_str());
    let face = &v["faces"][0];
    assert_eq!(face["status"], "present", "{v}");
    assert_eq!(face["student"]["id"], obama_id.as_str());
    let d = face["distance"].as_f64().unwrap_or(9.0);
    assert!(d < 0.5, "{v}");
    let c = face["confidence"].as_f64().unwrap_or(-1.0);
    assert!((c - (1.0 - d)).abs() < 0.002, "{v}");
    assert!(face["detector_score"].as_f64().is_some(), "{v}");
    assert!(face["box"]["left"].as_i64() < face["box"]["right"].as_i64());
    assert_eq!(face["candidates"][0]["student_id"], obama_id.as_str());
    let not_seen: Vec<&str> = v["not_seen"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(not_seen.contains(&biden_id.as_str()), "{v}");
    assert!(not_seen.contains(&zoe_id.as_str()), "{v}");
    assert!(!not_seen.contains(&obama_id.as_str()), "{v}");

    // Two people side by side (multipart this time): both present, each exactly once.
    let both = side_by_side(&photo("obama3.jpg"), &photo("biden.jpg"));
    let started = Instant::now();
    let v = ok(app
        .post_multipart(
            "/api/attendance/mark",
            &[
                ("file", Some("class.png"), "image/png", &both),
                ("subject_id", None, "text/plain", sid.as_bytes()),
            ],
            Some(&t1),
        )
        .await)
    .await;
    println!("mark two faces (warm): {:?}", started.elapsed());
    assert_eq!(v["count"], 2, "{v}");
    let mut expected = vec![obama_id.clone(), biden_id.clone()];
    expected.sort();
    assert_eq!(present(&v), expected, "{v}");

    // Errors.
    let d = expect_detail(
        mark_json(&app, &t1, &sid, b"this is not an image at all").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(d.contains("JPEG"), "{d}");
    expect_detail(
        mark_json(&app, &t2, &sid, &photo("obama3.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        mark_json(&app, &obama, &sid, &photo("obama3.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let d = expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"subject_id": sid}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "image and subject_id required");
    let d = expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"image": "data:image/jpeg;base64,@@@", "subject_id": sid}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid base64 image");
    expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"image": "AAAA", "subject_id": "nope"}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"image": "AAAA", "subject_id": sid}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Confirm (seed shape), then again with other decisions: replaced, not added.
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05",
                    "present_students": [obama_id, obama_id],
                    "absent_students": [biden_id, zoe_id]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["ok"], true);
    assert_eq!(v["present_updated"], 1, "{v}");
    assert_eq!(v["absent_updated"], 2, "{v}");
    assert_eq!(v["summary"]["total"], 3, "{v}");
    let session = str_of(&v, "session_id").to_owned();
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05", "decisions": [
                {"student_id": obama_id, "status": "late"},
                {"student_id": biden_id, "status": "present"},
                {"student_id": zoe_id, "status": "excused"}]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["session_id"], session.as_str(), "same session");
    assert_eq!(
        v["summary"],
        json!({"present": 1, "absent": 0, "late": 1, "excused": 1, "total": 3, "percentage": 100.0})
    );
    let records: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM attendance_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 3);
    let audits: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'attendance.confirm'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audits, 2);
    // A second day (today by default is exercised by the seed shape without a date).
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-06", "decisions": [
                {"student_id": obama_id, "status": "present", "distance": 0.3},
                {"student_id": biden_id, "status": "absent"}]}),
            Some(&t1),
        )
        .await)
    .await;
    // Where each record came from: a photo match, a manual decision, a later correction.
    let sources: Vec<(String, String, String, Option<f64>)> = {
        let db = app.db();
        let mut stmt = db
            .prepare(
                "SELECT a.date, r.student_id, r.source, r.distance FROM attendance_records r
                 JOIN attendance_sessions a ON a.id = r.session_id ORDER BY a.date, r.student_id",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (date, student, source, distance) in &sources {
        let want = match (date.as_str(), student) {
            ("2026-01-05", _) => ("correction", None),
            ("2026-01-06", s) if *s == obama_id => ("photo", Some(0.3)),
            _ => ("manual", None),
        };
        assert_eq!((source.as_str(), *distance), want, "{sources:?}");
    }
    assert_eq!(sources.len(), 5, "{sources:?}");
    // Empty lists over a confirmed session: the seed's zero summary, and the session keeps its
    // records (nothing is recorded).
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05", "present_students": [], "absent_students": []}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(
        (
            &v["ok"],
            &v["present_updated"],
            &v["absent_updated"],
            &v["session_id"]
        ),
        (&json!(true), &json!(0), &json!(0), &Value::Null),
        "{v}"
    );
    let kept = ok(app
        .get(&format!("/api/attendance/sessions/{session}"), Some(&t1))
        .await)
    .await;
    assert_eq!(kept["summary"]["total"], 3, "{kept}");
    // Refusals.
    let d = expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "present_students": [stranger_id]}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("Not enrolled"), "{d}");
    expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "present_students": [obama_id]}),
            Some(&t2),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "decisions": [{"student_id": obama_id, "status": "asleep"}]}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"present_students": [obama_id]}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Students' own figures.
    let mine = |token: String| {
        let app = &app;
        async move { ok(app.get("/api/attendance/me", Some(&token)).await).await }
    };
    let v = mine(obama.clone()).await;
    assert_eq!(v[0]["subject_id"], sid.as_str(), "{v}");
    assert_eq!(
        (
            &v[0]["present"],
            &v[0]["late"],
            &v[0]["total"],
            &v[0]["percentage"]
        ),
        (&json!(1), &json!(1), &json!(2), &json!(100.0)),
        "{v}"
    );
    let v = mine(biden.clone()).await;
    assert_eq!((&v[0]["present"], &v[0]["absent"]), (&json!(1), &json!(1)));
    assert_eq!(v[0]["percentage"], 50.0, "{v}");
    let v = mine(zoe.clone()).await;
    assert_eq!((&v[0]["excused"], &v[0]["total"]), (&json!(1), &json!(1)));
    assert_eq!(v[0]["percentage"], 0.0, "{v}");
    // The seed's own student views carry the same numbers.
    let v = ok(app.get("/students/me/subjects", Some(&biden)).await).await;
    assert_eq!(
        (&v[0]["attendance"], &v[0]["attended"], &v[0]["total"]),
        (&json!(50.0), &json!(1), &json!(2)),
        "{v}"
    );
    let v = ok(app.get("/students/me/profile", Some(&obama)).await).await;
    let a = &v["attendance"];
    assert_eq!(
        (&a["total_classes"], &a["present"], &a["percentage"]),
        (&json!(2), &json!(2), &json!(100.0)),
        "{v}"
    );
    assert_eq!(v["recent_attendance"][0]["date"], "2026-01-06", "{v}");
    assert_eq!(v["recent_attendance"][0]["present"], true, "{v}");
    let v = ok(app.get("/students/me/subjects", Some(&zoe)).await).await;
    assert_eq!(v[0]["attendance"], 0, "{v}");
    expect_detail(
        app.get("/api/attendance/me", Some(&t1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // CSV.
    let resp = app
        .get(
            &format!("/api/attendance/subjects/{sid}/export.csv"),
            Some(&t1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = resp.text().await.unwrap();
    println!("{text}");
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "name,roll,2026-01-05#0,2026-01-06#0,present,late,excused,absent,total,percentage"
    );
    assert!(
        lines.contains(&"\"Doe, Zoë \"\"Z\"\"\",R-3,E,,0,0,1,0,1,0.00"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(",L,P,1,1,0,0,2,100.00")),
        "{text}"
    );
    let text = app
        .get(
            &format!("/api/attendance/subjects/{sid}/export.csv?from=2026-01-06&to=2026-01-31"),
            Some(&admin),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("name,roll,2026-01-06#0,present,"),
        "{text}"
    );
    expect_detail(
        app.get(
            &format!("/api/attendance/subjects/{sid}/export.csv?from=yesterday"),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.get(
            &format!("/api/attendance/subjects/{sid}/export.csv"),
            Some(&t2),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let resp = app
        .get(
            &format!("/api/attendance/sessions/{session}/export.csv"),
            Some(&t1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("name,roll,2026-01-05#0,present,"),
        "{text}"
    );
    expect_detail(
        app.get(
            &format!("/api/attendance/sessions/{session}/export.csv"),
            Some(&t2),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A correction changes one record, never adds one.
    let path = format!("/api/attendance/sessions/{session}/records/{zoe_id}");
    let v = ok(app
        .put(&path, &json!({"status": "absent"}), Some(&t1))
        .await)
    .await;
    assert_eq!(
        v["summary"],
        json!({"present": 1, "absent": 1, "late": 1, "excused": 0, "total": 3, "percentage": 66.67})
    );
    expect_detail(
        app.put(&path, &json!({"status": "absent"}), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.put(&path, &json!({"status": "gone"}), Some(&t1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.put(
            &format!("/api/attendance/sessions/{session}/records/{stranger_id}"),
            &json!({"status": "absent"}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let v = mine(zoe.clone()).await;
    assert_eq!(
        (&v[0]["absent"], &v[0]["excused"]),
        (&json!(1), &json!(0)),
        "{v}"
    );
    let audits: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'attendance.correct'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audits, 1);

    // A body over the limit is refused before any decoding.
    let huge = "A".repeat(21 * 1024 * 1024);
    expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"image": huge, "subject_id": sid}),
            Some(&t1),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}

#[tokio::test]
async fn unverified_or_non_consenting_students_are_not_matched() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (obama, obama_id) = student(&app, "obama@school.test").await;
    let sid = subject(&app, &t1, "ATT2", &[]).await;
    // The student joins by themselves: enrolment not verified yet.
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={sid}"),
            &Value::Null,
            Some(&obama),
        )
        .await)
    .await;
    assert_eq!(
        enrol_faces(&app, &t1, &obama_id, &[photo("obama.jpg")]).await,
        1
    );
    let v = ok(mark_json(&app, &t1, &sid, &photo("obama3.jpg")).await).await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["faces"][0]["status"], "unknown", "{v}");
    assert_eq!(v["faces"][0]["student"], Value::Null, "{v}");
    // Approved: matched.
    ok(app
        .post(
            &format!("/settings/teachers/subjects/{sid}/students/{obama_id}/verify"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    let v = ok(mark_json(&app, &t1, &sid, &photo("obama3.jpg")).await).await;
    assert_eq!(present(&v), vec![obama_id.clone()], "{v}");
    // No face at all: an empty list.
    let blank = png(&RgbImage::from_pixel(200, 200, image::Rgb([200, 200, 200])));
    let v = ok(mark_json(&app, &t1, &sid, &blank).await).await;
    assert_eq!(v["count"], 0, "{v}");
    assert_eq!(v["faces"], json!([]), "{v}");
}

/// A 640x480 frame holding one face of about 45 px (a detector box of about 60): too small for
/// a live frame, found in a class photo.
fn tiny_face_frame() -> Vec<u8> {
    // obama3's face is at (630, 315)-(908, 592): a 580 px square around it, shrunk to 90 px.
    let img = decode(&photo("obama3.jpg"));
    let crop = image::imageops::crop_imm(&img, 480, 165, 580, 580).to_image();
    let small = image::imageops::resize(&crop, 90, 90, image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
    frame.copy_from(&small, 257, 177).expect("paste");
    png(&frame)
}

/// `ROLLCALL_SEED_LIVE_FRAMES=false`: the seed's webcam frame is a class photo (for a webcam
/// that films the whole class), unless it says `live`.
#[tokio::test]
async fn seed_live_frames_can_be_switched_off() {
    let app = crate::support::spawn_app_with(&["--seed-live-frames", "false"]).await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let sid = subject(&app, &t1, "LIVE2", &[]).await;
    let tiny = tiny_face_frame();
    let v = ok(mark_json(&app, &t1, &sid, &tiny).await).await;
    assert_eq!(
        (&v["profile"], &v["count"]),
        (&json!("class"), &json!(1)),
        "{v}"
    );
    let v = ok(app
        .post(
            "/api/attendance/mark?live=1",
            &json!({"image": data_url(&tiny), "subject_id": sid}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(
        (&v["profile"], &v["count"]),
        (&json!("live"), &json!(0)),
        "{v}"
    );
}

/// The seed frontend's live mode: a webcam frame is analysed with the portrait (live) profile
/// when it says `live` (JSON key or query parameter) and, without the flag, when it comes in the
/// seed's shape (a JSON data URL) at a webcam's size, and it still recognises the student. The
/// profile is in the answer and shows in what is found: a face too small for a live frame.
/// Then the seed's confirmation of that frame's match shows in the seed roster's counters.
#[tokio::test]
async fn live_frames_take_the_portrait_profile() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, obama_id) = student(&app, "obama@school.test").await;
    let (_, zoe_id) = student(&app, "zoe@school.test").await;
    let sid = subject(&app, &t1, "LIVE1", &[&obama_id, &zoe_id]).await;
    assert_eq!(
        enrol_faces(
            &app,
            &t1,
            &obama_id,
            &[photo("obama.jpg"), photo("obama2.jpg")]
        )
        .await,
        2
    );
    let frame = webcam_frame(&photo("obama3.jpg"));
    for (path, body) in [
        (
            "/api/attendance/mark",
            json!({"image": data_url(&frame), "subject_id": sid, "live": true}),
        ),
        (
            "/api/attendance/mark?live=true",
            json!({"image": data_url(&frame), "subject_id": sid}),
        ),
        // Exactly what the seed's MarkAttendance page posts every 3 s: no flag.
        (
            "/api/attendance/mark",
            json!({"image": data_url(&frame), "subject_id": sid}),
        ),
    ] {
        let v = ok(app.post(path, &body, Some(&t1)).await).await;
        assert_eq!(v["profile"], "live", "{path}: {v}");
        assert_eq!(present(&v), vec![obama_id.clone()], "{v}");
    }
    // A class photo in the same JSON shape stays a class photo.
    let v = ok(mark_json(&app, &t1, &sid, &photo("obama3.jpg")).await).await;
    assert_eq!(v["profile"], "class", "{v}");
    // A face too small for a live frame (under 80 px) is not looked for; a class photo finds it.
    let tiny = tiny_face_frame();
    let bare = base64::engine::general_purpose::STANDARD.encode(&tiny);
    for (body, profile, count) in [
        (
            json!({"image": data_url(&tiny), "subject_id": sid}),
            "live",
            0,
        ),
        (
            json!({"image": data_url(&tiny), "subject_id": sid, "live": false}),
            "class",
            1,
        ),
        // Plain base64 is not the seed's webcam shape.
        (json!({"image": bare, "subject_id": sid}), "class", 1),
    ] {
        let v = ok(app.post("/api/attendance/mark", &body, Some(&t1)).await).await;
        assert_eq!(
            (&v["profile"], &v["count"]),
            (&json!(profile), &json!(count)),
            "{v}"
        );
    }
    let v = ok(app
        .post(
            "/api/attendance/mark?live=0",
            &json!({"image": data_url(&tiny), "subject_id": sid}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["profile"], "class", "{v}");
    // Multipart (rollcall's own page) without the flag: a class photo.
    let v = ok(app
        .post_multipart(
            "/api/attendance/mark",
            &[
                ("file", Some("frame.png"), "image/png", &tiny),
                ("subject_id", None, "text/plain", sid.as_bytes()),
            ],
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(
        (&v["profile"], &v["count"]),
        (&json!("class"), &json!(1)),
        "{v}"
    );

    // The seed confirms what live mode saw (obama present, the rest of the roster absent): the
    // roster's counters show it.
    let confirmed = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "present_students": [obama_id], "absent_students": [zoe_id]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(confirmed["ok"], true, "{confirmed}");
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&t1),
        )
        .await)
    .await;
    let counters = |id: &str| {
        roster
            .as_array()
            .and_then(|l| l.iter().find(|r| r["student_id"] == id))
            .map(|r| r["attendance"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        counters(&obama_id),
        json!({"present": 1, "absent": 0, "total": 1, "percentage": 100.0})
    );
    assert_eq!(
        counters(&zoe_id),
        json!({"present": 0, "absent": 1, "total": 1, "percentage": 0.0})
    );
}

/// face_recognition's KNN example photos, when the shared data folder is present.
#[tokio::test]
async fn knn_examples_are_recognised() {
    let root = shared_data().join("knn-examples");
    if !root.join("train").is_dir() {
        println!("SKIPPED: {} not found", root.display());
        return;
    }
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let people = [
        "alex_lacamoire",
        "biden",
        "kit_harington",
        "obama",
        "rose_leslie",
    ];
    let mut ids = std::collections::HashMap::new();
    for p in people {
        let (_, id) = student(&app, &format!("{p}@school.test")).await;
        ids.insert(p, id);
    }
    let all: Vec<&str> = ids.values().map(String::as_str).collect();
    let sid = subject(&app, &t1, "KNN", &all).await;
    for p in people {
        let mut photos = Vec::new();
        let dir = root.join("train").join(p);
        for e in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
        {
            photos.push(std::fs::read(e.path()).unwrap());
        }
        let n = enrol_faces(&app, &t1, &ids[p], &photos).await;
        assert!(n >= 1, "no usable training photo for {p}");
    }
    let cases: [(&str, &[&str]); 3] = [
        ("obama1.jpg", &["obama"]),
        ("kit_with_rose.jpg", &["kit_harington", "rose_leslie"]),
        ("obama_and_biden.jpg", &["obama", "biden"]),
    ];
    for (file, expected) in cases {
        let bytes = std::fs::read(root.join("test").join(file)).unwrap();
        let started = Instant::now();
        let v = ok(mark_json(&app, &t1, &sid, &bytes).await).await;
        println!("{file}: {} faces in {:?}", v["count"], started.elapsed());
        let mut want: Vec<String> = expected.iter().map(|p| ids[p].clone()).collect();
        want.sort();
        let got = present(&v);
        for w in &want {
            assert!(got.contains(w), "{file}: expected {w} present in {v}");
        }
        assert_eq!(
            got.len(),
            got.iter().collect::<std::collections::HashSet<_>>().len(),
            "{file}: a student matched twice"
        );
    }
}

/// Mark latency over repeated requests (run with `scripts/bench-mark`; ignored by default).
#[tokio::test]
#[ignore = "benchmark: scripts/bench-mark"]
async fn bench_mark_latency() {
    let rounds: usize = std::env::var("ROLLCALL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, obama_id) = student(&app, "obama@school.test").await;
    let (_, biden_id) = student(&app, "biden@school.test").await;
    let sid = subject(&app, &t1, "BENCH", &[&obama_id, &biden_id]).await;
    enrol_faces(
        &app,
        &t1,
        &obama_id,
        &[photo("obama.jpg"), photo("obama2.jpg")],
    )
    .await;
    enrol_faces(&app, &t1, &biden_id, &[photo("biden.jpg")]).await;
    let cases = [
        ("one face (obama3.jpg)", photo("obama3.jpg")),
        (
            "two faces side by side",
            side_by_side(&photo("obama3.jpg"), &photo("biden.jpg")),
        ),
    ];
    // The first request loads the models.
    let started = Instant::now();
    ok(mark_json(&app, &t1, &sid, &cases[0].1).await).await;
    println!("cold (model load + mark): {:?}", started.elapsed());
    for (name, image) in &cases {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            ok(mark_json(&app, &t1, &sid, image).await).await;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "{name}: {rounds} rounds, min {:?}, median {:?}, max {:?}",
            times[0],
            times[rounds / 2],
            times[rounds - 1]
        );
    }
    // Four teachers' webcams at once: every answer is a result or a clean 503.
    let started = Instant::now();
    let image = &cases[1].1;
    let answers = futures_join4(
        mark_json(&app, &t1, &sid, image),
        mark_json(&app, &t1, &sid, image),
        mark_json(&app, &t1, &sid, image),
        mark_json(&app, &t1, &sid, image),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    println!("4 concurrent: {statuses:?} in {:?}", started.elapsed());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
}

async fn futures_join4<F: std::future::Future>(a: F, b: F, c: F, d: F) -> Vec<F::Output> {
    let (a, b, c, d) = tokio::join!(a, b, c, d);
    vec![a, b, c, d]
}

/// The page's session list and session view: newest first, narrowed by dates, every enrolled
/// student with the status and where it came from.
#[tokio::test]
async fn sessions_are_listed_and_shown_with_their_records() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "list@school.test").await;
    let (_, a) = student(&app, "a@school.test").await;
    let (_, b) = student(&app, "b@school.test").await;
    let sid = subject(&app, &t, "SES1", &[&a, &b]).await;
    for (date, b_status) in [("2026-03-05", "absent"), ("2026-03-06", "late")] {
        ok(app
            .post(
                "/api/attendance/confirm",
                &json!({"subject_id": sid, "date": date, "slot": 1, "decisions": [
                    {"student_id": a, "status": "present"}, {"student_id": b, "status": b_status}]}),
                Some(&t),
            )
            .await)
        .await;
    }
    let list = ok(app
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(&t),
        )
        .await)
    .await;
    let dates: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(|s| s["date"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(dates, ["2026-03-06", "2026-03-05"], "{list}");
    assert_eq!(list[0]["summary"]["late"], 1);
    let narrowed = ok(app
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions?from=2026-03-06&to=2026-03-31"),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(narrowed.as_array().map(Vec::len), Some(1));
    expect_detail(
        app.get(
            &format!("/api/attendance/subjects/{sid}/sessions?from=March"),
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let id = list[1]["session_id"].as_str().unwrap_or_default();
    let one = ok(app
        .get(&format!("/api/attendance/sessions/{id}"), Some(&t))
        .await)
    .await;
    assert_eq!(one["date"], "2026-03-05");
    assert_eq!(one["slot"], 1);
    assert_eq!(one["subject_code"], "SES1");
    assert_eq!(one["summary"]["present"], 1);
    assert_eq!(one["summary"]["absent"], 1);
    let records = one["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(records.len(), 2, "{one}");
    for r in &records {
        let want = if r["student_id"] == a.as_str() {
            "present"
        } else {
            "absent"
        };
        assert_eq!(r["status"], want, "{r}");
        assert_eq!(r["source"], "manual", "{r}");
    }
    expect_detail(
        app.get(
            "/api/attendance/sessions/0123456789abcdef01234567",
            Some(&t),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn csv_exports_neutralise_cells_a_spreadsheet_would_run() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "csv-teacher@school.test").await;
    let sid = subject(&app, &t1, "CSV1", &[]).await;
    let names = [
        "-2+3+cmd|' /C calc'!A0",
        "|calc",
        "@SUM(A1:A9)",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1 Plus",
    ];
    let mut decisions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let created = ok(app
            .post(
                "/api/students",
                &json!({"name": name, "email": format!("csv{i}@school.test"),
                        "roll": format!("-{i}x"), "subject_ids": [sid]}),
                Some(&t1),
            )
            .await)
        .await;
        decisions.push(json!({"student_id": str_of(&created, "id"), "status": "present"}));
    }
    let confirmed = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05", "decisions": decisions}),
            Some(&t1),
        )
        .await)
    .await;
    let session = str_of(&confirmed, "session_id").to_owned();
    for path in [
        format!("/api/attendance/subjects/{sid}/export.csv"),
        format!("/api/attendance/sessions/{session}/export.csv"),
    ] {
        let resp = app.get(&path, Some(&t1)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let text = resp.text().await.unwrap();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), names.len() + 1, "{text}");
        for (i, expected) in [
            "'-2+3+cmd|' /C calc'!A0",
            "'|calc",
            "'@SUM(A1:A9)",
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"",
            "'+1 Plus",
        ]
        .iter()
        .enumerate()
        {
            // Name and roll neutralised; the figures stay numbers.
            let row = format!("{expected},'-{i}x,P,1,0,0,0,1,100.00");
            assert!(lines.contains(&row.as_str()), "{row} not in\n{text}");
        }
        // No line of the file starts a cell with a formula character.
        for line in &lines {
            let first = line.trim_start_matches('"');
            assert!(!first.starts_with(['=', '+', '-', '@', '|']), "{line}");
        }
    }
}

/// The seed frontend confirms a class without students with two empty lists: 200 and the
/// seed's zero summary, with nothing recorded (no session, no absence mail). Only a teacher of
/// the subject may, as for any confirmation.
#[tokio::test]
async fn confirming_an_empty_class_records_nothing() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (s1, _) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "EMPTY1", &[]).await;
    let empty = json!({"subject_id": sid, "present_students": [], "absent_students": []});
    let v = ok(app.post("/api/attendance/confirm", &empty, Some(&t1)).await).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["present_updated"], 0, "{v}");
    assert_eq!(v["absent_updated"], 0, "{v}");
    assert_eq!(v["session_id"], Value::Null, "{v}");
    assert_eq!(
        v["summary"],
        json!({"present": 0, "absent": 0, "late": 0, "excused": 0, "total": 0, "percentage": 0.0})
    );
    // The seed's body without the lists (both default to empty) answers the same.
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["session_id"], Value::Null, "{v}");
    let sessions = ok(app
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(sessions, json!([]));
    let count = |sql: &str| -> i64 {
        app.db()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    assert_eq!(count("SELECT COUNT(*) FROM attendance_sessions"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM outbox"), 0);
    // Another teacher, a student, nobody, a subject that does not exist: as for any confirm.
    let other = app.post("/api/attendance/confirm", &empty, Some(&t2)).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let pupil = app.post("/api/attendance/confirm", &empty, Some(&s1)).await;
    assert_eq!(pupil.status(), StatusCode::FORBIDDEN);
    let anon = app.post("/api/attendance/confirm", &empty, None).await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let gone = json!({"subject_id": "65c0000000000000000000ff", "present_students": []});
    let missing = app.post("/api/attendance/confirm", &gone, Some(&t1)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let d = expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"present_students": []}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "subject_id required");
}
