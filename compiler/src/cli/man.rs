//! `segc man [COMMAND]`: a manual page in roff on standard output.
//!
//! Takes: optionally the name of one command.
//! Gives: the page clap_mangen renders from the real [`Cli`] definition: segc's own page
//! (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, SUBCOMMANDS, VERSION) or, for a command, its
//! page titled `segc-COMMAND` as `man` expects for `segc-check(1)` and its siblings.
//! Must not: write files (packagers redirect stdout where their layout wants it), or
//! put a date in the page: the same segc must print the same bytes.

use std::io::Write;

use clap::CommandFactory;

use super::{usage_error, Cli, ExitStatus, ManArgs};
use crate::diag::did_you_mean;

pub fn run(args: &ManArgs) -> ExitStatus {
    let roff = match page(args.command.as_deref()) {
        Ok(roff) => roff,
        Err(message) => return usage_error(message),
    };
    match std::io::stdout().write_all(&roff) {
        Ok(()) => ExitStatus::Success,
        Err(e) => usage_error(format_args!("cannot write standard output: {e}")),
    }
}

/// The roff page of segc (`None`) or of the command named `command`; an unknown name is
/// an error message listing the commands that have a page.
pub fn page(command: Option<&str>) -> Result<Vec<u8>, String> {
    // clap's own `help` command has nothing a page would add. Building the root first
    // gives every command its full usage line (`segc check`) and page name (`segc-check`).
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let command = match command {
        None => root,
        Some(name) => match root.find_subcommand(name) {
            Some(found) => found.clone(),
            None => return Err(unknown_command(name, &root)),
        },
    };
    let mut out = Vec::new();
    // Every page names the release it documents (clap_mangen leaves the version out of
    // a command's page otherwise).
    clap_mangen::Man::new(command)
        .source(format!("segc {}", env!("CARGO_PKG_VERSION")))
        .render(&mut out)
        .map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(out)
}

fn unknown_command(name: &str, root: &clap::Command) -> String {
    let names: Vec<&str> = root.get_subcommands().map(|c| c.get_name()).collect();
    let mut message = format!("no manual page for `{name}`");
    if let Some(suggestion) = did_you_mean(name, names.iter().copied()) {
        message.push_str(&format!("; did you mean `{suggestion}`?"));
    }
    message.push_str(&format!("\n  commands: {}", names.join(", ")));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(command: Option<&str>) -> String {
        String::from_utf8(page(command).expect("a page")).expect("roff is UTF-8")
    }

    #[test]
    fn segc_page_lists_every_command() {
        let roff = text(None);
        assert!(roff.contains(&format!(".TH segc 1  \"segc {}\"", env!("CARGO_PKG_VERSION"))), "{roff}");
        for section in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS", "VERSION"] {
            assert!(roff.contains(&format!(".SH {section}")), "{section} missing");
        }
        for command in Cli::command().get_subcommands() {
            assert!(roff.contains(&format!("segc\\-{}(1)", command.get_name())), "{}", command.get_name());
        }
        assert!(!roff.contains("segc\\-help"), "clap's help command has no page");
    }

    #[test]
    fn command_page_has_its_own_name_and_flags() {
        let roff = text(Some("check"));
        assert!(roff.contains(&format!(".TH segc-check 1  \"segc {}\"", env!("CARGO_PKG_VERSION"))), "{roff}");
        assert!(roff.contains("\\-\\-deny\\-warnings"), "{roff}");
        assert!(!roff.contains("\\-\\-stdout"), "no flag of another command");
    }

    #[test]
    fn unknown_command_suggests_and_lists() {
        let message = page(Some("chek")).expect_err("no such command");
        assert!(message.contains("did you mean `check`?"), "{message}");
        let names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
        assert!(message.ends_with(&format!("commands: {}", names.join(", "))), "{message}");
        assert!(page(Some("help")).is_err(), "clap's help command has no page");
    }
}
