//! What a teacher's own profile page lists besides the account (storage reads it and applies
//! the teacher's edits in `storage::teachers`; the profile row itself is
//! [`crate::domain::users::TeacherProfile`]).

use crate::domain::Id;

/// A subject as the seed lists it on a teacher's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRef {
    pub id: Id,
    pub name: String,
    pub code: String,
}
