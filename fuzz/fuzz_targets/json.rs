//! Arbitrary bytes as the JSON bodies the API reads: every typed request body, and as a free
//! JSON value the checks that take one (the settings schedule and preferences, the mark
//! body's base64/data-URL image), then every string in it through the small text parsers
//! (ids, e-mails, dates, times, weekdays, upload names, CSV cells).
//!
//! Must never panic; a refused schedule is a 422 (`Error::Invalid`), nothing else.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use rollcall::api::{admin, attendance, auth, students, subjects};
use rollcall::domain::{Email, Id, Role};
use rollcall::service::schedule::{self, ClockTime, Schedule};
use rollcall::service::{Error, avatars, teachers};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An id of the calling teacher's own subjects.
const OWN: &str = "0123456789abcdef01234567";

fn typed<T: DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

/// Ask a checked or stored schedule about a few days: its own dates and a fixed week.
fn exercise(s: &Schedule) {
    let mut dates: Vec<time::Date> = s
        .holidays
        .iter()
        .flat_map(|h| [&h.date, &h.from, &h.to])
        .flatten()
        .chain(s.exams.iter().map(|e| &e.date))
        .filter_map(|d| schedule::parse_date(d))
        .take(8)
        .collect();
    if let Ok(monday) = time::Date::from_calendar_date(2026, time::Month::November, 30) {
        dates.extend((0..7).filter_map(|d| monday.checked_add(time::Duration::days(d))));
    }
    for date in dates {
        let day = s.day(date);
        for p in &day.periods {
            let _ = p.is_of(OWN);
        }
        for t in [(0, 0), (9, 30), (23, 59)] {
            if let Some(t) = ClockTime::from_hm(t.0, t.1) {
                let _ = s.at(date, t);
            }
        }
    }
    let _ = s.slots_of(OWN, "teacher");
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k);
            strings(v, out);
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    typed::<attendance::ConfirmRequest>(data);
    typed::<attendance::CorrectionRequest>(data);
    typed::<attendance::AssignRequest>(data);
    typed::<auth::RegisterRequest>(data);
    typed::<auth::LoginRequest>(data);
    typed::<auth::ResetRequest>(data);
    typed::<admin::CreateUserRequest>(data);
    typed::<students::CreateStudentRequest>(data);
    typed::<students::UpdateStudentRequest>(data);
    typed::<subjects::SubjectRequest>(data);
    typed::<subjects::AddStudentsRequest>(data);

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = teachers::json_or(Some(text), teachers::default_settings());
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    // PUT /settings: the schedule is checked, then stored as sent and read back unchecked.
    let own: HashSet<String> = [OWN.to_owned()].into();
    match schedule::validate(&value, &own) {
        Ok(s) => exercise(&s),
        Err(Error::Invalid(_)) => {}
        Err(e) => panic!("schedule refused with a non-422 error: {e:?}"),
    }
    exercise(&schedule::from_stored(&value));
    for key in ["schedule", "settings"] {
        if let Some(v) = value.get(key) {
            let _ = schedule::validate(v, &own);
            let _ = teachers::check_settings(v);
        }
    }

    // PATCH /settings: preferences are checked and deep-merged into the stored ones.
    let _ = teachers::check_settings(&value);
    let mut merged = teachers::default_settings();
    teachers::deep_merge(&mut merged, &value);
    let _ = teachers::check_settings(&merged);

    // POST /mark's JSON body: the image as a data URL or bare base64.
    if let Some(image) = value.get("image").and_then(Value::as_str) {
        let _ = rollcall::service::attendance::decode_image(image);
    }

    let mut all = Vec::new();
    strings(&value, &mut all);
    for s in all.into_iter().take(64) {
        let _ = Id::parse(s);
        let _ = Email::parse(s);
        let _ = Role::parse(s);
        let _ = schedule::parse_date(s);
        let _ = schedule::parse_weekday(s);
        let _ = ClockTime::parse(s);
        let _ = rollcall::service::attendance::csv_field(s);
        let _ = rollcall::service::attendance::decode_image(s);
        let (name, kind) = s.split_once('\n').unwrap_or((s, s));
        let _ = avatars::check_upload(name, kind);
    }
});
