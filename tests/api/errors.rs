//! Bad input gets a clear 4xx with `{"detail": string}`, never a 500.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{expect_detail, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_bodies_are_400_or_422_with_detail() {
    let app = spawn_app().await;
    let d = expect_detail(
        app.post_raw("/api/auth/login", "application/json", "{\"email\": ")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(!d.is_empty());
    let d = expect_detail(
        app.post("/api/auth/login", &json!({"email": "a@b.org"}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("password"), "names the missing field: {d}");
    expect_detail(
        app.post("/api/auth/login", &json!([1, 2]), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.post_raw("/api/auth/login", "text/plain", "hello").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    expect_detail(
        app.post_raw("/api/auth/login", "application/json", "")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_detail(
        app.get("/api/auth/verify-email", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    // Deeply nested JSON is refused without recursing into it (no stack overflow, no 500).
    let resp = app
        .post_raw("/api/auth/login", "application/json", deep.clone())
        .await;
    expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    let resp = app
        .post_raw("/api/auth/logout", "application/json", deep)
        .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

#[tokio::test]
async fn unknown_routes_methods_and_ids() {
    let app = spawn_app().await;
    let d = expect_detail(
        app.get("/api/nothing-here", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(d, "Not Found");
    let resp = app
        .client
        .delete(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_detail(resp, StatusCode::METHOD_NOT_ALLOWED).await,
        "Method Not Allowed"
    );

    let admin = app.admin_token().await;
    let d = expect_detail(
        app.post(
            "/api/admin/users/not-an-id/verify",
            &json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid user id format");
    let d = expect_detail(
        app.post(
            "/api/admin/users/0123456789abcdef01234567/verify",
            &json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(d, "User not found");
    let resp = app
        .post(
            "/api/admin/users/0123456789abcdef01234567/revoke-sessions",
            &json!({}),
            Some(&admin),
        )
        .await;
    expect_detail(resp, StatusCode::NOT_FOUND).await;
    let resp = app.get("/api/admin/users?limit=lots", Some(&admin)).await;
    expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app_with(&["--max-body-bytes", "4096"]).await;
    let big = json!({"email": "a@b.org", "password": "x".repeat(10_000)});
    let d = expect_detail(
        app.post("/api/auth/login", &big, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(d, "Request body too large");
    // Chunked upload without Content-Length is cut off as well.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..16).map(|_| Ok(vec![b' '; 1024])).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = app
        .post_raw("/api/auth/login", "application/json", stream)
        .await;
    expect_detail(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn overlong_password_is_refused_before_hashing() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/auth/login",
            &json!({"email": "a@b.org", "password": "x".repeat(5000)}),
            None,
        )
        .await;
    expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
}
