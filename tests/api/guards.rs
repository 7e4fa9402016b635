//! Every route of the OpenAPI document (which the router is built from, so a route cannot exist
//! without being listed) is tried without a token, with a garbage, tampered, expired and revoked
//! token, and with the token of every caller it does not serve. A route missing from `ROUTES`
//! fails this test: whoever adds a route states here who may call it.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::media::{data_url, photo};

use crate::support::world::{enrol_faces, subject};
use crate::support::{SECRET, TestApp, body, ok, spawn_app, token_of, user_id_of};

/// Who may call a route: `public` (no token needed), `any` (any signed-in user; what they see is
/// their own), or a list of callers among `admin`, `owner` (a teacher of the subject),
/// `stranger` (another teacher), `self` (the student concerned), `other` (another student).
/// Every caller not listed must get 403.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/", "public"),
    ("GET", "/health", "public"),
    ("GET", "/health/detailed", "admin"),
    ("GET", "/metrics", "admin"),
    ("POST", "/api/auth/register", "public"),
    ("GET", "/api/auth/verify-email", "public"),
    ("POST", "/api/auth/login", "public"),
    ("POST", "/api/auth/refresh", "public"),
    ("POST", "/api/auth/forgot-password", "public"),
    ("POST", "/api/auth/verify-otp", "public"),
    ("POST", "/api/auth/reset-password", "public"),
    ("GET", "/api/auth/invitation", "public"),
    ("POST", "/api/auth/accept-invitation", "public"),
    ("GET", "/api/auth/google", "public"),
    ("GET", "/api/auth/google/callback", "public"),
    ("POST", "/api/auth/logout", "any"),
    ("GET", "/api/auth/me", "any"),
    ("GET", "/api/admin/users", "admin"),
    ("POST", "/api/admin/users", "admin"),
    ("GET", "/api/admin/users/{id}", "admin"),
    ("PATCH", "/api/admin/users/{id}", "admin"),
    ("DELETE", "/api/admin/users/{id}", "admin"),
    ("POST", "/api/admin/users/{id}/invite", "admin"),
    ("GET", "/api/admin/users/{id}/deletion", "admin"),
    ("POST", "/api/admin/users/{id}/verify", "admin"),
    ("POST", "/api/admin/users/{id}/revoke-sessions", "admin"),
    ("GET", "/api/admin/audit", "admin"),
    ("POST", "/api/admin/retention/run", "admin"),
    ("GET", "/api/admin/outbox", "admin"),
    ("GET", "/api/admin/outbox/{id}", "admin"),
    ("POST", "/api/admin/outbox/{id}/retry", "admin"),
    ("POST", "/api/admin/outbox/retry-dead", "admin"),
    ("POST", "/api/admin/roster/preview", "admin"),
    ("POST", "/api/admin/roster/import", "admin"),
    ("POST", "/api/notifications/absence", "owner,stranger"),
    (
        "POST",
        "/api/notifications/low-attendance",
        "owner,stranger",
    ),
    ("POST", "/api/notifications/assignment", "owner,stranger"),
    ("POST", "/api/notifications/exam", "owner,stranger"),
    ("POST", "/api/notifications/custom", "owner,stranger"),
    ("GET", "/api/notifications/stats", "owner,stranger"),
    (
        "GET",
        "/api/notifications/check-duplicate",
        "owner,stranger",
    ),
    ("GET", "/api/notifications/preferences", "any"),
    ("PUT", "/api/notifications/preferences", "any"),
    ("GET", "/api/settings", "owner,stranger"),
    ("PUT", "/api/settings", "owner,stranger"),
    ("PATCH", "/api/settings", "owner,stranger"),
    ("POST", "/api/settings/upload-avatar", "owner,stranger"),
    ("GET", "/api/subjects", "any"),
    ("POST", "/api/subjects", "admin,owner,stranger"),
    ("GET", "/api/subjects/{id}", "admin,owner"),
    ("PUT", "/api/subjects/{id}", "admin,owner"),
    ("DELETE", "/api/subjects/{id}", "admin,owner"),
    ("GET", "/api/subjects/{id}/students", "admin,owner"),
    ("POST", "/api/subjects/{id}/students", "admin,owner"),
    (
        "DELETE",
        "/api/subjects/{id}/students/{student_id}",
        "admin,owner",
    ),
    ("POST", "/api/subjects/{id}/teachers", "admin,owner"),
    (
        "DELETE",
        "/api/subjects/{id}/teachers/{teacher_id}",
        "admin,owner",
    ),
    ("GET", "/api/students", "admin,owner,stranger"),
    ("POST", "/api/students", "admin,owner,stranger"),
    ("POST", "/api/students/upload-face", "admin,owner,self"),
    ("GET", "/api/students/{id}", "admin,owner,self"),
    ("PUT", "/api/students/{id}", "admin,owner,self"),
    ("DELETE", "/api/students/{id}", "admin"),
    ("GET", "/api/students/consent-notice", "any"),
    ("POST", "/api/students/{id}/consent", "admin,owner,self"),
    ("DELETE", "/api/students/{id}/consent", "admin,owner,self"),
    ("GET", "/api/students/{id}/faces", "admin,owner,self"),
    (
        "DELETE",
        "/api/students/{id}/faces/{sample_id}",
        "admin,owner,self",
    ),
    (
        "GET",
        "/api/students/{id}/faces/{sample_id}/image",
        "admin,owner,self",
    ),
    (
        "POST",
        "/api/students/{id}/faces/{sample_id}/approve",
        "admin,owner",
    ),
    ("POST", "/api/attendance/mark", "admin,owner"),
    ("POST", "/api/attendance/confirm", "admin,owner"),
    ("GET", "/api/attendance/me", "self,other"),
    (
        "GET",
        "/api/attendance/subjects/{id}/export.csv",
        "admin,owner",
    ),
    (
        "GET",
        "/api/attendance/sessions/{id}/export.csv",
        "admin,owner",
    ),
    (
        "PUT",
        "/api/attendance/sessions/{id}/records/{student_id}",
        "admin,owner",
    ),
    ("GET", "/api/attendance/subjects/{id}/drafts", "admin,owner"),
    (
        "GET",
        "/api/attendance/subjects/{id}/sessions",
        "admin,owner",
    ),
    ("GET", "/api/attendance/sessions/{id}", "admin,owner"),
    ("GET", "/api/attendance/drafts/{id}", "admin,owner"),
    ("DELETE", "/api/attendance/drafts/{id}", "admin,owner"),
    (
        "GET",
        "/api/attendance/drafts/{id}/photos/{photo}",
        "admin,owner",
    ),
    (
        "PUT",
        "/api/attendance/drafts/{id}/faces/{photo}/{face}",
        "admin,owner",
    ),
    ("GET", "/api/analytics/attendance-trend", "admin,owner"),
    (
        "GET",
        "/api/analytics/monthly-summary",
        "admin,owner,stranger",
    ),
    ("GET", "/api/analytics/class-risk", "admin,owner,stranger"),
    ("GET", "/api/analytics/global", "admin,owner,stranger"),
    (
        "GET",
        "/api/analytics/subjects/{id}/students-at-risk",
        "admin,owner",
    ),
    ("GET", "/api/analytics/students/{id}", "admin,owner,self"),
    ("GET", "/api/analytics/me", "self,other"),
    ("POST", "/settings/add-subject", "owner,stranger"),
    ("GET", "/settings/teachers/me/subjects", "owner,stranger"),
    ("GET", "/settings/teachers/students", "owner,stranger"),
    (
        "GET",
        "/settings/teachers/subjects/{subject_id}/students",
        "owner",
    ),
    (
        "DELETE",
        "/settings/teachers/subjects/{subject_id}/students/{student_id}",
        "owner",
    ),
    (
        "POST",
        "/settings/teachers/subjects/{subject_id}/students/{student_id}/verify",
        "owner",
    ),
    ("GET", "/students/me/profile", "self,other"),
    ("POST", "/students/me/face-image", "self,other"),
    ("GET", "/students/me/subjects", "self,other"),
    ("POST", "/students/me/subjects", "self,other"),
    ("GET", "/students/me/available-subjects", "self,other"),
    (
        "DELETE",
        "/students/me/remove-subject/{subject_id}",
        "self,other",
    ),
    ("GET", "/students/{user_id}/profile", "admin,owner,self"),
];

const CALLERS: [&str; 5] = ["admin", "owner", "stranger", "self", "other"];

/// A school with one of everything a path can name.
struct World {
    tokens: BTreeMap<&'static str, String>,
    ids: BTreeMap<&'static str, String>,
}

async fn world(app: &TestApp) -> World {
    let mut tokens = BTreeMap::new();
    let mut ids = BTreeMap::new();
    tokens.insert("admin", app.admin_token().await);
    for (who, role, email) in [
        ("owner", "teacher", "owner@school.test"),
        ("stranger", "teacher", "stranger@school.test"),
        ("self", "student", "self@school.test"),
        ("other", "student", "other@school.test"),
    ] {
        let login = app.create_user(role, email, "guard-password-1").await;
        tokens.insert(who, token_of(&login));
        ids.insert(who, user_id_of(&login));
    }
    let owner = tokens["owner"].clone();
    let sid = subject(app, &owner, "GUARD1", &[&ids["self"]]).await;
    enrol_faces(app, &owner, &ids["self"], &[photo("obama.jpg")]).await;
    let faces = ok(app
        .get(
            &format!("/api/students/{}/faces", ids["self"]),
            Some(&owner),
        )
        .await)
    .await;
    let sample = faces
        .as_array()
        .and_then(|a| a.first())
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no face sample: {faces}"))
        .to_owned();
    let confirmed = ok(app
        .post(
            "/api/attendance/confirm",
            &json!({"subject_id": sid, "date": "2026-03-03",
                    "decisions": [{"student_id": ids["self"], "status": "present"}]}),
            Some(&owner),
        )
        .await)
    .await;
    let marked = ok(app
        .post(
            "/api/attendance/mark",
            &json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid,
                    "save": true, "date": "2026-03-04"}),
            Some(&owner),
        )
        .await)
    .await;
    ids.insert("subject", sid);
    ids.insert("sample", sample);
    ids.insert(
        "session",
        confirmed["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    ids.insert(
        "draft",
        marked["draft"]["draft_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no draft: {marked}"))
            .to_owned(),
    );
    World { tokens, ids }
}

/// The path with its parameters naming the world's things.
fn concrete(path: &str, w: &World) -> String {
    let id = if path.starts_with("/api/admin/users") {
        &w.ids["other"]
    } else if path.starts_with("/api/attendance/drafts") {
        &w.ids["draft"]
    } else if path.starts_with("/api/attendance/sessions") {
        &w.ids["session"]
    } else if path.starts_with("/api/students") || path.starts_with("/api/analytics/students") {
        &w.ids["self"]
    } else {
        &w.ids["subject"]
    };
    let query = if path == "/api/analytics/attendance-trend" {
        format!(
            "?classId={}&dateFrom=2026-03-01&dateTo=2026-03-31",
            w.ids["subject"]
        )
    } else {
        String::new()
    };
    path.replace("{id}", id)
        .replace("{student_id}", &w.ids["self"])
        .replace("{user_id}", &w.ids["self"])
        .replace("{teacher_id}", &w.ids["owner"])
        .replace("{subject_id}", &w.ids["subject"])
        .replace("{sample_id}", &w.ids["sample"])
        .replace("{photo}", "1")
        .replace("{face}", "0")
        + &query
}

/// A body the route's rightful callers would send, so a refusal is about who calls.
fn request_body(method: &str, path: &str, w: &World) -> Option<Value> {
    let (sid, student) = (&w.ids["subject"], &w.ids["self"]);
    let v = match (method, path) {
        ("POST", "/api/attendance/mark") => {
            json!({"image": data_url(&photo("obama3.jpg")), "subject_id": sid})
        }
        ("POST", "/api/attendance/confirm") => json!({"subject_id": sid, "date": "2026-03-05",
            "decisions": [{"student_id": student, "status": "present"}]}),
        ("PUT", p) if p.contains("/records/") => json!({"status": "absent"}),
        ("PUT", p) if p.contains("/drafts/") => json!({"student_id": student}),
        ("POST", "/api/subjects/{id}/students") => json!({"student_ids": [student]}),
        ("POST", "/api/subjects/{id}/teachers") => json!({"email": "stranger@school.test"}),
        ("PUT", "/api/subjects/{id}") => json!({"name": "Renamed", "code": "GUARD1"}),
        ("PUT", "/api/students/{id}") => json!({"name": "Renamed"}),
        ("POST", "/api/students") => json!({"name": "New", "email": "new@school.test"}),
        ("POST", "/api/subjects") | ("POST", "/settings/add-subject") => {
            json!({"name": "New", "code": "NEW1"})
        }
        ("POST", "/students/me/subjects") => json!({"subject_id": sid}),
        ("POST", "/api/admin/users") => {
            json!({"role": "teacher", "email": "x@school.test", "name": "X"})
        }
        ("PATCH", _) | ("PUT", _) => json!({"name": "Renamed"}),
        ("POST", _) => json!({}),
        _ => return None,
    };
    Some(v)
}

/// Routes that take a multipart upload: the `file` part (and the student it is for).
/// A multipart part: name, file name, bytes.
type Part = (&'static str, Option<&'static str>, Vec<u8>);

fn multipart(path: &str, w: &World) -> Option<Vec<Part>> {
    match path {
        "/api/students/upload-face" => Some(vec![
            ("file", Some("face.jpg"), photo("obama2.jpg")),
            ("student_id", None, w.ids["self"].as_bytes().to_vec()),
        ]),
        "/api/admin/roster/preview" | "/api/admin/roster/import" => Some(vec![(
            "file",
            Some("roster.csv"),
            b"name,email\nGuard Import,guard-import@school.test\n".to_vec(),
        )]),
        "/api/settings/upload-avatar" | "/students/me/face-image" => {
            Some(vec![("file", Some("face.jpg"), photo("obama2.jpg"))])
        }
        _ => None,
    }
}

fn multipart_body(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "guard-boundary-51f0";
    let mut raw = Vec::new();
    for (name, file, bytes) in parts {
        let file = file
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        raw.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), raw)
}

enum Payload {
    None,
    Json(Value),
    Form(String, Vec<u8>),
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    payload: &Payload,
) -> (StatusCode, Value) {
    let method_name = method;
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match payload {
        Payload::None => {}
        Payload::Json(v) => req = req.json(v),
        Payload::Form(ct, raw) => req = req.header("content-type", ct).body(raw.clone()),
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let resp = crate::contract::checked(method_name, path, resp).await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens that must all be refused: garbage, tampered (role raised to admin, old signature),
/// expired (right key and session, past `exp`), revoked (a logged-out session).
async fn bad_tokens(app: &TestApp, w: &World) -> Vec<(&'static str, String)> {
    let good = &w.tokens["owner"];
    let parts: Vec<&str> = good.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {good}");
    let claims_raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let mut claims: Value = serde_json::from_slice(&claims_raw).unwrap();
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let real: rollcall::service::tokens::Claims = serde_json::from_slice(&claims_raw).unwrap();
    let expired = rollcall::service::tokens::Keys::new(SECRET.as_bytes())
        .sign(&rollcall::service::tokens::Claims {
            iat: now - 3600,
            exp: now - 60,
            ..real
        })
        .unwrap();
    let session = app.login("owner@school.test", "guard-password-1").await;
    let revoked = token_of(&session);
    ok(app
        .post("/api/auth/logout", &json!({}), Some(&revoked))
        .await)
    .await;
    vec![
        ("garbage", "not-a-token".to_owned()),
        ("tampered", tampered),
        ("expired", expired),
        ("revoked", revoked),
    ]
}

#[tokio::test]
async fn every_route_is_guarded_for_every_caller() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let bad = bad_tokens(&app, &w).await;
    let paths = doc["paths"]
        .as_object()
        .expect("no paths in the OpenAPI document");
    for (path, ops) in paths {
        for method in ops
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let method = method.to_uppercase();
            let Some(&(m, p, who)) = ROUTES.iter().find(|r| r.0 == method && r.1 == path) else {
                failures.push(format!(
                    "{method} {path} is not in guards::ROUTES: say who may call it"
                ));
                continue;
            };
            seen.insert((m, p));
            if who == "public" {
                continue;
            }
            let url = concrete(path, &w);
            let payload = match (multipart(path, &w), request_body(&method, path, &w)) {
                (Some(parts), _) => {
                    let (ct, raw) = multipart_body(&parts);
                    Payload::Form(ct, raw)
                }
                (None, Some(v)) => Payload::Json(v),
                (None, None) => Payload::None,
            };
            // The seed's roster paths answer a teacher of another subject as it did: 404
            // "Subject not found or access denied".
            let refused = if path.starts_with("/settings/teachers/subjects/") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            let mut attempts: Vec<(&str, Option<&str>, StatusCode)> =
                vec![("no token", None, StatusCode::UNAUTHORIZED)];
            attempts.extend(
                bad.iter()
                    .map(|(name, t)| (*name, Some(t.as_str()), StatusCode::UNAUTHORIZED)),
            );
            if who != "any" {
                let allowed: Vec<&str> = who.split(',').collect();
                attempts.extend(CALLERS.iter().filter(|c| !allowed.contains(c)).map(|c| {
                    let want = if *c == "stranger" {
                        refused
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    (*c, Some(w.tokens[c].as_str()), want)
                }));
            }
            for (caller, token, want) in attempts {
                let (got, answer) = send(&app, &method, &url, token, &payload).await;
                if got != want || !answer["detail"].is_string() {
                    failures.push(format!(
                        "{method} {path} as {caller}: {got} {answer} (want {want} with a detail)"
                    ));
                }
            }
        }
    }
    for (m, p, _) in ROUTES {
        if !seen.contains(&(*m, *p)) {
            failures.push(format!("{m} {p} is in guards::ROUTES but not served"));
        }
    }
    // The seed's aliases answer like their /api twins.
    for alias in ["/auth/me", "/settings", "/notifications/stats"] {
        let (got, _) = send(&app, "GET", alias, None, &Payload::None).await;
        if got != StatusCode::UNAUTHORIZED {
            failures.push(format!("GET {alias} without a token: {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing a refused request asked for happened: the subject, the student and the draft are
    // still there, and the session still has its one record.
    let owner = &w.tokens["owner"];
    ok(app
        .get(&format!("/api/subjects/{}", w.ids["subject"]), Some(owner))
        .await)
    .await;
    ok(app
        .get(&format!("/api/students/{}", w.ids["self"]), Some(owner))
        .await)
    .await;
    ok(app
        .get(
            &format!("/api/attendance/drafts/{}", w.ids["draft"]),
            Some(owner),
        )
        .await)
    .await;
    let records: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM attendance_records WHERE status = 'present'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    assert_eq!(records, 1);
}
