//! Reading the export: JSON arrays (`mongoexport --jsonArray`) or one document after another
//! (mongoexport's default, `bsondump`), Extended JSON in its relaxed or canonical form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{COLLECTIONS, Report};
use crate::domain::Id;

pub(super) struct Doc {
    /// "users.json, document 3".
    pub(super) at: String,
    pub(super) id: String,
    pub(super) digest: String,
    pub(super) v: Map<String, Value>,
}

pub(super) type Raw = BTreeMap<&'static str, Vec<Doc>>;

pub(super) fn read_export(dir: &Path, report: &mut Report) -> Raw {
    let mut out = Raw::new();
    if !dir.is_dir() {
        report
            .problems
            .push(format!("{} is not a folder", dir.display()));
        return out;
    }
    for name in COLLECTIONS {
        let path = dir.join(format!("{name}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(format!(
                    "missing collection {name}: no {} (export every collection, even an empty one)",
                    path.display()
                ));
                continue;
            }
            Err(e) => {
                report
                    .problems
                    .push(format!("reading {}: {e}", path.display()));
                continue;
            }
        };
        let values = match parse_documents(&text) {
            Ok(d) => d,
            Err(e) => {
                report
                    .problems
                    .push(format!("{name}.json: malformed JSON: {e}"));
                continue;
            }
        };
        out.insert(name, documents(name, values, &mut report.problems));
    }
    out
}

/// The documents of collection `name`, each an object with an ObjectId in `_id` that no other
/// document of the collection has; the others are recorded in `problems`.
fn documents(name: &str, values: Vec<Value>, problems: &mut Vec<String>) -> Vec<Doc> {
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let at = format!("{name}.json, document {}", i + 1);
        let Value::Object(map) = v else {
            problems.push(format!("{at}: not a JSON object"));
            continue;
        };
        let Some(id) = oid(map.get("_id")) else {
            problems.push(format!("{at}: no ObjectId in _id"));
            continue;
        };
        if !seen.insert(id.clone()) {
            problems.push(format!("{at}: _id {id} appears twice in {name}"));
            continue;
        }
        let digest = hex::encode(Sha256::digest(
            Value::Object(map.clone()).to_string().as_bytes(),
        ));
        list.push(Doc {
            at,
            id,
            digest,
            v: map,
        });
    }
    list
}

fn parse_documents(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text);
    }
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect()
}

/// An ObjectId: `{"$oid": "..."}` or a bare 24-hex string.
pub(super) fn oid(v: Option<&Value>) -> Option<String> {
    let raw = match v? {
        Value::String(s) => s.as_str(),
        Value::Object(m) => m.get("$oid")?.as_str()?,
        _ => return None,
    };
    Id::parse(raw).ok().map(|i| i.to_string())
}

/// A number: plain JSON, or `{"$numberInt" | "$numberLong" | "$numberDouble" | "$numberDecimal": "..."}`.
fn float(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::Object(m) => {
            let (key, inner) = m.iter().next()?;
            matches!(
                key.as_str(),
                "$numberInt" | "$numberLong" | "$numberDouble" | "$numberDecimal"
            )
            .then(|| inner.as_str()?.parse::<f64>().ok())
            .flatten()
        }
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation)]
pub(super) fn int(v: Option<&Value>) -> Option<i64> {
    float(v).filter(|f| f.is_finite()).map(|f| f.round() as i64)
}

/// A time as unix seconds: `{"$date": "2024-01-15T10:30:00Z"}`, `{"$date": {"$numberLong":
/// "<ms>"}}`, `{"$date": <ms>}` or a bare RFC 3339 string.
pub(super) fn datetime(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    let inner = match v {
        Value::Object(m) => m.get("$date")?,
        other => other,
    };
    match inner {
        Value::String(s) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(time::OffsetDateTime::unix_timestamp)
        }
        other => int(Some(other)).map(|ms| ms.div_euclid(1000)),
    }
}

pub(super) fn text(doc: &Map<String, Value>, key: &str) -> String {
    match doc.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(v @ (Value::Number(_) | Value::Object(_))) => {
            float(Some(v)).map_or_else(String::new, |f| f.to_string())
        }
        _ => String::new(),
    }
}

pub(super) fn opt_text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    Some(text(doc, key)).filter(|s| !s.is_empty())
}

pub(super) fn flag(doc: &Map<String, Value>, key: &str) -> bool {
    doc.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn oids(doc: &Map<String, Value>, key: &str) -> Vec<Option<String>> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| oid(Some(v))).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_json() {
        let v: Value = serde_json::json!({
            "a": {"$oid": "65A1B2C3D4E5F60718293A4B"},
            "b": {"$date": "2024-01-15T10:30:00.000Z"},
            "c": {"$date": {"$numberLong": "1705314600000"}},
            "d": {"$numberInt": "7"},
            "e": {"$numberDouble": "66.67"},
            "f": 1705314600000_i64,
        });
        assert_eq!(oid(v.get("a")).as_deref(), Some("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(datetime(v.get("b")), Some(1_705_314_600));
        assert_eq!(datetime(v.get("c")), Some(1_705_314_600));
        assert_eq!(
            datetime(Some(&serde_json::json!({"$date": 1_705_314_600_000_i64}))),
            Some(1_705_314_600)
        );
        assert_eq!(int(v.get("d")), Some(7));
        assert_eq!(float(v.get("e")), Some(66.67));
        assert_eq!(oid(v.get("d")), None);
    }

    #[test]
    fn array_or_one_document_per_line() {
        let a = parse_documents("[{\"x\": 1}, {\"x\": 2}]").unwrap_or_else(|e| panic!("{e}"));
        let b = parse_documents("{\"x\": 1}\n{\"x\": 2}\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert!(parse_documents("{\"x\": 1}\n{\"x\": ").is_err());
        assert!(
            parse_documents("")
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }
}
