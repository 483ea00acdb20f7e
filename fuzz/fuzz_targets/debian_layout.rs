//! Fuzzes the Debian layout's own parsers through its public API: the first
//! line of `debian/changelog`, `debian/config/defines` (global, per arch, per
//! arch+featureset, per featureset), `debian/config/defines.toml`, the ABI
//! name computed from them, the `ignore-changes` rules, and the
//! `debian/abi/<abiname>/<arch>_<featureset>_<flavour>` listing.
//!
//! Input: up to seven parts separated by NUL bytes, in this order:
//! changelog, defines, defines.toml, `<arch>/defines`,
//! `<arch>/<featureset>/defines`, `featureset-<fs>/defines`, and the listing
//! of `debian/abi` as lines `<dir>/<file>` (`<dir>/<name>/` is a directory).
//! A missing part is an absent file. Any panic is a bug; a snapshot must only
//! hold flavours found under the ABI name it gives them.

#![no_main]

use std::collections::BTreeMap;

use abibot::layouts::debian::Debian;
use abibot::layouts::{DirEntry, TreeError, TreeSource};
use git2::Oid;
use libfuzzer_sys::fuzz_target;

/// A revision's tree built from the fuzz input.
struct Tree<'a> {
    parts: Vec<&'a [u8]>,
    /// `debian/abi/<dir>` -> its entries.
    abi: BTreeMap<String, Vec<DirEntry>>,
}

/// A distinct object id per entry, as git would give distinct files.
fn oid(n: usize) -> Oid {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
    Oid::from_bytes(&bytes).expect("20 bytes")
}

impl<'a> Tree<'a> {
    fn new(data: &'a [u8]) -> Tree<'a> {
        let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        let mut abi: BTreeMap<String, Vec<DirEntry>> = BTreeMap::new();
        let listing = parts.get(6).map(|p| String::from_utf8_lossy(p));
        for (n, line) in listing.iter().flat_map(|l| l.lines()).enumerate() {
            let Some((dir, name)) = line.split_once('/') else {
                continue;
            };
            let (name, is_dir) = match name.strip_suffix('/') {
                Some(name) => (name, true),
                None => (name, false),
            };
            let entries = abi.entry(dir.to_owned()).or_default();
            if !name.is_empty() {
                entries.push(DirEntry {
                    name: name.to_owned(),
                    id: oid(n),
                    is_dir,
                });
            }
        }
        Tree { parts, abi }
    }

    /// Which part serves `path`: the arch and featureset names are whatever
    /// the listing's file names make them.
    fn part(&self, path: &str) -> Option<usize> {
        let config: Vec<&str> = path.strip_prefix("debian/config/")?.split('/').collect();
        match config.as_slice() {
            ["defines"] => Some(1),
            ["defines.toml"] => Some(2),
            [fs, "defines"] if fs.starts_with("featureset-") => Some(5),
            [_arch, "defines"] => Some(3),
            [_arch, _fs, "defines"] => Some(4),
            _ => None,
        }
    }
}

impl TreeSource for Tree<'_> {
    fn id(&self, path: &str) -> Result<Option<Oid>, TreeError> {
        Ok(self.read(path)?.map(|_| oid(usize::MAX >> 1)))
    }

    fn list(&self, dir: &str) -> Result<Vec<DirEntry>, TreeError> {
        if dir == "debian/abi" {
            let dirs = self.abi.keys().enumerate();
            return Ok(dirs
                .map(|(n, name)| DirEntry {
                    name: name.clone(),
                    id: oid(1 << 40 | n),
                    is_dir: true,
                })
                .collect());
        }
        let entries = dir
            .strip_prefix("debian/abi/")
            .and_then(|d| self.abi.get(d));
        Ok(entries.cloned().unwrap_or_default())
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        let index = if path == "debian/changelog" {
            Some(0)
        } else {
            self.part(path)
        };
        Ok(index.and_then(|i| self.parts.get(i)).map(|p| p.to_vec()))
    }
}

fuzz_target!(|data: &[u8]| {
    let tree = Tree::new(data);
    let layout = Debian {
        root: String::new(),
    };
    match layout.read(&tree) {
        Ok(snapshot) => {
            for (key, source) in &snapshot.flavours {
                let expected = format!("debian/abi/{}/{key}", source.abi.as_str());
                assert_eq!(source.path, expected, "flavour outside its ABI directory");
            }
        }
        Err(error) => {
            let _ = error.to_string();
            assert!(
                error.path().starts_with("debian/"),
                "error names no file of the tree: {error}"
            );
        }
    }
});
