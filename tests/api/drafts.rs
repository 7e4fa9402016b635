//! Saved attendance drafts: several photos of one session matched together, the teacher's
//! assignments (with enrolment), confirming a draft; the session's day and slot from the
//! timetable; absence notices in the outbox.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{data_url, decode, photo, side_by_side};

use crate::support::world::{enrol_faces, student, subject, teacher};
use crate::support::{TestApp, body, expect_detail, ok, spawn_app, spawn_app_with_clock};

fn faces(v: &Value) -> &Vec<Value> {
    v["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no faces in {v}"))
}

fn ids(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

async fn save(
    app: &TestApp,
    token: &str,
    sid: &str,
    image: &[u8],
    date: &str,
) -> reqwest::Response {
    app.post(
        "/api/attendance/mark",
        &json!({"image": data_url(image), "subject_id": sid, "save": true, "date": date, "slot": 2}),
        Some(token),
    )
    .await
}

fn outbox(app: &TestApp, kind: &str, recipient: &str) -> Vec<String> {
    let db = app.db();
    let mut stmt = db
        .prepare("SELECT status FROM outbox WHERE kind = ?1 AND recipient = ?2")
        .unwrap();
    stmt.query_map([kind, recipient], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn drafts_merge_photos_take_assignments_and_confirm() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (_, obama_id) = student(&app, "obama@school.test").await;
    let (_, biden_id) = student(&app, "biden@school.test").await;
    let (_, zoe_id) = student(&app, "zoe@school.test").await;
    let sid = subject(&app, &t1, "DRF1", &[&obama_id, &biden_id, &zoe_id]).await;
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
    // Biden has consent but no face yet: his face is unknown until the teacher says whose it is.
    assert_eq!(enrol_faces(&app, &t1, &biden_id, &[]).await, 0);

    // Without save nothing is kept.
    let v = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid}),
            Some(&t1),
        )
        .await)
    .await;
    assert!(v.get("draft").is_none(), "{v}");
    let drafts = ok(app
        .get(&format!("/api/attendance/subjects/{sid}/drafts"), Some(&t1))
        .await)
    .await;
    assert_eq!(drafts, json!([]));

    // Photo 1: Obama alone.
    let v = ok(save(&app, &t1, &sid, &photo("obama3.jpg"), "2026-03-02").await).await;
    let draft_id = v["draft"]["draft_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned();
    assert_eq!(v["draft"]["photo"], 1, "{v}");
    assert_eq!(v["draft"]["date"], "2026-03-02");
    assert_eq!(v["draft"]["slot"], 2);
    assert_eq!(faces(&v).len(), 1);
    assert_eq!(faces(&v)[0]["status"], "present", "{v}");

    // Photo 2 of the same session: Obama again (from the other side of the room) and Biden.
    // Matched together with photo 1, Obama is counted once; his second face needs a look.
    let both = side_by_side(&photo("obama3.jpg"), &photo("biden.jpg"));
    let obama_width = i64::from(decode(&photo("obama3.jpg")).width());
    let v = ok(save(&app, &t1, &sid, &both, "2026-03-02").await).await;
    assert_eq!(v["draft"]["draft_id"], draft_id.as_str(), "{v}");
    assert_eq!(v["draft"]["photo"], 2, "{v}");
    assert_eq!(faces(&v).len(), 2, "{v}");
    let draft = ok(app
        .get(&format!("/api/attendance/drafts/{draft_id}"), Some(&t1))
        .await)
    .await;
    assert_eq!(draft["photos"].as_array().map(Vec::len), Some(2), "{draft}");
    assert_eq!(faces(&draft).len(), 3, "{draft}");
    let obama_faces: Vec<&Value> = faces(&draft)
        .iter()
        .filter(|f| f["student"]["id"] == obama_id.as_str())
        .collect();
    assert_eq!(obama_faces.len(), 1, "Obama must be counted once: {draft}");
    assert_eq!(draft["present"], 1, "{draft}");
    // Photo 2's faces come in the detector's order, not left to right: Obama's is the one on
    // the left half (Biden's, on the right, also lists Obama, far, as its nearest candidate).
    let second_obama = faces(&draft)
        .iter()
        .find(|f| f["photo"] == 2 && f["box"]["left"].as_i64() < Some(obama_width))
        .unwrap_or_else(|| panic!("no face on the left half of photo 2: {draft}"));
    assert!(second_obama["student"].is_null(), "{draft}");
    assert_eq!(
        second_obama["candidates"][0]["student_id"],
        obama_id.as_str(),
        "{draft}"
    );
    assert_eq!(
        second_obama["needs_review"], true,
        "the second Obama face should be left for review: {draft}"
    );
    assert!(draft["to_review"].as_i64() >= Some(1), "{draft}");
    assert_eq!(ids(&draft["not_seen"]), {
        let mut v = vec![biden_id.clone(), zoe_id.clone()];
        v.sort();
        v
    });
    let biden_face = faces(&draft)
        .iter()
        .find(|f| f["photo"] == 2 && f["box"]["left"].as_i64() >= Some(obama_width))
        .unwrap_or_else(|| panic!("no face on the right half: {draft}"));
    assert_eq!(biden_face["status"], "unknown", "{draft}");
    let face_path = format!(
        "/api/attendance/drafts/{draft_id}/faces/{}/{}",
        biden_face["photo"], biden_face["face"]
    );

    // The photo comes back (its pixels re-encoded, without the upload's metadata), to teachers
    // of the subject only.
    let resp = app
        .get(
            &format!("/api/attendance/drafts/{draft_id}/photos/1"),
            Some(&t1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap_or_default();
    assert_eq!(
        crate::support::media::decode(&bytes).dimensions(),
        crate::support::media::decode(&photo("obama3.jpg")).dimensions()
    );
    expect_detail(
        app.get(&format!("/api/attendance/drafts/{draft_id}"), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.put(&face_path, &json!({"student_id": biden_id}), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Assign the unknown face to Biden and add it to his enrolment.
    let (_, outsider_id) = student(&app, "outsider@school.test").await;
    let d = expect_detail(
        app.put(&face_path, &json!({"student_id": outsider_id}), Some(&t1))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("Not enrolled"), "{d}");
    let v = ok(app
        .put(
            &face_path,
            &json!({"student_id": biden_id, "enrol": true}),
            Some(&t1),
        )
        .await)
    .await;
    assert!(v["sample_id"].is_string(), "{v}");
    let assigned = faces(&v["draft"])
        .iter()
        .find(|f| f["student"]["id"] == biden_id.as_str())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(assigned["status"], "present");
    assert_eq!(assigned["assigned_by_teacher"], true);
    assert_eq!(v["draft"]["present"], 2, "{v}");
    assert_eq!(ids(&v["draft"]["not_seen"]), vec![zoe_id.clone()]);
    let samples = ok(app
        .get(&format!("/api/students/{biden_id}/faces"), Some(&t1))
        .await)
    .await;
    assert_eq!(samples.as_array().map(Vec::len), Some(1), "{samples}");

    // Zoe has no consent: her face cannot be enrolled from a draft (but may be assigned).
    let d = expect_detail(
        app.put(
            &face_path,
            &json!({"student_id": zoe_id, "enrol": true}),
            Some(&t1),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("consent"), "{d}");

    // Confirm the draft with one decision: present from the draft, Zoe excused.
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"draft_id": draft_id, "decisions": [{"student_id": zoe_id, "status": "excused"}]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["date"], "2026-03-02");
    assert_eq!(v["slot"], 2);
    assert_eq!(v["summary"]["present"], 2, "{v}");
    assert_eq!(v["summary"]["excused"], 1, "{v}");
    assert_eq!(v["summary"]["absent"], 0, "{v}");
    assert_eq!(v["summary"]["percentage"], 100.0, "{v}");
    let db = app.db();
    let sources: Vec<(String, String, Option<f64>)> = db
        .prepare("SELECT student_id, source, distance FROM attendance_records ORDER BY student_id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .unwrap();
    let obama_row = sources
        .iter()
        .find(|r| r.0 == obama_id)
        .unwrap_or_else(|| panic!("{sources:?}"));
    assert_eq!(obama_row.1, "photo");
    assert!(obama_row.2.is_some_and(|d| d < 0.5), "{sources:?}");

    // The draft and its photos are gone.
    expect_detail(
        app.get(&format!("/api/attendance/drafts/{draft_id}"), Some(&t1))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM draft_photos", [], |r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(left, 0);
    let files = app.stored_images();
    // Obama's two enrolment photos and Biden's crop: the class photos were unlinked.
    assert_eq!(files, 3, "face store");

    // A discarded draft leaves nothing behind.
    let v = ok(save(&app, &t1, &sid, &photo("obama3.jpg"), "2026-03-03").await).await;
    let other = v["draft"]["draft_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ok(app
        .delete(&format!("/api/attendance/drafts/{other}"), Some(&t1))
        .await)
    .await;
    assert_eq!(app.stored_images(), 3);
    let resp = app
        .post(
            "/api/attendance/confirm",
            &json!({"draft_id": other}),
            Some(&t1),
        )
        .await;
    expect_detail(resp, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn sessions_follow_the_timetable_and_absences_are_queued_once() {
    // The server's "today" is fixed: Wednesday 2026-04-01 at noon UTC (the same date in every
    // time zone within 11 hours of UTC), after the dates this test names.
    let clock = rollcall::service::clock::ManualClock::at(APRIL_1_NOON_UTC);
    let app = spawn_app_with_clock(&[], std::sync::Arc::new(clock.clone())).await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, a_id) = student(&app, "ann@school.test").await;
    let (_, b_id) = student(&app, "ben@school.test").await;
    let sid = subject(&app, &t1, "TT1", &[&a_id, &b_id]).await;
    let schedule = json!({
        "timetable": [{"day": "Monday", "periods": [
            {"slot": 1, "start": "08:00", "end": "09:00", "metadata": {"subject_name": "Other"}},
            {"slot": 3, "start": "10:00", "end": "11:00", "metadata": {"subject_id": sid, "subject_name": "TT1"}}]}],
        "holidays": [{"date": "2026-03-09", "name": "Spring break"}],
        "exams": [{"date": "2026-03-16", "name": "Finals"}]});
    ok(app
        .put("/settings", &json!({"schedule": schedule}), Some(&t1))
        .await)
    .await;

    let confirm = |date: &str, decisions: Value| {
        let (app, t1, sid) = (&app, &t1, &sid);
        let body = json!({"subject_id": sid, "date": date, "decisions": decisions});
        async move { app.post("/api/attendance/confirm", &body, Some(t1)).await }
    };
    let both = |a: &str, b: &str| json!([{"student_id": a_id, "status": a}, {"student_id": b_id, "status": b}]);

    // A Monday: the subject's only period that day is slot 3.
    let v = ok(confirm("2026-03-02", both("present", "absent")).await).await;
    assert_eq!(v["slot"], 3, "{v}");
    // A Tuesday without periods: slot 0.
    let v = ok(confirm("2026-03-03", both("present", "present")).await).await;
    assert_eq!(v["slot"], 0, "{v}");
    // Holiday and exam day: refused, and nothing written.
    let d = expect_detail(
        confirm("2026-03-09", both("present", "present")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("holiday") && d.contains("Spring break"), "{d}");
    let d = expect_detail(
        confirm("2026-03-16", both("present", "present")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("exam day") && d.contains("Finals"), "{d}");
    let d = expect_detail(
        app.post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": true, "date": "2026-03-09"}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("holiday"), "{d}");
    let sessions: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM attendance_sessions", [], |r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(sessions, 2);

    // Ben's absence on the 2nd is queued once, however often the session is confirmed.
    assert_eq!(
        outbox(&app, "attendance.absent", "ben@school.test"),
        vec!["pending"]
    );
    assert!(outbox(&app, "attendance.absent", "ann@school.test").is_empty());
    let v = ok(confirm("2026-03-02", both("present", "absent")).await).await;
    assert_eq!(v["summary"]["absent"], 1);
    assert_eq!(
        outbox(&app, "attendance.absent", "ben@school.test").len(),
        1
    );
    let text: String = app
        .db()
        .query_row(
            "SELECT body_text FROM outbox WHERE recipient = 'ben@school.test'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_default();
    assert!(
        text.contains("2026-03-02") && text.contains("TT1"),
        "{text}"
    );

    // A correction to present withdraws the unsent notice; absent again queues it again.
    let session = v["session_id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/attendance/sessions/{session}/records/{b_id}");
    ok(app
        .put(&path, &json!({"status": "present"}), Some(&t1))
        .await)
    .await;
    assert!(outbox(&app, "attendance.absent", "ben@school.test").is_empty());
    ok(app
        .put(&path, &json!({"status": "absent"}), Some(&t1))
        .await)
    .await;
    assert_eq!(
        outbox(&app, "attendance.absent", "ben@school.test"),
        vec!["pending"]
    );

    // Today by default (the school's time zone): a confirmation without a date lands today.
    let v = body(
        app.post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "decisions": both("present", "present")}),
            Some(&t1),
        )
        .await,
    )
    .await;
    assert_eq!(v["date"], "2026-04-01", "{v}");

    // On a holiday of the timetable, a confirmation without a date is refused like one naming it.
    clock.advance(MARCH_9_NOON_UTC - APRIL_1_NOON_UTC);
    expect_detail(
        app.post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "decisions": both("present", "present")}),
            Some(&t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// 2026-04-01T12:00:00Z and 2026-03-09T12:00:00Z, in seconds since the epoch.
const APRIL_1_NOON_UTC: i64 = 1_775_044_800;
const MARCH_9_NOON_UTC: i64 = 1_773_057_600;
