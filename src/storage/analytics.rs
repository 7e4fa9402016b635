//! Analytics reads: a subject's counts per day, per month and in total from
//! `attendance_counts` (kept by triggers, see `migrations/0005_analytics.sql`: one small row per
//! session, read through a covering index), and per student from the records. Days to leave
//! out (holidays, exam days) are passed in as a list of `YYYY-MM-DD` strings.

use super::Conn;
use super::sql::{Row, args};

use super::Result;
use crate::domain::Id;
use crate::domain::attendance::Counts;

/// One subject's sessions on one day, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Sessions with at least one record that day (a subject may meet twice a day).
    pub sessions: i64,
    pub counts: Counts,
}

/// One subject's sessions in one month, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Days with at least one session.
    pub days: i64,
    pub sessions: i64,
    pub counts: Counts,
}

/// One subject's sessions, all summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub days: i64,
    pub sessions: i64,
    pub counts: Counts,
    /// Newest day with a session.
    pub last: Option<String>,
}

/// The sessions of `?1` that count: with records, not on a day of the JSON array `?2`.
fn sessions(conn: &Conn<'_>) -> String {
    format!(
        "FROM attendance_counts
         WHERE subject_id = ?1 AND present + late + excused + absent > 0
           AND date NOT IN ({})",
        conn.text_list(2)
    )
}

/// The four sums, as integers on every backend (PostgreSQL's `SUM(bigint)` is `numeric`); NULL
/// when no session counts.
const SUMS: &str = "CAST(SUM(present) AS BIGINT), CAST(SUM(late) AS BIGINT),
     CAST(SUM(excused) AS BIGINT), CAST(SUM(absent) AS BIGINT)";

fn counts_at(r: &Row<'_>, at: usize) -> Result<Counts> {
    Ok(Counts {
        present: r.get::<Option<i64>>(at)?.unwrap_or(0),
        late: r.get::<Option<i64>>(at + 1)?.unwrap_or(0),
        excused: r.get::<Option<i64>>(at + 2)?.unwrap_or(0),
        absent: r.get::<Option<i64>>(at + 3)?.unwrap_or(0),
    })
}

/// The subject's days within `[from, to]` (inclusive; `None` = open), oldest first, leaving
/// out the days in `skip`.
pub fn days_of(
    conn: &Conn<'_>,
    subject: &Id,
    from: Option<&str>,
    to: Option<&str>,
    skip: &[String],
) -> Result<Vec<DayRow>> {
    conn.query_all(
        &format!(
            "SELECT date, COUNT(*), {SUMS} {sessions}
               AND (CAST(?3 AS TEXT) IS NULL OR date >= ?3) AND (CAST(?4 AS TEXT) IS NULL OR date <= ?4)
             GROUP BY date ORDER BY date",
            sessions = sessions(conn)
        ),
        args![subject.as_str(), skip_json(skip), from, to],
        |r| {
            Ok(DayRow {
                date: r.get(0)?,
                sessions: r.get(1)?,
                counts: counts_at(r, 2)?,
            })
        },
    )
}

/// The subject's months, oldest first, leaving out the days in `skip`.
pub fn months_of(conn: &Conn<'_>, subject: &Id, skip: &[String]) -> Result<Vec<MonthRow>> {
    conn.query_all(
        &format!(
            "SELECT substr(date, 1, 7) AS month, COUNT(DISTINCT date), COUNT(*), {SUMS} {sessions}
             GROUP BY month ORDER BY month",
            sessions = sessions(conn)
        ),
        args![subject.as_str(), skip_json(skip)],
        |r| {
            Ok(MonthRow {
                month: r.get(0)?,
                days: r.get(1)?,
                sessions: r.get(2)?,
                counts: counts_at(r, 3)?,
            })
        },
    )
}

/// The subject's totals over all its sessions, leaving out the days in `skip`.
pub fn totals_of(conn: &Conn<'_>, subject: &Id, skip: &[String]) -> Result<Totals> {
    conn.query_one(
        &format!(
            "SELECT COUNT(DISTINCT date), COUNT(*), MAX(date), {SUMS} {sessions}",
            sessions = sessions(conn)
        ),
        args![subject.as_str(), skip_json(skip)],
        |r| {
            Ok(Totals {
                days: r.get(0)?,
                sessions: r.get(1)?,
                last: r.get(2)?,
                counts: counts_at(r, 3)?,
            })
        },
    )
}

fn skip_json(skip: &[String]) -> String {
    serde_json::to_string(skip).unwrap_or_else(|_| "[]".to_owned())
}

/// Each student's counts in the subject's sessions, leaving out the days in `skip`.
pub fn students_of(conn: &Conn<'_>, subject: &Id, skip: &[String]) -> Result<Vec<(Id, Counts)>> {
    let rows = conn.query_all(
        &format!(
            "SELECT r.student_id, r.status, COUNT(*) FROM attendance_sessions a
             JOIN attendance_records r ON r.session_id = a.id
             WHERE a.subject_id = ?1 AND a.date NOT IN ({})
             GROUP BY r.student_id, r.status ORDER BY r.student_id",
            conn.text_list(2)
        ),
        args![subject.as_str(), skip_json(skip)],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)),
    )?;
    let mut out: Vec<(Id, Counts)> = Vec::new();
    for (student, status, n) in rows {
        if out.last().is_none_or(|l| l.0.as_str() != student) {
            out.push((Id::from_db(student), Counts::default()));
        }
        if let Some(last) = out.last_mut() {
            add(&mut last.1, &status, n);
        }
    }
    Ok(out)
}

/// One student's counts in one subject, leaving out the days in `skip`.
pub fn student_in(conn: &Conn<'_>, student: &Id, subject: &Id, skip: &[String]) -> Result<Counts> {
    let rows = conn.query_all(
        &format!(
            "SELECT r.status, COUNT(*) FROM attendance_records r
             JOIN attendance_sessions a ON a.id = r.session_id
             WHERE r.student_id = ?1 AND a.subject_id = ?2
               AND a.date NOT IN ({})
             GROUP BY r.status",
            conn.text_list(3)
        ),
        args![student.as_str(), subject.as_str(), skip_json(skip)],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )?;
    let mut counts = Counts::default();
    for (status, n) in rows {
        add(&mut counts, &status, n);
    }
    Ok(counts)
}

fn add(c: &mut Counts, status: &str, n: i64) {
    match status {
        "present" => c.present += n,
        "late" => c.late += n,
        "excused" => c.excused += n,
        _ => c.absent += n,
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        c.pragma_update(None, "foreign_keys", "ON")
            .unwrap_or_else(|e| panic!("pragma: {e}"));
        super::super::migrations::apply(&Conn::new(&c)).unwrap_or_else(|e| panic!("migrate: {e}"));
        c
    }

    fn exec(c: &Conn<'_>, sql: &str) {
        c.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The counts the triggers keep equal the records after inserts, a replacement, an upsert
    /// (a correction), deletes and a cascade from a deleted subject.
    #[test]
    fn triggers_keep_counts_equal_to_the_records() {
        let raw = conn();
        let c = Conn::new(&raw);
        let s = "s".repeat(24);
        let ses = ["a".repeat(24), "b".repeat(24)];
        let students: Vec<String> = (0..4).map(|i| format!("{i:0>24}")).collect();
        for id in &students {
            exec(
                &c,
                &format!(
                    "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
                     VALUES ('{id}', '{id}@x.test', 'n', 'student', 'h', 0, 0)"
                ),
            );
        }
        exec(
            &c,
            &format!(
                "INSERT INTO subjects (id, name, code, created_at, updated_at) VALUES ('{s}', 'n', 'C', 0, 0);
                 INSERT INTO attendance_sessions (id, subject_id, date, slot, created_at)
                 VALUES ('{}', '{s}', '2026-03-02', 0, 0), ('{}', '{s}', '2026-03-02', 1, 0)",
                ses[0], ses[1]
            ),
        );
        let put = |session: &str, student: &str, status: &str| {
            exec(
                &c,
                &format!(
                    "INSERT INTO attendance_records (session_id, student_id, status)
                     VALUES ('{session}', '{student}', '{status}')
                     ON CONFLICT (session_id, student_id) DO UPDATE SET status = excluded.status"
                ),
            );
        };
        for (st, status) in students
            .iter()
            .zip(["present", "late", "excused", "absent"])
        {
            put(&ses[0], st, status);
            put(&ses[1], st, "present");
        }
        put(&ses[0], &students[3], "present");
        exec(
            &c,
            &format!(
                "DELETE FROM attendance_records WHERE session_id = '{}' AND student_id = '{}'",
                ses[1], students[0]
            ),
        );
        let id = Id::from_db(s.clone());
        let days = days_of(&c, &id, None, None, &[]).unwrap_or_else(|e| panic!("{e}"));
        let counts = Counts {
            present: 2 + 3,
            late: 1,
            excused: 1,
            absent: 0,
        };
        assert_eq!(
            days,
            [DayRow {
                date: "2026-03-02".into(),
                sessions: 2,
                counts,
            }]
        );
        assert_eq!(
            months_of(&c, &id, &[]).unwrap_or_else(|e| panic!("{e}")),
            [MonthRow {
                month: "2026-03".into(),
                days: 1,
                sessions: 2,
                counts,
            }]
        );
        assert_eq!(
            totals_of(&c, &id, &[]).unwrap_or_else(|e| panic!("{e}")),
            Totals {
                days: 1,
                sessions: 2,
                counts,
                last: Some("2026-03-02".into()),
            }
        );
        let skip = ["2026-03-02".to_owned()];
        assert!(
            days_of(&c, &id, None, None, &skip)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        assert_eq!(
            totals_of(&c, &id, &skip).unwrap_or_else(|e| panic!("{e}")),
            Totals::default()
        );
        let per_student = students_of(&c, &id, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(per_student.len(), 4);
        let off =
            students_of(&c, &id, &["2026-03-02".to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(off.is_empty());
        let one = student_in(&c, &Id::from_db(students[1].clone()), &id, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((one.late, one.present), (1, 1));
        // A whole session's records replaced (as confirm does): nothing counted twice.
        exec(
            &c,
            &format!(
                "DELETE FROM attendance_records WHERE session_id = '{}'",
                ses[0]
            ),
        );
        put(&ses[0], &students[0], "absent");
        let days = days_of(&c, &id, None, None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            days[0].counts,
            Counts {
                present: 3,
                late: 0,
                excused: 0,
                absent: 1
            }
        );
        exec(&c, &format!("DELETE FROM subjects WHERE id = '{s}'"));
        let left: i64 = c
            .query_one("SELECT COUNT(*) FROM attendance_counts", args![], |r| {
                r.get(0)
            })
            .unwrap_or(-1);
        assert_eq!(left, 0);
    }
}
