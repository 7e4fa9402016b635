//! The image store: face samples' and draft photos' images, named by the SHA-256 of their bytes
//! and shared by every row showing the same bytes, and teachers' avatars. Where they live is
//! chosen once at start ([`ImageStore::for_database`]): files in the data directory beside a
//! SQLite database (`faces/<sha[0..2]>/<sha>`, `avatars/<name>`), or rows of the database itself
//! on PostgreSQL, which several servers share and where no server may keep on its own disk what
//! another one serves (docs/postgres.md §2).
//!
//! The protocol is the same for both. An image is stored, idempotently, inside the write
//! transaction that inserts the row naming it ([`ImageStore::put`], through that transaction's
//! connection), and deleted only inside a write transaction, after the one that removed the rows
//! naming it committed, when no face sample or draft photo names it any more
//! ([`ImageStore::unlink_unreferenced`]). Writers are serialised (SQLite's `BEGIN IMMEDIATE`,
//! PostgreSQL's writer lock), so an image is never deleted while a new row takes it up.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{Error, Result};
use crate::storage::faces as samples;
use crate::storage::images as rows;
use crate::storage::{Conn, Db};

pub use crate::storage::faces::image_file;

/// The folder of the face images under the data directory (files only).
pub const FACES_DIR: &str = "faces";

/// Where the images are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStore {
    /// Files under the data directory: `faces` holds the content-addressed images, `avatars`
    /// the avatars (served from there as they are).
    Files { faces: PathBuf, avatars: PathBuf },
    /// Rows of the `images` and `avatars` tables, written and read through the connection of
    /// the caller's transaction or of the pool.
    Database,
}

impl ImageStore {
    /// The store for `db`: the database itself when several servers may share it
    /// (PostgreSQL), else files under `data_dir`.
    #[must_use]
    pub fn for_database(db: &Db, data_dir: &Path) -> Self {
        if db.is_shared() {
            Self::Database
        } else {
            Self::files(data_dir)
        }
    }

    /// Files under `data_dir`.
    #[must_use]
    pub fn files(data_dir: &Path) -> Self {
        Self::Files {
            faces: data_dir.join(FACES_DIR),
            avatars: data_dir.join(super::avatars::AVATAR_DIR),
        }
    }

    /// Store `bytes` under their hash, which is returned; storing them again changes nothing.
    /// Call it inside the write transaction that inserts the row naming the image, with that
    /// transaction's connection: a file is written (temp file + rename, so a reader never sees
    /// half of one) while the transaction holds the write lock, a row is written in it.
    /// `what` names the image in an error.
    pub(crate) fn put(&self, conn: &Conn<'_>, bytes: &[u8], what: &str) -> Result<String> {
        let sha = sha256_hex(bytes);
        match self {
            Self::Files { faces, .. } => {
                write_file(faces, &sha, bytes).map_err(|e| Error::from_io(what, &e))?;
            }
            Self::Database => {
                rows::put(conn, &sha, bytes)?;
            }
        }
        Ok(sha)
    }

    /// An image's bytes; `None` when it is not stored. A file is read on the blocking pool.
    pub async fn read(&self, db: &Db, sha: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Files { faces, .. } => {
                let path = image_file(faces, sha);
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Internal(anyhow::anyhow!(
                        "reading {}: {e}",
                        path.display()
                    ))),
                }
            }
            Self::Database => {
                let sha = sha.to_owned();
                Ok(db.run(move |c| rows::get(c, &sha)).await?)
            }
        }
    }

    /// The first `n` bytes of an image (all of it if shorter); `None` when it is not stored.
    pub async fn read_head(&self, db: &Db, sha: &str, n: u32) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Files { faces, .. } => {
                let path = image_file(faces, sha);
                let head = super::blocking(move || {
                    use std::io::Read as _;
                    let mut head = Vec::new();
                    std::fs::File::open(&path)?
                        .take(u64::from(n))
                        .read_to_end(&mut head)?;
                    Ok::<_, std::io::Error>(head)
                })
                .await?;
                match head {
                    Ok(head) => Ok(Some(head)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Internal(anyhow::anyhow!("reading an image: {e}"))),
                }
            }
            Self::Database => {
                let sha = sha.to_owned();
                Ok(db.run(move |c| rows::head(c, &sha, n)).await?)
            }
        }
    }

    /// Delete the images among `shas` that no face sample and no draft photo names any more;
    /// returns how many went. Takes a write transaction of its own on `conn` (only to exclude a
    /// concurrent insert of a row naming one of them): call it after the transaction that
    /// removed the rows committed. A file that cannot be removed is logged and left.
    pub(crate) fn unlink_unreferenced(
        &self,
        conn: &Conn<'_>,
        shas: &[String],
    ) -> crate::storage::Result<usize> {
        if shas.is_empty() {
            return Ok(0);
        }
        conn.transaction(|tx| {
            let mut removed = 0;
            for sha in shas {
                match self {
                    Self::Files { faces, .. } => {
                        if samples::image_referenced(tx, sha)? {
                            continue;
                        }
                        let path = image_file(faces, sha);
                        match std::fs::remove_file(&path) {
                            Ok(()) => removed += 1,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                tracing::warn!(path = %path.display(), error = %e, "removing a face image failed");
                            }
                        }
                    }
                    Self::Database => {
                        if rows::delete_unreferenced(tx, sha)? {
                            removed += 1;
                        }
                    }
                }
            }
            Ok(removed)
        })
    }

    /// [`ImageStore::unlink_unreferenced`] on a pooled connection.
    pub async fn remove_unreferenced(&self, db: &Db, shas: Vec<String>) -> Result<()> {
        if shas.is_empty() {
            return Ok(());
        }
        let store = self.clone();
        db.run(move |conn| store.unlink_unreferenced(conn, &shas).map(|_| ()))
            .await?;
        Ok(())
    }

    /// Store an avatar under `name` (content-addressed: an existing one is kept as it is).
    pub async fn put_avatar(
        &self,
        db: &Db,
        name: String,
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        match self {
            Self::Files { avatars, .. } => {
                let dir = avatars.clone();
                super::blocking(move || {
                    let target = dir.join(&name);
                    let tmp = dir.join(format!(".{name}.tmp"));
                    let store = || -> std::io::Result<()> {
                        std::fs::create_dir_all(&dir)?;
                        if !target.exists() {
                            std::fs::write(&tmp, &bytes)?;
                            std::fs::rename(&tmp, &target)?;
                        }
                        Ok(())
                    };
                    store().map_err(|e| Error::from_io("storing avatar", &e))
                })
                .await?
            }
            Self::Database => Ok(db
                .run(move |c| rows::put_avatar(c, &name, content_type, &bytes))
                .await?),
        }
    }

    /// An avatar's content type and bytes; `None` when there is none of that name, which the
    /// caller checked is a plain file name ([`super::avatars::fetch`]).
    pub(crate) async fn avatar(&self, db: &Db, name: &str) -> Result<Option<(String, Vec<u8>)>> {
        match self {
            Self::Files { avatars, .. } => {
                let path = avatars.join(name);
                let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
                    Some("png") => "image/png",
                    Some("webp") => "image/webp",
                    _ => "image/jpeg",
                };
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some((content_type.to_owned(), bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Internal(anyhow::anyhow!(
                        "reading {}: {e}",
                        path.display()
                    ))),
                }
            }
            Self::Database => {
                let name = name.to_owned();
                Ok(db.run(move |c| rows::avatar(c, &name)).await?)
            }
        }
    }
}

/// Write the bytes under their hash in `faces_dir` (temp file + rename), unless already there.
fn write_file(faces_dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = image_file(faces_dir, sha);
    if path.exists() {
        return Ok(());
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
    written
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_stored_once_under_their_hash() {
        let dir = std::env::temp_dir().join(format!("rollcall-faces-{}", rand::random::<u64>()));
        let sha = sha256_hex(b"photo");
        write_file(&dir, &sha, b"photo").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sha.len(), 64);
        let path = image_file(&dir, &sha);
        assert!(path.starts_with(dir.join(&sha[..2])));
        assert_eq!(std::fs::read(&path).unwrap_or_default(), b"photo");
        write_file(&dir, &sha, b"photo").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&path).unwrap_or_default(), b"photo");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
