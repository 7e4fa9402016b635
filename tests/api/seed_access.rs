//! The seed frontend (Smart Attendance's React app) against rollcall: its face upload asks for
//! consent and says where to give it; consent by the student, by staff, and from a list of
//! signed forms on the command line; photo links an `<img>` of another origin can load; a
//! login at the seed's path that lasts a school day but still ends at once when revoked.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::media::photo;
use crate::support::world::{subject, teacher};
use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, body, expect_detail, ok, otp_in, spawn_app_with,
    spawn_app_with_clock, token_of, user_id_of,
};
use rollcall::service::clock::ManualClock;

const PUBLIC: &str = "https://attendance.school.example";
const STUDENT_PASSWORD: &str = "student-pass-1";

/// Log in at the seed's own path, as its frontend does; the whole answer.
async fn seed_login(app: &TestApp, email: &str, password: &str) -> Value {
    let resp = app
        .post(
            "/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "seed login {email}");
    body(resp).await
}

/// A student account (created by the administrator) and its seed login answer.
async fn seed_student(app: &TestApp, email: &str) -> (String, String) {
    app.create_user("student", email, STUDENT_PASSWORD).await;
    let login = seed_login(app, email, STUDENT_PASSWORD).await;
    (token_of(&login), user_id_of(&login))
}

/// The seed frontend's face upload: multipart, one part named `file`.
async fn seed_upload(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.post_multipart(
        "/students/me/face-image",
        &[("file", Some(name), "image/jpeg", &photo(name))],
        Some(token),
    )
    .await
}

fn samples_of(app: &TestApp, student: &str) -> i64 {
    app.db()
        .query_row(
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            [student],
            |r| r.get(0),
        )
        .unwrap()
}

/// (actor, detail) of the `action` audit entries on `target`, oldest first.
fn audit(app: &TestApp, action: &str, target: &str) -> Vec<(Option<String>, String)> {
    let db = app.db();
    let mut stmt = db
        .prepare(
            "SELECT actor_id, detail FROM audit_log WHERE action = ?1 AND target = ?2 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([action, target], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The path and query of a link under [`PUBLIC`], to ask the test server for it.
fn local(url: &str) -> String {
    url.strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC}"))
        .to_owned()
}

#[tokio::test]
async fn the_seed_face_upload_asks_for_consent_and_works_once_the_student_agrees() {
    // A trailing `/` in the setting is not doubled in links.
    let base = format!("{PUBLIC}/");
    let app = spawn_app_with(&["--backend-base-url", base.as_str()]).await;
    let (token, id) = seed_student(&app, "asha@school.test").await;
    let (t, _) = teacher(&app, "t@school.test").await;
    let sid = subject(&app, &t, "MATH1", &[&id]).await;

    // Refused, saying where to go: the page's absolute address and the office.
    let d = expect_detail(
        seed_upload(&app, &token, "obama.jpg").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        d.contains(&format!(
            "open {PUBLIC}/app/#consent, sign in and record your consent"
        )) && d.contains("school office"),
        "{d}"
    );
    assert_eq!(samples_of(&app, &id), 0);
    assert_eq!(app.stored_images(), 0);
    // Staff uploading for the student are told where they record it.
    let d = expect_detail(
        app.post_multipart(
            "/api/students/upload-face",
            &[
                ("file", Some("obama.jpg"), "image/jpeg", &photo("obama.jpg")),
                ("student_id", None, "text/plain", id.as_bytes()),
            ],
            Some(&t),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        d.contains(&format!(
            "record it on the student's page in {PUBLIC}/app/ or with POST /api/students/{id}/consent"
        )),
        "{d}"
    );

    // The page's step: the notice, then the student's own consent, audited with its hash.
    let notice = ok(app.get("/api/students/consent-notice", Some(&token)).await).await;
    let text = notice["notice"].as_str().unwrap_or_default();
    assert!(text.contains("consent"), "{notice}");
    assert_eq!(notice["notice_sha256"], sha256_hex(text));
    assert_eq!(notice["student_self_consent"], true);
    let given = ok(app
        .post(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&token),
        )
        .await)
    .await;
    assert!(given["consent_at"].is_string(), "{given}");
    assert_eq!(
        audit(&app, "student.consent", &id),
        vec![(
            Some(id.clone()),
            format!("given; notice sha256={}", sha256_hex(text))
        )]
    );

    // The same seed request now enrols the face; the profile and the roster show it.
    let up = ok(seed_upload(&app, &token, "obama.jpg").await).await;
    let url = up["image_url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with(&format!("{PUBLIC}/api/students/{id}/faces/")) && url.contains("&sig="),
        "{up}"
    );
    assert_eq!(samples_of(&app, &id), 1);
    let profile = ok(app.get("/students/me/profile", Some(&token)).await).await;
    let image = profile["image_url"].as_str().unwrap_or_default();
    assert!(image.starts_with(PUBLIC), "{profile}");
    let resp = app.get(&local(image), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&t),
        )
        .await)
    .await;
    assert!(
        roster[0]["avatar"]
            .as_str()
            .is_some_and(|a| a.starts_with(&format!("{PUBLIC}/api/students/{id}/faces/"))),
        "{roster}"
    );
}

#[tokio::test]
async fn photo_links_load_without_a_token_only_for_their_photo_and_not_for_long() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with_clock(&["--backend-base-url", PUBLIC], Arc::new(clock.clone())).await;
    let (token, id) = seed_student(&app, "asha@school.test").await;
    let teacher_login = app
        .create_user("teacher", "t@school.test", "teacher-pass-1")
        .await;
    let t = token_of(&seed_login(&app, "t@school.test", "teacher-pass-1").await);
    let t_id = user_id_of(&teacher_login);
    let sid = subject(&app, &t, "MATH1", &[&id]).await;
    ok(app
        .post(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&token),
        )
        .await)
    .await;
    ok(seed_upload(&app, &token, "obama.jpg").await).await;
    ok(seed_upload(&app, &token, "obama2.jpg").await).await;
    let samples = ok(app
        .get(&format!("/api/students/{id}/faces"), Some(&t))
        .await)
    .await;
    let ids: Vec<&str> = samples
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 2, "{samples}");

    // The roster's link (the newest photo) loads in an <img>: no Authorization header.
    let roster = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(&t),
        )
        .await)
    .await;
    let link = local(roster[0]["avatar"].as_str().unwrap_or_default());
    let views_before = audit(&app, "face.view", &id).len();
    let resp = app.get(&link, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("image/"))
    );
    assert!(!resp.bytes().await.unwrap_or_default().is_empty());
    let views = audit(&app, "face.view", &id);
    assert_eq!(views.len(), views_before + 1);
    assert_eq!(views.last().and_then(|v| v.0.clone()), Some(t_id.clone()));

    // The signature is for that photo, that viewer and that expiry only.
    let (path, query) = link.split_once('?').unwrap_or_default();
    let shown = path.split('/').nth(5).unwrap_or_default();
    let other = ids
        .iter()
        .find(|s| **s != shown)
        .copied()
        .unwrap_or_default();
    for (what, tampered) in [
        (
            "other photo",
            format!("{}?{query}", path.replace(shown, other)),
        ),
        (
            "other viewer",
            link.replace(&format!("by={t_id}"), &format!("by={id}")),
        ),
        ("later expiry", {
            let exp: i64 = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("exp="))
                .and_then(|v| v.parse().ok())
                .unwrap_or_default();
            link.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600))
        }),
        ("forged signature", {
            let sig = query.rsplit("sig=").next().unwrap_or_default();
            let forged: String = sig.chars().rev().collect();
            link.replace(sig, &forged)
        }),
    ] {
        let d = expect_detail(app.get(&tampered, None).await, StatusCode::FORBIDDEN).await;
        assert_eq!(d, "Invalid image link", "{what}");
    }
    // Without a token or a link: 401, as before.
    expect_detail(app.get(path, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(audit(&app, "face.view", &id).len(), views_before + 1);

    // Ten minutes later (the default) the link has expired.
    clock.advance(10 * 60 + 1);
    let d = expect_detail(app.get(&link, None).await, StatusCode::UNAUTHORIZED).await;
    assert!(d.contains("expired"), "{d}");
    // A teacher who no longer teaches the student cannot use a link signed for them.
    let fresh = local(
        ok(app
            .get(
                &format!("/settings/teachers/subjects/{sid}/students"),
                Some(&t),
            )
            .await)
        .await[0]["avatar"]
            .as_str()
            .unwrap_or_default(),
    );
    ok(app
        .delete(
            &format!("/settings/teachers/subjects/{sid}/students/{id}"),
            Some(&t),
        )
        .await)
    .await;
    expect_detail(app.get(&fresh, None).await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn without_self_consent_only_staff_record_it_and_the_student_is_sent_to_the_office() {
    let app = spawn_app_with(&[
        "--backend-base-url",
        PUBLIC,
        "--student-self-consent",
        "false",
    ])
    .await;
    let (token, id) = seed_student(&app, "minor@school.test").await;
    let (t, t_id) = teacher(&app, "t@school.test").await;
    subject(&app, &t, "MATH1", &[&id]).await;

    let d = expect_detail(
        seed_upload(&app, &token, "obama.jpg").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("school office") && d.contains("guardian"), "{d}");
    assert!(!d.contains("#consent"), "{d}");
    let d = expect_detail(
        app.post(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        d.contains("school office records your parent's or guardian's signed consent form"),
        "{d}"
    );
    let notice = ok(app.get("/api/students/consent-notice", Some(&token)).await).await;
    assert_eq!(notice["student_self_consent"], false);
    assert!(audit(&app, "student.consent", &id).is_empty());

    // The teacher records the guardian's form; the student's upload then works.
    let given = ok(app
        .post(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(given["consent_by"], t_id.as_str());
    ok(seed_upload(&app, &token, "obama.jpg").await).await;
    assert_eq!(samples_of(&app, &id), 1);
}

async fn rollcall(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        crate::support::backend::rollcall_command(&args)
            .env_remove("ROLLCALL_CONSENT_NOTICE")
            .output()
            .expect("running rollcall")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn consent_from_a_list_of_signed_forms_on_the_command_line() {
    let app = spawn_app_with(&[]).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for (name, email, roll) in [
        ("Asha R", "asha@school.test", "21CS001"),
        ("Ben K", "ben@school.test", "21CS002"),
        ("Cleo M", "cleo@school.test", "21CS003"),
    ] {
        let s = ok(app
            .post(
                "/api/students",
                &json!({"name": name, "email": email, "roll": roll}),
                Some(&admin),
            )
            .await)
        .await;
        ids.push(s["id"].as_str().unwrap_or_default().to_owned());
    }
    // Cleo's consent is already recorded.
    ok(app
        .post(
            &format!("/api/students/{}/consent", ids[2]),
            &Value::Null,
            Some(&admin),
        )
        .await)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("signed-forms.txt");
    std::fs::write(
        &list,
        "# signed forms, term 1\nasha@school.test\n\n  21cs002  \ncleo@school.test\nnobody@school.test\n",
    )
    .unwrap();
    let data_dir = app.data_dir.path().display().to_string();
    let run = |flag: &str| {
        rollcall(vec![
            "consent".into(),
            flag.into(),
            list.display().to_string(),
            "--data-dir".into(),
            data_dir.clone(),
        ])
    };
    let out = run("--record").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "an unknown line fails the run: {stdout}"
    );
    assert!(
        stdout.contains("recorded: 2\nalready recorded: 1\nunknown: 1\n")
            && stdout.contains("line 6: no student with e-mail nobody@school.test"),
        "{stdout}"
    );
    let expected = format!(
        "given; notice sha256={}; via cli",
        sha256_hex(rollcall::config::DEFAULT_CONSENT_NOTICE)
    );
    for id in &ids[..2] {
        assert_eq!(
            audit(&app, "student.consent", id),
            vec![(None, expected.clone())]
        );
        let s = ok(app.get(&format!("/api/students/{id}"), Some(&admin)).await).await;
        assert!(s["consent_at"].is_string(), "{s}");
    }
    assert_eq!(
        audit(&app, "student.consent", &ids[2]).len(),
        1,
        "left alone"
    );

    // Withdrawing from a list goes through the same path.
    std::fs::write(&list, "asha@school.test\n").unwrap();
    let out = run("--withdraw").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("withdrawn: 1\n"), "{stdout}");
    let s = ok(app
        .get(&format!("/api/students/{}", ids[0]), Some(&admin))
        .await)
    .await;
    assert!(s["consent_at"].is_null(), "{s}");
    assert_eq!(
        audit(&app, "student.consent", &ids[0])
            .last()
            .map(|a| a.1.clone()),
        Some("withdrawn, 0 face samples deleted; via cli".into())
    );
}

#[tokio::test]
async fn a_seed_login_lasts_a_school_day_and_still_ends_at_once_when_revoked() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with_clock(&[], Arc::new(clock.clone())).await;
    let teacher_login = app
        .create_user("teacher", "t@school.test", "teacher-pass-1")
        .await;
    let api_token = token_of(&teacher_login);
    let seed = seed_login(&app, "t@school.test", "teacher-pass-1").await;
    assert_eq!(seed["expires_in"], 12 * 3600);
    assert_eq!(
        teacher_login["expires_in"], 900,
        "rollcall's own login stays short"
    );
    let t = token_of(&seed);

    // Past 15 minutes the seed token still works; rollcall's own needs its refresh.
    clock.advance(16 * 60);
    ok(app.get("/settings", Some(&t)).await).await;
    expect_detail(
        app.get("/settings", Some(&api_token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    clock.advance(11 * 3600);
    ok(app.get("/settings", Some(&t)).await).await;
    clock.advance(3600);
    expect_detail(
        app.get("/settings", Some(&t)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Logout ends it at once.
    let t = token_of(&seed_login(&app, "t@school.test", "teacher-pass-1").await);
    ok(app.post("/auth/logout", &json!({}), Some(&t)).await).await;
    expect_detail(
        app.get("/settings", Some(&t)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A role change bites on the next request: the role is read from the account, not the token.
    let t = token_of(&seed_login(&app, "t@school.test", "teacher-pass-1").await);
    let t_id = user_id_of(&teacher_login);
    app.db()
        .execute("UPDATE users SET role = 'student' WHERE id = ?1", [&t_id])
        .unwrap();
    let d = expect_detail(app.get("/settings", Some(&t)).await, StatusCode::FORBIDDEN).await;
    assert_eq!(d, "Teacher access required");

    // A password reset ends every session.
    let (s, _) = seed_student(&app, "asha@school.test").await;
    ok(app.get("/students/me/profile", Some(&s)).await).await;
    ok(app
        .post(
            "/auth/forgot-password",
            &json!({"email": "asha@school.test"}),
            None,
        )
        .await)
    .await;
    let otp = otp_in(&app.last_mail("password_reset", "asha@school.test"));
    ok(app
        .post(
            "/auth/reset-password",
            &json!({"email": "asha@school.test", "otp": otp, "new_password": "a-new-password-2"}),
            None,
        )
        .await)
    .await;
    expect_detail(
        app.get("/students/me/profile", Some(&s)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // So does deleting the account, and an administrator's revocation.
    let s = token_of(&seed_login(&app, "asha@school.test", "a-new-password-2").await);
    let (b, b_id) = seed_student(&app, "ben@school.test").await;
    let admin = token_of(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    ok(app
        .post(
            &format!("/api/admin/users/{b_id}/revoke-sessions"),
            &json!({}),
            Some(&admin),
        )
        .await)
    .await;
    expect_detail(
        app.get("/students/me/profile", Some(&b)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let asha = user_id_of(&seed_login(&app, "asha@school.test", "a-new-password-2").await);
    ok(app
        .delete(&format!("/api/students/{asha}"), Some(&admin))
        .await)
    .await;
    expect_detail(
        app.get("/students/me/profile", Some(&s)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
