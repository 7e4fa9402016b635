//! Privacy duties around biometric data: the audit log for administrators, retention (old
//! attendance drafts, with their class photos, and optionally old face samples are purged), and
//! re-encoding photos that an older rollcall stored as they were uploaded, metadata and all.

use super::images::ImageStore;
use super::{Error, Result};
use crate::domain::audit::{Entry, Filter};
use crate::storage::audit;
use crate::storage::{Db, now_unix};

const DAY: i64 = 24 * 60 * 60;

/// Audit entries, newest first (administrators; the extractor checks the role). 422 for a
/// limit outside 1..=500 or a window that ends before it starts.
pub async fn audit_log(db: &Db, filter: Filter) -> Result<Vec<Entry>> {
    if !(1..=500).contains(&filter.limit) {
        return Err(Error::Invalid("limit must be between 1 and 500".into()));
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until <= since
    {
        return Err(Error::Invalid("until must be later than since".into()));
    }
    db.run(move |conn| Ok(audit::list(conn, &filter)?)).await
}

/// How long things are kept, in days; 0 keeps them until they are deleted otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub draft_days: u32,
    pub face_days: u32,
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub drafts: usize,
    pub face_samples: usize,
    pub files: usize,
}

/// Delete drafts not touched for `draft_days` (their photos with them) and face samples older
/// than `face_days`, then the images nothing refers to any more. One transaction for the rows
/// (audited when anything went), images after it commits.
pub async fn purge(db: &Db, images: &ImageStore, retention: Retention) -> Result<Purged> {
    let now = now_unix();
    let store = images.clone();
    db.run(move |conn| {
        let (mut shas, mut purged) = conn.transaction(|tx| {
            let mut shas: Vec<String> = Vec::new();
            let mut purged = Purged::default();
            if retention.draft_days > 0 {
                let cutoff = now - i64::from(retention.draft_days) * DAY;
                let old = crate::storage::drafts::untouched_since(tx, cutoff)?;
                for id in &old {
                    shas.extend(crate::storage::drafts::delete(tx, id)?);
                }
                purged.drafts = old.len();
            }
            if retention.face_days > 0 {
                let cutoff = now - i64::from(retention.face_days) * DAY;
                let gone = crate::storage::faces::delete_older_than(tx, cutoff)?;
                purged.face_samples = gone.len();
                shas.extend(gone);
            }
            if purged.drafts + purged.face_samples > 0 {
                audit::record(
                    tx,
                    None,
                    "retention.purge",
                    None,
                    &format!(
                        "drafts={} face_samples={} draft_days={} face_days={}",
                        purged.drafts,
                        purged.face_samples,
                        retention.draft_days,
                        retention.face_days
                    ),
                )?;
            }
            Ok::<_, super::Error>((shas, purged))
        })?;
        shas.sort();
        shas.dedup();
        purged.files = store.unlink_unreferenced(conn, &shas)?;
        Ok(purged)
    })
    .await
}

/// How much of a stored image is read to see whether it carries metadata: one rollcall wrote
/// has its image data well within this (JFIF header, tables, frame header: about 600 bytes).
const HEAD_BYTES: u32 = 64 * 1024;

/// What [`reencode_old_photos`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reencoded {
    /// Photos that carried metadata (or were not JPEGs) and are now stored re-encoded.
    pub photos: usize,
    /// Photos that could not be read or decoded; left as they are.
    pub failed: usize,
}

/// Whether a stored file is already what [`super::faces::StoredPhoto`] writes: a JPEG with no
/// segment before its image data but the JFIF header and what decoding needs (no EXIF, XMP,
/// ICC profile, other application data or comment).
#[must_use]
pub fn stored_without_metadata(file: &[u8]) -> bool {
    if !file.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    while i + 4 <= file.len() && file[i] == 0xFF {
        let marker = file[i + 1];
        match marker {
            0xDA => return true,
            0xE0 if file.get(i + 4..i + 9) == Some(b"JFIF\0") => {}
            0xE0..=0xEF | 0xFE => return false,
            _ => {}
        }
        i += 2 + usize::from(u16::from_be_bytes([file[i + 2], file[i + 3]]));
    }
    false
}

/// Photos stored before rollcall re-encoded them (face samples and draft class photos kept as
/// uploaded, EXIF and GPS position included) are replaced by their upright pixels re-encoded,
/// like new ones: the new image first, then the rows pointing at it (boxes stay valid: they were
/// always in the upright pixels), then the old image goes. Clean images are only read up to
/// their image data. Run once at start, in the background; safe alongside requests.
pub async fn reencode_old_photos(db: &Db, images: &ImageStore) -> Result<Reencoded> {
    let shas = db.run(crate::storage::faces::images_in_use).await?;
    let mut done = Reencoded::default();
    for sha in shas {
        // The segments before the image data are all the check reads: a clean image is read
        // only that far, so a restart does not read every stored photo in full.
        let bytes = match images.read_head(db, &sha, HEAD_BYTES).await {
            Ok(Some(head)) if stored_without_metadata(&head) => continue,
            Ok(Some(_)) => images.read(db, &sha).await,
            other => other,
        };
        let bytes = match bytes {
            Ok(Some(bytes)) => bytes,
            // Gone (its rows went meanwhile), or unreadable: nothing to do here.
            Ok(None) | Err(_) => continue,
        };
        // None: nothing to do (already clean); Some(Err): cannot be re-encoded.
        let what = sha.clone();
        let fresh = super::blocking(move || {
            if stored_without_metadata(&bytes) {
                return None;
            }
            let limits = crate::vision::decode::Limits {
                max_bytes: usize::MAX,
                ..crate::vision::decode::Limits::default()
            };
            Some(
                crate::vision::decode::decode(&bytes, &limits)
                    .map_err(|e| format!("image {what}: {e}"))
                    .and_then(|img| super::faces::StoredPhoto::of(&img).map_err(|e| e.to_string())),
            )
        })
        .await?;
        let fresh = match fresh {
            None => continue,
            Some(Ok(fresh)) => fresh,
            Some(Err(e)) => {
                done.failed += 1;
                tracing::warn!(error = %e, "a stored photo could not be re-encoded; left as it is");
                continue;
            }
        };
        let store = images.clone();
        let old = sha.clone();
        let replaced = db
            .run(move |conn| {
                let rows = conn.transaction(|tx| {
                    store.put(tx, &fresh.bytes, "storing a re-encoded photo")?;
                    let rows = crate::storage::faces::replace_image(
                        tx,
                        &old,
                        &fresh.sha,
                        fresh.content_type,
                    )?;
                    if rows > 0 {
                        audit::record(
                            tx,
                            None,
                            "face.reencode",
                            None,
                            &format!("image={} rows={rows}", &old[..old.len().min(12)]),
                        )?;
                    }
                    Ok::<_, super::Error>(rows)
                })?;
                store.unlink_unreferenced(conn, &[old])?;
                Ok::<_, super::Error>(rows)
            })
            .await;
        match replaced {
            Ok(0) => {}
            Ok(_) => done.photos += 1,
            Err(e) => {
                done.failed += 1;
                tracing::warn!(error = %e, "re-encoding a stored photo failed");
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_jpegs_count_as_stored_without_metadata() {
        let img = crate::vision::image::RgbImage::new(16, 8);
        let bare = super::super::faces::StoredPhoto::of(&img)
            .unwrap_or_else(|e| panic!("{e}"))
            .bytes;
        assert!(stored_without_metadata(&bare));
        let with = |marker: u8, payload: &[u8]| {
            let mut out = bare[..2].to_vec();
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(payload);
            out.extend_from_slice(&bare[2..]);
            out
        };
        assert!(!stored_without_metadata(&with(0xE1, b"Exif\0\0II*\0")));
        assert!(!stored_without_metadata(&with(0xE2, b"ICC_PROFILE\0")));
        assert!(!stored_without_metadata(&with(0xFE, b"a comment")));
        assert!(!stored_without_metadata(b"\x89PNG\r\n\x1a\n"));
        assert!(!stored_without_metadata(&bare[..bare.len().min(20)]));
    }
}
