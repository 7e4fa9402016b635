//! `/api/attendance/drafts/...` and a subject's open drafts: the photos a teacher saved for a
//! session, their faces matched now, the teacher's assignments, discarding.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::attendance::{MarkFace, NotSeen, mark_config, not_seen};
use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, AuthUser, PathId};
use super::{AppState, parse_id};
use crate::domain::Id;
use crate::service::drafts::{self, DraftView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(draft_view, draft_discard))
        .routes(routes!(draft_photo))
        .routes(routes!(draft_assign))
        .routes(routes!(subject_drafts))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftPhotoInfo {
    /// Number in the draft (from 1); the image is at `photos/{photo}`.
    pub photo: i64,
    pub width: i64,
    pub height: i64,
    pub content_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftFaceOut {
    /// The photo this face is in.
    pub photo: i64,
    /// Its number in that photo (from 0).
    pub face: i64,
    #[serde(flatten)]
    pub detail: MarkFace,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftResponse {
    #[schema(value_type = Id)]
    pub draft_id: String,
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub date: String,
    pub slot: i64,
    pub photos: Vec<DraftPhotoInfo>,
    /// Every face of every photo, matched together (each student once): the teacher's
    /// assignments, then present, uncertain and unknown by distance.
    pub faces: Vec<DraftFaceOut>,
    /// Enrolled students no face stands for.
    pub not_seen: Vec<NotSeen>,
    /// Students counted present if the draft is confirmed as it is.
    pub present: i64,
    /// Faces for the teacher to decide (uncertain, or another face took a nearer student).
    pub to_review: i64,
    pub updated_at: i64,
}

impl From<DraftView> for DraftResponse {
    fn from(v: DraftView) -> Self {
        let faces: Vec<DraftFaceOut> = v
            .faces
            .into_iter()
            .map(|f| DraftFaceOut {
                photo: f.photo,
                face: f.face,
                detail: MarkFace::from(f.marked),
            })
            .collect();
        let count = |p: &dyn Fn(&MarkFace) -> bool| {
            i64::try_from(faces.iter().filter(|f| p(&f.detail)).count()).unwrap_or(i64::MAX)
        };
        Self {
            present: count(&|f| f.status == "present"),
            to_review: count(&|f| f.status == "uncertain" || f.needs_review),
            draft_id: v.draft.id.to_string(),
            subject_id: v.draft.subject_id.to_string(),
            date: v.draft.date,
            slot: v.draft.slot,
            updated_at: v.draft.updated_at,
            photos: v
                .photos
                .into_iter()
                .map(|p| DraftPhotoInfo {
                    photo: p.photo,
                    width: p.width,
                    height: p.height,
                    content_type: p.content_type,
                })
                .collect(),
            faces,
            not_seen: not_seen(v.not_seen),
        }
    }
}

/// A saved draft: its photos and every face matched now against the subject's students
/// (teachers of the subject, administrators).
#[utoipa::path(get, path = "/drafts/{id}", tag = "attendance",
    params(("id" = Id, Path)),
    responses((status = 200, body = DraftResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn draft_view(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<DraftResponse>> {
    let view = drafts::view(&state.db, &mark_config(&state, false), &user, id).await?;
    Ok(Json(view.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Discarded {
    pub ok: bool,
}

/// Discard a draft and its photos.
#[utoipa::path(delete, path = "/drafts/{id}", tag = "attendance",
    params(("id" = Id, Path)),
    responses((status = 200, body = Discarded), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn draft_discard(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<Discarded>> {
    drafts::discard(&state.db, &state.images, &user, id).await?;
    Ok(Json(Discarded { ok: true }))
}

/// One photo of a draft, as uploaded (to draw the faces' boxes on).
#[utoipa::path(get, path = "/drafts/{id}/photos/{photo}", tag = "attendance",
    params(("id" = Id, Path), ("photo" = i64, Path)),
    responses((status = 200, description = "The photo as uploaded", content(("image/jpeg"), ("image/png"), ("image/webp"))), (status = 400, body = Detail),
              (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn draft_photo(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, photo)): Path<(String, i64)>,
) -> ApiResult<Response> {
    let (bytes, content_type) =
        drafts::photo(&state.db, &state.images, &user, parse_id("id", &id)?, photo).await?;
    Ok(super::image_response(bytes, content_type))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    /// The student this face is; null hands the face back to matching.
    #[schema(value_type = Option<Id>)]
    pub student_id: Option<String>,
    /// Also add this face to the student's enrolment samples (needs their consent when
    /// consent is required, and a face at least 40 px wide).
    #[serde(default)]
    pub enrol: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignResponse {
    /// The face sample added with `enrol`.
    #[schema(value_type = Option<Id>)]
    pub sample_id: Option<String>,
    pub draft: DraftResponse,
}

/// The teacher says whose a face is (an unknown face, an uncertain one, or a wrong match); the
/// student must be enrolled in the subject, and a face of theirs assigned before is released.
#[utoipa::path(put, path = "/drafts/{id}/faces/{photo}/{face}", tag = "attendance",
    params(("id" = Id, Path), ("photo" = i64, Path), ("face" = i64, Path)),
    request_body = AssignRequest,
    responses((status = 200, body = AssignResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail),
              (status = 503, body = Detail, description = "With `enrol`: the face models are not installed; or the database is busy or its disk full")),
    security(("bearer" = [])))]
async fn draft_assign(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, photo, face)): Path<(String, i64, i64)>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> ApiResult<Json<AssignResponse>> {
    let student = req
        .student_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_id("student_id", s))
        .transpose()?;
    let done = drafts::assign(
        &state.db,
        &state.faces,
        &state.images,
        &mark_config(&state, false),
        &user,
        parse_id("id", &id)?,
        (photo, face),
        student,
        req.enrol,
    )
    .await?;
    Ok(Json(AssignResponse {
        sample_id: done.sample.map(|s| s.to_string()),
        draft: done.view.into(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftSummary {
    #[schema(value_type = Id)]
    pub draft_id: String,
    pub date: String,
    pub slot: i64,
    pub photos: usize,
    pub updated_at: i64,
}

/// A subject's open drafts, newest first.
#[utoipa::path(get, path = "/subjects/{id}/drafts", tag = "attendance",
    params(("id" = Id, Path)),
    responses((status = 200, body = Vec<DraftSummary>), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn subject_drafts(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<DraftSummary>>> {
    let list = drafts::of_subject(&state.db, &user, id).await?;
    Ok(Json(
        list.into_iter()
            .map(|(d, photos)| DraftSummary {
                draft_id: d.id.to_string(),
                date: d.date,
                slot: d.slot,
                photos,
                updated_at: d.updated_at,
            })
            .collect(),
    ))
}
