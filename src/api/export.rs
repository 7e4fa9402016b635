//! `/api/attendance/.../export.csv`: a subject's sessions, or one session, as CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::{ApiQuery, AuthUser, PathId};
use super::sessions::Range;
use crate::domain::Id;
use crate::service::attendance::{self, export::Csv};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subject_export))
        .routes(routes!(session_export))
}

fn csv_response(csv: Csv) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", csv.filename),
            ),
            (
                header::CACHE_CONTROL,
                super::middleware::NO_STORE.to_owned(),
            ),
        ],
        csv.text,
    )
        .into_response()
}

/// A subject's attendance as CSV (teachers of the subject, administrators): one row per
/// enrolled student, one column per session (`date#slot`: P/L/E/A), totals and percentage.
#[utoipa::path(get, path = "/subjects/{id}/export.csv", tag = "attendance",
    params(("id" = Id, Path), Range),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn subject_export(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
    ApiQuery(range): ApiQuery<Range>,
) -> ApiResult<Response> {
    let csv = attendance::export::subject_csv(&state.db, &user, id, range.from, range.to).await?;
    Ok(csv_response(csv))
}

/// One session's records as CSV (same columns).
#[utoipa::path(get, path = "/sessions/{id}/export.csv", tag = "attendance",
    params(("id" = Id, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn session_export(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let csv = attendance::export::session_csv(&state.db, &user, id).await?;
    Ok(csv_response(csv))
}
