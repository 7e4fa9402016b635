//! Student accounts as staff see them (storage reads them in `storage::students`).

use crate::domain::Id;

/// A student: the account, the student profile and biometric consent, with face counts.
#[derive(Debug, Clone)]
pub struct StudentRecord {
    pub id: Id,
    pub name: String,
    pub email: String,
    pub roll: String,
    pub branch: String,
    pub year: String,
    pub consent_at: Option<i64>,
    pub consent_by: Option<Id>,
    pub created_at: i64,
    /// Approved face samples (matched in photos).
    pub faces: i64,
    /// Face photos the student uploaded that await staff approval.
    pub faces_pending: i64,
    /// Newest face sample.
    pub latest_sample: Option<Id>,
    /// False while the roll number is only what the student typed at self-registration.
    pub roll_confirmed: bool,
    /// The staff member who created the account.
    pub created_by: Option<Id>,
}
