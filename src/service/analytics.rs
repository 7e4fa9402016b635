//! Analytics over confirmed attendance: a subject's days, months, subjects and students at risk,
//! a teacher's overview and a student's own figures. Every percentage is computed from counts
//! and rounded to two decimals only when it is shown.
//!
//! Rules: attended = present (+ late when late counts as present); counted = every record but
//! excused ones; percentage = attended / counted × 100, none when nothing was counted. Days that
//! the subject's teachers' timetables make a holiday or an exam day without a period of the
//! subject (the days `attendance::confirm` refuses) are not sessions: anything recorded on them
//! is left out.

use std::collections::{BTreeSet, HashMap};

use crate::storage::Conn;

use super::auth::AuthUser;
use super::schedule::{Schedule, parse_date};
use super::subjects::managed;
use super::{Error, Result};
use crate::domain::attendance::Counts;
use crate::domain::subjects::{RosterEntry, Subject};
use crate::domain::{Id, Role};
use crate::storage::Db;
use crate::storage::analytics as store;
use crate::storage::attendance::report_members;
use crate::storage::subjects;

/// How figures are computed (from the settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// A late arrival counts as attended (`ROLLCALL_LATE_COUNTS_AS_PRESENT`).
    pub late_counts: bool,
    /// A percentage strictly below this is at risk (`ROLLCALL_RISK_THRESHOLD`).
    pub threshold: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            late_counts: true,
            threshold: 75.0,
        }
    }
}

impl Rules {
    /// Sessions attended.
    #[must_use]
    pub fn attended(&self, c: &Counts) -> i64 {
        c.present + if self.late_counts { c.late } else { 0 }
    }

    /// Sessions counted but not attended: absent, and late when late does not count.
    #[must_use]
    pub fn missed(&self, c: &Counts) -> i64 {
        Self::counted(c) - self.attended(c)
    }

    /// Sessions that count: every record but excused ones.
    #[must_use]
    pub fn counted(c: &Counts) -> i64 {
        c.present + c.late + c.absent
    }

    /// attended / counted × 100, unrounded; `None` when nothing counts.
    #[must_use]
    pub fn ratio(&self, c: &Counts) -> Option<f64> {
        let counted = Self::counted(c);
        #[allow(clippy::cast_precision_loss)]
        (counted > 0).then(|| self.attended(c) as f64 * 100.0 / counted as f64)
    }

    /// The percentage as shown: two decimals, half up, exact from the counts.
    #[must_use]
    pub fn percentage(&self, c: &Counts) -> Option<f64> {
        let counted = Self::counted(c);
        (counted > 0).then(|| hundredths(self.attended(c), counted))
    }

    /// Strictly below the threshold; nothing counted is not at risk (there is nothing to judge).
    #[must_use]
    pub fn at_risk(&self, c: &Counts) -> bool {
        self.ratio(c).is_some_and(|p| p < self.threshold)
    }
}

/// `num / den × 100` rounded half up to two decimals, in integers (no binary-float surprises
/// such as 66.665 becoming 66.66). `den` must be positive.
#[must_use]
pub fn hundredths(num: i64, den: i64) -> f64 {
    let scaled = (i128::from(num) * 20_000 + i128::from(den)) / (2 * i128::from(den));
    #[allow(clippy::cast_precision_loss)]
    let v = scaled as f64 / 100.0;
    v
}

/// A value computed unrounded, rounded to two decimals (half away from zero) for display.
#[must_use]
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The stored schedules of the subject's teachers (each teacher read once per request).
struct Timetables {
    by_teacher: HashMap<Id, Option<Schedule>>,
}

impl Timetables {
    fn new() -> Self {
        Self {
            by_teacher: HashMap::new(),
        }
    }

    fn of_subject(&mut self, conn: &Conn<'_>, subject: &Id) -> Result<Vec<Schedule>> {
        let mut out = Vec::new();
        for t in subjects::teacher_ids(conn, subject)? {
            if !self.by_teacher.contains_key(&t) {
                let stored = crate::storage::users::teacher_profile(conn, &t)?
                    .and_then(|p| p.schedule)
                    .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok())
                    .map(|v| super::schedule::from_stored(&v));
                self.by_teacher.insert(t.clone(), stored);
            }
            if let Some(Some(s)) = self.by_teacher.get(&t) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// The subject's days off, `YYYY-MM-DD`, sorted.
    fn off_days(&mut self, conn: &Conn<'_>, subject: &Id) -> Result<Vec<String>> {
        Ok(off_days(&self.of_subject(conn, subject)?, subject.as_str()))
    }
}

/// Longest holiday range expanded (as the schedule's own validation allows).
const MAX_RANGE_DAYS: i64 = super::schedule::MAX_RANGE_DAYS;

/// Days on which the timetables hold no period of `subject` and one of them is a holiday or an
/// exam day: exactly the days on which `attendance::confirm` refuses a session.
#[must_use]
pub fn off_days(schedules: &[Schedule], subject: &str) -> Vec<String> {
    let mut candidates = BTreeSet::new();
    for s in schedules {
        for h in &s.holidays {
            let range = match (&h.date, &h.from, &h.to) {
                (Some(d), _, _) => parse_date(d).map(|d| (d, d)),
                (None, Some(f), Some(t)) => parse_date(f).zip(parse_date(t)),
                _ => None,
            };
            if let Some((from, to)) = range {
                let mut day = from;
                while day <= to && (day - from).whole_days() < MAX_RANGE_DAYS {
                    candidates.insert(day);
                    match day.next_day() {
                        Some(next) => day = next,
                        None => break,
                    }
                }
            }
        }
        candidates.extend(s.exams.iter().filter_map(|e| parse_date(&e.date)));
    }
    candidates
        .into_iter()
        .filter(|&date| {
            let days: Vec<_> = schedules.iter().map(|s| s.day(date)).collect();
            let held = days
                .iter()
                .flat_map(|d| d.periods.iter())
                .any(|p| p.is_of(subject));
            !held && days.iter().any(|d| d.holiday.is_some() || d.exam.is_some())
        })
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .collect()
}

/// The subjects the caller's school-wide figures cover: a teacher's own, every one for an
/// administrator. Students are refused.
fn scope(conn: &Conn<'_>, user: &AuthUser) -> Result<Vec<Subject>> {
    match user.role {
        Role::Admin => Ok(subjects::all(conn)?),
        Role::Teacher => Ok(subjects::of_teacher(conn, &user.id)?),
        Role::Student => Err(Error::Forbidden("Teacher access required".into())),
    }
}

/// One day of a subject's trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendDay {
    pub date: String,
    pub sessions: i64,
    pub counts: Counts,
}

/// A subject's days in `[from, to]` (`YYYY-MM-DD`, checked by the caller), oldest first.
/// Teachers of the subject and administrators.
pub async fn trend(
    db: &Db,
    user: &AuthUser,
    subject: Id,
    from: String,
    to: String,
) -> Result<Vec<TrendDay>> {
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        let off = Timetables::new().off_days(conn, &subject)?;
        let rows = store::days_of(conn, &subject, Some(&from), Some(&to), &off)?;
        Ok(rows
            .into_iter()
            .map(|r| TrendDay {
                date: r.date,
                sessions: r.sessions,
                counts: r.counts,
            })
            .collect())
    })
    .await
}

/// One subject's month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    pub subject_id: Id,
    /// `YYYY-MM`.
    pub month: String,
    pub counts: Counts,
    /// Days with at least one session.
    pub days: i64,
    pub sessions: i64,
}

/// Totals per subject and month, newest month first, then by subject id: one subject (its
/// teachers, administrators) or every subject in the caller's scope.
pub async fn monthly(db: &Db, user: &AuthUser, subject: Option<Id>) -> Result<Vec<Month>> {
    let user = user.clone();
    db.run(move |conn| {
        let subjects = match subject {
            Some(id) => vec![managed(conn, &user, &id)?],
            None => scope(conn, &user)?,
        };
        let mut tables = Timetables::new();
        let mut out = Vec::new();
        for s in subjects {
            let off = tables.off_days(conn, &s.id)?;
            out.extend(
                store::months_of(conn, &s.id, &off)?
                    .into_iter()
                    .map(|m| Month {
                        subject_id: s.id.clone(),
                        month: m.month,
                        counts: m.counts,
                        days: m.days,
                        sessions: m.sessions,
                    }),
            );
        }
        out.sort_by(|a, b| {
            b.month
                .cmp(&a.month)
                .then_with(|| a.subject_id.cmp(&b.subject_id))
        });
        Ok(out)
    })
    .await
}

/// A subject's totals over all its sessions.
#[derive(Debug, Clone)]
pub struct SubjectTotals {
    pub subject: Subject,
    pub counts: Counts,
    pub days: i64,
    pub sessions: i64,
    /// Newest day with a session.
    pub last: Option<String>,
}

fn totals(conn: &Conn<'_>, user: &AuthUser) -> Result<Vec<SubjectTotals>> {
    let mut tables = Timetables::new();
    let mut out = Vec::new();
    for subject in scope(conn, user)? {
        let off = tables.off_days(conn, &subject.id)?;
        let t = store::totals_of(conn, &subject.id, &off)?;
        out.push(SubjectTotals {
            subject,
            counts: t.counts,
            days: t.days,
            sessions: t.sessions,
            last: t.last,
        });
    }
    Ok(out)
}

/// Subjects in the caller's scope whose attendance is below the threshold, lowest first (then
/// by id). Subjects without any counted session are not listed.
pub async fn class_risk(db: &Db, rules: Rules, user: &AuthUser) -> Result<Vec<SubjectTotals>> {
    let user = user.clone();
    db.run(move |conn| {
        let mut list: Vec<(f64, SubjectTotals)> = totals(conn, &user)?
            .into_iter()
            .filter(|t| rules.at_risk(&t.counts))
            .filter_map(|t| rules.ratio(&t.counts).map(|p| (p, t)))
            .collect();
        list.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| a.1.subject.id.cmp(&b.1.subject.id))
        });
        Ok(list.into_iter().map(|(_, t)| t).collect())
    })
    .await
}

/// A teacher's (an administrator's: the school's) overview.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Mean of the subjects' percentages (subjects with counted sessions), unrounded.
    pub overall: Option<f64>,
    /// Subjects below the threshold.
    pub at_risk: usize,
    /// Every subject in scope, highest percentage first, subjects without data last.
    pub subjects: Vec<SubjectTotals>,
}

pub async fn overview(db: &Db, rules: Rules, user: &AuthUser) -> Result<Overview> {
    let user = user.clone();
    db.run(move |conn| {
        let mut list = totals(conn, &user)?;
        list.sort_by(|a, b| {
            let (pa, pb) = (rules.ratio(&a.counts), rules.ratio(&b.counts));
            match (pa, pb) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.subject.id.cmp(&b.subject.id))
        });
        let ratios: Vec<f64> = list.iter().filter_map(|t| rules.ratio(&t.counts)).collect();
        #[allow(clippy::cast_precision_loss)]
        let overall =
            (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64);
        Ok(Overview {
            overall,
            at_risk: list.iter().filter(|t| rules.at_risk(&t.counts)).count(),
            subjects: list,
        })
    })
    .await
}

/// One student's figures in a subject.
#[derive(Debug, Clone)]
pub struct StudentTotals {
    pub student_id: Id,
    pub name: String,
    pub roll: String,
    pub counts: Counts,
}

/// The subject's students (enrolled, or with records in it) below the threshold, lowest first
/// (then by name).
/// Teachers of the subject and administrators.
pub async fn students_at_risk(
    db: &Db,
    rules: Rules,
    user: &AuthUser,
    subject: Id,
) -> Result<Vec<StudentTotals>> {
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        let counts = student_counts(conn, &subject)?;
        // Former students with records in the subject are listed too: leaving the class does
        // not take anyone off the at-risk list of the sessions they missed.
        let mut list: Vec<(f64, StudentTotals)> = report_members(conn, &subject)?
            .into_iter()
            .filter_map(|m| {
                let c = counts.get(&m.id).copied().unwrap_or_default();
                let p = rules.ratio(&c).filter(|p| *p < rules.threshold)?;
                Some((
                    p,
                    StudentTotals {
                        student_id: m.id,
                        name: m.name,
                        roll: m.roll,
                        counts: c,
                    },
                ))
            })
            .collect();
        list.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| a.1.name.cmp(&b.1.name))
                .then_with(|| a.1.student_id.cmp(&b.1.student_id))
        });
        Ok(list.into_iter().map(|(_, s)| s).collect())
    })
    .await
}

/// Each student's counts in a subject: their own records, leaving out the subject's days off.
/// Imported seed day summaries carry no per-student records, so they count in the
/// subject's figures but in no student's. [`student`] counts the same way, one subject at a time.
fn student_counts(conn: &Conn<'_>, subject: &Id) -> Result<HashMap<Id, Counts>> {
    let off = Timetables::new().off_days(conn, subject)?;
    Ok(store::students_of(conn, subject, &off)?
        .into_iter()
        .collect())
}

/// A subject's roster with each student's counts (zero without records), in roster order;
/// figures are shown through [`Rules`]. Teachers of the subject and administrators.
pub async fn roster(db: &Db, user: &AuthUser, subject: Id) -> Result<Vec<(RosterEntry, Counts)>> {
    let user = user.clone();
    db.run(move |conn| {
        managed(conn, &user, &subject)?;
        let counts = student_counts(conn, &subject)?;
        Ok(subjects::roster(conn, &subject)?
            .into_iter()
            .map(|e| {
                let c = counts.get(&e.student_id).copied().unwrap_or_default();
                (e, c)
            })
            .collect())
    })
    .await
}

/// A student's figures per subject.
#[derive(Debug, Clone)]
pub struct StudentView {
    pub student_id: Id,
    pub name: String,
    /// The subjects the caller may see (a teacher: those they teach), by code.
    pub subjects: Vec<(Subject, Counts)>,
}

/// A student's own figures (the student, administrators, and teachers for the subjects they
/// teach the student).
pub async fn student(db: &Db, user: &AuthUser, student: Id) -> Result<StudentView> {
    let user = user.clone();
    db.run(move |conn| {
        if user.role == Role::Student && user.id != student {
            return Err(Error::Forbidden(
                "Students can only see their own attendance".into(),
            ));
        }
        let account = crate::storage::users::by_id(conn, &student)?
            .filter(|u| u.role == Role::Student)
            .ok_or_else(|| Error::NotFound("Student not found".into()))?;
        let enrolled: Vec<Subject> = if user.role == Role::Teacher {
            subjects::of_student_taught_by(conn, &student, &user.id)?
        } else {
            subjects::of_student(conn, &student)?
        }
        .into_iter()
        .map(|e| e.subject)
        .collect();
        if user.role == Role::Teacher && enrolled.is_empty() {
            return Err(Error::Forbidden("You do not teach this student".into()));
        }
        let mut tables = Timetables::new();
        let mut out = Vec::with_capacity(enrolled.len());
        for s in enrolled {
            let off = tables.off_days(conn, &s.id)?;
            let counts = store::student_in(conn, &student, &s.id, &off)?;
            out.push((s, counts));
        }
        Ok(StudentView {
            student_id: account.id,
            name: account.name,
            subjects: out,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(present: i64, late: i64, excused: i64, absent: i64) -> Counts {
        Counts {
            present,
            late,
            excused,
            absent,
        }
    }

    #[test]
    fn late_counts_and_excused_is_left_out() {
        let c = counts(2, 1, 1, 1);
        let on = Rules::default();
        assert_eq!(on.percentage(&c), Some(75.0));
        let off = Rules {
            late_counts: false,
            ..Rules::default()
        };
        assert_eq!(off.percentage(&c), Some(50.0));
        assert_eq!(on.percentage(&counts(0, 0, 3, 0)), None);
        assert!(!on.at_risk(&counts(0, 0, 3, 0)));
        assert!(!on.at_risk(&counts(3, 0, 0, 1)), "75 is not below 75");
        assert!(off.at_risk(&c));
    }

    #[test]
    fn rounding_is_half_up_from_the_counts() {
        assert!((hundredths(2, 3) - 66.67).abs() < 1e-9);
        assert!((hundredths(1, 3) - 33.33).abs() < 1e-9);
        // 1/8 = 12.5 %, 1/16 = 6.25 %, 1/32 = 3.125 % -> 3.13 (half up).
        assert!((hundredths(1, 32) - 3.13).abs() < 1e-9);
        // 13333/20000 = 66.665 % exactly: half up gives 66.67 where f64 would give 66.66.
        assert!((hundredths(13_333, 20_000) - 66.67).abs() < 1e-9);
        assert!((hundredths(5, 5) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn holidays_and_exam_days_without_the_subject_are_off() {
        let raw = serde_json::json!({
            "timetable": [{"day": "Monday", "periods": [
                {"slot": 1, "start": "08:00", "end": "09:00", "metadata": {"subject_id": "s1"}}]}],
            "holidays": [{"date": "2026-03-09"}, {"from": "2026-03-20", "to": "2026-03-22"},
                         {"date": "2026-03-30", "overrides": [
                             {"slot": 1, "start": "08:00", "end": "09:00", "metadata": {"subject_id": "s1"}}]}],
            "exams": [{"date": "2026-03-16"},
                      {"date": "2026-03-17", "periods": [
                          {"slot": 2, "start": "10:00", "end": "11:00", "metadata": {"subject_id": "s1"}}]}]
        });
        let s = super::super::schedule::from_stored(&raw);
        assert_eq!(
            off_days(std::slice::from_ref(&s), "s1"),
            [
                "2026-03-09",
                "2026-03-16",
                "2026-03-20",
                "2026-03-21",
                "2026-03-22"
            ]
        );
        // Another subject's exam period does not hold this one.
        assert!(off_days(&[s], "s2").contains(&"2026-03-17".to_owned()));
        assert!(off_days(&[], "s1").is_empty());
    }
}
