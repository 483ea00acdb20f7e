//! Inputs that are not plain files, or are far too large: every command
//! refuses them at once with a message naming the file and the limit,
//! instead of blocking on a FIFO or reading `/dev/zero` until memory ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ABI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/abi/6.1.0-47/amd64_none_cloud-amd64"
);
const FAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/fat.ko"
);

/// Runs abibot, killing it (and failing) if it has not ended within a
/// minute: a blocked read must fail the test, not hang the suite.
fn run(args: &[&Path]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abibot"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("abibot {args:?} still running after a minute: blocked on its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out: Output = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// The hostile paths of one test directory: a FIFO, `/dev/zero`, a link to
/// it, and what each must be called.
fn hostile(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let link = dir.join("zero-link");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    vec![
        (fifo, "is a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (link, "is a character device, not a regular file"),
    ]
}

#[test]
fn fifos_and_dev_zero_are_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (abi, fat) = (Path::new(ABI), Path::new(FAT));
    for (bad, what) in hostile(dir.path()) {
        let b = bad.as_path();
        let against = Path::new("--against");
        let ignore = Path::new("--ignore-file");
        let commands: [&[&Path]; 9] = [
            &[Path::new("diff"), b, abi],
            &[Path::new("explain"), b, abi],
            &[Path::new("explain"), abi, b],
            &[Path::new("verify"), b, abi],
            &[Path::new("diff"), abi, b],
            &[Path::new("diff"), abi, abi, ignore, b],
            &[Path::new("extract"), b],
            &[Path::new("check-module"), b, against, abi],
            &[Path::new("check-module"), fat, against, b],
        ];
        for args in commands {
            let (code, err) = run(args);
            assert_eq!(code, 2, "{args:?}: {err}");
            // The file first, then (perhaps after "cannot read:") what it is.
            let shown = format!("{}: ", bad.display());
            let rest = err.split_once(&shown).map(|(_, r)| r);
            assert!(rest.is_some_and(|r| r.contains(what)), "{args:?}: {err}");
        }
    }
}

/// A sparse file of `len` bytes starting with `head`: large on paper,
/// nothing on disk.
fn sparse(path: &Path, head: &[u8], len: u64) {
    std::fs::write(path, head).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn oversized_files_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("huge.symvers");
    sparse(
        &reference,
        b"0x00000001\ta\tvmlinux\tEXPORT_SYMBOL\t\n",
        (256 << 20) + 1,
    );
    let (code, err) = run(&[Path::new("diff"), &reference, Path::new(ABI)]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{}: is 268435457 bytes, more than the 256 MiB allowed for a reference file",
            reference.display()
        )),
        "{err}"
    );

    // A relocatable ELF header (a module) of 1 GiB and a byte.
    let fat_head = std::fs::read(FAT).unwrap()[..64].to_vec();
    let module = dir.path().join("huge.ko");
    sparse(&module, &fat_head, (1 << 30) + 1);
    let (code, err) = run(&[Path::new("extract"), &module]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "huge.ko: is 1073741825 bytes, more than the 1 GiB allowed for a kernel module"
        ),
        "{err}"
    );

    let image = dir.path().join("vmlinux");
    sparse(&image, b"\x7fELF", (4 << 30) + 4096);
    let (code, err) = run(&[Path::new("extract"), &image]);
    assert_eq!(code, 2);
    assert!(
        err.contains("vmlinux: is 4294971392 bytes, more than the 4 GiB allowed for a vmlinux"),
        "{err}"
    );
}

#[test]
fn a_configuration_file_that_is_not_plain_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, what) in hostile(dir.path()) {
        let args = [Path::new("config"), Path::new("check"), bad.as_path()];
        let (code, err) = run(&args);
        assert_ne!(code, 0, "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "cannot read configuration {}: {what}",
                bad.display()
            )),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_token_file_that_is_not_plain_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, what) in hostile(dir.path()) {
        let text = format!(
            "state = \"{}\"\n[[repo]]\nname = \"linux\"\npath = \"{}\"\nbranches = [\"master\"]\n\
             [repo.github]\nrepo = \"owner/linux\"\ntoken_file = \"{}\"\n",
            dir.path().join("state.sqlite").display(),
            dir.path().display(),
            bad.display()
        );
        let config = abibot::config::Config::parse(&text, "abibot.toml").unwrap();
        // In a thread: a read blocked on the FIFO must fail the test, not hang it.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || send.send(config.warnings()).unwrap());
        let warnings = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("resolving token_file still blocked after a minute");
        let expected = format!(
            "repo linux: cannot read secret file {}: {what}",
            bad.display()
        );
        assert_eq!(warnings, [expected]);
    }
}

#[test]
fn a_generic_layout_file_that_is_not_plain_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let init = Command::new("git")
        .arg("init")
        .arg("-q")
        .arg(&repo)
        .status();
    assert!(init.unwrap().success());
    for (bad, what) in hostile(dir.path()) {
        for command in ["scan", "timeline"] {
            let args = [
                Path::new(command),
                Path::new("--repo"),
                &repo,
                Path::new("--generic-layout"),
                &bad,
            ];
            let (code, err) = run(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            // The file first, then (perhaps after "cannot read:") what it is.
            let shown = format!("{}: ", bad.display());
            let rest = err.split_once(&shown).map(|(_, r)| r);
            assert!(rest.is_some_and(|r| r.contains(what)), "{args:?}: {err}");
        }
    }
}
