//! A compact, read-only YAML tree for the manifests verify reads.
//!
//! verify holds every object of a directory at once (about 100,000 for a 10,000-segment
//! policy under Linkerd). `serde_yaml::Value` spends about 10 KB on a typical object,
//! mostly in the hash tables of its mappings, so a big directory took a gigabyte. This
//! tree has the same shape and reading API (`value["spec"]["podSelector"]`, `get`,
//! `as_str`, the same variants) at about a fifth of the size: a mapping is its entries
//! in document order, exactly sized, looked up by a scan. Kubernetes objects have small
//! mappings, and the interpreters read a known handful of keys from each, so a scan
//! costs less than hashing; no reader looks keys up in a loop over another mapping's
//! keys, which would make the scan quadratic.
//!
//! It is read straight from YAML, by `block_yaml.rs` for the block style segc writes
//! and by serde_yaml's parser for anything else, never built from a
//! `serde_yaml::Value`, and rejects duplicate keys as serde_yaml does.

use std::collections::HashSet;
use std::fmt;
use std::ops::Index;

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
pub use serde_yaml::Number;

/// A YAML value. Variants as in `serde_yaml::Value`.
#[derive(Debug, Clone, PartialEq, Hash, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    // Boxed rather than growable: a value is then 24 bytes rather than 32, and a
    // directory of objects is millions of them.
    String(Box<str>),
    Sequence(Box<[Value]>),
    Mapping(Mapping),
    /// A value with a local tag (`!thing value`): no Kubernetes field takes one.
    Tagged(Box<Tagged>),
}

/// A tagged value: the tag (without its `!`) and the value.
#[derive(Debug, Clone, PartialEq, Hash)]
pub struct Tagged {
    pub tag: String,
    pub value: Value,
}

/// A YAML mapping: its entries in document order, keys unique.
#[derive(Debug, Clone, PartialEq, Hash, Default)]
pub struct Mapping {
    entries: Box<[(Value, Value)]>,
}

static NULL: Value = Value::Null;

impl Value {
    /// The value of `key` when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_mapping()?.get(key)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Value]> {
        match self {
            Value::Sequence(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&Mapping> {
        match self {
            Value::Mapping(map) => Some(map),
            _ => None,
        }
    }
}

/// `value["key"]`: the value of `key`, or null when there is none (as serde_yaml).
impl Index<&str> for Value {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the item at `i` of a sequence, or null (as serde_yaml).
impl Index<usize> for Value {
    type Output = Value;

    fn index(&self, i: usize) -> &Value {
        self.as_sequence().and_then(|items| items.get(i)).unwrap_or(&NULL)
    }
}

/// `value["key"] = …` in tests that edit manifests by hand: as serde_yaml, null
/// becomes a mapping and a missing key is added as null. Only tests edit manifests.
#[cfg(test)]
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = self else { panic!("cannot index {self:?} with {key:?}") };
        let at = match m.entries.iter().position(|(k, _)| k.as_str() == Some(key)) {
            Some(at) => at,
            None => {
                let mut entries = std::mem::take(&mut m.entries).into_vec();
                entries.push((Value::String(key.into()), Value::Null));
                m.entries = entries.into_boxed_slice();
                m.entries.len() - 1
            }
        };
        &mut m.entries[at].1
    }
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }

    /// The mapping of `entries` in their order, or `None` when a key repeats (which
    /// serde_yaml refuses).
    pub fn from_entries(entries: Vec<(Value, Value)>) -> Option<Mapping> {
        if duplicate_key(&entries).is_some() {
            return None;
        }
        Some(Mapping { entries: entries.into_boxed_slice() })
    }

    /// The value of the string key `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes the string key `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        let (_, value) = entries.remove(at);
        self.entries = entries.into_boxed_slice();
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<'a> IntoIterator for &'a Mapping {
    type Item = (&'a Value, &'a Value);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Value, Value)>, fn(&'a (Value, Value)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

/// Where a mapping repeats a key, the message serde_yaml gives for it.
fn duplicate_key(entries: &[(Value, Value)]) -> Option<String> {
    // Pairwise for the small mappings objects are made of; a set for big ones, so a
    // mapping of many keys costs linear time.
    let repeated = if entries.len() <= 16 {
        entries.iter().enumerate().find(|(i, (k, _))| entries[..*i].iter().any(|(earlier, _)| earlier == k))
    } else {
        let mut seen = HashSet::with_capacity(entries.len());
        entries.iter().enumerate().find(|(_, (k, _))| !seen.insert(Key(k)))
    };
    let (_, (key, _)) = repeated?;
    Some(match key {
        Value::Null => "duplicate entry with null key".to_string(),
        Value::Bool(b) => format!("duplicate entry with key `{b}`"),
        Value::Number(n) => format!("duplicate entry with key {n}"),
        Value::String(s) => format!("duplicate entry with key {s:?}"),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "duplicate entry in YAML map".to_string(),
    })
}

/// A mapping key in a set. serde_yaml's numbers compare NaN equal to itself, which
/// makes equality total on values.
#[derive(PartialEq, Hash)]
struct Key<'a>(&'a Value);

impl Eq for Key<'_> {}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s.into_boxed_str()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Sequence(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        if let Some(message) = duplicate_key(&entries) {
            return Err(de::Error::custom(message));
        }
        Ok(Value::Mapping(Mapping { entries: entries.into_boxed_slice() }))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, contents): (String, _) = data.variant()?;
        let value = contents.newtype_variant()?;
        Ok(Value::Tagged(Box::new(Tagged { tag, value })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Value, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_like_serde_yaml() {
        let text = "a: {b: [1, -2, 1.5, x, true, null, ~]}\nc: \"8080\"\nd: !thing 3\n";
        let v = yaml(text).unwrap();
        assert_eq!(v["a"]["b"][0].as_u64(), Some(1));
        assert_eq!(v["a"]["b"][1].as_i64(), Some(-2));
        assert_eq!(v["a"]["b"][3].as_str(), Some("x"));
        assert_eq!(v["a"]["b"][4].as_bool(), Some(true));
        assert!(v["a"]["b"][5].is_null() && v["a"]["b"][6].is_null() && v["a"]["b"][7].is_null());
        assert_eq!(v["c"].as_str(), Some("8080"), "quoted numbers stay strings");
        assert!(v["missing"]["deeper"].is_null());
        assert!(matches!(&v["d"], Value::Tagged(t) if t.value.as_u64() == Some(3)));
        let keys: Vec<_> = v.as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
        assert_eq!(keys, ["a", "c", "d"], "document order");
    }

    #[test]
    fn duplicate_keys_are_refused_with_serde_yamls_message() {
        for text in
            ["a: 1\nb: 2\na: 3\n", &(0..40).map(|i| format!("k{i}: 1\n")).collect::<String>().replace("k39", "k3")]
        {
            let ours = yaml(text).unwrap_err();
            let theirs = serde_yaml::from_str::<serde_yaml::Value>(text).unwrap_err().to_string();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn an_object_is_much_smaller_than_serde_yamls() {
        assert!(std::mem::size_of::<Value>() <= 32);
        assert!(std::mem::size_of::<Value>() < std::mem::size_of::<serde_yaml::Value>());
    }
}
