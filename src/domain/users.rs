//! Accounts as every layer sees them (storage reads and writes them in `storage::users`).

use crate::domain::{Email, Id, Role};

/// An account: who signs in, with which role.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Id,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub college_name: String,
    pub is_verified: bool,
    pub created_at: i64,
}

/// The role profile's details (teacher or student) given when an account is created.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub employee_id: String,
    pub phone: String,
    pub branch: String,
    pub roll: String,
    pub year: String,
}

/// A teacher's profile joined with the account; preferences and schedule are the stored JSON
/// text (`None`: nothing stored).
#[derive(Debug, Clone)]
pub struct TeacherProfile {
    pub user: User,
    pub employee_id: String,
    pub phone: String,
    pub branch: String,
    pub department: Option<String>,
    pub avatar_url: Option<String>,
    pub settings: Option<String>,
    pub schedule: Option<String>,
}
