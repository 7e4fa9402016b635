//! Rows written by `rollcall import-seed`: the `seed_imports` ledger of imported documents and the
//! inserts that keep the seed's own ids and times (the other modules generate both).

use std::collections::{BTreeMap, BTreeSet};

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};
use crate::domain::Role;

/// Slot of the sessions that hold imported day summaries; live sessions use 0..=99.
pub(in crate::storage) const IMPORTED_SLOT: i64 = -1;

/// Digest of the document `seed_id` of `collection` when an earlier import wrote it.
pub fn imported_digest(conn: &Conn<'_>, collection: &str, seed_id: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT digest FROM seed_imports WHERE collection = ?1 AND seed_id = ?2",
        args![collection, seed_id],
        |r| r.get(0),
    )
}

/// Record that the document `seed_id` of `collection` (with `digest`) became the row `target`.
pub fn remember(
    conn: &Conn<'_>,
    collection: &str,
    seed_id: &str,
    target: &str,
    digest: &str,
) -> Result<()> {
    conn.exec(
        "INSERT INTO seed_imports (collection, seed_id, target, digest, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        args![collection, seed_id, target, digest, now_unix()],
    )?;
    Ok(())
}

/// Id of an account that already uses the id `id` or the e-mail address `email`.
pub fn user_owner(conn: &Conn<'_>, id: &str, email: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT id FROM users WHERE id = ?1 OR email = ?2",
        args![id, email],
        |r| r.get(0),
    )
}

/// Id of a subject that already uses the id `id` or the code `code`.
pub fn subject_owner(conn: &Conn<'_>, id: &str, code: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT id FROM subjects WHERE id = ?1 OR code = ?2",
        args![id, code],
        |r| r.get(0),
    )
}

/// True when a session has the id `id`, or an imported summary of `subject` on `date` exists.
pub fn imported_day_taken(conn: &Conn<'_>, id: &str, subject: &str, date: &str) -> Result<bool> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM attendance_sessions WHERE id = ?1
            OR (subject_id = ?2 AND date = ?3 AND slot = ?4))",
        args![id, subject, date, IMPORTED_SLOT],
        |r| r.get(0),
    )
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
    conn.exec(
        "INSERT INTO users (id, email, name, role, password_hash, college_name, is_verified, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        args![
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
            conn.exec("INSERT INTO teachers (user_id) VALUES (?1)", args![user.id])?;
        }
        Role::Student => {
            conn.exec("INSERT INTO students (user_id) VALUES (?1)", args![user.id])?;
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
    conn.exec(
        "UPDATE teachers SET employee_id = ?2, phone = ?3, branch = ?4, department = ?5,
                avatar_url = ?6, settings = ?7, schedule = ?8
         WHERE user_id = ?1",
        args![
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
    conn.exec(
        "UPDATE students SET roll = ?2, branch = ?3, year = ?4 WHERE user_id = ?1",
        args![user_id, roll, branch, year],
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
    conn.exec(
        "INSERT INTO subjects (id, name, code, kind, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![s.id, s.name, s.code, s.kind, s.created_at, s.updated_at],
    )?;
    for t in s.teachers {
        conn.exec(
            "INSERT INTO subject_teachers (subject_id, teacher_id, added_at) VALUES (?1, ?2, ?3)",
            args![s.id, t, s.created_at],
        )?;
    }
    for (student, verified) in s.enrolments {
        conn.exec(
            "INSERT INTO enrolments (subject_id, student_id, verified, enrolled_at)
             VALUES (?1, ?2, ?3, ?4)",
            args![s.id, student, verified, s.created_at],
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
    conn.exec(
        "INSERT INTO attendance_sessions (id, subject_id, date, slot, confirmed_by, confirmed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        args![d.id, d.subject_id, d.date, IMPORTED_SLOT, d.teacher_id, d.created_at],
    )?;
    conn.exec(
        "INSERT INTO attendance_counts (session_id, subject_id, date, present, late, excused, absent)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        args![d.id, d.subject_id, d.date, d.present, d.late, d.absent],
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
    conn.query_one(
        "INSERT INTO outbox (kind, recipient, subject, body_text, status, attempts,
                             next_attempt_at, last_error, created_at, sent_at, ref_key,
                             sent_by, recipient_name, meta)
         VALUES (?1, ?2, ?3, '', ?4, 1, ?5, ?6, ?5, ?7, ?8, ?9, ?10, ?11)
         RETURNING id",
        args![
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
        |r| r.get(0),
    )
}

/// True when the student `student_id` has at least one face sample.
pub fn has_face_samples(conn: &Conn<'_>, student_id: &str) -> Result<bool> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM face_samples WHERE student_id = ?1)",
        args![student_id],
        |r| r.get(0),
    )
}
