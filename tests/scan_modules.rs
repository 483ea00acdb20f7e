//! `scan --module`: findings that break a protected prebuilt module's
//! imports are ranked first and say so.

mod common;

use common::{FAT_KO, abi_file, abibot_on, check_module_against, debian_repo};

#[test]
fn findings_breaking_a_watched_module_come_first() {
    let r = debian_repo();
    let old = abi_file("6.1.0-47", "amd64_none_amd64");
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", &old);
    r.commit("base");
    // register_netdev is not imported by fat.ko.
    let text = String::from_utf8(old.clone()).unwrap();
    let tweaked = text.replace(
        "0x090c094b\tregister_netdev\t",
        "0x12345678\tregister_netdev\t",
    );
    assert_ne!(tweaked, text);
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", &tweaked);
    r.commit("Touch register_netdev");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-50", "amd64_none_amd64"),
    );
    r.commit("Refresh ABI reference files");

    let (code, out, err) = abibot_on("scan", &r, &["--format", "json", "--module", FAT_KO]);
    assert_eq!(code, 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let titles: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Refresh ABI reference files", "Touch register_netdev"]
    );
    let impact = &doc["findings"][0]["breaks_modules"][0];
    assert_eq!(impact["module"], "fat.ko");
    assert!(doc["findings"][1].get("breaks_modules").is_none());

    // Independently: the loader's own verdict on fat.ko against 6.1.0-47.
    let (_, check, _) = check_module_against(FAT_KO, &old);
    let check: serde_json::Value = serde_json::from_str(&check).unwrap();
    let mismatches = check.to_string().matches("crc_mismatch").count();
    assert!(mismatches > 0, "{check}");
    assert_eq!(
        impact["changed_imports"].as_u64().unwrap() as usize,
        mismatches,
        "{check}"
    );

    // Without --module: commit order, no impact.
    let (_, plain, _) = abibot_on("scan", &r, &["--format", "json"]);
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(plain["findings"][0]["title"], "Touch register_netdev");

    let (_, text, _) = abibot_on("scan", &r, &["--module", FAT_KO]);
    let line = text.lines().find(|l| l.contains("breaks fat.ko")).unwrap();
    assert!(
        line.starts_with(&format!(
            "  breaks fat.ko: {mismatches} imported symbols changed ("
        )),
        "{line}"
    );
}

#[test]
fn module_argument_must_be_a_module() {
    let r = debian_repo();
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-47", "amd64_none_amd64"),
    );
    r.commit("base");
    let (code, _, err) = abibot_on("scan", &r, &["--module", "/nonexistent.ko"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.ko"), "{err}");
}

#[test]
fn ignore_rules_do_not_hide_a_break_from_a_module_that_imports_the_symbol() {
    let r = common::TestRepo::new();
    r.write("debian/changelog", common::changelog("6.1.170-3", "a"));
    r.write(
        "debian/config/defines",
        common::defines("47", &["module:**"]),
    );
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-47", "amd64_none_amd64"),
    );
    r.commit("base, everything ignored");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-50", "amd64_none_amd64"),
    );
    r.commit("Refresh ABI reference files");
    let (code, out, _) = abibot_on("scan", &r, &["--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = abibot_on("scan", &r, &["--format", "json", "--module", FAT_KO]);
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let finding = &doc["findings"][0];
    assert_eq!(finding["kind"], "hidden-break");
    assert_eq!(finding["flavours"][0]["summary"]["incompatible"], 0);
    assert_eq!(finding["breaks_modules"][0]["module"], "fat.ko");
}
