//! `abibot extract` and `abibot check-module`: kernel binaries in, Module.symvers
//! lines or the module loader's verdicts out.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::diff::{parse_format, read_reference};
use super::{Outcome, print};
use crate::elf::{ModuleInfo, ReadOptions, read_paths, read_paths_partial, unique_exports};
use crate::formats::{self, Format};
use crate::pipeline::RepoSpec;
use crate::symbols::FlavourKey;

pub(crate) const EXTRACT_EXIT_CODES: &str = "\
Exit codes:
  0  every file was read
  2  error: a file could not be read, or two files export one name
     differently (each named on stderr). The exports that could be read are
     still printed on stdout; -o FILE is written only when there was no error.";

pub(crate) const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  every module would load
  1  some module would not load
  2  error (unreadable input, bad arguments)";

/// Output forms of `abibot extract`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExtractFormat {
    /// Module.symvers lines, in modpost's order.
    #[default]
    Symvers,
    /// A JSON array of symbols, in the same order.
    Json,
}

/// Arguments of `abibot extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// vmlinux, modules (.ko, .ko.xz, .ko.zst, .ko.gz) or directories to search
    /// (an unpacked `lib/modules/<release>/`, a build tree).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExtractFormat,
    /// Refuse compressed files that decompress to more bytes than this.
    #[arg(long, value_name = "BYTES", default_value_t = crate::elf::DEFAULT_MAX_DECOMPRESSED)]
    pub max_decompressed: u64,
}

/// Output forms of `abibot check-module`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CheckFormat {
    /// One verdict line per module, then its findings.
    #[default]
    Text,
    /// `{"loads": bool, "modules": [...]}`.
    Json,
}

/// Arguments of `abibot check-module`.
#[derive(Debug, Args)]
pub struct CheckModuleArgs {
    /// Modules to check (.ko, .ko.xz, .ko.zst, .ko.gz) or directories of them.
    #[arg(required = true)]
    pub modules: Vec<PathBuf>,
    /// The kernel's exports: a Module.symvers or another reference format.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "repo",
        conflicts_with = "repo"
    )]
    pub against: Option<PathBuf>,
    /// Instead of --against: the packaging repository whose reference to check against.
    #[arg(long, value_name = "PATH", requires_all = ["rev", "flavour"])]
    pub repo: Option<PathBuf>,
    /// With --repo: the revision (branch, tag, sha).
    #[arg(long, requires = "repo")]
    pub rev: Option<String>,
    /// With --repo: the flavour, as `<arch>_<featureset>_<flavour>` (`amd64_none_amd64`).
    #[arg(long, requires = "repo")]
    pub flavour: Option<FlavourKey>,
    /// With --repo: the packaging directory inside it (detected by default).
    #[arg(long, requires = "repo")]
    pub root: Option<String>,
    /// Input format of --against (detected by default).
    #[arg(long, value_parser = parse_format)]
    pub input_format: Option<Format>,
    /// The kernel's vermagic (e.g. "6.1.0-50-amd64 SMP preempt mod_unload modversions ").
    #[arg(long)]
    pub vermagic: Option<String>,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: CheckFormat,
    /// Refuse compressed files that decompress to more bytes than this.
    #[arg(long, value_name = "BYTES", default_value_t = crate::elf::DEFAULT_MAX_DECOMPRESSED)]
    pub max_decompressed: u64,
}

/// Reads every input; every error is printed, the first returned.
fn read_elf_inputs(paths: &[PathBuf], max_decompressed: u64) -> anyhow::Result<Vec<ModuleInfo>> {
    let options = ReadOptions { max_decompressed };
    read_paths(paths, &options).map_err(|errors| {
        for e in errors.0.iter().skip(1) {
            eprintln!("abibot: error: {e}");
        }
        errors.into()
    })
}

/// Reads the modules to check (every error printed, the first returned);
/// a linked image (vmlinux) among them is refused, naming it.
pub(super) fn read_modules(
    paths: &[PathBuf],
    max_decompressed: u64,
) -> anyhow::Result<Vec<ModuleInfo>> {
    let infos = read_elf_inputs(paths, max_decompressed)?;
    if let Some(image) = infos
        .iter()
        .find(|i| i.kind != crate::elf::ObjectKind::Module)
    {
        anyhow::bail!("{}: not a kernel module (a linked image)", image.path);
    }
    Ok(infos)
}

/// Runs `abibot extract`: prints every export it could read, each name once,
/// and names every file it could not read (exit 2).
pub fn extract(args: ExtractArgs) -> anyhow::Result<Outcome> {
    let options = ReadOptions {
        max_decompressed: args.max_decompressed,
    };
    let read = read_paths_partial(&args.paths, &options);
    let (symbols, duplicates) = unique_exports(&read.infos);
    let mut out = Vec::new();
    match args.format {
        ExtractFormat::Symvers => {
            formats::write(symbols.iter().copied(), Format::Symvers, &mut out)?
        }
        ExtractFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &symbols)?;
            out.push(b'\n');
        }
    }
    for e in &read.errors {
        eprintln!("abibot: error: {e}");
    }
    for d in &duplicates {
        eprintln!("abibot: error: {d}");
    }
    let (bad, twice) = (read.errors.len(), duplicates.len());
    match &args.output {
        // A file outlives the message: never leave a partial ABI in one.
        Some(path) if bad + twice > 0 => {
            anyhow::bail!("{} not written: see the errors above", path.display())
        }
        Some(path) => write_atomically(path, &out)?,
        None => print(&String::from_utf8_lossy(&out))?,
    }
    if bad + twice > 0 {
        let mut problems = Vec::new();
        if bad > 0 {
            problems.push(format!("{bad} file(s) could not be read"));
        }
        if twice > 0 {
            problems.push(format!("{twice} name(s) were exported twice"));
        }
        anyhow::bail!(
            "{} (each named above); printed the {} exports of the {} file(s) read",
            problems.join(" and "),
            symbols.len(),
            read.infos.len()
        );
    }
    Ok(Outcome::Clean)
}

/// Replaces `path` only once the whole output is written.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs `abibot check-module`.
pub fn check_module(args: CheckModuleArgs) -> anyhow::Result<Outcome> {
    let against = match (&args.against, &args.repo, &args.rev, &args.flavour) {
        (Some(file), _, _, _) => std::sync::Arc::new(read_reference(file, args.input_format)?),
        (None, Some(repo), Some(rev), Some(flavour)) => {
            let repo = git2::Repository::open(repo)
                .with_context(|| format!("cannot open git repository {}", repo.display()))?;
            let spec = RepoSpec::at(args.root.clone(), None);
            spec.open(&repo).walker.reference_at(rev, flavour)?.1
        }
        _ => unreachable!("clap requires --against or --repo with --rev and --flavour"),
    };
    let infos = read_modules(&args.modules, args.max_decompressed)?;
    let reports: Vec<_> = infos
        .iter()
        .map(|info| crate::loadcheck::check(info, &against, args.vermagic.as_deref()))
        .collect();
    let rendered = match args.format {
        CheckFormat::Text => crate::report::loadcheck::text(&reports),
        CheckFormat::Json => crate::report::loadcheck::json(&reports),
    };
    print(&rendered)?;
    Ok(if reports.iter().all(|r| r.loads) {
        Outcome::Clean
    } else {
        Outcome::Incompatible
    })
}
