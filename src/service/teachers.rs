//! A teacher's own profile, preferences and schedule (the seed's `/settings`): reading them,
//! PATCH (profile fields + deep-merged preferences) and PUT (department, preferences, schedule).

use std::collections::HashSet;

use crate::storage::Conn;
use serde_json::{Map, Value, json};

use super::auth::{AuthUser, optional_text, required_text};
use super::{Error, Result, schedule};
use crate::domain::teachers::SubjectRef;
use crate::domain::users::TeacherProfile;
use crate::domain::{Email, Id};
use crate::storage::teachers::{self as repo, Changes};
use crate::storage::users;
use crate::storage::{Db, StorageError, audit};

/// Themes the seed frontend knows.
pub const THEMES: [&str; 4] = ["Light", "Dark", "Forest", "Cyber"];
/// Largest preferences object we store, as JSON text.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

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

/// Everything `/settings` answers with.
#[derive(Debug, Clone)]
pub struct Profile {
    pub teacher: TeacherProfile,
    pub subjects: Vec<SubjectRef>,
}

impl Profile {
    /// Stored preferences, or the defaults.
    #[must_use]
    pub fn settings(&self) -> Value {
        json_or(self.teacher.settings.as_deref(), default_settings())
    }

    /// Stored schedule (`null` after a PUT of null), or `{}` when never set.
    #[must_use]
    pub fn schedule(&self) -> Value {
        json_or(self.teacher.schedule.as_deref(), json!({}))
    }
}

fn load(conn: &Conn<'_>, id: &Id) -> crate::storage::Result<Option<Profile>> {
    let Some(teacher) = users::teacher_profile(conn, id)? else {
        return Ok(None);
    };
    let subjects = repo::subjects(conn, id)?;
    Ok(Some(Profile { teacher, subjects }))
}

fn not_found() -> Error {
    Error::NotFound("Teacher profile not found".into())
}

pub async fn profile(db: &Db, teacher: &AuthUser) -> Result<Profile> {
    let id = teacher.id.clone();
    db.run(move |c| load(c, &id)).await?.ok_or_else(not_found)
}

/// `PATCH /settings`: top-level `name`, `email`, `employee_id`, `phone`, `department`, the
/// frontend's nested `profile.{name, phone, email}` (top level wins), and `settings` deep-merged
/// into the stored preferences.
pub async fn patch(db: &Db, teacher: &AuthUser, body: Value) -> Result<Profile> {
    let body = object(body)?;
    if body.is_empty() {
        return Err(Error::BadRequest("Invalid payload".into()));
    }
    let nested = match body.get("profile") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(Error::Invalid("profile must be an object".into())),
    };
    let pick = |key: &str| body.get(key).or_else(|| nested.get(key));
    let mut changes = Changes {
        name: string(pick("name"), "name")?
            .map(|v| required_text("name", &v, 200))
            .transpose()?,
        email: string(pick("email"), "email")?
            .map(|v| {
                Email::parse(&v)
                    .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))
            })
            .transpose()?,
        employee_id: string(body.get("employee_id"), "employee_id")?
            .map(|v| optional_text("employee_id", &v, 50))
            .transpose()?,
        phone: string(pick("phone"), "phone")?
            .map(|v| optional_text("phone", &v, 30))
            .transpose()?,
        department: department(body.get("department"))?,
        ..Changes::default()
    };
    let merge = match body.get("settings") {
        None => None,
        Some(s) => {
            check_settings(s)?;
            Some(s.clone())
        }
    };
    let id = teacher.id.clone();
    let fields = changed_fields(&changes, merge.is_some(), false);
    let saved = db
        .transaction(move |tx| {
            if let Some(patch) = merge {
                let mut stored = json_or(repo::settings(tx, &id)?.as_deref(), default_settings());
                deep_merge(&mut stored, &patch);
                changes.settings = Some(stored.to_string());
            }
            let saved = save(tx, &id, &changes, &fields)?;
            Ok(saved)
        })
        .await;
    finish(db, teacher, saved).await
}

/// `PUT /settings`: `department`, `settings` (replaced) and `schedule` (`null`, or an object
/// checked by [`schedule::validate`] and stored as sent, less the periods that repeat another
/// exactly ([`schedule::without_duplicate_periods`])).
pub async fn put(db: &Db, teacher: &AuthUser, body: Value) -> Result<Profile> {
    let body = object(body)?;
    let mut changes = Changes {
        department: department(body.get("department"))?,
        ..Changes::default()
    };
    if let Some(s) = body.get("settings") {
        check_settings(s)?;
        changes.settings = Some(s.to_string());
    }
    match body.get("schedule") {
        None => {}
        Some(Value::Null) => changes.schedule = Some("null".into()),
        Some(s @ Value::Object(_)) => {
            let id = teacher.id.clone();
            let own: HashSet<String> = db
                .run(move |c| repo::subjects(c, &id))
                .await?
                .into_iter()
                .map(|s| s.id.as_str().to_owned())
                .collect();
            // Periods repeated exactly (the seed editor's untouched 12:00-13:00 defaults) are
            // stored once; every other overlap is refused.
            let (s, _) = schedule::without_duplicate_periods(s);
            schedule::validate(&s, &own)?;
            changes.schedule = Some(s.to_string());
        }
        Some(_) => return Err(Error::BadRequest("Invalid schedule format".into())),
    }
    let id = teacher.id.clone();
    let fields = changed_fields(&changes, changes.settings.is_some(), true);
    let saved = db
        .transaction(move |tx| {
            let saved = save(tx, &id, &changes, &fields)?;
            Ok(saved)
        })
        .await;
    finish(db, teacher, saved).await
}

/// Write the changes and an audit entry; false when the teacher profile is gone.
fn save(conn: &Conn<'_>, id: &Id, changes: &Changes, fields: &str) -> crate::storage::Result<bool> {
    if !repo::apply(conn, id, changes)? {
        return Ok(false);
    }
    if !fields.is_empty() {
        audit::record(
            conn,
            Some(id),
            "teacher.settings",
            Some(id.as_str()),
            fields,
        )?;
    }
    Ok(true)
}

async fn finish(
    db: &Db,
    teacher: &AuthUser,
    saved: std::result::Result<bool, StorageError>,
) -> Result<Profile> {
    match saved {
        Ok(true) => profile(db, teacher).await,
        Ok(false) => Err(not_found()),
        Err(e) if e.is_unique_violation() => {
            Err(Error::Conflict("Email already registered".into()))
        }
        Err(e) => Err(e.into()),
    }
}

fn changed_fields(c: &Changes, settings: bool, put: bool) -> String {
    [
        ("name", c.name.is_some()),
        ("email", c.email.is_some()),
        ("employee_id", c.employee_id.is_some()),
        ("phone", c.phone.is_some()),
        ("department", c.department.is_some()),
        (if put { "settings" } else { "settings(merge)" }, settings),
        ("schedule", c.schedule.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect::<Vec<_>>()
    .join(",")
}

fn object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(Error::Invalid("Request body must be a JSON object".into())),
    }
}

/// A present field must be a string.
fn string(value: Option<&Value>, field: &str) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::Invalid(format!("{field} must be a string"))),
    }
}

/// `department`: a string, or null to clear it.
fn department(value: Option<&Value>) -> Result<Option<Option<String>>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => {
            let d = string(Some(v), "department")?.unwrap_or_default();
            let d = optional_text("department", &d, 200)?;
            Ok(Some((!d.is_empty()).then_some(d)))
        }
    }
}

/// Check the preferences we understand; unknown keys are kept as sent.
///
/// `theme` in [`THEMES`]; `thresholds.warningVal`/`safeVal` numbers 0..=100;
/// `faceSettings.sensitivity` 50..=99 and `liveness` boolean; every `notifications.*` a boolean,
/// except `notifications.email`, which may also be an object of boolean switches;
/// `lateAfterMinutes` an integer 0..=120.
pub fn check_settings(v: &Value) -> Result<()> {
    let bad = |m: String| Err(Error::Invalid(m));
    let Some(obj) = v.as_object() else {
        return bad("settings must be an object".into());
    };
    if v.to_string().len() > MAX_SETTINGS_BYTES {
        return bad(format!(
            "settings must be at most {MAX_SETTINGS_BYTES} bytes of JSON"
        ));
    }
    if let Some(t) = obj.get("theme")
        && !t.as_str().is_some_and(|t| THEMES.contains(&t))
    {
        return bad(format!(
            "settings.theme must be one of {}",
            THEMES.join(", ")
        ));
    }
    let section = |key: &str| -> Result<Option<&Map<String, Value>>> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(Error::Invalid(format!("settings.{key} must be an object"))),
        }
    };
    let in_range =
        |m: &Map<String, Value>, path: &str, key: &str, lo: f64, hi: f64| -> Result<()> {
            match m.get(key) {
                None => Ok(()),
                Some(n) if n.as_f64().is_some_and(|n| (lo..=hi).contains(&n)) => Ok(()),
                Some(_) => Err(Error::Invalid(format!(
                    "settings.{path}.{key} must be a number from {lo} to {hi}"
                ))),
            }
        };
    if let Some(t) = section("thresholds")? {
        in_range(t, "thresholds", "warningVal", 0.0, 100.0)?;
        in_range(t, "thresholds", "safeVal", 0.0, 100.0)?;
    }
    if let Some(f) = section("faceSettings")? {
        in_range(f, "faceSettings", "sensitivity", 50.0, 99.0)?;
        if f.get("liveness").is_some_and(|l| !l.is_boolean()) {
            return bad("settings.faceSettings.liveness must be true or false".into());
        }
    }
    if let Some(n) = section("notifications")? {
        for (key, value) in n {
            let ok = match value {
                Value::Bool(_) => true,
                Value::Object(switches) if key == "email" => {
                    switches.values().all(Value::is_boolean)
                }
                _ => false,
            };
            if !ok {
                return bad(if key == "email" {
                    "settings.notifications.email must be true, false or an object of true/false switches".into()
                } else {
                    format!("settings.notifications.{key} must be true or false")
                });
            }
        }
    }
    if let Some(l) = obj.get("lateAfterMinutes")
        && l.as_u64().is_none_or(|l| l > 120)
    {
        return bad("settings.lateAfterMinutes must be a whole number from 0 to 120".into());
    }
    Ok(())
}

/// Merge `patch` into `base`: objects key by key (recursively), anything else replaced.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v);
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// A stored JSON column, or `fallback` when it is unset or unreadable.
#[must_use]
pub fn json_or(stored: Option<&str>, fallback: Value) -> Value {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_what_the_patch_does_not_mention() {
        let mut stored = default_settings();
        stored["emailPreferences"] = json!({"weekly": true});
        deep_merge(
            &mut stored,
            &json!({"theme": "Dark", "thresholds": {"warningVal": 60}, "extra": [1]}),
        );
        assert_eq!(stored["theme"], "Dark");
        assert_eq!(
            stored["thresholds"],
            json!({"warningVal": 60, "safeVal": 85})
        );
        assert_eq!(stored["emailPreferences"], json!({"weekly": true}));
        assert_eq!(stored["extra"], json!([1]));
    }

    #[test]
    fn settings_rules() {
        let ok = |v: Value| check_settings(&v).is_ok();
        assert!(ok(default_settings()));
        assert!(ok(
            json!({"theme": "Cyber", "unknown": {"x": 1}, "lateAfterMinutes": 120,
            "notifications": {"email": {"absence": true}, "push": false}})
        ));
        assert!(ok(json!({"notifications": {"email": false}})));
        for bad in [
            json!([]),
            json!({"theme": "Pink"}),
            json!({"theme": 1}),
            json!({"thresholds": {"warningVal": 101}}),
            json!({"thresholds": {"safeVal": "85"}}),
            json!({"thresholds": 5}),
            json!({"faceSettings": {"sensitivity": 49}}),
            json!({"faceSettings": {"sensitivity": 100}}),
            json!({"faceSettings": {"liveness": "yes"}}),
            json!({"notifications": {"push": "on"}}),
            json!({"notifications": {"email": {"absence": 1}}}),
            json!({"lateAfterMinutes": 121}),
            json!({"lateAfterMinutes": -1}),
            json!({"lateAfterMinutes": 5.5}),
        ] {
            assert!(!ok(bad.clone()), "{bad} should be refused");
        }
    }
}
