//! Whose class is whose: a teacher reaches another teacher's subject only by that teacher's (or
//! an administrator's) hand, and another class's students only when they are in one of the
//! teacher's own subjects, and then only that subject's figures. Each test here was written
//! against an attack that worked before (see README, "Security and privacy").

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{data_url, photo};
use crate::support::world::{confirm, enrol, student, subject, teacher};
use crate::support::{TestApp, body, expect_detail, ok, spawn_app, token_of, user_id_of};

/// How many audit entries of `action` are about `target`.
fn audited(app: &TestApp, action: &str, target: &str) -> i64 {
    app.db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = ?1 AND target = ?2",
            [action, target],
            |r| r.get(0),
        )
        .unwrap_or(-1)
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .filter_map(|x| x[key].as_str().map(str::to_owned))
        .collect();
    out.sort_unstable();
    out
}

/// A student account created by `token` (a teacher or an administrator) in `subject`: its id
/// and its generated password.
async fn created_student(
    app: &TestApp,
    token: &str,
    subject: &str,
    email: &str,
    roll: &str,
) -> (String, String) {
    let v = ok(app
        .post(
            "/api/students",
            &json!({"name": format!("Pupil {roll}"), "email": email, "roll": roll,
                    "subject_ids": [subject]}),
            Some(token),
        )
        .await)
    .await;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    (field("id"), field("password"))
}

#[tokio::test]
async fn a_subject_is_joined_only_by_a_current_teachers_invitation() {
    let app = spawn_app().await;
    let (t1, t1_id) = teacher(&app, "t1@school.test").await;
    let (t2, t2_id) = teacher(&app, "t2@school.test").await;
    let (s1, s1_id) = student(&app, "s1@school.test").await;
    let admin = app.admin_token().await;
    let sid = subject(&app, &t1, "MATH101", &[&s1_id]).await;

    // Knowing the code (a student's subject list shows it) gets another teacher nothing.
    for path in ["/api/subjects", "/settings/add-subject"] {
        let d = expect_detail(
            app.post(path, &json!({"name": "x", "code": "math101"}), Some(&t2))
                .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert!(d.contains("ask one of its teachers"), "{d}");
    }
    // An administrator cannot create a second subject with that code either.
    expect_detail(
        app.post(
            "/api/subjects",
            &json!({"name": "x", "code": "MATH101"}),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    for (method, path) in [
        ("GET", format!("/api/subjects/{sid}/students")),
        ("GET", format!("/api/attendance/subjects/{sid}/export.csv")),
        ("GET", format!("/api/students/{s1_id}")),
        ("DELETE", format!("/api/subjects/{sid}")),
    ] {
        let resp = if method == "GET" {
            app.get(&path, Some(&t2)).await
        } else {
            app.delete(&path, Some(&t2)).await
        };
        expect_detail(resp, StatusCode::FORBIDDEN).await;
    }

    // Nobody but a current teacher (or an administrator) adds teachers: not the outsider
    // inviting themselves, not a student, not an anonymous caller.
    let invite_t2 = json!({"teacher_id": t2_id});
    let teachers = format!("/api/subjects/{sid}/teachers");
    expect_detail(
        app.post(&teachers, &invite_t2, Some(&t2)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.post(&teachers, &invite_t2, Some(&s1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.post(&teachers, &invite_t2, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Only teacher accounts can be invited.
    for bad in [
        json!({"email": "nobody@school.test"}),
        json!({"email": "s1@school.test"}),
    ] {
        expect_detail(
            app.post(&teachers, &bad, Some(&t1)).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    expect_detail(
        app.post(&teachers, &json!({}), Some(&t1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(audited(&app, "subject.teacher_add", &sid), 1, "the creator");

    // The teacher invites t2 (by e-mail): now t2 teaches the class.
    let d = ok(app
        .post(&teachers, &json!({"email": "T2@school.test"}), Some(&t1))
        .await)
    .await;
    let mut want = vec![t1_id.clone(), t2_id.clone()];
    want.sort_unstable();
    let mut got: Vec<String> = d["teacher_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    got.sort_unstable();
    assert_eq!(got, want);
    ok(app
        .get(&format!("/api/subjects/{sid}/students"), Some(&t2))
        .await)
    .await;
    // Inviting twice changes nothing and writes no second entry.
    ok(app.post(&teachers, &invite_t2, Some(&t1)).await).await;
    assert_eq!(audited(&app, "subject.teacher_add", &sid), 2);

    // A co-teacher may leave, but not push out another teacher.
    expect_detail(
        app.delete(&format!("{teachers}/{t1_id}"), Some(&t2)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    ok(app.delete(&format!("{teachers}/{t2_id}"), Some(&t2)).await).await;
    expect_detail(
        app.get(&format!("/api/subjects/{sid}/students"), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // The last teacher cannot walk away from the class; an administrator can hand it over.
    let d = expect_detail(
        app.delete(&format!("{teachers}/{t1_id}"), Some(&t1)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(d.contains("only teacher"), "{d}");
    ok(app.post(&teachers, &invite_t2, Some(&admin)).await).await;
    ok(app
        .delete(&format!("{teachers}/{t1_id}"), Some(&admin))
        .await)
    .await;
    expect_detail(
        app.get(&format!("/api/subjects/{sid}"), Some(&t1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(audited(&app, "subject.teacher_add", &sid), 3);
    assert_eq!(audited(&app, "subject.teacher_remove", &sid), 2);
}

#[tokio::test]
async fn a_subject_with_recorded_attendance_is_deleted_only_by_an_administrator() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1_id) = student(&app, "s1@school.test").await;
    let admin = app.admin_token().await;
    let sid = subject(&app, &t1, "HIST1", &[&s1_id]).await;
    let empty = subject(&app, &t1, "HIST2", &[]).await;
    confirm(&app, &t1, &sid, "2026-03-03", 0, &[(&s1_id, "present")]).await;

    let d = expect_detail(
        app.delete(&format!("/api/subjects/{sid}"), Some(&t1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("only an administrator"), "{d}");
    ok(app.get(&format!("/api/subjects/{sid}"), Some(&t1)).await).await;
    // Nothing recorded: the teacher's to delete.
    ok(app
        .delete(&format!("/api/subjects/{empty}"), Some(&t1))
        .await)
    .await;
    ok(app
        .delete(&format!("/api/subjects/{sid}"), Some(&admin))
        .await)
    .await;
    let detail: String = app
        .db()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'subject.delete' AND target = ?1",
            [&sid],
            |r| r.get(0),
        )
        .unwrap_or_default();
    assert_eq!(detail, "HIST1 (1 sessions)");
}

#[tokio::test]
async fn another_class_students_cannot_be_taken_by_roll_or_id() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let admin = app.admin_token().await;
    let a = subject(&app, &t1, "CLASSA", &[]).await;
    let b = subject(&app, &t2, "CLASSB", &[]).await;
    let c = subject(&app, &t2, "CLASSC", &[]).await;
    let (s1, s1_password) = created_student(&app, &t1, &a, "s1@school.test", "R001").await;

    // By roll (short and guessable) or by id: refused, naming whom, and nothing written.
    for body in [json!({"rolls": ["r001"]}), json!({"student_ids": [s1]})] {
        let d = expect_detail(
            app.post(&format!("/api/subjects/{b}/students"), &body, Some(&t2))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(d.contains("another teacher's class"), "{d}");
    }
    let in_b: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM enrolments WHERE subject_id = ?1",
            [&b],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    assert_eq!(in_b, 0);
    // So t2 reaches nothing of s1's.
    for path in [
        format!("/api/students/{s1}"),
        format!("/api/students/{s1}/faces"),
        format!("/students/{s1}/profile"),
        format!("/api/analytics/students/{s1}"),
    ] {
        expect_detail(app.get(&path, Some(&t2)).await, StatusCode::FORBIDDEN).await;
    }
    expect_detail(
        app.delete(&format!("/api/students/{s1}/consent"), Some(&t2))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Deleting an account is for administrators only, even for the teacher who made it.
    for t in [&t2, &t1] {
        expect_detail(
            app.delete(&format!("/api/students/{s1}"), Some(t)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }

    // A student in no class yet may be added by any teacher; a student t2 created may be added
    // to t2's other subjects even once they are in t1's class too (an administrator put them).
    let (_, free) = student(&app, "free@school.test").await;
    let added = ok(app
        .post(
            &format!("/api/subjects/{b}/students"),
            &json!({"student_ids": [free]}),
            Some(&t2),
        )
        .await)
    .await;
    assert_eq!(added["added"], 1);
    let (s3, _) = created_student(&app, &t2, &b, "s3@school.test", "R003").await;
    enrol(&app, &admin, &a, &[&s3]).await;
    ok(app
        .post(
            &format!("/api/subjects/{c}/students"),
            &json!({"student_ids": [s3]}),
            Some(&t2),
        )
        .await)
    .await;
    // An administrator may enrol anyone anywhere.
    enrol(&app, &admin, &b, &[&s1]).await;
    ok(app
        .delete(&format!("/api/subjects/{b}/students/{s1}"), Some(&t2))
        .await)
    .await;

    // The student's own way in: they ask to join, the teacher approves.
    let s1_token = token_of(&app.login("s1@school.test", &s1_password).await);
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={b}"),
            &Value::Null,
            Some(&s1_token),
        )
        .await)
    .await;
    ok(app
        .post(
            &format!("/settings/teachers/subjects/{b}/students/{s1}/verify"),
            &Value::Null,
            Some(&t2),
        )
        .await)
    .await;
    ok(app.get(&format!("/api/students/{s1}"), Some(&t2)).await).await;
    assert_eq!(audited(&app, "subject.join", &b), 1);
    assert_eq!(audited(&app, "subject.approve", &b), 1);
    assert_eq!(
        audited(&app, "subject.enrol", &b),
        3,
        "free, s3, s1 (admin)"
    );
    assert_eq!(audited(&app, "subject.unenrol", &b), 1);
}

#[tokio::test]
async fn a_roll_typed_at_self_registration_is_never_matched() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let admin = app.admin_token().await;
    let a = subject(&app, &t1, "ROLLA", &[]).await;
    let b = subject(&app, &t1, "ROLLB", &[]).await;

    // A stranger registers first, claiming the roll the school will give a real pupil.
    let resp = app
        .post(
            "/api/auth/register",
            &json!({"role": "student", "name": "Mallory", "email": "mallory@evil.test",
                    "password": "mallory-pass-1", "roll": "R777", "year": "2"}),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(resp).await);
    let mallory: String = app
        .db()
        .query_row(
            "SELECT id FROM users WHERE email = 'mallory@evil.test'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_default();
    let m = ok(app
        .get(&format!("/api/students/{mallory}"), Some(&admin))
        .await)
    .await;
    assert_eq!(
        (m["roll"].as_str(), m["roll_confirmed"].as_bool()),
        (Some("R777"), Some(false))
    );
    let d = expect_detail(
        app.post(
            &format!("/api/subjects/{a}/students"),
            &json!({"rolls": ["R777"]}),
            Some(&t1),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(d, "No student with roll R777");

    // The school creates the real pupil with that roll: adding by roll finds them, only them.
    let (real, _) = created_student(&app, &t1, &a, "real@school.test", "R777").await;
    let added = ok(app
        .post(
            &format!("/api/subjects/{b}/students"),
            &json!({"rolls": ["r777"]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(added["added"], 1);
    let roster = ok(app
        .get(&format!("/api/subjects/{b}/students"), Some(&t1))
        .await)
    .await;
    assert_eq!(ids(&roster, "student_id"), vec![real]);

    // Staff setting a roll confirms it.
    let m = ok(app
        .put(
            &format!("/api/students/{mallory}"),
            &json!({"roll": "R999"}),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(m["roll_confirmed"], true);
}

#[tokio::test]
async fn leaving_or_removal_keeps_the_register_whole() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let (s2_token, s2) = student(&app, "s2@school.test").await;
    let (s3_token, _) = student(&app, "s3@school.test").await;
    let sid = subject(&app, &t1, "REG1", &[&s1, &s2]).await;
    let session = confirm(
        &app,
        &t1,
        &sid,
        "2026-03-03",
        0,
        &[(&s1, "present"), (&s2, "absent")],
    )
    .await["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // An approved student cannot drop out of the register by themselves.
    let leave = format!("/students/me/remove-subject/{sid}");
    let d = expect_detail(
        app.delete(&leave, Some(&s2_token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("ask them to remove you"), "{d}");
    // Their teacher removes them (audited); the records stay in every report.
    ok(app
        .delete(&format!("/api/subjects/{sid}/students/{s2}"), Some(&t1))
        .await)
    .await;
    assert_eq!(audited(&app, "subject.unenrol", &sid), 1);
    let view = ok(app
        .get(&format!("/api/attendance/sessions/{session}"), Some(&t1))
        .await)
    .await;
    let statuses: Vec<(String, String)> = view["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["student_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(s2.clone(), "absent".to_owned())),
        "{view}"
    );
    assert_eq!(
        view["summary"]["total"].as_i64(),
        Some(i64::try_from(statuses.len()).unwrap_or(0)),
        "the lines add up to the session's counts: {view}"
    );
    let csv = app
        .get(
            &format!("/api/attendance/subjects/{sid}/export.csv"),
            Some(&t1),
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(csv.lines().count(), 3, "header, s1, s2: {csv}");
    let risk = ok(app
        .get(
            &format!("/api/analytics/subjects/{sid}/students-at-risk"),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(ids(&risk["data"], "studentId"), vec![s2.clone()]);

    // A request to join that is still pending is the student's to withdraw.
    ok(app
        .post(
            &format!("/students/me/subjects?subject_id={sid}"),
            &Value::Null,
            Some(&s3_token),
        )
        .await)
    .await;
    ok(app.delete(&leave, Some(&s3_token)).await).await;
    assert_eq!(audited(&app, "subject.join", &sid), 1);
    assert_eq!(audited(&app, "subject.leave", &sid), 1);
}

#[tokio::test]
async fn teachers_write_only_to_their_own_students() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let (_, mine) = student(&app, "mine@school.test").await;
    let (_, theirs) = student(&app, "theirs@school.test").await;
    subject(&app, &t1, "MAIL1", &[&mine]).await;
    subject(&app, &t2, "MAIL2", &[&theirs]).await;

    let to = [
        "mine@school.test",
        "theirs@school.test",
        "ghost@school.test",
        "victim@elsewhere.test",
    ];
    let v = ok(app
        .post(
            "/api/notifications/custom",
            &json!({"student_emails": to, "message_title": "Urgent: reset your password",
                    "message_body": "x", "teacher_name": "T"}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(
        (v["queued"].as_i64(), v["failed"].as_i64()),
        (Some(1), Some(3))
    );
    // Another class's student, an unknown address and an outside one read the same: nothing
    // tells which addresses are accounts.
    let errors: Vec<&str> = v["details"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1)
        .filter_map(|d| d["error"].as_str())
        .collect();
    assert_eq!(errors, vec!["Not one of your students"; 3]);
    let warnings: Vec<Value> = to
        .iter()
        .map(|e| {
            json!({"student_email": e, "student_name": "S", "subject": "Maths",
                   "attendance_percentage": 50.0})
        })
        .collect();
    let v = ok(app
        .post(
            "/api/notifications/low-attendance",
            &json!(warnings),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(
        (v["queued"].as_i64(), v["failed"].as_i64()),
        (Some(1), Some(3))
    );
    let recipients: Vec<String> = {
        let db = app.db();
        let mut stmt = db
            .prepare("SELECT DISTINCT recipient FROM outbox ORDER BY recipient")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .filter_map(Result::ok)
            .collect()
    };
    assert_eq!(recipients, vec!["mine@school.test".to_owned()]);
}

#[tokio::test]
async fn a_teacher_sees_a_students_profile_in_their_own_subjects_only() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let admin = app.admin_token().await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let alg = subject(&app, &t1, "ALG1", &[&s1]).await;
    let che = subject(&app, &t2, "CHE1", &[]).await;
    enrol(&app, &admin, &che, &[&s1]).await;
    for (date, status) in [("2026-03-02", "absent"), ("2026-03-03", "absent")] {
        confirm(&app, &t1, &alg, date, 0, &[(&s1, status)]).await;
    }
    confirm(&app, &t2, &che, "2026-03-04", 0, &[(&s1, "present")]).await;

    let p = ok(app.get(&format!("/students/{s1}/profile"), Some(&t2)).await).await;
    assert_eq!(ids(&p["subjects"], "_id"), vec![che.clone()], "{p}");
    assert_eq!(p["attendance"]["total_classes"], 1, "{p}");
    assert_eq!(p["attendance"]["percentage"], 100.0, "{p}");
    let recent: Vec<&str> = p["recent_attendance"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["class_id"].as_str())
        .collect();
    assert_eq!(recent, vec![che.as_str()]);
    // The student themselves and an administrator see everything.
    let p = ok(app
        .get(&format!("/students/{s1}/profile"), Some(&admin))
        .await)
    .await;
    assert_eq!(p["attendance"]["total_classes"], 3, "{p}");
    assert_eq!(p["subjects"].as_array().map(Vec::len), Some(2));
    let a = ok(app
        .get(&format!("/api/analytics/students/{s1}"), Some(&t2))
        .await)
    .await;
    assert_eq!(a["subjects"].as_array().map(Vec::len), Some(1), "{a}");
}

#[tokio::test]
async fn names_codes_and_session_dates_are_plain_and_sane() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "SANE1", &[&s1]).await;
    for (name, code) in [
        ("Maths\u{0}", "OK1"),
        ("Maths\nSubject: urgent", "OK2"),
        ("\u{1b}[31mMaths", "OK3"),
        ("Maths \u{202e}txt.exe", "OK4"),
        ("Maths", "AB\u{202e}"),
        ("Maths", "A\nB"),
        ("Maths", "A;B=1"),
    ] {
        expect_detail(
            app.post(
                "/api/subjects",
                &json!({"name": name, "code": code}),
                Some(&t1),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        expect_detail(
            app.put(
                &format!("/api/subjects/{sid}"),
                &json!({"name": name, "code": code}),
                Some(&t1),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    ok(app
        .post(
            "/api/subjects",
            &json!({"name": "Français — 2ᵉ année", "code": "fr-2/b"}),
            Some(&t1),
        )
        .await)
    .await;
    expect_detail(
        app.post(
            "/api/auth/register",
            &json!({"role": "student", "name": "Eve \u{202e}nimda", "email": "eve@school.test",
                    "password": "eve-password-1"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for date in ["0000-01-01", "9999-12-31", "1999-12-31"] {
        let d = expect_detail(
            app.post(
                "/api/attendance/confirm",
                &json!({"subject_id": sid, "date": date,
                        "decisions": [{"student_id": s1, "status": "present"}]}),
                Some(&t1),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(d.contains("date must be between"), "{date}: {d}");
    }
}

#[tokio::test]
async fn a_students_own_face_photo_waits_for_a_teachers_approval() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (t2, _) = teacher(&app, "t2@school.test").await;
    let login = app
        .create_user("student", "s1@school.test", "student-pass-1")
        .await;
    let (s1, s1_id) = (token_of(&login), user_id_of(&login));
    let sid = subject(&app, &t1, "FACE1", &[&s1_id]).await;
    subject(&app, &t2, "FACE2", &[]).await;
    ok(app
        .post(
            &format!("/api/students/{s1_id}/consent"),
            &Value::Null,
            Some(&s1),
        )
        .await)
    .await;

    // The student uploads "their" face (it could be anyone's).
    let up = ok(app
        .post_multipart(
            "/students/me/face-image",
            &[("file", Some("me.jpg"), "image/jpeg", &photo("obama.jpg"))],
            Some(&s1),
        )
        .await)
    .await;
    assert_eq!(up["pending_review"], true, "{up}");
    let sample = up["sample_id"].as_str().unwrap_or_default().to_owned();
    let roster = ok(app
        .get(&format!("/api/subjects/{sid}/students"), Some(&t1))
        .await)
    .await;
    assert_eq!(
        (
            roster[0]["face_samples"].as_i64(),
            roster[0]["face_samples_pending"].as_i64()
        ),
        (Some(0), Some(1))
    );
    // Not matched while it waits.
    let mark = |token: String| {
        let app = &app;
        let sid = sid.clone();
        async move {
            ok(app
                .post(
                    "/api/attendance/mark",
                    &json!({"image": data_url(&photo("obama2.jpg")), "subject_id": sid}),
                    Some(&token),
                )
                .await)
            .await
        }
    };
    let before = mark(t1.clone()).await;
    assert_eq!(before["faces"][0]["status"], "unknown", "{before}");

    // Neither the student nor another teacher approves it; their teacher does (audited).
    let approve = format!("/api/students/{s1_id}/faces/{sample}/approve");
    for token in [&s1, &t2] {
        expect_detail(
            app.post(&approve, &Value::Null, Some(token)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let done = ok(app.post(&approve, &Value::Null, Some(&t1)).await).await;
    assert_eq!(done["approved"], true);
    assert_eq!(audited(&app, "face.approve", &s1_id), 1);
    let after = mark(t1.clone()).await;
    assert_eq!(after["faces"][0]["status"], "present", "{after}");
    assert_eq!(after["faces"][0]["student"]["id"], s1_id.as_str());
}
