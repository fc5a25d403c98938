//! The tool commands end to end: `segc completions`, `segc man`, `segc --version`, and
//! their exit codes. The list of commands is read from `Cli::command()`, so a command
//! added later is covered without touching this file.

use std::process::{Command, Output};

use clap::CommandFactory;
use segc::cli::Cli;

fn segc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segc")).args(args).output().expect("segc runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn commands() -> Vec<String> {
    Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect()
}

#[test]
fn version_is_the_crate_version() {
    for flag in ["--version", "-V"] {
        let out = segc(&[flag]);
        assert_eq!(code(&out), 0);
        assert_eq!(stdout(&out), format!("segc {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn completions_name_every_command_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = segc(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}");
        assert!(out.stderr.is_empty(), "{shell}");
        let script = stdout(&out);
        for command in commands() {
            assert!(script.contains(&command), "{shell}: `{command}` is not completed");
        }
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segc.bash");
    std::fs::write(&path, segc(&["completions", "bash"]).stdout).unwrap();
    // `bash -n` parses without running; skip only where no bash exists at all.
    match Command::new("bash").arg("-n").arg(&path).output() {
        Ok(out) => assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("bash: {e}"),
    }
}

#[test]
fn completions_usage_errors_exit_2() {
    assert_eq!(code(&segc(&["completions"])), 2, "a shell is required");
    let out = segc(&["completions", "tcsh"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bash"), "lists the shells");
}

#[test]
fn man_page_of_segc_lists_every_command() {
    let out = segc(&["man"]);
    assert_eq!(code(&out), 0);
    let roff = stdout(&out);
    assert!(roff.contains(".TH segc 1"));
    assert!(roff.contains(".SH NAME\nsegc \\- "), "{roff}");
    assert!(roff.contains(".SH SYNOPSIS\n\\fBsegc\\fR"), "{roff}");
    for command in commands() {
        assert!(roff.contains(&format!("segc\\-{command}(1)")), "`{command}` missing");
    }
}

#[test]
fn man_page_of_each_command() {
    for command in commands() {
        let out = segc(&["man", &command]);
        assert_eq!(code(&out), 0, "{command}");
        let roff = stdout(&out);
        assert!(roff.contains(&format!(".TH segc-{command} 1")), "{command}");
        assert!(roff.contains(&format!(".SH NAME\nsegc\\-{command} \\- ")), "{roff}");
        assert!(roff.contains(&format!(".SH SYNOPSIS\n\\fBsegc {command}\\fR")), "{roff}");
    }
}

#[test]
fn man_page_of_unknown_command_exits_2() {
    let out = segc(&["man", "verfy"]);
    assert_eq!(code(&out), 2);
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no manual page for `verfy`; did you mean `verify`?"), "{stderr}");
}

#[test]
fn output_is_deterministic() {
    for args in [&["man"][..], &["man", "build"], &["completions", "zsh"]] {
        assert_eq!(segc(args).stdout, segc(args).stdout, "{args:?}");
    }
}

/// docs/ci.md shows the workflow; docs/examples/segc.yml is the same file, so it can be
/// copied as is and checked here as YAML.
#[test]
fn ci_workflow_in_the_docs_is_the_example_file_and_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/ci.md")).unwrap();
    let file = std::fs::read_to_string(root.join("docs/examples/segc.yml")).unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```\n").expect("the block ends");
    assert_eq!(&doc[start..end], file, "docs/ci.md and docs/examples/segc.yml differ");

    let workflow: serde_yaml::Value = serde_yaml::from_str(&file).expect("valid YAML");
    let steps = workflow["jobs"]["segc"]["steps"].as_sequence().expect("steps");
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    for action in ["dtolnay/rust-toolchain@stable", "github/codeql-action/upload-sarif@v3"] {
        assert!(uses.contains(&action), "{action} missing");
    }
    let runs: String = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    for command in ["segc check --deny-warnings", "segc build", "segc verify", "segc diff --git"] {
        assert!(runs.contains(command), "{command} missing");
    }
}

#[test]
fn pre_commit_hooks_run_segc_on_seg_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let hooks = hooks.as_sequence().expect("a list of hooks");
    let ids: Vec<&str> = hooks.iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(ids, ["segc-check", "segc-fmt"]);
    for hook in hooks {
        assert_eq!(hook["language"].as_str(), Some("rust"));
        assert_eq!(hook["files"].as_str(), Some("\\.seg$"));
        let entry = hook["entry"].as_str().expect("an entry");
        let command = entry.strip_prefix("segc ").expect("runs segc");
        assert!(commands().iter().any(|c| c == command), "`{command}` is not a segc command");
    }
}
