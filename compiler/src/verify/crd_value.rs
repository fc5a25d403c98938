//! Reading CRD fields from YAML values, for the mesh interpreters (Istio, Linkerd):
//! each reader names the field path and what it found when the shape is wrong, so a
//! hand edit becomes a clear problem instead of a guess.

use std::fmt::{self, Display};

use crate::verify::value::{Mapping, Value};

use super::Manifest;

/// Where a value sits in an object, for messages (`spec.rules[0].from[1]`): a chain on
/// the stack, written out only when a message needs it. Objects are read by the
/// thousand and few have anything to report.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    Root(&'a str),
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    pub fn field(&'a self, name: &'a str) -> At<'a> {
        At::Field(self, name)
    }

    pub fn index(&'a self, i: usize) -> At<'a> {
        At::Index(self, i)
    }
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root(name) => f.write_str(name),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// How an object ranks by age where a layer prefers the oldest: its
/// `creationTimestamp` (manifests rarely carry one), then its name.
pub fn age(manifest: &Manifest) -> (String, String) {
    let created = manifest.value["metadata"]["creationTimestamp"].as_str().unwrap_or_default();
    (created.to_string(), manifest.at.name.clone())
}

pub fn mapping(value: &Value, at: impl Display) -> Result<&Mapping, String> {
    value.as_mapping().ok_or_else(|| format!("`{at}` is {}, not a mapping", show(value)))
}

/// A mapping, with an absent or empty value read as `{}`.
pub fn mapping_or_empty<'a>(value: &'a Value, at: impl Display, empty: &'a Mapping) -> Result<&'a Mapping, String> {
    if value.is_null() {
        Ok(empty)
    } else {
        mapping(value, at)
    }
}

pub fn sequence(value: Option<&Value>, at: impl Display) -> Result<&[Value], String> {
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
