//! `abibot extract` on trees with a bad file or with a name exported twice:
//! what can be read is printed, every problem is named, and the output is
//! always a reference abibot's own `diff` accepts.

mod common;

use std::path::{Path, PathBuf};

use abibot::formats;
use common::abibot;

const MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50"
);

/// An installed tree `lib/modules/6.1.0-50-amd64/kernel/...` of the real
/// modules; returns the release directory.
fn installed_tree(root: &Path) -> PathBuf {
    let release = root.join("lib/modules/6.1.0-50-amd64");
    for (dir, file) in [
        ("fs/fat", "fat.ko"),
        ("fs/fat", "vfat.ko"),
        ("fs/fat", "msdos.ko"),
        ("drivers/usb/storage", "usb-storage.ko"),
        ("drivers/usb/storage", "uas.ko"),
    ] {
        let to = release.join("kernel").join(dir);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(Path::new(MODULES).join(file), to.join(file)).unwrap();
    }
    release
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Parses extract's output the way `abibot diff` does.
fn parses(text: &str) -> usize {
    formats::parse(text.as_bytes(), None, "extract output")
        .unwrap_or_else(|e| panic!("diff would refuse it: {e}"))
        .len()
}

#[test]
fn a_bad_file_is_named_and_everything_else_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let release = installed_tree(dir.path());
    let (code, good, err) = abibot(&["extract", s(&release)]);
    assert_eq!(code, 0, "{err}");
    let good_lines = good.lines().count();

    let bad = release.join("kernel/fs/broken.ko");
    std::fs::write(&bad, b"garbage, not ELF").unwrap();
    let truncated = release.join("kernel/fs/fat/truncated.ko");
    let fat = std::fs::read(release.join("kernel/fs/fat/fat.ko")).unwrap();
    std::fs::write(&truncated, &fat[..fat.len() / 3]).unwrap();

    let (code, out, err) = abibot(&["extract", s(&release)]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, good, "every readable module is printed, in order");
    assert_eq!(out.lines().count(), good_lines);
    for file in [&bad, &truncated] {
        let named = format!("abibot: error: {}: ", file.display());
        assert_eq!(err.matches(&named).count(), 1, "{err}");
    }
    assert!(
        err.contains(&format!(
            "2 file(s) could not be read (each named above); printed the {good_lines} exports of the 5 file(s) read"
        )),
        "{err}"
    );

    // A file written with -o outlives the message: it is not written.
    let output = dir.path().join("Module.symvers");
    let (code, out, err) = abibot(&["extract", s(&release), "-o", s(&output)]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(!output.exists(), "{err}");
}

#[test]
fn a_file_reached_twice_is_read_once_with_its_tree_column() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("build");
    for (sub, file) in [("fs/fat", "fat.ko"), ("fs/fat", "vfat.ko")] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
        std::fs::copy(Path::new(MODULES).join(file), root.join(sub).join(file)).unwrap();
    }
    let fat = root.join("fs/fat/fat.ko");
    let (_, alone, _) = abibot(&["extract", s(&root)]);
    for args in [
        [s(&root), s(&fat)],
        [s(&fat), s(&root)],
        [s(&root), &format!("{}/fs/../fs/fat/fat.ko", s(&root))],
    ] {
        let (code, out, err) = abibot(&["extract", args[0], args[1]]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(parses(&out), out.lines().count(), "{args:?}");
        assert!(
            out.contains("\tfat_search_long\tfs/fat/fat\t"),
            "{args:?}: the walk's column wins: {out}"
        );
        if args[0] == s(&root) {
            assert_eq!(out, alone, "{args:?}");
        }
    }
}

#[test]
fn a_name_exported_by_two_files_is_listed_once_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let release = installed_tree(dir.path());
    // An out-of-tree copy in updates/ (as DKMS installs one) exports the
    // same names from another module path; the kernel keeps one of each.
    std::fs::create_dir_all(release.join("updates")).unwrap();
    std::fs::copy(
        Path::new(MODULES).join("fat.ko"),
        release.join("updates/fat.ko"),
    )
    .unwrap();
    let (code, out, err) = abibot(&["extract", s(&release)]);
    assert_eq!(code, 2, "{err}");
    let listed = parses(&out);
    assert_eq!(listed, out.lines().count(), "each name once");
    assert!(out.contains("\tfat_search_long\tfs/fat/fat\t"), "{out}");
    assert!(!out.contains("updates/fat"), "{out}");
    assert!(
        err.contains(&format!(
            "{}: exports fat_search_long, already exported by {} (module fs/fat/fat)",
            release.join("updates/fat.ko").display(),
            release.join("kernel/fs/fat/fat.ko").display()
        )),
        "{err}"
    );
    assert!(err.contains("21 name(s) were exported twice"), "{err}");

    // The printed reference round-trips through abibot's own diff.
    let reference = dir.path().join("extracted");
    std::fs::write(&reference, &out).unwrap();
    let (code, _, err) = abibot(&["diff", s(&reference), s(&reference)]);
    assert_eq!(code, 0, "{err}");

    // The same module stored twice (plain and xz) exports the same lines:
    // printed once, no error. JSON lists the same exports.
    let fat_xz = release.join("kernel/fs/fat/fat.ko.xz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -c '{}' > '{}'",
            release.join("kernel/fs/fat/fat.ko").display(),
            fat_xz.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(release.join("updates/fat.ko")).unwrap();
    let (code, twice, err) = abibot(&["extract", s(&release)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(twice, out);
    let (_, json, _) = abibot(&["extract", "--format", "json", s(&release)]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json.as_array().unwrap().len(), listed);
}
