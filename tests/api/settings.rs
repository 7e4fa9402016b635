//! A teacher's profile, preferences and schedule: `/api/settings` and the seed's `/settings`.

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, body, expect_detail, send, spawn_app, token_of};

const MATHS: &str = "65f0c0ffee0000000000a001";
const OTHER: &str = "65f0c0ffee0000000000a002";

async fn ok(resp: Response) -> Value {
    let status = resp.status();
    let v = body(resp).await;
    assert_eq!(status, StatusCode::OK, "body: {v}");
    v
}

/// A teacher account; returns (token, user id).
async fn teacher(app: &TestApp, email: &str) -> (String, String) {
    let login = app.create_user("teacher", email, "password123").await;
    let id = login["user_id"].as_str().unwrap_or_default().to_owned();
    (token_of(&login), id)
}

/// Give the teacher a subject directly in the database (there is no subject API yet).
fn add_subject(app: &TestApp, teacher_id: &str, id: &str, name: &str, code: &str) {
    let db = app.db();
    db.execute(
        "INSERT INTO subjects (id, name, code, created_at, updated_at) VALUES (?1, ?2, ?3, 0, 0)",
        [id, name, code],
    )
    .expect("subject");
    db.execute(
        "INSERT INTO subject_teachers (subject_id, teacher_id, added_at) VALUES (?1, ?2, 0)",
        [id, teacher_id],
    )
    .expect("subject teacher");
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn get_patch_put_share_one_shape_and_need_a_teacher() {
    let app = spawn_app().await;
    let (t, id) = teacher(&app, "t1@school.test").await;
    add_subject(&app, &id, MATHS, "Maths", "MATH101");

    let got = ok(app.get("/api/settings", Some(&t)).await).await;
    let expected: BTreeSet<String> = [
        "id",
        "name",
        "email",
        "role",
        "employee_id",
        "phone",
        "branch",
        "avatarUrl",
        "department",
        "subjects",
        "settings",
        "schedule",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    assert_eq!(keys(&got), expected);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["role"], "teacher");
    assert_eq!(
        got["subjects"],
        json!([{"_id": MATHS, "name": "Maths", "code": "MATH101"}])
    );
    assert_eq!(got["settings"]["faceSettings"]["sensitivity"], 80);
    assert_eq!(got["schedule"], json!({}));
    assert_eq!(ok(app.get("/settings", Some(&t)).await).await, got);

    let patched = ok(send(
        &app,
        Method::PATCH,
        "/settings",
        &json!({"phone": "555"}),
        Some(&t),
    )
    .await)
    .await;
    assert_eq!(keys(&patched), expected);
    assert_eq!(patched["phone"], "555");
    let put = ok(send(
        &app,
        Method::PUT,
        "/api/settings",
        &json!({"department": "Science"}),
        Some(&t),
    )
    .await)
    .await;
    assert_eq!(keys(&put), expected);
    assert_eq!(
        (put["phone"].as_str(), put["department"].as_str()),
        (Some("555"), Some("Science"))
    );

    let student = token_of(
        &app.create_user("student", "s1@school.test", "password123")
            .await,
    );
    for path in ["/api/settings", "/settings"] {
        for method in [Method::GET, Method::PATCH, Method::PUT] {
            let d = expect_detail(
                send(
                    &app,
                    method.clone(),
                    path,
                    &json!({"phone": "1"}),
                    Some(&student),
                )
                .await,
                StatusCode::FORBIDDEN,
            )
            .await;
            assert_eq!(d, "Teacher access required", "{method} {path}");
            expect_detail(
                send(&app, method.clone(), path, &json!({"phone": "1"}), None).await,
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn patch_takes_the_frontends_nested_profile_and_merges_settings() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "t2@school.test").await;

    let first = json!({"settings": {"emailPreferences": {"weeklyDigest": true}, "lateAfterMinutes": 10,
                                     "notifications": {"email": {"absence": true}}, "custom": {"a": 1}}});
    ok(send(&app, Method::PATCH, "/api/settings", &first, Some(&t)).await).await;

    // Exactly what the seed's Settings page sends.
    let frontend = json!({
        "profile": {"name": "T. Two", "phone": "9999999999", "role": "admin", "branch": "ece",
                    "subjects": [], "avatarUrl": "https://evil.example/x.png"},
        "settings": {"thresholds": {"warningVal": 70, "safeVal": 90},
                     "notifications": {"push": false, "inApp": true, "sound": true},
                     "faceSettings": {"liveness": false, "sensitivity": 65}, "theme": "Forest"}
    });
    let v = ok(send(&app, Method::PATCH, "/settings", &frontend, Some(&t)).await).await;
    assert_eq!(v["name"], "T. Two");
    assert_eq!(v["phone"], "9999999999");
    assert_eq!(v["role"], "teacher", "role is not editable");
    assert_eq!(v["branch"], "", "branch is not editable here");
    assert_eq!(v["avatarUrl"], Value::Null);
    let s = &v["settings"];
    assert_eq!(s["theme"], "Forest");
    assert_eq!(s["thresholds"], json!({"warningVal": 70, "safeVal": 90}));
    assert_eq!(
        s["faceSettings"],
        json!({"liveness": false, "sensitivity": 65})
    );
    assert_eq!(
        s["notifications"],
        json!({"push": false, "inApp": true, "sound": true, "email": {"absence": true}})
    );
    assert_eq!(
        s["emailPreferences"],
        json!({"weeklyDigest": true}),
        "survives the merge"
    );
    assert_eq!(
        (s["lateAfterMinutes"].as_u64(), &s["custom"]),
        (Some(10), &json!({"a": 1}))
    );
    assert_eq!(ok(app.get("/api/settings", Some(&t)).await).await, v);

    // Top level wins over the nested profile; e-mail is normalised.
    let v = ok(send(&app, Method::PATCH, "/api/settings",
        &json!({"name": "Top", "email": " New@School.test ", "employee_id": "E-7", "profile": {"name": "Nested"}}),
        Some(&t)).await).await;
    assert_eq!(
        (
            v["name"].as_str(),
            v["email"].as_str(),
            v["employee_id"].as_str()
        ),
        (Some("Top"), Some("new@school.test"), Some("E-7"))
    );
    app.login("new@school.test", "password123").await;
}

#[tokio::test]
async fn patch_refuses_bad_values() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "t3@school.test").await;
    app.create_user("teacher", "taken@school.test", "password123")
        .await;
    let patch = |b: Value| {
        let (app, t) = (&app, &t);
        async move { send(app, Method::PATCH, "/api/settings", &b, Some(t)).await }
    };

    assert_eq!(
        expect_detail(patch(json!({})).await, StatusCode::BAD_REQUEST).await,
        "Invalid payload"
    );
    expect_detail(
        patch(json!([{"name": "x"}])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(patch(json!("name")).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let d = expect_detail(
        patch(json!({"profile": {"email": "Taken@school.test"}})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(d, "Email already registered");
    for (b, needle) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"settings": {"theme": "Pink"}}), "theme"),
        (
            json!({"settings": {"thresholds": {"warningVal": 101}}}),
            "warningVal",
        ),
        (
            json!({"settings": {"thresholds": {"safeVal": "85"}}}),
            "safeVal",
        ),
        (
            json!({"settings": {"faceSettings": {"sensitivity": 49}}}),
            "sensitivity",
        ),
        (
            json!({"settings": {"notifications": {"push": "yes"}}}),
            "notifications.push",
        ),
        (
            json!({"settings": {"lateAfterMinutes": 121}}),
            "lateAfterMinutes",
        ),
        (json!({"settings": "dark"}), "settings"),
    ] {
        let d = expect_detail(patch(b.clone()).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(d.contains(needle), "{b}: {d}");
    }
    // Nothing was applied.
    let v = ok(app.get("/api/settings", Some(&t)).await).await;
    assert_eq!(
        (v["email"].as_str(), v["settings"]["theme"].as_str()),
        (Some("t3@school.test"), Some("Light"))
    );
    // Keeping one's own e-mail is not a conflict; 200 characters is fine.
    let v = ok(patch(json!({"email": "t3@school.test", "name": "y".repeat(200)})).await).await;
    assert_eq!(v["name"].as_str().map(str::len), Some(200));
}

#[tokio::test]
async fn put_schedule_round_trip_and_rules() {
    let app = spawn_app().await;
    let (t, id) = teacher(&app, "t4@school.test").await;
    add_subject(&app, &id, MATHS, "Maths", "MATH101");
    let put = |b: Value| {
        let (app, t) = (&app, &t);
        async move { send(app, Method::PUT, "/settings", &b, Some(t)).await }
    };

    // Exactly what the seed's ManageSchedule page sends.
    let schedule = json!({"timetable": [{"day": "Monday", "periods": [{"slot": 1, "start": "09:00", "end": "10:00",
        "metadata": {"subject_name": "Maths", "room": "B12", "teacher": "Self", "tracked": true}}]}],
        "recurring": null, "holidays": [], "exams": [], "meta": {}});
    let v = ok(put(json!({"schedule": schedule})).await).await;
    assert_eq!(v["schedule"], schedule);
    assert_eq!(
        ok(app.get("/api/settings", Some(&t)).await).await["schedule"],
        schedule
    );

    // Own subject, holidays with ranges, exams and unknown keys are kept as sent.
    let full = json!({"timetable": [{"day": "tuesday", "periods": [
            {"slot": 1, "start": "09:00", "end": "10:00", "metadata": {"subject_id": MATHS}},
            {"slot": 2, "start": "10:00", "end": "11:00"}]}],
        "recurring": {"weekly": []},
        "holidays": [{"date": "2025-12-25", "name": "Xmas"}, {"from": "2025-12-26", "to": "2026-01-02", "extra": 1}],
        "exams": [{"date": "2026-03-02", "name": "Midterm"}], "meta": {"term": "2"}, "version": 3});
    assert_eq!(
        ok(put(json!({"schedule": full})).await).await["schedule"],
        full
    );

    let day = |periods: Value| json!({"schedule": {"timetable": [{"day": "Monday", "periods": periods}]}});
    for (b, needle) in [
        (
            day(
                json!([{"slot": 1, "start": "09:00", "end": "10:00"}, {"slot": 2, "start": "09:30", "end": "10:30"}]),
            ),
            "overlap",
        ),
        (
            day(json!([{"slot": 1, "start": "10:00", "end": "09:00"}])),
            "not after start",
        ),
        (
            day(
                json!([{"slot": 1, "start": "09:00", "end": "10:00", "metadata": {"subject_id": OTHER}}]),
            ),
            "unknown subject",
        ),
        (
            day(json!([{"slot": 1, "start": "09:00", "end": "24:00"}])),
            "not a time",
        ),
        (
            day(
                json!([{"slot": 1, "start": "08:00", "end": "09:00"}, {"slot": 1, "start": "09:00", "end": "10:00"}]),
            ),
            "twice",
        ),
        (
            json!({"schedule": {"timetable": [{"day": "Someday"}]}}),
            "weekday",
        ),
        (
            json!({"schedule": {"holidays": [{"date": "2025-02-30"}]}}),
            "not a date",
        ),
        (
            json!({"schedule": {"holidays": [{"from": "2025-03-02", "to": "2025-03-01"}]}}),
            "before",
        ),
        (
            json!({"schedule": {"exams": [{"date": "03/02/2026"}]}}),
            "not a date",
        ),
        (
            json!({"schedule": {"timetable": "Monday"}}),
            "Invalid schedule",
        ),
        (json!({"settings": {"theme": "Neon"}}), "theme"),
    ] {
        let d = expect_detail(put(b.clone()).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(d.contains(needle), "{b}: {d}");
    }
    let too_many: Vec<Value> = (0..367).map(|_| json!({"date": "2025-01-01"})).collect();
    expect_detail(
        put(json!({"schedule": {"holidays": too_many}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for bad in [json!("weekly"), json!([]), json!(5)] {
        let d = expect_detail(put(json!({"schedule": bad})).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(d, "Invalid schedule format");
    }
    expect_detail(put(json!([1])).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    // None of the refused bodies changed anything.
    assert_eq!(
        ok(app.get("/settings", Some(&t)).await).await["schedule"],
        full
    );

    // PUT replaces settings whole; null clears the schedule.
    let v = ok(put(json!({"schedule": null, "settings": {"theme": "Cyber"}})).await).await;
    assert_eq!(
        (&v["schedule"], &v["settings"]),
        (&Value::Null, &json!({"theme": "Cyber"}))
    );
    assert_eq!(
        ok(app.get("/api/settings", Some(&t)).await).await["schedule"],
        Value::Null
    );
}

fn multipart(file_name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XBOUNDARYX--\r\n");
    body
}

async fn upload(app: &TestApp, token: &str, body: Vec<u8>) -> Response {
    let resp = app
        .client
        .post(app.url("/settings/upload-avatar"))
        .bearer_auth(token)
        .header("content-type", "multipart/form-data; boundary=XBOUNDARYX")
        .body(body)
        .send()
        .await
        .expect("upload");
    crate::contract::checked("POST", "/settings/upload-avatar", resp).await
}

#[tokio::test]
async fn avatar_upload_is_checked_stored_and_served() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "t5@school.test").await;
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(2, 2)
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let png = png.into_inner();

    let v = ok(upload(&app, &t, multipart("me.PNG", "image/png", &png)).await).await;
    let url = v["avatarUrl"].as_str().unwrap_or_default().to_owned();
    // Avatars are decoded and stored re-encoded as JPEG.
    assert!(url.ends_with(".jpg"), "{url}");
    assert_eq!(
        ok(app.get("/api/settings", Some(&t)).await).await["avatarUrl"],
        url.as_str()
    );
    let path = url
        .find("/avatars/")
        .map(|i| url[i..].to_owned())
        .unwrap_or_else(|| panic!("{url}"));
    let served = app.get(&path, None).await;
    assert_eq!(served.status(), StatusCode::OK);
    let served = served.bytes().await.unwrap_or_default();
    let img = image::load_from_memory_with_format(&served, image::ImageFormat::Jpeg)
        .expect("served avatar");
    assert_eq!((img.width(), img.height()), (2, 2));

    // Nothing of the file but its pixels is kept: an EXIF block (GPS position...) is dropped.
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(8, 8)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .expect("jpeg");
    let jpeg = jpeg.into_inner();
    let secret = b"Exif\0\0GPS-SECRET-4711";
    let mut tagged = jpeg[..2].to_vec();
    tagged.extend_from_slice(&[0xFF, 0xE1, 0, u8::try_from(secret.len() + 2).unwrap_or(0)]);
    tagged.extend_from_slice(secret);
    tagged.extend_from_slice(&jpeg[2..]);
    let v = ok(upload(&app, &t, multipart("me.jpg", "image/jpeg", &tagged)).await).await;
    let url = v["avatarUrl"].as_str().unwrap_or_default().to_owned();
    let path = url
        .find("/avatars/")
        .map(|i| url[i..].to_owned())
        .unwrap_or_else(|| panic!("{url}"));
    let served = app.get(&path, None).await.bytes().await.unwrap_or_default();
    assert!(served.starts_with(&[0xFF, 0xD8]));
    assert!(
        !served.windows(10).any(|w| w == b"GPS-SECRET"),
        "the avatar kept its EXIF"
    );

    for (name, ct, bytes, status, detail) in [
        (
            "me.gif",
            "image/gif",
            png.clone(),
            StatusCode::BAD_REQUEST,
            "Unsupported file type",
        ),
        (
            "me.png",
            "text/plain",
            png.clone(),
            StatusCode::BAD_REQUEST,
            "Invalid file content type",
        ),
        (
            "me.jpg",
            "image/jpeg",
            png.clone(),
            StatusCode::BAD_REQUEST,
            "Invalid file content type",
        ),
        (
            "me.png",
            "image/png",
            vec![0u8; 5 * 1024 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large. Max 5MB",
        ),
    ] {
        let d = expect_detail(upload(&app, &t, multipart(name, ct, &bytes)).await, status).await;
        assert_eq!(d, detail, "{name} {ct}");
    }
    let student = token_of(
        &app.create_user("student", "s5@school.test", "password123")
            .await,
    );
    expect_detail(
        upload(&app, &student, multipart("me.png", "image/png", &png)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

/// The seed's schedule editor adds every period at 12:00-13:00 and numbers a day's periods
/// itself: two added and left as they were are one period, stored once. Two different periods
/// at the same time are still refused, and the detail says which and how to fix it.
#[tokio::test]
async fn schedule_editor_defaults_left_twice_are_one_period() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "t5@school.test").await;
    let default = |slot: i64| {
        json!({"slot": slot, "start": "12:00", "end": "13:00",
               "metadata": {"subject_name": "New Subject", "room": "TBD", "teacher": "Assign Teacher", "tracked": true}})
    };
    let maths = json!({"slot": 1, "start": "09:00", "end": "10:00",
        "metadata": {"subject_name": "Maths", "room": "B12", "teacher": "Self", "tracked": true}});
    let sent = json!({"timetable": [
            {"day": "Monday", "periods": [maths, default(2), default(3)]},
            {"day": "Tuesday", "periods": [default(1)]}],
        "recurring": null, "holidays": [], "exams": [], "meta": {}});
    let v = ok(send(
        &app,
        Method::PUT,
        "/settings",
        &json!({"schedule": sent}),
        Some(&t),
    )
    .await)
    .await;
    let kept = json!({"timetable": [
            {"day": "Monday", "periods": [maths, default(2)]},
            {"day": "Tuesday", "periods": [default(1)]}],
        "recurring": null, "holidays": [], "exams": [], "meta": {}});
    assert_eq!(v["schedule"], kept);
    assert_eq!(
        ok(app.get("/settings", Some(&t)).await).await["schedule"],
        kept
    );

    // Edited apart (another room) but left at the same time: refused with both periods named.
    let mut other = default(3);
    other["metadata"]["room"] = json!("C4");
    let clash =
        json!({"schedule": {"timetable": [{"day": "Monday", "periods": [default(2), other]}]}});
    let d = expect_detail(
        send(&app, Method::PUT, "/settings", &clash, Some(&t)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        d,
        "Invalid schedule: timetable Monday: slots 2 (12:00-13:00) and 3 (12:00-13:00) overlap; \
         give each period its own time, or delete one"
    );
    assert_eq!(
        ok(app.get("/settings", Some(&t)).await).await["schedule"],
        kept
    );
}
