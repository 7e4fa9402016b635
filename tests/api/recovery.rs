//! Forgot-password with a one-time code: single use, attempt limits, sessions ended.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{body, expect_detail, otp_in, spawn_app, token_of, wrong};

#[tokio::test]
async fn reset_password_with_a_single_use_code() {
    let app = spawn_app().await;
    let before = app
        .create_user("student", "r1@school.test", "old-password-1")
        .await;
    let message = "If an account exists with this email, you will receive an OTP shortly.";

    let resp = app
        .post(
            "/auth/forgot-password",
            &json!({"email": "R1@school.test"}),
            None,
        )
        .await;
    assert_eq!(body(resp).await["message"], message);
    let unknown = app
        .post(
            "/auth/forgot-password",
            &json!({"email": "ghost@school.test"}),
            None,
        )
        .await;
    assert_eq!(
        body(unknown).await["message"],
        message,
        "no account enumeration"
    );
    expect_detail(
        app.post("/auth/forgot-password", &json!({"email": "nope"}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let otp = otp_in(&app.last_mail("password_reset", "r1@school.test"));
    let resp = app
        .post(
            "/auth/verify-otp",
            &json!({"email": "r1@school.test", "otp": otp}),
            None,
        )
        .await;
    assert_eq!(body(resp).await["message"], "OTP verified successfully.");
    expect_detail(
        app.post(
            "/auth/verify-otp",
            &json!({"email": "r1@school.test", "otp": "12ab56"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let reset = json!({"email": "r1@school.test", "otp": otp, "new_password": "new-password-1"});
    let resp = app.post("/api/auth/reset-password", &reset, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Single use.
    let d = expect_detail(
        app.post("/api/auth/reset-password", &reset, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid or expired OTP");
    // Old password dead, old sessions ended, new password works.
    let old = app
        .post(
            "/api/auth/login",
            &json!({"email": "r1@school.test", "password": "old-password-1"}),
            None,
        )
        .await;
    expect_detail(old, StatusCode::UNAUTHORIZED).await;
    expect_detail(
        app.get("/api/auth/me", Some(&token_of(&before))).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.login("r1@school.test", "new-password-1").await;
}

#[tokio::test]
async fn five_wrong_codes_burn_the_code_across_both_endpoints() {
    let app = spawn_app().await;
    app.create_user("student", "r2@school.test", "old-password-2")
        .await;
    app.post(
        "/auth/forgot-password",
        &json!({"email": "r2@school.test"}),
        None,
    )
    .await;
    let otp = otp_in(&app.last_mail("password_reset", "r2@school.test"));
    let bad = wrong(&otp);
    for i in 0..5 {
        let resp = if i % 2 == 0 {
            app.post(
                "/auth/verify-otp",
                &json!({"email": "r2@school.test", "otp": bad}),
                None,
            )
            .await
        } else {
            let body =
                json!({"email": "r2@school.test", "otp": bad, "new_password": "new-password-2"});
            app.post("/auth/reset-password", &body, None).await
        };
        expect_detail(resp, StatusCode::BAD_REQUEST).await;
    }
    let good = json!({"email": "r2@school.test", "otp": otp, "new_password": "new-password-2"});
    let d = expect_detail(
        app.post("/auth/reset-password", &good, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid or expired OTP");
    app.login("r2@school.test", "old-password-2").await;

    // A new request starts a fresh code with a fresh allowance.
    app.post(
        "/auth/forgot-password",
        &json!({"email": "r2@school.test"}),
        None,
    )
    .await;
    let otp = otp_in(&app.last_mail("password_reset", "r2@school.test"));
    let good = json!({"email": "r2@school.test", "otp": otp, "new_password": "new-password-2"});
    assert_eq!(
        app.post("/auth/reset-password", &good, None).await.status(),
        StatusCode::OK
    );
}
