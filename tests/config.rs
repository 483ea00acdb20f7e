//! The configuration file: the issue's minimal form, the shipped example,
//! and errors that name the key and the line without echoing secrets.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use abibot::config::{
    Config, ConfigError, ForgeConfig, GithubAuth, GitlabProject, LogFormat, RepoSource, SecretRef,
};
use common::abibot;

const MINIMAL: &str = r#"state = "/var/lib/abibot/state.sqlite"
poll_interval = "60s"
[[repo]]
name = "linux"
path = "/srv/linux"          # or: url = "https://host/kernel-team/linux.git"
branches = ["master"]
[repo.github]                # or [repo.gitlab] base_url/project/token_env, or [repo.stdout]
repo = "owner/linux"
api_url = "https://api.github.com"
token_env = "ABIBOT_GITHUB_TOKEN"
"#;

fn invalid(text: &str) -> (usize, String, String) {
    match Config::parse(text, "abibot.toml") {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn syntax(text: &str) -> String {
    match Config::parse(text, "abibot.toml") {
        Err(e @ ConfigError::Syntax { .. }) => e.to_string(),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn the_minimal_configuration_of_the_issue_works() {
    let c = Config::parse(MINIMAL, "abibot.toml").unwrap();
    assert_eq!(c.state, PathBuf::from("/var/lib/abibot/state.sqlite"));
    assert_eq!(c.poll_interval, Duration::from_secs(60));
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.concurrency, 2);
    assert_eq!(c.cache_dir, PathBuf::from("/var/lib/abibot/repos"));
    assert_eq!(c.listen, None);
    let repo = &c.repos[0];
    assert_eq!(repo.name.as_str(), "linux");
    assert_eq!(repo.source, RepoSource::Path("/srv/linux".into()));
    assert_eq!(repo.branches, ["master"]);
    assert!(!repo.backfill);
    assert_eq!(repo.line, 3);
    let ForgeConfig::Github(g) = &repo.forge else {
        panic!("{:?}", repo.forge)
    };
    assert_eq!(g.repo, "owner/linux");
    assert_eq!(g.api_url, "https://api.github.com");
    assert_eq!(
        g.auth,
        GithubAuth::Token(SecretRef::Env("ABIBOT_GITHUB_TOKEN".into()))
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/abibot.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.repos.len(), 2);
    assert_eq!(c.listen, Some("127.0.0.1:9464".parse().unwrap()));
    let ForgeConfig::Gitlab(g) = &c.repos[1].forge else {
        panic!("{:?}", c.repos[1].forge)
    };
    assert_eq!(g.project, GitlabProject::Path("kernel-team/linux".into()));
    assert_eq!(g.base_url, "https://salsa.debian.org");
}

#[test]
fn every_forge_form_parses() {
    let text = r#"
state = "state.sqlite"
log_format = "json"
concurrency = 4
listen = "127.0.0.1:9464"
[[repo]]
name = "a"
url = "git@salsa.debian.org:kernel-team/linux.git"
branches = ["master", "bookworm"]
layout = "debian"
root = "linux"
ignore = ["module:arch/x86/kvm/*", "fixed_phy_add"]
backfill = true
[repo.gitlab]
base_url = "https://salsa.debian.org/"
project = 2345
token_file = "secrets/gitlab"
[[repo]]
name = "b"
path = "clone"
branches = ["main"]
[repo.github]
repo = "corp/kernel"
api_url = "https://ghe.example.com/api/v3"
app_id = 12
private_key_file = "/etc/abibot/app.pem"
installation_id = 34
[[repo]]
name = "c"
path = "/srv/c"
branches = ["main"]
[repo.stdout]
[[repo]]
name = "d"
path = "/srv/d"
branches = ["main"]
[repo.file]
path = "out/comments.jsonl"
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("abibot.toml");
    std::fs::write(&file, text).unwrap();
    let c = Config::load(&file).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.concurrency, 4);
    // Relative paths are taken from the configuration's directory.
    assert_eq!(c.state, dir.path().join("state.sqlite"));
    assert_eq!(c.cache_dir, dir.path().join("repos"));
    assert_eq!(
        c.repos[1].source,
        RepoSource::Path(dir.path().join("clone"))
    );
    let ForgeConfig::Gitlab(g) = &c.repos[0].forge else {
        panic!()
    };
    assert_eq!(g.project, GitlabProject::Id(2345));
    assert_eq!(g.base_url, "https://salsa.debian.org");
    assert_eq!(g.token, SecretRef::File(dir.path().join("secrets/gitlab")));
    let ignore = &c.repos[0].ignore;
    assert_eq!(ignore.rules().len(), 2);
    assert!(ignore.matching("kvm_x", "arch/x86/kvm/kvm").is_some());
    assert!(ignore.matching("fixed_phy_add", "vmlinux").is_some());
    assert!(ignore.matching("kmalloc", "vmlinux").is_none());
    assert!(c.repos[0].backfill);
    let ForgeConfig::Github(g) = &c.repos[1].forge else {
        panic!()
    };
    assert_eq!(
        g.auth,
        GithubAuth::App {
            app_id: 12,
            private_key: SecretRef::File("/etc/abibot/app.pem".into()),
            installation_id: 34
        }
    );
    assert_eq!(c.repos[2].forge, ForgeConfig::Stdout);
    assert_eq!(
        c.repos[3].forge,
        ForgeConfig::File(dir.path().join("out/comments.jsonl"))
    );
}

#[test]
fn unknown_keys_are_rejected_with_key_and_line() {
    let text = MINIMAL.replace(
        "branches = [\"master\"]",
        "branches = [\"master\"]\nbranchs = [\"x\"]",
    );
    let e = syntax(&text);
    assert!(e.contains("line 7"), "{e}");
    assert!(e.contains("unknown field `branchs`"), "{e}");
    let e = syntax(&format!("{MINIMAL}colour = \"blue\"\n"));
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = syntax(&MINIMAL.replace("state = \"/var/lib/abibot/state.sqlite\"", "state = 3"));
    assert!(e.contains("line 1"), "{e}");
    assert!(e.contains("invalid type"), "{e}");
}

#[test]
fn inline_secrets_are_refused_without_repeating_them() {
    let text = MINIMAL.replace(
        "token_env = \"ABIBOT_GITHUB_TOKEN\"",
        "token = \"ghp_inline_secret_value\"",
    );
    let err = Config::parse(&text, "abibot.toml").unwrap_err().to_string();
    assert!(err.contains("abibot.toml:10: `repo.github.token`"), "{err}");
    assert!(err.contains("use token_env or token_file"), "{err}");
    assert!(!err.contains("ghp_inline_secret_value"), "{err}");
    let text = "state = \"s\"\n[[repo]]\nname = \"x\"\npath = \"/p\"\nbranches = [\"m\"]\n[repo.gitlab]\nbase_url = \"https://h\"\nproject = 1\nprivate_key = \"-----BEGIN\"\n";
    let err = Config::parse(text, "f").unwrap_err().to_string();
    assert!(!err.contains("BEGIN"), "{err}");
}

/// A change to MINIMAL.
enum Edit {
    /// Replace the first text, which must be there, by the second.
    Swap(&'static str, &'static str),
    /// Put lines before it.
    Before(&'static str),
    /// Put lines after it.
    After(&'static str),
    /// Drop everything from this text, which must be there, on.
    CutFrom(&'static str),
}

impl Edit {
    fn apply(&self) -> String {
        match self {
            Edit::Swap(from, to) => {
                assert!(MINIMAL.contains(from), "{from:?} is not in MINIMAL");
                MINIMAL.replace(from, to)
            }
            Edit::Before(lines) => format!("{lines}{MINIMAL}"),
            Edit::After(lines) => format!("{MINIMAL}{lines}"),
            Edit::CutFrom(from) => {
                let at = MINIMAL.find(from).expect("the cut is in MINIMAL");
                MINIMAL[..at].to_owned()
            }
        }
    }
}

use Edit::{After, Before, CutFrom, Swap};

/// Invalid configurations: the change to MINIMAL, and the line, key and
/// part of the message of the error.
#[rustfmt::skip]
const INVALID: &[(Edit, usize, &str, &str)] = &[
    (Swap("poll_interval = \"60s\"", "poll_interval = \"often\""), 2, "poll_interval", "\"often\""),
    (Swap("path = \"/srv/linux\"", "path = \"/srv/linux\"\nurl = \"https://h/l.git\""), 5, "repo.path", "not both"),
    (Swap("path = \"/srv/linux\"", ""), 3, "repo", "give url or path"),
    (Swap("name = \"linux\"", "name = \"../etc\""), 4, "repo.name", "not a valid repository name"),
    (Swap("repo = \"owner/linux\"", "repo = \"owner\""), 8, "repo.github.repo", "not owner/repo"),
    (Swap("https://api.github.com", "ftp://x"), 9, "repo.github.api_url", "not an http(s) URL"),
    (Swap("token_env = \"ABIBOT_GITHUB_TOKEN\"", ""), 7, "repo.github", "no credentials"),
    (Swap("token_env = \"ABIBOT_GITHUB_TOKEN\"", "token_env = \"A\"\ntoken_file = \"/f\""), 7, "repo.github.token_env", "not both"),
    (Swap("token_env = \"ABIBOT_GITHUB_TOKEN\"", "token_env = \"A\"\napp_id = 3"), 7, "repo.github", "not both"),
    (Swap("branches = [\"master\"]", "branches = []"), 6, "repo.branches", "at least one branch"),
    (Swap("branches = [\"master\"]", "branches = [\"master\"]\nlayout = \"gentoo\""), 7, "repo.layout", "not one of debian, ubuntu, redhat"),
    (Swap("branches = [\"master\"]", "branches = [\"master\"]\nignore = [\"path:x\"]"), 7, "repo.ignore", "path:x"),
    (After("[repo.stdout]\n"), 11, "repo", "more than one forge"),
    (Before("listen = \"localhost\"\n"), 1, "listen", "host:port"),
    (Before("concurrency = 0\n"), 1, "concurrency", "at least 1"),
    (After("[[repo]]\nname = \"linux\"\npath = \"/x\"\nbranches = [\"m\"]\n[repo.stdout]\n"), 11, "repo.name", "used by two"),
    (CutFrom("[repo.github]"), 3, "repo", "no forge"),
];

#[test]
fn validation_errors_name_key_and_line() {
    for (edit, line, key, message) in INVALID {
        let text = edit.apply();
        let (l, k, m) = invalid(&text);
        assert_eq!((l, k.as_str()), (*line, *key), "{m}\n---\n{text}");
        assert!(m.contains(message), "{m:?} lacks {message:?}");
    }
    let err = Config::parse(&format!("listen = \"x\"\n{MINIMAL}"), "etc/abibot.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("etc/abibot.toml:1: `listen`: "), "{err}");
}

#[test]
fn warnings_name_unresolvable_secrets_and_paths() {
    let text = MINIMAL
        .replace("ABIBOT_GITHUB_TOKEN", "ABIBOT_TEST_SURELY_UNSET_VARIABLE")
        .replace("/srv/linux", "/nonexistent/abibot/clone");
    let c = Config::parse(&text, "f").unwrap();
    let w = c.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("ABIBOT_TEST_SURELY_UNSET_VARIABLE is not set"),
        "{w:?}"
    );
    assert!(
        w[1].contains("/nonexistent/abibot/clone does not exist"),
        "{w:?}"
    );
}

/// `abibot config check FILE` on `text` written to a temporary file.
fn config_check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("abibot.toml");
    std::fs::write(&file, text).unwrap();
    abibot(&["config", "check", file.to_str().unwrap()])
}

/// The validation error of `text`: at `(line, key)`, its message (returned)
/// not repeating `secret`.
fn refused_without(text: &str, at: (usize, &str), secret: &str) -> String {
    let (line, key, message) = invalid(text);
    assert_eq!((line, key.as_str()), at, "{message}");
    assert!(!message.contains(secret), "{message}");
    message
}

/// `abibot config check` refuses `text` (exit 2) and prints nothing of
/// `secret`; its stderr.
fn config_check_refuses_without(text: &str, secret: &str) -> String {
    let (code, stdout, stderr) = config_check(text);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "{stderr}"
    );
    stderr
}

/// MINIMAL with a state file in a writable temporary directory and an
/// existing clone path, so `config check` passes unless a test breaks it.
fn checkable(dir: &std::path::Path) -> String {
    MINIMAL.replace(
        "/var/lib/abibot/state.sqlite",
        &dir.join("state.sqlite").display().to_string(),
    )
}

#[test]
fn credentials_in_urls_are_refused_and_not_repeated() {
    for url in [
        "https://user:S3cretT0kenValue@host/x.git",
        "https://S3cretT0kenValue@host/x.git",
        "ssh://git:S3cretT0kenValue@host/x.git",
        "http://x-access-token:S3cretT0kenValue@host/x.git",
    ] {
        let text = MINIMAL.replace("path = \"/srv/linux\"", &format!("url = \"{url}\""));
        let message = refused_without(&text, (5, "repo.url"), "S3cretT0kenValue");
        assert!(message.contains("credential helper"), "{message}");
        assert!(message.contains("ssh"), "{message}");
        assert!(message.contains("token_env"), "{message}");
    }
    // The forge's API root may not carry credentials either.
    let text = MINIMAL.replace(
        "https://api.github.com",
        "https://bot:S3cretT0kenValue@ghe.example.com/api/v3",
    );
    refused_without(&text, (9, "repo.github.api_url"), "S3cretT0kenValue");
    // A user name alone in an ssh URL is the account, not a secret.
    for url in [
        "ssh://git@salsa.debian.org/kernel-team/linux.git",
        "git@salsa.debian.org:kernel-team/linux.git",
    ] {
        let text = MINIMAL.replace("path = \"/srv/linux\"", &format!("url = \"{url}\""));
        Config::parse(&text, "f").unwrap();
    }
}

#[test]
fn a_token_pasted_as_token_env_is_refused_without_echo() {
    for token in [
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0aBcDeFgHiJkLmNoP",
        "glpat-Zr8sYx3QwErTyUiOp1aS",
        "4f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
    ] {
        let text = MINIMAL.replace("ABIBOT_GITHUB_TOKEN", token);
        let err = Config::parse(&text, "abibot.toml").unwrap_err().to_string();
        assert!(
            err.starts_with("abibot.toml:10: `repo.github.token_env`: token_env must name an environment variable; the value looks like a token itself"),
            "{err}"
        );
        assert!(!err.contains(token), "{err}");
        config_check_refuses_without(&text, token);
    }
    // Not a variable name either: refused without repeating it.
    let text = MINIMAL.replace("ABIBOT_GITHUB_TOKEN", "my secret phrase");
    let key = (10, "repo.github.token_env");
    let message = refused_without(&text, key, "secret phrase");
    assert!(
        message.contains("must name an environment variable"),
        "{message}"
    );
    // The same for a path.
    let text = MINIMAL.replace(
        "token_env = \"ABIBOT_GITHUB_TOKEN\"",
        "token_file = \"ghp_16C7e42F292c6912E7710c838347Ae178B4a\"",
    );
    refused_without(&text, (10, "repo.github.token_file"), "ghp_16C7");
}

#[test]
fn a_misspelt_secret_key_names_key_and_line_without_the_value() {
    let secret = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    let plain = "Zr8sYx3QwErTyUiOp1aSdFgH";
    for key in ["tokenn", "api_token", "github_token"] {
        for value in [secret, plain] {
            let text = MINIMAL.replace(
                "token_env = \"ABIBOT_GITHUB_TOKEN\"",
                &format!("token_env = \"ABIBOT_GITHUB_TOKEN\"\n{key} = \"{value}\""),
            );
            let err = syntax(&text);
            assert!(err.contains("line 11"), "{err}");
            assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
            assert!(!err.contains(value), "{err}");
            let stderr = config_check_refuses_without(&text, value);
            assert!(stderr.contains(key), "{stderr}");
        }
    }
    // Values quoted by serde in type errors are dropped too.
    let text = format!("concurrency = \"{secret}\"\n{MINIMAL}");
    let err = syntax(&text);
    assert!(
        err.contains("line 1") && err.contains("`concurrency`"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
    let text = format!("log_format = \"{plain}\"\n{MINIMAL}");
    let err = syntax(&text);
    assert!(!err.contains(plain), "{err}");
    assert!(err.contains("`text`") && err.contains("`json`"), "{err}");
}

#[test]
fn the_daemon_does_not_print_secrets_from_a_bad_configuration() {
    let secret = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    let dir = tempfile::tempdir().unwrap();
    for text in [
        MINIMAL.replace("ABIBOT_GITHUB_TOKEN", secret),
        MINIMAL.replace(
            "path = \"/srv/linux\"",
            &format!("url = \"https://u:{secret}@h/x.git\""),
        ),
        format!("{MINIMAL}api_token = \"{secret}\"\n"),
    ] {
        let file = dir.path().join("abibot.toml");
        std::fs::write(&file, &text).unwrap();
        let (code, _, stderr) = abibot(&["daemon", "--once", "--config", file.to_str().unwrap()]);
        assert_eq!(code, 2, "{stderr}");
        assert!(!stderr.contains(&secret[4..]), "{stderr}");
    }
}

#[test]
fn config_check_refuses_a_state_path_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = config_check(&checkable(dir.path()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    for (state, why) in [
        (dir.path().join("missing/state.sqlite"), "does not exist"),
        (dir.path().to_path_buf(), "is a directory"),
        (file.join("state.sqlite"), "is not a directory"),
    ] {
        let text = MINIMAL.replace("/var/lib/abibot/state.sqlite", &state.display().to_string());
        let (code, stdout, stderr) = config_check(&text);
        assert_eq!(code, 2, "{stdout}");
        assert!(stderr.contains(&state.display().to_string()), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
}

#[test]
fn fetch_timeouts_have_defaults_and_are_validated() {
    let c = Config::parse(MINIMAL, "f").unwrap();
    assert_eq!(
        c.fetch.connect,
        abibot::config::DEFAULT_FETCH_CONNECT_TIMEOUT
    );
    assert_eq!(c.fetch.idle, abibot::config::DEFAULT_FETCH_IDLE_TIMEOUT);
    let text = format!("fetch_connect_timeout = \"5s\"\nfetch_idle_timeout = \"2m\"\n{MINIMAL}");
    let c = Config::parse(&text, "f").unwrap();
    assert_eq!(c.fetch.connect, Duration::from_secs(5));
    assert_eq!(c.fetch.idle, Duration::from_secs(120));
    for (text, key) in [
        (
            format!("fetch_idle_timeout = \"0s\"\n{MINIMAL}"),
            "fetch_idle_timeout",
        ),
        (
            format!("fetch_connect_timeout = \"30d\"\n{MINIMAL}"),
            "fetch_connect_timeout",
        ),
        (
            format!("fetch_idle_timeout = \"soon\"\n{MINIMAL}"),
            "fetch_idle_timeout",
        ),
    ] {
        let (line, k, message) = invalid(&text);
        assert_eq!((line, k.as_str()), (1, key), "{message}");
    }
}
