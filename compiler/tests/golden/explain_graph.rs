//! `golden/explain/` and `golden/graph/`: the output and exit status of `segc explain`
//! and `segc graph`, run as a user runs them from the repository root.
//!
//! - `explain/cases.txt`: one case per line, `NAME | ARGUMENTS`.
//! - `graph/`: every example, in both formats, without a target (the policy as
//!   declared), plus `docs/graph.md`'s Mermaid block, which must equal the current
//!   output for `examples/shop.seg`.

use super::*;

use std::process::Command;

/// Runs segc from the repository root; the snapshot text is the exit status, stdout
/// and stderr.
fn segc(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_segc"))
        .args(args)
        .arg("--color=never")
        .current_dir(repo())
        .output()
        .expect("segc runs");
    let status = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut text = format!("exit status: {status}\n{stdout}");
    if !stderr.is_empty() {
        text.push_str(&format!("--- stderr\n{stderr}"));
    }
    (status, text)
}

#[test]
fn explain() {
    let dir = golden_dir("explain");
    let cases = fs::read_to_string(dir.join("cases.txt")).expect("golden/explain/cases.txt");
    let mut count = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (name, args) = line.split_once('|').expect("NAME | ARGUMENTS");
        let args: Vec<&str> = std::iter::once("explain").chain(args.split_whitespace()).collect();
        let (status, text) = segc(&args);
        let first = text.lines().nth(1).unwrap_or_default();
        let expected = if status == 0 { "ALLOWED" } else { "DENIED" };
        assert!(first.starts_with(expected), "{name}: exit {status} but first line {first:?}");
        snapshot(&dir, name.trim(), &text);
        count += 1;
    }
    assert!(count >= 5, "golden/explain/cases.txt has {count} cases");
}

#[test]
fn graph() {
    let dir = golden_dir("graph");
    for (name, root) in examples() {
        let root = root.strip_prefix(repo()).expect("example under the repository").to_string_lossy().into_owned();
        for format in ["mermaid", "dot"] {
            let (status, text) = segc(&["graph", &root, "--format", format]);
            assert_eq!(status, 0, "{name} {format}: {text}");
            snapshot(&dir, &format!("{name}-{format}"), &text);
        }
    }
}

#[test]
fn docs_graph_shows_the_current_shop_graph() {
    let docs = fs::read_to_string(repo().join("docs/graph.md")).expect("docs/graph.md");
    let block = docs
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/graph.md has a ```mermaid block");
    let output = Command::new(env!("CARGO_BIN_EXE_segc"))
        .args(["graph", "examples/shop.seg", "--format", "mermaid"])
        .current_dir(repo())
        .output()
        .expect("segc runs");
    assert_eq!(
        block,
        String::from_utf8_lossy(&output.stdout),
        "docs/graph.md is stale: paste the output of `segc graph examples/shop.seg --format mermaid`"
    );
}
