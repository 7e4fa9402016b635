//! A student's figures: per subject (counts and percentage), their newest records, and their
//! profile as the caller may see it. Counts are always computed from the records.

use crate::domain::attendance::Counts;
use crate::domain::students::StudentRecord;
use crate::domain::subjects::Enrolled;
use crate::domain::{AttendanceStatus, Id, Role};
use crate::service::auth::AuthUser;
use crate::service::{Error, Result};
use crate::storage::Db;
use crate::storage::attendance as store;

/// Percentage attended: (present + late) over (total − excused), two decimals; 0 with nothing.
#[must_use]
pub fn percentage(c: &Counts) -> f64 {
    let denominator = c.total() - c.excused;
    if denominator <= 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let p = (c.present + c.late) as f64 * 100.0 / denominator as f64;
    (p * 100.0).round() / 100.0
}

/// One subject's figures for a student.
#[derive(Debug, Clone)]
pub struct SubjectFigures {
    pub subject_id: Id,
    pub name: String,
    pub code: String,
    pub counts: Counts,
    pub percentage: f64,
}

/// A student's own attendance, per subject they are enrolled in.
pub async fn of_student(db: &Db, student: Id) -> Result<Vec<SubjectFigures>> {
    let rows = db
        .run(move |conn| Ok::<_, Error>(store::of_student(conn, &student)?))
        .await?;
    Ok(rows.into_iter().map(SubjectFigures::from).collect())
}

impl From<(Id, String, String, Counts)> for SubjectFigures {
    fn from((subject_id, name, code, counts): (Id, String, String, Counts)) -> Self {
        Self {
            percentage: percentage(&counts),
            subject_id,
            name,
            code,
            counts,
        }
    }
}

/// One of a student's newest records.
#[derive(Debug, Clone)]
pub struct RecentRecord {
    pub session_id: Id,
    pub subject_id: Id,
    pub date: String,
    pub slot: i64,
    pub status: AttendanceStatus,
}

impl From<store::RecentRow> for RecentRecord {
    fn from((session_id, subject_id, date, slot, status): store::RecentRow) -> Self {
        Self {
            session_id,
            subject_id,
            date,
            slot,
            status,
        }
    }
}

/// A student's profile as `user` may see it: the student themselves and administrators see every
/// subject; a teacher only the subjects they teach the student (their figures and records).
pub struct ScopedProfile {
    pub student: StudentRecord,
    pub subjects: Vec<Enrolled>,
    pub figures: Vec<SubjectFigures>,
    pub recent: Vec<RecentRecord>,
}

pub async fn profile(
    db: &Db,
    user: &AuthUser,
    student: Id,
    recent_limit: u32,
) -> Result<ScopedProfile> {
    let user = user.clone();
    db.run(move |conn| {
        let record = crate::service::students::visible(conn, &user, &student)?;
        let (subjects, scope) = if user.role == Role::Teacher {
            let own = crate::storage::subjects::of_student_taught_by(conn, &student, &user.id)?;
            let ids: Vec<Id> = own.iter().map(|e| e.subject.id.clone()).collect();
            (own, Some(ids))
        } else {
            (crate::storage::subjects::of_student(conn, &student)?, None)
        };
        let figures = store::of_student(conn, &student)?
            .into_iter()
            .filter(|(id, ..)| scope.as_ref().is_none_or(|s| s.contains(id)))
            .map(SubjectFigures::from)
            .collect();
        let recent = store::recent_in(conn, &student, scope.as_deref(), recent_limit)?
            .into_iter()
            .map(RecentRecord::from)
            .collect();
        Ok(ScopedProfile {
            student: record,
            subjects,
            figures,
            recent,
        })
    })
    .await
}

/// The caller's own figures (students only).
pub async fn mine(db: &Db, user: &AuthUser) -> Result<Vec<SubjectFigures>> {
    if user.role != Role::Student {
        return Err(Error::Forbidden("Student access required".into()));
    }
    of_student(db, user.id.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_excludes_excused() {
        let c = Counts {
            present: 1,
            late: 1,
            excused: 1,
            absent: 1,
        };
        assert!((percentage(&c) - 66.67).abs() < 1e-9);
        assert!(percentage(&Counts::default()).abs() < f64::EPSILON);
    }
}
