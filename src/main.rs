use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = abibot::cli::Cli::parse();
    match abibot::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("abibot: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
