//! The cheap skip holds for every layout: a commit that touches none of a
//! layout's inputs costs a few tree lookups (one per input), never a layout
//! read, and the findings are those of the same history without it.

mod common;

use abibot::findings::FindingKind;
use abibot::history::WalkOptions;
use abibot::layouts::Layout;
use common::{TestRepo, changelog, defines, generic_options, kabi_entry, scan_counted, symvers};

/// Unrelated commits before and after the commit that breaks the ABI.
const UNRELATED: usize = 25;

/// What a walk of a whole history found and cost.
#[derive(Debug)]
struct Walked {
    findings: Vec<(FindingKind, String, String)>,
    touching: usize,
    snapshots: usize,
    lookups: usize,
}

fn walk(repo: &TestRepo, options: WalkOptions) -> Walked {
    let scanned = scan_counted(repo, options);
    let report = scanned.report;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    Walked {
        findings: report
            .findings
            .iter()
            .map(|f| (f.kind, f.title.clone(), f.abi.to_string()))
            .collect(),
        touching: report.stats.commits_touching_references,
        snapshots: scanned.snapshots,
        lookups: scanned.lookups,
    }
}

/// One layout's history: `setup` staged and committed, `unrelated`
/// commits each changing only `noise`, `change` committed as "Break", and
/// `unrelated` more.
struct Case {
    setup: fn(&TestRepo),
    change: fn(&TestRepo),
    noise: &'static str,
    options: fn() -> WalkOptions,
}

impl Case {
    fn history(&self, unrelated: usize) -> TestRepo {
        let r = TestRepo::new();
        (self.setup)(&r);
        r.commit("base");
        let mut n = 0;
        let mut noise = |r: &TestRepo| {
            for _ in 0..unrelated {
                n += 1;
                r.write(self.noise, format!("edit {n}\n"));
                r.commit(&format!("Unrelated {n}"));
            }
        };
        noise(&r);
        (self.change)(&r);
        r.commit("Break");
        noise(&r);
        r
    }

    /// Walks the history with and without the unrelated commits: same
    /// findings, same layout reads, and `per_commit` lookups each.
    fn check(&self, abi: &str, per_commit: usize) {
        let quiet = walk(&self.history(0), (self.options)());
        let busy = walk(&self.history(UNRELATED), (self.options)());
        let expected = [(FindingKind::HiddenBreak, "Break".into(), abi.into())];
        assert_eq!(quiet.findings, expected);
        assert_eq!(busy.findings, quiet.findings);
        assert_eq!((busy.touching, busy.snapshots), (2, 2), "{busy:?}");
        assert_eq!(
            busy.lookups - quiet.lookups,
            per_commit * 2 * UNRELATED,
            "tree lookups per unrelated commit: {busy:?} against {quiet:?}"
        );
    }
}

#[test]
fn debian_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write("debian/changelog", changelog("6.1.170-3", "a"));
            r.write("debian/config/defines", defines("47", &[]));
            let set = symvers(&[("a", 1), ("b", 2)]);
            r.write("debian/abi/6.1.0-47/amd64_none_amd64", set);
            r.write("debian/rules", "#!/usr/bin/make -f\n");
        },
        change: |r| {
            let set = symvers(&[("a", 1), ("b", 3)]);
            r.write("debian/abi/6.1.0-47/amd64_none_amd64", set);
        },
        noise: "debian/rules",
        options: WalkOptions::default,
    }
    .check("6.1.0-47", 3);
}

fn ubuntu(crc: u32) -> String {
    format!("EXPORT_SYMBOL vmlinux 0x00000001 a\nEXPORT_SYMBOL_GPL vmlinux 0x{crc:08x} b\n")
}

#[test]
fn ubuntu_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write("debian/debian.env", "DEBIAN=debian.master\n");
            r.write("debian.master/abi/version", "5.15.0-91.101\n");
            r.write("debian.master/abi/amd64/generic", ubuntu(2));
            r.write("debian.master/control.stub", "Source: linux\n");
        },
        change: |r| {
            r.write("debian.master/abi/amd64/generic", ubuntu(3));
        },
        noise: "debian.master/control.stub",
        options: WalkOptions::default,
    }
    // The branch's abi/ and changelog, and debian/debian.env.
    .check("5.15.0-91", 3);
}

#[test]
fn ubuntu_forced_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write("debian.hwe/abi/version", "5.15.0-91.101\n");
            r.write("debian.hwe/abi/amd64/generic", ubuntu(2));
        },
        change: |r| {
            r.write("debian.hwe/abi/amd64/generic", ubuntu(3));
        },
        noise: "drivers/net/dummy.c",
        options: || WalkOptions {
            layout: Layout::named("ubuntu", ""),
            ..WalkOptions::default()
        },
    }
    .check("5.15.0-91", 3);
}

#[test]
fn redhat_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
            let dir = "redhat/kabi/kabi-module/kabi_x86_64";
            r.write(&format!("{dir}/kfree"), kabi_entry(2, "kfree"));
            r.write("redhat/kernel.spec.template", "Name: kernel\n");
        },
        change: |r| {
            let dir = "redhat/kabi/kabi-module/kabi_x86_64";
            r.write(&format!("{dir}/kfree"), kabi_entry(9, "kfree"));
        },
        noise: "redhat/kernel.spec.template",
        options: WalkOptions::default,
    }
    .check("9.4", 2);
}

#[test]
fn suse_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write(
                "rpm/config.sh",
                "SRCVERSION=6.4\nIBS_PROJECT=SUSE:SLE-15-SP6:Update\n",
            );
            r.write("kabi/severities", "drivers/staging/*\tPASS\n");
            r.write(
                "kabi/x86_64/symvers-default",
                symvers(&[("a", 1), ("b", 2)]),
            );
            r.write("series.conf", "patches.suse/a.patch\n");
        },
        change: |r| {
            r.write(
                "kabi/x86_64/symvers-default",
                symvers(&[("a", 1), ("b", 3)]),
            );
        },
        noise: "series.conf",
        options: WalkOptions::default,
    }
    // kabi/ and rpm/config.sh.
    .check("6.4@SUSE:SLE-15-SP6", 2);
}

#[test]
fn generic_skips_unrelated_commits() {
    Case {
        setup: |r| {
            r.write("VERSION", "ABI_NAME = 7\n");
            r.write("abi/x86/default.symvers", symvers(&[("a", 1)]));
            r.write("src/main.c", "int main;\n");
        },
        change: |r| {
            r.write("abi/x86/default.symvers", symvers(&[("a", 2)]));
        },
        noise: "src/main.c",
        options: generic_options,
    }
    .check("7", 2);
}

#[test]
fn ubuntu_follows_a_branch_moved_in_debian_env() {
    let r = TestRepo::new();
    r.write("debian/debian.env", "DEBIAN=debian.master\n");
    for branch in ["debian.master", "debian.hwe"] {
        r.write(&format!("{branch}/abi/version"), "5.15.0-91.101\n");
    }
    r.write("debian.master/abi/amd64/generic", ubuntu(2));
    r.write("debian.hwe/abi/amd64/generic", ubuntu(3));
    r.commit("base");
    r.write("README", "unrelated\n");
    r.commit("Unrelated");
    r.write("debian/debian.env", "DEBIAN=debian.hwe\n");
    r.commit("Switch to hwe");
    let walked = walk(&r, WalkOptions::default());
    assert_eq!(
        walked.findings,
        [(
            FindingKind::HiddenBreak,
            "Switch to hwe".into(),
            "5.15.0-91".into()
        )]
    );
    assert_eq!((walked.touching, walked.snapshots), (2, 2), "{walked:?}");
}
