use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed pages for reuse: walking a history parses one
/// reference after another, each a few MB of fresh arrays, and glibc's
/// allocator hands those back to the kernel and takes them again (page
/// faults and zeroing were a fifth of a parse). Built without transparent
/// huge pages (`no_thp`): with them, a fresh 2 MB page now and then waited
/// for the kernel to compact memory, a second of system time in a 1.2 s
/// scan.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
