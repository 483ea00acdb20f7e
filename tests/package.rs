//! What the Debian package ships, checked from the repository: `--version`
//! names the commit, `completions` and `man` generate real scripts and pages
//! for every subcommand, and Cargo.toml's `[package.metadata.deb]` names
//! files that exist (or that `ci/package-files` generates), valid maintainer
//! scripts and a unit whose command lines abibot accepts.
//! `.ci/run` then builds, installs and checks the package itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use abibot::cli::Cli;
use clap::{CommandFactory, Parser};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn abibot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abibot"))
        .args(args)
        .output()
        .expect("run abibot")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "abibot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// `git rev-parse HEAD` when the crate's directory is the top of a checkout.
fn checkout_head() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_owned())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    (top.canonicalize().ok()? == root().canonicalize().ok()?)
        .then(|| git(&["rev-parse", "HEAD"]))
        .flatten()
}

#[test]
fn version_names_the_release_and_the_commit_built_from() {
    let shape =
        regex::Regex::new(r"^abibot (\d+\.\d+\.\d+) \(commit ([0-9a-f]{40}|unknown)\)\n$").unwrap();
    for flag in ["--version", "-V"] {
        let text = stdout(&abibot(&[flag]));
        let caps = shape
            .captures(&text)
            .unwrap_or_else(|| panic!("{flag}: {text:?}"));
        assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
        // A checkout names its HEAD (build.rs reruns when HEAD moves); a
        // tarball build says it does not know.
        let expected = checkout_head().unwrap_or_else(|| "unknown".to_owned());
        assert_eq!(&caps[2], expected, "{flag}");
    }
}

/// Every subcommand's name, nested ones joined by '-' (`config-check`).
fn subcommand_paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        let path = format!("{prefix}{}", sub.get_name());
        out.push((path.clone(), sub.clone()));
        subcommand_paths(sub, &format!("{path}-"), out);
    }
}

fn all_subcommands() -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    subcommand_paths(&Cli::command(), "", &mut out);
    out
}

#[test]
fn completions_name_every_subcommand_for_each_shell() {
    let top: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    assert!(top.iter().any(|s| s == "check-module"), "{top:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&abibot(&["completions", shell]));
        for name in &top {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
        assert!(script.contains("--post"), "{shell}: no scan --post");
    }
}

/// What bash offers after `abibot WORDS`, through the installed function.
fn bash_complete(script: &Path, words: &str) -> Vec<String> {
    let program = format!(
        "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
         _abibot abibot \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_offers_subcommands_and_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("abibot.bash");
    std::fs::write(&script, stdout(&abibot(&["completions", "bash"]))).unwrap();
    let offered = bash_complete(&script, "abibot sc");
    assert_eq!(offered, ["scan"]);
    let offered = bash_complete(&script, "abibot scan --po");
    assert_eq!(offered, ["--post"]);
    // An empty last word: what may follow `completions`.
    let offered = bash_complete(&script, "abibot completions ''");
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.iter().any(|s| s == shell), "{offered:?}");
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let out = abibot(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
    assert!(out.stdout.is_empty());
}

/// A man page rendered by groff as plain text, failing on any warning.
fn render_man(page: &Path) -> String {
    let out = Command::new("groff")
        .args(["-man", "-Tascii", "-ww", "-rHY=0", "-rLL=200n"])
        .arg(page)
        .output()
        .expect("groff (Debian's groff-base) is needed to check man pages");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.is_empty(),
        "{}: {warnings}",
        page.display()
    );
    // -Tascii overstrikes bold and underlined text; keep the letters.
    let text = String::from_utf8(out.stdout).unwrap();
    let bs = regex::Regex::new(".\x08").unwrap();
    bs.replace_all(&text, "").into_owned()
}

fn long_flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

#[test]
fn man_dir_writes_a_page_per_subcommand_with_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    stdout(&abibot(&["man", "--dir", out.to_str().unwrap()]));
    let mut expected = vec![("abibot.1".to_owned(), Cli::command())];
    for (path, cmd) in all_subcommands() {
        expected.push((format!("abibot-{path}.1"), cmd));
    }
    assert!(expected.iter().any(|(f, _)| f == "abibot-config-check.1"));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut names: Vec<String> = expected.iter().map(|(f, _)| f.clone()).collect();
    names.sort();
    assert_eq!(written, names);
    for (file, cmd) in &expected {
        let text = render_man(&out.join(file));
        let title = file.trim_end_matches(".1");
        assert!(
            text.starts_with(&format!("{title}(1)")),
            "{file}: {text:.80}"
        );
        for flag in long_flags(cmd) {
            assert!(text.contains(&flag), "{file} lacks {flag}");
        }
    }
}

#[test]
fn man_without_dir_prints_the_program_page() {
    let page = stdout(&abibot(&["man"]));
    assert!(page.contains(".TH abibot 1"), "{page:.200}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("abibot.1");
    std::fs::write(&file, &page).unwrap();
    let text = render_man(&file);
    for name in ["scan", "check-module", "completions", "man"] {
        assert!(text.contains(&format!("abibot-{name}(1)")), "no {name}");
    }
}

/// Cargo.toml's `[package.metadata.deb]` table.
fn deb_metadata() -> toml::Table {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .unwrap()
        .clone()
}

/// The `(source, dest)` pairs of the package's assets.
fn assets(deb: &toml::Table) -> Vec<(String, String)> {
    let list = deb["assets"].as_array().expect("assets are listed");
    list.iter()
        .map(|a| {
            let a = a.as_array().expect("[source, dest, mode]");
            let s = |i: usize| a[i].as_str().unwrap().to_owned();
            (s(0), s(1))
        })
        .collect()
}

/// The files a source names: a path, or a `*` glob in its file name.
fn matches(source: &Path) -> Vec<PathBuf> {
    let name = source.file_name().unwrap().to_str().unwrap();
    let Some((before, after)) = name.split_once('*') else {
        return vec![source.to_owned()]
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
    };
    let dir = source.parent().unwrap();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.len() >= before.len() + after.len() && n.starts_with(before) && n.ends_with(after)
        })
        .collect()
}

#[test]
fn every_package_asset_exists_or_is_generated() {
    let generated = tempfile::tempdir().unwrap();
    let status = Command::new(root().join("ci/package-files"))
        .arg(env!("CARGO_BIN_EXE_abibot"))
        .arg(generated.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut covered = Vec::new();
    for (source, dest) in assets(&deb_metadata()) {
        let files = if let Some(rel) = source.strip_prefix("target/package-files/") {
            matches(&generated.path().join(rel))
        } else if let Some(bin) = source.strip_prefix("target/release/") {
            // cargo-deb builds or finds it: it must be this crate's binary.
            assert_eq!(bin, "abibot");
            assert_eq!(dest, "usr/bin/");
            continue;
        } else {
            matches(&root().join(&source))
        };
        assert!(!files.is_empty(), "asset {source} names no file");
        covered.extend(files);
    }
    // Nothing generated for the package is left out of it.
    for sub in ["man", "completions"] {
        for entry in std::fs::read_dir(generated.path().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            assert!(
                covered.contains(&path),
                "{} is not packaged",
                path.display()
            );
        }
    }
    assert!(covered.iter().any(|p| p.ends_with("man/abibot-scan.1")));
}

#[test]
fn maintainer_scripts_are_valid_shell_with_the_debhelper_slot() {
    let deb = deb_metadata();
    let dir = root().join(deb["maintainer-scripts"].as_str().unwrap());
    for name in ["postinst", "postrm"] {
        let script = dir.join(name);
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        assert!(
            text.contains("\n#DEBHELPER#\n"),
            "{name}: no #DEBHELPER# line"
        );
        let out = Command::new("sh").arg("-n").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name} is not executable");
    }
    let postinst = std::fs::read_to_string(dir.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system --group"));
    assert!(postinst.contains("chown abibot:abibot /var/lib/abibot"));
    let postrm = std::fs::read_to_string(dir.join("postrm")).unwrap();
    assert!(postrm.contains("\"$1\" = \"purge\""));
}

/// The unit's `Key=value` lines.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_packaged_unit_runs_the_packaged_binary_as_the_packaged_user() {
    let deb = deb_metadata();
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    let unit = std::fs::read_to_string(root().join(units).join("abibot.service")).unwrap();
    assert_eq!(unit_values(&unit, "User"), ["abibot"]);
    assert_eq!(unit_values(&unit, "StateDirectory"), ["abibot"]);
    let commands: Vec<&str> = ["ExecStartPre", "ExecStart"]
        .iter()
        .flat_map(|k| unit_values(&unit, k))
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    for line in commands {
        let words = shlex::split(line).unwrap();
        assert_eq!(words[0], "/usr/bin/abibot", "the package installs it there");
        if let Err(e) = Cli::try_parse_from(&words) {
            panic!("{line}: {e}");
        }
    }
}

/// What a crate built with abibot's build.rs at `dir` says its commit is,
/// built in `target` (a build from outside a checkout watches no git file:
/// a directory that becomes a checkout needs a fresh target).
fn built_commit(dir: &Path, target: &Path, env: &[(&str, &str)]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cargo_run = Command::new(cargo);
    cargo_run
        .args(["run", "--quiet", "--offline"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("ABIBOT_COMMIT")
        .envs(env.iter().copied());
    stdout_of(&mut cargo_run)
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut git = Command::new("git");
    git.args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .current_dir(dir);
    stdout_of(&mut git)
}

/// The trimmed standard output of a command that must succeed (its
/// standard error shown when it does not).
fn stdout_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn build_script_names_a_checkout_commit_and_nothing_else() {
    // A scratch crate with abibot's build.rs, printing what it recorded.
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("target");
    let outer = scratch.path().join("outer");
    let dir = outer.join("crate");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(root().join("build.rs"), dir.join("build.rs")).unwrap();
    let manifest =
        "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n";
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let main = "fn main() { println!(\"{}\", env!(\"ABIBOT_COMMIT\")); }\n";
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    // A tarball: no git anywhere above it.
    assert_eq!(built_commit(&dir, &target, &[]), "unknown");
    assert_eq!(
        built_commit(&dir, &target, &[("ABIBOT_COMMIT", "v1-commit")]),
        "v1-commit"
    );
    // Inside some other repository: its commit is not this crate's.
    git_in(&outer, &["init", "-q"]);
    git_in(&outer, &["commit", "-q", "--allow-empty", "-m", "other"]);
    assert_eq!(built_commit(&dir, &target, &[]), "unknown");
    // A checkout of its own: HEAD, and the next commit once HEAD moves.
    let target = scratch.path().join("target-checkout");
    std::fs::remove_dir_all(outer.join(".git")).unwrap();
    git_in(&dir, &["init", "-q"]);
    git_in(&dir, &["add", "-A"]);
    git_in(&dir, &["commit", "-q", "-m", "first"]);
    let first = git_in(&dir, &["rev-parse", "HEAD"]);
    assert_eq!(built_commit(&dir, &target, &[]), first);
    git_in(&dir, &["commit", "-q", "--allow-empty", "-m", "second"]);
    let second = git_in(&dir, &["rev-parse", "HEAD"]);
    assert_ne!(first, second);
    assert_eq!(built_commit(&dir, &target, &[]), second);
}
