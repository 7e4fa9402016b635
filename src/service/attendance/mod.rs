//! Attendance: marking a class photo against the subject's gallery (nothing stored), confirming
//! the teacher's decisions as a session's records (replacing, never adding), a student's own
//! figures and CSV exports. Counts are always computed from the records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::auth::AuthUser;
use super::faces::FaceEngine;
use super::notify;
use super::schedule::{ClockTime, parse_date};
use super::subjects::managed;
use super::{Error, Result};
use crate::domain::{Id, Role};
use crate::matching::{DIM, Gallery, Thresholds, Verdict, decode_blob, distance, match_faces};
use crate::storage::attendance::{self as store, Counts, GalleryRow, Member, NewRecord};
use crate::storage::{Conn, Db};
use crate::storage::{audit, drafts};

/// Largest base64 text accepted for a photo (about 20 MB decoded); checked before decoding.
pub const MAX_BASE64_LEN: usize = 27 * 1024 * 1024;
/// Candidates shown per face for review.
pub const REVIEW_K: usize = 3;
/// Attendance statuses a teacher may record.
pub const STATUSES: [&str; 4] = ["present", "late", "excused", "absent"];

/// The photo inside a seed `image` field: a data URL (everything up to the first comma is
/// dropped) or bare base64. Too long: 413; not base64, or a data URL without its comma:
/// 400 `Invalid base64 image`.
pub fn decode_image(raw: &str) -> Result<Vec<u8>> {
    let invalid = || Error::BadRequest("Invalid base64 image".into());
    let data = if raw.trim_start().starts_with("data:") {
        // Without the comma there is no data part: refused, not read as an empty image.
        raw.split_once(',').map(|(_, d)| d).ok_or_else(invalid)?
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
    engine.decode(compact.as_bytes()).map_err(|_| invalid())
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
    /// The teacher chose the student (a saved draft's face).
    pub by_teacher: bool,
    /// Another face took a student nearer to this one: worth the teacher's look.
    pub displaced: bool,
}

#[derive(Debug, Clone)]
pub struct Marked {
    pub subject_id: Id,
    pub faces: Vec<MarkedFace>,
    /// Enrolled students no face was matched to.
    pub not_seen: Vec<Member>,
    /// Where a saved photo went: the draft and the photo's number in it.
    pub saved: Option<SavedPhoto>,
    pub elapsed: Duration,
}

/// A photo kept in a draft.
#[derive(Debug, Clone)]
pub struct SavedPhoto {
    pub draft_id: Id,
    pub date: String,
    pub slot: i64,
    pub photo: i64,
}

/// Which session a saved photo belongs to (defaults as in [`session_of`]).
#[derive(Debug, Clone, Default)]
pub struct SaveTo {
    pub date: Option<String>,
    pub slot: Option<i64>,
}

/// The largest frame taken for a webcam's, landscape: what the seed frontend's live mode
/// sends (react-webcam's default capture is 640x480; HD webcams 1280x720).
pub const WEBCAM_MAX: (u32, u32) = (1280, 720);

/// Whether a photo is shaped like a webcam frame, read from its header alone: landscape (or
/// square) and at most [`WEBCAM_MAX`]. A portrait photo of any size is not (a phone photo of a
/// class may well be small: it keeps the class profile).
#[must_use]
pub fn is_webcam_frame(bytes: &[u8]) -> bool {
    crate::vision::decode::dimensions(bytes)
        .is_some_and(|(w, h)| w > 0 && h > 0 && h <= w && w <= WEBCAM_MAX.0 && h <= WEBCAM_MAX.1)
}

/// Where a mark request's rules come from.
pub struct MarkConfig {
    pub require_consent: bool,
    pub confident: f32,
    pub uncertain: f32,
    /// A live webcam frame (the seed frontend's live mode): faces of at least 80 px and 10% of
    /// the frame are looked for, which keeps a 640x480 frame at its own size (about 60 ms).
    pub live: bool,
    /// Confirming a draft adds the faces the teacher vouched for to their students' samples
    /// (see [`super::learn`]).
    pub learn: bool,
}

impl MarkConfig {
    fn thresholds(&self) -> Result<Thresholds> {
        Thresholds::new(self.confident, self.uncertain)
            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))
    }
}

/// Match the faces of a class photo against the subject's verified, consenting students, one
/// face per student. Nothing is stored unless `save` is given (live mode calls this every few
/// seconds): then the photo joins the draft of its session, whose faces are matched together, so
/// a student in two photos of one session is still counted once.
#[allow(clippy::too_many_arguments)]
pub async fn mark(
    db: &Db,
    engine: &Arc<FaceEngine>,
    faces_dir: &Path,
    config: &MarkConfig,
    user: &AuthUser,
    subject: Id,
    bytes: Vec<u8>,
    save: Option<SaveTo>,
) -> Result<Marked> {
    let started = Instant::now();
    let thresholds = config.thresholds()?;
    let u = user.clone();
    let s = subject.clone();
    let when = save.clone();
    // Ownership and the session's day (a holiday is refused) before any vision work.
    let session = db
        .run(move |conn| {
            managed(conn, &u, &s)?;
            when.map(|w| session_of(conn, &s, w.date.as_deref(), w.slot))
                .transpose()
        })
        .await?;
    if bytes.is_empty() {
        return Err(Error::Invalid("The image is empty".into()));
    }
    if crate::vision::decode::mime_type(&bytes).is_none() {
        let heic = crate::vision::decode::is_heic(&bytes);
        return Err(super::faces::Refusal::Unsupported { heic }.into());
    }
    let kind = if config.live {
        crate::vision::pipeline::Subject::Portrait
    } else {
        crate::vision::pipeline::Subject::Class
    };
    // A saved photo is stored re-encoded, without its metadata (see `StoredPhoto`).
    let (stored, analysis) = engine.photo_keep(bytes, kind, session.is_some()).await?;
    let found = FaceIn::of_photo(&analysis);
    let consent = config.require_consent;
    let u = user.clone();
    let dir = faces_dir.to_owned();
    let size = (
        i64::try_from(analysis.width).unwrap_or(i64::MAX),
        i64::try_from(analysis.height).unwrap_or(i64::MAX),
    );
    let subject_id = subject.clone();
    let Some((date, slot)) = session else {
        // Nothing is kept: a read, which never waits for another mark's write.
        let (faces, not_seen) = db
            .run(move |conn| {
                let rows = store::gallery(conn, &subject, consent)?;
                let members = store::members(conn, &subject)?;
                review(&rows, &members, &found, &thresholds)
            })
            .await?;
        return Ok(Marked {
            subject_id,
            faces,
            not_seen,
            saved: None,
            elapsed: started.elapsed(),
        });
    };
    let (faces, not_seen, saved) = db
        .transaction(move |tx| {
            managed(tx, &u, &subject)?;
            let draft = drafts::open(tx, &subject, &date, slot, &u.id)?;
            let taken = drafts::photos(tx, &draft.id)?.len();
            if taken >= super::drafts::MAX_PHOTOS {
                return Err(Error::Invalid(format!(
                    "A draft holds at most {} photos; confirm or discard it first",
                    super::drafts::MAX_PHOTOS
                )));
            }
            let stored = stored.ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("a saved photo without its stored copy"))
            })?;
            let rows: Vec<([i64; 4], f64, Vec<u8>)> = found
                .iter()
                .map(|f| {
                    (
                        f.bbox,
                        f64::from(f.score),
                        crate::matching::encode_blob(&f.embedding),
                    )
                })
                .collect();
            let photo =
                drafts::add_photo(tx, &draft.id, &stored.sha, stored.content_type, size, &rows)?;
            super::faces::store(&dir, &stored.bytes)
                .map_err(|e| Error::from_io("storing the photo", &e))?;
            let view = super::drafts::review_draft(tx, &draft, consent, &thresholds)?;
            let faces = view
                .faces
                .into_iter()
                .filter(|f| f.photo == photo)
                .map(|f| f.marked)
                .collect();
            Ok((
                faces,
                view.not_seen,
                Some(SavedPhoto {
                    draft_id: draft.id,
                    date,
                    slot,
                    photo,
                }),
            ))
        })
        .await?;
    Ok(Marked {
        subject_id,
        faces,
        not_seen,
        saved,
        elapsed: started.elapsed(),
    })
}

/// A face to review: where it is, what it looks like and, if the teacher chose, whose it is.
#[derive(Debug, Clone)]
pub(crate) struct FaceIn {
    pub bbox: [i64; 4],
    pub score: f32,
    pub embedding: [f32; DIM],
    pub assigned: Option<Id>,
}

impl FaceIn {
    /// The faces of an analysed photo as the mark route reviews them (boxes clipped to the
    /// photo, nobody assigned yet); `rollcall eval attendance` goes through the same.
    pub(crate) fn of_photo(analysis: &crate::vision::pipeline::Analysis) -> Vec<Self> {
        analysis
            .faces
            .iter()
            .map(|f| Self {
                bbox: f.clipped(analysis.width, analysis.height),
                score: f.score,
                embedding: f.embedding,
                assigned: None,
            })
            .collect()
    }
}

/// The students nearest to `face` among `rows` (each student's nearest sample), nearest first.
fn nearest(rows: &[GalleryRow], face: &[f32; DIM], k: usize) -> Vec<(Id, f32)> {
    let mut best: HashMap<&Id, f32> = HashMap::new();
    for r in rows {
        if let Ok(e) = decode_blob(&r.embedding) {
            let d = distance(face, &e);
            best.entry(&r.student_id)
                .and_modify(|b| *b = b.min(d))
                .or_insert(d);
        }
    }
    let mut list: Vec<(Id, f32)> = best.into_iter().map(|(id, d)| (id.clone(), d)).collect();
    list.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then_with(|| a.0.as_str().cmp(b.0.as_str()))
    });
    list.truncate(k);
    list
}

/// Match faces against the gallery one-to-one. A face the teacher assigned to an enrolled
/// student is that student's (present); the other faces are matched against the rest.
/// Returns the faces in order and the enrolled students no face stands for.
pub(crate) fn review(
    rows: &[GalleryRow],
    members: &[Member],
    faces: &[FaceIn],
    thresholds: &Thresholds,
) -> Result<(Vec<MarkedFace>, Vec<Member>)> {
    let by_id: HashMap<&str, &Member> = members.iter().map(|m| (m.id.as_str(), m)).collect();
    let member = |id: &Id| by_id.get(id.as_str()).map(|m| (*m).clone());
    let fixed: HashSet<&Id> = faces
        .iter()
        .filter_map(|f| f.assigned.as_ref())
        .filter(|id| by_id.contains_key(id.as_str()))
        .collect();
    let gallery = Gallery::from_blobs(
        rows.iter()
            .filter(|r| !fixed.contains(&r.student_id))
            .map(|r| (r.student_id.clone(), &r.embedding)),
    )
    .map_err(|e| Error::Internal(anyhow::anyhow!("face gallery: {e}")))?;
    let open: Vec<usize> = (0..faces.len())
        .filter(|&i| {
            faces[i]
                .assigned
                .as_ref()
                .is_none_or(|id| !by_id.contains_key(id.as_str()))
        })
        .collect();
    let embeddings: Vec<[f32; DIM]> = open.iter().map(|&i| faces[i].embedding).collect();
    let matches = if gallery.is_empty() || embeddings.is_empty() {
        Vec::new()
    } else {
        match_faces(&gallery, &embeddings, thresholds, REVIEW_K)
    };
    let matched: HashMap<usize, &crate::matching::FaceMatch<Id>> =
        open.iter().copied().zip(matches.iter()).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(faces.len());
    for (i, face) in faces.iter().enumerate() {
        let candidates = |list: &[(Id, f32)]| -> Vec<(Member, f32)> {
            list.iter()
                .filter_map(|(id, d)| Some((member(id)?, *d)))
                .collect()
        };
        if let Some(student) = face.assigned.as_ref().and_then(member) {
            let near = nearest(rows, &face.embedding, REVIEW_K);
            let distance = nearest(
                &rows
                    .iter()
                    .filter(|r| r.student_id == student.id)
                    .cloned()
                    .collect::<Vec<_>>(),
                &face.embedding,
                1,
            )
            .first()
            .map(|(_, d)| *d);
            seen.insert(student.id.clone());
            out.push(MarkedFace {
                bbox: face.bbox,
                verdict: Verdict::Present,
                distance,
                detector_score: face.score,
                student: Some(student),
                candidates: candidates(&near),
                by_teacher: true,
                displaced: false,
            });
            continue;
        }
        let m = matched.get(&i);
        let assigned = m.and_then(|m| m.student.as_ref());
        let student = assigned.and_then(|(id, _)| member(id));
        if let Some(s) = &student {
            seen.insert(s.id.clone());
        }
        out.push(MarkedFace {
            bbox: face.bbox,
            verdict: if student.is_some() {
                m.map_or(Verdict::Unknown, |m| m.verdict)
            } else {
                Verdict::Unknown
            },
            distance: student.as_ref().and(assigned.map(|(_, d)| *d)),
            detector_score: face.score,
            student,
            candidates: m.map(|m| candidates(&m.candidates)).unwrap_or_default(),
            by_teacher: false,
            displaced: m.is_some_and(|m| m.displaced),
        });
    }
    let not_seen = members
        .iter()
        .filter(|m| !seen.contains(&m.id))
        .cloned()
        .collect();
    Ok((out, not_seen))
}

/// The school's date and wall-clock time now: the machine's time zone (`TZ` overrides it).
#[must_use]
pub fn local_now() -> (time::Date, ClockTime) {
    use chrono::{Datelike, Timelike};
    let now = chrono::Local::now();
    let date = time::Month::try_from(u8::try_from(now.month()).unwrap_or(1))
        .ok()
        .and_then(|m| {
            time::Date::from_calendar_date(now.year(), m, u8::try_from(now.day()).unwrap_or(1)).ok()
        })
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let clock = ClockTime::from_hm(
        u8::try_from(now.hour()).unwrap_or(0),
        u8::try_from(now.minute()).unwrap_or(0),
    )
    .unwrap_or_else(|| ClockTime::from_hm(0, 0).unwrap_or_else(|| unreachable!()));
    (date, clock)
}

/// The session a photo or confirmation is for: `date` (default: today in the school's time
/// zone) and `slot` (default: the subject's period running now in its teachers' timetables,
/// else its only period that day, else 0). A day that the timetables make a holiday or an exam
/// day without a period of this subject is refused (422): no attendance is taken then.
pub(crate) fn session_of(
    conn: &Conn<'_>,
    subject: &Id,
    date: Option<&str>,
    slot: Option<i64>,
) -> Result<(String, i64)> {
    let (today, now) = local_now();
    let day = match date.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => {
            parse_date(d).ok_or_else(|| Error::Invalid("date must be a date YYYY-MM-DD".into()))?
        }
        None => today,
    };
    check_session_day(day, today)?;
    if let Some(s) = slot
        && !(0..=99).contains(&s)
    {
        return Err(Error::Invalid("slot must be between 0 and 99".into()));
    }
    let mut schedules = Vec::new();
    for t in crate::storage::subjects::teacher_ids(conn, subject)? {
        let stored = crate::storage::users::teacher_profile(conn, &t)?
            .and_then(|p| p.schedule)
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok());
        if let Some(v) = stored {
            schedules.push(super::schedule::from_stored(&v));
        }
    }
    let days: Vec<_> = schedules.iter().map(|s| s.day(day)).collect();
    let periods: Vec<_> = days
        .iter()
        .flat_map(|d| d.periods.iter())
        .filter(|p| p.is_of(subject.as_str()))
        .collect();
    if periods.is_empty() {
        let off = days.iter().find_map(|d| {
            d.holiday
                .as_ref()
                .map(|h| ("a holiday", h))
                .or_else(|| d.exam.as_ref().map(|e| ("an exam day", e)))
        });
        if let Some((what, name)) = off {
            let named = if name.is_empty() {
                String::new()
            } else {
                format!(" ({name})")
            };
            return Err(Error::Invalid(format!(
                "{} is {what}{named} in the timetable: no attendance is taken",
                format_date(day)
            )));
        }
    }
    let slot = slot.unwrap_or_else(|| {
        let running = (day == today)
            .then(|| {
                periods.iter().find(|p| {
                    matches!((ClockTime::parse(&p.start), ClockTime::parse(&p.end)),
                        (Some(a), Some(b)) if a <= now && now < b)
                })
            })
            .flatten();
        let mut slots: Vec<u32> = periods.iter().map(|p| p.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        match (running, slots.as_slice()) {
            (Some(p), _) => i64::from(p.slot),
            (None, [only]) => i64::from(*only),
            _ => 0,
        }
    });
    Ok((format_date(day), slot))
}

/// What a teacher confirms.
#[derive(Debug, Clone, Default)]
pub struct ConfirmInput {
    /// Required without a draft; must be the draft's subject with one.
    pub subject_id: Option<Id>,
    /// A saved draft: its session, and its matches as the starting point (present: the faces
    /// matched confidently or assigned by the teacher; absent: every other verified student).
    /// Decisions override it. The draft is deleted with its photos once confirmed.
    pub draft: Option<Id>,
    /// `YYYY-MM-DD`; today in the school's time zone when absent.
    pub date: Option<String>,
    /// Default: the subject's period running now (see [`session_of`]).
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
    /// None when nothing was recorded (a confirmation without any decision).
    pub session_id: Option<Id>,
    pub date: String,
    pub slot: i64,
    pub counts: Counts,
    /// Records the session had before (0 on the first confirmation).
    pub replaced: usize,
    /// Absence notices queued by this confirmation.
    pub notices: usize,
    /// Faces of the draft added to their students' samples ([`super::learn`]).
    pub learned: usize,
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

/// The first day attendance may be recorded for.
const FIRST_SESSION_DAY: time::Date = time::macros::date!(2000 - 01 - 01);

/// A session's day is a real school day: not before [`FIRST_SESSION_DAY`] and not after
/// tomorrow (one day of slack for a laptop whose clock or time zone is off).
fn check_session_day(day: time::Date, today: time::Date) -> Result<()> {
    let latest = today.next_day().unwrap_or(today);
    if day < FIRST_SESSION_DAY || day > latest {
        return Err(Error::Invalid(format!(
            "date must be between {} and {} (attendance is not recorded ahead of time)",
            format_date(FIRST_SESSION_DAY),
            format_date(latest)
        )));
    }
    Ok(())
}

fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn check_date(field: &str, raw: &str) -> Result<String> {
    parse_date(raw.trim())
        .map(format_date)
        .ok_or_else(|| Error::Invalid(format!("{field} must be a date YYYY-MM-DD")))
}

type Decided = BTreeMap<Id, (&'static str, Option<f64>)>;

fn parse_status(raw: &str) -> Result<&'static str> {
    STATUSES
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(raw.trim()))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "status must be one of present, late, excused, absent (got {raw:?})"
            ))
        })
}

fn parse_decisions(decisions: &[DecisionInput]) -> Result<Decided> {
    let mut decided = Decided::new();
    for d in decisions {
        let id = Id::parse(d.student_id.trim())
            .map_err(|_| Error::BadRequest("Invalid student_id format".into()))?;
        let status = parse_status(&d.status)?;
        if let Some(x) = d.distance
            && !(x.is_finite() && (0.0..=4.0).contains(&x))
        {
            return Err(Error::Invalid("distance must be between 0 and 4".into()));
        }
        decided.insert(id, (status, d.distance));
    }
    Ok(decided)
}

/// Apply the teacher's decisions: one transaction upserts the session, replaces its records,
/// brings the absence notices in the outbox in line, deletes the draft it came from and writes
/// an audit entry. Only students enrolled in the subject are accepted (422). Then, with
/// `config.learn`, the draft's faces the teacher vouched for become samples ([`super::learn`];
/// before the draft's photos are unlinked); that never fails the confirmation.
pub async fn confirm(
    db: &Db,
    engine: &Arc<FaceEngine>,
    faces_dir: &Path,
    config: &MarkConfig,
    user: &AuthUser,
    input: ConfirmInput,
) -> Result<Confirmed> {
    let explicit = parse_decisions(&input.decisions)?;
    if input.draft.is_none() && input.subject_id.is_none() {
        return Err(Error::BadRequest("subject_id required".into()));
    }
    if input.draft.is_none() && explicit.is_empty() {
        return confirm_nothing(db, user, input).await;
    }
    let thresholds = config.thresholds()?;
    let consent = config.require_consent;
    let learn = config.learn;
    let teacher = user.id.clone();
    let user = user.clone();
    let (confirmed, photos, lesson) = db.transaction(move |tx| {
        let mut decided = Decided::new();
        let mut draft_faces = Vec::new();
        let (subject, date, slot, draft) = if let Some(id) = &input.draft {
            let draft = drafts::get(tx, id)?
                .ok_or_else(|| Error::NotFound("Draft not found".into()))?;
            if input.subject_id.as_ref().is_some_and(|s| *s != draft.subject_id) {
                return Err(Error::Invalid(
                    "subject_id is not the draft's subject".into(),
                ));
            }
            let date_differs = input
                .date
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .is_some_and(|d| check_date("date", d).ok().as_deref() != Some(&draft.date));
            if date_differs || input.slot.is_some_and(|s| s != draft.slot) {
                return Err(Error::Invalid(format!(
                    "The draft is for {} slot {}",
                    draft.date, draft.slot
                )));
            }
            managed(tx, &user, &draft.subject_id)?;
            let view = super::drafts::review_draft(tx, &draft, consent, &thresholds)?;
            for f in &view.faces {
                if let Some(s) = &f.marked.student
                    && (f.marked.verdict == Verdict::Present)
                {
                    let d = f.marked.distance.map(f64::from);
                    decided.insert(s.id.clone(), ("present", d));
                }
            }
            draft_faces = view.faces;
            for m in store::members(tx, &draft.subject_id)? {
                if m.verified {
                    decided.entry(m.id).or_insert(("absent", None));
                }
            }
            (
                draft.subject_id.clone(),
                draft.date.clone(),
                draft.slot,
                Some(draft.id),
            )
        } else {
            let subject = input
                .subject_id
                .clone()
                .ok_or_else(|| Error::BadRequest("subject_id required".into()))?;
            managed(tx, &user, &subject)?;
            let (date, slot) = session_of(tx, &subject, input.date.as_deref(), input.slot)?;
            (subject, date, slot, None)
        };
        decided.extend(explicit);
        if decided.is_empty() {
            return Err(Error::Invalid(
                "Nothing to confirm: the subject has no verified students".into(),
            ));
        }
        let info = managed(tx, &user, &subject)?;
        let enrolled: HashSet<Id> = store::members(tx, &subject)?
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
        let (session, _) = store::upsert_session(tx, &subject, &date, slot, &user.id)?;
        // A changed status on a confirmed session is a correction; an unchanged one keeps
        // where it came from.
        let before: HashMap<Id, (String, String)> = store::records_with_source(tx, &session)?
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
        let replaced = store::replace_records(tx, &session, &records)?;
        let counts = store::session_counts(tx, &session)?;
        let about = notify::SessionInfo {
            session: &session,
            subject_name: &info.name,
            subject_code: &info.code,
            date: &date,
            slot,
        };
        let mut notices = 0;
        for id in decided.keys().chain(before.keys().filter(|id| !decided.contains_key(*id))) {
            let status = decided.get(id).map_or("none", |(s, _)| s);
            notices += usize::from(notify::absence(tx, &about, id, status)?);
        }
        // The faces to learn, found before the draft goes (their photos stay on disk until
        // after learning).
        let candidates = match &draft {
            Some(d) if learn => super::learn::candidates(
                tx,
                d,
                &draft_faces,
                &|id| decided.get(id).map(|(s, _)| *s),
                consent,
            )?,
            _ => Vec::new(),
        };
        let photos = match &draft {
            Some(d) => drafts::delete(tx, d)?,
            None => Vec::new(),
        };
        audit::record(
            tx,
            Some(&user.id),
            "attendance.confirm",
            Some(session.as_str()),
            &format!(
                "subject={} date={date} slot={slot} present={} late={} excused={} absent={} replaced={replaced}{}",
                subject.as_str(),
                counts.present,
                counts.late,
                counts.excused,
                counts.absent,
                draft.as_ref().map(|d| format!(" draft={}", d.as_str())).unwrap_or_default()
            ),
        )?;
        Ok((
            Confirmed {
                session_id: Some(session.clone()),
                date,
                slot,
                counts,
                replaced,
                notices,
                learned: 0,
            },
            photos,
            (subject, session, candidates),
        ))
    })
    .await?;
    let (subject, session, candidates) = lesson;
    let mut confirmed = confirmed;
    confirmed.learned = super::learn::learn(
        db,
        engine,
        faces_dir,
        &super::learn::Lesson {
            teacher: &teacher,
            subject: &subject,
            session: &session,
            require_consent: consent,
        },
        candidates,
    )
    .await;
    super::faces::remove_unreferenced(db, faces_dir, photos).await?;
    Ok(confirmed)
}

/// A confirmation without any decision (the seed frontend's for a class without students):
/// the subject is checked as for any confirmation (404, 403, a day off 422) and nothing is
/// recorded: no session, no absence notice. Recording it would replace an existing session's
/// records with none (corrections go through [`correct`]).
async fn confirm_nothing(db: &Db, user: &AuthUser, input: ConfirmInput) -> Result<Confirmed> {
    let subject = input
        .subject_id
        .ok_or_else(|| Error::BadRequest("subject_id required".into()))?;
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        let (date, slot) = session_of(conn, &subject, input.date.as_deref(), input.slot)?;
        Ok(Confirmed {
            session_id: None,
            date,
            slot,
            counts: Counts::default(),
            replaced: 0,
            notices: 0,
            learned: 0,
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
    let status = parse_status(status)?;
    let user = user.clone();
    db.transaction(move |tx| {
        let s = store::session(tx, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(tx, &user, &s.subject_id)?;
        if s.slot == super::import_seed::IMPORTED_SLOT {
            return Err(Error::Invalid(
                "This is a day summary imported from the old system; it has no per-student records to correct".into(),
            ));
        }
        if !crate::storage::subjects::is_enrolled(tx, &s.subject_id, &student)? {
            return Err(Error::Invalid(format!(
                "Not enrolled in this subject: {}",
                student.as_str()
            )));
        }
        let before = store::correct(tx, &session, &student, status)?;
        audit::record(
            tx,
            Some(&user.id),
            "attendance.correct",
            Some(session.as_str()),
            &format!(
                "student={} from={} to={status}",
                student.as_str(),
                before.as_deref().unwrap_or("none")
            ),
        )?;
        let counts = store::session_counts(tx, &session)?;
        let notices = usize::from(notify::absence(
            tx,
            &notify::SessionInfo {
                session: &session,
                subject_name: &subject.name,
                subject_code: &subject.code,
                date: &s.date,
                slot: s.slot,
            },
            &student,
            status,
        )?);
        Ok(Confirmed {
            session_id: Some(s.id),
            date: s.date,
            slot: s.slot,
            counts,
            replaced: usize::from(before.is_some()),
            notices,
            learned: 0,
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
    let rows = db
        .run(move |conn| Ok::<_, Error>(store::of_student(conn, &student)?))
        .await?;
    Ok(rows.into_iter().map(SubjectFigures::from).collect())
}

impl From<(Id, String, String, Counts)> for SubjectFigures {
    fn from((subject_id, name, code, counts): (Id, String, String, Counts)) -> Self {
        Self {
            percentage: percentage(&counts),
            subject_id,
            name,
            code,
            counts,
        }
    }
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

impl From<store::RecentRow> for RecentRecord {
    fn from((session_id, subject_id, date, slot, status): store::RecentRow) -> Self {
        Self {
            session_id,
            subject_id,
            date,
            slot,
            status,
        }
    }
}

/// A student's profile as `user` may see it: the student themselves and administrators see every
/// subject; a teacher only the subjects they teach the student (their figures and records).
pub struct ScopedProfile {
    pub student: crate::storage::students::StudentRecord,
    pub subjects: Vec<crate::storage::subjects::Enrolled>,
    pub figures: Vec<SubjectFigures>,
    pub recent: Vec<RecentRecord>,
}

pub async fn profile(
    db: &Db,
    user: &AuthUser,
    student: Id,
    recent_limit: u32,
) -> Result<ScopedProfile> {
    let user = user.clone();
    db.run(move |conn| {
        let record = super::students::visible(conn, &user, &student)?;
        let (subjects, scope) = if user.role == Role::Teacher {
            let own = crate::storage::subjects::of_student_taught_by(conn, &student, &user.id)?;
            let ids: Vec<Id> = own.iter().map(|e| e.subject.id.clone()).collect();
            (own, Some(ids))
        } else {
            (crate::storage::subjects::of_student(conn, &student)?, None)
        };
        let figures = store::of_student(conn, &student)?
            .into_iter()
            .filter(|(id, ..)| scope.as_ref().is_none_or(|s| s.contains(id)))
            .map(SubjectFigures::from)
            .collect();
        let recent = store::recent_in(conn, &student, scope.as_deref(), recent_limit)?
            .into_iter()
            .map(RecentRecord::from)
            .collect();
        Ok(ScopedProfile {
            student: record,
            subjects,
            figures,
            recent,
        })
    })
    .await
}

/// The caller's own figures (students only).
pub async fn mine(db: &Db, user: &AuthUser) -> Result<Vec<SubjectFigures>> {
    if user.role != Role::Student {
        return Err(Error::Forbidden("Student access required".into()));
    }
    of_student(db, user.id.clone()).await
}

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

/// The CSV table of `sessions`: a row per enrolled student, and per former student who has a
/// record in one of them (so the totals add up to the sessions' counts).
fn table(conn: &Conn<'_>, subject: &Id, sessions: &[store::Session]) -> Result<String> {
    let members = store::report_members(conn, subject)?;
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
        if !m.enrolled && !marks.iter().any(|s| s.contains_key(&m.id)) {
            continue;
        }
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

/// Optional `from`/`to` query dates (blank = open), each checked: 422 naming the bad one.
fn date_range(
    from: Option<String>,
    to: Option<String>,
) -> Result<(Option<String>, Option<String>)> {
    let check = |field: &str, d: Option<String>| {
        d.filter(|d| !d.trim().is_empty())
            .map(|d| check_date(field, &d))
            .transpose()
    };
    Ok((check("from", from)?, check("to", to)?))
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

/// A confirmed session with its subject's counts.
pub struct SessionSummary {
    pub session: store::Session,
    pub counts: Counts,
}

/// A subject's confirmed sessions between `from` and `to` (inclusive, optional), newest first
/// (teachers of the subject, administrators).
pub async fn sessions_of(
    db: &Db,
    user: &AuthUser,
    subject: Id,
    from: Option<String>,
    to: Option<String>,
) -> Result<Vec<SessionSummary>> {
    let (from, to) = date_range(from, to)?;
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        Ok(
            store::sessions_with_counts(conn, &subject, from.as_deref(), to.as_deref())?
                .into_iter()
                .map(|(session, counts)| SessionSummary { session, counts })
                .collect(),
        )
    })
    .await
}

/// One student's line in a session: their record, or none when they were enrolled after it.
pub struct SessionLine {
    pub student: Member,
    pub status: Option<String>,
    /// `photo`, `manual` or `correction`.
    pub source: Option<String>,
}

/// A confirmed session as its teacher reviews it: every enrolled student with their record.
pub struct SessionView {
    pub session: store::Session,
    pub subject_name: String,
    pub subject_code: String,
    pub lines: Vec<SessionLine>,
    pub counts: Counts,
}

/// A confirmed session with every enrolled student's record (teachers of the subject,
/// administrators).
pub async fn session_view(db: &Db, user: &AuthUser, session: Id) -> Result<SessionView> {
    let user = user.clone();
    db.run(move |conn| {
        let s = store::session(conn, &session)?
            .ok_or_else(|| Error::NotFound("Session not found".into()))?;
        let subject = managed(conn, &user, &s.subject_id)?;
        let mut records: HashMap<Id, (String, String)> = store::records_with_source(conn, &s.id)?
            .into_iter()
            .map(|(id, status, source)| (id, (status, source)))
            .collect();
        let counts = store::kept_counts(conn, &s.id)?;
        let mut lines = Vec::new();
        for student in store::report_members(conn, &s.subject_id)? {
            let record = records.remove(&student.id);
            // A student no longer enrolled is listed where they have a record, so that the
            // lines add up to the session's counts.
            if record.is_none() && !student.enrolled {
                continue;
            }
            lines.push(SessionLine {
                student,
                status: record.as_ref().map(|r| r.0.clone()),
                source: record.map(|r| r.1),
            });
        }
        Ok(SessionView {
            session: s,
            subject_name: subject.name,
            subject_code: subject.code,
            lines,
            counts,
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

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::new(w, h);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    #[test]
    fn webcam_frames_are_landscape_and_at_most_1280x720() {
        for (w, h) in [(640, 480), (1280, 720), (320, 240), (480, 480)] {
            assert!(is_webcam_frame(&png(w, h)), "{w}x{h}");
        }
        for (w, h) in [
            (480, 640),
            (1281, 720),
            (1280, 721),
            (1920, 1080),
            (501, 700),
        ] {
            assert!(!is_webcam_frame(&png(w, h)), "{w}x{h}");
        }
        assert!(!is_webcam_frame(b"not an image"));
        assert!(!is_webcam_frame(&png(640, 480)[..20]));
    }

    #[test]
    fn base64_data_urls_and_errors() {
        let bytes = decode_image("data:image/jpeg;base64,/9j/4A==").unwrap_or_default();
        assert_eq!(bytes, vec![0xff, 0xd8, 0xff, 0xe0]);
        assert_eq!(decode_image("/9j/4A").unwrap_or_default(), bytes);
        assert!(matches!(decode_image("%%%"), Err(Error::BadRequest(_))));
        // Found by fuzzing (fuzz/fuzz_targets/mark_request.rs): a data URL cut before its
        // comma was read as an empty image.
        assert!(matches!(
            decode_image("data:image/2wBDAP/Z"),
            Err(Error::BadRequest(_))
        ));
        assert_eq!(decode_image("data:image/png;base64,").ok(), Some(vec![]));
        let huge = "A".repeat(MAX_BASE64_LEN + 4);
        assert!(matches!(decode_image(&huge), Err(Error::TooLarge(_))));
    }

    #[test]
    fn session_days_are_real_school_days() {
        use time::macros::date;
        let today = date!(2026 - 12 - 06);
        assert!(check_session_day(today, today).is_ok());
        assert!(
            check_session_day(date!(2026 - 12 - 07), today).is_ok(),
            "tomorrow: slack"
        );
        assert!(check_session_day(date!(2026 - 12 - 08), today).is_err());
        assert!(check_session_day(date!(2000 - 01 - 01), today).is_ok());
        assert!(check_session_day(date!(1999 - 12 - 31), today).is_err());
        assert!(check_session_day(date!(0000 - 01 - 01), today).is_err());
        assert!(check_session_day(date!(9999 - 12 - 31), today).is_err());
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
