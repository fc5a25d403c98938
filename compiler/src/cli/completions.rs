//! `segc completions SHELL`: a shell completion script on standard output.
//!
//! Takes: the shell to complete for.
//! Gives: the script clap_complete generates from the real [`Cli`] definition, so every
//! command and flag segc accepts is completed and nothing else is.
//! Must not: keep a list of commands or flags of its own (it would go stale).

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{usage_error, Cli, CompletionsArgs, ExitStatus};

pub fn run(args: &CompletionsArgs) -> ExitStatus {
    match std::io::stdout().write_all(&script(args.shell)) {
        Ok(()) => ExitStatus::Success,
        Err(e) => usage_error(format_args!("cannot write standard output: {e}")),
    }
}

/// The completion script for `shell`. Generated into memory first so a closed pipe is
/// reported as an I/O error (exit 2) rather than a panic inside clap_complete.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "segc", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_shell_completes_every_command() {
        let commands: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
        assert!(commands.contains(&"completions".to_string()));
        for shell in Shell::value_variants() {
            let text = String::from_utf8(script(*shell)).expect("scripts are UTF-8");
            for command in &commands {
                assert!(text.contains(command.as_str()), "{shell}: `{command}` missing");
            }
            assert!(text.contains("deny-warnings"), "{shell}: flags of commands are completed");
        }
    }
}
