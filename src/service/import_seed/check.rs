//! Checking: every document mapped to the rows it becomes, every reference resolved, nothing in
//! the database in the way. Problems are collected, not stopped at, so one run lists them all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::Report;
use super::read::{Doc, Raw, datetime, flag, int, oid, oids, opt_text, text};
use crate::domain::{Email, Role};
use crate::storage::seed_import as store;
use crate::storage::{Conn, now_unix};

/// The highest bcrypt cost accepted (the seed uses the library default, 12).
const MAX_BCRYPT_COST: u32 = 16;

/// `$2b$NN$` and 53 characters of salt and digest, with a cost a login can afford.
fn plausible_bcrypt(hash: &str) -> bool {
    hash.len() == 60
        && hash
            .get(4..6)
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| (4..=MAX_BCRYPT_COST).contains(&c))
        && hash.get(6..7) == Some("$")
}

fn is_day(s: &str) -> bool {
    s.len() == 10
        && time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
}

pub(super) struct Row<T> {
    pub(super) seed_id: String,
    pub(super) digest: String,
    pub(super) data: T,
}

pub(super) struct User {
    pub(super) email: String,
    pub(super) name: String,
    pub(super) role: Role,
    /// The seed's bcrypt hash; None when the account had none (e.g. Google sign-in).
    pub(super) legacy_hash: Option<String>,
    pub(super) college: String,
    pub(super) verified: bool,
    pub(super) created: i64,
}

pub(super) struct Teacher {
    pub(super) user: String,
    pub(super) employee_id: String,
    pub(super) phone: String,
    pub(super) branch: String,
    pub(super) department: Option<String>,
    pub(super) avatar: Option<String>,
    pub(super) settings: Option<String>,
    pub(super) schedule: Option<String>,
}

pub(super) struct Student {
    pub(super) user: String,
    pub(super) roll: String,
    pub(super) branch: String,
    pub(super) year: String,
}

pub(super) struct Subject {
    pub(super) name: String,
    pub(super) code: String,
    pub(super) kind: Option<String>,
    pub(super) created: i64,
    pub(super) updated: i64,
    pub(super) teachers: BTreeSet<String>,
    /// (student user id, teacher's approval).
    pub(super) enrolments: BTreeMap<String, bool>,
}

pub(super) struct Day {
    pub(super) subject: String,
    pub(super) date: String,
    pub(super) teacher: Option<String>,
    pub(super) present: i64,
    pub(super) late: i64,
    pub(super) absent: i64,
    pub(super) created: i64,
}

pub(super) struct Mail {
    pub(super) kind: String,
    pub(super) recipient: String,
    pub(super) recipient_name: Option<String>,
    pub(super) subject: String,
    pub(super) sent: bool,
    pub(super) error: Option<String>,
    pub(super) sent_by: Option<String>,
    pub(super) at: i64,
    pub(super) meta: Option<String>,
}

#[derive(Default)]
pub(super) struct Plan {
    pub(super) users: Vec<Row<User>>,
    pub(super) teachers: Vec<Row<Teacher>>,
    pub(super) students: Vec<Row<Student>>,
    pub(super) subjects: Vec<Row<Subject>>,
    pub(super) days: Vec<Row<Day>>,
    pub(super) mails: Vec<Row<Mail>>,
    /// Summaries of subjects that do not exist.
    pub(super) skipped_days: usize,
    /// Placeholder hash for accounts without a seed password (nobody knows the password).
    pub(super) placeholder: String,
}

fn docs<'a>(raw: &'a Raw, name: &str) -> &'a [Doc] {
    raw.get(name).map_or(&[], Vec::as_slice)
}

fn row<T>(d: &Doc, data: T) -> Row<T> {
    Row {
        seed_id: d.id.clone(),
        digest: d.digest.clone(),
        data,
    }
}

pub(super) fn check(conn: &Conn<'_>, raw: &Raw, report: &mut Report) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let problems = &mut report.problems;
    let notes = &mut report.notes;
    let now = now_unix();

    // users
    let mut roles: HashMap<String, Role> = HashMap::new();
    let mut emails: HashMap<String, String> = HashMap::new();
    let mut no_password = 0usize;
    for d in docs(raw, "users") {
        let role = match text(&d.v, "role").to_lowercase().as_str() {
            "teacher" => Role::Teacher,
            "student" => Role::Student,
            other => {
                problems.push(format!(
                    "{}: user {} has role {other:?}; only teacher and student accounts can be imported (fix or remove it in the export)",
                    d.at, d.id
                ));
                continue;
            }
        };
        let Some(email) = Email::parse(&text(&d.v, "email")) else {
            problems.push(format!(
                "{}: user {} has no valid e-mail address",
                d.at, d.id
            ));
            continue;
        };
        let email = email.as_str().to_owned();
        if let Some(first) = emails.insert(email.clone(), d.id.clone()) {
            problems.push(format!(
                "{}: duplicate e-mail {email}: users {first} and {} (e-mails are unique, case-insensitive, in rollcall; merge or remove one)",
                d.at, d.id
            ));
            continue;
        }
        let hash = text(&d.v, "password_hash");
        let legacy_hash = crate::service::password::is_legacy(&hash).then_some(hash);
        match &legacy_hash {
            None => no_password += 1,
            // A hash that could never match, or so costly that checking it would stall logins.
            Some(h) if !plausible_bcrypt(h) => {
                problems.push(format!(
                    "{}: user {} has a malformed bcrypt password_hash, or a cost above {MAX_BCRYPT_COST}",
                    d.at, d.id
                ));
                continue;
            }
            Some(_) => {}
        }
        roles.insert(d.id.clone(), role);
        plan.users.push(row(
            d,
            User {
                email,
                name: text(&d.v, "name"),
                role,
                legacy_hash,
                college: text(&d.v, "college_name"),
                verified: flag(&d.v, "is_verified"),
                created: datetime(d.v.get("created_at")).unwrap_or(now),
            },
        ));
    }
    if no_password > 0 {
        notes.push(format!(
            "{no_password} account(s) had no seed password (Google sign-in?): they get one with \"forgot password\""
        ));
        plan.placeholder = crate::service::password::hash(&crate::service::password::generate())?;
    }
    let role_of = |id: &str| roles.get(id).copied();

    // subjects first (teachers and students refer to them), written after them
    let mut codes: HashMap<String, String> = HashMap::new();
    for d in docs(raw, "subjects") {
        let code = text(&d.v, "code").to_uppercase();
        if code.is_empty() {
            problems.push(format!("{}: subject {} has no code", d.at, d.id));
            continue;
        }
        if let Some(first) = codes.insert(code.clone(), d.id.clone()) {
            problems.push(format!(
                "{}: duplicate subject code {code}: subjects {first} and {}",
                d.at, d.id
            ));
            continue;
        }
        let mut teachers = BTreeSet::new();
        for p in oids(&d.v, "professor_ids") {
            match p {
                Some(t) if role_of(&t) == Some(Role::Teacher) => {
                    teachers.insert(t);
                }
                Some(t) => problems.push(format!(
                    "{}: subject {code} names professor {t}, who is not a teacher in users",
                    d.at
                )),
                None => problems.push(format!(
                    "{}: subject {code} has a professor_ids entry that is not an ObjectId",
                    d.at
                )),
            }
        }
        let mut enrolments = BTreeMap::new();
        for e in
            d.v.get("students")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        {
            let Some(entry) = e.as_object() else {
                problems.push(format!(
                    "{}: subject {code} has a students entry that is not an object",
                    d.at
                ));
                continue;
            };
            match oid(entry.get("student_id")) {
                Some(s) if role_of(&s) == Some(Role::Student) => {
                    enrolments.insert(s, flag(entry, "verified"));
                }
                Some(s) => problems.push(format!(
                    "{}: subject {code} enrols {s}, who is not a student in users (dangling reference)",
                    d.at
                )),
                None => problems.push(format!(
                    "{}: subject {code} has an enrolment without a student_id ObjectId",
                    d.at
                )),
            }
        }
        let created = datetime(d.v.get("created_at")).unwrap_or(now);
        let kind =
            opt_text(&d.v, "type").filter(|k| ["Core", "Lab", "Elective"].contains(&k.as_str()));
        plan.subjects.push(row(
            d,
            Subject {
                name: text(&d.v, "name"),
                code,
                kind,
                created,
                updated: datetime(d.v.get("updated_at")).unwrap_or(created),
                teachers,
                enrolments,
            },
        ));
    }
    let subject_at: HashMap<String, usize> = plan
        .subjects
        .iter()
        .enumerate()
        .map(|(i, s)| (s.seed_id.clone(), i))
        .collect();

    // teachers
    let mut profiles = BTreeSet::new();
    for d in docs(raw, "teachers") {
        let user = oid(d.v.get("userId")).or_else(|| oid(d.v.get("user_id")));
        let Some(user) = profile_owner(d, user, Role::Teacher, &roles, &mut profiles, problems)
        else {
            continue;
        };
        for s in oids(&d.v, "subjects") {
            match s.as_ref().and_then(|s| subject_at.get(s)) {
                Some(&i) => {
                    plan.subjects[i].data.teachers.insert(user.clone());
                }
                None => problems.push(format!(
                    "{}: teacher {user} lists subject {}, which is not in subjects (dangling reference)",
                    d.at,
                    s.unwrap_or_default()
                )),
            }
        }
        let json = |key: &str| d.v.get(key).filter(|v| v.is_object()).map(Value::to_string);
        plan.teachers.push(row(
            d,
            Teacher {
                user,
                employee_id: text(&d.v, "employee_id"),
                phone: text(&d.v, "phone"),
                branch: text(&d.v, "branch"),
                department: opt_text(&d.v, "department"),
                avatar: opt_text(&d.v, "avatarUrl"),
                settings: json("settings"),
                schedule: json("schedule"),
            },
        ));
    }

    // students
    let mut pixels = 0usize;
    let mut drift = 0usize;
    for d in docs(raw, "students") {
        let user = oid(d.v.get("userId"));
        let Some(user) = profile_owner(d, user, Role::Student, &roles, &mut profiles, problems)
        else {
            continue;
        };
        if d.v
            .get("face_embeddings")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            pixels += 1;
        }
        for s in oids(&d.v, "subjects") {
            match s.as_ref().and_then(|s| subject_at.get(s)) {
                Some(&i) => {
                    let e = &mut plan.subjects[i].data.enrolments;
                    if !e.contains_key(&user) {
                        e.insert(user.clone(), false);
                        drift += 1;
                    }
                }
                None => problems.push(format!(
                    "{}: student {user} lists subject {}, which is not in subjects (dangling reference)",
                    d.at,
                    s.unwrap_or_default()
                )),
            }
        }
        plan.students.push(row(
            d,
            Student {
                user,
                roll: text(&d.v, "roll"),
                branch: text(&d.v, "branch"),
                year: text(&d.v, "year"),
            },
        ));
    }
    if pixels > 0 {
        notes.push(format!(
            "{pixels} student(s) had seed face \"embeddings\" (9,216 raw pixels, not usable for matching): not imported; those students need face enrolment"
        ));
    }
    if drift > 0 {
        notes.push(format!(
            "{drift} enrolment(s) were only on the student side (students.subjects, the seed's two copies drifted): imported as not yet approved by the teacher"
        ));
    }

    // attendance_daily
    let mut day_keys = BTreeSet::new();
    let mut recorded_days: HashMap<String, i64> = HashMap::new();
    for d in docs(raw, "attendance_daily") {
        let subject = oid(d.v.get("classId")).or_else(|| oid(d.v.get("subjectId")));
        let date = text(&d.v, "date");
        let Some(subject) = subject else {
            problems.push(format!("{}: daily summary {} has no classId", d.at, d.id));
            continue;
        };
        if !is_day(&date) {
            problems.push(format!(
                "{}: daily summary {} has date {date:?}, not YYYY-MM-DD",
                d.at, d.id
            ));
            continue;
        }
        let Some(&si) = subject_at.get(&subject) else {
            // The seed writes a summary even for a subject that does not exist (seed-api §4.3).
            notes.push(format!(
                "attendance_daily {}: subject {subject} does not exist (the seed records confirmations of missing subjects): skipped",
                d.id
            ));
            plan.skipped_days += 1;
            continue;
        };
        if !day_keys.insert((subject.clone(), date.clone())) {
            problems.push(format!(
                "{}: a second daily summary for subject {subject} on {date}",
                d.at
            ));
            continue;
        }
        let summary = d.v.get("summary").and_then(Value::as_object);
        let get = |k: &str| summary.and_then(|s| int(s.get(k))).unwrap_or(0).max(0);
        let (present, absent, late) = (get("present"), get("absent"), get("late"));
        let sum = present + absent + late;
        let code = &plan.subjects[si].data.code;
        if let Some(total) = summary.and_then(|s| int(s.get("total")))
            && total != sum
        {
            notes.push(format!(
                "attendance_daily {}: {code} on {date}: total {total} but present + absent + late = {sum}; imported the three counts as recorded",
                d.id
            ));
        }
        let enrolled = i64::try_from(plan.subjects[si].data.enrolments.len()).unwrap_or(i64::MAX);
        if sum > enrolled {
            notes.push(format!(
                "attendance_daily {}: {code} on {date} counts {sum} students but {enrolled} are enrolled (the seed counts duplicate and non-enrolled ids): imported as recorded, not corrected",
                d.id
            ));
        }
        *recorded_days.entry(subject.clone()).or_default() += 1;
        let teacher = match oid(d.v.get("teacherId")) {
            Some(t) if roles.contains_key(&t) => Some(t),
            Some(t) => {
                notes.push(format!(
                    "attendance_daily {}: teacher {t} is not in users: imported without a teacher",
                    d.id
                ));
                None
            }
            None => None,
        };
        plan.days.push(row(
            d,
            Day {
                subject,
                date,
                teacher,
                present,
                late,
                absent,
                created: datetime(d.v.get("createdAt")).unwrap_or(now),
            },
        ));
    }

    // Per-student counters of the enrolment entries: not imported (rollcall counts from
    // per-student records, which the seed never kept), but counters that exceed the days the
    // subject has summaries for were counted twice somewhere and are worth telling.
    for d in docs(raw, "subjects") {
        let days = recorded_days.get(&d.id).copied().unwrap_or(0);
        let code = text(&d.v, "code").to_uppercase();
        for e in
            d.v.get("students")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        {
            let Some(a) = e.get("attendance").and_then(Value::as_object) else {
                continue;
            };
            let n = int(a.get("present")).unwrap_or(0) + int(a.get("absent")).unwrap_or(0);
            if n > days {
                notes.push(format!(
                    "subjects {code}: student {} has seed counters present + absent = {n} over {days} recorded day(s) (double-counted in the seed): reported only; rollcall counts from records",
                    oid(e.get("student_id")).unwrap_or_default()
                ));
            }
        }
    }

    // email_logs
    for d in docs(raw, "email_logs") {
        let sent_by = match oid(d.v.get("sent_by")) {
            Some(t) if roles.contains_key(&t) => Some(t),
            Some(t) => {
                notes.push(format!(
                    "email_logs {}: sender {t} is not in users: imported without a sender",
                    d.id
                ));
                None
            }
            None => None,
        };
        let Some(at) = datetime(d.v.get("sent_at")) else {
            problems.push(format!("{}: e-mail log {} has no sent_at date", d.at, d.id));
            continue;
        };
        let kind = text(&d.v, "notification_type");
        plan.mails.push(row(
            d,
            Mail {
                kind: format!(
                    "{}{}",
                    crate::storage::outbox::TEACHER_KIND_PREFIX,
                    if kind.is_empty() { "custom" } else { &kind }
                ),
                recipient: text(&d.v, "recipient_email"),
                recipient_name: opt_text(&d.v, "recipient_name"),
                subject: text(&d.v, "subject"),
                sent: text(&d.v, "status") == "sent",
                error: opt_text(&d.v, "error_message"),
                sent_by,
                at,
                meta: d
                    .v
                    .get("metadata")
                    .filter(|m| m.is_object())
                    .map(Value::to_string),
            },
        ));
    }

    check_database(conn, &plan, problems)?;
    Ok(plan)
}

/// What is already in the database must not be in the way of a new document: an id or e-mail
/// address or subject code used by a row that this import did not write.
/// The account a `teachers` or `students` profile document belongs to: `user` must be an account
/// of `role`, with no other profile. Otherwise the problem is recorded and there is none.
fn profile_owner(
    d: &Doc,
    user: Option<String>,
    role: Role,
    roles: &HashMap<String, Role>,
    profiles: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Option<String> {
    let kind = role.as_str();
    let Some(user) = user.filter(|u| roles.get(u) == Some(&role)) else {
        problems.push(format!(
            "{}: {kind} profile {} refers to no {kind} in users (userId {})",
            d.at,
            d.id,
            text(&d.v, "userId")
        ));
        return None;
    };
    if !profiles.insert(user.clone()) {
        problems.push(format!("{}: a second {kind} profile for user {user}", d.at));
        return None;
    }
    Some(user)
}

fn check_database(conn: &Conn<'_>, plan: &Plan, problems: &mut Vec<String>) -> anyhow::Result<()> {
    for u in &plan.users {
        if store::imported_digest(conn, "users", &u.seed_id)?.is_some() {
            continue;
        }
        if let Some(owner) = store::user_owner(conn, &u.seed_id, &u.data.email)? {
            problems.push(format!(
                "users {}: rollcall already has an account {owner} with this id or the e-mail {} (not from an import)",
                u.seed_id, u.data.email
            ));
        }
    }
    for s in &plan.subjects {
        if store::imported_digest(conn, "subjects", &s.seed_id)?.is_some() {
            continue;
        }
        if let Some(owner) = store::subject_owner(conn, &s.seed_id, &s.data.code)? {
            problems.push(format!(
                "subjects {}: rollcall already has a subject {owner} with this id or the code {}",
                s.seed_id, s.data.code
            ));
        }
    }
    for d in &plan.days {
        if store::imported_digest(conn, "attendance_daily", &d.seed_id)?.is_some() {
            continue;
        }
        if store::imported_day_taken(conn, &d.seed_id, &d.data.subject, &d.data.date)? {
            problems.push(format!(
                "attendance_daily {}: a session with this id, or an imported summary of the same subject and day, exists already",
                d.seed_id
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_hashes_and_days() {
        assert!(plausible_bcrypt(
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
        ));
        assert!(!plausible_bcrypt(
            "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
        ));
        assert!(!plausible_bcrypt("$2b$12$short"));
        assert!(is_day("2024-02-29") && !is_day("2023-02-29") && !is_day("2024-1-5"));
    }
}
