//! The image store: face samples' and draft photos' files under the faces directory, named by
//! the SHA-256 of their bytes, written atomically, and deleted only when no row names them any
//! more (inside a write transaction, after the transaction that removed the rows committed).

use std::io::Write as _;
use std::path::Path;

use sha2::Digest;

use super::Result;
use crate::storage::faces as samples;
use crate::storage::{Conn, Db};

pub use crate::storage::faces::image_file;

/// Write the bytes under their hash (temp file + rename, so a reader never sees half a file).
pub(crate) fn store(faces_dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let sha = sha256_hex(bytes);
    let path = image_file(faces_dir, &sha);
    if path.exists() {
        return Ok(sha);
    }
    let dir = path.parent().unwrap_or(faces_dir);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{sha}.{:016x}.tmp", rand::random::<u64>()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| sha)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Delete the image files no face sample refers to any more.
pub async fn remove_unreferenced(db: &Db, faces_dir: &Path, shas: Vec<String>) -> Result<()> {
    if shas.is_empty() {
        return Ok(());
    }
    let dir = faces_dir.to_owned();
    db.run(move |conn| unlink_unreferenced(conn, &dir, &shas).map(|_| ()))
        .await?;
    Ok(())
}

/// Delete the files of these images that no sample refers to any more.
pub(crate) fn unlink_unreferenced(
    conn: &Conn<'_>,
    faces_dir: &Path,
    shas: &[String],
) -> crate::storage::Result<usize> {
    if shas.is_empty() {
        return Ok(0);
    }
    // A write transaction only to exclude a concurrent `record` of the same image.
    conn.transaction(|tx| {
        let mut removed = 0;
        for sha in shas {
            if !samples::image_referenced(tx, sha)? {
                let path = image_file(faces_dir, sha);
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "removing a face image failed");
                    }
                }
            }
        }
        Ok(removed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_stored_once_under_their_hash() {
        let dir = std::env::temp_dir().join(format!("rollcall-faces-{}", rand::random::<u64>()));
        let sha = store(&dir, b"photo").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sha.len(), 64);
        let path = image_file(&dir, &sha);
        assert!(path.starts_with(dir.join(&sha[..2])));
        assert_eq!(std::fs::read(&path).unwrap_or_default(), b"photo");
        assert_eq!(store(&dir, b"photo").unwrap_or_default(), sha);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
