//! World builders: the accounts, subjects, rosters, consent and enrolled faces a test starts
//! from, made through the API as a user would.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestApp, body, ok, token_of, user_id_of};

/// A teacher account (password `teacher-pass-1`); (token, user id).
pub async fn teacher(app: &TestApp, email: &str) -> (String, String) {
    let login = app.create_user("teacher", email, "teacher-pass-1").await;
    (token_of(&login), user_id_of(&login))
}

/// A student account (password `student-pass-1`); (token, user id).
pub async fn student(app: &TestApp, email: &str) -> (String, String) {
    let login = app.create_user("student", email, "student-pass-1").await;
    (token_of(&login), user_id_of(&login))
}

/// A new subject `code` of the teacher (or admin) `token`, with `students` enrolled; its id.
pub async fn subject(app: &TestApp, token: &str, code: &str, students: &[&str]) -> String {
    let s = ok(app
        .post(
            "/api/subjects",
            &json!({"name": format!("Subject {code}"), "code": code}),
            Some(token),
        )
        .await)
    .await;
    let sid = s["id"].as_str().unwrap_or_default().to_owned();
    enrol(app, token, &sid, students).await;
    sid
}

/// Enrol `students` in the subject `sid` as `token` (its teacher, or an administrator, who may
/// also enrol students of another teacher's class).
pub async fn enrol(app: &TestApp, token: &str, sid: &str, students: &[&str]) {
    ok(app
        .post(
            &format!("/api/subjects/{sid}/students"),
            &json!({"student_ids": students}),
            Some(token),
        )
        .await)
    .await;
}

/// Upload one face photo to `/api/students/upload-face` (for `student_id`, or the caller).
pub async fn upload(
    app: &TestApp,
    token: &str,
    student_id: Option<&str>,
    file: &[u8],
) -> reqwest::Response {
    let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> =
        vec![("file", Some("face.jpg"), "image/jpeg", file)];
    if let Some(s) = student_id {
        parts.push(("student_id", None, "text/plain", s.as_bytes()));
    }
    app.post_multipart("/api/students/upload-face", &parts, Some(token))
        .await
}

/// Record consent and enrol the given photos for a student (as their teacher).
pub async fn enrol_faces(app: &TestApp, teacher: &str, student: &str, photos: &[Vec<u8>]) -> usize {
    ok(app
        .post(
            &format!("/api/students/{student}/consent"),
            &Value::Null,
            Some(teacher),
        )
        .await)
    .await;
    let mut enrolled = 0;
    for p in photos {
        let resp = upload(app, teacher, Some(student), p).await;
        if resp.status() == StatusCode::OK {
            enrolled += 1;
        } else {
            println!("enrolment refused: {}", body(resp).await);
        }
    }
    enrolled
}

/// Confirm one session with `(student id, status)` decisions; the confirmation's answer.
pub async fn confirm(
    app: &TestApp,
    token: &str,
    sid: &str,
    date: &str,
    slot: i64,
    decisions: &[(&str, &str)],
) -> Value {
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|(id, status)| json!({"student_id": id, "status": status}))
        .collect();
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": date, "slot": slot, "decisions": decisions}),
            Some(token),
        )
        .await)
    .await
}
