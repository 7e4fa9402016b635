//! Criterion benchmarks of every analytics query over a school year of generated attendance:
//! 50 subjects x 40 students x 5 sessions a week (13,050 sessions, 522,000 records), 10
//! teachers with 5 subjects each and a timetable of holidays and exam days, 400 students in 5
//! subjects each. The data is written straight into a temporary SQLite file through
//! `Db::call_blocking` (the triggers of schema 5 keep the per-session counts as confirm would);
//! each query is timed through the service function its handler calls (blocking pool
//! included). `cargo bench --bench analytics`; README.md "Analytics" has the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall::domain::{Email, Id, Role};
use rollcall::service::analytics::{self, Rules};
use rollcall::service::auth::AuthUser;
use rollcall::storage::{Db, StorageError};
use rusqlite::params;

const TEACHERS: usize = 10;
const SUBJECTS_PER_TEACHER: usize = 5;
const CLASS_SIZE: usize = 40;
/// Students form `TEACHERS` groups of `CLASS_SIZE`; subject j is taken by group j % TEACHERS, so
/// every student is in `SUBJECTS_PER_TEACHER` subjects.
const GROUPS: usize = TEACHERS;
const FIRST_DAY: &str = "2025-09-01";
const DAYS: i64 = 365;
/// Run as a test (the suite runs every benchmark once, without `--bench`), three weeks are
/// enough to show each query works; the figures come from the whole year.
const TEST_DAYS: i64 = 21;

fn days() -> i64 {
    if std::env::args().any(|a| a == "--bench") {
        DAYS
    } else {
        TEST_DAYS
    }
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs each benchmark once without
/// it, on a tenth of the school (unoptimised generation of the full year takes a while).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

struct School {
    _dir: tempfile::TempDir,
    db: Db,
    admin: AuthUser,
    teacher: AuthUser,
    student: Id,
    subject: Id,
    sessions: usize,
    records: usize,
}

fn user(id: &Id, role: Role) -> AuthUser {
    AuthUser {
        id: id.clone(),
        role,
        email: Email::parse(&format!("{id}@bench.test"))
            .unwrap_or_else(|| panic!("bench e-mail for {id}")),
        name: format!("{role:?} {id}"),
        session_id: "bench".into(),
    }
}

/// A teacher's timetable: the subject's weekday periods, a two-week winter holiday, a spring
/// break and three exam days (sessions are generated on those days anyway: the queries must
/// leave them out).
fn schedule(subjects: &[Id]) -> String {
    let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
    let timetable: Vec<serde_json::Value> = days
        .iter()
        .map(|day| {
            let periods: Vec<serde_json::Value> = subjects
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    serde_json::json!({"slot": i + 1, "start": format!("{:02}:00", 8 + i),
                        "end": format!("{:02}:50", 8 + i), "metadata": {"subject_id": s.as_str()}})
                })
                .collect();
            serde_json::json!({"day": day, "periods": periods})
        })
        .collect();
    serde_json::json!({
        "timetable": timetable,
        "holidays": [{"from": "2025-12-22", "to": "2026-01-02", "name": "Winter"},
                     {"from": "2026-04-06", "to": "2026-04-10", "name": "Spring"}],
        "exams": [{"date": "2026-01-19"}, {"date": "2026-06-15"}, {"date": "2026-06-16"}]
    })
    .to_string()
}

fn generate(scale: usize) -> School {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = Db::open(&dir.path().join("bench.sqlite3")).unwrap_or_else(|e| panic!("db: {e:#}"));
    let teachers_n = (TEACHERS / scale).max(1);
    let teachers: Vec<Id> = (0..teachers_n).map(|_| Id::generate()).collect();
    let subjects: Vec<Id> = (0..teachers_n * SUBJECTS_PER_TEACHER)
        .map(|_| Id::generate())
        .collect();
    let students: Vec<Id> = (0..GROUPS * CLASS_SIZE).map(|_| Id::generate()).collect();
    let admin = Id::generate();
    let (t, s) = (teachers.clone(), subjects.clone());
    let st = students.clone();
    let a = admin.clone();
    // Generated straight into the file with SQL of its own: faster than the storage functions,
    // and the schema is the one `Db::open` just migrated.
    let file = db
        .path()
        .unwrap_or_else(|| panic!("the bench opened a SQLite file"));
    let mut raw = rusqlite::Connection::open(file).unwrap_or_else(|e| panic!("open: {e}"));
    let generate = move |conn: &mut rusqlite::Connection| {
        let tx = conn.transaction()?;
        let generated = {
            let mut add_user = tx.prepare(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
                     VALUES (?1, ?1 || '@bench.test', 'Bench ' || ?1, ?2, 'x', 0, 0)",
            )?;
            add_user.execute(params![a.as_str(), "admin"])?;
            for id in &t {
                add_user.execute(params![id.as_str(), "teacher"])?;
            }
            for (i, id) in st.iter().enumerate() {
                add_user.execute(params![id.as_str(), "student"])?;
                tx.execute(
                    "INSERT INTO students (user_id, roll) VALUES (?1, ?2)",
                    params![id.as_str(), format!("R{i:04}")],
                )?;
            }
            for (ti, teacher) in t.iter().enumerate() {
                let own = &s[ti * SUBJECTS_PER_TEACHER..(ti + 1) * SUBJECTS_PER_TEACHER];
                tx.execute(
                    "INSERT INTO teachers (user_id, schedule) VALUES (?1, ?2)",
                    params![teacher.as_str(), schedule(own)],
                )?;
                for (k, subject) in own.iter().enumerate() {
                    let j = ti * SUBJECTS_PER_TEACHER + k;
                    tx.execute(
                        "INSERT INTO subjects (id, name, code, created_at, updated_at)
                             VALUES (?1, ?2, ?3, 0, 0)",
                        params![subject.as_str(), format!("Subject {j}"), format!("S{j:03}")],
                    )?;
                    tx.execute(
                        "INSERT INTO subject_teachers (subject_id, teacher_id, added_at)
                             VALUES (?1, ?2, 0)",
                        params![subject.as_str(), teacher.as_str()],
                    )?;
                }
            }
            let mut enrol = tx.prepare(
                "INSERT INTO enrolments (subject_id, student_id, verified, enrolled_at)
                     VALUES (?1, ?2, 1, 0)",
            )?;
            let mut session = tx.prepare(
                    "INSERT INTO attendance_sessions (id, subject_id, date, slot, confirmed_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, 0, 0)",
                )?;
            let mut record = tx.prepare(
                    "INSERT INTO attendance_records (session_id, student_id, status) VALUES (?1, ?2, ?3)",
                )?;
            let mut rng = StdRng::seed_from_u64(2026);
            let first = time::Date::parse(
                FIRST_DAY,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let (mut n_sessions, mut n_records) = (0, 0);
            for (j, subject) in s.iter().enumerate() {
                let class = &st[(j % GROUPS) * CLASS_SIZE..(j % GROUPS + 1) * CLASS_SIZE];
                for student in class {
                    enrol.execute(params![subject.as_str(), student.as_str()])?;
                }
                // Each class has its own attendance level, 65 % to 95 %.
                let level: f64 = 0.65 + 0.3 * (j as f64 / s.len() as f64);
                for d in 0..days() {
                    let date = first + time::Duration::days(d);
                    if matches!(
                        date.weekday(),
                        time::Weekday::Saturday | time::Weekday::Sunday
                    ) {
                        continue;
                    }
                    let id = Id::generate();
                    let day = format!(
                        "{:04}-{:02}-{:02}",
                        date.year(),
                        u8::from(date.month()),
                        date.day()
                    );
                    session.execute(params![
                        id.as_str(),
                        subject.as_str(),
                        day,
                        i64::try_from(j % SUBJECTS_PER_TEACHER + 1).unwrap_or(0)
                    ])?;
                    n_sessions += 1;
                    for student in class {
                        let x: f64 = rng.random();
                        let status = if x < level {
                            "present"
                        } else if x < level + 0.05 {
                            "late"
                        } else if x < level + 0.08 {
                            "excused"
                        } else {
                            "absent"
                        };
                        record.execute(params![id.as_str(), student.as_str(), status])?;
                        n_records += 1;
                    }
                }
            }
            (n_sessions, n_records)
        };
        tx.commit()?;
        Ok::<_, StorageError>(generated)
    };
    let (sessions, records) = generate(&mut raw).unwrap_or_else(|e| panic!("generating: {e}"));
    raw.execute_batch("ANALYZE")
        .unwrap_or_else(|e| panic!("analyze: {e}"));
    drop(raw);
    School {
        _dir: dir,
        admin: user(&admin, Role::Admin),
        teacher: user(&teachers[0], Role::Teacher),
        student: students[0].clone(),
        subject: subjects[0].clone(),
        db,
        sessions,
        records,
    }
}

fn bench_queries(c: &mut Criterion) {
    let scale = if measuring() { 1 } else { 10 };
    let started = std::time::Instant::now();
    let school = generate(scale);
    eprintln!(
        "analytics bench: {} sessions, {} records generated in {:.1} s",
        school.sessions,
        school.records,
        started.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let rules = Rules::default();
    let (db, admin, teacher) = (&school.db, &school.admin, &school.teacher);
    let student = user(&school.student, Role::Student);
    let mut g = c.benchmark_group("analytics");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("attendance-trend/subject-year", |b| {
        b.iter(|| {
            rt.block_on(analytics::trend(
                db,
                teacher,
                school.subject.clone(),
                "2025-09-01".into(),
                "2026-08-31".into(),
            ))
            .map(|v| black_box(v.len()))
            .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    g.bench_function("monthly-summary/subject", |b| {
        b.iter(|| {
            rt.block_on(analytics::monthly(
                db,
                teacher,
                Some(school.subject.clone()),
            ))
            .map(|v| black_box(v.len()))
            .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    for (who, caller) in [("teacher", teacher), ("admin", admin)] {
        g.bench_function(format!("monthly-summary/{who}"), |b| {
            b.iter(|| {
                rt.block_on(analytics::monthly(db, caller, None))
                    .map(|v| black_box(v.len()))
                    .unwrap_or_else(|e| panic!("{e}"))
            });
        });
        g.bench_function(format!("class-risk/{who}"), |b| {
            b.iter(|| {
                rt.block_on(analytics::class_risk(db, rules, caller))
                    .map(|v| black_box(v.len()))
                    .unwrap_or_else(|e| panic!("{e}"))
            });
        });
        g.bench_function(format!("global/{who}"), |b| {
            b.iter(|| {
                rt.block_on(analytics::overview(db, rules, caller))
                    .map(|v| black_box(v.subjects.len()))
                    .unwrap_or_else(|e| panic!("{e}"))
            });
        });
    }
    g.bench_function("students-at-risk/subject", |b| {
        b.iter(|| {
            rt.block_on(analytics::students_at_risk(
                db,
                rules,
                teacher,
                school.subject.clone(),
            ))
            .map(|v| black_box(v.len()))
            .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    g.bench_function("student/own", |b| {
        b.iter(|| {
            rt.block_on(analytics::student(db, &student, school.student.clone()))
                .map(|v| black_box(v.subjects.len()))
                .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    g.finish();
}

criterion_group!(benches, bench_queries);
criterion_main!(benches);
