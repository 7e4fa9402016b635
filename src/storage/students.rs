//! Student accounts as staff see them: the user row, the student profile, biometric consent.

use super::Conn;
use super::sql::{Row, args};

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::students::StudentRecord;

const COLUMNS: &str = "u.id, u.name, u.email, st.roll, st.branch, st.year, st.consent_at, st.consent_by, u.created_at,
     (SELECT COUNT(*) FROM face_samples f WHERE f.student_id = u.id AND f.approved = 1),
     (SELECT COUNT(*) FROM face_samples f WHERE f.student_id = u.id AND f.approved = 0),
     (SELECT f.id FROM face_samples f WHERE f.student_id = u.id ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1),
     st.roll_confirmed, st.created_by";

const FROM: &str = "users u JOIN students st ON st.user_id = u.id";

fn from_row(r: &Row<'_>) -> Result<StudentRecord> {
    Ok(StudentRecord {
        id: Id::from_db(r.get(0)?),
        name: r.get(1)?,
        email: r.get(2)?,
        roll: r.get(3)?,
        branch: r.get(4)?,
        year: r.get(5)?,
        consent_at: r.get(6)?,
        consent_by: r.get::<Option<String>>(7)?.map(Id::from_db),
        created_at: r.get(8)?,
        faces: r.get(9)?,
        faces_pending: r.get(10)?,
        latest_sample: r.get::<Option<String>>(11)?.map(Id::from_db),
        roll_confirmed: r.get(12)?,
        created_by: r.get::<Option<String>>(13)?.map(Id::from_db),
    })
}

/// A student by user id (None for unknown ids and non-students).
pub fn get(conn: &Conn<'_>, id: &Id) -> Result<Option<StudentRecord>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM {FROM} WHERE u.id = ?1 AND u.role = 'student'"),
        args![id.as_str()],
        from_row,
    )
}

/// Students by roll number (exact, case-insensitive), among rolls staff gave: a roll a student
/// typed at self-registration never matches.
pub fn by_roll(conn: &Conn<'_>, roll: &str) -> Result<Vec<Id>> {
    conn.query_all(
        "SELECT u.id FROM users u JOIN students st ON st.user_id = u.id
         WHERE u.role = 'student' AND st.roll <> '' AND st.roll_confirmed = 1
           AND lower(st.roll) = lower(?1)",
        args![roll],
        |r| Ok(Id::from_db(r.get(0)?)),
    )
}

/// One page of students, by name, optionally only those of a teacher's subjects and matching
/// `q` in name or roll; with the total count of matches.
pub fn list(
    conn: &Conn<'_>,
    teacher: Option<&Id>,
    q: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<StudentRecord>, i64)> {
    let pattern = q.map(super::sql::contains_pattern);
    let filter = "u.role = 'student'
        AND (CAST(?1 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM enrolments e JOIN subject_teachers t ON t.subject_id = e.subject_id
                                   WHERE e.student_id = u.id AND t.teacher_id = ?1))
        AND (CAST(?2 AS TEXT) IS NULL OR lower(u.name) LIKE lower(?2) ESCAPE '\\'
                        OR lower(st.roll) LIKE lower(?2) ESCAPE '\\')";
    let teacher = teacher.map(Id::as_str);
    let total = conn.query_one(
        &format!("SELECT COUNT(*) FROM {FROM} WHERE {filter}"),
        args![teacher, pattern],
        |r| r.get(0),
    )?;
    let rows = conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {filter} ORDER BY lower(u.name), u.id LIMIT ?3 OFFSET ?4"
        ),
        args![teacher, pattern, limit, offset],
        from_row,
    )?;
    Ok((rows, total))
}

/// Change the given profile fields (a roll set here comes from staff: it is confirmed).
pub fn update(
    conn: &Conn<'_>,
    id: &Id,
    name: Option<&str>,
    roll: Option<&str>,
    branch: Option<&str>,
    year: Option<&str>,
) -> Result<()> {
    let now = now_unix();
    if let Some(name) = name {
        conn.exec(
            "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.as_str(), name, now],
        )?;
    }
    conn.exec(
        "UPDATE students SET roll = COALESCE(?2, roll), branch = COALESCE(?3, branch),
                             year = COALESCE(?4, year),
                             roll_confirmed = CASE WHEN CAST(?2 AS TEXT) IS NULL THEN roll_confirmed ELSE 1 END
         WHERE user_id = ?1",
        args![id.as_str(), roll, branch, year],
    )?;
    Ok(())
}

/// Record consent; `by` is who recorded it (None: an operator on the command line).
pub fn set_consent(conn: &Conn<'_>, id: &Id, by: Option<&Id>) -> Result<()> {
    conn.exec(
        "UPDATE students SET consent_at = ?2, consent_by = ?3 WHERE user_id = ?1",
        args![id.as_str(), now_unix(), by.map(Id::as_str)],
    )?;
    Ok(())
}

pub fn clear_consent(conn: &Conn<'_>, id: &Id) -> Result<()> {
    conn.exec(
        "UPDATE students SET consent_at = NULL, consent_by = NULL WHERE user_id = ?1",
        args![id.as_str()],
    )?;
    Ok(())
}

/// Delete the account; enrolments, face samples and sessions go with it (ON DELETE CASCADE).
pub fn delete(conn: &Conn<'_>, id: &Id) -> Result<bool> {
    Ok(conn.exec(
        "DELETE FROM users WHERE id = ?1 AND role = 'student'",
        args![id.as_str()],
    )? > 0)
}
