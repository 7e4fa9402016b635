//! Invitations instead of passwords: an account the office creates without a password gets a
//! single-use link by mail; the link greets, sets the password once and signs in; it runs out
//! after `ROLLCALL_INVITATION_DAYS`; a resend replaces it.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use rollcall::service::clock::ManualClock;

use crate::support::{TestApp, body, expect_detail, ok, spawn_app_with_clock, token_of};

const DAY: i64 = 24 * 3600;

async fn clocked(extra: &[&str]) -> (TestApp, ManualClock) {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with_clock(extra, Arc::new(clock.clone())).await;
    (app, clock)
}

/// Create an account without a password; the admin answer.
async fn invite(app: &TestApp, admin: &str, role: &str, email: &str, name: &str) -> Value {
    ok(app
        .post(
            "/api/admin/users",
            &json!({"role": role, "email": email, "name": name}),
            Some(admin),
        )
        .await)
    .await
}

/// The token in the newest invitation mail to `email`, read the way an office without a relay
/// reads it: through the outbox API.
async fn token_in_outbox(app: &TestApp, admin: &str, email: &str) -> String {
    let list = ok(app
        .get("/api/admin/outbox?status=pending&limit=500", Some(admin))
        .await)
    .await;
    let id = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "invitation" && m["recipient"] == email)
        .unwrap_or_else(|| panic!("no invitation mail to {email} in {list}"))["id"]
        .as_i64()
        .unwrap();
    let m = ok(app
        .get(&format!("/api/admin/outbox/{id}"), Some(admin))
        .await)
    .await;
    let text = m["body_text"].as_str().unwrap();
    assert!(
        m["body_html"]
            .as_str()
            .unwrap()
            .contains("/app/#/invitation/"),
        "{m}"
    );
    token_in(text)
}

/// The token of the link `{base}/app/#/invitation/{token}` in a mail's text.
pub(crate) fn token_in(text: &str) -> String {
    let at = text
        .find("/app/#/invitation/")
        .unwrap_or_else(|| panic!("no invitation link in {text}"));
    text[at + "/app/#/invitation/".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn accept(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/auth/accept-invitation",
        &json!({"token": token, "password": password}),
        None,
    )
    .await
}

async fn greeting(app: &TestApp, token: &str) -> reqwest::Response {
    app.get(
        &format!("/api/auth/invitation?token={}", urlencode(token)),
        None,
    )
    .await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.post(
        "/api/auth/login",
        &json!({"email": email, "password": password}),
        None,
    )
    .await
    .status()
}

async fn account(app: &TestApp, admin: &str, id: &str) -> Value {
    ok(app
        .get(&format!("/api/admin/users/{id}"), Some(admin))
        .await)
    .await
}

#[tokio::test]
async fn invitation_end_to_end_sets_the_password_once_and_signs_in() {
    let (app, _clock) = clocked(&["--backend-base-url", "https://rollcall.school.test/"]).await;
    let admin = app.admin_token().await;
    let created = invite(&app, &admin, "teacher", "ana@school.test", "Ana Rivera").await;
    assert_eq!(created["invitation"], "pending", "{created}");
    assert_eq!(created["has_password"], false);
    assert_eq!(created["invitations_sent"], 1);
    assert!(
        created.get("password").is_none(),
        "no password is generated"
    );
    let id = created["user_id"].as_str().unwrap().to_owned();
    let (sent, expires) = (
        created["invited_at"].as_str().unwrap(),
        created["invitation_expires_at"].as_str().unwrap(),
    );
    let days = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .unwrap()
        - time::OffsetDateTime::parse(sent, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(
        days.whole_days(),
        7,
        "ROLLCALL_INVITATION_DAYS defaults to 7"
    );

    // Before acceptance no password logs in, the placeholder included: 401, never a 500.
    for pw in ["teacher-pass-1", "!no-password:invited", ""] {
        assert_eq!(
            login_status(&app, "ana@school.test", pw).await,
            StatusCode::UNAUTHORIZED,
            "{pw:?}"
        );
    }

    let mail = app.last_mail("invitation", "ana@school.test");
    assert!(
        mail.contains("https://rollcall.school.test/app/#/invitation/"),
        "{mail}"
    );
    let token = token_in_outbox(&app, &admin, "ana@school.test").await;
    assert_eq!(token, token_in(&mail));

    let hello = ok(greeting(&app, &token).await).await;
    assert_eq!(hello["name"], "Ana Rivera");
    assert_eq!(hello["email"], "ana@school.test");
    assert_eq!(hello["role"], "teacher");
    assert_eq!(hello["expires_at"], expires);

    // A password outside the policy is refused and the link stays usable.
    expect_detail(
        accept(&app, &token, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let grant = ok(accept(&app, &token, "ana-chose-this-1").await).await;
    assert_eq!(grant["role"], "teacher");
    assert_eq!(grant["user_id"], id.as_str());
    assert!(grant["refresh_token"].is_string());
    let me = ok(app.get("/api/auth/me", Some(&token_of(&grant))).await).await;
    assert_eq!(me["email"], "ana@school.test");
    assert_eq!(me["is_verified"], true);

    // Single use: the same answer as an unknown token, so tokens cannot be probed.
    let used = expect_detail(
        accept(&app, &token, "another-pass-1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let unknown = expect_detail(
        accept(
            &app,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "another-pass-1",
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(used, unknown);
    assert!(
        used.contains("not valid or has already been used"),
        "{used}"
    );
    expect_detail(greeting(&app, &token).await, StatusCode::BAD_REQUEST).await;
    expect_detail(greeting(&app, "").await, StatusCode::BAD_REQUEST).await;

    assert_eq!(
        login_status(&app, "ana@school.test", "another-pass-1").await,
        StatusCode::UNAUTHORIZED
    );
    app.login("ana@school.test", "ana-chose-this-1").await;
    let after = account(&app, &admin, &id).await;
    assert_eq!(after["invitation"], "accepted");
    assert_eq!(after["has_password"], true);
    assert!(after["invitation_accepted_at"].is_string());
    // Accepted: nothing left to invite.
    expect_detail(
        app.post(
            &format!("/api/admin/users/{id}/invite"),
            &json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    // Audited: the creation, the mail, the acceptance.
    let audit = ok(app
        .get(&format!("/api/admin/audit?target={id}"), Some(&admin))
        .await)
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["admin.create_user", "invitation.send", "invitation.accept"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    // A password given at creation works as before: no invitation.
    let with = ok(app
        .post(
            "/api/admin/users",
            &json!({"role": "teacher", "email": "bo@school.test", "name": "Bo", "password": "bo-password-1"}),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(with["invitation"], "none");
    assert_eq!(with["has_password"], true);
    app.login("bo@school.test", "bo-password-1").await;
    expect_detail(
        app.post(
            &format!(
                "/api/admin/users/{}/invite",
                with["user_id"].as_str().unwrap()
            ),
            &json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn an_expired_link_is_refused_and_a_resend_replaces_the_old_link() {
    let (app, clock) = clocked(&["--invitation-days", "2"]).await;
    let admin = app.admin_token().await;
    let created = invite(&app, &admin, "student", "sam@school.test", "Sam").await;
    let id = created["user_id"].as_str().unwrap().to_owned();
    let first = token_in(&app.last_mail("invitation", "sam@school.test"));
    assert!(
        app.last_mail("invitation", "sam@school.test")
            .contains("within 2 days")
    );

    // Resent before it ran out: the first link stops working at once.
    let resent = ok(app
        .post(
            &format!("/api/admin/users/{id}/invite"),
            &json!({}),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(resent["invitation"], "pending");
    assert_eq!(resent["invitations_sent"], 2);
    let second = token_in(&app.last_mail("invitation", "sam@school.test"));
    assert_ne!(first, second);
    expect_detail(greeting(&app, &first).await, StatusCode::BAD_REQUEST).await;
    expect_detail(
        accept(&app, &first, "sam-password-1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Two days later the second one has run out too.
    clock.advance(2 * DAY + 1);
    // (The office's access token ran out meanwhile as well.)
    let admin = app.admin_token().await;
    let expired = expect_detail(greeting(&app, &second).await, StatusCode::BAD_REQUEST).await;
    assert!(expired.contains("expired"), "{expired}");
    let refused = expect_detail(
        accept(&app, &second, "sam-password-1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(refused.contains("expired"), "{refused}");
    assert_eq!(account(&app, &admin, &id).await["invitation"], "expired");
    let listed = ok(app.get("/api/admin/users?q=sam@", Some(&admin)).await).await;
    assert_eq!(listed["users"][0]["invitation"], "expired", "{listed}");
    assert_eq!(
        login_status(&app, "sam@school.test", "sam-password-1").await,
        StatusCode::UNAUTHORIZED
    );

    // A new link, valid from now.
    ok(app
        .post(
            &format!("/api/admin/users/{id}/invite"),
            &json!({}),
            Some(&admin),
        )
        .await)
    .await;
    let third = token_in(&app.last_mail("invitation", "sam@school.test"));
    expect_detail(
        accept(&app, &second, "sam-password-1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let grant = ok(accept(&app, &third, "sam-password-1").await).await;
    assert_eq!(grant["role"], "student");
    app.login("sam@school.test", "sam-password-1").await;
    // Unknown accounts: 404; bad ids: 400.
    expect_detail(
        app.post(
            "/api/admin/users/aaaaaaaaaaaaaaaaaaaaaaaa/invite",
            &json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_detail(
        app.post("/api/admin/users/nope/invite", &json!({}), Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_accepts_of_one_link_at_once_exactly_one_wins() {
    let (app, _clock) = clocked(&[]).await;
    let admin = app.admin_token().await;
    invite(&app, &admin, "teacher", "twin@school.test", "Twin").await;
    let token = token_in(&app.last_mail("invitation", "twin@school.test"));
    let (a, b) = tokio::join!(
        accept(&app, &token, "first-password-1"),
        accept(&app, &token, "second-password-2")
    );
    let statuses = [a.status(), b.status()];
    let (ba, bb) = (body(a).await, body(b).await);
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::BAD_REQUEST),
        "{statuses:?}: {ba} {bb}"
    );
    let winner = if statuses[0] == StatusCode::OK {
        "first-password-1"
    } else {
        "second-password-2"
    };
    let loser = if winner == "first-password-1" {
        "second-password-2"
    } else {
        "first-password-1"
    };
    app.login("twin@school.test", winner).await;
    assert_eq!(
        login_status(&app, "twin@school.test", loser).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Reading and accepting links count against the client address's own allowance, apart from
/// password recovery's: spending one does not lock out the other.
#[tokio::test]
async fn invitation_requests_are_rate_limited_per_address() {
    let (app, _clock) = clocked(&["--recovery-max-per-ip", "3"]).await;
    for _ in 0..3 {
        expect_detail(
            accept(&app, "guess", "guess-password-1").await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let r = greeting(&app, "guess").await;
    assert!(r.headers().contains_key("retry-after"));
    expect_detail(r, StatusCode::TOO_MANY_REQUESTS).await;
    expect_detail(
        accept(&app, "guess", "guess-password-1").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    ok(app
        .post(
            "/api/auth/forgot-password",
            &json!({"email": "x@school.test"}),
            None,
        )
        .await)
    .await;
}
