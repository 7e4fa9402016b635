//! The HTTP/1 server around the router: an accept loop that caps connections (in all and per
//! client address) and sheds the excess with a short 503, read timeouts for request headers
//! and bodies, and graceful shutdown. Slow clients are cut off; a flood never exhausts the
//! process's file descriptors.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::api::middleware::Metrics;
use crate::config::Settings;

/// File descriptors kept out of the connection budget: standard streams, the runtime's own,
/// the database pool, model files, the mail relay, log files.
pub const FD_RESERVE: u64 = 128;
/// Descriptors one served connection may use at once: its socket, and a file it streams (a
/// face image, an avatar).
pub const FDS_PER_CONNECTION: u64 = 2;
/// Connections being answered 503 at once. Beyond that the answer is only written if the
/// socket takes it at once, and the connection closed without waiting for the request.
const SHED_SLOTS: usize = 32;
/// How long writing the 503 to a shed connection may take.
const SHED_WRITE: Duration = Duration::from_secs(1);
/// After the 503, how long the request a shed client is still sending is read and discarded,
/// so that closing does not reset the connection before the client has read the answer.
const SHED_LINGER: Duration = Duration::from_secs(1);
const SHED_LINGER_BYTES: usize = 64 * 1024;
/// What a shed client is told to wait, in seconds.
const SHED_RETRY_AFTER_SECS: u64 = 5;

/// The limits the server enforces, from the settings and the open-file limit.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub body_timeout: Duration,
    /// Connections served at once (the setting, lowered to fit the open-file limit).
    pub max_connections: usize,
    /// Connections one client address may hold; `None`: no per-address cap.
    pub max_per_address: Option<usize>,
    /// The soft open-file limit the cap was fitted to, when known.
    pub open_file_limit: Option<u64>,
}

impl Limits {
    /// The limits of these settings on this process: fails when the open-file limit leaves no
    /// room for connections.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let c = &settings.connections;
        let open_file_limit = open_file_limit();
        let max_connections = fit_to_open_files(c.max_connections, open_file_limit)?;
        let max_per_address = c
            .per_address_cap(settings.trust_proxy)
            .map(|n| n.min(max_connections));
        Ok(Self {
            header_timeout: Duration::from_secs(c.header_timeout_secs),
            body_idle_timeout: Duration::from_secs(c.body_idle_timeout_secs),
            body_timeout: Duration::from_secs(c.body_timeout_secs),
            max_connections,
            max_per_address,
            open_file_limit,
        })
    }
}

/// The soft limit on open files of this process (`ulimit -n`), from `/proc/self/limits`;
/// `None` where that file does not exist or says "unlimited".
#[must_use]
pub fn open_file_limit() -> Option<u64> {
    parse_open_file_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The connection cap: the setting, lowered so that every connection with its files, the
/// shed answers in flight and [`FD_RESERVE`] fit under the open-file limit.
pub fn fit_to_open_files(wanted: usize, open_file_limit: Option<u64>) -> anyhow::Result<usize> {
    let Some(limit) = open_file_limit else {
        return Ok(wanted);
    };
    let spare = limit.saturating_sub(FD_RESERVE + SHED_SLOTS as u64);
    let fits = usize::try_from(spare / FDS_PER_CONNECTION).unwrap_or(usize::MAX);
    anyhow::ensure!(
        fits >= 16,
        "the open-file limit ({limit}) leaves room for only {fits} connections; raise it \
         (ulimit -n, or LimitNOFILE= in a systemd unit) to at least {}",
        FD_RESERVE + SHED_SLOTS as u64 + 16 * FDS_PER_CONNECTION
    );
    Ok(wanted.min(fits))
}

/// Why a connection was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shed {
    /// Every connection slot is taken.
    Full,
    /// This client address holds its share already.
    Address,
}

impl Shed {
    fn label(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Address => "per_address",
        }
    }

    /// The whole answer, written without parsing the request.
    fn response(self) -> Vec<u8> {
        let detail = match self {
            Self::Full => "The server is busy: too many connections; try again in a few seconds",
            Self::Address => "Too many connections from your address; try again in a few seconds",
        };
        let body = serde_json::json!({ "detail": detail }).to_string();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: {SHED_RETRY_AFTER_SECS}\r\nconnection: close\r\n\
             x-content-type-options: nosniff\r\ncache-control: no-store\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// Connection slots in use, in all and per client address.
struct Slots {
    max: usize,
    max_per_address: Option<usize>,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A taken slot, given back when the connection ends.
struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slots {
    fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Shed> {
        let address = address.to_canonical();
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_address) = &mut *used;
        if *total >= self.max {
            return Err(Shed::Full);
        }
        let mine = per_address.entry(address).or_insert(0);
        if self.max_per_address.is_some_and(|cap| *mine >= cap) {
            return Err(Shed::Address);
        }
        *mine += 1;
        *total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.slots.used.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_address) = &mut *used;
        *total = total.saturating_sub(1);
        if let Some(n) = per_address.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown` resolves; then stop accepting,
/// let every connection finish the request it is serving (idle ones close at once) and return
/// when all are closed. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Slots {
        max: limits.max_connections,
        max_per_address: limits.max_per_address,
        used: Mutex::new((0, HashMap::new())),
    });
    let shedding = Arc::new(tokio::sync::Semaphore::new(SHED_SLOTS));
    let shed_log = Mutex::new(ShedLog::default());
    // Connection tasks hold a receiver: `closed()` resolves when the last one has ended.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        match slots.take(peer.ip()) {
            Ok(slot) => {
                metrics.connection_opened();
                let task = Connection {
                    router: router.clone(),
                    limits: Arc::clone(&limits),
                    metrics: Arc::clone(&metrics),
                    peer,
                    stopping: stopping.clone(),
                };
                tokio::spawn(async move {
                    task.run(stream).await;
                    drop(slot);
                });
            }
            Err(reason) => {
                metrics.connection_shed(reason.label());
                warn_of_shedding(&shed_log, peer, reason);
                // Answering politely takes a descriptor for up to two seconds; past a few at
                // once, the answer is written if the socket takes it at once, and the
                // connection closed straight away.
                match Arc::clone(&shedding).try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(async move {
                            shed(stream, reason).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        let _ = stream.try_write(&reason.response());
                    }
                }
            }
        }
    }
    // New connections are refused from now on, not left waiting in the kernel's queue.
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    stop.closed().await;
    Ok(())
}

/// Connections shed since the last warning, and when that was.
#[derive(Default)]
struct ShedLog {
    since_warning: u64,
    warned: Option<Instant>,
}

/// A flood would log a line per connection: warn at most every ten seconds, with a count.
fn warn_of_shedding(log: &Mutex<ShedLog>, peer: SocketAddr, reason: Shed) {
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    log.since_warning += 1;
    if log
        .warned
        .is_some_and(|at| at.elapsed() < Duration::from_secs(10))
    {
        return;
    }
    tracing::warn!(
        peer = %peer,
        reason = reason.label(),
        shed = log.since_warning,
        "connections answered 503 and closed: too many connections (see ROLLCALL_MAX_CONNECTIONS, ROLLCALL_MAX_CONNECTIONS_PER_IP)"
    );
    log.since_warning = 0;
    log.warned = Some(Instant::now());
}

/// Errors of `accept` that concern only that one connection are skipped; others (out of file
/// descriptors, out of memory) are logged, and accepting pauses a moment instead of spinning.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answer 503 without reading the request, then close.
async fn shed(mut stream: TcpStream, reason: Shed) {
    let answer = reason.response();
    let written = tokio::time::timeout(SHED_WRITE, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(SHED_LINGER, async {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < SHED_LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// One accepted connection.
struct Connection {
    router: Router,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    peer: SocketAddr,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (router, limits, metrics, peer) = (
            self.router.clone(),
            Arc::clone(&self.limits),
            Arc::clone(&self.metrics),
            self.peer,
        );
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (router, limits, metrics) =
                (router.clone(), Arc::clone(&limits), Arc::clone(&metrics));
            async move { Ok::<_, Infallible>(respond(router, &limits, &metrics, peer, req).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .keep_alive(true);
        let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
        let mut shutting_down = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        if e.is_timeout() {
                            self.metrics.timed_out("header");
                            // Also how idle kept-alive connections end: not worth more than debug.
                            tracing::debug!(peer = %self.peer, "connection closed: no request headers in time");
                        } else {
                            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                        }
                    }
                    break;
                }
                changed = self.stopping.changed(), if !shutting_down => {
                    if changed.is_err() || *self.stopping.borrow() {
                        shutting_down = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        self.metrics.connection_closed();
    }
}

/// Run one request through the router with a timed body. A body that did not arrive in time
/// is answered 408 (whatever the handler made of the failed read) and the connection closed.
async fn respond(
    router: Router,
    limits: &Limits,
    metrics: &Metrics,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut req = req.map(|incoming| {
        Body::new(TimedBody::new(
            incoming,
            limits.body_idle_timeout,
            limits.body_timeout,
            Arc::clone(&timed_out),
        ))
    });
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !timed_out.load(Ordering::Relaxed) {
        return response;
    }
    metrics.timed_out("body");
    tracing::info!(peer = %peer, "request body not received in time: 408, connection closed");
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::REQUEST_TIMEOUT;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    let body = serde_json::json!({ "detail": "The request body was not received in time" });
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimedOut;

/// A request body with two deadlines on the client: the longest pause between two pieces
/// (`idle`), and the whole body (`total`, from the end of the headers). Only time spent waiting
/// for the client counts towards the pause; a handler that reads slowly is not the client's
/// fault.
pub struct TimedBody {
    inner: Incoming,
    idle: Duration,
    deadline: Instant,
    /// Armed while waiting for the client.
    pause: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    whole: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, idle: Duration, total: Duration, timed_out: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            idle,
            deadline: Instant::now() + total,
            pause: None,
            waiting: false,
            whole: None,
            timed_out,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let now = Instant::now();
        let idle = this.idle;
        let pause = this
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if !this.waiting {
            this.waiting = true;
            pause.as_mut().reset(now + idle);
        }
        let deadline = this.deadline;
        let whole = this
            .whole
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if pause.as_mut().poll(cx).is_ready() || whole.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_read_from_proc() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63704                63704                processes \n\
                    Max open files            1024                 524288               files     \n\
                    Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(parse_open_file_limit(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_file_limit(unlimited), None);
        assert_eq!(parse_open_file_limit(""), None);
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }

    #[test]
    fn the_connection_cap_stays_below_the_open_file_limit() {
        // 1024 descriptors: (1024 - 128 - 32) / 2 connections at most.
        assert_eq!(fit_to_open_files(1024, Some(1024)).ok(), Some(432));
        assert_eq!(fit_to_open_files(100, Some(1024)).ok(), Some(100));
        assert_eq!(fit_to_open_files(1024, Some(20_000)).ok(), Some(1024));
        assert_eq!(fit_to_open_files(1024, None).ok(), Some(1024));
        assert!(fit_to_open_files(1024, Some(180)).is_err());
    }

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_given_back() {
        let slots = Arc::new(Slots {
            max: 3,
            max_per_address: Some(2),
            used: Mutex::new((0, HashMap::new())),
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = slots.take(a);
        let second = slots.take(a);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(slots.take(mapped).err(), Some(Shed::Address));
        let third = slots.take(b);
        assert!(third.is_ok());
        assert_eq!(slots.take(b).err(), Some(Shed::Full));
        drop(first);
        assert!(slots.take(mapped).is_ok());
        drop((second, third));
        let used = slots.used.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(used.0, 0);
        assert!(used.1.is_empty(), "no address left behind");
    }

    #[test]
    fn the_shed_answer_is_a_complete_503() {
        let text = String::from_utf8(Shed::Address.response()).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("retry-after: 5"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert!(v["detail"].as_str().is_some_and(|d| d.contains("address")));
    }
}
