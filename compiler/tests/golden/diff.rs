//! `golden/diff/<case>/{old.seg,new.seg}`: `segc diff` of each case in every format,
//! snapshotted with its exit status beside the case (`<case>-<format>.snap`); and
//! `segc diff --git` against a temporary repository.

use std::process::Command;

use super::*;

fn segc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_segc"));
    // Colour must never reach a snapshot, whatever the test runner's terminal.
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn diff_cases() {
    let dir = golden_dir("diff");
    let mut cases: Vec<PathBuf> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("old.seg").exists()).collect();
    cases.sort();
    assert!(cases.len() >= 3, "expected at least three diff cases");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        for format in ["text", "markdown", "json"] {
            let output = segc()
                .current_dir(repo())
                .args(["diff", "--format", format])
                .arg(case.join("old.seg"))
                .arg(case.join("new.seg"))
                .output()
                .expect("run segc");
            let status = output.status.code().unwrap_or(-1);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(status == 0 || status == 1, "{name} {format}: exit {status}\n{stderr}");
            snapshot(&dir, &format!("{name}-{format}"), &format!("exit status: {status}\n{stdout}"));
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=segc", "-c", "user.email=segc@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn diff_against_a_git_revision_reads_imports_from_that_revision() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("git is not installed; skipping");
        return;
    }
    let repo_dir = tempfile::tempdir().unwrap();
    let root = repo_dir.path();
    git(root, &["init", "-q"]);
    let policy = root.join("policy");
    fs::create_dir_all(policy.join("teams")).unwrap();
    let shop = fs::read_to_string(repo().join("examples/shop.seg")).unwrap();
    // The forbid lives in an imported file, so only reading imports at the revision
    // sees it removed.
    let (main, forbid) = shop.split_at(shop.find("forbid dmz").unwrap());
    fs::write(policy.join("main.seg"), format!("import \"teams/rules.seg\"\n{main}")).unwrap();
    fs::write(policy.join("teams/rules.seg"), forbid).unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    fs::write(policy.join("teams/rules.seg"), "// no rules\n").unwrap();
    let second = format!("import \"teams/rules.seg\"\n{main}")
        .replace("  port metrics 9090/http\n", "")
        .replace("allow std.prometheus -> api:metrics\n", "");
    fs::write(policy.join("main.seg"), second).unwrap();
    git(root, &["commit", "-q", "-am", "second"]);

    let run = |dir: &Path, args: &[&str]| {
        let output = segc().current_dir(dir).args(args).output().expect("run segc");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    };
    let (status, stdout, stderr) = run(root, &["diff", "--git", "HEAD~1", "policy/main.seg"]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stdout.contains("risk: `forbid dmz -> restricted` was removed"), "{stdout}");
    assert!(stdout.contains("- edge std.prometheus -> api:metrics"), "{stdout}");
    assert!(stdout.contains("ports: removed `metrics 9090/http`"), "{stdout}");
    // From inside the directory, against the same revision: nothing changed.
    let (status, stdout, stderr) = run(&policy, &["diff", "--git", "HEAD", "main.seg"]);
    assert_eq!((status, stdout.as_str()), (Some(0), "no changes\n"), "{stderr}");
    // A file that did not exist at the revision, and a revision that does not exist.
    fs::write(policy.join("new.seg"), &shop).unwrap();
    let (status, _, stderr) = run(root, &["diff", "--git", "HEAD", "policy/new.seg"]);
    assert_eq!(status, Some(2));
    assert!(stderr.contains("`policy/new.seg` does not exist at `HEAD`"), "{stderr}");
    let (status, _, stderr) = run(root, &["diff", "--git", "nope", "policy/main.seg"]);
    assert_eq!(status, Some(2));
    assert!(stderr.contains("`nope` is not a git revision"), "{stderr}");
}

#[test]
fn diff_of_a_policy_with_errors_exits_2_naming_the_side() {
    let temp = tempfile::tempdir().unwrap();
    let broken = temp.path().join("broken.seg");
    fs::write(&broken, "segment {").unwrap();
    let output = segc().arg("diff").arg(repo().join("examples/shop.seg")).arg(&broken).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the new policy"), "{stderr}");
    let output = segc().args(["diff", "only-one.seg"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
