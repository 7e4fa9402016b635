//! Teachers' profile pictures: checked like the seed (extension, content type, 5 MiB), decoded
//! and re-encoded (see [`normalise`]), content-addressed, kept in the image store (files under
//! `<data_dir>/avatars/` beside a SQLite database, the `avatars` table on PostgreSQL), served at
//! `/avatars/...`.

use sha2::{Digest, Sha256};

use super::auth::AuthUser;
use super::images::ImageStore;
use super::{Error, Result, blocking};
use crate::storage::{Db, teachers as repo};

/// Largest avatar, as in the seed.
pub const MAX_AVATAR_BYTES: usize = 5 * 1024 * 1024;
/// The folder under the data directory, and the URL prefix it is served at.
pub const AVATAR_DIR: &str = "avatars";

/// The extension to store an upload under, from its file name and declared content type
/// (the seed's checks, in its order and wording).
pub fn check_upload(file_name: &str, content_type: &str) -> Result<&'static str> {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "webp") {
        return Err(Error::BadRequest("Unsupported file type".into()));
    }
    match content_type.trim().to_ascii_lowercase().as_str() {
        "image/jpeg" => Ok("jpg"),
        "image/png" => Ok("png"),
        "image/webp" => Ok("webp"),
        _ => Err(Error::BadRequest("Invalid file content type".into())),
    }
}

/// Longest side of a stored avatar.
pub const AVATAR_SIDE: usize = 512;

/// Decode the upload completely (under the photo limits: a truncated file or a decompression
/// bomb is refused, not stored), turn it upright, shrink it to [`AVATAR_SIDE`] and re-encode it
/// as a JPEG, so nothing of the original file but its pixels is kept or served (no EXIF: no GPS
/// position, no camera serial).
fn normalise(bytes: &[u8]) -> Result<Vec<u8>> {
    let limits = crate::vision::decode::Limits {
        max_bytes: MAX_AVATAR_BYTES,
        ..crate::vision::decode::Limits::default()
    };
    let img = crate::vision::decode::decode(bytes, &limits)
        .map_err(crate::vision::pipeline::PipelineError::from)?;
    let longest = img.width.max(img.height).max(1);
    let img = if longest > AVATAR_SIDE {
        let w = (img.width * AVATAR_SIDE / longest).max(1);
        let h = (img.height * AVATAR_SIDE / longest).max(1);
        let data = crate::vision::resize::resize_rgb(&img.data, img.width, img.height, w, h);
        crate::vision::image::RgbImage {
            width: w,
            height: h,
            data,
        }
    } else {
        img
    };
    img.to_jpeg(90)
        .map_err(|e| Error::Internal(e.context("encoding the avatar")))
}

/// Store the image and point the teacher's profile at it; returns the public URL.
pub async fn save(
    db: &Db,
    images: &ImageStore,
    base_url: &str,
    teacher: &AuthUser,
    ext: &'static str,
    bytes: Vec<u8>,
) -> Result<String> {
    let expected = match ext {
        "jpg" => image::ImageFormat::Jpeg,
        "png" => image::ImageFormat::Png,
        _ => image::ImageFormat::WebP,
    };
    if crate::vision::decode::sniff(&bytes) != Some(expected) {
        return Err(Error::BadRequest("Invalid file content type".into()));
    }
    let (name, jpeg) = blocking(move || -> Result<(String, Vec<u8>)> {
        let jpeg = normalise(&bytes)?;
        let name = format!("{}.jpg", hex::encode(Sha256::digest(&jpeg)));
        Ok((name, jpeg))
    })
    .await??;
    images
        .put_avatar(db, name.clone(), "image/jpeg", jpeg)
        .await?;
    let url = format!("{base_url}/{AVATAR_DIR}/{name}");
    let (id, stored) = (teacher.id.clone(), url.clone());
    if db.run(move |c| repo::set_avatar(c, &id, &stored)).await? {
        Ok(url)
    } else {
        Err(Error::NotFound("Teacher not found".into()))
    }
}

/// An avatar's content type and bytes, by the name in its URL (`/avatars/<name>`); `None` for a
/// name no avatar has, or one that no stored name could have.
pub async fn fetch(db: &Db, images: &ImageStore, name: &str) -> Result<Option<(String, Vec<u8>)>> {
    if !is_avatar_name(name) {
        return Ok(None);
    }
    images.avatar(db, name).await
}

/// A file name in the avatar folder: letters, digits, `-`, `_` and `.`, not starting with a dot,
/// at most 100 characters (names are `<sha256>.jpg`).
fn is_avatar_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_looked_up() {
        assert!(is_avatar_name(&format!("{}.jpg", "a".repeat(64))));
        for bad in [
            "",
            ".hidden",
            "../rollcall.sqlite3",
            "a/b.jpg",
            "a\\b",
            "a\0.jpg",
        ] {
            assert!(!is_avatar_name(bad), "{bad:?}");
        }
        assert!(!is_avatar_name(&"a".repeat(101)));
    }

    #[test]
    fn seed_checks_in_order() {
        assert_eq!(check_upload("me.JPEG", "image/jpeg").ok(), Some("jpg"));
        assert_eq!(check_upload("me.webp", "image/webp").ok(), Some("webp"));
        for (name, ct, detail) in [
            ("me.gif", "image/gif", "Unsupported file type"),
            ("me", "image/png", "Unsupported file type"),
            ("me.png", "text/plain", "Invalid file content type"),
        ] {
            match check_upload(name, ct) {
                Err(Error::BadRequest(d)) => assert_eq!(d, detail),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
