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
//! * `attendance_daily` -> one attendance session per day, marked imported (storage keeps it
//!   apart from live slots), whose counts are the seed's summary (no per-student records: the
//!   seed kept none);
//! * `email_logs` -> outbox rows already sent (or dead), so mail statistics keep their history.

use std::fmt;
use std::path::Path;

use crate::storage::Conn;

mod check;
mod read;
mod write;

use check::check;
use read::read_export;
use write::{faces_needed, write_all, write_step};

/// The collections read, in the order they are written (each refers only to earlier ones).
pub const COLLECTIONS: [&str; 6] = [
    "users",
    "teachers",
    "students",
    "subjects",
    "attendance_daily",
    "email_logs",
];

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
