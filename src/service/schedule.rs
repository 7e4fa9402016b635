//! A teacher's schedule (the seed's Schedule model): checking one before it is stored, and
//! answering "which period is it now, and is today a holiday or an exam day?" for attendance.
//!
//! The stored JSON is kept exactly as the client sent it (unknown keys included); the typed
//! structs here read the parts we understand. Validation is stricter than the seed's: weekdays,
//! clock times, overlaps, duplicate slots, real dates, the teacher's own subjects and sizes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use time::{Date, Month, Weekday};

use super::{Error, Result};

/// Most periods on one weekday (or one holiday/exam day).
pub const MAX_PERIODS_PER_DAY: usize = 24;
/// Most timetable entries (one per weekday; a repeated weekday counts twice).
pub const MAX_DAYS: usize = 7;
/// Most holidays, and most exam days.
pub const MAX_DATED: usize = 366;
/// Longest holiday range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Most `meta` entries.
pub const MAX_META: usize = 100;
/// Longest free-text field (names, rooms, notes, meta values).
pub const MAX_TEXT: usize = 1000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Schedule {
    #[serde(default)]
    pub timetable: Vec<DailySchedule>,
    #[serde(default)]
    pub recurring: Option<Recurring>,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    #[serde(default)]
    pub exams: Vec<ExamOverride>,
    #[serde(default)]
    pub meta: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Recurring {
    #[serde(default)]
    pub weekly: Vec<DailySchedule>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DailySchedule {
    pub day: String,
    #[serde(default)]
    pub periods: Vec<Period>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Period {
    pub slot: u32,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub metadata: Option<ClassMetadata>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClassMetadata {
    #[serde(default)]
    pub subject_id: Option<String>,
    #[serde(default)]
    pub subject_name: Option<String>,
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub teacher_id: Option<String>,
    #[serde(default = "yes")]
    pub tracked: bool,
}

const fn yes() -> bool {
    true
}

/// One day off (`date`) or a range of days (`from`..=`to`).
#[derive(Debug, Clone, Deserialize)]
pub struct Holiday {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub all_day: bool,
    #[serde(default)]
    pub notes: Option<String>,
    /// Periods held anyway on the holiday (replace the timetable for that day).
    #[serde(default)]
    pub overrides: Option<Vec<Period>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExamOverride {
    pub date: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The exam day's periods (replace the timetable for that day).
    #[serde(default)]
    pub periods: Option<Vec<Period>>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// A wall-clock time of day, minutes since midnight (00:00..=23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// Parse `HH:MM` (two digits each, 00:00..=23:59).
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
        let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
        (h < 24 && m < 60).then_some(Self(h * 60 + m))
    }

    #[must_use]
    pub fn from_hm(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self(u16::from(hour) * 60 + u16::from(minute)))
    }

    #[must_use]
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Parse `YYYY-MM-DD` as a real calendar date.
#[must_use]
pub fn parse_date(raw: &str) -> Option<Date> {
    let b = raw.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) {
        return None;
    }
    if !digits(8..10) {
        return None;
    }
    let year: i32 = raw[0..4].parse().ok()?;
    let month: u8 = raw[5..7].parse().ok()?;
    let day: u8 = raw[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// `Monday`..`Sunday`, any letter case.
#[must_use]
pub fn parse_weekday(raw: &str) -> Option<Weekday> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(format!("Invalid schedule: {}", msg.into()))
}

/// Check a schedule object as sent by a client. `own_subjects` are the ids of the subjects the
/// teacher teaches; a period naming any other `metadata.subject_id` is refused.
///
/// Errors are [`Error::Invalid`] (422) with a detail naming the problem.
pub fn validate(raw: &Value, own_subjects: &HashSet<String>) -> Result<Schedule> {
    let schedule: Schedule =
        serde_json::from_value(raw.clone()).map_err(|e| invalid(e.to_string()))?;
    schedule.check(own_subjects)?;
    Ok(schedule)
}

/// The schedule with every period that repeats an earlier one of the same day apart from its
/// `slot` (same times, same metadata) left out, and how many were. The seed's schedule editor
/// adds each new period at 12:00-13:00 and numbers the periods itself, so two added and left
/// as they were arrive as two slots at the same time; they are one period, and nothing is lost
/// by keeping one. Weekly lists (`timetable`, `recurring.weekly`, a weekday listed twice
/// counting as one day), holiday `overrides` and exam `periods` are covered; anything else is
/// returned as it is, for [`validate`] to judge.
#[must_use]
pub fn without_duplicate_periods(raw: &Value) -> (Value, usize) {
    let mut out = raw.clone();
    let mut dropped = 0;
    let Some(obj) = out.as_object_mut() else {
        return (out, 0);
    };
    let weekly = |days: Option<&mut Value>, dropped: &mut usize| {
        let Some(days) = days.and_then(Value::as_array_mut) else {
            return;
        };
        let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
        for d in days.iter_mut() {
            let key = d
                .get("day")
                .and_then(Value::as_str)
                .map(|n| parse_weekday(n).map_or_else(|| n.to_owned(), |w| w.to_string()));
            let (Some(key), Some(periods)) = (key, d.get_mut("periods")) else {
                continue;
            };
            *dropped += drop_repeats(periods, seen.entry(key).or_default());
        }
    };
    weekly(obj.get_mut("timetable"), &mut dropped);
    weekly(
        obj.get_mut("recurring").and_then(|r| r.get_mut("weekly")),
        &mut dropped,
    );
    for (list, field) in [("holidays", "overrides"), ("exams", "periods")] {
        if let Some(entries) = obj.get_mut(list).and_then(Value::as_array_mut) {
            for e in entries {
                if let Some(periods) = e.get_mut(field) {
                    dropped += drop_repeats(periods, &mut Vec::new());
                }
            }
        }
    }
    (out, dropped)
}

/// Leave out of the `periods` array the periods equal, `slot` aside, to one in `seen` or to an
/// earlier one; the number left out.
fn drop_repeats(periods: &mut Value, seen: &mut Vec<Value>) -> usize {
    let Some(list) = periods.as_array_mut() else {
        return 0;
    };
    let before = list.len();
    list.retain(|p| {
        let mut key = p.clone();
        if let Some(o) = key.as_object_mut() {
            o.remove("slot");
        }
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    before - list.len()
}

/// Read a stored schedule without the checks (`null` and unreadable values are empty).
#[must_use]
/// One weekly period a subject occupies in a teacher's timetable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubjectSlot {
    #[schema(value_type = crate::domain::Id)]
    pub teacher_id: String,
    pub day: String,
    pub slot: u32,
    pub start: String,
    pub end: String,
    pub room: Option<String>,
}

impl Schedule {
    /// The weekly periods (timetable and recurring) whose metadata names `subject_id`.
    #[must_use]
    pub fn slots_of(&self, subject_id: &str, teacher_id: &str) -> Vec<SubjectSlot> {
        let weekly = self.recurring.iter().flat_map(|r| r.weekly.iter());
        let mut out: Vec<SubjectSlot> = self
            .timetable
            .iter()
            .chain(weekly)
            .flat_map(|d| d.periods.iter().map(move |p| (d, p)))
            .filter(|(_, p)| {
                p.metadata
                    .as_ref()
                    .and_then(|m| m.subject_id.as_deref())
                    .is_some_and(|s| s == subject_id)
            })
            .map(|(d, p)| SubjectSlot {
                teacher_id: teacher_id.to_owned(),
                day: d.day.clone(),
                slot: p.slot,
                start: p.start.clone(),
                end: p.end.clone(),
                room: p.metadata.as_ref().and_then(|m| m.room.clone()),
            })
            .collect();
        out.dedup();
        out
    }
}

pub fn from_stored(raw: &Value) -> Schedule {
    serde_json::from_value(raw.clone()).unwrap_or_default()
}

impl Schedule {
    fn check(&self, own_subjects: &HashSet<String>) -> Result<()> {
        check_days("timetable", &self.timetable, own_subjects)?;
        if let Some(r) = &self.recurring {
            check_days("recurring.weekly", &r.weekly, own_subjects)?;
        }
        if self.holidays.len() > MAX_DATED {
            return Err(invalid(format!("at most {MAX_DATED} holidays")));
        }
        for (i, h) in self.holidays.iter().enumerate() {
            let at = format!("holidays[{i}]");
            h.range(&at)?;
            text(&at, "name", h.name.as_deref())?;
            text(&at, "notes", h.notes.as_deref())?;
            if let Some(periods) = &h.overrides {
                check_periods(&format!("{at}.overrides"), periods, own_subjects)?;
            }
        }
        if self.exams.len() > MAX_DATED {
            return Err(invalid(format!("at most {MAX_DATED} exam days")));
        }
        for (i, e) in self.exams.iter().enumerate() {
            let at = format!("exams[{i}]");
            parse_date(&e.date).ok_or_else(|| {
                invalid(format!("{at}.date {:?} is not a date (YYYY-MM-DD)", e.date))
            })?;
            text(&at, "name", e.name.as_deref())?;
            text(&at, "notes", e.notes.as_deref())?;
            if let Some(periods) = &e.periods {
                check_periods(&format!("{at}.periods"), periods, own_subjects)?;
            }
        }
        if let Some(meta) = &self.meta {
            if meta.len() > MAX_META {
                return Err(invalid(format!("at most {MAX_META} meta entries")));
            }
            for (k, v) in meta {
                text("meta", k, Some(v))?;
            }
        }
        Ok(())
    }

    /// The periods held on `date`, in order of precedence: a holiday's `overrides` (an all-day
    /// holiday without overrides has none), an exam day's own `periods` (none when it lists
    /// none: exams replace the timetable), the `timetable` entries for that weekday, and else
    /// `recurring.weekly`'s.
    #[must_use]
    pub fn day(&self, date: Date) -> Day<'_> {
        let holiday = self.holidays.iter().find(|h| {
            h.range("")
                .is_ok_and(|(from, to)| from <= date && date <= to)
        });
        let exam = self
            .exams
            .iter()
            .find(|e| parse_date(&e.date) == Some(date));
        let weekday = date.weekday();
        let periods: Vec<&Period> = match (holiday, exam) {
            (Some(h), _) if h.overrides.as_ref().is_some_and(|o| !o.is_empty()) => {
                h.overrides.iter().flatten().collect()
            }
            (Some(h), _) if h.all_day => Vec::new(),
            // An exam day overrides the timetable: only its own periods (if any) are held.
            (_, Some(e)) => e.periods.iter().flatten().collect(),
            _ => {
                let regular = periods_of(&self.timetable, weekday);
                if regular.is_empty() {
                    self.recurring
                        .as_ref()
                        .map(|r| periods_of(&r.weekly, weekday))
                        .unwrap_or_default()
                } else {
                    regular
                }
            }
        };
        Day {
            holiday: holiday.map(|h| h.name.clone().unwrap_or_default()),
            exam: exam.map(|e| e.name.clone().unwrap_or_default()),
            periods,
        }
    }

    /// What the schedule says about `date` at `time` (see [`Schedule::day`]).
    #[must_use]
    pub fn at(&self, date: Date, time: ClockTime) -> Moment {
        let day = self.day(date);
        let period = day.periods.iter().find_map(|p| {
            let (start, end) = (ClockTime::parse(&p.start)?, ClockTime::parse(&p.end)?);
            (start <= time && time < end).then(|| CurrentPeriod {
                slot: p.slot,
                start,
                end,
                subject_id: p.metadata.as_ref().and_then(|m| m.subject_id.clone()),
                tracked: p.metadata.as_ref().is_none_or(|m| m.tracked),
            })
        });
        Moment {
            weekday: date.weekday(),
            period,
            holiday: day.holiday,
            exam: day.exam,
        }
    }
}

/// The answer of [`Schedule::day`].
#[derive(Debug, Clone)]
pub struct Day<'a> {
    /// The holiday's name (empty when unnamed) if the date is a holiday.
    pub holiday: Option<String>,
    /// The exam's name (empty when unnamed) if the date is an exam day.
    pub exam: Option<String>,
    /// The periods held that day.
    pub periods: Vec<&'a Period>,
}

impl Period {
    /// Whether the period's metadata names `subject_id`.
    #[must_use]
    pub fn is_of(&self, subject_id: &str) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.subject_id.as_deref())
            .is_some_and(|s| s == subject_id)
    }
}

/// The answer of [`Schedule::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub weekday: Weekday,
    /// The period running at that time, if any.
    pub period: Option<CurrentPeriod>,
    /// The holiday's name (empty when unnamed) if the date is a holiday.
    pub holiday: Option<String>,
    /// The exam's name (empty when unnamed) if the date is an exam day.
    pub exam: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPeriod {
    pub slot: u32,
    pub start: ClockTime,
    pub end: ClockTime,
    pub subject_id: Option<String>,
    pub tracked: bool,
}

impl Holiday {
    /// The first and last day off.
    fn range(&self, at: &str) -> Result<(Date, Date)> {
        let date = |field: &str, raw: &str| {
            parse_date(raw)
                .ok_or_else(|| invalid(format!("{at}.{field} {raw:?} is not a date (YYYY-MM-DD)")))
        };
        match (&self.date, &self.from, &self.to) {
            (Some(d), None, None) => {
                let d = date("date", d)?;
                Ok((d, d))
            }
            (None, Some(from), Some(to)) => {
                let (from, to) = (date("from", from)?, date("to", to)?);
                if to < from {
                    return Err(invalid(format!("{at}: to is before from")));
                }
                if (to - from).whole_days() >= MAX_RANGE_DAYS {
                    return Err(invalid(format!(
                        "{at}: a holiday range spans at most {MAX_RANGE_DAYS} days"
                    )));
                }
                Ok((from, to))
            }
            _ => Err(invalid(format!(
                "{at} needs either date or both from and to"
            ))),
        }
    }
}

/// The periods of every entry for `weekday`.
fn periods_of(days: &[DailySchedule], weekday: Weekday) -> Vec<&Period> {
    days.iter()
        .filter(|d| parse_weekday(&d.day) == Some(weekday))
        .flat_map(|d| &d.periods)
        .collect()
}

fn text(at: &str, field: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT => Err(invalid(format!(
            "{at}.{field} must be at most {MAX_TEXT} characters"
        ))),
        _ => Ok(()),
    }
}

fn check_days(at: &str, days: &[DailySchedule], own_subjects: &HashSet<String>) -> Result<()> {
    if days.len() > MAX_DAYS {
        return Err(invalid(format!("{at} has at most {MAX_DAYS} days")));
    }
    // A weekday listed twice is one day: its periods are checked together.
    let mut by_day: BTreeMap<u8, Vec<Period>> = BTreeMap::new();
    for (i, d) in days.iter().enumerate() {
        let weekday = parse_weekday(&d.day).ok_or_else(|| {
            invalid(format!(
                "{at}[{i}].day {:?} is not a weekday (Monday..Sunday)",
                d.day
            ))
        })?;
        by_day
            .entry(weekday.number_from_monday())
            .or_default()
            .extend(d.periods.iter().cloned());
    }
    for (n, periods) in &by_day {
        let name = Weekday::Sunday.nth_next(*n);
        check_periods(&format!("{at} {name}"), periods, own_subjects)?;
    }
    Ok(())
}

fn check_periods(at: &str, periods: &[Period], own_subjects: &HashSet<String>) -> Result<()> {
    if periods.len() > MAX_PERIODS_PER_DAY {
        return Err(invalid(format!(
            "{at} has more than {MAX_PERIODS_PER_DAY} periods"
        )));
    }
    let mut spans = Vec::with_capacity(periods.len());
    let mut slots = HashSet::new();
    for p in periods {
        let time = |field: &str, raw: &str| {
            ClockTime::parse(raw).ok_or_else(|| {
                invalid(format!(
                    "{at} slot {}: {field} {raw:?} is not a time (HH:MM, 00:00-23:59)",
                    p.slot
                ))
            })
        };
        let (start, end) = (time("start", &p.start)?, time("end", &p.end)?);
        if end <= start {
            return Err(invalid(format!(
                "{at} slot {}: end {end} is not after start {start}",
                p.slot
            )));
        }
        if !slots.insert(p.slot) {
            return Err(invalid(format!("{at}: slot {} appears twice", p.slot)));
        }
        if let Some(m) = &p.metadata {
            let here = format!("{at} slot {}", p.slot);
            if let Some(id) = &m.subject_id
                && !own_subjects.contains(&id.to_ascii_lowercase())
            {
                return Err(invalid(format!(
                    "{here}: unknown subject {id:?} (not one of your subjects)"
                )));
            }
            for (field, value) in [
                ("subject_name", &m.subject_name),
                ("room", &m.room),
                ("teacher_id", &m.teacher_id),
            ] {
                text(&here, field, value.as_deref())?;
            }
        }
        spans.push((start, end, p.slot));
    }
    spans.sort();
    for w in spans.windows(2) {
        let ((a_start, a_end, a), (b_start, b_end, b)) = (w[0], w[1]);
        if b_start < a_end {
            return Err(invalid(format!(
                "{at}: slots {a} ({a_start}-{a_end}) and {b} ({b_start}-{b_end}) overlap; \
                 give each period its own time, or delete one"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    const MATHS: &str = "65f0c0ffee0000000000a001";

    fn own() -> HashSet<String> {
        HashSet::from([MATHS.to_owned()])
    }

    fn detail(raw: &Value) -> String {
        match validate(raw, &own()) {
            Err(Error::Invalid(d)) => d,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn day(name: &str, periods: &Value) -> Value {
        json!({"timetable": [{"day": name, "periods": periods}]})
    }

    #[test]
    fn frontend_schedule_is_accepted() {
        let raw = json!({"timetable": [{"day": "Monday", "periods": [{"slot": 1, "start": "09:00", "end": "10:00",
            "metadata": {"subject_name": "Maths", "room": "B12", "teacher": "Self", "tracked": true}}]}],
            "recurring": null, "holidays": [], "exams": [], "meta": {}});
        let s = validate(&raw, &HashSet::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.timetable[0].periods[0].slot, 1);
        assert!(validate(&json!({}), &HashSet::new()).is_ok());
    }

    #[test]
    fn clock_times_and_dates() {
        assert_eq!(ClockTime::parse("00:00").map(ClockTime::minutes), Some(0));
        assert_eq!(
            ClockTime::parse("23:59").map(ClockTime::minutes),
            Some(1439)
        );
        for bad in ["24:00", "9:00", "09:60", "0900", "09:00 ", "ab:cd", "+9:00"] {
            assert!(ClockTime::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_date("2024-02-29"), Some(date!(2024 - 02 - 29)));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-32",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_weekday("tUeSdAy"), Some(Weekday::Tuesday));
        assert_eq!(parse_weekday("Funday"), None);
    }

    #[test]
    fn bad_periods_are_named() {
        let d = detail(&day("Funday", &json!([])));
        assert!(d.contains("Funday") && d.contains("weekday"), "{d}");
        let d = detail(&day(
            "monday",
            &json!([{"slot": 1, "start": "10:00", "end": "09:00"}]),
        ));
        assert!(d.contains("not after start"), "{d}");
        let d = detail(&day(
            "Monday",
            &json!([{"slot": 1, "start": "9:00", "end": "10:00"}]),
        ));
        assert!(d.contains("not a time"), "{d}");
        let d = detail(&day(
            "Monday",
            &json!([
            {"slot": 1, "start": "09:00", "end": "10:00"},
            {"slot": 2, "start": "09:30", "end": "10:30"}]),
        ));
        assert!(d.contains("overlap"), "{d}");
        let d = detail(&day(
            "Monday",
            &json!([
            {"slot": 1, "start": "09:00", "end": "10:00"},
            {"slot": 1, "start": "10:00", "end": "11:00"}]),
        ));
        assert!(d.contains("twice"), "{d}");
        // Back-to-back periods are fine.
        assert!(
            validate(
                &day(
                    "Monday",
                    &json!([
            {"slot": 1, "start": "09:00", "end": "10:00"},
            {"slot": 2, "start": "10:00", "end": "11:00"}])
                ),
                &own()
            )
            .is_ok()
        );
    }

    #[test]
    fn periods_repeated_apart_from_their_slot_are_left_out() {
        let p = |slot: u32, room: &str| json!({"slot": slot, "start": "12:00", "end": "13:00", "metadata": {"room": room}});
        let raw = json!({"timetable": [
                {"day": "Monday", "periods": [p(1, "A"), p(2, "A"), p(3, "B")]},
                {"day": "monday", "periods": [p(4, "A")]},
                {"day": "Tuesday", "periods": [p(1, "A")]}],
            "recurring": {"weekly": [{"day": "Friday", "periods": [p(1, "A"), p(2, "A")]}]},
            "holidays": [{"date": "2026-01-01", "overrides": [p(1, "A"), p(2, "A")]}],
            "exams": [{"date": "2026-01-02", "periods": [p(1, "A"), p(5, "A")]}],
            "extra": [p(1, "A"), p(2, "A")]});
        let (out, dropped) = without_duplicate_periods(&raw);
        assert_eq!(dropped, 5);
        assert_eq!(
            out,
            json!({"timetable": [
                    {"day": "Monday", "periods": [p(1, "A"), p(3, "B")]},
                    {"day": "monday", "periods": []},
                    {"day": "Tuesday", "periods": [p(1, "A")]}],
                "recurring": {"weekly": [{"day": "Friday", "periods": [p(1, "A")]}]},
                "holidays": [{"date": "2026-01-01", "overrides": [p(1, "A")]}],
                "exams": [{"date": "2026-01-02", "periods": [p(1, "A")]}],
                "extra": [p(1, "A"), p(2, "A")]})
        );
        // What is left is still checked: rooms A and B at the same time overlap.
        assert!(detail(&out).contains("overlap"));
        // Not an object, or lists of the wrong type: returned as they are.
        for odd in [
            json!([1]),
            json!({"timetable": "Monday"}),
            json!({"timetable": [{"day": 1}]}),
        ] {
            assert_eq!(without_duplicate_periods(&odd), (odd.clone(), 0));
        }
    }

    #[test]
    fn a_weekday_listed_twice_is_checked_as_one_day() {
        let raw = json!({"timetable": [
            {"day": "Monday", "periods": [{"slot": 1, "start": "09:00", "end": "10:00"}]},
            {"day": "MONDAY", "periods": [{"slot": 2, "start": "09:30", "end": "10:30"}]}]});
        assert!(detail(&raw).contains("overlap"));
    }

    #[test]
    fn subjects_must_be_the_teachers_own() {
        let with = |id: &str| {
            day(
                "Monday",
                &json!([{"slot": 1, "start": "09:00", "end": "10:00",
            "metadata": {"subject_id": id}}]),
            )
        };
        assert!(validate(&with(MATHS), &own()).is_ok());
        assert!(validate(&with(&MATHS.to_uppercase()), &own()).is_ok());
        let d = detail(&with("65f0c0ffee0000000000a002"));
        assert!(d.contains("unknown subject"), "{d}");
    }

    #[test]
    fn holidays_and_exams() {
        assert!(validate(&json!({"holidays": [{"date": "2025-12-25", "name": "Xmas"},
            {"from": "2025-12-26", "to": "2026-01-02"}],
            "exams": [{"date": "2026-03-02", "periods": [{"slot": 1, "start": "09:00", "end": "12:00"}]}]}),
            &own()).is_ok());
        assert!(detail(&json!({"holidays": [{"date": "2025-02-30"}]})).contains("not a date"));
        assert!(
            detail(&json!({"holidays": [{"from": "2025-02-03", "to": "2025-02-01"}]}))
                .contains("before")
        );
        assert!(detail(&json!({"holidays": [{"name": "x"}]})).contains("either date"));
        assert!(detail(&json!({"exams": [{"date": "tomorrow"}]})).contains("not a date"));
        assert!(detail(&json!({"exams": [{"name": "no date"}]})).contains("date"));
    }

    #[test]
    fn sizes_are_bounded() {
        let periods: Vec<Value> = (0..25)
            .map(|i| json!({"slot": i, "start": "00:00", "end": "00:01"}))
            .collect();
        assert!(detail(&day("Monday", &json!(periods))).contains("more than 24"));
        let days: Vec<Value> = (0..8).map(|_| json!({"day": "Monday"})).collect();
        assert!(detail(&json!({"timetable": days})).contains("at most 7"));
        let holidays: Vec<Value> = (0..367).map(|_| json!({"date": "2025-01-01"})).collect();
        assert!(detail(&json!({"holidays": holidays})).contains("366"));
        assert!(detail(&json!({"timetable": "Monday"})).starts_with("Invalid schedule"));
    }

    #[test]
    fn the_current_period_holidays_and_exams() {
        let raw = json!({
            "timetable": [{"day": "Monday", "periods": [
                {"slot": 1, "start": "09:00", "end": "10:00", "metadata": {"subject_id": MATHS}},
                {"slot": 2, "start": "10:00", "end": "11:00", "metadata": {"tracked": false}}]}],
            "recurring": {"weekly": [{"day": "Tuesday", "periods": [{"slot": 3, "start": "08:00", "end": "09:00"}]}]},
            "holidays": [{"from": "2025-12-22", "to": "2025-12-26", "name": "Winter"},
                         {"date": "2025-12-29", "all_day": false}],
            "exams": [{"date": "2026-03-02", "name": "Midterm", "periods": [{"slot": 9, "start": "13:00", "end": "16:00"}]}]
        });
        let s = validate(&raw, &own()).unwrap_or_else(|e| panic!("{e}"));
        let at = |d: Date, h: u8, m: u8| {
            s.at(
                d,
                ClockTime::from_hm(h, m).unwrap_or_else(|| panic!("time")),
            )
        };
        // 2025-12-15 is a Monday.
        let m = at(date!(2025 - 12 - 15), 9, 59);
        assert_eq!(m.weekday, Weekday::Monday);
        let p = m.period.unwrap_or_else(|| panic!("no period"));
        assert_eq!(
            (p.slot, p.subject_id.as_deref(), p.tracked),
            (1, Some(MATHS), true)
        );
        let p = at(date!(2025 - 12 - 15), 10, 0)
            .period
            .unwrap_or_else(|| panic!("no period"));
        assert_eq!((p.slot, p.tracked), (2, false));
        assert_eq!(at(date!(2025 - 12 - 15), 11, 0).period, None);
        // Tuesday has no timetable entry: the recurring week applies.
        assert_eq!(
            at(date!(2025 - 12 - 16), 8, 30).period.map(|p| p.slot),
            Some(3)
        );
        // In the holiday range: no periods, and the holiday is named.
        let m = at(date!(2025 - 12 - 22), 9, 30);
        assert_eq!((m.period, m.holiday.as_deref()), (None, Some("Winter")));
        // A part-day holiday keeps the timetable.
        let m = at(date!(2025 - 12 - 29), 9, 30);
        assert_eq!(
            (m.period.map(|p| p.slot), m.holiday.as_deref()),
            (Some(1), Some(""))
        );
        // An exam day's own periods replace the timetable.
        let m = at(date!(2026 - 03 - 02), 9, 30);
        assert_eq!((m.period, m.exam.as_deref()), (None, Some("Midterm")));
        assert_eq!(
            at(date!(2026 - 03 - 02), 14, 0).period.map(|p| p.slot),
            Some(9)
        );
        assert_eq!(
            from_stored(&Value::Null)
                .at(date!(2026 - 03 - 02), ClockTime(600))
                .period,
            None
        );
    }
}
