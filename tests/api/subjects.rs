//! Subjects: creation and code uniqueness, ownership, rosters (seed paths included).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::world::{student, subject, teacher};
use crate::support::{expect_detail, ok, spawn_app};

#[tokio::test]
async fn subjects_crud_code_uniqueness_and_ownership() {
    let app = spawn_app().await;
    let (t1, t1_id) = teacher(&app, "t1@school.test").await;
    let (t2, t2_id) = teacher(&app, "t2@school.test").await;
    let (s1, _) = student(&app, "s1@school.test").await;
    let admin = app.admin_token().await;

    let created = ok(app
        .post(
            "/api/subjects",
            &json!({"name": " Maths ", "code": " math101 ", "type": "lab"}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(created["code"], "MATH101");
    assert_eq!(created["name"], "Maths");
    assert_eq!(created["type"], "Lab");
    assert_eq!(created["teacher_ids"], json!([t1_id]));
    let id = created["id"].as_str().unwrap_or_default().to_owned();

    // The same code from another teacher (either path) is a conflict, never a way into the class.
    for path in ["/settings/add-subject", "/api/subjects"] {
        let d = expect_detail(
            app.post(
                path,
                &json!({"name": "Other name", "code": "Math101"}),
                Some(&t2),
            )
            .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert!(d.contains("already in use"), "{d}");
    }
    expect_detail(
        app.get(&format!("/api/subjects/{id}/students"), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // A teacher of the subject invites a co-teacher.
    ok(app
        .post(
            &format!("/api/subjects/{id}/teachers"),
            &json!({"email": "t2@school.test"}),
            Some(&t1),
        )
        .await)
    .await;
    let detail = ok(app.get(&format!("/api/subjects/{id}"), Some(&t1)).await).await;
    // Both teachers, in no promised order (two added in the same second sort by id).
    let mut teachers: Vec<&str> = detail["teacher_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    teachers.sort_unstable();
    let mut want = vec![t1_id.as_str(), t2_id.as_str()];
    want.sort_unstable();
    assert_eq!(teachers, want);
    expect_detail(
        app.post(
            "/settings/add-subject",
            &json!({"name": "", "code": "X"}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // A third teacher owns nothing: 403 on someone else's subject, 404 on an unknown one, 400 on a bad id.
    let (t3, _) = teacher(&app, "t3@school.test").await;
    expect_detail(
        app.get(&format!("/api/subjects/{id}"), Some(&t3)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/api/subjects/0123456789abcdef01234567", Some(&t3))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let d = expect_detail(
        app.get("/api/subjects/not-an-id", Some(&t3)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid id format");
    expect_detail(
        app.delete(&format!("/api/subjects/{id}"), Some(&t3)).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Lists: a teacher's own, all for the admin; students are refused teacher routes.
    let other = ok(app
        .post(
            "/api/subjects",
            &json!({"name": "Physics", "code": "PHY1"}),
            Some(&t3),
        )
        .await)
    .await;
    let mine = ok(app.get("/api/subjects", Some(&t1)).await).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let all = ok(app.get("/api/subjects", Some(&admin)).await).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    expect_detail(
        app.post(
            "/api/subjects",
            &json!({"name": "X", "code": "X1"}),
            Some(&s1),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get(&format!("/api/subjects/{id}/students"), Some(&s1))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/api/subjects", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Rename; a code taken by another subject is a 409.
    let renamed = ok(app
        .put(
            &format!("/api/subjects/{id}"),
            &json!({"name": "Mathematics", "code": "MATH101"}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(renamed["name"], "Mathematics");
    assert_eq!(renamed["type"], "Core");
    expect_detail(
        app.put(
            &format!("/api/subjects/{id}"),
            &json!({"name": "Mathematics", "code": "phy1"}),
            Some(&t1),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    // Delete (admin may delete anyone's).
    let other_id = other["id"].as_str().unwrap_or_default();
    ok(app
        .delete(&format!("/api/subjects/{other_id}"), Some(&admin))
        .await)
    .await;
    expect_detail(
        app.get(&format!("/api/subjects/{other_id}"), Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn rosters_enrolment_and_seed_paths() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (s1, s1_id) = student(&app, "s1@school.test").await;
    let (s2, s2_id) = student(&app, "s2@school.test").await;
    let admin = app.admin_token().await;
    let created = ok(app
        .post(
            "/api/subjects",
            &json!({"name": "Maths", "code": "M1"}),
            Some(&t1),
        )
        .await)
    .await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();

    // Staff set a roll number; the teacher enrols one student by id, one by roll.
    ok(app
        .put(
            &format!("/api/students/{s2_id}"),
            &json!({"roll": "21CS045"}),
            Some(&admin),
        )
        .await)
    .await;
    let added = ok(app
        .post(
            &format!("/api/subjects/{id}/students"),
            &json!({"student_ids": [s1_id], "rolls": ["21cs045"]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(added["added"], 2);
    expect_detail(
        app.post(
            &format!("/api/subjects/{id}/students"),
            &json!({"student_ids": ["nope"]}),
            Some(&t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_detail(
        app.post(
            &format!("/api/subjects/{id}/students"),
            &json!({"student_ids": [s1_id]}),
            Some(&t2),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let roster = ok(app
        .get(&format!("/api/subjects/{id}/students"), Some(&t1))
        .await)
    .await;
    let rows = roster.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r["verified"] == true && r.get("embeddings").is_none())
    );

    // Seed roster: strings, not nulls; no embeddings; other teachers get the seed's 404.
    let seed = ok(app
        .get(
            &format!("/settings/teachers/subjects/{id}/students"),
            Some(&t1),
        )
        .await)
    .await;
    let first = &seed[0];
    assert_eq!(first["student_id"], s1_id.as_str());
    assert_eq!(first["roll"], "");
    assert_eq!(first["branch"], "");
    assert!(first.get("embeddings").is_none());
    assert_eq!(seed[1]["roll"], "21CS045");
    let d = expect_detail(
        app.get(
            &format!("/settings/teachers/subjects/{id}/students"),
            Some(&t2),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(d, "Subject not found or access denied");
    let d = expect_detail(
        app.get("/settings/teachers/subjects/xyz/students", Some(&t1))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid subject_id format");
    let mine = ok(app.get("/settings/teachers/me/subjects", Some(&t1)).await).await;
    assert_eq!(
        mine,
        json!([{"_id": id, "name": "Maths", "code": "M1", "student_count": 2}])
    );
    let students = ok(app.get("/settings/teachers/students", Some(&t1)).await).await;
    assert_eq!(students["students"].as_array().map(Vec::len), Some(2));
    let none = ok(app.get("/settings/teachers/students", Some(&t2)).await).await;
    assert_eq!(none, json!({"students": []}));

    // An approved enrolment is the teacher's to end: the student cannot leave by themselves.
    let d = expect_detail(
        app.delete(&format!("/students/me/remove-subject/{id}"), Some(&s1))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("ask them to remove you"), "{d}");
    ok(app
        .delete(&format!("/api/subjects/{id}/students/{s1_id}"), Some(&t1))
        .await)
    .await;
    // The student asks to join again, withdraws the request (allowed while it is pending) and
    // asks once more (unverified until the teacher verifies, twice is fine).
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={id}"),
            &Value::Null,
            Some(&s1),
        )
        .await)
    .await;
    ok(app
        .delete(&format!("/students/me/remove-subject/{id}"), Some(&s1))
        .await)
    .await;
    let d = expect_detail(
        app.delete(&format!("/students/me/remove-subject/{id}"), Some(&s1))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Subject not assigned to student");
    let avail = ok(app.get("/students/me/available-subjects", Some(&s1)).await).await;
    assert_eq!(avail[0]["_id"], id.as_str());
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={id}"),
            &Value::Null,
            Some(&s1),
        )
        .await)
    .await;
    let mine = ok(app.get("/api/subjects", Some(&s1)).await).await;
    assert_eq!(mine[0]["verified"], false);
    let subjects = ok(app.get("/students/me/subjects", Some(&s1)).await).await;
    assert_eq!(subjects[0]["type"], "Core");
    assert_eq!(subjects[0]["attendance"], 0);
    for _ in 0..2 {
        ok(app
            .post(
                &format!("/settings/teachers/subjects/{id}/students/{s1_id}/verify"),
                &Value::Null,
                Some(&t1),
            )
            .await)
        .await;
    }
    let mine = ok(app.get("/api/subjects", Some(&s1)).await).await;
    assert_eq!(mine[0]["verified"], true);
    expect_detail(
        app.post(
            "/students/me/subjects?subject_id=bad",
            &Value::Null,
            Some(&s1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Teacher removes a student (seed path); students are refused teacher routes.
    ok(app
        .delete(
            &format!("/settings/teachers/subjects/{id}/students/{s2_id}"),
            Some(&t1),
        )
        .await)
    .await;
    let roster = ok(app
        .get(&format!("/api/subjects/{id}/students"), Some(&t1))
        .await)
    .await;
    assert_eq!(roster.as_array().map(Vec::len), Some(1));
    expect_detail(
        app.get("/settings/teachers/me/subjects", Some(&s2)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/settings/teachers/students", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// A subject shows the weekly periods its teachers' timetables give it.
#[tokio::test]
async fn subject_lists_the_slots_it_occupies() {
    let app = spawn_app().await;
    let (t1, t1_id) = teacher(&app, "t1@school.test").await;
    let id = subject(&app, &t1, "PHY1", &[]).await;
    assert_eq!(
        ok(app.get(&format!("/api/subjects/{id}"), Some(&t1)).await).await["slots"],
        json!([])
    );
    let period = |slot: u32, start: &str, end: &str, subject: Option<&str>| {
        json!({"slot": slot, "start": start, "end": end,
               "metadata": {"subject_id": subject, "subject_name": "x", "room": "B12", "tracked": true}})
    };
    ok(app
        .put(
            "/api/settings",
            &json!({"schedule": {"timetable": [
                {"day": "Monday", "periods": [period(1, "09:00", "10:00", Some(&id)), period(2, "10:00", "11:00", None)]},
                {"day": "Thursday", "periods": [period(3, "13:00", "14:00", Some(&id))]}
            ], "recurring": null, "holidays": [], "exams": [], "meta": {}}}),
            Some(&t1),
        )
        .await)
    .await;
    let detail = ok(app.get(&format!("/api/subjects/{id}"), Some(&t1)).await).await;
    assert_eq!(
        detail["slots"],
        json!([
            {"teacher_id": t1_id, "day": "Monday", "slot": 1, "start": "09:00", "end": "10:00", "room": "B12"},
            {"teacher_id": t1_id, "day": "Thursday", "slot": 3, "start": "13:00", "end": "14:00", "room": "B12"}
        ])
    );
}
