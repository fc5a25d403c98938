//! `golden/formats/NAME.FORMAT.args`: one `segc` command line (arguments separated by
//! spaces, paths relative to the repository root, where it runs). Its exit status and
//! stdout are snapshotted beside it. Every case's stdout must parse as JSON with nothing
//! on stderr, and every SARIF output must be valid against the official SARIF 2.1.0
//! schema in `compiler/tests/data/`.

use super::*;

use std::process::Command;

/// Runs `segc` with `args` from the repository root: (exit status, stdout, stderr).
fn segc(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_segc")).args(args).current_dir(repo()).output().expect("segc runs");
    let code = output.status.code().expect("segc exits with a status");
    (
        code,
        String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The official SARIF 2.1.0 schema (see compiler/tests/data/README.md): draft 4, with
/// format checks on, so URIs and such are checked too.
fn sarif_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).expect("schema")).expect("schema");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid_sarif(validator: &jsonschema::Validator, what: &str, text: &str) {
    let log: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{what}: invalid SARIF:\n{}", errors.join("\n"));
    assert!(!log["runs"][0]["results"].as_array().expect("results").is_empty(), "{what}: no results to validate");
}

/// The version segc reports changes with every release; snapshots should not.
fn normalise_version(stdout: &str) -> String {
    let version = format!("\"name\": \"segc\",\n          \"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    stdout.replace(&version, "\"name\": \"segc\",\n          \"version\": \"<segc version>\"")
}

#[test]
fn formats() {
    let dir = golden_dir("formats");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("golden/formats")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "args"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "too few cases in {}", dir.display());
    let validator = sarif_validator();
    for case in cases {
        let name = case.file_stem().expect("name").to_string_lossy().into_owned();
        let line = fs::read_to_string(&case).expect("case");
        let args: Vec<&str> = line.split_whitespace().collect();
        let (status, stdout, stderr) = segc(&args);
        assert!(stderr.is_empty(), "{name}: machine-readable output wrote to stderr:\n{stderr}");
        let _: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        if args.contains(&"sarif") {
            assert_valid_sarif(&validator, &name, &stdout);
        }
        let text = format!("$ segc {}\nexit status: {status}\n{}", args.join(" "), normalise_version(&stdout));
        snapshot(&dir, &name, &text);
    }
}

/// The three shapes the SARIF mapping must get right, named explicitly so that editing
/// golden/formats cannot drop them: errors with secondary labels (relatedLocations), a
/// warning, and a verify finding labelled on a YAML manifest.
#[test]
fn sarif_output_is_valid_against_the_official_schema() {
    let validator = sarif_validator();
    let verify_case = "golden/verify/E0801-netpol-wider";
    let runs: [(&str, Vec<String>, i32); 3] = [
        ("check with errors", vec!["check".into(), "golden/diagnostics/E0502-trust-violation.seg".into()], 1),
        ("check with a warning", vec!["check".into(), "examples/shop.seg".into()], 0),
        (
            "verify with a finding",
            vec!["verify".into(), format!("{verify_case}/policy.seg"), format!("{verify_case}/manifests")],
            1,
        ),
    ];
    for (what, args, expected) in runs {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--format", "sarif"]);
        let (status, stdout, stderr) = segc(&args);
        assert_eq!(status, expected, "{what}: exit status (stderr: {stderr})");
        assert!(stderr.is_empty(), "{what}: stderr: {stderr}");
        assert_valid_sarif(&validator, what, &stdout);
    }
}

/// The validator is not vacuous: it rejects a log whose result lacks a message.
#[test]
fn the_sarif_schema_rejects_a_broken_log() {
    let validator = sarif_validator();
    let (_, stdout, _) = segc(&["check", "--format", "sarif", "examples/shop.seg"]);
    let mut log: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(validator.is_valid(&log));
    log["runs"][0]["results"][0].as_object_mut().expect("result").remove("message");
    assert!(!validator.is_valid(&log));
    log["runs"][0]["results"][0]["message"] = serde_json::json!({"text": "m"});
    log["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&log));
}

/// Text stays the default, on stderr, with nothing on stdout.
#[test]
fn text_is_the_default_format() {
    let (status, stdout, stderr) = segc(&["check", "--color=never", "examples/shop.seg"]);
    assert_eq!(status, 0);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("warning[W0104]"), "{stderr}");
}
