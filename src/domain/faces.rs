//! Face samples as the services and the API see them (storage keeps them in `storage::faces`;
//! the image itself lives in the content-addressed store on disk).

use crate::domain::Id;

/// One enrolment photo's face (never its embedding).
#[derive(Debug, Clone)]
pub struct Sample {
    pub id: Id,
    pub student_id: Id,
    pub image_sha256: String,
    pub content_type: String,
    /// `[left, top, right, bottom]` in the upright photo.
    pub bbox: [i64; 4],
    pub score: f64,
    pub added_by: Option<Id>,
    pub created_at: i64,
    /// False while a photo the student uploaded of themselves awaits staff approval; only
    /// approved samples are matched.
    pub approved: bool,
    pub source: Source,
}

/// Where a face sample came from (shown to the teacher next to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An enrolment photo uploaded through the API.
    Upload,
    /// A face the teacher assigned in an attendance draft and asked to enrol.
    Teacher,
    /// A face of a confirmed draft the teacher vouched for, added by the server.
    Learned,
    /// A photo enrolled from a folder (`rollcall enroll`, `import-seed --faces`).
    Import,
}

impl Source {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Teacher => "teacher",
            Self::Learned => "learned",
            Self::Import => "import",
        }
    }
}
