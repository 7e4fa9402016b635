//! `/api/subjects` (seed: `/settings/add-subject`, `/settings/teachers/...`): subjects, their
//! teachers and rosters.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Message;
use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, AuthUser, PathId, Staff, Teacher};
use super::{AppState, parse_id, rfc3339};
use crate::domain::Id;
use crate::domain::subjects::{Enrolled, RosterEntry};
use crate::service::Error;
use crate::service::analytics::{self, Rules};
use crate::service::subjects::{self, SubjectDetail, SubjectInput, TeacherRef};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subject, list_subjects))
        .routes(routes!(get_subject, update_subject, delete_subject))
        .routes(routes!(add_students, roster))
        .routes(routes!(remove_student))
        .routes(routes!(add_teacher))
        .routes(routes!(remove_teacher))
}

/// The seed's `/settings/...` subject and roster paths, answering in its shapes (documented
/// under "seed").
pub fn seed_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(seed_add_subject))
        .routes(routes!(seed_my_subjects))
        .routes(routes!(seed_roster))
        .routes(routes!(seed_verify))
        .routes(routes!(seed_remove))
        .routes(routes!(seed_students))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubjectRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub code: String,
    /// Core, Lab or Elective; omit for Core.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl From<SubjectRequest> for SubjectInput {
    fn from(r: SubjectRequest) -> Self {
        Self {
            name: r.name,
            code: r.code,
            kind: r.kind,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectResponse {
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub code: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub student_count: i64,
    /// Teachers of the subject (the seed's `professor_ids`); absent in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Id>>)]
    pub teacher_ids: Option<Vec<String>>,
    /// Only in a student's list: whether a teacher approved the enrolment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// The weekly periods the subject occupies in its teachers' timetables (`PUT /settings`
    /// periods whose `metadata.subject_id` is this subject); absent in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<crate::service::schedule::SubjectSlot>>,
    pub created_at: String,
    pub updated_at: String,
}

impl SubjectResponse {
    fn detail(d: SubjectDetail) -> Self {
        let mut r = Self::of(Enrolled {
            subject: d.subject,
            verified: false,
        });
        r.teacher_ids = Some(d.teacher_ids.iter().map(ToString::to_string).collect());
        r.slots = Some(d.slots);
        r
    }

    fn of(e: Enrolled) -> Self {
        let s = e.subject;
        Self {
            id: s.id.to_string(),
            name: s.name,
            code: s.code,
            kind: s.kind.unwrap_or_else(|| "Core".into()),
            student_count: s.student_count,
            teacher_ids: None,
            verified: None,
            slots: None,
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddStudentsRequest {
    #[serde(default)]
    #[schema(value_type = Vec<Id>)]
    pub student_ids: Vec<String>,
    #[serde(default)]
    pub rolls: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Added {
    pub added: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RosterStudent {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub email: String,
    pub roll: String,
    pub branch: String,
    pub year: String,
    /// The teacher approved the enrolment (only approved students are matched in photos).
    pub verified: bool,
    pub enrolled_at: String,
    /// Approved face samples, matched in class photos.
    pub face_samples: i64,
    /// Face photos the student uploaded of themselves that wait for a teacher's approval.
    pub face_samples_pending: i64,
    /// Link to the newest face photo, if any.
    pub avatar: Option<String>,
}

/// The path of a face sample's image.
#[must_use]
pub fn image_path(student: &str, sample: &str) -> String {
    format!("/api/students/{student}/faces/{sample}/image")
}

impl From<RosterEntry> for RosterStudent {
    fn from(e: RosterEntry) -> Self {
        let avatar = e
            .latest_sample
            .as_ref()
            .map(|s| image_path(e.student_id.as_str(), s.as_str()));
        Self {
            student_id: e.student_id.to_string(),
            name: e.name,
            email: e.email,
            roll: e.roll,
            branch: e.branch,
            year: e.year,
            verified: e.verified,
            enrolled_at: rfc3339(e.enrolled_at),
            face_samples: e.faces,
            face_samples_pending: e.faces_pending,
            avatar,
        }
    }
}

/// Create a subject (a teacher becomes its first teacher); 409 if the code is in use: its
/// teachers or an administrator add co-teachers (`POST /api/subjects/{id}/teachers`).
#[utoipa::path(post, path = "", tag = "subjects", request_body = SubjectRequest,
    responses((status = 200, body = SubjectResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 409, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn create_subject(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(body): ApiJson<SubjectRequest>,
) -> ApiResult<Json<SubjectResponse>> {
    let d = subjects::create(&state.db, &user, body.into()).await?;
    Ok(Json(SubjectResponse::detail(d)))
}

/// A teacher's subjects, every subject for an administrator, a student's enrolments.
#[utoipa::path(get, path = "", tag = "subjects",
    responses((status = 200, body = Vec<SubjectResponse>), (status = 401, body = Detail)),
    security(("bearer" = [])))]
async fn list_subjects(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<SubjectResponse>>> {
    let student = user.role == crate::domain::Role::Student;
    let list = subjects::list(&state.db, &user).await?;
    Ok(Json(
        list.into_iter()
            .map(|e| {
                let verified = e.verified;
                let mut r = SubjectResponse::of(e);
                r.verified = student.then_some(verified);
                r
            })
            .collect(),
    ))
}

/// One subject with its teachers (its teachers and administrators).
#[utoipa::path(get, path = "/{id}", tag = "subjects", params(("id" = Id, Path)),
    responses((status = 200, body = SubjectResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn get_subject(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
) -> ApiResult<Json<SubjectResponse>> {
    let d = subjects::get(&state.db, &user, id).await?;
    Ok(Json(SubjectResponse::detail(d)))
}

/// Rename a subject or change its code or type; 409 if the code belongs to another subject.
#[utoipa::path(put, path = "/{id}", tag = "subjects", params(("id" = Id, Path)), request_body = SubjectRequest,
    responses((status = 200, body = SubjectResponse), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn update_subject(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
    ApiJson(body): ApiJson<SubjectRequest>,
) -> ApiResult<Json<SubjectResponse>> {
    let d = subjects::update(&state.db, &user, id, body.into()).await?;
    Ok(Json(SubjectResponse::detail(d)))
}

/// Delete a subject with its enrolments; one with recorded attendance sessions only by an
/// administrator (its history goes with it).
#[utoipa::path(delete, path = "/{id}", tag = "subjects", params(("id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn delete_subject(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
) -> ApiResult<Json<Message>> {
    subjects::delete(&state.db, &user, id).await?;
    Ok(Json(Message {
        message: "Subject deleted".into(),
    }))
}

fn parse_ids(field: &str, raw: &[String]) -> Result<Vec<crate::domain::Id>, Error> {
    raw.iter().map(|s| parse_id(field, s)).collect()
}

/// Enrol students by id and/or roll number (approved at once). A teacher adds students they
/// created or who are in no other teacher's class; anyone else is refused (403) and joins the
/// subject themselves, or an administrator adds them.
#[utoipa::path(post, path = "/{id}/students", tag = "subjects", params(("id" = Id, Path)),
    request_body = AddStudentsRequest,
    responses((status = 200, body = Added), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn add_students(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AddStudentsRequest>,
) -> ApiResult<Json<Added>> {
    let ids = parse_ids("student_id", &body.student_ids)?;
    let added = subjects::add_students(&state.db, &user, id, ids, body.rolls).await?;
    Ok(Json(Added { added }))
}

/// The subject's students, in enrolment order (no embeddings).
#[utoipa::path(get, path = "/{id}/students", tag = "subjects", params(("id" = Id, Path)),
    responses((status = 200, body = Vec<RosterStudent>), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn roster(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<RosterStudent>>> {
    let list = subjects::roster(&state.db, &user, id).await?;
    Ok(Json(list.into_iter().map(RosterStudent::from).collect()))
}

/// Remove a student from the subject.
#[utoipa::path(delete, path = "/{id}/students/{student_id}", tag = "subjects",
    params(("id" = Id, Path), ("student_id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn remove_student(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, student_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let student = parse_id("student_id", &student_id)?;
    subjects::remove_student(&state.db, &user, parse_id("id", &id)?, student).await?;
    Ok(Json(Message {
        message: "Student removed from subject".into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddTeacherRequest {
    /// The teacher's account id (24 hex); or give `email`.
    #[serde(default)]
    #[schema(value_type = Option<Id>)]
    pub teacher_id: Option<String>,
    /// The teacher's e-mail address.
    #[serde(default)]
    pub email: Option<String>,
}

/// Make another teacher a co-teacher of the subject (its teachers, administrators; audited).
#[utoipa::path(post, path = "/{id}/teachers", tag = "subjects", params(("id" = Id, Path)),
    request_body = AddTeacherRequest,
    responses((status = 200, body = SubjectResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn add_teacher(
    State(state): State<AppState>,
    Staff(user): Staff,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AddTeacherRequest>,
) -> ApiResult<Json<SubjectResponse>> {
    let teacher = match (body.teacher_id, body.email) {
        (Some(t), None) => TeacherRef::Id(parse_id("teacher_id", t.trim())?),
        (None, Some(e)) => TeacherRef::Email(e),
        _ => {
            return Err(Error::Invalid("give exactly one of teacher_id and email".into()).into());
        }
    };
    let d = subjects::add_teacher(&state.db, &user, id, teacher).await?;
    Ok(Json(SubjectResponse::detail(d)))
}

/// Remove a teacher from the subject: an administrator removes anyone, a teacher only
/// themselves and never as its last teacher (audited).
#[utoipa::path(delete, path = "/{id}/teachers/{teacher_id}", tag = "subjects",
    params(("id" = Id, Path), ("teacher_id" = Id, Path)),
    responses((status = 200, body = SubjectResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn remove_teacher(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, teacher_id)): Path<(String, String)>,
) -> ApiResult<Json<SubjectResponse>> {
    let teacher = parse_id("teacher_id", &teacher_id)?;
    let d = subjects::remove_teacher(&state.db, &user, parse_id("id", &id)?, teacher).await?;
    Ok(Json(SubjectResponse::detail(d)))
}

// ---- seed paths ----
//
// The seed handlers build their answers with `json!`; the `Seed*` types below describe those
// shapes for the OpenAPI document only (every answer the API tests receive is checked against
// them).

/// `POST /settings/add-subject`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedAddedSubject {
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub name: String,
    pub code: String,
}

/// One of a teacher's subjects (`GET /settings/teachers/me/subjects`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedTeacherSubject {
    #[serde(rename = "_id")]
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub code: String,
    pub student_count: i64,
}

/// A roster entry on the seed's roster path.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedRosterStudent {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub roll: String,
    pub year: String,
    pub branch: String,
    /// Link to the newest face photo.
    pub avatar: Option<String>,
    pub verified: bool,
    pub attendance: SeedRosterAttendance,
}

/// The student's figures in this subject, by the rules of `/api/analytics` (the same numbers
/// as the student's own `/students/me/subjects`): their own records only, days off left out.
/// Imported seed day summaries have no per-student records and count in no student's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedRosterAttendance {
    /// Sessions attended (late included while late counts as present).
    pub present: i64,
    /// Sessions counted but not attended.
    pub absent: i64,
    /// Sessions counted: present + absent (excused ones left out).
    pub total: i64,
    /// present / total × 100, two decimals; the integer 0 when nothing was counted.
    pub percentage: f64,
}

/// `GET /settings/teachers/students`: the students of the teacher's subjects.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedStudentList {
    pub students: Vec<SeedStudent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeedStudent {
    #[schema(value_type = Id)]
    pub id: String,
    /// The same as `id`.
    #[schema(value_type = Id)]
    pub user_id: String,
    pub name: String,
    pub email: String,
    /// The roll number.
    pub usn: String,
    pub branch: String,
    /// Always 0 (rollcall keeps a free-text `year` instead).
    pub semester: i64,
    /// The student has at least one face sample.
    pub verified: bool,
}

/// The seed answers "not yours" and "not there" alike on its roster paths.
fn seed_access(e: Error) -> Error {
    match e {
        Error::Forbidden(_) | Error::NotFound(_) => {
            Error::NotFound("Subject not found or access denied".into())
        }
        other => other,
    }
}

/// The seed's add-subject for a teacher's own new subject; a code already in use is a 409 (the
/// seed made the caller a co-teacher of that subject).
#[utoipa::path(post, path = "/settings/add-subject", tag = "seed",
    request_body = SubjectRequest,
    responses((status = 200, body = SeedAddedSubject), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 409, body = Detail, description = "The code is in use by another subject"), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn seed_add_subject(
    State(state): State<AppState>,
    Teacher(user): Teacher,
    ApiJson(body): ApiJson<SubjectRequest>,
) -> ApiResult<Json<Value>> {
    let d = subjects::create(&state.db, &user, body.into()).await?;
    Ok(Json(json!({
        "subject_id": d.subject.id,
        "name": d.subject.name,
        "code": d.subject.code,
    })))
}

#[utoipa::path(get, path = "/settings/teachers/me/subjects", tag = "seed", operation_id = "seed_teacher_subjects",
    responses((status = 200, body = Vec<SeedTeacherSubject>), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn seed_my_subjects(
    State(state): State<AppState>,
    Teacher(user): Teacher,
) -> ApiResult<Json<Value>> {
    let list = subjects::list(&state.db, &user).await?;
    Ok(Json(Value::Array(
        list.into_iter()
            .map(|e| {
                json!({"_id": e.subject.id, "name": e.subject.name, "code": e.subject.code,
                       "student_count": e.subject.student_count})
            })
            .collect(),
    )))
}

#[utoipa::path(get, path = "/settings/teachers/subjects/{subject_id}/students", tag = "seed",
    params(("subject_id" = Id, Path)),
    responses((status = 200, body = Vec<SeedRosterStudent>), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_roster(
    State(state): State<AppState>,
    Teacher(user): Teacher,
    Path(subject_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id("subject_id", &subject_id)?;
    let rules = super::analytics::rules(&state);
    let list = analytics::roster(&state.db, &user, id)
        .await
        .map_err(seed_access)?;
    let links = super::students::ImageLinks::new(&state, &user);
    Ok(Json(Value::Array(
        list.into_iter()
            .map(|(e, c)| {
                // A link an `<img>` of the seed frontend can load (signed, expiring).
                let avatar = e
                    .latest_sample
                    .as_ref()
                    .map(|x| links.url(&e.student_id, x));
                let r = RosterStudent::from(e);
                json!({
                    "student_id": r.student_id, "name": r.name, "roll": r.roll, "year": r.year,
                    "branch": r.branch, "avatar": avatar, "verified": r.verified,
                    "attendance": {"present": rules.attended(&c), "absent": rules.missed(&c),
                                   "total": Rules::counted(&c),
                                   "percentage": rules.percentage(&c).map_or(json!(0), |p| json!(p))},
                })
            })
            .collect(),
    )))
}

/// Approve a student's enrolment (the seed's AddStudents button). The page shows the student's
/// newest face photo beside that button, so a photo of theirs that awaits review and is the one
/// shown is approved with it; older waiting photos stay for the review in `/app/`.
#[utoipa::path(post, path = "/settings/teachers/subjects/{subject_id}/students/{student_id}/verify", tag = "seed",
    params(("subject_id" = Id, Path), ("student_id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_verify(
    State(state): State<AppState>,
    Teacher(user): Teacher,
    Path((subject_id, student_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let id = parse_id("subject_id", &subject_id)?;
    let student = parse_id("student_id", &student_id)?;
    subjects::verify_student(&state.db, &user, id, student.clone())
        .await
        .map_err(|e| match e {
            Error::NotFound(m) if m.starts_with("Student") => Error::NotFound(m),
            other => seed_access(other),
        })?;
    crate::service::faces::approve_newest_pending(&state.db, &state.images, &user, student).await?;
    Ok(Json(Message {
        message: "Student verified successfully".into(),
    }))
}

#[utoipa::path(delete, path = "/settings/teachers/subjects/{subject_id}/students/{student_id}", tag = "seed",
    params(("subject_id" = Id, Path), ("student_id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn seed_remove(
    State(state): State<AppState>,
    Teacher(user): Teacher,
    Path((subject_id, student_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let id = parse_id("subject_id", &subject_id)?;
    let student = parse_id("student_id", &student_id)?;
    subjects::remove_student(&state.db, &user, id, student)
        .await
        .map_err(seed_access)?;
    Ok(Json(Message {
        message: "Student removed from subject".into(),
    }))
}

#[utoipa::path(get, path = "/settings/teachers/students", tag = "seed",
    responses((status = 200, body = SeedStudentList), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn seed_students(
    State(state): State<AppState>,
    Teacher(user): Teacher,
) -> ApiResult<Json<Value>> {
    let (list, _) = crate::service::students::list(&state.db, &user, None, 10_000, 0).await?;
    Ok(Json(json!({
        "students": list.into_iter().map(|s| json!({
            "id": s.id, "user_id": s.id, "name": s.name, "email": s.email, "usn": s.roll,
            "branch": s.branch, "semester": 0, "verified": s.faces > 0,
        })).collect::<Vec<_>>()
    })))
}
