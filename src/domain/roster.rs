//! A roster import's report (`service::roster` builds it; the API and the command line show it):
//! what the file was, and per line what the import did or would do and what is wrong with it.

use crate::domain::Role;

/// What an import does with one line of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new account (invited to set a password).
    Create,
    /// An existing account (matched by e-mail) whose name, profile or subjects change.
    Update,
    /// An existing account the line changes nothing of.
    Unchanged,
    /// The line has problems: nothing of the file is written.
    Error,
}

impl Action {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Error => "error",
        }
    }
}

/// One problem (or warning): where (line of the file, 1-based, the header being line 1; the
/// column by its canonical name, none for the whole line) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: Option<String>,
    pub message: String,
}

/// One data line of the file.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line of the file where the record starts.
    pub line: usize,
    /// The e-mail address as the line gives it (lower-cased when valid).
    pub email: String,
    pub name: String,
    /// `None` when the line's role is not one an import takes.
    pub role: Option<Role>,
    pub action: Action,
    /// What changes (or would): `name`, `roll`, `branch`, `year`, `employee_id`, `phone`,
    /// `roll confirmed`, `enrol CODE`, `approve CODE`, `teach CODE`.
    pub changes: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be` or `windows-1252`.
    pub encoding: &'static str,
    /// `comma`, `semicolon` or `tab`.
    pub delimiter: &'static str,
    /// The recognised columns, by canonical name, in the file's order.
    pub columns: Vec<String>,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// File-wide warnings (unknown columns).
    pub warnings: Vec<Problem>,
    pub lines: Vec<Line>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Lines with at least one problem.
    pub errors: usize,
    /// True when the import was written (never for a preview or a refused file).
    pub written: bool,
}
