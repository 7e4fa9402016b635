//! The real `rollcall serve` binary as a child process, for the tests that kill it (faults) or
//! restart it on restored data (privacy).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::log::{self, Guard};
use super::{ADMIN_EMAIL, ADMIN_PASSWORD, SECRET};

pub struct Server {
    /// `None` for a handle that only talks to a server another handle owns.
    pub child: Option<Child>,
    pub base: String,
    pub client: Client,
    /// Prints the server's last log lines if the test fails.
    pub log: Guard,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn command(data_dir: &Path, port: u16) -> Command {
    command_with(data_dir, port, &super::backend::server_args(data_dir))
}

/// [`command`] with `backend` as the flags that choose the database (e.g. `--database-url` of
/// another data directory's database: servers sharing one PostgreSQL database).
pub fn command_with(data_dir: &Path, port: u16, backend: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    cmd.args([
        "serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &data_dir.display().to_string(),
        "--cache-dir",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".cache")
            .display()
            .to_string(),
        "--jwt-secret",
        SECRET,
        "--admin-email",
        ADMIN_EMAIL,
        "--admin-password",
        ADMIN_PASSWORD,
        "--log-format",
        "json",
    ])
    .args(backend)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// [`command`] on an explicit database: `--database-url database_url` in place of the database
/// the tests' backend gives `data_dir`, then `extra` flags. For several servers on one database,
/// each with a data directory of its own (cluster.rs).
pub fn command_on(data_dir: &Path, port: u16, database_url: &str, extra: &[&str]) -> Command {
    let mut flags = vec!["--database-url".to_owned(), database_url.to_owned()];
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    command_with(data_dir, port, &flags)
}

/// A server the test did not stop (it failed, or it ended without `kill9`) is killed with it.
impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    pub async fn start(data_dir: &Path) -> Self {
        let port = free_port();
        Self::spawn(command(data_dir, port), port).await
    }

    /// A server on `data_dir` and the PostgreSQL database `url` (another data directory's).
    pub async fn start_on(data_dir: &Path, url: &str) -> Self {
        let port = free_port();
        let backend = ["--database-url".to_owned(), url.to_owned()];
        Self::spawn(command_with(data_dir, port, &backend), port).await
    }

    /// Run `cmd`, a server listening on `port`, and wait until it answers `/health`.
    async fn spawn(mut cmd: Command, port: u16) -> Self {
        let mut child = cmd.spawn().expect("spawn rollcall");
        if let Some(stderr) = child.stderr.take() {
            log::forward(format!("rollcall serve (pid {})", child.id()), stderr);
        }
        let server = Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            client: Client::new(),
            log: Guard,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = server
                .client
                .get(format!("{}/health", server.base))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                return server;
            }
            assert!(Instant::now() < deadline, "rollcall did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown hook runs.
    pub fn kill9(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await
    }

    pub async fn ok(&self, path: &str, body: &Value, token: Option<&str>) -> Value {
        let resp = self
            .post(path, body, token)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "POST {path}: {v}");
        v
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        self.ok(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A teacher with a subject of `n` students (consent recorded); (teacher token, subject, students).
pub async fn school(s: &Server, n: usize) -> (String, String, Vec<String>) {
    let admin = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    s.ok(
        "/api/admin/users",
        &json!({"role": "teacher", "email": "t@school.test", "name": "T", "password": "teacher-pass-1"}),
        Some(&admin),
    )
    .await;
    let teacher = s.login("t@school.test", "teacher-pass-1").await;
    let subject = s
        .ok(
            "/api/subjects",
            &json!({"name": "Class", "code": "CLS1"}),
            Some(&teacher),
        )
        .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut students = Vec::new();
    for i in 0..n {
        let v = s
            .ok(
                "/api/students",
                &json!({"name": format!("Student {i}"), "email": format!("s{i}@school.test"),
                        "subject_ids": [subject]}),
                Some(&teacher),
            )
            .await;
        let id = v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {v}"))
            .to_owned();
        s.ok(
            &format!("/api/students/{id}/consent"),
            &Value::Null,
            Some(&teacher),
        )
        .await;
        students.push(id);
    }
    (teacher, subject, students)
}
