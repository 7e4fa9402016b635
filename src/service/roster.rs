//! Roster import: the school's spreadsheet export (CSV) of students and teachers, checked line by
//! line against the database ([`preview`], nothing written) and written in one transaction when
//! no line has a problem ([`import`]). Accounts are matched by e-mail; an import creates and
//! updates accounts and adds enrolments and teaching links, and never removes anything, changes
//! a role or sets a password (new accounts are invited). docs/roster-import.md is the user's
//! description.
//!
//! The CSV reader is our own (RFC 4180 quoting, CRLF or LF) rather than the `csv` crate: it has
//! to report the physical line where each record starts, take ragged rows from spreadsheets,
//! and it reads text we have already decoded (UTF-8, UTF-16 or Windows-1252) — about sixty
//! lines, with unit tests below.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::auth::{AuthUser, optional_text, required_text};
use super::invitations::Inviter;
use super::{Error, Result};
use crate::domain::roster::{Action, Line, Problem, Report};
use crate::domain::users::Profile;
use crate::domain::{Email, Id, Role};
use crate::storage::roster::{self as store, Known};
use crate::storage::users::{self, NewUser};
use crate::storage::{Conn, Db, StorageError, audit, subjects};

/// Largest file an import takes.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Most data lines an import takes.
pub const MAX_ROWS: usize = 5000;

/// Who imports: an administrator (through the API, or named with `--as` at the command line)
/// or the operator at the command line. The audit entries name the administrator, if any, and
/// say `via cli` for the command line.
#[derive(Debug, Clone)]
pub struct Importer {
    id: Option<Id>,
    cli: bool,
}

impl Importer {
    /// A signed-in account: administrators only.
    pub fn admin(user: &AuthUser) -> Result<Self> {
        if user.role != Role::Admin {
            return Err(Error::Forbidden("Admin access required".into()));
        }
        Ok(Self {
            id: Some(user.id.clone()),
            cli: false,
        })
    }

    /// The operator at the command line, acting as the administrator with e-mail `as_admin`
    /// when given (it must be an administrator's).
    pub async fn operator(db: &Db, as_admin: Option<&str>) -> Result<Self> {
        let Some(raw) = as_admin else {
            return Ok(Self {
                id: None,
                cli: true,
            });
        };
        let email = Email::parse(raw)
            .ok_or_else(|| Error::Invalid(format!("--as {raw}: not an e-mail address")))?;
        let user = db.run(move |c| users::by_email(c, &email)).await?;
        match user {
            Some(u) if u.role == Role::Admin => Ok(Self {
                id: Some(u.id),
                cli: true,
            }),
            Some(_) => Err(Error::Forbidden(format!(
                "--as {raw}: not an administrator"
            ))),
            None => Err(Error::NotFound(format!("--as {raw}: no such account"))),
        }
    }

    fn detail(&self, detail: &str) -> String {
        if self.cli {
            format!("{detail}; via cli")
        } else {
            detail.to_owned()
        }
    }
}

/// What [`import`] did: written, or refused because some line has a problem (nothing written).
#[derive(Debug)]
pub enum Outcome {
    Imported(Report),
    Refused(Report),
}

/// Check the file against the database and report per line what an import would do; writes
/// nothing. A file that cannot be read as a roster at all is an error (413, 415, 422).
pub async fn preview(db: &Db, _by: &Importer, file: Vec<u8>) -> Result<Report> {
    let parsed = super::blocking(move || parse(&file)).await??;
    let report = db
        .run(move |c| {
            let snap = Snapshot::load(c)?;
            Ok::<_, Error>(plan(&parsed, &snap).0)
        })
        .await?;
    Ok(report)
}

/// Check the file again under the write lock and, if no line has a problem, write it in one
/// transaction: accounts created (each invited through `inviter`, inside the transaction) and
/// updated, enrolments (approved) and teaching links added, each audited as the admin pages
/// audit them, plus one `roster.import` entry with the counts and the file's SHA-256.
/// `progress(done, total)` is called as the lines are written.
pub async fn import<P>(
    db: &Db,
    by: &Importer,
    file: Vec<u8>,
    now: i64,
    inviter: Inviter,
    progress: P,
) -> Result<Outcome>
where
    P: Fn(usize, usize) + Send + 'static,
{
    let parsed = super::blocking(move || parse(&file)).await??;
    let by = by.clone();
    db.transaction(move |tx| {
        let snap = Snapshot::load(tx)?;
        let (mut report, ops) = plan(&parsed, &snap);
        if report.errors > 0 {
            return Ok(Outcome::Refused(report));
        }
        let total = ops.len();
        for (done, op) in ops.into_iter().enumerate() {
            apply(tx, &by, op, now, &inviter)?;
            progress(done + 1, total);
        }
        audit::record(
            tx,
            by.id.as_ref(),
            "roster.import",
            None,
            &by.detail(&format!(
                "created={} updated={} unchanged={} sha256={}",
                report.created, report.updated, report.unchanged, report.sha256
            )),
        )?;
        report.written = true;
        Ok(Outcome::Imported(report))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Writing

/// What one line writes.
enum Op {
    None,
    Create {
        new: NewUser,
        subjects: Vec<(Id, String)>,
    },
    Update(Update),
}

struct Update {
    id: Id,
    role: Role,
    changes: Vec<String>,
    name: Option<String>,
    /// The profile after the import (student: roll, branch, year; teacher: employee id,
    /// phone, branch), when a field of it changes.
    profile: Option<Profile>,
    /// Subjects to enrol in (student) or teach (teacher), and enrolments to approve.
    link: Vec<(Id, String)>,
    approve: Vec<(Id, String)>,
}

fn apply(tx: &Conn<'_>, by: &Importer, op: Op, now: i64, inviter: &Inviter) -> Result<()> {
    match op {
        Op::None => Ok(()),
        Op::Create { new, subjects } => {
            let user = match users::insert(tx, &new) {
                Ok(u) => u,
                Err(e) if e.is_unique_violation() => {
                    return Err(Error::Conflict(format!(
                        "An account with the e-mail {} was created meanwhile; preview the file again",
                        new.email
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            audit::record(
                tx,
                by.id.as_ref(),
                "admin.create_user",
                Some(user.id.as_str()),
                &by.detail(user.role.as_str()),
            )?;
            inviter.queue(tx, &user, by.id.as_ref(), now)?;
            link(tx, by, user.role, &user.id, &subjects)?;
            Ok(())
        }
        Op::Update(u) => {
            if let Some(name) = &u.name {
                store::set_name(tx, &u.id, name)?;
            }
            if let Some(p) = &u.profile {
                match u.role {
                    Role::Student => store::set_student(tx, &u.id, &p.roll, &p.branch, &p.year)?,
                    Role::Teacher => {
                        store::set_teacher(tx, &u.id, &p.employee_id, &p.phone, &p.branch)?;
                    }
                    Role::Admin => {}
                }
            }
            link(tx, by, u.role, &u.id, &u.link)?;
            for (subject, _) in &u.approve {
                subjects::set_verified(tx, subject, &u.id)?;
                audit::record(
                    tx,
                    by.id.as_ref(),
                    "subject.approve",
                    Some(subject.as_str()),
                    &by.detail(&format!("student={}", u.id)),
                )?;
            }
            audit::record(
                tx,
                by.id.as_ref(),
                "roster.update_user",
                Some(u.id.as_str()),
                &by.detail(&u.changes.join(", ")),
            )?;
            Ok(())
        }
    }
}

/// Enrol a student (approved) in, or make a teacher a teacher of, each subject, audited as the
/// subject pages audit it.
fn link(tx: &Conn<'_>, by: &Importer, role: Role, id: &Id, to: &[(Id, String)]) -> Result<()> {
    for (subject, _) in to {
        let (action, detail) = if role == Role::Teacher {
            subjects::add_teacher(tx, subject, id)?;
            ("subject.teacher_add", format!("teacher={id}"))
        } else {
            subjects::enrol(tx, subject, id, true)?;
            ("subject.enrol", format!("student={id}"))
        };
        audit::record(
            tx,
            by.id.as_ref(),
            action,
            Some(subject.as_str()),
            &by.detail(&detail),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Checking the lines against the database

/// The school as the import compares the file with it.
struct Snapshot {
    accounts: Vec<Known>,
    by_email: HashMap<String, usize>,
    /// Confirmed student rolls, lower-cased: the accounts that hold them.
    by_roll: HashMap<String, Vec<usize>>,
    subjects: HashMap<String, Id>,
    enrolled: HashMap<(Id, Id), bool>,
    teaching: HashSet<(Id, Id)>,
}

impl Snapshot {
    fn load(c: &Conn<'_>) -> std::result::Result<Self, StorageError> {
        let accounts = store::accounts(c)?;
        let mut by_email = HashMap::new();
        let mut by_roll: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, a) in accounts.iter().enumerate() {
            by_email.insert(a.email.as_str().to_lowercase(), i);
            if a.role == Role::Student && a.roll_confirmed && !a.roll.trim().is_empty() {
                by_roll
                    .entry(a.roll.trim().to_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        let subjects = subjects::all(c)?
            .into_iter()
            .map(|s| (s.code.to_uppercase(), s.id))
            .collect();
        let enrolled = store::enrolments(c)?
            .into_iter()
            .map(|(s, st, v)| ((s, st), v))
            .collect();
        let teaching = store::teaching(c)?.into_iter().collect();
        Ok(Self {
            accounts,
            by_email,
            by_roll,
            subjects,
            enrolled,
            teaching,
        })
    }
}

/// The report of every line and, when no line has a problem, what each writes.
fn plan(parsed: &Parsed, snap: &Snapshot) -> (Report, Vec<Op>) {
    // The roll each e-mail of the file gives its student, to tell a roll that moves from one
    // student to another within the file from one taken by a student the file leaves alone.
    let file_rolls: HashMap<String, String> = parsed
        .rows
        .iter()
        .filter_map(|r| {
            let roll = r.get(Column::Roll).trim();
            (!roll.is_empty()).then(|| {
                (
                    r.get(Column::Email).trim().to_lowercase(),
                    roll.to_lowercase(),
                )
            })
        })
        .collect();
    let mut seen_email: HashMap<String, usize> = HashMap::new();
    let mut seen_roll: HashMap<String, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(parsed.rows.len());
    let mut ops = Vec::with_capacity(parsed.rows.len());
    for row in &parsed.rows {
        let mut check = LineCheck {
            row,
            snap,
            file_rolls: &file_rolls,
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let (line, op) = check.run(parsed.width, &mut seen_email, &mut seen_roll);
        lines.push(line);
        ops.push(op);
    }
    let count = |a: Action| lines.iter().filter(|l| l.action == a).count();
    let report = Report {
        encoding: parsed.encoding,
        delimiter: match parsed.delimiter {
            ';' => "semicolon",
            '\t' => "tab",
            _ => "comma",
        },
        columns: parsed
            .columns
            .iter()
            .flatten()
            .map(|c| c.name().to_owned())
            .collect(),
        sha256: parsed.sha256.clone(),
        warnings: parsed.warnings.clone(),
        created: count(Action::Create),
        updated: count(Action::Update),
        unchanged: count(Action::Unchanged),
        errors: count(Action::Error),
        lines,
        written: false,
    };
    (report, ops)
}

/// The checks of one line, collecting its problems and warnings.
struct LineCheck<'a> {
    row: &'a Row,
    snap: &'a Snapshot,
    file_rolls: &'a HashMap<String, String>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl LineCheck<'_> {
    fn problem(&mut self, column: Option<Column>, message: impl Into<String>) {
        self.problems.push(Problem {
            line: self.row.line,
            column: column.map(|c| c.name().to_owned()),
            message: message.into(),
        });
    }

    fn warning(&mut self, column: Column, message: impl Into<String>) {
        self.warnings.push(Problem {
            line: self.row.line,
            column: Some(column.name().to_owned()),
            message: message.into(),
        });
    }

    /// A text field, trimmed and bounded; a problem (and an empty value) when it breaks a rule.
    fn text(&mut self, column: Column, max: usize, required: bool) -> String {
        let raw = self.row.get(column);
        let checked = if required {
            required_text(column.name(), raw, max)
        } else {
            optional_text(column.name(), raw, max)
        };
        checked.unwrap_or_else(|e| {
            self.problem(Some(column), e.to_string());
            String::new()
        })
    }

    #[allow(clippy::too_many_lines)]
    fn run(
        &mut self,
        width: usize,
        seen_email: &mut HashMap<String, usize>,
        seen_roll: &mut HashMap<String, usize>,
    ) -> (Line, Op) {
        let line_no = self.row.line;
        if self.row.extra > 0 {
            self.problem(
                None,
                format!(
                    "this line has {} fields, the header {width}: quote a field that holds the delimiter",
                    width + self.row.extra
                ),
            );
        }
        let name = self.text(Column::Name, 100, true);
        let raw_email = self.row.get(Column::Email).trim().to_owned();
        let email = if raw_email.is_empty() {
            self.problem(Some(Column::Email), "email is required");
            None
        } else if let Some(e) = Email::parse(&raw_email) {
            Some(e)
        } else {
            self.problem(
                Some(Column::Email),
                format!("{raw_email:?} is not a valid e-mail address"),
            );
            None
        };
        let role = match self.row.get(Column::Role).trim().to_lowercase().as_str() {
            "" | "student" => Some(Role::Student),
            "teacher" => Some(Role::Teacher),
            "admin" | "administrator" => {
                self.problem(
                    Some(Column::Role),
                    "administrator accounts are not imported; create them on the admin page",
                );
                None
            }
            other => {
                self.problem(
                    Some(Column::Role),
                    format!("role {other:?} is neither student nor teacher"),
                );
                None
            }
        };
        let profile = Profile {
            roll: self.text(Column::Roll, 50, false),
            branch: self.text(Column::Branch, 100, false),
            year: self.text(Column::Year, 20, false),
            employee_id: self.text(Column::EmployeeId, 50, false),
            phone: self.text(Column::Phone, 30, false),
        };
        let ignored = match role {
            Some(Role::Teacher) => {
                vec![(Column::Roll, &profile.roll), (Column::Year, &profile.year)]
            }
            Some(Role::Student) => vec![
                (Column::EmployeeId, &profile.employee_id),
                (Column::Phone, &profile.phone),
            ],
            _ => Vec::new(),
        };
        let ignored: Vec<Column> = ignored
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(c, _)| c)
            .collect();
        for c in ignored {
            let who = if role == Some(Role::Teacher) {
                "a teacher"
            } else {
                "a student"
            };
            self.warning(c, format!("{} is not kept for {who}; ignored", c.name()));
        }
        let is_student = role == Some(Role::Student);
        let roll_key = profile.roll.to_lowercase();

        // Within the file.
        if let Some(e) = &email {
            if let Some(first) = seen_email.get(e.as_str()) {
                let first = *first;
                self.problem(Some(Column::Email), format!("{e} is also on line {first}"));
            } else {
                seen_email.insert(e.as_str().to_owned(), line_no);
            }
        }
        if is_student && !roll_key.is_empty() {
            if let Some(first) = seen_roll.get(&roll_key) {
                let first = *first;
                self.problem(
                    Some(Column::Roll),
                    format!("roll {} is also on line {first}", profile.roll),
                );
            } else {
                seen_roll.insert(roll_key.clone(), line_no);
            }
        }

        // Against the database.
        let existing = email
            .as_ref()
            .and_then(|e| self.snap.by_email.get(e.as_str()))
            .map(|&i| &self.snap.accounts[i]);
        if let (Some(known), Some(role)) = (existing, role)
            && known.role != role
        {
            self.problem(
                Some(Column::Role),
                format!(
                    "{} is an existing {} account; an import never changes an account's role",
                    known.email, known.role
                ),
            );
        }
        if is_student && !roll_key.is_empty() {
            let holders = self
                .snap
                .by_roll
                .get(&roll_key)
                .cloned()
                .unwrap_or_default();
            for i in holders {
                let holder = &self.snap.accounts[i];
                if existing.is_some_and(|k| k.id == holder.id) {
                    continue;
                }
                // The holder keeps the roll unless the file gives them another one.
                let moves = self
                    .file_rolls
                    .get(holder.email.as_str())
                    .is_some_and(|r| *r != roll_key);
                if !moves {
                    self.problem(
                        Some(Column::Roll),
                        format!(
                            "roll {} already belongs to another student ({})",
                            profile.roll, holder.email
                        ),
                    );
                }
            }
        }
        let mut links = Vec::new();
        let raw_subjects = self.row.get(Column::Subjects).to_owned();
        for code in raw_subjects
            .split(|c: char| matches!(c, ';' | '|' | ',') || c.is_whitespace())
            .filter(|c| !c.is_empty())
        {
            let code = code.to_uppercase();
            match self.snap.subjects.get(&code) {
                Some(id) => {
                    if !links.iter().any(|(i, _)| i == id) {
                        links.push((id.clone(), code));
                    }
                }
                None => self.problem(
                    Some(Column::Subjects),
                    format!("no subject has the code {code}"),
                ),
            }
        }

        let mut line = Line {
            line: line_no,
            email: email.as_ref().map_or(raw_email, |e| e.as_str().to_owned()),
            name: name.clone(),
            role,
            action: Action::Error,
            changes: Vec::new(),
            problems: std::mem::take(&mut self.problems),
            warnings: std::mem::take(&mut self.warnings),
        };
        let (Some(email), Some(role)) = (email, role) else {
            return (line, Op::None);
        };
        if !line.problems.is_empty() {
            return (line, Op::None);
        }
        let verb = if role == Role::Teacher {
            "teach"
        } else {
            "enrol"
        };
        let Some(known) = existing else {
            line.action = Action::Create;
            line.changes = links.iter().map(|(_, c)| format!("{verb} {c}")).collect();
            let profile = match role {
                Role::Teacher => Profile {
                    roll: String::new(),
                    year: String::new(),
                    ..profile
                },
                _ => Profile {
                    employee_id: String::new(),
                    phone: String::new(),
                    ..profile
                },
            };
            let new = NewUser {
                email,
                name,
                role,
                password_hash: super::password::NO_PASSWORD.to_owned(),
                college_name: String::new(),
                is_verified: true,
                profile,
                created_by: None,
                roll_confirmed: true,
            };
            return (
                line,
                Op::Create {
                    new,
                    subjects: links,
                },
            );
        };

        // An existing account: what the line changes. An empty cell leaves a field alone.
        let mut changes = Vec::new();
        let new_name = (name != known.name).then(|| {
            changes.push("name".to_owned());
            name.clone()
        });
        let pick = |changes: &mut Vec<String>, field: &str, given: &str, stored: &str| {
            if given.is_empty() || given == stored {
                stored.to_owned()
            } else {
                changes.push(field.to_owned());
                given.to_owned()
            }
        };
        let before = changes.len();
        let after = match role {
            Role::Student => {
                let roll = pick(&mut changes, "roll", &profile.roll, &known.roll);
                if !profile.roll.is_empty() && profile.roll == known.roll && !known.roll_confirmed {
                    changes.push("roll confirmed".to_owned());
                }
                Profile {
                    roll,
                    branch: pick(&mut changes, "branch", &profile.branch, &known.branch),
                    year: pick(&mut changes, "year", &profile.year, &known.year),
                    ..Profile::default()
                }
            }
            _ => Profile {
                employee_id: pick(
                    &mut changes,
                    "employee_id",
                    &profile.employee_id,
                    &known.employee_id,
                ),
                phone: pick(&mut changes, "phone", &profile.phone, &known.phone),
                branch: pick(&mut changes, "branch", &profile.branch, &known.branch),
                ..Profile::default()
            },
        };
        let profile = (changes.len() > before).then_some(after);
        let (mut link, mut approve) = (Vec::new(), Vec::new());
        for (subject, code) in links {
            let key = (subject.clone(), known.id.clone());
            if role == Role::Teacher {
                if !self.snap.teaching.contains(&key) {
                    changes.push(format!("teach {code}"));
                    link.push((subject, code));
                }
            } else {
                match self.snap.enrolled.get(&key) {
                    None => {
                        changes.push(format!("enrol {code}"));
                        link.push((subject, code));
                    }
                    Some(false) => {
                        changes.push(format!("approve {code}"));
                        approve.push((subject, code));
                    }
                    Some(true) => {}
                }
            }
        }
        if changes.is_empty() {
            line.action = Action::Unchanged;
            return (line, Op::None);
        }
        line.action = Action::Update;
        line.changes.clone_from(&changes);
        (
            line,
            Op::Update(Update {
                id: known.id.clone(),
                role,
                changes,
                name: new_name,
                profile,
                link,
                approve,
            }),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the file

/// The columns an import knows, by canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Name,
    Email,
    Role,
    Roll,
    Subjects,
    EmployeeId,
    Phone,
    Year,
    Branch,
}

/// Header names each column is recognised by, compared lower-cased without spaces, `_`, `-`
/// and `.` (so `E-mail`, `Roll No.` and `employee_id` all match). docs/roster-import.md lists them.
const ALIASES: &[(Column, &[&str])] = &[
    (
        Column::Name,
        &["name", "fullname", "studentname", "displayname"],
    ),
    (Column::Email, &["email", "emailaddress", "mail", "emailid"]),
    (Column::Role, &["role", "type", "accounttype"]),
    (Column::Roll, &["roll", "rollno", "rollnumber", "rollnum"]),
    (
        Column::Subjects,
        &[
            "subjects",
            "subject",
            "subjectcodes",
            "classes",
            "class",
            "codes",
            "courses",
        ],
    ),
    (
        Column::EmployeeId,
        &["employeeid", "empid", "staffid", "employeeno"],
    ),
    (
        Column::Phone,
        &["phone", "phonenumber", "mobile", "mobileno", "telephone"],
    ),
    (Column::Year, &["year", "grade", "yearofstudy"]),
    (Column::Branch, &["branch", "stream"]),
];

impl Column {
    fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Email => "email",
            Self::Role => "role",
            Self::Roll => "roll",
            Self::Subjects => "subjects",
            Self::EmployeeId => "employee_id",
            Self::Phone => "phone",
            Self::Year => "year",
            Self::Branch => "branch",
        }
    }

    fn from_header(raw: &str) -> Option<Self> {
        let key: String = raw
            .trim_start_matches('\u{feff}')
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '.') && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        ALIASES
            .iter()
            .find(|(_, names)| names.contains(&key.as_str()))
            .map(|(c, _)| *c)
    }
}

/// One data line: where it starts and its cells by column.
struct Row {
    line: usize,
    cells: HashMap<Column, String>,
    /// Non-empty fields past the header's width.
    extra: usize,
}

impl Row {
    fn get(&self, c: Column) -> &str {
        self.cells.get(&c).map_or("", String::as_str)
    }
}

/// A file read as a roster, before it is compared with the database.
struct Parsed {
    encoding: &'static str,
    delimiter: char,
    sha256: String,
    /// The header's columns in order (`None`: an unknown column, ignored).
    columns: Vec<Option<Column>>,
    width: usize,
    warnings: Vec<Problem>,
    rows: Vec<Row>,
}

/// Decode, split and map the file; an error when it cannot be a roster at all.
fn parse(bytes: &[u8]) -> Result<Parsed> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge(format!(
            "The file is {} bytes; an import takes at most {} MiB (split it)",
            bytes.len(),
            MAX_BYTES / (1024 * 1024)
        )));
    }
    let sha256 = hex::encode(Sha256::digest(bytes));
    let (text, encoding) = decode(bytes)?;
    if text
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .is_empty()
    {
        return Err(Error::Invalid("The file is empty".into()));
    }
    let delimiter = detect_delimiter(&text);
    let mut records = records(&text, delimiter)?
        .into_iter()
        .filter(|r| r.fields.iter().any(|f| !f.trim().is_empty()));
    let header = records
        .next()
        .ok_or_else(|| Error::Invalid("The file is empty".into()))?;
    let mut columns = Vec::with_capacity(header.fields.len());
    let mut warnings = Vec::new();
    for field in &header.fields {
        let col = Column::from_header(field);
        if let Some(c) = col
            && columns.contains(&Some(c))
        {
            return Err(Error::Invalid(format!(
                "The header names the column {} twice (line {})",
                c.name(),
                header.line
            )));
        }
        if col.is_none() && !field.trim().is_empty() {
            warnings.push(Problem {
                line: header.line,
                column: Some(field.trim().to_owned()),
                message: format!("unknown column {:?} ignored", field.trim()),
            });
        }
        columns.push(col);
    }
    for required in [Column::Name, Column::Email] {
        if !columns.contains(&Some(required)) {
            let known = ALIASES
                .iter()
                .find(|(c, _)| *c == required)
                .map(|(_, names)| names.join(", "))
                .unwrap_or_default();
            return Err(Error::Invalid(format!(
                "The header (line {}) has no {} column (accepted names: {known}); the first line of the file must name the columns",
                header.line,
                required.name()
            )));
        }
    }
    let width = columns.len();
    let mut rows = Vec::new();
    for record in records {
        if rows.len() == MAX_ROWS {
            return Err(Error::TooLarge(format!(
                "The file has more than {MAX_ROWS} lines of accounts; an import takes at most {MAX_ROWS} (split it)"
            )));
        }
        let mut cells = HashMap::new();
        let mut extra = 0;
        for (i, field) in record.fields.into_iter().enumerate() {
            match columns.get(i) {
                Some(Some(c)) => {
                    // A line break or tab inside a quoted cell is a space in a name or a roll.
                    cells.insert(*c, field.replace(['\r', '\n', '\t'], " "));
                }
                Some(None) => {}
                None => extra += usize::from(!field.trim().is_empty()),
            }
        }
        rows.push(Row {
            line: record.line,
            cells,
            extra,
        });
    }
    if rows.is_empty() {
        return Err(Error::Invalid(
            "The file has a header but no accounts under it".into(),
        ));
    }
    Ok(Parsed {
        encoding,
        delimiter,
        sha256,
        columns,
        width,
        warnings,
        rows,
    })
}

fn not_csv(what: &str) -> Error {
    Error::UnsupportedMedia(format!(
        "{what}: save the spreadsheet as CSV (comma, semicolon or tab separated) and import that"
    ))
}

/// The file's text and the encoding it was read in: UTF-8 (with or without a byte order mark),
/// UTF-16 with a byte order mark, else Windows-1252 (a superset of Latin-1's letters).
fn decode(bytes: &[u8]) -> Result<(String, &'static str)> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let text = std::str::from_utf8(rest).map_err(|e| {
            Error::Invalid(format!(
                "The file says it is UTF-8 (it starts with a byte order mark) but byte {} is not",
                e.valid_up_to() + 3
            ))
        })?;
        return checked_text(text.to_owned(), "utf-8-bom");
    }
    let utf16 = |rest: &[u8], le: bool, name: &'static str| {
        if !rest.len().is_multiple_of(2) {
            return Err(Error::Invalid(format!(
                "The file is {name} with an odd length"
            )));
        }
        let units = rest.chunks_exact(2).map(|p| {
            let pair = [p[0], p[1]];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        let text: std::result::Result<String, _> = char::decode_utf16(units).collect();
        let text =
            text.map_err(|_| Error::Invalid(format!("The file is not valid {name} text")))?;
        checked_text(text, name)
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true, "utf-16le");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false, "utf-16be");
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(not_csv(
            "This is a spreadsheet workbook (.xlsx or .ods), not a CSV file",
        ));
    }
    if bytes.contains(&0) {
        return Err(not_csv(
            "This is not a CSV text file (it holds binary data)",
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => checked_text(text.to_owned(), "utf-8"),
        Err(_) => checked_text(
            bytes.iter().map(|&b| windows_1252(b)).collect(),
            "windows-1252",
        ),
    }
}

/// Refuse text that is mostly not text (more than 1 in 100 characters are control characters
/// other than tab and line ends); a stray one is a problem of its line.
fn checked_text(text: String, encoding: &'static str) -> Result<(String, &'static str)> {
    let controls = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        .count();
    if text.contains('\0') || controls * 100 > text.chars().count() {
        return Err(not_csv(
            "This is not a CSV text file (it holds binary data)",
        ));
    }
    Ok((text, encoding))
}

/// A Windows-1252 byte as a character (the bytes it leaves undefined map to the C1 controls,
/// as browsers decode them).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}',
        '\u{8f}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}',
        '\u{178}',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The delimiter of the header line (the first line with text): whichever of `,` `;` and tab
/// it holds most of outside quotes; `,` when it holds none (one column).
fn detect_delimiter(text: &str) -> char {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    let mut seen_text = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted && seen_text => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            c if !c.is_whitespace() && c != '\u{feff}' => seen_text = true,
            _ => {}
        }
    }
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        ','
    } else {
        [',', ';', '\t'][best]
    }
}

/// One CSV record: the line of the file it starts on (1-based) and its fields.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Split text into records (RFC 4180: fields in double quotes may hold the delimiter, line
/// breaks and doubled quotes; CRLF, LF or CR end a record). Lenient where spreadsheets are: text
/// after a closing quote is kept, a quote inside an unquoted field is a character. A quote
/// that is never closed is an error naming the line it opened on.
fn records(text: &str, delimiter: char) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let mut quoted_from = None;
    while let Some(c) = chars.next() {
        if quoted_from.is_some() {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted_from = None,
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    field.push('\n');
                }
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted_from = Some(line);
                at_field_start = false;
            }
            c if c == delimiter => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                fields.push(std::mem::take(&mut field));
                out.push(Record {
                    line: start,
                    fields: std::mem::take(&mut fields),
                });
                line += 1;
                start = line;
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if let Some(opened) = quoted_from {
        return Err(Error::Invalid(format!(
            "Line {opened}: a quoted field is never closed (a \" without its closing \")"
        )));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push(Record {
            line: start,
            fields,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str, d: char) -> Vec<(usize, Vec<&'static str>)> {
        records(text, d)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| {
                (
                    r.line,
                    r.fields
                        .into_iter()
                        .map(|f| &*Box::leak(f.into_boxed_str()))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn rfc4180_quotes_doubled_quotes_and_newlines() {
        let text = "name,email\r\n\"Doe, Jane\",\"j@x.org\"\r\n\"Say \"\"hi\"\"\nthere\",k@x.org\nlast,l@x.org";
        assert_eq!(
            fields(text, ','),
            vec![
                (1, vec!["name", "email"]),
                (2, vec!["Doe, Jane", "j@x.org"]),
                (3, vec!["Say \"hi\"\nthere", "k@x.org"]),
                (5, vec!["last", "l@x.org"]),
            ]
        );
    }

    #[test]
    fn empty_fields_and_lenient_quotes() {
        assert_eq!(
            fields("a;;\"b\"c;d\"e\n\n", ';'),
            vec![(1, vec!["a", "", "bc", "d\"e"]), (2, vec![""])]
        );
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let Err(e) = records("a,b\nc,\"d\ne,f\n", ',') else {
            panic!("an unclosed quote was accepted");
        };
        assert!(e.to_string().starts_with("Line 2:"), "{e}");
    }

    #[test]
    fn delimiters_are_detected_on_the_header() {
        assert_eq!(detect_delimiter("name;email;\"a,b,c\"\nx,y,z,w"), ';');
        assert_eq!(detect_delimiter("\n\nname\temail\n"), '\t');
        assert_eq!(detect_delimiter("name,email\n"), ',');
        assert_eq!(detect_delimiter("email\n"), ',');
    }

    #[test]
    fn encodings() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFa\xC3\xA9").unwrap_or_else(|e| panic!("{e}")),
            ("a\u{e9}".into(), "utf-8-bom")
        );
        assert_eq!(
            decode(b"Jos\xE9 M\xFCller \x80").unwrap_or_else(|e| panic!("{e}")),
            ("José Müller €".into(), "windows-1252")
        );
        assert_eq!(
            decode(b"\xFF\xFEa\x00\xF1\x00").unwrap_or_else(|e| panic!("{e}")),
            ("añ".into(), "utf-16le")
        );
        assert!(matches!(
            decode(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(Error::UnsupportedMedia(_))
        ));
        assert!(matches!(
            decode(b"PK\x03\x04xl/"),
            Err(Error::UnsupportedMedia(_))
        ));
    }

    #[test]
    fn headers_by_alias() {
        for (h, c) in [
            ("E-mail", Column::Email),
            ("Roll No.", Column::Roll),
            ("employee_id", Column::EmployeeId),
            ("\u{feff}Full Name", Column::Name),
            ("SUBJECT CODES", Column::Subjects),
        ] {
            assert_eq!(Column::from_header(h), Some(c), "{h}");
        }
        assert_eq!(Column::from_header("house"), None);
    }
}
