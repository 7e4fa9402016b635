//! Use-cases in plain Rust: no axum types. Each area returns [`Error`], which the API maps once.

pub mod accounts;
pub mod analytics;
pub mod attendance;
pub mod auth;
pub mod avatars;
pub mod clock;
pub mod drafts;
pub mod evaluation;
pub mod faces;
pub mod images;
pub mod import_seed;
pub mod invitations;
pub mod learn;
pub mod mail;
pub mod notify;
pub mod password;
pub mod privacy;
pub mod ratelimit;
pub mod roster;
pub mod schedule;
pub mod students;
pub mod subjects;
pub mod teachers;
pub mod tokens;
pub mod transfer;

use std::time::Duration;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule (400).
    #[error("{0}")]
    BadRequest(String),
    /// A field is missing or has the wrong shape (422).
    #[error("{0}")]
    Invalid(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The upload is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The upload is not in a format we accept (415).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// A dependency (the face models) is not available (503).
    #[error("{0}")]
    Unavailable(String),
    /// Too much work in progress; retry shortly (503 with Retry-After).
    #[error("{0}")]
    Busy(String),
    /// Too many attempts; try again after the given time (429).
    #[error("Too many attempts. Try again in {} seconds.", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// A bug or an unavailable dependency; logged, never shown to the client in detail (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a client is told when the data directory cannot take a write.
pub const DISK_FULL: &str =
    "The server's disk is full: nothing was saved; ask the administrator to free space";
pub const READ_ONLY: &str =
    "The server's data directory is read-only: nothing was saved; ask the administrator";

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        if matches!(e, StorageError::NulInText) {
            return Self::Invalid(e.to_string());
        }
        if e.is_busy() {
            tracing::warn!(error = %e, "database busy past the timeout");
            crate::telemetry::busy(crate::telemetry::Resource::Database);
            return Self::Busy("The server is busy; try again in a few seconds".into());
        }
        if e.is_disk_full() {
            tracing::error!(error = %e, "database write failed: disk full");
            Self::Unavailable(DISK_FULL.into())
        } else if e.is_read_only() {
            tracing::error!(error = %e, "database write failed: read-only");
            Self::Unavailable(READ_ONLY.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

impl Error {
    /// A failed file write: a full or read-only disk is the client's 503 with a clear message;
    /// anything else is internal.
    pub fn from_io(what: &str, e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                tracing::error!(error = %e, "{what}: disk full");
                Self::Unavailable(DISK_FULL.into())
            }
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                tracing::error!(error = %e, "{what}: read-only");
                Self::Unavailable(READ_ONLY.into())
            }
            _ => Self::Internal(anyhow::anyhow!("{what}: {e}")),
        }
    }
}

/// A stored embedding that is not one, or a gallery that cannot be built, is ours.
impl From<crate::matching::Error> for Error {
    fn from(e: crate::matching::Error) -> Self {
        Self::Internal(anyhow::anyhow!("matching: {e}"))
    }
}

/// A bad photo is the client's problem, told plainly; a failing model is ours.
impl From<crate::vision::pipeline::PipelineError> for Error {
    fn from(e: crate::vision::pipeline::PipelineError) -> Self {
        use crate::vision::decode::DecodeError;
        use crate::vision::pipeline::PipelineError;
        match e {
            PipelineError::Image(
                d @ (DecodeError::TooLarge { .. } | DecodeError::TooManyPixels { .. }),
            ) => Self::TooLarge(d.to_string()),
            PipelineError::Image(d @ (DecodeError::Unsupported | DecodeError::Heic)) => {
                Self::UnsupportedMedia(d.to_string())
            }
            PipelineError::Image(d) => Self::Invalid(d.to_string()),
            PipelineError::Internal(e) => Self::Internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Who does something the audit log records: a signed-in account, or the operator at the command
/// line (`rollcall consent`, `rollcall mail retry`, `rollcall enroll`), audited with no actor
/// and `via cli`.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    User(&'a auth::AuthUser),
    Operator,
}

impl Actor<'_> {
    /// The account the audit entry names; none for the operator.
    #[must_use]
    pub fn id(&self) -> Option<crate::domain::Id> {
        match self {
            Self::User(u) => Some(u.id.clone()),
            Self::Operator => None,
        }
    }

    /// `detail` as the audit entry records it: the operator's entries say `via cli`.
    #[must_use]
    pub fn detail(&self, detail: &str) -> String {
        self.owned().detail(detail)
    }

    /// The same, owned, for a closure that outlives the borrowed account.
    #[must_use]
    pub fn owned(&self) -> AuditActor {
        AuditActor {
            id: self.id(),
            cli: matches!(self, Self::Operator),
        }
    }
}

/// An [`Actor`] as the audit log records it.
#[derive(Debug, Clone)]
pub struct AuditActor {
    /// The account; none for the operator.
    pub id: Option<crate::domain::Id>,
    cli: bool,
}

impl AuditActor {
    /// `detail` as the audit entry records it: the operator's entries say `via cli`.
    #[must_use]
    pub fn detail(&self, detail: &str) -> String {
        match (self.cli, detail.is_empty()) {
            (false, _) => detail.to_owned(),
            (true, true) => "via cli".to_owned(),
            (true, false) => format!("{detail}; via cli"),
        }
    }
}

/// Run CPU-heavy work (password hashing, inference) on the blocking pool.
pub async fn blocking<F, R>(f: F) -> Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("worker task failed: {e}")))
}
