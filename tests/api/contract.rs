//! Every answer a test receives through `TestApp` is checked against the OpenAPI document: the
//! route must document the status, and a JSON body must match the documented schema (with the
//! document's `$ref`s). A mismatch fails the test naming the method, path, status and the schema
//! errors.
//!
//! Which operation answers a request: the documented path template that matches the request
//! path, literal segments first. The undocumented seed aliases (`/auth/...`, `/settings`,
//! `/settings/upload-avatar`, `/notifications/...`) answer exactly like their `/api/...` twins
//! and are checked as those twins. Paths that are not API operations (`/openapi.json`, `/docs`,
//! `/redoc`, `/app/`, `/avatars/...`, unknown routes), a documented path asked with a method it
//! does not have (405), and CORS preflights are counted as skipped.
//!
//! With `ROLLCALL_OPENAPI_TALLY=<file>` every check appends one line to that file (`checked`
//! or `skipped`, method, operation or path, status), to count what a whole suite run covered.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

pub use rollcall::domain::ID_PATTERN;

/// The server's OpenAPI document, as `/openapi.json` serves it.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = rollcall::api::documented();
        serde_json::to_value(&doc).expect("OpenAPI document")
    })
}

/// `schema` with its `$ref`s followed (to the schema itself when it is not a reference).
pub fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(target) => schema = target,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// What became of one answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Checked against this operation (`GET /api/subjects/{id}`).
    Checked(String),
    /// Not an operation of the document, for this reason.
    Skipped(&'static str),
}

/// The documented path template that `path` fills in: every literal segment equal, every
/// `{param}` segment non-empty; the template with the most literal segments wins.
fn template_for<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter_map(|t| {
            let parts: Vec<&str> = t.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (p, s) in parts.iter().zip(&segments) {
                if p.starts_with('{') && p.ends_with('}') {
                    if s.is_empty() {
                        return None;
                    }
                } else if p == s {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, t.as_str()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, t)| t)
}

/// `type/subtype` of a content type, lower case, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn media_matches(documented: &str, actual: &str) -> bool {
    documented == actual
        || documented
            .strip_suffix("/*")
            .is_some_and(|kind| actual.split('/').next() == Some(kind))
}

type Validators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

/// A validator for the schema at `pointer` in the document, built once.
fn validator(pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(pointer) {
        return Ok(Arc::clone(v));
    }
    let doc = document();
    let schema = doc
        .pointer(pointer)
        .ok_or_else(|| format!("no schema at {pointer}"))?;
    // The schema as the root, with the document's components beside it so that its
    // `#/components/schemas/...` references resolve.
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        other => return Err(format!("schema at {pointer} is not an object: {other}")),
    };
    root.insert("components".into(), doc["components"].clone());
    let v = Arc::new(
        jsonschema::draft202012::new(&Value::Object(root))
            .map_err(|e| format!("schema at {pointer} does not compile: {e}"))?,
    );
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pointer.to_owned(), Arc::clone(&v));
    Ok(v)
}

/// JSON pointer escaping of one token.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Check one answer against the document.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Outcome, String> {
    let doc = document();
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if method.eq_ignore_ascii_case("OPTIONS") || method.eq_ignore_ascii_case("HEAD") {
        return Ok(Outcome::Skipped("CORS preflight or HEAD"));
    }
    let Some(template) =
        template_for(doc, path).or_else(|| template_for(doc, &format!("/api{path}")))
    else {
        return Ok(Outcome::Skipped("not a documented path"));
    };
    let lower = method.to_ascii_lowercase();
    let Some(op) = doc["paths"][template].get(&lower) else {
        if status == 405 {
            return Ok(Outcome::Skipped("method not allowed"));
        }
        return Err(format!(
            "{template} documents no {method} operation, yet the server answered {status}"
        ));
    };
    let name = format!("{method} {template}");
    let status_key = status.to_string();
    let (key, response) = match op["responses"].get(&status_key) {
        Some(r) => (status_key, r),
        None => match op["responses"].get("default") {
            Some(r) => ("default".to_owned(), r),
            None => {
                let documented: Vec<&String> = op["responses"]
                    .as_object()
                    .map(|r| r.keys().collect())
                    .unwrap_or_default();
                return Err(format!(
                    "{name} does not document status {status} (documented: {documented:?}); body: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
            }
        },
    };
    let response = resolve(doc, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Ok(Outcome::Checked(name));
    };
    let actual = essence(content_type.unwrap_or(""));
    let Some((media, documented)) = content.iter().find(|(m, _)| media_matches(m, &actual)) else {
        return Err(format!(
            "{name} {status}: content type {actual:?} is not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if actual != "application/json" || documented.get("schema").is_none() {
        return Ok(Outcome::Checked(name));
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{name} {status}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    let pointer = format!(
        "/paths/{}/{lower}/responses/{key}/content/{}/schema",
        token(template),
        token(media)
    );
    let v = validator(&pointer)?;
    let errors: Vec<String> = v
        .iter_errors(&json)
        .take(5)
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
        .collect();
    if errors.is_empty() {
        Ok(Outcome::Checked(name))
    } else {
        let shown = serde_json::to_string(&json).unwrap_or_default();
        Err(format!(
            "{name} {status}: the body does not match the documented schema:\n  {}\nbody: {}",
            errors.join("\n  "),
            &shown[..shown.len().min(2000)]
        ))
    }
}

/// Append one line per check to `$ROLLCALL_OPENAPI_TALLY`, when set.
pub fn tally(method: &str, path: &str, status: u16, outcome: &Outcome) {
    let Some(file) = std::env::var_os("ROLLCALL_OPENAPI_TALLY") else {
        return;
    };
    let line = match outcome {
        Outcome::Checked(op) => format!("checked\t{op}\t{status}\n"),
        Outcome::Skipped(why) => format!("skipped\t{method} {path}\t{status}\t{why}\n"),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Check `resp` against the document (failing the test on a mismatch) and hand back an
/// equivalent response with the same status, headers and body.
pub async fn checked(method: &str, path: &str, resp: reqwest::Response) -> reqwest::Response {
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(_) => {
            // The connection broke mid-answer; a test may be about exactly that.
            tally(
                method,
                path,
                status.as_u16(),
                &Outcome::Skipped("body unreadable"),
            );
            bytes::Bytes::new()
        }
    };
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match check(method, path, status.as_u16(), content_type, &bytes) {
        Ok(outcome) => tally(method, path, status.as_u16(), &outcome),
        Err(e) => {
            panic!("{method} {path} -> {status}: the answer breaks the OpenAPI document: {e}")
        }
    }
    let mut rebuilt = http::Response::builder().status(status).version(version);
    if let Some(h) = rebuilt.headers_mut() {
        *h = headers;
    }
    let rebuilt = rebuilt.body(bytes).expect("rebuilding the response");
    reqwest::Response::from(rebuilt)
}

#[test]
fn answers_are_matched_to_their_operation() {
    let doc = document();
    assert_eq!(
        template_for(doc, "/api/students/upload-face"),
        Some("/api/students/upload-face")
    );
    assert_eq!(
        template_for(doc, "/students/me/profile"),
        Some("/students/me/profile")
    );
    assert_eq!(
        template_for(doc, "/students/0123456789abcdef01234567/profile"),
        Some("/students/{user_id}/profile")
    );
    assert_eq!(template_for(doc, "/auth/login"), None);
    // An undocumented status, a body of the wrong shape and an undocumented content type fail;
    // the seed alias is checked as its twin.
    let login_ok = br#"{"detail": "x"}"#;
    assert!(
        check(
            "POST",
            "/auth/login",
            200,
            Some("application/json"),
            login_ok
        )
        .is_err()
    );
    assert!(
        check(
            "POST",
            "/auth/login",
            418,
            Some("application/json"),
            login_ok
        )
        .is_err()
    );
    assert!(check("GET", "/api/subjects", 200, Some("text/plain"), b"[]").is_err());
    assert_eq!(
        check("GET", "/api/subjects", 200, Some("application/json"), b"[]"),
        Ok(Outcome::Checked("GET /api/subjects".into()))
    );
    assert_eq!(
        check(
            "POST",
            "/auth/login",
            401,
            Some("application/json"),
            login_ok
        ),
        Ok(Outcome::Checked("POST /api/auth/login".into()))
    );
    assert_eq!(
        check("GET", "/docs", 200, Some("text/html"), b""),
        Ok(Outcome::Skipped("not a documented path"))
    );
    assert!(check("DELETE", "/api/auth/login", 200, None, b"").is_err());
}
