//! `/api/settings` (seed: `/settings`): the calling teacher's profile, preferences and schedule.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, Teacher};
use crate::domain::{Email, Id, Role};
use crate::service::Error;
use crate::service::avatars::{self, MAX_AVATAR_BYTES};
use crate::service::teachers::{self, Profile};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, patch_settings, put_settings))
        .routes(routes!(upload_avatar))
}

/// The one answer of GET, PATCH and PUT (the seed's GET shape; `employee_id`, `phone` and
/// `branch` come from the teacher profile).
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsResponse {
    pub id: Id,
    pub name: String,
    #[schema(value_type = String)]
    pub email: Email,
    pub role: Role,
    pub employee_id: String,
    pub phone: String,
    pub branch: String,
    #[serde(rename = "avatarUrl")]
    pub avatar_url: Option<String>,
    pub department: Option<String>,
    pub subjects: Vec<SubjectItem>,
    /// UI preferences: theme, notifications, emailPreferences, thresholds, faceSettings,
    /// lateAfterMinutes, and any other keys as sent.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The seed Schedule model as sent: timetable, recurring, holidays, exams, meta; `{}` when
    /// never set, `null` after a PUT of null.
    #[schema(value_type = Object, nullable)]
    pub schedule: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectItem {
    #[serde(rename = "_id")]
    pub id: Id,
    pub name: String,
    pub code: String,
}

impl From<Profile> for SettingsResponse {
    fn from(p: Profile) -> Self {
        let (settings, schedule) = (p.settings(), p.schedule());
        let t = p.teacher;
        Self {
            id: t.user.id,
            name: t.user.name,
            email: t.user.email,
            role: t.user.role,
            employee_id: t.employee_id,
            phone: t.phone,
            branch: t.branch,
            avatar_url: t.avatar_url,
            department: t.department,
            subjects: p
                .subjects
                .into_iter()
                .map(|s| SubjectItem {
                    id: s.id,
                    name: s.name,
                    code: s.code,
                })
                .collect(),
            settings,
            schedule,
        }
    }
}

/// The teacher's profile, UI settings and schedule.
#[utoipa::path(get, path = "", tag = "settings",
    responses((status = 200, body = SettingsResponse), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn get_settings(
    State(state): State<AppState>,
    Teacher(teacher): Teacher,
) -> ApiResult<Json<SettingsResponse>> {
    Ok(Json(teachers::profile(&state.db, &teacher).await?.into()))
}

/// Edit the profile and preferences. Applies top-level `name` (1..200 characters), `email`
/// (409 if another account has it), `employee_id`, `phone`, `department` (null clears), the
/// frontend's nested `profile.{name, phone, email}` (top level wins), and `settings`, which is
/// deep-merged into the stored preferences: `theme` in Light/Dark/Forest/Cyber,
/// `thresholds.warningVal`/`safeVal` 0..100, `faceSettings.sensitivity` 50..99,
/// `notifications.*` booleans (`notifications.email` may be an object of switches),
/// `lateAfterMinutes` 0..120; unknown keys are kept. Other keys are ignored.
/// An empty object is 400 `Invalid payload`.
#[utoipa::path(patch, path = "", tag = "settings", request_body = Object,
    responses((status = 200, body = SettingsResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn patch_settings(
    State(state): State<AppState>,
    Teacher(teacher): Teacher,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<SettingsResponse>> {
    Ok(Json(
        teachers::patch(&state.db, &teacher, body).await?.into(),
    ))
}

/// Replace `department`, `settings` (same rules as PATCH, replaced whole) and `schedule`:
/// `null` clears it; an object is checked (weekdays Monday..Sunday, `HH:MM` times with end after
/// start, no overlapping periods or repeated slots in a day, real `YYYY-MM-DD` dates, holiday
/// ranges `{from, to}`, only the teacher's own subjects in `metadata.subject_id`, at most 7 days
/// x 24 periods and 366 holidays/exams; 422 naming the problem) and stored exactly as sent;
/// anything else is 400 `Invalid schedule format`. Other keys are ignored.
#[utoipa::path(put, path = "", tag = "settings", request_body = Object,
    responses((status = 200, body = SettingsResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn put_settings(
    State(state): State<AppState>,
    Teacher(teacher): Teacher,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<SettingsResponse>> {
    Ok(Json(teachers::put(&state.db, &teacher, body).await?.into()))
}

/// The part of an avatar upload (`multipart/form-data`; other parts are ignored).
#[derive(Debug, ToSchema)]
pub struct AvatarUpload {
    /// A `.jpg`, `.jpeg`, `.png` or `.webp` file with a matching content type, at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvatarResponse {
    #[serde(rename = "avatarUrl")]
    pub avatar_url: String,
}

/// Upload a profile picture: multipart field `file`, a `.jpg`/`.jpeg`/`.png`/`.webp` name
/// (else 400 `Unsupported file type`), content type `image/jpeg`/`png`/`webp` matching the bytes
/// (else 400 `Invalid file content type`), at most 5 MiB (413). Stored on the server and
/// served at the returned `avatarUrl`.
#[utoipa::path(post, path = "/upload-avatar", tag = "settings",
    request_body(content_type = "multipart/form-data", content = AvatarUpload),
    responses((status = 200, body = AvatarResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 413, body = Detail),
              (status = 422, body = Detail, description = "No `file` part, or the image is corrupt or truncated")),
    security(("bearer" = [])))]
async fn upload_avatar(
    State(state): State<AppState>,
    Teacher(teacher): Teacher,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<AvatarResponse>> {
    let bad = |e: &dyn std::fmt::Display| Error::BadRequest(format!("Invalid multipart body: {e}"));
    let mut multipart = multipart.map_err(|e| bad(&e.body_text()))?;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad(&e))? {
        if field.name() != Some("file") {
            continue;
        }
        let ext = avatars::check_upload(
            field.file_name().unwrap_or_default(),
            field.content_type().unwrap_or_default(),
        )?;
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
            if bytes.len() + chunk.len() > MAX_AVATAR_BYTES {
                return Err(Error::TooLarge("File too large. Max 5MB".into()).into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let url = avatars::save(
            &state.db,
            &state.images,
            &state.settings.base_url(),
            &teacher,
            ext,
            bytes,
        )
        .await?;
        return Ok(Json(AvatarResponse { avatar_url: url }));
    }
    Err(Error::Invalid("file is required".into()).into())
}

/// An avatar from the `avatars` table, at the URL its file would have (`/avatars/{name}`; the
/// router serves files with `ServeDir` instead when the images are files).
pub(super) async fn avatar(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> ApiResult<axum::response::Response> {
    match avatars::fetch(&state.db, &state.images, &name).await? {
        Some((content_type, bytes)) => Ok(super::image_response(bytes, content_type)),
        None => Err(Error::NotFound("Not Found".into()).into()),
    }
}
