//! `/api/students` (seed: `/students/me/...`): student accounts, a student's own profile and
//! subjects, biometric consent and face enrolment.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Message;
use super::error::{ApiResult, Detail};
use super::extract::{Admin, ApiJson, ApiQuery, AuthUser, PathId, Staff, Student};
use super::subjects::image_path;
use super::{AppState, parse_id, rfc3339};
use crate::domain::attendance::Counts;
use crate::domain::faces::{Sample, Source};
use crate::domain::students::StudentRecord;
use crate::domain::{AttendanceStatus, Id, Role};
use crate::service::analytics::Rules;
use crate::service::students::{self, ConsentRules, MAX_PER_PAGE, NewStudent, StudentUpdate};
use crate::service::{Actor, Error, attendance, faces, subjects};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_students, create_student))
        .routes(routes!(upload_face))
        .routes(routes!(get_student, update_student, delete_student))
        .routes(routes!(consent_notice))
        .routes(routes!(give_consent, withdraw_consent))
        .routes(routes!(list_faces))
        .routes(routes!(face_image))
        .routes(routes!(delete_face))
        .routes(routes!(approve_face))
}

/// The seed's own `/students/...` paths, answering in its shapes (documented under "seed").
pub fn seed_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(seed_profile))
        .routes(routes!(seed_face_image))
        .routes(routes!(seed_my_subjects, seed_join))
        .routes(routes!(seed_available))
        .routes(routes!(seed_profile_of))
        .routes(routes!(seed_leave))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentResponse {
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub email: String,
    pub roll: String,
    pub branch: String,
    pub year: String,
    /// RFC 3339; null until biometric consent is recorded.
    pub consent_at: Option<String>,
    /// Who recorded the consent (the student or a staff member).
    #[schema(value_type = Option<Id>)]
    pub consent_by: Option<String>,
    /// Approved face samples, matched in class photos.
    pub face_samples: i64,
    /// Face photos the student uploaded of themselves that await a teacher's approval.
    pub face_samples_pending: i64,
    /// True while the student has no approved face sample (e.g. imported from the seed system,
    /// whose stored faces are not usable): they cannot be recognised in photos until enrolled.
    pub face_enrolment_needed: bool,
    /// False while the roll number is only what the student typed when registering: staff
    /// confirm it by setting it; until then adding students by roll does not find it.
    pub roll_confirmed: bool,
    /// Link to the newest face photo.
    pub image_url: Option<String>,
    pub created_at: String,
}

impl From<StudentRecord> for StudentResponse {
    fn from(s: StudentRecord) -> Self {
        let image_url = s
            .latest_sample
            .as_ref()
            .map(|x| image_path(s.id.as_str(), x.as_str()));
        Self {
            id: s.id.to_string(),
            name: s.name,
            email: s.email,
            roll: s.roll,
            branch: s.branch,
            year: s.year,
            consent_at: s.consent_at.map(rfc3339),
            consent_by: s.consent_by.map(|i| i.to_string()),
            face_samples: s.faces,
            face_samples_pending: s.faces_pending,
            face_enrolment_needed: s.faces == 0,
            roll_confirmed: s.roll_confirmed,
            image_url,
            created_at: rfc3339(s.created_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page, default 1.
    pub page: Option<u32>,
    /// 1..100, default 20.
    pub per_page: Option<u32>,
    /// Part of a name or roll number.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentPage {
    pub students: Vec<StudentResponse>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateStudentRequest {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub roll: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub year: Option<String>,
    /// Subjects (that the caller manages) to enrol the student in.
    #[serde(default)]
    #[schema(value_type = Vec<Id>)]
    pub subject_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedStudent {
    #[serde(flatten)]
    pub student: StudentResponse,
    /// The generated password, shown once.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateStudentRequest {
    pub name: Option<String>,
    /// Staff only.
    pub roll: Option<String>,
    pub branch: Option<String>,
    pub year: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FaceSample {
    #[schema(value_type = Id)]
    pub id: String,
    pub created_at: String,
    /// `[left, top, right, bottom]` in the upright photo.
    #[serde(rename = "box")]
    pub bbox: [i64; 4],
    pub score: f64,
    pub image_url: String,
    /// False while a photo the student uploaded awaits staff approval (not matched until then).
    pub approved: bool,
    /// Where the sample came from.
    pub source: SampleSource,
}

/// Where a face sample came from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SampleSource {
    /// An enrolment photo uploaded (`POST /api/students/upload-face`; also samples from before
    /// sources were recorded).
    Upload,
    /// A face a teacher assigned in an attendance draft and asked to enrol.
    Teacher,
    /// A face of a confirmed draft the teacher vouched for (assigned it, or accepted it while
    /// uncertain), added by the server (`ROLLCALL_LEARN_FROM_CONFIRM`).
    Learned,
    /// A photo enrolled from a folder (`rollcall enroll`, `rollcall import-seed --faces`).
    Import,
}

impl From<Source> for SampleSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Upload => Self::Upload,
            Source::Teacher => Self::Teacher,
            Source::Learned => Self::Learned,
            Source::Import => Self::Import,
        }
    }
}

impl From<Sample> for FaceSample {
    fn from(s: Sample) -> Self {
        Self {
            approved: s.approved,
            source: s.source.into(),
            image_url: image_path(s.student_id.as_str(), s.id.as_str()),
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            bbox: s.bbox,
            score: s.score,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    pub message: String,
    pub image_url: String,
    #[schema(value_type = Id)]
    pub sample_id: String,
    /// Approved face samples the student now has (at most 30).
    pub faces_total: i64,
    /// Sharpness of the face (variance of the Laplacian).
    pub sharpness: f64,
    /// True when the photo waits for a teacher's approval before it is used (a student's own
    /// upload, with `ROLLCALL_REVIEW_SELF_UPLOADS` on).
    pub pending_review: bool,
}

/// The parts of a face upload (`multipart/form-data`; other parts are ignored).
#[derive(Debug, ToSchema)]
pub struct FaceUpload {
    /// The photo: JPEG, PNG, WebP, GIF (first frame) or BMP, at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The student to enrol: required from staff; a student enrols themselves.
    #[schema(value_type = Option<Id>)]
    pub student_id: Option<String>,
}

/// The part of the seed's face upload (`multipart/form-data`).
#[derive(Debug, ToSchema)]
pub struct SeedFacePhoto {
    /// The photo: JPEG, PNG, WebP, GIF (first frame) or BMP, at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Withdrawn {
    pub message: String,
    pub deleted_samples: usize,
}

/// Students: a teacher's (those in their subjects) or, for an administrator, all; by name.
#[utoipa::path(get, path = "", tag = "students", params(ListQuery),
    responses((status = 200, body = StudentPage), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn list_students(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<StudentPage>> {
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q.per_page.unwrap_or(20);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(
            Error::Invalid(format!("per_page must be between 1 and {MAX_PER_PAGE}")).into(),
        );
    }
    let offset = (page - 1).saturating_mul(per_page);
    let (list, total) = students::list(&state.db, &user, q.q, per_page, offset).await?;
    Ok(Json(StudentPage {
        students: list.into_iter().map(StudentResponse::from).collect(),
        page,
        per_page,
        total,
    }))
}

/// Create a student account (verified, with a generated password returned once); 409 if the
/// e-mail is taken.
#[utoipa::path(post, path = "", tag = "students", request_body = CreateStudentRequest,
    responses((status = 200, body = CreatedStudent), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail, description = "A subject in `subject_ids` does not exist"), (status = 409, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn create_student(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(body): ApiJson<CreateStudentRequest>,
) -> ApiResult<Json<CreatedStudent>> {
    let subject_ids = body
        .subject_ids
        .iter()
        .map(|s| parse_id("subject_id", s))
        .collect::<Result<Vec<_>, _>>()?;
    let (student, password) = students::create(
        &state.db,
        state.auth.hashing(),
        &user,
        NewStudent {
            name: body.name,
            email: body.email,
            roll: body.roll.unwrap_or_default(),
            branch: body.branch.unwrap_or_default(),
            year: body.year.unwrap_or_default(),
            subject_ids,
        },
    )
    .await?;
    Ok(Json(CreatedStudent {
        student: student.into(),
        password,
    }))
}

/// A student (the student themselves, their teachers, administrators).
#[utoipa::path(get, path = "/{id}", tag = "students", params(("id" = Id, Path)),
    responses((status = 200, body = StudentResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn get_student(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<StudentResponse>> {
    let s = students::get(&state.db, &user, id).await?;
    Ok(Json(s.into()))
}

/// Change a student's profile; a student may change their own name, branch and year.
#[utoipa::path(put, path = "/{id}", tag = "students", params(("id" = Id, Path)),
    request_body = UpdateStudentRequest,
    responses((status = 200, body = StudentResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn update_student(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateStudentRequest>,
) -> ApiResult<Json<StudentResponse>> {
    let s = students::update(
        &state.db,
        &user,
        id,
        StudentUpdate {
            name: body.name,
            roll: body.roll,
            branch: body.branch,
            year: body.year,
        },
    )
    .await?;
    Ok(Json(s.into()))
}

/// Delete a student for good: account, enrolments, attendance records, face samples and their
/// images (administrators only, audited; a teacher removes a student from their subject).
#[utoipa::path(delete, path = "/{id}", tag = "students", params(("id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn delete_student(
    State(state): State<AppState>,
    Admin(user): Admin,
    PathId(id): PathId,
) -> ApiResult<Json<Message>> {
    students::delete(&state.db, &state.images, &user, id).await?;
    Ok(Json(Message {
        message: "Student deleted".into(),
    }))
}

/// The school's biometric consent notice, what a student agrees to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentNotice {
    /// `ROLLCALL_CONSENT_NOTICE`.
    pub notice: String,
    /// SHA-256 (hex) of `notice`, written into each `student.consent` audit entry.
    pub notice_sha256: String,
    /// Whether a student may record their own consent (`ROLLCALL_STUDENT_SELF_CONSENT`);
    /// otherwise the school office records the guardian's signed form.
    pub student_self_consent: bool,
}

/// The consent notice (any signed-in account).
#[utoipa::path(get, path = "/consent-notice", tag = "students",
    responses((status = 200, body = ConsentNotice), (status = 401, body = Detail)),
    security(("bearer" = [])))]
async fn consent_notice(State(state): State<AppState>, _user: AuthUser) -> Json<ConsentNotice> {
    Json(ConsentNotice {
        notice: state.settings.consent_notice.clone(),
        notice_sha256: state.settings.consent_notice_sha256(),
        student_self_consent: state.settings.student_self_consent,
    })
}

fn consent_rules(state: &AppState) -> ConsentRules {
    ConsentRules {
        self_consent: state.settings.student_self_consent,
        notice_sha256: state.settings.consent_notice_sha256(),
    }
}

/// Record biometric consent: the student (unless `ROLLCALL_STUDENT_SELF_CONSENT` is off: 403),
/// or staff recording a signed form. Audited with the notice's SHA-256; consent already
/// recorded stays as it was.
#[utoipa::path(post, path = "/{id}/consent", tag = "students", params(("id" = Id, Path)),
    responses((status = 200, body = StudentResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn give_consent(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<StudentResponse>> {
    let (s, _) =
        students::give_consent(&state.db, Actor::User(&user), id, &consent_rules(&state)).await?;
    Ok(Json(s.into()))
}

/// Withdraw consent: every face sample of the student is deleted with its image.
#[utoipa::path(delete, path = "/{id}/consent", tag = "students", params(("id" = Id, Path)),
    responses((status = 200, body = Withdrawn), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn withdraw_consent(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<Withdrawn>> {
    let (_, n) =
        students::withdraw_consent(&state.db, &state.images, Actor::User(&user), id).await?;
    Ok(Json(Withdrawn {
        message: "Consent withdrawn; face data deleted".into(),
        deleted_samples: n,
    }))
}

/// The `file` part and the optional `student_id` part of an upload.
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Bytes, Option<String>), Error> {
    let mut multipart = multipart.map_err(|e| {
        Error::UnsupportedMedia(format!(
            "Expected a multipart/form-data upload: {}",
            e.body_text()
        ))
    })?;
    let (mut file, mut student) = (None, None);
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge("Request body too large".into())
            } else {
                Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
            }
        })?;
        let Some(field) = field else { break };
        match field.name() {
            Some("file") => {
                file = Some(field.bytes().await.map_err(|e| {
                    Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
                })?);
            }
            Some("student_id") => {
                student = Some(field.text().await.map_err(|e| {
                    Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
                })?);
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| Error::Invalid("file is required".into()))?;
    Ok((file, student))
}

async fn enrol(
    state: &AppState,
    user: &AuthUser,
    student: Id,
    bytes: Bytes,
) -> ApiResult<UploadResponse> {
    let done = faces::upload(
        &state.db,
        &state.faces,
        &state.images,
        faces::UploadPolicy {
            require_consent: state.settings.require_consent,
            self_consent: state.settings.student_self_consent,
            app_url: format!(
                "{}/app/",
                state.settings.public_base_url().unwrap_or_default()
            ),
            review_self_uploads: state.settings.review_self_uploads,
        },
        user,
        student.clone(),
        bytes.to_vec(),
    )
    .await?;
    let pending_review = !done.sample.approved;
    Ok(UploadResponse {
        message: if pending_review {
            "Photo uploaded; a teacher will check it before it is used for attendance".into()
        } else {
            "Photo uploaded and face registered successfully".into()
        },
        pending_review,
        image_url: image_path(student.as_str(), done.sample.id.as_str()),
        sample_id: done.sample.id.to_string(),
        faces_total: done.faces_total,
        sharpness: (done.sharpness * 10.0).round() / 10.0,
    })
}

/// Enrol a face photo (multipart: `file`, and `student_id` when staff enrol a student). Needs
/// the student's recorded consent, one sharp face at least 40 px wide (or one at least twice as
/// wide as any other); keeps up to 30 samples, chosen for coverage (a near-duplicate goes first).
#[utoipa::path(post, path = "/upload-face", tag = "students",
    request_body(content_type = "multipart/form-data", content = FaceUpload),
    responses((status = 200, body = UploadResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
              (status = 422, body = Detail), (status = 503, body = Detail, description = "Face analysis is busy (`Retry-After`), the face models are not installed, or the database is busy or its disk full")),
    security(("bearer" = [])))]
async fn upload_face(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<UploadResponse>> {
    let (bytes, student) = read_upload(multipart).await?;
    let student = match (student, user.role) {
        (Some(s), _) => parse_id("student_id", s.trim())?,
        (None, Role::Student) => user.id.clone(),
        (None, _) => return Err(Error::Invalid("student_id is required".into()).into()),
    };
    Ok(Json(enrol(&state, &user, student, bytes).await?))
}

/// A student's face samples (no embeddings).
#[utoipa::path(get, path = "/{id}/faces", tag = "students", params(("id" = Id, Path)),
    responses((status = 200, body = Vec<FaceSample>), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn list_faces(
    State(state): State<AppState>,
    user: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<FaceSample>>> {
    let list = faces::list(&state.db, &user, id).await?;
    Ok(Json(list.into_iter().map(FaceSample::from).collect()))
}

/// A signed face-photo link's query (`image_url` / `avatar` in the seed's shapes): what an
/// `<img>` on another origin, which cannot send a bearer token, presents instead.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageLinkQuery {
    /// The account the link was signed for (its access is what is checked and audited).
    pub by: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<i64>,
    /// HMAC-SHA256 of the path, `by` and `exp`.
    pub sig: Option<String>,
}

/// Links to face photos that an `<img>` of the seed frontend (another origin, no bearer
/// token) can load: absolute when `BACKEND_BASE_URL` is set (else a path), signed for the
/// viewing account and valid `ROLLCALL_IMAGE_URL_TTL_MINUTES`.
pub struct ImageLinks<'a> {
    state: &'a AppState,
    base: String,
    viewer: Id,
}

impl<'a> ImageLinks<'a> {
    #[must_use]
    pub fn new(state: &'a AppState, viewer: &AuthUser) -> Self {
        Self {
            state,
            base: state.settings.public_base_url().unwrap_or_default(),
            viewer: viewer.id.clone(),
        }
    }

    #[must_use]
    pub fn url(&self, student: &Id, sample: &Id) -> String {
        let path = image_path(student.as_str(), sample.as_str());
        let (exp, sig) = self.state.auth.sign_image_link(&path, &self.viewer);
        format!(
            "{}{path}?by={}&exp={exp}&sig={sig}",
            self.base,
            self.viewer.as_str()
        )
    }
}

/// The photo of a face sample (the student, their teachers, administrators), with the bearer
/// token or through a signed link (`by`, `exp`, `sig`; 403 when it does not sign this photo,
/// 401 once expired). Every view is audited as the viewing account's.
#[utoipa::path(get, path = "/{id}/faces/{sample_id}/image", tag = "students",
    params(("id" = Id, Path), ("sample_id" = Id, Path), ImageLinkQuery),
    responses((status = 200, description = "The photo as uploaded", content(("image/jpeg"), ("image/png"), ("image/webp"))), (status = 400, body = Detail),
              (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = []), ()))]
async fn face_image(
    State(state): State<AppState>,
    user: Result<AuthUser, super::error::ApiError>,
    Path((id, sample_id)): Path<(String, String)>,
    ApiQuery(link): ApiQuery<ImageLinkQuery>,
) -> ApiResult<Response> {
    let (student, sample) = (parse_id("id", &id)?, parse_id("sample_id", &sample_id)?);
    let user = match (user, link) {
        (Ok(user), _) => user,
        (
            Err(_),
            ImageLinkQuery {
                by: Some(by),
                exp: Some(exp),
                sig: Some(sig),
            },
        ) => {
            let path = image_path(student.as_str(), sample.as_str());
            state.auth.image_link_viewer(&path, &by, exp, &sig).await?
        }
        (Err(e), _) => return Err(e),
    };
    let (bytes, content_type) =
        faces::image(&state.db, &state.images, &user, student, sample).await?;
    Ok(super::image_response(bytes, content_type))
}

/// Approve a face photo the student uploaded of themselves, so that it is matched in class
/// photos (their teachers, administrators; audited).
#[utoipa::path(post, path = "/{id}/faces/{sample_id}/approve", tag = "students",
    params(("id" = Id, Path), ("sample_id" = Id, Path)),
    responses((status = 200, body = FaceSample), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn approve_face(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, sample_id)): Path<(String, String)>,
) -> ApiResult<Json<FaceSample>> {
    let sample = faces::approve(
        &state.db,
        &state.images,
        &user,
        parse_id("id", &id)?,
        parse_id("sample_id", &sample_id)?,
    )
    .await?;
    Ok(Json(sample.into()))
}

/// Delete one face sample.
#[utoipa::path(delete, path = "/{id}/faces/{sample_id}", tag = "students",
    params(("id" = Id, Path), ("sample_id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn delete_face(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, sample_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    faces::delete(
        &state.db,
        &state.images,
        &user,
        parse_id("id", &id)?,
        parse_id("sample_id", &sample_id)?,
    )
    .await?;
    Ok(Json(Message {
        message: "Face sample deleted".into(),
    }))
}

// ---- seed paths ----
//
// The seed handlers build their answers with `json!`; the `Seed*` types below describe those
// shapes for the OpenAPI document only (every answer the API tests receive is checked against
// them).

/// A student's profile in the seed's shape (`/students/me/profile`, `/students/{user_id}/profile`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedProfile {
    #[schema(value_type = Id)]
    pub id: String,
    /// The same as `id`.
    #[serde(rename = "userId")]
    #[schema(value_type = Id)]
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub branch: String,
    pub roll: String,
    pub year: String,
    pub subjects: Vec<super::settings::SubjectItem>,
    /// Always null (the seed's field); the face photo is `image_url`.
    #[serde(rename = "avatarUrl")]
    pub avatar_url: Option<String>,
    /// Link to the newest face photo.
    pub image_url: Option<String>,
    pub attendance: SeedProfileAttendance,
    /// The newest 5 records, newest first (also inside `attendance`).
    pub recent_attendance: Vec<SeedRecentRecord>,
}

/// Figures over every enrolled subject; excused absences are left out of `total_classes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedProfileAttendance {
    pub total_classes: i64,
    /// Present or late.
    pub present: i64,
    pub absent: i64,
    pub late: i64,
    pub excused: i64,
    /// 0 (an integer) when nothing was counted, else two decimals.
    pub percentage: f64,
    /// 2 below 50 %, else 5 (the seed's rule).
    pub forecasted_score: i64,
    pub recent_attendance: Vec<SeedRecentRecord>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeedRecentRecord {
    /// The session.
    #[schema(value_type = Id)]
    pub id: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The session's slot of the day.
    pub period: i64,
    /// Present or late.
    pub present: bool,
    /// present | late | excused | absent
    pub status: String,
    /// The subject.
    #[schema(value_type = Id)]
    pub class_id: String,
}

/// One of the calling student's subjects with their figures (`GET /students/me/subjects`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedStudentSubject {
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub code: String,
    /// Core, Lab or Elective.
    #[serde(rename = "type")]
    pub kind: String,
    /// Percentage: 0 (an integer) when nothing was counted, else two decimals.
    pub attendance: f64,
    /// Present, and late while late counts as present (the rules of `/api/analytics`; days off
    /// and imported day summaries, which hold no per-student records, are left out).
    pub attended: i64,
    /// Sessions counted (excused ones left out).
    pub total: i64,
}

/// A subject a student may join (`GET /students/me/available-subjects`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedAvailableSubject {
    #[serde(rename = "_id")]
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub code: String,
    /// Core, Lab or Elective; null when created without one (Core).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The subject's teachers.
    #[schema(value_type = Vec<Id>)]
    pub professor_ids: Vec<String>,
    pub created_at: String,
}

#[utoipa::path(get, path = "/students/me/profile", tag = "seed",
    responses((status = 200, body = SeedProfile), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_profile(
    State(state): State<AppState>,
    Student(user): Student,
) -> ApiResult<Json<Value>> {
    let id = user.id.clone();
    seed_profile_json(&state, &user, id).await
}

/// The seed's unauthenticated `/students/{user_id}/profile`, now for the student, their teachers
/// and administrators only.
#[utoipa::path(get, path = "/students/{user_id}/profile", tag = "seed",
    params(("user_id" = Id, Path)),
    responses((status = 200, body = SeedProfile), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_profile_of(
    State(state): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id("user_id", &user_id)?;
    seed_profile_json(&state, &user, id).await
}

/// A percentage as the seed wrote it: the integer 0 when nothing was counted.
fn seed_percentage(pct: f64, counted: i64) -> Value {
    if counted == 0 { json!(0) } else { json!(pct) }
}

/// The seed's student profile body, with attendance figures computed from the records.
/// A teacher sees only the subjects they teach the student.
async fn seed_profile_json(state: &AppState, user: &AuthUser, id: Id) -> ApiResult<Json<Value>> {
    let attendance::figures::ScopedProfile {
        student: s,
        subjects,
        recent,
        ..
    } = attendance::figures::profile(&state.db, user, id.clone(), 5).await?;
    let links = ImageLinks::new(state, user);
    let image_url = s.latest_sample.as_ref().map(|x| links.url(&s.id, x));
    // The same counts and rules as the roster, `/students/me/subjects` and analytics (late as
    // `ROLLCALL_LATE_COUNTS_AS_PRESENT` says, days off left out), over the subjects the caller
    // may see.
    let rules = super::analytics::rules(state);
    let view = crate::service::analytics::student(&state.db, user, id).await?;
    let mut all = Counts::default();
    for (_, c) in &view.subjects {
        all.present += c.present;
        all.late += c.late;
        all.excused += c.excused;
        all.absent += c.absent;
    }
    let total = Rules::counted(&all);
    let pct = rules.percentage(&all).unwrap_or(0.0);
    let recent: Vec<Value> = recent
        .into_iter()
        .map(|r| {
            json!({"id": r.session_id, "date": r.date, "period": r.slot,
                   "present": matches!(r.status, AttendanceStatus::Present | AttendanceStatus::Late),
                   "status": r.status, "class_id": r.subject_id})
        })
        .collect();
    // Counted classes leave out excused absences, so that present / total = percentage.
    let attendance = json!({"total_classes": total,
                            "present": rules.attended(&all), "absent": rules.missed(&all),
                            "late": all.late, "excused": all.excused,
                            "percentage": seed_percentage(pct, total),
                            "forecasted_score": if pct < 50.0 { 2 } else { 5 },
                            "recent_attendance": recent});
    Ok(Json(json!({
        "id": s.id, "userId": s.id, "name": s.name, "email": s.email,
        "branch": s.branch, "roll": s.roll, "year": s.year,
        "subjects": subjects.into_iter().map(|e| json!({"_id": e.subject.id, "name": e.subject.name, "code": e.subject.code})).collect::<Vec<_>>(),
        "avatarUrl": null,
        "image_url": image_url,
        "attendance": attendance,
        "recent_attendance": recent,
    })))
}

#[utoipa::path(post, path = "/students/me/face-image", tag = "seed",
    request_body(content_type = "multipart/form-data", content = SeedFacePhoto),
    responses((status = 200, body = UploadResponse), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail), (status = 422, body = Detail), (status = 503, body = Detail, description = "Face analysis is busy (`Retry-After`), the face models are not installed, or the database is busy or its disk full")),
    security(("bearer" = [])))]
async fn seed_face_image(
    State(state): State<AppState>,
    Student(user): Student,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<UploadResponse>> {
    let (bytes, _) = read_upload(multipart).await?;
    let id = user.id.clone();
    let mut done = enrol(&state, &user, id.clone(), bytes).await?;
    let sample = parse_id("sample_id", &done.sample_id)?;
    done.image_url = ImageLinks::new(&state, &user).url(&id, &sample);
    Ok(Json(done))
}

#[utoipa::path(get, path = "/students/me/subjects", tag = "seed", operation_id = "seed_student_subjects",
    responses((status = 200, body = Vec<SeedStudentSubject>), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_my_subjects(
    State(state): State<AppState>,
    Student(user): Student,
) -> ApiResult<Json<Value>> {
    // The same figures as the roster's and `/api/analytics/me` (one set of rules).
    let rules = super::analytics::rules(&state);
    let view = crate::service::analytics::student(&state.db, &user, user.id.clone()).await?;
    Ok(Json(Value::Array(
        view.subjects
            .into_iter()
            .map(|(s, c)| {
                let total = Rules::counted(&c);
                json!({"id": s.id, "name": s.name, "code": s.code,
                       "type": s.kind.unwrap_or_else(|| "Core".into()),
                       "attendance": seed_percentage(rules.percentage(&c).unwrap_or(0.0), total),
                       "attended": rules.attended(&c), "total": total})
            })
            .collect(),
    )))
}

#[utoipa::path(get, path = "/students/me/available-subjects", tag = "seed",
    responses((status = 200, body = Vec<SeedAvailableSubject>), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn seed_available(
    State(state): State<AppState>,
    _student: Student,
) -> ApiResult<Json<Value>> {
    let list = subjects::all_with_teachers(&state.db).await?;
    Ok(Json(Value::Array(
        list.into_iter()
            .map(|d| {
                json!({"_id": d.subject.id, "name": d.subject.name, "code": d.subject.code,
                       "type": d.subject.kind, "professor_ids": d.teacher_ids,
                       "created_at": rfc3339(d.subject.created_at)})
            })
            .collect(),
    )))
}

#[derive(Debug, Deserialize)]
struct JoinQuery {
    subject_id: String,
}

#[utoipa::path(post, path = "/students/me/subjects", tag = "seed",
    params(("subject_id" = Id, Query, description = "The subject to join")),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn seed_join(
    State(state): State<AppState>,
    Student(user): Student,
    ApiQuery(q): ApiQuery<JoinQuery>,
) -> ApiResult<Json<Message>> {
    subjects::join(&state.db, &user, parse_id("subject_id", &q.subject_id)?).await?;
    Ok(Json(Message {
        message: "Subject added successfully".into(),
    }))
}

#[utoipa::path(delete, path = "/students/me/remove-subject/{subject_id}", tag = "seed",
    params(("subject_id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_leave(
    State(state): State<AppState>,
    Student(user): Student,
    Path(subject_id): Path<String>,
) -> ApiResult<Json<Message>> {
    subjects::leave(&state.db, &user, parse_id("subject_id", &subject_id)?).await?;
    Ok(Json(Message {
        message: "Subject removed successfully".into(),
    }))
}
