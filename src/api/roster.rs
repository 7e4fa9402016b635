//! `/api/admin/roster/*`: importing the school's roster from its CSV export (administrators
//! only): a preview that writes nothing, and the import itself. docs/roster-import.md.

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Detail};
use super::extract::Admin;
use crate::domain::Role;
use crate::domain::roster::{Action, Line, Problem, Report};
use crate::service::Error;
use crate::service::roster::{self, Importer, MAX_BYTES, Outcome};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(import))
}

/// The upload (`multipart/form-data`; other parts are ignored).
#[derive(Debug, ToSchema)]
pub struct RosterUpload {
    /// The CSV file, at most 2 MiB and 5000 lines of accounts: a header line naming the
    /// columns (`name`, `email` required; `role`, `roll`, `subjects`, `employee_id`, `phone`,
    /// `year`, `branch`), delimiter `,` `;` or tab, UTF-8 (with or without BOM), UTF-16 with
    /// BOM, or Windows-1252.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// What the import does (or would do) with a line.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RosterAction {
    Create,
    Update,
    Unchanged,
    Error,
}

/// A problem or warning: the line of the file (the header is line 1), the column by its
/// canonical name (none: the whole line), and what is wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterProblem {
    pub line: usize,
    pub column: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RosterLine {
    /// Line of the file where the record starts.
    pub line: usize,
    pub email: String,
    pub name: String,
    /// None when the line's role is not one an import takes.
    pub role: Option<Role>,
    pub action: RosterAction,
    /// What changes: `name`, `roll`, `branch`, `year`, `employee_id`, `phone`,
    /// `roll confirmed`, `enrol CODE`, `approve CODE`, `teach CODE`.
    pub changes: Vec<String>,
    /// Empty unless `action` is `error`.
    pub problems: Vec<RosterProblem>,
    pub warnings: Vec<RosterProblem>,
}

/// The report of a preview or an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterReport {
    /// `utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be` or `windows-1252`.
    pub encoding: String,
    /// `comma`, `semicolon` or `tab`.
    pub delimiter: String,
    /// The recognised columns (canonical names) in the file's order.
    pub columns: Vec<String>,
    /// Hex SHA-256 of the file (recorded in the audit entry).
    pub sha256: String,
    /// Lines of accounts in the file.
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Lines with problems; any makes the import refuse the whole file.
    pub errors: usize,
    /// True only for an import that was written.
    pub written: bool,
    /// File-wide warnings (unknown columns, ignored).
    pub warnings: Vec<RosterProblem>,
    pub lines: Vec<RosterLine>,
}

/// An import refused: nothing was written. `report` is there when lines have problems (not
/// when the file cannot be read as a roster at all).
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterRefused {
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RosterReport>,
}

fn problem(p: Problem) -> RosterProblem {
    RosterProblem {
        line: p.line,
        column: p.column,
        message: p.message,
    }
}

fn line(l: Line) -> RosterLine {
    RosterLine {
        line: l.line,
        email: l.email,
        name: l.name,
        role: l.role,
        action: match l.action {
            Action::Create => RosterAction::Create,
            Action::Update => RosterAction::Update,
            Action::Unchanged => RosterAction::Unchanged,
            Action::Error => RosterAction::Error,
        },
        changes: l.changes,
        problems: l.problems.into_iter().map(problem).collect(),
        warnings: l.warnings.into_iter().map(problem).collect(),
    }
}

impl From<Report> for RosterReport {
    fn from(r: Report) -> Self {
        Self {
            encoding: r.encoding.to_owned(),
            delimiter: r.delimiter.to_owned(),
            columns: r.columns,
            sha256: r.sha256,
            rows: r.lines.len(),
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            errors: r.errors,
            written: r.written,
            warnings: r.warnings.into_iter().map(problem).collect(),
            lines: r.lines.into_iter().map(line).collect(),
        }
    }
}

/// The `file` part of the upload, read up to [`MAX_BYTES`].
async fn read_file(multipart: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, Error> {
    let mut multipart = multipart.map_err(|e| {
        Error::UnsupportedMedia(format!(
            "Expected a multipart/form-data upload with the CSV file in the part `file`: {}",
            e.body_text()
        ))
    })?;
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge("Request body too large".into())
        } else {
            Error::BadRequest(format!("Malformed upload: {}", e.body_text()))
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(Error::TooLarge(format!(
                    "The file is larger than {} MiB; split it",
                    MAX_BYTES / (1024 * 1024)
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(Error::Invalid("file is required".into()))
}

/// Check a roster file against the school and report per line what an import would do
/// (`create`, `update`, `unchanged`) and every problem, with its line and column. Writes
/// nothing. Upload: `multipart/form-data`, the CSV in the part `file`. A file that cannot be a
/// roster (empty, no `name` or `email` column, a quote never closed) is a 422, a binary or
/// spreadsheet file a 415, more than 2 MiB or 5000 lines a 413.
#[utoipa::path(post, path = "/preview", tag = "admin",
    request_body(content_type = "multipart/form-data", content = RosterUpload),
    responses((status = 200, body = RosterReport), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
              (status = 422, body = Detail)),
    security(("bearer" = [])))]
async fn preview(
    State(state): State<AppState>,
    Admin(admin): Admin,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<RosterReport>> {
    let by = Importer::admin(&admin)?;
    let file = read_file(multipart).await?;
    Ok(Json(roster::preview(&state.db, &by, file).await?.into()))
}

/// Import a roster file (the same upload as the preview): checked again, and written in one
/// transaction only if no line has a problem — else 422 with the per-line report and nothing
/// written. Creates accounts (no password: they are invited to set one), updates names and
/// profiles of accounts matched by e-mail, enrols students (approved) and adds teachers to the
/// subjects named; never removes an account or an enrolment and never changes a role.
/// Importing the same file again changes nothing (every line `unchanged`).
#[utoipa::path(post, path = "/import", tag = "admin",
    request_body(content_type = "multipart/form-data", content = RosterUpload),
    responses((status = 200, body = RosterReport), (status = 400, body = Detail), (status = 401, body = Detail),
              (status = 403, body = Detail), (status = 409, body = Detail), (status = 413, body = Detail),
              (status = 415, body = Detail),
              (status = 422, body = RosterRefused, description = "Nothing written: lines with problems (`report`), or a file that is not a roster"),
              (status = 503, body = Detail)),
    security(("bearer" = [])))]
async fn import(
    State(state): State<AppState>,
    Admin(admin): Admin,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let by = Importer::admin(&admin)?;
    let file = read_file(multipart).await?;
    let outcome = roster::import(
        &state.db,
        &by,
        file,
        state.clock.now(),
        state.auth.inviter(),
        |_, _| {},
    )
    .await?;
    Ok(match outcome {
        Outcome::Imported(report) => {
            if report.created > 0 {
                // The invitations queued in the transaction go out now.
                state.mail_wake.notify_one();
            }
            Json(RosterReport::from(report)).into_response()
        }
        Outcome::Refused(report) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(RosterRefused {
                detail: format!(
                    "{} line(s) of the file have problems; nothing was imported",
                    report.errors
                ),
                report: Some(report.into()),
            }),
        )
            .into_response(),
    })
}
