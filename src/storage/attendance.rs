//! Attendance sessions (subject, day, slot) and one record per student per session.
//! Every count is computed from the records.

use super::Conn;
use super::sql::{Row, args};

use super::seed_import::IMPORTED_SLOT;
use super::{Result, now_unix};
use crate::domain::attendance::{Counts, Member, Session};
use crate::domain::{AttendanceStatus, Id};

/// A student who may be matched in a subject's photos, with one face embedding (a student
/// appears once per sample).
#[derive(Debug, Clone)]
pub struct GalleryRow {
    pub student_id: Id,
    pub embedding: Vec<u8>,
}

/// Approved face samples of the subject's students with a verified enrolment (and, when
/// `require_consent`, recorded consent).
pub fn gallery(conn: &Conn<'_>, subject: &Id, require_consent: bool) -> Result<Vec<GalleryRow>> {
    conn.query_all(
        "SELECT f.student_id, f.embedding FROM enrolments e
         JOIN face_samples f ON f.student_id = e.student_id
         JOIN students st ON st.user_id = e.student_id
         WHERE e.subject_id = ?1 AND e.verified = 1 AND f.approved = 1
           AND (?2 = 0 OR st.consent_at IS NOT NULL)
         ORDER BY f.student_id, f.created_at",
        args![subject.as_str(), require_consent],
        |r| {
            Ok(GalleryRow {
                student_id: Id::from_db(r.get(0)?),
                embedding: r.get(1)?,
            })
        },
    )
}

/// A [`Member`] from (id, name, roll, verified, enrolled).
fn member(r: &Row<'_>) -> Result<Member> {
    Ok(Member {
        id: Id::from_db(r.get(0)?),
        name: r.get(1)?,
        roll: r.get(2)?,
        verified: r.get(3)?,
        enrolled: r.get(4)?,
    })
}

/// The subject's enrolled students by name.
pub fn members(conn: &Conn<'_>, subject: &Id) -> Result<Vec<Member>> {
    conn.query_all(
        "SELECT u.id, u.name, COALESCE(st.roll, ''), e.verified, 1 FROM enrolments e
         JOIN users u ON u.id = e.student_id LEFT JOIN students st ON st.user_id = u.id
         WHERE e.subject_id = ?1 ORDER BY lower(u.name), u.id",
        args![subject.as_str()],
        member,
    )
}

/// Everyone a subject's reports list: its enrolled students and the students who have records
/// in its sessions but are no longer enrolled (removed, or left before the rule that only staff
/// remove them); the latter with `verified` and `enrolled` false. By name.
pub fn report_members(conn: &Conn<'_>, subject: &Id) -> Result<Vec<Member>> {
    conn.query_all(
        "SELECT * FROM (
             SELECT u.id, u.name, COALESCE(st.roll, '') AS roll, e.verified, 1 AS enrolled
             FROM enrolments e
             JOIN users u ON u.id = e.student_id LEFT JOIN students st ON st.user_id = u.id
             WHERE e.subject_id = ?1
             UNION
             SELECT u.id, u.name, COALESCE(st.roll, ''), 0, 0 FROM attendance_sessions a
             JOIN attendance_records r ON r.session_id = a.id
             JOIN users u ON u.id = r.student_id LEFT JOIN students st ON st.user_id = u.id
             WHERE a.subject_id = ?1 AND NOT EXISTS (
                 SELECT 1 FROM enrolments e WHERE e.subject_id = ?1 AND e.student_id = r.student_id)
         ) m ORDER BY lower(m.name), m.id",
        args![subject.as_str()],
        member,
    )
}

/// The session's id, creating it if needed, stamped as confirmed by `by` now.
pub fn upsert_session(
    conn: &Conn<'_>,
    subject: &Id,
    date: &str,
    slot: i64,
    by: &Id,
) -> Result<(Id, bool)> {
    let now = now_unix();
    let existing: Option<String> = conn.query_opt(
        "SELECT id FROM attendance_sessions WHERE subject_id = ?1 AND date = ?2 AND slot = ?3",
        args![subject.as_str(), date, slot],
        |r| r.get(0),
    )?;
    if let Some(id) = existing {
        conn.exec(
            "UPDATE attendance_sessions SET confirmed_by = ?2, confirmed_at = ?3 WHERE id = ?1",
            args![id, by.as_str(), now],
        )?;
        return Ok((Id::from_db(id), false));
    }
    let id = Id::generate();
    conn.exec(
        "INSERT INTO attendance_sessions (id, subject_id, date, slot, confirmed_by, confirmed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        args![id.as_str(), subject.as_str(), date, slot, by.as_str(), now],
    )?;
    Ok((id, true))
}

/// One decision to store.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub student_id: &'a Id,
    pub status: AttendanceStatus,
    pub source: &'a str,
    pub distance: Option<f64>,
}

/// Replace the session's records; returns how many were there before.
pub fn replace_records(conn: &Conn<'_>, session: &Id, records: &[NewRecord<'_>]) -> Result<usize> {
    let before = conn.exec(
        "DELETE FROM attendance_records WHERE session_id = ?1",
        args![session.as_str()],
    )?;
    for r in records {
        conn.exec(
            "INSERT INTO attendance_records (session_id, student_id, status, source, distance)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![
                session.as_str(),
                r.student_id.as_str(),
                r.status.as_str(),
                r.source,
                r.distance
            ],
        )?;
    }
    Ok(before)
}

/// A stored status; the schema allows only the four words, anything else reads as absent (the
/// count that never flatters).
fn parse_status(raw: &str) -> AttendanceStatus {
    AttendanceStatus::parse(raw).unwrap_or(AttendanceStatus::Absent)
}

fn status_at(r: &Row<'_>, i: usize) -> Result<AttendanceStatus> {
    Ok(parse_status(&r.get::<String>(i)?))
}

pub fn session_counts(conn: &Conn<'_>, session: &Id) -> Result<Counts> {
    let mut counts = Counts::default();
    for status in conn.query_all(
        "SELECT status FROM attendance_records WHERE session_id = ?1",
        args![session.as_str()],
        |r| status_at(r, 0),
    )? {
        counts.add(status);
    }
    Ok(counts)
}

/// A session's counts as analytics keep them (`attendance_counts`): its records' for a session
/// confirmed here, the seed's day summary for an imported one.
pub fn kept_counts(conn: &Conn<'_>, session: &Id) -> Result<Counts> {
    Ok(conn
        .query_opt(
            "SELECT present, late, excused, absent FROM attendance_counts WHERE session_id = ?1",
            args![session.as_str()],
            |r| {
                Ok(Counts {
                    present: r.get(0)?,
                    late: r.get(1)?,
                    excused: r.get(2)?,
                    absent: r.get(3)?,
                })
            },
        )?
        .unwrap_or_default())
}

/// A student's counts per subject they are enrolled in (subject id, name, code, counts).
pub fn of_student(conn: &Conn<'_>, student: &Id) -> Result<Vec<(Id, String, String, Counts)>> {
    let rows = conn.query_all(
        "SELECT s.id, s.name, s.code, r.status FROM enrolments e
         JOIN subjects s ON s.id = e.subject_id
         LEFT JOIN attendance_sessions a ON a.subject_id = s.id
         LEFT JOIN attendance_records r ON r.session_id = a.id AND r.student_id = e.student_id
         WHERE e.student_id = ?1 ORDER BY s.code, s.id",
        args![student.as_str()],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<Option<String>>(3)?.map(|s| parse_status(&s)),
            ))
        },
    )?;
    let mut out: Vec<(Id, String, String, Counts)> = Vec::new();
    for (id, name, code, status) in rows {
        if out.last().is_none_or(|l| l.0.as_str() != id) {
            out.push((Id::from_db(id), name, code, Counts::default()));
        }
        if let (Some(status), Some(last)) = (status, out.last_mut()) {
            last.3.add(status);
        }
    }
    Ok(out)
}

/// A [`Session`] from the first four columns `id, subject_id, date, slot`; an imported day
/// summary is the one stored in slot [`IMPORTED_SLOT`].
fn session_row(r: &Row<'_>) -> Result<Session> {
    let slot: i64 = r.get(3)?;
    Ok(Session {
        id: Id::from_db(r.get(0)?),
        subject_id: Id::from_db(r.get(1)?),
        date: r.get(2)?,
        slot,
        imported: slot == IMPORTED_SLOT,
    })
}

pub fn session(conn: &Conn<'_>, id: &Id) -> Result<Option<Session>> {
    conn.query_opt(
        "SELECT id, subject_id, date, slot FROM attendance_sessions WHERE id = ?1",
        args![id.as_str()],
        session_row,
    )
}

/// The subject's sessions within `[from, to]` (inclusive dates; None = open), oldest first.
pub fn sessions(
    conn: &Conn<'_>,
    subject: &Id,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<Session>> {
    conn.query_all(
        "SELECT id, subject_id, date, slot FROM attendance_sessions
         WHERE subject_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR date >= ?2) AND (CAST(?3 AS TEXT) IS NULL OR date <= ?3)
         ORDER BY date, slot",
        args![subject.as_str(), from, to],
        session_row,
    )
}

/// The subject's sessions within `[from, to]` (inclusive dates; None = open), newest first, each
/// with its counts as analytics keep them (see [`kept_counts`]).
pub fn sessions_with_counts(
    conn: &Conn<'_>,
    subject: &Id,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<(Session, Counts)>> {
    conn.query_all(
        "SELECT a.id, a.subject_id, a.date, a.slot, COALESCE(c.present, 0), COALESCE(c.late, 0),
                COALESCE(c.excused, 0), COALESCE(c.absent, 0)
         FROM attendance_sessions a LEFT JOIN attendance_counts c ON c.session_id = a.id
         WHERE a.subject_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR a.date >= ?2) AND (CAST(?3 AS TEXT) IS NULL OR a.date <= ?3)
         ORDER BY a.date DESC, a.slot DESC",
        args![subject.as_str(), from, to],
        |r| {
            Ok((
                session_row(r)?,
                Counts {
                    present: r.get(4)?,
                    late: r.get(5)?,
                    excused: r.get(6)?,
                    absent: r.get(7)?,
                },
            ))
        },
    )
}

/// Every record of the session: (student, status).
pub fn records(conn: &Conn<'_>, session: &Id) -> Result<Vec<(Id, AttendanceStatus)>> {
    conn.query_all(
        "SELECT student_id, status FROM attendance_records WHERE session_id = ?1",
        args![session.as_str()],
        |r| Ok((Id::from_db(r.get(0)?), status_at(r, 1)?)),
    )
}

/// (session id, subject id, date, slot, status).
pub type RecentRow = (Id, Id, String, i64, AttendanceStatus);

/// A student's newest `limit` records, newest first, only in `subjects` when given.
pub fn recent_in(
    conn: &Conn<'_>,
    student: &Id,
    subjects: Option<&[Id]>,
    limit: u32,
) -> Result<Vec<RecentRow>> {
    let only = subjects.map(|s| {
        serde_json::to_string(&s.iter().map(Id::as_str).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".to_owned())
    });
    conn.query_all(
        &format!(
            "SELECT a.id, a.subject_id, a.date, a.slot, r.status FROM attendance_records r
             JOIN attendance_sessions a ON a.id = r.session_id
             WHERE r.student_id = ?1
               AND (CAST(?3 AS TEXT) IS NULL OR a.subject_id IN ({}))
             ORDER BY a.date DESC, a.slot DESC, a.id LIMIT ?2",
            conn.text_list(3)
        ),
        args![student.as_str(), limit, only],
        |r| {
            Ok((
                Id::from_db(r.get(0)?),
                Id::from_db(r.get(1)?),
                r.get(2)?,
                r.get(3)?,
                status_at(r, 4)?,
            ))
        },
    )
}

/// Every record of the session with its source: (student, status, source).
pub fn records_with_source(
    conn: &Conn<'_>,
    session: &Id,
) -> Result<Vec<(Id, AttendanceStatus, String)>> {
    conn.query_all(
        "SELECT student_id, status, source FROM attendance_records WHERE session_id = ?1",
        args![session.as_str()],
        |r| Ok((Id::from_db(r.get(0)?), status_at(r, 1)?, r.get(2)?)),
    )
}

/// Set one student's status in a session (source `correction`); returns the previous status.
pub fn correct(
    conn: &Conn<'_>,
    session: &Id,
    student: &Id,
    status: AttendanceStatus,
) -> Result<Option<AttendanceStatus>> {
    let before = conn.query_opt(
        "SELECT status FROM attendance_records WHERE session_id = ?1 AND student_id = ?2",
        args![session.as_str(), student.as_str()],
        |r| status_at(r, 0),
    )?;
    conn.exec(
        "INSERT INTO attendance_records (session_id, student_id, status, source, distance)
         VALUES (?1, ?2, ?3, 'correction', NULL)
         ON CONFLICT (session_id, student_id) DO UPDATE SET status = excluded.status,
             source = 'correction'",
        args![session.as_str(), student.as_str(), status.as_str()],
    )?;
    Ok(before)
}
