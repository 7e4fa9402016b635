//! Attendance: marking a class photo against the subject's gallery (nothing stored unless it
//! is saved to a draft) and confirming the teacher's decisions as a session's records
//! (replacing, never adding). The other rooms: [`review`] (matching faces against the
//! gallery), [`dates`] (which date and slot a session is), [`sessions`] (confirmed sessions,
//! corrections), [`figures`] (a student's own figures) and [`export`] (CSV).

pub mod dates;
pub mod export;
pub mod figures;
pub mod review;
pub mod sessions;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::dates::{check_date, session_of};
use self::review::{FaceIn, MarkConfig, MarkedFace, review};
use super::auth::AuthUser;
use super::faces::FaceEngine;
use super::images::ImageStore;
use super::notify;
use super::subjects::managed;
use super::{Error, Result};
use crate::domain::attendance::{Counts, Member};
use crate::domain::{AttendanceStatus, Id};
use crate::matching::Verdict;
use crate::storage::Db;
use crate::storage::attendance::{self as store, NewRecord};
use crate::storage::{audit, drafts};

// Kept at their old paths for callers outside this refactor (`crate::fuzzing`,
// `api::students`).

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

/// Which session a saved photo belongs to (defaults as in [`dates::session_of`]).
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

/// Match the faces of a class photo against the subject's verified, consenting students, one
/// face per student. Nothing is stored unless `save` is given (live mode calls this every few
/// seconds): then the photo joins the draft of its session, whose faces are matched together, so
/// a student in two photos of one session is still counted once.
#[allow(clippy::too_many_arguments)]
pub async fn mark(
    db: &Db,
    engine: &Arc<FaceEngine>,
    images: &ImageStore,
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
    let (when, at) = (save.clone(), config.now);
    // Ownership and the session's day (a holiday is refused) before any vision work.
    let session = db
        .run(move |conn| {
            managed(conn, &u, &s)?;
            when.map(|w| session_of(conn, &s, w.date.as_deref(), w.slot, at))
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
    let image_store = images.clone();
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
            image_store.put(tx, &stored.bytes, "storing the photo")?;
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
    /// Default: the subject's period running now (see [`dates::session_of`]).
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

type Decided = BTreeMap<Id, (AttendanceStatus, Option<f64>)>;

fn parse_status(raw: &str) -> Result<AttendanceStatus> {
    AttendanceStatus::parse(&raw.trim().to_ascii_lowercase()).ok_or_else(|| {
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
    images: &ImageStore,
    config: &MarkConfig,
    user: &AuthUser,
    input: ConfirmInput,
) -> Result<Confirmed> {
    let explicit = parse_decisions(&input.decisions)?;
    if input.draft.is_none() && input.subject_id.is_none() {
        return Err(Error::BadRequest("subject_id required".into()));
    }
    if input.draft.is_none() && explicit.is_empty() {
        return confirm_nothing(db, user, input, config.now).await;
    }
    let thresholds = config.thresholds()?;
    let consent = config.require_consent;
    let (learn, at) = (config.learn, config.now);
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
                    decided.insert(s.id.clone(), (AttendanceStatus::Present, d));
                }
            }
            draft_faces = view.faces;
            for m in store::members(tx, &draft.subject_id)? {
                if m.verified {
                    decided.entry(m.id).or_insert((AttendanceStatus::Absent, None));
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
            let (date, slot) =
                session_of(tx, &subject, input.date.as_deref(), input.slot, at)?;
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
        let before: HashMap<Id, (AttendanceStatus, String)> = store::records_with_source(tx, &session)?
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
                    status: *status,
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
            let status = decided.get(id).map(|(s, _)| *s);
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
        images,
        &super::learn::Lesson {
            teacher: &teacher,
            subject: &subject,
            session: &session,
            require_consent: consent,
        },
        candidates,
    )
    .await;
    images.remove_unreferenced(db, photos).await?;
    Ok(confirmed)
}

/// A confirmation without any decision (the seed frontend's for a class without students):
/// the subject is checked as for any confirmation (404, 403, a day off 422) and nothing is
/// recorded: no session, no absence notice. Recording it would replace an existing session's
/// records with none (corrections go through [`sessions::correct`]).
async fn confirm_nothing(
    db: &Db,
    user: &AuthUser,
    input: ConfirmInput,
    at: i64,
) -> Result<Confirmed> {
    let subject = input
        .subject_id
        .ok_or_else(|| Error::BadRequest("subject_id required".into()))?;
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        let (date, slot) = session_of(conn, &subject, input.date.as_deref(), input.slot, at)?;
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
}
