//! Subjects (the seed's classes), the teachers who share them and the students enrolled in them.

use super::Conn;
use super::sql::{Row, args};

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::subjects::{Enrolled, RosterEntry, Subject};

const COLUMNS: &str = "s.id, s.name, s.code, s.kind, s.created_at, s.updated_at, \
     (SELECT COUNT(*) FROM enrolments e WHERE e.subject_id = s.id)";

fn from_row(row: &Row<'_>) -> Result<Subject> {
    Ok(Subject {
        id: Id::from_db(row.get(0)?),
        name: row.get(1)?,
        code: row.get(2)?,
        kind: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        student_count: row.get(6)?,
    })
}

pub fn by_id(conn: &Conn<'_>, id: &Id) -> Result<Option<Subject>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM subjects s WHERE s.id = ?1"),
        args![id.as_str()],
        from_row,
    )
}

pub fn by_code(conn: &Conn<'_>, code: &str) -> Result<Option<Subject>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM subjects s WHERE s.code = ?1"),
        args![code],
        from_row,
    )
}

/// Insert a subject. Fails with a unique violation if the code is taken.
pub fn insert(conn: &Conn<'_>, name: &str, code: &str, kind: Option<&str>) -> Result<Subject> {
    let id = Id::generate();
    let now = now_unix();
    conn.exec(
        "INSERT INTO subjects (id, name, code, kind, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        args![id.as_str(), name, code, kind, now],
    )?;
    Ok(Subject {
        id,
        name: name.to_owned(),
        code: code.to_owned(),
        kind: kind.map(str::to_owned),
        created_at: now,
        updated_at: now,
        student_count: 0,
    })
}

/// Change name, code and kind. Fails with a unique violation if the new code is taken.
pub fn update(
    conn: &Conn<'_>,
    id: &Id,
    name: &str,
    code: &str,
    kind: Option<&str>,
) -> Result<bool> {
    let n = conn.exec(
        "UPDATE subjects SET name = ?2, code = ?3, kind = ?4, updated_at = ?5 WHERE id = ?1",
        args![id.as_str(), name, code, kind, now_unix()],
    )?;
    Ok(n > 0)
}

/// Delete a subject with its teacher links and enrolments.
pub fn delete(conn: &Conn<'_>, id: &Id) -> Result<bool> {
    Ok(conn.exec("DELETE FROM subjects WHERE id = ?1", args![id.as_str()])? > 0)
}

/// Add a teacher to a subject (no-op if already there).
pub fn add_teacher(conn: &Conn<'_>, subject: &Id, teacher: &Id) -> Result<()> {
    conn.exec(
        "INSERT INTO subject_teachers (subject_id, teacher_id, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        args![subject.as_str(), teacher.as_str(), now_unix()],
    )?;
    Ok(())
}

/// Remove a teacher from a subject; false if they were not one of its teachers.
pub fn remove_teacher(conn: &Conn<'_>, subject: &Id, teacher: &Id) -> Result<bool> {
    Ok(conn.exec(
        "DELETE FROM subject_teachers WHERE subject_id = ?1 AND teacher_id = ?2",
        args![subject.as_str(), teacher.as_str()],
    )? > 0)
}

/// How many attendance sessions (confirmed or imported) a subject has.
pub fn session_count(conn: &Conn<'_>, subject: &Id) -> Result<i64> {
    conn.query_one(
        "SELECT COUNT(*) FROM attendance_sessions WHERE subject_id = ?1",
        args![subject.as_str()],
        |r| r.get(0),
    )
}

/// True when the student is enrolled (approved or not) in a subject `teacher` does not teach.
pub fn in_other_class(conn: &Conn<'_>, student: &Id, teacher: &Id) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM enrolments e WHERE e.student_id = ?1 AND NOT EXISTS (
                 SELECT 1 FROM subject_teachers t
                 WHERE t.subject_id = e.subject_id AND t.teacher_id = ?2) LIMIT 1",
            args![student.as_str(), teacher.as_str()],
            |_| Ok(()),
        )?
        .is_some())
}

/// Whether the enrolment exists and was approved: `None` if the student is not enrolled.
pub fn enrolment_verified(conn: &Conn<'_>, subject: &Id, student: &Id) -> Result<Option<bool>> {
    conn.query_opt(
        "SELECT verified FROM enrolments WHERE subject_id = ?1 AND student_id = ?2",
        args![subject.as_str(), student.as_str()],
        |r| r.get(0),
    )
}

pub fn is_teacher(conn: &Conn<'_>, subject: &Id, teacher: &Id) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM subject_teachers WHERE subject_id = ?1 AND teacher_id = ?2",
            args![subject.as_str(), teacher.as_str()],
            |_| Ok(()),
        )?
        .is_some())
}

/// The teachers of a subject (the seed's `professor_ids`).
pub fn teacher_ids(conn: &Conn<'_>, subject: &Id) -> Result<Vec<Id>> {
    conn.query_all(
        "SELECT teacher_id FROM subject_teachers WHERE subject_id = ?1 ORDER BY added_at, teacher_id",
        args![subject.as_str()],
        |r| Ok(Id::from_db(r.get(0)?)),
    )
}

/// Subjects a teacher teaches, by code.
pub fn of_teacher(conn: &Conn<'_>, teacher: &Id) -> Result<Vec<Subject>> {
    conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM subjects s JOIN subject_teachers t ON t.subject_id = s.id
             WHERE t.teacher_id = ?1 ORDER BY s.code"
        ),
        args![teacher.as_str()],
        from_row,
    )
}

/// Every subject, by code.
pub fn all(conn: &Conn<'_>) -> Result<Vec<Subject>> {
    conn.query_all(
        &format!("SELECT {COLUMNS} FROM subjects s ORDER BY s.code"),
        args![],
        from_row,
    )
}

/// Subjects a student is enrolled in, by code.
pub fn of_student(conn: &Conn<'_>, student: &Id) -> Result<Vec<Enrolled>> {
    enrolled_in(conn, student, None)
}

/// The subjects a student is enrolled in that `teacher` teaches, by code: what of a student a
/// teacher may see.
pub fn of_student_taught_by(conn: &Conn<'_>, student: &Id, teacher: &Id) -> Result<Vec<Enrolled>> {
    enrolled_in(conn, student, Some(teacher))
}

fn enrolled_in(conn: &Conn<'_>, student: &Id, taught_by: Option<&Id>) -> Result<Vec<Enrolled>> {
    conn.query_all(
        &format!(
            "SELECT {COLUMNS}, e.verified FROM subjects s JOIN enrolments e ON e.subject_id = s.id
             WHERE e.student_id = ?1
               AND (CAST(?2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM subject_teachers t
                                          WHERE t.subject_id = s.id AND t.teacher_id = ?2))
             ORDER BY s.code"
        ),
        args![student.as_str(), taught_by.map(Id::as_str)],
        |r| {
            Ok(Enrolled {
                subject: from_row(r)?,
                verified: r.get(7)?,
            })
        },
    )
}

/// Enrol a student; `verified` marks the teacher's approval. An existing enrolment keeps its
/// date and only ever gains approval. Returns true if a new enrolment was made.
pub fn enrol(conn: &Conn<'_>, subject: &Id, student: &Id, verified: bool) -> Result<bool> {
    // On a conflict (already enrolled) nothing is inserted and the count is 0.
    let n = conn.exec(
        "INSERT INTO enrolments (subject_id, student_id, verified, enrolled_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![subject.as_str(), student.as_str(), verified, now_unix()],
    )?;
    if n == 0 && verified {
        set_verified(conn, subject, student)?;
    }
    Ok(n > 0)
}

pub fn unenrol(conn: &Conn<'_>, subject: &Id, student: &Id) -> Result<bool> {
    Ok(conn.exec(
        "DELETE FROM enrolments WHERE subject_id = ?1 AND student_id = ?2",
        args![subject.as_str(), student.as_str()],
    )? > 0)
}

/// Approve an enrolment; false if the student is not enrolled.
pub fn set_verified(conn: &Conn<'_>, subject: &Id, student: &Id) -> Result<bool> {
    let n = conn.exec(
        "UPDATE enrolments SET verified = 1 WHERE subject_id = ?1 AND student_id = ?2",
        args![subject.as_str(), student.as_str()],
    )?;
    if n > 0 {
        conn.exec(
            "UPDATE subjects SET updated_at = ?2 WHERE id = ?1",
            args![subject.as_str(), now_unix()],
        )?;
    }
    Ok(n > 0)
}

pub fn is_enrolled(conn: &Conn<'_>, subject: &Id, student: &Id) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM enrolments WHERE subject_id = ?1 AND student_id = ?2",
            args![subject.as_str(), student.as_str()],
            |_| Ok(()),
        )?
        .is_some())
}

/// A subject's students in enrolment order.
pub fn roster(conn: &Conn<'_>, subject: &Id) -> Result<Vec<RosterEntry>> {
    conn.query_all(
        "SELECT u.id, u.name, u.email, st.roll, st.branch, st.year, e.verified, e.enrolled_at,
                (SELECT COUNT(*) FROM face_samples f WHERE f.student_id = u.id AND f.approved = 1),
                (SELECT COUNT(*) FROM face_samples f WHERE f.student_id = u.id AND f.approved = 0),
                (SELECT f.id FROM face_samples f WHERE f.student_id = u.id
                  ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1)
         FROM enrolments e JOIN users u ON u.id = e.student_id
         LEFT JOIN students st ON st.user_id = u.id
         WHERE e.subject_id = ?1 ORDER BY e.enrolled_at, lower(u.name), u.id",
        args![subject.as_str()],
        |r| {
            Ok(RosterEntry {
                student_id: Id::from_db(r.get(0)?),
                name: r.get(1)?,
                email: r.get(2)?,
                roll: r.get::<Option<String>>(3)?.unwrap_or_default(),
                branch: r.get::<Option<String>>(4)?.unwrap_or_default(),
                year: r.get::<Option<String>>(5)?.unwrap_or_default(),
                verified: r.get(6)?,
                enrolled_at: r.get(7)?,
                faces: r.get(8)?,
                faces_pending: r.get(9)?,
                latest_sample: r.get::<Option<String>>(10)?.map(Id::from_db),
            })
        },
    )
}

/// True when the teacher teaches a subject the student is enrolled in.
pub fn teaches_student(conn: &Conn<'_>, teacher: &Id, student: &Id) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM enrolments e JOIN subject_teachers t ON t.subject_id = e.subject_id
             WHERE t.teacher_id = ?1 AND e.student_id = ?2 LIMIT 1",
            args![teacher.as_str(), student.as_str()],
            |_| Ok(()),
        )?
        .is_some())
}
