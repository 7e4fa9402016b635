//! Rows written by `rollcall import-seed`: the `seed_imports` ledger of imported documents and the
//! inserts that keep the seed's own ids and times (the other modules generate both).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};

use super::Conn;

use super::{Result, now_unix};
use crate::domain::Role;

/// Slot of the sessions that hold imported day summaries; live sessions use 0..=99.
pub(in crate::storage) const IMPORTED_SLOT: i64 = -1;

/// Digest of the document `seed_id` of `collection` when an earlier import wrote it.
pub fn imported_digest(conn: &Conn<'_>, collection: &str, seed_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT digest FROM seed_imports WHERE collection = ?1 AND seed_id = ?2",
            params![collection, seed_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Record that the document `seed_id` of `collection` (with `digest`) became the row `target`.
pub fn remember(
    conn: &Conn<'_>,
    collection: &str,
    seed_id: &str,
    target: &str,
    digest: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO seed_imports (collection, seed_id, target, digest, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![collection, seed_id, target, digest, now_unix()],
    )?;
    Ok(())
}

/// Id of an account that already uses the id `id` or the e-mail address `email`.
pub fn user_owner(conn: &Conn<'_>, id: &str, email: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT id FROM users WHERE id = ?1 OR email = ?2",
            params![id, email],
            |r| r.get(0),
        )
        .optional()?)
}

/// Id of a subject that already uses the id `id` or the code `code`.
pub fn subject_owner(conn: &Conn<'_>, id: &str, code: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT id FROM subjects WHERE id = ?1 OR code = ?2",
            params![id, code],
            |r| r.get(0),
        )
        .optional()?)
}

/// True when a session has the id `id`, or an imported summary of `subject` on `date` exists.
pub fn imported_day_taken(conn: &Conn<'_>, id: &str, subject: &str, date: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM attendance_sessions WHERE id = ?1
            OR (subject_id = ?2 AND date = ?3 AND slot = ?4))",
        params![id, subject, date, IMPORTED_SLOT],
        |r| r.get(0),
    )?)
}

/// An account as the seed had it, with its id and creation time.
#[derive(Debug, Clone)]
pub struct NewSeedUser<'a> {
    pub id: &'a str,
    /// Already normalised (see [`crate::domain::Email`]).
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub college_name: &'a str,
    pub is_verified: bool,
    pub created_at: i64,
}

/// Insert the account and an empty role profile (filled in by [`set_teacher_profile`] or
/// [`set_student_profile`] when the seed had one). Admins get no profile.
pub fn insert_user(conn: &Conn<'_>, user: &NewSeedUser<'_>) -> Result<()> {
    conn.execute(
        "INSERT INTO users (id, email, name, role, password_hash, college_name, is_verified, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            user.id,
            user.email,
            user.name,
            user.role.as_str(),
            user.password_hash,
            user.college_name,
            user.is_verified,
            user.created_at
        ],
    )?;
    match user.role {
        Role::Teacher => {
            conn.execute("INSERT INTO teachers (user_id) VALUES (?1)", [user.id])?;
        }
        Role::Student => {
            conn.execute("INSERT INTO students (user_id) VALUES (?1)", [user.id])?;
        }
        Role::Admin => {}
    }
    Ok(())
}

/// A teacher's profile from the seed.
#[derive(Debug, Clone)]
pub struct SeedTeacherProfile<'a> {
    pub user_id: &'a str,
    pub employee_id: &'a str,
    pub phone: &'a str,
    pub branch: &'a str,
    pub department: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    /// JSON text.
    pub settings: Option<&'a str>,
    /// JSON text.
    pub schedule: Option<&'a str>,
}

/// Overwrite the profile of the teacher `profile.user_id`.
pub fn set_teacher_profile(conn: &Conn<'_>, profile: &SeedTeacherProfile<'_>) -> Result<()> {
    let p = profile;
    conn.execute(
        "UPDATE teachers SET employee_id = ?2, phone = ?3, branch = ?4, department = ?5,
                avatar_url = ?6, settings = ?7, schedule = ?8
         WHERE user_id = ?1",
        params![
            p.user_id,
            p.employee_id,
            p.phone,
            p.branch,
            p.department,
            p.avatar_url,
            p.settings,
            p.schedule
        ],
    )?;
    Ok(())
}

/// Overwrite the profile of the student `user_id`.
pub fn set_student_profile(
    conn: &Conn<'_>,
    user_id: &str,
    roll: &str,
    branch: &str,
    year: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE students SET roll = ?2, branch = ?3, year = ?4 WHERE user_id = ?1",
        params![user_id, roll, branch, year],
    )?;
    Ok(())
}

/// A subject as the seed had it, with its teachers and enrolments.
#[derive(Debug, Clone)]
pub struct NewSeedSubject<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub code: &'a str,
    /// Core / Lab / Elective; `None` = Core.
    pub kind: Option<&'a str>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Teacher user ids.
    pub teachers: &'a BTreeSet<String>,
    /// Student user id -> verified (the teacher's approval).
    pub enrolments: &'a BTreeMap<String, bool>,
}

/// Insert the subject, its teachers and its enrolments (both dated at the subject's creation).
pub fn insert_subject(conn: &Conn<'_>, subject: &NewSeedSubject<'_>) -> Result<()> {
    let s = subject;
    conn.execute(
        "INSERT INTO subjects (id, name, code, kind, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![s.id, s.name, s.code, s.kind, s.created_at, s.updated_at],
    )?;
    for t in s.teachers {
        conn.execute(
            "INSERT INTO subject_teachers (subject_id, teacher_id, added_at) VALUES (?1, ?2, ?3)",
            params![s.id, t, s.created_at],
        )?;
    }
    for (student, verified) in s.enrolments {
        conn.execute(
            "INSERT INTO enrolments (subject_id, student_id, verified, enrolled_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![s.id, student, verified, s.created_at],
        )?;
    }
    Ok(())
}

/// One day's attendance summary of a subject as the seed kept it (counts, no records).
#[derive(Debug, Clone)]
pub struct NewDaySummary<'a> {
    /// Becomes the session id.
    pub id: &'a str,
    pub subject_id: &'a str,
    /// `YYYY-MM-DD`.
    pub date: &'a str,
    pub teacher_id: Option<&'a str>,
    pub present: i64,
    pub late: i64,
    pub absent: i64,
    pub created_at: i64,
}

/// Insert a session in slot [`IMPORTED_SLOT`] confirmed by the teacher at `created_at`, and its
/// counts (none excused).
pub fn insert_day_summary(conn: &Conn<'_>, day: &NewDaySummary<'_>) -> Result<()> {
    let d = day;
    conn.execute(
        "INSERT INTO attendance_sessions (id, subject_id, date, slot, confirmed_by, confirmed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![d.id, d.subject_id, d.date, IMPORTED_SLOT, d.teacher_id, d.created_at],
    )?;
    conn.execute(
        "INSERT INTO attendance_counts (session_id, subject_id, date, present, late, excused, absent)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        params![d.id, d.subject_id, d.date, d.present, d.late, d.absent],
    )?;
    Ok(())
}

/// A mail the seed sent (or failed to send).
#[derive(Debug, Clone)]
pub struct SeedMail<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub recipient_name: Option<&'a str>,
    pub subject: &'a str,
    /// Sent; otherwise it failed and is stored as dead.
    pub sent: bool,
    pub error: Option<&'a str>,
    pub sent_by: Option<&'a str>,
    /// When it was sent or attempted.
    pub at: i64,
    /// JSON text.
    pub meta: Option<&'a str>,
    /// Idempotency key of the outbox row.
    pub ref_key: &'a str,
}

/// Insert the mail into the outbox as already delivered (`sent`) or given up (`dead`), after one
/// attempt and without a body. Returns the outbox row id.
pub fn insert_sent_mail(conn: &Conn<'_>, mail: &SeedMail<'_>) -> Result<i64> {
    let m = mail;
    conn.execute(
        "INSERT INTO outbox (kind, recipient, subject, body_text, status, attempts,
                             next_attempt_at, last_error, created_at, sent_at, ref_key,
                             sent_by, recipient_name, meta)
         VALUES (?1, ?2, ?3, '', ?4, 1, ?5, ?6, ?5, ?7, ?8, ?9, ?10, ?11)",
        params![
            m.kind,
            m.recipient,
            m.subject,
            if m.sent { "sent" } else { "dead" },
            m.at,
            m.error,
            m.sent.then_some(m.at),
            m.ref_key,
            m.sent_by,
            m.recipient_name,
            m.meta
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// True when the student `student_id` has at least one face sample.
pub fn has_face_samples(conn: &Conn<'_>, student_id: &str) -> Result<bool> {
    let mut stmt =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM face_samples WHERE student_id = ?1)")?;
    Ok(stmt.query_row([student_id], |r| r.get(0))?)
}
