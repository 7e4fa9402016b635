//! Background work started and stopped with the server: the retention purge, and re-encoding
//! photos an older rollcall stored with their metadata.

use crate::config::Settings;
use crate::service;
use crate::service::images::ImageStore;
use crate::storage::Db;

/// How long a claimed job may run before another server may take it over (its holder died).
const LEASE_SECS: i64 = 30 * 60;

/// Whether this server runs the job `name` now. On SQLite (one server) always; on PostgreSQL
/// the server that claims the job's lease in the database, if its last run, by any server, began
/// at least `every_secs` ago. The claim, or the skip, is logged.
async fn claim(db: &Db, holder: &str, name: &'static str, every_secs: i64) -> Option<Lease> {
    if !db.is_shared() {
        return Some(Lease::default());
    }
    let (owner, now) = (holder.to_owned(), crate::storage::now_unix());
    let claimed = db
        .transaction(move |c| {
            crate::storage::cluster::claim_job(c, name, &owner, now, LEASE_SECS, every_secs)
        })
        .await;
    match claimed {
        Ok(true) => {
            tracing::info!(job = name, "job: running here");
            Some(Lease {
                name,
                holder: Some(holder.to_owned()),
            })
        }
        Ok(false) => {
            tracing::info!(job = name, "job: skipped, another server runs it");
            None
        }
        Err(e) => {
            tracing::warn!(job = name, error = %e, "job: could not claim");
            None
        }
    }
}

/// A claimed job, released once its run is over.
#[derive(Default)]
struct Lease {
    name: &'static str,
    holder: Option<String>,
}

impl Lease {
    async fn release(self, db: &Db) {
        let Some(holder) = self.holder else { return };
        let (name, now) = (self.name, crate::storage::now_unix());
        if let Err(e) = db
            .transaction(move |c| crate::storage::cluster::release_job(c, name, &holder, now))
            .await
        {
            tracing::warn!(job = name, error = %e, "job: could not release its lease");
        }
    }
}

/// Start every background job for this server (they end when the runtime does).
pub fn start(db: &Db, images: &ImageStore, settings: &Settings) {
    let retention = service::privacy::Retention {
        draft_days: settings.draft_retention_days,
        face_days: settings.face_retention_days,
    };
    let holder = uuid::Uuid::new_v4().to_string();
    tokio::spawn(purge_expired(
        db.clone(),
        images.clone(),
        retention,
        holder.clone(),
    ));
    tokio::spawn(reencode_old_photos(db.clone(), images.clone(), holder));
}

/// Once at start: photos stored before rollcall re-encoded them lose their metadata.
async fn reencode_old_photos(db: Db, images: ImageStore, holder: String) {
    // Not periodic: whichever server starts while nobody else is re-encoding does it.
    let Some(lease) = claim(&db, &holder, "reencode", 0).await else {
        return;
    };
    let outcome = service::privacy::reencode_old_photos(&db, &images).await;
    lease.release(&db).await;
    match outcome {
        Ok(done) if done == service::privacy::Reencoded::default() => {}
        Ok(done) => tracing::info!(
            photos = done.photos,
            failed = done.failed,
            "stored photos re-encoded without their metadata"
        ),
        Err(e) => tracing::warn!(error = %e, "re-encoding stored photos failed"),
    }
}

/// Purge what the retention settings say has expired, at start and then every hour (on
/// PostgreSQL: once an hour for all servers together).
async fn purge_expired(
    db: Db,
    images: ImageStore,
    retention: service::privacy::Retention,
    holder: String,
) {
    if retention.draft_days == 0 && retention.face_days == 0 {
        return;
    }
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        // Once an hour for the whole cluster (a little less, so that a server whose ticks
        // come just after another's does not wait a second hour).
        let Some(lease) = claim(&db, &holder, "retention", 3500).await else {
            continue;
        };
        let outcome = service::privacy::purge(&db, &images, retention).await;
        lease.release(&db).await;
        match outcome {
            Ok(p) if p == service::privacy::Purged::default() => {}
            Ok(p) => tracing::info!(
                drafts = p.drafts,
                face_samples = p.face_samples,
                files = p.files,
                "retention: purged expired drafts and face samples"
            ),
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}
