//! The bodies of the fuzz targets in `fuzz/` (see the README, "Fuzzing"), as plain functions:
//! `scripts/fuzz` runs them under libFuzzer for long runs, and the tests below replay every
//! saved input through them as ordinary tests: the seeds (`fuzz/seeds/TARGET`), the crashes
//! found so far (`fuzz/regressions/TARGET`) and, when present, what long runs learned
//! (`fuzz/corpus/TARGET`, git-ignored). Each function must not panic on any input; an
//! assertion in it failing is a bug found.

use std::collections::HashSet;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::api::{admin, attendance, auth, drafts, sessions, students, subjects};
use crate::domain::{Email, Id, Role};
use crate::service::schedule::{self, ClockTime, Schedule};
use crate::service::{Error, avatars, teachers};
use crate::vision::decode::{self as image_decode, DecodeError, Limits};
use crate::vision::pipeline::PipelineOptions;

// ---- decode ------------------------------------------------------------------------------

/// Tighter than the server's limits (4 MP, 4096 px per side) so that one input costs
/// milliseconds, not a second; the checks are the same code whatever the numbers.
fn limits() -> Limits {
    Limits {
        max_pixels: 4 << 20,
        max_side: 4096,
        ..PipelineOptions::default().limits
    }
}

/// Arbitrary upload bytes through the pipeline's entry: size check, format sniffing, header
/// check against the limits (the decompression-bomb guard), decoding (libjpeg-turbo for JPEG,
/// the `image` crate for PNG, WebP, GIF and BMP; HEIC recognised and refused), EXIF
/// orientation and the RGB8 conversion. The face models are not run: they see only what this
/// returns. Never an image beyond the limits; each refusal for its own reason only. A
/// decoder that panics (a bug in a dependency) is reported by `decode` as `Corrupt`, which is
/// its contract, so such a panic is caught there and judged by the answer.
pub fn decode(data: &[u8]) {
    let limits = limits();
    let sniffed = image_decode::sniff(data);
    assert_eq!(image_decode::mime_type(data).is_some(), sniffed.is_some());
    match image_decode::decode(data, &limits) {
        Ok(img) => {
            assert!(sniffed.is_some(), "decoded an unsniffed format");
            let (w, h) = (img.width, img.height);
            assert!(w > 0 && h > 0, "empty image {w}x{h}");
            assert!(
                w <= limits.max_side as usize && h <= limits.max_side as usize,
                "side beyond the limit: {w}x{h}"
            );
            assert!(
                (w * h) as u64 <= limits.max_pixels,
                "too many pixels: {w}x{h}"
            );
            assert_eq!(img.data.len(), w * h * 3, "buffer size");
        }
        Err(DecodeError::Empty) => assert!(data.is_empty()),
        Err(DecodeError::Unsupported) => assert!(sniffed.is_none()),
        Err(DecodeError::Heic) => assert!(sniffed.is_none() && image_decode::is_heic(data)),
        Err(DecodeError::TooManyPixels { width, height }) => {
            assert!(
                width > limits.max_side
                    || height > limits.max_side
                    || u64::from(width) * u64::from(height) > limits.max_pixels,
                "refused {width}x{height} within the limits"
            );
        }
        Err(DecodeError::TooLarge { .. } | DecodeError::Corrupt(_)) => {}
    }
}

// ---- json --------------------------------------------------------------------------------

/// An id of the calling teacher's own subjects.
const OWN: &str = "0123456789abcdef01234567";

fn typed<T: DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}
/// Ask a checked or stored schedule about a few days: its own dates and a fixed week.
fn exercise(s: &Schedule) {
    let mut dates: Vec<time::Date> = s
        .holidays
        .iter()
        .flat_map(|h| [&h.date, &h.from, &h.to])
        .flatten()
        .chain(s.exams.iter().map(|e| &e.date))
        .filter_map(|d| schedule::parse_date(d))
        .take(8)
        .collect();
    if let Ok(monday) = time::Date::from_calendar_date(2026, time::Month::November, 30) {
        dates.extend((0..7).filter_map(|d| monday.checked_add(time::Duration::days(d))));
    }
    for date in dates {
        let day = s.day(date);
        for p in &day.periods {
            let _ = p.is_of(OWN);
        }
        for t in [(0, 0), (9, 30), (23, 59)] {
            if let Some(t) = ClockTime::from_hm(t.0, t.1) {
                let _ = s.at(date, t);
            }
        }
    }
    let _ = s.slots_of(OWN, "teacher");
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k);
            strings(v, out);
        }),
        _ => {}
    }
}

/// Arbitrary bytes as the JSON bodies the API reads: every typed request body, and as a free
/// JSON value the checks that take one (the settings schedule and preferences, the mark
/// body's base64/data-URL image), then every string in it through the small text parsers
/// (ids, e-mails, dates, times, weekdays, upload names, CSV cells). A refused schedule is a
/// 422 (`Error::Invalid`), nothing else.
pub fn json(data: &[u8]) {
    typed::<attendance::ConfirmRequest>(data);
    typed::<sessions::CorrectionRequest>(data);
    typed::<drafts::AssignRequest>(data);
    typed::<auth::RegisterRequest>(data);
    typed::<auth::LoginRequest>(data);
    typed::<auth::ResetRequest>(data);
    typed::<admin::CreateUserRequest>(data);
    typed::<students::CreateStudentRequest>(data);
    typed::<students::UpdateStudentRequest>(data);
    typed::<subjects::SubjectRequest>(data);
    typed::<subjects::AddStudentsRequest>(data);

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = teachers::json_or(Some(text), teachers::default_settings());
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    // PUT /settings: the schedule is checked, then stored as sent and read back unchecked.
    let own: HashSet<String> = [OWN.to_owned()].into();
    match schedule::validate(&value, &own) {
        Ok(s) => exercise(&s),
        Err(Error::Invalid(_)) => {}
        Err(e) => panic!("schedule refused with a non-422 error: {e:?}"),
    }
    exercise(&schedule::from_stored(&value));
    for key in ["schedule", "settings"] {
        if let Some(v) = value.get(key) {
            let _ = schedule::validate(v, &own);
            let _ = teachers::check_settings(v);
        }
    }

    // PATCH /settings: preferences are checked and deep-merged into the stored ones.
    let _ = teachers::check_settings(&value);
    let mut merged = teachers::default_settings();
    teachers::deep_merge(&mut merged, &value);
    let _ = teachers::check_settings(&merged);

    // POST /mark's JSON body: the image as a data URL or bare base64.
    if let Some(image) = value.get("image").and_then(Value::as_str) {
        let _ = crate::api::attendance::decode_image(image);
    }

    let mut all = Vec::new();
    strings(&value, &mut all);
    for s in all.into_iter().take(64) {
        let _ = Id::parse(s);
        let _ = Email::parse(s);
        let _ = Role::parse(s);
        let _ = schedule::parse_date(s);
        let _ = schedule::parse_weekday(s);
        let _ = ClockTime::parse(s);
        let _ = crate::service::attendance::export::csv_field(s);
        let _ = crate::api::attendance::decode_image(s);
        let (name, kind) = s.split_once('\n').unwrap_or((s, s));
        let _ = avatars::check_upload(name, kind);
    }
}

// ---- mark_request ------------------------------------------------------------------------

static RUNTIME: LazyLock<Option<Runtime>> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().ok());

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Arbitrary `POST /mark` requests through the body parser the handler uses, without a
/// server: JSON (`{"image": data URL or base64, "subject_id"}`) or a multipart form (`file`,
/// `subject_id`, `live`, `save`, `date`, `slot`). The first line of the input is the
/// Content-Type header value, the second the query string, the rest the body. When accepted,
/// the subject is not empty, and neither is the photo unless it came as JSON base64 of nothing
/// (`data:image/png;base64,`), which `mark` refuses next with a 422.
///
/// # Panics
/// When the parser accepts what it must refuse, or a single-threaded runtime cannot start.
pub fn mark_request(data: &[u8]) {
    let Some(runtime) = RUNTIME.as_ref() else {
        panic!("no tokio runtime");
    };
    let (content_type, rest) = line(data);
    let (query, body) = line(rest);
    let uri = match std::str::from_utf8(query) {
        Ok(q) if !q.is_empty() => format!("/api/mark?{q}"),
        _ => "/api/mark".to_owned(),
    };
    let Ok(mut req) = Request::builder()
        .method("POST")
        .uri(uri.as_str())
        .body(Body::from(body.to_vec()))
    else {
        // Not a URI the HTTP layer would have let through.
        return;
    };
    if let Ok(v) = HeaderValue::from_bytes(content_type) {
        req.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    let json = !content_type.starts_with(b"multipart/form-data");
    if let Ok((bytes, subject)) = runtime.block_on(attendance::parse_mark_request(req)) {
        assert!(json || !bytes.is_empty(), "accepted an empty file");
        assert!(!subject.trim().is_empty(), "accepted an empty subject");
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every saved input of `target`: seeds, saved crashes and (when present) the corpus of
    /// long runs; a panic names the file.
    fn replay(target: &str, run: fn(&[u8])) -> usize {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut files: Vec<PathBuf> = ["seeds", "regressions", "corpus"]
            .iter()
            .map(|kind| root.join(kind).join(target))
            .filter(|dir| dir.is_dir())
            .flat_map(|dir| walk(&dir))
            .collect();
        files.sort();
        for file in &files {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target {target} panicked on {}",
                file.display()
            );
        }
        println!(
            "fuzz target {target}: {} saved inputs replayed",
            files.len()
        );
        files.len()
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .flat_map(|p| if p.is_dir() { walk(&p) } else { vec![p] })
            .collect()
    }

    #[test]
    fn saved_decode_inputs_replay() {
        assert!(
            replay("decode", super::decode) >= 20,
            "the committed seeds are gone"
        );
    }

    #[test]
    fn saved_json_inputs_replay() {
        assert!(
            replay("json", super::json) >= 5,
            "the committed seeds are gone"
        );
    }

    #[test]
    fn saved_mark_request_inputs_replay() {
        assert!(
            replay("mark_request", super::mark_request) >= 2,
            "the committed seeds are gone"
        );
    }

    /// Each cargo-fuzz target in `fuzz/fuzz_targets/` is a wrapper that hands its input to the
    /// body of the same name here, the one the replays above run (`scripts/test` checks that
    /// `fuzz/Cargo.lock` is current; `scripts/fuzz` builds the wrappers).
    #[test]
    fn the_cargo_fuzz_targets_call_these_bodies() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
        let mut names: Vec<String> = walk(&dir)
            .iter()
            .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
            .collect();
        names.sort();
        assert_eq!(names, ["decode", "json", "mark_request"]);
        for name in &names {
            let path = dir.join(format!("{name}.rs"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                text.contains(&format!("rollcall::fuzzing::{name}(data)")),
                "{} does not call rollcall::fuzzing::{name}",
                path.display()
            );
        }
    }

    /// The replay fails when a target panics on a saved input.
    #[test]
    fn a_panicking_target_fails_the_replay() {
        let caught = std::panic::catch_unwind(|| replay("mark_request", |_| panic!("found")));
        assert!(caught.is_err());
    }
}
