//! A teacher's own profile, preferences and schedule (the seed's `/settings`).

use serde_json::{Value, json};

use super::auth::AuthUser;
use super::{Error, Result};
use crate::storage::Db;
use crate::storage::users::{self, TeacherProfile};

/// The seed's default teacher preferences.
#[must_use]
pub fn default_settings() -> Value {
    json!({
        "theme": "Light",
        "notifications": {"push": true, "inApp": true, "sound": false},
        "emailPreferences": {},
        "thresholds": {"warningVal": 75, "safeVal": 85},
        "faceSettings": {"sensitivity": 80, "liveness": true}
    })
}

pub async fn profile(db: &Db, teacher: &AuthUser) -> Result<TeacherProfile> {
    let id = teacher.id.clone();
    db.call(move |c| users::teacher_profile(c, &id))
        .await?
        .ok_or_else(|| Error::NotFound("Teacher profile not found".into()))
}

/// A stored JSON column, or `fallback` when it is unset or unreadable.
#[must_use]
pub fn json_or(stored: Option<&str>, fallback: Value) -> Value {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(fallback)
}
