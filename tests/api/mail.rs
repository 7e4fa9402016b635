//! E-mail through the outbox, delivered over real SMTP to a server the test starts on a
//! loopback port (mailin-embedded): the right recipients get the right message, messages wait
//! while the relay is down and go out when it is back, malformed addresses are refused at
//! input, dead messages can be retried by an administrator, and the seed's teacher
//! notification API keeps its shapes.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, response};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::world::{student, subject, teacher};
use crate::support::{TestApp, expect_detail, ok, serve, spawn_app, spawn_app_with};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    from: String,
    pub(crate) to: Vec<String>,
    /// The raw message with quoted-printable soft line breaks undone.
    data: String,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

/// A mailin handler: collects accepted messages; `refuse` answers every recipient 550; `delay`
/// is how long it takes over each message.
#[derive(Clone)]
struct Sink {
    inbox: Arc<Mutex<Vec<Received>>>,
    refuse: bool,
    delay: Duration,
    current: Option<Received>,
}

impl Handler for Sink {
    fn rcpt(&mut self, _to: &str) -> Response {
        if self.refuse {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(m) = self.current.as_mut() {
            m.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        if let Some(mut m) = self.current.take() {
            m.data = m.data.replace("=\r\n", "").replace("=3D", "=");
            self.inbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(m);
        }
        response::OK
    }
}

/// A running SMTP server on 127.0.0.1 and what it received.
pub(crate) struct Smtp {
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl Smtp {
    pub(crate) fn messages(&self) -> Vec<Received> {
        self.inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Wait until `n` messages arrived.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected {n} messages, got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until a message with this Subject arrived; everything received by then.
    async fn wait_for_subject(&self, subject: &str) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.iter().any(|m| m.header("Subject") == Some(subject)) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected a message {subject:?}, got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Start an SMTP server on `listener` (it runs until the test process ends).
pub(crate) fn smtp_on(listener: TcpListener, refuse: bool) -> Smtp {
    serve_smtp(listener, refuse, Duration::ZERO, 2)
}

/// An SMTP server that takes `delay` over each message, on four threads: a queue of messages
/// keeps several senders busy at once.
pub(crate) fn slow_smtp_on(listener: TcpListener, delay: Duration) -> Smtp {
    serve_smtp(listener, false, delay, 4)
}

fn serve_smtp(listener: TcpListener, refuse: bool, delay: Duration, threads: u32) -> Smtp {
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let mut server = Server::new(Sink {
        inbox: Arc::clone(&inbox),
        refuse,
        delay,
        current: None,
    });
    server
        .with_name("smtp.school.test")
        .with_num_threads(threads)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            eprintln!("test SMTP server stopped: {e}");
        }
    });
    Smtp { inbox }
}

pub(crate) fn listener(port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("bind {port}: {e}"))
}

/// A loopback port nobody listens on (yet).
pub(crate) fn closed_port() -> u16 {
    listener(0).local_addr().unwrap().port()
}

/// A server's options to send through 127.0.0.1:`port` in plain text with fast retries.
pub(crate) fn relay_args(port: u16) -> Vec<String> {
    [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port.to_string(),
        "--smtp-tls",
        "none",
        "--smtp-from",
        "School Office <office@school.test>",
        "--smtp-timeout-secs",
        "5",
        "--mail-retry-base-secs",
        "1",
        "--mail-retry-max-secs",
        "1",
        "--mail-poll-ms",
        "100",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The server, sending through 127.0.0.1:`port` ([`relay_args`]), `max_attempts` per message.
pub(crate) async fn app_mailing_to(port: u16, max_attempts: u32) -> TestApp {
    let mut args = relay_args(port);
    args.extend(["--mail-max-attempts".to_owned(), max_attempts.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_app_with(&args).await
}

/// (status, attempts, last_error) of the newest outbox row to `recipient`.
fn outbox_row(app: &TestApp, recipient: &str) -> (String, i64, Option<String>) {
    app.db()
        .query_row(
            "SELECT status, attempts, last_error FROM outbox WHERE recipient = ?1 ORDER BY id DESC LIMIT 1",
            [recipient],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("no outbox row to {recipient}: {e}"))
}

/// Wait until the newest row to `recipient` satisfies `done`.
async fn wait_row(
    app: &TestApp,
    recipient: &str,
    done: impl Fn(&(String, i64, Option<String>)) -> bool,
) -> (String, i64, Option<String>) {
    let start = Instant::now();
    loop {
        let row = outbox_row(app, recipient);
        if done(&row) {
            return row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "outbox row to {recipient} stuck at {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn confirming_attendance_mails_the_absent_students_only() {
    let port_listener = listener(0);
    let port = port_listener.local_addr().unwrap().port();
    let smtp = smtp_on(port_listener, false);
    let app = app_mailing_to(port, 8).await;
    let (t, _) = teacher(&app, "mail-teacher@school.test").await;
    let (_, ann) = student(&app, "ann@school.test").await;
    let (_, ben) = student(&app, "ben@school.test").await;
    let sid = subject(&app, &t, "MAIL1", &[&ann, &ben]).await;
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05", "decisions": [
                {"student_id": ann, "status": "absent"},
                {"student_id": ben, "status": "present"}]}),
            Some(&t),
        )
        .await)
    .await;

    smtp.wait_for(1).await;
    let (status, attempts, error) = wait_row(&app, "ann@school.test", |r| r.0 == "sent").await;
    assert_eq!((status.as_str(), attempts, error), ("sent", 1, None));
    // The confirmation queued its notices before it answered (one transaction), and the outbox
    // worker sends the oldest due message first, one at a time: once a marker queued now has
    // arrived, a wrongly queued second notice has arrived too.
    send_custom(
        &app,
        &t,
        "ben@school.test",
        "Marker",
        "Queued after the confirmation.",
        "T",
    )
    .await;
    let got: Vec<Received> = smtp
        .wait_for_subject("Marker")
        .await
        .into_iter()
        .filter(|m| m.header("Subject") != Some("Marker"))
        .collect();
    assert_eq!(got.len(), 1, "only Ann was absent: {got:?}");
    let m = &got[0];
    assert_eq!(m.to, vec!["ann@school.test".to_owned()]);
    assert_eq!(m.from, "office@school.test");
    assert_eq!(
        m.header("Subject"),
        Some("Absent: Subject MAIL1 (MAIL1) on 2026-01-05")
    );
    assert_eq!(
        m.header("From"),
        Some("\"School Office\" <office@school.test>")
    );
    assert!(
        m.header("To")
            .is_some_and(|to| to.contains("<ann@school.test>")),
        "{m:?}"
    );
    assert!(
        m.data.contains("multipart/alternative")
            && m.data.contains("text/plain")
            && m.data.contains("text/html"),
        "a text and an HTML part: {}",
        m.data
    );
    assert!(
        m.data.contains("Dear student ann@school.test,")
            && m.data
                .contains("you were recorded absent from Subject MAIL1 (MAIL1) on 2026-01-05"),
        "{}",
        m.data
    );
    assert!(
        m.header("Message-ID")
            .is_some_and(|id| id.starts_with("<rollcall.outbox.") && id.ends_with("@school.test>")),
        "{m:?}"
    );
}

#[tokio::test]
async fn messages_wait_while_the_relay_is_down_and_go_out_when_it_is_back() {
    let port = closed_port();
    let app = app_mailing_to(port, 100).await;
    let (t, _) = teacher(&app, "down-teacher@school.test").await;
    let (_, cara_id) = student(&app, "cara@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MCARA", &[&cara_id]).await;
    let v = send_custom(
        &app,
        &t,
        "cara@school.test",
        "Trip <tomorrow>",
        "Bring <b>boots</b> & a coat.",
        "T. Down",
    )
    .await;
    assert_eq!(
        v,
        json!({"total": 1, "sent": 0, "queued": 1, "failed": 0, "relay_configured": true,
               "details": [{"email": "cara@school.test", "status": "queued", "error": null}]})
    );

    // Relay down: the message stays queued, with its failed attempts recorded; the teacher's
    // statistics and the administrators' outbox say it is retrying, not sent.
    let (status, attempts, error) = wait_row(&app, "cara@school.test", |r| r.1 >= 2).await;
    assert_eq!(status, "pending");
    assert!(attempts >= 2);
    assert!(error.is_some_and(|e| !e.is_empty()));
    let stats = ok(app.get("/notifications/stats?days=30", Some(&t)).await).await;
    assert_eq!(
        (
            &stats["total_sent"],
            &stats["total_queued"],
            &stats["total_failed"]
        ),
        (&json!(0), &json!(1), &json!(0)),
        "{stats}"
    );
    assert_eq!(stats["recent_logs"][0]["status"], "retrying", "{stats}");
    let admin = app.admin_token().await;
    let out = ok(app
        .get("/api/admin/outbox?status=retrying", Some(&admin))
        .await)
    .await;
    assert_eq!(out["messages"][0]["recipient"], "cara@school.test", "{out}");
    assert_eq!(out["messages"][0]["state"], "retrying", "{out}");
    assert_eq!(out["counts"]["retrying"], 1, "{out}");
    assert_eq!(out["counts"]["sent"], 0, "{out}");

    // The relay comes back on the same port: delivered on the next attempt.
    let smtp = smtp_on(listener(port), false);
    let got = smtp.wait_for(1).await;
    let (status, _, error) = wait_row(&app, "cara@school.test", |r| r.0 == "sent").await;
    assert_eq!((status.as_str(), error), ("sent", None));
    // Now, and only now, it counts as sent.
    let stats = ok(app.get("/notifications/stats?days=30", Some(&t)).await).await;
    assert_eq!(
        (&stats["total_sent"], &stats["total_queued"]),
        (&json!(1), &json!(0)),
        "{stats}"
    );
    assert_eq!(
        stats["sent_by_type"],
        json!({"custom": {"sent": 1, "queued": 0, "failed": 0}})
    );
    assert_eq!(stats["recent_logs"][0]["status"], "sent", "{stats}");
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.to, vec!["cara@school.test".to_owned()]);
    assert_eq!(m.header("Subject"), Some("Trip <tomorrow>"));
    assert!(
        m.data.contains("Bring <b>boots</b> & a coat."),
        "{}",
        m.data
    );
    assert!(
        m.data
            .contains("Bring &lt;b&gt;boots&lt;/b&gt; &amp; a coat."),
        "the HTML part is escaped: {}",
        m.data
    );
}

#[tokio::test]
async fn an_administrator_lists_dead_messages_and_retries_them() {
    // One attempt only, relay down: the message dies at once.
    let port = closed_port();
    let app = app_mailing_to(port, 1).await;
    let admin = app.admin_token().await;
    let (t, _) = teacher(&app, "dead-teacher@school.test").await;
    let (_, dan_id) = student(&app, "dan@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MDAN", &[&dan_id]).await;
    ok(app
        .post(
            "/api/notifications/exam",
            &json!({"student_emails": ["dan@school.test"], "exam_name": "Midterm", "subject": "Physics",
                    "exam_date": "2026-03-01", "time": "09:00", "venue": "Hall 1"}),
            Some(&t),
        )
        .await)
    .await;
    let (status, attempts, _) = wait_row(&app, "dan@school.test", |r| r.0 == "dead").await;
    assert_eq!((status.as_str(), attempts), ("dead", 1));

    let list = ok(app.get("/api/admin/outbox", Some(&admin)).await).await;
    let dead = &list["messages"][0];
    assert_eq!(dead["recipient"], "dan@school.test");
    assert_eq!(dead["kind"], "notify.exam");
    assert_eq!(dead["subject"], "Exam Alert - Midterm");
    assert_eq!(dead["status"], "dead");
    assert!(dead["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    let id = dead["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {list}"));
    assert!(
        ok(app.get("/api/admin/outbox?status=sent", Some(&admin)).await).await["messages"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    // Teachers cannot see or retry the outbox.
    assert_eq!(
        app.get("/api/admin/outbox", Some(&t)).await.status(),
        StatusCode::FORBIDDEN
    );

    // The relay is back; the administrator retries the message and it goes out.
    let smtp = smtp_on(listener(port), false);
    let retried = ok(app
        .post(
            &format!("/api/admin/outbox/{id}/retry"),
            &json!({}),
            Some(&admin),
        )
        .await)
    .await;
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0);
    let got = smtp.wait_for(1).await;
    assert_eq!(got[0].to, vec!["dan@school.test".to_owned()]);
    assert_eq!(got[0].header("Subject"), Some("Exam Alert - Midterm"));
    assert!(got[0].data.contains("Venue: Hall 1"), "{}", got[0].data);
    wait_row(&app, "dan@school.test", |r| r.0 == "sent").await;

    // Only a dead message can be retried; unknown and malformed ids are told apart.
    let path = format!("/api/admin/outbox/{id}/retry");
    let detail = expect_detail(
        app.post(&path, &json!({}), Some(&admin)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.contains("sent"), "{detail}");
    expect_detail(
        app.post("/api/admin/outbox/999999/retry", &json!({}), Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_detail(
        app.post("/api/admin/outbox/abc/retry", &json!({}), Some(&admin))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let all = ok(app
        .post("/api/admin/outbox/retry-dead", &json!({}), Some(&admin))
        .await)
    .await;
    assert_eq!(all["retried"], 0);
}

#[tokio::test]
async fn a_permanent_refusal_kills_the_message_at_once() {
    let port_listener = listener(0);
    let port = port_listener.local_addr().unwrap().port();
    let smtp = smtp_on(port_listener, true);
    let app = app_mailing_to(port, 100).await;
    let (t, _) = teacher(&app, "refused-teacher@school.test").await;
    let (_, eve_id) = student(&app, "eve@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MEVE", &[&eve_id]).await;
    ok(app
        .post(
            "/api/notifications/assignment",
            &json!({"student_emails": ["eve@school.test"], "assignment_title": "Essay",
                    "subject": "English", "due_date": "Friday", "teacher_name": "T. R"}),
            Some(&t),
        )
        .await)
    .await;
    let (status, attempts, error) = wait_row(&app, "eve@school.test", |r| r.0 != "pending").await;
    assert_eq!((status.as_str(), attempts), ("dead", 1));
    assert!(error.is_some_and(|e| e.contains("550")));
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn malformed_addresses_are_refused_at_input() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "input-teacher@school.test").await;
    let (_, fay_id) = student(&app, "fay@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MFAY", &[&fay_id]).await;
    for bad in [
        "not-an-address",
        "fay@",
        "fay school@x.test",
        "<fay@school.test>",
        "",
    ] {
        let resp = app
            .post(
                "/api/notifications/absence",
                &json!({"student_emails": ["fay@school.test", bad], "subject": "Maths",
                        "date": "2026-02-15", "teacher_name": "T"}),
                Some(&t),
            )
            .await;
        let detail = expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(detail.contains("student_emails[1]"), "{bad:?}: {detail}");
    }
    let resp = app
        .post(
            "/notifications/low-attendance",
            &json!([{"student_email": "fay(at)school.test", "student_name": "Fay",
                     "subject": "Maths", "attendance_percentage": 60.0}]),
            Some(&t),
        )
        .await;
    expect_detail(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Nothing was queued by the refused requests.
    let queued: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE kind LIKE 'notify.%'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    assert_eq!(queued, 0);

    // Accounts cannot be created with an address the transport would refuse either.
    let admin = app.admin_token().await;
    let resp = app
        .post(
            "/api/admin/users",
            &json!({"role": "student", "email": "gus@school..test", "name": "Gus", "password": "student-pass-1"}),
            Some(&admin),
        )
        .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

fn count_notices(app: &TestApp, kind: &str) -> i64 {
    app.db()
        .query_row("SELECT COUNT(*) FROM outbox WHERE kind = ?1", [kind], |r| {
            r.get(0)
        })
        .unwrap_or(-1)
}

#[tokio::test]
async fn teacher_notification_api_keeps_the_seed_shapes() {
    let app = spawn_app().await;
    let (t, t_id) = teacher(&app, "api-teacher@school.test").await;
    let (s_token, gil_id) = student(&app, "gil@school.test").await;
    let (_, hal_id) = student(&app, "hal@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MGIL", &[&gil_id, &hal_id]).await;

    // Only teachers, with the seed's wording.
    let absence = json!({"student_emails": ["gil@school.test"], "subject": "Maths",
                         "date": "2026-02-15", "teacher_name": "T. One"});
    let d = expect_detail(
        app.post("/notifications/absence", &absence, Some(&s_token))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(d, "Only teachers can send notifications");
    let d = expect_detail(
        app.get("/notifications/stats", Some(&s_token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(d, "Only teachers can view statistics");
    let d = expect_detail(
        app.get(
            "/notifications/check-duplicate?notification_type=absence&recipient_email=gil@school.test",
            Some(&s_token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(d, "Only teachers can check duplicates");

    // Unknown students fail individually; known ones are queued with both parts.
    let v = ok(app
        .post(
            "/notifications/absence",
            &json!({"student_emails": ["gil@school.test", "nobody@school.test"], "subject": "Maths",
                    "date": "2026-02-15", "teacher_name": "T. One"}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(
        v,
        json!({"total": 2, "sent": 0, "queued": 1, "failed": 1, "relay_configured": false, "details": [
            {"email": "gil@school.test", "status": "queued", "error": null},
            {"email": "nobody@school.test", "status": "failed", "error": "Not one of your students"}]})
    );
    let (subject, html): (String, Option<String>) = app
        .db()
        .query_row(
            "SELECT subject, body_html FROM outbox WHERE kind = 'notify.absence' AND recipient = 'gil@school.test'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(subject, "Absence Notification - Maths");
    assert!(html.is_some_and(|h| h.contains("<html>")));

    // Low attendance: an array, at most 200; the threshold defaults to 75.
    let v = ok(app
        .post(
            "/notifications/low-attendance",
            &json!([{"student_email": "hal@school.test", "student_name": "Hal",
                     "subject": "Maths", "attendance_percentage": 61.5}]),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!((&v["sent"], &v["queued"]), (&json!(0), &json!(1)), "{v}");
    assert!(
        app.last_mail("notify.low_attendance", "hal@school.test")
            .contains("below the required 75%")
    );
    let many: Vec<Value> = (0..201)
        .map(|i| {
            json!({"student_email": format!("s{i}@school.test"), "student_name": "S",
                        "subject": "Maths", "attendance_percentage": 50.0})
        })
        .collect();
    let d = expect_detail(
        app.post("/notifications/low-attendance", &json!(many), Some(&t))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Cannot send more than 200 warnings at once");
    let emails: Vec<String> = (0..201).map(|i| format!("s{i}@school.test")).collect();
    expect_detail(
        app.post(
            "/notifications/custom",
            &json!({"student_emails": emails, "message_title": "Hi", "message_body": "x", "teacher_name": "T"}),
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_detail(
        app.post(
            "/notifications/custom",
            &json!({"student_emails": ["gil@school.test"], "message_title": "Hi",
                    "message_body": "x".repeat(2001), "teacher_name": "T"}),
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Duplicate check: the absence to Gil was queued within the hour, nothing else.
    let dup = |kind: &str, to: &str| {
        format!(
            "/notifications/check-duplicate?notification_type={kind}&recipient_email={to}&within_hours=2"
        )
    };
    let v = ok(app.get(&dup("absence", "gil@school.test"), Some(&t)).await).await;
    assert_eq!(v, json!({"is_duplicate": true}));
    let v = ok(app.get(&dup("exam", "gil@school.test"), Some(&t)).await).await;
    assert_eq!(v, json!({"is_duplicate": false}));
    expect_detail(
        app.get(
            "/notifications/check-duplicate?notification_type=absence&recipient_email=gil@school.test&within_hours=169",
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Statistics over the window, newest first: no relay here, so nothing was sent; both
    // messages are queued.
    let v = ok(app.get("/api/notifications/stats?days=7", Some(&t)).await).await;
    assert_eq!(v["total_sent"], 0, "{v}");
    assert_eq!(v["total_queued"], 2, "{v}");
    assert_eq!(v["total_failed"], 0);
    assert_eq!(v["relay_configured"], false);
    assert_eq!(
        v["sent_by_type"],
        json!({"absence": {"sent": 0, "queued": 1, "failed": 0},
               "low_attendance": {"sent": 0, "queued": 1, "failed": 0}})
    );
    let log = &v["recent_logs"][1];
    assert_eq!(log["notification_type"], "absence");
    assert_eq!(log["recipient_email"], "gil@school.test");
    assert_eq!(log["recipient_name"], "student gil@school.test");
    assert_eq!(log["subject"], "Absence Notification - Maths");
    assert_eq!(log["status"], "queued", "no SMTP here");
    assert_eq!(log["sent_by"], t_id.as_str());
    assert_eq!(
        log["metadata"],
        json!({"subject": "Maths", "date": "2026-02-15"})
    );
    expect_detail(
        app.get("/notifications/stats?days=0", Some(&t)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn a_student_who_switches_absence_mails_off_gets_none() {
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "switch-teacher@school.test").await;
    let (ivy_token, ivy) = student(&app, "ivy@school.test").await;
    let on = ok(app
        .get("/api/notifications/preferences", Some(&ivy_token))
        .await)
    .await;
    assert_eq!(
        on,
        json!({"absence": true, "assignment": true, "custom": true, "exam": true, "low_attendance": true})
    );
    let off = ok(app
        .put(
            "/api/notifications/preferences",
            &json!({"absence": false}),
            Some(&ivy_token),
        )
        .await)
    .await;
    assert_eq!(off["absence"], false);
    assert_eq!(off["exam"], true);
    expect_detail(
        app.put(
            "/api/notifications/preferences",
            &json!({"holidays": false}),
            Some(&ivy_token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Neither the confirmation nor the teacher API queues an absence mail for her.
    let sid = subject(&app, &t, "SW1", &[&ivy]).await;
    ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-01-05",
                    "decisions": [{"student_id": ivy, "status": "absent"}]}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(count_notices(&app, "attendance.absent"), 0);
    let v = ok(app
        .post(
            "/notifications/absence",
            &json!({"student_emails": ["ivy@school.test"], "subject": "Maths",
                    "date": "2026-02-15", "teacher_name": "T"}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(v["failed"], 1);
    assert_eq!(
        v["details"][0]["error"],
        "Student has turned off absence e-mails"
    );
    // Other topics still reach her.
    let v = send_custom(&app, &t, "ivy@school.test", "Hi", "Hello", "T").await;
    assert_eq!(v["queued"], 1);
    assert_eq!(count_notices(&app, "notify.custom"), 1);
}

/// A teacher's own message to one student through the seed's path; its 200 answer.
async fn send_custom(
    app: &TestApp,
    token: &str,
    email: &str,
    title: &str,
    body: &str,
    teacher_name: &str,
) -> Value {
    ok(app
        .post(
            "/notifications/custom",
            &json!({"student_emails": [email], "message_title": title,
                    "message_body": body, "teacher_name": teacher_name}),
            Some(token),
        )
        .await)
    .await
}

/// Another server on `app`'s data directory, sending through 127.0.0.1:`port`: the same database
/// after a restart, now with a relay configured.
async fn restart_with_relay(app: &TestApp, port: u16) {
    let port = port.to_string();
    serve(
        app.data_dir.path(),
        &[
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "none",
            "--mail-poll-ms",
            "100",
        ],
    )
    .await;
}

#[tokio::test]
async fn mail_queued_without_a_relay_goes_out_after_a_restart_with_one() {
    // No SMTP configured: the message is kept, not attempted (no delivery worker runs). That
    // nothing tried it before the relay existed shows at the end: sent at its first attempt.
    let app = spawn_app().await;
    let (t, _) = teacher(&app, "restart-teacher@school.test").await;
    let (_, jo_id) = student(&app, "jo@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MJO", &[&jo_id]).await;
    send_custom(
        &app,
        &t,
        "jo@school.test",
        "Kept",
        "Queued before the relay existed.",
        "T",
    )
    .await;
    assert_eq!(
        outbox_row(&app, "jo@school.test"),
        ("pending".to_owned(), 0, None)
    );

    let port_listener = listener(0);
    let port = port_listener.local_addr().unwrap().port();
    let smtp = smtp_on(port_listener, false);
    restart_with_relay(&app, port).await;
    let got = smtp.wait_for(1).await;
    assert_eq!(got[0].to, vec!["jo@school.test".to_owned()]);
    assert_eq!(got[0].header("Subject"), Some("Kept"));
    let (status, attempts, _) = wait_row(&app, "jo@school.test", |r| r.0 == "sent").await;
    assert_eq!(
        (status.as_str(), attempts),
        ("sent", 1),
        "one attempt in all: none before the restart"
    );
}

#[tokio::test]
async fn the_cli_lists_dead_messages_and_retries_them() {
    let port = closed_port();
    let app = app_mailing_to(port, 1).await;
    let (t, _) = teacher(&app, "cli-teacher@school.test").await;
    let (_, kit_id) = student(&app, "kit@school.test").await;
    // Teachers write only to their own students.
    subject(&app, &t, "MKIT", &[&kit_id]).await;
    send_custom(
        &app,
        &t,
        "kit@school.test",
        "CLI",
        "Via the command line.",
        "T",
    )
    .await;
    wait_row(&app, "kit@school.test", |r| r.0 == "dead").await;
    let id: i64 = app
        .db()
        .query_row(
            "SELECT id FROM outbox WHERE recipient = 'kit@school.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let dir = app.data_dir.path().display().to_string();
    let run = |args: Vec<String>| {
        let out = crate::support::backend::rollcall_command(&args)
            .output()
            .unwrap_or_else(|e| panic!("rollcall {args:?}: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok_dead, listed, _) = run(vec![
        "mail".into(),
        "dead".into(),
        "--data-dir".into(),
        dir.clone(),
    ]);
    assert!(ok_dead);
    assert!(
        listed.contains(&format!(
            "{id}\tnotify.custom\tkit@school.test\t1 attempts\t"
        )),
        "{listed}"
    );

    let smtp = smtp_on(listener(port), false);
    let (ok_retry, said, _) = run(vec![
        "mail".into(),
        "retry".into(),
        id.to_string(),
        "--data-dir".into(),
        dir.clone(),
    ]);
    assert!(ok_retry, "{said}");
    assert!(said.contains("1 message(s) queued again"), "{said}");
    // Audited as the admin API's retry is, with the operator as actor.
    let audited: String = app
        .db()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'outbox.retry' AND target = ?1 AND actor_id IS NULL",
            [id.to_string()],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("no audit entry for the retry: {e}"));
    assert_eq!(audited, "via cli");
    let got = smtp.wait_for(1).await;
    assert_eq!(got[0].header("Subject"), Some("CLI"));
    wait_row(&app, "kit@school.test", |r| r.0 == "sent").await;
    let (ok_again, _, err) = run(vec![
        "mail".into(),
        "retry".into(),
        id.to_string(),
        "--data-dir".into(),
        dir,
    ]);
    assert!(!ok_again && err.contains("no dead message"), "{err}");
}

/// Without an SMTP relay nothing leaves the outbox: the teacher is told their messages are
/// queued (not sent), and administrators, only they, see them queued with the counts per state.
#[tokio::test]
async fn queued_mail_is_reported_as_queued_and_shown_to_administrators_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (t, _) = teacher(&app, "q-teacher@school.test").await;
    let (s_token, s_id) = student(&app, "quinn@school.test").await;
    subject(&app, &t, "QUEUE1", &[&s_id]).await;
    let v = ok(app
        .post(
            "/notifications/assignment",
            &json!({"student_emails": ["quinn@school.test"], "assignment_title": "Essay",
                    "subject": "English", "due_date": "2026-03-01", "teacher_name": "T"}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(
        v,
        json!({"total": 1, "sent": 0, "queued": 1, "failed": 0, "relay_configured": false,
               "details": [{"email": "quinn@school.test", "status": "queued", "error": null}]})
    );

    for state in ["queued", "pending"] {
        let out = ok(app
            .get(&format!("/api/admin/outbox?status={state}"), Some(&admin))
            .await)
        .await;
        assert_eq!(out["relay_configured"], false, "{out}");
        assert_eq!(
            out["counts"],
            json!({"queued": 1, "retrying": 0, "sent": 0, "dead": 0})
        );
        let m = &out["messages"][0];
        assert_eq!(
            (&m["recipient"], &m["state"], &m["status"], &m["attempts"]),
            (
                &json!("quinn@school.test"),
                &json!("queued"),
                &json!("pending"),
                &json!(0)
            ),
            "{out}"
        );
    }
    for state in ["retrying", "sent", "dead"] {
        let out = ok(app
            .get(&format!("/api/admin/outbox?status={state}"), Some(&admin))
            .await)
        .await;
        assert_eq!(out["messages"], json!([]), "{state}: {out}");
    }
    expect_detail(
        app.get("/api/admin/outbox?status=delivered", Some(&admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // The teacher, the student, nobody: refused.
    for (who, token, status) in [
        ("teacher", Some(t.as_str()), StatusCode::FORBIDDEN),
        ("student", Some(s_token.as_str()), StatusCode::FORBIDDEN),
        ("anonymous", None, StatusCode::UNAUTHORIZED),
    ] {
        let resp = app.get("/api/admin/outbox?status=queued", token).await;
        assert_eq!(resp.status(), status, "{who}");
    }
}
