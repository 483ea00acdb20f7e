//! Measurements behind the README's daemon numbers (ignored by default; run
//! with `cargo test --release --test daemon_bench -- --ignored --nocapture`).
//!
//! - commit -> POST latency: a running daemon (poll interval 1 s) watching a
//!   repository with Debian's real amd64 references, a fake GitHub counting
//!   when each comment's POST arrives;
//! - a synthetic Debian-scale history for measuring the binary's peak memory
//!   (`ABIBOT_BENCH_REPO=/some/dir`: the repository is kept there).

mod common;
mod fakes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use abibot::config::RepoName;
use abibot::daemon::Daemon;
use abibot::daemon::health::RepoStatus;
use common::{
    FLAVOURS, TestRepo, abi_file, changelog, defines, github_daemon_config, real_debian_repo,
    write_real_references,
};
use fakes::FakeGithub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn commit_to_post_latency() {
    let gh = FakeGithub::start("o/linux", "tok").await;
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = real_debian_repo();
    let config = github_daemon_config(dir.path(), &r, &gh.url(), "o/linux", "tok", "");
    let daemon = Arc::new(Daemon::new(config).unwrap());
    let name = RepoName::new("linux").unwrap();
    let running = tokio::spawn(daemon.clone().run());
    while daemon.health().repo(&name).unwrap().status != RepoStatus::Ok {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies = Vec::new();
    for i in 0..10 {
        // A new CRC for the first symbol of 6.1.0-47's amd64 reference under
        // the same ABI name: a hidden break every time (a state seen before
        // would be a restoration, and not commented).
        let mut reference = abi_file("6.1.0-47", "amd64_none_amd64");
        reference[..10].copy_from_slice(format!("0x{:08x}", 0xabc0 + i).as_bytes());
        r.write("debian/abi/6.1.0-47/amd64_none_amd64", reference);
        let landed = Instant::now();
        let commit = r.commit(&format!("Refresh ABI reference files ({i})"));
        loop {
            if let Some(post) = gh
                .posts()
                .into_iter()
                .find(|p| p.path.contains(&commit.to_string()))
            {
                latencies.push(post.at.duration_since(landed));
                break;
            }
            assert!(landed.elapsed() < Duration::from_secs(60));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Land the next commit at a different point of the poll cycle.
        tokio::time::sleep(Duration::from_millis(300 + 170 * i)).await;
    }
    daemon.shutdown();
    running.await.unwrap().unwrap();
    latencies.sort();
    let metrics = daemon.health().prometheus();
    let poll = |suffix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("abibot_poll_duration_seconds_{suffix}")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap()
    };
    eprintln!(
        "commit -> POST over {} commits, poll interval 1 s: min {:?}, median {:?}, max {:?}",
        latencies.len(),
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    eprintln!(
        "mean poll duration (idle polls included): {:.1} ms over {} polls",
        1000.0 * poll("sum") / poll("count"),
        poll("count")
    );
}

/// Builds a synthetic Debian-scale history: real amd64 references (three
/// flavours, ~24.6k symbols each), `ABIBOT_BENCH_COMMITS` commits (default
/// 400) of patches, changelog edits, reference refreshes that hide breaks,
/// a dropped and restored flavour, and ABI bumps.
#[test]
#[ignore = "benchmark"]
fn synthetic_history() {
    let Ok(keep) = std::env::var("ABIBOT_BENCH_REPO") else {
        eprintln!("set ABIBOT_BENCH_REPO to the directory to create");
        return;
    };
    let commits: usize = std::env::var("ABIBOT_BENCH_COMMITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let (r, _) = real_debian_repo();
    let mut abi = 47;
    let mut content = "6.1.0-47";
    let mut cloud_dropped = false;
    for i in 1..commits {
        let dir = format!("debian/abi/6.1.0-{abi}");
        if i % 100 == 50 {
            abi += 1;
            r.write(
                "debian/changelog",
                changelog(&format!("6.1.{}-1", 170 + i), "New upstream stable update"),
            );
            r.write("debian/config/defines", defines(&abi.to_string(), &[]));
            r.remove(&dir);
            write_real_references(&r, &format!("6.1.0-{abi}"), content);
            cloud_dropped = false;
            r.commit(&format!("Bump ABI to {abi}"));
        } else if i % 20 == 0 {
            content = if content == "6.1.0-47" {
                "6.1.0-50"
            } else {
                "6.1.0-47"
            };
            for f in FLAVOURS {
                if !(cloud_dropped && f.contains("cloud")) {
                    r.write(&format!("{dir}/{f}"), abi_file(content, f));
                }
            }
            r.commit("Refresh ABI reference files");
        } else if i % 37 == 0 {
            let path = format!("{dir}/amd64_none_cloud-amd64");
            if cloud_dropped {
                r.write(&path, abi_file(content, "amd64_none_cloud-amd64"));
                r.commit("Restore the cloud reference");
            } else {
                r.remove(&path);
                r.commit("Drop the cloud reference");
            }
            cloud_dropped = !cloud_dropped;
        } else if i % 7 == 0 {
            r.write(
                "debian/changelog",
                changelog(&format!("6.1.{}-1", 170 + i), &format!("change {i}")),
            );
            r.commit(&format!("Update changelog ({i})"));
        } else {
            r.write(
                &format!("debian/patches/bugfix/p{i:04}.patch"),
                format!("--- a/f{i}\n+++ b/f{i}\n"),
            );
            r.commit(&format!("Add patch {i}"));
        }
    }
    let target = std::path::PathBuf::from(keep);
    let TestRepo { dir, repo } = r;
    drop(repo);
    let kept = dir.keep();
    std::fs::rename(&kept, &target)
        .or_else(|_| {
            std::process::Command::new("cp")
                .arg("-a")
                .arg(&kept)
                .arg(&target)
                .status()
                .map(drop)
        })
        .unwrap();
    eprintln!("{commits} commits in {}", target.display());
}
