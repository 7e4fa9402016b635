//! Face samples: one row per enrolment photo (embedding, box, score); the image itself lives in
//! the content-addressed store on disk, shared by samples with identical bytes.

use rusqlite::{OptionalExtension, Row, params};

use super::Conn;

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::faces::{Sample, Source};

/// A sample's source from its stored word.
fn source_from_db(raw: &str) -> Source {
    match raw {
        "teacher" => Source::Teacher,
        "learned" => Source::Learned,
        "import" => Source::Import,
        // The column's CHECK allows nothing else; rows from before it are uploads.
        _ => Source::Upload,
    }
}

pub struct NewSample<'a> {
    pub student_id: &'a Id,
    pub image_sha256: &'a str,
    pub content_type: &'a str,
    pub embedding: &'a [u8],
    pub bbox: [i64; 4],
    pub score: f64,
    pub added_by: Option<&'a Id>,
    pub approved: bool,
    pub source: Source,
}

const COLUMNS: &str = "id, student_id, image_sha256, content_type, box_left, box_top, box_right, box_bottom, score, added_by, created_at, approved, source";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Sample> {
    Ok(Sample {
        id: Id::from_db(r.get(0)?),
        student_id: Id::from_db(r.get(1)?),
        image_sha256: r.get(2)?,
        content_type: r.get(3)?,
        bbox: [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?],
        score: r.get(8)?,
        added_by: r.get::<_, Option<String>>(9)?.map(Id::from_db),
        created_at: r.get(10)?,
        approved: r.get(11)?,
        source: source_from_db(&r.get::<_, String>(12)?),
    })
}

pub fn insert(conn: &Conn<'_>, new: &NewSample<'_>) -> Result<Sample> {
    let id = Id::generate();
    let now = now_unix();
    let [l, t, r, b] = new.bbox;
    conn.execute(
        &format!(
            "INSERT INTO face_samples ({COLUMNS}, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            id.as_str(),
            new.student_id.as_str(),
            new.image_sha256,
            new.content_type,
            l,
            t,
            r,
            b,
            new.score,
            new.added_by.map(Id::as_str),
            now,
            new.approved,
            new.source.as_str(),
            new.embedding
        ],
    )?;
    Ok(Sample {
        id,
        student_id: new.student_id.clone(),
        image_sha256: new.image_sha256.to_owned(),
        content_type: new.content_type.to_owned(),
        bbox: new.bbox,
        score: new.score,
        added_by: new.added_by.cloned(),
        created_at: now,
        approved: new.approved,
        source: new.source,
    })
}

/// A student's samples, oldest first.
pub fn of_student(conn: &Conn<'_>, student: &Id) -> Result<Vec<Sample>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM face_samples WHERE student_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = stmt.query_map([student.as_str()], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Conn<'_>, student: &Id, sample: &Id) -> Result<Option<Sample>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM face_samples WHERE student_id = ?1 AND id = ?2"),
            [student.as_str(), sample.as_str()],
            from_row,
        )
        .optional()?)
}

/// Delete one sample; returns its image hash if it existed.
pub fn delete(conn: &Conn<'_>, student: &Id, sample: &Id) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "DELETE FROM face_samples WHERE student_id = ?1 AND id = ?2 RETURNING image_sha256",
            [student.as_str(), sample.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Delete every sample of a student; returns their image hashes.
pub fn delete_all(conn: &Conn<'_>, student: &Id) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("DELETE FROM face_samples WHERE student_id = ?1 RETURNING image_sha256")?;
    let rows = stmt.query_map([student.as_str()], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Delete every sample taken before `cutoff` (seconds since the epoch); returns their image
/// hashes.
pub fn delete_older_than(conn: &Conn<'_>, cutoff: i64) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("DELETE FROM face_samples WHERE created_at < ?1 RETURNING image_sha256")?;
    let rows = stmt.query_map([cutoff], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Keep only the newest `keep` of a student's samples awaiting approval; returns the removed
/// samples' image hashes. Approved samples are left alone (see [`approved_embeddings`]).
pub fn prune_pending(conn: &Conn<'_>, student: &Id, keep: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "DELETE FROM face_samples WHERE id IN (
             SELECT id FROM face_samples WHERE student_id = ?1 AND approved = 0
             ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?2)
         RETURNING image_sha256",
    )?;
    let rows = stmt.query_map(params![student.as_str(), keep], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A student's approved samples as (id, embedding BLOB), oldest first.
pub fn approved_embeddings(conn: &Conn<'_>, student: &Id) -> Result<Vec<(Id, Vec<u8>)>> {
    let mut stmt = conn.prepare(
        "SELECT id, embedding FROM face_samples WHERE student_id = ?1 AND approved = 1
         ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([student.as_str()], |r| {
        Ok((Id::from_db(r.get(0)?), r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Delete these samples of a student; returns their image hashes.
pub fn delete_many(conn: &Conn<'_>, student: &Id, ids: &[Id]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(delete(conn, student, id)?);
    }
    Ok(out)
}

/// How many approved samples (matched in photos) a student has.
pub fn count(conn: &Conn<'_>, student: &Id) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1 AND approved = 1",
        [student.as_str()],
        |r| r.get(0),
    )?)
}

/// Approve a sample awaiting review; `None` if there is no such sample, else whether it was
/// waiting (approving twice is harmless).
pub fn approve(conn: &Conn<'_>, student: &Id, sample: &Id, by: &Id) -> Result<Option<bool>> {
    let found: Option<bool> = conn
        .query_row(
            "SELECT approved FROM face_samples WHERE student_id = ?1 AND id = ?2",
            [student.as_str(), sample.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    match found {
        None => Ok(None),
        Some(true) => Ok(Some(false)),
        Some(false) => {
            conn.execute(
                "UPDATE face_samples SET approved = 1, approved_by = ?3 WHERE student_id = ?1 AND id = ?2",
                params![student.as_str(), sample.as_str(), by.as_str()],
            )?;
            Ok(Some(true))
        }
    }
}

/// True while some sample or attendance draft still points at this image.
pub fn image_referenced(conn: &Conn<'_>, sha256: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM face_samples WHERE image_sha256 = ?1
             UNION ALL SELECT 1 FROM draft_photos WHERE image_sha256 = ?1 LIMIT 1",
            [sha256],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The content-addressed image store's path of an image (`<faces dir>/<sha[0..2]>/<sha>`).
#[must_use]
pub fn image_file(faces_dir: &std::path::Path, sha: &str) -> std::path::PathBuf {
    faces_dir.join(sha.get(..2).unwrap_or("xx")).join(sha)
}

/// Every image the store must keep (face samples' and draft photos'), each once.
pub fn images_in_use(conn: &Conn<'_>) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT image_sha256 FROM face_samples UNION SELECT image_sha256 FROM draft_photos",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Point every face sample and draft photo showing image `old` at image `new` (the same
/// pixels, stored otherwise); returns how many rows changed.
pub fn replace_image(conn: &Conn<'_>, old: &str, new: &str, content_type: &str) -> Result<usize> {
    let samples = conn.execute(
        "UPDATE face_samples SET image_sha256 = ?2, content_type = ?3 WHERE image_sha256 = ?1",
        params![old, new, content_type],
    )?;
    let photos = conn.execute(
        "UPDATE draft_photos SET image_sha256 = ?2, content_type = ?3 WHERE image_sha256 = ?1",
        params![old, new, content_type],
    )?;
    Ok(samples + photos)
}
