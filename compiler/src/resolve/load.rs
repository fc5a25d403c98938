//! Loading: the root file, then every file it imports, depth first.
//!
//! Takes: the root path (or text). Gives: every file parsed, in load order, with the
//! import diagnostics (E0301-E0304) and each file's decode and syntax diagnostics.
//! Must not: look at anything but `import` declarations.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::diag::{Code, Diagnostic, FileId, Label, Origin, SourceMap};
use crate::syntax::{self, ast};

/// The name the embedded standard library shows under in diagnostics.
pub const STD_K8S_NAME: &str = "<std/k8s.seg>";
const STD_K8S_TEXT: &str = include_str!("../../../stdlib/k8s.seg");
/// The standard-library modules that exist, as imported (`import "std/k8s"`).
const STD_MODULES: &[&str] = &["std/k8s"];

/// Every file of one compilation.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub sources: SourceMap,
    /// Parsed files in load order (the root first); std files included.
    pub files: Vec<ast::File>,
    /// True when some file imports `std/k8s`.
    pub std_imported: bool,
    /// The root file (always registered, even when it could not be decoded).
    pub root: FileId,
    pub diagnostics: Vec<Diagnostic>,
}

/// A file on the import stack: its canonical path (the identity), the name shown, and
/// the imports still to follow.
struct Frame {
    key: PathBuf,
    name: String,
    imports: Vec<ast::Import>,
    next: usize,
}

struct Loader {
    loaded: Loaded,
    project_root: PathBuf,
    /// Canonical paths fully loaded (a file imported twice is loaded once).
    done: HashSet<PathBuf>,
    /// Canonical paths on the stack, to their position: an import of one is a cycle.
    on_stack: HashMap<PathBuf, usize>,
    stack: Vec<Frame>,
}

/// Loads the root file at `path` and its imports. Err only when the root cannot be read.
pub fn load(path: &Path) -> std::io::Result<Loaded> {
    let bytes = read_limited(path)?;
    let name = path.display().to_string();
    let key = std::fs::canonicalize(path)?;
    let project_root = key.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(load_root(name, Origin::User(path.to_path_buf()), key, project_root, bytes))
}

/// Loads `text` as the root file named `name`; imports resolve against the current
/// directory, which is also the project root.
pub fn load_text(name: &str, text: &str) -> Loaded {
    let cwd = std::env::current_dir().ok().and_then(|d| std::fs::canonicalize(d).ok()).unwrap_or_default();
    // A key no import can name: the root itself cannot be imported from stdin.
    let key = cwd.join(format!("\0{name}"));
    load_root(name.to_string(), Origin::Stdin, key, cwd, Ok(text.as_bytes().to_vec()))
}

/// Reads a file, refusing before reading when it is larger than the source limit.
/// The outer error is an I/O failure; the inner one a decode failure to report.
fn read_limited(path: &Path) -> std::io::Result<Result<Vec<u8>, syntax::DecodeError>> {
    let len = std::fs::metadata(path)?.len();
    if len > syntax::MAX_SOURCE_BYTES as u64 {
        return Ok(Err(syntax::DecodeError::TooLarge { len: usize::try_from(len).unwrap_or(usize::MAX) }));
    }
    std::fs::read(path).map(Ok)
}

fn load_root(
    name: String,
    origin: Origin,
    key: PathBuf,
    project_root: PathBuf,
    bytes: Result<Vec<u8>, syntax::DecodeError>,
) -> Loaded {
    let mut loader = Loader {
        loaded: Loaded {
            sources: SourceMap::new(),
            files: Vec::new(),
            std_imported: false,
            root: FileId(0),
            diagnostics: Vec::new(),
        },
        project_root,
        done: HashSet::new(),
        on_stack: HashMap::new(),
        stack: Vec::new(),
    };
    let root = loader.add_file(name.clone(), origin, bytes);
    loader.loaded.root = root;
    loader.push(key, name, root);
    loader.run();
    loader.loaded
}

impl Loader {
    /// Decodes, registers and parses one file; returns its id.
    fn add_file(&mut self, name: String, origin: Origin, bytes: Result<Vec<u8>, syntax::DecodeError>) -> FileId {
        let decoded = bytes.and_then(syntax::decode);
        match decoded {
            Ok(text) => {
                let id = self.loaded.sources.add(name, origin, text);
                let (file, diags) = syntax::parse(&self.loaded.sources, id);
                self.loaded.diagnostics.extend(diags);
                self.loaded.files.push(file);
                id
            }
            Err(error) => {
                let id = self.loaded.sources.add(name, origin, error.shown_text());
                self.loaded.diagnostics.push(error.to_diagnostic(id));
                self.loaded.files.push(ast::File::new(id, Vec::new()));
                id
            }
        }
    }

    fn push(&mut self, key: PathBuf, name: String, id: FileId) {
        let imports =
            self.loaded.files.iter().rev().find(|f| f.id == id).map(|f| f.imports.clone()).unwrap_or_default();
        self.on_stack.insert(key.clone(), self.stack.len());
        self.stack.push(Frame { key, name, imports, next: 0 });
    }

    /// Depth-first over the imports, with an explicit stack so that a long chain of
    /// imports cannot overflow the thread's stack.
    fn run(&mut self) {
        while let Some(top) = self.stack.last_mut() {
            let Some(import) = top.imports.get(top.next).cloned() else {
                if let Some(frame) = self.stack.pop() {
                    self.on_stack.remove(&frame.key);
                    self.done.insert(frame.key);
                }
                continue;
            };
            top.next += 1;
            self.follow(&import);
        }
    }

    fn follow(&mut self, import: &ast::Import) {
        let text = import.path.text.as_str();
        let span = import.path.span;
        if let Some(module) = text.strip_prefix("std/") {
            if STD_MODULES.contains(&text) {
                if !self.loaded.std_imported {
                    self.loaded.std_imported = true;
                    self.add_file(
                        STD_K8S_NAME.to_string(),
                        Origin::Std("std/k8s".into()),
                        Ok(STD_K8S_TEXT.as_bytes().to_vec()),
                    );
                }
            } else {
                let known: Vec<&str> = STD_MODULES.iter().map(|m| &m[4..]).collect();
                let mut d = Diagnostic::new(
                    Code::E0304,
                    format!("unknown standard-library module `{text}`"),
                    Label::new(span, "no such module"),
                );
                d = match crate::diag::did_you_mean(module, known.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `std/{s}`?")),
                    None => d.with_help(format!("the standard library has {}", quoted_list(STD_MODULES))),
                };
                self.loaded.diagnostics.push(d);
            }
            return;
        }
        let Some(importer) = self.stack.last() else {
            return;
        };
        let joined = importer.key.parent().unwrap_or(Path::new("")).join(text);
        let shown = normalise(&Path::new(&importer.name).parent().unwrap_or(Path::new("")).join(text));
        let key = match std::fs::canonicalize(&joined) {
            Ok(key) if key.is_file() => key,
            Ok(_) | Err(_) => {
                self.loaded.diagnostics.push(
                    Diagnostic::new(
                        Code::E0301,
                        format!("imported file `{text}` not found"),
                        Label::new(span, format!("looked for `{shown}`")),
                    )
                    .with_help(
                        "import paths are relative to the importing file; `std/NAME` imports the standard library",
                    ),
                );
                return;
            }
        };
        if !key.starts_with(&self.project_root) {
            self.loaded.diagnostics.push(
                Diagnostic::new(
                    Code::E0303,
                    format!("import `{text}` leaves the project root"),
                    Label::new(span, "this file is outside the root file's directory"),
                )
                .with_help("keep every imported file in the root file's directory or below it"),
            );
            return;
        }
        if let Some(&at) = self.on_stack.get(&key) {
            let mut chain: Vec<&str> = self.stack[at..].iter().map(|f| f.name.as_str()).collect();
            chain.push(self.stack[at].name.as_str());
            let message = if at + 1 == self.stack.len() {
                format!("`{shown}` imports itself")
            } else {
                format!("import cycle through `{shown}`")
            };
            let note = format!("the cycle: {}", chain.join(" -> "));
            self.loaded.diagnostics.push(
                Diagnostic::new(Code::E0302, message, Label::new(span, "this import closes the cycle"))
                    .with_note(note)
                    .with_help("remove one import of the cycle; declarations of every file share one namespace"),
            );
            return;
        }
        if self.done.contains(&key) {
            return;
        }
        let bytes = match read_limited(&key) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.loaded.diagnostics.push(Diagnostic::new(
                    Code::E0301,
                    format!("imported file `{text}` cannot be read: {error}"),
                    Label::new(span, format!("reading `{shown}` failed")),
                ));
                return;
            }
        };
        let id = self.add_file(shown.clone(), Origin::User(key.clone()), bytes);
        self.push(key, shown, id);
    }
}

fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// `a/./b/../c.seg` to `a/c.seg`, without touching the file system (for display).
fn normalise(path: &Path) -> String {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect::<PathBuf>().display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_paths_are_normalised() {
        assert_eq!(normalise(Path::new("a/./b/../c.seg")), "a/c.seg");
        assert_eq!(normalise(Path::new("../c.seg")), "../c.seg");
    }

    #[test]
    fn std_is_loaded_once() {
        let loaded = load_text("t.seg", "import \"std/k8s\"\nimport \"std/k8s\"\n");
        assert!(loaded.std_imported);
        assert_eq!(loaded.files.len(), 2);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    }

    #[test]
    fn unknown_std_module() {
        let loaded = load_text("t.seg", "import \"std/k9s\"\n");
        assert_eq!(loaded.diagnostics[0].code, Code::E0304);
        assert!(loaded.diagnostics[0].help.as_deref().is_some_and(|h| h.contains("`std/k8s`")));
    }
}
