//! `/api/attendance` (the seed's own paths): marking a class photo, confirming the teacher's
//! decisions, a student's own figures and CSV exports.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, ApiQuery, AuthUser};
use super::{AppState, parse_id};
use crate::domain::Id;
use crate::matching::Verdict;
use crate::service::Error;
use crate::service::attendance::export::Csv;
use crate::service::attendance::figures::percentage;
use crate::service::attendance::review::{MarkConfig, MarkedFace};
use crate::service::attendance::{self, ConfirmInput, DecisionInput, SaveTo};
use crate::service::drafts::{self, DraftView};
use crate::service::import_seed::IMPORTED_SLOT;
use crate::storage::attendance::{Counts, Member};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mark))
        .routes(routes!(confirm))
        .routes(routes!(mine))
        .routes(routes!(subject_export))
        .routes(routes!(session_export))
        .routes(routes!(correct))
        .routes(routes!(draft_view, draft_discard))
        .routes(routes!(draft_photo))
        .routes(routes!(draft_assign))
        .routes(routes!(subject_drafts))
        .routes(routes!(subject_sessions))
        .routes(routes!(session_view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FaceBox {
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
    pub left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedStudent {
    #[schema(value_type = Id)]
    pub id: String,
    pub roll: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkCandidate {
    #[schema(value_type = Id)]
    pub student_id: String,
    pub name: String,
    pub distance: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkFace {
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    /// present | uncertain | unknown
    pub status: String,
    /// Distance to the matched student (4 decimals); null without one.
    pub distance: Option<f64>,
    /// As the seed: 1 − distance (3 decimals) when a student is matched.
    pub confidence: Option<f64>,
    /// The face detector's score.
    pub detector_score: f64,
    pub student: Option<MarkedStudent>,
    /// The nearest enrolled students, nearest first (up to 3), for review.
    pub candidates: Vec<MarkCandidate>,
    /// Another face took a student nearer to this one (the same student twice, or a look-alike):
    /// worth the teacher's look.
    pub needs_review: bool,
    /// The teacher chose the student for this face (saved drafts).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub assigned_by_teacher: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotSeen {
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub roll: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkResponse {
    pub faces: Vec<MarkFace>,
    pub count: usize,
    /// Enrolled students no face was matched to.
    pub not_seen: Vec<NotSeen>,
    #[schema(value_type = Id)]
    pub subject_id: String,
    /// How the photo was analysed: `live` (a webcam frame: faces of at least 80 px and 10% of
    /// the frame, about 60 ms for 640x480) or `class` (a class photo: small faces too). `live`
    /// when the request says `live`, or without a `live` flag for the seed frontend's live-mode
    /// shape (a JSON data URL) of a webcam frame's size (landscape, at most 1280x720).
    pub profile: &'static str,
    /// With `save`: the draft the photo joined (faces and `not_seen` then cover all its photos).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<SavedTo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedTo {
    #[schema(value_type = Id)]
    pub draft_id: String,
    pub date: String,
    pub slot: i64,
    /// The photo's number in the draft (from 1).
    pub photo: i64,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

fn student(m: Member) -> MarkedStudent {
    MarkedStudent {
        id: m.id.to_string(),
        roll: m.roll,
        name: m.name,
    }
}

impl From<MarkedFace> for MarkFace {
    fn from(f: MarkedFace) -> Self {
        let [left, top, right, bottom] = f.bbox;
        let distance = f.distance.map(f64::from);
        Self {
            bbox: FaceBox {
                top,
                right,
                bottom,
                left,
            },
            status: match f.verdict {
                Verdict::Present => "present",
                Verdict::Uncertain => "uncertain",
                Verdict::Unknown => "unknown",
            }
            .into(),
            distance: distance.map(|d| round(d, 4)),
            confidence: distance.map(|d| round((1.0 - d).max(0.0), 3)),
            detector_score: round(f64::from(f.detector_score), 4),
            student: f.student.map(student),
            candidates: f
                .candidates
                .into_iter()
                .map(|(m, d)| MarkCandidate {
                    student_id: m.id.to_string(),
                    name: m.name,
                    distance: round(f64::from(d), 4),
                })
                .collect(),
            needs_review: f.displaced,
            assigned_by_teacher: f.by_teacher,
        }
    }
}

/// The seed's JSON mark request.
#[derive(Debug, ToSchema)]
pub struct MarkRequest {
    /// The photo as a data URL (`data:image/jpeg;base64,...`) or plain base64: JPEG, PNG, WebP, GIF or BMP.
    pub image: String,
    #[schema(value_type = Id)]
    pub subject_id: String,
    /// A webcam frame of the live mode: analysed with the portrait profile (faces >= 80 px and
    /// 10% of the frame). Also `?live=true`. Unset: a data-URL image shaped like a webcam frame
    /// (landscape, at most 1280x720: the seed frontend's live mode) is taken as live, anything
    /// else as a class photo; `false` always analyses it as a class photo.
    pub live: Option<bool>,
    /// Keep the photo in its session's draft. Also `?save=true`.
    pub save: Option<bool>,
    /// With `save`: the session's day, `YYYY-MM-DD` (default today).
    pub date: Option<String>,
    /// With `save`: the session's period (default the subject's period now in the timetable).
    pub slot: Option<i64>,
}

/// The same as a multipart form; `true` or `1` switch `live` and `save` on.
#[derive(Debug, ToSchema)]
pub struct MarkUpload {
    /// The photo (JPEG, PNG, WebP, GIF or BMP); also accepted as `image`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    #[schema(value_type = Id)]
    pub subject_id: String,
    pub live: Option<String>,
    pub save: Option<String>,
    pub date: Option<String>,
    pub slot: Option<i64>,
}

fn required() -> Error {
    Error::BadRequest("image and subject_id required".into())
}

/// The photo and subject from a seed JSON body or a multipart form (`file`, `subject_id`).
/// Whether a `live` flag (`true` or `1`) was sent as a query parameter, form field or JSON key.
fn is_live(raw: &str) -> bool {
    matches!(raw.trim(), "true" | "1")
}

/// A `live` flag as sent: on (`true`, `1`), off (`false`, `0`), or not said.
fn live_flag(raw: &str) -> Option<bool> {
    match raw.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Two `live` flags together: on if either is on, else off if either is off.
fn either(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        _ => None,
    }
}

/// What a mark request carries.
struct MarkForm {
    bytes: Vec<u8>,
    subject: String,
    /// The `live` flag, when the request said it.
    live: Option<bool>,
    /// The seed frontend's live-mode shape: a JSON body whose image is a data URL, not saved.
    seed_frame: bool,
    /// `save` was asked for: keep the photo in its session's draft.
    save: Option<SaveTo>,
}

fn slot_of(raw: &str) -> Result<i64, Error> {
    raw.trim()
        .parse()
        .map_err(|_| Error::Invalid("slot must be a whole number".into()))
}

/// [`read_mark`] without a server or state: the photo bytes and subject id of a mark request's
/// body (JSON or multipart), for the fuzz targets in `fuzz/`. Not part of the API.
#[doc(hidden)]
pub async fn parse_mark_request(req: Request) -> Result<(Vec<u8>, String), Error> {
    read_mark(&(), req).await.map(|f| (f.bytes, f.subject))
}

async fn read_mark<S: Send + Sync>(state: &S, req: Request) -> Result<MarkForm, Error> {
    let query = req.uri().query().unwrap_or("").to_owned();
    let flag = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, v)| k == name && is_live(v))
    };
    let save_query = flag("save");
    let live_query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "live")
        .fold(None, |acc, (_, v)| either(acc, live_flag(v)));
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| Error::UnsupportedMedia(format!("Malformed upload: {}", e.body_text())))?;
        let (mut file, mut subject, mut live) = (None, None, live_query);
        let (mut save, mut date, mut slot) = (save_query, None, None);
        loop {
            let field = form.next_field().await.map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge("Request body too large".into())
                } else {
                    Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
                }
            })?;
            let Some(field) = field else { break };
            let name = field.name().map(str::to_owned);
            let read = |e: axum::extract::multipart::MultipartError| {
                Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
            };
            match name.as_deref() {
                Some("file" | "image") => file = Some(field.bytes().await.map_err(read)?.to_vec()),
                Some("subject_id") => subject = Some(field.text().await.map_err(read)?),
                Some("live") => live = either(live, live_flag(&field.text().await.map_err(read)?)),
                Some("save") => save |= is_live(&field.text().await.map_err(read)?),
                Some("date") => date = Some(field.text().await.map_err(read)?),
                Some("slot") => slot = Some(slot_of(&field.text().await.map_err(read)?)?),
                _ => {}
            }
        }
        match (file, subject) {
            (Some(bytes), Some(subject)) if !bytes.is_empty() && !subject.trim().is_empty() => {
                Ok(MarkForm {
                    bytes,
                    subject,
                    live,
                    seed_frame: false,
                    save: save.then_some(SaveTo { date, slot }),
                })
            }
            _ => Err(required()),
        }
    } else {
        let ApiJson(body) = ApiJson::<Value>::from_request(req, state)
            .await
            .map_err(|r| {
                let status = r.status();
                let text =
                    format!("Expected a JSON object {{\"image\", \"subject_id\"}} ({status})");
                match status {
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge(text),
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMedia(text),
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY => Error::Invalid(text),
                    _ => Error::BadRequest(text),
                }
            })?;
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        let (Some(image), Some(subject)) = (text("image"), text("subject_id")) else {
            return Err(required());
        };
        let live = either(live_query, body.get("live").and_then(Value::as_bool));
        let save = save_query || body.get("save").and_then(Value::as_bool).unwrap_or(false);
        let data_url = image
            .trim_start()
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("data:"));
        let slot = match body.get("slot") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| Error::Invalid("slot must be a whole number".into()))?,
            ),
        };
        Ok(MarkForm {
            bytes: attendance::decode_image(&image)?,
            subject,
            live,
            seed_frame: data_url && !save,
            save: save.then(|| SaveTo {
                date: text("date"),
                slot,
            }),
        })
    }
}

/// Match the faces of a class photo against the subject's students (teachers of the subject).
/// JSON `{"image": "data:image/jpeg;base64,..." | base64, "subject_id"}` or multipart (`file`,
/// `subject_id`). Only verified enrolments with recorded consent are matched, one face per
/// student. Nothing is stored unless `save` is true: then the photo joins the draft of its
/// session (`date`, default today; `slot`, default the subject's period now in the timetable),
/// all the draft's photos are matched together (each student once) and the answer covers them.
#[utoipa::path(post, path = "/mark", tag = "attendance",
    params(("live" = Option<bool>, Query, description = "A webcam frame of the seed frontend's live mode: analysed with the portrait profile (faces >= 80 px and 10% of the frame; ~60 ms for 640x480). Unset: a JSON data-URL image shaped like a webcam frame (landscape, at most 1280x720) is live; `false`: a class photo"),
           ("save" = Option<bool>, Query, description = "Keep the photo in its session's draft")),
    request_body(description = "The seed's JSON body, or the same as a multipart form",
        content((MarkRequest = "application/json"), (MarkUpload = "multipart/form-data"))),
    responses((status = 200, body = MarkResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 413, body = Detail),
              (status = 415, body = Detail), (status = 422, body = Detail), (status = 503, body = Detail, description = "Face analysis is busy (`Retry-After`), the face models are not installed, or the database is busy or its disk full")),
    security(("bearer" = [])))]
async fn mark(
    State(state): State<AppState>,
    user: AuthUser,
    req: Request,
) -> ApiResult<Json<MarkResponse>> {
    let form = read_mark(&state, req).await?;
    let subject = parse_id("subject_id", form.subject.trim())?;
    // The seed frontend's live mode posts a webcam frame every 3 s without a `live` flag: a
    // JSON data URL of webcam size is taken for one (an explicit `live` decides otherwise;
    // `ROLLCALL_SEED_LIVE_FRAMES=false` turns this off).
    let live = form.live.unwrap_or_else(|| {
        state.settings.seed_live_frames
            && form.seed_frame
            && attendance::is_webcam_frame(&form.bytes)
    });
    let config = mark_config(&state, live);
    let marked = attendance::mark(
        &state.db,
        &state.faces,
        &state.settings.faces_dir(),
        &config,
        &user,
        subject,
        form.bytes,
        form.save,
    )
    .await?;
    let profile = if live { "live" } else { "class" };
    tracing::info!(
        faces = marked.faces.len(),
        profile,
        elapsed_ms = u64::try_from(marked.elapsed.as_millis()).unwrap_or(u64::MAX),
        "attendance photo marked"
    );
    let faces: Vec<MarkFace> = marked.faces.into_iter().map(MarkFace::from).collect();
    Ok(Json(MarkResponse {
        count: faces.len(),
        faces,
        not_seen: not_seen(marked.not_seen),
        subject_id: marked.subject_id.to_string(),
        profile,
        draft: marked.saved.map(|s| SavedTo {
            draft_id: s.draft_id.to_string(),
            date: s.date,
            slot: s.slot,
            photo: s.photo,
        }),
    }))
}

fn mark_config(state: &AppState, live: bool) -> MarkConfig {
    MarkConfig {
        require_consent: state.settings.require_consent,
        confident: state.settings.confident_threshold,
        uncertain: state.settings.uncertain_threshold,
        live,
        learn: state.settings.learn_from_confirm,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Decision {
    #[schema(value_type = Id)]
    pub student_id: String,
    /// present | late | excused | absent
    pub status: String,
    /// The distance `mark` reported, when the decision comes from a photo match (stored with
    /// the record, source `photo`).
    pub distance: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// Required unless `draft_id` is given.
    #[schema(value_type = Option<Id>)]
    pub subject_id: Option<String>,
    /// A saved draft to confirm: its session, and its matches as the starting point (present:
    /// faces matched confidently or assigned by the teacher; absent: every other verified
    /// student); the lists and decisions override it. The draft and its photos are deleted.
    #[schema(value_type = Option<Id>)]
    pub draft_id: Option<String>,
    /// `YYYY-MM-DD`; today (the school's time zone) by default. A holiday or exam day of the
    /// timetable without a period of this subject is refused.
    pub date: Option<String>,
    /// Period of the day; by default the subject's period running now in its teachers'
    /// timetables, else its only period that day, else 0.
    pub slot: Option<i64>,
    /// Seed shape: present ids.
    #[serde(default)]
    #[schema(value_type = Vec<Id>)]
    pub present_students: Vec<String>,
    /// Seed shape: absent ids (a student in both lists is present).
    #[serde(default)]
    #[schema(value_type = Vec<Id>)]
    pub absent_students: Vec<String>,
    /// Richer shape; applied after the lists, a later decision wins.
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub present: i64,
    pub absent: i64,
    pub late: i64,
    pub excused: i64,
    pub total: i64,
    /// (present + late) / (total − excused) × 100, two decimals.
    pub percentage: f64,
}

impl From<&Counts> for Summary {
    fn from(c: &Counts) -> Self {
        Self {
            present: c.present,
            absent: c.absent,
            late: c.late,
            excused: c.excused,
            total: c.total(),
            percentage: percentage(c),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmResponse {
    pub ok: bool,
    pub present_updated: i64,
    pub absent_updated: i64,
    /// Null when nothing was recorded: a confirmation with empty lists (the seed frontend's for
    /// a class without students) answers the seed's zero summary and records nothing.
    #[schema(value_type = Option<Id>)]
    pub session_id: Option<String>,
    pub date: String,
    pub slot: i64,
    pub summary: Summary,
    /// Faces of the confirmed draft added to their students' face samples (source `learned`):
    /// the faces the teacher assigned, and the uncertain matches the teacher confirmed present
    /// (`ROLLCALL_LEARN_FROM_CONFIRM`). 0 for a correction.
    pub learned: usize,
}

/// Record the teacher's decisions for a session (subject, date, slot) in one transaction.
/// Confirming again replaces the session's records: totals are never added twice. Only
/// students enrolled in the subject are accepted (422).
#[utoipa::path(post, path = "/confirm", tag = "attendance", request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    let optional_id = |field: &str, raw: Option<&str>| {
        raw.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_id(field, s))
            .transpose()
    };
    let subject_id = optional_id("subject_id", req.subject_id.as_deref())?;
    let draft = optional_id("draft_id", req.draft_id.as_deref())?;
    let decisions = req
        .absent_students
        .into_iter()
        .map(|id| DecisionInput::new(id, "absent"))
        .chain(
            req.present_students
                .into_iter()
                .map(|id| DecisionInput::new(id, "present")),
        )
        .chain(req.decisions.into_iter().map(|d| DecisionInput {
            student_id: d.student_id,
            status: d.status,
            distance: d.distance,
        }))
        .collect();
    let done = attendance::confirm(
        &state.db,
        &state.faces,
        &state.settings.faces_dir(),
        &mark_config(&state, false),
        &user,
        ConfirmInput {
            subject_id,
            draft,
            date: req.date,
            slot: req.slot,
            decisions,
        },
    )
    .await?;
    Ok(Json(ConfirmResponse {
        ok: true,
        present_updated: done.counts.present + done.counts.late,
        absent_updated: done.counts.absent,
        session_id: done.session_id.map(|id| id.to_string()),
        date: done.date,
        slot: done.slot,
        summary: Summary::from(&done.counts),
        learned: done.learned,
    }))
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First day, `YYYY-MM-DD` (inclusive).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
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
    Path(id): Path<String>,
    ApiQuery(range): ApiQuery<Range>,
) -> ApiResult<Response> {
    let csv = attendance::export::subject_csv(
        &state.db,
        &user,
        parse_id("id", &id)?,
        range.from,
        range.to,
    )
    .await?;
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
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let csv = attendance::export::session_csv(&state.db, &user, parse_id("id", &id)?).await?;
    Ok(csv_response(csv))
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
    Ok(Json(ConfirmResponse {
        ok: true,
        present_updated: done.counts.present + done.counts.late,
        absent_updated: done.counts.absent,
        session_id: done.session_id.map(|id| id.to_string()),
        date: done.date,
        slot: done.slot,
        summary: Summary::from(&done.counts),
        learned: done.learned,
    }))
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

fn not_seen(list: Vec<Member>) -> Vec<NotSeen> {
    list.into_iter()
        .map(|m| NotSeen {
            id: m.id.to_string(),
            name: m.name,
            roll: m.roll,
        })
        .collect()
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
    Path(id): Path<String>,
) -> ApiResult<Json<DraftResponse>> {
    let view = drafts::view(
        &state.db,
        &mark_config(&state, false),
        &user,
        parse_id("id", &id)?,
    )
    .await?;
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
    Path(id): Path<String>,
) -> ApiResult<Json<Discarded>> {
    drafts::discard(
        &state.db,
        &state.settings.faces_dir(),
        &user,
        parse_id("id", &id)?,
    )
    .await?;
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
    let (bytes, content_type) = drafts::photo(
        &state.db,
        &state.settings.faces_dir(),
        &user,
        parse_id("id", &id)?,
        photo,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                super::middleware::NO_STORE.to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
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
        &state.settings.faces_dir(),
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
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<DraftSummary>>> {
    let list = drafts::of_subject(&state.db, &user, parse_id("id", &id)?).await?;
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
    Path(id): Path<String>,
    ApiQuery(range): ApiQuery<Range>,
) -> ApiResult<Json<Vec<SessionListed>>> {
    let list = attendance::sessions::sessions_of(
        &state.db,
        &user,
        parse_id("id", &id)?,
        range.from,
        range.to,
    )
    .await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionListed {
                session_id: s.session.id.to_string(),
                imported: s.session.slot == IMPORTED_SLOT,
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
    Path(id): Path<String>,
) -> ApiResult<Json<SessionResponse>> {
    let v = attendance::sessions::session_view(&state.db, &user, parse_id("id", &id)?).await?;
    Ok(Json(SessionResponse {
        session_id: v.session.id.to_string(),
        subject_id: v.session.subject_id.to_string(),
        subject_name: v.subject_name,
        subject_code: v.subject_code,
        imported: v.session.slot == IMPORTED_SLOT,
        date: v.session.date,
        slot: v.session.slot,
        records: v
            .lines
            .into_iter()
            .map(|l| SessionRecordOut {
                student_id: l.student.id.to_string(),
                name: l.student.name,
                roll: l.student.roll,
                status: l.status,
                source: l.source,
            })
            .collect(),
        summary: Summary::from(&v.counts),
    }))
}
