//! A gallery that learns from the teacher: when a teacher confirms a session from a draft, the
//! faces they vouched for become face samples of their students (`ROLLCALL_LEARN_FROM_CONFIRM`).
//!
//! A face is learned when the confirmation records its student as present and either the
//! teacher assigned it to them, or matching put it in the uncertain band (the teacher accepted
//! the match). Never a face of a student recorded absent, excused or late (a late student may
//! not be in the photo at all), never a confidently recognised one (it adds nothing the gallery
//! does not already know), never one of a student without recorded consent when consent is
//! required or no longer enrolled in the subject. A face must also be usable as an enrolment
//! photo's is, on a smaller scale: at least [`MIN_LEARN_WIDTH`] px wide and sharp
//! ([`super::faces::MIN_SHARPNESS`]). At most one face per student per confirmation.
//!
//! Learning never fails a confirmation: whatever goes wrong is logged and that face skipped.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::drafts::{DraftFace, crop_face};
use super::faces::{FaceEngine, MIN_SHARPNESS, SampleParts, record_in, sharpness};
use super::images::{ImageStore, sha256_hex};
use super::{Error, Result, blocking};
use crate::domain::faces::Source;
use crate::domain::{AttendanceStatus, Id};
use crate::matching::{Verdict, decode_blob};
use crate::storage::{Conn, Db, drafts};

/// Narrowest face learned, in photo pixels, counted inclusively (`right - left + 1`): what
/// enrolment accepts.
pub const MIN_LEARN_WIDTH: i64 = crate::vision::SMALL_FACE_PX;

/// A face of a confirmed draft that may become a sample (its photo still in the store).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub student: Id,
    /// The draft photo's image.
    pub sha: String,
    pub photo: i64,
    pub face: i64,
    pub bbox: [i64; 4],
    pub score: f64,
    pub embedding: Vec<u8>,
    /// `assigned` (the teacher chose the student) or `uncertain` (the teacher accepted a match).
    pub why: &'static str,
    pub distance: Option<f32>,
}

/// The faces of a draft being confirmed that are worth learning (see the module docs): call in
/// the confirming transaction, before the draft is deleted. `status_of` is the status the
/// confirmation records for a student.
pub(crate) fn candidates(
    conn: &Conn<'_>,
    draft: &Id,
    faces: &[DraftFace],
    status_of: &dyn Fn(&Id) -> Option<AttendanceStatus>,
    require_consent: bool,
) -> Result<Vec<Candidate>> {
    let rows = drafts::faces(conn, draft)?;
    let photos = drafts::photos(conn, draft)?;
    let mut wanted: Vec<(&DraftFace, &'static str)> = faces
        .iter()
        .filter_map(|f| {
            let why = if f.marked.by_teacher {
                "assigned"
            } else if f.marked.verdict == Verdict::Uncertain {
                "uncertain"
            } else {
                return None;
            };
            Some((f, why))
        })
        .collect();
    // The teacher's own choices first, should a student have two faces.
    wanted.sort_by_key(|(_, why)| *why != "assigned");
    let mut taken = HashSet::new();
    let mut out = Vec::new();
    for (f, why) in wanted {
        let Some(student) = &f.marked.student else {
            continue;
        };
        if status_of(&student.id) != Some(AttendanceStatus::Present) || taken.contains(&student.id)
        {
            continue;
        }
        let Some(row) = rows.iter().find(|r| r.photo == f.photo && r.face == f.face) else {
            continue;
        };
        let [l, _, r, _] = row.bbox;
        if r - l + 1 < MIN_LEARN_WIDTH {
            tracing::debug!(photo = f.photo, face = f.face, "face too small to learn");
            continue;
        }
        if require_consent && !has_consent(conn, &student.id)? {
            continue;
        }
        let Some(photo) = photos.iter().find(|p| p.photo == f.photo) else {
            continue;
        };
        taken.insert(student.id.clone());
        out.push(Candidate {
            student: student.id.clone(),
            sha: photo.image_sha256.clone(),
            photo: f.photo,
            face: f.face,
            bbox: row.bbox,
            score: row.score,
            embedding: row.embedding.clone(),
            why,
            distance: f.marked.distance,
        });
    }
    Ok(out)
}

fn has_consent(conn: &Conn<'_>, student: &Id) -> Result<bool> {
    Ok(crate::storage::students::get(conn, student)?.is_some_and(|s| s.consent_at.is_some()))
}

/// A candidate cut out of its photo, ready to be recorded.
struct Prepared {
    candidate: Candidate,
    crop: Vec<u8>,
    bbox: [i64; 4],
}

/// Cut the candidates' faces out of one photo (decoded once) and keep the sharp ones.
/// CPU-bound: on the blocking pool.
fn prepare(
    bytes: &[u8],
    limits: &crate::vision::decode::Limits,
    candidates: Vec<Candidate>,
) -> Vec<Prepared> {
    let img = match crate::vision::decode::decode(bytes, limits) {
        Ok(img) => img,
        Err(e) => {
            tracing::warn!(error = %e, "learning from a confirmed draft: photo unreadable");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for c in candidates {
        let sharp = sharpness(&img, c.bbox);
        if sharp < MIN_SHARPNESS {
            tracing::debug!(
                photo = c.photo,
                face = c.face,
                sharpness = sharp,
                "face too blurred to learn"
            );
            continue;
        }
        match crop_face(&img, c.bbox) {
            Ok((crop, bbox)) => out.push(Prepared {
                candidate: c,
                crop,
                bbox,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "learning from a confirmed draft: crop failed");
            }
        }
    }
    out
}

/// The candidates' faces cut out of their photos, one photo read and decoded at a time.
async fn prepare_all(
    db: &Db,
    images: &ImageStore,
    limits: crate::vision::decode::Limits,
    candidates: Vec<Candidate>,
) -> Vec<Prepared> {
    let mut by_photo: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        by_photo.entry(c.sha.clone()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (sha, list) in by_photo {
        let bytes = match images.read(db, &sha).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tracing::warn!(image = %sha, "learning from a confirmed draft: photo missing");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "learning from a confirmed draft: photo unreadable");
                continue;
            }
        };
        match blocking(move || prepare(&bytes, &limits, list)).await {
            Ok(prepared) => out.extend(prepared),
            Err(e) => tracing::warn!(error = %e, "learning from a confirmed draft failed"),
        }
    }
    out
}

/// What a confirmation learns from.
pub(crate) struct Lesson<'a> {
    pub teacher: &'a Id,
    pub subject: &'a Id,
    pub session: &'a Id,
    pub require_consent: bool,
}

/// Record the candidates' faces as `learned` samples of their students, each in its own write
/// transaction that checks again that the student is enrolled in the subject and (when
/// required) consents, with one `face.learn` audit entry naming the session. Returns how many
/// were learned; failures are logged, never returned.
pub(crate) async fn learn(
    db: &Db,
    engine: &Arc<FaceEngine>,
    images: &ImageStore,
    lesson: &Lesson<'_>,
    candidates: Vec<Candidate>,
) -> usize {
    if candidates.is_empty() {
        return 0;
    }
    let limits = match engine.decode_limits() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "learning from a confirmed draft: no decoder limits");
            return 0;
        }
    };
    let prepared = prepare_all(db, images, limits, candidates).await;
    let mut learned = 0;
    for p in prepared {
        let student = p.candidate.student.clone();
        match record(db, images, lesson, p).await {
            Ok(true) => learned += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(student = %student, error = %e, "learning a face failed");
            }
        }
    }
    learned
}

/// Record one prepared face; false when its student no longer qualifies.
async fn record(db: &Db, images: &ImageStore, lesson: &Lesson<'_>, p: Prepared) -> Result<bool> {
    let embedding = decode_blob(&p.candidate.embedding)
        .map_err(|e| Error::Internal(anyhow::anyhow!("draft face embedding: {e}")))?;
    let store = images.clone();
    let teacher = lesson.teacher.clone();
    let subject = lesson.subject.clone();
    let consent = lesson.require_consent;
    let c = p.candidate;
    let note = format!(
        "session={} photo={} face={} {}{}",
        lesson.session.as_str(),
        c.photo,
        c.face,
        c.why,
        c.distance
            .map(|d| format!(" distance={d:.3}"))
            .unwrap_or_default()
    );
    db.run(move |conn| {
        // The sample's rows in one transaction; the files it displaced only once that committed.
        let pruned = conn.transaction(|tx| {
            if !crate::storage::subjects::is_enrolled(tx, &subject, &c.student)?
                || (consent && !has_consent(tx, &c.student)?)
            {
                return Ok::<_, Error>(None);
            }
            #[allow(clippy::cast_possible_truncation)]
            let score = c.score as f32;
            let sha = sha256_hex(&p.crop);
            let (_, _, pruned) = record_in(
                tx,
                &store,
                &c.student,
                Some(&teacher),
                &SampleParts {
                    bytes: &p.crop,
                    sha: &sha,
                    content_type: "image/jpeg",
                    bbox: p.bbox,
                    score,
                    embedding: &embedding,
                    approved: true,
                    source: Source::Learned,
                    note: Some(note),
                },
            )?;
            Ok(Some(pruned))
        })?;
        let Some(pruned) = pruned else {
            return Ok(false);
        };
        store.unlink_unreferenced(conn, &pruned)?;
        Ok(true)
    })
    .await
}
