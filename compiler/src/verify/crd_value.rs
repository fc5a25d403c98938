//! Reading CRD fields from YAML values, for the mesh interpreters (Istio, Linkerd):
//! each reader names the field path and what it found when the shape is wrong, so a
//! hand edit becomes a clear problem instead of a guess.

use crate::verify::value::{Mapping, Value};

use super::Manifest;

/// How an object ranks by age where a layer prefers the oldest: its
/// `creationTimestamp` (manifests rarely carry one), then its name.
pub fn age(manifest: &Manifest) -> (String, String) {
    let created = manifest.value["metadata"]["creationTimestamp"].as_str().unwrap_or_default();
    (created.to_string(), manifest.at.name.clone())
}

pub fn mapping<'a>(value: &'a Value, at: &str) -> Result<&'a Mapping, String> {
    value.as_mapping().ok_or_else(|| format!("`{at}` is {}, not a mapping", show(value)))
}

/// A mapping, with an absent or empty value read as `{}`.
pub fn mapping_or_empty<'a>(value: &'a Value, at: &str, empty: &'a Mapping) -> Result<&'a Mapping, String> {
    if value.is_null() {
        Ok(empty)
    } else {
        mapping(value, at)
    }
}

pub fn sequence<'a>(value: Option<&'a Value>, at: &str) -> Result<&'a [Value], String> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => Err(format!("`{at}` is {}, not a list", show(other))),
    }
}

/// A value in a message: `` `8080` ``, `a list`, `empty`.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "empty".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}
