//! Confirmed sessions: a subject's list, one session with every student's record, and a
//! correction of one student's status.

use std::collections::HashMap;

use super::dates::date_range;
use super::{Confirmed, parse_status};
use crate::domain::attendance::{Counts, Member, Session};
use crate::domain::{AttendanceStatus, Id};
use crate::service::auth::AuthUser;
use crate::service::notify;
use crate::service::subjects::managed;
use crate::service::{Error, Result};
use crate::storage::attendance as store;
use crate::storage::{Db, audit};

/// A confirmed session with its subject's counts.
pub struct SessionSummary {
    pub session: Session,
    pub counts: Counts,
}

/// A subject's confirmed sessions between `from` and `to` (inclusive, optional), newest first
/// (teachers of the subject, administrators).
pub async fn sessions_of(
    db: &Db,
    user: &AuthUser,
    subject: Id,
    from: Option<String>,
    to: Option<String>,
) -> Result<Vec<SessionSummary>> {
    let (from, to) = date_range(from, to)?;
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        Ok(
            store::sessions_with_counts(conn, &subject, from.as_deref(), to.as_deref())?
                .into_iter()
                .map(|(session, counts)| SessionSummary { session, counts })
                .collect(),
        )
    })
    .await
}

/// One student's line in a session: their record, or none when they were enrolled after it.
pub struct SessionLine {
    pub student: Member,
    pub status: Option<AttendanceStatus>,
    /// `photo`, `manual` or `correction`.
    pub source: Option<String>,
}

/// A confirmed session as its teacher reviews it: every enrolled student with their record.
pub struct SessionView {
    pub session: Session,
    pub subject_name: String,
    pub subject_code: String,
    pub lines: Vec<SessionLine>,
    pub counts: Counts,
}

/// A confirmed session with every enrolled student's record (teachers of the subject,
/// administrators).
pub async fn session_view(db: &Db, user: &AuthUser, session: Id) -> Result<SessionView> {
    let user = user.clone();
    db.run(move |conn| {
        let s = store::session(conn, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(conn, &user, &s.subject_id)?;
        let mut records: HashMap<Id, (AttendanceStatus, String)> =
            store::records_with_source(conn, &s.id)?
                .into_iter()
                .map(|(id, status, source)| (id, (status, source)))
                .collect();
        let counts = store::kept_counts(conn, &s.id)?;
        let mut lines = Vec::new();
        for student in store::report_members(conn, &s.subject_id)? {
            let record = records.remove(&student.id);
            // A student no longer enrolled is listed where they have a record, so that the
            // lines add up to the session's counts.
            if record.is_none() && !student.enrolled {
                continue;
            }
            lines.push(SessionLine {
                student,
                status: record.as_ref().map(|r| r.0),
                source: record.map(|r| r.1),
            });
        }
        Ok(SessionView {
            session: s,
            subject_name: subject.name,
            subject_code: subject.code,
            lines,
            counts,
        })
    })
    .await
}

/// Change one student's status in a confirmed session (teachers of the subject, administrators):
/// recorded with source `correction` and audited with the old and new status.
pub async fn correct(
    db: &Db,
    user: &AuthUser,
    session: Id,
    student: Id,
    status: &str,
) -> Result<Confirmed> {
    let status = parse_status(status)?;
    let user = user.clone();
    db.transaction(move |tx| {
        let s = store::session(tx, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(tx, &user, &s.subject_id)?;
        if s.imported {
            return Err(Error::Invalid(
                "This is a day summary imported from the old system; it has no per-student records to correct".into(),
            ));
        }
        if !crate::storage::subjects::is_enrolled(tx, &s.subject_id, &student)? {
            return Err(Error::Invalid(format!(
                "Not enrolled in this subject: {}",
                student.as_str()
            )));
        }
        let before = store::correct(tx, &session, &student, status)?;
        audit::record(
            tx,
            Some(&user.id),
            "attendance.correct",
            Some(session.as_str()),
            &format!(
                "student={} from={} to={status}",
                student.as_str(),
                before.map_or("none", AttendanceStatus::as_str)
            ),
        )?;
        let counts = store::session_counts(tx, &session)?;
        let notices = usize::from(notify::absence(
            tx,
            &notify::SessionInfo {
                session: &session,
                subject_name: &subject.name,
                subject_code: &subject.code,
                date: &s.date,
                slot: s.slot,
            },
            &student,
            Some(status),
        )?);
        Ok(Confirmed {
            session_id: Some(s.id),
            date: s.date,
            slot: s.slot,
            counts,
            replaced: usize::from(before.is_some()),
            notices,
            learned: 0,
        })
    })
    .await
}
