//! Accounts and their role profiles (teacher / student details), verification and reset codes.

use super::Conn;
use super::sql::{Row, args};

use super::{Result, now_unix};
use crate::domain::users::{Profile, TeacherProfile, User};
use crate::domain::{Email, Id, Role};

/// Everything needed to create an account with its role profile.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub college_name: String,
    pub is_verified: bool,
    pub profile: Profile,
    /// The staff member creating the account (`None`: self-registration, the command line).
    pub created_by: Option<Id>,
    /// Whether the profile's roll number comes from staff; a roll typed at self-registration is
    /// kept for display but never matched when staff add students by roll.
    pub roll_confirmed: bool,
}

const COLUMNS: &str = "id, email, name, role, password_hash, college_name, is_verified, created_at";

pub(super) fn from_row(row: &Row<'_>) -> Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: Id::from_db(row.get(0)?),
        email: Email::from_db(row.get(1)?),
        name: row.get(2)?,
        // The CHECK constraint keeps other values out; student is the least-privileged fallback.
        role: Role::parse(&role).unwrap_or(Role::Student),
        password_hash: row.get(4)?,
        college_name: row.get(5)?,
        is_verified: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// Insert the user and its role profile. Fails with a unique violation if the e-mail is taken.
pub fn insert(conn: &Conn<'_>, new: &NewUser) -> Result<User> {
    let id = Id::generate();
    let now = now_unix();
    conn.exec(
        "INSERT INTO users (id, email, name, role, password_hash, college_name, is_verified, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        args![
            id.as_str(),
            new.email.as_str(),
            new.name,
            new.role.as_str(),
            new.password_hash,
            new.college_name,
            new.is_verified,
            now
        ],
    )?;
    let p = &new.profile;
    match new.role {
        Role::Teacher => {
            conn.exec(
                "INSERT INTO teachers (user_id, employee_id, phone, branch) VALUES (?1, ?2, ?3, ?4)",
                args![id.as_str(), p.employee_id, p.phone, p.branch],
            )?;
        }
        Role::Student => {
            conn.exec(
                "INSERT INTO students (user_id, roll, branch, year, roll_confirmed, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![
                    id.as_str(),
                    p.roll,
                    p.branch,
                    p.year,
                    new.roll_confirmed,
                    new.created_by.as_ref().map(Id::as_str)
                ],
            )?;
        }
        Role::Admin => {}
    }
    Ok(User {
        id,
        email: new.email.clone(),
        name: new.name.clone(),
        role: new.role,
        password_hash: new.password_hash.clone(),
        college_name: new.college_name.clone(),
        is_verified: new.is_verified,
        created_at: now,
    })
}

pub fn by_email(conn: &Conn<'_>, email: &Email) -> Result<Option<User>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
        args![email.as_str()],
        from_row,
    )
}

pub fn by_id(conn: &Conn<'_>, id: &Id) -> Result<Option<User>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        args![id.as_str()],
        from_row,
    )
}

/// All accounts, newest first, optionally of one role.
pub fn list(conn: &Conn<'_>, role: Option<Role>, limit: u32, offset: u32) -> Result<Vec<User>> {
    conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM users WHERE (CAST(?1 AS TEXT) IS NULL OR role = ?1)
             ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        ),
        args![role.map(Role::as_str), limit, offset],
        from_row,
    )
}

/// Every account, whatever its role.
pub fn count(conn: &Conn<'_>) -> Result<i64> {
    conn.query_one("SELECT COUNT(*) FROM users", args![], |r| r.get(0))
}

pub fn count_role(conn: &Conn<'_>, role: Role) -> Result<i64> {
    conn.query_one(
        "SELECT COUNT(*) FROM users WHERE role = ?1",
        args![role.as_str()],
        |r| r.get(0),
    )
}

pub fn set_verified(conn: &Conn<'_>, id: &Id) -> Result<bool> {
    let n = conn.exec(
        "UPDATE users SET is_verified = 1, updated_at = ?2 WHERE id = ?1",
        args![id.as_str(), now_unix()],
    )?;
    conn.exec(
        "DELETE FROM email_verifications WHERE user_id = ?1",
        args![id.as_str()],
    )?;
    Ok(n > 0)
}

pub fn set_password_hash(conn: &Conn<'_>, id: &Id, hash: &str) -> Result<()> {
    conn.exec(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        args![id.as_str(), hash, now_unix()],
    )?;
    Ok(())
}

pub fn insert_verification(
    conn: &Conn<'_>,
    user: &Id,
    token_hash: &str,
    expires_at: i64,
) -> Result<()> {
    conn.exec(
        "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        args![token_hash, user.as_str(), expires_at],
    )?;
    Ok(())
}

/// The user a verification token belongs to and when it expires.
pub fn verification(conn: &Conn<'_>, token_hash: &str) -> Result<Option<(Id, i64)>> {
    conn.query_opt(
        "SELECT user_id, expires_at FROM email_verifications WHERE token_hash = ?1",
        args![token_hash],
        |r| Ok((Id::from_db(r.get(0)?), r.get(1)?)),
    )
}

#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub otp_hash: String,
    pub expires_at: i64,
    pub failed_attempts: i64,
}

/// Store a fresh reset code for the user, replacing any earlier one.
pub fn put_reset(conn: &Conn<'_>, user: &Id, otp_hash: &str, expires_at: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO password_resets (user_id, otp_hash, expires_at, failed_attempts) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (user_id) DO UPDATE SET otp_hash = excluded.otp_hash,
             expires_at = excluded.expires_at, failed_attempts = 0",
        args![user.as_str(), otp_hash, expires_at],
    )?;
    Ok(())
}

pub fn reset(conn: &Conn<'_>, user: &Id) -> Result<Option<PasswordReset>> {
    conn.query_opt(
        "SELECT otp_hash, expires_at, failed_attempts FROM password_resets WHERE user_id = ?1",
        args![user.as_str()],
        |r| {
            Ok(PasswordReset {
                otp_hash: r.get(0)?,
                expires_at: r.get(1)?,
                failed_attempts: r.get(2)?,
            })
        },
    )
}

pub fn record_reset_failure(conn: &Conn<'_>, user: &Id) -> Result<()> {
    conn.exec(
        "UPDATE password_resets SET failed_attempts = failed_attempts + 1 WHERE user_id = ?1",
        args![user.as_str()],
    )?;
    Ok(())
}

pub fn clear_reset(conn: &Conn<'_>, user: &Id) -> Result<()> {
    conn.exec(
        "DELETE FROM password_resets WHERE user_id = ?1",
        args![user.as_str()],
    )?;
    Ok(())
}

pub fn teacher_profile(conn: &Conn<'_>, id: &Id) -> Result<Option<TeacherProfile>> {
    let Some(user) = by_id(conn, id)? else {
        return Ok(None);
    };
    conn.query_opt(
        "SELECT employee_id, phone, branch, department, avatar_url, settings, schedule
         FROM teachers WHERE user_id = ?1",
        args![id.as_str()],
        |r| {
            Ok(TeacherProfile {
                user: user.clone(),
                employee_id: r.get(0)?,
                phone: r.get(1)?,
                branch: r.get(2)?,
                department: r.get(3)?,
                avatar_url: r.get(4)?,
                settings: r.get(5)?,
                schedule: r.get(6)?,
            })
        },
    )
}
