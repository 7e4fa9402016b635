//! `/api/admin/*`: account administration and the e-mail outbox (administrators only).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AccountResponse, Message, ProfileFields};
use super::error::{ApiResult, Detail};
use super::extract::{Admin, ApiJson, ApiQuery};
use super::{AppState, parse_id, rfc3339};
use crate::domain::audit::Filter;
use crate::domain::outbox;
use crate::domain::{Id, Role};
use crate::service::accounts::{self, NewAccount};
use crate::service::mail;
use crate::service::privacy;
use crate::service::{Actor, Error};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(verify_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(audit_log))
        .routes(routes!(run_retention))
        .routes(routes!(list_outbox))
        .routes(routes!(read_message))
        .routes(routes!(retry_message))
        .routes(routes!(retry_dead))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries by this user id.
    #[param(value_type = Option<Id>)]
    pub actor: Option<String>,
    /// An action (`face.view`), or a prefix ending in `.` (`attendance.`).
    pub action: Option<String>,
    /// Only entries about this id (a student, subject, draft...).
    pub target: Option<String>,
    /// Only entries at or after this unix time.
    pub since: Option<i64>,
    /// 1..500, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    #[schema(value_type = Option<Id>)]
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

/// The audit log, newest first: who changed or viewed attendance, faces and accounts.
#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Error::Invalid("limit must be between 1 and 500".into()).into());
    }
    let entries = privacy::audit_log(
        &state.db,
        Filter {
            actor: q.actor,
            action: q.action,
            target: q.target,
            since: q.since,
            limit,
            offset: q.offset.unwrap_or(0),
        },
    )
    .await?;
    Ok(Json(AuditList {
        entries: entries
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                at: super::rfc3339(e.at),
                actor_id: e.actor_id,
                action: e.action,
                target: e.target,
                detail: e.detail,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeReport {
    pub drafts: usize,
    pub face_samples: usize,
    pub files: usize,
}

/// Apply the retention settings now (the server also does it hourly): expired drafts with
/// their photos, and face samples past `ROLLCALL_FACE_RETENTION_DAYS`.
#[utoipa::path(post, path = "/retention/run", tag = "admin",
    responses((status = 200, body = PurgeReport), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn run_retention(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<PurgeReport>> {
    let p = privacy::purge(
        &state.db,
        &state.images,
        privacy::Retention {
            draft_days: state.settings.draft_retention_days,
            face_days: state.settings.face_retention_days,
        },
    )
    .await?;
    Ok(Json(PurgeReport {
        drafts: p.drafts,
        face_samples: p.face_samples,
        files: p.files,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub role: Role,
    pub email: String,
    pub name: String,
    /// Omit to have a password generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(flatten)]
    pub profile: ProfileFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub account: AccountResponse,
    /// Only when the server generated the password; it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only accounts of this role.
    pub role: Option<Role>,
    /// 1..500, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<AccountResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked_sessions: usize,
}

/// Create a verified account of any role (this is how teachers are normally added).
#[utoipa::path(post, path = "/users", tag = "admin", request_body = CreateUserRequest,
    responses((status = 200, body = CreatedUser), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<Json<CreatedUser>> {
    let (college_name, profile) = body.profile.into_parts();
    let created = accounts::create(
        &state.db,
        state.auth.hashing(),
        &admin,
        NewAccount {
            role: body.role,
            email: body.email,
            name: body.name,
            password: body.password,
            college_name,
            profile,
        },
    )
    .await?;
    Ok(Json(CreatedUser {
        account: AccountResponse::from(&created.user),
        password: created.generated_password,
    }))
}

/// Accounts, newest first.
#[utoipa::path(get, path = "/users", tag = "admin", params(ListQuery),
    responses((status = 200, body = UserList), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<UserList>> {
    let users = accounts::list(
        &state.db,
        q.role,
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
    Ok(Json(UserList {
        users: users.iter().map(AccountResponse::from).collect(),
    }))
}

/// Mark an account's e-mail as verified.
#[utoipa::path(post, path = "/users/{id}/verify", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn verify_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    accounts::verify(&state.db, &admin, parse_id("user id", &id)?).await?;
    Ok(Json(Message {
        message: "User verified".into(),
    }))
}

/// End every session of an account.
#[utoipa::path(post, path = "/users/{id}/revoke-sessions", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = Revoked), (status = 400, body = Detail), (status = 403, body = Detail),
              (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn revoke_sessions(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Revoked>> {
    let n = accounts::revoke_sessions(&state.db, &admin, parse_id("user id", &id)?).await?;
    Ok(Json(Revoked {
        revoked_sessions: n,
    }))
}

/// Which outbox messages to list, by delivery state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Waiting for their first attempt (with no SMTP relay configured, they wait here).
    Queued,
    /// Waiting for another attempt after failed ones.
    Retrying,
    /// Queued and retrying together.
    Pending,
    /// Accepted by the relay.
    Sent,
    /// Given up on after the last attempt or a permanent refusal; can be retried.
    Dead,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Retrying => "retrying",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Default `dead` (the failed messages).
    #[param(inline)]
    pub status: Option<OutboxStatus>,
    /// 1..500, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// One outbox message (without its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// As stored: `pending`, `sent` or `dead`.
    pub status: String,
    /// Delivery state: `queued`, `retrying`, `sent` or `dead`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
}

impl From<outbox::Message> for OutboxMessage {
    fn from(r: outbox::Message) -> Self {
        Self {
            state: r.state().to_owned(),
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
            next_attempt_at: rfc3339(r.next_attempt_at),
            sent_at: r.sent_at.map(rfc3339),
        }
    }
}

/// How many messages are in each delivery state (the whole outbox).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCounts {
    pub queued: i64,
    pub retrying: i64,
    pub sent: i64,
    pub dead: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxList {
    /// Whether an SMTP relay is configured; without one nothing leaves the outbox.
    pub relay_configured: bool,
    pub counts: OutboxCounts,
    pub messages: Vec<OutboxMessage>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub retried: usize,
}

/// Outbox messages, newest first: by default the dead ones (not delivered after every attempt);
/// `status` picks queued, retrying, pending (both), sent or dead. With the counts per state and
/// whether a relay is configured at all.
#[utoipa::path(get, path = "/outbox", tag = "admin", params(OutboxQuery),
    responses((status = 200, body = OutboxList), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn list_outbox(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<OutboxList>> {
    let rows = mail::list_messages(
        &state.db,
        q.status.unwrap_or(OutboxStatus::Dead).as_str(),
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
    let [queued, retrying, sent, dead] = mail::state_counts(&state.db).await?;
    Ok(Json(OutboxList {
        relay_configured: super::notifications::relay_configured(&state),
        counts: OutboxCounts {
            queued,
            retrying,
            sent,
            dead,
        },
        messages: rows.into_iter().map(OutboxMessage::from).collect(),
    }))
}

/// One outbox message with its body, as the recipient reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessageWithBody {
    #[serde(flatten)]
    pub message: OutboxMessage,
    pub body_text: String,
    pub body_html: Option<String>,
}

/// Read one message with its body: without an SMTP relay, how an administrator hands a user
/// their password-reset code or verification link (these are never logged). Audited as
/// `outbox.view`.
#[utoipa::path(get, path = "/outbox/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = OutboxMessageWithBody), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn read_message(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<OutboxMessageWithBody>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::BadRequest("Invalid message id format".into()))?;
    let m = mail::read_message(&state.db, &admin, id).await?;
    Ok(Json(OutboxMessageWithBody {
        message: m.row.into(),
        body_text: m.body_text,
        body_html: m.body_html,
    }))
}

/// Give a dead message a fresh set of attempts, starting now.
#[utoipa::path(post, path = "/outbox/{id}/retry", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = OutboxMessage), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn retry_message(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<OutboxMessage>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::BadRequest("Invalid message id format".into()))?;
    let row = mail::retry_message(&state.db, Actor::User(&admin), id).await?;
    state.mail_wake.notify_one();
    Ok(Json(row.into()))
}

/// Give every dead message a fresh set of attempts, starting now.
#[utoipa::path(post, path = "/outbox/retry-dead", tag = "admin",
    responses((status = 200, body = Retried), (status = 401, body = Detail), (status = 403, body = Detail)),
    security(("bearer" = [])))]
async fn retry_dead(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> ApiResult<Json<Retried>> {
    let retried = mail::retry_all_dead(&state.db, Actor::User(&admin)).await?;
    state.mail_wake.notify_one();
    Ok(Json(Retried { retried }))
}
