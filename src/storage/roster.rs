//! What a roster import reads of the school in one go (every account with its profile, every
//! enrolment and teaching link) and the few profile updates it makes. Accounts are created with
//! `users::insert`, enrolments and teachers added with `subjects::{enrol, add_teacher}`.

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};
use crate::domain::{Email, Id, Role};

/// An account as the import compares it with a line of the file.
#[derive(Debug, Clone)]
pub struct Known {
    pub id: Id,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub roll: String,
    /// False for a roll a student typed at self-registration (shown, never matched).
    pub roll_confirmed: bool,
    pub branch: String,
    pub year: String,
    pub employee_id: String,
    pub phone: String,
}

/// Every account with its student or teacher profile (empty strings where it has none).
pub fn accounts(conn: &Conn<'_>) -> Result<Vec<Known>> {
    conn.query_all(
        "SELECT u.id, u.email, u.name, u.role,
                COALESCE(st.roll, ''), COALESCE(st.roll_confirmed, 1),
                COALESCE(st.branch, t.branch, ''), COALESCE(st.year, ''),
                COALESCE(t.employee_id, ''), COALESCE(t.phone, '')
         FROM users u
         LEFT JOIN students st ON st.user_id = u.id
         LEFT JOIN teachers t ON t.user_id = u.id
         ORDER BY u.id",
        args![],
        |r| {
            let role: String = r.get(3)?;
            Ok(Known {
                id: Id::from_db(r.get(0)?),
                email: Email::from_db(r.get(1)?),
                name: r.get(2)?,
                role: Role::parse(&role).unwrap_or(Role::Student),
                roll: r.get(4)?,
                roll_confirmed: r.get(5)?,
                branch: r.get(6)?,
                year: r.get(7)?,
                employee_id: r.get(8)?,
                phone: r.get(9)?,
            })
        },
    )
}

/// Every enrolment: (subject, student, approved).
pub fn enrolments(conn: &Conn<'_>) -> Result<Vec<(Id, Id, bool)>> {
    conn.query_all(
        "SELECT subject_id, student_id, verified FROM enrolments",
        args![],
        |r| Ok((Id::from_db(r.get(0)?), Id::from_db(r.get(1)?), r.get(2)?)),
    )
}

/// Every teaching link: (subject, teacher).
pub fn teaching(conn: &Conn<'_>) -> Result<Vec<(Id, Id)>> {
    conn.query_all(
        "SELECT subject_id, teacher_id FROM subject_teachers",
        args![],
        |r| Ok((Id::from_db(r.get(0)?), Id::from_db(r.get(1)?))),
    )
}

/// Rename an account.
pub fn set_name(conn: &Conn<'_>, id: &Id, name: &str) -> Result<()> {
    conn.exec(
        "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
        args![id.as_str(), name, now_unix()],
    )?;
    Ok(())
}

/// Set a student's profile; the roll comes from the school's records, so it is confirmed.
pub fn set_student(conn: &Conn<'_>, id: &Id, roll: &str, branch: &str, year: &str) -> Result<()> {
    conn.exec(
        "UPDATE students SET roll = ?2, branch = ?3, year = ?4, roll_confirmed = 1 WHERE user_id = ?1",
        args![id.as_str(), roll, branch, year],
    )?;
    Ok(())
}

/// Set a teacher's profile.
pub fn set_teacher(
    conn: &Conn<'_>,
    id: &Id,
    employee_id: &str,
    phone: &str,
    branch: &str,
) -> Result<()> {
    conn.exec(
        "UPDATE teachers SET employee_id = ?2, phone = ?3, branch = ?4 WHERE user_id = ?1",
        args![id.as_str(), employee_id, phone, branch],
    )?;
    Ok(())
}
