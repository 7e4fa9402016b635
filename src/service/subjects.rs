//! Subjects and their rosters: who may see and change a subject (its teachers and
//! administrators), who becomes one of its teachers (only by a current teacher's or an
//! administrator's hand), enrolment and the teacher's approval of it. Every change of a
//! subject's teachers or students is audited.

use crate::storage::Conn;

use super::auth::{AuthUser, optional_text};
use super::{Actor, Error, Result};
use crate::domain::students::StudentRecord;
use crate::domain::subjects::{Enrolled, RosterEntry, Subject};
use crate::domain::{Id, Role};
use crate::storage::subjects;
use crate::storage::{Db, audit, students};

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
    conn: &Conn<'_>,
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
    // Names and codes end up in lists, CSV file names, e-mail subjects: one line of plain text.
    let name = optional_text("name", &name, 100)?;
    if code.chars().count() > 30 {
        return Err(Error::Invalid("code must be at most 30 characters".into()));
    }
    if !code
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '/'))
    {
        return Err(Error::Invalid(
            "code may hold only letters, digits, spaces and - _ . /".into(),
        ));
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
pub(crate) fn managed(conn: &Conn<'_>, user: &AuthUser, id: &Id) -> Result<Subject> {
    let subject =
        subjects::by_id(conn, id)?.ok_or_else(|| Error::NotFound("Subject not found".into()))?;
    match user.role {
        Role::Admin => Ok(subject),
        Role::Teacher if subjects::is_teacher(conn, id, &user.id)? => Ok(subject),
        Role::Teacher => Err(Error::Forbidden("You do not teach this subject".into())),
        Role::Student => Err(Error::Forbidden("Teacher access required".into())),
    }
}

fn code_taken(code: &str) -> Error {
    Error::Conflict(format!(
        "Subject code {code} is already in use. To teach that subject, ask one of its teachers or an administrator to add you; otherwise choose another code"
    ))
}

/// Create a subject; a teacher who creates one is its first teacher. A code already in use is a
/// 409: nobody joins someone else's subject by knowing its code (the seed added them as a
/// co-teacher); its teachers or an administrator add co-teachers ([`add_teacher`]).
pub async fn create(db: &Db, user: &AuthUser, input: SubjectInput) -> Result<SubjectDetail> {
    let c = check(input)?;
    let user = user.clone();
    db.transaction(move |tx| {
        if subjects::by_code(tx, &c.code)?.is_some() {
            return Err(code_taken(&c.code));
        }
        let subject = match subjects::insert(tx, &c.name, &c.code, c.kind.as_deref()) {
            Ok(s) => s,
            Err(e) if e.is_unique_violation() => return Err(code_taken(&c.code)),
            Err(e) => return Err(e.into()),
        };
        audit::record(
            tx,
            Some(&user.id),
            "subject.create",
            Some(subject.id.as_str()),
            &subject.code,
        )?;
        if user.role == Role::Teacher {
            subjects::add_teacher(tx, &subject.id, &user.id)?;
            audit::record(
                tx,
                Some(&user.id),
                "subject.teacher_add",
                Some(subject.id.as_str()),
                &format!("teacher={} (creator)", user.id),
            )?;
        }
        let detail = detail(tx, subject)?;
        Ok(detail)
    })
    .await
}

/// What the caller may list: a teacher's own subjects, every subject for an administrator,
/// a student's enrolments.
pub async fn list(db: &Db, user: &AuthUser) -> Result<Vec<Enrolled>> {
    let user = user.clone();
    db.run(move |conn| {
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
    db.run(move |conn| Ok(subjects::of_student(conn, &student)?))
        .await
}

/// Every subject with its teachers (a student browsing what to join).
pub async fn all_with_teachers(db: &Db) -> Result<Vec<SubjectDetail>> {
    db.run(|conn| {
        subjects::all(conn)?
            .into_iter()
            .map(|subject| detail(conn, subject))
            .collect()
    })
    .await
}

pub async fn get(db: &Db, user: &AuthUser, id: Id) -> Result<SubjectDetail> {
    let user = user.clone();
    db.run(move |conn| detail(conn, managed(conn, &user, &id)?))
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
    db.transaction(move |tx| {
        let before = managed(tx, &user, &id)?;
        match subjects::update(tx, &id, &c.name, &c.code, c.kind.as_deref()) {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "Subject code {} already exists",
                    c.code
                )));
            }
            Err(e) => return Err(e.into()),
        }
        audit::record(
            tx,
            Some(&user.id),
            "subject.update",
            Some(id.as_str()),
            &format!("{} -> {}", before.code, c.code),
        )?;
        let subject =
            subjects::by_id(tx, &id)?.ok_or_else(|| Error::NotFound("Subject not found".into()))?;
        let detail = detail(tx, subject)?;
        Ok(detail)
    })
    .await
}

pub async fn delete(db: &Db, user: &AuthUser, id: Id) -> Result<()> {
    let user = user.clone();
    db.transaction(move |tx| {
        let subject = managed(tx, &user, &id)?;
        // Recorded attendance is the school's record, not one teacher's to erase.
        let sessions = subjects::session_count(tx, &id)?;
        if sessions > 0 && user.role != Role::Admin {
            return Err(Error::Forbidden(format!(
                "This subject has {sessions} recorded attendance sessions; only an administrator can delete it"
            )));
        }
        subjects::delete(tx, &id)?;
        audit::record(
            tx,
            Some(&user.id),
            "subject.delete",
            Some(id.as_str()),
            &format!("{} ({sessions} sessions)", subject.code),
        )?;
        Ok(())
    })
    .await
}

/// Whether `user` may enrol `student` in a subject they manage without anyone else's consent:
/// an administrator always; a teacher for students they created, and for students in no class
/// of another teacher. Anyone else joins the subject themselves ([`join`]) for the teacher to
/// approve, or an administrator enrols them.
fn may_enrol(conn: &Conn<'_>, user: &AuthUser, student: &StudentRecord) -> Result<bool> {
    Ok(match user.role {
        Role::Admin => true,
        Role::Teacher => {
            student.created_by.as_ref() == Some(&user.id)
                || !subjects::in_other_class(conn, &student.id, &user.id)?
        }
        Role::Student => false,
    })
}

/// Enrol students by id and/or roll number; a teacher's enrolments are approved at once.
/// A teacher may add only students they may enrol ([`may_enrol`]); the whole request is refused
/// (403, naming them) otherwise. Returns how many new enrolments were made.
pub async fn add_students(
    db: &Db,
    user: &AuthUser,
    id: Id,
    student_ids: Vec<Id>,
    rolls: Vec<String>,
) -> Result<usize> {
    let user = user.clone();
    db.transaction(move |tx| {
        managed(tx, &user, &id)?;
        let mut targets: Vec<(StudentRecord, String)> = Vec::new();
        for sid in student_ids {
            let Some(record) = students::get(tx, &sid)? else {
                return Err(Error::NotFound(format!("Student {sid} not found")));
            };
            targets.push((record, sid.to_string()));
        }
        for roll in rolls {
            let roll = roll.trim().to_owned();
            let found = students::by_roll(tx, &roll)?;
            let one = match found.as_slice() {
                [one] => one.clone(),
                [] => return Err(Error::NotFound(format!("No student with roll {roll}"))),
                _ => {
                    return Err(Error::Conflict(format!(
                        "Several students have roll {roll}; add them by id"
                    )));
                }
            };
            let record = students::get(tx, &one)?
                .ok_or_else(|| Error::NotFound(format!("No student with roll {roll}")))?;
            targets.push((record, format!("roll {roll}")));
        }
        let mut refused = Vec::new();
        for (record, asked) in &targets {
            if !subjects::is_enrolled(tx, &id, &record.id)? && !may_enrol(tx, &user, record)? {
                refused.push(asked.clone());
            }
        }
        if !refused.is_empty() {
            return Err(Error::Forbidden(format!(
                "Not added: {} already in another teacher's class. Ask them to join this subject themselves (you then approve them), or ask an administrator",
                refused.join(", ")
            )));
        }
        let mut added = 0;
        for (record, _) in &targets {
            if subjects::enrol(tx, &id, &record.id, true)? {
                added += 1;
                audit::record(
                    tx,
                    Some(&user.id),
                    "subject.enrol",
                    Some(id.as_str()),
                    &format!("student={}", record.id),
                )?;
            }
        }
        Ok(added)
    })
    .await
}

/// Enrol one student in a subject on `by`'s word (`rollcall enroll --subject`): a teacher must
/// manage the subject; audited `subject.enrol` like the API's when the student was not enrolled
/// yet. Returns whether they were added now.
pub async fn enrol_one(db: &Db, by: Actor<'_>, subject: Id, student: Id) -> Result<bool> {
    let user = match by {
        Actor::User(u) => Some(u.clone()),
        Actor::Operator => None,
    };
    let (actor, detail) = (by.id(), by.detail(&format!("student={student}")));
    db.transaction(move |tx| {
        if let Some(user) = &user {
            managed(tx, user, &subject)?;
        }
        let added = subjects::enrol(tx, &subject, &student, true)?;
        if added {
            audit::record(
                tx,
                actor.as_ref(),
                "subject.enrol",
                Some(subject.as_str()),
                &detail,
            )?;
        }
        Ok(added)
    })
    .await
}

/// Remove a student from a subject (no error if they were not enrolled). Their attendance
/// records stay: reports of the subject keep showing them for the sessions they were in.
pub async fn remove_student(db: &Db, user: &AuthUser, id: Id, student: Id) -> Result<bool> {
    let user = user.clone();
    db.transaction(move |tx| {
        managed(tx, &user, &id)?;
        let removed = subjects::unenrol(tx, &id, &student)?;
        if removed {
            audit::record(
                tx,
                Some(&user.id),
                "subject.unenrol",
                Some(id.as_str()),
                &format!("student={student}"),
            )?;
        }
        Ok(removed)
    })
    .await
}

/// Approve a student's enrolment; idempotent.
pub async fn verify_student(db: &Db, user: &AuthUser, id: Id, student: Id) -> Result<()> {
    let user = user.clone();
    db.transaction(move |tx| {
        managed(tx, &user, &id)?;
        match subjects::enrolment_verified(tx, &id, &student)? {
            None => Err(Error::NotFound(
                "Student not enrolled in this subject".into(),
            )),
            Some(true) => Ok(()),
            Some(false) => {
                subjects::set_verified(tx, &id, &student)?;
                audit::record(
                    tx,
                    Some(&user.id),
                    "subject.approve",
                    Some(id.as_str()),
                    &format!("student={student}"),
                )?;
                Ok(())
            }
        }
    })
    .await
}

pub async fn roster(db: &Db, user: &AuthUser, id: Id) -> Result<Vec<RosterEntry>> {
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &id)?;
        Ok(subjects::roster(conn, &id)?)
    })
    .await
}

/// A student asks to join a subject (awaiting its teacher's approval); idempotent.
pub async fn join(db: &Db, student: &AuthUser, id: Id) -> Result<()> {
    let student = student.id.clone();
    db.transaction(move |tx| {
        if students::get(tx, &student)?.is_none() {
            return Err(Error::NotFound("Student not found".into()));
        }
        if subjects::by_id(tx, &id)?.is_none() {
            return Err(Error::NotFound("Subject not found".into()));
        }
        if subjects::enrol(tx, &id, &student, false)? {
            audit::record(
                tx,
                Some(&student),
                "subject.join",
                Some(id.as_str()),
                &format!("student={student}"),
            )?;
        }
        Ok(())
    })
    .await
}

/// A student withdraws their request to join a subject; 400 if they were not in it. Once a
/// teacher approved the enrolment only staff remove them (403): a student cannot drop out of a
/// class's register by themselves.
pub async fn leave(db: &Db, student: &AuthUser, id: Id) -> Result<()> {
    let student = student.id.clone();
    db.transaction(move |tx| {
        if subjects::by_id(tx, &id)?.is_none() {
            return Err(Error::NotFound("Subject not found".into()));
        }
        match subjects::enrolment_verified(tx, &id, &student)? {
            None => Err(Error::BadRequest("Subject not assigned to student".into())),
            Some(true) => Err(Error::Forbidden(
                "Your teacher has approved your enrolment in this subject; ask them to remove you"
                    .into(),
            )),
            Some(false) => {
                subjects::unenrol(tx, &id, &student)?;
                audit::record(
                    tx,
                    Some(&student),
                    "subject.leave",
                    Some(id.as_str()),
                    &format!("student={student} (request withdrawn)"),
                )?;
                Ok(())
            }
        }
    })
    .await
}

/// Who is to become a co-teacher: an account id or an e-mail address.
pub enum TeacherRef {
    Id(Id),
    Email(String),
}

/// A current teacher of the subject or an administrator makes another teacher a co-teacher
/// (audited). Idempotent.
pub async fn add_teacher(
    db: &Db,
    user: &AuthUser,
    id: Id,
    teacher: TeacherRef,
) -> Result<SubjectDetail> {
    let user = user.clone();
    db.transaction(move |tx| {
        let subject = managed(tx, &user, &id)?;
        let account = match &teacher {
            TeacherRef::Id(t) => crate::storage::users::by_id(tx, t)?,
            TeacherRef::Email(e) => match crate::domain::Email::parse(e) {
                Some(e) => crate::storage::users::by_email(tx, &e)?,
                None => {
                    return Err(Error::Invalid("email is not a valid e-mail address".into()));
                }
            },
        }
        .filter(|u| u.role == Role::Teacher)
        .ok_or_else(|| Error::NotFound("No teacher account found".into()))?;
        if !subjects::is_teacher(tx, &id, &account.id)? {
            subjects::add_teacher(tx, &id, &account.id)?;
            audit::record(
                tx,
                Some(&user.id),
                "subject.teacher_add",
                Some(id.as_str()),
                &format!("teacher={}", account.id),
            )?;
        }
        let detail = detail(tx, subject)?;
        Ok(detail)
    })
    .await
}

/// Remove a teacher from a subject (audited): an administrator removes anyone; a teacher only
/// themselves, and not as its last teacher (an administrator then hands the class over).
pub async fn remove_teacher(
    db: &Db,
    user: &AuthUser,
    id: Id,
    teacher: Id,
) -> Result<SubjectDetail> {
    let user = user.clone();
    db.transaction(move |tx| {
        let subject = managed(tx, &user, &id)?;
        if user.role != Role::Admin {
            if teacher != user.id {
                return Err(Error::Forbidden(
                    "Teachers may remove only themselves from a subject; ask an administrator"
                        .into(),
                ));
            }
            if subjects::teacher_ids(tx, &id)?.len() <= 1 {
                return Err(Error::Conflict(
                    "You are this subject's only teacher; add another teacher first, or ask an administrator"
                        .into(),
                ));
            }
        }
        if !subjects::remove_teacher(tx, &id, &teacher)? {
            return Err(Error::NotFound("Not a teacher of this subject".into()));
        }
        audit::record(
            tx,
            Some(&user.id),
            "subject.teacher_remove",
            Some(id.as_str()),
            &format!("teacher={teacher}"),
        )?;
        let detail = detail(tx, subject)?;
        Ok(detail)
    })
    .await
}

/// A subject with its teachers and the slots their timetables give it.
fn detail(conn: &Conn<'_>, subject: Subject) -> Result<SubjectDetail> {
    let teacher_ids = subjects::teacher_ids(conn, &subject.id)?;
    let slots = slots(conn, &subject.id, &teacher_ids)?;
    Ok(SubjectDetail {
        subject,
        teacher_ids,
        slots,
    })
}
