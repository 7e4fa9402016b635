//! `rollcall import-seed`: a MongoDB export of the seed system, made by hand in the seed's format
//! (README, "Moving from Smart Attendance"), imported by the real binary into a running server's
//! data directory.

use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{TestApp, body, spawn_app, token_of};

const T1: &str = "65a000000000000000000001";
const T2: &str = "65a000000000000000000002";
const S1: &str = "65a000000000000000000011";
const S2: &str = "65a000000000000000000012";
const S3: &str = "65a000000000000000000013";
const TEACHER_DOC: &str = "65b000000000000000000001";
const STUDENT_DOCS: [&str; 3] = [
    "65b000000000000000000011",
    "65b000000000000000000012",
    "65b000000000000000000013",
];
const SUBJECT: &str = "65c000000000000000000001";
const GONE_SUBJECT: &str = "65c0000000000000000000ff";
const T1_PASSWORD: &str = "teacher-pass-1";
const S1_PASSWORD: &str = "student-pass-1";

fn oid(id: &str) -> Value {
    json!({"$oid": id})
}

/// What the seed stores: bcrypt over the hex SHA-256 of the trimmed password (low cost here).
fn seed_hash(password: &str) -> String {
    let digest = hex::encode(Sha256::digest(password.trim().as_bytes()));
    bcrypt::hash(digest, 4).expect("bcrypt")
}

fn user(id: &str, name: &str, email: &str, role: &str, password: Option<&str>) -> Value {
    let mut u = json!({
        "_id": oid(id), "name": name, "email": email, "role": role,
        "college_name": "Seed College", "is_verified": true,
        "created_at": {"$date": "2023-09-01T08:00:00.000Z"},
    });
    if let Some(pw) = password {
        u["password_hash"] = json!(seed_hash(pw));
    }
    u
}

fn collections() -> Vec<(&'static str, Vec<Value>)> {
    let users = vec![
        user(
            T1,
            "Tina Teacher",
            "tina@seed.test",
            "teacher",
            Some(T1_PASSWORD),
        ),
        user(
            T2,
            "Tom Teacher",
            "tom@seed.test",
            "teacher",
            Some("teacher-pass-2"),
        ),
        user(
            S1,
            "Sam Student",
            "Sam@Seed.test",
            "student",
            Some(S1_PASSWORD),
        ),
        user(
            S2,
            "Sue Student",
            "sue@seed.test",
            "student",
            Some("student-pass-2"),
        ),
        // A Google sign-in account: no password hash.
        user(S3, "Sid Student", "sid@seed.test", "student", None),
    ];
    let teachers = vec![
        json!({"_id": oid(TEACHER_DOC), "userId": oid(T1), "employee_id": "E-17", "phone": "555-0101",
               "branch": "CS", "subjects": [oid(SUBJECT)], "avatarUrl": null, "department": "Computing",
               "settings": {"theme": "Dark", "thresholds": {"warningVal": 75, "safeVal": 85}},
               "schedule": null, "createdAt": {"$date": {"$numberLong": "1693555200000"}}}),
        json!({"_id": oid("65b000000000000000000002"), "userId": oid(T2), "employee_id": "E-18",
               "phone": "", "branch": "EE", "subjects": []}),
    ];
    let pixels: Vec<f64> = vec![0.01; 16];
    let students = vec![
        json!({"_id": oid(STUDENT_DOCS[0]), "userId": oid(S1), "name": "Sam Student", "roll": "R-001",
               "branch": "CS", "year": "2", "subjects": [oid(SUBJECT)], "verified": true,
               "face_embeddings": [pixels], "image_url": "https://res.cloudinary.test/sam.jpg"}),
        json!({"_id": oid(STUDENT_DOCS[1]), "userId": oid(S2), "roll": "R-002", "branch": "CS",
               "year": {"$numberInt": "2"}, "subjects": [oid(SUBJECT)]}),
        // Enrolled on the student side only: the seed's two copies drifted apart.
        json!({"_id": oid(STUDENT_DOCS[2]), "userId": oid(S3), "roll": "R-003", "branch": "CS",
               "year": "1", "subjects": [oid(SUBJECT)]}),
    ];
    let subjects = vec![json!({
        "_id": oid(SUBJECT), "name": "Algorithms", "code": "ALG101", "type": "Core",
        "professor_ids": [oid(T1)],
        "created_at": {"$date": "2023-09-02T08:00:00Z"},
        "students": [
            {"student_id": oid(S1), "name": "Sam Student", "verified": true,
             "attendance": {"present": {"$numberInt": "4"}, "absent": 1, "total": 0, "percentage": 0,
                            "lastMarkedAt": "2024-01-16"}},
            {"student_id": oid(S2), "name": "Sue Student", "verified": false,
             "attendance": {"present": 1, "absent": 0, "total": 0, "percentage": 0}},
        ],
    })];
    let day = |id: &str, class: &str, date: &str, p: i64, a: i64, pct: f64| {
        json!({"_id": oid(id), "classId": oid(class), "subjectId": oid(class), "date": date,
               "teacherId": oid(T1),
               "summary": {"present": p, "absent": a, "late": 0, "total": p + a, "percentage": pct},
               "createdAt": {"$date": format!("{date}T15:00:00Z")}})
    };
    let daily = vec![
        day(
            "65d000000000000000000001",
            SUBJECT,
            "2024-01-15",
            1,
            1,
            50.0,
        ),
        // Four students counted with three enrolled: the seed counts duplicate ids.
        day(
            "65d000000000000000000002",
            SUBJECT,
            "2024-01-16",
            3,
            1,
            75.0,
        ),
        // The seed writes summaries for subjects that do not exist.
        day(
            "65d000000000000000000003",
            GONE_SUBJECT,
            "2024-01-16",
            1,
            0,
            100.0,
        ),
    ];
    let mail = |id: &str, status: &str, error: Value| {
        json!({"_id": oid(id), "notification_type": "absence", "recipient_email": "sam@seed.test",
               "recipient_name": "Sam Student", "subject": "Absence in Algorithms", "status": status,
               "error_message": error, "sent_by": oid(T1),
               "sent_at": {"$date": "2024-01-16T16:00:00Z"}, "metadata": {"subject": "Algorithms"}})
    };
    let email_logs = vec![
        mail("65e000000000000000000001", "sent", Value::Null),
        mail("65e000000000000000000002", "failed", json!("mailbox full")),
    ];
    vec![
        ("users", users),
        ("teachers", teachers),
        ("students", students),
        ("subjects", subjects),
        ("attendance_daily", daily),
        ("email_logs", email_logs),
    ]
}

/// Write the export: users as `mongoexport --jsonArray` does, the rest one document per line.
fn write_export(dir: &Path, collections: &[(&str, Vec<Value>)]) {
    for (name, docs) in collections {
        let text = if *name == "users" {
            serde_json::to_string_pretty(docs).unwrap()
        } else {
            docs.iter().map(|d| format!("{d}\n")).collect()
        };
        std::fs::write(dir.join(format!("{name}.json")), text)
            .unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }
}

/// The export in a temporary folder, and its documents (bcrypt salts differ on every call).
fn export() -> (tempfile::TempDir, Vec<(&'static str, Vec<Value>)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = collections();
    write_export(dir.path(), &docs);
    (dir, docs)
}

async fn import(app: &TestApp, export: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "import-seed".to_owned(),
        export.display().to_string(),
        "--data-dir".to_owned(),
        app.data_dir.path().display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || {
        crate::support::backend::rollcall_command(&args)
            .env(
                "ROLLCALL_CACHE_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache"),
            )
            .output()
            .expect("running rollcall")
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db()
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

const TABLES: [&str; 10] = [
    "users",
    "teachers",
    "students",
    "subjects",
    "subject_teachers",
    "enrolments",
    "attendance_sessions",
    "attendance_counts",
    "outbox",
    "seed_imports",
];

fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    TABLES
        .iter()
        .map(|t| (*t, count(app, &format!("SELECT COUNT(*) FROM {t}"))))
        .collect()
}

fn line<'a>(report: &'a str, collection: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{collection} ")))
        .unwrap_or_else(|| panic!("no {collection} line in {report}"))
}

#[tokio::test]
async fn import_reports_and_running_it_again_changes_nothing() {
    let app = spawn_app().await;
    let (dir, docs) = export();

    // A dry run writes nothing.
    let before = row_counts(&app);
    let dry = stdout(&import(&app, dir.path(), &["--dry-run"]).await);
    assert!(dry.contains("dry run"), "{dry}");
    assert!(line(&dry, "users").contains("would import     5"), "{dry}");
    assert_eq!(row_counts(&app), before);

    let report = stdout(&import(&app, dir.path(), &[]).await);
    for (collection, read, imported) in [
        ("users", 5, 5),
        ("teachers", 2, 2),
        ("students", 3, 3),
        ("subjects", 1, 1),
        ("attendance_daily", 3, 2),
        ("email_logs", 2, 2),
    ] {
        let l = line(&report, collection);
        assert!(
            l.contains(&format!("read {read:>5}, imported {imported:>5}")),
            "{l}"
        );
    }
    assert!(
        line(&report, "attendance_daily").contains("skipped: see notes 1"),
        "{report}"
    );
    for needle in [
        "face enrolment needed: 3 student(s)",
        "9,216 raw pixels",
        "1 account(s) had no seed password",
        "only on the student side",
        &format!("subject {GONE_SUBJECT} does not exist"),
        "counts 4 students but 3 are enrolled",
        &format!("student {S1} has seed counters present + absent = 5 over 2 recorded day(s)"),
    ] {
        assert!(report.contains(needle), "{needle:?} not in {report}");
    }

    // What was written: the seed's ids, normalised e-mails, profiles, enrolments, history, mail.
    let db = app.db();
    let (email, role): (String, String) = db
        .query_row("SELECT email, role FROM users WHERE id = ?1", [S1], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (email.as_str(), role.as_str()),
        ("sam@seed.test", "student")
    );
    let (employee, settings): (String, String) = db
        .query_row(
            "SELECT employee_id, settings FROM teachers WHERE user_id = ?1",
            [T1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(employee, "E-17");
    assert!(settings.contains("Dark"), "{settings}");
    let students: Vec<(String, String, i64)> = db
        .prepare("SELECT user_id, year, (SELECT verified FROM enrolments e WHERE e.student_id = s.user_id) FROM students s ORDER BY user_id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(
        students,
        [
            (S1.to_owned(), "2".to_owned(), 1),
            (S2.to_owned(), "2".to_owned(), 0),
            (S3.to_owned(), "1".to_owned(), 0)
        ]
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM subject_teachers WHERE subject_id = '{SUBJECT}'")
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT CAST(SUM(present) * 10 + SUM(absent) AS BIGINT) FROM attendance_counts"
        ),
        42
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'notify.absence' AND status IN ('sent', 'dead')"
        ),
        2
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM seed_imports WHERE collection = 'students' AND seed_id = '{}' AND target = '{S1}'",
                STUDENT_DOCS[0]
            )
        ),
        1,
        "the student document's id maps to the account"
    );

    // Again: nothing new, every row counted as already imported.
    let after = row_counts(&app);
    let again = stdout(&import(&app, dir.path(), &[]).await);
    assert_eq!(row_counts(&app), after);
    assert!(
        line(&again, "users").contains("imported     0, skipped: already imported     5"),
        "{again}"
    );
    assert!(
        line(&again, "email_logs").contains("imported     0, skipped: already imported     2"),
        "{again}"
    );

    // A document changed in the export since: reported, not overwritten.
    let mut changed = docs;
    changed[0].1[1]["name"] = json!("Thomas Teacher");
    write_export(dir.path(), &changed);
    let third = stdout(&import(&app, dir.path(), &[]).await);
    assert!(
        line(&third, "users").contains(&format!(
            "changed since the last import (not overwritten) 1: {T2}"
        )),
        "{third}"
    );
    let name: String = app
        .db()
        .query_row("SELECT name FROM users WHERE id = ?1", [T2], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "Tom Teacher");
    assert_eq!(row_counts(&app), after);
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let resp = app
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await;
    let status = resp.status();
    (status, body(resp).await)
}

fn stored_hash(app: &TestApp, id: &str) -> String {
    app.db()
        .query_row("SELECT password_hash FROM users WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn seed_passwords_log_in_and_are_upgraded_to_argon2id() {
    let app = spawn_app().await;
    let (dir, _) = export();
    stdout(&import(&app, dir.path(), &[]).await);
    assert!(stored_hash(&app, T1).starts_with("$2b$"));

    // A wrong password is refused and leaves the legacy hash alone.
    let (status, _) = login_status(&app, "tina@seed.test", "not-the-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(stored_hash(&app, T1).starts_with("$2b$"));

    let (status, v) = login_status(&app, "tina@seed.test", T1_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user_id"], T1, "the seed's id is the account's id");
    assert!(stored_hash(&app, T1).starts_with("$argon2id$"));
    let (status, v) = login_status(&app, "tina@seed.test", T1_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The seed trimmed passwords before hashing, and e-mails are matched case-insensitively.
    let (status, v) = login_status(&app, "SAM@seed.test", &format!(" {S1_PASSWORD} ")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(stored_hash(&app, S1).starts_with("$argon2id$"));
    let (status, _) = login_status(&app, "sam@seed.test", S1_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);

    // Imported students are flagged for face enrolment.
    let admin = app.admin_token().await;
    let resp = app.get(&format!("/api/students/{S1}"), Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = body(resp).await;
    assert_eq!(v["face_enrolment_needed"], true, "{v}");
    assert_eq!(v["face_samples"], 0, "{v}");
    assert_eq!(v["roll"], "R-001", "{v}");
}

#[tokio::test]
async fn faces_enrol_from_photos_named_by_email_or_seed_id() {
    let app = spawn_app().await;
    let (dir, _) = export();
    let faces = tempfile::tempdir().unwrap();
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/testdata/face_recognition");
    for (from, to) in [
        ("obama.jpg", "sam@seed.test.jpg".to_owned()),
        ("biden.jpg", format!("{S2}.jpg")),
    ] {
        std::fs::copy(photos.join(from), faces.path().join(to)).unwrap();
    }
    let faces_dir = faces.path().display().to_string();
    // Without recorded consent the enrolment path refuses, as the server does; the import stands.
    let out = import(&app, dir.path(), &["--faces", &faces_dir]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no biometric consent recorded"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE role = 'student'"),
        3
    );
    let out = import(
        &app,
        dir.path(),
        &["--faces", &faces_dir, "--record-consent"],
    )
    .await;
    let report = stdout(&out);
    assert!(
        report.contains("enrolled 2 photos of 2 students"),
        "{report}"
    );
    let samples = |id: &str| {
        count(
            &app,
            &format!("SELECT COUNT(*) FROM face_samples WHERE student_id = '{id}'"),
        )
    };
    assert_eq!((samples(S1), samples(S2), samples(S3)), (1, 1, 0));
    let admin = app.admin_token().await;
    for (id, needed) in [(S1, false), (S3, true)] {
        let v = body(app.get(&format!("/api/students/{id}"), Some(&admin)).await).await;
        assert_eq!(v["face_enrolment_needed"], needed, "{v}");
    }
}

#[tokio::test]
async fn seed_day_summaries_show_in_analytics() {
    let app = spawn_app().await;
    let (dir, _) = export();
    stdout(&import(&app, dir.path(), &[]).await);
    let (status, v) = login_status(&app, "tina@seed.test", T1_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = token_of(&v);

    let resp = app
        .get(
            &format!("/api/analytics/attendance-trend?classId={SUBJECT}&dateFrom=2024-01-01&dateTo=2024-01-31"),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = body(resp).await;
    let days: Vec<(Value, Value, Value, Value)> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {v}"))
        .iter()
        .map(|d| {
            (
                d["date"].clone(),
                d["present"].clone(),
                d["absent"].clone(),
                d["percentage"].clone(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            (json!("2024-01-15"), json!(1), json!(1), json!(50.0)),
            (json!("2024-01-16"), json!(3), json!(1), json!(75.0)),
        ]
    );

    let resp = app
        .get(
            &format!("/api/analytics/monthly-summary?classId={SUBJECT}"),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = body(resp).await;
    let month = &v["data"][0];
    assert_eq!(month["month"], "2024-01", "{v}");
    assert_eq!(month["totalPresent"], 4, "{v}");
    assert_eq!(month["totalAbsent"], 2, "{v}");
    assert_eq!(month["averagePercentage"], 66.67, "{v}");

    // The day summaries have no per-student records, and the seed's own per-student counters
    // (Sam: present 4, absent 1) are not imported: the roster counts from rollcall's records
    // only, so Sam starts at zero while the class figures above keep the history.
    let resp = app
        .get(
            &format!("/settings/teachers/subjects/{SUBJECT}/students"),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let roster = body(resp).await;
    let sam = roster
        .as_array()
        .and_then(|l| l.iter().find(|r| r["student_id"] == S1))
        .cloned()
        .unwrap_or_else(|| panic!("no Sam in {roster}"));
    assert_eq!(
        sam["attendance"],
        json!({"present": 0, "absent": 0, "total": 0, "percentage": 0}),
        "{roster}"
    );

    // The web page's session list shows them as imported day summaries with their totals; they
    // have no per-student records, so a correction is refused.
    let resp = app
        .get(
            &format!("/api/attendance/subjects/{SUBJECT}/sessions"),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list = body(resp).await;
    let first = &list[0];
    assert_eq!(first["date"], "2024-01-16", "{list}");
    assert_eq!(first["imported"], true, "{list}");
    assert_eq!(first["summary"]["present"], 3, "{list}");
    assert_eq!(first["summary"]["percentage"], 75.0, "{list}");
    let id = first["session_id"].as_str().unwrap_or_default();
    let resp = app
        .get(&format!("/api/attendance/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let one = body(resp).await;
    assert_eq!(one["imported"], true, "{one}");
    assert_eq!(one["summary"]["absent"], 1, "{one}");
    let student = one["records"][0]["student_id"].as_str().unwrap_or_default();
    assert!(one["records"][0]["status"].is_null(), "{one}");
    let resp = app
        .put(
            &format!("/api/attendance/sessions/{id}/records/{student}"),
            &json!({"status": "present"}),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn bad_exports_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let before = row_counts(&app);
    type Spoil = fn(&Path, &mut [(&'static str, Vec<Value>)]);
    let cases: [(&str, Spoil, &str); 5] = [
        (
            "missing collection",
            |dir, _| {
                std::fs::remove_file(dir.join("email_logs.json")).unwrap();
            },
            "missing collection email_logs",
        ),
        (
            "malformed JSON",
            |dir, _| {
                std::fs::write(dir.join("subjects.json"), "{\"_id\": {\"$oid\": \"65c0").unwrap();
            },
            "subjects.json: malformed JSON",
        ),
        (
            "duplicate e-mail",
            |dir, c| {
                c[0].1[1]["email"] = json!("TINA@seed.test");
                write_export(dir, c);
            },
            "duplicate e-mail tina@seed.test",
        ),
        (
            "dangling enrolment",
            |dir, c| {
                c[3].1[0]["students"][1]["student_id"] =
                    json!({"$oid": "65a0000000000000000000ee"});
                write_export(dir, c);
            },
            "enrols 65a0000000000000000000ee, who is not a student in users (dangling reference)",
        ),
        (
            "dangling profile",
            |dir, c| {
                c[1].1[1]["userId"] = json!({"$oid": S1});
                write_export(dir, c);
            },
            "refers to no teacher in users",
        ),
    ];
    for (what, spoil, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut c = collections();
        write_export(dir.path(), &c);
        spoil(dir.path(), &mut c);
        let out = import(&app, dir.path(), &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(stderr.contains("nothing was written"), "{what}: {stderr}");
        assert!(
            stderr.contains(message),
            "{what}: {message:?} not in {stderr}"
        );
        assert_eq!(row_counts(&app), before, "{what}");
    }
}
