//! Two servers, one database (docs/postgres.md §4, "Two-server test"): two `rollcall serve`
//! children on the same PostgreSQL database, each with an empty data directory of its own (so
//! nothing but the database is shared) and the same signing secret. What one server writes, the
//! other serves at once: a face enrolled on A is recognised on B; a session confirmed on A is read
//! (and corrected) on B; a logout on A is refused on B; the free login failures of an account
//! are counted once for the cluster; a `kill -9` of A loses none of the confirms it acknowledged
//! while B keeps serving; and with both mail workers running each absence is mailed exactly once.
//!
//! Servers started at the same moment on an empty database both come up, with one first
//! administrator between them, and a face image stored through A is served by B (images are rows
//! on PostgreSQL).
//!
//! On SQLite there is nothing to share: every test says SKIPPED and passes (with
//! `ROLLCALL_REQUIRE_POSTGRES=1` it fails instead).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::mail::{Received, listener, relay_args, slow_smtp_on};
use crate::support::binary::{command_on, free_port};
use crate::support::db::TestDb;
use crate::support::media::{data_url, photo, side_by_side};
use crate::support::world::{confirm, enrol_faces, student, subject, teacher, upload};
use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, backend, body, expect_detail, log, ok, token_of,
};

const SKIPPED: &str = "SKIPPED: the two-server test needs PostgreSQL (scripts/setup-postgres; ROLLCALL_TEST_BACKEND=postgres)";

/// True when the tests run on PostgreSQL; otherwise says SKIPPED (or fails, when CI requires
/// PostgreSQL with `ROLLCALL_REQUIRE_POSTGRES=1`).
fn on_postgres() -> bool {
    if backend::postgres_admin().is_some() {
        return true;
    }
    assert!(
        std::env::var("ROLLCALL_REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "ROLLCALL_REQUIRE_POSTGRES=1 but the tests do not run on PostgreSQL: {SKIPPED}"
    );
    println!("{SKIPPED}");
    false
}

/// One `rollcall serve` child: its HTTP helpers (a [`TestApp`] on its port and its own data
/// directory, every answer checked against the OpenAPI document) and its log lines. Killed when
/// dropped, so a failing test leaves no server behind.
struct Node {
    name: &'static str,
    app: TestApp,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Node {
    /// Start `rollcall serve` on `data_dir` and the database `url`, with `extra` flags; it is
    /// not ready yet (see [`Node::ready`]).
    fn spawn(
        name: &'static str,
        data_dir: tempfile::TempDir,
        port: u16,
        url: &str,
        extra: &[&str],
    ) -> Self {
        log::init();
        let mut child = command_on(data_dir.path(), port, url, extra)
            .spawn()
            .expect("spawn rollcall");
        let lines = Arc::new(Mutex::new(Vec::new()));
        // The log goes to the test's output (a failing test prints it) and is kept for counting.
        let reader = child.stderr.take().map(|stderr| {
            let who = format!("server {name} (pid {})", child.id());
            let kept = Arc::clone(&lines);
            std::thread::spawn(move || {
                for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log::line(&format!("{who}: {l}"));
                    kept.lock().unwrap_or_else(PoisonError::into_inner).push(l);
                }
            })
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            name,
            app: TestApp {
                addr,
                base: format!("http://{addr}"),
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap(),
                data_dir,
                log: log::Guard,
            },
            child: Some(child),
            lines,
            reader,
        }
    }

    /// Wait until the server answers /health with 200.
    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("server {} exited while starting: {status}", self.name);
            }
            if let Ok(r) = self.app.client.get(self.app.url("/health")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not start within 90 s",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown hook runs.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait for the server to finish (its mail worker finishes the message in
    /// hand first); then every line it logged has been read.
    async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server runs");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "kill -TERM server {}",
            self.name
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server {} did not stop within 60 s of SIGTERM", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// How many of its log lines contain `needle`.
    fn logged(&self, needle: &str) -> usize {
        self.logged_all(&[needle])
    }

    /// How many of its log lines contain every one of `needles`.
    fn logged_all(&self, needles: &[&str]) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Servers A and B on one database.
struct Cluster {
    a: Node,
    b: Node,
    /// The database both use.
    url: String,
}

impl Cluster {
    /// A and B with `extra` flags each: A first, B once A is ready (so that B finds the
    /// database migrated and the first administrator created). `None` (after saying SKIPPED)
    /// when the tests do not run on PostgreSQL.
    async fn start(extra: &[&str]) -> Option<Self> {
        Self::launch(extra, false).await
    }

    /// A and B started at the same moment, as a deployment starts its servers.
    async fn start_together(extra: &[&str]) -> Option<Self> {
        Self::launch(extra, true).await
    }

    async fn launch(extra: &[&str], together: bool) -> Option<Self> {
        if !on_postgres() {
            return None;
        }
        let dir_a = tempfile::tempdir().expect("tempdir");
        let dir_b = tempfile::tempdir().expect("tempdir");
        // A's database is the cluster's: B is pointed at it by URL.
        let url = backend::database_url(dir_a.path()).expect("a PostgreSQL database");
        let port_a = free_port();
        let port_b = std::iter::repeat_with(free_port)
            .find(|p| *p != port_a)
            .unwrap_or_default();
        let started = Instant::now();
        let mut a = Node::spawn("A", dir_a, port_a, &url, extra);
        let b = if together {
            let mut b = Node::spawn("B", dir_b, port_b, &url, extra);
            tokio::join!(a.ready(), b.ready());
            b
        } else {
            a.ready().await;
            let mut b = Node::spawn("B", dir_b, port_b, &url, extra);
            b.ready().await;
            b
        };
        println!(
            "servers A ({}) and B ({}) ready on one database in {:?}",
            a.app.base,
            b.app.base,
            started.elapsed()
        );
        Some(Self { a, b, url })
    }

    /// The shared database, for a look behind the API.
    fn db(&self) -> TestDb {
        TestDb::postgres(self.url.clone())
    }
}

/// Day `n` before 2026-01-01, `YYYY-MM-DD` (sessions cannot be confirmed ahead of time).
fn day(n: usize) -> String {
    let d =
        time::macros::date!(2026 - 01 - 01) - time::Duration::days(i64::try_from(n).unwrap_or(0));
    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `n` students created by the teacher `token` in the subject `sid` (through the staff API, no
/// logins); (id, e-mail) of each.
async fn roster(app: &TestApp, token: &str, sid: &str, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("pupil{i}@school.test");
        let v = ok(app
            .post(
                "/api/students",
                &json!({"name": format!("Pupil {i:02}"), "email": email, "subject_ids": [sid]}),
                Some(token),
            )
            .await)
        .await;
        let id = v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {v}"))
            .to_owned();
        out.push((id, email));
    }
    out
}

/// A confirmation body: `status(i)` for the i-th student.
fn confirmation(
    sid: &str,
    date: &str,
    students: &[(String, String)],
    status: impl Fn(usize) -> &'static str,
) -> Value {
    let decisions: Vec<Value> = students
        .iter()
        .enumerate()
        .map(|(i, (id, _))| json!({"student_id": id, "status": status(i)}))
        .collect();
    json!({"subject_id": sid, "date": date, "decisions": decisions})
}

/// The ids of the students on faces marked present, sorted.
fn present(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no faces in {v}"))
        .iter()
        .filter(|f| f["status"] == "present")
        .filter_map(|f| f["student"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The ids listed under `not_seen` in a mark answer.
fn not_seen(v: &Value) -> Vec<String> {
    v["not_seen"]
        .as_array()
        .unwrap_or_else(|| panic!("no not_seen in {v}"))
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

/// Point 1: a face enrolled through one server is in the gallery the other matches against,
/// at once and in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_face_enrolled_on_one_server_is_recognised_on_the_other() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    let (t, _) = teacher(a, "t-faces@school.test").await;
    let (_, obama) = student(a, "obama@school.test").await;
    let (_, biden) = student(a, "biden@school.test").await;
    let sid = subject(a, &t, "CLU1", &[&obama, &biden]).await;

    let started = Instant::now();
    let enrolled = enrol_faces(a, &t, &obama, &[photo("obama.jpg"), photo("obama2.jpg")]).await;
    assert_eq!(enrolled, 2, "both photos of Obama enrolled on A");
    println!(
        "enrolled 2 photos on A (loads A's models): {:?}",
        started.elapsed()
    );

    // A class photo marked on B, which never saw an enrolment: Obama present, Biden not seen.
    let started = Instant::now();
    let v = ok(b
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid}),
            Some(&t),
        )
        .await)
    .await;
    println!("marked on B (loads B's models): {:?}", started.elapsed());
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(present(&v), vec![obama.clone()], "{v}");
    let distance = v["faces"][0]["distance"].as_f64().unwrap_or(9.0);
    assert!(distance < 0.5, "a confident match: {v}");
    assert_eq!(not_seen(&v), vec![biden.clone()], "{v}");

    // The other way round: Biden enrolled on B, both recognised in one photo marked on A.
    assert_eq!(enrol_faces(b, &t, &biden, &[photo("biden.jpg")]).await, 1);
    let both = side_by_side(&photo("obama3.jpg"), &photo("biden.jpg"));
    let v = ok(a
        .post_multipart(
            "/api/attendance/mark",
            &[
                ("file", Some("class.png"), "image/png", &both),
                ("subject_id", None, "text/plain", sid.as_bytes()),
            ],
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(v["count"], 2, "{v}");
    let mut expected = vec![obama, biden];
    expected.sort();
    assert_eq!(present(&v), expected, "{v}");
    assert!(not_seen(&v).is_empty(), "{v}");
}

/// The (present, late, excused, absent, total) of a summary.
fn counts(summary: &Value) -> [i64; 5] {
    ["present", "late", "excused", "absent", "total"].map(|k| {
        summary[k]
            .as_i64()
            .unwrap_or_else(|| panic!("no {k} in {summary}"))
    })
}

/// A student's own figures for their one subject: (present, absent, total, percentage).
async fn figures(app: &TestApp, token: &str) -> (i64, i64, i64, f64) {
    let v = ok(app.get("/api/attendance/me", Some(token)).await).await;
    let f = &v[0];
    (
        f["present"].as_i64().unwrap_or(-1),
        f["absent"].as_i64().unwrap_or(-1),
        f["total"].as_i64().unwrap_or(-1),
        f["percentage"].as_f64().unwrap_or(-1.0),
    )
}

/// Point 2: a session confirmed on A is read on B with its records, in the subject's list and
/// in the students' figures; a correction on B is read on A; both servers confirming the same
/// new session at once make one session, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendance_confirmed_on_one_server_is_read_on_the_other() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    let (t, _) = teacher(a, "t-read@school.test").await;
    let (ann_token, ann) = student(a, "ann@school.test").await;
    let (ben_token, ben) = student(a, "ben@school.test").await;
    let (_, cat) = student(a, "cat@school.test").await;
    let sid = subject(a, &t, "CLU2", &[&ann, &ben, &cat]).await;

    let v = confirm(
        a,
        &t,
        &sid,
        "2025-02-03",
        0,
        &[(&ann, "present"), (&ben, "absent"), (&cat, "late")],
    )
    .await;
    let session = v["session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no session_id in {v}"))
        .to_owned();

    // On B, at once: the session with every record, the subject's list, the figures.
    let one = ok(b
        .get(&format!("/api/attendance/sessions/{session}"), Some(&t))
        .await)
    .await;
    assert_eq!(
        (&one["date"], &one["subject_code"]),
        (&json!("2025-02-03"), &json!("CLU2")),
        "{one}"
    );
    assert_eq!(counts(&one["summary"]), [1, 1, 0, 1, 3], "{one}");
    let statuses: BTreeMap<String, String> = one["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records in {one}"))
        .iter()
        .map(|r| {
            (
                r["student_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [(&ann, "present"), (&ben, "absent"), (&cat, "late")]
        .into_iter()
        .map(|(id, s)| (id.clone(), s.to_owned()))
        .collect();
    assert_eq!(statuses, want, "{one}");
    let list = ok(b
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["session_id"], session.as_str(), "{list}");
    assert_eq!(counts(&list[0]["summary"]), [1, 1, 0, 1, 3], "{list}");
    assert_eq!(figures(b, &ben_token).await, (0, 1, 1, 0.0));
    assert_eq!(figures(b, &ann_token).await, (1, 0, 1, 100.0));

    // A correction on B is what A serves next.
    ok(b.put(
        &format!("/api/attendance/sessions/{session}/records/{ben}"),
        &json!({"status": "present"}),
        Some(&t),
    )
    .await)
    .await;
    let one = ok(a
        .get(&format!("/api/attendance/sessions/{session}"), Some(&t))
        .await)
    .await;
    assert_eq!(counts(&one["summary"]), [2, 1, 0, 0, 3], "{one}");
    assert_eq!(figures(a, &ben_token).await, (1, 0, 1, 100.0));

    // Both servers confirm the same new session at the same moment: one session, whose
    // records and figures count once.
    let second = json!({"subject_id": sid, "date": "2025-02-04", "decisions": [
        {"student_id": ann, "status": "absent"},
        {"student_id": ben, "status": "present"},
        {"student_id": cat, "status": "present"}]});
    let (on_a, on_b) = tokio::join!(
        a.post("/api/attendance/confirm", &second, Some(&t)),
        b.post("/api/attendance/confirm", &second, Some(&t))
    );
    let (on_a, on_b) = (ok(on_a).await, ok(on_b).await);
    assert_eq!(on_a["session_id"], on_b["session_id"], "{on_a} / {on_b}");
    assert_eq!(counts(&on_b["summary"]), [2, 0, 0, 1, 3], "{on_b}");
    let list = ok(b
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(&t),
        )
        .await)
    .await;
    let dates: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(|s| s["date"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(dates, ["2025-02-04", "2025-02-03"], "{list}");
    assert_eq!(counts(&list[0]["summary"]), [2, 0, 0, 1, 3], "{list}");
    assert_eq!(figures(a, &ann_token).await, (1, 1, 2, 50.0));
    assert_eq!(figures(b, &ann_token).await, (1, 1, 2, 50.0));
    let records: i64 = c
        .db()
        .query_row(
            "SELECT COUNT(*) FROM attendance_records r JOIN attendance_sessions s ON s.id = r.session_id
             WHERE s.date = ?1",
            ["2025-02-04"],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(records, 3, "one record per student, not one per server");
}

/// Point 3: sessions live in the database, not in a server: a logout on A is refused on B at
/// once, the other session of the same account goes on, and an administrator's revocation on B
/// is refused on A at once.
#[tokio::test]
async fn a_logout_on_one_server_is_refused_on_the_other_at_once() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    let (_, sam) = student(a, "sam@school.test").await;
    let on_a = a.login("sam@school.test", "student-pass-1").await;
    let on_b = b.login("sam@school.test", "student-pass-1").await;
    let (first, second) = (token_of(&on_a), token_of(&on_b));
    for (server, token) in [(a, &first), (b, &first), (a, &second), (b, &second)] {
        let me = ok(server.get("/api/auth/me", Some(token)).await).await;
        assert_eq!(me["user_id"], sam.as_str(), "{me}");
    }

    let out = ok(a.post("/api/auth/logout", &json!({}), Some(&first)).await).await;
    assert_eq!(out["message"], "Logged out");
    // No wait: the very next request, on the other server.
    let d = expect_detail(
        b.get("/api/auth/me", Some(&first)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(d, "Invalid token");
    expect_detail(
        b.post(
            "/api/auth/refresh",
            &json!({"refresh_token": on_a["refresh_token"]}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_detail(
        a.get("/api/auth/me", Some(&first)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The session opened on B is another session: it goes on, on both servers.
    for server in [a, b] {
        ok(server.get("/api/auth/me", Some(&second)).await).await;
    }

    // An administrator on B ends every session of the account; A refuses it at once.
    let admin = b.admin_token().await;
    ok(b.post(
        &format!("/api/admin/users/{sam}/revoke-sessions"),
        &json!({}),
        Some(&admin),
    )
    .await)
    .await;
    let d = expect_detail(
        a.get("/api/auth/me", Some(&second)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(d, "Invalid token");
}

/// A login's status, Retry-After and detail.
async fn login_attempt(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, Option<u64>, String) {
    let r = app
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await;
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let v = body(r).await;
    let detail = v["detail"].as_str().unwrap_or_default().to_owned();
    (status, retry, detail)
}

/// A client address's allowance of failed logins is one for the cluster, not one per server:
/// with 6 allowed, wrong passwords for distinct accounts alternating between A and B are
/// refused from the seventh on, on both servers.
#[tokio::test]
async fn an_address_allowance_is_counted_once_for_the_cluster() {
    let Some(c) = Cluster::start(&["--login-max-per-ip", "6"]).await else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { a } else { b };
        let (status, _, _) =
            login_attempt(server, &format!("nobody{i}@school.test"), "wrong-password").await;
        statuses.push(status.as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 401, 429, 429, 429, 429],
        "six failures in all, whichever server took them"
    );
    let counted: i64 = c
        .db()
        .query_row(
            "SELECT COUNT(*) FROM client_attempts WHERE limiter = 'login'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    assert_eq!(counted, 6);
}

/// Point 4: an account's free login failures (5 by default) are counted once for the cluster:
/// five wrong passwords alternating between A and B use them all up, and the sixth attempt on
/// either server waits exactly as on one server (429, the account's 30 s delay in Retry-After
/// and in the detail), even with the right password. A concurrent burst over both servers has
/// exactly five passwords checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_spread_over_both_servers_share_one_allowance() {
    // No client may be turned away for want of a hashing worker or by the per-address window:
    // only the account's allowance is under test.
    let Some(c) = Cluster::start(&["--hash-wait-ms", "30000", "--login-max-per-ip", "1000"]).await
    else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    a.create_user("student", "pat@school.test", "right-password-1")
        .await;
    for i in 0..5 {
        let server = if i % 2 == 0 { a } else { b };
        let (status, _, detail) =
            login_attempt(server, "pat@school.test", &format!("wrong-{i}")).await;
        assert_eq!(
            (status, detail.as_str()),
            (StatusCode::UNAUTHORIZED, "Invalid email or password"),
            "failure {} (on {})",
            i + 1,
            if i % 2 == 0 { "A" } else { "B" }
        );
    }
    // The sixth, on B with the right password and on A and B with wrong ones: all wait the
    // delay the fifth failure started (30 s, less the second or two gone since).
    for (name, server, password) in [
        ("B", b, "right-password-1"),
        ("A", a, "wrong-5"),
        ("B", b, "wrong-6"),
    ] {
        let (status, retry, detail) = login_attempt(server, "pat@school.test", password).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "on {name}: {detail}");
        let retry = retry.unwrap_or_else(|| panic!("429 on {name} without Retry-After"));
        assert!((28..=30).contains(&retry), "Retry-After {retry} on {name}");
        assert_eq!(
            detail,
            format!("Too many attempts. Try again in {retry} seconds."),
            "on {name}"
        );
    }
    let failures = |account: &str| -> i64 {
        c.db()
            .query_row(
                "SELECT failures FROM login_throttle WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no throttle row for {account}: {e}"))
    };
    assert_eq!(failures("pat@school.test"), 5);
    // Other accounts are not affected, on either server.
    a.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // 30 wrong passwords for one account at once, half to each server: the five free failures
    // are checked, no more.
    b.create_user("student", "burst@school.test", "right-password-2")
        .await;
    let attempts = (0..30).map(|i| {
        let server = if i % 2 == 0 { a } else { b };
        login_attempt(server, "burst@school.test", "wrong-password")
    });
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (status, retry, _) in join_all(attempts).await {
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry.is_some(), "a 429 without Retry-After");
        }
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    println!("30 wrong passwords at once over A and B: {statuses:?}");
    assert_eq!(
        statuses,
        BTreeMap::from([(401, 5), (429, 25)]),
        "exactly the five free failures are checked, cluster-wide"
    );
    assert_eq!(failures("burst@school.test"), 5);
}

/// What B answered, and when (for the kill test).
struct Answer {
    what: &'static str,
    started: Instant,
    took: Duration,
    outcome: Result<u16, String>,
}

/// Dates A's clients confirm (round `r`, client `w`: day `1200 r + 300 w + k`) and B's (day
/// `4000 + k`): all distinct, all in the past.
const A_DAYS_PER_CLIENT: usize = 300;

/// `clients` tasks, each confirming one new session after another on `app` until it is gone:
/// the dates it answered 200 go to `acked` (and a note to `tx`), other answers to `refused`.
#[allow(clippy::too_many_arguments)]
fn confirm_until_gone(
    app: &TestApp,
    token: &str,
    sid: &str,
    students: &[(String, String)],
    round: usize,
    clients: usize,
    acked: &Arc<Mutex<Vec<String>>>,
    refused: &Arc<Mutex<Vec<(String, u16)>>>,
    tx: &tokio::sync::mpsc::UnboundedSender<()>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|w| {
            let (client, base, token) = (app.client.clone(), app.base.clone(), token.to_owned());
            let (sid, students) = (sid.to_owned(), students.to_vec());
            let (acked, refused, tx) = (Arc::clone(acked), Arc::clone(refused), tx.clone());
            tokio::spawn(async move {
                for k in 0..A_DAYS_PER_CLIENT {
                    let date = day(round * 4 * A_DAYS_PER_CLIENT + w * A_DAYS_PER_CLIENT + k);
                    let body = confirmation(&sid, &date, &students, |i| {
                        if (i + k) % 4 == 0 {
                            "absent"
                        } else {
                            "present"
                        }
                    });
                    let sent = client
                        .post(format!("{base}/api/attendance/confirm"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == StatusCode::OK => {
                            acked
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(date);
                            let _ = tx.send(());
                        }
                        Ok(r) => refused
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((date, r.status().as_u16())),
                        // The server is gone.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect()
}

/// The subject's sessions as `app` lists them: date -> the summary's total.
async fn session_totals(app: &TestApp, token: &str, sid: &str) -> BTreeMap<String, i64> {
    let list = ok(app
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(token),
        )
        .await)
    .await;
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| {
            (
                s["date"].as_str().unwrap_or_default().to_owned(),
                s["summary"]["total"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Point 5: three times, A is killed with SIGKILL while four clients send it confirms (after a
/// different number of answers each round) and restarted; B confirms and reads all along. Every
/// confirm A answered 200 is on B right after the kill, whole (no session anywhere is half
/// written), and B answered every request 200, during the kills and after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_server_loses_no_acknowledged_confirm_and_the_other_keeps_serving() {
    const STUDENTS: usize = 20;
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 3;
    let Some(mut c) = Cluster::start(&[]).await else {
        return;
    };
    let (t, _) = teacher(&c.a.app, "t-kill@school.test").await;
    let sid = subject(&c.a.app, &t, "KILL1", &[]).await;
    let students = roster(&c.a.app, &t, &sid, STUDENTS).await;
    let expected = i64::try_from(STUDENTS).unwrap_or(0);

    // B confirms sessions of its own and reads the subject's list, until told to stop.
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let on_b = {
        let (client, base, token) = (c.b.app.client.clone(), c.b.app.base.clone(), t.clone());
        let (sid, students) = (sid.clone(), students.clone());
        let (answers, stop) = (Arc::clone(&answers), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) && k < 2000 {
                let body = confirmation(&sid, &day(5000 + k), &students, |i| {
                    if i % 5 == 0 { "late" } else { "present" }
                });
                let requests = [
                    (
                        "confirm",
                        client
                            .post(format!("{base}/api/attendance/confirm"))
                            .json(&body),
                    ),
                    (
                        "list",
                        client.get(format!("{base}/api/attendance/subjects/{sid}/sessions")),
                    ),
                ];
                for (what, req) in requests {
                    let started = Instant::now();
                    let outcome = req
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string());
                    answers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Answer {
                            what,
                            started,
                            took: started.elapsed(),
                            outcome,
                        });
                }
                k += 1;
            }
        })
    };
    let answered_by_b = |since: Instant| {
        answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|x| x.what == "confirm" && x.started > since)
            .count()
    };

    let mut kills = Vec::new();
    let mut acked_in_all = 0;
    let mut unanswered_in_all = 0;
    for round in 0..ROUNDS {
        if round > 0 {
            // A again, on a fresh data directory: nothing of it survives but the database.
            let dir = tempfile::tempdir().expect("tempdir");
            c.a = Node::spawn("A", dir, free_port(), &c.url, &[]);
            c.a.ready().await;
        }
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let refused: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let clients = confirm_until_gone(
            &c.a.app, &t, &sid, &students, round, CLIENTS, &acked, &refused, &tx,
        );
        drop(tx);
        // Kill A after 10, 15, 20 answers, while the other clients' confirms are in flight.
        let kill_after = 10 + 5 * round;
        let deadline = Instant::now() + Duration::from_secs(120);
        for n in 0..kill_after {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = tokio::time::timeout(left, rx.recv()).await;
            assert!(
                matches!(got, Ok(Some(()))),
                "round {round}: A acknowledged only {n} confirms; refused: {:?}",
                refused.lock().unwrap_or_else(PoisonError::into_inner)
            );
        }
        // A few milliseconds later each round, so that the kill meets the confirms in flight
        // at another stage.
        tokio::time::sleep(Duration::from_millis(5 * u64::try_from(round).unwrap_or(0))).await;
        let killed_at = Instant::now();
        c.a.kill9();
        kills.push(killed_at);
        for client in clients {
            tokio::time::timeout(Duration::from_secs(60), client)
                .await
                .expect("a client of A still waits a minute after the kill")
                .expect("client task");
        }
        let refused = std::mem::take(&mut *refused.lock().unwrap_or_else(PoisonError::into_inner));
        assert!(
            refused.is_empty(),
            "round {round}: A refused confirms: {refused:?}"
        );

        // Read on B at once: every session A acknowledged, whole.
        let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(PoisonError::into_inner));
        let totals = session_totals(&c.b.app, &t, &sid).await;
        for date in &acked {
            assert_eq!(
                totals.get(date),
                Some(&expected),
                "round {round}: session {date}, acknowledged by A, read on B"
            );
        }
        let first = day(round * 4 * A_DAYS_PER_CLIENT + 4 * A_DAYS_PER_CLIENT - 1);
        let last = day(round * 4 * A_DAYS_PER_CLIENT);
        let of_round = totals
            .keys()
            .filter(|d| d.as_str() >= first.as_str() && d.as_str() <= last.as_str())
            .count();
        println!(
            "round {round}: A killed after {} acknowledged confirms; {of_round} of its sessions \
             are on B ({} committed but never answered)",
            acked.len(),
            of_round.saturating_sub(acked.len())
        );
        acked_in_all += acked.len();
        unanswered_in_all += of_round.saturating_sub(acked.len());

        // B goes on: five of its confirms begun after the kill.
        let deadline = Instant::now() + Duration::from_secs(120);
        while answered_by_b(killed_at) < 5 {
            assert!(
                Instant::now() < deadline,
                "round {round}: B answered only {} confirms in the 2 minutes after the kill",
                answered_by_b(killed_at)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(60), on_b)
        .await
        .expect("B's client stops")
        .expect("B's client task");

    let answers = std::mem::take(&mut *answers.lock().unwrap_or_else(PoisonError::into_inner));
    let bad: Vec<String> = answers
        .iter()
        .filter(|x| x.outcome != Ok(200))
        .map(|x| {
            let since = kills
                .iter()
                .filter_map(|k| x.started.checked_duration_since(*k))
                .min();
            format!("{} begun {since:?} after a kill: {:?}", x.what, x.outcome)
        })
        .collect();
    assert!(bad.is_empty(), "B did not answer 200: {bad:?}");
    for (round, killed_at) in kills.iter().enumerate() {
        let during = answers
            .iter()
            .filter(|x| x.started < *killed_at && x.started + x.took > *killed_at)
            .count();
        let before = answers.iter().filter(|x| x.started < *killed_at).count();
        assert!(
            before > 0,
            "round {round}: B was not serving when A was killed"
        );
        println!("round {round}: {during} requests to B were in flight at the kill");
    }
    let slowest = answers.iter().map(|x| x.took).max().unwrap_or_default();

    // In the end: no session anywhere (A's, B's) half written, through B and in the database.
    let totals = session_totals(&c.b.app, &t, &sid).await;
    for (date, total) in &totals {
        assert_eq!(*total, expected, "session {date} is half written");
    }
    let records: Vec<(String, i64)> = {
        let db = c.db();
        let mut stmt = db
            .prepare(
                "SELECT s.date, COUNT(r.student_id) FROM attendance_sessions s
                 LEFT JOIN attendance_records r ON r.session_id = s.id GROUP BY s.id, s.date",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(records.len(), totals.len(), "B lists every session");
    for (date, n) in &records {
        assert_eq!(
            *n, expected,
            "session {date} has {n} records in the database"
        );
    }
    println!(
        "{ROUNDS} kills: {acked_in_all} confirms acknowledged by A, all on B \
         ({unanswered_in_all} more committed but never answered); B answered {} requests, all \
         200, the slowest in {slowest:?}; {} sessions, all whole",
        answers.len(),
        totals.len()
    );
}

/// Point 6: with both servers' mail workers polling one outbox, every absence is mailed exactly
/// once: 18 absences over three sessions (one confirmed on A and B at the same moment), 18
/// messages at the sink once both servers have stopped (each finishing the message in hand),
/// every outbox row sent at its first attempt, and both workers took part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mail_workers_send_each_absence_notice_exactly_once() {
    if !on_postgres() {
        return;
    }
    // A sink that takes a little while over each message, so that a queue of them keeps both
    // servers' workers busy at once.
    let relay = listener(0);
    let port = relay.local_addr().map(|a| a.port()).unwrap_or_default();
    let smtp = slow_smtp_on(relay, Duration::from_millis(30));
    let args = relay_args(port);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(mut c) = Cluster::start(&args).await else {
        return;
    };
    let (t, _) = teacher(&c.a.app, "t-mail@school.test").await;
    let sid = subject(&c.a.app, &t, "MAILC", &[]).await;
    let students = roster(&c.a.app, &t, &sid, 16).await;
    // Mail queued by setting up (if any) is not what this test counts; it is in the totals.
    let before: i64 = c
        .db()
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();

    type Rule = fn(usize) -> bool;
    let sessions: [(&str, &str, Rule); 3] = [
        ("2025-03-03", "A and B", |i| i % 2 == 0),
        ("2025-03-04", "B", |i| i % 3 == 0),
        ("2025-03-05", "A", |i| i % 4 == 1),
    ];
    let mut expected: Vec<(String, &str)> = Vec::new();
    for (date, on, absent) in sessions {
        let body = confirmation(&sid, date, &students, |i| {
            if absent(i) { "absent" } else { "present" }
        });
        let (a, b) = (&c.a.app, &c.b.app);
        match on {
            "A and B" => {
                let (x, y) = tokio::join!(
                    a.post("/api/attendance/confirm", &body, Some(&t)),
                    b.post("/api/attendance/confirm", &body, Some(&t))
                );
                ok(x).await;
                ok(y).await;
            }
            "A" => {
                ok(a.post("/api/attendance/confirm", &body, Some(&t)).await).await;
            }
            _ => {
                ok(b.post("/api/attendance/confirm", &body, Some(&t)).await).await;
            }
        }
        for (i, (_, email)) in students.iter().enumerate() {
            if absent(i) {
                expected.push((email.clone(), date));
            }
        }
    }
    assert_eq!(expected.len(), 18);

    // Wait until the outbox is drained: the notices queued, every row sent.
    let started = Instant::now();
    loop {
        let (queued, unsent): (i64, i64) = c
            .db()
            .query_row(
                "SELECT COUNT(*) FILTER (WHERE kind = 'attendance.absent'),
                        COUNT(*) FILTER (WHERE status <> 'sent') FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(queued, 18, "one notice queued per absence");
        if unsent == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{unsent} messages still unsent after a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    // Stop both servers: a worker that had claimed a message twice would finish sending it.
    for node in [&mut c.a, &mut c.b] {
        let status = node.stop().await;
        assert!(
            status.success(),
            "server {} stopped with {status}",
            node.name
        );
    }

    let received = smtp.messages();
    let sent: i64 = c
        .db()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let total = usize::try_from(sent).unwrap_or(0);
    assert_eq!(
        received.len(),
        total,
        "one message at the sink per sent outbox row ({before} queued before the confirmations)"
    );
    let retried: i64 = c
        .db()
        .query_row("SELECT COUNT(*) FROM outbox WHERE attempts <> 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(retried, 0, "every message sent at its first attempt");
    let absences: Vec<&Received> = received
        .iter()
        .filter(|m| {
            m.header("Subject")
                .unwrap_or_default()
                .starts_with("Absent:")
        })
        .collect();
    for (email, date) in &expected {
        let n = absences
            .iter()
            .filter(|m| {
                m.to == [email.clone()] && m.header("Subject").unwrap_or_default().contains(date)
            })
            .count();
        assert_eq!(n, 1, "absence notices to {email} for {date}");
    }
    assert_eq!(
        absences.len(),
        expected.len(),
        "no notice to a present student"
    );
    let (by_a, by_b) = (c.a.logged("e-mail sent"), c.b.logged("e-mail sent"));
    println!(
        "{} messages ({} absence notices) sent in {drained:?}: {by_a} by A, {by_b} by B",
        received.len(),
        absences.len()
    );
    assert_eq!(by_a + by_b, total, "each sent message logged once");
    assert!(
        by_a > 0 && by_b > 0,
        "both workers delivered ({by_a} by A, {by_b} by B)"
    );
}

/// Two servers started at the same moment on an empty database, as a deployment (or a
/// container orchestrator restarting everything) starts them: both must come up and serve, with
/// one first administrator between them.
#[tokio::test]
async fn two_servers_started_together_on_an_empty_database_both_serve() {
    let Some(c) = Cluster::start_together(&[]).await else {
        return;
    };
    for node in [&c.a, &c.b] {
        let admin = node.app.admin_token().await;
        let me = ok(node.app.get("/api/auth/me", Some(&admin)).await).await;
        assert_eq!(me["role"], "admin", "on {}: {me}", node.name);
    }
    let admins: i64 = c
        .db()
        .query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(admins, 1, "one first administrator for the cluster");
}

/// A face photo enrolled through A is served by B too (the teacher reviews samples on whichever
/// server the balancer picks).
#[tokio::test]
async fn a_face_image_stored_through_one_server_is_served_by_the_other() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let (a, b) = (&c.a.app, &c.b.app);
    let (t, _) = teacher(a, "t-image@school.test").await;
    let (_, obama) = student(a, "obama@school.test").await;
    subject(a, &t, "IMG1", &[&obama]).await;
    ok(a.post(
        &format!("/api/students/{obama}/consent"),
        &Value::Null,
        Some(&t),
    )
    .await)
    .await;
    let enrolled = ok(upload(a, &t, Some(&obama), &photo("obama.jpg")).await).await;
    let url = enrolled["image_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no image_url in {enrolled}"))
        .to_owned();
    let on_a = a.get(&url, Some(&t)).await;
    assert_eq!(on_a.status(), StatusCode::OK, "{url} on A");
    let on_a = on_a.bytes().await.unwrap_or_default();
    let on_b = b.get(&url, Some(&t)).await;
    let status = on_b.status();
    let on_b = on_b.bytes().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::OK,
        "{url} on B: {}",
        String::from_utf8_lossy(&on_b)
    );
    assert_eq!(on_a, on_b, "the same image on both servers");
}

/// Background jobs run once for the cluster: with retention on, both servers start their hourly
/// purge at start-up, and exactly one of them runs it while the other says it skipped (the job's
/// lease and last run are rows); the same for re-encoding old photos.
#[tokio::test]
async fn a_periodic_job_runs_on_one_server_per_period() {
    let Some(c) = Cluster::start(&["--draft-retention-days", "1"]).await else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    for job in ["retention", "reencode"] {
        let name = format!("\"job\":\"{job}\"");
        let ran = |n: &Node| n.logged_all(&[&name, "job: running here"]);
        let skipped = |n: &Node| n.logged_all(&[&name, "job: skipped"]);
        loop {
            let decided = |n: &Node| ran(n) + skipped(n);
            if decided(&c.a) >= 1 && decided(&c.b) >= 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "both servers decide about {job} at start: A {} B {}",
                decided(&c.a),
                decided(&c.b)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if job == "retention" {
            assert_eq!(
                ran(&c.a) + ran(&c.b),
                1,
                "the purge ran once for both servers"
            );
        }
    }
    let runs: i64 = c
        .db()
        .query_row(
            "SELECT COUNT(*) FROM job_leases WHERE name = 'retention'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    assert_eq!(runs, 1);
}

/// Figures, not a check (docs/DEPLOYMENT.md, the closing note): reads per second, confirms per
/// second and mark latency on one server on SQLite, one server on PostgreSQL and two servers on
/// one PostgreSQL database, in one run on this machine, each configuration from an empty
/// database. `scripts/bench-cluster` runs it on a release build (`ROLLCALL_LOAD_SECS` per phase).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-cluster"]
async fn throughput_of_one_server_on_sqlite_and_one_or_two_on_postgres() {
    use crate::load::{check, report, run, seconds};
    if !on_postgres() {
        return;
    }
    let secs = seconds();
    for (label, postgres, servers) in [
        ("SQLite, 1 server", false, 1),
        ("PostgreSQL, 1 server", true, 1),
        ("PostgreSQL, 2 servers", true, 2),
    ] {
        println!("== {label}");
        let dir_a = tempfile::tempdir().expect("tempdir");
        let url = if postgres {
            backend::database_url(dir_a.path()).expect("a PostgreSQL database")
        } else {
            "sqlite:".to_owned()
        };
        let extra = ["--hash-wait-ms", "30000", "--login-max-per-ip", "100000"];
        let mut nodes = vec![Node::spawn("A", dir_a, free_port(), &url, &extra)];
        nodes[0].ready().await;
        if servers == 2 {
            let dir_b = tempfile::tempdir().expect("tempdir");
            let port = std::iter::repeat_with(free_port)
                .find(|p| SocketAddr::from(([127, 0, 0, 1], *p)) != nodes[0].app.addr)
                .unwrap_or_default();
            nodes.push(Node::spawn("B", dir_b, port, &url, &extra));
            nodes[1].ready().await;
        }
        let a = &nodes[0].app;
        let (t1, _) = teacher(a, "t1@school.test").await;
        let (_, obama) = student(a, "obama@school.test").await;
        let sid = subject(a, &t1, "BENCH1", &[&obama]).await;
        enrol_faces(a, &t1, &obama, &[photo("obama.jpg")]).await;
        let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.app.base.clone()).collect());
        let client = reqwest::Client::new();

        let (b, c, t, s) = (Arc::clone(&bases), client.clone(), t1.clone(), sid.clone());
        let reads = run(32, secs, move |i| {
            let base = &b[i % b.len()];
            let path = match i % 3 {
                0 => "/api/subjects".to_owned(),
                1 => "/api/auth/me".to_owned(),
                _ => format!("/api/subjects/{s}/students"),
            };
            c.get(format!("{base}{path}")).bearer_auth(&t).send()
        })
        .await;
        report(&format!("{label}: reads"), 32, &reads);
        check("reads", &reads, &[200]);

        let (b, c, t, s, o) = (
            Arc::clone(&bases),
            client.clone(),
            t1.clone(),
            sid.clone(),
            obama.clone(),
        );
        let confirms = run(8, secs, move |i| {
            let base = &b[i % b.len()];
            let body = json!({"subject_id": s, "date": day(i % 997), "present_students": [o]});
            c.post(format!("{base}/api/attendance/confirm"))
                .bearer_auth(&t)
                .json(&body)
                .send()
        })
        .await;
        report(&format!("{label}: confirms"), 8, &confirms);
        check("confirms", &confirms, &[200]);

        let image = Arc::new(json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid}));
        let (b, c, t) = (Arc::clone(&bases), client.clone(), t1.clone());
        let marks = run(2 * servers, secs.max(4.0), move |i| {
            let base = &b[i % b.len()];
            c.post(format!("{base}/api/attendance/mark"))
                .bearer_auth(&t)
                .json(&*image)
                .send()
        })
        .await;
        report(&format!("{label}: marks"), 2 * servers, &marks);
        check("marks", &marks, &[200, 503]);
    }
}
