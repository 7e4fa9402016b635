//! The seed system's web frontend, replayed: every request its pages send through a teacher's
//! and a student's school day, in the shapes those pages send (README, "Moving from Smart
//! Attendance"), against a server with default settings and teacher self-registration switched
//! on. Nothing here calls a rollcall-only route except where the seed UI sends people to
//! rollcall's own page (the consent step), and then it makes exactly the call that page makes.

use image::{DynamicImage, RgbImage};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    TestApp, body, expect_detail, ok, send, spawn_app_with, spawn_app_with_clock,
};

use crate::support::media::{data_url, decode, photo, webcam_frame};
use std::sync::Arc;

use rollcall::service::clock::ManualClock;

/// The seed frontend's `fetch` calls (login, register) send JSON and no token.
async fn seed_register(app: &TestApp, form: &Value) {
    ok(app.post("/auth/register", form, None).await).await;
}

/// Follow the verification link from the outbox, as the person clicking it in their mail.
async fn verify_mail(app: &TestApp, email: &str) {
    let mail = app.last_mail("email_verification", email);
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/auth/verify-email?token="))
        .unwrap_or_else(|| panic!("no verification link in {mail}"));
    let path = &link[link
        .find("/auth/verify-email")
        .unwrap_or_else(|| panic!("{link}"))..];
    let status = app.get(path, None).await.status();
    assert!(
        status.is_success() || status.is_redirection(),
        "verification link answered {status}"
    );
}

/// `POST /auth/login` as the Login page sends it; the page stores the whole answer and reads
/// `token`, `role`, `name` and `email` from it.
async fn seed_login(app: &TestApp, email: &str, password: &str) -> (String, Value) {
    let v = ok(app
        .post(
            "/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await)
    .await;
    for key in ["token", "role", "name", "email", "user_id"] {
        assert!(v.get(key).is_some(), "login answer lacks {key}: {v}");
    }
    let token = v["token"].as_str().unwrap_or_default().to_owned();
    (token, v)
}

/// `POST /students/me/face-image` as StudentProfile sends it: multipart, field `file`.
async fn seed_face_upload(app: &TestApp, token: &str, face: &str) -> reqwest::Response {
    app.post_multipart(
        "/students/me/face-image",
        &[("file", Some("face.jpg"), "image/jpeg", &photo(face))],
        Some(token),
    )
    .await
}

/// A webcam frame as react-webcam sends it: 640×480 JPEG.
fn jpeg_frame(of: &[u8]) -> Vec<u8> {
    let png = webcam_frame(of);
    let img: RgbImage = decode(&png);
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

/// The path and query of a URL the seed UI puts in an `<img src>`; the origin is the
/// configured public base URL.
fn path_of(url: &str) -> &str {
    url.strip_prefix("http://rollcall.school.test")
        .unwrap_or_else(|| panic!("not an absolute URL on the public base URL: {url}"))
}

#[tokio::test]
async fn seed_frontend_school_day() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with_clock(
        &[
            "--allow-teacher-signup",
            "true",
            "--backend-base-url",
            "http://rollcall.school.test",
        ],
        Arc::new(clock.clone()),
    )
    .await;

    // main.jsx pings the backend on start.
    assert!(app.get("/health", None).await.status().is_success());

    // --- Register page: a teacher and two students; then the e-mailed verification links.
    let teacher_form = json!({"role": "teacher", "name": "T. One", "email": "t.one@school.test",
        "password": "password123", "college_name": "ABC College", "branch": "cse",
        "employee_id": "E-17", "phone": "9999999999"});
    seed_register(&app, &teacher_form).await;
    // The seed's own end-to-end test: an unverified login shows "verify your email".
    let detail = expect_detail(
        app.post(
            "/auth/login",
            &json!({"email": "t.one@school.test", "password": "password123"}),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        detail.to_lowercase().contains("verify your email"),
        "{detail}"
    );
    verify_mail(&app, "t.one@school.test").await;
    let mut students = Vec::new();
    for (name, email, roll, face) in [
        ("Barack Obama", "obama@school.test", "21CS001", "obama.jpg"),
        ("Joe Biden", "biden@school.test", "21CS002", "biden.jpg"),
    ] {
        seed_register(
            &app,
            &json!({"role": "student", "name": name, "email": email, "password": "password123",
                "college_name": "ABC College", "branch": "cse", "year": "2", "roll": roll}),
        )
        .await;
        verify_mail(&app, email).await;
        let (token, login) = seed_login(&app, email, "password123").await;
        assert_eq!(login["role"], "student");
        students.push((
            token,
            login["user_id"].as_str().unwrap_or_default().to_owned(),
            face,
        ));
    }
    let (teacher, login) = seed_login(&app, "t.one@school.test", "password123").await;
    assert_eq!(login["role"], "teacher");
    assert_eq!(login["name"], "T. One");

    // --- Settings page: the profile, a subject, an avatar.
    let settings = ok(app.get("/settings", Some(&teacher)).await).await;
    for key in ["name", "email", "role", "settings", "schedule", "subjects"] {
        assert!(
            settings.get(key).is_some(),
            "GET /settings lacks {key}: {settings}"
        );
    }
    let added = ok(app
        .post(
            "/settings/add-subject",
            &json!({"name": "Maths", "code": "math101"}),
            Some(&teacher),
        )
        .await)
    .await;
    let sid = added["subject_id"].as_str().unwrap_or_default().to_owned();
    ok(send(
        &app,
        Method::PATCH,
        "/settings",
        &json!({"profile": {"name": "T. One", "phone": "9999999999", "role": "teacher", "branch": "cse",
                 "subjects": [], "avatarUrl": null},
               "settings": {"thresholds": {"warningVal": 70, "safeVal": 85},
                 "notifications": {"push": true, "inApp": true, "sound": false},
                 "faceSettings": {"liveness": true, "sensitivity": 80}, "theme": "Dark"}}),
        Some(&teacher),
    )
    .await)
    .await;
    let avatar = ok(app
        .post_multipart(
            "/settings/upload-avatar",
            &[("file", Some("me.jpg"), "image/jpeg", &photo("biden.jpg"))],
            Some(&teacher),
        )
        .await)
    .await;
    let avatar_url = avatar["avatarUrl"].as_str().unwrap_or_default().to_owned();
    let resp = app.get(path_of(&avatar_url), None).await;
    assert_eq!(resp.status(), StatusCode::OK, "the avatar an <img> loads");

    // --- ManageSchedule: the editor's default slot (12:00-13:00) left on two periods of a day.
    let period = |slot: u32| {
        json!({"slot": slot, "start": "12:00", "end": "13:00",
               "metadata": {"subject_name": "Maths", "room": "B12", "teacher": "Self", "tracked": true}})
    };
    let schedule = json!({"schedule": {"timetable": [{"day": "Monday", "periods": [period(1), period(2)]}],
        "recurring": null, "holidays": [], "exams": [], "meta": {}}});
    ok(send(&app, Method::PUT, "/settings", &schedule, Some(&teacher)).await).await;
    let back = ok(app.get("/settings", Some(&teacher)).await).await;
    assert_eq!(back["schedule"]["timetable"][0]["day"], "Monday", "{back}");

    // --- StudentProfile: pick the subject, upload a face.
    for (token, _, face) in &students {
        let available = ok(app
            .get("/students/me/available-subjects", Some(token))
            .await)
        .await;
        assert!(
            available
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["_id"] == sid.as_str())),
            "{available}"
        );
        ok(app
            .post(
                &format!("/students/me/subjects?subject_id={sid}"),
                &Value::Null,
                Some(token),
            )
            .await)
        .await;
        // Without consent: refused, and the detail says where to record it.
        let detail = expect_detail(
            seed_face_upload(&app, token, face).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            detail.contains("http://rollcall.school.test/app/#consent"),
            "the refusal names the consent page: {detail}"
        );
        // The consent page of rollcall's own web app, as the student uses it.
        let me = ok(app.get("/auth/me", Some(token)).await).await;
        let id = me["user_id"].as_str().unwrap_or_default();
        ok(app
            .post(
                &format!("/api/students/{id}/consent"),
                &Value::Null,
                Some(token),
            )
            .await)
        .await;
        let stored = ok(seed_face_upload(&app, token, face).await).await;
        assert!(stored.get("image_url").is_some(), "{stored}");
        let profile = ok(app.get("/students/me/profile", Some(token)).await).await;
        assert!(
            profile["branch"].is_string() && profile["roll"].is_string(),
            "{profile}"
        );
        let image = profile["image_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no image_url after an upload: {profile}"));
        let resp = app.get(path_of(image), None).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the student's own photo in an <img>"
        );
    }

    // --- AddStudents: the roster, approving each student.
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&teacher),
        )
        .await)
    .await;
    let rows = roster.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{roster}");
    for row in &rows {
        assert!(
            row["branch"].is_string() && row["roll"].is_string(),
            "{row}"
        );
        let avatar = row["avatar"]
            .as_str()
            .unwrap_or_else(|| panic!("no avatar for an enrolled face: {row}"));
        let resp = app.get(path_of(avatar), None).await;
        assert_eq!(resp.status(), StatusCode::OK, "a roster photo in an <img>");
        assert_eq!(
            resp.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let uid = row["student_id"].as_str().unwrap_or_default();
        ok(app
            .post(
                &format!("/settings/teachers/subjects/{sid}/students/{uid}/verify"),
                &Value::Null,
                Some(&teacher),
            )
            .await)
        .await;
    }
    let subjects = ok(app
        .get("/settings/teachers/me/subjects", Some(&teacher))
        .await)
    .await;
    assert_eq!(subjects[0]["_id"], sid.as_str(), "{subjects}");

    // --- MarkAttendance: webcam frames every 3 s (no `live` flag), then confirm.
    let (obama_token, obama, _) = &students[0];
    let (biden_token, biden, _) = &students[1];
    let frame = jpeg_frame(&photo("obama2.jpg"));
    let marked = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&frame), "subject_id": sid}),
            Some(&teacher),
        )
        .await)
    .await;
    let faces = marked["faces"].as_array().cloned().unwrap_or_default();
    assert_eq!(faces.len(), 1, "{marked}");
    assert_eq!(
        marked["profile"], "live",
        "a webcam frame takes the live profile: {marked}"
    );
    assert_eq!(faces[0]["status"], "present", "{marked}");
    assert_eq!(faces[0]["student"]["id"], obama.as_str(), "{marked}");
    for key in ["top", "right", "bottom", "left"] {
        assert!(faces[0]["box"][key].is_number(), "{marked}");
    }
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "present_students": [obama], "absent_students": [biden]}),
            Some(&teacher),
        )
        .await)
    .await;

    // The afternoon: the token the Login page stored in the morning still works (the seed
    // frontend never refreshes it).
    clock.advance(5 * 3600);

    // --- StudentList and Reports: the roster's counters.
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&teacher),
        )
        .await)
    .await;
    let counts = |id: &str| {
        let row = roster
            .as_array()
            .and_then(|a| a.iter().find(|r| r["student_id"] == id))
            .unwrap_or_else(|| panic!("{id} not in {roster}"));
        assert_eq!(row["verified"], true, "{row}");
        (
            row["attendance"]["present"].clone(),
            row["attendance"]["absent"].clone(),
        )
    };
    assert_eq!(counts(obama), (json!(1), json!(0)));
    assert_eq!(counts(biden), (json!(0), json!(1)));

    // --- StudentSubjects: the student's own figures agree with the teacher's.
    let mine = ok(app.get("/students/me/subjects", Some(obama_token)).await).await;
    assert_eq!(mine[0]["attended"], 1, "{mine}");
    assert_eq!(mine[0]["total"], 1, "{mine}");
    let mine = ok(app.get("/students/me/subjects", Some(biden_token)).await).await;
    assert_eq!(mine[0]["attended"], 0, "{mine}");
    // StudentProfile: the same figures.
    let profile = ok(app.get("/students/me/profile", Some(obama_token)).await).await;
    let figures = &profile["attendance"];
    assert_eq!(
        (
            &figures["present"],
            &figures["absent"],
            &figures["total_classes"],
            &figures["percentage"]
        ),
        (&json!(1), &json!(0), &json!(1), &json!(100.0)),
        "{profile}"
    );

    // A class with nobody in it yet: confirming it is not an error.
    let empty = ok(app
        .post(
            "/settings/add-subject",
            &json!({"name": "Art", "code": "ART1"}),
            Some(&teacher),
        )
        .await)
    .await;
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": empty["subject_id"], "present_students": [], "absent_students": []}),
            Some(&teacher),
        )
        .await)
    .await;

    // --- Messaging: the student list, mail statistics, an absence notice.
    let listed = ok(app.get("/settings/teachers/students", Some(&teacher)).await).await;
    assert!(
        listed["students"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["email"] == "biden@school.test")),
        "{listed}"
    );
    let sent = ok(app
        .post(
            "/notifications/absence",
            &json!({"student_emails": ["biden@school.test"], "subject": "Maths",
                    "date": "2026-12-07", "teacher_name": "T. One"}),
            Some(&teacher),
        )
        .await)
    .await;
    assert_eq!(sent["total"], 1, "{sent}");
    assert_eq!(sent["failed"], 0, "{sent}");
    assert_eq!(sent["sent"], 0, "no relay: nothing is sent yet: {sent}");
    assert_eq!(sent["queued"], 1, "{sent}");
    let stats = ok(app
        .get("/notifications/stats?days=30", Some(&teacher))
        .await)
    .await;
    for key in ["total_sent", "total_failed", "sent_by_type"] {
        assert!(stats.get(key).is_some(), "{stats}");
    }

    // --- Login page: the Google button is a clear "not supported", not a JSON 404.
    let google = app.get("/auth/google", None).await;
    assert_ne!(google.status(), StatusCode::NOT_FOUND);
    let text = google.text().await.unwrap_or_default();
    assert!(text.to_lowercase().contains("google"), "{text}");

    // --- StudentProfile: leaving an approved class is the teacher's to do (the student's
    // record would otherwise vanish from the register); the detail says so.
    let detail = expect_detail(
        app.delete(
            &format!("/students/me/remove-subject/{sid}"),
            Some(biden_token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(detail.contains("ask them to remove you"), "{detail}");
    // --- AddStudents: the teacher removes him.
    ok(app
        .delete(
            &format!("/settings/teachers/subjects/{sid}/students/{biden}"),
            Some(&teacher),
        )
        .await)
    .await;
    let profile = body(app.get("/students/me/profile", Some(biden_token)).await).await;
    assert_eq!(profile["subjects"], json!([]), "{profile}");
}

/// The seed's AddStudents page shows a student's newest face photo beside the button that
/// approves the student: that button approves that photo (it awaits review, as every photo a
/// student uploads of themselves does) and no other. Another teacher's press approves nothing.
#[tokio::test]
async fn the_seed_approve_button_approves_the_photo_it_showed() {
    let app = spawn_app_with(&["--backend-base-url", "http://rollcall.school.test"]).await;
    app.create_user("teacher", "t1@school.test", "teacher-pass-1")
        .await;
    app.create_user("teacher", "t2@school.test", "teacher-pass-1")
        .await;
    let student = app
        .create_user("student", "obama@school.test", "student-pass-1")
        .await;
    let (t1, _) = seed_login(&app, "t1@school.test", "teacher-pass-1").await;
    let (t2, _) = seed_login(&app, "t2@school.test", "teacher-pass-1").await;
    let (me, login) = seed_login(&app, "obama@school.test", "student-pass-1").await;
    let id = login["user_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(student["user_id"], id.as_str());
    let added = ok(app
        .post(
            "/settings/add-subject",
            &json!({"name": "Civics", "code": "CIV1"}),
            Some(&t1),
        )
        .await)
    .await;
    let sid = added["subject_id"].as_str().unwrap_or_default().to_owned();
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={sid}"),
            &Value::Null,
            Some(&me),
        )
        .await)
    .await;
    ok(app
        .post(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&me),
        )
        .await)
    .await;
    for face in ["obama.jpg", "obama2.jpg"] {
        ok(seed_face_upload(&app, &me, face).await).await;
    }
    let samples = || -> Vec<(String, bool)> {
        let db = app.db();
        let mut stmt = db
            .prepare("SELECT id, approved FROM face_samples WHERE student_id = ?1 ORDER BY created_at, rowid")
            .unwrap();
        stmt.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = samples();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|(_, approved)| !approved), "{before:?}");
    let (older, newest) = (before[0].0.clone(), before[1].0.clone());
    // What the page shows: the newest photo.
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&t1),
        )
        .await)
    .await;
    let avatar = roster[0]["avatar"].as_str().unwrap_or_default();
    assert!(
        avatar.contains(&format!("/faces/{newest}/image")),
        "{avatar}"
    );

    let verify = format!("/settings/teachers/subjects/{sid}/students/{id}/verify");
    let resp = app.post(&verify, &Value::Null, Some(&t2)).await;
    assert!(
        resp.status().is_client_error(),
        "another teacher: {}",
        resp.status()
    );
    assert!(samples().iter().all(|(_, approved)| !approved));
    assert_eq!(
        app.post(&verify, &Value::Null, None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    ok(app.post(&verify, &Value::Null, Some(&t1)).await).await;
    assert_eq!(samples(), vec![(older, false), (newest.clone(), true)]);
    let audited: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'face.approve' AND target = ?1 AND detail = ?2",
            [&id, &newest],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1);
}
