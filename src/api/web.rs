//! The teacher's web page at `/app/`: one HTML shell, one script and one stylesheet from `web/`,
//! compiled into the binary (no Node, no CDN, nothing to install). The page is a small client
//! of the documented JSON API with the caller's bearer token, so every rule the API enforces
//! (roles, consent, validation) holds for the page too and no second, cookie-authenticated
//! surface exists. The assets themselves hold no data and are public.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");

/// Same origin only, no inline script or style attribute; `blob:` for the webcam still and the
/// draft photos fetched with the token; `media-src` for the webcam preview.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route(
            "/app/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            // The binary's version changes the assets; a reload after an upgrade is enough.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}
