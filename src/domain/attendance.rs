//! Confirmed sessions and what attendance lists and counts (storage keeps and computes them in
//! `storage::attendance`).

use crate::domain::{AttendanceStatus, Id};

/// A confirmed session of a subject: one day and period.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Id,
    pub subject_id: Id,
    pub date: String,
    pub slot: i64,
    /// A day summary brought over by the seed importer: counts only, no per-student records.
    /// (Storage keeps it under a sentinel slot of its own and says so here; nothing outside
    /// storage reads the slot for this.)
    pub imported: bool,
}

/// A student of a subject, as attendance lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Id,
    pub name: String,
    pub roll: String,
    pub verified: bool,
    /// False for a former student that a report lists for their records.
    pub enrolled: bool,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub present: i64,
    pub late: i64,
    pub excused: i64,
    pub absent: i64,
}

impl Counts {
    pub fn add(&mut self, status: AttendanceStatus) {
        match status {
            AttendanceStatus::Present => self.present += 1,
            AttendanceStatus::Late => self.late += 1,
            AttendanceStatus::Excused => self.excused += 1,
            AttendanceStatus::Absent => self.absent += 1,
        }
    }

    #[must_use]
    pub fn total(&self) -> i64 {
        self.present + self.late + self.excused + self.absent
    }
}
