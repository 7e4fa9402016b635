//! `/api/admin/*`: account administration (administrators only).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AccountResponse, Message, ProfileFields};
use super::error::{ApiResult, Detail};
use super::extract::{Admin, ApiJson, ApiQuery};
use super::{AppState, parse_id};
use crate::domain::Role;
use crate::service::accounts::{self, NewAccount};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(verify_user))
        .routes(routes!(revoke_sessions))
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
#[utoipa::path(post, path = "/users/{id}/verify", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 400, body = Detail), (status = 404, body = Detail)),
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
#[utoipa::path(post, path = "/users/{id}/revoke-sessions", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 400, body = Detail), (status = 404, body = Detail)),
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
