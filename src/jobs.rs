//! Background work started and stopped with the server: the retention purge, and re-encoding
//! photos an older rollcall stored with their metadata.

use crate::api::AppState;
use crate::service;

/// Start every background job for this server (they end when the runtime does).
pub fn start(state: &AppState) {
    tokio::spawn(retention(state.clone()));
    tokio::spawn(reencode_old_photos(state.clone()));
}

/// Once at start: photos stored before rollcall re-encoded them lose their metadata.
async fn reencode_old_photos(state: AppState) {
    match service::privacy::reencode_old_photos(&state.db, &state.settings.faces_dir()).await {
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
async fn retention(state: AppState) {
    let retention = service::privacy::Retention {
        draft_days: state.settings.draft_retention_days,
        face_days: state.settings.face_retention_days,
    };
    if retention.draft_days == 0 && retention.face_days == 0 {
        return;
    }
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        match service::privacy::purge(&state.db, &state.settings.faces_dir(), retention).await {
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
