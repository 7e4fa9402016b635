//! Subjects (the seed's classes) and their rosters (storage reads them in `storage::subjects`).

use crate::domain::Id;

#[derive(Debug, Clone)]
pub struct Subject {
    pub id: Id,
    pub name: String,
    pub code: String,
    /// Core / Lab / Elective; `None` = Core.
    pub kind: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Enrolled students, verified or not.
    pub student_count: i64,
}

/// A subject as a student sees it in their own list.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub subject: Subject,
    pub verified: bool,
}

/// One line of a subject's roster (never the embeddings).
#[derive(Debug, Clone)]
pub struct RosterEntry {
    pub student_id: Id,
    pub name: String,
    pub email: String,
    pub roll: String,
    pub branch: String,
    pub year: String,
    pub verified: bool,
    pub enrolled_at: i64,
    /// Approved face samples (matched in photos).
    pub faces: i64,
    /// Face photos the student uploaded that await staff approval.
    pub faces_pending: i64,
    /// Newest face sample, for an avatar link.
    pub latest_sample: Option<Id>,
}
