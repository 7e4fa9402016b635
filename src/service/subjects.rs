//! Subjects and their rosters: who may see and change a subject (its teachers and
//! administrators), enrolment and the teacher's approval of it.

use rusqlite::Connection;

use super::auth::AuthUser;
use super::{Error, Result};
use crate::domain::{Id, Role};
use crate::storage::subjects::{self, Enrolled, RosterEntry, Subject};
use crate::storage::{Db, StorageError, audit, students};

/// Subject kinds the seed frontend knows.
pub const KINDS: [&str; 3] = ["Core", "Lab", "Elective"];

/// A subject with its teachers.
#[derive(Debug, Clone)]
pub struct SubjectDetail {
    pub subject: Subject,
    pub teacher_ids: Vec<Id>,
    /// The weekly periods its teachers' timetables give it.
    pub slots: Vec<super::schedule::SubjectSlot>,
}

/// The weekly slots `subject` occupies in its teachers' timetables (`metadata.subject_id`).
fn slots(
    conn: &rusqlite::Connection,
    subject: &Id,
    teachers: &[Id],
) -> Result<Vec<super::schedule::SubjectSlot>> {
    let mut out = Vec::new();
    for t in teachers {
        let stored = crate::storage::users::teacher_profile(conn, t)?
            .and_then(|p| p.schedule)
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok());
        if let Some(v) = stored {
            out.extend(super::schedule::from_stored(&v).slots_of(subject.as_str(), t.as_str()));
        }
    }
    Ok(out)
}

pub struct SubjectInput {
    pub name: String,
    pub code: String,
    pub kind: Option<String>,
}

struct Checked {
    name: String,
    code: String,
    kind: Option<String>,
}

fn check(input: SubjectInput) -> Result<Checked> {
    let name = input.name.trim().to_owned();
    let code = input.code.trim().to_uppercase();
    if name.is_empty() || code.is_empty() {
        return Err(Error::BadRequest("Name and Code required".into()));
    }
    if name.chars().count() > 100 {
        return Err(Error::Invalid("name must be at most 100 characters".into()));
    }
    if code.chars().count() > 30 {
        return Err(Error::Invalid("code must be at most 30 characters".into()));
    }
    let kind = match input.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(k) => Some(
            KINDS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(k))
                .map(|known| (*known).to_owned())
                .ok_or_else(|| Error::Invalid("type must be one of Core, Lab, Elective".into()))?,
        ),
    };
    Ok(Checked { name, code, kind })
}

/// The subject, if `user` may manage it: an administrator, or one of its teachers.
/// Unknown subject: 404; someone else's: 403.
pub(crate) fn managed(conn: &Connection, user: &AuthUser, id: &Id) -> Result<Subject> {
    let subject =
        subjects::by_id(conn, id)?.ok_or_else(|| Error::NotFound("Subject not found".into()))?;
    match user.role {
        Role::Admin => Ok(subject),
        Role::Teacher if subjects::is_teacher(conn, id, &user.id)? => Ok(subject),
        Role::Teacher => Err(Error::Forbidden("You do not teach this subject".into())),
        Role::Student => Err(Error::Forbidden("Teacher access required".into())),
    }
}

pub(crate) fn run<T: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> impl Future<Output = Result<T>> {
    let db = db.clone();
    async move {
        db.call(move |conn| Ok::<_, StorageError>(f(conn)))
            .await
            .map_err(Error::from)?
    }
}

/// Create a subject; if its code exists, the teacher joins it as a co-teacher and the stored
/// subject (its name wins) is returned, as the seed's add-subject does.
pub async fn create(db: &Db, user: &AuthUser, input: SubjectInput) -> Result<SubjectDetail> {
    let c = check(input)?;
    let user = user.clone();
    run(db, move |conn| {
        let tx = conn.transaction().map_err(StorageError::from)?;
        let subject = match subjects::by_code(&tx, &c.code)? {
            Some(existing) => existing,
            None => {
                let s = subjects::insert(&tx, &c.name, &c.code, c.kind.as_deref())?;
                audit::record(
                    &tx,
                    Some(&user.id),
                    "subject.create",
                    Some(s.id.as_str()),
                    &s.code,
                )?;
                s
            }
        };
        if user.role == Role::Teacher {
            subjects::add_teacher(&tx, &subject.id, &user.id)?;
        }
        let teacher_ids = subjects::teacher_ids(&tx, &subject.id)?;
        let slots = slots(&tx, &subject.id, &teacher_ids)?;
        tx.commit().map_err(StorageError::from)?;
        Ok(SubjectDetail {
            subject,
            teacher_ids,
            slots,
        })
    })
    .await
}

/// What the caller may list: a teacher's own subjects, every subject for an administrator,
/// a student's enrolments.
pub async fn list(db: &Db, user: &AuthUser) -> Result<Vec<Enrolled>> {
    let user = user.clone();
    run(db, move |conn| {
        Ok(match user.role {
            Role::Admin => subjects::all(conn)?
                .into_iter()
                .map(|subject| Enrolled {
                    subject,
                    verified: false,
                })
                .collect(),
            Role::Teacher => subjects::of_teacher(conn, &user.id)?
                .into_iter()
                .map(|subject| Enrolled {
                    subject,
                    verified: false,
                })
                .collect(),
            Role::Student => subjects::of_student(conn, &user.id)?,
        })
    })
    .await
}

/// The subjects a student is enrolled in (access is the caller's to check).
pub async fn of_student(db: &Db, student: Id) -> Result<Vec<Enrolled>> {
    run(db, move |conn| Ok(subjects::of_student(conn, &student)?)).await
}

/// Every subject with its teachers (a student browsing what to join).
pub async fn all_with_teachers(db: &Db) -> Result<Vec<SubjectDetail>> {
    run(db, |conn| {
        subjects::all(conn)?
            .into_iter()
            .map(|subject| {
                let teacher_ids = subjects::teacher_ids(conn, &subject.id)?;
                let slots = slots(conn, &subject.id, &teacher_ids)?;
                Ok(SubjectDetail {
                    subject,
                    teacher_ids,
                    slots,
                })
            })
            .collect()
    })
    .await
}

pub async fn get(db: &Db, user: &AuthUser, id: Id) -> Result<SubjectDetail> {
    let user = user.clone();
    run(db, move |conn| {
        let subject = managed(conn, &user, &id)?;
        let teacher_ids = subjects::teacher_ids(conn, &id)?;
        let slots = slots(conn, &id, &teacher_ids)?;
        Ok(SubjectDetail {
            subject,
            teacher_ids,
            slots,
        })
    })
    .await
}

pub async fn update(
    db: &Db,
    user: &AuthUser,
    id: Id,
    input: SubjectInput,
) -> Result<SubjectDetail> {
    let c = check(input)?;
    let user = user.clone();
    run(db, move |conn| {
        managed(conn, &user, &id)?;
        match subjects::update(conn, &id, &c.name, &c.code, c.kind.as_deref()) {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "Subject code {} already exists",
                    c.code
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let subject = subjects::by_id(conn, &id)?
            .ok_or_else(|| Error::NotFound("Subject not found".into()))?;
        let teacher_ids = subjects::teacher_ids(conn, &id)?;
        let slots = slots(conn, &id, &teacher_ids)?;
        Ok(SubjectDetail {
            subject,
            teacher_ids,
            slots,
        })
    })
    .await
}

pub async fn delete(db: &Db, user: &AuthUser, id: Id) -> Result<()> {
    let user = user.clone();
    run(db, move |conn| {
        let tx = conn.transaction().map_err(StorageError::from)?;
        let subject = managed(&tx, &user, &id)?;
        subjects::delete(&tx, &id)?;
        audit::record(
            &tx,
            Some(&user.id),
            "subject.delete",
            Some(id.as_str()),
            &subject.code,
        )?;
        tx.commit().map_err(StorageError::from)?;
        Ok(())
    })
    .await
}

/// Enrol students by id and/or roll number; a teacher's enrolments are approved at once.
/// Returns how many new enrolments were made.
pub async fn add_students(
    db: &Db,
    user: &AuthUser,
    id: Id,
    student_ids: Vec<Id>,
    rolls: Vec<String>,
) -> Result<usize> {
    let user = user.clone();
    run(db, move |conn| {
        let tx = conn.transaction().map_err(StorageError::from)?;
        managed(&tx, &user, &id)?;
        let mut targets = Vec::new();
        for sid in student_ids {
            if students::get(&tx, &sid)?.is_none() {
                return Err(Error::NotFound(format!("Student {sid} not found")));
            }
            targets.push(sid);
        }
        for roll in rolls {
            let roll = roll.trim().to_owned();
            let found = students::by_roll(&tx, &roll)?;
            match found.as_slice() {
                [one] => targets.push(one.clone()),
                [] => return Err(Error::NotFound(format!("No student with roll {roll}"))),
                _ => {
                    return Err(Error::Conflict(format!(
                        "Several students have roll {roll}; add them by id"
                    )));
                }
            }
        }
        let mut added = 0;
        for sid in &targets {
            if subjects::enrol(&tx, &id, sid, true)? {
                added += 1;
            }
        }
        tx.commit().map_err(StorageError::from)?;
        Ok(added)
    })
    .await
}

/// Remove a student from a subject (no error if they were not enrolled).
pub async fn remove_student(db: &Db, user: &AuthUser, id: Id, student: Id) -> Result<bool> {
    let user = user.clone();
    run(db, move |conn| {
        managed(conn, &user, &id)?;
        Ok(subjects::unenrol(conn, &id, &student)?)
    })
    .await
}

/// Approve a student's enrolment; idempotent.
pub async fn verify_student(db: &Db, user: &AuthUser, id: Id, student: Id) -> Result<()> {
    let user = user.clone();
    run(db, move |conn| {
        managed(conn, &user, &id)?;
        if subjects::is_enrolled(conn, &id, &student)? {
            subjects::set_verified(conn, &id, &student)?;
            Ok(())
        } else {
            Err(Error::NotFound(
                "Student not enrolled in this subject".into(),
            ))
        }
    })
    .await
}

pub async fn roster(db: &Db, user: &AuthUser, id: Id) -> Result<Vec<RosterEntry>> {
    let user = user.clone();
    run(db, move |conn| {
        managed(conn, &user, &id)?;
        Ok(subjects::roster(conn, &id)?)
    })
    .await
}

/// A student joins a subject (awaiting their teacher's approval); idempotent.
pub async fn join(db: &Db, student: &AuthUser, id: Id) -> Result<()> {
    let student = student.id.clone();
    run(db, move |conn| {
        if students::get(conn, &student)?.is_none() {
            return Err(Error::NotFound("Student not found".into()));
        }
        if subjects::by_id(conn, &id)?.is_none() {
            return Err(Error::NotFound("Subject not found".into()));
        }
        subjects::enrol(conn, &id, &student, false)?;
        Ok(())
    })
    .await
}

/// A student leaves a subject; 400 if they were not in it.
pub async fn leave(db: &Db, student: &AuthUser, id: Id) -> Result<()> {
    let student = student.id.clone();
    run(db, move |conn| {
        if subjects::by_id(conn, &id)?.is_none() {
            return Err(Error::NotFound("Subject not found".into()));
        }
        if subjects::unenrol(conn, &id, &student)? {
            Ok(())
        } else {
            Err(Error::BadRequest("Subject not assigned to student".into()))
        }
    })
    .await
}
