//! The ELF reader on objects built here: vmlinux-like images linked by the C
//! toolchain (5.19+ `__kcrctab` labels, pre-5.19 absolute CRCs, stripped
//! images, ELF32 via `-m32`), and hand-written ELF32/ELF64 files in both byte
//! orders (no cross compiler needed).

mod elf_common;

use std::path::Path;
use std::process::Command;

use abibot::elf::{self, ElfErrorKind, ModuleInfo, ObjectKind, ReadOptions, VersionsSource};
use abibot::loadcheck::{self, Problem};
use abibot::symbols::{Crc, ExportKind, Symbol, SymbolSet};
use elf_common::*;

fn read(bytes: &[u8]) -> ModuleInfo {
    elf::read_bytes(bytes, "t.ko", "t", &ReadOptions::default()).unwrap()
}

/// `(name, crc, kind, namespace)` of an export.
type Summary = (String, u32, Option<ExportKind>, Option<String>);

/// The [`Summary`] of every export, in order.
fn summary(info: &ModuleInfo) -> Vec<Summary> {
    info.exports
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.crc.0,
                s.export.clone(),
                s.namespace.as_ref().map(ToString::to_string),
            )
        })
        .collect()
}

fn e(name: &str, crc: u32, kind: ExportKind, ns: Option<&str>) -> Summary {
    (name.into(), crc, Some(kind), ns.map(str::to_owned))
}

/// Assembles and links `source` into an executable with gcc.
fn link(dir: &Path, name: &str, source: &str, extra: &[&str]) -> Vec<u8> {
    let src = dir.join(format!("{name}.s"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let status = Command::new("gcc")
        .args([
            "-nostdlib",
            "-static",
            "-no-pie",
            "-Wl,--build-id=none",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("gcc is needed to build the vmlinux-like test images");
    assert!(status.success(), "gcc failed on {name}");
    std::fs::read(out).unwrap()
}

fn strip(dir: &Path, name: &str) -> Vec<u8> {
    let stripped = dir.join(format!("{name}.stripped"));
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(dir.join(name))
        .status()
        .expect("strip (binutils) is needed");
    assert!(status.success());
    std::fs::read(stripped).unwrap()
}

/// A 5.19+ vmlinux: `__crc_*` labels in `__kcrctab{,_gpl}`, PREL32 ksymtab
/// entries (or absolute pointers with `word`), namespaces in `__ksymtab_strings`.
/// As in a real vmlinux, the tables are in name order (the linker script
/// sorts them) while the `__crc_*` labels are created in modpost's order
/// (here foo, bar, baz), which differs from both table and name order.
fn modern_vmlinux(prel32: bool) -> String {
    let entry = |sym: &str| {
        if prel32 {
            format!(".long {sym} - ., __kstrtab_{sym} - ., __kstrtabns_{sym} - .")
        } else {
            format!(".long {sym}, __kstrtab_{sym}, __kstrtabns_{sym}")
        }
    };
    format!(
        r#"
    .text
    .globl _start
_start: ret
    .globl foo, bar, baz
foo: ret
bar: ret
baz: ret
    .section __ksymtab_strings,"a"
__kstrtab_foo: .asciz "foo"
__kstrtabns_foo: .asciz ""
__kstrtab_bar: .asciz "bar"
__kstrtabns_bar: .asciz "MY_NS"
__kstrtab_baz: .asciz "baz"
__kstrtabns_baz: .asciz ""
    .section __ksymtab,"a"
    .balign 4
__ksymtab_baz: {baz}
__ksymtab_foo: {foo}
    .section __ksymtab_gpl,"a"
    .balign 4
__ksymtab_bar: {bar}
    .section __kcrctab,"a"
    .balign 4
.Lcrc_baz: .long 0x33333333
.Lcrc_foo: .long 0x11111111
    .section __kcrctab_gpl,"a"
    .balign 4
.Lcrc_bar: .long 0x22222222
    .set __crc_foo, .Lcrc_foo
    .set __crc_bar, .Lcrc_bar
    .set __crc_baz, .Lcrc_baz
"#,
        foo = entry("foo"),
        bar = entry("bar"),
        baz = entry("baz"),
    )
}

/// The exports of `modern_vmlinux` in the given order of their names.
fn modern_exports(order: [&str; 3]) -> Vec<Summary> {
    let all = [
        e("foo", 0x11111111, ExportKind::Symbol, None),
        e("bar", 0x22222222, ExportKind::Gpl, Some("MY_NS")),
        e("baz", 0x33333333, ExportKind::Symbol, None),
    ];
    let by_name = |name: &str| all.iter().find(|s| s.0 == name).unwrap().clone();
    order.into_iter().map(by_name).collect()
}

#[test]
fn linked_vmlinux_with_kcrctab_labels_in_modpost_order() {
    let dir = tempfile::tempdir().unwrap();
    let image = link(dir.path(), "vmlinux", &modern_vmlinux(true), &[]);
    let info = read(&image);
    assert_eq!(info.kind, ObjectKind::Vmlinux);
    assert_eq!(info.module, "vmlinux");
    assert_eq!((info.class.bits, info.class.big_endian), (64, false));
    assert_eq!(summary(&info), modern_exports(["foo", "bar", "baz"]));
    assert!(info.exports.iter().all(|s| s.module == "vmlinux"));

    // Stripped, the exports come from the kernel's own tables, in table order.
    let stripped = read(&strip(dir.path(), "vmlinux"));
    assert_eq!(summary(&stripped), modern_exports(["baz", "foo", "bar"]));
}

#[test]
fn linked_elf32_vmlinux_with_absolute_ksymtab_pointers() {
    let dir = tempfile::tempdir().unwrap();
    let image = link(dir.path(), "vmlinux32", &modern_vmlinux(false), &["-m32"]);
    let info = read(&image);
    assert_eq!((info.class.bits, info.class.machine), (32, 3));
    assert_eq!(summary(&info), modern_exports(["foo", "bar", "baz"]));
    let stripped = read(&strip(dir.path(), "vmlinux32"));
    assert_eq!(summary(&stripped), modern_exports(["baz", "foo", "bar"]));
}

#[test]
fn linked_vmlinux_with_absolute_crc_symbols_before_5_19() {
    let source = r#"
    .text
    .globl _start
_start: ret
    .globl old_api, old_gpl_api
old_api: ret
old_gpl_api: ret
    .globl __crc_old_api, __crc_old_gpl_api
    .set __crc_old_api, 0x1234
    .set __crc_old_gpl_api, 0xdeadbeef
    .section __ksymtab_strings,"a"
__kstrtab_old_api: .asciz "old_api"
__kstrtab_old_gpl_api: .asciz "old_gpl_api"
    .section __ksymtab,"a"
    .globl __ksymtab_old_api
__ksymtab_old_api: .quad old_api, __kstrtab_old_api
    .section __ksymtab_gpl,"a"
    .globl __ksymtab_old_gpl_api
__ksymtab_old_gpl_api: .quad old_gpl_api, __kstrtab_old_gpl_api
"#;
    let dir = tempfile::tempdir().unwrap();
    let image = link(dir.path(), "old", source, &[]);
    let info = read(&image);
    // Global symbols come out of the linker in its own order.
    let mut got = summary(&info);
    got.sort();
    assert_eq!(
        got,
        [
            e("old_api", 0x1234, ExportKind::Symbol, None),
            e("old_gpl_api", 0xdeadbeef, ExportKind::Gpl, None),
        ]
    );
}

fn sample_exports() -> Vec<Export<'static>> {
    vec![
        Export {
            name: "alpha",
            crc: 0xa1a2a3a4,
            gpl: false,
            namespace: "",
        },
        Export {
            name: "beta",
            crc: 0xb1b2b3b4,
            gpl: true,
            namespace: "BETA_NS",
        },
        Export {
            name: "gamma",
            crc: 0x01020304,
            gpl: false,
            namespace: "",
        },
    ]
}

fn kernel_set(entries: &[(&str, u32, ExportKind, Option<&str>)]) -> SymbolSet {
    SymbolSet::from_symbols(
        entries
            .iter()
            .map(|(n, c, k, ns)| Symbol {
                name: (*n).into(),
                crc: Crc(*c),
                module: "vmlinux".into(),
                export: Some(k.clone()),
                namespace: ns.map(Into::into),
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn handwritten_modules_in_all_four_classes_and_byte_orders() {
    for (is64, big, machine) in [
        (false, false, 3u16),
        (false, true, 20),
        (true, false, 62),
        (true, true, 21),
    ] {
        let what = format!(
            "ELF{} {}",
            if is64 { 64 } else { 32 },
            if big { "BE" } else { "LE" }
        );
        let obj = module(
            is64,
            big,
            machine,
            &sample_exports(),
            &[
                ("printk", 0x0badcafe),
                ("ns_func", 0x00c0ffee),
                ("gpl_func", 0x12345678),
            ],
            "license=GPL;name=sample;vermagic=6.1.0 SMP mod_unload modversions ;import_ns=OTHER;import_ns=THEIR_NS;depends=a,b",
            &["printk", "ns_func", "gpl_func"],
        );
        let info = read(&obj.build());
        assert_eq!(
            (info.class.bits == 64, info.class.big_endian),
            (is64, big),
            "{what}"
        );
        // Within one section in symbol order: __kcrctab's labels come first.
        assert_eq!(
            summary(&info),
            [
                e("alpha", 0xa1a2a3a4, ExportKind::Symbol, None),
                e("gamma", 0x01020304, ExportKind::Symbol, None),
                e("beta", 0xb1b2b3b4, ExportKind::Gpl, Some("BETA_NS")),
            ],
            "{what}"
        );
        let versions: Vec<(&str, u64)> = info
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.crc))
            .collect();
        assert_eq!(
            versions,
            [
                ("printk", 0x0badcafe),
                ("ns_func", 0x00c0ffee),
                ("gpl_func", 0x12345678)
            ],
            "{what}"
        );
        assert_eq!(info.versions_source, VersionsSource::Versions);
        assert_eq!(info.modinfo.import_ns, ["OTHER", "THEIR_NS"]);
        assert_eq!(info.modinfo.depends, ["a", "b"]);
        assert_eq!(info.name(), "sample");

        let mut kernel = vec![
            ("printk", 0x0badcafe, ExportKind::Symbol, None),
            ("ns_func", 0x00c0ffee, ExportKind::Symbol, Some("THEIR_NS")),
            ("gpl_func", 0x12345678, ExportKind::Gpl, None),
        ];
        let report = loadcheck::check(
            &info,
            &kernel_set(&kernel),
            Some("6.1.0 SMP mod_unload modversions "),
        );
        assert!(
            report.loads && report.findings.is_empty(),
            "{what}: {report:?}"
        );

        kernel[0].1 = 0x0badcaff;
        kernel[1].3 = Some("ELSEWHERE");
        let report = loadcheck::check(&info, &kernel_set(&kernel), None);
        let kinds: Vec<&Problem> = report.findings.iter().map(|f| &f.problem).collect();
        assert!(
            matches!(
                kinds.as_slice(),
                [
                    Problem::CrcMismatch { symbol: a, module_crc: 0x0badcafe, kernel_crc: Crc(0x0badcaff), .. },
                    Problem::NamespaceNotImported { symbol: b, namespace: n, .. },
                ] if a == "printk" && b == "ns_func" && n == "ELSEWHERE"
            ),
            "{what}: {kinds:?}"
        );
        kernel.remove(2);
        let report = loadcheck::check(&info, &kernel_set(&kernel), None);
        assert!(report.findings.iter().any(|f| f.problem
            == Problem::MissingSymbol {
                symbol: "gpl_func".into()
            }));
    }
}

#[test]
fn a_versions_crc_with_high_bits_never_matches() {
    let obj = importer(true, true, 21, &[("printk", 0x1_0badcafe)]);
    let info = read(&obj.build());
    assert_eq!(info.versions[0].crc, 0x1_0badcafe);
    let report = loadcheck::check(
        &info,
        &kernel_set(&[("printk", 0x0badcafe, ExportKind::Symbol, None)]),
        None,
    );
    assert!(!report.loads);
}

#[test]
fn handwritten_stripped_elf32_big_endian_vmlinux() {
    // An ELF32 BE image without symbols: struct kernel_symbol with absolute
    // 32-bit pointers (value, name, namespace) into __ksymtab_strings.
    let strings_addr = 0xc010_0000u64;
    let names = b"one\0\0two\0TWO_NS\0";
    let mut obj = Obj::new(false, true, ET_EXEC, 20);
    obj.stripped = true;
    obj.section("__ksymtab_strings", strings_addr, names.to_vec());
    let ptr = |off: u64| enc32(true, (strings_addr + off) as u32);
    let mut ksymtab = Vec::new();
    ksymtab.extend(enc32(true, 0xc000_1000));
    ksymtab.extend(ptr(0));
    ksymtab.extend(ptr(4)); // "" -> no namespace
    let mut gpl = Vec::new();
    gpl.extend(enc32(true, 0xc000_2000));
    gpl.extend(ptr(5));
    gpl.extend(ptr(9));
    obj.section("__ksymtab", 0xc020_0000, ksymtab);
    obj.section("__ksymtab_gpl", 0xc020_1000, gpl);
    obj.section("__kcrctab", 0xc020_2000, enc32(true, 0x0a0b0c0d).to_vec());
    obj.section(
        "__kcrctab_gpl",
        0xc020_3000,
        enc32(true, 0xfeedf00d).to_vec(),
    );
    let info = read(&obj.build());
    assert_eq!(
        (info.class.bits, info.class.big_endian, info.kind),
        (32, true, ObjectKind::Vmlinux)
    );
    assert_eq!(
        summary(&info),
        [
            e("one", 0x0a0b0c0d, ExportKind::Symbol, None),
            e("two", 0xfeedf00d, ExportKind::Gpl, Some("TWO_NS"))
        ]
    );
}

#[test]
fn handwritten_elf64_big_endian_vmlinux_with_crc_labels_at_addresses() {
    let mut obj = Obj::new(true, true, ET_EXEC, 21);
    let crc = obj.section(
        "__kcrctab_gpl",
        0xc000_0000_0010_0000,
        [enc32(true, 0x11), enc32(true, 0x22)].concat(),
    );
    let strings = obj.section(
        "__ksymtab_strings",
        0xc000_0000_0020_0000,
        b"x\0NS_X\0".to_vec(),
    );
    obj.symbol("__crc_second", 0xc000_0000_0010_0004, crc, STB_LOCAL);
    obj.symbol("__crc_first", 0xc000_0000_0010_0000, crc, STB_LOCAL);
    obj.symbol(
        "__kstrtabns_second",
        0xc000_0000_0020_0002,
        strings,
        STB_LOCAL,
    );
    let info = read(&obj.build());
    assert_eq!(
        summary(&info),
        [
            e("second", 0x22, ExportKind::Gpl, Some("NS_X")),
            e("first", 0x11, ExportKind::Gpl, None)
        ]
    );
}

#[test]
fn extended_modversions_take_precedence_over_versions() {
    let mut obj = importer(true, false, 62, &[("short_name", 0x1)]);
    let long = "a_symbol_name_longer_than_the_fifty_six_bytes_a_versions_entry_holds";
    obj.section(
        "__version_ext_crcs",
        0,
        [enc32(false, 0xaaaa), enc32(false, 0xbbbb)].concat(),
    );
    obj.section(
        "__version_ext_names",
        0,
        format!("short_name\0{long}\0").into_bytes(),
    );
    obj.symbol(long, 0, SHN_UNDEF, STB_GLOBAL);
    let info = read(&obj.build());
    assert_eq!(info.versions_source, VersionsSource::Extended);
    let versions: Vec<(&str, u64)> = info
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.crc))
        .collect();
    assert_eq!(versions, [("short_name", 0xaaaa), (long, 0xbbbb)]);
    let kernel = kernel_set(&[
        ("short_name", 0xaaaa, ExportKind::Symbol, None),
        (long, 0xbbbb, ExportKind::Symbol, None),
    ]);
    assert!(loadcheck::check(&info, &kernel, None).findings.is_empty());

    let mut short = module(true, false, 62, &[], &[], "", &[]);
    short.section(
        "__version_ext_crcs",
        0,
        [enc32(false, 1), enc32(false, 2)].concat(),
    );
    short.section("__version_ext_names", 0, b"only_one\0".to_vec());
    let err =
        elf::read_bytes(&short.build(), "short.ko", "short", &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(err.kind, ElfErrorKind::BadSection { ref section, .. } if section == "__version_ext_names"),
        "{err}"
    );
}

#[test]
fn export_records_of_unlinked_objects_give_kind_and_namespace() {
    let mut obj = Obj::new(true, false, ET_REL, 62);
    let records = obj.section(".export_symbol", 0, b"GPL\0SOME_NS\0\0\0".to_vec());
    obj.symbol("__export_symbol_gpl_one", 0, records, STB_LOCAL);
    obj.symbol("__export_symbol_plain_one", 12, records, STB_LOCAL);
    let info = read(&obj.build());
    assert_eq!(
        summary(&info),
        [
            e("gpl_one", 0, ExportKind::Gpl, Some("SOME_NS")),
            e("plain_one", 0, ExportKind::Symbol, None)
        ]
    );
}

#[test]
fn weak_and_ignored_undefined_symbols_may_stay_unresolved() {
    let mut obj = importer(true, false, 62, &[("strong", 5)]);
    obj.symbol("maybe_there", 0, SHN_UNDEF, STB_WEAK);
    obj.symbol("_GLOBAL_OFFSET_TABLE_", 0, SHN_UNDEF, STB_GLOBAL);
    let info = read(&obj.build());
    let kernel = kernel_set(&[("strong", 5, ExportKind::Symbol, None)]);
    let report = loadcheck::check(&info, &kernel, None);
    assert!(report.loads && report.findings.is_empty(), "{report:?}");
    assert_eq!(report.imports_checked, 2);
}

#[test]
fn a_module_without_versions_or_vermagic_is_refused() {
    let mut obj = module(true, false, 62, &[], &[], "license=GPL", &["printk"]);
    obj.sections.retain(|s| s.name != "__versions");
    let info = read(&obj.build());
    assert_eq!(info.versions_source, VersionsSource::None);
    let report = loadcheck::check(
        &info,
        &kernel_set(&[("printk", 1, ExportKind::Symbol, None)]),
        None,
    );
    let problems: Vec<&Problem> = report.findings.iter().map(|f| &f.problem).collect();
    assert_eq!(problems, [&Problem::MissingVermagic, &Problem::NoVersions]);
    // An unversioned kernel (all CRCs 0) checks no versions.
    let report = loadcheck::check(
        &info,
        &kernel_set(&[("printk", 0, ExportKind::Symbol, None)]),
        None,
    );
    let problems: Vec<&Problem> = report.findings.iter().map(|f| &f.problem).collect();
    assert_eq!(problems, [&Problem::MissingVermagic]);
}

#[test]
fn exporting_a_symbol_someone_else_exports_is_refused() {
    let obj = module(
        true,
        false,
        62,
        &sample_exports(),
        &[],
        "license=GPL;name=sample;vermagic=x",
        &[],
    );
    let info = read(&obj.build());
    let kernel = kernel_set(&[("alpha", 1, ExportKind::Symbol, None)]);
    let report = loadcheck::check(&info, &kernel, None);
    assert_eq!(
        report
            .findings
            .iter()
            .map(|f| &f.problem)
            .collect::<Vec<_>>(),
        [&Problem::DuplicateExport {
            symbol: "alpha".into(),
            exporter: "vmlinux".into()
        }]
    );
    // Its own exports, as listed in its own kernel's Module.symvers, are fine.
    let mut own = info.exports.clone();
    for s in &mut own {
        s.module = "drivers/misc/sample".into();
    }
    assert!(loadcheck::check(&info, &SymbolSet::from_symbols(own).unwrap(), None).loads);
}

#[test]
fn zstd_and_gzip_modules_read_like_plain_ones() {
    let plain = std::fs::read(data("modules/6.1.0-50/fat.ko")).unwrap();
    let expected = read(&plain);
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz = gz.finish().unwrap();
    for (bytes, kind) in [(zst, elf::Compression::Zstd), (gz, elf::Compression::Gzip)] {
        let info = read(&bytes);
        assert_eq!(info.compression, kind);
        assert_eq!(info.exports, expected.exports);
        assert_eq!(info.versions, expected.versions);
    }
}
