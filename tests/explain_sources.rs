//! Explanations from build output kept outside the packaging repository:
//! `diff --explain-debug` (the same flag as `--explain`, the form read from
//! each file), and the per-repository sources of `scan`, `scan --post` and
//! the daemon (`--symtypes-source`/`--debug-source`, `symtypes_source`/
//! `debug_source` in `[[repo]]`), filled for the commit that wrote each
//! side's reference.
//!
//! REQUIRES `gcc` on PATH (installed by `.ci/run`) for the debug-info
//! cases: objects are built from `tests/data/dwarf/` as tests/dwarf.rs does.
//!
//! The Debian history: 6.1.170-3 is released with ABI 6.1.0-47's reference
//! taken from its build; 6.1.171-1 is opened (UNRELEASED) and changes
//! nothing the reference says; then the reference is refreshed from a build
//! where `struct foo_dev` gained a member, still as 6.1.0-47. The refresh's
//! parent carries version 6.1.171-1 too: only the commit that wrote the old
//! reference (the release) tells the old build apart.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use abibot::history::explain::source::{BuildSources, Template};
use abibot::pipeline::RepoSpec;
use abibot::symtypes::{crc::all_crcs, load_bytes};
use common::{
    TestRepo, abibot, changelog, changelog_to, daemon_once_then_post, defines, post_args,
};

const FLAVOUR: &str = "amd64_none_amd64";
const REF: &str = "debian/abi/6.1.0-47/amd64_none_amd64";
const OLD_VERSION: &str = "6.1.170-3";
const NEW_VERSION: &str = "6.1.171-1";
/// Where the build farm keeps symtypes, under a test's directory.
const SYMTYPES_TEMPLATE: &str = "{abi}/{version}/{arch}_{featureset}_{flavour}.symtypes";

/// Consolidated symtypes: `foo_xmit` takes a `struct foo_dev` of `body`.
fn symtypes(body: &str) -> String {
    format!(
        "/* drivers/net/foo.symtypes */\n\
         s#foo_dev struct foo_dev {{ {body} }}\n\
         foo_xmit int foo_xmit ( s#foo_dev * )\n\
         foo_stats int foo_stats ( void )\n"
    )
}

const OLD_BODY: &str = "int len ;";
const NEW_BODY: &str = "int len ; long queued ;";

/// Module.symvers with the CRCs genksyms computes from `types`.
fn symvers_of(types: &str) -> String {
    let st = load_bytes("test", types.as_bytes()).expect("valid symtypes");
    let crcs: BTreeMap<String, u32> = all_crcs(&st)
        .expect("CRCs")
        .iter()
        .map(|c| (st.names.text(c.symbol).to_owned(), c.crc))
        .collect();
    crcs.iter()
        .map(|(name, crc)| format!("0x{crc:08x}\t{name}\tdrivers/net/foo\tEXPORT_SYMBOL\t\n"))
        .collect()
}

/// Release, opening of the next version, refresh (the hidden break): each
/// reference is `reference(body)` of the build it was taken from.
fn history(reference: impl Fn(&str) -> String) -> TestRepo {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog(OLD_VERSION, "release"));
    r.write("debian/config/defines", defines("47", &[]));
    r.write(REF, reference(OLD_BODY));
    r.commit("Release 6.1.170-3");
    r.write(
        "debian/changelog",
        changelog_to(NEW_VERSION, "UNRELEASED", "next"),
    );
    r.commit("Open 6.1.171-1");
    r.write(REF, reference(NEW_BODY));
    r.commit("Refresh ABI reference files");
    r
}

/// The symtypes of both builds where [`SYMTYPES_TEMPLATE`] puts them.
fn symtypes_builds(dir: &Path) {
    for (version, body) in [(OLD_VERSION, OLD_BODY), (NEW_VERSION, NEW_BODY)] {
        let at = dir.join(format!("6.1.0-47/{version}/{FLAVOUR}.symtypes"));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, symtypes(body)).unwrap();
    }
}

fn template_under(dir: &Path, template: &str) -> String {
    format!("{}/{template}", dir.display())
}

/// `abibot scan --repo R --format F EXTRA...`.
fn scan(repo: &TestRepo, format: &str, extra: &[&str]) -> (i32, String, String) {
    let path = repo.path().to_str().unwrap();
    abibot(&[&["scan", "--repo", path, "--format", format], extra].concat())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The one hidden break of a scan's JSON.
fn the_break(doc: &serde_json::Value) -> &serde_json::Value {
    let breaks: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "hidden-break")
        .collect();
    assert_eq!(breaks.len(), 1, "{doc}");
    breaks[0]
}

/// An explanation's exports as (symbol, causes).
fn exports(explanation: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    explanation["exports"]
        .as_array()
        .unwrap_or_else(|| panic!("no exports: {explanation}"))
        .iter()
        .map(|e| {
            let causes = e["causes"].as_array().unwrap().iter().map(text).collect();
            (text(&e["symbol"]), causes)
        })
        .collect()
}

/// One export with its causes, as [`exports`] lists it.
fn one(symbol: &str, cause: &str) -> Vec<(String, Vec<String>)> {
    vec![(symbol.to_owned(), vec![cause.to_owned()])]
}

#[test]
fn scan_explains_from_the_builds_that_wrote_each_reference() {
    let repo = history(|body| symvers_of(&symtypes(body)));
    let builds = tempfile::tempdir().unwrap();
    symtypes_builds(builds.path());
    let template = template_under(builds.path(), SYMTYPES_TEMPLATE);
    let source = ["--symtypes-source", template.as_str()];
    let (code, out, err) = scan(&repo, "json", &source);
    assert_eq!(code, 1, "{err}");
    let doc = json(&out);
    assert_eq!(doc["errors"], serde_json::json!([]), "{out}");
    let finding = the_break(&doc);
    let ex = &finding["flavours"][0]["explanation"];
    // Only the export whose CRC changed, explained by the struct.
    assert_eq!(exports(ex), one("foo_xmit", "s#foo_dev"), "{ex}");
    assert_eq!(ex["causes"][0]["type"], "s#foo_dev");
    let (code, markdown, err) = scan(&repo, "markdown", &source);
    assert_eq!(code, 1, "{err}");
    assert!(
        markdown.contains("1 export changed because `s#foo_dev` gained `queued` after `len`"),
        "{markdown}"
    );
    // Without the source the same finding carries no explanation.
    let (_, plain, _) = scan(&repo, "json", &[]);
    let plain = json(&plain);
    assert!(the_break(&plain)["flavours"][0]["explanation"].is_null());
    assert_eq!(the_break(&plain)["id"], finding["id"]);
}

#[test]
fn a_missing_build_is_a_warning_naming_its_path_and_the_finding_stays() {
    let repo = history(|body| symvers_of(&symtypes(body)));
    let builds = tempfile::tempdir().unwrap();
    symtypes_builds(builds.path());
    let old = builds
        .path()
        .join(format!("6.1.0-47/{OLD_VERSION}/{FLAVOUR}.symtypes"));
    std::fs::remove_file(&old).unwrap();
    let template = template_under(builds.path(), SYMTYPES_TEMPLATE);
    let (code, out, err) = scan(&repo, "json", &["--symtypes-source", &template]);
    assert_eq!(code, 1, "{err}");
    let doc = json(&out);
    let finding = the_break(&doc);
    assert!(finding["flavours"][0]["explanation"].is_null(), "{out}");
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out}");
    let warning = &errors[0];
    assert_eq!(warning["severity"], "warning", "{warning}");
    assert_eq!(warning["commit"], finding["commit"], "{warning}");
    assert_eq!(warning["path"], old.display().to_string(), "{warning}");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .starts_with("no symtypes at "),
        "{warning}"
    );
}

#[test]
fn symtypes_that_do_not_reproduce_the_reference_are_not_used() {
    // The references' CRCs are not genksyms' of these symtypes: another build.
    let repo = history(|body| {
        let crc = if body == OLD_BODY { 1 } else { 2 };
        format!(
            "0x{crc:08x}\tfoo_xmit\tdrivers/net/foo\tEXPORT_SYMBOL\t\n\
             0x00000007\tfoo_stats\tdrivers/net/foo\tEXPORT_SYMBOL\t\n"
        )
    });
    let builds = tempfile::tempdir().unwrap();
    symtypes_builds(builds.path());
    let template = template_under(builds.path(), SYMTYPES_TEMPLATE);
    let (code, out, err) = scan(&repo, "json", &["--symtypes-source", &template]);
    assert_eq!(code, 1, "{err}");
    let doc = json(&out);
    assert!(the_break(&doc)["flavours"][0]["explanation"].is_null());
    let messages: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(!messages.is_empty(), "{out}");
    for message in messages {
        assert!(
            message.contains("do not reproduce the reference"),
            "{message}"
        );
    }
}

#[test]
fn a_template_that_cannot_tell_the_sides_apart_is_refused() {
    let repo = history(|body| symvers_of(&symtypes(body)));
    for (template, why) in [
        (
            "/srv/{abi}/{flavour}.symtypes",
            "neither {commit} nor {version}",
        ),
        (
            "/srv/{abi}/{flavor}-{version}",
            "unknown placeholder {flavor}",
        ),
    ] {
        let (code, _, err) = scan(&repo, "json", &["--symtypes-source", template]);
        assert_eq!(code, 2, "{template}");
        assert!(err.contains(why), "{template}: {err}");
    }
}

/// `gcc -gdwarf-5 -c` of `tests/data/dwarf/<source>` into `out`.
fn compile(source: &str, out: &Path) {
    common::gcc::compile(source, out, &["-gdwarf-5"]);
}

/// References for the gcc-built objects: `grows_get`'s CRC changes (its
/// `struct grows` gains a member), `plain_count`'s does not.
fn object_reference(new: bool) -> String {
    let grows = if new { 2 } else { 1 };
    format!(
        "0x{grows:08x}\tgrows_get\tvmlinux\tEXPORT_SYMBOL\t\n\
         0x00000005\tplain_count\tvmlinux\tEXPORT_SYMBOL\t\n"
    )
}

#[test]
fn diff_explain_debug_names_the_changed_type_from_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (old_o, new_o) = (dir.path().join("v1.o"), dir.path().join("v2.o"));
    compile("v1.c", &old_o);
    compile("v2.c", &new_o);
    let (old_ref, new_ref) = (
        dir.path().join("old.symvers"),
        dir.path().join("new.symvers"),
    );
    std::fs::write(&old_ref, object_reference(false)).unwrap();
    std::fs::write(&new_ref, object_reference(true)).unwrap();
    let p = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let run = |flag: &str, format: &str| {
        let (code, out, err) = abibot(&[
            "diff",
            &p(&old_ref),
            &p(&new_ref),
            flag,
            &p(&old_o),
            &p(&new_o),
            "--format",
            format,
        ]);
        assert_eq!(code, 1, "{err}");
        out
    };
    let out = run("--explain-debug", "json");
    let doc = json(&out);
    // Only grows_get's CRC changed: decl_change and the others are not asked.
    assert_eq!(
        exports(&doc["explanation"]),
        one("grows_get", "s#grows"),
        "{out}"
    );
    assert_eq!(run("--explain", "json"), out, "one flag under two names");
    let text = run("--explain-debug", "text");
    assert!(text.contains("s#grows") && text.contains("added"), "{text}");
}

#[test]
fn scan_explains_from_debug_info_at_templated_paths() {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog(OLD_VERSION, "release"));
    r.write("debian/config/defines", defines("47", &[]));
    r.write(REF, object_reference(false));
    r.commit("Release 6.1.170-3");
    r.write("debian/changelog", changelog(NEW_VERSION, "release"));
    r.write(REF, object_reference(true));
    r.commit("Release 6.1.171-1 with refreshed references");
    let builds = tempfile::tempdir().unwrap();
    let at = |version: &str| {
        builds
            .path()
            .join(format!("linux-image-6.1.0-47-amd64-dbg_{version}_amd64.o"))
    };
    compile("v1.c", &at(OLD_VERSION));
    compile("v2.c", &at(NEW_VERSION));
    let template = template_under(
        builds.path(),
        "linux-image-{abi}-{image_flavour}-dbg_{version}_{arch}.o",
    );
    let (code, out, err) = scan(&r, "json", &["--debug-source", &template]);
    assert_eq!(code, 1, "{err}");
    let doc = json(&out);
    assert_eq!(doc["errors"], serde_json::json!([]), "{out}");
    let ex = &the_break(&doc)["flavours"][0]["explanation"];
    assert_eq!(exports(ex), one("grows_get", "s#grows"), "{out}");
}

/// A configuration watching `repo`'s `branch` with `source` lines in its
/// `[[repo]]`, posting to a file sink; returns its path and the sink's.
fn config(dir: &Path, tag: &str, repo: &Path, branch: &str, source: &str) -> (PathBuf, PathBuf) {
    common::file_sink_config(dir, tag, repo, &[branch], source)
}

fn branch_of(repo: &Path) -> String {
    let git = git2::Repository::open(repo).unwrap();
    git.head().unwrap().shorthand().unwrap().to_owned()
}

/// The bodies a file sink holds.
fn bodies(sink: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(sink).unwrap_or_else(|e| panic!("{}: {e}", sink.display()));
    text.lines()
        .map(|l| json(l)["body"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_daemon_and_scan_post_attach_the_configured_explanation() {
    let repo = history(|body| symvers_of(&symtypes(body)));
    let dir = tempfile::tempdir().unwrap();
    symtypes_builds(dir.path());
    // Relative to the configuration's directory.
    let source = format!("symtypes_source = \"{SYMTYPES_TEMPLATE}\"");
    let branch = branch_of(repo.path());
    let (daemon_config, daemon_sink) = config(dir.path(), "daemon", repo.path(), &branch, &source);
    let (post_config, post_sink) = config(dir.path(), "post", repo.path(), &branch, &source);
    let out = daemon_once_then_post(&daemon_config, &post_config);
    let doc = json(&out);
    assert_eq!(
        the_break(&doc)["flavours"][0]["explanation"]["causes"][0]["type"],
        "s#foo_dev",
        "{out}"
    );
    let daemon = bodies(&daemon_sink);
    assert_eq!(daemon.len(), 1, "{daemon:?}");
    assert!(
        daemon[0].contains("1 export changed because `s#foo_dev` gained `queued` after `len`"),
        "{}",
        daemon[0]
    );
    assert_eq!(bodies(&post_sink), daemon);
    // The flags say the same as the configuration.
    let template = template_under(dir.path(), SYMTYPES_TEMPLATE);
    let (_, markdown, _) = scan(
        &repo,
        "markdown",
        &["--repo-name", "linux", "--symtypes-source", &template],
    );
    assert!(markdown.contains(daemon[0].as_str()), "{markdown}");
    // scan --post takes the sources from the configuration only.
    let mut refused = post_args(&post_config);
    refused.extend(["--symtypes-source".into(), template]);
    let (code, _, err) = abibot(&refused.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--symtypes-source"), "{err}");
}

#[test]
fn a_bad_template_in_the_configuration_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let source =
        "modules = []\ndebug_source = \"/srv/dbg/linux-image-{abi}-{flavor}-dbg_{version}.deb\"";
    let (path, _) = config(dir.path(), "bad", Path::new("/nonexistent"), "main", source);
    let err = abibot::config::Config::load(&path).unwrap_err().to_string();
    let line = 1 + std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("debug_source"))
        .unwrap();
    assert!(
        err.contains(&format!("bad.toml:{line}: `repo.debug_source`: ")),
        "{err}"
    );
    assert!(err.contains("unknown placeholder {flavor}"), "{err}");
}

#[test]
fn a_build_is_loaded_once_for_the_breaks_and_scans_that_share_it() {
    let bodies = [OLD_BODY, NEW_BODY, "int len ; long queued ; int flags ;"];
    let versions = [OLD_VERSION, NEW_VERSION, "6.1.172-1"];
    let builds = tempfile::tempdir().unwrap();
    let r = TestRepo::new();
    r.write("debian/config/defines", defines("47", &[]));
    for (body, version) in bodies.iter().zip(versions) {
        let at = builds
            .path()
            .join(format!("6.1.0-47/{version}/{FLAVOUR}.symtypes"));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, symtypes(body)).unwrap();
        r.write("debian/changelog", changelog(version, "release"));
        r.write(REF, symvers_of(&symtypes(body)));
        r.commit(&format!("Release {version}"));
    }
    let template: Template = template_under(builds.path(), SYMTYPES_TEMPLATE)
        .parse()
        .unwrap();
    let spec = RepoSpec {
        name: "linux".into(),
        explain: BuildSources::new(Some(template), None),
        ..RepoSpec::default()
    };
    let head = r.repo.head().unwrap().target().unwrap();
    for round in 1..=2 {
        let scan = spec
            .open(&r.repo)
            .scan(None, head, true, |_, _| {}, |_| {})
            .unwrap();
        let explained: Vec<bool> = scan
            .report
            .findings
            .iter()
            .map(|f| f.flavours[0].explanation.is_some())
            .collect();
        assert_eq!(
            explained,
            [true, true],
            "round {round}: {:?}",
            scan.report.errors
        );
        // The middle build is the new side of one break and the old side
        // of the next; a second scan (a daemon's next poll) reads nothing.
        assert_eq!(spec.explain.loads(), 3, "round {round}");
    }
}
