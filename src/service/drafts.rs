//! Attendance drafts: class photos a teacher saved for one session (subject, day, slot), matched
//! together against the current gallery on every read, with the teacher's own choices for faces,
//! until the teacher confirms ([`super::attendance::confirm`]) or discards them.

use std::sync::Arc;

use super::attendance::review::{FaceIn, MarkConfig, MarkedFace, review};
use super::auth::AuthUser;
use super::faces::{FaceEngine, MIN_FACE_WIDTH, Refusal, SampleParts, face_width, record_sample};
use super::images::ImageStore;
use super::subjects::managed;
use super::{Error, Result, blocking};
use crate::domain::Id;
use crate::domain::attendance::Member;
use crate::domain::drafts::{Draft, Photo};
use crate::matching::{Thresholds, decode_blob};
use crate::storage::attendance as store;
use crate::storage::drafts;
use crate::storage::{Conn, Db, audit};

/// Photos one draft may hold (a wide class in several shots).
pub const MAX_PHOTOS: usize = 10;

/// One face of a draft.
#[derive(Debug, Clone)]
pub struct DraftFace {
    pub photo: i64,
    pub face: i64,
    pub marked: MarkedFace,
}

/// A draft as the teacher reviews it.
#[derive(Debug, Clone)]
pub struct DraftView {
    pub draft: Draft,
    pub photos: Vec<Photo>,
    pub faces: Vec<DraftFace>,
    /// Enrolled students no face stands for.
    pub not_seen: Vec<Member>,
}

/// Match every face of the draft's photos together (one face per student; the teacher's
/// assignments first) against the subject's current gallery.
pub(crate) fn review_draft(
    conn: &Conn<'_>,
    draft: &Draft,
    require_consent: bool,
    thresholds: &Thresholds,
) -> Result<DraftView> {
    let rows = store::gallery(conn, &draft.subject_id, require_consent)?;
    let members = store::members(conn, &draft.subject_id)?;
    let stored = drafts::faces(conn, &draft.id)?;
    let mut found = Vec::with_capacity(stored.len());
    for f in &stored {
        let embedding = decode_blob(&f.embedding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("draft face embedding: {e}")))?;
        #[allow(clippy::cast_possible_truncation)]
        found.push(FaceIn {
            bbox: f.bbox,
            score: f.score as f32,
            embedding,
            assigned: f.assigned_to.clone(),
        });
    }
    let (marked, not_seen) = review(&rows, &members, &found, thresholds)?;
    Ok(DraftView {
        draft: draft.clone(),
        photos: drafts::photos(conn, &draft.id)?,
        faces: stored
            .iter()
            .zip(marked)
            .map(|(f, marked)| DraftFace {
                photo: f.photo,
                face: f.face,
                marked,
            })
            .collect(),
        not_seen,
    })
}

/// The draft, its photos and its faces matched now (teachers of the subject, administrators).
pub async fn view(db: &Db, config: &MarkConfig, user: &AuthUser, id: Id) -> Result<DraftView> {
    let thresholds = config.thresholds()?;
    let consent = config.require_consent;
    let user = user.clone();
    db.run(move |conn| {
        let draft =
            drafts::get(conn, &id)?.ok_or_else(|| Error::NotFound("Draft not found".into()))?;
        managed(conn, &user, &draft.subject_id)?;
        review_draft(conn, &draft, consent, &thresholds)
    })
    .await
}

/// A subject's open drafts, newest first.
pub async fn of_subject(db: &Db, user: &AuthUser, subject: Id) -> Result<Vec<(Draft, usize)>> {
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        drafts::of_subject(conn, &subject)?
            .into_iter()
            .map(|d| {
                let n = drafts::photos(conn, &d.id)?.len();
                Ok((d, n))
            })
            .collect()
    })
    .await
}

/// Discard a draft with its photos.
pub async fn discard(db: &Db, images: &ImageStore, user: &AuthUser, id: Id) -> Result<()> {
    let user = user.clone();
    let shas = db
        .transaction(move |tx| {
            let draft =
                drafts::get(tx, &id)?.ok_or_else(|| Error::NotFound("Draft not found".into()))?;
            managed(tx, &user, &draft.subject_id)?;
            let shas = drafts::delete(tx, &id)?;
            audit::record(
                tx,
                Some(&user.id),
                "attendance.draft.discard",
                Some(id.as_str()),
                &format!(
                    "subject={} date={} slot={}",
                    draft.subject_id.as_str(),
                    draft.date,
                    draft.slot
                ),
            )?;
            Ok::<_, Error>(shas)
        })
        .await?;
    images.remove_unreferenced(db, shas).await
}

/// A draft photo's bytes and content type.
pub async fn photo(
    db: &Db,
    images: &ImageStore,
    user: &AuthUser,
    id: Id,
    number: i64,
) -> Result<(Vec<u8>, String)> {
    let user = user.clone();
    let found = db
        .run(move |conn| {
            let draft =
                drafts::get(conn, &id)?.ok_or_else(|| Error::NotFound("Draft not found".into()))?;
            managed(conn, &user, &draft.subject_id)?;
            let found = drafts::photos(conn, &id)?
                .into_iter()
                .find(|p| p.photo == number)
                .ok_or_else(|| Error::NotFound("Photo not found".into()))?;
            audit::record(
                conn,
                Some(&user.id),
                "attendance.draft.photo_view",
                Some(id.as_str()),
                &format!("photo={number}"),
            )?;
            Ok::<_, Error>(found)
        })
        .await?;
    let bytes = images.read(db, &found.image_sha256).await?.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "draft photo image {} is missing",
            found.image_sha256
        ))
    })?;
    Ok((bytes, found.content_type))
}

/// What an assignment did.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub view: DraftView,
    /// The face sample added to the student's enrolment, when asked for.
    pub sample: Option<Id>,
}

/// The teacher says whose a face is (`None`: leave it to matching again). The student must be
/// enrolled in the subject; another face of the draft assigned to them is released. With
/// `enrol`, the face (cropped from the photo with a margin) also becomes one of the student's
/// enrolment samples, which needs their recorded consent when consent is required.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    db: &Db,
    engine: &Arc<FaceEngine>,
    images: &ImageStore,
    config: &MarkConfig,
    user: &AuthUser,
    id: Id,
    at: (i64, i64),
    student: Option<Id>,
    enrol: bool,
) -> Result<Assigned> {
    if enrol && student.is_none() {
        return Err(Error::Invalid("enrol needs a student_id".into()));
    }
    let consent = config.require_consent;
    let (photo, face) = at;
    let draft_id = id.clone();
    let u = user.clone();
    let who = student.clone();
    // The face to enrol, if asked: (photo hash, box, score, embedding blob).
    let picked = db
        .transaction(move |tx| {
            let draft =
                drafts::get(tx, &id)?.ok_or_else(|| Error::NotFound("Draft not found".into()))?;
            managed(tx, &u, &draft.subject_id)?;
            if let Some(s) = &who {
                if !crate::storage::subjects::is_enrolled(tx, &draft.subject_id, s)? {
                    return Err(Error::Invalid(format!(
                        "Not enrolled in this subject: {}",
                        s.as_str()
                    )));
                }
                if enrol
                    && consent
                    && crate::storage::students::get(tx, s)?
                        .and_then(|r| r.consent_at)
                        .is_none()
                {
                    // Only staff assign faces in drafts.
                    return Err(super::students::consent_missing(u.role, s, false, "/app/"));
                }
            }
            let row = drafts::faces(tx, &id)?
                .into_iter()
                .find(|f| f.photo == photo && f.face == face)
                .ok_or_else(|| Error::NotFound("Face not found in this draft".into()))?;
            if enrol && face_width(row.bbox) < MIN_FACE_WIDTH {
                return Err(Refusal::TooSmall {
                    px: face_width(row.bbox),
                }
                .into());
            }
            drafts::assign(tx, &id, photo, face, who.as_ref())?;
            audit::record(
                tx,
                Some(&u.id),
                "attendance.draft.assign",
                Some(id.as_str()),
                &format!(
                    "photo={photo} face={face} student={} enrol={enrol}",
                    who.as_ref().map_or("none", Id::as_str)
                ),
            )?;
            let sha = drafts::photos(tx, &id)?
                .into_iter()
                .find(|p| p.photo == photo)
                .map(|p| p.image_sha256)
                .ok_or_else(|| Error::NotFound("Photo not found".into()))?;
            Ok(enrol.then_some((sha, row)))
        })
        .await?;
    let mut sample = None;
    if let (Some((sha, row)), Some(student)) = (picked, student) {
        let bytes = images.read(db, &sha).await?.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("draft photo image {sha} is missing"))
        })?;
        let engine = Arc::clone(engine);
        let (crop, bbox) = blocking(move || -> Result<(Vec<u8>, [i64; 4])> {
            let limits = engine.pipeline()?.options().limits;
            let img = crate::vision::decode::decode(&bytes, &limits)
                .map_err(crate::vision::pipeline::PipelineError::from)?;
            crop_face(&img, row.bbox)
        })
        .await??;
        let embedding = decode_blob(&row.embedding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("draft face embedding: {e}")))?;
        let store = images.clone();
        let actor = user.id.clone();
        #[allow(clippy::cast_possible_truncation)]
        let score = row.score as f32;
        let (added, _) = db
            .run(move |conn| {
                let sha = super::images::sha256_hex(&crop);
                record_sample(
                    conn,
                    &store,
                    &student,
                    Some(&actor),
                    &SampleParts {
                        bytes: &crop,
                        sha: &sha,
                        content_type: "image/jpeg",
                        bbox,
                        score,
                        embedding: &embedding,
                        // The teacher chose the student for this face: staff approval itself.
                        approved: true,
                        source: crate::domain::faces::Source::Teacher,
                        note: None,
                    },
                )
            })
            .await?;
        sample = Some(added.id);
    }
    Ok(Assigned {
        view: view(db, config, user, draft_id).await?,
        sample,
    })
}

/// The face's box with half its size of margin on every side, cut out of the photo and encoded
/// as a JPEG; returns the bytes and the box within the crop.
pub(crate) fn crop_face(
    img: &crate::vision::image::RgbImage,
    bbox: [i64; 4],
) -> Result<(Vec<u8>, [i64; 4])> {
    let [l, t, r, b] = bbox;
    let margin = (r - l).max(b - t) / 2;
    let w = i64::try_from(img.width).unwrap_or(i64::MAX);
    let h = i64::try_from(img.height).unwrap_or(i64::MAX);
    let (x0, y0) = ((l - margin).max(0), (t - margin).max(0));
    let (x1, y1) = ((r + margin).min(w), (b + margin).min(h));
    if x1 <= x0 || y1 <= y0 {
        return Err(Error::Invalid("The face lies outside the photo".into()));
    }
    let size = |v: i64| usize::try_from(v).unwrap_or(0);
    let crop = img.crop(size(x0), size(y0), size(x1 - x0), size(y1 - y0));
    let out = crop
        .to_jpeg(super::faces::STORED_JPEG_QUALITY)
        .map_err(|e| Error::Internal(e.context("encoding the face crop")))?;
    Ok((out, [l - x0, t - y0, r - x0, b - y0]))
}
