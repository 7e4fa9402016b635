//! Extractors: JSON and query bodies with `{"detail"}` rejections, the client address, and the
//! caller's identity as types (`AuthUser`, `Admin`, `Staff`, `Teacher`, `Student`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, detail};
use crate::domain::Role;
use crate::service::Error;
pub use crate::service::auth::AuthUser;

/// The `{id}` of a route's path as an [`Id`](crate::domain::Id): a malformed one is answered
/// 400 "Invalid id format" (the seed's words), like every id in a request body.
pub struct PathId(pub crate::domain::Id);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| Error::BadRequest("Invalid id format".into()))?;
        Ok(Self(super::parse_id("id", &raw)?))
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

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

/// The client's address: the TCP peer, or behind `ROLLCALL_PROXY_HOPS` trusted proxies the
/// X-Forwarded-For entry the outermost of them wrote.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(&parts.headers, peer, state.settings.trusted_proxy_hops());
        Ok(Self(
            ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        ))
    }
}

/// The client of a request that passed `hops` proxies we trust. Each proxy appends the address
/// it received the request from to X-Forwarded-For, so only the last `hops` entries were written
/// by us; anything left of them is whatever the client sent. The client is therefore the
/// `hops`-th entry from the right. With no trusted proxy, fewer entries than `hops`, or an entry
/// that is not an address, the TCP peer is used.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    // Several header lines form one list, in order; split bytes so that a client's non-ASCII
    // junk cannot hide the entries our proxies appended after it.
    let entries: Vec<&[u8]> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries.get(i))
        .and_then(|e| std::str::from_utf8(e).ok())
        .and_then(|e| parse_forwarded_ip(e.trim()))
        .or(peer)
}

/// An X-Forwarded-For entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(lines: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(
                X_FORWARDED_FOR,
                HeaderValue::from_bytes(line).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn the_client_is_the_entry_our_outermost_proxy_wrote() {
        let peer = ip("10.0.0.1");
        // The client wrote "6.6.6.6"; our one proxy appended the address it saw.
        let h = headers(&[b"6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_ip(&h, peer, 1), ip("203.0.113.7"));
        assert_eq!(client_ip(&h, peer, 0), peer, "not trusted: the peer");
        // Two proxies: the CDN appended the client, the load balancer the CDN.
        let h = headers(&[b"6.6.6.6, 203.0.113.7, 198.51.100.2"]);
        assert_eq!(client_ip(&h, peer, 2), ip("203.0.113.7"));
        // Several header lines are one list; ports and brackets are accepted.
        let h = headers(&[b"6.6.6.6", b"[2001:db8::7]:4711"]);
        assert_eq!(client_ip(&h, peer, 1), ip("2001:db8::7"));
        let h = headers(&[b"6.6.6.6, 203.0.113.7:80"]);
        assert_eq!(client_ip(&h, peer, 1), ip("203.0.113.7"));
        // Non-ASCII junk from the client does not hide what the proxy appended.
        let h = headers(&[b"\xff\xfe, 203.0.113.7"]);
        assert_eq!(client_ip(&h, peer, 1), ip("203.0.113.7"));
    }

    #[test]
    fn too_few_entries_or_garbage_fall_back_to_the_peer() {
        let peer = ip("10.0.0.1");
        assert_eq!(client_ip(&HeaderMap::new(), peer, 1), peer);
        assert_eq!(client_ip(&headers(&[b"203.0.113.7"]), peer, 2), peer);
        assert_eq!(client_ip(&headers(&[b"6.6.6.6, not-an-ip"]), peer, 1), peer);
        assert_eq!(client_ip(&headers(&[b""]), peer, 1), peer);
    }
}
