//! Students: staff's view and management of student accounts, a student's own profile and
//! biometric consent. Who may see a student: the student, a teacher of one of their subjects,
//! an administrator.

use crate::storage::Conn;

use super::auth::{AuthUser, optional_text, required_text};
use super::images::ImageStore;
use super::password::{self, HashPool};
use super::subjects::managed;
use super::{Actor, Error, Result};
use crate::domain::students::StudentRecord;
use crate::domain::users::Profile;
use crate::domain::{Email, Id, Role};
use crate::storage::students;
use crate::storage::users::{self, NewUser};
use crate::storage::{Db, audit, subjects};

/// Largest page of students.
pub const MAX_PER_PAGE: u32 = 100;

/// How `user` may touch a student's records.
pub(crate) fn visible(conn: &Conn<'_>, user: &AuthUser, id: &Id) -> Result<StudentRecord> {
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
    db.run(move |conn| {
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
    let created = db
        .transaction(move |tx| {
            for sid in &new.subject_ids {
                managed(tx, &user, sid)?;
            }
            let created = match users::insert(tx, &record) {
                Ok(u) => u,
                Err(e) if e.is_unique_violation() => {
                    return Err(Error::Conflict("Email already registered".into()));
                }
                Err(e) => return Err(e.into()),
            };
            for sid in &new.subject_ids {
                subjects::enrol(tx, sid, &created.id, true)?;
                audit::record(
                    tx,
                    Some(&user.id),
                    "subject.enrol",
                    Some(sid.as_str()),
                    &format!("student={}", created.id),
                )?;
            }
            audit::record(
                tx,
                Some(&user.id),
                "student.create",
                Some(created.id.as_str()),
                "",
            )?;
            let out = students::get(tx, &created.id)?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("created student vanished")))?;
            Ok(out)
        })
        .await?;
    Ok((created, pw))
}

pub async fn get(db: &Db, user: &AuthUser, id: Id) -> Result<StudentRecord> {
    let user = user.clone();
    db.run(move |conn| visible(conn, &user, &id)).await
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
    db.run(move |conn| {
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
pub async fn delete(db: &Db, images: &ImageStore, user: &AuthUser, id: Id) -> Result<()> {
    if user.role == Role::Student {
        return Err(Error::Forbidden("Teacher access required".into()));
    }
    let actor = user.clone();
    let shas = db
        .transaction(move |tx| {
            let record = visible(tx, &actor, &id)?;
            let shas = delete_in(tx, &id)?;
            audit::record(
                tx,
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
            Ok::<_, Error>(shas)
        })
        .await?;
    images.remove_unreferenced(db, shas).await
}

/// Inside the caller's transaction: delete the student's face samples and the account (its
/// enrolments, attendance records and sessions go with it); returns the images the samples
/// named, to be removed once committed ([`ImageStore::remove_unreferenced`]). Also used by the
/// office's account deletion.
pub(crate) fn delete_in(
    tx: &Conn<'_>,
    id: &Id,
) -> std::result::Result<Vec<String>, crate::storage::StorageError> {
    let shas = crate::storage::faces::delete_all(tx, id)?;
    students::delete(tx, id)?;
    Ok(shas)
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
    by: Actor<'_>,
    id: Id,
    rules: &ConsentRules,
) -> Result<(StudentRecord, bool)> {
    if let Actor::User(u) = by
        && u.role == Role::Student
        && !rules.self_consent
    {
        return Err(Error::Forbidden(format!("{OFFICE_RECORDS_CONSENT}.")));
    }
    let user = match by {
        Actor::User(u) => Some(u.clone()),
        Actor::Operator => None,
    };
    let actor = by.id();
    let detail = by.detail(&format!("given; notice sha256={}", rules.notice_sha256));
    db.run(move |conn| {
        let record = match &user {
            Some(u) => visible(conn, u, &id)?,
            None => students::get(conn, &id)?
                .ok_or_else(|| Error::NotFound("Student not found".into()))?,
        };
        if record.consent_at.is_some() {
            return Ok((record, false));
        }
        let out = conn.transaction(|tx| {
            students::set_consent(tx, &id, actor.as_ref())?;
            audit::record(
                tx,
                actor.as_ref(),
                "student.consent",
                Some(id.as_str()),
                &detail,
            )?;
            students::get(tx, &id)?.ok_or_else(|| Error::NotFound("Student not found".into()))
        })?;
        Ok((out, true))
    })
    .await
}

/// Withdraw consent (always open to the student, whatever `ROLLCALL_STUDENT_SELF_CONSENT`
/// says): the student's face samples go, and their images unless shared. Returns whether
/// consent had been recorded and how many samples were deleted.
pub async fn withdraw_consent(
    db: &Db,
    images: &ImageStore,
    by: Actor<'_>,
    id: Id,
) -> Result<(bool, usize)> {
    let user = match by {
        Actor::User(u) => Some(u.clone()),
        Actor::Operator => None,
    };
    let by = by.owned();
    let actor = by.id.clone();
    let (had, shas) = db
        .transaction(move |tx| {
            let record = match &user {
                Some(u) => visible(tx, u, &id)?,
                None => students::get(tx, &id)?
                    .ok_or_else(|| Error::NotFound("Student not found".into()))?,
            };
            students::clear_consent(tx, &id)?;
            let shas = crate::storage::faces::delete_all(tx, &id)?;
            audit::record(
                tx,
                actor.as_ref(),
                "student.consent",
                Some(id.as_str()),
                &by.detail(&format!("withdrawn, {} face samples deleted", shas.len())),
            )?;
            Ok::<_, Error>((record.consent_at.is_some(), shas))
        })
        .await?;
    let n = shas.len();
    images.remove_unreferenced(db, shas).await?;
    Ok((had, n))
}

/// The student a line of `rollcall enroll` or `rollcall consent` names: a student's id (the
/// seed's ids are kept by `import-seed`), an e-mail address, or exactly one roll number; with
/// `create` (an e-mail domain and a password hash), a new student account when nobody has that
/// roll, audited `student.create` like the API's. `Ok(Err(why))`: the key names no student.
pub async fn for_import(
    db: &Db,
    by: Actor<'_>,
    key: &str,
    create: Option<(&str, &str)>,
) -> Result<std::result::Result<Id, String>> {
    let (actor, detail) = (by.id(), by.detail(""));
    let key = key.to_owned();
    let create = create.map(|(domain, hash)| (domain.to_owned(), hash.to_owned()));
    db.transaction(move |tx| {
        let key = key.as_str();
        let create = create.as_ref().map(|(d, h)| (d.as_str(), h));
        if let Ok(id) = Id::parse(key)
            && students::get(tx, &id)?.is_some()
        {
            return Ok::<_, Error>(Ok(id));
        }
        if key.contains('@') {
            let Some(email) = Email::parse(key) else {
                return Ok(Err(format!("{key:?} is not a valid e-mail address")));
            };
            return Ok(match users::by_email(tx, &email)? {
                Some(u) if u.role == Role::Student => Ok(u.id),
                Some(_) => Err(format!("{key} is not a student")),
                None => Err(format!("no student with e-mail {key}")),
            });
        }
        let found = students::by_roll(tx, key)?;
        Ok(match (found.as_slice(), create) {
            ([one], _) => Ok(one.clone()),
            ([], Some((domain, hash))) => {
                let slug: String = key
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '.'
                        }
                    })
                    .collect();
                let Some(email) = Email::parse(&format!("{slug}@{domain}")) else {
                    return Ok(Err(format!("cannot make an e-mail address from {key:?}")));
                };
                let name = key
                    .split(['_', '-', ' '])
                    .filter(|w| !w.is_empty())
                    .map(|w| {
                        let mut c = w.chars();
                        c.next().map_or_else(String::new, |f| {
                            f.to_uppercase().chain(c).collect::<String>()
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let user = users::insert(
                    tx,
                    &NewUser {
                        email,
                        name,
                        role: Role::Student,
                        password_hash: hash.clone(),
                        college_name: String::new(),
                        is_verified: true,
                        profile: Profile {
                            roll: key.to_owned(),
                            ..Profile::default()
                        },
                        created_by: None,
                        roll_confirmed: true,
                    },
                )?;
                audit::record(
                    tx,
                    actor.as_ref(),
                    "student.create",
                    Some(user.id.as_str()),
                    &detail,
                )?;
                Ok(user.id)
            }
            ([], None) => Err(format!(
                "no student with roll {key} (--create-missing creates one)"
            )),
            _ => Err(format!(
                "several students have roll {key}; use their e-mail"
            )),
        })
    })
    .await
}
