//! Extractors: JSON and query bodies with `{"detail"}` rejections, the client address, and the
//! caller's identity as types (`AuthUser`, `Admin`, `Staff`, `Teacher`, `Student`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, detail};
use crate::domain::Role;
use crate::service::Error;
pub use crate::service::auth::AuthUser;

/// `axum::Json` with rejections answered as `{"detail"}`: 400 bad syntax, 422 wrong shape,
/// 415 wrong content type, 413 too large.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> Response {
    match rejection {
        JsonRejection::JsonDataError(e) => detail(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()),
        JsonRejection::JsonSyntaxError(e) => detail(StatusCode::BAD_REQUEST, e.body_text()),
        JsonRejection::MissingJsonContentType(_) => detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
        }
        other => detail(other.status(), other.body_text()),
    }
}

/// `axum::extract::Query` with 422 `{"detail"}` rejections.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(detail(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()))
            }
            Err(other) => Err(detail(other.status(), other.body_text())),
        }
    }
}

/// The client's address: the TCP peer, or the first X-Forwarded-For hop behind a trusted proxy.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .settings
            .trust_proxy
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(
            forwarded
                .or(peer)
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        ))
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(user.clone());
        }
        let token = bearer(parts).ok_or_else(|| Error::Unauthorized("Not authenticated".into()))?;
        let user = state.auth.authenticate(token).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// `Option<AuthUser>`: `None` when there is no bearer token or it is not valid.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, [$($role:path),+], $message:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub AuthUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let user = AuthUser::from_request_parts(parts, state).await?;
                if matches!(user.role, $($role)|+) {
                    Ok(Self(user))
                } else {
                    Err(Error::Forbidden($message.into()).into())
                }
            }
        }
    };
}

role_extractor!(
    /// An administrator.
    Admin, [Role::Admin], "Administrator access required"
);
role_extractor!(
    /// A teacher.
    Teacher, [Role::Teacher], "Teacher access required"
);
role_extractor!(
    /// A teacher or an administrator (school staff).
    Staff, [Role::Teacher, Role::Admin], "Teacher access required"
);
role_extractor!(
    /// A student.
    Student, [Role::Student], "Student access required"
);
