//! The files a package installs beside the binary, generated from the clap
//! definitions so they never drift from the flags: shell completions
//! (`abibot completions SHELL`) and man pages (`abibot man`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, Outcome};

/// Arguments of `abibot completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `abibot man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write abibot.1 and one page per subcommand (abibot-scan.1,
    /// abibot-config-check.1, ...) into this directory, created if missing;
    /// without it, abibot.1 goes to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `abibot completions SHELL`: the completion script on standard output.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "abibot", &mut script);
    super::print(&String::from_utf8(script).context("completion script is not UTF-8")?)?;
    Ok(Outcome::Clean)
}

/// `abibot man [--dir DIR]`: the program's page on standard output, or
/// every page written into DIR.
pub fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    let Some(dir) = args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        super::print(&String::from_utf8(page).context("man page is not UTF-8")?)?;
        return Ok(Outcome::Clean);
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    Ok(Outcome::Clean)
}
