//! Accounts, tokens and roles through the front door.

use base64::Engine;
use reqwest::StatusCode;
use rollcall::service::tokens::{Claims, Keys};
use serde_json::json;

use crate::support::{
    ADMIN_EMAIL, SECRET, body, expect_detail, spawn_app, spawn_app_with, token_of,
};

fn student(email: &str) -> serde_json::Value {
    json!({"role": "student", "name": "Asha R", "email": email, "password": "password123",
           "college_name": "ABC College", "branch": "cse", "roll": "21CS045", "year": "2", "is_verified": true})
}

#[tokio::test]
async fn register_verify_login_me_refresh_logout() {
    let app = spawn_app().await;

    let resp = app
        .post("/api/auth/register", &student("Asha@School.test"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let reg = body(resp).await;
    assert_eq!(reg["email"], "asha@school.test", "e-mail is normalised");
    assert_eq!(reg["role"], "student");
    assert_eq!(reg["college_name"], "ABC College");
    assert_eq!(
        reg["is_verified"], false,
        "is_verified in the body is ignored"
    );
    assert_eq!(reg["user_id"].as_str().map(str::len), Some(24));

    // Unverified: 403 with the wording the seed frontend's test looks for.
    let resp = app
        .post(
            "/auth/login",
            &json!({"email": "asha@school.test", "password": "password123"}),
            None,
        )
        .await;
    let detail = expect_detail(resp, StatusCode::FORBIDDEN).await;
    assert!(
        detail.to_lowercase().contains("verify your email"),
        "{detail}"
    );
    assert!(
        detail.contains("Open the link in the e-mail") && detail.contains("administrator"),
        "says what to do: {detail}"
    );

    // The verification link goes through the outbox.
    let mail = app.last_mail("email_verification", "asha@school.test");
    let token = mail
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link in {mail}"));
    let resp = app
        .get(&format!("/auth/verify-email?token={token}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let again = app
        .get(&format!("/api/auth/verify-email?token={token}"), None)
        .await;
    expect_detail(again, StatusCode::BAD_REQUEST).await;

    let login = app.login("ASHA@school.test", "password123").await;
    for key in [
        "user_id",
        "email",
        "role",
        "name",
        "college_name",
        "token",
        "access_token",
        "refresh_token",
    ] {
        assert!(
            login.get(key).is_some(),
            "login answer lacks {key}: {login}"
        );
    }
    assert_eq!(login["token"], login["access_token"]);
    assert_eq!(login["role"], "student");
    assert_eq!(login["expires_in"], 900);
    let access = token_of(&login);

    let me = body(app.get("/api/auth/me", Some(&access)).await).await;
    assert_eq!(me["user_id"], reg["user_id"]);
    assert_eq!(me["name"], "Asha R");
    assert_eq!(me["is_verified"], true);
    // Seed path alias answers the same.
    assert_eq!(body(app.get("/auth/me", Some(&access)).await).await, me);

    // Refresh rotates: a new pair, the old refresh token is spent.
    let first_refresh = login["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resp = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": first_refresh}),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated = body(resp).await;
    assert_ne!(rotated["refresh_token"], login["refresh_token"]);
    let access2 = token_of(&rotated);
    assert_eq!(
        app.get("/api/auth/me", Some(&access2)).await.status(),
        StatusCode::OK
    );

    // Logout ends the session: both access tokens and the refresh token stop working.
    let resp = app
        .post("/api/auth/logout", &json!({}), Some(&access2))
        .await;
    assert_eq!(body(resp).await["message"], "Logged out");
    for t in [&access, &access2] {
        let d = expect_detail(
            app.get("/api/auth/me", Some(t)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(d, "Invalid token");
    }
    let resp = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": rotated["refresh_token"]}),
            None,
        )
        .await;
    expect_detail(resp, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn replayed_refresh_token_revokes_the_session() {
    let app = spawn_app().await;
    let login = app
        .create_user("teacher", "t1@school.test", "teacher-pass-1")
        .await;
    let old = login["refresh_token"].clone();
    let rotated = body(
        app.post("/api/auth/refresh", &json!({"refresh_token": old}), None)
            .await,
    )
    .await;
    let fresh_access = token_of(&rotated);

    let detail = expect_detail(
        app.post("/api/auth/refresh", &json!({"refresh_token": old}), None)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(detail.contains("already used"), "{detail}");
    // The thief's replay also killed the legitimate holder's tokens: everyone logs in again.
    expect_detail(
        app.get("/api/auth/me", Some(&fresh_access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let resp = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": rotated["refresh_token"]}),
            None,
        )
        .await;
    expect_detail(resp, StatusCode::UNAUTHORIZED).await;
    expect_detail(
        app.post(
            "/api/auth/refresh",
            &json!({"refresh_token": "not-a-token"}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_user("student", "s1@school.test", "student-pass-1")
        .await;
    let wrong = app
        .post(
            "/api/auth/login",
            &json!({"email": "s1@school.test", "password": "nope-nope"}),
            None,
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/login",
            &json!({"email": "ghost@school.test", "password": "nope-nope"}),
            None,
        )
        .await;
    let not_email = app
        .post(
            "/api/auth/login",
            &json!({"email": "ghost", "password": "nope-nope"}),
            None,
        )
        .await;
    let a = expect_detail(wrong, StatusCode::UNAUTHORIZED).await;
    let b = expect_detail(unknown, StatusCode::UNAUTHORIZED).await;
    let c = expect_detail(not_email, StatusCode::UNAUTHORIZED).await;
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(a, "Invalid email or password");
}

fn claims_of(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&raw).expect("claims")
}

#[tokio::test]
async fn expired_tampered_foreign_and_missing_tokens_are_401() {
    let app = spawn_app().await;
    let login = app
        .create_user("student", "s2@school.test", "student-pass-2")
        .await;
    let token = token_of(&login);
    let claims = claims_of(&token);
    assert_eq!(claims.role, "student");
    assert_eq!(
        claims.user_id,
        login["user_id"].as_str().unwrap_or_default()
    );
    let keys = Keys::new(SECRET.as_bytes());
    let now = rollcall::storage::now_unix();

    // Same secret, same live session, but expired.
    let expired = keys
        .sign(&Claims {
            iat: now - 1000,
            exp: now - 1,
            ..claims.clone()
        })
        .unwrap();
    // A payload edited to claim admin, with the original signature.
    let mut forged = claims.clone();
    forged.role = "admin".into();
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&forged).unwrap_or_default());
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    // Signed with another secret.
    let foreign = Keys::new(b"another-secret-another-secret-0000")
        .sign(&claims)
        .unwrap_or_default();
    // Valid signature, but a session id that does not exist.
    let no_session = keys
        .sign(&Claims {
            sid: "made-up".into(),
            ..claims.clone()
        })
        .unwrap_or_default();

    for (name, t) in [
        ("expired", &expired),
        ("tampered", &tampered),
        ("foreign", &foreign),
        ("no session", &no_session),
        ("garbage", &"abc.def.ghi".to_owned()),
    ] {
        let resp = app.get("/api/auth/me", Some(t)).await;
        assert_eq!(
            resp.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{name}"
        );
        let d = expect_detail(resp, StatusCode::UNAUTHORIZED).await;
        assert_eq!(d, "Invalid token", "{name}");
    }
    let d = expect_detail(
        app.get("/api/auth/me", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(d, "Not authenticated");
    let basic = app
        .client
        .get(app.url("/api/auth/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await;
    let d = expect_detail(basic.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(d, "Not authenticated");
    // The original still works: none of the above hurt the real session.
    assert_eq!(
        app.get("/api/auth/me", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = spawn_app().await;
    let student = token_of(
        &app.create_user("student", "s3@school.test", "student-pass-3")
            .await,
    );
    let teacher = token_of(
        &app.create_user("teacher", "t3@school.test", "teacher-pass-3")
            .await,
    );
    let admin = app.admin_token().await;

    for (who, t) in [("student", &student), ("teacher", &teacher)] {
        let d = expect_detail(
            app.get("/api/admin/users", Some(t)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(d, "Administrator access required", "{who}");
    }
    let d = expect_detail(
        app.get("/api/settings", Some(&student)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(d, "Teacher access required");
    let d = expect_detail(
        app.get("/settings", Some(&admin)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(d, "Teacher access required");
    expect_detail(app.get("/settings", None).await, StatusCode::UNAUTHORIZED).await;

    let profile = body(app.get("/settings", Some(&teacher)).await).await;
    assert_eq!(profile["email"], "t3@school.test");
    assert_eq!(profile["role"], "teacher");
    assert_eq!(profile["settings"]["thresholds"]["warningVal"], 75);
    assert_eq!(profile["schedule"], json!({}));
    assert_eq!(profile["subjects"], json!([]));

    let users = body(app.get("/api/admin/users?role=teacher", Some(&admin)).await).await;
    let emails: Vec<&str> = users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["t3@school.test"]);
}

#[tokio::test]
async fn self_registration_never_grants_staff_rights_unless_allowed() {
    let app = spawn_app().await;
    let teacher = json!({"role": "teacher", "name": "T", "email": "t@school.test", "password": "password123",
                         "employee_id": "E1", "phone": "999"});
    let d = expect_detail(
        app.post("/api/auth/register", &teacher, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(d.contains("administrator"), "{d}");
    let admin =
        json!({"role": "admin", "name": "A", "email": "a@school.test", "password": "password123"});
    expect_detail(
        app.post("/api/auth/register", &admin, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let weird = json!({"role": "superuser", "name": "A", "email": "a@school.test", "password": "password123"});
    expect_detail(
        app.post("/api/auth/register", &weird, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let open = spawn_app_with(&[
        "--allow-teacher-signup",
        "true",
        "--require-email-verification",
        "false",
    ])
    .await;
    let no_phone = json!({"role": "teacher", "name": "T", "email": "t@school.test", "password": "password123", "employee_id": "E1"});
    let d = expect_detail(
        open.post("/auth/register", &no_phone, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Phone number required");
    assert_eq!(
        open.post("/auth/register", &teacher, None).await.status(),
        StatusCode::OK
    );
    let login = open.login("t@school.test", "password123").await;
    assert_eq!(login["role"], "teacher");
}

#[tokio::test]
async fn registration_validates_input() {
    let app = spawn_app().await;
    assert_eq!(
        app.post("/api/auth/register", &student("dup@school.test"), None)
            .await
            .status(),
        StatusCode::OK
    );
    let d = expect_detail(
        app.post("/api/auth/register", &student("DUP@school.test"), None)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Email already registered");
    // The seed allowed 6 characters; the detail its Register page shows says what is needed.
    let mut bad = student("x@school.test");
    bad["password"] = json!("abc123");
    let d = expect_detail(
        app.post("/auth/register", &bad, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(d, "Password must be at least 8 characters");
    let mut bad = student("not-an-email");
    bad["email"] = json!("not-an-email");
    expect_detail(
        app.post("/api/auth/register", &bad, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut bad = student("y@school.test");
    bad["name"] = json!("   ");
    expect_detail(
        app.post("/api/auth/register", &bad, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut bad = student("z@school.test");
    bad["name"] = json!("x".repeat(500));
    expect_detail(
        app.post("/api/auth/register", &bad, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn login_is_rate_limited_per_account_and_per_client() {
    let app = spawn_app_with(&["--login-max-failures", "3"]).await;
    app.create_user("student", "s4@school.test", "student-pass-4")
        .await;
    for _ in 0..3 {
        let r = app
            .post(
                "/api/auth/login",
                &json!({"email": "s4@school.test", "password": "wrong-wrong"}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password waits, and the answer says how long.
    let r = app
        .post(
            "/api/auth/login",
            &json!({"email": "s4@school.test", "password": "student-pass-4"}),
            None,
        )
        .await;
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("429 without Retry-After");
    assert!(retry > 0 && retry <= 900, "{retry}");
    expect_detail(r, StatusCode::TOO_MANY_REQUESTS).await;
    // Other accounts are unaffected.
    app.login(ADMIN_EMAIL, crate::support::ADMIN_PASSWORD).await;

    let app = spawn_app_with(&["--login-max-per-ip", "4"]).await;
    for i in 0..4 {
        let r = app
            .post(
                "/api/auth/login",
                &json!({"email": format!("u{i}@school.test"), "password": "wrong-wrong"}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post(
            "/api/auth/login",
            &json!({"email": "u9@school.test", "password": "wrong-wrong"}),
            None,
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    expect_detail(r, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn first_start_creates_an_admin_with_a_one_time_password() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "rollcall",
        "--data-dir",
        &dir.path().display().to_string(),
        "--admin-email",
        "boss@school.test",
        "--jwt-secret",
        SECRET,
    ];
    let settings = rollcall::config::Settings::try_from_args(args).unwrap();
    let app = rollcall::App::build(settings.clone()).await.unwrap();
    let (email, password) = app.bootstrap.admin.clone().expect("no admin created");
    assert_eq!(email, "boss@school.test");
    let password = password.expect("no generated password");
    assert_eq!(password.len(), 20);
    drop(app);
    // A second start on the same data dir creates nothing.
    let again = rollcall::App::build(settings).await.unwrap();
    assert!(again.bootstrap.admin.is_none());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(again.serve(listener, std::future::pending()));
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/login"))
        .json(&json!({"email": "boss@school.test", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await["role"], "admin");
}

/// The seed frontend's "Sign in with Google" sends the browser to `/auth/google`: a browser gets
/// a page saying Google sign-in is not available with a link back to the sign-in page, any
/// other client a JSON detail; the callback path answers the same.
#[tokio::test]
async fn google_sign_in_is_refused_in_words_a_browser_user_understands() {
    let app = spawn_app_with(&["--frontend-base-url", "http://localhost:5173/"]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in ["/auth/google", "/auth/google/callback", "/api/auth/google"] {
        let resp = client
            .get(app.url(path))
            .header("Accept", browser_accept)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED, "{path}");
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let page = resp.text().await.unwrap_or_default();
        assert!(page.contains("Google sign-in is not available"), "{page}");
        assert!(
            page.contains(r#"<a href="http://localhost:5173/login">Back to sign-in</a>"#),
            "{page}"
        );
        // Anything else (the API, scripts): JSON.
        let d = expect_detail(app.get(path, None).await, StatusCode::NOT_IMPLEMENTED).await;
        assert!(d.starts_with("Google sign-in is not supported"), "{d}");
        assert!(d.contains("e-mail address and password"), "{d}");
    }
    // Without a frontend configured the link goes to rollcall's own page.
    let own = spawn_app().await;
    let page = client
        .get(own.url("/auth/google"))
        .header("Accept", browser_accept)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    assert!(
        page.contains(r#"<a href="/app/">Back to sign-in</a>"#),
        "{page}"
    );
}
