//! Photos kept in the database (PostgreSQL, where several servers share it; a SQLite server
//! keeps them as files and leaves these tables empty): the content-addressed `images` of face
//! samples and draft photos, and teachers' `avatars`. See `service::images::ImageStore`.

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};

/// Store an image under its hash; nothing changes if it is there already (the same hash is the
/// same bytes). Returns whether a row was added.
pub fn put(conn: &Conn<'_>, sha256: &str, bytes: &[u8]) -> Result<bool> {
    Ok(conn.exec(
        "INSERT INTO images (sha256, bytes, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (sha256) DO NOTHING",
        args![sha256, bytes, now_unix()],
    )? > 0)
}

/// An image's bytes, if it is stored.
pub fn get(conn: &Conn<'_>, sha256: &str) -> Result<Option<Vec<u8>>> {
    conn.query_opt(
        "SELECT bytes FROM images WHERE sha256 = ?1",
        args![sha256],
        |r| r.get(0),
    )
}

/// The first `n` bytes of an image (all of it if it is shorter), if it is stored.
pub fn head(conn: &Conn<'_>, sha256: &str, n: u32) -> Result<Option<Vec<u8>>> {
    conn.query_opt(
        "SELECT substr(bytes, 1, ?2) FROM images WHERE sha256 = ?1",
        args![sha256, n],
        |r| r.get(0),
    )
}

/// Delete an image that no face sample and no draft photo names (the references
/// `faces::image_referenced` looks for); returns whether it went. Run it inside a write
/// transaction, after the one that removed the rows naming it committed.
pub fn delete_unreferenced(conn: &Conn<'_>, sha256: &str) -> Result<bool> {
    Ok(conn.exec(
        "DELETE FROM images WHERE sha256 = ?1
           AND NOT EXISTS (SELECT 1 FROM face_samples WHERE image_sha256 = ?1)
           AND NOT EXISTS (SELECT 1 FROM draft_photos WHERE image_sha256 = ?1)",
        args![sha256],
    )? > 0)
}

/// Store an avatar under its name (content-addressed too: an existing row is kept as it is).
pub fn put_avatar(conn: &Conn<'_>, name: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
    conn.exec(
        "INSERT INTO avatars (name, content_type, bytes, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO NOTHING",
        args![name, content_type, bytes, now_unix()],
    )?;
    Ok(())
}

/// An avatar's content type and bytes, if it is stored.
pub fn avatar(conn: &Conn<'_>, name: &str) -> Result<Option<(String, Vec<u8>)>> {
    conn.query_opt(
        "SELECT content_type, bytes FROM avatars WHERE name = ?1",
        args![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::domain::Id;

    fn db() -> Connection {
        Conn::test_database()
    }

    #[test]
    fn images_are_stored_once_read_whole_or_in_part() {
        let raw = db();
        let conn = Conn::new(&raw);
        let sha = "a".repeat(64);
        assert!(put(&conn, &sha, b"photo bytes").unwrap_or_else(|e| panic!("{e}")));
        assert!(!put(&conn, &sha, b"photo bytes").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            get(&conn, &sha).unwrap_or_else(|e| panic!("{e}")),
            Some(b"photo bytes".to_vec())
        );
        assert_eq!(
            head(&conn, &sha, 5).unwrap_or_else(|e| panic!("{e}")),
            Some(b"photo".to_vec())
        );
        assert_eq!(
            head(&conn, &sha, 1000).unwrap_or_else(|e| panic!("{e}")),
            Some(b"photo bytes".to_vec())
        );
        assert_eq!(
            get(&conn, &"b".repeat(64)).unwrap_or_else(|e| panic!("{e}")),
            None
        );
    }

    /// An image goes only once neither a face sample nor a draft photo names it.
    #[test]
    fn only_unreferenced_images_are_deleted() {
        let raw = db();
        let conn = Conn::new(&raw);
        let (sample, photo, loose) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        for sha in [&sample, &photo, &loose] {
            put(&conn, sha, sha.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        }
        let (student, teacher, subject, draft) = (
            Id::generate(),
            Id::generate(),
            Id::generate(),
            Id::generate(),
        );
        let ok = |sql: &str, a: &[crate::storage::sql::Value<'_>]| {
            conn.exec(sql, a).unwrap_or_else(|e| panic!("{sql}: {e}"));
        };
        for (id, email, role) in [
            (&student, "s@school.test", "student"),
            (&teacher, "t@school.test", "teacher"),
        ] {
            ok(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
                 VALUES (?1, ?2, 'X', ?3, '', 0, 0)",
                args![id.as_str(), email, role],
            );
        }
        ok(
            "INSERT INTO face_samples (id, student_id, image_sha256, content_type, embedding,
                 box_left, box_top, box_right, box_bottom, score, created_at)
             VALUES (?1, ?2, ?3, 'image/jpeg', ?4, 0, 0, 1, 1, 0.9, 0)",
            args![
                Id::generate().as_str(),
                student.as_str(),
                sample,
                [0_u8; 512]
            ],
        );
        ok(
            "INSERT INTO subjects (id, name, code, created_at, updated_at) VALUES (?1, 'S', 'S1', 0, 0)",
            args![subject.as_str()],
        );
        ok(
            "INSERT INTO attendance_drafts (id, subject_id, date, slot, created_by, created_at, updated_at)
             VALUES (?1, ?2, '2026-01-05', 0, ?3, 0, 0)",
            args![draft.as_str(), subject.as_str(), teacher.as_str()],
        );
        ok(
            "INSERT INTO draft_photos (draft_id, photo, image_sha256, content_type, width, height, created_at)
             VALUES (?1, 1, ?2, 'image/jpeg', 1, 1, 0)",
            args![draft.as_str(), photo],
        );
        let delete = |sha: &str| delete_unreferenced(&conn, sha).unwrap_or_else(|e| panic!("{e}"));
        assert!(!delete(&sample));
        assert!(!delete(&photo));
        assert!(delete(&loose));
        assert!(!delete(&loose));
        ok("DELETE FROM face_samples", args![]);
        ok("DELETE FROM draft_photos", args![]);
        assert!(delete(&sample));
        assert!(delete(&photo));
    }

    #[test]
    fn avatars_keep_their_first_bytes() {
        let raw = db();
        let conn = Conn::new(&raw);
        put_avatar(&conn, "x.jpg", "image/jpeg", b"one").unwrap_or_else(|e| panic!("{e}"));
        put_avatar(&conn, "x.jpg", "image/jpeg", b"two").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            avatar(&conn, "x.jpg").unwrap_or_else(|e| panic!("{e}")),
            Some(("image/jpeg".to_owned(), b"one".to_vec()))
        );
        assert_eq!(
            avatar(&conn, "y.jpg").unwrap_or_else(|e| panic!("{e}")),
            None
        );
    }
}
