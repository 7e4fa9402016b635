//! Attendance: marking a class photo against the subject's gallery (nothing stored), confirming
//! the teacher's decisions as a session's records (replacing, never adding), a student's own
//! figures and CSV exports. Counts are always computed from the records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::auth::AuthUser;
use super::faces::FaceEngine;
use super::schedule::parse_date;
use super::subjects::{managed, run};
use super::{Error, Result};
use crate::domain::{Id, Role};
use crate::matching::{Gallery, Thresholds, Verdict, match_faces};
use crate::storage::Db;
use crate::storage::attendance::{self as store, Counts, Member, NewRecord};
use crate::storage::{StorageError, audit};

/// Largest base64 text accepted for a photo (about 20 MB decoded); checked before decoding.
pub const MAX_BASE64_LEN: usize = 27 * 1024 * 1024;
/// Candidates shown per face for review.
pub const REVIEW_K: usize = 3;
/// Attendance statuses a teacher may record.
pub const STATUSES: [&str; 4] = ["present", "late", "excused", "absent"];

/// The photo inside a seed `image` field: a data URL (everything up to the first comma is
/// dropped) or bare base64. Too long: 413; not base64: 400 `Invalid base64 image`.
pub fn decode_image(raw: &str) -> Result<Vec<u8>> {
    let data = if raw.trim_start().starts_with("data:") {
        raw.split_once(',').map_or("", |(_, d)| d)
    } else {
        raw
    };
    if data.len() > MAX_BASE64_LEN {
        return Err(Error::TooLarge(format!(
            "Image too large ({} base64 characters, at most {MAX_BASE64_LEN})",
            data.len()
        )));
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(compact.as_bytes())
        .map_err(|_| Error::BadRequest("Invalid base64 image".into()))
}

/// One face found in a marked photo.
#[derive(Debug, Clone)]
pub struct MarkedFace {
    /// `[left, top, right, bottom]`, clipped to the photo.
    pub bbox: [i64; 4],
    pub verdict: Verdict,
    /// Distance to the assigned student (present or uncertain).
    pub distance: Option<f32>,
    pub detector_score: f32,
    pub student: Option<Member>,
    /// The nearest students, nearest first (up to [`REVIEW_K`]).
    pub candidates: Vec<(Member, f32)>,
}

#[derive(Debug, Clone)]
pub struct Marked {
    pub subject_id: Id,
    pub faces: Vec<MarkedFace>,
    /// Enrolled students no face was matched to.
    pub not_seen: Vec<Member>,
    pub elapsed: Duration,
}

/// Where a mark request's rules come from.
pub struct MarkConfig {
    pub require_consent: bool,
    pub confident: f32,
    pub uncertain: f32,
    /// A live webcam frame (the seed frontend's live mode): faces of at least 80 px and 10% of
    /// the frame are looked for, which keeps a 640x480 frame at its own size (about 60 ms).
    pub live: bool,
}

/// Match the faces of a class photo against the subject's verified, consenting students.
/// Nothing is stored (live mode calls this every few seconds).
pub async fn mark(
    db: &Db,
    engine: &Arc<FaceEngine>,
    config: &MarkConfig,
    user: &AuthUser,
    subject: Id,
    bytes: Vec<u8>,
) -> Result<Marked> {
    let started = Instant::now();
    let thresholds = Thresholds::new(config.confident, config.uncertain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
    let u = user.clone();
    let s = subject.clone();
    let consent = config.require_consent;
    let (rows, members) = run(db, move |conn| {
        managed(conn, &u, &s)?;
        Ok((
            store::gallery(conn, &s, consent)?,
            store::members(conn, &s)?,
        ))
    })
    .await?;
    if bytes.is_empty() {
        return Err(Error::Invalid("The image is empty".into()));
    }
    if crate::vision::decode::mime_type(&bytes).is_none() {
        return Err(Error::UnsupportedMedia(
            "The image must be a JPEG, PNG or WebP photo".into(),
        ));
    }
    let kind = if config.live {
        crate::vision::pipeline::Subject::Portrait
    } else {
        crate::vision::pipeline::Subject::Class
    };
    let analysis = engine.photo(bytes, kind).await?;
    let by_id: HashMap<&str, &Member> = members.iter().map(|m| (m.id.as_str(), m)).collect();
    let gallery = Gallery::from_blobs(rows.iter().map(|r| (r.student_id.clone(), &r.embedding)))
        .map_err(|e| Error::Internal(anyhow::anyhow!("face gallery: {e}")))?;
    let embeddings: Vec<[f32; crate::matching::DIM]> =
        analysis.faces.iter().map(|f| f.embedding).collect();
    let matches = if gallery.is_empty() || embeddings.is_empty() {
        Vec::new()
    } else {
        match_faces(&gallery, &embeddings, &thresholds, REVIEW_K)
    };
    let member = |id: &Id| by_id.get(id.as_str()).map(|m| (*m).clone());
    let mut seen = HashSet::new();
    let faces = analysis
        .faces
        .iter()
        .enumerate()
        .map(|(i, face)| {
            let m = matches.get(i);
            let assigned = m.and_then(|m| m.student.as_ref());
            let student = assigned.and_then(|(id, _)| member(id));
            if let Some(s) = &student {
                seen.insert(s.id.clone());
            }
            MarkedFace {
                bbox: face.clipped(analysis.width, analysis.height),
                verdict: if student.is_some() {
                    m.map_or(Verdict::Unknown, |m| m.verdict)
                } else {
                    Verdict::Unknown
                },
                distance: student.as_ref().and(assigned.map(|(_, d)| *d)),
                detector_score: face.score,
                student,
                candidates: m
                    .map(|m| {
                        m.candidates
                            .iter()
                            .filter_map(|(id, d)| Some((member(id)?, *d)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let not_seen = members
        .iter()
        .filter(|m| !seen.contains(&m.id))
        .cloned()
        .collect();
    Ok(Marked {
        subject_id: subject,
        faces,
        not_seen,
        elapsed: started.elapsed(),
    })
}

/// What a teacher confirms.
#[derive(Debug, Clone)]
pub struct ConfirmInput {
    pub subject_id: Id,
    /// `YYYY-MM-DD`; today (UTC) when absent.
    pub date: Option<String>,
    pub slot: Option<i64>,
    /// Applied in order: a later decision for the same student wins.
    pub decisions: Vec<DecisionInput>,
}

/// One student's status as sent.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub student_id: String,
    pub status: String,
    /// The face distance from `mark` when the decision comes from a photo match.
    pub distance: Option<f64>,
}

impl DecisionInput {
    #[must_use]
    pub fn new(student_id: String, status: &str) -> Self {
        Self {
            student_id,
            status: status.to_owned(),
            distance: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Confirmed {
    pub session_id: Id,
    pub date: String,
    pub slot: i64,
    pub counts: Counts,
    /// Records the session had before (0 on the first confirmation).
    pub replaced: usize,
}

/// Percentage attended: (present + late) over (total − excused), two decimals; 0 with nothing.
#[must_use]
pub fn percentage(c: &Counts) -> f64 {
    let denominator = c.total() - c.excused;
    if denominator <= 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let p = (c.present + c.late) as f64 * 100.0 / denominator as f64;
    (p * 100.0).round() / 100.0
}

fn today() -> String {
    format_date(time::OffsetDateTime::now_utc().date())
}

fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn check_date(field: &str, raw: &str) -> Result<String> {
    parse_date(raw.trim())
        .map(format_date)
        .ok_or_else(|| Error::Invalid(format!("{field} must be a date YYYY-MM-DD")))
}

/// Apply the teacher's decisions: one transaction upserts the session, replaces its records
/// and writes an audit entry. Only students enrolled in the subject are accepted (422).
pub async fn confirm(db: &Db, user: &AuthUser, input: ConfirmInput) -> Result<Confirmed> {
    let date = match input.date.as_deref() {
        Some(d) if !d.trim().is_empty() => check_date("date", d)?,
        _ => today(),
    };
    let slot = input.slot.unwrap_or(0);
    if !(0..=99).contains(&slot) {
        return Err(Error::Invalid("slot must be between 0 and 99".into()));
    }
    // An empty confirmation would wipe a session's records: refused (corrections go through
    // `correct`).
    if input.decisions.is_empty() {
        return Err(Error::Invalid(
            "No decisions: send present_students / absent_students or decisions".into(),
        ));
    }
    let mut decided: BTreeMap<Id, (&'static str, Option<f64>)> = BTreeMap::new();
    for d in &input.decisions {
        let id = Id::parse(d.student_id.trim())
            .map_err(|_| Error::BadRequest("Invalid student_id format".into()))?;
        let status = STATUSES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(d.status.trim()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "status must be one of present, late, excused, absent (got {:?})",
                    d.status
                ))
            })?;
        if let Some(x) = d.distance
            && !(x.is_finite() && (0.0..=4.0).contains(&x))
        {
            return Err(Error::Invalid("distance must be between 0 and 4".into()));
        }
        decided.insert(id, (status, d.distance));
    }
    let user = user.clone();
    let subject = input.subject_id;
    run(db, move |conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StorageError::from)?;
        managed(&tx, &user, &subject)?;
        let enrolled: HashSet<Id> = store::members(&tx, &subject)?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let strangers: Vec<&str> = decided
            .keys()
            .filter(|id| !enrolled.contains(*id))
            .map(Id::as_str)
            .collect();
        if !strangers.is_empty() {
            return Err(Error::Invalid(format!(
                "Not enrolled in this subject: {}",
                strangers.join(", ")
            )));
        }
        let (session, _) = store::upsert_session(&tx, &subject, &date, slot, &user.id)?;
        // A changed status on a confirmed session is a correction; an unchanged one keeps
        // where it came from.
        let before: HashMap<Id, (String, String)> = store::records_with_source(&tx, &session)?
            .into_iter()
            .map(|(id, status, source)| (id, (status, source)))
            .collect();
        let records: Vec<NewRecord<'_>> = decided
            .iter()
            .map(|(id, (status, distance))| {
                let fresh = if distance.is_some() { "photo" } else { "manual" };
                let source = match before.get(id) {
                    Some((old, _)) if old != status => "correction",
                    Some((_, old)) => match old.as_str() {
                        "photo" => "photo",
                        "correction" => "correction",
                        _ => fresh,
                    },
                    None => fresh,
                };
                NewRecord {
                    student_id: id,
                    status,
                    source,
                    distance: *distance,
                }
            })
            .collect();
        let replaced = store::replace_records(&tx, &session, &records)?;
        let counts = store::session_counts(&tx, &session)?;
        audit::record(
            &tx,
            Some(&user.id),
            "attendance.confirm",
            Some(session.as_str()),
            &format!(
                "subject={} date={date} slot={slot} present={} late={} excused={} absent={} replaced={replaced}",
                subject.as_str(),
                counts.present,
                counts.late,
                counts.excused,
                counts.absent
            ),
        )?;
        tx.commit().map_err(StorageError::from)?;
        Ok(Confirmed {
            session_id: session,
            date,
            slot,
            counts,
            replaced,
        })
    })
    .await
}

/// Change one student's status in a confirmed session (teachers of the subject, administrators):
/// recorded with source `correction` and audited with the old and new status.
pub async fn correct(
    db: &Db,
    user: &AuthUser,
    session: Id,
    student: Id,
    status: &str,
) -> Result<Confirmed> {
    let status = STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(status.trim()))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "status must be one of present, late, excused, absent (got {status:?})"
            ))
        })?;
    let user = user.clone();
    run(db, move |conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StorageError::from)?;
        let s = store::session(&tx, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        managed(&tx, &user, &s.subject_id)?;
        if !crate::storage::subjects::is_enrolled(&tx, &s.subject_id, &student)? {
            return Err(Error::Invalid(format!(
                "Not enrolled in this subject: {}",
                student.as_str()
            )));
        }
        let before = store::correct(&tx, &session, &student, status)?;
        audit::record(
            &tx,
            Some(&user.id),
            "attendance.correct",
            Some(session.as_str()),
            &format!(
                "student={} from={} to={status}",
                student.as_str(),
                before.as_deref().unwrap_or("none")
            ),
        )?;
        let counts = store::session_counts(&tx, &session)?;
        tx.commit().map_err(StorageError::from)?;
        Ok(Confirmed {
            session_id: s.id,
            date: s.date,
            slot: s.slot,
            counts,
            replaced: usize::from(before.is_some()),
        })
    })
    .await
}

/// One subject's figures for a student.
#[derive(Debug, Clone)]
pub struct SubjectFigures {
    pub subject_id: Id,
    pub name: String,
    pub code: String,
    pub counts: Counts,
    pub percentage: f64,
}

/// A student's own attendance, per subject they are enrolled in.
pub async fn of_student(db: &Db, student: Id) -> Result<Vec<SubjectFigures>> {
    let rows = run(db, move |conn| Ok(store::of_student(conn, &student)?)).await?;
    Ok(rows
        .into_iter()
        .map(|(subject_id, name, code, counts)| SubjectFigures {
            percentage: percentage(&counts),
            subject_id,
            name,
            code,
            counts,
        })
        .collect())
}

/// One of a student's newest records.
#[derive(Debug, Clone)]
pub struct RecentRecord {
    pub session_id: Id,
    pub subject_id: Id,
    pub date: String,
    pub slot: i64,
    pub status: String,
}

/// A student's newest `limit` records, newest first.
pub async fn recent(db: &Db, student: Id, limit: u32) -> Result<Vec<RecentRecord>> {
    let rows = run(db, move |conn| Ok(store::recent(conn, &student, limit)?)).await?;
    Ok(rows
        .into_iter()
        .map(
            |(session_id, subject_id, date, slot, status)| RecentRecord {
                session_id,
                subject_id,
                date,
                slot,
                status,
            },
        )
        .collect())
}

/// The caller's own figures (students only).
pub async fn mine(db: &Db, user: &AuthUser) -> Result<Vec<SubjectFigures>> {
    if user.role != Role::Student {
        return Err(Error::Forbidden("Student access required".into()));
    }
    of_student(db, user.id.clone()).await
}

/// One CSV field, RFC 4180: quoted when it holds a comma, quote or line break (quotes doubled).
/// A leading `=`, `+`, `@` or tab gets an apostrophe, so spreadsheets do not run it as a formula.
#[must_use]
pub fn csv_field(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '@', '\t', '\r']) {
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

fn letter(status: &str) -> &'static str {
    match status {
        "present" => "P",
        "late" => "L",
        "excused" => "E",
        "absent" => "A",
        _ => "",
    }
}

/// A CSV file: its suggested name and its UTF-8 text.
pub struct Csv {
    pub filename: String,
    pub text: String,
}

fn table(conn: &rusqlite::Connection, subject: &Id, sessions: &[store::Session]) -> Result<String> {
    let members = store::members(conn, subject)?;
    let mut header = vec!["name".to_owned(), "roll".to_owned()];
    let mut marks: Vec<HashMap<Id, String>> = Vec::with_capacity(sessions.len());
    for s in sessions {
        header.push(format!("{}#{}", s.date, s.slot));
        marks.push(store::records(conn, &s.id)?.into_iter().collect());
    }
    header.extend(
        [
            "present",
            "late",
            "excused",
            "absent",
            "total",
            "percentage",
        ]
        .map(str::to_owned),
    );
    let mut out = csv_line(&header);
    for m in &members {
        let mut row = vec![m.name.clone(), m.roll.clone()];
        let mut counts = Counts::default();
        for session in &marks {
            let status = session.get(&m.id).map_or("", String::as_str);
            if !status.is_empty() {
                counts.add(status);
            }
            row.push(letter(status).to_owned());
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
    let from = from
        .filter(|f| !f.trim().is_empty())
        .map(|f| check_date("from", &f))
        .transpose()?;
    let to = to
        .filter(|t| !t.trim().is_empty())
        .map(|t| check_date("to", &t))
        .transpose()?;
    let user = user.clone();
    run(db, move |conn| {
        let s = managed(conn, &user, &subject)?;
        let sessions = store::sessions(conn, &subject, from.as_deref(), to.as_deref())?;
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
    run(db, move |conn| {
        let s = store::session(conn, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(conn, &user, &s.subject_id)?;
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
    fn base64_data_urls_and_errors() {
        let bytes = decode_image("data:image/jpeg;base64,/9j/4A==").unwrap_or_default();
        assert_eq!(bytes, vec![0xff, 0xd8, 0xff, 0xe0]);
        assert_eq!(decode_image("/9j/4A").unwrap_or_default(), bytes);
        assert!(matches!(decode_image("%%%"), Err(Error::BadRequest(_))));
        let huge = "A".repeat(MAX_BASE64_LEN + 4);
        assert!(matches!(decode_image(&huge), Err(Error::TooLarge(_))));
    }

    #[test]
    fn percentage_excludes_excused() {
        let c = Counts {
            present: 1,
            late: 1,
            excused: 1,
            absent: 1,
        };
        assert!((percentage(&c) - 66.67).abs() < 1e-9);
        assert!(percentage(&Counts::default()).abs() < f64::EPSILON);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("Zoë"), "Zoë");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }
}
