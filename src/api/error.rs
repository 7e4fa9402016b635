//! The one place where errors become HTTP: status + `{"detail": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::Error;

/// The error body of every non-2xx answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Detail {
    pub detail: String,
}

/// A JSON error response with the given status and message.
pub fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(Detail {
            detail: message.into(),
        }),
    )
        .into_response()
}

#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unavailable(_) | Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                return detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
            }
        };
        let mut response = detail(status, self.0.to_string());
        let headers = response.headers_mut();
        match &self.0 {
            Error::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::Busy(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Error::RateLimited { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::decode::DecodeError;
    use crate::vision::pipeline::PipelineError;

    /// Missing models are a plain 503; a full queue also says when to come back.
    #[test]
    fn unavailable_and_busy_are_503() {
        let r = ApiError(Error::Unavailable("models".into())).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
        let r = ApiError(Error::Busy("busy".into())).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
    }

    /// Every way a photo can be bad is a 4xx with a plain message; only our own failures are 500.
    #[test]
    fn bad_photos_are_client_errors() {
        let status = |e: PipelineError| ApiError(e.into()).into_response().status();
        assert_eq!(
            status(DecodeError::Empty.into()),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(DecodeError::TooLarge { bytes: 30, max: 20 }.into()),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status(
                DecodeError::TooManyPixels {
                    width: 30000,
                    height: 30000
                }
                .into()
            ),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status(DecodeError::Unsupported.into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(DecodeError::Corrupt("truncated".into()).into()),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(PipelineError::Internal(anyhow::anyhow!("model"))),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
