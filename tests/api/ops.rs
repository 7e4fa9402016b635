//! Health, metrics, CORS, request ids, and the offline API docs.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{body, expect_detail, spawn_app, spawn_app_with, token_of};

#[tokio::test]
async fn health_endpoints() {
    let app = spawn_app_with(&["--metrics-token", "monitor-token"]).await;
    let root = body(app.get("/", None).await).await;
    assert_eq!(root["service"], "rollcall");
    let h = body(app.get("/health", None).await).await;
    assert_eq!(h["status"], "healthy");
    assert!(h["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    // The detailed view names paths and free disk: administrators and the monitor's token only.
    expect_detail(
        app.get("/health/detailed", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_detail(
        app.get("/health/detailed", Some("wrong-token")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for role in ["student", "teacher"] {
        let login = app
            .create_user(role, &format!("{role}-h@school.test"), "health-pass-1")
            .await;
        expect_detail(
            app.get("/health/detailed", Some(&token_of(&login))).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/health/detailed", Some(&admin)).await.status(),
        StatusCode::OK
    );
    let resp = app.get("/health/detailed", Some("monitor-token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let d = body(resp).await;
    assert_eq!(d["status"], "healthy");
    assert_eq!(d["checks"]["database"]["healthy"], true);
    assert_eq!(d["checks"]["database"]["detail"]["schema_version"], 14);
    assert_eq!(d["checks"]["storage"]["healthy"], true);

    // Demand more free disk than any machine has: unhealthy, 503, same body shape.
    let starved = spawn_app_with(&["--min-free-disk-mb", "999999999"]).await;
    let admin = starved.admin_token().await;
    let resp = starved.get("/health/detailed", Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let d = body(resp).await;
    assert_eq!(d["status"], "unhealthy");
    assert_eq!(d["checks"]["storage"]["healthy"], false);
}

#[tokio::test]
async fn metrics_need_an_admin_or_the_scrape_token() {
    let app = spawn_app_with(&["--metrics-token", "scrape-me"]).await;
    app.get("/health", None).await;
    expect_detail(app.get("/metrics", None).await, StatusCode::UNAUTHORIZED).await;
    let student = token_of(
        &app.create_user("student", "m@school.test", "student-pass-m")
            .await,
    );
    expect_detail(
        app.get("/metrics", Some(&student)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_detail(
        app.get("/metrics", Some("wrong-token")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let text = app
        .get("/metrics", Some("scrape-me"))
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.contains(
            r#"rollcall_http_requests_total{method="GET",route="/health",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("rollcall_http_request_duration_seconds_bucket"));
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/metrics", Some(&admin)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn cors_echoes_configured_origins_only() {
    let app = spawn_app_with(&[
        "--cors-origins",
        "http://localhost:5173,https://school.example",
    ])
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    let h = ok.headers();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"http://localhost:5173"[..])
    );
    assert_eq!(
        h.get("access-control-allow-credentials")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    // Error answers carry CORS headers too, so browsers can read the detail.
    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", "https://school.example")
        .json(&json!({"email": "x@y.org", "password": "wrong-wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://school.example"[..])
    );
    expect_detail(resp, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/health"))
        .header("x-correlation-id", "abc-123")
        .send()
        .await;
    let resp = resp.unwrap();
    assert_eq!(
        resp.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"abc-123"[..])
    );
    assert_eq!(
        resp.headers().get("x-correlation-id").map(|v| v.as_bytes()),
        Some(&b"abc-123"[..])
    );
    assert!(resp.headers().contains_key("x-process-time"));
    let fresh = app.get("/nope", None).await;
    let id = fresh
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test]
async fn openapi_and_offline_docs() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/admin/users",
        "/health/detailed",
        "/api/settings",
        "/api/settings/upload-avatar",
        "/api/subjects",
        "/api/subjects/{id}",
        "/api/subjects/{id}/students",
        "/api/subjects/{id}/students/{student_id}",
        "/api/students",
        "/api/students/upload-face",
        "/api/students/{id}",
        "/api/students/{id}/consent",
        "/api/students/{id}/faces",
        "/api/students/{id}/faces/{sample_id}",
        "/api/students/{id}/faces/{sample_id}/image",
        "/settings/add-subject",
        "/settings/teachers/me/subjects",
        "/settings/teachers/students",
        "/settings/teachers/subjects/{subject_id}/students",
        "/settings/teachers/subjects/{subject_id}/students/{student_id}",
        "/settings/teachers/subjects/{subject_id}/students/{student_id}/verify",
        "/students/me/profile",
        "/students/me/face-image",
        "/students/me/subjects",
        "/students/me/available-subjects",
        "/students/me/remove-subject/{subject_id}",
        "/students/{user_id}/profile",
        "/api/attendance/mark",
        "/api/attendance/confirm",
        "/api/attendance/me",
        "/api/attendance/subjects/{id}/export.csv",
        "/api/attendance/sessions/{id}/export.csv",
        "/api/attendance/sessions/{id}/records/{student_id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Each page loads only same-origin assets, and those assets are served.
    for (page, marker) in [("/docs", "swagger-ui-bundle.js"), ("/redoc", "<redoc")] {
        let resp = app.get(page, None).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{page}: run scripts/setup to fetch the docs assets"
        );
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.starts_with("default-src 'self'") && csp.contains("connect-src 'self'"),
            "{page}: {csp}"
        );
        let html = resp.text().await.unwrap_or_default();
        assert!(html.contains(marker));
        // No inline script (the CSP would block it); ReDoc 3's bundle is an ES module.
        assert!(!html.contains("<script>"), "{page} has an inline script");
        if page == "/redoc" {
            assert!(
                html.contains(r#"<script type="module" src="/redoc/assets/redoc.standalone.js">"#)
            );
            assert!(html.contains(r#"disable-telemetry="true""#));
        }
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page} must not reference another host"
        );
        let assets: Vec<&str> = html
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') && (s.ends_with(".js") || s.ends_with(".css")))
            .collect();
        assert!(!assets.is_empty(), "{page} loads no assets?");
        for asset in assets {
            let resp = app.get(asset, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{asset}");
            let len = resp.bytes().await.map(|b| b.len()).unwrap_or(0);
            let min = if asset.ends_with("init.js") {
                50
            } else {
                10_000
            };
            assert!(len > min, "{asset} is only {len} bytes");
        }
    }
}

#[tokio::test]
async fn backup_is_a_consistent_copy_taken_while_serving() {
    if crate::support::backend::skip_on_postgres("VACUUM INTO copies a SQLite file") {
        return;
    }
    let app = spawn_app().await;
    app.create_user("teacher", "b@school.test", "teacher-pass-b")
        .await;
    let out = app.data_dir.path().join("backup.sqlite3");
    let db =
        rollcall::storage::Db::open(&app.data_dir.path().join(rollcall::config::DATABASE_FILE))
            .unwrap();
    db.backup(&out).unwrap();
    assert!(
        db.backup(&out).is_err(),
        "an existing file is never overwritten"
    );
    let copy = rusqlite::Connection::open(&out).unwrap();
    let n: i64 = copy
        .query_row(
            "SELECT COUNT(*) FROM users WHERE email = 'b@school.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// `--demo` (what `scripts/start` uses) gives the demo teacher a class with the demo student, so
/// the web page has something to show on first start.
#[tokio::test]
async fn demo_accounts_come_with_a_class() {
    let app = spawn_app_with(&["--demo"]).await;
    let teacher = token_of(
        &app.login("teacher@demo.rollcall.local", "rollcall-demo")
            .await,
    );
    let subjects = body(app.get("/api/subjects", Some(&teacher)).await).await;
    assert_eq!(subjects[0]["code"], "DEMO-101", "{subjects}");
    assert_eq!(subjects[0]["student_count"], 1, "{subjects}");
    let student = token_of(
        &app.login("student@demo.rollcall.local", "rollcall-demo")
            .await,
    );
    let mine = body(app.get("/api/subjects", Some(&student)).await).await;
    assert_eq!(mine[0]["code"], "DEMO-101", "{mine}");
    assert_eq!(mine[0]["verified"], true, "{mine}");
}

#[tokio::test]
async fn every_answer_says_nosniff_and_photos_of_people_are_never_cached() {
    use crate::support::media::{data_url, photo};
    use crate::support::world::{enrol_faces, student, subject, teacher};

    let app = spawn_app().await;
    let (t1, _) = teacher(&app, "t-headers@school.test").await;
    let (_, s1) = student(&app, "s-headers@school.test").await;
    let sid = subject(&app, &t1, "HDR1", &[&s1]).await;
    assert_eq!(enrol_faces(&app, &t1, &s1, &[photo("obama.jpg")]).await, 1);
    let faces = body(
        app.get(&format!("/api/students/{s1}/faces"), Some(&t1))
            .await,
    )
    .await;
    let sample = faces[0]["id"].as_str().unwrap_or_default().to_owned();
    let marked = body(
        app.post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid, "save": true}),
            Some(&t1),
        )
        .await,
    )
    .await;
    let draft = marked["draft"]["draft_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no draft: {marked}"))
        .to_owned();
    let boundary = "hdr-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"me.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&photo("obama.jpg"));
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let avatar = body(
        app.client
            .post(app.url("/api/settings/upload-avatar"))
            .bearer_auth(&t1)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let avatar_path = avatar["avatarUrl"]
        .as_str()
        .and_then(|u| u.find("/avatars/").map(|i| u[i..].to_owned()))
        .unwrap_or_else(|| panic!("no avatar URL: {avatar}"));

    // (method, path, token, expected status, photo or export of a person)
    let t1 = Some(t1.as_str());
    let cases: Vec<(&str, String, Option<&str>, u16, bool)> = vec![
        ("GET", "/health".into(), None, 200, false),
        ("GET", "/".into(), None, 200, false),
        ("GET", "/api/auth/me".into(), None, 401, false),
        ("GET", "/api/auth/me".into(), t1, 200, false),
        ("GET", "/no/such/route".into(), None, 404, false),
        ("DELETE", "/health".into(), None, 405, false),
        ("GET", "/app/".into(), None, 200, false),
        ("GET", "/app/app.js".into(), None, 200, false),
        ("GET", "/openapi.json".into(), None, 200, false),
        ("GET", "/docs".into(), None, 200, false),
        (
            "GET",
            "/docs/assets/swagger-ui.css".into(),
            None,
            200,
            false,
        ),
        ("GET", "/avatars/missing.jpg".into(), None, 404, false),
        ("GET", avatar_path, None, 200, true),
        (
            "GET",
            format!("/api/students/{s1}/faces/{sample}/image"),
            t1,
            200,
            true,
        ),
        (
            "GET",
            format!("/api/attendance/drafts/{draft}/photos/1"),
            t1,
            200,
            true,
        ),
        (
            "GET",
            format!("/api/attendance/subjects/{sid}/export.csv"),
            t1,
            200,
            true,
        ),
    ];
    for (method, path, token, status, personal) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = app.client.request(method.clone(), app.url(&path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            header("x-content-type-options"),
            "nosniff",
            "{method} {path}"
        );
        if personal {
            assert_eq!(header("cache-control"), "no-store", "{method} {path}");
        }
    }
    // A CORS preflight is answered before any route, and says it too.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/me"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
}
