//! `timeline --format html` and `scan --format html`: the page of the
//! bundled demo repository, its marks read back and checked against the
//! JSON of both commands, repository strings kept as text, and the page
//! rendered by headless Chromium (no console message, the SVG in the
//! rendered DOM, a screenshot kept under `target/tmp/html_timeline/`).
//!
//! Without Chromium the browser tests fail saying how to install it, unless
//! `ABIBOT_SKIP_BROWSER=1` is set (they then say they skipped).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{abibot, debian_repo, symvers};
use regex::Regex;
use serde_json::Value;

/// The demo repository of `abibot demo`, built in a temporary directory.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    abibot::demo::build_repository(&dir.path().join("linux")).unwrap();
    dir
}

/// `abibot COMMAND --repo REPO --format FORMAT`: (exit code, stdout).
fn run(command: &str, repo: &Path, format: &str) -> (i32, String) {
    let repo = repo.to_str().unwrap();
    let (code, out, err) = abibot(&[command, "--repo", repo, "--format", format]);
    assert!(
        code == 0 || code == 1,
        "{command} {format}: exit {code}: {err}"
    );
    (code, out)
}

/// The text an attribute value of the page stands for.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// State bars drawn per (ABI, flavour).
fn bars(page: &str) -> BTreeMap<(String, String), usize> {
    let bar =
        Regex::new(r#"<g class="state[^"]*" data-abi="([^"]*)" data-flavour="([^"]*)""#).unwrap();
    let mut out = BTreeMap::new();
    for c in bar.captures_iter(page) {
        *out.entry((unescape(&c[1]), unescape(&c[2]))).or_default() += 1;
    }
    out
}

/// Marks of findings of `kind`: (finding id, ABI, flavour, commit).
fn marks(page: &str, kind: &str) -> Vec<(String, String, String, String)> {
    let mark = Regex::new(
        r#"<g class="mark [^"]*" data-kind="([a-z-]+)" data-abi="([^"]*)" data-flavour="([^"]*)" data-commit="([0-9a-f]+)" data-finding="([0-9a-f]+)""#,
    )
    .unwrap();
    let mut out: Vec<_> = mark
        .captures_iter(page)
        .filter(|c| &c[1] == kind)
        .map(|c| {
            (
                c[5].to_owned(),
                unescape(&c[2]),
                unescape(&c[3]),
                c[4].to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// States per (ABI, flavour) in `timeline --format json`.
fn json_states(timeline: &Value) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for abi in timeline["abis"].as_array().unwrap() {
        let name = abi["abi"].as_str().unwrap();
        for (flavour, states) in abi["flavours"].as_object().unwrap() {
            let n = states.as_array().unwrap().len();
            out.insert((name.to_owned(), flavour.clone()), n);
        }
    }
    out
}

/// Findings of `kind` in `scan --format json`, one per flavour, as
/// [`marks`] gives them.
fn json_findings(scan: &Value, kind: &str) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for f in scan["findings"].as_array().unwrap() {
        if f["kind"] != kind {
            continue;
        }
        for flavour in f["flavours"].as_array().unwrap() {
            out.push((
                f["id"].as_str().unwrap().to_owned(),
                f["abi"].as_str().unwrap().to_owned(),
                flavour["flavour"].as_str().unwrap().to_owned(),
                f["commit"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn the_demo_page_draws_what_the_json_reports() {
    let dir = demo();
    let repo = dir.path().join("linux");
    let (code, page) = run("timeline", &repo, "html");
    let (json_code, timeline) = run("timeline", &repo, "json");
    assert_eq!(code, json_code, "the exit code does not depend on the form");
    let timeline: Value = serde_json::from_str(&timeline).unwrap();
    let states = json_states(&timeline);
    assert!(
        states.values().any(|&n| n > 1),
        "the demo has a name with several states: {states:?}"
    );
    assert_eq!(bars(&page), states, "one bar group per state");
    let (scan_code, scan) = run("scan", &repo, "json");
    let scan: Value = serde_json::from_str(&scan).unwrap();
    for kind in ["hidden-break", "coverage-lost"] {
        let expected = json_findings(&scan, kind);
        assert!(!expected.is_empty(), "the demo has a {kind}");
        assert_eq!(marks(&page, kind), expected, "{kind} marks");
    }
    // Every state and mark links to its details.
    for anchor in Regex::new(r##"href="#([^"]+)""##)
        .unwrap()
        .captures_iter(&page)
    {
        let id = format!("id=\"{}\"", &anchor[1]);
        assert!(page.contains(&id), "no {id} for a link");
    }
    let (html_scan_code, scan_page) = run("scan", &repo, "html");
    assert_eq!(scan_page, page, "scan and timeline draw the same page");
    assert_eq!(html_scan_code, scan_code, "scan's exit code contract");
}

#[test]
fn the_page_loads_nothing() {
    let dir = demo();
    let (_, page) = run("timeline", &dir.path().join("linux"), "html");
    assert!(
        page.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        ),
        "{page}"
    );
    assert!(!page.contains("<script"), "no script");
    // The only address: the SVG namespace, which nothing loads.
    let addresses = page.match_indices("://").map(|(i, _)| {
        let start = page[..i].rfind(['"', ' ']).map_or(0, |s| s + 1);
        let end = i + page[i..].find(['"', ' ']).unwrap_or(page.len() - i);
        &page[start..end]
    });
    let addresses: Vec<&str> = addresses.collect();
    assert!(!addresses.is_empty(), "the SVG namespace is there");
    for address in addresses {
        assert_eq!(address, "http://www.w3.org/2000/svg");
    }
}

/// A flavour whose name (a file name) is an HTML injection attempt.
const HOSTILE_FLAVOUR: &str = "amd64_none_\"><svg onload=alert(1)>";

/// A repository whose commit subject and flavour name are HTML injection
/// attempts.
fn hostile_repo() -> common::TestRepo {
    let repo = debian_repo();
    let reference = format!("debian/abi/6.1.0-47/{HOSTILE_FLAVOUR}");
    repo.write(&reference, symvers(&[("kmalloc", 1), ("kfree", 2)]));
    repo.commit("Release 6.1.170-3");
    repo.write(&reference, symvers(&[("kmalloc", 9), ("kfree", 2)]));
    repo.commit(HOSTILE);
    repo
}

const HOSTILE: &str =
    "Refresh <script>alert(\"x\")</script> & \"><img src=x onerror=\"alert(1)\"> ABI";

#[test]
fn repository_strings_are_text() {
    let repo = hostile_repo();
    let (code, page) = run("timeline", repo.path(), "html");
    assert_eq!(code, 1, "a hidden break");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("\"alert(1)\""), "{page}");
    assert!(!page.contains("<svg onload"), "{page}");
    // The names read back from the attributes are the repository's.
    let (_, timeline) = run("timeline", repo.path(), "json");
    let timeline: Value = serde_json::from_str(&timeline).unwrap();
    let states = json_states(&timeline);
    assert_eq!(states.keys().next().unwrap().1, HOSTILE_FLAVOUR);
    assert_eq!(bars(&page), states);
    let escaped = "Refresh &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \
                   &quot;&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt; ABI";
    assert!(page.contains(escaped), "{page}");
    assert_eq!(marks(&page, "hidden-break").len(), 1, "{page}");
}

/// Where the browser tests keep what they render.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html_timeline");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The first browser of `candidates` that exists; `Ok(None)` when there is
/// none and `skip` (`ABIBOT_SKIP_BROWSER=1`) allows it; else what to do.
fn browser(candidates: &[&str], skip: Option<&str>) -> Result<Option<PathBuf>, String> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    match (found, skip) {
        (Some(found), _) => Ok(Some(found)),
        (None, Some("1")) => Ok(None),
        (None, _) => Err(format!(
            "the HTML timeline tests need Chromium (looked for {}): `apt-get install -y \
             --no-install-recommends chromium`, or set ABIBOT_SKIP_BROWSER=1 to skip them",
            candidates.join(", ")
        )),
    }
}

/// Headless Chromium, or `None` when the tests may skip it (said on stderr).
fn chromium() -> Option<PathBuf> {
    let skip = std::env::var("ABIBOT_SKIP_BROWSER").ok();
    let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
    match browser(&candidates, skip.as_deref()) {
        Ok(Some(found)) => Some(found),
        Ok(None) => {
            eprintln!("skipped: no Chromium, and ABIBOT_SKIP_BROWSER=1");
            None
        }
        Err(what) => panic!("{what}"),
    }
}

#[test]
fn without_chromium_the_browser_tests_fail_unless_told_to_skip() {
    let missing = ["/nonexistent/abibot-test/chromium"];
    let err = browser(&missing, None).unwrap_err();
    assert!(
        err.contains("apt-get install -y --no-install-recommends chromium"),
        "{err}"
    );
    assert!(err.contains("ABIBOT_SKIP_BROWSER=1"), "{err}");
    assert!(browser(&missing, Some("0")).is_err(), "only 1 skips");
    assert_eq!(browser(&missing, Some("1")), Ok(None));
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let found = browser(&[missing[0], here], Some("1")).unwrap();
    assert_eq!(found, Some(PathBuf::from(here)), "found wins over skipping");
}

#[test]
fn html_is_for_the_history_commands_only() {
    let dir = demo();
    let repo = dir.path().join("linux");
    let config = dir.path().join("abibot.toml");
    let text = format!(
        "state = \"{}\"\n[[repo]]\nname = \"demo\"\npath = \"{}\"\nbranches = [\"main\"]\n\
         [repo.stdout]\n",
        dir.path().join("state.sqlite").display(),
        repo.display()
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = abibot(&["scan", "--post", "--config", config, "--format", "html"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--format html draws a walk of --repo"),
        "{err}"
    );
    assert!(out.is_empty(), "nothing posted or printed: {out}");
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/debian-bookworm/abi/6.1.0-47/amd64_none_amd64"
    );
    let (code, _, err) = abibot(&["diff", reference, reference, "--format", "html"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid value 'html'"), "{err}");
}

/// What Chromium wrote: stdout, and its console messages.
struct Rendered {
    stdout: String,
    console: Vec<String>,
}

/// Runs headless Chromium on `page` with `extra` flags (no network, a new
/// profile), killed if it hangs.
fn render(browser: &Path, page: &Path, extra: &[&str]) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    // A guard against a hung browser, not a measure of speed.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("Chromium did not finish rendering {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(err.path()).unwrap();
    assert!(status.success(), "Chromium failed: {stderr}");
    Rendered {
        stdout: std::fs::read_to_string(out.path()).unwrap(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect(),
    }
}

#[test]
fn chromium_shows_console_messages_to_these_tests() {
    // The check below must be able to fail: a load the policy forbids is
    // a console message.
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("forbidden.html");
    let forbidden = format!(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"{}\"></head><body><img src=\"http://example.invalid/x.png\"></body></html>",
        abibot::report::html::CSP
    );
    std::fs::write(&page, forbidden).unwrap();
    let rendered = render(&browser, &page, &["--dump-dom"]);
    assert!(
        rendered
            .console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{:?}",
        rendered.console
    );
}

#[test]
fn chromium_renders_the_demo_page() {
    let Some(browser) = chromium() else { return };
    let dir = demo();
    let (_, page) = run("timeline", &dir.path().join("linux"), "html");
    let file = artifacts().join("demo.html");
    std::fs::write(&file, &page).unwrap();
    let rendered = render(&browser, &file, &["--dump-dom"]);
    assert_eq!(rendered.console, Vec::<String>::new(), "console messages");
    let dom = &rendered.stdout;
    assert!(dom.contains("<svg"), "{dom}");
    assert_eq!(bars(dom), bars(&page), "the rendered DOM holds every bar");
    assert_eq!(marks(dom, "hidden-break"), marks(&page, "hidden-break"));
    let shot = artifacts().join("demo.png");
    let _ = std::fs::remove_file(&shot);
    let window = "--window-size=1280,1100";
    let rendered = render(
        &browser,
        &file,
        &[&format!("--screenshot={}", shot.display()), window],
    );
    assert_eq!(rendered.console, Vec::<String>::new(), "console messages");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
}

#[test]
fn chromium_keeps_a_hostile_subject_as_text() {
    let Some(browser) = chromium() else { return };
    let repo = hostile_repo();
    let (_, page) = run("timeline", repo.path(), "html");
    let file = artifacts().join("hostile.html");
    std::fs::write(&file, &page).unwrap();
    let rendered = render(&browser, &file, &["--dump-dom"]);
    assert_eq!(rendered.console, Vec::<String>::new(), "console messages");
    let dom = &rendered.stdout;
    assert!(!dom.contains("<script"), "no script element: {dom}");
    assert!(!dom.contains("<img"), "no image element: {dom}");
    let drawn = dom.matches("<svg ").count();
    assert_eq!(drawn, 2, "only the names and the chart: {dom}");
    assert!(
        dom.contains("&lt;img src=x onerror=\"alert(1)\"&gt;"),
        "shown as text: {dom}"
    );
}

/// `GET path` on `addr`: (status, content type, body).
async fn get(addr: &str, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => break stream,
            Err(e) if Instant::now() > deadline => panic!("{addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut text = Vec::new();
    let read = stream.read_to_end(&mut text);
    tokio::time::timeout(Duration::from_secs(300), read)
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let kind = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (head[9..12].parse().unwrap(), kind, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_each_repository_page() {
    let dir = demo();
    let repo = dir.path().join("linux");
    let port = common::free_port();
    let text = format!(
        "state = \"{state}\"\npoll_interval = \"1h\"\nlisten = \"127.0.0.1:{port}\"\n\
         [[repo]]\nname = \"demo\"\npath = \"{repo}\"\nbranches = [\"main\"]\n\
         [repo.file]\npath = \"{sink}\"\n",
        state = dir.path().join("state.sqlite").display(),
        repo = repo.display(),
        sink = dir.path().join("comments.jsonl").display(),
    );
    let config = abibot::config::Config::parse(&text, "abibot.toml").unwrap();
    let daemon = std::sync::Arc::new(abibot::daemon::Daemon::new(config).unwrap());
    let task = tokio::spawn(daemon.clone().run());
    let addr = format!("127.0.0.1:{port}");

    let (status, kind, index) = get(&addr, "/").await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(index.contains("<a href=\"/repo/demo\">demo</a>"), "{index}");
    let (status, _, page) = get(&addr, "/repo/demo").await;
    assert_eq!(status, 200, "{page}");
    let path = repo.to_str().unwrap();
    let cli = [
        "timeline",
        "--repo",
        path,
        "--format",
        "html",
        "--repo-name",
        "demo",
    ];
    let (_, expected, _) = abibot(&cli);
    assert_eq!(page, expected, "the page `timeline --format html` writes");
    assert_eq!(get(&addr, "/repo/demo").await.2, page, "kept");
    assert_eq!(get(&addr, "/repo/other").await.0, 404);
    assert_eq!(get(&addr, "/repo/demo/../x").await.0, 404);

    // A new head: drawn again.
    let git = git2::Repository::open(&repo).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("t", "t@example.org").unwrap();
    let tree = head.tree().unwrap();
    git.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "Unrelated <b>change</b>",
        &tree,
        &[&head],
    )
    .unwrap();
    let (_, again, _) = abibot(&cli);
    assert_ne!(again, expected, "the walk counts the new commit");
    assert_eq!(get(&addr, "/repo/demo").await.2, again);
    daemon.shutdown();
    task.await.unwrap().unwrap();
}
