//! `abibot diff` as a user runs it: output forms and exit codes.

mod common;

use common::abibot;

const ABI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/abi"
);

fn real(abi: &str) -> String {
    format!("{ABI}/{abi}/amd64_none_cloud-amd64")
}

#[test]
fn json_output_follows_the_documented_schema() {
    let (code, out, _) = abibot(&[
        "diff",
        &real("6.1.0-47"),
        &real("6.1.0-50"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &doc["summary"];
    assert_eq!(
        (
            s["added"].as_u64(),
            s["removed"].as_u64(),
            s["crc_changed"].as_u64()
        ),
        (Some(5), Some(2), Some(9_595))
    );
    for key in [
        "export_changed",
        "namespace_changed",
        "moved",
        "unversioned",
        "ignored",
        "incompatible",
    ] {
        assert!(s[key].is_u64(), "{key}");
    }
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 5 + 2 + 9_595);
    let removed = changes.iter().find(|c| c["kind"] == "removed").unwrap();
    assert_eq!(removed["incompatible"], true);
    assert_eq!(removed["ignored"], false);
    assert!(removed["new"].is_null());
    assert!(removed["old"]["crc"].as_str().unwrap().starts_with("0x"));
    assert_eq!(removed["old"]["crc"].as_str().unwrap().len(), 10);
}

#[test]
fn text_output_leads_with_counts_in_debian_style() {
    let (code, out, _) = abibot(&["diff", &real("6.1.0-47"), &real("6.1.0-50")]);
    assert_eq!(code, 1);
    let second = out.lines().nth(1).unwrap();
    assert_eq!(
        second,
        "2 removed, 9,595 CRC changed, 5 added (9,597 incompatible, 0 ignored)"
    );
    assert!(out.contains("\nRemoved symbols (2):\n"));
    let line = out
        .lines()
        .find(|l| l.contains("ip6_dst_lookup_tunnel"))
        .unwrap();
    assert_eq!(
        line,
        " ip6_dst_lookup_tunnel                    module: vmlinux, version: 0x09cf3ab5, export: EXPORT_SYMBOL_GPL [incompatible]"
    );
}

#[test]
fn ignoring_everything_exits_zero_and_marks_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ignore");
    std::fs::write(&file, "# everything\nmodule:**\n").unwrap();
    let (code, out, _) = abibot(&[
        "diff",
        &real("6.1.0-47"),
        &real("6.1.0-50"),
        "--ignore-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("(0 incompatible, 9,602 ignored)"),
        "{}",
        out.lines().nth(1).unwrap()
    );
    let (code, _, _) = abibot(&[
        "diff",
        &real("6.1.0-47"),
        &real("6.1.0-50"),
        "--ignore",
        "name:*",
        "--ignore",
        "module:vmlinux",
    ]);
    assert_eq!(code, 0);
}

#[test]
fn identical_files_exit_zero() {
    let (code, out, _) = abibot(&["diff", &real("6.1.0-50"), &real("6.1.0-50")]);
    assert_eq!(code, 0);
    assert!(out.contains("no change"));
}

#[test]
fn markdown_keeps_names_in_code_spans_and_stays_postable() {
    let (code, out, _) = abibot(&[
        "diff",
        &real("6.1.0-47"),
        &real("6.1.0-50"),
        "--format",
        "markdown",
    ]);
    assert_eq!(code, 1);
    assert!(out.starts_with("### abibot: incompatible ABI change"));
    assert!(out.contains("- `ip6_dst_lookup_tunnel` "), "{out}");
    assert!(out.contains("<details><summary>All 9,602 changes</summary>"));
    assert!(out.len() < 65_536, "fits a GitHub comment: {}", out.len());
}

#[test]
fn errors_exit_two_and_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(
        &bad,
        "0x00000001\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n0xnothex\tbar\tvmlinux\tEXPORT_SYMBOL\t\n",
    )
    .unwrap();
    let (bad, new) = (bad.to_str().unwrap(), real("6.1.0-50"));
    let cases: [(&[&str], String); 4] = [
        (&[&new, bad], format!("{bad}:2: expected a CRC")),
        (
            &[&new, "/nonexistent/ref"],
            "/nonexistent/ref: cannot read: ".into(),
        ),
        (
            &[&new, &new, "--ignore", "symbol:x"],
            "unknown prefix".into(),
        ),
        (&[&new, &new, "--input-format", "nope"], "'nope'".into()),
    ];
    for (args, message) in cases {
        let (code, out, err) = abibot(&[&["diff"], args].concat());
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(&message), "{args:?}: {err}");
    }
}

#[test]
fn help_documents_exit_codes() {
    let (code, out, _) = abibot(&["diff", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("1  an incompatible change was found"));
}
