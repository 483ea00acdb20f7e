//! `check-module --repo R --rev REV --flavour F`: "does this prebuilt module
//! still load at that packaging revision?", answered from git history.

mod common;

use common::{FAT_KO, TestRepo, abi_file, abibot, changelog, check_module_against, defines};

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

/// `abibot check-module fat.ko --repo <r> --rev REV --flavour FLAVOUR EXTRA...`.
fn check_at(r: &TestRepo, rev: &str, flavour: &str, extra: &[&str]) -> (i32, String, String) {
    let path = r.path().to_str().unwrap();
    let args = [
        "check-module",
        FAT_KO,
        "--repo",
        path,
        "--rev",
        rev,
        "--flavour",
        flavour,
    ];
    abibot(&[&args[..], extra].concat())
}

#[test]
fn a_module_built_for_the_refreshed_reference_loads_only_there() {
    let (r, old, new) = repo();
    let check = |rev: &str| check_at(&r, rev, "amd64_none_amd64", &["--format", "json"]);
    let (code, out, err) = check(&new);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = check(&old);
    assert_eq!(code, 1, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["loads"], false);
    let text = out.to_lowercase();
    assert!(text.contains("crc"), "{out}");
    // The same answer as checking against the file itself.
    let reference = abi_file("6.1.0-47", "amd64_none_amd64");
    let (code, from_file, _) = check_module_against(FAT_KO, &reference);
    assert_eq!(code, 1);
    assert_eq!(from_file, out);
}

#[test]
fn unknown_flavour_or_revision_is_a_clear_error() {
    let (r, _, new) = repo();
    let (code, _, err) = check_at(&r, &new, "arm64_none_arm64", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "has no ABI reference for flavour arm64_none_arm64 (it has: amd64_none_amd64)"
        ),
        "{err}"
    );
    let (code, _, err) = check_at(&r, "nope", "amd64_none_amd64", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("revision \"nope\""), "{err}");
    let path = r.path().to_str().unwrap();
    let (code, _, err) = abibot(&["check-module", FAT_KO, "--repo", path]);
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
    let (code, _, err) = check_at(&r, &bad, "amd64_none_amd64", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{bad}: linux/debian/abi/6.1.0-47/amd64_none_amd64: "
        )),
        "{err}"
    );
    assert!(err.contains(":2: "), "{err}");
}
