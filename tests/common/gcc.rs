//! Objects with debug info compiled from the C sources in
//! `tests/data/dwarf/`. REQUIRES `gcc` on PATH (installed by `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/data/dwarf/<name>`.
pub fn dwarf_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dwarf")
        .join(name)
}

/// `gcc -c -O0 <flags>` of `tests/data/dwarf/<source>` into `out` (its
/// directory created); panics naming the source when gcc fails.
pub fn compile(source: &str, out: &Path, flags: &[&str]) {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let status = Command::new("gcc")
        .args(["-c", "-O0", "-o"])
        .arg(out)
        .args(flags)
        .arg(dwarf_source(source))
        .status()
        .expect("these tests need gcc on PATH (installed by .ci/run)");
    assert!(status.success(), "gcc {flags:?} {source} failed");
}
