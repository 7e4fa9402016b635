//! Face samples: one row per enrolment photo (embedding, box, score); the image itself lives in
//! the content-addressed image store (`service::images`: files beside SQLite, the `images` table
//! on PostgreSQL), shared by samples with identical bytes.

use super::Conn;
use super::sql::{Row, args};

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

fn from_row(r: &Row<'_>) -> Result<Sample> {
    Ok(Sample {
        id: Id::from_db(r.get(0)?),
        student_id: Id::from_db(r.get(1)?),
        image_sha256: r.get(2)?,
        content_type: r.get(3)?,
        bbox: [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?],
        score: r.get(8)?,
        added_by: r.get::<Option<String>>(9)?.map(Id::from_db),
        created_at: r.get(10)?,
        approved: r.get(11)?,
        source: source_from_db(&r.get::<String>(12)?),
    })
}

pub fn insert(conn: &Conn<'_>, new: &NewSample<'_>) -> Result<Sample> {
    let id = Id::generate();
    let now = now_unix();
    let [l, t, r, b] = new.bbox;
    conn.exec(
        &format!(
            "INSERT INTO face_samples ({COLUMNS}, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        args![
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
    conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM face_samples WHERE student_id = ?1 ORDER BY created_at, rowid"
        ),
        args![student.as_str()],
        from_row,
    )
}

pub fn get(conn: &Conn<'_>, student: &Id, sample: &Id) -> Result<Option<Sample>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM face_samples WHERE student_id = ?1 AND id = ?2"),
        args![student.as_str(), sample.as_str()],
        from_row,
    )
}

/// Delete one sample; returns its image hash if it existed.
pub fn delete(conn: &Conn<'_>, student: &Id, sample: &Id) -> Result<Option<String>> {
    conn.query_opt(
        "DELETE FROM face_samples WHERE student_id = ?1 AND id = ?2 RETURNING image_sha256",
        args![student.as_str(), sample.as_str()],
        |r| r.get(0),
    )
}

/// Delete every sample of a student; returns their image hashes.
pub fn delete_all(conn: &Conn<'_>, student: &Id) -> Result<Vec<String>> {
    conn.query_all(
        "DELETE FROM face_samples WHERE student_id = ?1 RETURNING image_sha256",
        args![student.as_str()],
        |r| r.get(0),
    )
}

/// Delete every sample taken before `cutoff` (seconds since the epoch); returns their image
/// hashes.
pub fn delete_older_than(conn: &Conn<'_>, cutoff: i64) -> Result<Vec<String>> {
    conn.query_all(
        "DELETE FROM face_samples WHERE created_at < ?1 RETURNING image_sha256",
        args![cutoff],
        |r| r.get(0),
    )
}

/// Keep only the newest `keep` of a student's samples awaiting approval; returns the removed
/// samples' image hashes. Approved samples are left alone (see [`approved_embeddings`]).
pub fn prune_pending(conn: &Conn<'_>, student: &Id, keep: u32) -> Result<Vec<String>> {
    conn.query_all(
        "DELETE FROM face_samples WHERE student_id = ?1 AND approved = 0 AND id NOT IN (
             SELECT id FROM face_samples WHERE student_id = ?1 AND approved = 0
             ORDER BY created_at DESC, rowid DESC LIMIT ?2)
         RETURNING image_sha256",
        args![student.as_str(), keep],
        |r| r.get(0),
    )
}

/// A student's approved samples as (id, embedding BLOB), oldest first.
pub fn approved_embeddings(conn: &Conn<'_>, student: &Id) -> Result<Vec<(Id, Vec<u8>)>> {
    conn.query_all(
        "SELECT id, embedding FROM face_samples WHERE student_id = ?1 AND approved = 1
         ORDER BY created_at, rowid",
        args![student.as_str()],
        |r| Ok((Id::from_db(r.get(0)?), r.get(1)?)),
    )
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
    conn.query_one(
        "SELECT COUNT(*) FROM face_samples WHERE student_id = ?1 AND approved = 1",
        args![student.as_str()],
        |r| r.get(0),
    )
}

/// Approve a sample awaiting review; `None` if there is no such sample, else whether it was
/// waiting (approving twice is harmless).
pub fn approve(conn: &Conn<'_>, student: &Id, sample: &Id, by: &Id) -> Result<Option<bool>> {
    let found: Option<bool> = conn.query_opt(
        "SELECT approved FROM face_samples WHERE student_id = ?1 AND id = ?2",
        args![student.as_str(), sample.as_str()],
        |r| r.get(0),
    )?;
    match found {
        None => Ok(None),
        Some(true) => Ok(Some(false)),
        Some(false) => {
            conn.exec(
                "UPDATE face_samples SET approved = 1, approved_by = ?3 WHERE student_id = ?1 AND id = ?2",
                args![student.as_str(), sample.as_str(), by.as_str()],
            )?;
            Ok(Some(true))
        }
    }
}

/// True while some sample or attendance draft still points at this image.
pub fn image_referenced(conn: &Conn<'_>, sha256: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM face_samples WHERE image_sha256 = ?1
             UNION ALL SELECT 1 FROM draft_photos WHERE image_sha256 = ?1 LIMIT 1",
            args![sha256],
            |_| Ok(()),
        )?
        .is_some())
}

/// The path of an image in the content-addressed store of files (`<faces dir>/<sha[0..2]>/<sha>`).
#[must_use]
pub fn image_file(faces_dir: &std::path::Path, sha: &str) -> std::path::PathBuf {
    faces_dir.join(sha.get(..2).unwrap_or("xx")).join(sha)
}

/// Every image the store must keep (face samples' and draft photos'), each once.
pub fn images_in_use(conn: &Conn<'_>) -> Result<Vec<String>> {
    conn.query_all(
        "SELECT image_sha256 FROM face_samples UNION SELECT image_sha256 FROM draft_photos",
        args![],
        |r| r.get(0),
    )
}

/// Point every face sample and draft photo showing image `old` at image `new` (the same
/// pixels, stored otherwise); returns how many rows changed.
pub fn replace_image(conn: &Conn<'_>, old: &str, new: &str, content_type: &str) -> Result<usize> {
    let samples = conn.exec(
        "UPDATE face_samples SET image_sha256 = ?2, content_type = ?3 WHERE image_sha256 = ?1",
        args![old, new, content_type],
    )?;
    let photos = conn.exec(
        "UPDATE draft_photos SET image_sha256 = ?2, content_type = ?3 WHERE image_sha256 = ?1",
        args![old, new, content_type],
    )?;
    Ok(samples + photos)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn db() -> Connection {
        Conn::test_database()
    }

    fn student(conn: &Conn<'_>, email: &str) -> Id {
        let id = Id::generate();
        conn.exec(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
             VALUES (?1, ?2, 'S', 'student', '', 0, 0)",
            args![id.as_str(), email],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        id
    }

    /// A sample whose image hash is `n` written out, so the test can tell them apart.
    fn sample(conn: &Conn<'_>, student: &Id, n: u8, approved: bool) -> String {
        let sha = format!("{n:064}");
        insert(
            conn,
            &NewSample {
                student_id: student,
                image_sha256: &sha,
                content_type: "image/jpeg",
                embedding: &[0; 512],
                bbox: [0, 0, 10, 10],
                score: 0.9,
                added_by: None,
                approved,
                source: Source::Upload,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        sha
    }

    /// Pruning keeps the newest pending samples (insertion order breaks a tie of the same
    /// second), and leaves approved samples and other students' samples alone.
    #[test]
    fn prune_keeps_the_newest_pending_samples_of_one_student() {
        let raw = db();
        let conn = Conn::new(&raw);
        let a = student(&conn, "a@school.test");
        let b = student(&conn, "b@school.test");
        let approved = sample(&conn, &a, 0, true);
        let pending: Vec<String> = (1..=5).map(|n| sample(&conn, &a, n, false)).collect();
        let other = sample(&conn, &b, 9, false);

        let mut gone = prune_pending(&conn, &a, 2).unwrap_or_else(|e| panic!("{e}"));
        gone.sort();
        assert_eq!(gone, pending[..3].to_vec());
        let left: Vec<String> = of_student(&conn, &a)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|s| s.image_sha256)
            .collect();
        assert_eq!(left, vec![approved, pending[3].clone(), pending[4].clone()]);
        assert_eq!(
            prune_pending(&conn, &b, 0).unwrap_or_else(|e| panic!("{e}")),
            vec![other]
        );
        assert!(
            prune_pending(&conn, &a, 2)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }
}
