//! `extract` and `check-module` on Debian's real bookworm modules and
//! Module.symvers files (tests/data, taken unchanged from Debian's archive).

mod common;
mod elf_common;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use abibot::elf::{self, ModuleInfo, ReadOptions};
use abibot::formats::{self, Format};
use abibot::loadcheck::{self, Problem, Severity};
use abibot::symbols::SymbolSet;
use common::abibot;
use elf_common::data;

fn reference(rel: &str) -> SymbolSet {
    let path = data(&format!("abi/{rel}/amd64_none_amd64"));
    formats::parse(&std::fs::read(&path).unwrap(), None, "ref").unwrap()
}

fn reference_lines(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(data(&format!("abi/{rel}/amd64_none_amd64"))).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn module_files(abi: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data(&format!("modules/{abi}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "test data missing for {abi}");
    files
}

fn read_all(paths: &[PathBuf]) -> Vec<ModuleInfo> {
    let inputs = elf::collect_inputs(paths).unwrap();
    elf::read_inputs(&inputs, &ReadOptions::default())
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// Where each test module lives in the kernel tree (Module.symvers column).
fn tree_dir(stem: &str) -> &'static str {
    match stem {
        "fat" | "vfat" | "msdos" => "fs/fat",
        "uas" | "usb-storage" => "drivers/usb/storage",
        "dummy" => "drivers/net",
        other => panic!("no tree path known for {other}"),
    }
}

fn stem(path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    elf::module_stem(name).unwrap().to_owned()
}

/// Lays the modules out as an unpacked linux-image package:
/// `lib/modules/<release>/kernel/<tree path>.ko[.xz]`, with a
/// `modules.order` in the order the reference lists the modules.
fn installed_tree(abi: &str, files: &[PathBuf], reference: &[String]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let release = root.path().join(format!("lib/modules/{abi}-amd64"));
    let mut columns: Vec<String> = Vec::new();
    for f in files {
        let s = stem(f);
        let dir = release.join("kernel").join(tree_dir(&s));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        columns.push(format!("{}/{s}", tree_dir(&s)));
    }
    // The reference's module order, for those of our modules that export.
    let position = |c: &String| {
        reference
            .iter()
            .position(|l| l.split('\t').nth(2) == Some(c.as_str()))
            .unwrap_or(usize::MAX)
    };
    columns.sort_by_key(position);
    let order: String = columns.iter().map(|c| format!("kernel/{c}.ko\n")).collect();
    std::fs::write(release.join("modules.order"), order).unwrap();
    root
}

fn extract_text(infos: &[ModuleInfo]) -> String {
    let mut out = Vec::new();
    formats::write(
        infos.iter().flat_map(|i| &i.exports),
        Format::Symvers,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn expected_lines(reference: &[String], columns: &BTreeSet<String>) -> String {
    reference
        .iter()
        .filter(|l| l.split('\t').nth(2).is_some_and(|m| columns.contains(m)))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn modules_6_1_load_against_their_own_reference_without_any_finding() {
    let against = reference("6.1.0-50");
    let infos = read_all(&module_files("6.1.0-50"));
    for info in &infos {
        assert!(
            info.signature.is_some(),
            "{}: Debian signs modules",
            info.path
        );
        assert!(!info.versions.is_empty());
        // The data README: every imported CRC equals the reference's.
        for v in &info.versions {
            let s = against
                .get(&v.name)
                .unwrap_or_else(|| panic!("{} imports unknown {}", info.path, v.name));
            assert_eq!(v.crc, u64::from(s.crc.0), "{}: {}", info.path, v.name);
        }
        let report = loadcheck::check(info, &against, None);
        assert!(report.loads, "{report:?}");
        assert_eq!(report.findings, vec![], "{}", info.path);
        // Every undefined symbol plus module_layout, and nothing else.
        assert_eq!(report.imports_checked, info.versions.len(), "{}", info.path);
    }
}

#[test]
fn exports_6_1_match_the_reference_line_for_line_in_modpost_order() {
    let reference = reference_lines("6.1.0-50");
    let files = module_files("6.1.0-50");
    let tree = installed_tree("6.1.0-50", &files, &reference);
    let infos = read_all(&[tree.path().to_path_buf()]);
    assert_eq!(infos.len(), files.len());
    let columns: BTreeSet<String> = infos.iter().map(|i| i.module.clone()).collect();
    assert!(columns.contains("fs/fat/fat") && columns.contains("drivers/usb/storage/usb-storage"));
    let expected = expected_lines(&reference, &columns);
    assert_eq!(
        expected.lines().count(),
        21 + 25,
        "fat and usb-storage export 46 symbols"
    );
    assert_eq!(extract_text(&infos), expected);
}

#[test]
fn exports_6_12_xz_match_the_reference_line_for_line() {
    let reference = reference_lines("6.12.117+deb12");
    let files = module_files("6.12.117+deb12");
    let tree = installed_tree("6.12.117+deb12", &files, &reference);
    let infos = read_all(&[tree.path().to_path_buf()]);
    assert!(infos.iter().all(|i| i.compression == elf::Compression::Xz));
    let columns: BTreeSet<String> = infos.iter().map(|i| i.module.clone()).collect();
    let expected = expected_lines(&reference, &columns);
    assert_eq!(expected.lines().count(), 26 + 25);
    assert!(expected.contains("\tEXPORT_SYMBOL_GPL\tUSB_STORAGE\n"));
    assert_eq!(extract_text(&infos), expected);
}

#[test]
fn files_named_directly_keep_each_modules_own_order() {
    let reference = reference_lines("6.1.0-50");
    for file in module_files("6.1.0-50") {
        let info = &read_all(std::slice::from_ref(&file))[0];
        // Named directly, a file outside lib/modules is called by its name.
        assert_eq!(info.module, stem(&file));
        let column = format!("{}/{}", tree_dir(&stem(&file)), stem(&file));
        let expected: Vec<String> = reference
            .iter()
            .filter(|l| l.split('\t').nth(2) == Some(column.as_str()))
            .map(|l| l.replacen(&format!("\t{column}\t"), &format!("\t{}\t", stem(&file)), 1))
            .collect();
        let got: Vec<String> = extract_text(std::slice::from_ref(info))
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(got, expected, "{}", file.display());
    }
}

/// `__versions` read with goblin's own section table, independently of abibot.
fn versions_independently(path: &Path) -> Vec<(String, u64)> {
    let bytes = std::fs::read(path).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    let section = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("__versions"))
        .unwrap();
    let raw = &bytes[section.sh_offset as usize..][..section.sh_size as usize];
    raw.chunks(64)
        .map(|e| {
            let crc = u64::from_le_bytes(e[..8].try_into().unwrap());
            let name = e[8..].split(|&b| b == 0).next().unwrap();
            (String::from_utf8(name.to_vec()).unwrap(), crc)
        })
        .collect()
}

#[test]
fn against_6_1_0_47_exactly_the_imports_whose_crc_changed_are_reported() {
    let (old, new) = (reference("6.1.0-47"), reference("6.1.0-50"));
    let mut total = 0;
    for file in module_files("6.1.0-50") {
        let imports = versions_independently(&file);
        let mut expected = BTreeSet::new();
        for (name, _) in &imports {
            match (old.get(name), new.get(name)) {
                (None, _) => {
                    expected.insert(("missing", name.clone()));
                }
                (Some(o), Some(n)) if o.crc != n.crc => {
                    expected.insert(("crc", name.clone()));
                }
                _ => {}
            }
        }
        let info = &read_all(std::slice::from_ref(&file))[0];
        let report = loadcheck::check(info, &old, None);
        let got: BTreeSet<(&str, String)> = report
            .findings
            .iter()
            .map(|f| match &f.problem {
                Problem::CrcMismatch {
                    symbol,
                    kernel_crc,
                    module_crc,
                    ..
                } => {
                    assert_eq!(Some(*kernel_crc), old.get(symbol).map(|s| s.crc));
                    assert_eq!(*module_crc, u64::from(new.get(symbol).unwrap().crc.0));
                    ("crc", symbol.clone())
                }
                Problem::MissingSymbol { symbol } => ("missing", symbol.clone()),
                other => panic!("unexpected finding {other:?}"),
            })
            .collect();
        assert_eq!(got, expected, "{}", file.display());
        assert_eq!(report.loads, expected.is_empty());
        total += expected.len();
    }
    // 18,107 CRCs changed between the two: these modules must be hit.
    assert!(total > 50, "only {total} mismatches");
}

#[test]
fn modules_6_12_load_and_uas_needs_its_namespace_import() {
    let against = reference("6.12.117+deb12");
    let infos = read_all(&module_files("6.12.117+deb12"));
    for info in &infos {
        let report = loadcheck::check(info, &against, None);
        assert!(report.loads && report.findings.is_empty(), "{report:?}");
    }
    let uas = infos.iter().find(|i| i.name() == "uas").unwrap();
    assert_eq!(uas.modinfo.import_ns, ["USB_STORAGE"]);
    let namespaced: BTreeSet<String> = uas
        .undefined
        .iter()
        .filter(|u| {
            against.get(&u.name).and_then(|s| s.namespace.as_deref()) == Some("USB_STORAGE")
        })
        .map(|u| u.name.clone())
        .collect();
    assert!(
        !namespaced.is_empty(),
        "uas uses usb-storage's namespaced exports"
    );

    // A copy whose import_ns names another namespace, recompressed as .ko.xz.
    let path = data("modules/6.12.117+deb12/uas.ko.xz");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut xz2::read::XzDecoder::new(std::fs::File::open(&path).unwrap()),
        &mut plain,
    )
    .unwrap();
    let needle = b"import_ns=USB_STORAGE\0";
    let at = plain
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    plain[at..at + needle.len()].copy_from_slice(b"import_ns=USB_STORAGX\0");
    let dir = tempfile::tempdir().unwrap();
    let patched = dir.path().join("uas.ko.xz");
    let mut enc = xz2::write::XzEncoder::new(std::fs::File::create(&patched).unwrap(), 1);
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();

    let info =
        elf::read_file(&patched, "drivers/usb/storage/uas", &ReadOptions::default()).unwrap();
    assert_eq!(info.modinfo.import_ns, ["USB_STORAGX"]);
    let report = loadcheck::check(&info, &against, None);
    assert!(!report.loads);
    let reported: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| match &f.problem {
            Problem::NamespaceNotImported {
                symbol,
                namespace,
                exporter,
            } => {
                assert_eq!(f.severity, Severity::Error);
                assert_eq!(namespace, "USB_STORAGE");
                assert_eq!(exporter, "drivers/usb/storage/usb-storage");
                symbol.clone()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(reported, namespaced);
}

#[test]
fn vermagic_release_difference_warns_and_flag_difference_refuses() {
    let against = reference("6.1.0-50");
    let info = &read_all(&[data("modules/6.1.0-50/vfat.ko")])[0];
    let same = "6.1.0-50-amd64 SMP preempt mod_unload modversions ";
    assert_eq!(info.modinfo.vermagic.as_deref(), Some(same));
    assert!(
        loadcheck::check(info, &against, Some(same))
            .findings
            .is_empty()
    );

    let other_release = loadcheck::check(
        info,
        &against,
        Some("6.1.0-47-amd64 SMP preempt mod_unload modversions "),
    );
    assert!(other_release.loads);
    assert!(matches!(
        other_release.findings.as_slice(),
        [f] if f.severity == Severity::Warning && matches!(f.problem, Problem::VermagicMismatch { accepted: true, .. })
    ));
    let other_flags = loadcheck::check(
        info,
        &against,
        Some("6.1.0-50-amd64 SMP mod_unload modversions "),
    );
    assert!(!other_flags.loads);
}

#[test]
fn a_gpl_only_import_refuses_a_proprietary_module() {
    let against = reference("6.1.0-50");
    let mut info = read_all(&[data("modules/6.1.0-50/uas.ko")]).remove(0);
    let gpl_imports: Vec<String> = info
        .undefined
        .iter()
        .filter(|u| {
            against
                .get(&u.name)
                .and_then(|s| s.export.as_ref())
                .and_then(|e| e.gpl_only())
                == Some(true)
        })
        .map(|u| u.name.clone())
        .collect();
    assert!(!gpl_imports.is_empty());
    info.modinfo.license = Some("Proprietary".into());
    let report = loadcheck::check(&info, &against, None);
    let refused: Vec<String> = report
        .findings
        .iter()
        .filter_map(|f| match &f.problem {
            Problem::GplOnly { symbol, .. } => Some(symbol.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refused, gpl_imports);
    assert!(!report.loads);
    info.modinfo.license = Some("Dual MIT/GPL".into());
    assert!(loadcheck::check(&info, &against, None).loads);
}

#[test]
fn cli_exit_codes_and_outputs() {
    let modules = data("modules/6.1.0-50");
    let m = modules.to_str().unwrap();
    let r50 = data("abi/6.1.0-50/amd64_none_amd64");
    let r47 = data("abi/6.1.0-47/amd64_none_amd64");

    let (code, out, _) = abibot(&["check-module", m, "--against", r50.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("6 module(s) checked, 0 would not load"),
        "{out}"
    );

    let (code, out, _) = abibot(&[
        "check-module",
        m,
        "--against",
        r47.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["loads"], false);
    let first = &json["modules"][0]["findings"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["kind"], "crc_mismatch");

    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("Module.symvers");
    let fat = data("modules/6.1.0-50/fat.ko");
    let (code, stdout, _) = abibot(&[
        "extract",
        fat.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(written.lines().count(), 21);
    assert!(written.starts_with("0x3a4259aa\tfat_search_long\tfat\tEXPORT_SYMBOL_GPL\t\n"));

    let (code, out, _) = abibot(&["extract", "--format", "json", fat.to_str().unwrap()]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["name"], "fat_search_long");
    assert_eq!(json[0]["crc"], "0x3a4259aa");

    let junk = dir.path().join("junk.ko");
    std::fs::write(&junk, b"not an elf file at all").unwrap();
    let (code, out, err) = abibot(&["extract", fat.to_str().unwrap(), junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    // What could be read is printed; the bad file is named (issue 10).
    assert_eq!(
        out.lines().count(),
        21,
        "the readable file is still printed"
    );
    assert!(err.contains("junk.ko: not an ELF file"), "{err}");

    let (code, _, err) = abibot(&[
        "check-module",
        "/nonexistent.ko",
        "--against",
        r50.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.ko"), "{err}");
}

#[test]
fn every_versions_entry_is_an_undefined_symbol_or_module_layout() {
    for file in module_files("6.1.0-50") {
        let info = &read_all(std::slice::from_ref(&file))[0];
        let undefined: HashMap<&str, bool> = info
            .undefined
            .iter()
            .map(|u| (u.name.as_str(), u.weak))
            .collect();
        for v in &info.versions {
            assert!(
                v.name == "module_layout" || undefined.contains_key(v.name.as_str()),
                "{}",
                v.name
            );
        }
        assert_eq!(info.versions.len(), undefined.len() + 1);
    }
}
