//! Privacy: a biometric-free server, audited views, retention, embeddings never served, and
//! backup + restore of the database with its images.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::attendance::{data_url, enrol_faces};
use crate::faults::Server;
use crate::helpers::{expect_detail, spawn_app, spawn_app_with};
use crate::students::{files_in, ok, photo, upload};
use crate::subjects::{student, subject, teacher};

#[tokio::test]
async fn a_biometric_free_server_takes_attendance_manually() {
    let app = spawn_app_with(&["--biometrics", "false"]).await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "BIO0", &[&s1]).await;
    ok(app
        .post(
            &format!("/api/students/{s1}/consent"),
            &Value::Null,
            Some(&t1),
        )
        .await)
    .await;
    let d = expect_detail(
        upload(&app, &t1, Some(&s1), &photo("obama.jpg")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("turned off"), "{d}");
    for save in [false, true] {
        let d = expect_detail(
            app.post(
                "/api/attendance/mark",
                &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": save}),
                Some(&t1),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(d.contains("manually"), "{d}");
    }
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-03-03", "present_students": [s1]}),
            Some(&t1),
        )
        .await)
    .await;
    assert_eq!(v["summary"]["present"], 1);
    let admin = app.admin_token().await;
    let health = ok(app.get("/health/detailed", Some(&admin)).await).await;
    assert_eq!(health["checks"]["models"]["status"], "turned_off");
}

/// Every key and value of a JSON document, flattened.
fn walk<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push((k.as_str(), x));
                walk(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn views_are_audited_embeddings_never_served_and_drafts_expire() {
    let app = spawn_app_with(&["--draft-retention-days", "7", "--face-retention-days", "30"]).await;
    let admin = app.admin_token().await;
    let (t1, t1_id) = teacher(&app, "t1@school.test").await;
    let (s_token, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "PRIV1", &[&s1]).await;
    assert_eq!(enrol_faces(&app, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    let marked = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": true, "date": "2026-03-03"}),
            Some(&t1),
        )
        .await)
    .await;
    let draft = marked["draft"]["draft_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Nothing anyone can read carries an embedding.
    let faces = ok(app
        .get(&format!("/api/students/{s1}/faces"), Some(&t1))
        .await)
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let mut served = vec![marked, faces];
    for (path, token) in [
        (format!("/api/students/{s1}"), &t1),
        (format!("/api/subjects/{sid}/students"), &t1),
        (format!("/api/attendance/drafts/{draft}"), &t1),
        (format!("/settings/teachers/subjects/{sid}/students"), &t1),
        ("/students/me/profile".to_owned(), &s_token),
        ("/students/me/subjects".to_owned(), &s_token),
        ("/api/auth/me".to_owned(), &s_token),
    ] {
        served.push(ok(app.get(&path, Some(token)).await).await);
    }
    for doc in &served {
        let mut all = Vec::new();
        walk(doc, &mut all);
        for (key, value) in all {
            let k = key.to_ascii_lowercase();
            assert!(
                !(k.contains("embedding") || k.contains("encoding") || k.contains("descriptor")),
                "{key} served: {doc}"
            );
            let long_floats = value
                .as_array()
                .is_some_and(|a| a.len() >= 64 && a.iter().all(Value::is_f64));
            assert!(!long_floats, "{key} looks like an embedding: {doc}");
        }
    }

    // Looking at a face or exporting attendance leaves a trace an administrator can read.
    for path in [
        format!("/api/students/{s1}/faces/{sample}/image"),
        format!("/api/attendance/drafts/{draft}/photos/1"),
        format!("/api/attendance/subjects/{sid}/export.csv"),
    ] {
        let resp = app.get(&path, Some(&t1)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let log = ok(app
        .get("/api/admin/audit?action=face.view", Some(&admin))
        .await)
    .await;
    assert_eq!(log["entries"][0]["actor_id"], t1_id.as_str(), "{log}");
    assert_eq!(log["entries"][0]["target"], s1.as_str(), "{log}");
    let log = ok(app
        .get(
            &format!("/api/admin/audit?actor={t1_id}&action=attendance."),
            Some(&admin),
        )
        .await)
    .await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"attendance.export"), "{actions:?}");
    assert!(
        actions.contains(&"attendance.draft.photo_view"),
        "{actions:?}"
    );
    expect_detail(
        app.get("/api/admin/audit?limit=0", Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Retention: nothing is young enough to go yet; then the draft ages past 7 days and the
    // face sample past 30, and both go with their files.
    let purged = ok(app
        .post("/api/admin/retention/run", &json!({}), Some(&admin))
        .await)
    .await;
    assert_eq!(purged, json!({"drafts": 0, "face_samples": 0, "files": 0}));
    let files_before = files_in(&app.data_dir.path().join("faces"));
    assert_eq!(files_before, 2, "one enrolment photo and one class photo");
    let db = app.db();
    let day = 24 * 3600;
    db.execute(
        "UPDATE attendance_drafts SET updated_at = updated_at - ?1",
        [8 * day],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    db.execute(
        "UPDATE face_samples SET created_at = created_at - ?1",
        [31 * day],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let purged = ok(app
        .post("/api/admin/retention/run", &json!({}), Some(&admin))
        .await)
    .await;
    assert_eq!(purged, json!({"drafts": 1, "face_samples": 1, "files": 2}));
    assert_eq!(files_in(&app.data_dir.path().join("faces")), 0);
    expect_detail(
        app.get(&format!("/api/attendance/drafts/{draft}"), Some(&t1))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let log = ok(app
        .get("/api/admin/audit?action=retention.purge", Some(&admin))
        .await)
    .await;
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
}

fn rollcall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running rollcall: {e}"))
}

#[tokio::test]
async fn backup_while_serving_then_restore_into_a_new_data_dir() {
    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let sid = subject(&app, &t1, "BAK1", &[&s1]).await;
    assert_eq!(enrol_faces(&app, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-03-03", "present_students": [s1]}),
            Some(&t1),
        )
        .await)
    .await;
    let faces = ok(app
        .get(&format!("/api/students/{s1}/faces"), Some(&t1))
        .await)
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let original = app
        .get(
            &format!("/api/students/{s1}/faces/{sample}/image"),
            Some(&t1),
        )
        .await
        .bytes()
        .await
        .unwrap_or_default();

    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = scratch.path().join("backup");
    let data = app.data_dir.path().display().to_string();
    let run = rollcall(&["backup", "--data-dir", &data, &out.display().to_string()]);
    let said =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert!(said.contains("1 face images"), "{said}");
    // A second backup to the same place is refused, not overwritten.
    assert!(
        !rollcall(&["backup", "--data-dir", &data, &out.display().to_string()])
            .status
            .success()
    );

    let restored = scratch.path().join("restored");
    let run = rollcall(&[
        "restore",
        "--data-dir",
        &restored.display().to_string(),
        &out.display().to_string(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Restoring over a database is refused.
    let again = rollcall(&[
        "restore",
        "--data-dir",
        &restored.display().to_string(),
        &out.display().to_string(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));

    // The restored server has the account, the attendance and the face image.
    let server = Server::start(&restored).await;
    let token = server.login("t1@school.test", "teacher-pass-1").await;
    let image = server
        .client
        .get(format!(
            "{}/api/students/{s1}/faces/{sample}/image",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.bytes().await.unwrap_or_default(), original);
    let csv = server
        .client
        .get(format!(
            "{}/api/attendance/subjects/{sid}/export.csv",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(csv.contains("2026-03-03"), "{csv}");
    server.kill9();
}
