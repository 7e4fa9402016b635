//! Analytics through HTTP against real confirmed sessions: every figure below is worked out by
//! hand from the decisions recorded here (late counts as attended unless configured otherwise,
//! excused is left out of the denominator, holidays and exam days are not sessions).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::world::{confirm, enrol, student, subject, teacher};
use crate::support::{TestApp, expect_detail, ok, spawn_app, spawn_app_with};

/// A school: teacher `t1` teaches ALG101 (s1..s4), BIO101 (s1, s2) and DRA101 (no sessions);
/// teacher `t2` teaches CHE101 (s3).
struct School {
    t1: String,
    t2: String,
    admin: String,
    tokens: [String; 4],
    ids: [String; 4],
    alg: String,
    bio: String,
    che: String,
    dra: String,
    /// ALG101's session of 2026-04-06.
    april_session: String,
}

async fn school(app: &TestApp) -> School {
    let (t1, _) = teacher(app, "t1@school.test").await;
    let (t2, _) = teacher(app, "t2@school.test").await;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=4 {
        let (token, id) = student(app, &format!("s{n}@school.test")).await;
        tokens.push(token);
        ids.push(id);
    }
    let [s1, s2, s3, s4] = [&ids[0], &ids[1], &ids[2], &ids[3]].map(String::as_str);
    let alg = subject(app, &t1, "ALG101", &[s1, s2, s3, s4]).await;
    let bio = subject(app, &t1, "BIO101", &[s1, s2]).await;
    let dra = subject(app, &t1, "DRA101", &[s1]).await;
    // s3 is in t1's class too: only an administrator enrols them in a second teacher's.
    let che = subject(app, &t2, "CHE101", &[]).await;
    enrol(app, &app.admin_token().await, &che, &[s3]).await;

    // ALG101.
    let c = |date: &'static str, slot: i64, d: [&'static str; 4]| {
        let (app, t1, alg) = (app, &t1, &alg);
        let decisions = [(s1, d[0]), (s2, d[1]), (s3, d[2]), (s4, d[3])];
        async move { confirm(app, t1, alg, date, slot, &decisions).await }
    };
    c("2026-03-02", 0, ["present", "late", "excused", "absent"]).await;
    c("2026-03-03", 1, ["present", "present", "present", "absent"]).await;
    c("2026-03-03", 2, ["late", "absent", "present", "present"]).await;
    // Recorded, then made a holiday and an exam day in the timetable below: not sessions.
    c("2026-03-09", 0, ["absent", "absent", "absent", "absent"]).await;
    c("2026-03-16", 0, ["absent", "absent", "absent", "absent"]).await;
    let april = c("2026-04-06", 0, ["present", "absent", "excused", "excused"]).await;
    c(
        "2026-04-07",
        0,
        ["excused", "excused", "excused", "excused"],
    )
    .await;

    // BIO101: exactly 75 %, which is not below the threshold.
    confirm(
        app,
        &t1,
        &bio,
        "2026-03-02",
        0,
        &[(s1, "present"), (s2, "present")],
    )
    .await;
    confirm(
        app,
        &t1,
        &bio,
        "2026-03-04",
        0,
        &[(s1, "present"), (s2, "absent")],
    )
    .await;
    // CHE101 (t2): 0 %.
    confirm(app, &t2, &che, "2026-03-02", 0, &[(s3, "absent")]).await;

    let schedule = json!({"timetable": [],
        "holidays": [{"date": "2026-03-09", "name": "Spring break"}],
        "exams": [{"date": "2026-03-16", "name": "Finals"}]});
    ok(app
        .put("/api/settings", &json!({"schedule": schedule}), Some(&t1))
        .await)
    .await;

    School {
        admin: app.admin_token().await,
        t1,
        t2,
        tokens: [
            tokens[0].clone(),
            tokens[1].clone(),
            tokens[2].clone(),
            tokens[3].clone(),
        ],
        ids: [
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[3].clone(),
        ],
        alg,
        bio,
        che,
        dra,
        april_session: april["session_id"].as_str().unwrap_or_default().to_owned(),
    }
}

fn trend_url(sid: &str, from: &str, to: &str) -> String {
    format!("/api/analytics/attendance-trend?classId={sid}&dateFrom={from}&dateTo={to}")
}

fn day(date: &str, p: i64, l: i64, e: i64, a: i64, sessions: i64, pct: Value) -> Value {
    json!({"date": date, "present": p, "late": l, "excused": e, "absent": a,
           "total": p + l + e + a, "sessions": sessions, "percentage": pct})
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {v}"))
}

#[tokio::test]
async fn trend_and_monthly_summary_from_confirmed_sessions() {
    let app = spawn_app().await;
    let s = school(&app).await;

    // Per day: 03-02 P1 L1 E1 A1 -> 2/3; 03-03 two sessions P5 L1 A2 -> 6/8; 04-06 P1 E2 A1 ->
    // 1/2; 04-07 only excused -> null. 03-09 (holiday) and 03-16 (exam day) are left out.
    let v = ok(app
        .get(&trend_url(&s.alg, "2026-03-01", "2026-04-30"), Some(&s.t1))
        .await)
    .await;
    assert_eq!(v["classId"], s.alg.as_str());
    assert_eq!(v["dateFrom"], "2026-03-01");
    assert_eq!(v["dateTo"], "2026-04-30");
    assert_eq!(
        v["data"],
        json!([
            day("2026-03-02", 1, 1, 1, 1, 1, json!(66.67)),
            day("2026-03-03", 5, 1, 0, 2, 2, json!(75.0)),
            day("2026-04-06", 1, 0, 2, 1, 1, json!(50.0)),
            day("2026-04-07", 0, 0, 4, 0, 1, Value::Null),
        ])
    );
    // The range is inclusive at both ends; an administrator sees the same.
    let v = ok(app
        .get(
            &trend_url(&s.alg, "2026-03-03", "2026-03-03"),
            Some(&s.admin),
        )
        .await)
    .await;
    assert_eq!(
        v["data"],
        json!([day("2026-03-03", 5, 1, 0, 2, 2, json!(75.0))])
    );
    // Only the holiday and the exam day in range, or nothing at all: empty, not an error.
    for (from, to) in [("2026-03-04", "2026-03-31"), ("2027-01-01", "2027-12-31")] {
        let v = ok(app.get(&trend_url(&s.alg, from, to), Some(&s.t1)).await).await;
        assert_eq!(v["data"], json!([]), "{from}..{to}");
    }

    // Months, newest first: April P1 E6 A1 -> 1/2; March P6 L2 E1 A3 -> 8/11 = 72.727...
    let v = ok(app
        .get(
            &format!("/api/analytics/monthly-summary?classId={}", s.alg),
            Some(&s.t1),
        )
        .await)
    .await;
    let month = |sid: &str,
                 m: &str,
                 (p, l, e, a): (i64, i64, i64, i64),
                 days: i64,
                 sessions: i64,
                 pct: f64| {
        json!({"classId": sid, "month": m, "totalPresent": p, "totalAbsent": a, "totalLate": l,
               "totalExcused": e, "totalStudents": p + l + e + a, "daysRecorded": days,
               "sessionsRecorded": sessions, "averagePercentage": pct})
    };
    let alg_april = month(&s.alg, "2026-04", (1, 0, 6, 1), 2, 2, 50.0);
    let alg_march = month(&s.alg, "2026-03", (6, 2, 1, 3), 2, 3, 72.73);
    let bio_march = month(&s.bio, "2026-03", (3, 0, 0, 1), 2, 2, 75.0);
    assert_eq!(v["data"], json!([alg_april, alg_march]));

    // Without classId: every subject t1 teaches (not t2's CHE101), month desc then classId.
    let v = ok(app.get("/api/analytics/monthly-summary", Some(&s.t1)).await).await;
    let march = if s.alg < s.bio {
        [alg_march.clone(), bio_march.clone()]
    } else {
        [bio_march.clone(), alg_march.clone()]
    };
    assert_eq!(v["data"], json!([alg_april, march[0], march[1]]));
    // t2 sees only CHE101; a teacher without sessions gets an empty list.
    let v = ok(app
        .get("/api/analytics/monthly-summary?classId=", Some(&s.t2))
        .await)
    .await;
    assert_eq!(
        v["data"],
        json!([month(&s.che, "2026-03", (0, 0, 0, 1), 1, 1, 0.0)])
    );
    let (t3, _) = teacher(&app, "t3@school.test").await;
    let v = ok(app.get("/api/analytics/monthly-summary", Some(&t3)).await).await;
    assert_eq!(v["data"], json!([]));
    let v = ok(app.get("/api/analytics/class-risk", Some(&t3)).await).await;
    assert_eq!(v["data"], json!([]));
    let v = ok(app.get("/api/analytics/global", Some(&t3)).await).await;
    assert_eq!(
        v,
        json!({"overall_attendance": null, "risk_count": 0, "threshold": 75.0, "top_subjects": []})
    );

    // Replacing a session's records and correcting one are reflected, never added twice:
    // 04-07 re-confirmed all present (4/4), s4 corrected on 04-06 from excused to present
    // (P2 E1 A1 -> 2/3).
    let [s1, s2, s3, s4] = [&s.ids[0], &s.ids[1], &s.ids[2], &s.ids[3]].map(String::as_str);
    confirm(
        &app,
        &s.t1,
        &s.alg,
        "2026-04-07",
        0,
        &[
            (s1, "present"),
            (s2, "present"),
            (s3, "present"),
            (s4, "present"),
        ],
    )
    .await;
    ok(app
        .put(
            &format!("/api/attendance/sessions/{}/records/{s4}", s.april_session),
            &json!({"status": "present"}),
            Some(&s.t1),
        )
        .await)
    .await;
    let v = ok(app
        .get(&trend_url(&s.alg, "2026-04-01", "2026-04-30"), Some(&s.t1))
        .await)
    .await;
    assert_eq!(
        v["data"],
        json!([
            day("2026-04-06", 2, 0, 1, 1, 1, json!(66.67)),
            day("2026-04-07", 4, 0, 0, 0, 1, json!(100.0)),
        ])
    );
}

#[tokio::test]
async fn classes_at_risk_and_overview() {
    let app = spawn_app().await;
    let s = school(&app).await;

    // ALG101 over all its days: P7 L2 E7 A4 -> 9/13 = 69.23 (below 75); BIO101 3/4 = 75.00 (not
    // below); DRA101 has no sessions (not judged).
    let v = ok(app.get("/api/analytics/class-risk", Some(&s.t1)).await).await;
    assert_eq!(v["threshold"], 75.0);
    assert_eq!(
        v["data"],
        json!([{"classId": s.alg, "className": "Subject ALG101", "classCode": "ALG101",
                "attendancePercentage": 69.23, "totalPresent": 7, "totalAbsent": 4, "totalLate": 2,
                "totalExcused": 7, "totalStudents": 20, "daysRecorded": 4,
                "lastRecorded": "2026-04-07"}])
    );
    // An administrator sees every subject, lowest first: CHE101 0 %, then ALG101.
    let v = ok(app.get("/api/analytics/class-risk", Some(&s.admin)).await).await;
    let ids: Vec<&str> = list(&v, "data")
        .iter()
        .filter_map(|r| r["classId"].as_str())
        .collect();
    assert_eq!(ids, [s.che.as_str(), s.alg.as_str()]);
    assert_eq!(v["data"][0]["attendancePercentage"], 0.0);

    // t1's overview: BIO101 75, ALG101 69.23, DRA101 without data last; mean of the two
    // percentages (75 + 69.2307...) / 2 = 72.115... -> 72.12; one subject at risk.
    let v = ok(app.get("/api/analytics/global", Some(&s.t1)).await).await;
    assert_eq!(v["overall_attendance"], 72.12);
    assert_eq!(v["risk_count"], 1);
    let top = list(&v, "top_subjects");
    let order: Vec<&str> = top.iter().filter_map(|r| r["subjectId"].as_str()).collect();
    assert_eq!(order, [s.bio.as_str(), s.alg.as_str(), s.dra.as_str()]);
    assert_eq!(
        top[0],
        json!({"subjectId": s.bio, "subjectName": "Subject BIO101", "subjectCode": "BIO101",
               "attendancePercentage": 75.0, "totalPresent": 3, "totalAbsent": 1, "totalLate": 0,
               "totalExcused": 0, "totalStudents": 4, "daysRecorded": 2, "atRisk": false})
    );
    assert_eq!(top[1]["attendancePercentage"], 69.23);
    assert_eq!(top[1]["atRisk"], true);
    assert_eq!(top[2]["attendancePercentage"], Value::Null);
    assert_eq!(top[2]["atRisk"], false);
    assert_eq!(top[2]["totalStudents"], 0);

    // The school: (75 + 69.2307... + 0) / 3 = 48.08, two at risk.
    let v = ok(app.get("/api/analytics/global", Some(&s.admin)).await).await;
    assert_eq!(v["overall_attendance"], 48.08);
    assert_eq!(v["risk_count"], 2);
    assert_eq!(list(&v, "top_subjects").len(), 4);
}

#[tokio::test]
async fn students_at_risk_and_a_students_own_view() {
    let app = spawn_app().await;
    let s = school(&app).await;
    let [s1, s2, s3, s4] = [&s.ids[0], &s.ids[1], &s.ids[2], &s.ids[3]].map(String::as_str);

    // ALG101 per student, holiday and exam day left out: s1 P3 L1 E1 -> 100; s2 P1 L1 E1 A2 ->
    // 2/4 = 50; s3 P2 E3 -> 100; s4 P1 E2 A2 -> 1/3 = 33.33. (With the two days counted, s1
    // would be at 4/6.)
    let v = ok(app
        .get(
            &format!("/api/analytics/subjects/{}/students-at-risk", s.alg),
            Some(&s.t1),
        )
        .await)
    .await;
    assert_eq!(v["subjectId"], s.alg.as_str());
    assert_eq!(v["threshold"], 75.0);
    let rows = list(&v, "data");
    let got: Vec<(&str, &Value, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["studentId"].as_str().unwrap_or_default(),
                &r["attendancePercentage"],
                r["total"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(got, [(s4, &json!(33.33), 5), (s2, &json!(50.0), 5)]);
    assert!(
        rows.iter().all(|r| r["studentId"] != s1),
        "s1 is not at risk once the holiday and the exam day are left out"
    );
    assert_eq!(
        rows[1],
        json!({"studentId": s2, "name": "student s2@school.test", "roll": rows[1]["roll"],
               "attendancePercentage": 50.0, "present": 1, "late": 1, "excused": 1, "absent": 2,
               "total": 5})
    );

    // s2's own view: ALG101 2/4 = 50, BIO101 1/2 = 50; overall P2 L1 E1 A3 -> 3/6 = 50.
    let mine = ok(app.get("/api/analytics/me", Some(&s.tokens[1])).await).await;
    let theirs = ok(app
        .get(&format!("/api/analytics/students/{s2}"), Some(&s.t1))
        .await)
    .await;
    assert_eq!(mine, theirs);
    assert_eq!(mine["studentId"], s2);
    assert_eq!(mine["overallPercentage"], 50.0);
    assert_eq!(
        mine["subjects"],
        json!([
            {"subjectId": s.alg, "subjectName": "Subject ALG101", "subjectCode": "ALG101",
             "present": 1, "late": 1, "excused": 1, "absent": 2, "total": 5,
             "attendancePercentage": 50.0, "atRisk": true},
            {"subjectId": s.bio, "subjectName": "Subject BIO101", "subjectCode": "BIO101",
             "present": 1, "late": 0, "excused": 0, "absent": 1, "total": 2,
             "attendancePercentage": 50.0, "atRisk": true},
        ])
    );
    // s1 in DRA101 (no sessions): listed, null, not at risk; overall over the others: ALG P3 L1
    // E1 + BIO P2 -> 6/6.
    let v = ok(app.get("/api/analytics/me", Some(&s.tokens[0])).await).await;
    assert_eq!(v["overallPercentage"], 100.0);
    let dra = list(&v, "subjects")
        .iter()
        .find(|r| r["subjectId"] == s.dra.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(dra["attendancePercentage"], Value::Null);
    assert_eq!(dra["atRisk"], false);
    assert_eq!(dra["total"], 0);

    // t2 teaches s3 only CHE101 and sees just that; an administrator sees all three of s3's.
    let v = ok(app
        .get(&format!("/api/analytics/students/{s3}"), Some(&s.t2))
        .await)
    .await;
    let codes: Vec<&str> = list(&v, "subjects")
        .iter()
        .filter_map(|r| r["subjectCode"].as_str())
        .collect();
    assert_eq!(codes, ["CHE101"]);
    assert_eq!(v["overallPercentage"], 0.0);
    let v = ok(app
        .get(&format!("/api/analytics/students/{s3}"), Some(&s.admin))
        .await)
    .await;
    assert_eq!(list(&v, "subjects").len(), 2);
    // ALG101 P2 E3 + CHE101 A1 -> 2/3.
    assert_eq!(v["overallPercentage"], 66.67);
}

#[tokio::test]
async fn late_can_be_configured_not_to_count() {
    let app = spawn_app_with(&["--late-counts-as-present", "false"]).await;
    let s = school(&app).await;
    // 03-02: P1 L1 E1 A1 -> 1/3; 03-03: P5 L1 A2 -> 5/8.
    let v = ok(app
        .get(&trend_url(&s.alg, "2026-03-02", "2026-03-03"), Some(&s.t1))
        .await)
    .await;
    assert_eq!(
        v["data"],
        json!([
            day("2026-03-02", 1, 1, 1, 1, 1, json!(33.33)),
            day("2026-03-03", 5, 1, 0, 2, 2, json!(62.5)),
        ])
    );
    // ALG101 7/13 = 53.85; overall (75 + 53.846...) / 2 = 64.42.
    let v = ok(app.get("/api/analytics/global", Some(&s.t1)).await).await;
    assert_eq!(v["overall_attendance"], 64.42);
    assert_eq!(v["top_subjects"][1]["attendancePercentage"], 53.85);
    // s1 P3 L1 E1 -> 3/4 = 75 (not below); s2 P1 L1 E1 A2 -> 1/4; s4 1/3.
    let v = ok(app
        .get(
            &format!("/api/analytics/subjects/{}/students-at-risk", s.alg),
            Some(&s.t1),
        )
        .await)
    .await;
    let got: Vec<(&str, &Value)> = list(&v, "data")
        .iter()
        .map(|r| {
            (
                r["studentId"].as_str().unwrap_or_default(),
                &r["attendancePercentage"],
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (s.ids[1].as_str(), &json!(25.0)),
            (s.ids[3].as_str(), &json!(33.33))
        ]
    );
}

#[tokio::test]
async fn the_risk_threshold_is_a_setting() {
    let app = spawn_app_with(&["--risk-threshold", "80"]).await;
    let s = school(&app).await;
    // At 80, BIO101's 75 % is at risk too.
    let v = ok(app.get("/api/analytics/class-risk", Some(&s.t1)).await).await;
    assert_eq!(v["threshold"], 80.0);
    let ids: Vec<&str> = list(&v, "data")
        .iter()
        .filter_map(|r| r["classId"].as_str())
        .collect();
    assert_eq!(ids, [s.alg.as_str(), s.bio.as_str()]);
    let v = ok(app.get("/api/analytics/global", Some(&s.t1)).await).await;
    assert_eq!(v["risk_count"], 2);
}

#[tokio::test]
async fn bad_requests_and_who_may_see_what() {
    let app = spawn_app().await;
    let s = school(&app).await;

    // Dates: not a date 400, reversed 422, missing 422; a bad classId 400; unknown 404.
    for (from, to) in [
        ("2026-13-01", "2026-03-31"),
        ("2026-03-01", "31/03/2026"),
        ("2026-03-01T10:00", "2026-03-31"),
        ("", "2026-03-31"),
    ] {
        let d = expect_detail(
            app.get(&trend_url(&s.alg, from, to), Some(&s.t1)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(d, "Invalid date format. Use YYYY-MM-DD");
    }
    let d = expect_detail(
        app.get(&trend_url(&s.alg, "2026-04-01", "2026-03-01"), Some(&s.t1))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(d.contains("dateFrom"), "{d}");
    expect_detail(
        app.get(
            &format!(
                "/api/analytics/attendance-trend?classId={}&dateFrom=2026-03-01",
                s.alg
            ),
            Some(&s.t1),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let d = expect_detail(
        app.get(
            &trend_url("not-an-id", "2026-03-01", "2026-03-31"),
            Some(&s.t1),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid classId format");
    let d = expect_detail(
        app.get("/api/analytics/monthly-summary?classId=zzz", Some(&s.t1))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(d, "Invalid classId format");
    let unknown = "0123456789abcdef01234567";
    for path in [
        trend_url(unknown, "2026-03-01", "2026-03-31"),
        format!("/api/analytics/monthly-summary?classId={unknown}"),
        format!("/api/analytics/subjects/{unknown}/students-at-risk"),
        format!("/api/analytics/students/{unknown}"),
    ] {
        expect_detail(app.get(&path, Some(&s.admin)).await, StatusCode::NOT_FOUND).await;
    }

    // Another teacher's subject: 403 (the trend, one month summary, students at risk).
    for path in [
        trend_url(&s.alg, "2026-03-01", "2026-03-31"),
        format!("/api/analytics/monthly-summary?classId={}", s.alg),
        format!("/api/analytics/subjects/{}/students-at-risk", s.alg),
        format!("/api/analytics/students/{}", s.ids[1]),
    ] {
        expect_detail(app.get(&path, Some(&s.t2)).await, StatusCode::FORBIDDEN).await;
    }
    // Students: no staff figures, nobody else's own view; nobody without a token.
    for path in [
        trend_url(&s.alg, "2026-03-01", "2026-03-31"),
        "/api/analytics/monthly-summary".to_owned(),
        "/api/analytics/class-risk".to_owned(),
        "/api/analytics/global".to_owned(),
        format!("/api/analytics/subjects/{}/students-at-risk", s.alg),
        format!("/api/analytics/students/{}", s.ids[1]),
    ] {
        expect_detail(
            app.get(&path, Some(&s.tokens[0])).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        expect_detail(app.get(&path, None).await, StatusCode::UNAUTHORIZED).await;
    }
    expect_detail(
        app.get("/api/analytics/me", Some(&s.t1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // A teacher's id is not a student.
    let t1_id = crate::support::user_id_of(&app.login("t1@school.test", "teacher-pass-1").await);
    expect_detail(
        app.get(&format!("/api/analytics/students/{t1_id}"), Some(&s.admin))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The OpenAPI document names the seed's query parameters.
    let doc = crate::support::body(app.get("/openapi.json", None).await).await;
    let names: Vec<&str> = doc["paths"]["/api/analytics/attendance-trend"]["get"]["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["classId", "dateFrom", "dateTo"]);
    // A student's own view through the id path works too.
    ok(app
        .get(
            &format!("/api/analytics/students/{}", s.ids[3]),
            Some(&s.tokens[3]),
        )
        .await)
    .await;
}

/// The seed's roster counters (`/settings/teachers/subjects/{sid}/students`) for every student
/// of `sid`: `(student id, attendance object)` in roster order.
async fn roster_counters(app: &TestApp, teacher: &str, sid: &str) -> Vec<(String, Value)> {
    let v = ok(app
        .get(
            &format!("/settings/teachers/subjects/{sid}/students"),
            Some(teacher),
        )
        .await)
    .await;
    v.as_array()
        .unwrap_or_else(|| panic!("no roster in {v}"))
        .iter()
        .map(|r| {
            (
                r["student_id"].as_str().unwrap_or_default().to_owned(),
                r["attendance"].clone(),
            )
        })
        .collect()
}

/// The roster's counters are the student's own `/students/me/subjects` figures and analytics'
/// per-student figures, for every student of every subject.
async fn roster_agrees_with_the_students_and_analytics(app: &TestApp, s: &School) {
    for sid in [&s.alg, &s.bio, &s.dra] {
        for (id, counters) in roster_counters(app, &s.t1, sid).await {
            let n = s.ids.iter().position(|x| *x == id).unwrap_or(usize::MAX);
            let mine = ok(app.get("/students/me/subjects", Some(&s.tokens[n])).await).await;
            let own = mine
                .as_array()
                .and_then(|l| l.iter().find(|x| x["id"] == sid.as_str()))
                .cloned()
                .unwrap_or_else(|| panic!("{sid} not in {mine}"));
            assert_eq!(counters["present"], own["attended"], "{id} in {sid}");
            assert_eq!(counters["total"], own["total"], "{id} in {sid}");
            assert_eq!(counters["percentage"], own["attendance"], "{id} in {sid}");
            let a = ok(app
                .get(&format!("/api/analytics/students/{id}"), Some(&s.t1))
                .await)
            .await;
            let row = list(&a, "subjects")
                .iter()
                .find(|x| x["subjectId"] == sid.as_str())
                .cloned()
                .unwrap_or_default();
            let pct = if row["attendancePercentage"].is_null() {
                json!(0)
            } else {
                row["attendancePercentage"].clone()
            };
            assert_eq!(counters["percentage"], pct, "{id} in {sid}");
            let counted =
                row["total"].as_i64().unwrap_or(-1) - row["excused"].as_i64().unwrap_or(0);
            assert_eq!(counters["total"], counted, "{id} in {sid}");
        }
    }
}

#[tokio::test]
async fn seed_roster_counters_are_the_analytics_figures() {
    let app = spawn_app().await;
    let s = school(&app).await;
    let [s1, s2, s3, s4] = [&s.ids[0], &s.ids[1], &s.ids[2], &s.ids[3]].map(String::as_str);
    // The seed frontend's own confirmation (today; both lists, no decisions) counts too.
    let v = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": s.bio, "present_students": [s2], "absent_students": [s1]}),
            Some(&s.t1),
        )
        .await)
    .await;
    assert_eq!(v["ok"], true, "{v}");

    // ALG101, holiday and exam day left out, late counting as present: s1 P3 L1 E1 -> 4/4;
    // s2 P1 L1 E1 A2 -> 2/4; s3 P2 E3 -> 2/2; s4 P1 E2 A2 -> 1/3.
    let counters = |p: i64, a: i64, pct: Value| json!({"present": p, "absent": a, "total": p + a, "percentage": pct});
    let alg = roster_counters(&app, &s.t1, &s.alg).await;
    assert_eq!(
        alg,
        [
            (s1.to_owned(), counters(4, 0, json!(100.0))),
            (s2.to_owned(), counters(2, 2, json!(50.0))),
            (s3.to_owned(), counters(2, 0, json!(100.0))),
            (s4.to_owned(), counters(1, 2, json!(33.33))),
        ]
    );
    // BIO101 with today's seed confirmation: s1 P2 A1, s2 P2 A1 -> 2/3 each.
    let bio = roster_counters(&app, &s.t1, &s.bio).await;
    assert_eq!(
        bio,
        [
            (s1.to_owned(), counters(2, 1, json!(66.67))),
            (s2.to_owned(), counters(2, 1, json!(66.67))),
        ]
    );
    // DRA101 has no sessions: zero, the integer 0 as the seed wrote it.
    assert_eq!(
        roster_counters(&app, &s.t1, &s.dra).await,
        [(s1.to_owned(), counters(0, 0, json!(0)))]
    );
    roster_agrees_with_the_students_and_analytics(&app, &s).await;
}

#[tokio::test]
async fn seed_roster_counters_follow_the_late_rule() {
    let app = spawn_app_with(&["--late-counts-as-present", "false"]).await;
    let s = school(&app).await;
    // Late is a session missed now: s1 P3 L1 E1 -> 3/4; s2 P1 L1 E1 A2 -> 1/4.
    let alg = roster_counters(&app, &s.t1, &s.alg).await;
    assert_eq!(
        alg[0].1,
        json!({"present": 3, "absent": 1, "total": 4, "percentage": 75.0})
    );
    assert_eq!(
        alg[1].1,
        json!({"present": 1, "absent": 3, "total": 4, "percentage": 25.0})
    );
    roster_agrees_with_the_students_and_analytics(&app, &s).await;
}
