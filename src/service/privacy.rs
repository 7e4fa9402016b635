//! Privacy duties around biometric data: the audit log for administrators, and retention (old
//! attendance drafts, with their class photos, and optionally old face samples are purged).

use std::path::Path;

use super::Result;
use super::subjects::run;
use crate::storage::audit::{self, Entry, Filter};
use crate::storage::{Db, StorageError, now_unix};

const DAY: i64 = 24 * 60 * 60;

/// Audit entries, newest first (administrators; the extractor checks the role).
pub async fn audit_log(db: &Db, filter: Filter) -> Result<Vec<Entry>> {
    run(db, move |conn| Ok(audit::list(conn, &filter)?)).await
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
/// than `face_days`, then the image files nothing refers to any more. One transaction for the
/// rows (audited when anything went), files after it commits.
pub async fn purge(db: &Db, faces_dir: &Path, retention: Retention) -> Result<Purged> {
    let now = now_unix();
    let dir = faces_dir.to_owned();
    run(db, move |conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StorageError::from)?;
        let mut shas: Vec<String> = Vec::new();
        let mut purged = Purged::default();
        if retention.draft_days > 0 {
            let cutoff = now - i64::from(retention.draft_days) * DAY;
            let old: Vec<crate::domain::Id> = {
                let mut stmt = tx
                    .prepare("SELECT id FROM attendance_drafts WHERE updated_at < ?1")
                    .map_err(StorageError::from)?;
                stmt.query_map([cutoff], |r| r.get::<_, String>(0))
                    .map_err(StorageError::from)?
                    .filter_map(std::result::Result::ok)
                    .map(crate::domain::Id::from_db)
                    .collect()
            };
            for id in &old {
                shas.extend(crate::storage::drafts::delete(&tx, id)?);
            }
            purged.drafts = old.len();
        }
        if retention.face_days > 0 {
            let cutoff = now - i64::from(retention.face_days) * DAY;
            let mut stmt = tx
                .prepare("DELETE FROM face_samples WHERE created_at < ?1 RETURNING image_sha256")
                .map_err(StorageError::from)?;
            let gone: Vec<String> = stmt
                .query_map([cutoff], |r| r.get(0))
                .map_err(StorageError::from)?
                .filter_map(std::result::Result::ok)
                .collect();
            drop(stmt);
            purged.face_samples = gone.len();
            shas.extend(gone);
        }
        if purged.drafts + purged.face_samples > 0 {
            audit::record(
                &tx,
                None,
                "retention.purge",
                None,
                &format!(
                    "drafts={} face_samples={} draft_days={} face_days={}",
                    purged.drafts, purged.face_samples, retention.draft_days, retention.face_days
                ),
            )?;
        }
        tx.commit().map_err(StorageError::from)?;
        shas.sort();
        shas.dedup();
        purged.files = super::faces::unlink_unreferenced(conn, &dir, &shas)?;
        Ok(purged)
    })
    .await
}
