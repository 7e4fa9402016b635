//! What attendance lists and counts (storage computes them in `storage::attendance`).

use crate::domain::{AttendanceStatus, Id};

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
