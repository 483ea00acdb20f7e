//! `abibot explain` on Debian's real `-dbg` debug info, measured against
//! the truth of the CRCs, beside the physical floor (reading the inputs)
//! and, when asked, libabigail's `abidiff` on the same vmlinux files.
//!
//! ```sh
//! apt-get download linux-image-6.1.0-47-amd64-dbg linux-image-6.1.0-50-amd64-dbg
//! ABIBOT_DBG_OLD=linux-image-6.1.0-47-amd64-dbg_6.1.170-3_amd64.deb \
//! ABIBOT_DBG_NEW=linux-image-6.1.0-50-amd64-dbg_6.1.176-1_amd64.deb \
//!     cargo bench --bench dwarf_real
//! ```
//!
//! `ABIBOT_DBG_OLD`/`ABIBOT_DBG_NEW`: anything `abibot explain` reads (a
//! vmlinux, an unpacked `usr/lib/debug/`, the `.deb`). `ABIBOT_DBG_ARGS`:
//! extra arguments (`--modules`). `ABIBOT_DBG_SYMVERS_OLD`/`_NEW`: the
//! references (default: bookworm's 6.1.0-47 and 6.1.0-50 amd64 in
//! `tests/data`). `ABIBOT_DBG_ABIDIFF=SECONDS`: also run `abidiff` on
//! `ABIBOT_DBG_ABIDIFF_OLD`/`_NEW` (two vmlinux files) under `timeout`.
//!
//! Prints wall time and peak RSS (`wait4`) of each process; recall (the
//! share of CRC-changed exports, among those in both references, whose
//! expanded type the debug info finds changed) and precision (the share of
//! exports found changed whose CRC changed), the misses by name; and, for
//! exports the bundled genksyms symtypes (`tests/data/symtypes`) explain
//! too, how many name the same root types. Without `ABIBOT_DBG_OLD` it
//! says so and exits successfully (nothing to measure).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Wall seconds, peak RSS in MiB, exit code and stdout of `command`.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its own rusage"
)]
fn measure(mut command: Command, out: &Path) -> (f64, i64, i32) {
    command
        .stdout(File::create(out).unwrap())
        .stderr(Stdio::inherit());
    let t = Instant::now();
    let child = command.spawn().expect("the command starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (t.elapsed().as_secs_f64(), usage.ru_maxrss / 1024, code)
}

/// A reference's CRC and module per export (symvers lines).
fn reference(path: &Path) -> BTreeMap<String, (String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                f.get(1)?.to_string(),
                (f[0].to_owned(), f.get(2)?.to_string()),
            ))
        })
        .collect()
}

/// Export -> its root causes, from `abibot explain --format json`.
fn causes(json: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let value: serde_json::Value =
        serde_json::from_reader(File::open(json).unwrap()).expect("explain printed JSON");
    value["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let causes = e["causes"].as_array().unwrap().iter();
            // genksyms keeps each enum constant as a record (`E#NAME`) of
            // its own; DWARF has the enum (`e#name`) only.
            let names = causes
                .filter_map(|c| c.as_str())
                .filter(|c| !c.starts_with("E#"));
            (
                e["symbol"].as_str().unwrap().to_owned(),
                names.map(str::to_owned).collect(),
            )
        })
        .collect()
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| root().join(default), PathBuf::from)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The floor: reading both inputs once (`xz -dc` of a package's data is
/// what any reader of it pays; `cat` of a file or tree).
fn floor(paths: [&Path; 2]) {
    let script = "for p in \"$@\"; do case $p in \
        *.deb) dpkg-deb --fsys-tarfile \"$p\" ;; \
        *) find \"$p\" -type f -exec cat {} + ;; esac; done > /dev/null";
    let mut command = Command::new("sh");
    command.args(["-c", script, "floor"]).args(paths);
    let (wall, rss, code) = measure(command, Path::new("/dev/null"));
    println!("floor (read both inputs): {wall:.1} s, peak RSS {rss} MiB, exit {code}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(old) = std::env::var_os("ABIBOT_DBG_OLD").map(PathBuf::from) else {
        println!("ABIBOT_DBG_OLD not set: nothing to measure (see benches/dwarf_real.rs)");
        return;
    };
    let new = PathBuf::from(std::env::var_os("ABIBOT_DBG_NEW").expect("ABIBOT_DBG_NEW"));
    let abi = "tests/data/debian-bookworm/abi";
    let sym_old = env_path(
        "ABIBOT_DBG_SYMVERS_OLD",
        &format!("{abi}/6.1.0-47/amd64_none_amd64"),
    );
    let sym_new = env_path(
        "ABIBOT_DBG_SYMVERS_NEW",
        &format!("{abi}/6.1.0-50/amd64_none_amd64"),
    );
    let extra = std::env::var("ABIBOT_DBG_ARGS").unwrap_or_default();
    let tmp = tempfile::tempdir().unwrap();
    floor([&old, &new]);
    let json = tmp.path().join("dwarf.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_abibot"));
    command
        .arg("explain")
        .args([&old, &new])
        .args(["--format", "json"])
        .args(extra.split_whitespace());
    let (wall, rss, code) = measure(command, &json);
    println!("abibot explain: {wall:.1} s, peak RSS {rss} MiB, exit {code}");
    let found = causes(&json);
    score(&reference(&sym_old), &reference(&sym_new), &found);
    agreement(tmp.path(), &found);
    if let Ok(seconds) = std::env::var("ABIBOT_DBG_ABIDIFF") {
        abidiff(&seconds);
    }
}

/// Recall and precision against the CRCs.
fn score(
    old: &BTreeMap<String, (String, String)>,
    new: &BTreeMap<String, (String, String)>,
    found: &BTreeMap<String, BTreeSet<String>>,
) {
    // Only the modules read count: the vmlinux alone covers its exports.
    let vmlinux_only = !found
        .keys()
        .any(|s| old.get(s).is_some_and(|o| o.1 != "vmlinux"));
    let both: Vec<&String> = old
        .keys()
        .filter(|s| new.contains_key(*s))
        .filter(|s| !vmlinux_only || old[*s].1 == "vmlinux")
        .collect();
    let crc: BTreeSet<&String> = both
        .iter()
        .copied()
        .filter(|s| old[*s].0 != new[*s].0)
        .collect();
    let seen: BTreeSet<&String> = both
        .iter()
        .copied()
        .filter(|s| found.contains_key(*s))
        .collect();
    let hit = crc.intersection(&seen).count();
    println!(
        "exports in both references{}: {}; CRC changed: {}; debug info changed: {}; both: {hit}",
        if vmlinux_only { " (vmlinux)" } else { "" },
        both.len(),
        crc.len(),
        seen.len()
    );
    println!(
        "recall {:.2}%, precision {:.2}%",
        100.0 * hit as f64 / crc.len().max(1) as f64,
        100.0 * hit as f64 / seen.len().max(1) as f64
    );
    println!("missed: {:?}", crc.difference(&seen).collect::<Vec<_>>());
    println!("false: {:?}", seen.difference(&crc).collect::<Vec<_>>());
}

/// Root causes against the genksyms symtypes explanation of the bundled
/// trees (kernel, mm, lib, block, fs/fat, net/core).
fn agreement(tmp: &Path, found: &BTreeMap<String, BTreeSet<String>>) {
    let json = tmp.join("symtypes.json");
    let st = |v: &str| root().join(format!("tests/data/symtypes/{v}/symtypes.tar.xz"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_abibot"));
    command
        .arg("explain")
        .args([st("6.1.0-47"), st("6.1.0-50")])
        .args(["--format", "json"]);
    measure(command, &json);
    let truth = causes(&json);
    let shared: Vec<&String> = truth.keys().filter(|s| found.contains_key(*s)).collect();
    let same = shared.iter().filter(|s| truth[**s] == found[**s]).count();
    println!(
        "root causes: {} exports explained by genksyms symtypes, {} of them by debug info, \
         {same} naming the same root types ({:.2}%)",
        truth.len(),
        shared.len(),
        100.0 * same as f64 / shared.len().max(1) as f64
    );
    for s in shared.iter().filter(|s| truth[**s] != found[**s]).take(10) {
        println!(
            "  {s}: symtypes {:?}, debug info {:?}",
            truth[*s], found[*s]
        );
    }
}

/// libabigail's `abidiff` on two vmlinux files, stopped after `seconds`.
fn abidiff(seconds: &str) {
    let old = std::env::var("ABIBOT_DBG_ABIDIFF_OLD").expect("ABIBOT_DBG_ABIDIFF_OLD");
    let new = std::env::var("ABIBOT_DBG_ABIDIFF_NEW").expect("ABIBOT_DBG_ABIDIFF_NEW");
    let mut command = Command::new("timeout");
    command.args([seconds, "abidiff", &old, &new]);
    let (wall, rss, code) = measure(command, Path::new("/dev/null"));
    let how = if code == 124 {
        "stopped by timeout"
    } else {
        "finished"
    };
    println!("abidiff: {wall:.1} s ({how}, exit {code}), peak RSS {rss} MiB");
}
