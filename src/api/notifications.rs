//! `/api/notifications` (seed: `/notifications`): a teacher's messages to students, in the seed's
//! request and response shapes, queued in the outbox instead of sent inside the request (an
//! answer counts them as `queued`; `sent` counts only messages the relay accepted, which is 0
//! inside the request); statistics by real delivery state and the duplicate check; and every
//! user's e-mail switches.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, Detail};
use super::extract::{ApiJson, ApiQuery, AuthUser};
use super::{AppState, rfc3339};
use crate::domain::Role;
use crate::service::Error;
use crate::service::mail::{self, Bulk, Notice, Warning};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(absence))
        .routes(routes!(low_attendance))
        .routes(routes!(assignment))
        .routes(routes!(exam))
        .routes(routes!(custom))
        .routes(routes!(stats))
        .routes(routes!(check_duplicate))
        .routes(routes!(get_preferences, put_preferences))
}

/// A teacher, refused with the seed's wording for each kind of route (before the body is read).
macro_rules! teacher_guard {
    ($name:ident, $message:literal) => {
        pub struct $name(pub AuthUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let user = AuthUser::from_request_parts(parts, state).await?;
                if user.role == Role::Teacher {
                    Ok(Self(user))
                } else {
                    Err(Error::Forbidden($message.into()).into())
                }
            }
        }
    };
}

teacher_guard!(Sender, "Only teachers can send notifications");
teacher_guard!(StatsViewer, "Only teachers can view statistics");
teacher_guard!(DuplicateChecker, "Only teachers can check duplicates");

#[derive(Debug, Deserialize, ToSchema)]
pub struct AbsenceRequest {
    /// At most 200 addresses of student accounts.
    pub student_emails: Vec<String>,
    pub subject: String,
    pub date: String,
    pub teacher_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LowAttendanceItem {
    pub student_email: String,
    pub student_name: String,
    pub subject: String,
    pub attendance_percentage: f64,
    #[serde(default = "default_threshold")]
    pub threshold: i64,
}

fn default_threshold() -> i64 {
    75
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignmentRequest {
    pub student_emails: Vec<String>,
    pub assignment_title: String,
    pub subject: String,
    pub due_date: String,
    pub teacher_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExamRequest {
    pub student_emails: Vec<String>,
    pub exam_name: String,
    pub subject: String,
    pub exam_date: String,
    pub time: String,
    pub venue: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomRequest {
    pub student_emails: Vec<String>,
    pub message_title: String,
    /// 1 to 2000 characters.
    pub message_body: String,
    pub teacher_name: String,
}

/// The seed's `BulkEmailResponse`, truthful: messages are queued in the outbox and delivered by
/// its worker after the answer, so `sent` (delivered) is 0 here and `queued` counts them.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkEmailResponse {
    pub total: usize,
    /// Delivered to the mail relay within this request: 0 (the outbox delivers afterwards;
    /// `GET /notifications/stats` counts them once sent).
    pub sent: usize,
    /// Accepted into the outbox for delivery.
    pub queued: usize,
    pub failed: usize,
    /// Whether an SMTP relay is configured; without one, queued messages wait until it is
    /// (administrators see them at `GET /api/admin/outbox`).
    pub relay_configured: bool,
    pub details: Vec<EmailDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailDetail {
    pub email: String,
    /// `queued` or `failed`.
    pub status: String,
    pub error: Option<String>,
}

impl BulkEmailResponse {
    fn new(b: Bulk, relay_configured: bool) -> Self {
        Self {
            total: b.total,
            sent: b.sent,
            queued: b.queued,
            failed: b.failed,
            relay_configured,
            details: b
                .details
                .into_iter()
                .map(|d| EmailDetail {
                    email: d.email,
                    status: d.status.to_owned(),
                    error: d.error,
                })
                .collect(),
        }
    }
}

/// Tell students they were absent.
#[utoipa::path(post, path = "/absence", tag = "notifications", request_body = AbsenceRequest,
    responses((status = 200, body = BulkEmailResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn absence(
    State(state): State<AppState>,
    Sender(teacher): Sender,
    ApiJson(b): ApiJson<AbsenceRequest>,
) -> ApiResult<Json<BulkEmailResponse>> {
    let notice = Notice::Absence {
        subject: b.subject,
        date: b.date,
        teacher_name: b.teacher_name,
    };
    send(&state, &teacher, b.student_emails, notice).await
}

/// Warn students whose attendance is below the threshold (a JSON array, at most 200).
#[utoipa::path(post, path = "/low-attendance", tag = "notifications", request_body = Vec<LowAttendanceItem>,
    responses((status = 200, body = BulkEmailResponse), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn low_attendance(
    State(state): State<AppState>,
    Sender(teacher): Sender,
    ApiJson(items): ApiJson<Vec<LowAttendanceItem>>,
) -> ApiResult<Json<BulkEmailResponse>> {
    let warnings = items
        .into_iter()
        .map(|i| Warning {
            student_email: i.student_email,
            student_name: i.student_name,
            subject: i.subject,
            attendance_percentage: i.attendance_percentage,
            threshold: i.threshold,
        })
        .collect();
    let bulk = mail::warn_low_attendance(&state.db, &teacher, warnings).await?;
    state.mail_wake.notify_one();
    Ok(Json(BulkEmailResponse::new(bulk, relay_configured(&state))))
}

/// Remind students of an assignment.
#[utoipa::path(post, path = "/assignment", tag = "notifications", request_body = AssignmentRequest,
    responses((status = 200, body = BulkEmailResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn assignment(
    State(state): State<AppState>,
    Sender(teacher): Sender,
    ApiJson(b): ApiJson<AssignmentRequest>,
) -> ApiResult<Json<BulkEmailResponse>> {
    let notice = Notice::Assignment {
        title: b.assignment_title,
        subject: b.subject,
        due_date: b.due_date,
        teacher_name: b.teacher_name,
    };
    send(&state, &teacher, b.student_emails, notice).await
}

/// Announce an exam.
#[utoipa::path(post, path = "/exam", tag = "notifications", request_body = ExamRequest,
    responses((status = 200, body = BulkEmailResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn exam(
    State(state): State<AppState>,
    Sender(teacher): Sender,
    ApiJson(b): ApiJson<ExamRequest>,
) -> ApiResult<Json<BulkEmailResponse>> {
    let notice = Notice::Exam {
        name: b.exam_name,
        subject: b.subject,
        date: b.exam_date,
        time: b.time,
        venue: b.venue,
    };
    send(&state, &teacher, b.student_emails, notice).await
}

/// A teacher's own message.
#[utoipa::path(post, path = "/custom", tag = "notifications", request_body = CustomRequest,
    responses((status = 200, body = BulkEmailResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn custom(
    State(state): State<AppState>,
    Sender(teacher): Sender,
    ApiJson(b): ApiJson<CustomRequest>,
) -> ApiResult<Json<BulkEmailResponse>> {
    let notice = Notice::Custom {
        title: b.message_title,
        body: b.message_body,
        teacher_name: b.teacher_name,
    };
    send(&state, &teacher, b.student_emails, notice).await
}

async fn send(
    state: &AppState,
    teacher: &AuthUser,
    emails: Vec<String>,
    notice: Notice,
) -> ApiResult<Json<BulkEmailResponse>> {
    let bulk = mail::notify_students(&state.db, teacher, emails, notice).await?;
    state.mail_wake.notify_one();
    Ok(Json(BulkEmailResponse::new(bulk, relay_configured(state))))
}

/// Whether mail leaves the server at all (an SMTP relay is configured).
pub(crate) fn relay_configured(state: &AppState) -> bool {
    state.settings.smtp_host.is_some()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// 1..365, default 30.
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    /// Messages the mail relay accepted.
    pub total_sent: usize,
    /// Messages waiting in the outbox (not tried yet, or retrying after failed attempts).
    pub total_queued: usize,
    /// Messages given up on (dead).
    pub total_failed: usize,
    /// Whether an SMTP relay is configured (without one, queued messages wait).
    pub relay_configured: bool,
    pub sent_by_type: BTreeMap<String, TypeCounts>,
    /// The newest ten within the window.
    pub recent_logs: Vec<LogEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeCounts {
    pub sent: usize,
    pub queued: usize,
    pub failed: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntry {
    pub notification_type: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    /// `sent` (delivered), `queued` (not tried yet), `retrying` (after failed attempts) or
    /// `failed` (dead).
    pub status: String,
    pub error_message: Option<String>,
    /// The teacher who sent it.
    #[schema(value_type = Option<crate::domain::Id>)]
    pub sent_by: Option<String>,
    /// When it was delivered, else when it was queued.
    pub sent_at: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// The calling teacher's notifications over the last `days` days.
#[utoipa::path(get, path = "/stats", tag = "notifications", params(StatsQuery),
    responses((status = 200, body = StatsResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn stats(
    State(state): State<AppState>,
    StatsViewer(teacher): StatsViewer,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<StatsResponse>> {
    let s = mail::stats(&state.db, &teacher, q.days.unwrap_or(30)).await?;
    Ok(Json(StatsResponse {
        total_sent: s.total_sent,
        total_queued: s.total_queued,
        total_failed: s.total_failed,
        relay_configured: relay_configured(&state),
        sent_by_type: s
            .by_type
            .into_iter()
            .map(|(k, c)| {
                (
                    k,
                    TypeCounts {
                        sent: c.sent,
                        queued: c.queued,
                        failed: c.failed,
                    },
                )
            })
            .collect(),
        recent_logs: s
            .recent
            .into_iter()
            .map(|r| LogEntry {
                notification_type: mail::notification_type(&r.kind),
                status: match r.state() {
                    "dead" => "failed".to_owned(),
                    other => other.to_owned(),
                },
                recipient_email: r.recipient,
                recipient_name: r.recipient_name,
                subject: r.subject,
                error_message: r.last_error,
                sent_by: r.sent_by,
                sent_at: rfc3339(r.sent_at.unwrap_or(r.created_at)),
                metadata: r
                    .meta
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_else(|| serde_json::json!({})),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicateQuery {
    pub notification_type: String,
    pub recipient_email: String,
    /// 1..168, default 1.
    pub within_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateResponse {
    pub is_duplicate: bool,
}

/// Whether the calling teacher already queued this type of message to this address recently.
#[utoipa::path(get, path = "/check-duplicate", tag = "notifications", params(DuplicateQuery),
    responses((status = 200, body = DuplicateResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn check_duplicate(
    State(state): State<AppState>,
    DuplicateChecker(teacher): DuplicateChecker,
    ApiQuery(q): ApiQuery<DuplicateQuery>,
) -> ApiResult<Json<DuplicateResponse>> {
    let is_duplicate = mail::is_duplicate(
        &state.db,
        &teacher,
        &q.notification_type,
        &q.recipient_email,
        q.within_hours.unwrap_or(1),
    )
    .await?;
    Ok(Json(DuplicateResponse { is_duplicate }))
}

/// The caller's e-mail switches: `{"absence": true, "low_attendance": true, "assignment": true,
/// "exam": true, "custom": true}`. A switched-off topic is not queued at all. Account e-mails
/// (verification, password reset) cannot be switched off.
#[utoipa::path(get, path = "/preferences", tag = "notifications",
    responses((status = 200, body = BTreeMap<String, bool>), (status = 401, body = Detail)),
    security(("bearer" = [])))]
async fn get_preferences(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<BTreeMap<String, bool>>> {
    Ok(Json(mail::switches(&state.db, &user.id).await?))
}

/// Change some of the caller's e-mail switches (the others keep their value); answers all.
#[utoipa::path(put, path = "/preferences", tag = "notifications", request_body = BTreeMap<String, bool>,
    responses((status = 200, body = BTreeMap<String, bool>), (status = 401, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn put_preferences(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(changes): ApiJson<BTreeMap<String, bool>>,
) -> ApiResult<Json<BTreeMap<String, bool>>> {
    Ok(Json(
        mail::set_switches(&state.db, &user.id, changes).await?,
    ))
}
