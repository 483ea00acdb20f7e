//! `check-module --repo R --rev REV --flavour F`: "does this prebuilt module
//! still load at that packaging revision?", answered from git history.

mod common;

use common::{TestRepo, abi_file, abibot, changelog, defines};

const FAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/fat.ko"
);

fn repo() -> (TestRepo, String, String) {
    let r = TestRepo::new();
    r.write("linux/debian/changelog", changelog("6.1.170-3", "a"));
    r.write("linux/debian/config/defines", defines("47", &[]));
    r.write(
        "linux/debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-47", "amd64_none_amd64"),
    );
    let old = r.commit("ABI 47").to_string();
    r.write(
        "linux/debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-50", "amd64_none_amd64"),
    );
    let new = r.commit("Refresh ABI reference files").to_string();
    (r, old, new)
}

#[test]
fn a_module_built_for_the_refreshed_reference_loads_only_there() {
    let (r, old, new) = repo();
    let path = r.path().to_str().unwrap();
    let check = |rev: &str| {
        abibot(&[
            "check-module",
            FAT,
            "--repo",
            path,
            "--rev",
            rev,
            "--flavour",
            "amd64_none_amd64",
            "--format",
            "json",
        ])
    };
    let (code, out, err) = check(&new);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = check(&old);
    assert_eq!(code, 1, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["loads"], false);
    let text = out.to_lowercase();
    assert!(text.contains("crc"), "{out}");
    // The same answer as checking against the file itself.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), abi_file("6.1.0-47", "amd64_none_amd64")).unwrap();
    let (code, from_file, _) = abibot(&[
        "check-module",
        FAT,
        "--against",
        file.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(from_file, out);
}

#[test]
fn unknown_flavour_or_revision_is_a_clear_error() {
    let (r, _, new) = repo();
    let path = r.path().to_str().unwrap();
    let (code, _, err) = abibot(&[
        "check-module",
        FAT,
        "--repo",
        path,
        "--rev",
        &new,
        "--flavour",
        "arm64_none_arm64",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "has no ABI reference for flavour arm64_none_arm64 (it has: amd64_none_amd64)"
        ),
        "{err}"
    );
    let (code, _, err) = abibot(&[
        "check-module",
        FAT,
        "--repo",
        path,
        "--rev",
        "nope",
        "--flavour",
        "amd64_none_amd64",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("revision \"nope\""), "{err}");
    let (code, _, err) = abibot(&["check-module", FAT, "--repo", path]);
    assert_eq!(code, 2);
    assert!(err.contains("--rev") && err.contains("--flavour"), "{err}");
}

#[test]
fn a_malformed_reference_at_the_revision_names_revision_file_and_line() {
    let (r, _, _) = repo();
    r.write(
        "linux/debian/abi/6.1.0-47/amd64_none_amd64",
        "0x00000001\tfoo\tvmlinux\tEXPORT_SYMBOL\t\nbroken line\n",
    );
    let bad = r.commit("Broken refresh").to_string();
    let path = r.path().to_str().unwrap();
    let (code, _, err) = abibot(&[
        "check-module",
        FAT,
        "--repo",
        path,
        "--rev",
        &bad,
        "--flavour",
        "amd64_none_amd64",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{bad}: linux/debian/abi/6.1.0-47/amd64_none_amd64: "
        )),
        "{err}"
    );
    assert!(err.contains(":2: "), "{err}");
}
