//! The web page at `/app/`, driven in Debian's Chromium by `tests/browser/flow.mjs`
//! (playwright-core): the teacher logs in with the keyboard, enrols a student from photos, takes
//! attendance from a group photo, fixes the unknown face, confirms, corrects a record, exports
//! the CSV and reads the analytics; with the shared data set (docs/architecture.md, "Test
//! data"), also reviews a real group photo (24 faces, dlib's `bald_guys.jpg`) and discards it;
//! then a student sees their own figures. Screenshots land in `artifacts/browser/`. `scripts/test` installs Chromium and playwright-core first
//! (`scripts/setup-browser`) and sets `ROLLCALL_REQUIRE_BROWSER=1`, so in CI a missing browser
//! fails instead of skipping.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::mail::{app_mailing_to, closed_port, listener, smtp_on};
use crate::support::media::{photo, shared_data, side_by_side};
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, body, ok, spawn_app, token_of};

const TEACHER_EMAIL: &str = "teacher@school.test";
const TEACHER_PASSWORD: &str = "teacher-pass-1";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Chromium and playwright-core, or why they are missing.
fn browser() -> Result<PathBuf, String> {
    let modules = repo().join("tests/browser/node_modules/playwright-core");
    if !modules.is_dir() {
        return Err(format!("{} is missing", modules.display()));
    }
    let chromium = std::env::var_os("ROLLCALL_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        });
    chromium.ok_or_else(|| "no chromium (set ROLLCALL_CHROMIUM)".to_owned())
}

/// `node tests/browser/<script>` against `app`'s server, with Chromium and the screenshots'
/// folder set (`ROLLCALL_URL`, `CHROMIUM`, `ARTIFACTS`); the caller adds the script's own
/// variables.
fn node_script(script: &str, app: &TestApp, chromium: &Path) -> std::process::Command {
    let mut node = std::process::Command::new("node");
    node.arg(repo().join("tests/browser").join(script))
        .current_dir(repo().join("tests/browser"))
        .env("ROLLCALL_URL", &app.base)
        .env("CHROMIUM", chromium)
        .env("ARTIFACTS", artifacts());
    node
}

fn artifacts() -> PathBuf {
    repo().join("artifacts/browser")
}

/// Runs the script off the async runtime (the server runs on this test's runtime) and fails
/// the test with everything it printed when it fails.
async fn run_script(mut node: std::process::Command, what: &str) {
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .expect("join")
        .expect("node");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(
        out.status.success(),
        "the {what} failed (screenshots in {}):\n{log}",
        artifacts().display()
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.display().to_string()
}

/// A teacher account created by the administrator `admin`, with this name and password.
async fn add_teacher(app: &TestApp, admin: &str, email: &str, name: &str, password: &str) -> Value {
    ok(app
        .post(
            "/api/admin/users",
            &json!({"role": "teacher", "email": email, "name": name, "password": password}),
            Some(admin),
        )
        .await)
    .await
}

/// A student created by the teacher in the subject; (id, generated password).
async fn add_student(
    app: &TestApp,
    token: &str,
    sid: &str,
    name: &str,
    email: &str,
) -> (String, String) {
    let s = ok(app
        .post(
            "/api/students",
            &json!({"name": name, "email": email, "subject_ids": [sid]}),
            Some(token),
        )
        .await)
    .await;
    let field = |k: &str| {
        s[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {s}"))
            .to_owned()
    };
    (field("id"), field("password"))
}

fn status_of<'a>(session: &'a Value, student: &str) -> (&'a str, &'a str) {
    let rec = session["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["student_id"] == student))
        .unwrap_or_else(|| panic!("no record of {student} in {session}"));
    (
        rec["status"].as_str().unwrap_or_default(),
        rec["source"].as_str().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teacher_flow_in_a_real_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    add_teacher(&app, &admin, TEACHER_EMAIL, "Ana Rivera", TEACHER_PASSWORD).await;
    let token = token_of(&app.login(TEACHER_EMAIL, TEACHER_PASSWORD).await);
    let sid = ok(app
        .post(
            "/api/subjects",
            &json!({"name": "Civics", "code": "CIV1"}),
            Some(&token),
        )
        .await)
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (obama, _) = add_student(&app, &token, &sid, "Barack Obama", "obama@school.test").await;
    let (biden, _) = add_student(&app, &token, &sid, "Joe Biden", "biden@school.test").await;
    let (carol, carol_password) =
        add_student(&app, &token, &sid, "Carol Away", "carol@school.test").await;
    // Carol uploads a photo of "herself" (the page shows it to the teacher for approval).
    let carol_token = token_of(&app.login("carol@school.test", &carol_password).await);
    ok(app
        .post(
            &format!("/api/students/{carol}/consent"),
            &Value::Null,
            Some(&carol_token),
        )
        .await)
    .await;
    let own = ok(app
        .post_multipart(
            "/students/me/face-image",
            &[("file", Some("me.png"), "image/png", &photo("32bit.png"))],
            Some(&carol_token),
        )
        .await)
    .await;
    assert_eq!(own["pending_review"], true, "{own}");
    // Biden's face is fixed by hand in the review, so he needs consent but no photos.
    ok(app
        .post(
            &format!("/api/students/{biden}/consent"),
            &Value::Null,
            Some(&token),
        )
        .await)
    .await;

    let photos = tempfile::tempdir().unwrap();
    let enrol = write(photos.path(), "obama.jpg", &photo("obama.jpg"));
    // Chromium's fake camera plays an MJPEG file: one JPEG is a one-frame stream.
    let camera = write(photos.path(), "camera.mjpeg", &photo("obama2.jpg"));
    let group = write(
        photos.path(),
        "class.png",
        &side_by_side(&photo("obama3.jpg"), &photo("biden.jpg")),
    );
    // With the shared data set, also a real group photo (24 faces, from dlib's examples).
    let class_photo = shared_data().join("dlib-faces/bald_guys.jpg");
    let mut node = node_script("flow.mjs", &app, &chromium);
    node.env("TEACHER_EMAIL", TEACHER_EMAIL)
        .env("TEACHER_PASSWORD", TEACHER_PASSWORD)
        .env("SUBJECT_NAME", "Civics")
        .env("ENROL_NAME", "Barack Obama")
        .env("ENROL_PHOTOS", &enrol)
        .env("CAMERA_FILE", &camera)
        .env("GROUP_PHOTO", &group)
        .env("GROUP_FACES", "2")
        .env("FIX_NAME", "Joe Biden")
        .env("AT_RISK_NAME", "Carol Away")
        .env("REVIEW_NAME", "Carol Away")
        .env("STUDENT_EMAIL", "carol@school.test")
        .env("STUDENT_PASSWORD", &carol_password);
    if class_photo.is_file() {
        node.env("CLASS_PHOTO", &class_photo)
            .env("CLASS_PHOTO_FACES", "22");
    }
    run_script(node, "browser flow").await;

    // What the page did is what the API now holds.
    let sessions = ok(app
        .get(
            &format!("/api/attendance/subjects/{sid}/sessions"),
            Some(&token),
        )
        .await)
    .await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    let session_id = sessions[0]["session_id"].as_str().unwrap_or_default();
    let resp = app
        .get(
            &format!("/api/attendance/sessions/{session_id}"),
            Some(&token),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let session = body(resp).await;
    assert_eq!(status_of(&session, &obama), ("present", "photo"));
    assert_eq!(status_of(&session, &biden), ("late", "correction"));
    assert_eq!(status_of(&session, &carol), ("absent", "manual"));
    let samples = ok(app
        .get(&format!("/api/students/{obama}/faces"), Some(&token))
        .await)
    .await;
    // Two enrolled (upload, webcam), one deleted on the page.
    assert_eq!(samples.as_array().map(Vec::len), Some(1), "{samples}");
    // Carol's own photo, approved on the page.
    let own = ok(app
        .get(&format!("/api/students/{carol}/faces"), Some(&token))
        .await)
    .await;
    assert_eq!(own[0]["approved"], true, "{own}");
    assert!(artifacts().join("review-screen.jpg").is_file());
}

/// Chromium, or None when the browser test is to be skipped (outside CI, without
/// `scripts/setup-browser`).
fn chromium_or_skip() -> Option<PathBuf> {
    match browser() {
        Ok(c) => Some(c),
        Err(why) if std::env::var("ROLLCALL_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("the browser test cannot run: {why}; run scripts/setup-browser")
        }
        Err(why) => {
            println!("SKIPPED: the browser test needs scripts/setup-browser ({why})");
            None
        }
    }
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_owned()
}

/// The office's outbox, audit log and subjects, the teacher's timetable and a student's own
/// face photos (`web/school.js`), driven by `tests/browser/school-pages.mjs`; afterwards the API
/// holds what the pages did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn school_pages_in_a_real_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    // The relay is down and a message gets one attempt: every mail fails at once.
    let port = closed_port();
    let app = app_mailing_to(port, 1).await;
    let admin_login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = token_of(&admin_login);
    let mut teachers = Vec::new();
    for (email, name, password) in [
        (TEACHER_EMAIL, "Ana Rivera", TEACHER_PASSWORD),
        ("ben@school.test", "Ben Okafor", "ben-pass-12345"),
    ] {
        let u = add_teacher(&app, &admin, email, name, password).await;
        teachers.push(str_of(&u, "user_id"));
    }
    let token = token_of(&app.login(TEACHER_EMAIL, TEACHER_PASSWORD).await);
    let mut subjects = Vec::new();
    for (name, code) in [("Civics", "CIV1"), ("History", "HIS1")] {
        let s = ok(app
            .post(
                "/api/subjects",
                &json!({"name": name, "code": code}),
                Some(&token),
            )
            .await)
        .await;
        subjects.push(str_of(&s, "id"));
    }
    let (civics, history) = (&subjects[0], &subjects[1]);
    let (obama, obama_password) =
        add_student(&app, &token, civics, "Barack Obama", "obama@school.test").await;
    let (biden, _) = add_student(&app, &token, civics, "Joe Biden", "biden@school.test").await;
    let (carol, carol_password) =
        add_student(&app, &token, civics, "Carol Away", "carol@school.test").await;
    let obama_token = token_of(&app.login("obama@school.test", &obama_password).await);
    ok(app
        .post(
            &format!("/api/students/{obama}/consent"),
            &Value::Null,
            Some(&obama_token),
        )
        .await)
    .await;
    // Two mails, both failed (the relay refuses connections).
    ok(app
        .post(
            "/api/notifications/exam",
            &json!({"student_emails": ["obama@school.test", "biden@school.test"], "exam_name": "Midterm",
                    "subject": "Civics", "exam_date": "2026-03-01", "time": "09:00", "venue": "Hall 1"}),
            Some(&token),
        )
        .await)
    .await;
    let start = std::time::Instant::now();
    loop {
        let out = ok(app.get("/api/admin/outbox", Some(&admin)).await).await;
        if out["counts"]["dead"] == 2 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the mails did not fail: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The relay is back: what the page retries goes out.
    let smtp = smtp_on(listener(port), false);

    let photos = tempfile::tempdir().unwrap();
    let face = write(photos.path(), "me.jpg", &photo("obama.jpg"));
    let mut node = node_script("school-pages.mjs", &app, &chromium);
    node.env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ADMIN_NAME", str_of(&admin_login, "name"))
        .env("DEAD_RECIPIENTS", "obama@school.test,biden@school.test")
        .env("TEACHER_EMAIL", TEACHER_EMAIL)
        .env("TEACHER_PASSWORD", TEACHER_PASSWORD)
        .env("COTEACHER_EMAIL", "ben@school.test")
        .env("COTEACHER_NAME", "Ben Okafor")
        .env("SUBJECT_NAME", "Civics")
        .env("TARGET_SUBJECT_NAME", "History")
        .env("MOVE_STUDENT", "Joe Biden")
        .env("HOLIDAY", "2026-12-24")
        .env("HOLIDAY_NAME", "Winter break")
        .env("EXAM", "2026-06-15")
        .env("EXAM_NAME", "Finals")
        .env("STUDENT_EMAIL", "obama@school.test")
        .env("STUDENT_PASSWORD", &obama_password)
        .env("NO_CONSENT_EMAIL", "carol@school.test")
        .env("NO_CONSENT_PASSWORD", &carol_password)
        .env("FACE_PHOTO", &face);
    run_script(node, "school pages").await;

    // What the pages did is what the API now holds.
    let mut to: Vec<String> = smtp
        .wait_for(2)
        .await
        .into_iter()
        .flat_map(|m| m.to)
        .collect();
    to.sort();
    assert_eq!(to, ["biden@school.test", "obama@school.test"]);
    let out = ok(app.get("/api/admin/outbox?status=sent", Some(&admin)).await).await;
    assert_eq!(
        out["counts"],
        json!({"queued": 0, "retrying": 0, "sent": 2, "dead": 0})
    );
    let subject = ok(app
        .get(&format!("/api/subjects/{civics}"), Some(&admin))
        .await)
    .await;
    let mut ids: Vec<&str> = subject["teacher_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    teachers.sort();
    assert_eq!(ids, teachers, "{subject}");
    let roster = |sid: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let r = ok(app
                .get(&format!("/api/subjects/{sid}/students"), Some(admin))
                .await)
            .await;
            let mut ids: Vec<String> = r
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| str_of(s, "student_id"))
                .collect();
            ids.sort();
            ids
        }
    };
    let mut left = vec![obama.clone(), carol.clone()];
    left.sort();
    assert_eq!(roster(civics.clone()).await, left);
    assert_eq!(roster(history.clone()).await, vec![biden.clone()]);
    let settings = ok(app.get("/api/settings", Some(&token)).await).await;
    let schedule = &settings["schedule"];
    assert_eq!(
        schedule["timetable"],
        json!([{"day": "Monday", "periods": [{"slot": 1, "start": "09:00", "end": "09:50",
               "metadata": {"subject_id": civics, "subject_name": "Civics"}}]}]),
        "{schedule}"
    );
    assert_eq!(
        schedule["holidays"],
        json!([{"date": "2026-12-24", "name": "Winter break"}])
    );
    assert_eq!(
        schedule["exams"],
        json!([{"date": "2026-06-15", "name": "Finals"}])
    );
    // Obama's photo was enrolled and deleted on the page; Carol's refused.
    for student in [&obama, &carol] {
        let faces = ok(app
            .get(&format!("/api/students/{student}/faces"), Some(&admin))
            .await)
        .await;
        assert_eq!(faces, json!([]), "{student}");
    }
    let log = ok(app
        .get(
            &format!("/api/admin/audit?actor={obama}&action=face."),
            Some(&admin),
        )
        .await)
    .await;
    let mut actions: Vec<&str> = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| *a != "face.view")
        .collect();
    actions.sort_unstable();
    assert_eq!(actions, ["face.delete", "face.enrol"], "{log}");
}

/// The office pages (`web/office.js`) driven by `tests/browser/office-pages.mjs` with the steps
/// of `tests/browser/office-steps.mjs`: the administrator's office home, accounts (list, role
/// filter, verify, end sessions, create), the roster page and a broken invitation link, each in
/// English and French with no word missing and no sideways scrolling at 1024 and 390 px.
/// Then the search, an invitation accepted, a role change, a deletion after its preview and a
/// roster import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_pages_in_a_real_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    add_teacher(&app, &admin, TEACHER_EMAIL, "Ana Rivera", TEACHER_PASSWORD).await;
    // Two live sessions of the teacher, which the office ends from the page.
    let first = app.login(TEACHER_EMAIL, TEACHER_PASSWORD).await;
    app.login(TEACHER_EMAIL, TEACHER_PASSWORD).await;
    // A student who registered and waits to be verified.
    let reg = ok(app
        .post(
            "/api/auth/register",
            &json!({"role": "student", "name": "Sam Pending", "email": "sam.pending@school.test",
                    "password": "student-pass-1"}),
            None,
        )
        .await)
    .await;
    assert_eq!(reg["is_verified"], false, "{reg}");
    let sam = reg["user_id"].as_str().unwrap_or_default().to_owned();

    let mut node = node_script("office-pages.mjs", &app, &chromium);
    node.env("ADMIN_EMAIL", crate::support::ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", crate::support::ADMIN_PASSWORD)
        .env("TEACHER_NAME", "Ana Rivera")
        .env("TEACHER_SESSIONS", "2")
        .env("STUDENT_NAME", "Sam Pending")
        .env("STUDENT_EMAIL", "sam.pending@school.test")
        .env("NEW_NAME", "Noor Newcomer")
        .env("NEW_EMAIL", "noor.newcomer@school.test");
    run_script(node, "office pages").await;

    // What the page did is what the API now holds.
    let users = ok(app.get("/api/admin/users", Some(&admin)).await).await;
    let find = |email: &str| {
        users["users"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["email"] == email))
            .cloned()
    };
    let sam_now = find("sam.pending@school.test").unwrap_or_else(|| panic!("{users}"));
    assert_eq!(
        sam_now["is_verified"], true,
        "verified on the page: {sam_now}"
    );
    assert_eq!(
        sam_now["user_id"].as_str().or(sam_now["id"].as_str()),
        Some(sam.as_str())
    );
    // The teacher's sessions were ended on the page: the old refresh token is refused.
    let refresh = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    // Created, then deleted on the page; the invited teacher chose a password.
    assert!(find("noor.newcomer@school.test").is_none(), "{users}");
    app.login("ines.invited@school.test", "a-good-password-1")
        .await;
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/app/")
    );
    // API clients keep the JSON banner.
    let banner = body(app.get("/", None).await).await;
    assert_eq!(banner["service"], "rollcall");
    // The shell, the stylesheet and every script the shell loads.
    let shell = std::fs::read_to_string(repo().join("web/index.html")).unwrap_or_default();
    let scripts: Vec<String> = shell
        .split("<script src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect();
    assert!(scripts.len() >= 5, "{shell}");
    let mut assets = vec![
        ("/app/".to_owned(), "text/html"),
        ("/app/app.css".to_owned(), "text/css"),
    ];
    assets.extend(scripts.into_iter().map(|s| (s, "text/javascript")));
    for (path, kind) in &assets {
        let path = path.as_str();
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let header = |h: &str| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        let text = resp.text().await.unwrap_or_default();
        // Only the SVG namespace, which is a name, not a request.
        let foreign = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !foreign.contains("http://") && !foreign.contains("https://"),
            "{path} must not load anything from another host"
        );
    }
}

/// The `'key': 'text'` lines of a dictionary file in `web/i18n/` (one entry a line, as the files
/// are written), with the `{placeholders}` of each text except the count `{n}`.
fn dictionary(path: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut keys = std::collections::BTreeMap::new();
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix('\'') else {
            continue;
        };
        let Some((key, value)) = rest.split_once("': ") else {
            continue;
        };
        let mut holes: Vec<String> = value
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
            .filter(|name| {
                name != "n" && !name.is_empty() && name.chars().all(|c| c.is_alphanumeric())
            })
            .collect();
        holes.sort();
        let again = keys.insert(key.to_owned(), holes);
        assert!(again.is_none(), "{}: {key} twice", path.display());
    }
    assert!(!keys.is_empty(), "{}: no entries", path.display());
    keys
}

/// Every language file has exactly the English file's keys (a count key with the plural forms
/// that language has) with the same placeholders, and is served and loaded by the page: the
/// browser test would only see a missing word on the pages it visits.
#[tokio::test]
async fn every_language_has_every_word_and_is_served() {
    const FORMS: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];
    let dir = repo().join("web/i18n");
    let index = std::fs::read_to_string(repo().join("web/index.html")).unwrap();
    let app = spawn_app().await;
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".js"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f == "fr.js"), "{files:?}");
    for file in &files {
        // Served as it is on disk, and loaded by the page.
        let resp = app.get(&format!("/app/i18n/{file}"), None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{file} is not in ASSETS");
        let served = resp.text().await.unwrap();
        assert_eq!(
            served,
            std::fs::read_to_string(dir.join(file)).unwrap(),
            "{file}"
        );
        assert!(
            index.contains(&format!("src=\"/app/i18n/{file}\"")),
            "index.html does not load {file}"
        );
        // `fr.office.js` is compared with `en.office.js`.
        let Some((lang, part)) = file.split_once('.') else {
            continue;
        };
        if lang == "en" {
            continue;
        }
        let english = dictionary(&dir.join(format!("en.{part}")));
        let other = dictionary(&dir.join(file));
        // A count key's base: `draft.confirm` for `draft.confirm.one`, if English counts it.
        let counted = |key: &str| -> Option<String> {
            let (base, form) = key.rsplit_once('.')?;
            (FORMS.contains(&form) && english.contains_key(&format!("{base}.other")))
                .then(|| base.to_owned())
        };
        for (key, holes) in &other {
            let english_key = match counted(key) {
                Some(base) => format!("{base}.other"),
                None => key.clone(),
            };
            let Some(want) = english.get(&english_key) else {
                panic!("{file}: {key} is not an English key");
            };
            assert_eq!(
                holes, want,
                "{file}: {key} has other placeholders than English"
            );
        }
        for key in english.keys() {
            let present = match counted(key) {
                Some(base) => other.contains_key(&format!("{base}.other")),
                None => other.contains_key(key),
            };
            assert!(present, "{file} lacks {key}");
        }
    }
}

/// The 40-student roster of the office day, as the school's spreadsheet exports it; with `bad`,
/// three deliberate errors: a malformed address (line 6), an e-mail given twice (line 18) and a
/// subject code the school does not have (line 31).
fn roster_csv(bad: bool) -> String {
    let mut csv = String::from("name,email,role,roll,subjects\n");
    for i in 1..=40 {
        let (name, email) = if i == 1 {
            (
                "Amara Okafor".to_owned(),
                "amara.okafor@school.test".to_owned(),
            )
        } else {
            (
                format!("Student {i:02}"),
                format!("student{i:02}@school.test"),
            )
        };
        let email = match i {
            5 if bad => "student05-at-school.test".to_owned(),
            17 if bad => "student03@school.test".to_owned(),
            _ => email,
        };
        let subjects = match i {
            30 if bad => "CIV1;GEO9",
            _ if i % 2 == 0 => "CIV1;HIS1",
            _ => "CIV1;MAT1",
        };
        csv.push_str(&format!("{name},{email},student,R{i:03},{subjects}\n"));
    }
    csv
}

/// The office day on a fresh server (`tests/browser/office-day.mjs`): import a roster
/// (3 errors shown, fixed, imported, imported again without change), invite a teacher who sets
/// a password from the mail, set a timetable and a holiday, check a mail's state, find the
/// import in the audit log, and a student of the import records consent and uploads a face.
/// Afterwards the API and the SMTP server hold what the page did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_day_in_a_real_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let relay = listener(0);
    let port = relay.local_addr().map(|a| a.port()).unwrap_or_default();
    let smtp = smtp_on(relay, false);
    let app = app_mailing_to(port, 3).await;
    let admin_login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = token_of(&admin_login);
    add_teacher(&app, &admin, TEACHER_EMAIL, "Ana Rivera", TEACHER_PASSWORD).await;
    let teacher = token_of(&app.login(TEACHER_EMAIL, TEACHER_PASSWORD).await);
    let mut civics = String::new();
    for (name, code) in [("Civics", "CIV1"), ("History", "HIS1"), ("Maths", "MAT1")] {
        let s = ok(app
            .post(
                "/api/subjects",
                &json!({"name": name, "code": code}),
                Some(&teacher),
            )
            .await)
        .await;
        if code == "CIV1" {
            civics = str_of(&s, "id");
        }
    }
    let files = tempfile::tempdir().unwrap();
    let bad = write(files.path(), "roster-bad.csv", roster_csv(true).as_bytes());
    let good = write(files.path(), "roster.csv", roster_csv(false).as_bytes());
    let face = write(files.path(), "me.jpg", &photo("obama.jpg"));
    let mut node = node_script("office-day.mjs", &app, &chromium);
    node.env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ADMIN_NAME", str_of(&admin_login, "name"))
        .env("BAD_CSV", &bad)
        .env("GOOD_CSV", &good)
        .env("ROSTER_CREATES", "40")
        // 40 invitations of the import and the teacher's (sent twice: created, then resent).
        .env("MAILS_SENT", "42")
        .env("INVITED_NAME", "Ines Invited")
        .env("INVITED_EMAIL", "ines.invited@school.test")
        .env("INVITED_PASSWORD", "ines-chose-this-1")
        .env("SUBJECT_NAME", "Civics")
        .env("HOLIDAY", "2026-12-24")
        .env("HOLIDAY_NAME", "Winter break")
        .env("EXAM", "2027-06-15")
        .env("EXAM_NAME", "Finals")
        .env("STUDENT_NAME", "Amara Okafor")
        .env("STUDENT_EMAIL", "amara.okafor@school.test")
        .env("STUDENT_PASSWORD", "amara-chose-this-1")
        .env("FACE_PHOTO", &face);
    run_script(node, "office day").await;

    // The SMTP server received one invitation per imported student and the teacher's two.
    let received = smtp.wait_for(42).await;
    let to = |email: &str| {
        received
            .iter()
            .filter(|m| m.to.iter().any(|t| t == email))
            .count()
    };
    assert_eq!(to("student07@school.test"), 1);
    assert_eq!(to("ines.invited@school.test"), 2);
    assert_eq!(received.len(), 42, "no mail twice, none to anyone else");
    // 40 students, each in Civics and one other subject, approved.
    let roster = ok(app
        .get(&format!("/api/subjects/{civics}/students"), Some(&teacher))
        .await)
    .await;
    let listed = roster
        .as_array()
        .or_else(|| roster["students"].as_array())
        .map_or(0, Vec::len);
    assert_eq!(listed, 40, "{roster}");
    // The passwords chosen from the links work; the teacher's timetable has the holiday.
    let ines = token_of(
        &app.login("ines.invited@school.test", "ines-chose-this-1")
            .await,
    );
    let settings = ok(app.get("/api/settings", Some(&ines)).await).await;
    assert!(settings.to_string().contains("Winter break"), "{settings}");
    let amara = app
        .login("amara.okafor@school.test", "amara-chose-this-1")
        .await;
    let me = str_of(&amara, "user_id");
    let faces = ok(app
        .get(
            &format!("/api/students/{me}/faces"),
            Some(&token_of(&amara)),
        )
        .await)
    .await;
    assert!(
        faces.to_string().contains("sample_id") || faces.to_string().contains("\"id\""),
        "{faces}"
    );
    let audit = ok(app
        .get("/api/admin/audit?action=roster.import", Some(&admin))
        .await)
    .await;
    assert_eq!(
        audit["entries"].as_array().map_or(0, Vec::len),
        2,
        "{audit}"
    );
}
