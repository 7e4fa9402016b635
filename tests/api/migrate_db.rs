//! `rollcall migrate-db`: a school built on SQLite through the API is copied into a fresh
//! PostgreSQL database, and a server on that database, with a new and empty data directory,
//! gives the same answers. A second run only verifies; a target holding other data, or a copy
//! of the school as it was before it changed, is refused; a damaged image stops the copy before
//! any row is written. The face images and avatars go into the target's `images` / `avatars`
//! tables when it has them (a target prepared with them shows that path).
//!
//! Needs PostgreSQL (`ROLLCALL_TEST_POSTGRES`, the admin URL `scripts/setup-postgres` prints):
//! without it the test says SKIPPED. It reads a SQLite school, so on
//! `ROLLCALL_TEST_BACKEND=postgres` (where the source app itself would be on PostgreSQL) it says
//! SKIPPED too.

use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::db::TestDb;
use crate::support::world::{confirm, enrol_faces, student, subject, teacher};
use crate::support::{ADMIN_EMAIL, TestApp, backend, body, media, ok, spawn_app, walk_files};

/// The cluster's admin URL, or `None` (after saying why) when the test cannot run here.
fn cluster() -> Option<String> {
    if std::env::var("ROLLCALL_TEST_BACKEND").as_deref() == Ok("postgres") {
        eprintln!(
            "SKIPPED migrate_db: it copies a SQLite school; with ROLLCALL_TEST_BACKEND=postgres \
             the source app would be on PostgreSQL (run it with ROLLCALL_TEST_POSTGRES alone)"
        );
        return None;
    }
    match std::env::var("ROLLCALL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("ROLLCALL_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("migrate_db needs ROLLCALL_TEST_POSTGRES (scripts/setup-postgres prints it)")
        }
        _ => {
            eprintln!("SKIPPED migrate_db: needs ROLLCALL_TEST_POSTGRES (scripts/setup-postgres)");
            None
        }
    }
}

/// `rollcall migrate-db --data-dir DIR --to URL`, off the test's runtime.
async fn migrate_db(data_dir: &Path, to: &str) -> Output {
    let (dir, to) = (data_dir.display().to_string(), to.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(["migrate-db", "--data-dir", &dir, "--to", &to])
            .env_remove("ROLLCALL_DATABASE_URL")
            .output()
            .unwrap_or_else(|e| panic!("running rollcall migrate-db: {e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "--- migrate-db ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Bring `url`'s schema up to date (as a server would), on a thread of its own.
fn migrate_schema(url: &str) {
    let url = url.to_owned();
    std::thread::spawn(move || {
        rollcall::storage::Db::connect_postgres(&url).unwrap_or_else(|e| panic!("{url}: {e:#}"));
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

/// The file-store tables as the database-backed image store declares them (migration 0011 of
/// that change; `IF NOT EXISTS`, so where 0011 made them this does nothing).
const FILE_TABLES: &str = "CREATE TABLE IF NOT EXISTS images (
        sha256 TEXT PRIMARY KEY, bytes BYTEA NOT NULL, created_at BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS avatars (
        name TEXT PRIMARY KEY, content_type TEXT NOT NULL, bytes BYTEA NOT NULL,
        created_at BIGINT NOT NULL)";

fn has_table(db: &TestDb, table: &str) -> bool {
    db.query_row(
        "SELECT COUNT(*) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .unwrap_or_else(|e| panic!("{e}"))
        > 0
}

/// Row counts of every table of the target (its whole state, for "nothing changed").
fn counts(db: &TestDb) -> Vec<(String, i64)> {
    let tables: Vec<String> = db
        .prepare(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             ORDER BY table_name",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n = db
                .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{t}: {e}"));
            (t, n)
        })
        .collect()
}

/// What the school looks like through the API, read with the given tokens.
struct Answers {
    reads: Vec<(String, Value)>,
    audit: Vec<Value>,
}

/// The reads compared before and after the move (`GET` path, token).
async fn read_answers(app: &TestApp, reads: &[(String, String)], admin: &str) -> Answers {
    let mut out = Vec::new();
    // The audit list first: nothing below writes to it, and on the target it is read before
    // anything else could.
    let audit = ok(app.get("/api/admin/audit?limit=500", Some(admin)).await).await;
    for (path, token) in reads {
        let mut v = ok(app.get(path, Some(token)).await).await;
        // A face photo's link is signed for a time from now: compare where it points.
        strip_link_signatures(&mut v);
        out.push((path.clone(), v));
    }
    Answers {
        reads: out,
        audit: audit["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("audit: {audit}"))
            .clone(),
    }
}

fn strip_link_signatures(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("&sig=") => {
            let path = s.split('?').next().unwrap_or_default().to_owned();
            *s = path;
        }
        Value::Array(a) => a.iter_mut().for_each(strip_link_signatures),
        Value::Object(o) => o.values_mut().for_each(strip_link_signatures),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_school_moves_to_postgres_and_answers_alike() {
    let Some(admin_url) = cluster() else { return };

    // A school on SQLite, built through the API.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (t, _) = teacher(&app, "t@school.test").await;
    let (_, s1) = student(&app, "s1@school.test").await;
    let (s2_token, s2) = student(&app, "s2@school.test").await;
    let sid = subject(&app, &t, "MIG101", &[&s1, &s2]).await;
    assert_eq!(
        enrol_faces(&app, &t, &s1, &[media::photo("obama.jpg")]).await,
        1
    );
    let confirmed = confirm(
        &app,
        &t,
        &sid,
        "2026-03-02",
        0,
        &[(&s1, "present"), (&s2, "absent")],
    )
    .await;
    let session = confirmed["session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{confirmed}"))
        .to_owned();
    confirm(
        &app,
        &t,
        &sid,
        "2026-03-03",
        1,
        &[(&s1, "late"), (&s2, "present")],
    )
    .await;
    // A correction: the counts triggers of the source moved them; the copy keeps them as they are.
    ok(app
        .put(
            &format!("/api/attendance/sessions/{session}/records/{s2}"),
            &json!({"status": "excused"}),
            Some(&t),
        )
        .await)
    .await;
    let mail = ok(app
        .post(
            "/api/notifications/absence",
            &json!({"student_emails": ["s2@school.test"], "subject": "Subject MIG101",
                    "date": "2026-03-02", "teacher_name": "T"}),
            Some(&t),
        )
        .await)
    .await;
    assert_eq!(mail["queued"], 1, "{mail}");
    let photo = media::photo("obama.jpg");
    let avatar = ok(app
        .post_multipart(
            "/api/settings/upload-avatar",
            &[("file", Some("me.jpg"), "image/jpeg", &photo)],
            Some(&t),
        )
        .await)
    .await;
    assert!(avatar["avatarUrl"].is_string(), "{avatar}");

    let reads: Vec<(String, String)> = [
        (format!("/api/subjects/{sid}/students"), &t),
        (format!("/api/subjects/{sid}"), &t),
        (format!("/api/attendance/subjects/{sid}/sessions"), &t),
        (format!("/api/attendance/sessions/{session}"), &t),
        ("/api/analytics/global".to_owned(), &t),
        (
            format!(
                "/api/analytics/attendance-trend?classId={sid}&dateFrom=2026-03-01&dateTo=2026-03-31"
            ),
            &t,
        ),
        (format!("/api/analytics/monthly-summary?classId={sid}"), &t),
        (format!("/api/analytics/students/{s2}"), &t),
        ("/api/analytics/me".to_owned(), &s2_token),
        (format!("/api/students/{s1}/faces"), &t),
        ("/api/settings".to_owned(), &t),
        ("/api/admin/outbox".to_owned(), &admin),
        ("/api/admin/users".to_owned(), &admin),
    ]
    .into_iter()
    .map(|(p, tok)| (p, tok.clone()))
    .collect();
    let before = read_answers(&app, &reads, &admin).await;
    // From here on the source is left alone (as a stopped server would be).

    let images = walk_files(&app.data_dir.path().join("faces"));
    assert!(!images.is_empty(), "the enrolment stored no image");

    // 1. Into a fresh database: copied and verified.
    let target = backend::fresh_database(&admin_url, "migrate_main");
    let first = migrate_db(app.data_dir.path(), &target).await;
    assert!(
        first.status.success(),
        "migrate-db failed: {}",
        stderr(&first)
    );
    let report = stdout(&first);
    assert!(report.contains("copied: "), "{report}");
    assert!(report.contains("rows/s"), "{report}");
    assert!(!report.contains("differs"), "{report}");
    let db = TestDb::postgres(target.clone());
    if has_table(&db, "images") {
        assert!(report.contains("images: "), "{report}");
        assert!(!report.contains("images: NOT copied"), "{report}");
    } else {
        // Before the database-backed image store, images stay files: said plainly.
        assert!(report.contains("images: NOT copied"), "{report}");
        assert!(report.contains("face images were NOT copied"), "{report}");
    }
    // Ids and the implicit rowid kept; identities moved past them.
    let (rowid, max_outbox): (i64, i64) = db
        .query_row(
            "SELECT (SELECT MAX(rowid) FROM face_samples), (SELECT MAX(id) FROM outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rowid >= 1 && max_outbox >= 1);
    let next: i64 = db
        .query_row(
            "SELECT nextval(pg_get_serial_sequence('outbox', 'id'))",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next,
        max_outbox + 1,
        "the outbox identity continues after the copied ids"
    );
    let triggers_on: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = 'attendance_records'::regclass
             AND NOT tgisinternal AND tgenabled = 'O'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(triggers_on, 3, "the attendance triggers are enabled again");

    // 2. A server on the copy, with a new, empty data directory, answers alike (with the
    // tokens the SQLite server issued: the sessions moved too).
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let addr = crate::support::serve(fresh_dir.path(), &["--database-url", &target]).await;
    let moved = TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        data_dir: fresh_dir,
        log: crate::support::log::Guard,
    };
    let after = read_answers(&moved, &reads, &admin).await;
    for ((path, want), (_, got)) in before.reads.iter().zip(&after.reads) {
        assert_eq!(got, want, "GET {path} differs after the move");
    }
    let (marker, rest) = after
        .audit
        .split_first()
        .unwrap_or_else(|| panic!("no audit entries after the move"));
    assert_eq!(marker["action"], "database.migrated", "{marker}");
    assert!(marker["actor_id"].is_null(), "the operator: {marker}");
    assert!(
        marker["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with("via cli")),
        "{marker}"
    );
    assert_eq!(
        rest,
        before.audit.as_slice(),
        "the audit trail moved as it was"
    );
    // The new server writes on from the copied ids.
    let login = ok(moved
        .post(
            "/api/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD}),
            None,
        )
        .await)
    .await;
    assert!(login["token"].is_string());

    // 3. Again: only verified, nothing changed.
    let state = counts(&db);
    let again = migrate_db(app.data_dir.path(), &target).await;
    assert!(
        again.status.success(),
        "second run failed: {}",
        stderr(&again)
    );
    assert!(
        stdout(&again).contains("already copied"),
        "{}",
        stdout(&again)
    );
    assert!(stdout(&again).contains("nothing was changed"));
    assert_eq!(counts(&db), state, "a second run changed the target");

    // 4. A target with other data is refused, and left as it was.
    let other = backend::fresh_database(&admin_url, "migrate_other");
    migrate_schema(&other);
    let other_db = TestDb::postgres(other.clone());
    other_db
        .execute(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
             VALUES ('aaaaaaaaaaaaaaaaaaaaaaaa', 'x@other.test', 'X', 'admin', 'h', 0, 0)",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let other_state = counts(&other_db);
    let refused = migrate_db(app.data_dir.path(), &other).await;
    assert!(!refused.status.success(), "a target with data was accepted");
    assert!(
        stderr(&refused).contains("holds data already"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("users (1)"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(counts(&other_db), other_state);

    // 5. Into a target with the file-store tables: images and avatars go in, each checked, and
    // an image already there (a run cut short) is kept.
    let with_files = backend::fresh_database(&admin_url, "migrate_files");
    migrate_schema(&with_files);
    let files_db = TestDb::postgres(with_files.clone());
    for sql in FILE_TABLES.split(';') {
        files_db.execute(sql, []).unwrap_or_else(|e| panic!("{e}"));
    }
    let first_image = std::fs::read(&images[0]).expect("image");
    let first_sha = hex::encode(sha2::Sha256::digest(&first_image));
    files_db
        .execute(
            "INSERT INTO images (sha256, bytes, created_at) VALUES (?1, ?2, 0)",
            rusqlite::params![first_sha, first_image],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // An image the SQLite database keeps in a table of its own (none does yet; such rows are
    // copied too).
    let in_row = media::png(&media::decode(&photo));
    let in_row_sha = hex::encode(sha2::Sha256::digest(&in_row));
    let source_db = app.db();
    source_db
        .execute(
            "CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL,
             created_at INTEGER NOT NULL) STRICT",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    source_db
        .execute(
            "INSERT INTO images (sha256, bytes, created_at) VALUES (?1, ?2, 0)",
            rusqlite::params![in_row_sha, in_row],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let copied = migrate_db(app.data_dir.path(), &with_files).await;
    assert!(copied.status.success(), "{}", stderr(&copied));
    let n = images.len() + 1;
    assert!(
        stdout(&copied).contains(&format!(
            "images: {n} found, {} copied, 1 already there, {n} read back equal",
            n - 1
        )),
        "{}",
        stdout(&copied)
    );
    assert!(
        stdout(&copied).contains("avatars: 1 found, 1 copied, 0 already there, 1 read back equal"),
        "{}",
        stdout(&copied)
    );
    let stored: Vec<(String, Vec<u8>)> = files_db
        .prepare("SELECT sha256, bytes FROM images ORDER BY sha256")
        .unwrap_or_else(|e| panic!("{e}"))
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(stored.len(), n);
    for (sha, bytes) in &stored {
        assert_eq!(&hex::encode(sha2::Sha256::digest(bytes)), sha);
    }
    assert!(stored.iter().any(|(sha, _)| *sha == in_row_sha));
    let avatar_type: String = files_db
        .query_row("SELECT content_type FROM avatars", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(avatar_type, "image/jpeg");

    // 6. The school changes after a copy: that copy is refused as a target, and left alone.
    let (_, _) = student(&app, "late@school.test").await;
    let stale = migrate_db(app.data_dir.path(), &target).await;
    assert!(
        !stale.status.success(),
        "a copy of an older state was taken for current"
    );
    assert!(
        stderr(&stale).contains("already holds a copy of a school"),
        "{}",
        stderr(&stale)
    );
    assert_eq!(counts(&db), state);

    // 7. A damaged image stops the copy before any row is written.
    let damaged = backend::fresh_database(&admin_url, "migrate_damaged");
    migrate_schema(&damaged);
    let damaged_db = TestDb::postgres(damaged.clone());
    for sql in FILE_TABLES.split(';') {
        damaged_db
            .execute(sql, [])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(&images[0], b"not the photo").expect("damage an image");
    let stopped = migrate_db(app.data_dir.path(), &damaged).await;
    assert!(!stopped.status.success(), "a damaged image was copied");
    assert!(stderr(&stopped).contains("damaged"), "{}", stderr(&stopped));
    let users: i64 = damaged_db
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(users, 0, "no row is copied when an image is damaged");

    // The moved server still answers (the tests above did not disturb it).
    let resp = moved.get("/health", None).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(resp).await);
}
