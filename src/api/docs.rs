//! API documentation served offline: the OpenAPI document, Swagger UI at /docs and ReDoc at
//! /redoc. Their JavaScript comes from npm packages that `scripts/setup` unpacks into the cache.
//! Both pages carry a Content-Security-Policy that allows only this origin, so nothing in the
//! bundles (ReDoc's telemetry and logo, for one) can reach another host.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeDir;

use super::AppState;
use super::error::detail;

const SWAGGER_DIR: &str = "web/swagger-ui-dist";
const REDOC_DIR: &str = "web/redoc";

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/docs", get(swagger))
        .route("/docs/init.js", get(swagger_init))
        .route("/redoc", get(redoc))
        .nest_service(
            "/docs/assets",
            ServeDir::new(state.cache_dir.join(SWAGGER_DIR)),
        )
        .nest_service(
            "/redoc/assets",
            ServeDir::new(state.cache_dir.join(REDOC_DIR)),
        )
}

async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.as_str().to_owned(),
    )
        .into_response()
}

fn missing(state: &AppState, dir: &str, file: &str) -> Option<Response> {
    (!state.cache_dir.join(dir).join(file).is_file()).then(|| {
        detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "API documentation assets are not installed; run scripts/setup",
        )
    })
}

async fn swagger(State(state): State<AppState>) -> Response {
    if let Some(r) = missing(&state, SWAGGER_DIR, "swagger-ui-bundle.js") {
        return r;
    }
    Html(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>rollcall API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>"##,
    )
    .into_response()
    .with_csp()
}

/// Swagger UI's start-up call, as a file: the CSP allows no inline script.
async fn swagger_init() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  persistAuthorization: true
});
"##,
    )
        .into_response()
}

async fn redoc(State(state): State<AppState>) -> Response {
    if let Some(r) = missing(&state, REDOC_DIR, "redoc.standalone.js") {
        return r;
    }
    Html(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>rollcall API reference</title>
</head>
<body>
  <redoc spec-url="/openapi.json" disable-telemetry="true"></redoc>
  <script type="module" src="/redoc/assets/redoc.standalone.js"></script>
</body>
</html>"##,
    )
    .into_response()
    .with_csp()
}

/// Same-origin only. ReDoc 3 is an ES module (hence `type="module"` above); it phones home for
/// telemetry and a logo unless stopped, and its search worker falls back to the main thread when
/// `Function` is refused.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   worker-src 'self' blob:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

trait WithCsp {
    fn with_csp(self) -> Response;
}

impl WithCsp for Response {
    fn with_csp(mut self) -> Response {
        self.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(CSP),
        );
        self
    }
}
