//! The web page at `/app/`, driven in Debian's Chromium by `tests/browser/flow.mjs`
//! (playwright-core): the teacher logs in with the keyboard, enrols a student from photos, takes
//! attendance from a group photo, fixes the unknown face, confirms, corrects a record, exports
//! the CSV and reads the analytics; with `../shared`, also reviews a real group photo (25 faces,
//! dlib's `bald_guys.jpg`) and discards it; then a student sees their own figures. Screenshots land in
//! `artifacts/browser/`. `scripts/test` installs Chromium and playwright-core first
//! (`scripts/setup-browser`) and sets `ROLLCALL_REQUIRE_BROWSER=1`, so in CI a missing browser
//! fails instead of skipping.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::media::{photo, side_by_side};
use crate::support::{TestApp, body, ok, spawn_app, token_of};

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

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.display().to_string()
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
    let chromium = match browser() {
        Ok(c) => c,
        Err(why) if std::env::var("ROLLCALL_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("the browser test cannot run: {why}; run scripts/setup-browser")
        }
        Err(why) => {
            println!("SKIPPED: the browser test needs scripts/setup-browser ({why})");
            return;
        }
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    ok(app
        .post(
            "/api/admin/users",
            &json!({"role": "teacher", "email": TEACHER_EMAIL, "name": "Ana Rivera", "password": TEACHER_PASSWORD}),
            Some(&admin),
        )
        .await)
    .await;
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
    let artifacts = repo().join("artifacts/browser");
    // With the shared data set, also a real group photo (25 labelled faces, dlib's test set).
    let class_photo = std::env::var_os("ROLLCALL_SHARED_DIR")
        .map_or_else(|| repo().join("../shared"), PathBuf::from)
        .join("data/dlib-faces/bald_guys.jpg");
    let mut node = std::process::Command::new("node");
    node.arg(repo().join("tests/browser/flow.mjs"))
        .current_dir(repo().join("tests/browser"))
        .env("ROLLCALL_URL", &app.base)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts)
        .env("TEACHER_EMAIL", TEACHER_EMAIL)
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
    // The server runs on this test's runtime: wait for the browser off it.
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
        "the browser flow failed (screenshots in {}):\n{log}",
        artifacts.display()
    );

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
    assert!(artifacts.join("review-screen.jpg").is_file());
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
    for (path, kind) in [
        ("/app/", "text/html"),
        ("/app/app.js", "text/javascript"),
        ("/app/app.css", "text/css"),
    ] {
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
