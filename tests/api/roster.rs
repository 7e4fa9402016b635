//! Roster import (`/api/admin/roster/preview`, `/api/admin/roster/import`, `rollcall
//! import-roster`): the preview writes nothing and names each problem's line and column; an
//! import with any problem writes nothing; a good file is written once and importing it again
//! changes nothing; encodings and delimiters; who may import; two imports at once; the command
//! line does what the API does.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::backend::rollcall_command;
use crate::support::world::{student, subject, teacher};
use crate::support::{ADMIN_EMAIL, SECRET, TestApp, body, expect_detail, spawn_app};

const PREVIEW: &str = "/api/admin/roster/preview";
const IMPORT: &str = "/api/admin/roster/import";

async fn upload(app: &TestApp, path: &str, csv: &[u8], token: Option<&str>) -> reqwest::Response {
    app.post_multipart(
        path,
        &[("file", Some("roster.csv"), "text/csv", csv)],
        token,
    )
    .await
}

/// A 200 answer's report.
async fn report(app: &TestApp, path: &str, csv: &[u8], token: &str) -> Value {
    let resp = upload(app, path, csv, Some(token)).await;
    let status = resp.status();
    let v = body(resp).await;
    assert_eq!(status, StatusCode::OK, "{path}: {v}");
    v
}

/// Rows of the tables an import writes (accounts, their profiles, enrolments, teachers, audit).
fn counts(app: &TestApp) -> Vec<i64> {
    let db = app.db();
    [
        "users",
        "students",
        "teachers",
        "enrolments",
        "subject_teachers",
        "audit_log",
        "invitations",
        "outbox",
    ]
    .iter()
    .map(|t| {
        db.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    })
    .collect()
}

/// Every account with its profile and subjects, one sorted line each (ids left out), to
/// compare two schools.
fn school(app: &TestApp) -> Vec<String> {
    let db = app.db();
    let mut stmt = db
        .prepare(
            "SELECT u.email, u.name, u.role, COALESCE(st.roll, ''), COALESCE(st.year, ''),
                    COALESCE(st.branch, t.branch, ''), COALESCE(t.employee_id, ''),
                    u.password_hash,
                    (SELECT COUNT(*) FROM enrolments e WHERE e.student_id = u.id AND e.verified = 1),
                    (SELECT COUNT(*) FROM subject_teachers x WHERE x.teacher_id = u.id)
             FROM users u LEFT JOIN students st ON st.user_id = u.id
             LEFT JOIN teachers t ON t.user_id = u.id",
        )
        .unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?.len(),
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .filter(|l| !l.starts_with(ADMIN_EMAIL))
        .collect();
    rows.sort();
    rows
}

fn name_of(app: &TestApp, email: &str) -> String {
    app.db()
        .query_row("SELECT name FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .unwrap_or_else(|e| panic!("{email}: {e}"))
}

/// Three subjects the files name, created by the administrator.
async fn subjects(app: &TestApp, admin: &str) {
    for code in ["MATH101", "PHY101", "CHEM101"] {
        subject(app, admin, code, &[]).await;
    }
}

/// Two teachers and `n` students; `edit(i, line)` may change student `i`'s line.
fn class_csv(n: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut csv = String::from("Name,E-mail,Role,Roll No,Subjects,Year,Branch,Employee ID\r\n");
    csv.push_str("Ada Teacher,ada@school.test,teacher,,MATH101;PHY101,,Science,E-1\r\n");
    csv.push_str("Bo Teacher,bo@school.test,Teacher,,CHEM101,,Science,E-2\r\n");
    for i in 1..=n {
        let subjects = if i % 2 == 0 {
            "MATH101 PHY101"
        } else {
            "MATH101|CHEM101"
        };
        let line =
            format!("Student {i},s{i}@school.test,student,R{i:03},{subjects},2026,Science,\r\n");
        csv.push_str(&edit(i, line));
    }
    csv
}

fn lines_with_problems(report: &Value) -> Vec<(u64, String, String)> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["problems"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["column"].as_str().unwrap_or("").to_owned(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn roster_forty_students_preview_errors_then_import_then_idempotent() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subjects(&app, &admin).await;
    // Three deliberate errors: a malformed e-mail (line 8), an unknown subject (line 14),
    // student 20 given student 19's roll (line 23). The header is line 1, teachers 2 and 3.
    let broken = class_csv(40, |i, line| match i {
        5 => line.replace("s5@school.test", "s5-at-school.test"),
        11 => line.replace("MATH101|CHEM101", "MATH101|BIO999"),
        20 => line.replace("R020", "R019"),
        _ => line,
    });
    let before = counts(&app);
    let r = report(&app, PREVIEW, broken.as_bytes(), &admin).await;
    assert_eq!(r["errors"], 3, "{r}");
    assert_eq!(r["created"], 39);
    assert_eq!(r["rows"], 42);
    assert_eq!(r["written"], false);
    assert_eq!(r["delimiter"], "comma");
    assert_eq!(r["encoding"], "utf-8");
    let problems = lines_with_problems(&r);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!((problems[0].0, problems[0].1.as_str()), (8, "email"));
    assert_eq!((problems[1].0, problems[1].1.as_str()), (14, "subjects"));
    assert!(problems[1].2.contains("BIO999"), "{}", problems[1].2);
    assert_eq!((problems[2].0, problems[2].1.as_str()), (23, "roll"));
    assert!(problems[2].2.contains("line 22"), "{}", problems[2].2);
    assert_eq!(r["lines"][6]["action"], "error");
    assert_eq!(counts(&app), before, "a preview writes nothing");

    // The import refuses the whole file with the same report.
    let resp = upload(&app, IMPORT, broken.as_bytes(), Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(resp).await;
    assert!(refused["detail"].as_str().unwrap().contains("3 line(s)"));
    assert_eq!(lines_with_problems(&refused["report"]), problems);
    assert_eq!(counts(&app), before, "a refused import writes nothing");

    // Fixed, it is written once.
    let fixed = class_csv(40, |_, line| line);
    let r = report(&app, IMPORT, fixed.as_bytes(), &admin).await;
    assert_eq!(
        (
            &r["created"],
            &r["updated"],
            &r["unchanged"],
            &r["errors"],
            &r["written"]
        ),
        (
            &Value::from(42),
            &Value::from(0),
            &Value::from(0),
            &Value::from(0),
            &Value::from(true)
        ),
        "{r}"
    );
    assert_eq!(
        r["lines"][2]["changes"],
        serde_json::json!(["enrol MATH101", "enrol CHEM101"])
    );
    let after = counts(&app);
    assert_eq!(after[0] - before[0], 42, "accounts");
    assert_eq!(after[1] - before[1], 40, "student profiles");
    assert_eq!(after[2] - before[2], 2, "teacher profiles");
    assert_eq!(after[3] - before[3], 80, "enrolments");
    assert_eq!(after[4] - before[4], 3, "teaching links");
    assert_eq!(after[6] - before[6], 42, "every new account is invited");
    assert_eq!(after[7] - before[7], 42, "one invitation mail each");
    let kinds: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(DISTINCT recipient) FROM outbox WHERE kind = 'invitation'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kinds, 42, "to each new account's own address");
    let approved: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM enrolments WHERE verified = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved, 80, "imported enrolments are approved");
    let roll: String = app
        .db()
        .query_row(
            "SELECT st.roll FROM students st JOIN users u ON u.id = st.user_id WHERE u.email = ?1",
            ["s7@school.test"],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(roll, "R007");
    let (import_audits, detail): (i64, String) = app
        .db()
        .query_row(
            "SELECT COUNT(*), MAX(detail) FROM audit_log WHERE action = 'roster.import'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(import_audits, 1);
    assert!(
        detail.contains("created=42") && detail.contains(r["sha256"].as_str().unwrap()),
        "{detail}"
    );
    let created_audits: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.create_user'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(created_audits >= 42, "{created_audits}");

    // New accounts have no password: none logs them in.
    for pw in ["!", "", "student-pass-1", "Student 3"] {
        let resp = app
            .post(
                "/api/auth/login",
                &serde_json::json!({"email": "s3@school.test", "password": pw}),
                None,
            )
            .await;
        assert!(
            resp.status().is_client_error(),
            "login with {pw:?}: {}",
            resp.status()
        );
    }

    // Again: nothing changes but the import's own audit entry.
    let again = report(&app, IMPORT, fixed.as_bytes(), &admin).await;
    assert_eq!(
        (&again["created"], &again["updated"], &again["unchanged"]),
        (&Value::from(0), &Value::from(0), &Value::from(42))
    );
    assert!(
        again["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["action"] == "unchanged")
    );
    let mut expected = after.clone();
    expected[5] += 1;
    assert_eq!(counts(&app), expected, "a second import changes nothing");

    // A changed name, a new subject and a new roll are updates; nothing else moves.
    let edited = class_csv(40, |i, line| match i {
        3 => line.replace("Student 3", "Student Three"),
        4 => line.replace("MATH101 PHY101", "MATH101 PHY101 CHEM101"),
        _ => line,
    });
    let r = report(&app, IMPORT, edited.as_bytes(), &admin).await;
    assert_eq!(
        (&r["updated"], &r["unchanged"]),
        (&Value::from(2), &Value::from(40)),
        "{r}"
    );
    assert_eq!(r["lines"][4]["changes"], serde_json::json!(["name"]));
    assert_eq!(
        r["lines"][5]["changes"],
        serde_json::json!(["enrol CHEM101"])
    );
    assert_eq!(name_of(&app, "s3@school.test"), "Student Three");
}

/// Preview and import of `csv` both report a problem at `line`/`column` whose message holds
/// `says`, and nothing is written.
async fn refused_line(csv: &str, prepare: Option<&str>, line: u64, column: &str, says: &str) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subjects(&app, &admin).await;
    if let Some(first) = prepare {
        report(&app, IMPORT, first.as_bytes(), &admin).await;
    }
    let before = counts(&app);
    let r = report(&app, PREVIEW, csv.as_bytes(), &admin).await;
    let problems = lines_with_problems(&r);
    assert!(
        problems
            .iter()
            .any(|(l, c, m)| *l == line && c == column && m.contains(says)),
        "expected line {line}, {column}: {says:?} in {problems:?}"
    );
    let resp = upload(&app, IMPORT, csv.as_bytes(), Some(&admin)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(resp).await;
    assert_eq!(lines_with_problems(&v["report"]), problems);
    assert_eq!(counts(&app), before);
}

const OK_LINE: &str = "Fine Student,fine@school.test,student,F1,MATH101\n";

#[tokio::test]
async fn roster_refuses_duplicate_email_in_file() {
    let csv = format!("name,email,role,roll,subjects\n{OK_LINE}Dup,FINE@school.test,,F2,\n");
    refused_line(&csv, None, 3, "email", "also on line 2").await;
}

#[tokio::test]
async fn roster_refuses_duplicate_roll_in_file() {
    let csv = format!("name,email,role,roll,subjects\n{OK_LINE}Other,o@school.test,,f1,\n");
    refused_line(&csv, None, 3, "roll", "also on line 2").await;
}

#[tokio::test]
async fn roster_refuses_roll_of_another_existing_student() {
    let first = "name,email,roll\nHolder,holder@school.test,H-7\n";
    let csv = "name,email,roll\nNewcomer,new@school.test,H-7\n";
    refused_line(csv, Some(first), 2, "roll", "holder@school.test").await;
}

#[tokio::test]
async fn roster_refuses_role_change_of_existing_account() {
    let first = "name,email,role\nTeach,t@school.test,teacher\n";
    let csv = "name,email,role\nTeach,t@school.test,student\n";
    refused_line(csv, Some(first), 2, "role", "never changes").await;
    let csv = format!("name,email,role\n{}", "Boss,admin@school.test,student\n");
    refused_line(&csv, None, 2, "role", "existing admin").await;
}

#[tokio::test]
async fn roster_refuses_unknown_subject_code() {
    let csv = "name,email,subjects\nX,x@school.test,math101;NOPE-1\n";
    refused_line(csv, None, 2, "subjects", "NOPE-1").await;
}

#[tokio::test]
async fn roster_refuses_malformed_email() {
    let csv = "name,email\nX,not an address\n";
    refused_line(csv, None, 2, "email", "not a valid e-mail").await;
    let csv = "name,email\nX,\n";
    refused_line(csv, None, 2, "email", "required").await;
}

#[tokio::test]
async fn roster_refuses_missing_name() {
    let csv = format!("name,email\n{}", "  ,x@school.test\n");
    refused_line(&csv, None, 2, "name", "required").await;
}

#[tokio::test]
async fn roster_refuses_bad_and_admin_roles() {
    refused_line(
        "name,email,role\nX,x@school.test,principal\n",
        None,
        2,
        "role",
        "neither",
    )
    .await;
    refused_line(
        "name,email,role\nX,x@school.test,Admin\n",
        None,
        2,
        "role",
        "not imported",
    )
    .await;
}

/// A file that cannot be a roster: `status` from both routes, and nothing written.
async fn refused_file(file: &[u8], status: StatusCode, says: &str) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = counts(&app);
    for path in [PREVIEW, IMPORT] {
        let detail = expect_detail(upload(&app, path, file, Some(&admin)).await, status).await;
        assert!(detail.contains(says), "{path}: {detail}");
    }
    assert_eq!(counts(&app), before);
}

#[tokio::test]
async fn roster_refuses_binary_and_workbook_files() {
    let png = crate::support::media::photo("obama.jpg");
    refused_file(&png, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not a CSV").await;
    refused_file(
        b"PK\x03\x04\x14\x00\x06\x00xl/workbook.xml",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "workbook",
    )
    .await;
}

#[tokio::test]
async fn roster_refuses_too_large_file() {
    let mut big = b"name,email\n".to_vec();
    big.resize(2 * 1024 * 1024 + 1, b' ');
    refused_file(&big, StatusCode::PAYLOAD_TOO_LARGE, "2 MiB").await;
}

#[tokio::test]
async fn roster_refuses_too_many_rows() {
    let mut csv = String::from("name,email\n");
    for i in 0..5001 {
        csv.push_str(&format!("S{i},s{i}@school.test\n"));
    }
    refused_file(
        csv.as_bytes(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "at most 5000",
    )
    .await;
}

#[tokio::test]
async fn roster_refuses_empty_file_and_header_only() {
    refused_file(b"", StatusCode::UNPROCESSABLE_ENTITY, "empty").await;
    refused_file(
        b"\xEF\xBB\xBF\r\n \r\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "empty",
    )
    .await;
    refused_file(
        b"name,email\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "no accounts",
    )
    .await;
}

#[tokio::test]
async fn roster_refuses_header_without_email_or_name() {
    refused_file(
        b"name,roll\nX,1\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "no email column",
    )
    .await;
    refused_file(
        b"email,roll\nx@school.test,1\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "no name column",
    )
    .await;
    // A file whose first line is data, not a header.
    refused_file(
        b"Ann,ann@school.test\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "no name column",
    )
    .await;
    refused_file(
        b"name,email\n\"X,x@school.test\n",
        StatusCode::UNPROCESSABLE_ENTITY,
        "never closed",
    )
    .await;
}

#[tokio::test]
async fn roster_reads_encodings_delimiters_and_quotes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subjects(&app, &admin).await;

    // UTF-8 with a byte order mark, `;`, an unknown column (a warning).
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(
        "Name;Email;House;Subjects\r\nRenée Ødegård;renee@school.test;Red;MATH101\r\n".as_bytes(),
    );
    let r = report(&app, IMPORT, &bom, &admin).await;
    assert_eq!(
        (&r["encoding"], &r["delimiter"]),
        (&Value::from("utf-8-bom"), &Value::from("semicolon"))
    );
    assert_eq!(r["warnings"][0]["column"], "House", "{r}");
    assert_eq!(name_of(&app, "renee@school.test"), "Renée Ødegård");

    // Latin-1 (Windows-1252) with tabs.
    let latin1 = b"name\temail\troll\nJos\xE9 M\xFC\xF1oz\tjose@school.test\tL-1\n";
    let r = report(&app, IMPORT, latin1, &admin).await;
    assert_eq!(
        (&r["encoding"], &r["delimiter"]),
        (&Value::from("windows-1252"), &Value::from("tab"))
    );
    assert_eq!(name_of(&app, "jose@school.test"), "José Müñoz");

    // Quoted fields holding commas, doubled quotes and a line break; the next record's line.
    let quoted = "name,email,subjects,branch\n\"Doe, Jane \"\"JD\"\"\",jane@school.test,\"MATH101, PHY101\",\"Arts,\nEvening\"\nBad,bad-address,,\n";
    let r = report(&app, PREVIEW, quoted.as_bytes(), &admin).await;
    assert_eq!(r["lines"][0]["name"], "Doe, Jane \"JD\"");
    assert_eq!(
        r["lines"][1]["line"], 4,
        "the record after a quoted line break starts on line 4"
    );
    let fixed = quoted.replace("Bad,bad-address,,\n", "");
    report(&app, IMPORT, fixed.as_bytes(), &admin).await;
    assert_eq!(name_of(&app, "jane@school.test"), "Doe, Jane \"JD\"");
    let branch: String = app
        .db()
        .query_row(
            "SELECT st.branch FROM students st JOIN users u ON u.id = st.user_id WHERE u.email = ?1",
            ["jane@school.test"],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        branch, "Arts, Evening",
        "a line break inside a cell is a space"
    );
}

#[tokio::test]
async fn roster_import_refused_to_teachers_students_and_anonymous() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subjects(&app, &admin).await;
    let (teacher, _) = teacher(&app, "teach@school.test").await;
    let (student, _) = student(&app, "stud@school.test").await;
    let csv = b"name,email,role,subjects\nSneaky,sneaky@school.test,teacher,MATH101\n";
    let before = counts(&app);
    for (token, status) in [
        (Some(teacher.as_str()), StatusCode::FORBIDDEN),
        (Some(student.as_str()), StatusCode::FORBIDDEN),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for path in [PREVIEW, IMPORT] {
            expect_detail(upload(&app, path, csv, token).await, status).await;
        }
    }
    assert_eq!(
        counts(&app),
        before,
        "nobody but an administrator writes through the import"
    );
}

#[tokio::test]
async fn roster_concurrent_imports_create_each_account_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    subjects(&app, &admin).await;
    let csv = class_csv(30, |_, line| line);
    let before = counts(&app);
    let (a, b) = tokio::join!(
        upload(&app, IMPORT, csv.as_bytes(), Some(&admin)),
        upload(&app, IMPORT, csv.as_bytes(), Some(&admin)),
    );
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (a, b) = (body(a).await, body(b).await);
    let created = a["created"].as_u64().unwrap() + b["created"].as_u64().unwrap();
    let unchanged = a["unchanged"].as_u64().unwrap() + b["unchanged"].as_u64().unwrap();
    assert_eq!(
        (created, unchanged),
        (32, 32),
        "one wrote, the other found it written: {a} {b}"
    );
    let after = counts(&app);
    assert_eq!(after[0] - before[0], 32);
    assert_eq!(after[3] - before[3], 60);
    let dups: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM (SELECT email FROM users GROUP BY email HAVING COUNT(*) > 1) d",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dups, 0);
}

fn cli(app: &TestApp, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let dir = app.data_dir.path().display().to_string();
    let mut args = vec![
        "import-roster".to_owned(),
        file.display().to_string(),
        "--data-dir".to_owned(),
        dir,
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    // The server's environment, as an operator runs the command next to it: the links it mails
    // are signed with the server's key.
    rollcall_command(&args)
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("running rollcall")
}

#[tokio::test]
async fn roster_cli_dry_run_real_run_and_bad_file() {
    let (http, by_cli) = (spawn_app().await, spawn_app().await);
    for app in [&http, &by_cli] {
        let admin = app.admin_token().await;
        subjects(app, &admin).await;
    }
    let csv = class_csv(12, |_, line| line);
    let file = by_cli.data_dir.path().join("roster.csv");
    std::fs::write(&file, &csv).unwrap();

    let before = counts(&by_cli);
    let out = cli(&by_cli, &file, &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("created: 14") && stdout.contains("nothing written"),
        "{stdout}"
    );
    assert_eq!(counts(&by_cli), before, "a dry run writes nothing");

    let out = cli(&by_cli, &file, &["--as", ADMIN_EMAIL]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("created: 14"), "{stdout}");
    let admin = http.admin_token().await;
    let r = report(&http, IMPORT, csv.as_bytes(), &admin).await;
    assert_eq!(r["created"], 14);
    assert_eq!(
        school(&by_cli),
        school(&http),
        "the command line writes what the API writes"
    );
    // The invitation the command line mailed opens on the server.
    let token = crate::invitations::token_in(&by_cli.last_mail("invitation", "s1@school.test"));
    let who = by_cli
        .get(&format!("/api/auth/invitation?token={token}"), None)
        .await;
    assert_eq!(who.status(), StatusCode::OK, "the server accepts the link");
    let (actor, detail): (Option<String>, String) = by_cli
        .db()
        .query_row(
            "SELECT a.actor_id, a.detail FROM audit_log a WHERE a.action = 'roster.import'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        actor.is_some() && detail.ends_with("via cli"),
        "{actor:?} {detail}"
    );

    // A second run changes nothing; a bad file exits non-zero and writes nothing.
    let out = cli(&by_cli, &file, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged: 14"));
    let bad = by_cli.data_dir.path().join("bad.csv");
    std::fs::write(&bad, "name,email,subjects\nNew,new@school.test,NOPE\n").unwrap();
    let before = counts(&by_cli);
    let out = cli(&by_cli, &bad, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("error: line 2, subjects"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert_eq!(counts(&by_cli), before);
    let out = cli(&by_cli, &file, &["--as", "s1@school.test"]);
    assert!(!out.status.success(), "--as a student is refused");
}
