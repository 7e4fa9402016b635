//! Teachers' profile pictures: checked like the seed (extension, content type, 5 MiB), decoded
//! and re-encoded (see [`normalise`]), kept on local disk under `<data_dir>/avatars/`,
//! content-addressed, served at `/avatars/...`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::auth::AuthUser;
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
    let (w, h, data) = if longest > AVATAR_SIDE {
        let w = (img.width * AVATAR_SIDE / longest).max(1);
        let h = (img.height * AVATAR_SIDE / longest).max(1);
        let data = crate::vision::resize::resize_rgb(&img.data, img.width, img.height, w, h);
        (w, h, data)
    } else {
        (img.width, img.height, img.data)
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(
            &data,
            u32::try_from(w).unwrap_or(u32::MAX),
            u32::try_from(h).unwrap_or(u32::MAX),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Internal(anyhow::anyhow!("encoding the avatar: {e}")))?;
    Ok(out)
}

/// Store the image and point the teacher's profile at it; returns the public URL.
pub async fn save(
    db: &Db,
    data_dir: &Path,
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
    let dir = data_dir.join(AVATAR_DIR);
    let name = blocking(move || -> Result<String> {
        let jpeg = normalise(&bytes)?;
        let name = format!("{}.jpg", hex::encode(Sha256::digest(&jpeg)));
        let target: PathBuf = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let store = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            if !target.exists() {
                std::fs::write(&tmp, &jpeg)?;
                std::fs::rename(&tmp, &target)?;
            }
            Ok(())
        };
        store().map_err(|e| Error::from_io("storing avatar", &e))?;
        Ok(name)
    })
    .await??;
    let url = format!("{base_url}/{AVATAR_DIR}/{name}");
    let (id, stored) = (teacher.id.clone(), url.clone());
    if db.run(move |c| repo::set_avatar(c, &id, &stored)).await? {
        Ok(url)
    } else {
        Err(Error::NotFound("Teacher not found".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
