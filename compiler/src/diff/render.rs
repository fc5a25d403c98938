//! The three renderings of a diff: text for a terminal, Markdown for a pull-request
//! comment, and JSON for tools.
//!
//! Takes: the sorted changes of [`super::diff`]. Gives: one string per format.
//! Must not: decide what changed or what is a risk (that is `diff`), or look at the
//! terminal: the caller says whether to colour.

use serde::Serialize;

use super::{risks, Action, Change, Kind};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BOLD_RED: &str = "\x1b[1;31m";

fn summary(changes: &[Change]) -> String {
    let count = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    format!("{}, {}", count(changes.len(), "change"), count(risks(changes).len(), "risk"))
}

/// The changes grouped by kind, in report order (the changes are sorted by kind).
fn sections(changes: &[Change]) -> Vec<(Kind, &[Change])> {
    changes.chunk_by(|a, b| a.kind == b.kind).map(|group| (group[0].kind, group)).collect()
}

fn sign(action: Action) -> char {
    match action {
        Action::Added => '+',
        Action::Removed => '-',
        Action::Changed => '~',
    }
}

/// Plain text: risks first, then one section per kind, then a summary line. ANSI colour
/// only when `color` is true.
pub fn text(changes: &[Change], color: bool) -> String {
    let paint = |code: &str, s: &str| if color { format!("{code}{s}{RESET}") } else { s.to_string() };
    if changes.is_empty() {
        return "no changes\n".to_string();
    }
    let mut out = String::new();
    let risk_lines = risks(changes);
    for risk in &risk_lines {
        out.push_str(&format!("{} {risk}\n", paint(BOLD_RED, "risk:")));
    }
    if !risk_lines.is_empty() {
        out.push('\n');
    }
    for (kind, group) in sections(changes) {
        out.push_str(&paint(BOLD, kind.plural()));
        out.push('\n');
        for change in group {
            let colour = match change.action {
                Action::Added => GREEN,
                Action::Removed => RED,
                Action::Changed => YELLOW,
            };
            let head = format!("{} {} {}", sign(change.action), kind.as_str(), change.subject);
            out.push_str(&format!("  {}\n", paint(colour, &head)));
            for detail in &change.details {
                out.push_str(&format!("      {detail}\n"));
            }
        }
    }
    out.push('\n');
    out.push_str(&summary(changes));
    out.push('\n');
    out
}

/// Markdown for a pull-request comment: a heading with the counts, the risks in a
/// warning callout, then one bullet list per kind.
pub fn markdown(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "## segc diff: no changes\n\nThe policy declares the same segments, edges and exposures.\n".to_string();
    }
    let mut out = format!("## segc diff: {}\n\n", summary(changes));
    let risk_lines = risks(changes);
    if !risk_lines.is_empty() {
        out.push_str("> [!WARNING]\n> **Changes that widen access**\n>\n");
        for risk in &risk_lines {
            out.push_str(&format!("> - {risk}\n"));
        }
        out.push('\n');
    }
    for (kind, group) in sections(changes) {
        out.push_str(&format!("### {}\n\n", kind.plural()));
        for change in group {
            let flag = if change.risks.is_empty() { "" } else { " ⚠️" };
            out.push_str(&format!("- **{}** `{}`{flag}\n", change.action.as_str(), change.subject));
            for detail in &change.details {
                out.push_str(&format!("  - {detail}\n"));
            }
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct Report<'a> {
    changes: &'a [Change],
    risks: Vec<&'a str>,
}

/// JSON: `{"changes": [{kind, action, subject, details, risks}], "risks": [...]}`,
/// pretty-printed, with a final newline.
pub fn json(changes: &[Change]) -> String {
    let report = Report { changes, risks: risks(changes) };
    // Serialising plain strings and enums into a String cannot fail; fall back to an
    // empty object rather than panic all the same.
    let mut out = serde_json::to_string_pretty(&report).unwrap_or_else(|_| "{}".to_string());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Change> {
        vec![
            Change {
                kind: Kind::Segment,
                action: Action::Changed,
                subject: "web".into(),
                details: vec!["account: `web` → `site`".into()],
                risks: vec![],
            },
            Change {
                kind: Kind::Forbid,
                action: Action::Removed,
                subject: "dmz -> restricted".into(),
                details: vec![],
                risks: vec!["`forbid dmz -> restricted` was removed".into()],
            },
        ]
    }

    #[test]
    fn text_lists_risks_first_and_colours_only_when_asked() {
        let plain = text(&sample(), false);
        assert!(plain.starts_with("risk: `forbid dmz -> restricted` was removed\n"), "{plain}");
        assert!(plain.contains("Segments\n  ~ segment web\n      account: `web` → `site`\n"), "{plain}");
        assert!(plain.ends_with("2 changes, 1 risk\n"));
        assert!(!plain.contains('\x1b'));
        assert!(text(&sample(), true).contains("\x1b[1;31mrisk:\x1b[0m"));
        assert_eq!(text(&[], true), "no changes\n");
    }

    #[test]
    fn markdown_has_a_callout_and_a_list_per_kind() {
        let md = markdown(&sample());
        assert!(md.starts_with("## segc diff: 2 changes, 1 risk\n\n> [!WARNING]\n"), "{md}");
        assert!(md.contains("### Forbids\n\n- **removed** `dmz -> restricted` ⚠️\n"), "{md}");
        assert!(md.contains("### Segments\n\n- **changed** `web`\n  - account: `web` → `site`\n"), "{md}");
    }

    #[test]
    fn json_schema_is_stable() {
        let value: serde_json::Value = serde_json::from_str(&json(&sample())).expect("valid JSON");
        assert_eq!(value["changes"][1]["kind"], "forbid");
        assert_eq!(value["changes"][1]["action"], "removed");
        assert_eq!(value["changes"][0]["details"][0], "account: `web` → `site`");
        assert_eq!(value["changes"][0]["risks"], serde_json::json!([]));
        assert_eq!(value["risks"], serde_json::json!(["`forbid dmz -> restricted` was removed"]));
    }
}
