//! Reading manifests back: every YAML document under a directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::verify::block_yaml;
use crate::verify::value::Value;

/// Where an object came from, for diagnostics: `netpol/shop/x.yaml#2 NetworkPolicy/web`.
/// Decisions carry these by the thousand, so they share one allocation: clone is cheap,
/// and the fields read through `Deref`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef(std::sync::Arc<ObjectAt>);

impl ObjectRef {
    pub fn new(at: ObjectAt) -> ObjectRef {
        ObjectRef(std::sync::Arc::new(at))
    }
}

impl std::ops::Deref for ObjectRef {
    type Target = ObjectAt;

    fn deref(&self) -> &ObjectAt {
        &self.0
    }
}

/// The fields of an [`ObjectRef`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectAt {
    /// The file, relative to the directory verify read.
    pub file: PathBuf,
    /// 1-based index of the document in a multi-document file (items of a `kind:
    /// List` count as documents of their own, in order).
    pub document: usize,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
        write!(f, "{}/{ns}{} in {}", self.kind, self.name, self.file.display())?;
        if self.document > 1 {
            write!(f, "#{}", self.document)?;
        }
        Ok(())
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The API group of an `apiVersion` (`""` for core kinds).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// One Kubernetes object read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub at: ObjectRef,
    /// `group/version` or `version`, as written.
    pub api_version: String,
    pub value: Value,
}

impl Manifest {
    /// The API group (`""` for core kinds).
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    pub fn kind(&self) -> &str {
        &self.at.kind
    }

    pub fn spec(&self) -> &Value {
        &self.value["spec"]
    }
}

#[derive(Debug)]
pub enum ReadError {
    Io(PathBuf, io::Error),
    Yaml(PathBuf, serde_yaml::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            ReadError::Yaml(path, e) => write!(f, "{}: not valid YAML: {e}", path.display()),
        }
    }
}

impl std::error::Error for ReadError {}

/// Every object in every `*.yaml`, `*.yml` and `*.json` file under `dir` (any layout,
/// multi-document files and `kind: List` included), sorted by file and position.
/// Documents without `kind` (empty documents, comments only) are skipped.
pub fn read_dir(dir: &Path) -> Result<Vec<Manifest>, ReadError> {
    let parsed: Vec<Result<Vec<Manifest>, ReadError>> = files(dir)?.par_iter().map(File::manifests).collect();
    let mut manifests = Vec::new();
    for file in parsed {
        manifests.extend(file?);
    }
    Ok(manifests)
}

/// One manifest file, not yet read.
pub struct File {
    path: PathBuf,
    /// `path` relative to the directory read, as objects name it.
    relative: PathBuf,
}

impl File {
    /// The objects of the file, in order.
    pub fn manifests(&self) -> Result<Vec<Manifest>, ReadError> {
        let text = read_text(&self.path).map_err(|e| ReadError::Io(self.path.clone(), e))?;
        parse_documents(&self.relative, &text).map_err(|e| ReadError::Yaml(self.path.clone(), e))
    }
}

/// A file's text, read without asking for its size first (`fs::read_to_string` does,
/// to size its buffer): one system call fewer per file, on a hundred thousand files.
/// Generated files are a few kilobytes; a larger one only takes more reads.
fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(8 * 1024);
    // `Take` reads to the end without the size hint `File` would look up.
    fs::File::open(path)?.take(u64::MAX).read_to_string(&mut text)?;
    Ok(text)
}

/// Every `*.yaml`, `*.yml` and `*.json` file under `dir`, sorted by path. Reading and
/// parsing them is left to the caller, so it can read each file's objects as it
/// parses them rather than hold every file's text or every object's tree at once.
pub fn files(dir: &Path) -> Result<Vec<File>, ReadError> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = fs::read_dir(&current).map_err(|e| ReadError::Io(current.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReadError::Io(current.clone(), e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| ReadError::Io(path.clone(), e))?;
            if file_type.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                paths.push(path);
            }
        }
    }
    let mut files: Vec<File> = paths
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            File { path, relative }
        })
        .collect();
    // The order of `Path::cmp`, which splits paths into components to compare them:
    // that took verify about 27 ms at 10,000 segments and 71 ms at 20,000 (edge).
    files.par_sort_unstable_by(|a, b| crate::emit::path_order(&a.relative, &b.relative));
    Ok(files)
}

/// The objects of one file's text.
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Manifest>, serde_yaml::Error> {
    use serde::Deserialize;
    // What segc writes is read without libyaml; anything else (and every error) by
    // serde_yaml, which reads the same values.
    let documents = match block_yaml::documents(text) {
        Some(documents) => documents,
        None => serde_yaml::Deserializer::from_str(text).map(Value::deserialize).collect::<Result<_, _>>()?,
    };
    let mut out = Vec::new();
    let mut index = 0;
    for mut value in documents {
        let items = match &mut value {
            Value::Mapping(list) if list.get("kind").and_then(Value::as_str) == Some("List") => {
                match list.remove("items") {
                    Some(Value::Sequence(items)) => items.into_vec(),
                    _ => Vec::new(),
                }
            }
            _ => vec![value],
        };
        for value in items {
            index += 1;
            if let Some(manifest) = manifest(file, index, value) {
                out.push(manifest);
            }
        }
    }
    Ok(out)
}

/// An emitted object as verify reads it back: serialised and parsed again, named by the
/// path `segc build` would write it to.
pub fn from_object(object: &crate::backends::Object) -> Result<Vec<Manifest>, serde_yaml::Error> {
    parse_documents(&crate::emit::path_of(object), object.yaml())
}

/// [`from_object`] for every object, failing on the first that does not read back.
pub fn from_objects(objects: &[crate::backends::Object]) -> Result<Vec<Manifest>, serde_yaml::Error> {
    let mut out = Vec::new();
    for object in objects {
        out.extend(from_object(object)?);
    }
    Ok(out)
}

fn manifest(file: &Path, document: usize, value: Value) -> Option<Manifest> {
    let kind = value["kind"].as_str()?.to_string();
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
    let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let namespace = value["metadata"]["namespace"].as_str().map(str::to_string);
    let at = ObjectRef::new(ObjectAt { file: file.to_path_buf(), document, kind, namespace, name });
    Some(Manifest { at, api_version, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_and_lists_are_split() {
        let text = "# header\napiVersion: v1\nkind: A\nmetadata: {name: a, namespace: n}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: B, metadata: {name: b}}\n- {apiVersion: v1, kind: C, metadata: {name: c}}\n";
        let docs = parse_documents(Path::new("f.yaml"), text).unwrap();
        let kinds: Vec<(&str, usize)> = docs.iter().map(|m| (m.kind(), m.at.document)).collect();
        assert_eq!(kinds, [("A", 1), ("B", 3), ("C", 4)]);
        assert_eq!(docs[0].at.namespace.as_deref(), Some("n"));
        assert_eq!(docs[0].at.to_string(), "A/n/a in f.yaml");
    }

    #[test]
    fn broken_yaml_is_an_error() {
        assert!(parse_documents(Path::new("f.yaml"), "a: [unclosed").is_err());
    }
}
