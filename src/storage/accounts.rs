//! The school office's view of accounts: the list with each account's invitation, changing a
//! role or a name, and what deleting an account removes (counted, then deleted).

use super::sql::{Row, args};
use super::{Conn, Result, now_unix};
use crate::domain::invitations::{DeletionCounts, Invitation, SubjectRef};
use crate::domain::users::User;
use crate::domain::{Email, Id, Role};

const SELECT: &str = "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.college_name,
        u.is_verified, u.created_at,
        i.user_id, i.first_sent_at, i.created_at, i.expires_at, i.accepted_at, i.invited_by,
        i.sent_count
    FROM users u LEFT JOIN invitations i ON i.user_id = u.id";

/// An account and its invitation, if it was ever invited.
pub type WithInvitation = (User, Option<Invitation>);

fn from_row(row: &Row<'_>) -> Result<WithInvitation> {
    let user = super::users::from_row(row)?;
    let invited: Option<String> = row.get(8)?;
    let invitation = match invited {
        Some(_) => Some(super::invitations::from_row_at(row, 8)?),
        None => None,
    };
    Ok((user, invitation))
}

/// Accounts, newest first, optionally of one role and with `q` (case-insensitive) in the name
/// or the e-mail address.
pub fn list(
    conn: &Conn<'_>,
    role: Option<Role>,
    q: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<WithInvitation>> {
    let pattern = q.map(super::sql::contains_pattern);
    conn.query_all(
        &format!(
            "{SELECT} WHERE (CAST(?1 AS TEXT) IS NULL OR u.role = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR lower(u.name) LIKE lower(?2) ESCAPE '\\'
                    OR lower(u.email) LIKE lower(?2) ESCAPE '\\')
             ORDER BY u.created_at DESC, u.id DESC LIMIT ?3 OFFSET ?4"
        ),
        args![role.map(Role::as_str), pattern, limit, offset],
        from_row,
    )
}

/// One account with its invitation.
pub fn get(conn: &Conn<'_>, id: &Id) -> Result<Option<WithInvitation>> {
    conn.query_opt(
        &format!("{SELECT} WHERE u.id = ?1"),
        args![id.as_str()],
        from_row,
    )
}

/// Change the account's role. Becoming a teacher gives it a teacher profile if it has none (an
/// administrator who was a teacher keeps theirs, and their subjects, meanwhile).
pub fn set_role(conn: &Conn<'_>, id: &Id, role: Role) -> Result<()> {
    conn.exec(
        "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
        args![id.as_str(), role.as_str(), now_unix()],
    )?;
    if role == Role::Teacher {
        conn.exec(
            "INSERT INTO teachers (user_id) VALUES (?1) ON CONFLICT (user_id) DO NOTHING",
            args![id.as_str()],
        )?;
    }
    Ok(())
}

pub fn set_name(conn: &Conn<'_>, id: &Id, name: &str) -> Result<()> {
    conn.exec(
        "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
        args![id.as_str(), name, now_unix()],
    )?;
    Ok(())
}

fn count(conn: &Conn<'_>, sql: &str, id: &Id) -> Result<i64> {
    conn.query_one(sql, args![id.as_str()], |r| r.get(0))
}

/// The mails to the account still waiting in the outbox: those about it and those addressed to
/// it (verification and reset mails name only the address).
const QUEUED_MAILS: &str =
    "FROM outbox WHERE (user_id = ?1 OR recipient = ?2) AND status = 'pending'";

/// What deleting the account would remove.
pub fn deletion_counts(conn: &Conn<'_>, id: &Id, email: &Email) -> Result<DeletionCounts> {
    let left = conn.query_all(
        "SELECT s.id, s.name, s.code FROM subjects s JOIN subject_teachers t ON t.subject_id = s.id
         WHERE t.teacher_id = ?1
           AND NOT EXISTS (SELECT 1 FROM subject_teachers o
                           WHERE o.subject_id = s.id AND o.teacher_id <> ?1)
         ORDER BY s.code, s.id",
        args![id.as_str()],
        |r| {
            Ok(SubjectRef {
                id: Id::from_db(r.get(0)?),
                name: r.get(1)?,
                code: r.get(2)?,
            })
        },
    )?;
    Ok(DeletionCounts {
        sessions: count(
            conn,
            "SELECT COUNT(*) FROM auth_sessions WHERE user_id = ?1",
            id,
        )?,
        face_samples: count(
            conn,
            "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1",
            id,
        )?,
        attendance_records: count(
            conn,
            "SELECT COUNT(*) FROM attendance_records WHERE student_id = ?1",
            id,
        )?,
        enrolments: count(
            conn,
            "SELECT COUNT(*) FROM enrolments WHERE student_id = ?1",
            id,
        )?,
        subjects_taught: count(
            conn,
            "SELECT COUNT(*) FROM subject_teachers WHERE teacher_id = ?1",
            id,
        )?,
        subjects_left_without_teacher: left,
        queued_mails: conn.query_one(
            &format!("SELECT COUNT(*) {QUEUED_MAILS}"),
            args![id.as_str(), email.as_str()],
            |r| r.get(0),
        )?,
        invitations: count(
            conn,
            "SELECT COUNT(*) FROM invitations WHERE user_id = ?1",
            id,
        )?,
    })
}

/// Withdraw the mails to the account still waiting in the outbox; returns how many.
pub fn withdraw_queued_mails(conn: &Conn<'_>, id: &Id, email: &Email) -> Result<usize> {
    conn.exec(
        &format!("DELETE {QUEUED_MAILS}"),
        args![id.as_str(), email.as_str()],
    )
}

/// Delete the account; everything that belongs to it goes with it (the schema's cascades).
pub fn delete(conn: &Conn<'_>, id: &Id) -> Result<bool> {
    Ok(conn.exec("DELETE FROM users WHERE id = ?1", args![id.as_str()])? > 0)
}
