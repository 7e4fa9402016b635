//! The answers that come from the layers every route shares rather than from its handler, added
//! to each operation of the OpenAPI document where that layer applies. A status a handler
//! documents itself keeps its own description.
//!
//! - Bearer authentication (`AuthUser` and the role extractors): 401 on every operation that
//!   declares the bearer scheme.
//! - The request body limit (`ROLLCALL_MAX_BODY_BYTES`, `RequestBodyLimitLayer`): 413 on every
//!   operation with a body.
//! - `ApiJson`: 400 malformed JSON, 415 another content type, 422 the wrong shape, on every
//!   operation with a JSON body (except [`RAW_JSON_BODY`]).
//! - `ApiQuery`: 422 on every operation with query parameters (a missing or ill-typed value, a
//!   repeated key).
//! - `parse_id`: 400 on every operation with an id in its path (one that is not 24 hex digits).
//! - Storage: 503 on every operation that touches the database (all but [`NO_DATABASE`]): the
//!   write lock held past the busy timeout (with `Retry-After`), a full disk, a read-only or
//!   unopenable database file. Authenticating a bearer token reads the database too.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, PathItem, Ref, RefOr, ResponseBuilder, Schema};

use crate::domain::Id;

/// Operations that never touch the database: liveness and the banner.
const NO_DATABASE: [&str; 2] = ["/", "/health"];

/// Operations whose optional JSON body is read by the handler itself, whatever its content type:
/// no 415, and a malformed body is a 422 like a wrong shape (logout).
const RAW_JSON_BODY: [&str; 1] = ["/api/auth/logout"];

/// Add the shared layers' answers to every operation of `doc`.
pub fn add_shared_responses(doc: &mut OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        for op in operations(item) {
            shared_responses(path, op);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn shared_responses(path: &str, op: &mut Operation) {
    let bearer = op.security.iter().flatten().any(|s| {
        serde_json::to_value(s)
            .ok()
            .is_some_and(|v| v.get("bearer").is_some())
    });
    let body_types: Vec<String> = op
        .request_body
        .as_ref()
        .map(|b| b.content.keys().cloned().collect())
        .unwrap_or_default();
    let json_body = body_types.iter().any(|t| t == "application/json");
    let mut params = op.parameters.iter().flatten();
    let query = params.clone().any(|p| p.parameter_in == ParameterIn::Query);
    let id_in_path =
        params.any(|p| p.parameter_in == ParameterIn::Path && is_id(p.schema.as_ref()));

    if bearer {
        add(
            op,
            401,
            "Not authenticated: no bearer token, or one that is invalid, expired or revoked \
             (`WWW-Authenticate: Bearer`)",
        );
    }
    if id_in_path {
        add(op, 400, "An id in the path is not 24 hexadecimal digits");
    }
    if !body_types.is_empty() {
        add(
            op,
            413,
            "The request body is larger than the server accepts (`ROLLCALL_MAX_BODY_BYTES`, 20 MiB by default)",
        );
    }
    if json_body && !RAW_JSON_BODY.contains(&path) {
        add(op, 400, "The body is not valid JSON");
        add(
            op,
            415,
            "The body is not sent as `Content-Type: application/json`",
        );
    }
    if json_body {
        add(op, 422, "The body does not have the documented shape");
    }
    if query {
        add(
            op,
            422,
            "A query parameter is missing, repeated or of the wrong type",
        );
    }
    if !NO_DATABASE.contains(&path) {
        add(
            op,
            503,
            "The database is busy past its lock timeout (`Retry-After`), or the server's disk is \
             full or its data directory read-only; nothing was changed",
        );
    }
}

/// Whether a parameter's schema is the [`Id`] schema.
fn is_id(schema: Option<&RefOr<Schema>>) -> bool {
    let id = format!("#/components/schemas/{}", <Id as utoipa::ToSchema>::name());
    match schema {
        Some(RefOr::Ref(r)) => r.ref_location == id,
        Some(RefOr::T(Schema::OneOf(one))) => one
            .items
            .iter()
            .any(|s| matches!(s, RefOr::Ref(r) if r.ref_location == id)),
        _ => false,
    }
}

/// Document `status` with a `{"detail"}` body, unless the operation already documents it.
fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("Detail"))),
                )
                .build()
                .into()
        });
}
