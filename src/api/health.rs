//! Liveness, readiness with dependency checks, and Prometheus metrics.

use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::{AuthUser, bearer};
use crate::domain::Role;
use crate::service::Error;
use crate::service::tokens::constant_time_eq;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(health_detailed))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    pub service: String,
    pub version: String,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub status: String,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub models: Check,
    pub storage: Check,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetailedHealth {
    pub status: String,
    pub timestamp: String,
    pub version: String,
    pub uptime_seconds: f64,
    pub checks: Checks,
}

/// Service banner (the seed frontend's "is it up" ping accepts any 2xx). A browser asking for a
/// page (`Accept: text/html`) is sent to the web app at `/app/` instead.
#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, body = ServiceInfo),
    (status = 303, description = "A browser: to the web app")))]
async fn root(headers: axum::http::HeaderMap) -> Response {
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_page {
        return axum::response::Redirect::to("/app/").into_response();
    }
    Json(ServiceInfo {
        service: "rollcall".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
    })
    .into_response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        timestamp: super::rfc3339(state.clock.now()),
    })
}

/// Readiness: database reachable and writable, models present, disk not full. 503 when unhealthy.
/// It names paths and free disk, so it is for administrators or with `ROLLCALL_METRICS_TOKEN`
/// as bearer token (a monitor); `/health` stays public.
#[utoipa::path(get, path = "/health/detailed", tag = "health",
    responses((status = 200, body = DetailedHealth), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 503, body = DetailedHealth)),
    security(("bearer" = [])))]
async fn health_detailed(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    operator(&state, req).await?;
    let database = match state.db.check().await {
        Ok(version) => Check {
            status: "ok".into(),
            healthy: true,
            error: None,
            detail: Some(serde_json::json!({ "schema_version": version })),
        },
        Err(e) => Check {
            status: "error".into(),
            healthy: false,
            error: Some(e.to_string()),
            detail: None,
        },
    };
    // Reading the model folder and the disk's free space are file-system calls: off the runtime.
    let (cache, biometrics) = (state.cache_dir.clone(), state.faces.is_on());
    let (data_dir, min_free) = (
        state.settings.data_dir.clone(),
        state.settings.min_free_disk_mb,
    );
    let (models, storage) = crate::service::blocking(move || {
        (
            models_check(&cache, biometrics),
            disk_check(&data_dir, min_free),
        )
    })
    .await?;
    let healthy = database.healthy && models.healthy && storage.healthy;
    let body = DetailedHealth {
        status: if healthy { "healthy" } else { "unhealthy" }.into(),
        timestamp: super::rfc3339(state.clock.now()),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started.elapsed().as_secs_f64(),
        checks: Checks {
            database,
            models,
            storage,
        },
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

/// Let through an administrator, or a monitor bearing `ROLLCALL_METRICS_TOKEN`: 401 without a
/// valid token, 403 for anyone else.
async fn operator(state: &AppState, req: axum::extract::Request) -> ApiResult<()> {
    let (mut parts, _) = req.into_parts();
    let token_ok = match (&state.settings.metrics_token, bearer(&parts)) {
        (Some(expected), Some(given)) => constant_time_eq(expected.expose(), given),
        _ => false,
    };
    if !token_ok {
        let user = <AuthUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, state,
        )
        .await?;
        if user.role != Role::Admin {
            return Err(Error::Forbidden("Administrator access required".into()).into());
        }
    }
    Ok(())
}

/// The face models: their absence is reported (`missing`: face features answer 503 until
/// `scripts/setup` fetches them) but does not make the server unhealthy, since manual
/// attendance and everything else still work; on a biometric-free server they are `turned_off`.
fn models_check(cache: &Path, biometrics: bool) -> Check {
    let dir = cache.join("models");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".onnx") || n.ends_with(".dat"))
                .collect()
        })
        .unwrap_or_default();
    Check {
        status: if !biometrics {
            "turned_off"
        } else if files.is_empty() {
            "missing"
        } else {
            "ok"
        }
        .into(),
        healthy: true,
        error: None,
        detail: Some(serde_json::json!({ "dir": dir.display().to_string(), "files": files })),
    }
}

fn disk_check(data_dir: &Path, min_free_mb: u64) -> Check {
    match fs4::available_space(data_dir) {
        Ok(free) => {
            let free_mb = free / (1024 * 1024);
            let healthy = free_mb >= min_free_mb;
            Check {
                status: if healthy { "ok" } else { "low_disk" }.into(),
                healthy,
                error: (!healthy).then(|| format!("only {free_mb} MiB free, need {min_free_mb}")),
                detail: Some(serde_json::json!({ "free_mb": free_mb, "min_free_mb": min_free_mb })),
            }
        }
        Err(e) => Check {
            status: "error".into(),
            healthy: false,
            error: Some(e.to_string()),
            detail: None,
        },
    }
}

/// Prometheus metrics. Readable by administrators, or with `ROLLCALL_METRICS_TOKEN` as bearer token.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain"), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn metrics(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    operator(&state, req).await?;
    let text = state.metrics.render()?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
