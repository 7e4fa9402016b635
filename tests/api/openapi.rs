//! The OpenAPI document itself: every reference resolves, parameters sit where they are
//! declared, ids carry their pattern, and the statuses that the shared layers (bearer auth, the
//! JSON and multipart extractors, the body limit, the query extractor) can answer are documented
//! on every route they guard. What each route really answers is checked against the document by
//! every test that goes through `TestApp` (see `contract.rs`).

use serde_json::Value;

use crate::contract::{ID_PATTERN, document, resolve};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

/// Every `$ref` in `v`, with where it was found.
fn refs<'a>(v: &'a Value, at: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref" {
                    if let Some(r) = x.as_str() {
                        out.push((at.to_owned(), r));
                    }
                } else {
                    refs(x, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                refs(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The names in `{...}` of a path template.
fn template_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// A name that, in this API, holds a 24-hex id (`employee_id` is a teacher's staff number).
fn is_id_name(name: &str) -> bool {
    name != "employee_id"
        && (name == "id"
            || name == "_id"
            || name.ends_with("_id")
            || name.ends_with("Id")
            || name.ends_with("_ids")
            || [
                "present_students",
                "absent_students",
                "consent_by",
                "sent_by",
                "actor",
            ]
            .contains(&name))
}

/// Whether `schema` (after `$ref`s, through arrays, nullable unions and `allOf`/`oneOf`) is a
/// string, and if so whether every string it admits carries the id pattern.
fn id_pattern_ok(doc: &Value, schema: &Value) -> Option<bool> {
    let schema = resolve(doc, schema);
    if let Some(items) = schema.get("items") {
        return id_pattern_ok(doc, items);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            let results: Vec<bool> = list.iter().filter_map(|s| id_pattern_ok(doc, s)).collect();
            return (!results.is_empty()).then(|| results.iter().all(|&ok| ok));
        }
    }
    let is_string = match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    is_string.then(|| schema["pattern"] == ID_PATTERN)
}

/// Every property of every object schema reachable in `v`, as (where, name, schema).
fn properties<'a>(v: &'a Value, at: &str, out: &mut Vec<(String, String, &'a Value)>) {
    match v {
        Value::Object(map) => {
            if let Some(props) = map.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    out.push((at.to_owned(), name.clone(), schema));
                }
            }
            for (k, x) in map {
                properties(x, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                properties(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn has_status(op: &Value, status: &str) -> bool {
    op["responses"].get(status).is_some()
}

fn body_types(op: &Value) -> Vec<&str> {
    op["requestBody"]["content"]
        .as_object()
        .map(|c| c.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn openapi_document_is_well_formed() {
    let doc = document();
    let mut problems = Vec::new();

    let mut found = Vec::new();
    refs(doc, "#", &mut found);
    for (at, r) in &found {
        let target = r.strip_prefix('#').and_then(|pointer| doc.pointer(pointer));
        if target.is_none() {
            problems.push(format!("{at}: $ref {r} does not resolve"));
        }
    }

    let mut operation_ids = std::collections::BTreeMap::new();
    for (method, path, op) in operations(doc) {
        let name = format!("{method} {path}");
        if let Some(id) = op["operationId"].as_str()
            && let Some(other) = operation_ids.insert(id.to_owned(), name.clone())
        {
            problems.push(format!("{name}: operationId {id} is also {other}'s"));
        }
        let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
        let in_template = template_params(&path);
        for p in &params {
            let (pname, place) = (
                p["name"].as_str().unwrap_or(""),
                p["in"].as_str().unwrap_or(""),
            );
            match place {
                "path" if !in_template.contains(&pname) => problems.push(format!(
                    "{name}: parameter {pname} is declared in: path but is not in the path template"
                )),
                "path" | "query" | "header" => {}
                other => problems.push(format!("{name}: parameter {pname} in: {other}")),
            }
            if is_id_name(pname) && id_pattern_ok(doc, &p["schema"]) == Some(false) {
                problems.push(format!(
                    "{name}: id parameter {pname} lacks pattern {ID_PATTERN}"
                ));
            }
        }
        for t in &in_template {
            if !params.iter().any(|p| p["name"] == *t && p["in"] == "path") {
                problems.push(format!("{name}: path parameter {{{t}}} is not declared"));
            }
        }
        // A route that exists only to say what is not supported (the seed's Google sign-in)
        // answers 501 (and the 503 every route documents), nothing else.
        let only_501 = op["responses"]
            .as_object()
            .is_some_and(|r| r.contains_key("501") && r.keys().all(|s| s == "501" || s == "503"));
        if !only_501
            && !op["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|s| s.starts_with('2') || s.starts_with('3')))
        {
            problems.push(format!("{name}: no success response"));
        }
        let bearer = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if bearer && !has_status(op, "401") {
            problems.push(format!(
                "{name}: takes a bearer token but does not document 401"
            ));
        }
        let types = body_types(op);
        if !types.is_empty() && !has_status(op, "413") {
            problems.push(format!("{name}: has a body but does not document 413"));
        }
        if types.contains(&"application/json")
            && !has_status(op, "415")
            && path != "/api/auth/logout"
        {
            problems.push(format!("{name}: has a JSON body but does not document 415"));
        }
        if params.iter().any(|p| p["in"] == "query") && !has_status(op, "422") {
            problems.push(format!(
                "{name}: has query parameters but does not document 422"
            ));
        }
        if !["/", "/health"].contains(&path.as_str()) && !has_status(op, "503") {
            problems.push(format!(
                "{name}: uses the database but does not document 503"
            ));
        }
    }

    let mut props = Vec::new();
    properties(doc, "#", &mut props);
    for (at, pname, schema) in props {
        if is_id_name(&pname) && id_pattern_ok(doc, schema) == Some(false) {
            problems.push(format!(
                "{at}: id property {pname} lacks pattern {ID_PATTERN}"
            ));
        }
    }

    assert!(
        problems.is_empty(),
        "{} problems in the OpenAPI document:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checks above can fail: a document with each kind of fault is refused.
#[test]
fn the_structure_checks_catch_faults() {
    let doc = serde_json::json!({
        "components": {"schemas": {"Id": {"type": "string", "pattern": ID_PATTERN}}},
        "x": {"$ref": "#/components/schemas/Missing"},
        "y": {"$ref": "#/components/schemas/Id"},
    });
    let mut found = Vec::new();
    refs(&doc, "#", &mut found);
    let dangling: Vec<_> = found
        .iter()
        .filter(|(_, r)| doc.pointer(r.trim_start_matches('#')).is_none())
        .collect();
    assert_eq!(dangling.len(), 1, "{found:?}");
    assert_eq!(id_pattern_ok(&doc, &doc["y"]), Some(true));
    assert_eq!(
        id_pattern_ok(&doc, &serde_json::json!({"type": "string"})),
        Some(false)
    );
    assert_eq!(
        id_pattern_ok(
            &doc,
            &serde_json::json!({"type": "array", "items": {"type": "string"}})
        ),
        Some(false)
    );
    assert_eq!(
        id_pattern_ok(&doc, &serde_json::json!({"type": "integer"})),
        None
    );
    assert_eq!(
        template_params("/a/{id}/b/{student_id}"),
        ["id", "student_id"]
    );
    assert!(is_id_name("classId") && is_id_name("student_ids") && !is_id_name("employee_id"));
}
