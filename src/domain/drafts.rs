//! Attendance drafts and their photos as the teacher reviews them (storage keeps them, with
//! each face's embedding, in `storage::drafts`; the image itself lives in the content-addressed
//! store on disk).

use crate::domain::Id;

/// The saved photos of one session (subject, day, slot), kept until the teacher confirms or
/// discards them.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: Id,
    pub subject_id: Id,
    pub date: String,
    pub slot: i64,
    pub created_by: Option<Id>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One photo of a draft, numbered from 1.
#[derive(Debug, Clone)]
pub struct Photo {
    pub photo: i64,
    pub image_sha256: String,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
}
