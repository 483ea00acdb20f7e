//! Every entry under a references directory is read or reported, in every
//! layout: names the layout does not know (`amd64`, `a_b`, `.hidden`, not
//! UTF-8), symlinks, submodules and directories each come out as a
//! warning at the commit where they appear, saying what they are, and
//! never make the current state unreadable.

mod common;

use abibot::history::{RevisionError, Severity, WalkOptions};
use common::{
    TestRepo, abibot, debian_repo, generic_options, kabi_entry, scan_with, symvers, ubuntu_repo,
};

const SYMLINK: u32 = 0o120000;
const GITLINK: u32 = 0o160000;
const EXECUTABLE: u32 = 0o100755;
const FILE: u32 = 0o100644;

/// Asserts that `errors` are exactly the warnings `expected` (path,
/// message), in any order.
fn assert_warnings(errors: &[RevisionError], expected: &[(String, &str)]) {
    let mut got: Vec<(Severity, &str, &str)> = errors
        .iter()
        .map(|e| (e.severity, e.path.as_str(), e.message.as_str()))
        .collect();
    let mut expected: Vec<(Severity, &str, &str)> = expected
        .iter()
        .map(|(path, message)| (Severity::Warning, path.as_str(), *message))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

const NAME: &str = "not a reference name (<arch>_<featureset>_<flavour>): not read";
const SYMLINK_SAYS: &str = "a symlink: not read (references are regular files)";
const GITLINK_SAYS: &str = "a submodule (gitlink): not read (references are regular files)";
const DIRECTORY_SAYS: &str = "a directory: not read (references are regular files)";
const NOT_UTF8_SAYS: &str = "a name that is not UTF-8: not read";

#[test]
fn debian_reports_every_entry_it_does_not_read() {
    let r = debian_repo();
    let dir = "debian/abi/6.1.0-47";
    let reference = symvers(&[("kfree", 1)]);
    r.write(&format!("{dir}/amd64_none_amd64"), &reference);
    r.commit("Release");
    for name in ["amd64", "a_b", ".hidden"] {
        r.write(&format!("{dir}/{name}"), &reference);
    }
    r.write_raw(
        &[format!("{dir}/amd64_none_").as_bytes(), b"\xff"].concat(),
        FILE,
        reference.as_bytes(),
        None,
    );
    r.write_raw(
        format!("{dir}/arm64_none_arm64").as_bytes(),
        SYMLINK,
        b"amd64_none_amd64",
        None,
    );
    // A submodule whose id happens to be a blob holding a valid reference.
    let blob = r.repo.blob(reference.as_bytes()).unwrap();
    r.write_raw(
        format!("{dir}/i386_none_686").as_bytes(),
        GITLINK,
        b"",
        Some(blob),
    );
    r.write(&format!("{dir}/amd64_none_cloud/inner"), &reference);
    r.write(&format!("{dir}/amd64_rt_amd64"), &reference);
    r.write_raw(b"debian/abi/README", EXECUTABLE, b"notes", None);
    let added = r.commit("Add entries");
    // Touching the references again does not repeat the warnings.
    r.write(
        &format!("{dir}/amd64_rt_amd64"),
        symvers(&[("kfree", 1), ("new", 2)]),
    );
    r.commit("Refresh rt");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.commit.as_str() == added.to_string())
    );
    assert_warnings(
        &report.errors,
        &[
            (format!("{dir}/.hidden"), NAME),
            (format!("{dir}/a_b"), NAME),
            (format!("{dir}/amd64"), NAME),
            (format!("{dir}/amd64_none_\\xff"), NOT_UTF8_SAYS),
            (format!("{dir}/amd64_none_cloud"), DIRECTORY_SAYS),
            (format!("{dir}/arm64_none_arm64"), SYMLINK_SAYS),
            (format!("{dir}/i386_none_686"), GITLINK_SAYS),
            (
                "debian/abi/README".to_owned(),
                "not a reference name (a directory named after an ABI name): not read",
            ),
        ],
    );
    // The gitlink is not parsed, the real references are.
    let mut walker = abibot::history::Walker::new(&r.repo, WalkOptions::default());
    let (state, _) = walker
        .state_at(walker.resolve("HEAD").unwrap(), None)
        .unwrap();
    let flavours: Vec<String> = state.sources.keys().map(ToString::to_string).collect();
    assert_eq!(flavours, ["amd64_none_amd64", "amd64_rt_amd64"]);
}

#[test]
fn stale_directories_stay_quiet() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    // Another ABI name's directory is a leftover, whatever it holds.
    r.write("debian/abi/6.1.0-46/.hidden", "x");
    r.write("debian/abi/6.1.0-46/amd64_none_amd64", symvers(&[("a", 9)]));
    r.commit("Release with a leftover");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

fn ubuntu_line(crc: u32) -> String {
    format!("EXPORT_SYMBOL vmlinux 0x{crc:08x} a\n")
}

#[test]
fn ubuntu_reports_every_entry_it_does_not_read() {
    let r = ubuntu_repo();
    let arch = "debian.master/abi/amd64";
    r.write(&format!("{arch}/generic"), ubuntu_line(1));
    // Sibling files of a reference are known and quiet.
    r.write(&format!("{arch}/generic.modules"), "kvm\n");
    r.commit("base");
    r.write(&format!("{arch}/.hidden"), ubuntu_line(1));
    r.write_raw(
        format!("{arch}/lowlatency").as_bytes(),
        SYMLINK,
        b"generic",
        None,
    );
    let blob = r.repo.blob(ubuntu_line(1).as_bytes()).unwrap();
    r.write_raw(format!("{arch}/aws").as_bytes(), GITLINK, b"", Some(blob));
    r.write(&format!("{arch}/old/generic"), ubuntu_line(1));
    r.write_raw(
        b"debian.master/abi/arm\xff64/generic",
        FILE,
        ubuntu_line(1).as_bytes(),
        None,
    );
    r.commit("Add entries");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_warnings(
        &report.errors,
        &[
            (
                format!("{arch}/.hidden"),
                "not a reference name (<flavour>, or <flavour>.<suffix> beside it): not read",
            ),
            (format!("{arch}/lowlatency"), SYMLINK_SAYS),
            (format!("{arch}/aws"), GITLINK_SAYS),
            (format!("{arch}/old"), DIRECTORY_SAYS),
            ("debian.master/abi/arm\\xff64".to_owned(), NOT_UTF8_SAYS),
        ],
    );
}

#[test]
fn redhat_reports_what_is_not_a_stablelist_entry() {
    let r = TestRepo::new();
    r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
    let dir = "redhat/kabi/kabi-module/kabi_x86_64";
    r.write(&format!("{dir}/kfree"), kabi_entry(1, "kfree"));
    r.commit("base");
    // A symlink's blob is its target: it used to be parsed as an entry.
    r.write_raw(format!("{dir}/kmalloc").as_bytes(), SYMLINK, b"kfree", None);
    let blob = r.repo.blob(kabi_entry(2, "vmalloc").as_bytes()).unwrap();
    r.write_raw(
        format!("{dir}/vmalloc").as_bytes(),
        GITLINK,
        b"",
        Some(blob),
    );
    r.write(&format!("{dir}/sub/x"), kabi_entry(3, "x"));
    r.write("redhat/kabi/kabi-module/README", "about\n");
    r.commit("Add entries");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_warnings(
        &report.errors,
        &[
            (format!("{dir}/kmalloc"), SYMLINK_SAYS),
            (format!("{dir}/vmalloc"), GITLINK_SAYS),
            (format!("{dir}/sub"), DIRECTORY_SAYS),
            (
                "redhat/kabi/kabi-module/README".to_owned(),
                "not a reference name (kabi_<arch>, a directory): not read",
            ),
        ],
    );
}

#[test]
fn generic_reports_what_its_template_does_not_match() {
    let r = TestRepo::new();
    r.write("VERSION", "ABI_NAME = 7\n");
    r.write("abi/x86/default.symvers", symvers(&[("a", 1)]));
    // Outside a references directory: not the layout's business.
    r.write("abi/README", "about\n");
    r.commit("base");
    r.write("abi/x86/notes.txt", "x\n");
    r.write_raw(b"abi/x86/small.symvers", SYMLINK, b"default.symvers", None);
    r.write("abi/x86/old/default.symvers", symvers(&[("a", 1)]));
    // A submodule whose commit is not in this repository (it used to be
    // "object not found" at every read).
    let elsewhere = git2::Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    r.write_raw(b"abi/x86/big.symvers", GITLINK, b"", Some(elsewhere));
    r.commit("Add entries");
    let (report, _, _) = scan_with(&r, generic_options());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_warnings(
        &report.errors,
        &[
            (
                "abi/x86/notes.txt".to_owned(),
                "not a reference name (abi/{arch}/{flavour}.symvers): not read",
            ),
            ("abi/x86/small.symvers".to_owned(), SYMLINK_SAYS),
            ("abi/x86/big.symvers".to_owned(), GITLINK_SAYS),
            ("abi/x86/old".to_owned(), DIRECTORY_SAYS),
        ],
    );
}

/// Warnings are listed by `scan` and `timeline` without making the
/// current state unreadable (exit 2 is for states that cannot be read).
#[test]
fn warnings_reach_the_output_without_refusing_the_current_state() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("Release");
    r.write("debian/abi/6.1.0-47/.hidden", "x");
    r.commit("Add a hidden file");
    let repo = r.path().to_str().unwrap();
    let (code, out, err) = abibot(&["scan", "--repo", repo]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("debian/abi/6.1.0-47/.hidden"), "{out}");
    assert!(out.contains(NAME), "{out}");
    // Listed and counted as a warning, apart from errors.
    assert!(out.contains(" 0 errors, 1 warning, "), "{out}");
    assert!(out.contains("\n1 warning:\n  "), "{out}");
    assert!(
        !out.contains("error:\n") && !out.contains("errors:\n"),
        "{out}"
    );
    let (code, out, err) = abibot(&["scan", "--repo", repo, "--format", "markdown"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("### Warnings") && !out.contains("### Errors"),
        "{out}"
    );
    let (code, _, err) = abibot(&["timeline", "--repo", repo]);
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("1 warning:\n  "), "{err}");
    assert!(!err.contains("error"), "{err}");
    let (code, out, err) = abibot(&["timeline", "--repo", repo, "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    assert_eq!(errors[0]["path"], "debian/abi/6.1.0-47/.hidden");
    assert_eq!(errors[0]["severity"], "warning");
}

/// The daemon logs a warning with the entry and its severity, posts
/// nothing for it, and goes on.
#[test]
fn the_daemon_logs_warnings_and_goes_on() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.write("debian/abi/6.1.0-47/.hidden", "x");
    r.commit("Release with a hidden file");
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = common::file_sink_daemon_config(dir.path(), &r);
    let (code, out, err) = abibot(&["daemon", "--once", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let logged = err
        .lines()
        .find(|l| l.contains("debian/abi/6.1.0-47/.hidden"))
        .unwrap_or_else(|| panic!("not logged:\n{err}"));
    assert!(logged.contains("severity=Warning"), "{logged}");
    let posted = std::fs::read_to_string(&sink).unwrap_or_default();
    assert_eq!(posted, "", "nothing to comment on");
}

/// A symlink or a submodule where a configuration file is expected is an
/// error naming what it is, not its target read as content.
#[test]
fn a_symlinked_defines_is_an_error() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("Release");
    r.write_raw(b"debian/config/defines", SYMLINK, b"../defines.real", None);
    let linked = r.commit("Link defines");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    let got: Vec<(Severity, &str, &str)> = report
        .errors
        .iter()
        .map(|e| (e.severity, e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            Severity::Error,
            "debian/config/defines",
            "debian/config/defines: a symlink, not a regular file"
        )]
    );
    assert_eq!(report.errors[0].commit.as_str(), linked.to_string());
}
