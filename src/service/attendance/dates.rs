//! Which session a photo or confirmation is for: its date (today in the school's time zone
//! unless given, and a real school day) and its slot (from the subject's teachers'
//! timetables, which also make a day a holiday or an exam day); and the dates a query may name.
//! The timetables themselves are [`crate::service::schedule`]'s.

use crate::domain::Id;
use crate::service::schedule::{ClockTime, parse_date};
use crate::service::{Error, Result};
use crate::storage::Conn;

/// The school's date and wall-clock time at `unix` (seconds since the epoch): the machine's
/// time zone (`TZ` overrides it).
#[must_use]
pub fn local_at(unix: i64) -> (time::Date, ClockTime) {
    use chrono::{Datelike, TimeZone, Timelike};
    let now = chrono::Local
        .timestamp_opt(unix, 0)
        .single()
        .unwrap_or_else(chrono::Local::now);
    let date = time::Month::try_from(u8::try_from(now.month()).unwrap_or(1))
        .ok()
        .and_then(|m| {
            time::Date::from_calendar_date(now.year(), m, u8::try_from(now.day()).unwrap_or(1)).ok()
        })
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let clock = ClockTime::from_hm(
        u8::try_from(now.hour()).unwrap_or(0),
        u8::try_from(now.minute()).unwrap_or(0),
    )
    .unwrap_or_else(|| ClockTime::from_hm(0, 0).unwrap_or_else(|| unreachable!()));
    (date, clock)
}

/// The session a photo or confirmation is for: `date` (default: the day of `at` in the school's
/// time zone) and `slot` (default: the subject's period running now in its teachers' timetables,
/// else its only period that day, else 0). A day that the timetables make a holiday or an exam
/// day without a period of this subject is refused (422): no attendance is taken then.
pub(crate) fn session_of(
    conn: &Conn<'_>,
    subject: &Id,
    date: Option<&str>,
    slot: Option<i64>,
    at: i64,
) -> Result<(String, i64)> {
    let (today, now) = local_at(at);
    let day = match date.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => {
            parse_date(d).ok_or_else(|| Error::Invalid("date must be a date YYYY-MM-DD".into()))?
        }
        None => today,
    };
    check_session_day(day, today)?;
    if let Some(s) = slot
        && !(0..=99).contains(&s)
    {
        return Err(Error::Invalid("slot must be between 0 and 99".into()));
    }
    let mut schedules = Vec::new();
    for t in crate::storage::subjects::teacher_ids(conn, subject)? {
        let stored = crate::storage::users::teacher_profile(conn, &t)?
            .and_then(|p| p.schedule)
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok());
        if let Some(v) = stored {
            schedules.push(crate::service::schedule::from_stored(&v));
        }
    }
    let days: Vec<_> = schedules.iter().map(|s| s.day(day)).collect();
    let periods: Vec<_> = days
        .iter()
        .flat_map(|d| d.periods.iter())
        .filter(|p| p.is_of(subject.as_str()))
        .collect();
    if periods.is_empty() {
        let off = days.iter().find_map(|d| {
            d.holiday
                .as_ref()
                .map(|h| ("a holiday", h))
                .or_else(|| d.exam.as_ref().map(|e| ("an exam day", e)))
        });
        if let Some((what, name)) = off {
            let named = if name.is_empty() {
                String::new()
            } else {
                format!(" ({name})")
            };
            return Err(Error::Invalid(format!(
                "{} is {what}{named} in the timetable: no attendance is taken",
                format_date(day)
            )));
        }
    }
    let slot = slot.unwrap_or_else(|| {
        let running = (day == today)
            .then(|| {
                periods.iter().find(|p| {
                    matches!((ClockTime::parse(&p.start), ClockTime::parse(&p.end)),
                        (Some(a), Some(b)) if a <= now && now < b)
                })
            })
            .flatten();
        let mut slots: Vec<u32> = periods.iter().map(|p| p.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        match (running, slots.as_slice()) {
            (Some(p), _) => i64::from(p.slot),
            (None, [only]) => i64::from(*only),
            _ => 0,
        }
    });
    Ok((format_date(day), slot))
}

/// The first day attendance may be recorded for.
const FIRST_SESSION_DAY: time::Date = time::macros::date!(2000 - 01 - 01);

/// A session's day is a real school day: not before [`FIRST_SESSION_DAY`] and not after
/// tomorrow (one day of slack for a laptop whose clock or time zone is off).
fn check_session_day(day: time::Date, today: time::Date) -> Result<()> {
    let latest = today.next_day().unwrap_or(today);
    if day < FIRST_SESSION_DAY || day > latest {
        return Err(Error::Invalid(format!(
            "date must be between {} and {} (attendance is not recorded ahead of time)",
            format_date(FIRST_SESSION_DAY),
            format_date(latest)
        )));
    }
    Ok(())
}

fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub(super) fn check_date(field: &str, raw: &str) -> Result<String> {
    parse_date(raw.trim())
        .map(format_date)
        .ok_or_else(|| Error::Invalid(format!("{field} must be a date YYYY-MM-DD")))
}

/// Optional `from`/`to` query dates (blank = open), each checked: 422 naming the bad one.
pub(super) fn date_range(
    from: Option<String>,
    to: Option<String>,
) -> Result<(Option<String>, Option<String>)> {
    let check = |field: &str, d: Option<String>| {
        d.filter(|d| !d.trim().is_empty())
            .map(|d| check_date(field, &d))
            .transpose()
    };
    Ok((check("from", from)?, check("to", to)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_days_are_real_school_days() {
        use time::macros::date;
        let today = date!(2026 - 12 - 06);
        assert!(check_session_day(today, today).is_ok());
        assert!(
            check_session_day(date!(2026 - 12 - 07), today).is_ok(),
            "tomorrow: slack"
        );
        assert!(check_session_day(date!(2026 - 12 - 08), today).is_err());
        assert!(check_session_day(date!(2000 - 01 - 01), today).is_ok());
        assert!(check_session_day(date!(1999 - 12 - 31), today).is_err());
        assert!(check_session_day(date!(0000 - 01 - 01), today).is_err());
        assert!(check_session_day(date!(9999 - 12 - 31), today).is_err());
    }
}
