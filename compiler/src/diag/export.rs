//! Diagnostics as machine-readable documents: segc's own JSON schema and SARIF 2.1.0.
//!
//! Takes: diagnostics with the [`SourceMap`] their spans point into (one [`Batch`] per
//! compilation, so `segc check a.seg b.seg` gives one document).
//! Gives: the document as a string (pretty-printed, ending in a newline).
//! Must not: print, read files or the clock, or depend on anything but its input:
//! the same diagnostics always give the same bytes (keys in declaration order of the
//! typed structs below, rules sorted by code, results in the order given).
//!
//! The JSON schema (`"version": 1`) is documented in docs/diagnostics.md; a field is
//! never renamed or removed without bumping `version`.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Code, Diagnostic, Label, Origin, Severity, SourceMap, Span};

/// The version of segc's JSON document. Bump it on any change that could break a
/// reader (a renamed, removed or retyped field); adding a field does not.
pub const JSON_VERSION: u32 = 1;

/// The `uriBaseId` under which SARIF locations in the embedded standard library are
/// given: those files are not in the user's repository.
pub const STDLIB_URI_BASE: &str = "SEGC_STDLIB";

/// The schema a SARIF log declares (the OASIS 2.1.0 errata 01 schema).
const SARIF_SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Diagnostics and the sources their spans point into.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub sources: &'a SourceMap,
    pub diagnostics: &'a [Diagnostic],
}

/// One compilation's diagnostics as segc's JSON document.
pub fn to_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    to_json_all(&[Batch { sources, diagnostics }])
}

/// One SARIF 2.1.0 log of one compilation's diagnostics; `tool_version` is segc's.
pub fn to_sarif(sources: &SourceMap, diagnostics: &[Diagnostic], tool_version: &str) -> String {
    to_sarif_all(&[Batch { sources, diagnostics }], tool_version)
}

// ---------------------------------------------------------------- JSON

#[derive(Serialize)]
struct JsonDocument<'a> {
    version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: &'static str,
    message: &'a str,
    file: &'a str,
    start: Position,
    end: Position,
    /// The primary label first, then the secondary ones in the order reported.
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: &'a str,
    start: Position,
    end: Position,
    message: &'a str,
    primary: bool,
}

/// 1-based line and column; columns count characters. An end is exclusive: the
/// position just after the last character.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
struct Position {
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
}

/// Several compilations' diagnostics as one JSON document, in the order given.
pub fn to_json_all(batches: &[Batch<'_>]) -> String {
    let mut diagnostics = Vec::new();
    for batch in batches {
        for d in batch.diagnostics {
            let (start, end) = positions(batch.sources, d.primary.span);
            let mut labels = vec![json_label(batch.sources, &d.primary, true)];
            labels.extend(d.secondary.iter().map(|l| json_label(batch.sources, l, false)));
            diagnostics.push(JsonDiagnostic {
                code: d.code.as_str(),
                severity: severity_word(d.severity()),
                message: &d.message,
                file: file_name(batch.sources, d.primary.span),
                start,
                end,
                labels,
                help: d.help.as_deref(),
                notes: &d.notes,
            });
        }
    }
    let summary = summary(batches);
    finish(&JsonDocument { version: JSON_VERSION, diagnostics, summary })
}

fn json_label<'a>(sources: &'a SourceMap, label: &'a Label, primary: bool) -> JsonLabel<'a> {
    let (start, end) = positions(sources, label.span);
    JsonLabel { file: file_name(sources, label.span), start, end, message: &label.message, primary }
}

fn summary(batches: &[Batch<'_>]) -> Summary {
    let all = batches.iter().flat_map(|b| b.diagnostics);
    let errors = all.clone().filter(|d| d.is_error()).count();
    let warnings = all.count() - errors;
    Summary { errors, warnings }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn file_name(sources: &SourceMap, span: Span) -> &str {
    &sources.get(span.file).name
}

/// Start and (exclusive) end of a span, clamped into its file so that a span that does
/// not fit (a compiler bug) still gives positions rather than a panic.
fn positions(sources: &SourceMap, span: Span) -> (Position, Position) {
    let file = sources.get(span.file);
    let len = file.text.len();
    let at = |offset: u32| {
        let mut offset = (offset as usize).min(len);
        while !file.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let (line, column) = file.line_col(offset);
        Position { line, column }
    };
    (at(span.start), at(span.end.max(span.start)))
}

fn finish<T: Serialize>(document: &T) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    let mut out = serde_json::to_string_pretty(document).unwrap_or_default();
    out.push('\n');
    out
}

// ---------------------------------------------------------------- SARIF

#[derive(Serialize)]
struct SarifLog<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    /// Columns count characters (code points), as in the text rendering, not the UTF-16
    /// code units SARIF assumes by default.
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
struct Driver<'a> {
    name: &'static str,
    version: &'a str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Text,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    message: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// Several compilations' diagnostics as one SARIF log with one run, results in the
/// order given and one rule per code used, sorted by code.
pub fn to_sarif_all(batches: &[Batch<'_>], tool_version: &str) -> String {
    let used: BTreeSet<Code> = batches.iter().flat_map(|b| b.diagnostics).map(|d| d.code).collect();
    let rules: Vec<Code> = used.into_iter().collect();
    let mut results = Vec::new();
    for batch in batches {
        for d in batch.diagnostics {
            let rule_index = rules.binary_search(&d.code).unwrap_or_default();
            let related_locations = d
                .secondary
                .iter()
                .enumerate()
                .map(|(i, l)| location(batch.sources, l.span, &l.message, Some(i + 1)))
                .collect();
            results.push(SarifResult {
                rule_id: d.code.as_str(),
                rule_index,
                level: sarif_level(d.severity()),
                message: Text { text: result_text(d) },
                locations: vec![location(batch.sources, d.primary.span, &d.primary.message, None)],
                related_locations,
            });
        }
    }
    let rules = rules
        .into_iter()
        .map(|code| Rule {
            id: code.as_str(),
            short_description: Text { text: code.summary().to_string() },
            default_configuration: Configuration { level: sarif_level(code.severity()) },
        })
        .collect();
    let driver = Driver { name: "segc", version: tool_version, rules };
    finish(&SarifLog {
        schema: SARIF_SCHEMA,
        version: "2.1.0",
        runs: [Run { tool: Tool { driver }, column_kind: "unicodeCodePoints", results }],
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The message, then `help:` and `note:` lines: code-scanning UIs show only this text.
fn result_text(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    for note in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    text
}

fn location(sources: &SourceMap, span: Span, message: &str, id: Option<usize>) -> Location {
    let (start, end) = positions(sources, span);
    Location {
        id,
        physical_location: PhysicalLocation {
            artifact_location: artifact(sources, span),
            region: Region {
                start_line: start.line,
                start_column: start.column,
                end_line: end.line,
                end_column: end.column,
            },
        },
        message: Text { text: message.to_string() },
    }
}

/// Where a file is, as a SARIF artifact location: user files by the path they were
/// named with (forward slashes; absolute paths as `file://` URIs), standard-library
/// modules under [`STDLIB_URI_BASE`].
fn artifact(sources: &SourceMap, span: Span) -> ArtifactLocation {
    let file = sources.get(span.file);
    match &file.origin {
        Origin::Std(module) => {
            ArtifactLocation { uri: format!("{}.seg", encode_path(module)), uri_base_id: Some(STDLIB_URI_BASE) }
        }
        Origin::User(_) => ArtifactLocation { uri: path_uri(&file.name), uri_base_id: None },
        Origin::Stdin => ArtifactLocation {
            uri: encode_path(file.name.trim_start_matches('<').trim_end_matches('>')),
            uri_base_id: None,
        },
    }
}

/// A path as a URI reference: relative paths stay relative, absolute ones become
/// `file://` URIs, backslashes become slashes.
fn path_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    if path.starts_with('/') {
        format!("file://{}", encode_path(&path))
    } else if matches!(path.as_bytes(), [drive, b':', b'/', ..] if drive.is_ascii_alphabetic()) {
        // A Windows drive path, `C:/...`.
        format!("file:///{}", encode_path(&path))
    } else {
        // `./` keeps a first segment containing `:` from reading as a URI scheme.
        let encoded = encode_path(&path);
        if encoded.split('/').next().is_some_and(|first| first.contains(':')) {
            format!("./{encoded}")
        } else {
            encoded
        }
    }
}

/// Percent-encodes every byte that may not appear in a URI path segment as is.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A user file with a non-ASCII character before the spans and a std module.
    fn sample() -> (SourceMap, Vec<Diagnostic>) {
        let mut sources = SourceMap::new();
        let user = sources.add(
            "dir/my policy.seg",
            Origin::User(PathBuf::from("dir/my policy.seg")),
            "// é\nallow web -> api:http\n".to_string(),
        );
        let std = sources.add("<std/k8s.seg>", Origin::Std("std/k8s".into()), "external dns {\n}\n".to_string());
        let allow = Span::new(user, 6..27);
        let web = Span::new(user, 12..15);
        let dns = Span::new(std, 9..12);
        let error = Diagnostic::new(Code::E0502, "`web` may not call `api`", Label::new(allow, "this allow"))
            .with_label(Label::new(dns, "declared here"))
            .with_label(Label::new(web, "`web` is `dmz`"))
            .with_help("add `dmz` to what `internal` accepts")
            .with_note("a fact");
        let warning = Diagnostic::new(Code::W0103, "`dns` is never used", Label::new(dns, "unused"));
        (sources, vec![error, warning])
    }

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn json_has_one_based_character_positions_and_every_label() {
        let (sources, diags) = sample();
        let doc = parse(&to_json(&sources, &diags));
        assert_eq!(doc["version"], 1);
        let d = &doc["diagnostics"][0];
        assert_eq!(d["code"], "E0502");
        assert_eq!(d["severity"], "error");
        assert_eq!(d["file"], "dir/my policy.seg");
        assert_eq!(d["start"], serde_json::json!({"line": 2, "column": 1}));
        assert_eq!(d["end"], serde_json::json!({"line": 2, "column": 22}));
        assert_eq!(d["help"], "add `dmz` to what `internal` accepts");
        assert_eq!(d["notes"], serde_json::json!(["a fact"]));
        let labels = d["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels[0]["primary"], true);
        assert_eq!(labels[1]["file"], "<std/k8s.seg>");
        assert_eq!(labels[1]["start"], serde_json::json!({"line": 1, "column": 10}));
        assert_eq!(labels[2]["start"], serde_json::json!({"line": 2, "column": 7}));
        assert_eq!(labels[2]["primary"], false);
        assert_eq!(doc["diagnostics"][1]["help"], serde_json::Value::Null);
        assert_eq!(doc["summary"], serde_json::json!({"errors": 1, "warnings": 1}));
    }

    #[test]
    fn json_keys_come_in_the_documented_order() {
        let (sources, diags) = sample();
        let text = to_json(&sources, &diags);
        let keys = ["\"code\"", "\"severity\"", "\"message\"", "\"file\"", "\"start\"", "\"end\"", "\"labels\""];
        let at: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.find("\"version\"") < text.find("\"diagnostics\""));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let mut sources = SourceMap::new();
        let id = sources.add("a.seg", Origin::User("a.seg".into()), "ééx".to_string());
        let d = Diagnostic::new(Code::E0103, "m", Label::new(Span::new(id, 4..5), "x"));
        let doc = parse(&to_json(&sources, std::slice::from_ref(&d)));
        assert_eq!(doc["diagnostics"][0]["start"]["column"], 3);
        let sarif = parse(&to_sarif(&sources, &[d], "1.0.0"));
        assert_eq!(sarif["runs"][0]["columnKind"], "unicodeCodePoints");
        assert_eq!(sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"], 3);
    }

    #[test]
    fn sarif_maps_codes_to_rules_and_labels_to_locations() {
        let (sources, diags) = sample();
        let log = parse(&to_sarif(&sources, &diags, "9.8.7"));
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["version"], "9.8.7");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["E0502", "W0103"]);
        assert_eq!(rules[1]["shortDescription"]["text"], Code::W0103.summary());
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");

        let error = &run["results"][0];
        assert_eq!(error["ruleId"], "E0502");
        assert_eq!(error["level"], "error");
        assert_eq!(
            error["message"]["text"],
            "`web` may not call `api`\nhelp: add `dmz` to what `internal` accepts\nnote: a fact"
        );
        let primary = &error["locations"][0]["physicalLocation"];
        assert_eq!(primary["artifactLocation"], serde_json::json!({"uri": "dir/my%20policy.seg"}));
        assert_eq!(
            primary["region"],
            serde_json::json!({"startLine": 2, "startColumn": 1, "endLine": 2, "endColumn": 22})
        );
        let related = error["relatedLocations"].as_array().unwrap();
        assert_eq!(related.len(), 2);
        assert_eq!(
            related[0]["physicalLocation"]["artifactLocation"],
            serde_json::json!({"uri": "std/k8s.seg", "uriBaseId": "SEGC_STDLIB"})
        );
        assert_eq!(related[0]["message"]["text"], "declared here");
        assert_eq!(related[1]["id"], 2);

        let warning = &run["results"][1];
        assert_eq!(warning["ruleIndex"], 1);
        assert_eq!(warning["level"], "warning");
        assert!(warning.get("relatedLocations").is_none());
    }

    #[test]
    fn several_batches_make_one_document() {
        let (sources, diags) = sample();
        let batch = Batch { sources: &sources, diagnostics: &diags };
        let doc = parse(&to_json_all(&[batch, batch]));
        assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 4);
        assert_eq!(doc["summary"]["errors"], 2);
        let log = parse(&to_sarif_all(&[batch, batch], "1"));
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 4);
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn no_diagnostics_is_an_empty_document() {
        let sources = SourceMap::new();
        let doc = parse(&to_json(&sources, &[]));
        assert_eq!(doc["diagnostics"], serde_json::json!([]));
        let log = parse(&to_sarif(&sources, &[], "1"));
        assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(path_uri("examples/shop.seg"), "examples/shop.seg");
        assert_eq!(path_uri("../a b/x.seg"), "../a%20b/x.seg");
        assert_eq!(path_uri("dir\\x.seg"), "dir/x.seg");
        assert_eq!(path_uri("/abs/x.seg"), "file:///abs/x.seg");
        assert_eq!(path_uri("C:\\p\\x.seg"), "file:///C:/p/x.seg");
        assert_eq!(path_uri("a:b.seg"), "./a:b.seg");
        assert_eq!(path_uri("é.seg"), "%C3%A9.seg");
    }

    #[test]
    fn a_span_past_the_end_does_not_panic() {
        let mut sources = SourceMap::new();
        let id = sources.add("a.seg", Origin::User("a.seg".into()), "é\n".to_string());
        let d = Diagnostic::new(Code::E0101, "m", Label::new(Span::new(id, 1..99), "x"));
        let doc = parse(&to_json(&sources, &[d]));
        assert_eq!(doc["diagnostics"][0]["start"], serde_json::json!({"line": 1, "column": 1}));
        assert_eq!(doc["diagnostics"][0]["end"], serde_json::json!({"line": 2, "column": 1}));
    }
}
