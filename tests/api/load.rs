//! Bounded load on loopback: concurrent logins, reads and marks against the real server. Every
//! answer is a success or a deliberate refusal (429 from the login limits, 503 with
//! `Retry-After` from the vision admission limit), never a 5xx otherwise or a dropped
//! connection, and memory stays bounded. Throughput and latency are printed, not asserted
//! (`scripts/bench-load` runs it longer on a release build for the figures in README.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::attendance::{data_url, enrol_faces};
use crate::helpers::{peak_rss_mib, spawn_app};
use crate::students::photo;
use crate::subjects::{student, subject, teacher};

fn seconds() -> f64 {
    std::env::var("ROLLCALL_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0)
}

struct Outcome {
    statuses: BTreeMap<u16, usize>,
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
    no_retry_after: usize,
}

/// `workers` clients send `request` back to back for `secs`.
async fn run<F, Fut>(workers: usize, secs: f64, request: F) -> Outcome
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

fn report(name: &str, workers: usize, o: &Outcome) {
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

fn check(name: &str, o: &Outcome, allowed: &[u16]) {
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

    // Logins: argon2 makes each one deliberately expensive; the per-address limit sheds the
    // flood with 429 once the window's allowance is spent.
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

    // Still healthy, still answering, memory bounded.
    let resp = app.get("/health/detailed", Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me = app.get("/api/auth/me", Some(&t1)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let peak = peak_rss_mib();
    println!("peak RSS of the server process: {peak} MiB");
    assert!(peak < 3072, "peak RSS {peak} MiB");
}
