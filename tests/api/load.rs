//! Bounded load on loopback: concurrent logins, reads and marks against the real server. Every
//! answer is a success or a deliberate refusal (429 from the login limits, 503 with
//! `Retry-After` from the vision admission limit), never a 5xx otherwise or a dropped
//! connection, and memory stays bounded. Throughput and latency are printed, not asserted
//! (`scripts/bench-load` runs it longer on a release build for the figures in README.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{data_url, photo};

use crate::support::world::{enrol_faces, student, subject, teacher};
use crate::support::{peak_rss_mib, spawn_app, spawn_app_with};

pub(crate) fn seconds() -> f64 {
    std::env::var("ROLLCALL_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0)
}

pub(crate) struct Outcome {
    pub(crate) statuses: BTreeMap<u16, usize>,
    pub(crate) errors: usize,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) elapsed: Duration,
    no_retry_after: usize,
}

/// `workers` clients send `request` back to back for `secs`.
pub(crate) async fn run<F, Fut>(workers: usize, secs: f64, request: F) -> Outcome
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while Instant::now() < until {
                let t = Instant::now();
                let answer = request(w * 1_000_000 + i).await;
                i += 1;
                seen.push(match answer {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry = r.headers().contains_key("retry-after");
                        let _ = r.bytes().await;
                        (Some(status), retry, t.elapsed())
                    }
                    Err(_) => (None, false, t.elapsed()),
                });
            }
            seen
        }));
    }
    let mut out = Outcome {
        statuses: BTreeMap::new(),
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        no_retry_after: 0,
    };
    for t in tasks {
        for (status, retry, latency) in t.await.unwrap_or_default() {
            match status {
                Some(s) => {
                    *out.statuses.entry(s).or_default() += 1;
                    if matches!(s, 429 | 503) && !retry {
                        out.no_retry_after += 1;
                    }
                }
                None => out.errors += 1,
            }
            out.latencies.push(latency);
        }
    }
    out.elapsed = started.elapsed();
    out.latencies.sort();
    out
}

pub(crate) fn report(name: &str, workers: usize, o: &Outcome) {
    let n = o.latencies.len().max(1);
    let pct = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        o.latencies.get(i).copied().unwrap_or_default()
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = o.latencies.len() as f64 / o.elapsed.as_secs_f64();
    println!(
        "{name:28} {workers:3} clients: {:6} requests, {rate:8.1}/s, p50 {:>9.1?} p99 {:>9.1?} max {:>9.1?}, statuses {:?}, transport errors {}",
        o.latencies.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        o.statuses,
        o.errors
    );
}

pub(crate) fn check(name: &str, o: &Outcome, allowed: &[u16]) {
    assert_eq!(o.errors, 0, "{name}: connections dropped or refused");
    for s in o.statuses.keys() {
        assert!(allowed.contains(s), "{name}: HTTP {s} in {:?}", o.statuses);
    }
    assert_eq!(o.no_retry_after, 0, "{name}: a 429/503 without Retry-After");
    assert!(
        o.statuses.get(&200).copied().unwrap_or(0) > 0,
        "{name}: nothing succeeded: {:?}",
        o.statuses
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_is_served_or_shed_never_crashed() {
    let app = Arc::new(spawn_app().await);
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, obama) = student(&app, "obama@school.test").await;
    let sid = subject(&app, &t1, "LOAD1", &[&obama]).await;
    enrol_faces(&app, &t1, &obama, &[photo("obama.jpg")]).await;
    // Before the login flood spends this address's allowance: the detailed health check below
    // is for administrators.
    let admin = app.admin_token().await;
    let secs = seconds();

    // Logins: argon2 makes each one deliberately expensive, and the hashing pool runs a few at
    // a time; correct passwords are not counted against the address, so they are all served
    // (a flood of wrong ones is shed with 429: tests/api/limits.rs).
    let a = Arc::clone(&app);
    let logins = run(8, secs, move |_| {
        let a = Arc::clone(&a);
        async move {
            a.client
                .post(a.url("/api/auth/login"))
                .json(&json!({"email": "t1@school.test", "password": "teacher-pass-1"}))
                .send()
                .await
        }
    })
    .await;
    report("POST /api/auth/login", 8, &logins);
    check("login", &logins, &[200, 429]);

    // Reads: cheap and all answered.
    let token = t1.clone();
    let a = Arc::clone(&app);
    let sid2 = sid.clone();
    let reads = run(32, secs, move |i| {
        let (a, token, sid) = (Arc::clone(&a), token.clone(), sid2.clone());
        async move {
            let path = match i % 3 {
                0 => "/api/subjects".to_owned(),
                1 => "/api/auth/me".to_owned(),
                _ => format!("/api/subjects/{sid}/students"),
            };
            a.client.get(a.url(&path)).bearer_auth(&token).send().await
        }
    })
    .await;
    report("GET subjects, me, roster", 32, &reads);
    check("reads", &reads, &[200]);

    // Marks: more clients than the vision pool admits; the rest get 503 with Retry-After.
    let image = Arc::new(json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid}));
    let token = t1.clone();
    let a = Arc::clone(&app);
    let marks = run(8, secs.max(4.0), move |_| {
        let (a, token, image) = (Arc::clone(&a), token.clone(), Arc::clone(&image));
        async move {
            a.client
                .post(a.url("/api/attendance/mark"))
                .bearer_auth(&token)
                .json(&*image)
                .send()
                .await
        }
    })
    .await;
    report("POST /api/attendance/mark", 8, &marks);
    check("mark", &marks, &[200, 503]);
    // The work behind the marks is in /metrics: each stage of every analysis, and every mark
    // turned away as busy. At least, since the counters are per process (one test per process
    // under nextest; `cargo test` shares them).
    let text = app
        .get("/metrics", Some(&admin))
        .await
        .text()
        .await
        .unwrap_or_default();
    let value = |name: &str, labels: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let served = marks.statuses.get(&200).copied().unwrap_or(0);
    let shed = marks.statuses.get(&503).copied().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    for stage in ["decode", "detect", "describe"] {
        let timed = value(
            "rollcall_vision_stage_seconds_count",
            &format!("stage=\"{stage}\""),
        );
        assert!(timed >= served as f64, "{stage}: {timed} < {served} marks");
    }
    let counted = value(
        "rollcall_busy_rejections_total",
        "resource=\"face_analysis\"",
    );
    #[allow(clippy::cast_precision_loss)]
    {
        assert!(counted >= shed as f64, "{counted} < {shed} busy marks");
    }

    // Still healthy, still answering, memory bounded.
    let resp = app.get("/health/detailed", Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me = app.get("/api/auth/me", Some(&t1)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let peak = peak_rss_mib();
    println!("peak RSS of the server process: {peak} MiB");
    assert!(peak < 3072, "peak RSS {peak} MiB");
}

/// What the concurrent writers work on.
struct Writers {
    app: Arc<crate::support::TestApp>,
    admin: String,
    teacher: String,
    subject: String,
    /// Enrolled, with consent switched on and off.
    pupil: String,
    pupil_email: String,
    /// Added to and removed from the subject.
    free: String,
    session: String,
}

/// The write families, one request each: `n` numbers the request (worker * 1e6 + iteration).
const FAMILIES: [&str; 9] = [
    "subjects",
    "students",
    "roster",
    "consent",
    "attendance",
    "settings",
    "notifications",
    "auth",
    "admin",
];

fn write_request(w: &Writers, n: usize) -> (reqwest::Method, String, &str, Value) {
    use reqwest::Method;
    let (worker, i) = (n / 1_000_000, n % 1_000_000);
    let (s, p) = (&w.subject, &w.pupil);
    match FAMILIES[worker % FAMILIES.len()] {
        "subjects" if i % 2 == 0 => (
            Method::POST,
            "/api/subjects".into(),
            &w.teacher,
            json!({"name": "Parallel", "code": format!("P{n}")}),
        ),
        "subjects" => (
            Method::PUT,
            format!("/api/subjects/{s}"),
            &w.teacher,
            json!({"name": format!("Renamed {n}"), "code": "CONT1"}),
        ),
        "students" => (
            Method::POST,
            "/api/students".into(),
            &w.teacher,
            json!({"name": "New", "email": format!("new{n}@school.test"), "subject_ids": [s]}),
        ),
        "roster" if i % 2 == 0 => (
            Method::POST,
            format!("/api/subjects/{s}/students"),
            &w.teacher,
            json!({"student_ids": [w.free]}),
        ),
        "roster" => (
            Method::DELETE,
            format!("/api/subjects/{s}/students/{}", w.free),
            &w.teacher,
            Value::Null,
        ),
        "consent" => (
            if i % 2 == 0 {
                Method::POST
            } else {
                Method::DELETE
            },
            format!("/api/students/{p}/consent"),
            &w.teacher,
            Value::Null,
        ),
        "attendance" if i % 2 == 0 => (
            Method::POST,
            "/api/attendance/confirm".into(),
            &w.teacher,
            json!({"subject_id": s, "date": "2026-03-03", "slot": n % 100,
                   "decisions": [{"student_id": p, "status": "absent"}]}),
        ),
        "attendance" => (
            Method::PUT,
            format!("/api/attendance/sessions/{}/records/{p}", w.session),
            &w.teacher,
            json!({"status": if i % 4 == 1 { "late" } else { "present" }}),
        ),
        "settings" => (
            Method::PATCH,
            "/api/settings".into(),
            &w.teacher,
            json!({"settings": {"lateAfterMinutes": n % 60}}),
        ),
        "notifications" => (
            Method::POST,
            "/api/notifications/custom".into(),
            &w.teacher,
            json!({"student_emails": [w.pupil_email], "message_title": format!("Note {n}"),
                   "message_body": "x", "teacher_name": "T"}),
        ),
        "auth" if i % 2 == 0 => (
            Method::POST,
            "/api/auth/forgot-password".into(),
            &w.admin,
            json!({"email": w.pupil_email}),
        ),
        "auth" => (
            Method::POST,
            "/api/auth/register".into(),
            &w.admin,
            json!({"role": "student", "name": "Self", "email": format!("self{n}@school.test"),
                   "password": "self-password-1"}),
        ),
        _ => (
            Method::POST,
            "/api/admin/users".into(),
            &w.admin,
            json!({"role": "teacher", "email": format!("staff{n}@school.test"), "name": "Staff"}),
        ),
    }
}

/// Writers of every family at once against one SQLite file: each request succeeds or is refused
/// on purpose (429 from a rate limit), never a 5xx. Before every transaction began IMMEDIATE,
/// about a third of such requests failed with `database is locked` (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_every_family_never_get_a_5xx() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let (teacher, _) = teacher(&app, "t1@school.test").await;
    let (_, pupil) = student(&app, "pupil@school.test").await;
    let (_, free) = student(&app, "free@school.test").await;
    let subject = subject(&app, &teacher, "CONT1", &[&pupil]).await;
    let session = crate::support::world::confirm(
        &app,
        &teacher,
        &subject,
        "2026-03-02",
        0,
        &[(&pupil, "present")],
    )
    .await["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let w = Arc::new(Writers {
        app: Arc::clone(&app),
        admin,
        teacher,
        subject,
        pupil,
        pupil_email: "pupil@school.test".into(),
        free,
        session,
    });
    let workers = FAMILIES.len() * 4;
    let outcome = run(workers, seconds().max(3.0), move |n| {
        let w = Arc::clone(&w);
        async move {
            let (method, path, token, body) = write_request(&w, n);
            let mut req = w
                .app
                .client
                .request(method, w.app.url(&path))
                .bearer_auth(token);
            if !body.is_null() {
                req = req.json(&body);
            }
            req.send().await
        }
    })
    .await;
    report("writers, 9 families", workers, &outcome);
    check("writers", &outcome, &[200, 429]);
    let server_errors: usize = outcome
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    println!(
        "{} write requests, {server_errors} answered 5xx",
        outcome.latencies.len()
    );
}

/// Students uploading face photos in a loop (several at once each) cannot take the analysis
/// slots a teacher needs for the class photo: every mark is answered 200 while they upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_uploads_do_not_starve_marking() {
    let app = Arc::new(spawn_app_with(&["--review-self-uploads", "false"]).await);
    let (t1, _) = teacher(&app, "t1@school.test").await;
    let (_, obama) = student(&app, "obama@school.test").await;
    let mut uploaders = Vec::new();
    for n in 0..2 {
        let (token, id) = student(&app, &format!("up{n}@school.test")).await;
        crate::support::ok(
            app.post(
                &format!("/api/students/{id}/consent"),
                &Value::Null,
                Some(&token),
            )
            .await,
        )
        .await;
        uploaders.push(token);
    }
    let sid = subject(&app, &t1, "FAIR1", &[&obama]).await;
    enrol_faces(&app, &t1, &obama, &[photo("obama.jpg")]).await;

    // Three uploads in flight per student, until the teacher is done.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(tokio::sync::Semaphore::new(0));
    let mut loops = Vec::new();
    for token in &uploaders {
        for _ in 0..3 {
            let (a, token, done) = (Arc::clone(&app), token.clone(), Arc::clone(&done));
            let answered = Arc::clone(&answered);
            loops.push(tokio::spawn(async move {
                let bytes = photo("obama2.jpg");
                let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let resp = a
                        .post_multipart(
                            "/students/me/face-image",
                            &[("file", Some("me.jpg"), "image/jpeg", &bytes)],
                            Some(&token),
                        )
                        .await;
                    let status = resp.status().as_u16();
                    *seen.entry(status).or_default() += 1;
                    answered.add_permits(1);
                    if status == 503 {
                        // Pacing, so the refused loops do not eat the test machine's CPU.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                seen
            }));
        }
    }
    // The uploads are running (a few answered, the line full again) before the first mark.
    let warm = tokio::time::timeout(Duration::from_secs(120), answered.acquire_many(3)).await;
    assert!(matches!(warm, Ok(Ok(_))), "the uploads never got going");
    let mut marks = BTreeMap::new();
    let image = json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid});
    for _ in 0..3 {
        let resp = app.post("/api/attendance/mark", &image, Some(&t1)).await;
        *marks.entry(resp.status().as_u16()).or_insert(0usize) += 1;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut uploads: BTreeMap<u16, usize> = BTreeMap::new();
    for l in loops {
        for (s, n) in l.await.unwrap_or_default() {
            *uploads.entry(s).or_default() += n;
        }
    }
    println!("marks {marks:?}, uploads meanwhile {uploads:?}");
    assert_eq!(marks, BTreeMap::from([(200, 3)]), "uploads {uploads:?}");
    assert!(
        uploads.keys().all(|s| [200, 503].contains(s)),
        "uploads {uploads:?}"
    );
    assert!(uploads.get(&200).copied().unwrap_or(0) > 0, "{uploads:?}");
}
