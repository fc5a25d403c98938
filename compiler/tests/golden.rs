//! The golden driver: walks `golden/<kind>/` at the repository root, runs each case,
//! and compares the output with what sits beside it. Adding a case is dropping in a file
//! and reviewing its expected output.
//!
//! Kinds (one function each, so another directory kind slots in beside them):
//! - `diagnostics/`: `CODE-short-name.seg` or `CODE-short-name/main.seg` (import
//!   cases). The rendered diagnostics and the exit status are snapshotted, and CODE must
//!   be among the diagnostics. Every `diag::Code` has a case.
//!
//! - `verify/CODE-short-name/`: `policy.seg` and the `manifests/` it is verified
//!   against (its build output, edited by hand). The rendered diagnostics and the exit
//!   status are snapshotted beside it, and CODE must be among them.
//! - `build/<example>/<target>/`: the full output of `segc build` of every example for
//!   every target it declares, as real YAML files (so reviewers read manifests and
//!   `.ci/run` validates them against the upstream schemas). Refresh with
//!   `SEGC_BLESS=1 cargo test --test golden` and review the diff.
//!
//! Directives: a line `// golden: grow-to N` makes the driver compile a copy of the case
//! grown (sparsely) to N bytes, for inputs too large to keep in the repository.

use std::fs;
use std::path::{Path, PathBuf};

use segc::diag::{render_all, Code, ColorChoice};
use segc::{backends, driver, emit};

/// The repository root: paths under it are shown relative to it in snapshots.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

fn golden_dir(kind: &str) -> PathBuf {
    repo().join("golden").join(kind)
}

/// One case: its name (the file or directory name without `.seg`), the root file to
/// compile, and the code it is about.
struct Case {
    name: String,
    root: PathBuf,
    code: String,
}

/// The cases of a directory: entries named `CODE-...` (`E0201-unknown.seg` or an
/// `E0302-cycle/` directory with `main.seg`); anything else (helpers) is skipped.
fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let code = file_name.split('-').next().unwrap_or_default().to_string();
        let is_code = code.len() == 5 && (code.starts_with('E') || code.starts_with('W'));
        if !is_code {
            continue;
        }
        if path.is_dir() {
            out.push(Case { name: file_name, root: path.join("main.seg"), code });
        } else if let Some(name) = file_name.strip_suffix(".seg") {
            out.push(Case { name: name.to_string(), root: path, code });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `// golden: grow-to N` in the case's text.
fn grow_to(root: &Path) -> Option<u64> {
    let text = fs::read(root).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines().find_map(|l| l.trim().strip_prefix("// golden: grow-to ")?.trim().parse().ok())
}

/// Compiles a case (honouring directives) and renders what a user would see.
fn run(case: &Case) -> (String, Vec<Code>) {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = match grow_to(&case.root) {
        Some(size) => {
            let copy = temp.path().join(case.root.file_name().expect("file name"));
            fs::copy(&case.root, &copy).expect("copy case");
            fs::OpenOptions::new().write(true).open(&copy).and_then(|f| f.set_len(size)).expect("grow case");
            copy
        }
        None => case.root.clone(),
    };
    let compiled = driver::compile(&root).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let status = i32::from(compiled.has_errors());
    let rendered = render_all(&compiled.sources, &compiled.diagnostics, ColorChoice::Never);
    // Show paths as a reader of the repository sees them.
    let tests = format!("{}/", repo().display());
    let shown_root = case.root.display().to_string().replace(&tests, "");
    let rendered = rendered.replace(&root.display().to_string(), &shown_root).replace(&tests, "");
    let codes = compiled.diagnostics.iter().map(|d| d.code).collect();
    (format!("exit status: {status}\n{rendered}"), codes)
}

fn snapshot(dir: &Path, name: &str, text: &str) {
    insta::with_settings!({snapshot_path => dir, prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn diagnostics() {
    let dir = golden_dir("diagnostics");
    let all = cases(&dir);
    assert!(!all.is_empty(), "no cases in {}", dir.display());
    let mut wrong = Vec::new();
    for case in &all {
        let (text, codes) = run(case);
        if !codes.iter().any(|c| c.as_str() == case.code) {
            wrong.push(format!("{}: expected {} among {:?}", case.name, case.code, codes));
        }
        snapshot(&dir, &case.name, &text);
    }
    assert!(wrong.is_empty(), "cases without their code:\n{}", wrong.join("\n"));
}

#[test]
fn verify() {
    let dir = golden_dir("verify");
    let mut wrong = Vec::new();
    for case in verify_cases(&dir) {
        let compiled = driver::compile(&case.join("policy.seg")).expect("policy.seg");
        assert!(!compiled.has_errors(), "{}: policy.seg has errors", case.display());
        let policy = driver::lower(&compiled, None).expect("policy.seg lowers for its one target");
        let mut sources = compiled.sources.clone();
        let diagnostics = segc::verify::verify(&mut sources, &case.join("manifests"), &policy).expect("manifests read");
        let status = i32::from(diagnostics.iter().any(|d| d.is_error()));
        let root = format!("{}/", repo().display());
        let rendered = render_all(&sources, &diagnostics, ColorChoice::Never).replace(&root, "");
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let code = code_of(&case);
        if !diagnostics.iter().any(|d| d.code.as_str() == code) {
            wrong.push(format!("{name}: expected {code}"));
        }
        snapshot(&dir, &name, &format!("exit status: {status}\n{rendered}"));
    }
    assert!(wrong.is_empty(), "verify cases without their code:\n{}", wrong.join("\n"));
}

/// The case directories of golden/verify, sorted.
fn verify_cases(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("policy.seg").exists()).collect();
    out.sort();
    out
}

/// `E0801` of `.../E0801-netpol-wider`.
fn code_of(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().split('-').next().unwrap_or_default().to_string()
}

#[test]
fn every_code_has_a_diagnostics_case() {
    let covered: Vec<String> = cases(&golden_dir("diagnostics"))
        .into_iter()
        .map(|c| c.code)
        .chain(verify_cases(&golden_dir("verify")).iter().map(|p| code_of(p)))
        .collect();
    let missing: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).filter(|c| !covered.iter().any(|k| k == c)).collect();
    assert!(missing.is_empty(), "codes without a golden case: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let docs = fs::read_to_string(repo().join("docs/diagnostics.md")).expect("docs/diagnostics.md");
    let missing: Vec<&str> =
        Code::ALL.iter().map(|c| c.as_str()).filter(|c| !docs.contains(&format!("## {c}: "))).collect();
    assert!(missing.is_empty(), "codes missing from docs/diagnostics.md: {missing:?}");
}

// ---------------------------------------------------------------- build output
//
// golden/build/<example>/<target>/ holds the full output of `segc build` of
// examples/<example>.seg (or examples/<example>/main.seg) for that target: real YAML
// files, so that reviewers read them as manifests and `.ci/run` validates them
// against the upstream schemas. `SEGC_BLESS=1 cargo test --test golden` rewrites them.

fn example_root(name: &str) -> PathBuf {
    let examples = repo().join("examples");
    let single = examples.join(format!("{name}.seg"));
    if single.exists() {
        single
    } else {
        examples.join(name).join("main.seg")
    }
}

/// Every example's root file with its golden directory name.
fn examples() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "seg") || path.join("main.seg").exists() {
            out.push((name.clone(), example_root(&name)));
        }
    }
    out.sort();
    out
}

#[test]
fn build_output_matches_golden() {
    let bless = std::env::var_os("SEGC_BLESS").is_some();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, root) in examples() {
        let compiled = driver::compile(&root).unwrap();
        assert!(!compiled.has_errors(), "example {name} has errors");
        let targets = compiled.target_names();
        assert!(!targets.is_empty(), "example {name} declares no target");
        for target in targets {
            cases += 1;
            let policy = driver::lower(&compiled, Some(&target))
                .unwrap_or_else(|e| panic!("example {name} does not lower for {target}: {e:?}"));
            let objects = backends::emit_all(&policy);
            let file_name = root.file_name().unwrap().to_string_lossy().into_owned();
            let files = emit::render(&file_name, &target, &objects).unwrap();
            check_objects_parse_back(&files);
            let dir = repo().join("golden/build").join(&name).join(&target);
            if bless {
                emit::write(&dir, &files).unwrap();
                continue;
            }
            let changes = emit::check(&dir, &files).unwrap();
            for change in changes {
                let path = dir.join(&change.path);
                let detail = match change.kind {
                    emit::ChangeKind::Stale => {
                        let expected = fs::read_to_string(&path).unwrap_or_default();
                        let actual = &files.iter().find(|f| f.path == change.path).unwrap().contents();
                        format!(
                            "\n{}",
                            similar::TextDiff::from_lines(expected.as_str(), actual.as_str()).unified_diff()
                        )
                    }
                    _ => String::new(),
                };
                failures.push(format!("{}: {}{detail}", change.kind.as_str(), path.display()));
            }
        }
    }
    assert!(cases >= 3, "expected every example to build for at least one target");
    assert!(
        failures.is_empty(),
        "build output differs from golden/build (run `SEGC_BLESS=1 cargo test --test golden` and review the diff):\n{}",
        failures.join("\n")
    );
}

/// Every emitted document parses back as YAML with the identity emit named it by, and
/// every namespaced kind carries metadata.namespace.
fn check_objects_parse_back(files: &[emit::Rendered]) {
    for file in files {
        let value: serde_yaml::Value = serde_yaml::from_str(&file.contents())
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.path.display()));
        let kind = value["kind"].as_str().expect("kind");
        assert!(value["apiVersion"].as_str().is_some(), "{}: apiVersion", file.path.display());
        assert!(value["metadata"]["name"].as_str().is_some(), "{}: name", file.path.display());
        if kind != "Namespace" {
            assert!(value["metadata"]["namespace"].as_str().is_some(), "{}: namespace", file.path.display());
        }
        assert_eq!(
            value["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("segc"),
            "{}: managed-by label",
            file.path.display()
        );
    }
}

// ---------------------------------------------------------------- canonical form

/// Every `.seg` file under `dir`, recursively, sorted.
fn seg_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "seg") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Examples, the standard library and every golden input that parses are in canonical
/// form, so `segc fmt` leaves them unchanged (inputs with syntax errors cannot be
/// formatted, and are skipped).
#[test]
fn every_parseable_seg_file_is_canonical() {
    let mut unformatted = Vec::new();
    let mut formatted = 0;
    for dir in ["examples", "stdlib", "golden"] {
        for path in seg_files(&repo().join(dir)) {
            let Ok(text) = segc::syntax::decode(fs::read(&path).unwrap()) else { continue };
            let mut sources = segc::diag::SourceMap::new();
            let id = sources.add(path.display().to_string(), segc::diag::Origin::User(path.clone()), text.clone());
            let (file, diagnostics) = segc::syntax::parse(&sources, id);
            if !diagnostics.is_empty() {
                assert!(dir == "golden", "{} does not parse", path.display());
                continue;
            }
            formatted += 1;
            if segc::syntax::format::format(&file, sources.get(id)) != text {
                unformatted.push(path.display().to_string());
            }
        }
    }
    assert!(formatted > 40, "too few files were formatted ({formatted})");
    assert!(unformatted.is_empty(), "not in canonical form (run `segc fmt` on them):\n{}", unformatted.join("\n"));
}
#[path = "golden/explain_graph.rs"]
mod explain_graph;

#[path = "golden/diff.rs"]
mod diff;
#[path = "golden/formats.rs"]
mod formats;
