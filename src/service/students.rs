//! Students: staff's view and management of student accounts, a student's own profile and
//! biometric consent. Who may see a student: the student, a teacher of one of their subjects,
//! an administrator.

use std::path::Path;

use rusqlite::Connection;

use super::auth::{AuthUser, optional_text, required_text};
use super::password::{self, HashPool};
use super::subjects::{managed, run};
use super::{Error, Result, faces};
use crate::domain::{Email, Id, Role};
use crate::storage::students::{self, StudentRecord};
use crate::storage::users::{self, NewUser, Profile};
use crate::storage::{Db, StorageError, audit, subjects};

/// Largest page of students.
pub const MAX_PER_PAGE: u32 = 100;

/// How `user` may touch a student's records.
pub(crate) fn visible(conn: &Connection, user: &AuthUser, id: &Id) -> Result<StudentRecord> {
    let allowed = match user.role {
        Role::Admin => true,
        Role::Student => &user.id == id,
        Role::Teacher => subjects::teaches_student(conn, &user.id, id)?,
    };
    let Some(record) = students::get(conn, id)? else {
        return Err(Error::NotFound(if user.role == Role::Student {
            "Student profile not found".into()
        } else {
            "Student not found".into()
        }));
    };
    if allowed {
        Ok(record)
    } else if user.role == Role::Student {
        Err(Error::Forbidden(
            "Students may only access their own records".into(),
        ))
    } else {
        Err(Error::Forbidden("You do not teach this student".into()))
    }
}

/// A page of students: a teacher's own (those in their subjects), all for an administrator.
pub async fn list(
    db: &Db,
    user: &AuthUser,
    q: Option<String>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<StudentRecord>, i64)> {
    let teacher = (user.role == Role::Teacher).then(|| user.id.clone());
    if user.role == Role::Student {
        return Err(Error::Forbidden("Teacher access required".into()));
    }
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    run(db, move |conn| {
        Ok(students::list(
            conn,
            teacher.as_ref(),
            q.as_deref(),
            limit,
            offset,
        )?)
    })
    .await
}

pub struct NewStudent {
    pub name: String,
    pub email: String,
    pub roll: String,
    pub branch: String,
    pub year: String,
    /// Subjects to enrol the student in at once (the caller must manage them).
    pub subject_ids: Vec<Id>,
}

/// A staff member creates a student account with a generated password (returned once).
pub async fn create(
    db: &Db,
    hashing: &HashPool,
    user: &AuthUser,
    new: NewStudent,
) -> Result<(StudentRecord, String)> {
    let email = Email::parse(&new.email)
        .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
    let name = required_text("name", &new.name, 100)?;
    // A teacher sees the students of their subjects: one they create outside any of them would
    // vanish from their lists at once.
    if user.role == Role::Teacher && new.subject_ids.is_empty() {
        return Err(Error::Invalid(
            "subject_ids: a teacher enrols the students they create in at least one of their subjects"
                .into(),
        ));
    }
    let profile = Profile {
        roll: optional_text("roll", &new.roll, 50)?,
        branch: optional_text("branch", &new.branch, 100)?,
        year: optional_text("year", &new.year, 20)?,
        ..Profile::default()
    };
    let pw = password::generate();
    let hash = hashing.hash(pw.clone()).await?;
    let record = NewUser {
        email,
        name,
        role: Role::Student,
        password_hash: hash,
        college_name: String::new(),
        is_verified: true,
        profile,
        created_by: Some(user.id.clone()),
        roll_confirmed: true,
    };
    let user = user.clone();
    let created = run(db, move |conn| {
        let tx = conn.transaction().map_err(StorageError::from)?;
        for sid in &new.subject_ids {
            managed(&tx, &user, sid)?;
        }
        let created = match users::insert(&tx, &record) {
            Ok(u) => u,
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict("Email already registered".into()));
            }
            Err(e) => return Err(e.into()),
        };
        for sid in &new.subject_ids {
            subjects::enrol(&tx, sid, &created.id, true)?;
            audit::record(
                &tx,
                Some(&user.id),
                "subject.enrol",
                Some(sid.as_str()),
                &format!("student={}", created.id),
            )?;
        }
        audit::record(
            &tx,
            Some(&user.id),
            "student.create",
            Some(created.id.as_str()),
            "",
        )?;
        let out = students::get(&tx, &created.id)?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("created student vanished")))?;
        tx.commit().map_err(StorageError::from)?;
        Ok(out)
    })
    .await?;
    Ok((created, pw))
}

pub async fn get(db: &Db, user: &AuthUser, id: Id) -> Result<StudentRecord> {
    let user = user.clone();
    run(db, move |conn| visible(conn, &user, &id)).await
}

#[derive(Default)]
pub struct StudentUpdate {
    pub name: Option<String>,
    pub roll: Option<String>,
    pub branch: Option<String>,
    pub year: Option<String>,
}

/// Change a student's profile. A student may change their own name, branch and year; the roll
/// number is the school's and only staff change it.
pub async fn update(db: &Db, user: &AuthUser, id: Id, up: StudentUpdate) -> Result<StudentRecord> {
    if user.role == Role::Student && up.roll.is_some() {
        return Err(Error::Forbidden(
            "Only staff may change a roll number".into(),
        ));
    }
    let name = up
        .name
        .map(|n| required_text("name", &n, 100))
        .transpose()?;
    let roll = up.roll.map(|v| optional_text("roll", &v, 50)).transpose()?;
    let branch = up
        .branch
        .map(|v| optional_text("branch", &v, 100))
        .transpose()?;
    let year = up.year.map(|v| optional_text("year", &v, 20)).transpose()?;
    let user = user.clone();
    run(db, move |conn| {
        visible(conn, &user, &id)?;
        students::update(
            conn,
            &id,
            name.as_deref(),
            roll.as_deref(),
            branch.as_deref(),
            year.as_deref(),
        )?;
        students::get(conn, &id)?.ok_or_else(|| Error::NotFound("Student not found".into()))
    })
    .await
}

/// Delete a student for good: account, enrolments, face samples, images no one else uses.
pub async fn delete(db: &Db, faces_dir: &Path, user: &AuthUser, id: Id) -> Result<()> {
    if user.role == Role::Student {
        return Err(Error::Forbidden("Teacher access required".into()));
    }
    let actor = user.clone();
    let shas = run(db, move |conn| {
        let tx = conn.transaction().map_err(StorageError::from)?;
        let record = visible(&tx, &actor, &id)?;
        let shas = crate::storage::faces::delete_all(&tx, &id)?;
        students::delete(&tx, &id)?;
        audit::record(
            &tx,
            Some(&actor.id),
            "student.delete",
            Some(id.as_str()),
            &format!(
                "{} <{}>, {} face samples",
                record.name,
                record.email,
                shas.len()
            ),
        )?;
        tx.commit().map_err(StorageError::from)?;
        Ok(shas)
    })
    .await?;
    faces::remove_unreferenced(db, faces_dir, shas).await
}

/// Who records or withdraws a consent: a signed-in account, or the operator at the command line
/// (`rollcall consent`, audited with no actor and `via cli`).
#[derive(Debug, Clone, Copy)]
pub enum Recorder<'a> {
    User(&'a AuthUser),
    Operator,
}

impl Recorder<'_> {
    fn actor(&self) -> Option<Id> {
        match self {
            Self::User(u) => Some(u.id.clone()),
            Self::Operator => None,
        }
    }

    fn via(&self) -> &'static str {
        match self {
            Self::User(_) => "",
            Self::Operator => "; via cli",
        }
    }
}

/// The school's consent rules.
#[derive(Debug, Clone)]
pub struct ConsentRules {
    /// `ROLLCALL_STUDENT_SELF_CONSENT`: whether a student may record their own consent.
    pub self_consent: bool,
    /// SHA-256 of `ROLLCALL_CONSENT_NOTICE`, written into the audit entry.
    pub notice_sha256: String,
}

/// What a student is told when they may not record consent themselves.
pub const OFFICE_RECORDS_CONSENT: &str = "Your school records biometric consent itself: the school office records your parent's or guardian's signed consent form. Ask the school office to record it";

/// The 403 of a face upload refused for want of consent, saying exactly what to do. A student
/// is sent to rollcall's consent page (`app_url`: `<BACKEND_BASE_URL>/app/`, or `/app/` when no
/// public address is configured), or only to the school office when `self_consent` is off;
/// staff to the student's page or the API.
#[must_use]
pub fn consent_missing(caller: Role, student: &Id, self_consent: bool, app_url: &str) -> Error {
    let lead = "Biometric consent is required before a face can be enrolled";
    Error::Forbidden(match caller {
        Role::Student if self_consent => format!(
            "{lead}: open {app_url}#consent, sign in and record your consent (or ask your school office to record your signed form)"
        ),
        Role::Student => format!("{lead}. {OFFICE_RECORDS_CONSENT}."),
        _ => format!(
            "{lead}: record it on the student's page in {app_url} or with POST /api/students/{}/consent",
            student.as_str()
        ),
    })
}

/// Record biometric consent: the student themselves (unless `rules.self_consent` is off), staff
/// recording a signed paper form, or the operator from a list of signed forms. The audit entry
/// names the notice's SHA-256. Consent already recorded is left as it was (no new entry).
/// Returns the student and whether consent was recorded now.
pub async fn give_consent(
    db: &Db,
    by: Recorder<'_>,
    id: Id,
    rules: &ConsentRules,
) -> Result<(StudentRecord, bool)> {
    if let Recorder::User(u) = by
        && u.role == Role::Student
        && !rules.self_consent
    {
        return Err(Error::Forbidden(format!("{OFFICE_RECORDS_CONSENT}.")));
    }
    let user = match by {
        Recorder::User(u) => Some(u.clone()),
        Recorder::Operator => None,
    };
    let (actor, via) = (by.actor(), by.via());
    let detail = format!("given; notice sha256={}{via}", rules.notice_sha256);
    run(db, move |conn| {
        let record = match &user {
            Some(u) => visible(conn, u, &id)?,
            None => students::get(conn, &id)?
                .ok_or_else(|| Error::NotFound("Student not found".into()))?,
        };
        if record.consent_at.is_some() {
            return Ok((record, false));
        }
        let tx = conn.transaction().map_err(StorageError::from)?;
        students::set_consent(&tx, &id, actor.as_ref())?;
        audit::record(
            &tx,
            actor.as_ref(),
            "student.consent",
            Some(id.as_str()),
            &detail,
        )?;
        let out =
            students::get(&tx, &id)?.ok_or_else(|| Error::NotFound("Student not found".into()))?;
        tx.commit().map_err(StorageError::from)?;
        Ok((out, true))
    })
    .await
}

/// Withdraw consent (always open to the student, whatever `ROLLCALL_STUDENT_SELF_CONSENT`
/// says): the student's face samples go, and their images unless shared. Returns whether
/// consent had been recorded and how many samples were deleted.
pub async fn withdraw_consent(
    db: &Db,
    faces_dir: &Path,
    by: Recorder<'_>,
    id: Id,
) -> Result<(bool, usize)> {
    let user = match by {
        Recorder::User(u) => Some(u.clone()),
        Recorder::Operator => None,
    };
    let (actor, via) = (by.actor(), by.via());
    let (had, shas) = run(db, move |conn| {
        let record = match &user {
            Some(u) => visible(conn, u, &id)?,
            None => students::get(conn, &id)?
                .ok_or_else(|| Error::NotFound("Student not found".into()))?,
        };
        let tx = conn.transaction().map_err(StorageError::from)?;
        students::clear_consent(&tx, &id)?;
        let shas = crate::storage::faces::delete_all(&tx, &id)?;
        audit::record(
            &tx,
            actor.as_ref(),
            "student.consent",
            Some(id.as_str()),
            &format!("withdrawn, {} face samples deleted{via}", shas.len()),
        )?;
        tx.commit().map_err(StorageError::from)?;
        Ok((record.consent_at.is_some(), shas))
    })
    .await?;
    let n = shas.len();
    faces::remove_unreferenced(db, faces_dir, shas).await?;
    Ok((had, n))
}
