//! Secrets never reach the log. The real binary runs with every log level on and no SMTP relay;
//! a registration (verification link) and a forgotten password (reset code) are made, an
//! administrator reads both through the outbox (audited; teachers and students cannot), and
//! then no line the server wrote holds the code, the link's token, a password or a token.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, SECRET, otp_in};

struct Server {
    child: Child,
    base: String,
    client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `target/.../rollcall serve` on a free port, its stdout and stderr going to files.
async fn start(dir: &Path) -> Server {
    let file = |name: &str| {
        std::fs::File::create(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache"))
        .args(["--jwt-secret", SECRET, "--admin-email", ADMIN_EMAIL])
        .args(["--admin-password", ADMIN_PASSWORD, "--log-format", "json"])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(file("stdout.log")))
        .stderr(Stdio::from(file("stderr.log")))
        .spawn()
        .expect("spawn rollcall");
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let out = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
        if let Some(addr) = out
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            break addr.to_owned();
        }
        assert!(Instant::now() < deadline, "rollcall did not start: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Server {
        child,
        base,
        client: Client::new(),
    }
}

impl Server {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Value {
        let (status, v) = self.send(method, path, body, token).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {v}");
        v
    }

    /// Log in; the whole answer.
    async fn login(&self, email: &str, password: &str) -> Value {
        self.ok(
            "POST",
            "/api/auth/login",
            Some(&json!({"email": email, "password": password})),
            None,
        )
        .await
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The outbox message of `kind` among the pending ones.
fn message_id(list: &Value, kind: &str) -> i64 {
    list["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["kind"] == kind)
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_else(|| panic!("no {kind} message in {list}"))
}

/// Finding 9: reset codes and verification links are never logged, at any level; without a
/// relay an administrator reads them in the outbox, and that view is audited and refused to
/// everyone else.
#[tokio::test]
async fn codes_links_passwords_and_tokens_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let admin_login = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = text(&admin_login, "token").to_owned();

    // A pupil registers (a verification link is queued) and a teacher forgets their password
    // (a reset code is queued).
    let pupil_password = "pupil-password-1";
    server
        .ok(
            "POST",
            "/api/auth/register",
            Some(
                &json!({"role": "student", "name": "Pupil", "email": "pupil@school.test",
                         "password": pupil_password}),
            ),
            None,
        )
        .await;
    let teacher_password = "teacher-password-1";
    server
        .ok(
            "POST",
            "/api/admin/users",
            Some(
                &json!({"role": "teacher", "name": "T", "email": "t@school.test",
                         "password": teacher_password}),
            ),
            Some(&admin),
        )
        .await;
    server
        .ok(
            "POST",
            "/api/auth/forgot-password",
            Some(&json!({"email": "t@school.test"})),
            None,
        )
        .await;

    // The administrator reads both messages in the outbox.
    let pending = server
        .ok(
            "GET",
            "/api/admin/outbox?status=pending",
            None,
            Some(&admin),
        )
        .await;
    assert!(
        pending["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m.get("body_text").is_none()),
        "the list carries no bodies: {pending}"
    );
    let reset_id = message_id(&pending, "password_reset");
    let verify_id = message_id(&pending, "email_verification");
    let reset = server
        .ok(
            "GET",
            &format!("/api/admin/outbox/{reset_id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(reset["recipient"], "t@school.test");
    let code = otp_in(text(&reset, "body_text"));
    let verification = server
        .ok(
            "GET",
            &format!("/api/admin/outbox/{verify_id}"),
            None,
            Some(&admin),
        )
        .await;
    let link_token = text(&verification, "body_text")
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link in {verification}"))
        .to_owned();
    assert!(
        verification["body_html"]
            .as_str()
            .is_some_and(|h| h.contains(&link_token)),
        "{verification}"
    );
    let (status, _) = server
        .send("GET", "/api/admin/outbox/999999", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What the administrator read works.
    server
        .ok(
            "GET",
            &format!("/api/auth/verify-email?token={link_token}"),
            None,
            None,
        )
        .await;
    server
        .ok(
            "POST",
            "/api/auth/verify-otp",
            Some(&json!({"email": "t@school.test", "otp": code})),
            None,
        )
        .await;

    // Nobody else may read the outbox.
    let pupil = server.login("pupil@school.test", pupil_password).await;
    let teacher = server.login("t@school.test", teacher_password).await;
    for (who, login) in [("student", &pupil), ("teacher", &teacher)] {
        for path in [
            format!("/api/admin/outbox/{reset_id}"),
            "/api/admin/outbox?status=pending".to_owned(),
        ] {
            let (status, v) = server
                .send("GET", &path, None, Some(text(login, "token")))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} {path}: {v}");
        }
    }
    let (status, _) = server
        .send("GET", &format!("/api/admin/outbox/{reset_id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Each read is in the audit log, with who read which message.
    let audit = server
        .ok(
            "GET",
            "/api/admin/audit?action=outbox.view",
            None,
            Some(&admin),
        )
        .await;
    let views: Vec<(String, String)> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["actor_id"].as_str().unwrap_or_default().to_owned(),
                e["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let admin_id = text(&admin_login, "user_id").to_owned();
    assert_eq!(
        views.len(),
        2,
        "two reads, the refused ones not among them: {audit}"
    );
    for id in [reset_id, verify_id] {
        assert!(
            views.contains(&(admin_id.clone(), id.to_string())),
            "{audit}"
        );
    }

    drop(server);
    let mut log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    log.push_str(&std::fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default());
    assert!(
        log.contains("e-mail queued in the outbox") && log.contains("password_reset"),
        "the log was captured"
    );
    let secrets = [
        ("reset code", code.as_str()),
        ("verification token", link_token.as_str()),
        ("pupil's password", pupil_password),
        ("teacher's password", teacher_password),
        ("admin password", ADMIN_PASSWORD),
        ("signing secret", SECRET),
        ("access token", text(&admin_login, "token")),
        ("refresh token", text(&admin_login, "refresh_token")),
        ("pupil's access token", text(&pupil, "token")),
    ];
    for line in log.lines() {
        // A six-digit code could occur by chance in a timestamp's microseconds: leave those out.
        let checked = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut fields)) => {
                fields.remove("timestamp");
                Value::Object(fields).to_string()
            }
            _ => line.to_owned(),
        };
        for (what, secret) in secrets {
            assert!(!checked.contains(secret), "the {what} was logged: {line}");
        }
    }
    println!(
        "{} log lines checked for {} secrets",
        log.lines().count(),
        secrets.len()
    );
}
