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
    let mut c = Checker {
        plan: Plan::default(),
        problems: &mut report.problems,
        notes: &mut report.notes,
        now: now_unix(),
        roles: HashMap::new(),
        subject_at: HashMap::new(),
        profiles: BTreeSet::new(),
    };
    c.users(docs(raw, "users"))?;
    // subjects before the profiles (teachers and students refer to them), written after them
    c.subjects(docs(raw, "subjects"));
    c.teachers(docs(raw, "teachers"));
    c.students(docs(raw, "students"));
    let recorded_days = c.days(docs(raw, "attendance_daily"));
    c.seed_counters(docs(raw, "subjects"), &recorded_days);
    c.mails(docs(raw, "email_logs"));
    check_database(conn, &c.plan, c.problems)?;
    Ok(c.plan)
}

/// The plan as the steps of [`check`] build it, collection by collection, with what they found
/// and what earlier steps learned for later ones.
struct Checker<'r> {
    plan: Plan,
    problems: &'r mut Vec<String>,
    notes: &'r mut Vec<String>,
    /// The time of documents that do not say when they were made.
    now: i64,
    /// The role of each account in the plan, by seed id.
    roles: HashMap<String, Role>,
    /// The index in `plan.subjects` of each subject, by seed id.
    subject_at: HashMap<String, usize>,
    /// The accounts that have a profile document (`teachers` or `students`).
    profiles: BTreeSet<String>,
}

impl Checker<'_> {
    fn role_of(&self, id: &str) -> Option<Role> {
        self.roles.get(id).copied()
    }

    /// `users`: the accounts, with e-mail addresses unique and seed passwords usable.
    fn users(&mut self, docs: &[Doc]) -> anyhow::Result<()> {
        let mut emails: HashMap<String, String> = HashMap::new();
        for d in docs {
            if let Some(user) = self.user(d, &mut emails) {
                self.roles.insert(d.id.clone(), user.role);
                self.plan.users.push(row(d, user));
            }
        }
        let no_password = self
            .plan
            .users
            .iter()
            .filter(|u| u.data.legacy_hash.is_none())
            .count();
        if no_password > 0 {
            self.notes.push(format!(
                "{no_password} account(s) had no seed password (Google sign-in?): they get one with \"forgot password\""
            ));
            self.plan.placeholder =
                crate::service::password::hash(&crate::service::password::generate())?;
        }
        Ok(())
    }

    /// One `users` document; `emails` holds the addresses seen so far (and whose they are).
    fn user(&mut self, d: &Doc, emails: &mut HashMap<String, String>) -> Option<User> {
        let role = match text(&d.v, "role").to_lowercase().as_str() {
            "teacher" => Role::Teacher,
            "student" => Role::Student,
            other => {
                self.problems.push(format!(
                    "{}: user {} has role {other:?}; only teacher and student accounts can be imported (fix or remove it in the export)",
                    d.at, d.id
                ));
                return None;
            }
        };
        let Some(email) = Email::parse(&text(&d.v, "email")) else {
            self.problems.push(format!(
                "{}: user {} has no valid e-mail address",
                d.at, d.id
            ));
            return None;
        };
        let email = email.as_str().to_owned();
        if let Some(first) = emails.insert(email.clone(), d.id.clone()) {
            self.problems.push(format!(
                "{}: duplicate e-mail {email}: users {first} and {} (e-mails are unique, case-insensitive, in rollcall; merge or remove one)",
                d.at, d.id
            ));
            return None;
        }
        let hash = text(&d.v, "password_hash");
        let legacy_hash = crate::service::password::is_legacy(&hash).then_some(hash);
        // A hash that could never match, or so costly that checking it would stall logins.
        if legacy_hash.as_deref().is_some_and(|h| !plausible_bcrypt(h)) {
            self.problems.push(format!(
                "{}: user {} has a malformed bcrypt password_hash, or a cost above {MAX_BCRYPT_COST}",
                d.at, d.id
            ));
            return None;
        }
        Some(User {
            email,
            name: text(&d.v, "name"),
            role,
            legacy_hash,
            college: text(&d.v, "college_name"),
            verified: flag(&d.v, "is_verified"),
            created: datetime(d.v.get("created_at")).unwrap_or(self.now),
        })
    }

    /// `subjects`: unique codes, their teachers (`professor_ids`) and enrolments (`students`).
    fn subjects(&mut self, docs: &[Doc]) {
        let mut codes: HashMap<String, String> = HashMap::new();
        for d in docs {
            let code = text(&d.v, "code").to_uppercase();
            if code.is_empty() {
                self.problems
                    .push(format!("{}: subject {} has no code", d.at, d.id));
                continue;
            }
            if let Some(first) = codes.insert(code.clone(), d.id.clone()) {
                self.problems.push(format!(
                    "{}: duplicate subject code {code}: subjects {first} and {}",
                    d.at, d.id
                ));
                continue;
            }
            let teachers = self.professors(d, &code);
            let enrolments = self.enrolments(d, &code);
            let created = datetime(d.v.get("created_at")).unwrap_or(self.now);
            let kind = opt_text(&d.v, "type")
                .filter(|k| ["Core", "Lab", "Elective"].contains(&k.as_str()));
            self.plan.subjects.push(row(
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
        self.subject_at = self
            .plan
            .subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (s.seed_id.clone(), i))
            .collect();
    }

    /// The teachers a subject names in `professor_ids`.
    fn professors(&mut self, d: &Doc, code: &str) -> BTreeSet<String> {
        let mut teachers = BTreeSet::new();
        for p in oids(&d.v, "professor_ids") {
            match p {
                Some(t) if self.role_of(&t) == Some(Role::Teacher) => {
                    teachers.insert(t);
                }
                Some(t) => self.problems.push(format!(
                    "{}: subject {code} names professor {t}, who is not a teacher in users",
                    d.at
                )),
                None => self.problems.push(format!(
                    "{}: subject {code} has a professor_ids entry that is not an ObjectId",
                    d.at
                )),
            }
        }
        teachers
    }

    /// The students a subject enrols in `students`, with the teacher's approval.
    fn enrolments(&mut self, d: &Doc, code: &str) -> BTreeMap<String, bool> {
        let mut enrolments = BTreeMap::new();
        for e in students_entries(d) {
            let Some(entry) = e.as_object() else {
                self.problems.push(format!(
                    "{}: subject {code} has a students entry that is not an object",
                    d.at
                ));
                continue;
            };
            match oid(entry.get("student_id")) {
                Some(s) if self.role_of(&s) == Some(Role::Student) => {
                    enrolments.insert(s, flag(entry, "verified"));
                }
                Some(s) => self.problems.push(format!(
                    "{}: subject {code} enrols {s}, who is not a student in users (dangling reference)",
                    d.at
                )),
                None => self.problems.push(format!(
                    "{}: subject {code} has an enrolment without a student_id ObjectId",
                    d.at
                )),
            }
        }
        enrolments
    }

    /// `teachers`: the teacher profiles, and the subjects they list (`teachers.subjects`).
    fn teachers(&mut self, docs: &[Doc]) {
        for d in docs {
            let user = oid(d.v.get("userId")).or_else(|| oid(d.v.get("user_id")));
            let Some(user) = self.profile_owner(d, user, Role::Teacher) else {
                continue;
            };
            for i in self.listed_subjects(d, "teacher", &user) {
                self.plan.subjects[i].data.teachers.insert(user.clone());
            }
            let json = |key: &str| d.v.get(key).filter(|v| v.is_object()).map(Value::to_string);
            self.plan.teachers.push(row(
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
    }

    /// `students`: the student profiles, and the enrolments only they list (`students.subjects`).
    fn students(&mut self, docs: &[Doc]) {
        let mut pixels = 0usize;
        let mut drift = 0usize;
        for d in docs {
            let user = oid(d.v.get("userId"));
            let Some(user) = self.profile_owner(d, user, Role::Student) else {
                continue;
            };
            if d.v
                .get("face_embeddings")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                pixels += 1;
            }
            for i in self.listed_subjects(d, "student", &user) {
                let e = &mut self.plan.subjects[i].data.enrolments;
                if !e.contains_key(&user) {
                    e.insert(user.clone(), false);
                    drift += 1;
                }
            }
            self.plan.students.push(row(
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
            self.notes.push(format!(
                "{pixels} student(s) had seed face \"embeddings\" (9,216 raw pixels, not usable for matching): not imported; those students need face enrolment"
            ));
        }
        if drift > 0 {
            self.notes.push(format!(
                "{drift} enrolment(s) were only on the student side (students.subjects, the seed's two copies drifted): imported as not yet approved by the teacher"
            ));
        }
    }

    /// The account a `teachers` or `students` profile document belongs to: `user` must be an
    /// account of `role`, with no other profile. Otherwise the problem is recorded and there is
    /// none.
    fn profile_owner(&mut self, d: &Doc, user: Option<String>, role: Role) -> Option<String> {
        let kind = role.as_str();
        let Some(user) = user.filter(|u| self.role_of(u) == Some(role)) else {
            self.problems.push(format!(
                "{}: {kind} profile {} refers to no {kind} in users (userId {})",
                d.at,
                d.id,
                text(&d.v, "userId")
            ));
            return None;
        };
        if !self.profiles.insert(user.clone()) {
            self.problems
                .push(format!("{}: a second {kind} profile for user {user}", d.at));
            return None;
        }
        Some(user)
    }

    /// The subjects a profile document of `user` lists in `subjects` (as indexes in
    /// `plan.subjects`, in the document's order); `kind` ("teacher", "student") names the
    /// profile in the problems about subjects that do not exist.
    fn listed_subjects(&mut self, d: &Doc, kind: &str, user: &str) -> Vec<usize> {
        let mut listed = Vec::new();
        for s in oids(&d.v, "subjects") {
            match s.as_ref().and_then(|s| self.subject_at.get(s)) {
                Some(&i) => listed.push(i),
                None => self.problems.push(format!(
                    "{}: {kind} {user} lists subject {}, which is not in subjects (dangling reference)",
                    d.at,
                    s.unwrap_or_default()
                )),
            }
        }
        listed
    }

    /// `attendance_daily`: one summary per subject and day. Returns how many days each subject
    /// has a summary for.
    fn days(&mut self, docs: &[Doc]) -> HashMap<String, i64> {
        let mut day_keys = BTreeSet::new();
        let mut recorded_days: HashMap<String, i64> = HashMap::new();
        for d in docs {
            let Some((subject, si, date)) = self.day_of(d, &mut day_keys) else {
                continue;
            };
            let (present, late, absent) = self.day_counts(d, si, &date);
            *recorded_days.entry(subject.clone()).or_default() += 1;
            let teacher = self.known_account(oid(d.v.get("teacherId")), |t| {
                format!(
                    "attendance_daily {}: teacher {t} is not in users: imported without a teacher",
                    d.id
                )
            });
            self.plan.days.push(row(
                d,
                Day {
                    subject,
                    date,
                    teacher,
                    present,
                    late,
                    absent,
                    created: datetime(d.v.get("createdAt")).unwrap_or(self.now),
                },
            ));
        }
        recorded_days
    }

    /// The subject (seed id and index in `plan.subjects`) and the date of a daily summary, when
    /// it has both, the subject exists and `day_keys` has no summary of that subject and day yet.
    fn day_of(
        &mut self,
        d: &Doc,
        day_keys: &mut BTreeSet<(String, String)>,
    ) -> Option<(String, usize, String)> {
        let subject = oid(d.v.get("classId")).or_else(|| oid(d.v.get("subjectId")));
        let date = text(&d.v, "date");
        let Some(subject) = subject else {
            self.problems
                .push(format!("{}: daily summary {} has no classId", d.at, d.id));
            return None;
        };
        if !is_day(&date) {
            self.problems.push(format!(
                "{}: daily summary {} has date {date:?}, not YYYY-MM-DD",
                d.at, d.id
            ));
            return None;
        }
        let Some(&si) = self.subject_at.get(&subject) else {
            // The seed writes a summary even for a subject that does not exist (seed-api §4.3).
            self.notes.push(format!(
                "attendance_daily {}: subject {subject} does not exist (the seed records confirmations of missing subjects): skipped",
                d.id
            ));
            self.plan.skipped_days += 1;
            return None;
        };
        if !day_keys.insert((subject.clone(), date.clone())) {
            self.problems.push(format!(
                "{}: a second daily summary for subject {subject} on {date}",
                d.at
            ));
            return None;
        }
        Some((subject, si, date))
    }

    /// The counts (present, late, absent) of a daily summary of subject `si`, imported as the
    /// seed recorded them; totals that do not add up are noted.
    fn day_counts(&mut self, d: &Doc, si: usize, date: &str) -> (i64, i64, i64) {
        let summary = d.v.get("summary").and_then(Value::as_object);
        let get = |k: &str| summary.and_then(|s| int(s.get(k))).unwrap_or(0).max(0);
        let (present, absent, late) = (get("present"), get("absent"), get("late"));
        let sum = present + absent + late;
        let code = &self.plan.subjects[si].data.code;
        if let Some(total) = summary.and_then(|s| int(s.get("total")))
            && total != sum
        {
            self.notes.push(format!(
                "attendance_daily {}: {code} on {date}: total {total} but present + absent + late = {sum}; imported the three counts as recorded",
                d.id
            ));
        }
        let enrolled =
            i64::try_from(self.plan.subjects[si].data.enrolments.len()).unwrap_or(i64::MAX);
        if sum > enrolled {
            self.notes.push(format!(
                "attendance_daily {}: {code} on {date} counts {sum} students but {enrolled} are enrolled (the seed counts duplicate and non-enrolled ids): imported as recorded, not corrected",
                d.id
            ));
        }
        (present, late, absent)
    }

    /// Per-student counters of the enrolment entries: not imported (rollcall counts from
    /// per-student records, which the seed never kept), but counters that exceed the days the
    /// subject has summaries for were counted twice somewhere and are worth telling.
    fn seed_counters(&mut self, subjects: &[Doc], recorded_days: &HashMap<String, i64>) {
        for d in subjects {
            let days = recorded_days.get(&d.id).copied().unwrap_or(0);
            let code = text(&d.v, "code").to_uppercase();
            for e in students_entries(d) {
                let Some(a) = e.get("attendance").and_then(Value::as_object) else {
                    continue;
                };
                let n = int(a.get("present")).unwrap_or(0) + int(a.get("absent")).unwrap_or(0);
                if n > days {
                    self.notes.push(format!(
                        "subjects {code}: student {} has seed counters present + absent = {n} over {days} recorded day(s) (double-counted in the seed): reported only; rollcall counts from records",
                        oid(e.get("student_id")).unwrap_or_default()
                    ));
                }
            }
        }
    }

    /// `email_logs`: the mail the seed sent (or failed to send), for the outbox's history.
    fn mails(&mut self, docs: &[Doc]) {
        for d in docs {
            let sent_by = self.known_account(oid(d.v.get("sent_by")), |t| {
                format!(
                    "email_logs {}: sender {t} is not in users: imported without a sender",
                    d.id
                )
            });
            let Some(at) = datetime(d.v.get("sent_at")) else {
                self.problems
                    .push(format!("{}: e-mail log {} has no sent_at date", d.at, d.id));
                continue;
            };
            let kind = text(&d.v, "notification_type");
            self.plan.mails.push(row(
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
    }

    /// `id` when it is an account in the plan; an id that is not is noted with `note(id)` and
    /// dropped (the document is imported without it).
    fn known_account(
        &mut self,
        id: Option<String>,
        note: impl FnOnce(&str) -> String,
    ) -> Option<String> {
        match id {
            Some(t) if self.roles.contains_key(&t) => Some(t),
            Some(t) => {
                self.notes.push(note(&t));
                None
            }
            None => None,
        }
    }
}

/// The entries of a subject's `students` array.
fn students_entries(d: &Doc) -> &[Value] {
    d.v.get("students")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// What is already in the database must not be in the way of a new document: an id or e-mail
/// address or subject code used by a row that this import did not write.
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
