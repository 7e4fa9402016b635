//! Slow and flooding clients: request headers and bodies trickled or withheld are cut off after
//! the configured timeouts, connections beyond the caps are answered 503 at once, `/health`
//! from another address keeps answering, the process's descriptors stay bounded, and the
//! server works normally afterwards. Also graceful shutdown and the peer address handlers see.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, body, spawn_app_with};

/// Descriptors this process has open (the test server runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// The server's side of the connections to `port` that this process holds open: descriptors
/// of sockets whose local port is the server's, listener aside. (Counting all descriptors
/// would also count the database pool's, which may open a connection mid-flood.)
fn server_sockets(port: u16) -> usize {
    let inodes: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect();
    let mut n = 0;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let listening = *state == "0A";
            if local_port == Some(port)
                && !listening
                && inode.parse().is_ok_and(|i: u64| inodes.contains(&i))
            {
                n += 1;
            }
        }
    }
    n
}

/// A TCP connection to `server` from the loopback address `from` (Linux answers all of 127/8).
async fn connect_from(from: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket
        .connect(server)
        .await
        .unwrap_or_else(|e| panic!("connect from {from}: {e}"))
}

/// How a client behaves once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slow {
    /// Sends nothing.
    Silent,
    /// Sends a header line a byte at a time, never the end of the headers.
    TrickleHeaders,
    /// Sends complete headers of a 100 kB body, then nothing.
    StallBody,
    /// Sends complete headers, then the body a byte at a time, faster than the pause limit.
    TrickleBody,
}

const TRICKLE_EVERY: Duration = Duration::from_millis(200);

/// What a connection ended with.
#[derive(Debug)]
struct Ending {
    /// The status line's code, if an answer came.
    status: Option<u16>,
    head: String,
    /// From the connection being established to the server closing it.
    after: Duration,
}

/// Play `slow` on `stream`, connected at `started`, until the server closes the connection
/// (or `give_up` passes).
async fn play(stream: TcpStream, started: Instant, slow: Slow, give_up: Duration) -> Ending {
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let head = "POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
        match slow {
            Slow::Silent => std::future::pending::<()>().await,
            Slow::TrickleHeaders => {
                let _ = writer
                    .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n")
                    .await;
                for b in b"X-Slow: ".iter().chain([b'a'; 10_000].iter()).cycle() {
                    if writer.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(TRICKLE_EVERY).await;
                }
            }
            Slow::StallBody => {
                let _ = writer.write_all(head.as_bytes()).await;
                std::future::pending::<()>().await;
            }
            Slow::TrickleBody => {
                let _ = writer.write_all(head.as_bytes()).await;
                let _ = writer.write_all(b"{\"email\": \"").await;
                loop {
                    if writer.write_all(b"a").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(TRICKLE_EVERY).await;
                }
            }
        }
    });
    let mut got = Vec::new();
    let read = tokio::time::timeout(give_up, async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let after = started.elapsed();
    sender.abort();
    assert!(
        read.is_ok(),
        "{slow:?}: still open after {give_up:?}: the server did not cut it off"
    );
    let text = String::from_utf8_lossy(&got).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Ending {
        status,
        head,
        after,
    }
}

/// One complete request with `Connection: close`; the status and head of the answer.
async fn request_from(from: Ipv4Addr, server: SocketAddr, path: &str) -> (Option<u16>, String) {
    let mut stream = connect_from(from, server).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (None, String::new());
    }
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    (status, head)
}

/// The value of a counter or gauge in `/metrics` (summed over its labels matching `labels`).
async fn metric(app: &crate::support::TestApp, name: &str, labels: &str) -> f64 {
    let text = app
        .get("/metrics", Some("scrape"))
        .await
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const SLOW: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const PROBE: Ipv4Addr = Ipv4Addr::LOCALHOST;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(4);
const PER_ADDRESS: usize = 8;
/// Shed answers in flight at most (the server's own bound).
const SHED_SLOTS: usize = 32;
/// How late a cut-off may come on two busy cores.
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_the_excess_shed_while_health_answers() {
    let app = spawn_app_with(&[
        "--header-timeout-secs",
        "2",
        "--body-idle-timeout-secs",
        "2",
        "--body-timeout-secs",
        "4",
        "--max-connections",
        "64",
        "--max-connections-per-ip",
        "8",
        "--metrics-token",
        "scrape",
    ])
    .await;
    let server = app.addr;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    let baseline = open_fds();

    // Phase 1: as many slow clients from one address as it may hold, two of each kind.
    let started = Instant::now();
    let mut held = Vec::new();
    for slow in [
        Slow::Silent,
        Slow::TrickleHeaders,
        Slow::StallBody,
        Slow::TrickleBody,
    ] {
        for _ in 0..PER_ADDRESS / 4 {
            let since = Instant::now();
            let stream = connect_from(SLOW, server).await;
            held.push((
                slow,
                tokio::spawn(play(stream, since, slow, BODY_TIMEOUT + SLACK * 2)),
            ));
        }
    }
    // The server has taken them all once its gauge counts them (plus the scraping connection).
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&app, "rollcall_http_connections_open", "").await < (PER_ADDRESS + 1) as f64 {
        assert!(
            Instant::now() < deadline,
            "the slow clients were not accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Phase 2: a flood from the same address, each sending a whole request; all the while,
    // the probe from another address is answered and descriptors stay bounded.
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(tokio::spawn(async move {
            let stream = connect_from(SLOW, server).await;
            play_request(stream).await
        }));
    }
    let mut worst = 0usize;
    let mut probes = 0;
    while flood.iter().any(|t| !t.is_finished()) {
        worst = worst.max(server_sockets(server.port()));
        let asked = Instant::now();
        let (status, _) = request_from(PROBE, server, "/health").await;
        assert_eq!(status, Some(200), "/health from another address");
        assert!(asked.elapsed() < Duration::from_secs(5), "/health was slow");
        probes += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the flood never ended"
        );
    }
    let flooded = started.elapsed();
    let (mut shed, mut served, mut closed) = (0, 0, 0);
    for task in flood {
        let (status, head) = task.await.unwrap();
        match status {
            Some(503) => {
                shed += 1;
                assert!(head.contains("retry-after: 5"), "{head}");
                assert!(head.contains("connection: close"), "{head}");
            }
            // A slot freed by a cut-off.
            Some(200) => served += 1,
            // Closed at once while every shed answer was busy.
            None => closed += 1,
            other => panic!("flood answered {other:?}: {head}"),
        }
    }
    assert!(shed > 0, "nothing was shed");
    println!(
        "flood of 200 over {flooded:?}: {shed} answered 503, {closed} closed unanswered, \
         {served} served after a cut-off; {probes} /health probes all 200; at most {worst} \
         server-side sockets open at once"
    );
    // The slow address may hold its share, plus the shed answers in flight, plus the probe's.
    assert!(
        worst <= PER_ADDRESS + SHED_SLOTS + 8,
        "server-side sockets: {worst}"
    );

    // Phase 3: every slow client was cut off when its timeout says, not before.
    for (slow, task) in held {
        let ending = task.await.unwrap();
        let (limit, status) = match slow {
            Slow::Silent | Slow::TrickleHeaders => (HEADER_TIMEOUT, None),
            Slow::StallBody => (BODY_IDLE_TIMEOUT, Some(408)),
            Slow::TrickleBody => (BODY_TIMEOUT, Some(408)),
        };
        println!("{slow:?}: cut off after {:?}", ending.after);
        assert_eq!(ending.status, status, "{slow:?}: {}", ending.head);
        assert!(
            ending.after >= limit && ending.after <= limit + SLACK,
            "{slow:?} cut off after {:?}, limit {limit:?}",
            ending.after
        );
    }

    // Phase 4: the server works normally, for the slow address too, and its descriptors
    // return to where they were.
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(SLOW))
        .build()
        .unwrap();
    let login = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = body(login).await["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    drop(client);
    assert!(metric(&app, "rollcall_http_connections_shed_total", "per_address").await >= 1.0);
    assert!(metric(&app, "rollcall_http_read_timeouts_total", "body").await >= 4.0);
    assert!(metric(&app, "rollcall_http_read_timeouts_total", "header").await >= 4.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fds = open_fds();
        if fds <= baseline + 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "descriptors did not come back: {fds}, baseline {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A whole `GET /health`, then the answer until the server closes.
async fn play_request(mut stream: TcpStream) -> (Option<u16>, String) {
    let _ = stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "a flood connection was left hanging");
    let text = String::from_utf8_lossy(&got).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    (status, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_at_once_and_recovers() {
    let app = spawn_app_with(&[
        "--header-timeout-secs",
        "1",
        "--max-connections",
        "16",
        "--max-connections-per-ip",
        "0",
    ])
    .await;
    let server = app.addr;
    // Sixteen silent connections from several addresses fill every slot.
    let first = Instant::now();
    let mut silent = Vec::new();
    for i in 0..16u8 {
        let since = Instant::now();
        let stream = connect_from(Ipv4Addr::new(127, 0, 1, i % 4 + 1), server).await;
        silent.push(tokio::spawn(play(
            stream,
            since,
            Slow::Silent,
            Duration::from_secs(10),
        )));
    }
    // Until they are cut off (after a second), anyone else is told to come back.
    let (status, head) = request_from(PROBE, server, "/health").await;
    if first.elapsed() < Duration::from_millis(900) {
        assert_eq!(status, Some(503), "{head}");
        assert!(head.contains("retry-after: 5"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(head.contains("\"detail\"") || head.contains("application/json"));
    }
    for task in silent {
        let ending = task.await.unwrap();
        assert_eq!(ending.status, None);
    }
    let (status, _) = request_from(PROBE, server, "/health").await;
    assert_eq!(status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_request_in_flight_finish_and_handlers_see_the_peer() {
    use axum::Router;
    use axum::extract::ConnectInfo;
    use axum::routing::{get, post};

    // The handler says when it has started, then reads the body.
    let started = Arc::new(tokio::sync::Notify::new());
    let handler_started = Arc::clone(&started);
    let router = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route(
            "/echo",
            post(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: axum::extract::Request| {
                    let started = Arc::clone(&handler_started);
                    async move {
                        started.notify_one();
                        let text = axum::body::to_bytes(req.into_body(), 1024)
                            .await
                            .unwrap_or_default();
                        format!("{peer} sent {} bytes", text.len())
                    }
                },
            ),
        );
    let limits = rollcall::server::Limits {
        header_timeout: Duration::from_secs(10),
        body_idle_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        max_connections: 8,
        max_per_address: Some(8),
        open_file_limit: None,
    };
    let metrics = Arc::new(rollcall::api::middleware::Metrics::new().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(rollcall::server::serve(
        listener,
        router,
        limits,
        metrics,
        async move {
            let _ = stopped.await;
        },
    ));

    // An idle kept-alive connection, after one request...
    let mut idle = connect_from(PROBE, server).await;
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"pong") {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
            .await
            .expect("no answer to /ping")
            .unwrap();
        assert!(n > 0, "closed before answering /ping");
        got.extend_from_slice(&buf[..n]);
    }
    // ... and half a request in flight, its handler running, when shutdown begins.
    let mut busy = connect_from(PROBE, server).await;
    let me = busy.local_addr().unwrap();
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), started.notified())
        .await
        .expect("the handler did not start");
    let _ = stop.send(());
    // The idle connection is closed...
    let idle_closed = tokio::time::timeout(Duration::from_secs(5), async move {
        let mut buf = Vec::new();
        idle.read_to_end(&mut buf).await
    })
    .await;
    assert!(
        idle_closed.is_ok(),
        "an idle connection kept shutdown waiting"
    );
    // ... new connections are refused (the listener is closed before connections are told) ...
    assert!(
        TcpStream::connect(server).await.is_err(),
        "still accepting after shutdown"
    );
    // ... the busy one is still served, ...
    assert!(
        !serving.is_finished(),
        "shutdown did not wait for the request in flight"
    );
    busy.write_all(b"world").await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut got))
        .await
        .expect("the request in flight was not answered")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.ends_with(&format!("{me} sent 10 bytes")), "{text}");
    // ... and then the server is done.
    let done = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "serve did not return after the last connection: {done:?}"
    );
}
