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

/// The page's scripts and stylesheet, served under `/app/`, in the order `index.html` loads the
/// scripts: the translation core, then every language's strings, then the pages. A new file is
/// one line here and one `<script>` in `index.html` (docs/web.md).
const ASSETS: &[(&str, &str)] = &[
    ("app.css", include_str!("../../web/app.css")),
    ("i18n.js", include_str!("../../web/i18n.js")),
    ("i18n/en.js", include_str!("../../web/i18n/en.js")),
    ("i18n/fr.js", include_str!("../../web/i18n/fr.js")),
    (
        "i18n/en.school.js",
        include_str!("../../web/i18n/en.school.js"),
    ),
    (
        "i18n/fr.school.js",
        include_str!("../../web/i18n/fr.school.js"),
    ),
    (
        "i18n/en.office.js",
        include_str!("../../web/i18n/en.office.js"),
    ),
    (
        "i18n/fr.office.js",
        include_str!("../../web/i18n/fr.office.js"),
    ),
    ("app.js", include_str!("../../web/app.js")),
    ("school.js", include_str!("../../web/school.js")),
    ("office.js", include_str!("../../web/office.js")),
];

/// Same origin only, no inline script or style attribute; `blob:` for the webcam still and the
/// draft photos fetched with the token; `media-src` for the webcam preview.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route(
            "/app/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        );
    for &(name, body) in ASSETS {
        let content_type = if name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        router = router.route(
            &format!("/app/{name}"),
            get(move || async move { asset(body, content_type) }),
        );
    }
    router
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
