//! Arbitrary `POST /mark` requests through the body parser the handler uses, without a
//! server: JSON (`{"image": data URL or base64, "subject_id"}`) or a multipart form (`file`,
//! `subject_id`, `live`, `save`, `date`, `slot`).
//!
//! Input layout: the first line is the Content-Type header value, the second the query
//! string, the rest the body. Must never panic; when accepted, the subject is not empty, and
//! neither is the photo unless it came as JSON base64 of nothing (`data:image/png;base64,`),
//! which `mark` refuses next with a 422.

#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use rollcall::api::attendance::parse_mark_request;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
});

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
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
    if let Ok((bytes, subject)) = RUNTIME.block_on(parse_mark_request(req)) {
        assert!(json || !bytes.is_empty(), "accepted an empty file");
        assert!(!subject.trim().is_empty(), "accepted an empty subject");
    }
});
