//! The face gallery: where each sample came from, what the teacher sees and removes, and the
//! gallery learning from confirmed drafts (`ROLLCALL_LEARN_FROM_CONFIRM`): a face the teacher
//! vouched for becomes a sample, so the next photo of the student is recognised.

use image::{Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{data_url, decode, photo, png, side_by_side};

use crate::support::world::{enrol_faces, student, subject, teacher, upload};
use crate::support::{TestApp, body, expect_detail, ok, spawn_app, spawn_app_with};

fn faces(v: &Value) -> &Vec<Value> {
    v["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no faces in {v}"))
}

fn with_status<'a>(v: &'a Value, status: &str) -> Vec<&'a Value> {
    faces(v).iter().filter(|f| f["status"] == status).collect()
}

/// The face of `student` in a mark or draft answer.
fn face_of<'a>(v: &'a Value, student: &str) -> &'a Value {
    faces(v)
        .iter()
        .find(|f| f["student"]["id"] == student)
        .unwrap_or_else(|| panic!("no face of {student} in {v}"))
}

/// The one face of a portrait, found as a class photo's faces are.
async fn face_box(app: &TestApp, token: &str, sid: &str, image: &[u8]) -> [u32; 4] {
    let v = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(image), "subject_id": sid}),
            Some(token),
        )
        .await)
    .await;
    let b = &faces(&v)[0]["box"];
    let at = |k: &str| u32::try_from(b[k].as_i64().unwrap_or_else(|| panic!("{v}"))).unwrap();
    [at("left"), at("top"), at("right"), at("bottom")]
}

/// The portrait with the lower half of its face covered in grey, as by a face mask: the same
/// person, but far enough from a bare-faced enrolment photo to be uncertain.
fn masked(image: &[u8], [l, t, r, b]: [u32; 4]) -> RgbImage {
    let mut img = decode(image);
    for y in t + (b - t) / 2..=b.min(img.height() - 1) {
        for x in l..=r.min(img.width() - 1) {
            img.put_pixel(x, y, Rgb([128, 128, 128]));
        }
    }
    img
}

async fn samples(app: &TestApp, token: &str, student: &str) -> Vec<Value> {
    ok(app
        .get(&format!("/api/students/{student}/faces"), Some(token))
        .await)
    .await
    .as_array()
    .cloned()
    .expect("not a list")
}

fn sources(list: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .map(|s| s["source"].as_str().unwrap_or("?").to_owned())
        .collect();
    out.sort();
    out
}

fn audit_details(app: &TestApp, action: &str) -> Vec<String> {
    let db = app.db();
    let mut stmt = db
        .prepare("SELECT detail FROM audit_log WHERE action = ?1")
        .unwrap();
    stmt.query_map([action], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn save(app: &TestApp, token: &str, sid: &str, image: &[u8], date: &str) -> Value {
    ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(image), "subject_id": sid, "save": true, "date": date, "slot": 1}),
            Some(token),
        )
        .await)
    .await
}

/// The draft as the teacher reviews it (its faces carry their photo and face numbers).
async fn draft_view(app: &TestApp, token: &str, draft: &str) -> Value {
    ok(app
        .get(&format!("/api/attendance/drafts/{draft}"), Some(token))
        .await)
    .await
}

fn draft_id(v: &Value) -> String {
    v["draft"]["draft_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no draft: {v}"))
        .to_owned()
}

async fn confirm(app: &TestApp, token: &str, draft: &str, decisions: Value) -> Value {
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"draft_id": draft, "decisions": decisions}),
            Some(token),
        )
        .await)
    .await
}

/// A class with Obama (enrolled bare-faced from obama2.jpg) and Biden, and two class photos of
/// them with Obama's face half covered: photo 1 from obama.jpg, photo 2 from obama3.jpg.
struct Class {
    teacher: String,
    sid: String,
    obama: String,
    biden: String,
    photo1: Vec<u8>,
    photo2: Vec<u8>,
}

async fn class(app: &TestApp) -> Class {
    let (teacher, _) = teacher(app, "teacher@school.test").await;
    let (_, obama) = student(app, "obama@school.test").await;
    let (_, biden) = student(app, "biden@school.test").await;
    let sid = subject(app, &teacher, "GAL1", &[&obama, &biden]).await;
    assert_eq!(
        enrol_faces(app, &teacher, &obama, &[photo("obama2.jpg")]).await,
        1
    );
    assert_eq!(
        enrol_faces(app, &teacher, &biden, &[photo("biden.jpg")]).await,
        1
    );
    let b1 = face_box(app, &teacher, &sid, &photo("obama.jpg")).await;
    let b3 = face_box(app, &teacher, &sid, &photo("obama3.jpg")).await;
    let biden_photo = photo("biden.jpg");
    Class {
        photo1: side_by_side(&png(&masked(&photo("obama.jpg"), b1)), &biden_photo),
        photo2: side_by_side(&png(&masked(&photo("obama3.jpg"), b3)), &biden_photo),
        teacher,
        sid,
        obama,
        biden,
    }
}

fn distance_of(face: &Value) -> f64 {
    face["distance"]
        .as_f64()
        .unwrap_or_else(|| panic!("no distance: {face}"))
}

#[tokio::test]
async fn a_confirmed_uncertain_face_teaches_the_gallery() {
    let app = spawn_app().await;
    let c = class(&app).await;
    let t = c.teacher.as_str();

    // Before: masked, Obama is only an uncertain match in both photos.
    let before = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&c.photo2), "subject_id": c.sid}),
            Some(t),
        )
        .await)
    .await;
    let d2_before = distance_of(face_of(&before, &c.obama));
    println!("photo 2 before learning: Obama at {d2_before:.4} (uncertain: 0.50 < d <= 0.60)");
    assert_eq!(
        face_of(&before, &c.obama)["status"],
        "uncertain",
        "{before}"
    );
    assert_eq!(face_of(&before, &c.biden)["status"], "present", "{before}");
    let uncertain_before = with_status(&before, "uncertain").len();
    assert_eq!(uncertain_before, 1, "{before}");

    // Photo 1 saved into a draft; the teacher confirms Obama absent: nothing is learned.
    let v = save(&app, t, &c.sid, &c.photo1, "2026-03-02").await;
    let d1 = distance_of(face_of(&v, &c.obama));
    println!("photo 1: Obama at {d1:.4}");
    assert_eq!(face_of(&v, &c.obama)["status"], "uncertain", "{v}");
    let done = confirm(
        &app,
        t,
        &draft_id(&v),
        json!([{"student_id": c.obama, "status": "absent"}]),
    )
    .await;
    assert_eq!(done["learned"], 0, "{done}");
    assert_eq!(sources(&samples(&app, t, &c.obama).await), ["upload"]);

    // The same photo in another session, confirmed with Obama present: his face is learned,
    // Biden's (recognised confidently) is not.
    let v = save(&app, t, &c.sid, &c.photo1, "2026-03-03").await;
    let done = confirm(
        &app,
        t,
        &draft_id(&v),
        json!([{"student_id": c.obama, "status": "present"}]),
    )
    .await;
    assert_eq!(done["learned"], 1, "{done}");
    let list = samples(&app, t, &c.obama).await;
    assert_eq!(sources(&list), ["learned", "upload"], "{list:?}");
    assert_eq!(sources(&samples(&app, t, &c.biden).await), ["upload"]);
    let session = done["session_id"].as_str().unwrap_or_default();
    let learned = audit_details(&app, "face.learn");
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert!(
        learned[0].contains(&format!("session={session}")) && learned[0].contains("uncertain"),
        "{learned:?}"
    );

    // Photo 2 of the same people: Obama is now recognised, nothing left uncertain.
    let after = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&c.photo2), "subject_id": c.sid}),
            Some(t),
        )
        .await)
    .await;
    let d2_after = distance_of(face_of(&after, &c.obama));
    println!("photo 2 after learning: Obama at {d2_after:.4}");
    assert_eq!(face_of(&after, &c.obama)["status"], "present", "{after}");
    let uncertain_after = with_status(&after, "uncertain").len();
    println!("uncertain faces in photo 2: {uncertain_before} before, {uncertain_after} after");
    assert!(uncertain_after < uncertain_before);

    // The teacher sees the learned sample, its image, and may remove it; another teacher may
    // not look at it.
    let sample = list
        .iter()
        .find(|s| s["source"] == "learned")
        .unwrap_or_else(|| panic!("{list:?}"));
    let image_url = sample["image_url"].as_str().unwrap_or_default();
    let resp = app.get(image_url, Some(t)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let crop = decode(&resp.bytes().await.unwrap_or_default());
    assert!(crop.width() >= 40, "{}", crop.width());
    let (stranger, _) = teacher(&app, "stranger@school.test").await;
    expect_detail(
        app.get(&format!("/api/students/{}/faces", c.obama), Some(&stranger))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get(image_url, Some(&stranger)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let path = format!(
        "/api/students/{}/faces/{}",
        c.obama,
        sample["id"].as_str().unwrap_or_default()
    );
    expect_detail(
        app.delete(&path, Some(&stranger)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    ok(app.delete(&path, Some(t)).await).await;
    assert_eq!(sources(&samples(&app, t, &c.obama).await), ["upload"]);
}

#[tokio::test]
async fn learning_turned_off_adds_nothing() {
    let app = spawn_app_with(&["--learn-from-confirm", "false"]).await;
    let c = class(&app).await;
    let t = c.teacher.as_str();
    let v = save(&app, t, &c.sid, &c.photo1, "2026-03-02").await;
    assert_eq!(face_of(&v, &c.obama)["status"], "uncertain", "{v}");
    let done = confirm(
        &app,
        t,
        &draft_id(&v),
        json!([{"student_id": c.obama, "status": "present"}]),
    )
    .await;
    assert_eq!(done["learned"], 0, "{done}");
    assert_eq!(sources(&samples(&app, t, &c.obama).await), ["upload"]);
    assert!(audit_details(&app, "face.learn").is_empty());
}

#[tokio::test]
async fn assigned_faces_are_learned_only_with_consent() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "teacher@school.test").await;
    let (_, obama) = student(&app, "obama@school.test").await;
    let (_, biden) = student(&app, "biden@school.test").await;
    let sid = subject(&app, &t, "GAL2", &[&obama, &biden]).await;
    // Obama consents but has no photo yet; Biden never consented.
    assert_eq!(enrol_faces(&app, &t, &obama, &[]).await, 0);
    let v = save(
        &app,
        &t,
        &sid,
        &side_by_side(&photo("obama.jpg"), &photo("biden.jpg")),
        "2026-03-02",
    )
    .await;
    let draft = draft_id(&v);
    assert_eq!(with_status(&v, "unknown").len(), 2, "{v}");
    let width = i64::from(decode(&photo("obama.jpg")).width());
    let view = draft_view(&app, &t, &draft).await;
    for f in faces(&view) {
        let who = if f["box"]["left"].as_i64() < Some(width) {
            &obama
        } else {
            &biden
        };
        ok(app
            .put(
                &format!(
                    "/api/attendance/drafts/{draft}/faces/{}/{}",
                    f["photo"], f["face"]
                ),
                &json!({"student_id": who}),
                Some(&t),
            )
            .await)
        .await;
    }
    let done = confirm(&app, &t, &draft, json!([])).await;
    assert_eq!(done["present_updated"], 2, "{done}");
    assert_eq!(done["learned"], 1, "{done}");
    assert_eq!(sources(&samples(&app, &t, &obama).await), ["learned"]);
    assert!(samples(&app, &t, &biden).await.is_empty());
    let learned = audit_details(&app, "face.learn");
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert!(learned[0].contains("assigned"), "{learned:?}");
    // Learned from a confirmation, Obama is recognised in his next photo.
    let v = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama2.jpg")), "subject_id": sid}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(face_of(&v, &obama)["status"], "present", "{v}");
}

/// 29 samples, then confirms learning a face and uploads for the same student at once: the
/// gallery ends at exactly the cap, and every request succeeds.
#[tokio::test]
async fn concurrent_confirms_and_uploads_stay_within_the_cap() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "teacher@school.test").await;
    let (_, obama) = student(&app, "obama@school.test").await;
    let sid = subject(&app, &t, "GAL3", &[&obama]).await;
    assert_eq!(enrol_faces(&app, &t, &obama, &[]).await, 0);
    // 29 samples far from any real face (as if enrolled long ago from other photos).
    {
        let db = app.db();
        for k in 0..29u32 {
            let embedding: Vec<u8> = (0..128u32)
                .flat_map(|d| {
                    let x = if d == k { 0.9f32 } else { 0.01 };
                    x.to_le_bytes()
                })
                .collect();
            db.execute(
                "INSERT INTO face_samples (id, student_id, image_sha256, content_type, embedding,
                     box_left, box_top, box_right, box_bottom, score, created_at, approved, source)
                 VALUES (?1, ?2, ?3, 'image/jpeg', ?4, 0, 0, 100, 100, 1.0, ?5, 1, 'upload')",
                rusqlite::params![
                    rollcall::domain::Id::generate().as_str(),
                    obama,
                    format!("{k:064x}"),
                    embedding,
                    i64::from(k),
                ],
            )
            .unwrap();
        }
    }
    assert_eq!(samples(&app, &t, &obama).await.len(), 29);
    // Two drafts, each with Obama's face assigned to him by the teacher.
    let mut drafts = Vec::new();
    for (date, name) in [("2026-03-02", "obama.jpg"), ("2026-03-03", "obama3.jpg")] {
        let v = save(&app, &t, &sid, &photo(name), date).await;
        let draft = draft_id(&v);
        let view = draft_view(&app, &t, &draft).await;
        let f = &faces(&view)[0];
        ok(app
            .put(
                &format!(
                    "/api/attendance/drafts/{draft}/faces/{}/{}",
                    f["photo"], f["face"]
                ),
                &json!({"student_id": obama}),
                Some(&t),
            )
            .await)
        .await;
        drafts.push(draft);
    }
    let confirms = drafts.iter().map(|d| {
        let (app, t) = (&app, &t);
        let req = json!({"draft_id": d, "decisions": []});
        async move { app.post("/api/attendance/confirm", &req, Some(t)).await }
    });
    let uploads = ["obama.jpg", "obama2.jpg", "obama3.jpg"].map(|name| {
        let bytes = photo(name);
        let (app, t, obama) = (&app, &t, &obama);
        async move { upload(app, t, Some(obama), &bytes).await }
    });
    let (confirmed, uploaded) = tokio::join!(
        futures_util::future::join_all(confirms),
        futures_util::future::join_all(uploads)
    );
    let mut learned = 0;
    for resp in confirmed {
        let v = ok(resp).await;
        learned += v["learned"].as_i64().unwrap_or(0);
    }
    assert_eq!(learned, 2);
    for resp in uploaded {
        let status = resp.status();
        let v = body(resp).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(v["faces_total"].as_i64() <= Some(30), "{v}");
    }
    let list = samples(&app, &t, &obama).await;
    println!("29 + 2 learned + 3 uploaded: {} kept", list.len());
    assert_eq!(list.len(), 30);
}
