//! `rollcall import-seed`: a school's data from the seed system (Smart Attendance, MongoDB),
//! read from a `mongoexport` / `bsondump` folder, checked whole, then written one transaction per
//! collection. Importing the same export again writes nothing: every document is remembered in
//! `seed_imports` with a digest, and a document that changed since is reported, not overwritten.
//!
//! What becomes what (README.md, "Moving from Smart Attendance", has the same table):
//! * `users` -> `users` with the seed's ObjectId as id and its bcrypt hash kept as a legacy hash
//!   (replaced by argon2id at the next login, see [`super::password`]);
//! * `teachers`, `students` -> the role profiles (ids of these documents stay reachable through
//!   `seed_imports`); the seed's face "embeddings" (raw pixels) are not imported;
//! * `subjects` -> subjects, their teachers (`professor_ids` and `teachers.subjects`) and
//!   enrolments (`subjects.students`, plus `students.subjects` entries the seed lost, unverified);
//! * `attendance_daily` -> one attendance session per day in slot [`IMPORTED_SLOT`] whose counts
//!   are the seed's summary (no per-student records: the seed kept none);
//! * `email_logs` -> outbox rows already sent (or dead), so mail statistics keep their history.

use std::fmt;
use std::path::Path;

use crate::domain::Role;
use crate::storage::Conn;
use crate::storage::audit;
use crate::storage::seed_import::{
    self as store, NewDaySummary, NewSeedSubject, NewSeedUser, SeedMail, SeedTeacherProfile,
};

mod check;
mod read;

use check::{Plan, Row, check};
use read::read_export;

/// The collections read, in the order they are written (each refers only to earlier ones).
pub const COLLECTIONS: [&str; 6] = [
    "users",
    "teachers",
    "students",
    "subjects",
    "attendance_daily",
    "email_logs",
];

/// Slot of the sessions that hold imported day summaries (defined with the storage that writes them).
pub use crate::storage::seed_import::IMPORTED_SLOT;

/// What an import did (or would do), collection by collection.
#[derive(Debug, Default)]
pub struct Report {
    /// Why the export was refused; when not empty nothing was written.
    pub problems: Vec<String>,
    pub collections: Vec<CollectionReport>,
    /// Things imported as they were but worth knowing (seed double counts, dropped data).
    pub notes: Vec<String>,
    /// Students that have no face sample in rollcall (face enrolment needed).
    pub faces_needed: usize,
    pub dry_run: bool,
}

#[derive(Debug, Default, Clone)]
pub struct CollectionReport {
    pub name: &'static str,
    pub read: usize,
    pub imported: usize,
    /// Imported by an earlier run, unchanged.
    pub already: usize,
    /// Documents skipped for a reason given in the notes (e.g. a summary of a deleted subject).
    pub skipped: usize,
    /// Imported by an earlier run and changed in the export since: left as they are.
    pub changed: Vec<String>,
}

impl Report {
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn collection(&mut self, name: &'static str) -> &mut CollectionReport {
        if let Some(i) = self.collections.iter().position(|c| c.name == name) {
            return &mut self.collections[i];
        }
        self.collections.push(CollectionReport {
            name,
            ..CollectionReport::default()
        });
        let last = self.collections.len() - 1;
        &mut self.collections[last]
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.problems.is_empty() {
            writeln!(
                f,
                "import refused: {} problem(s) in the export; nothing was written",
                self.problems.len()
            )?;
            for p in &self.problems {
                writeln!(f, "  error: {p}")?;
            }
            return Ok(());
        }
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        writeln!(
            f,
            "seed import{}:",
            if self.dry_run { " (dry run)" } else { "" }
        )?;
        for c in &self.collections {
            write!(
                f,
                "  {:<17} read {:>5}, {verb} {:>5}, skipped: already imported {:>5}",
                c.name, c.read, c.imported, c.already
            )?;
            if c.skipped > 0 {
                write!(f, ", skipped: see notes {}", c.skipped)?;
            }
            if !c.changed.is_empty() {
                write!(
                    f,
                    ", changed since the last import (not overwritten) {}: {}",
                    c.changed.len(),
                    c.changed.join(", ")
                )?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "  face enrolment needed: {} student(s) have no face sample",
            self.faces_needed
        )?;
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// Read, check and import the export in `dir`. With `dry_run` everything is written inside one
/// transaction that is then rolled back. Problems in the export are returned in the report (and
/// nothing is written); `Err` is for failures of the database itself.
pub fn run(conn: &Conn<'_>, dir: &Path, dry_run: bool) -> anyhow::Result<Report> {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    for name in COLLECTIONS {
        report.collection(name);
    }
    let raw = read_export(dir, &mut report);
    if !report.is_ok() {
        return Ok(report);
    }
    let plan = check(conn, &raw, &mut report)?;
    if !report.is_ok() {
        return Ok(report);
    }
    let days = report.collection("attendance_daily");
    days.skipped = plan.skipped_days;
    days.read = plan.skipped_days;
    if dry_run {
        report.faces_needed = conn.rehearse(|tx| {
            write_all(tx, &plan, &mut report)?;
            Ok::<_, anyhow::Error>(faces_needed(tx, &plan)?)
        })?;
    } else {
        for step in 0..COLLECTIONS.len() {
            conn.transaction(|tx| write_step(tx, step, &plan, &mut report))?;
        }
        report.faces_needed = faces_needed(conn, &plan)?;
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Writing.

enum Seen {
    New,
    Same,
    Changed,
}

fn seen<T>(conn: &Conn<'_>, collection: &str, r: &Row<T>) -> crate::storage::Result<Seen> {
    Ok(
        match store::imported_digest(conn, collection, &r.seed_id)? {
            None => Seen::New,
            Some(d) if d == r.digest => Seen::Same,
            Some(_) => Seen::Changed,
        },
    )
}

/// Write each row of `rows` that is new with `insert` (returning the rollcall row it became),
/// counting the others.
fn each<T>(
    conn: &Conn<'_>,
    collection: &'static str,
    rows: &[Row<T>],
    report: &mut Report,
    mut insert: impl FnMut(&Row<T>) -> crate::storage::Result<String>,
) -> anyhow::Result<()> {
    let c = report.collection(collection);
    c.read += rows.len();
    for r in rows {
        match seen(conn, collection, r)? {
            Seen::Same => c.already += 1,
            Seen::Changed => c.changed.push(r.seed_id.clone()),
            Seen::New => {
                let target = insert(r)?;
                store::remember(conn, collection, &r.seed_id, &target, &r.digest)?;
                c.imported += 1;
            }
        }
    }
    if c.imported > 0 {
        let detail = format!("{} {collection} document(s) imported", c.imported);
        audit::record(conn, None, "seed.import", Some(collection), &detail)?;
    }
    Ok(())
}

fn write_all(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    for step in 0..COLLECTIONS.len() {
        write_step(conn, step, plan, report)?;
    }
    Ok(())
}

fn write_step(
    conn: &Conn<'_>,
    step: usize,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    match COLLECTIONS[step] {
        "users" => each(conn, "users", &plan.users, report, |r| {
            let u = &r.data;
            // Every account gets its role profile, whether or not the seed had one for it.
            store::insert_user(
                conn,
                &NewSeedUser {
                    id: &r.seed_id,
                    email: &u.email,
                    name: &u.name,
                    role: u.role,
                    password_hash: u.legacy_hash.as_deref().unwrap_or(&plan.placeholder),
                    college_name: &u.college,
                    is_verified: u.verified,
                    created_at: u.created,
                },
            )?;
            Ok(r.seed_id.clone())
        })?,
        "teachers" => each(conn, "teachers", &plan.teachers, report, |r| {
            let t = &r.data;
            store::set_teacher_profile(
                conn,
                &SeedTeacherProfile {
                    user_id: &t.user,
                    employee_id: &t.employee_id,
                    phone: &t.phone,
                    branch: &t.branch,
                    department: t.department.as_deref(),
                    avatar_url: t.avatar.as_deref(),
                    settings: t.settings.as_deref(),
                    schedule: t.schedule.as_deref(),
                },
            )?;
            Ok(t.user.clone())
        })?,
        "students" => each(conn, "students", &plan.students, report, |r| {
            let s = &r.data;
            store::set_student_profile(conn, &s.user, &s.roll, &s.branch, &s.year)?;
            Ok(s.user.clone())
        })?,
        "subjects" => each(conn, "subjects", &plan.subjects, report, |r| {
            let s = &r.data;
            store::insert_subject(
                conn,
                &NewSeedSubject {
                    id: &r.seed_id,
                    name: &s.name,
                    code: &s.code,
                    kind: s.kind.as_deref(),
                    created_at: s.created,
                    updated_at: s.updated,
                    teachers: &s.teachers,
                    enrolments: &s.enrolments,
                },
            )?;
            Ok(r.seed_id.clone())
        })?,
        "attendance_daily" => each(conn, "attendance_daily", &plan.days, report, |r| {
            let d = &r.data;
            store::insert_day_summary(
                conn,
                &NewDaySummary {
                    id: &r.seed_id,
                    subject_id: &d.subject,
                    date: &d.date,
                    teacher_id: d.teacher.as_deref(),
                    present: d.present,
                    late: d.late,
                    absent: d.absent,
                    created_at: d.created,
                },
            )?;
            Ok(r.seed_id.clone())
        })?,
        _ => each(conn, "email_logs", &plan.mails, report, |r| {
            let m = &r.data;
            let ref_key = format!("seed:{}", r.seed_id);
            let rowid = store::insert_sent_mail(
                conn,
                &SeedMail {
                    kind: &m.kind,
                    recipient: &m.recipient,
                    recipient_name: m.recipient_name.as_deref(),
                    subject: &m.subject,
                    sent: m.sent,
                    error: m.error.as_deref(),
                    sent_by: m.sent_by.as_deref(),
                    at: m.at,
                    meta: m.meta.as_deref(),
                    ref_key: &ref_key,
                },
            )?;
            Ok(rowid.to_string())
        })?,
    }
    Ok(())
}

/// Imported students without a face sample.
fn faces_needed(conn: &Conn<'_>, plan: &Plan) -> crate::storage::Result<usize> {
    let mut n = 0;
    for u in plan.users.iter().filter(|u| u.data.role == Role::Student) {
        if !store::has_face_samples(conn, &u.seed_id)? {
            n += 1;
        }
    }
    Ok(n)
}
