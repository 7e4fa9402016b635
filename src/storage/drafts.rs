//! Attendance drafts: saved photos of one session (subject, day, slot) and their faces, kept
//! until the teacher confirms or discards them.

use super::Conn;
use super::sql::{Row, args};

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::drafts::{Draft, Photo};

/// One face of a draft as stored, with its embedding (the services match it; it never leaves
/// them).
#[derive(Debug, Clone)]
pub struct FaceRow {
    pub photo: i64,
    pub face: i64,
    /// `[left, top, right, bottom]`, clipped to the photo.
    pub bbox: [i64; 4],
    pub score: f64,
    pub embedding: Vec<u8>,
    pub assigned_to: Option<Id>,
}

const DRAFT: &str = "id, subject_id, date, slot, created_by, created_at, updated_at";

fn draft(r: &Row<'_>) -> Result<Draft> {
    Ok(Draft {
        id: Id::from_db(r.get(0)?),
        subject_id: Id::from_db(r.get(1)?),
        date: r.get(2)?,
        slot: r.get(3)?,
        created_by: r.get::<Option<String>>(4)?.map(Id::from_db),
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

pub fn get(conn: &Conn<'_>, id: &Id) -> Result<Option<Draft>> {
    conn.query_opt(
        &format!("SELECT {DRAFT} FROM attendance_drafts WHERE id = ?1"),
        args![id.as_str()],
        draft,
    )
}

/// The draft of (subject, date, slot), created if needed.
pub fn open(conn: &Conn<'_>, subject: &Id, date: &str, slot: i64, by: &Id) -> Result<Draft> {
    let now = now_unix();
    conn.exec(
        "INSERT INTO attendance_drafts (id, subject_id, date, slot, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (subject_id, date, slot) DO UPDATE SET updated_at = excluded.updated_at",
        args![Id::generate().as_str(), subject.as_str(), date, slot, by.as_str(), now],
    )?;
    conn.query_one(
        &format!(
            "SELECT {DRAFT} FROM attendance_drafts WHERE subject_id = ?1 AND date = ?2 AND slot = ?3"
        ),
        args![subject.as_str(), date, slot],
        draft,
    )
}

/// A subject's drafts, newest first.
pub fn of_subject(conn: &Conn<'_>, subject: &Id) -> Result<Vec<Draft>> {
    conn.query_all(
        &format!(
            "SELECT {DRAFT} FROM attendance_drafts WHERE subject_id = ?1 ORDER BY date DESC, slot DESC"
        ),
        args![subject.as_str()],
        draft,
    )
}

/// Add a photo with its faces (`(bbox, score, embedding blob)`); returns its number (from 1).
pub fn add_photo(
    conn: &Conn<'_>,
    draft: &Id,
    image_sha256: &str,
    content_type: &str,
    size: (i64, i64),
    faces: &[([i64; 4], f64, Vec<u8>)],
) -> Result<i64> {
    let photo: i64 = conn.query_one(
        "SELECT COALESCE(MAX(photo), 0) + 1 FROM draft_photos WHERE draft_id = ?1",
        args![draft.as_str()],
        |r| r.get(0),
    )?;
    conn.exec(
        "INSERT INTO draft_photos (draft_id, photo, image_sha256, content_type, width, height, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![draft.as_str(), photo, image_sha256, content_type, size.0, size.1, now_unix()],
    )?;
    for (i, (b, score, blob)) in faces.iter().enumerate() {
        conn.exec(
            "INSERT INTO draft_faces (draft_id, photo, face, box_left, box_top, box_right, box_bottom,
                 detector_score, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                draft.as_str(),
                photo,
                i64::try_from(i).unwrap_or(i64::MAX),
                b[0],
                b[1],
                b[2],
                b[3],
                score,
                blob
            ],
        )?;
    }
    Ok(photo)
}

pub fn photos(conn: &Conn<'_>, draft: &Id) -> Result<Vec<Photo>> {
    conn.query_all(
        "SELECT photo, image_sha256, content_type, width, height FROM draft_photos
         WHERE draft_id = ?1 ORDER BY photo",
        args![draft.as_str()],
        |r| {
            Ok(Photo {
                photo: r.get(0)?,
                image_sha256: r.get(1)?,
                content_type: r.get(2)?,
                width: r.get(3)?,
                height: r.get(4)?,
            })
        },
    )
}

/// Every face of the draft, by photo then position.
pub fn faces(conn: &Conn<'_>, draft: &Id) -> Result<Vec<FaceRow>> {
    conn.query_all(
        "SELECT photo, face, box_left, box_top, box_right, box_bottom, detector_score, embedding,
             assigned_to FROM draft_faces WHERE draft_id = ?1 ORDER BY photo, face",
        args![draft.as_str()],
        |r| {
            Ok(FaceRow {
                photo: r.get(0)?,
                face: r.get(1)?,
                bbox: [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                score: r.get(6)?,
                embedding: r.get(7)?,
                assigned_to: r.get::<Option<String>>(8)?.map(Id::from_db),
            })
        },
    )
}

/// Set (or clear) the teacher's student for one face; any other face of the draft assigned to
/// the same student is cleared, so a student is never counted twice. False if no such face.
pub fn assign(
    conn: &Conn<'_>,
    draft: &Id,
    photo: i64,
    face: i64,
    student: Option<&Id>,
) -> Result<bool> {
    if let Some(s) = student {
        conn.exec(
            "UPDATE draft_faces SET assigned_to = NULL
             WHERE draft_id = ?1 AND assigned_to = ?2 AND NOT (photo = ?3 AND face = ?4)",
            args![draft.as_str(), s.as_str(), photo, face],
        )?;
    }
    let n = conn.exec(
        "UPDATE draft_faces SET assigned_to = ?4 WHERE draft_id = ?1 AND photo = ?2 AND face = ?3",
        args![draft.as_str(), photo, face, student.map(Id::as_str)],
    )?;
    conn.exec(
        "UPDATE attendance_drafts SET updated_at = ?2 WHERE id = ?1",
        args![draft.as_str(), now_unix()],
    )?;
    Ok(n > 0)
}

/// The drafts nobody has touched since `cutoff` (seconds since the epoch).
pub fn untouched_since(conn: &Conn<'_>, cutoff: i64) -> Result<Vec<Id>> {
    conn.query_all(
        "SELECT id FROM attendance_drafts WHERE updated_at < ?1",
        args![cutoff],
        |r| Ok(Id::from_db(r.get(0)?)),
    )
}

/// Delete a draft with its photos and faces; returns the photos' image hashes.
pub fn delete(conn: &Conn<'_>, draft: &Id) -> Result<Vec<String>> {
    let shas = photos(conn, draft)?
        .into_iter()
        .map(|p| p.image_sha256)
        .collect();
    conn.exec(
        "DELETE FROM attendance_drafts WHERE id = ?1",
        args![draft.as_str()],
    )?;
    Ok(shas)
}
