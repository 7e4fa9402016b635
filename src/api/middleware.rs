//! Cross-cutting HTTP behaviour: request ids, access logs, Prometheus metrics, turning every
//! error answer that is not already JSON (404, 405, 413, panics) into `{"detail": "..."}`, and
//! the headers every answer or every photo of a person carries.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tracing::Instrument;

use super::AppState;
use super::error::detail;

pub const REQUEST_ID: &str = "x-request-id";
/// The seed's name for the same id; echoed too so its tooling keeps working.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// Request counters and latency histograms per route, in a registry owned by the app.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    connections: ConnectionMetrics,
}

/// What the server (`crate::server`) does with connections.
struct ConnectionMetrics {
    open: IntGauge,
    shed: IntCounterVec,
    timeouts: IntCounterVec,
}

impl ConnectionMetrics {
    fn new(registry: &Registry) -> anyhow::Result<Self> {
        let open = IntGauge::new("http_connections_open", "Client connections being served")?;
        let shed = IntCounterVec::new(
            Opts::new(
                "http_connections_shed_total",
                "Connections answered 503 and closed at once, by reason (full, per_address)",
            ),
            &["reason"],
        )?;
        let timeouts = IntCounterVec::new(
            Opts::new(
                "http_read_timeouts_total",
                "Connections cut off because the client was too slow: headers (or an idle kept-alive connection), body",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(shed.clone()))?;
        registry.register(Box::new(timeouts.clone()))?;
        Ok(Self {
            open,
            shed,
            timeouts,
        })
    }
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("rollcall".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let connections = ConnectionMetrics::new(&registry)?;
        Ok(Self {
            registry,
            requests,
            latency,
            connections,
        })
    }

    pub fn connection_opened(&self) {
        self.connections.open.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.open.dec();
    }

    pub fn connection_shed(&self, reason: &str) {
        self.connections.shed.with_label_values(&[reason]).inc();
    }

    pub fn timed_out(&self, kind: &str) {
        self.connections.timeouts.with_label_values(&[kind]).inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        let mut families = self.registry.gather();
        families.extend(crate::telemetry::work_metrics());
        TextEncoder::new().encode(&families, &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}

/// A client-supplied id is kept when it is short printable ASCII; otherwise a fresh UUID is used.
fn request_id(req: &Request) -> String {
    [REQUEST_ID, CORRELATION_ID]
        .iter()
        .filter_map(|h| req.headers().get(*h)?.to_str().ok())
        .find(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let response = next.run(req).instrument(span.clone()).await;
    let mut response = normalize_error(response).await;
    let elapsed = start.elapsed();
    let status = response.status();
    state.metrics.observe(
        method.as_str(),
        &route,
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v.clone());
        headers.insert(CORRELATION_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:.6}", elapsed.as_secs_f64())) {
        headers.insert("x-process-time", v);
    }
    let ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                route,
                duration_ms = ms,
                "request failed"
            );
        } else {
            tracing::info!(status = status.as_u16(), route, duration_ms = ms, "request");
        }
    });
    response
}

/// Marks an error answer a handler wrote for a browser on purpose (an HTML page), which
/// [`normalize_error`] leaves as it is.
#[derive(Debug, Clone, Copy)]
pub struct PageForBrowser;

/// Error answers produced below our handlers (routing, body limits, panics) come as text or
/// empty bodies; rewrite them to `{"detail"}` with the canonical reason, keeping their headers.
async fn normalize_error(response: Response) -> Response {
    let status = response.status();
    if response.extensions().get::<PageForBrowser>().is_some() {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let message = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::INTERNAL_SERVER_ERROR => "Internal server error",
        other => other.canonical_reason().unwrap_or("Request failed"),
    };
    let fresh = detail(status, message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, body)
}

/// Panic handler for `CatchPanicLayer`: log, answer 500 `{"detail"}`.
pub fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
}

/// Every answer, errors and files included: browsers must take the declared content type as it
/// is and never guess (an upload served as an image must not be run as a script or page).
pub async fn nosniff<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Photos of people (face samples, class photos, avatars) and exports of personal data: kept
/// in no cache, neither the browser's nor a proxy's.
pub const NO_STORE: &str = "no-store";

/// [`NO_STORE`] on every answer of a service (the avatar files).
pub async fn no_store<B>(mut response: Response<B>) -> Response<B> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    response
}

/// Answer for paths that match no route.
pub async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not Found")
}
