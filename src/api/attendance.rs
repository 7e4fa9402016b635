//! `/api/attendance` (the seed's own paths): marking a class photo and confirming the teacher's
//! decisions; the shapes of a marked face and of a session's summary that the other attendance
//! routes ([`super::drafts`], [`super::sessions`]) answer with too.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, AuthUser};
use super::{AppState, parse_id};
use crate::domain::Id;
use crate::domain::attendance::{Counts, Member};
use crate::matching::Verdict;
use crate::service::Error;
use crate::service::attendance::figures::percentage;
use crate::service::attendance::review::{MarkConfig, MarkedFace};
use crate::service::attendance::{self, ConfirmInput, DecisionInput, SaveTo};

/// Largest base64 text accepted for a photo (about 20 MB decoded); checked before decoding.
pub const MAX_BASE64_LEN: usize = 27 * 1024 * 1024;

/// The photo inside a seed `image` field: a data URL (everything up to the first comma is
/// dropped) or bare base64. Too long: 413; not base64, or a data URL without its comma:
/// 400 `Invalid base64 image`.
pub fn decode_image(raw: &str) -> Result<Vec<u8>, Error> {
    let invalid = || Error::BadRequest("Invalid base64 image".into());
    let data = if raw.trim_start().starts_with("data:") {
        // Without the comma there is no data part: refused, not read as an empty image.
        raw.split_once(',').map(|(_, d)| d).ok_or_else(invalid)?
    } else {
        raw
    };
    if data.len() > MAX_BASE64_LEN {
        return Err(Error::TooLarge(format!(
            "Image too large ({} base64 characters, at most {MAX_BASE64_LEN})",
            data.len()
        )));
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(compact.as_bytes()).map_err(|_| invalid())
}

// Kept at their old paths for `crate::fuzzing`, which names them `attendance::...`.

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mark))
        .routes(routes!(confirm))
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
    /// present | uncertain | unknown: present at most the confident threshold (0.50) from the
    /// student, uncertain at most the uncertain one (0.60). A face under 40 px wide must be
    /// nearer to be present, by up to 0.10 at 20 px (docs/recognition.md).
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
            bytes: decode_image(&image)?,
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
        &state.images,
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

pub(super) fn mark_config(state: &AppState, live: bool) -> MarkConfig {
    MarkConfig {
        require_consent: state.settings.require_consent,
        confident: state.settings.confident_threshold,
        uncertain: state.settings.uncertain_threshold,
        live,
        learn: state.settings.learn_from_confirm,
        now: state.clock.now(),
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

impl From<attendance::Confirmed> for ConfirmResponse {
    fn from(done: attendance::Confirmed) -> Self {
        Self {
            ok: true,
            present_updated: done.counts.present + done.counts.late,
            absent_updated: done.counts.absent,
            session_id: done.session_id.map(|id| id.to_string()),
            date: done.date,
            slot: done.slot,
            summary: Summary::from(&done.counts),
            learned: done.learned,
        }
    }
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
        &state.images,
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
    Ok(Json(done.into()))
}

pub(super) fn not_seen(list: Vec<Member>) -> Vec<NotSeen> {
    list.into_iter()
        .map(|m| NotSeen {
            id: m.id.to_string(),
            name: m.name,
            roll: m.roll,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_data_urls_and_errors() {
        let bytes = decode_image("data:image/jpeg;base64,/9j/4A==").unwrap_or_default();
        assert_eq!(bytes, vec![0xff, 0xd8, 0xff, 0xe0]);
        assert_eq!(decode_image("/9j/4A").unwrap_or_default(), bytes);
        assert!(matches!(decode_image("%%%"), Err(Error::BadRequest(_))));
        // Found by fuzzing (fuzz/fuzz_targets/mark_request.rs): a data URL cut before its
        // comma was read as an empty image.
        assert!(matches!(
            decode_image("data:image/2wBDAP/Z"),
            Err(Error::BadRequest(_))
        ));
        assert_eq!(decode_image("data:image/png;base64,").ok(), Some(vec![]));
        let huge = "A".repeat(MAX_BASE64_LEN + 4);
        assert!(matches!(decode_image(&huge), Err(Error::TooLarge(_))));
    }
}
