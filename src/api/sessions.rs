//! `/api/attendance/sessions/...` and a subject's sessions: confirmed sessions listed and
//! viewed, and one student's status corrected.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::attendance::{ConfirmResponse, Summary};
use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, ApiQuery, AuthUser, PathId};
use super::{AppState, parse_id};
use crate::domain::Id;
use crate::service::attendance;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(correct))
        .routes(routes!(subject_sessions))
        .routes(routes!(session_view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First day, `YYYY-MM-DD` (inclusive).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CorrectionRequest {
    /// present | late | excused | absent
    pub status: String,
}

/// Correct one student's status in a confirmed session (teachers of the subject,
/// administrators). Stored with source `correction` and audited; answers like confirm.
#[utoipa::path(put, path = "/sessions/{id}/records/{student_id}", tag = "attendance",
    params(("id" = Id, Path), ("student_id" = Id, Path)),
    request_body = CorrectionRequest,
    responses((status = 200, body = ConfirmResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn correct(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, student_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<CorrectionRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    let done = attendance::sessions::correct(
        &state.db,
        &user,
        parse_id("id", &id)?,
        parse_id("student_id", &student_id)?,
        &req.status,
    )
    .await?;
    Ok(Json(done.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionListed {
    #[schema(value_type = Id)]
    pub session_id: String,
    pub date: String,
    /// -1 for a day summary imported from the seed system (`imported`).
    pub slot: i64,
    /// A day summary imported by `rollcall import-seed`: totals only, no per-student records.
    pub imported: bool,
    pub summary: Summary,
}

/// A subject's confirmed sessions, newest first (teachers of the subject, administrators);
/// `from`/`to` narrow the dates.
#[utoipa::path(get, path = "/subjects/{id}/sessions", tag = "attendance",
    params(("id" = Id, Path), Range),
    responses((status = 200, body = Vec<SessionListed>), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn subject_sessions(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
    ApiQuery(range): ApiQuery<Range>,
) -> ApiResult<Json<Vec<SessionListed>>> {
    let list =
        attendance::sessions::sessions_of(&state.db, &user, id, range.from, range.to).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionListed {
                session_id: s.session.id.to_string(),
                imported: s.session.imported,
                date: s.session.date,
                slot: s.session.slot,
                summary: Summary::from(&s.counts),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionRecordOut {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub roll: String,
    /// present | late | excused | absent; null for a student enrolled after the session.
    pub status: Option<String>,
    /// photo | manual | correction
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    #[schema(value_type = Id)]
    pub session_id: String,
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub subject_name: String,
    pub subject_code: String,
    pub date: String,
    pub slot: i64,
    /// A day summary imported by `rollcall import-seed`: `summary` holds its totals and no
    /// student has a status.
    pub imported: bool,
    /// Every student enrolled now, and every former student with a record in this session, by
    /// name.
    pub records: Vec<SessionRecordOut>,
    pub summary: Summary,
}

/// A confirmed session: every enrolled student with their status and where it came from
/// (teachers of the subject, administrators).
#[utoipa::path(get, path = "/sessions/{id}", tag = "attendance",
    params(("id" = Id, Path)),
    responses((status = 200, body = SessionResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn session_view(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<SessionResponse>> {
    let v = attendance::sessions::session_view(&state.db, &user, id).await?;
    Ok(Json(SessionResponse {
        session_id: v.session.id.to_string(),
        subject_id: v.session.subject_id.to_string(),
        subject_name: v.subject_name,
        subject_code: v.subject_code,
        imported: v.session.imported,
        date: v.session.date,
        slot: v.session.slot,
        records: v
            .lines
            .into_iter()
            .map(|l| SessionRecordOut {
                student_id: l.student.id.to_string(),
                name: l.student.name,
                roll: l.student.roll,
                status: l.status.map(|s| s.as_str().to_owned()),
                source: l.source,
            })
            .collect(),
        summary: Summary::from(&v.counts),
    }))
}
