//! `/api/settings` (seed: `/settings`): the calling teacher's profile, preferences and schedule.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::Teacher;
use crate::service::teachers::{self, default_settings, json_or};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings))
}

/// The teacher's profile, UI settings and schedule, in the seed's shape
/// (`id, name, email, role, employee_id, phone, branch, avatarUrl, department, subjects, settings, schedule`).
#[utoipa::path(get, path = "", tag = "settings",
    responses((status = 200, body = Object), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn get_settings(
    State(state): State<AppState>,
    Teacher(teacher): Teacher,
) -> ApiResult<Json<Value>> {
    let p = teachers::profile(&state.db, &teacher).await?;
    Ok(Json(json!({
        "id": p.user.id,
        "name": p.user.name,
        "email": p.user.email,
        "role": p.user.role,
        "employee_id": p.employee_id,
        "phone": p.phone,
        "branch": p.branch,
        "avatarUrl": p.avatar_url,
        "department": p.department,
        "subjects": [],
        "settings": json_or(p.settings.as_deref(), default_settings()),
        "schedule": json_or(p.schedule.as_deref(), json!({})),
    })))
}
