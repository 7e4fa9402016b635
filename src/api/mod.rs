//! The HTTP layer: routes per area, extractors, error mapping, docs. Handlers are thin: extract,
//! validate, call one service function, shape the response.
//!
//! Paths: every area is documented under `/api/...`; the seed's real paths (`/auth/...`) are
//! served as aliases so its frontend works unchanged.

pub mod admin;
pub mod analytics;
pub mod attendance;
pub mod auth;
pub mod docs;
pub mod drafts;
pub mod error;
pub mod export;
pub mod extract;
pub mod figures;
pub mod health;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod roster;
pub mod sessions;
pub mod settings;
pub mod students;
pub mod subjects;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Settings;
use crate::domain::Id;
use crate::service::Error;
use crate::service::auth::Auth;
use crate::storage::Db;

/// Everything a handler may need, built once in [`crate::App::build`].
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub auth: Arc<Auth>,
    pub metrics: Arc<middleware::Metrics>,
    pub started: Instant,
    pub cache_dir: PathBuf,
    pub openapi_json: Arc<String>,
    /// The face models, loaded on first use.
    pub faces: Arc<crate::service::faces::FaceEngine>,
    /// Wakes the e-mail worker when messages were queued that should go out now.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// The time requests are handled at: a session's default date and slot follow it.
    pub clock: Arc<dyn crate::service::clock::Clock>,
    /// Where face images and avatars are kept (files beside SQLite, the database on PostgreSQL).
    pub images: crate::service::images::ImageStore,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rollcall",
        description = "Face-recognition school attendance server. Errors are always JSON `{\"detail\": \"...\"}`. \
                       The seed system's paths (`/auth/...`, `/notifications/...`) are served as undocumented aliases of `/api/auth/...`, `/api/notifications/...`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::domain::Id)),
    tags(
        (name = "auth", description = "Accounts, sessions and recovery"),
        (name = "admin", description = "Account administration"),
        (name = "settings", description = "A teacher's profile, preferences and schedule"),
        (name = "seed", description = "The seed system's own student and roster paths, kept in its shapes for its frontend"),
        (name = "subjects", description = "Subjects, their teachers and rosters"),
        (name = "students", description = "Student accounts, consent and face enrolment"),
        (name = "attendance", description = "Marking class photos, confirming sessions, figures and CSV exports"),
        (name = "notifications", description = "A teacher's e-mails to students (queued in the outbox), statistics, and everyone's e-mail switches"),
        (name = "analytics", description = "Trends, monthly summaries, classes and students at risk, a teacher's overview, a student's own figures"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The documented routes and their OpenAPI document.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .nest("/api/auth", auth::router())
        .nest("/api/admin", admin::router())
        .nest("/api/admin/roster", roster::router())
        .nest("/api/settings", settings::router())
        .nest("/api/subjects", subjects::router())
        .nest("/api/students", students::router())
        .nest(
            "/api/attendance",
            attendance::router()
                .merge(drafts::router())
                .merge(sessions::router())
                .merge(export::router())
                .merge(figures::router()),
        )
        .nest("/api/notifications", notifications::router())
        .nest("/api/analytics", analytics::router())
        .merge(subjects::seed_router())
        .merge(students::seed_router())
        .split_for_parts();
    openapi::add_shared_responses(&mut doc);
    (router, doc)
}

/// The seed's real paths, answering exactly like their `/api` twins.
fn seed_aliases() -> Router<AppState> {
    let (aliases, _) = OpenApiRouter::new()
        .nest("/auth", auth::router())
        .nest("/settings", settings::router())
        .nest("/notifications", notifications::router())
        .split_for_parts();
    aliases
}

/// The whole application router with its middleware stack.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let (api, _) = documented();
    let cors = cors(&state.settings.cors_origins)?;
    let limit = state.settings.max_body_bytes;
    Ok(api
        .merge(seed_aliases())
        .merge(docs::router(&state))
        .merge(web::router())
        .merge(avatars(&state.images))
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(cors)
        .layer(axum::middleware::map_response(middleware::nosniff))
        .with_state(state))
}

/// `/avatars/{name}`, every answer `no-store`: the avatar files served as they are (SQLite), or
/// the rows of the `avatars` table (PostgreSQL: any server of the database serves any avatar).
fn avatars(images: &crate::service::images::ImageStore) -> Router<AppState> {
    use crate::service::images::ImageStore;
    match images {
        ImageStore::Files { avatars, .. } => Router::new().nest_service(
            "/avatars",
            tower::ServiceBuilder::new()
                .layer(axum::middleware::map_response(middleware::no_store))
                .service(tower_http::services::ServeDir::new(avatars)),
        ),
        ImageStore::Database => Router::new().nest(
            "/avatars",
            Router::new()
                .route("/{name}", axum::routing::get(settings::avatar))
                .fallback(middleware::not_found)
                .layer(axum::middleware::map_response(middleware::no_store)),
        ),
    }
}

fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim_end_matches('/'))
                .with_context(|| format!("bad CORS origin {o:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static(middleware::REQUEST_ID),
            HeaderName::from_static(middleware::CORRELATION_ID),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600)))
}

/// Parse an id from a path or body; a malformed id is a 400 naming the field.
pub fn parse_id(field: &str, raw: &str) -> Result<Id, Error> {
    Id::parse(raw).map_err(|_| Error::BadRequest(format!("Invalid {field} format")))
}

/// A stored image as a response: its type, and never kept by a cache (faces are personal).
pub(crate) fn image_response(bytes: Vec<u8>, content_type: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (
                axum::http::header::CACHE_CONTROL,
                middleware::NO_STORE.to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Unix seconds as RFC 3339 UTC.
#[must_use]
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
