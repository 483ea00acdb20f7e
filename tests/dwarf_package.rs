//! Debug info read from a whole `-dbg` package or its unpacked directory
//! ([`abibot::dwarf::load_deb`], [`abibot::dwarf::load_tree`], and
//! `abibot explain OLD.deb NEW.deb`).
//!
//! REQUIRES `gcc` on PATH (installed by `.ci/run`). Each test builds its
//! own small packages: the "vmlinux" is `tests/data/dwarf/v1.c` (or
//! `v2.c`) and the module `module.c` (`-DV2` for the new one), compiled
//! with `gcc -g -c`, laid out as Debian's `linux-image-*-dbg` lays them out
//! (`usr/lib/debug/boot/vmlinux-*`, `usr/lib/debug/lib/modules/*/kernel/`,
//! symbolic links as Debian ships them), in an `ar` archive with a
//! `data.tar.xz` (old) or `data.tar.zst` (new) member.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use abibot::dwarf::{self, DebugOptions};
use abibot::explain::explain;

/// `gcc -c` of `source` with `flags`; the object's bytes.
fn object(dir: &Path, source: &str, flags: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("{source}{}.o", flags.join("")));
    common::gcc::compile(source, &out, flags);
    std::fs::read(out).unwrap()
}

/// The files of one version's package: (path, bytes) and the symbolic
/// links Debian ships beside them.
fn files(dir: &Path, new: bool) -> Vec<(String, Vec<u8>)> {
    let (kernel, flags): (&str, &[&str]) = if new {
        ("v2.c", &["-gdwarf-5", "-gz"])
    } else {
        ("v1.c", &["-gdwarf-4"])
    };
    let module = object(dir, "module.c", if new { &["-g", "-DV2"] } else { &["-g"] });
    let module = if new {
        // The new package ships the module xz-compressed.
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&module).unwrap();
        ("kernel/drivers/module.ko.xz", xz.finish().unwrap())
    } else {
        ("kernel/drivers/module.ko", module)
    };
    vec![
        (
            "usr/lib/debug/boot/System.map-6.1.0-9-amd64".into(),
            b"ffffffff81000000 T _text\n".to_vec(),
        ),
        (
            "usr/lib/debug/boot/vmlinux-6.1.0-9-amd64".into(),
            object(dir, kernel, flags),
        ),
        (
            format!("usr/lib/debug/lib/modules/6.1.0-9-amd64/{}", module.0),
            module.1,
        ),
    ]
}

const LINKS: [(&str, &str); 2] = [
    (
        "usr/lib/debug/lib/modules/6.1.0-9-amd64/vmlinux",
        "../../../boot/vmlinux-6.1.0-9-amd64",
    ),
    (
        "usr/lib/debug/vmlinux-6.1.0-9-amd64",
        "boot/vmlinux-6.1.0-9-amd64",
    ),
];

/// A tar of `files` and [`LINKS`], as dpkg-deb writes one (`./` paths).
fn tarball(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, format!("./{path}"), &bytes[..])
            .unwrap();
    }
    for (path, target) in LINKS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, format!("./{path}"), target)
            .unwrap();
    }
    tar.into_inner().unwrap()
}

/// An `ar` archive of `members`, as a `.deb` is.
fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = ar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        out.append(&header, &bytes[..]).unwrap();
    }
    out.into_inner().unwrap()
}

/// A `-dbg` package: `data.tar.xz` for the old version, `data.tar.zst` for
/// the new one.
fn deb(dir: &Path, new: bool) -> PathBuf {
    let tar = tarball(&files(dir, new));
    let (member, data) = if new {
        ("data.tar.zst", zstd::encode_all(&tar[..], 3).unwrap())
    } else {
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        ("data.tar.xz", xz.finish().unwrap())
    };
    let bytes = ar(&[
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.xz", Vec::new()),
        (member, data),
    ]);
    let path = dir.join(if new { "new.deb" } else { "old.deb" });
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The package's files written out, links included (an unpacked
/// `dpkg-deb -x`).
fn unpacked(dir: &Path, new: bool) -> PathBuf {
    let root = dir.join(if new { "new" } else { "old" });
    for (path, bytes) in files(dir, new) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for (path, target) in LINKS {
        std::os::unix::fs::symlink(target, root.join(path)).unwrap();
    }
    root.join("usr/lib/debug")
}

/// The exports whose expanded type changed, with their causes.
fn causes(old: &abibot::symtypes::Symtypes, new: &abibot::symtypes::Symtypes) -> Vec<String> {
    let ex = explain(old, new);
    ex.exports
        .iter()
        .map(|e| format!("{}: {}", e.symbol, e.causes.join(" ")))
        .collect()
}

const EXPECTED: [&str; 8] = [
    "decl_change: decl_change",
    "flags_get: s#flags",
    "grows_get: s#grows",
    "holder_get: s#holder",
    "holder_table: s#holder",
    "level_get: t#level_t",
    "mode_set: e#mode",
    "module_flags: s#flags",
];

#[test]
fn a_deb_is_read_in_place_with_its_modules() {
    let dir = tempfile::tempdir().unwrap();
    let old = dwarf::load_deb(&deb(dir.path(), false), &MODULES).unwrap();
    let new = dwarf::load_deb(&deb(dir.path(), true), &MODULES).unwrap();
    assert_eq!(causes(&old.symtypes, &new.symtypes), EXPECTED);
    // vmlinux and module once each, though links name the vmlinux twice.
    assert_eq!(new.symtypes.exports().len(), 12);
    assert!(new.symtypes.duplicate_exports().is_empty());
    assert!(new.missing.is_empty(), "{:?}", new.missing);
}

/// Modules asked for.
const MODULES: DebugOptions = DebugOptions { modules: true };

#[test]
fn by_default_only_the_vmlinux_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let options = DebugOptions::default();
    let new = dwarf::load_deb(&deb(dir.path(), true), &options).unwrap();
    assert_eq!(new.symtypes.exports().len(), 10);
    assert!(new.symtypes.export_file("module_flags").is_none());
    let tree = dwarf::load_tree(&unpacked(dir.path(), true), &options).unwrap();
    assert_eq!(tree.symtypes.exports().len(), 10);
    let modules_only = dir.path().join("new/usr/lib/debug/lib");
    let err = dwarf::load_tree(&modules_only, &options).unwrap_err();
    assert_eq!(err.file, modules_only.display().to_string());
    assert!(err.to_string().contains("no vmlinux"), "{err}");
    let modules = dwarf::load_tree(&modules_only, &MODULES).unwrap();
    assert_eq!(modules.symtypes.exports().len(), 2);
}

#[test]
fn an_unpacked_directory_reads_as_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let load = |p: &Path| dwarf::load_types_with(p, &MODULES).unwrap();
    let old = load(&unpacked(dir.path(), false));
    let new = load(&unpacked(dir.path(), true));
    assert_eq!(causes(&old, &new), EXPECTED);
    let deb = load(&deb(dir.path(), true));
    assert!(explain(&new, &deb).exports.is_empty());
    assert_eq!(new.exports().len(), deb.exports().len());
}

/// `abibot explain OLD.deb NEW.deb --format json`, and with `--symvers`:
/// only the CRC-changed exports, checked against the debug info.
#[test]
fn abibot_explain_reads_two_packages() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (deb(dir.path(), false), deb(dir.path(), true));
    let run = |extra: &[&Path]| {
        let out = Command::new(env!("CARGO_BIN_EXE_abibot"))
            .arg("explain")
            .args([&old, &new])
            .args(["--format", "json", "--modules"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let json = run(&[]);
    let listed = |json: &serde_json::Value| -> Vec<String> {
        json["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["symbol"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed_now = listed(&json);
    assert_eq!(listed_now.len(), EXPECTED.len(), "{listed_now:?}");
    assert!(listed_now.iter().any(|s| s == "module_flags"));
    // module_flags' CRC changed (explained), module_plain's too (not
    // explained: its type is equal), grows_get's did not (left out).
    let reference = |crcs: [&str; 3]| {
        let text = format!(
            "{}\tmodule_flags\tdrivers/module\tEXPORT_SYMBOL\t\n\
             {}\tmodule_plain\tdrivers/module\tEXPORT_SYMBOL\t\n\
             {}\tgrows_get\tvmlinux\tEXPORT_SYMBOL\t\n",
            crcs[0], crcs[1], crcs[2]
        );
        let path = dir.path().join(format!("symvers-{}", crcs[0]));
        std::fs::write(&path, text).unwrap();
        path
    };
    let before = reference(["0x00000001", "0x00000002", "0x00000003"]);
    let after = reference(["0x00000011", "0x00000012", "0x00000003"]);
    let json = run(&[Path::new("--symvers"), &before, &after]);
    assert_eq!(listed(&json), ["module_flags"]);
    assert_eq!(json["unexplained"], serde_json::json!(["module_plain"]));
}

/// A package cut at many lengths, or with a damaged tarball: an error
/// naming the package (and the member, once inside it), never a panic.
#[test]
fn a_damaged_deb_is_an_error_naming_file_and_member() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(deb(dir.path(), false)).unwrap();
    let path = dir.path().join("cut.deb");
    let shown = path.display().to_string();
    // The data member starts after the two small members' headers.
    let data_at = good.windows(11).position(|w| w == b"data.tar.xz").unwrap();
    let step = (good.len() / 40).max(1);
    for len in (8..good.len()).step_by(step) {
        std::fs::write(&path, &good[..len]).unwrap();
        let err = dwarf::load_deb(&path, &MODULES).expect_err("a cut package is refused");
        assert!(err.file.starts_with(&shown), "{len}: {err}");
        if len > data_at + 60 + 64 {
            assert!(
                err.file.starts_with(&format!("{shown}:data.tar.xz")),
                "{len}: {err}"
            );
        }
    }
    let mut damaged = good.clone();
    let middle = data_at + 60 + (good.len() - data_at) / 2;
    for b in &mut damaged[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &damaged).unwrap();
    let err = dwarf::load_deb(&path, &MODULES).unwrap_err();
    assert!(
        err.file.starts_with(&format!("{shown}:data.tar.xz")),
        "{err}"
    );
    std::fs::write(&path, ar(&[("debian-binary", b"2.0\n".to_vec())])).unwrap();
    let err = dwarf::load_deb(&path, &DebugOptions::default()).unwrap_err();
    assert_eq!(err.file, shown);
    assert!(err.to_string().contains("no data.tar member"), "{err}");
}
