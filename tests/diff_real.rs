//! `compare` on Debian's real bookworm references (tests/data, from Debian's archive).

mod common;

use abibot::compare::{ChangeKind, Comparison, compare};
use abibot::formats;
use abibot::ignore::IgnoreRules;
use abibot::symbols::{Crc, ExportKind, SymbolSet};

/// `<abi>/<flavour>` of tests/data's real references, parsed.
fn load(rel: &str) -> SymbolSet {
    let (abi, flavour) = rel.split_once('/').unwrap();
    formats::parse(&common::abi_file(abi, flavour), None, rel).unwrap()
}

fn diff(flavour: &str) -> Comparison {
    compare(
        &load(&format!("6.1.0-47/{flavour}")),
        &load(&format!("6.1.0-50/{flavour}")),
        &IgnoreRules::default(),
    )
}

fn names(c: &Comparison, kind: ChangeKind) -> Vec<&str> {
    c.of_kind(kind).map(|c| c.symbol.as_str()).collect()
}

#[test]
fn real_files_parse_with_every_symbol() {
    assert_eq!(load("6.1.0-47/amd64_none_amd64").len(), 24_618);
    assert_eq!(load("6.1.0-50/amd64_none_amd64").len(), 24_622);
    let trixie = load("6.12.117+deb12/amd64_none_amd64");
    assert_eq!(trixie.len(), 26_765);
    // The data README says 1,175; `awk -F'\t' '$5!=""'` counts 1,384 lines with a namespace.
    assert_eq!(
        trixie.iter().filter(|s| s.namespace.is_some()).count(),
        1_384
    );
    let s = trixie.get("cpu_cache_invalidate_memregion").unwrap();
    assert_eq!(s.crc, Crc(0x3c804b25));
    assert_eq!(s.namespace.as_deref(), Some("DEVMEM"));
    assert_eq!(s.export, Some(ExportKind::Gpl));
}

#[test]
fn amd64_47_to_50() {
    let c = diff("amd64_none_amd64");
    let s = c.summary;
    assert_eq!((s.added, s.removed, s.crc_changed), (7, 3, 18_107));
    assert_eq!(
        (
            s.export_changed,
            s.namespace_changed,
            s.moved,
            s.unversioned
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(s.incompatible, 3 + 18_107);
    // Counted with a Python script over the two files (removed or CRC-changed, in vmlinux).
    assert_eq!(s.incompatible_in_vmlinux, 6_452);
    assert_eq!(s.ignored, 0);
    assert!(c.is_breaking());
    // Pinned with `join` over the two files.
    let k = c
        .changes
        .iter()
        .find(|c| c.symbol == "register_netdev")
        .expect("changed");
    assert_eq!(k.kind, ChangeKind::CrcChanged);
    assert_eq!(k.old.as_ref().unwrap().crc, Crc(0x090c094b));
    assert_eq!(k.new.as_ref().unwrap().crc, Crc(0x638e12b9));
    assert!(c.changes.iter().all(|c| c.symbol != "__kmalloc"));
    assert_eq!(
        names(&c, ChangeKind::Removed),
        [
            "ip6_dst_lookup_tunnel",
            "ip_route_output_tunnel",
            "ufshcd_dealloc_host"
        ]
    );
    assert_eq!(
        names(&c, ChangeKind::Added),
        [
            "cdrom_probe_write_features",
            "dqgrab",
            "gether_attach_gadget",
            "gether_detach_gadget",
            "nf_ct_helper_expectfn_destroy",
            "udp_tunnel6_dst_lookup",
            "udp_tunnel_dst_lookup"
        ]
    );
}

#[test]
fn named_removals_and_additions_agree_with_the_files() {
    let old = load("6.1.0-47/amd64_none_amd64");
    let new = load("6.1.0-50/amd64_none_amd64");
    let c = compare(&old, &new, &IgnoreRules::default());
    for name in names(&c, ChangeKind::Removed) {
        assert!(old.get(name).is_some() && new.get(name).is_none(), "{name}");
    }
    for name in names(&c, ChangeKind::Added) {
        assert!(old.get(name).is_none() && new.get(name).is_some(), "{name}");
    }
}

#[test]
fn cloud_and_rt_47_to_50() {
    let s = diff("amd64_none_cloud-amd64").summary;
    assert_eq!((s.added, s.removed, s.crc_changed), (5, 2, 9_595));
    let s = diff("amd64_rt_amd64").summary;
    assert_eq!((s.added, s.removed, s.crc_changed), (7, 3, 18_697));
}

#[test]
fn ignoring_vmlinux_keeps_counts_and_moves_them_to_ignored() {
    let rules = IgnoreRules::parse(["module:vmlinux"]).unwrap();
    let c = compare(
        &load("6.1.0-47/amd64_none_amd64"),
        &load("6.1.0-50/amd64_none_amd64"),
        &rules,
    );
    assert_eq!(c.summary.crc_changed, 18_107);
    let in_vmlinux = |c: &&abibot::compare::Change| {
        c.new.as_ref().or(c.old.as_ref()).unwrap().module == "vmlinux"
    };
    let vmlinux = c.changes.iter().filter(in_vmlinux).count();
    assert!(vmlinux > 0);
    assert_eq!(c.summary.ignored, vmlinux);
    let breaking_elsewhere = c
        .changes
        .iter()
        .filter(|c| c.incompatible && !in_vmlinux(c))
        .count();
    assert_eq!(c.summary.incompatible, breaking_elsewhere);
    assert!(
        c.changes
            .iter()
            .filter(in_vmlinux)
            .all(|c| c.ignored_by.as_deref() == Some("module:vmlinux"))
    );
}
