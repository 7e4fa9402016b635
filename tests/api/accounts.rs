//! Account administration by the school office: the list (search, invitation state), one
//! account, role and name changes, the deletion preview and the delete.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::media::photo;
use crate::support::world::{confirm, enrol_faces, student, subject, teacher};
use crate::support::{
    ADMIN_EMAIL, TestApp, expect_detail, ok, send, spawn_app, token_of, user_id_of,
};

async fn patch(app: &TestApp, id: &str, body: &Value, token: &str) -> reqwest::Response {
    send(
        app,
        Method::PATCH,
        &format!("/api/admin/users/{id}"),
        body,
        Some(token),
    )
    .await
}

fn count(app: &TestApp, sql: &str, id: &str) -> i64 {
    app.db()
        .query_row(sql, [id], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The e-mail addresses in a list answer, in its order.
fn listed_emails(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

/// The e-mail addresses in a list answer, sorted.
fn emails(list: &Value) -> Vec<String> {
    let mut out = listed_emails(list);
    out.sort();
    out
}

#[tokio::test]
async fn the_list_searches_name_and_email_and_shows_invitations() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (email, name, password) in [
        ("ana.rivera@school.test", "Ana Rivera", None),
        ("bo@other.test", "Bo Rivers", Some("bo-password-1")),
        ("cy@school.test", "Cy 100%_done", Some("cy-password-1")),
    ] {
        let mut req = json!({"role": "teacher", "email": email, "name": name});
        if let Some(p) = password {
            req["password"] = json!(p);
        }
        ok(app.post("/api/admin/users", &req, Some(&admin)).await).await;
    }
    let get = |q: &'static str| {
        let (app, admin) = (&app, &admin);
        async move { ok(app.get(&format!("/api/admin/users?{q}"), Some(admin)).await).await }
    };
    assert_eq!(
        emails(&get("q=RIVER").await),
        ["ana.rivera@school.test", "bo@other.test"]
    );
    assert_eq!(emails(&get("q=other.test").await), ["bo@other.test"]);
    assert_eq!(
        emails(&get("q=%25").await),
        ["cy@school.test"],
        "% is a plain character"
    );
    assert_eq!(
        emails(&get("q=_").await),
        ["cy@school.test"],
        "_ is a plain character"
    );
    assert_eq!(
        emails(&get("q=rivera&role=student").await),
        Vec::<String>::new()
    );
    assert_eq!(emails(&get("q=nobody").await), Vec::<String>::new());
    assert_eq!(emails(&get("role=admin").await), [ADMIN_EMAIL]);
    assert_eq!(
        emails(&get("q=school.test&limit=1&offset=1").await).len(),
        1
    );
    let all = get("").await;
    // Newest first, also within the second all three were created in.
    assert_eq!(
        listed_emails(&all)[..3],
        ["cy@school.test", "bo@other.test", "ana.rivera@school.test"]
    );
    let by = |email: &str| {
        all["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()
            .clone()
    };
    let ana = by("ana.rivera@school.test");
    assert_eq!(ana["invitation"], "pending");
    assert_eq!(ana["has_password"], false);
    assert!(ana["invited_at"].is_string());
    let bo = by("bo@other.test");
    assert_eq!(bo["invitation"], "none");
    assert!(bo["invited_at"].is_null());
    // One account, the same shape.
    let one = ok(app
        .get(
            &format!("/api/admin/users/{}", ana["user_id"].as_str().unwrap()),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(one, ana);
    expect_detail(
        app.get("/api/admin/users/aaaaaaaaaaaaaaaaaaaaaaaa", Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_detail(
        app.get("/api/admin/users/x", Some(&admin)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn role_changes_follow_the_rules_and_end_sessions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = user_id_of(&app.login(ADMIN_EMAIL, "admin-password-1").await);
    let (t, tid) = teacher(&app, "t@school.test").await;
    let (s, sid) = student(&app, "s@school.test").await;
    let subj = subject(&app, &t, "ROLE1", &[&sid]).await;

    // A name change keeps the sessions.
    let renamed = ok(patch(&app, &tid, &json!({"name": "  Tess  "}), &admin).await).await;
    assert_eq!(renamed["name"], "Tess");
    ok(app.get("/api/auth/me", Some(&t)).await).await;
    expect_detail(
        patch(&app, &tid, &json!({"name": ""}), &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        patch(&app, &tid, &json!({"email": "x@y.z"}), &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Teacher -> admin: the old token dies; a new login is an admin's.
    let promoted = ok(patch(&app, &tid, &json!({"role": "admin"}), &admin).await).await;
    assert_eq!(promoted["role"], "admin");
    expect_detail(
        app.get("/api/auth/me", Some(&t)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let t = token_of(&app.login("t@school.test", "teacher-pass-1").await);
    ok(app.get("/api/admin/users", Some(&t)).await).await;
    // Back to teacher: the profile and the subject are still theirs.
    ok(patch(&app, &tid, &json!({"role": "teacher"}), &admin).await).await;
    let t = token_of(&app.login("t@school.test", "teacher-pass-1").await);
    ok(app.get(&format!("/api/subjects/{subj}"), Some(&t)).await).await;
    expect_detail(
        app.get("/api/admin/users", Some(&t)).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // To or from student: refused, nothing changed, sessions kept.
    for (id, role) in [(&sid, "teacher"), (&sid, "admin"), (&tid, "student")] {
        let d = expect_detail(
            patch(&app, id, &json!({"role": role}), &admin).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert!(d.contains("student"), "{d}");
    }
    ok(app.get("/api/auth/me", Some(&s)).await).await;
    // The last administrator cannot be demoted, not even by themselves.
    let d = expect_detail(
        patch(&app, &admin_id, &json!({"role": "teacher"}), &admin).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(d.contains("last administrator"), "{d}");
    // With a second one, it can.
    ok(patch(&app, &tid, &json!({"role": "admin"}), &admin).await).await;
    ok(patch(&app, &admin_id, &json!({"role": "teacher"}), &admin).await).await;
    expect_detail(
        app.get("/api/admin/users", Some(&admin)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_detail(
        patch(
            &app,
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            &json!({"role": "admin"}),
            &t,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let audit = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.update_user' AND target = ?1",
        &tid,
    );
    assert_eq!(audit, 4, "name, admin, teacher, admin");
}

#[tokio::test]
async fn the_deletion_preview_counts_what_the_delete_removes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = user_id_of(&app.login(ADMIN_EMAIL, "admin-password-1").await);
    let (t, tid) = teacher(&app, "t@school.test").await;
    let (_t2, t2id) = teacher(&app, "t2@school.test").await;
    let (_s, sid) = student(&app, "s@school.test").await;
    let (_other, other_id) = student(&app, "o@school.test").await;
    let solo = subject(&app, &t, "SOLO1", &[&sid, &other_id]).await;
    let shared = subject(&app, &t, "SHARED1", &[&sid]).await;
    ok(app
        .post(
            &format!("/api/subjects/{shared}/teachers"),
            &json!({"email": "t2@school.test"}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(enrol_faces(&app, &t, &sid, &[photo("obama.jpg")]).await, 1);
    confirm(
        &app,
        &t,
        &solo,
        "2026-03-02",
        1,
        &[(&sid, "present"), (&other_id, "absent")],
    )
    .await;
    confirm(&app, &t, &shared, "2026-03-02", 2, &[(&sid, "late")]).await;
    // A mail to the student still queued (no relay): a reset code.
    ok(app
        .post(
            "/api/auth/forgot-password",
            &json!({"email": "s@school.test"}),
            None,
        )
        .await)
    .await;

    // The student: faces, records, enrolments, the queued mail, their session.
    let p = ok(app
        .get(&format!("/api/admin/users/{sid}/deletion"), Some(&admin))
        .await)
    .await;
    assert_eq!(p["can_delete"], true, "{p}");
    assert_eq!(p["user"]["email"], "s@school.test");
    let r = &p["removes"];
    assert_eq!(
        (
            r["face_samples"].as_i64(),
            r["attendance_records"].as_i64(),
            r["enrolments"].as_i64()
        ),
        (Some(1), Some(2), Some(2)),
        "{p}"
    );
    assert_eq!(r["sessions"], 1);
    assert_eq!(r["queued_mails"], 1);
    assert_eq!(r["subjects_taught"], 0);
    let images_before = app.stored_images();
    assert_eq!(images_before, 1);
    let d = ok(app
        .delete(&format!("/api/admin/users/{sid}"), Some(&admin))
        .await)
    .await;
    assert_eq!(
        &d["removed"], r,
        "the delete removed what the preview listed"
    );
    for sql in [
        "SELECT COUNT(*) FROM users WHERE id = ?1",
        "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
        "SELECT COUNT(*) FROM attendance_records WHERE student_id = ?1",
        "SELECT COUNT(*) FROM enrolments WHERE student_id = ?1",
        "SELECT COUNT(*) FROM auth_sessions WHERE user_id = ?1",
        "SELECT COUNT(*) FROM outbox WHERE recipient = 's@school.test' AND status = 'pending' AND ?1 <> ''",
    ] {
        assert_eq!(count(&app, sql, &sid), 0, "{sql}");
    }
    assert_eq!(
        app.stored_images(),
        0,
        "the face photo went with its sample"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM attendance_records WHERE student_id = ?1",
            &other_id
        ),
        1,
        "other students' records stay"
    );
    expect_detail(
        app.delete(&format!("/api/admin/users/{sid}"), Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_detail(
        app.get(&format!("/api/admin/users/{sid}/deletion"), Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The teacher: both subjects taught, the solo one left without a teacher (kept).
    let p = ok(app
        .get(&format!("/api/admin/users/{tid}/deletion"), Some(&admin))
        .await)
    .await;
    let r = &p["removes"];
    assert_eq!(r["subjects_taught"], 2, "{p}");
    let left = r["subjects_left_without_teacher"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], solo.as_str());
    assert_eq!(left[0]["code"], "SOLO1");
    assert_eq!(r["sessions"], 1);
    let d = ok(app
        .delete(&format!("/api/admin/users/{tid}"), Some(&admin))
        .await)
    .await;
    assert_eq!(&d["removed"], r);
    expect_detail(
        app.get("/api/auth/me", Some(&t)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM subjects WHERE id = ?1", &solo),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM teachers WHERE user_id = ?1",
            &tid
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM subject_teachers WHERE teacher_id = ?1",
            &tid
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM subject_teachers WHERE teacher_id = ?1",
            &t2id
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.delete_user' AND target = ?1",
            &tid
        ),
        1
    );

    // Oneself and the last administrator: refused, in the preview too.
    let p = ok(app
        .get(
            &format!("/api/admin/users/{admin_id}/deletion"),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(p["can_delete"], false);
    assert!(
        p["refused"].as_str().unwrap().contains("your own account"),
        "{p}"
    );
    let d = expect_detail(
        app.delete(&format!("/api/admin/users/{admin_id}"), Some(&admin))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(d.contains("your own account"), "{d}");
    ok(patch(&app, &t2id, &json!({"role": "admin"}), &admin).await).await;
    let second = token_of(&app.login("t2@school.test", "teacher-pass-1").await);
    // The second admin may delete the first now; the first could delete the second.
    let p = ok(app
        .get(
            &format!("/api/admin/users/{admin_id}/deletion"),
            Some(&second),
        )
        .await)
    .await;
    assert_eq!(p["can_delete"], true, "{p}");
    ok(app
        .delete(&format!("/api/admin/users/{admin_id}"), Some(&second))
        .await)
    .await;
    let d = expect_detail(
        app.delete(&format!("/api/admin/users/{t2id}"), Some(&second))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(d.contains("your own account"), "{d}");
}

/// Two administrators demoting each other at once: the writes take turns, so one of them stays
/// an administrator; two deletes of one account: one 200, one 404; never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_role_changes_and_deletes_never_leave_no_admin_or_a_5xx() {
    let app = spawn_app().await;
    let a = app.admin_token().await;
    let a_id = user_id_of(&app.login(ADMIN_EMAIL, "admin-password-1").await);
    let (_, b_id) = teacher(&app, "b@school.test").await;
    ok(patch(&app, &b_id, &json!({"role": "admin"}), &a).await).await;
    let b = token_of(&app.login("b@school.test", "teacher-pass-1").await);
    // (Accounts are created first: `teacher()` signs in as the first administrator.)
    let (_, victim) = teacher(&app, "v@school.test").await;
    let (_, other) = teacher(&app, "w@school.test").await;
    let demote = json!({"role": "teacher"});
    let (x, y) = tokio::join!(
        patch(&app, &b_id, &demote, &a),
        patch(&app, &a_id, &demote, &b)
    );
    let statuses = [x.status(), y.status()];
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND ?1 <> ''",
            "x"
        ),
        1
    );

    // Whoever was not demoted is still an administrator, with a live session.
    let admin = if statuses[0] == StatusCode::OK { a } else { b };
    let url = format!("/api/admin/users/{victim}");
    let (x, y) = tokio::join!(
        app.delete(&url, Some(&admin)),
        app.delete(&url, Some(&admin))
    );
    let mut statuses = [x.status(), y.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND]);
    let victim = other;
    let url = format!("/api/admin/users/{victim}");
    let promote = json!({"role": "admin"});
    let (x, y) = tokio::join!(
        patch(&app, &victim, &promote, &admin),
        app.delete(&url, Some(&admin))
    );
    assert!(!x.status().is_server_error() && !y.status().is_server_error());
    assert_eq!(y.status(), StatusCode::OK);
}

/// The account routes as another teacher, a student and nobody: 403, 403, 401, and nothing
/// changed (guards.rs checks every route the same way; this one also looks at the data).
#[tokio::test]
async fn only_administrators_manage_accounts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (t, _) = teacher(&app, "t@school.test").await;
    let (s, _) = student(&app, "s@school.test").await;
    let (_, victim) = teacher(&app, "v@school.test").await;
    for (token, want) in [
        (Some(t.as_str()), StatusCode::FORBIDDEN),
        (Some(s.as_str()), StatusCode::FORBIDDEN),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for (method, path, body) in [
            (
                Method::GET,
                format!("/api/admin/users/{victim}"),
                Value::Null,
            ),
            (
                Method::GET,
                format!("/api/admin/users/{victim}/deletion"),
                Value::Null,
            ),
            (
                Method::PATCH,
                format!("/api/admin/users/{victim}"),
                json!({"role": "admin"}),
            ),
            (
                Method::POST,
                format!("/api/admin/users/{victim}/invite"),
                json!({}),
            ),
            (
                Method::DELETE,
                format!("/api/admin/users/{victim}"),
                Value::Null,
            ),
            (Method::GET, "/api/admin/users?q=v".to_owned(), Value::Null),
        ] {
            expect_detail(send(&app, method, &path, &body, token).await, want).await;
        }
    }
    let v = ok(app
        .get(&format!("/api/admin/users/{victim}"), Some(&admin))
        .await)
    .await;
    assert_eq!(v["role"], "teacher");
    assert_eq!(v["invitation"], "none");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM invitations WHERE user_id = ?1",
            &victim
        ),
        0
    );
}
