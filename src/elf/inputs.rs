//! Which files an `extract` or `check-module` argument stands for, what
//! Module.symvers calls each of them, and in which order modpost would list
//! them.
//!
//! # The module column
//!
//! Module.symvers names a module by its path in the kernel tree without
//! `.ko` (`fs/fat/fat`). A `.ko` does not record that path, so it is derived
//! from where the file lies, first rule that applies:
//! 1. The path has `lib/modules/<release>/kernel/` in it: what follows
//!    (`/lib/modules/6.1.0-47-amd64/kernel/fs/fat/fat.ko` -> `fs/fat/fat`).
//! 2. The file was found under a directory argument: its path relative to
//!    that directory, with a leading `kernel/` dropped unless the directory is
//!    a kernel build tree (holds a `Makefile`), whose own `kernel/` is source.
//! 3. A file named directly whose path starts with `kernel/`: what follows.
//! 4. Otherwise the file name (`fat`).
//!
//! Compression suffixes (`.ko.xz`, `.ko.zst`, `.ko.gz`) go with `.ko`. A
//! non-relocatable ELF (vmlinux) is always `vmlinux`, whatever its name.
//!
//! # Order
//!
//! modpost reads vmlinux first, then modules in `modules.order` order. So:
//! vmlinux first; files under a directory that has a `modules.order` (Debian
//! ships it in `lib/modules/<release>/`) in its order; then the remaining
//! files of a directory sorted by path; files named directly keep their
//! position among the arguments.
//!
//! A file reached twice (named, and inside a directory argument) is read
//! once, at its first position, with the directory walk's module column.
//!
//! Directory walks do not follow symbolic links (`lib/modules/*/build` points
//! into the headers), and take only `*.ko*` files and a `vmlinux` at the top.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::error::{ElfError, ElfErrorKind};

/// One file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Where the file is.
    pub path: PathBuf,
    /// Its Module.symvers module column (see the module docs).
    pub module: String,
}

const MODULE_SUFFIXES: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// `fat.ko.xz` -> `Some("fat")`; `None` for a file that is not a module.
pub fn module_stem(file_name: &str) -> Option<&str> {
    MODULE_SUFFIXES
        .iter()
        .find_map(|s| file_name.strip_suffix(s))
        .filter(|stem| !stem.is_empty())
}

fn is_vmlinux_name(file_name: &str) -> bool {
    file_name == "vmlinux" || file_name.starts_with("vmlinux-")
}

fn names(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// Joins components and drops the module suffix of the last one.
fn column(parts: &[String]) -> Option<String> {
    let (last, dirs) = parts.split_last()?;
    let stem = module_stem(last).unwrap_or(last);
    let mut out: Vec<&str> = dirs.iter().map(String::as_str).collect();
    out.push(stem);
    Some(out.join("/"))
}

/// Rule 1: the part after `lib/modules/<release>/kernel/`.
fn after_installed_tree(parts: &[String]) -> Option<String> {
    let at = parts
        .windows(4)
        .rposition(|w| w[0] == "lib" && w[1] == "modules" && w[3] == "kernel")?;
    column(parts.get(at + 4..)?)
}

/// The module column of a file named directly on the command line.
pub fn module_column_for_file(path: &Path) -> String {
    let parts = names(path);
    if let Some(c) = after_installed_tree(&parts) {
        return c;
    }
    if parts.first().is_some_and(|p| p == "kernel")
        && path.is_relative()
        && let Some(c) = parts.get(1..).and_then(column)
    {
        return c;
    }
    let file_name = parts.last().map_or("", String::as_str);
    if is_vmlinux_name(file_name) {
        return "vmlinux".to_owned();
    }
    module_stem(file_name).unwrap_or(file_name).to_owned()
}

fn module_column_in_dir(root: &Path, rel: &Path, build_tree: bool) -> String {
    if let Some(c) = after_installed_tree(&names(&root.join(rel))) {
        return c;
    }
    let parts = names(rel);
    let parts = match parts.split_first() {
        Some((first, rest)) if first == "kernel" && !build_tree && !rest.is_empty() => rest,
        _ => &parts[..],
    };
    column(parts).unwrap_or_default()
}

/// Expands the arguments into files, named and ordered as described in the
/// module docs; the first problem found stops it.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Input>, ElfError> {
    let (inputs, errors) = collect_all(paths);
    match errors.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(inputs),
    }
}

/// Like [`collect`], but goes on past arguments and directories that cannot
/// be read, returning every file found and an error for each problem.
///
/// A file reached twice (named and inside a directory argument, or through
/// two arguments) is read once, at its first position, with the module column
/// of a directory walk when one found it (it knows more of the path).
pub fn collect_all(paths: &[PathBuf]) -> (Vec<Input>, Vec<ElfError>) {
    let mut found: Vec<(Input, bool)> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => errors.push(ElfError::new(
                path.display().to_string(),
                ElfErrorKind::Io(e),
            )),
            Ok(meta) if meta.is_dir() => {
                found.extend(
                    collect_dir(path, &mut errors)
                        .into_iter()
                        .map(|i| (i, true)),
                );
            }
            Ok(_) => found.push((
                Input {
                    path: path.clone(),
                    module: module_column_for_file(path),
                },
                false,
            )),
        }
    }
    let mut out = once_each(found);
    // vmlinux first; a stable sort keeps everything else where it was.
    out.sort_by_key(|i| i.module != "vmlinux");
    (out, errors)
}

/// Keeps the first of inputs naming the same file (after resolving links and
/// `..`), preferring a directory walk's module column.
fn once_each(found: Vec<(Input, bool)>) -> Vec<Input> {
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut out: Vec<(Input, bool)> = Vec::with_capacity(found.len());
    for (input, from_dir) in found {
        let key = std::fs::canonicalize(&input.path).unwrap_or_else(|_| input.path.clone());
        match seen.get(&key) {
            Some(&at) => {
                if from_dir && !out[at].1 {
                    out[at] = (
                        Input {
                            path: out[at].0.path.clone(),
                            module: input.module,
                        },
                        true,
                    );
                }
            }
            None => {
                seen.insert(key, out.len());
                out.push((input, from_dir));
            }
        }
    }
    out.into_iter().map(|(input, _)| input).collect()
}

struct Found {
    rel: PathBuf,
    is_vmlinux: bool,
}

/// The entries of `dir` by name, with their types; problems go to `errors`.
fn list_sorted(
    dir: &Path,
    errors: &mut Vec<ElfError>,
) -> Vec<(std::fs::DirEntry, std::fs::FileType)> {
    let io = |e| ElfError::new(dir.display().to_string(), ElfErrorKind::Io(e));
    let mut entries = match std::fs::read_dir(dir).and_then(|d| d.collect::<Result<Vec<_>, _>>()) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(io(e));
            return Vec::new();
        }
    };
    entries.sort_by_key(|e| e.file_name());
    entries
        .into_iter()
        .filter_map(|entry| match entry.file_type() {
            Ok(kind) => Some((entry, kind)),
            Err(e) => {
                errors.push(io(e));
                None
            }
        })
        .collect()
}

/// A `modules.order` read during the walk: the directory it lies in
/// (relative to the root) and each listed module's line.
type Order = (PathBuf, HashMap<String, usize>);

/// Walks one directory argument; unreadable directories and entries are
/// added to `errors` and skipped.
fn collect_dir(root: &Path, errors: &mut Vec<ElfError>) -> Vec<Input> {
    let (mut found, orders) = walk_dir(root, errors);
    let build_tree = root.join("Makefile").is_file();
    // Position of a file in the nearest enclosing modules.order, if listed.
    let position = |rel: &Path| -> Option<(usize, usize)> {
        orders
            .iter()
            .enumerate()
            .filter_map(|(i, (dir, map))| {
                let inner = rel.strip_prefix(dir).ok()?;
                let key = order_key(inner)?;
                Some((dir.components().count(), i, *map.get(&key)?))
            })
            .max_by_key(|(depth, _, _)| *depth)
            .map(|(_, i, line)| (i, line))
    };
    // vmlinux, then files listed in a modules.order, then the rest by path.
    found.sort_by_cached_key(|f| {
        let listed = match position(&f.rel) {
            Some((file, line)) => (0u8, file, line),
            None => (1, 0, 0),
        };
        (!f.is_vmlinux, listed, f.rel.clone())
    });
    found
        .into_iter()
        .map(|f| Input {
            module: if f.is_vmlinux {
                "vmlinux".to_owned()
            } else {
                module_column_in_dir(root, &f.rel, build_tree)
            },
            path: root.join(&f.rel),
        })
        .collect()
}

/// Every module (and a top-level vmlinux) below `root`, relative to it, and
/// the `modules.order` files met on the way, which decide the output order.
fn walk_dir(root: &Path, errors: &mut Vec<ElfError>) -> (Vec<Found>, Vec<Order>) {
    let mut found = Vec::new();
    let mut orders = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        for (entry, kind) in list_sorted(&root.join(&rel_dir), errors) {
            let name = entry.file_name();
            let rel = rel_dir.join(&name);
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                let name = name.to_string_lossy();
                if name == "modules.order" {
                    match read_order(&root.join(&rel)) {
                        Ok(order) => orders.push((rel_dir.clone(), order)),
                        Err(e) => errors.push(e),
                    }
                } else if module_stem(&name).is_some() {
                    found.push(Found {
                        rel,
                        is_vmlinux: false,
                    });
                } else if rel_dir.as_os_str().is_empty() && name == "vmlinux" {
                    found.push(Found {
                        rel,
                        is_vmlinux: true,
                    });
                }
            }
        }
    }
    (found, orders)
}

/// `kernel/fs/fat/fat.ko` or `fs/fat/fat.o` -> `kernel/fs/fat/fat` /
/// `fs/fat/fat`: modules.order lists `.ko` when installed and `.o` in newer
/// build trees, while installed files may be compressed.
fn order_key(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let stem = module_stem(text)
        .or_else(|| text.strip_suffix(".o"))
        .unwrap_or(text);
    Some(stem.to_owned())
}

fn read_order(path: &Path) -> Result<HashMap<String, usize>, ElfError> {
    let text = crate::input::read(path, crate::input::LIST)
        .map_err(|e| ElfError::new(e.path, ElfErrorKind::Input(e.kind)))?;
    let mut map = HashMap::new();
    for (line, entry) in String::from_utf8_lossy(&text).lines().enumerate() {
        if let Some(key) = order_key(Path::new(entry.trim())) {
            map.entry(key).or_insert(line);
        }
    }
    Ok(map)
}
