//! Faults: the real binary is killed with SIGKILL while it confirms sessions and while it enrols
//! faces; after a restart the database passes SQLite's integrity check, everything the server
//! had answered 200 for is there, and nothing is half-written. A data directory that cannot
//! be used stops the server at start with a message naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::binary::{Server, command, free_port, school};
use crate::support::log::Guard;
use crate::support::media::photo;

/// Enrol one photo: `Err` when the server is gone, `Ok(None)` when it refused the photo.
async fn upload(
    s: &Server,
    token: &str,
    student: &str,
    photo: &[u8],
) -> Result<Option<String>, reqwest::Error> {
    let boundary = "fault-boundary-9c2e";
    let mut raw = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"student_id\"\r\n\r\n{student}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"face.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(photo);
    raw.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = s
        .client
        .post(format!("{}/api/students/upload-face", s.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(raw)
        .send()
        .await?;
    if r.status() != StatusCode::OK {
        return Ok(None);
    }
    let v: Value = r.json().await?;
    Ok(v["sample_id"].as_str().map(str::to_owned))
}

fn db(data_dir: &Path) -> crate::support::db::TestDb {
    match crate::support::backend::database_url(data_dir) {
        Some(url) => crate::support::db::TestDb::postgres(url),
        None => crate::support::db::TestDb::sqlite(&data_dir.join("rollcall.sqlite3")),
    }
}

/// The database is whole after the crash: SQLite's integrity and foreign-key checks (PostgreSQL
/// checks foreign keys on every write and recovers from its WAL by itself).
fn integrity(data_dir: &Path) {
    if crate::support::backend::database_url(data_dir).is_some() {
        return;
    }
    let check: String = db(data_dir)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let fk: i64 = db(data_dir)
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap_or(-1);
    assert_eq!(fk, 0, "foreign key violations after the crash");
}

fn day(n: usize) -> String {
    let base = time::macros::date!(2026 - 01 - 05);
    let d = base + time::Duration::days(i64::try_from(n).unwrap_or(0));
    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test]
async fn kill_9_during_confirm_loses_nothing_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let s = Server::start(&data).await;
    let (teacher, subject, students) = school(&s, 30).await;
    let mut confirmed: Vec<String> = Vec::new();
    let mut next = 0;
    let mut server = Some(s);
    for round in 0..3u64 {
        let s = server.take().expect("no server");
        // Confirm session after session; the kill lands at a different moment each round.
        let kill_at = Instant::now() + Duration::from_millis(300 + 250 * round);
        while Instant::now() < kill_at {
            let date = day(next);
            next += 1;
            let decisions: Vec<Value> = students
                .iter()
                .enumerate()
                .map(|(i, id)| json!({"student_id": id, "status": if i % 3 == 0 { "absent" } else { "present" }}))
                .collect();
            let body = json!({"subject_id": subject, "date": date, "decisions": decisions});
            if let Ok(r) = s
                .post("/api/attendance/confirm", &body, Some(&teacher))
                .await
                && r.status() == StatusCode::OK
            {
                confirmed.push(date);
            }
        }
        // One more in flight while the process dies.
        let inflight = {
            let body = json!({"subject_id": subject, "date": day(next),
                "decisions": students.iter().map(|id| json!({"student_id": id, "status": "late"})).collect::<Vec<_>>()});
            next += 1;
            let req = s
                .client
                .post(format!("{}/api/attendance/confirm", s.base))
                .bearer_auth(&teacher)
                .json(&body);
            tokio::spawn(async move { req.send().await.map(|r| r.status()) })
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        s.kill9();
        if let Ok(Ok(status)) = inflight.await
            && status == StatusCode::OK
        {
            confirmed.push(day(next - 1));
        }
        integrity(&data);
        server = Some(Server::start(&data).await);
    }
    assert!(
        confirmed.len() >= 3,
        "too few confirmations to mean anything: {confirmed:?}"
    );
    // Every session the server said it confirmed is there in full; no session is partial.
    let conn = db(&data);
    let mut stmt = conn
        .prepare(
            "SELECT s.date, COUNT(r.student_id) FROM attendance_sessions s
             LEFT JOIN attendance_records r ON r.session_id = s.id GROUP BY s.id",
        )
        .unwrap();
    let sessions: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    for (date, records) in &sessions {
        assert_eq!(*records, 30, "session {date} has {records} records");
    }
    for date in &confirmed {
        assert!(
            sessions.iter().any(|(d, _)| d == date),
            "confirmed session {date} was lost"
        );
    }
    println!(
        "{} sessions confirmed over 3 kills, {} on disk, all complete",
        confirmed.len(),
        sessions.len()
    );
    if let Some(s) = server {
        s.kill9();
    }
}

#[tokio::test]
async fn kill_9_during_enrolment_leaves_no_sample_without_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let s = Server::start(&data).await;
    let (teacher, _, students) = school(&s, 3).await;
    let photos = vec![photo("obama.jpg"), photo("obama2.jpg"), photo("biden.jpg")];
    let mut accepted: Vec<String> = Vec::new();
    let mut server = Some(s);
    for round in 0..3u64 {
        let s = server.take().expect("no server");
        // Load the models first, so that the kill lands among uploads, not model loading.
        let warm = upload(&s, &teacher, &students[0], &photos[0]).await;
        accepted.extend(warm.ok().flatten());
        let (client, base, token) = (s.client.clone(), s.base.clone(), teacher.clone());
        let (ids, photos2) = (students.clone(), photos.clone());
        let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel::<()>();
        let uploads = tokio::spawn(async move {
            let mut got = Vec::new();
            let server = Server {
                child: None,
                base,
                client,
                log: Guard,
            };
            // Each student gets at most 9 uploads in all (they keep 10).
            for i in 0..6 {
                match upload(
                    &server,
                    &token,
                    &ids[i % ids.len()],
                    &photos2[(i + 1) % photos2.len()],
                )
                .await
                {
                    Ok(Some(id)) => got.push(id),
                    Ok(None) => {}
                    Err(_) => break,
                }
                let _ = answered_tx.send(());
            }
            got
        });
        // Kill while an upload is in flight: after this round's first answers (how many grows
        // with the round), and a little into the next one; however slow the machine is.
        for _ in 0..=round {
            let _ = tokio::time::timeout(Duration::from_secs(60), answered.recv()).await;
        }
        tokio::time::sleep(Duration::from_millis(150 + 100 * round)).await;
        s.kill9();
        accepted.extend(uploads.await.unwrap_or_default());
        integrity(&data);
        server = Some(Server::start(&data).await);
    }
    let conn = db(&data);
    let mut stmt = conn
        .prepare("SELECT id, image_sha256 FROM face_samples")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    let in_database = crate::support::backend::database_url(&data).is_some();
    for (id, sha) in &rows {
        // Files beside SQLite; rows of the images table on PostgreSQL.
        let (stored, place) = if in_database {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM images WHERE sha256 = ?1",
                    [sha],
                    |r| r.get(0),
                )
                .unwrap();
            (n == 1, format!("images row {sha}"))
        } else {
            let file = rollcall::service::images::image_file(&data.join("faces"), sha);
            (file.exists(), file.display().to_string())
        };
        assert!(stored, "sample {id} lost its image {place}");
    }
    // A student keeps their newest 10 samples: with fewer uploads per student than that, every
    // accepted one must still be there.
    assert!(
        accepted.len() >= 5,
        "too few uploads to mean anything: {}",
        accepted.len()
    );
    for id in &accepted {
        assert!(
            rows.iter().any(|(r, _)| r == id),
            "accepted sample {id} was lost"
        );
    }
    println!(
        "{} uploads answered 200 before the kills, {} samples on disk, every one with its image",
        accepted.len(),
        rows.len()
    );
    if let Some(s) = server {
        s.kill9();
    }
}

#[test]
fn an_unusable_data_dir_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    // A data "directory" that is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = command(&file, free_port()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a file as data dir");
    assert!(
        stderr.contains("not-a-dir"),
        "the message names the path: {stderr}"
    );
    // A database file that is not a database.
    if crate::support::backend::skip_on_postgres("a corrupt SQLite file") {
        return;
    }
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("rollcall.sqlite3"), vec![b'x'; 4096]).unwrap();
    let out = command(&data, free_port()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a corrupt database");
    assert!(
        stderr.contains("rollcall.sqlite3"),
        "the message names the database: {stderr}"
    );
}

/// A small tmpfs mounted for one test (needs root or CAP_SYS_ADMIN); unmounted on drop.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            mount: at.to_owned(),
        })
    }

    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {mode}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Fill the file system holding `dir` with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    for _ in 0..64 {
        if f.write_all(&[0u8; 512]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    path
}

#[tokio::test]
async fn a_full_or_read_only_disk_gets_a_clear_503_and_the_server_recovers() {
    if crate::support::backend::skip_on_postgres("the SQLite file on a full or read-only disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("mnt"), "8m") else {
        eprintln!(
            "SKIPPED a_full_or_read_only_disk: mounting a tmpfs needs root (CI runs as root)"
        );
        return;
    };
    let data = disk.mount.join("data");
    let s = Server::start(&data).await;
    let (teacher, subject, students) = school(&s, 2).await;
    let confirm = json!({"subject_id": subject, "date": "2026-03-03",
        "decisions": [{"student_id": students[0], "status": "present"}]});
    s.ok("/api/attendance/confirm", &confirm, Some(&teacher))
        .await;
    // Warm the models so that the full disk, not loading, is what the upload meets.
    let warm = upload(&s, &teacher, &students[1], &photo("biden.jpg")).await;
    assert!(matches!(warm, Ok(Some(_))), "{warm:?}");

    let filler = fill(&disk.mount);
    let photo_bytes = photo("obama.jpg");
    for (what, resp) in [
        (
            "enrolment",
            s.client
                .post(format!("{}/api/students/upload-face", s.base))
                .bearer_auth(&teacher)
                .header("content-type", "multipart/form-data; boundary=b0")
                .body(
                    [
                        format!("--b0\r\nContent-Disposition: form-data; name=\"student_id\"\r\n\r\n{}\r\n--b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n", students[0]).into_bytes(),
                        photo_bytes.clone(),
                        b"\r\n--b0--\r\n".to_vec(),
                    ]
                    .concat(),
                )
                .send()
                .await,
        ),
        (
            "confirm",
            s.post(
                "/api/attendance/confirm",
                &json!({"subject_id": subject, "date": "2026-03-04",
                        "decisions": students.iter().map(|id| json!({"student_id": id, "status": "absent"})).collect::<Vec<_>>()}),
                Some(&teacher),
            )
            .await,
        ),
    ] {
        let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what} on a full disk: {v}");
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains("disk is full")),
            "{what}: {v}"
        );
    }
    // Space again: the same requests succeed, nothing was lost.
    std::fs::remove_file(&filler).unwrap();
    let again = upload(&s, &teacher, &students[0], &photo_bytes).await;
    assert!(matches!(again, Ok(Some(_))), "{again:?}");

    s.kill9();
    integrity(&data);

    // A read-only data directory: the server either refuses to start, naming the problem, or
    // serves reads and answers writes with a clear 503.
    disk.remount("ro");
    let port = free_port();
    let mut child = command(&data, port).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let outcome = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read as _;
                let _ = e.read_to_string(&mut stderr);
            }
            assert!(!status.success());
            assert!(
                stderr.to_ascii_lowercase().contains("read-only")
                    || stderr.to_ascii_lowercase().contains("readonly"),
                "start on a read-only data dir: {stderr}"
            );
            break "refused to start, naming the read-only file system";
        }
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status() == StatusCode::OK
        {
            let server = Server {
                child: Some(child),
                base: base.clone(),
                client: client.clone(),
                log: Guard,
            };
            let token = server.login("t@school.test", "teacher-pass-1").await;
            let resp = server
                .post("/api/attendance/confirm", &confirm, Some(&token))
                .await
                .unwrap();
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            server.kill9();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
            assert!(
                v["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("read-only")),
                "{v}"
            );
            break "served reads, refused writes with 503";
        }
        assert!(Instant::now() < deadline, "neither started nor exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("read-only data dir: {outcome}");
    disk.remount("rw");
}
