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
use crate::domain::invitations::{Account, DeletionCounts, InvitationState};
use crate::domain::outbox;
use crate::domain::{Id, Role};
use crate::service::accounts::{self, Changes, NewAccount};
use crate::service::mail;
use crate::service::privacy;
use crate::service::{Actor, Error};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(invite_user))
        .routes(routes!(deletion_preview))
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
    /// Only entries before this unix time (with `since`: `since <= at < until`; it must be
    /// later than `since`).
    pub until: Option<i64>,
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
    let entries = privacy::audit_log(
        &state.db,
        Filter {
            actor: q.actor,
            action: q.action,
            target: q.target,
            since: q.since,
            until: q.until,
            limit: q.limit.unwrap_or(100),
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
    /// 8 to 128 characters. Omit it to create the account without a password and mail it an
    /// invitation link (valid `ROLLCALL_INVITATION_DAYS`) to choose one.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(flatten)]
    pub profile: ProfileFields,
}

/// Where an account's invitation stands: `none` (never invited), `pending` (a link is out and
/// valid), `expired` (the link ran out unused; send a new one), `accepted` (the password was
/// chosen with it).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    None,
    Pending,
    Expired,
    Accepted,
}

impl From<InvitationState> for InvitationStatus {
    fn from(s: InvitationState) -> Self {
        match s {
            InvitationState::None => Self::None,
            InvitationState::Pending => Self::Pending,
            InvitationState::Expired => Self::Expired,
            InvitationState::Accepted => Self::Accepted,
        }
    }
}

/// An account as the school office sees it: the account, whether it has a password yet, and
/// its invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAccount {
    #[serde(flatten)]
    pub account: AccountResponse,
    /// False while an invited account has not chosen its password (it cannot log in).
    pub has_password: bool,
    pub invitation: InvitationStatus,
    /// When the current invitation link was sent (RFC 3339); null when never invited.
    pub invited_at: Option<String>,
    /// When the current link runs out (RFC 3339); null when never invited.
    pub invitation_expires_at: Option<String>,
    /// When the password was chosen with a link (RFC 3339).
    pub invitation_accepted_at: Option<String>,
    /// Links sent so far (the first and every resend).
    pub invitations_sent: i64,
}

impl AdminAccount {
    fn new(a: &Account, now: i64) -> Self {
        let inv = a.invitation.as_ref();
        Self {
            account: AccountResponse::from(&a.user),
            has_password: a.has_password,
            invitation: InvitationState::of(inv, now).into(),
            invited_at: inv.map(|i| rfc3339(i.sent_at)),
            invitation_expires_at: inv.map(|i| rfc3339(i.expires_at)),
            invitation_accepted_at: inv.and_then(|i| i.accepted_at).map(rfc3339),
            invitations_sent: inv.map_or(0, |i| i.sent_count),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only accounts of this role.
    pub role: Option<Role>,
    /// Only accounts with this text in their name or e-mail address (case-insensitive).
    pub q: Option<String>,
    /// 1..500, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<AdminAccount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked_sessions: usize,
}

/// Create a verified account of any role (this is how the office adds teachers and students).
/// With `password`, the account can log in with it at once. Without, it has no password and an
/// invitation is mailed (kind `invitation`, through the outbox) with a single-use link
/// `{BACKEND_BASE_URL}/app/#/invitation/{token}` to choose one; the answer shows the invitation
/// `pending`. Audited as `admin.create_user` (and `invitation.send`).
#[utoipa::path(post, path = "/users", tag = "admin", request_body = CreateUserRequest,
    responses((status = 200, body = AdminAccount), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<Json<AdminAccount>> {
    let (college_name, profile) = body.profile.into_parts();
    let now = state.clock.now();
    let created = accounts::create(
        &state.db,
        state.auth.hashing(),
        &state.auth.inviter(),
        &admin,
        NewAccount {
            role: body.role,
            email: body.email,
            name: body.name,
            password: body.password,
            college_name,
            profile,
        },
        now,
    )
    .await?;
    Ok(Json(AdminAccount::new(&created, now)))
}

/// Accounts, newest first, each with its invitation state.
#[utoipa::path(get, path = "/users", tag = "admin", params(ListQuery),
    responses((status = 200, body = UserList), (status = 401, body = Detail), (status = 403, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<UserList>> {
    let users = accounts::list(
        &state.db,
        q.role,
        q.q,
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
    let now = state.clock.now();
    Ok(Json(UserList {
        users: users.iter().map(|a| AdminAccount::new(a, now)).collect(),
    }))
}

/// One account, as in the list.
#[utoipa::path(get, path = "/users/{id}", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = AdminAccount), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn get_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminAccount>> {
    let a = accounts::get(&state.db, parse_id("user id", &id)?).await?;
    Ok(Json(AdminAccount::new(&a, state.clock.now())))
}

/// Fields to change; the others stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// `teacher` <-> `admin` only: a student stays a student and staff stay staff (409).
    #[serde(default)]
    pub role: Option<Role>,
    /// 1 to 100 characters.
    #[serde(default)]
    pub name: Option<String>,
}

/// Change an account's role or name. Teacher and administrator swap freely: an administrator
/// who was a teacher keeps their teacher profile and subjects (they teach them again if made
/// a teacher again); an administrator made a teacher gets an empty profile. To or from
/// `student`: 409 (a student's enrolments, faces and attendance belong to the role; create a
/// new account). The last administrator is never demoted (409). A role change ends all the
/// account's sessions (their tokens carry the role). Audited as `admin.update_user`.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", params(("id" = Id, Path)),
    request_body = UpdateUserRequest,
    responses((status = 200, body = AdminAccount), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<AdminAccount>> {
    let a = accounts::update(
        &state.db,
        &admin,
        parse_id("user id", &id)?,
        Changes {
            role: body.role,
            name: body.name,
        },
    )
    .await?;
    Ok(Json(AdminAccount::new(&a, state.clock.now())))
}

/// Mail the account a new invitation link; the earlier link stops working at once. 409 when
/// the account already has a password (its invitation was accepted, or it was created with
/// one). Audited as `invitation.send`.
#[utoipa::path(post, path = "/users/{id}/invite", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = AdminAccount), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn invite_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminAccount>> {
    let now = state.clock.now();
    let a = accounts::invite(
        &state.db,
        &state.auth.inviter(),
        &admin,
        parse_id("user id", &id)?,
        now,
    )
    .await?;
    state.mail_wake.notify_one();
    Ok(Json(AdminAccount::new(&a, now)))
}

/// A subject named in a deletion report.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectBrief {
    #[schema(value_type = Id)]
    pub id: String,
    pub name: String,
    pub code: String,
}

/// What deleting an account removes.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionCountsBody {
    /// Login sessions (live or ended), with their refresh tokens.
    pub sessions: i64,
    /// A student's face samples (with their photos, unless another sample shows the same).
    pub face_samples: i64,
    /// A student's attendance records.
    pub attendance_records: i64,
    /// A student's enrolments.
    pub enrolments: i64,
    /// Subjects the account teaches; it is removed from them.
    pub subjects_taught: i64,
    /// Subjects the account is the only teacher of: they are kept, with their attendance,
    /// without a teacher until one is added (not removed).
    pub subjects_left_without_teacher: Vec<SubjectBrief>,
    /// E-mails to the account still waiting in the outbox; they are withdrawn.
    pub queued_mails: i64,
    /// Its invitation link (0 or 1).
    pub invitations: i64,
}

impl From<DeletionCounts> for DeletionCountsBody {
    fn from(c: DeletionCounts) -> Self {
        Self {
            sessions: c.sessions,
            face_samples: c.face_samples,
            attendance_records: c.attendance_records,
            enrolments: c.enrolments,
            subjects_taught: c.subjects_taught,
            subjects_left_without_teacher: c
                .subjects_left_without_teacher
                .into_iter()
                .map(|s| SubjectBrief {
                    id: s.id.to_string(),
                    name: s.name,
                    code: s.code,
                })
                .collect(),
            queued_mails: c.queued_mails,
            invitations: c.invitations,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionPreview {
    pub user: AdminAccount,
    /// Whether `DELETE` would succeed now.
    pub can_delete: bool,
    /// Why it would be refused (your own account, the last administrator); null otherwise.
    pub refused: Option<String>,
    pub removes: DeletionCountsBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedUser {
    #[schema(value_type = Id)]
    pub user_id: String,
    pub removed: DeletionCountsBody,
}

/// What deleting the account would remove, counted now (nothing is changed).
#[utoipa::path(get, path = "/users/{id}/deletion", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = DeletionPreview), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail)),
    security(("bearer" = [])))]
async fn deletion_preview(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletionPreview>> {
    let p = accounts::deletion_preview(&state.db, &admin, parse_id("user id", &id)?).await?;
    Ok(Json(DeletionPreview {
        user: AdminAccount::new(&p.account, state.clock.now()),
        can_delete: p.refused.is_none(),
        refused: p.refused,
        removes: p.counts.into(),
    }))
}

/// Delete the account and everything the preview lists, in one transaction (a student through
/// the same code as `DELETE /api/students/{id}`); queued mails to it are withdrawn; subjects it
/// was the only teacher of stay without a teacher. 409 for your own account and for the last
/// administrator. Audited as `admin.delete_user` with the counts. Answers what was removed.
#[utoipa::path(delete, path = "/users/{id}", tag = "admin", params(("id" = Id, Path)),
    responses((status = 200, body = DeletedUser), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 404, body = Detail), (status = 409, body = Detail)),
    security(("bearer" = [])))]
async fn delete_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletedUser>> {
    let id = parse_id("user id", &id)?;
    let removed = accounts::delete(&state.db, &state.images, &admin, id.clone()).await?;
    Ok(Json(DeletedUser {
        user_id: id.to_string(),
        removed: removed.into(),
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
    let (rows, [queued, retrying, sent, dead]) = mail::list_messages(
        &state.db,
        q.status.unwrap_or(OutboxStatus::Dead).as_str(),
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
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
