//! `/api/attendance/me`: the calling student's own figures.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::AuthUser;
use crate::domain::Id;
use crate::service::attendance;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mine))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectAttendance {
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub name: String,
    pub code: String,
    pub present: i64,
    pub late: i64,
    pub excused: i64,
    pub absent: i64,
    pub total: i64,
    pub percentage: f64,
}

/// The calling student's attendance per enrolled subject.
#[utoipa::path(get, path = "/me", tag = "attendance", operation_id = "my_attendance",
    responses((status = 200, body = Vec<SubjectAttendance>), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<SubjectAttendance>>> {
    let list = attendance::figures::mine(&state.db, &user).await?;
    Ok(Json(
        list.into_iter()
            .map(|f| SubjectAttendance {
                subject_id: f.subject_id.to_string(),
                name: f.name,
                code: f.code,
                present: f.counts.present,
                late: f.counts.late,
                excused: f.counts.excused,
                absent: f.counts.absent,
                total: f.counts.total(),
                percentage: f.percentage,
            })
            .collect(),
    ))
}
