//! Values validated where they enter, as the command line shows them: a
//! malformed flavour key is refused by the argument parser naming its
//! missing part, a git failure keeps git's code and class in the message
//! chain (and a reference git cannot read names its commit and path), and
//! a state database row holding an id abibot never writes is named
//! (database and row), not passed on to a forge.

mod common;

use abibot::config::RepoName;
use abibot::history::CommitSha;
use abibot::state::{NewFinding, State};
use common::{FAT_KO, abibot, debian_repo};

#[test]
fn a_malformed_flavour_is_refused_at_the_command_line() {
    let r = debian_repo();
    let path = r.path().to_str().unwrap();
    for (flavour, part) in [("amd64", "featureset"), ("amd64_none_", "flavour")] {
        let args = ["check-module", FAT_KO, "--repo", path, "--rev", "HEAD"];
        let (code, _, err) = abibot(&[&args[..], &["--flavour", flavour]].concat());
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!(
                "\"{flavour}\" is not a flavour key: the {part} is missing"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_git_failure_shows_its_code_and_class_once() {
    let r = debian_repo();
    r.commit("base");
    let path = r.path().to_str().unwrap();
    let args = ["check-module", FAT_KO, "--repo", path, "--rev", "nope"];
    let (code, _, err) = abibot(&[&args[..], &["--flavour", "amd64_none_amd64"]].concat());
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        "abibot: error: revision \"nope\": revspec 'nope' not found: \
         libgit2 class Reference, code NotFound"
    );
}

#[test]
fn a_state_row_abibot_never_wrote_is_named_by_state_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite");
    let state = State::open(&db).unwrap();
    let finding = NewFinding {
        id: "0123456789abcdef01234567".parse().unwrap(),
        commit: "ab".repeat(20).parse().unwrap(),
        kind: "hidden-break",
        body: "body".into(),
        post: true,
    };
    let repo = RepoName::new("linux").unwrap();
    let head = "cd".repeat(20).parse().unwrap();
    state
        .record_scan(&repo, "master", &head, &[finding])
        .unwrap();
    drop(state);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE findings SET commit_sha = 'main~1'", [])
        .unwrap();
    let config = dir.path().join("abibot.toml");
    let text = format!(
        "state = \"{}\"\n[[repo]]\nname = \"linux\"\npath = \"{}\"\nbranches = [\"master\"]\n[repo.stdout]\n",
        db.display(),
        dir.path().display()
    );
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = abibot(&["state", "list", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        err.trim_end(),
        format!(
            "abibot: error: state database {}: findings row 1: \"main~1\" is not a commit id: \
             expected 40 or 64 lowercase hex digits",
            db.display()
        )
    );
}

#[test]
fn a_reference_git_cannot_read_is_an_error_naming_commit_and_path() {
    let r = debian_repo();
    let path = "debian/abi/6.1.0-47/amd64_none_amd64";
    r.write(path, common::symvers(&[("a", 1)]));
    let commit = r.commit("base");
    // The tree still names the blob; the object database lost it.
    let blob = r
        .repo
        .revparse_single(&format!("HEAD:{path}"))
        .unwrap()
        .id();
    let hex = blob.to_string();
    let loose = r
        .path()
        .join(".git/objects")
        .join(&hex[..2])
        .join(&hex[2..]);
    std::fs::remove_file(loose).unwrap();
    let (code, out, err) = common::abibot_on("scan", &r, &["--format", "json"]);
    assert_eq!(code, 2, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let message = doc["errors"][0]["message"].as_str().unwrap();
    let short = CommitSha::of(commit).short().to_owned();
    let expected = format!("read {short}:{path}: object not found - no match for id ({blob})");
    assert_eq!(message, expected);
    assert!(
        err.contains(&format!("current state ({short}) is unreadable")),
        "{err}"
    );
}
