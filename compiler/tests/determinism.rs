//! Output is byte-identical across runs and declaration orders.
//!
//! Each example is rebuilt from copies whose declarations (in every file of the
//! compilation) are shuffled by proptest; the whole output stream must not change.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use segc::diag::{Origin, SourceMap};
use segc::{backends, driver, emit, syntax};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// (root file relative to examples/, every file of the compilation relative to it).
const EXAMPLES: &[(&str, &[&str])] = &[
    ("shop.seg", &["shop.seg"]),
    ("edge.seg", &["edge.seg"]),
    (
        "multi-team/main.seg",
        &["multi-team/main.seg", "multi-team/teams/storefront.seg", "multi-team/teams/payments.seg"],
    ),
];

/// Every target's output stream, concatenated.
fn build_all(root: &Path) -> String {
    let compiled = driver::compile(root).expect("example is readable");
    assert!(!compiled.has_errors(), "{root:?} has errors");
    let mut out = String::new();
    for target in compiled.target_names() {
        let policy = driver::lower(&compiled, Some(&target)).unwrap_or_else(|_| panic!("{root:?} lowers for {target}"));
        let objects = backends::emit_all(&policy);
        out.push_str(&emit::stream("policy.seg", &target, &objects).expect("no path collisions"));
    }
    out
}

/// The file's declarations (each with the comments directly above it) in the order
/// given by `keys` (sorted by key; keys cycle when shorter than the declarations).
fn shuffle_declarations(text: &str, keys: &[u32]) -> String {
    let mut sources = SourceMap::new();
    let id = sources.add("x.seg", Origin::Stdin, text.to_string());
    let (file, diagnostics) = syntax::parse(&sources, id);
    assert!(diagnostics.is_empty());
    let mut pieces: Vec<(u32, usize, &str)> = Vec::new();
    let mut start = 0;
    for (i, item) in file.items().enumerate() {
        let end = item.span().end as usize;
        let key = keys.get(i % keys.len().max(1)).copied().unwrap_or(0);
        pieces.push((key, i, text[start..end].trim()));
        start = end;
    }
    pieces.sort();
    pieces.iter().map(|(_, _, p)| *p).collect::<Vec<_>>().join("\n\n") + "\n"
}

fn shuffled_copy(keys: &[u32], files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let text = fs::read_to_string(examples_dir().join(file)).unwrap();
        let target = dir.path().join(file);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, shuffle_declarations(&text, keys)).unwrap();
    }
    dir
}

#[test]
fn two_builds_are_byte_identical() {
    for (root, _) in EXAMPLES {
        let path = examples_dir().join(root);
        assert_eq!(build_all(&path), build_all(&path), "{root}");
    }
}

#[test]
fn reversing_declarations_changes_nothing() {
    for (root, files) in EXAMPLES {
        let reversed: Vec<u32> = (0..200).rev().collect();
        let copy = shuffled_copy(&reversed, files);
        assert_eq!(build_all(&examples_dir().join(root)), build_all(&copy.path().join(root)), "{root}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn shuffling_declarations_changes_nothing(keys in proptest::collection::vec(any::<u32>(), 1..40), which in 0..EXAMPLES.len()) {
        let (root, files) = EXAMPLES[which];
        let copy = shuffled_copy(&keys, files);
        prop_assert_eq!(build_all(&examples_dir().join(root)), build_all(&copy.path().join(root)));
    }
}
