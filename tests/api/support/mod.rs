//! What the API tests share: `spawn_app()` and the `TestApp` HTTP helpers (every answer that
//! comes through them is checked against the OpenAPI document, `contract.rs`), plus
//! - [`world`]: builders for accounts, subjects, rosters, consent and enrolled faces;
//! - [`media`]: the test photos and images made from them;
//! - [`binary`]: the real `rollcall serve` binary as a child process;
//! - [`log`]: the server's log in a failing test's output (`TEST_LOG`).

#![allow(dead_code)]

pub mod backend;
pub mod binary;
pub mod db;
pub mod log;
pub mod media;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::contract::checked;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const ADMIN_EMAIL: &str = "admin@school.test";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: Client,
    pub data_dir: tempfile::TempDir,
    /// Prints the server's last log lines if the test fails.
    pub log: log::Guard,
}

/// Start the server with test defaults plus `extra` flags.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    spawn_app_with_clock(extra, Arc::new(rollcall::service::clock::SystemClock)).await
}

/// [`spawn_app_with`], the authentication limits reading `clock` (a test moves it).
pub async fn spawn_app_with_clock(
    extra: &[&str],
    clock: Arc<dyn rollcall::service::clock::Clock>,
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let addr = serve_with_clock(data_dir.path(), extra, clock).await;
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data_dir,
        log: log::Guard,
    }
}

/// A server on `data_dir` (a new one, or an existing one as after a restart) with the test
/// defaults plus `extra` flags, on a random port of this test's runtime.
pub async fn serve(data_dir: &std::path::Path, extra: &[&str]) -> SocketAddr {
    serve_with_clock(
        data_dir,
        extra,
        Arc::new(rollcall::service::clock::SystemClock),
    )
    .await
}

async fn serve_with_clock(
    data_dir: &std::path::Path,
    extra: &[&str],
    clock: Arc<dyn rollcall::service::clock::Clock>,
) -> SocketAddr {
    log::init();
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache");
    let mut args: Vec<String> = vec![
        "rollcall".into(),
        "--bind".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--jwt-secret".into(),
        SECRET.into(),
        "--admin-email".into(),
        ADMIN_EMAIL.into(),
        "--admin-password".into(),
        ADMIN_PASSWORD.into(),
        "--log-format".into(),
        "json".into(),
    ];
    if !extra.contains(&"--cache-dir") {
        args.extend(["--cache-dir".into(), cache.display().to_string()]);
    }
    args.extend(backend::server_args(data_dir));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let settings = rollcall::config::Settings::try_from_args(&args).expect("settings");
    let app = rollcall::App::build_with_clock(settings, clock)
        .await
        .expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(app.serve(listener, std::future::pending()));
    addr
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Read a JSON body; panics with the raw text if it is not JSON.
pub async fn body(resp: Response) -> Value {
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Assert status and a `{"detail": string}` body; returns the detail.
pub async fn expect_detail(resp: Response, status: StatusCode) -> String {
    let got = resp.status();
    let v = body(resp).await;
    assert_eq!(got, status, "body: {v}");
    v["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("detail is not a string: {v}"))
        .to_owned()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(reqwest::Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, json: &Value, token: Option<&str>) -> Response {
        self.send(reqwest::Method::POST, path, Some(json), token)
            .await
    }

    pub async fn put(&self, path: &str, json: &Value, token: Option<&str>) -> Response {
        self.send(reqwest::Method::PUT, path, Some(json), token)
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.send(reqwest::Method::DELETE, path, None, token).await
    }

    /// One request with an optional JSON body and bearer token; its answer checked (see
    /// [`checked`]).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        json: Option<&Value>,
        token: Option<&str>,
    ) -> Response {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(body) = json {
            req = req.json(body);
        }
        Self::dispatch(req, method.as_str(), path, token).await
    }

    /// Send `req` with the bearer token, if any; its answer checked (see [`checked`]).
    async fn dispatch(
        mut req: reqwest::RequestBuilder,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Response {
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        checked(method, path, resp).await
    }

    /// POST a multipart/form-data body with the given (name, filename, content type, bytes) parts.
    pub async fn post_multipart(
        &self,
        path: &str,
        parts: &[(&str, Option<&str>, &str, &[u8])],
        token: Option<&str>,
    ) -> Response {
        let boundary = "rollcall-test-boundary-7d1c";
        let mut raw = Vec::new();
        for (name, filename, content_type, bytes) in parts {
            raw.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let file = filename
                .map(|f| format!("; filename=\"{f}\""))
                .unwrap_or_default();
            raw.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"{file}\r\nContent-Type: {content_type}\r\n\r\n")
                    .as_bytes(),
            );
            raw.extend_from_slice(bytes);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(self.url(path))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(raw);
        Self::dispatch(req, "POST", path, token).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        raw: impl Into<reqwest::Body>,
    ) -> Response {
        let resp = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(raw)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        checked("POST", path, resp).await
    }

    /// Log in and return the whole login answer.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let resp = self
            .post(
                "/api/auth/login",
                &json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "login {email}");
        body(resp).await
    }

    pub async fn admin_token(&self) -> String {
        token_of(&self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await)
    }

    /// Create a verified account through the admin API and return its login answer.
    pub async fn create_user(&self, role: &str, email: &str, password: &str) -> Value {
        let admin = self.admin_token().await;
        let resp = self
            .post(
                "/api/admin/users",
                &json!({"role": role, "email": email, "name": format!("{role} {email}"), "password": password}),
                Some(&admin),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "create {role}");
        self.login(email, password).await
    }

    /// The server's database, for a look behind the API (either backend: [`db`]).
    pub fn db(&self) -> db::TestDb {
        match backend::database_url(self.data_dir.path()) {
            Some(url) => db::TestDb::postgres(url),
            None => db::TestDb::sqlite(&self.data_dir.path().join("rollcall.sqlite3")),
        }
    }

    /// True when the server keeps its face images in the database (PostgreSQL) rather than as
    /// files under `<data_dir>/faces` (SQLite).
    pub fn images_in_database(&self) -> bool {
        backend::postgres_admin().is_some()
    }

    /// How many face images (samples' and draft photos') the server keeps, where it keeps them:
    /// files under `<data_dir>/faces`, or rows of the `images` table. On SQLite the table
    /// must stay empty.
    pub fn stored_images(&self) -> usize {
        let rows: i64 = self
            .db()
            .query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("counting images: {e}"));
        if self.images_in_database() {
            usize::try_from(rows).unwrap_or(0)
        } else {
            assert_eq!(rows, 0, "a SQLite server keeps its images as files");
            files_in(&self.faces_dir())
        }
    }

    /// Every stored face image as (where it is, its bytes).
    pub fn stored_image_bytes(&self) -> Vec<(String, Vec<u8>)> {
        if self.images_in_database() {
            let db = self.db();
            let mut stmt = db.prepare("SELECT sha256, bytes FROM images").unwrap();
            stmt.query_map([], |r| {
                Ok((format!("images row {}", r.get::<_, String>(0)?), r.get(1)?))
            })
            .unwrap()
            .map(|r| r.unwrap_or_else(|e| panic!("reading images: {e}")))
            .collect()
        } else {
            walk_files(&self.faces_dir())
                .into_iter()
                .map(|path| {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    (path.display().to_string(), bytes)
                })
                .collect()
        }
    }

    /// Whether the image named `sha` is stored.
    pub fn image_stored(&self, sha: &str) -> bool {
        if self.images_in_database() {
            let n: i64 = self
                .db()
                .query_row(
                    "SELECT COUNT(*) FROM images WHERE sha256 = ?1",
                    [sha],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| panic!("looking for image {sha}: {e}"));
            n > 0
        } else {
            self.faces_dir().join(&sha[..2]).join(sha).exists()
        }
    }

    /// Put `bytes` in the image store under `sha` behind the server's back (as an older
    /// rollcall stored them).
    pub fn plant_image(&self, sha: &str, bytes: &[u8]) {
        if self.images_in_database() {
            self.db()
                .execute(
                    "INSERT INTO images (sha256, bytes, created_at) VALUES (?1, ?2, 0)",
                    rusqlite::params![sha, bytes],
                )
                .unwrap_or_else(|e| panic!("planting image {sha}: {e}"));
        } else {
            let file = self.faces_dir().join(&sha[..2]).join(sha);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, bytes).unwrap();
        }
    }

    /// The face image folder of a SQLite server.
    fn faces_dir(&self) -> PathBuf {
        self.data_dir.path().join("faces")
    }

    /// The body of the newest queued e-mail of `kind` to `recipient`.
    pub fn last_mail(&self, kind: &str, recipient: &str) -> String {
        self.db()
            .query_row(
                "SELECT body_text FROM outbox WHERE kind = ?1 AND recipient = ?2 ORDER BY id DESC LIMIT 1",
                [kind, recipient],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no {kind} mail to {recipient}: {e}"))
    }
}

/// The user id in a login answer.
pub fn user_id_of(login: &Value) -> String {
    login["user_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user_id in {login}"))
        .to_owned()
}

pub fn token_of(login: &Value) -> String {
    login["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {login}"))
        .to_owned()
}

/// This process's peak resident memory (VmHWM) in MiB. nextest runs each test in its own
/// process, so with an in-process server this is the server's peak (plus the test's client).
pub fn peak_rss_mib() -> u64 {
    rollcall::telemetry::peak_rss_mib()
}

/// The 6-digit code in a password-reset mail.
pub fn otp_in(mail: &str) -> String {
    mail.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()))
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {mail}"))
        .to_owned()
}

/// A 6-digit code that is not `otp`.
pub fn wrong(otp: &str) -> String {
    let n: u32 = otp.parse().unwrap_or(0);
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Assert 200 and return the JSON body.
pub async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let v = body(resp).await;
    assert_eq!(status, StatusCode::OK, "body: {v}");
    v
}

/// Send `method` with a JSON body (any method, unlike the `TestApp` shortcuts); the answer is
/// checked against the OpenAPI document like theirs.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    json: &Value,
    token: Option<&str>,
) -> Response {
    let mut req = app.client.request(method.clone(), app.url(path)).json(json);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    crate::contract::checked(method.as_str(), path, resp).await
}

/// How many files are under `dir`, in its sub-folders too.
pub fn files_in(dir: &std::path::Path) -> usize {
    walk_files(dir).len()
}

/// Every file under `dir`, in its sub-folders too (none if it does not exist).
pub fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
