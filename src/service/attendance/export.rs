//! CSV exports of a subject's sessions and of one session: a row per student, a column per
//! session, then totals and percentage; cells a spreadsheet could run are neutralised.

use std::collections::HashMap;

use super::dates::date_range;
use super::figures::percentage;
use crate::domain::attendance::{Counts, Session};
use crate::domain::{AttendanceStatus, Id};
use crate::service::auth::AuthUser;
use crate::service::subjects::managed;
use crate::service::{Error, Result};
use crate::storage::attendance as store;
use crate::storage::{Conn, Db, audit};

/// What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula:
/// OWASP's list (`=`, `+`, `-`, `@`, tab, carriage return), `|` (DDE in older Excel), a line
/// feed, and the full-width forms of `=`, `+`, `-`, `@`, which some spreadsheets also accept.
const FORMULA_LEADS: [char; 12] = [
    '=', '+', '-', '@', '|', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// Whether a spreadsheet could run this cell: it starts with a formula character, possibly
/// after spaces (which some importers trim). A plain negative number (`-12`, `-0.5`) is left
/// alone: it can only ever be read as that number, and it stays one in the sheet.
fn runs_as_formula(raw: &str) -> bool {
    let leads = |s: &str| s.starts_with(FORMULA_LEADS);
    (leads(raw) || leads(raw.trim_start())) && !is_plain_negative_number(raw)
}

/// `-` and digits, with at most one decimal point between digits.
fn is_plain_negative_number(raw: &str) -> bool {
    let Some(digits) = raw.strip_prefix('-') else {
        return false;
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

/// One CSV field, RFC 4180: quoted when it holds a comma, quote or line break (quotes doubled).
/// A cell a spreadsheet could run as a formula (see [`runs_as_formula`]) gets a leading
/// apostrophe, so it is shown as the text it is (OWASP's advice for CSV injection).
#[must_use]
pub fn csv_field(raw: &str) -> String {
    let guarded = if runs_as_formula(raw) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn letter(status: AttendanceStatus) -> &'static str {
    match status {
        AttendanceStatus::Present => "P",
        AttendanceStatus::Late => "L",
        AttendanceStatus::Excused => "E",
        AttendanceStatus::Absent => "A",
    }
}

/// A CSV file: its suggested name and its UTF-8 text.
pub struct Csv {
    pub filename: String,
    pub text: String,
}

/// The CSV table of `sessions`: a row per enrolled student, and per former student who has a
/// record in one of them (so the totals add up to the sessions' counts).
fn table(conn: &Conn<'_>, subject: &Id, sessions: &[Session]) -> Result<String> {
    let members = store::report_members(conn, subject)?;
    let mut header = vec!["name".to_owned(), "roll".to_owned()];
    let mut marks: Vec<HashMap<Id, AttendanceStatus>> = Vec::with_capacity(sessions.len());
    for s in sessions {
        header.push(format!("{}#{}", s.date, s.slot));
        marks.push(store::records(conn, &s.id)?.into_iter().collect());
    }
    header.extend(AttendanceStatus::ALL.map(|s| s.as_str().to_owned()));
    header.extend(["total", "percentage"].map(str::to_owned));
    let mut out = csv_line(&header);
    for m in &members {
        if !m.enrolled && !marks.iter().any(|s| s.contains_key(&m.id)) {
            continue;
        }
        let mut row = vec![m.name.clone(), m.roll.clone()];
        let mut counts = Counts::default();
        for session in &marks {
            let status = session.get(&m.id).copied();
            if let Some(status) = status {
                counts.add(status);
            }
            row.push(status.map_or("", letter).to_owned());
        }
        row.extend([
            counts.present.to_string(),
            counts.late.to_string(),
            counts.excused.to_string(),
            counts.absent.to_string(),
            counts.total().to_string(),
            format!("{:.2}", percentage(&counts)),
        ]);
        out.push_str(&csv_line(&row));
    }
    Ok(out)
}

/// A subject's sessions between `from` and `to` (inclusive, optional) as a CSV table: one row
/// per enrolled student, one column per session (P/L/E/A), then totals and percentage.
pub async fn subject_csv(
    db: &Db,
    user: &AuthUser,
    subject: Id,
    from: Option<String>,
    to: Option<String>,
) -> Result<Csv> {
    let (from, to) = date_range(from, to)?;
    let user = user.clone();
    db.run(move |conn| {
        let s = managed(conn, &user, &subject)?;
        let sessions = store::sessions(conn, &subject, from.as_deref(), to.as_deref())?;
        audit::record(
            conn,
            Some(&user.id),
            "attendance.export",
            Some(subject.as_str()),
            &format!(
                "from={} to={} sessions={}",
                from.as_deref().unwrap_or("-"),
                to.as_deref().unwrap_or("-"),
                sessions.len()
            ),
        )?;
        Ok(Csv {
            filename: format!("attendance-{}.csv", sanitize(&s.code)),
            text: table(conn, &subject, &sessions)?,
        })
    })
    .await
}

/// One session as a CSV table (same columns as [`subject_csv`]).
pub async fn session_csv(db: &Db, user: &AuthUser, session: Id) -> Result<Csv> {
    let user = user.clone();
    db.run(move |conn| {
        let s = store::session(conn, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(conn, &user, &s.subject_id)?;
        audit::record(
            conn,
            Some(&user.id),
            "attendance.export",
            Some(s.subject_id.as_str()),
            &format!("session={}", session.as_str()),
        )?;
        Ok(Csv {
            filename: format!(
                "attendance-{}-{}-{}.csv",
                sanitize(&subject.code),
                s.date,
                s.slot
            ),
            text: table(conn, &s.subject_id, std::slice::from_ref(&s))?,
        })
    })
    .await
}

fn sanitize(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("Zoë"), "Zoë");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
        for (raw, out) in [
            ("=1+1", "'=1+1"),
            ("+1+1", "'+1+1"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("|calc", "'|calc"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("\n=1", "\"'\n=1\""),
            (" =1+1", "' =1+1"),
            ("  @x", "'  @x"),
            ("\u{FF1D}1+1", "'\u{FF1D}1+1"),
            ("\u{FF0D}1+1", "'\u{FF0D}1+1"),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("-", "'-"),
            ("-1-1", "'-1-1"),
            ("-1e5", "'-1e5"),
            ("-.5", "'-.5"),
            ("-5.", "'-5."),
            ("- 5", "'- 5"),
        ] {
            assert_eq!(csv_field(raw), out, "{raw:?}");
        }
        // Plain numbers, negative ones too, stay numbers; so does everything harmless.
        for raw in [
            "-12",
            "-0.5",
            "12",
            "100.00",
            "2026-01-05#-1",
            "R-3",
            "Zoë",
            "",
            " ",
            "a=b",
        ] {
            assert_eq!(csv_field(raw), raw, "{raw:?}");
        }
    }
}
