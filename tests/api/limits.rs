//! Authentication limits under attack: concurrent bursts are counted exactly (an attempt is
//! counted before its password or code is checked), password hashing is bounded in CPU and
//! memory, each kind of request has its own allowance per client address, an account gets
//! growing delays instead of a lock, the client address behind proxies is the one our proxy
//! wrote, and account recovery is capped per account. Time is a clock the test moves.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use rollcall::service::clock::ManualClock;
use serde_json::{Value, json};

use crate::support::{
    TestApp, body, expect_detail, otp_in, peak_rss_mib, spawn_app_with, spawn_app_with_clock, wrong,
};

/// A server whose authentication limits read `clock`.
async fn spawn_clocked(extra: &[&str]) -> (TestApp, ManualClock) {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with_clock(extra, Arc::new(clock.clone())).await;
    (app, clock)
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// Status of a login, and its Retry-After when there is one.
async fn try_login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Option<u64>) {
    let r = app
        .post("/api/auth/login", &login_body(email, password), None)
        .await;
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (r.status(), retry)
}

/// POST every body to `path` at once; how many answers of each status, and how many 429/503
/// came without Retry-After.
async fn burst(app: &TestApp, path: &str, bodies: &[Value]) -> (BTreeMap<u16, usize>, usize) {
    let answers = join_all(
        bodies
            .iter()
            .map(|b| app.client.post(app.url(path)).json(b).send()),
    )
    .await;
    let mut statuses = BTreeMap::new();
    let mut no_retry_after = 0;
    for a in answers {
        let r = a.unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let s = r.status().as_u16();
        if matches!(s, 429 | 503) && !r.headers().contains_key("retry-after") {
            no_retry_after += 1;
        }
        *statuses.entry(s).or_default() += 1;
    }
    (statuses, no_retry_after)
}

fn count(app: &TestApp, sql: &str, param: &str) -> i64 {
    app.db()
        .query_row(sql, [param], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Finding 4 (and the login half of the concurrency finding): 60 wrong passwords for one
/// account at once. Each attempt is counted before its password is checked, so exactly the
/// free failures are verified (401) and the rest refused (429) at no hashing cost. Then 60
/// logins for 60 different addresses, each one verified: at most two argon2 runs at a time,
/// each in one of the pool's two 19 MiB buffers, so memory stays flat however many arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_passwords_is_verified_only_up_to_the_allowance_in_bounded_memory() {
    let app = spawn_app_with(&[
        "--hash-workers",
        "2",
        "--hash-wait-ms",
        "30000",
        "--login-max-per-ip",
        "1000",
    ])
    .await;
    app.create_user("student", "burst@school.test", "right-password-1")
        .await;
    let before = peak_rss_mib();

    let wrong: Vec<Value> = (0..60)
        .map(|i| login_body("burst@school.test", &format!("wrong-password-{i}")))
        .collect();
    let (statuses, no_retry) = burst(&app, "/api/auth/login", &wrong).await;
    println!("60 wrong passwords for one account at once: {statuses:?}");
    assert_eq!(
        statuses,
        BTreeMap::from([(401, 5), (429, 55)]),
        "exactly the 5 free failures are checked"
    );
    assert_eq!(no_retry, 0, "every 429 says when to come back");
    let counted = count(
        &app,
        "SELECT failures FROM login_throttle WHERE account = ?1",
        "burst@school.test",
    );
    assert_eq!(counted, 5);

    let spread: Vec<Value> = (0..60)
        .map(|i| login_body(&format!("nobody{i}@school.test"), "wrong-password"))
        .collect();
    let (statuses, _) = burst(&app, "/api/auth/login", &spread).await;
    println!("60 logins for 60 addresses at once: {statuses:?}");
    assert_eq!(statuses, BTreeMap::from([(401, 60)]));

    let peak = peak_rss_mib();
    println!(
        "peak RSS of the test process (server in-process): {before} MiB before the bursts, {peak} MiB after"
    );
    // Without the pool each verification allocated its own 19 MiB: 60 at once were 1.1 GiB on
    // top of the process. With it, at most two 19 MiB buffers (38 MiB, even if neither existed
    // before) plus the threads and buffers of 120 requests; 80 MiB over the start allows for
    // that and the allocator, and is what four unbounded verifications at once would cost.
    assert!(
        peak <= before + 80,
        "peak RSS {peak} MiB (was {before} MiB before the bursts)"
    );
}

/// A request that cannot get a hashing worker in time is answered 503 with Retry-After, and
/// it is not counted against the account (nothing was checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_beyond_the_hashing_pool_get_503_and_are_not_counted() {
    let app = spawn_app_with(&[
        "--hash-workers",
        "1",
        "--hash-wait-ms",
        "0",
        "--login-max-per-ip",
        "1000",
    ])
    .await;
    let many: Vec<Value> = (0..40)
        .map(|i| login_body(&format!("crowd{i}@school.test"), "wrong-password"))
        .collect();
    let (statuses, no_retry) = burst(&app, "/api/auth/login", &many).await;
    println!("40 logins with one hashing worker and no wait: {statuses:?}");
    let verified = statuses.get(&401).copied().unwrap_or(0);
    let turned_away = statuses.get(&503).copied().unwrap_or(0);
    assert_eq!(verified + turned_away, 40, "{statuses:?}");
    assert!(verified >= 1 && turned_away >= 1, "{statuses:?}");
    assert_eq!(no_retry, 0, "every 503 says when to come back");
    let counted: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM login_throttle", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        usize::try_from(counted).unwrap_or(0),
        verified,
        "only checked attempts count"
    );
}

/// Finding 15: an account's first failures are free, then each attempt waits a delay that
/// doubles up to a cap; the owner is never locked out for longer than the current delay, and a
/// successful login (or a password reset) starts afresh.
#[tokio::test]
async fn an_account_gets_growing_delays_and_a_success_starts_afresh() {
    let (app, clock) = spawn_clocked(&[
        "--login-max-failures",
        "2",
        "--login-delay-secs",
        "10",
        "--login-delay-max-secs",
        "40",
    ])
    .await;
    app.create_user("teacher", "owner@school.test", "owner-password-1")
        .await;
    let owner = |p: &'static str| try_login(&app, "owner@school.test", p);

    // Two free failures; the second starts a 10 s delay that even the right password waits.
    assert_eq!(owner("guess-1").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(owner("guess-2").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        owner("owner-password-1").await,
        (StatusCode::TOO_MANY_REQUESTS, Some(10))
    );
    // Each further failure doubles the delay: 20 s, then 40 s, then the 40 s cap.
    for delay in [10, 20, 40, 40] {
        clock.advance(delay - 1);
        assert_eq!(
            owner("guess-n").await,
            (StatusCode::TOO_MANY_REQUESTS, Some(1))
        );
        clock.advance(1);
        assert_eq!(owner("guess-n").await.0, StatusCode::UNAUTHORIZED);
    }
    let waits = owner("owner-password-1").await;
    assert_eq!(waits, (StatusCode::TOO_MANY_REQUESTS, Some(40)), "capped");
    // The owner waits out the current delay, logs in, and has free failures again.
    clock.advance(40);
    assert_eq!(owner("owner-password-1").await.0, StatusCode::OK);
    assert_eq!(owner("typo-1").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(owner("typo-2").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(owner("owner-password-1").await.1, Some(10));

    // A password reset also lifts the delay: the owner proved the mailbox.
    app.post(
        "/api/auth/forgot-password",
        &json!({"email": "owner@school.test"}),
        None,
    )
    .await;
    let code = otp_in(&app.last_mail("password_reset", "owner@school.test"));
    let reset =
        json!({"email": "owner@school.test", "otp": code, "new_password": "owner-password-2"});
    assert_eq!(
        app.post("/api/auth/reset-password", &reset, None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(owner("owner-password-2").await.0, StatusCode::OK);

    // Failures are forgotten after a quiet window (900 s by default) past the last delay.
    assert_eq!(owner("typo-3").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(owner("typo-4").await.0, StatusCode::UNAUTHORIZED);
    clock.advance(10 + 900);
    assert_eq!(owner("typo-5").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(owner("typo-6").await.0, StatusCode::UNAUTHORIZED);
}

/// Finding 15: logins, registrations and recovery each have their own allowance per client
/// address, so one pupil behind the school's address spending one cannot lock out the others;
/// successful logins give their attempt back.
#[tokio::test]
async fn each_kind_of_request_has_its_own_allowance_per_address() {
    let app = spawn_app_with(&[
        "--login-max-per-ip",
        "3",
        "--register-max-per-ip",
        "2",
        "--recovery-max-per-ip",
        "3",
    ])
    .await;
    // The admin token is fetched once: it is a login, and the test counts logins.
    let admin = app.admin_token().await;
    let resp = app
        .post(
            "/api/admin/users",
            &json!({"role": "teacher", "email": "t@school.test", "name": "T", "password": "teacher-pass-1"}),
            Some(&admin),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    for i in 0..3 {
        let r = app
            .post(
                "/api/auth/forgot-password",
                &json!({"email": format!("kid{i}@school.test")}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    expect_detail(
        app.post(
            "/api/auth/verify-otp",
            &json!({"email": "kid@school.test", "otp": "123456"}),
            None,
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // Recovery spent: logging in still works, as often as people get their password right.
    for _ in 0..5 {
        assert_eq!(
            try_login(&app, "t@school.test", "teacher-pass-1").await.0,
            StatusCode::OK
        );
    }
    for i in 0..2 {
        let r = app
            .post(
                "/api/auth/register",
                &json!({"role": "student", "name": "S", "email": format!("s{i}@school.test"), "password": "password123"}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .post(
            "/api/auth/register",
            &json!({"role": "student", "name": "S", "email": "s9@school.test", "password": "password123"}),
            None,
        )
        .await;
    expect_detail(r, StatusCode::TOO_MANY_REQUESTS).await;
    // Failed logins are the login allowance.
    for i in 0..3 {
        let who = format!("nobody{i}@school.test");
        assert_eq!(
            try_login(&app, &who, "wrong-password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, retry) = try_login(&app, "t@school.test", "teacher-pass-1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());
}

async fn login_via(app: &TestApp, forwarded: &str, email: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&login_body(email, password))
        .send()
        .await
        .expect("login")
        .status()
}

/// Finding 5: behind a trusted proxy the client is the address the proxy appended (right-most),
/// not whatever the client wrote in front of it; with several proxies, counted from the right;
/// with fewer entries than proxies, the connection's own address.
#[tokio::test]
async fn forwarded_for_is_read_from_the_right() {
    let app = spawn_app_with(&["--trust-proxy", "true", "--login-max-per-ip", "4"]).await;
    app.create_user("student", "s@school.test", "student-pass-1")
        .await;
    let mut statuses = Vec::new();
    for i in 0..10 {
        let spoofed = format!("10.9.8.{i}, 203.0.113.7");
        statuses.push(
            login_via(
                &app,
                &spoofed,
                &format!("u{i}@school.test"),
                "wrong-password",
            )
            .await,
        );
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused, 6, "{statuses:?}");
    // Another real client behind the same proxy has its own allowance, and its session records
    // the address the proxy saw.
    assert_eq!(
        login_via(
            &app,
            "10.9.8.1, 203.0.113.8",
            "s@school.test",
            "student-pass-1"
        )
        .await,
        StatusCode::OK
    );
    let db = app.db();
    let mut stmt = db
        .prepare(
            "SELECT s.client FROM auth_sessions s JOIN users u ON u.id = s.user_id
             WHERE u.email = ?1",
        )
        .unwrap();
    let clients: Vec<String> = stmt
        .query_map(["s@school.test"], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        clients.iter().any(|c| c == "203.0.113.8") && !clients.iter().any(|c| c == "10.9.8.1"),
        "the session records the address the proxy saw, never the one the client wrote: {clients:?}"
    );

    let two = spawn_app_with(&[
        "--trust-proxy",
        "true",
        "--proxy-hops",
        "2",
        "--login-max-per-ip",
        "2",
    ])
    .await;
    for i in 0..3 {
        let chain = format!("10.9.8.{i}, 203.0.113.9, 198.51.100.1");
        let expected = if i < 2 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            login_via(&two, &chain, &format!("v{i}@school.test"), "wrong-password").await,
            expected
        );
    }
    // One entry for two proxies: not what our proxies write, so the connection's address counts
    // (a fresh bucket here), however the entry varies.
    for i in 0..3 {
        let expected = if i < 2 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            login_via(
                &two,
                &format!("10.7.7.{i}"),
                "w@school.test",
                "wrong-password"
            )
            .await,
            expected
        );
    }
}

fn reset_mails(app: &TestApp, to: &str) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset' AND recipient = ?1",
        to,
    )
}

async fn forgot(app: &TestApp, email: &str) -> Value {
    let r = app
        .post("/api/auth/forgot-password", &json!({"email": email}), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

async fn verify_otp(app: &TestApp, email: &str, otp: &str) -> StatusCode {
    app.post(
        "/api/auth/verify-otp",
        &json!({"email": email, "otp": otp}),
        None,
    )
    .await
    .status()
}

/// Finding 5: reset codes (and their mails) are capped per account per hour. Past the cap the
/// answer is exactly the one an unknown address gets, nothing is queued, and the code already
/// sent stays valid.
#[tokio::test]
async fn reset_codes_are_capped_per_account_per_hour() {
    let (app, clock) = spawn_clocked(&["--reset-max-per-hour", "3"]).await;
    app.create_user("admin", "victim@school.test", "victim-pass-1")
        .await;
    let unknown = forgot(&app, "ghost@school.test").await;
    for _ in 0..3 {
        assert_eq!(forgot(&app, "victim@school.test").await, unknown);
    }
    let third = otp_in(&app.last_mail("password_reset", "victim@school.test"));
    for _ in 0..5 {
        assert_eq!(forgot(&app, "victim@school.test").await, unknown);
    }
    assert_eq!(reset_mails(&app, "victim@school.test"), 3);
    assert_eq!(
        verify_otp(&app, "victim@school.test", &third).await,
        StatusCode::OK,
        "requests past the cap do not replace the code"
    );
    clock.advance(3600);
    forgot(&app, "victim@school.test").await;
    assert_eq!(reset_mails(&app, "victim@school.test"), 4);
}

/// Finding 5: wrong codes are limited per account across codes, so asking for new codes does
/// not buy new guesses; the day's limit also ends the code in force.
#[tokio::test]
async fn wrong_codes_are_limited_per_account_across_codes() {
    let (app, clock) = spawn_clocked(&[
        "--otp-max-failures-per-day",
        "7",
        "--reset-max-per-hour",
        "10",
    ])
    .await;
    app.create_user("student", "r@school.test", "old-password-1")
        .await;
    forgot(&app, "r@school.test").await;
    let first = otp_in(&app.last_mail("password_reset", "r@school.test"));
    for _ in 0..5 {
        assert_eq!(
            verify_otp(&app, "r@school.test", &wrong(&first)).await,
            StatusCode::BAD_REQUEST
        );
    }
    forgot(&app, "r@school.test").await;
    let second = otp_in(&app.last_mail("password_reset", "r@school.test"));
    for _ in 0..2 {
        assert_eq!(
            verify_otp(&app, "r@school.test", &wrong(&second)).await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        verify_otp(&app, "r@school.test", &second).await,
        StatusCode::BAD_REQUEST,
        "7 wrong codes today: the code in force is dead"
    );
    forgot(&app, "r@school.test").await;
    let third = otp_in(&app.last_mail("password_reset", "r@school.test"));
    assert_eq!(
        verify_otp(&app, "r@school.test", &third).await,
        StatusCode::BAD_REQUEST,
        "and a new one does not help"
    );
    clock.advance(24 * 3600);
    forgot(&app, "r@school.test").await;
    let fourth = otp_in(&app.last_mail("password_reset", "r@school.test"));
    let reset = json!({"email": "r@school.test", "otp": fourth, "new_password": "new-password-1"});
    assert_eq!(
        app.post("/api/auth/reset-password", &reset, None)
            .await
            .status(),
        StatusCode::OK
    );
    app.login("r@school.test", "new-password-1").await;
}

/// The concurrency finding, for recovery: 30 wrong codes at once through both routes are
/// counted exactly (5), every answer is a 400 (no 5xx), and the code is then dead even for the
/// right value. Wrong codes on reset-password are refused before any hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_codes_are_counted_exactly_and_end_the_code() {
    let app = spawn_app_with(&["--recovery-max-per-ip", "1000"]).await;
    app.create_user("student", "c@school.test", "old-password-1")
        .await;
    forgot(&app, "c@school.test").await;
    let code = otp_in(&app.last_mail("password_reset", "c@school.test"));
    let bad = wrong(&code);
    let verify: Vec<Value> = (0..15)
        .map(|_| json!({"email": "c@school.test", "otp": bad}))
        .collect();
    let reset: Vec<Value> = (0..15)
        .map(|_| json!({"email": "c@school.test", "otp": bad, "new_password": "new-password-1"}))
        .collect();
    let ((a, _), (b, _)) = tokio::join!(
        burst(&app, "/api/auth/verify-otp", &verify),
        burst(&app, "/api/auth/reset-password", &reset)
    );
    println!("30 wrong codes at once: verify-otp {a:?}, reset-password {b:?}");
    assert_eq!(a, BTreeMap::from([(400, 15)]));
    assert_eq!(b, BTreeMap::from([(400, 15)]));
    let user = count(
        &app,
        "SELECT COUNT(*) FROM recovery_events e JOIN users u ON u.id = e.user_id
         WHERE u.email = ?1 AND e.kind = 'wrong_code'",
        "c@school.test",
    );
    assert_eq!(user, 5, "exactly the code's 5 tries were counted");
    let right = json!({"email": "c@school.test", "otp": code, "new_password": "new-password-1"});
    assert_eq!(
        app.post("/api/auth/reset-password", &right, None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    app.login("c@school.test", "old-password-1").await;
}
