//! Background work started and stopped with the server: the retention purge, and re-encoding
//! photos an older rollcall stored with their metadata.

use crate::config::Settings;
use crate::service;
use crate::service::images::ImageStore;
use crate::storage::Db;

/// Start every background job for this server (they end when the runtime does).
pub fn start(db: &Db, images: &ImageStore, settings: &Settings) {
    let retention = service::privacy::Retention {
        draft_days: settings.draft_retention_days,
        face_days: settings.face_retention_days,
    };
    tokio::spawn(purge_expired(db.clone(), images.clone(), retention));
    tokio::spawn(reencode_old_photos(db.clone(), images.clone()));
}

/// Once at start: photos stored before rollcall re-encoded them lose their metadata.
async fn reencode_old_photos(db: Db, images: ImageStore) {
    match service::privacy::reencode_old_photos(&db, &images).await {
        Ok(done) if done == service::privacy::Reencoded::default() => {}
        Ok(done) => tracing::info!(
            photos = done.photos,
            failed = done.failed,
            "stored photos re-encoded without their metadata"
        ),
        Err(e) => tracing::warn!(error = %e, "re-encoding stored photos failed"),
    }
}

/// Purge what the retention settings say has expired, at start and then every hour.
async fn purge_expired(db: Db, images: ImageStore, retention: service::privacy::Retention) {
    if retention.draft_days == 0 && retention.face_days == 0 {
        return;
    }
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        match service::privacy::purge(&db, &images, retention).await {
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
