//! `/api/auth/*` (also served at the seed's `/auth/*`): accounts, sessions, recovery.

use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::{ApiJson, ApiQuery, AuthUser, ClientAddr};
use crate::domain::Id;
use crate::domain::users::{Profile, User};
use crate::service::Error;
use crate::service::auth::{Allowance, Grant, Lifetime, Registration};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(verify_email))
        .routes(routes!(forgot_password))
        .routes(routes!(verify_otp))
        .routes(routes!(reset_password))
        .routes(routes!(invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(google))
        .routes(routes!(google_callback))
}

/// Seed-compatible registration body (extra fields such as `is_verified` are ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// `student` or `teacher` (teacher only where the deployment allows self-registration).
    pub role: String,
    pub name: String,
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    #[serde(flatten)]
    pub profile: ProfileFields,
}

/// Optional profile fields, shared by self-registration and accounts an administrator creates.
/// Students use `roll`, `year`, `branch`; teachers `employee_id`, `phone`, `branch`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProfileFields {
    #[serde(default)]
    pub college_name: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub roll: Option<String>,
    #[serde(default)]
    pub year: Option<String>,
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

impl ProfileFields {
    /// The college name and the role profile, empty where not given.
    #[must_use]
    pub fn into_parts(self) -> (String, Profile) {
        let profile = Profile {
            employee_id: self.employee_id.unwrap_or_default(),
            phone: self.phone.unwrap_or_default(),
            branch: self.branch.unwrap_or_default(),
            roll: self.roll.unwrap_or_default(),
            year: self.year.unwrap_or_default(),
        };
        (self.college_name.unwrap_or_default(), profile)
    }
}

/// An account as the seed's frontend reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    #[schema(value_type = Id)]
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub name: String,
    pub college_name: String,
    pub is_verified: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<&User> for AccountResponse {
    fn from(u: &User) -> Self {
        Self {
            user_id: u.id.to_string(),
            email: u.email.to_string(),
            role: u.role.to_string(),
            name: u.name.clone(),
            college_name: u.college_name.clone(),
            is_verified: u.is_verified,
            created_at: super::rfc3339(u.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Login answer: the seed's fields (`token`, `user_id`, `role`, `name`, `email`, `college_name`)
/// plus an OAuth-style token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(value_type = Id)]
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub name: String,
    pub college_name: String,
    /// The access token (same value as `access_token`; the seed frontend reads `token`).
    pub token: String,
    pub access_token: String,
    /// Opaque, single-use; exchange at `/api/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub token_type: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

impl From<Grant> for LoginResponse {
    fn from(g: Grant) -> Self {
        Self {
            user_id: g.user.id.to_string(),
            email: g.user.email.to_string(),
            role: g.user.role.to_string(),
            name: g.user.name,
            college_name: g.user.college_name,
            token: g.access_token.clone(),
            access_token: g.access_token,
            refresh_token: g.refresh_token,
            token_type: "bearer".into(),
            expires_in: g.expires_in,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// Optional: also (or instead of the bearer token) end the session of this refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

fn message(text: &str) -> Json<Message> {
    Json(Message {
        message: text.to_owned(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OtpRequest {
    pub email: String,
    /// The 6-digit code from the e-mail.
    pub otp: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
    pub otp: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyEmailQuery {
    pub token: String,
}

/// Create an account. Students may self-register; teachers only where allowed; never admins.
/// Unless verification is switched off, the account must verify its e-mail before logging in.
#[utoipa::path(post, path = "/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 200, body = AccountResponse), (status = 400, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail), (status = 429, body = Detail)))]
async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<Json<AccountResponse>> {
    state
        .auth
        .throttle_client(Allowance::Registration, &client.0)
        .await?;
    let (college_name, profile) = body.profile.into_parts();
    let reg = Registration {
        role: body.role,
        name: body.name,
        email: body.email,
        password: body.password,
        college_name,
        profile,
    };
    let user = state.auth.register(reg).await?;
    Ok(Json(AccountResponse::from(&user)))
}

/// Log in with e-mail and password. Unknown e-mail and wrong password get the same 401; an
/// unverified account gets 403 "Please verify your email first..". Rate-limited per account and
/// per client address (429 with Retry-After). At the seed's own path `/auth/login` the access
/// token lives `ROLLCALL_SEED_ACCESS_TOKEN_TTL` (a school day: the seed frontend never
/// refreshes); every request still checks that its session is live.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 422, body = Detail), (status = 429, body = Detail)))]
async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    path: MatchedPath,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if body.password.chars().count() > crate::service::password::MAX_LEN {
        return Err(Error::Invalid("password must be at most 128 characters".into()).into());
    }
    let lifetime = if path.as_str().starts_with("/api/") {
        Lifetime::Api
    } else {
        Lifetime::Seed
    };
    let grant = state
        .auth
        .login(&body.email, body.password, &client.0, lifetime)
        .await?;
    Ok(Json(grant.into()))
}

/// Exchange a refresh token for a new access + refresh pair (the old refresh token stops working;
/// replaying it revokes the session).
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Detail)))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(state.auth.refresh(&body.refresh_token).await?.into()))
}

/// End the session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/logout", tag = "auth", request_body(content = Option<LogoutRequest>),
    responses((status = 200, body = Message), (status = 401, body = Detail)),
    security(("bearer" = [])))]
async fn logout(
    State(state): State<AppState>,
    caller: Option<AuthUser>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Message>> {
    let body: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Error::Invalid(format!("invalid body: {e}")))?
    };
    state
        .auth
        .logout(caller.as_ref(), body.refresh_token.as_deref())
        .await?;
    Ok(message("Logged out"))
}

/// The calling account.
#[utoipa::path(get, path = "/me", tag = "auth",
    responses((status = 200, body = AccountResponse), (status = 401, body = Detail)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<AccountResponse>> {
    Ok(Json(AccountResponse::from(&state.auth.me(&caller).await?)))
}

/// Follow the e-mailed verification link. Redirects to `FRONTEND_BASE_URL/login?verified=true`
/// when a frontend is configured, else answers JSON.
#[utoipa::path(get, path = "/verify-email", tag = "auth", params(VerifyEmailQuery),
    responses((status = 200, body = Message), (status = 307), (status = 400, body = Detail)))]
async fn verify_email(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<VerifyEmailQuery>,
) -> ApiResult<Response> {
    state.auth.verify_email(&q.token).await?;
    Ok(match &state.settings.frontend_base_url {
        Some(url) => Redirect::temporary(&format!(
            "{}/login?verified=true",
            url.trim_end_matches('/')
        ))
        .into_response(),
        None => message("Email verified. You can now log in.").into_response(),
    })
}

/// Ask for a password reset code. Always answers the same, whether or not the account exists.
#[utoipa::path(post, path = "/forgot-password", tag = "auth", request_body = EmailRequest,
    responses((status = 200, body = Message), (status = 422, body = Detail), (status = 429, body = Detail)))]
async fn forgot_password(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<EmailRequest>,
) -> ApiResult<Json<Message>> {
    state
        .auth
        .throttle_client(Allowance::Recovery, &client.0)
        .await?;
    state.auth.forgot_password(&body.email).await?;
    Ok(message(
        "If an account exists with this email, you will receive an OTP shortly.",
    ))
}

/// Check a reset code without using it (5 wrong tries end the code).
#[utoipa::path(post, path = "/verify-otp", tag = "auth", request_body = OtpRequest,
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 422, body = Detail),
              (status = 429, body = Detail)))]
async fn verify_otp(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<OtpRequest>,
) -> ApiResult<Json<Message>> {
    state
        .auth
        .throttle_client(Allowance::Recovery, &client.0)
        .await?;
    state.auth.verify_otp(&body.email, &body.otp).await?;
    Ok(message("OTP verified successfully."))
}

/// Set a new password with a reset code. The code is single-use; every session of the account ends.
#[utoipa::path(post, path = "/reset-password", tag = "auth", request_body = ResetRequest,
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 422, body = Detail),
              (status = 429, body = Detail)))]
async fn reset_password(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<Json<Message>> {
    state
        .auth
        .throttle_client(Allowance::Recovery, &client.0)
        .await?;
    state
        .auth
        .reset_password(&body.email, &body.otp, body.new_password)
        .await?;
    Ok(message(
        "Password has been reset successfully. You can now log in.",
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationQuery {
    /// The token from the invitation link (`/app/#/invitation/{token}`).
    pub token: String,
}

/// Who an invitation link is for, so the page can greet them before they choose a password.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationInfo {
    pub name: String,
    pub email: String,
    pub role: String,
    /// When the link runs out (RFC 3339).
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptInvitationRequest {
    /// The token from the invitation link.
    pub token: String,
    /// The password the person chooses: 8 to 128 characters.
    pub password: String,
}

/// Who a still-usable invitation link is for. 400 when the link is unknown, already used or
/// expired (unknown and used get the same answer). Counts against the client address's
/// invitation allowance (`ROLLCALL_RECOVERY_MAX_PER_IP` per window, apart from recovery's).
#[utoipa::path(get, path = "/invitation", tag = "auth", params(InvitationQuery),
    responses((status = 200, body = InvitationInfo), (status = 400, body = Detail), (status = 422, body = Detail),
              (status = 429, body = Detail)))]
async fn invitation(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiQuery(q): ApiQuery<InvitationQuery>,
) -> ApiResult<Json<InvitationInfo>> {
    state
        .auth
        .throttle_client(Allowance::Invitation, &client.0)
        .await?;
    let (user, invitation) = state.auth.invitation(&q.token).await?;
    Ok(Json(InvitationInfo {
        name: user.name,
        email: user.email.to_string(),
        role: user.role.to_string(),
        expires_at: super::rfc3339(invitation.expires_at),
    }))
}

/// Choose a password with an invitation link: the link is spent, the account verified and
/// signed in (the same answer as a login). 400 for an unknown, used or expired link (unknown
/// and used alike); 422 for a password outside the policy (the link stays usable). Rate-limited
/// per client address like `GET /invitation`.
#[utoipa::path(post, path = "/accept-invitation", tag = "auth", request_body = AcceptInvitationRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = Detail), (status = 422, body = Detail),
              (status = 429, body = Detail), (status = 503, body = Detail)))]
async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientAddr,
    path: MatchedPath,
    ApiJson(body): ApiJson<AcceptInvitationRequest>,
) -> ApiResult<Json<LoginResponse>> {
    state
        .auth
        .throttle_client(Allowance::Invitation, &client.0)
        .await?;
    let lifetime = if path.as_str().starts_with("/api/") {
        Lifetime::Api
    } else {
        Lifetime::Seed
    };
    let grant = state
        .auth
        .accept_invitation(&body.token, body.password, &client.0, lifetime)
        .await?;
    Ok(Json(grant.into()))
}

/// What `GET /auth/google` answers: rollcall has no Google sign-in.
const NO_GOOGLE: &str = "Google sign-in is not supported by this server: sign in with your \
    e-mail address and password. If you always signed in with Google and have no password, ask \
    your school's administrator to reset it";

/// The seed frontend's "Sign in with Google" button sends the browser here. A browser
/// (`Accept: text/html`) gets a short page saying so with a link back to the sign-in page
/// (`FRONTEND_BASE_URL/login`, else rollcall's own page); any other client the JSON `detail`.
#[utoipa::path(get, path = "/google", tag = "auth",
    responses((status = 501, description = "Google sign-in is not supported: an HTML page for a browser, else the JSON detail",
        content((Detail = "application/json"), (String = "text/html")))))]
async fn google(State(state): State<AppState>, headers: HeaderMap) -> Response {
    no_google(&state, &headers)
}

/// The seed's Google callback: the same answer as `/google`.
#[utoipa::path(get, path = "/google/callback", tag = "auth",
    responses((status = 501, description = "Google sign-in is not supported: an HTML page for a browser, else the JSON detail",
        content((Detail = "application/json"), (String = "text/html")))))]
async fn google_callback(State(state): State<AppState>, headers: HeaderMap) -> Response {
    no_google(&state, &headers)
}

fn no_google(state: &AppState, headers: &HeaderMap) -> Response {
    let browser = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    if !browser {
        return super::error::detail(StatusCode::NOT_IMPLEMENTED, NO_GOOGLE);
    }
    let back = state.settings.frontend_base_url.as_deref().map_or_else(
        || "/app/".to_owned(),
        |url| format!("{}/login", url.trim_end_matches('/')),
    );
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Google sign-in is not available</title></head>\n<body>\
         <h1>Google sign-in is not available</h1>\
         <p>This school's attendance server does not sign in with Google. Sign in with your \
         e-mail address and password instead.</p>\
         <p>If you always signed in with Google and have no password, ask your school's \
         administrator to reset it.</p>\
         <p><a href=\"{}\">Back to sign-in</a></p></body></html>\n",
        crate::notify::templates::escape(&back)
    );
    (
        StatusCode::NOT_IMPLEMENTED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::Extension(super::middleware::PageForBrowser),
        page,
    )
        .into_response()
}
