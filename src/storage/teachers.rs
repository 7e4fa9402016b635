//! A teacher's own profile edits: account fields, profile columns, preferences and schedule.

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};
use crate::domain::teachers::SubjectRef;
use crate::domain::{Email, Id};

/// The subjects the teacher teaches, by name.
pub fn subjects(conn: &Conn<'_>, teacher: &Id) -> Result<Vec<SubjectRef>> {
    conn.query_all(
        "SELECT s.id, s.name, s.code FROM subject_teachers st JOIN subjects s ON s.id = st.subject_id
         WHERE st.teacher_id = ?1 ORDER BY s.name, s.code",
        args![teacher.as_str()],
        |r| {
            Ok(SubjectRef {
                id: Id::from_db(r.get(0)?),
                name: r.get(1)?,
                code: r.get(2)?,
            })
        },
    )
}

/// The stored preferences JSON (NULL = defaults).
pub fn settings(conn: &Conn<'_>, teacher: &Id) -> Result<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT settings FROM teachers WHERE user_id = ?1",
            args![teacher.as_str()],
            |r| r.get(0),
        )?
        .flatten())
}

/// Column changes; `None` leaves a column as it is.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub employee_id: Option<String>,
    pub phone: Option<String>,
    /// `Some(None)` clears the department.
    pub department: Option<Option<String>>,
    /// The whole new preferences JSON.
    pub settings: Option<String>,
    /// The whole new schedule JSON (`"null"` for a cleared schedule).
    pub schedule: Option<String>,
}

/// Apply the changes; false when there is no such teacher. Fails with a unique violation when the
/// e-mail belongs to another account. Call inside a transaction.
pub fn apply(conn: &Conn<'_>, teacher: &Id, c: &Changes) -> Result<bool> {
    let now = now_unix();
    if c.name.is_some() || c.email.is_some() {
        conn.exec(
            "UPDATE users SET name = coalesce(?2, name), email = coalesce(?3, email), updated_at = ?4
             WHERE id = ?1",
            args![
                teacher.as_str(),
                c.name,
                c.email.as_ref().map(Email::as_str),
                now
            ],
        )?;
    }
    let n = conn.exec(
        "UPDATE teachers SET employee_id = coalesce(?2, employee_id), phone = coalesce(?3, phone),
             department = CASE WHEN ?4 THEN ?5 ELSE department END,
             settings = coalesce(?6, settings), schedule = coalesce(?7, schedule)
         WHERE user_id = ?1",
        args![
            teacher.as_str(),
            c.employee_id,
            c.phone,
            c.department.is_some(),
            c.department.clone().flatten(),
            c.settings,
            c.schedule
        ],
    )?;
    Ok(n > 0)
}

/// Point the profile at a new avatar; false when there is no such teacher.
pub fn set_avatar(conn: &Conn<'_>, teacher: &Id, url: &str) -> Result<bool> {
    Ok(conn.exec(
        "UPDATE teachers SET avatar_url = ?2 WHERE user_id = ?1",
        args![teacher.as_str(), url],
    )? > 0)
}
