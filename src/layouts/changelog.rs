//! The first entry of a Debian changelog (`debian/changelog`, Ubuntu's
//! `debian.<branch>/changelog`), read the way dpkg's
//! `Dpkg::Changelog::Debian` reads it, but strictly: what dpkg reports as a
//! parse error anywhere before the first entry's trailer line is an error
//! here, never a guessed version. The ABI name is computed from this
//! version, so a guess (the old reader took the first line with a `(`) let
//! a merge-conflict marker turn `6.1.0-47` into `47` without a word.
//!
//! The entry, as dpkg's state machine wants it:
//! - a heading `source (version) dist[ dist...]; key=value[, key=value]`
//!   (`Dpkg::Changelog::Entry::Debian`'s header expression; the options
//!   are `Urgency`, `Binary-Only=yes` or `X[BCS]+-...` fields);
//! - change lines indented by at least two spaces, blank lines between;
//! - the trailer ` -- Name <email>  date`, with two spaces before the date.
//!
//! Lines dpkg skips anywhere (`# ` comments, `/* */` comments, CVS
//! keywords) are skipped. A line starting with anything else is a "badly
//! formatted heading line" for dpkg; git's conflict markers are such lines
//! and are named as such.

use std::sync::LazyLock;

use regex::Regex;

use super::{LayoutError, conflict_marker};

/// `Dpkg::Changelog::Entry::Debian`'s heading expression: source, version,
/// distributions, options.
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(\w[-+0-9a-z.]*) \(([^() \t]+)\)((?:\s+[-+0-9a-z.]+)+);(.*?)\s*$")
        .expect("valid heading expression")
});

/// Its trailer expression: maintainer, email, the blanks before the date,
/// the date.
static TRAILER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^ -- (.*) <(.*)>( {1,2})((?:\w+,\s*)?\d{1,2}\s+\w+\s+\d{4}\s+\d{1,2}:\d\d:\d\d\s+[-+]\d{4})\s*$",
    )
    .expect("valid trailer expression")
});

/// One `key=value` option after the `;`.
static OPTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^([-0-9a-z]+)=\s*(.*\S)$").expect("valid option expression"));

/// Lines dpkg skips wherever they are: `# ` comments, `/* */` comments and
/// CVS keywords (`$Id: ... $`).
static SKIPPED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:# |/\*.*\*/|\$\w+:.*\$)").expect("valid comment expression"));

/// The heading of a changelog's first entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heading {
    /// The source package (`linux`).
    pub source: String,
    /// The version (`6.1.176-1`), checked as dpkg checks versions.
    pub version: String,
    /// Where it is released to (`bookworm-security`), or `UNRELEASED`
    /// while it is prepared; dpkg allows several, the first counts.
    pub distributions: Vec<String>,
}

impl Heading {
    /// The first target distribution.
    pub fn distribution(&self) -> &str {
        &self.distributions[0]
    }
}

/// What dpkg's parser expects next, in its own words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    FirstHeading,
    StartChanges,
    ChangesOrTrailer,
}

impl Expect {
    fn words(self) -> &'static str {
        match self {
            Expect::FirstHeading => "first heading",
            Expect::StartChanges => "start of change data",
            Expect::ChangesOrTrailer => "more change data or trailer",
        }
    }
}

/// Parses the first entry of the changelog `text` read from `path`; every
/// error names the file and its line.
pub fn first_entry(text: &str, path: &str) -> Result<Heading, LayoutError> {
    let bad = |line: usize, message: String| LayoutError::config(path, line, message);
    let mut expect = Expect::FirstHeading;
    let mut heading = None;
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        lines = n;
        if let Some(marker) = conflict_marker(line) {
            return Err(bad(n, format!("merge-conflict marker `{marker}`")));
        }
        let found = |what: &str| bad(n, format!("found {what} where expected {}", expect.words()));
        if let Some(caps) = HEADING.captures(line) {
            if expect != Expect::FirstHeading {
                return Err(found("start of entry"));
            }
            heading = Some(parse_heading(&caps).map_err(|m| bad(n, m))?);
            expect = Expect::StartChanges;
        } else if SKIPPED.is_match(line) {
            continue;
        } else if line.starts_with(|c: char| !c.is_whitespace()) {
            return Err(bad(n, format!("badly formatted heading line: {line:?}")));
        } else if let Some(caps) = TRAILER.captures(line) {
            if expect != Expect::ChangesOrTrailer {
                return Err(found("trailer"));
            }
            if &caps[3] != "  " {
                return Err(bad(
                    n,
                    "badly formatted trailer line: two spaces go before the date".into(),
                ));
            }
            return Ok(heading.expect("a trailer is expected only after a heading"));
        } else if line.starts_with(" --") {
            return Err(bad(n, "badly formatted trailer line".into()));
        } else if line.trim().is_empty() {
            if expect == Expect::FirstHeading {
                return Err(found("blank line"));
            }
        } else if is_change_line(line) {
            if expect == Expect::FirstHeading {
                return Err(found("change data"));
            }
            expect = Expect::ChangesOrTrailer;
        } else {
            return Err(bad(n, format!("unrecognized line: {line:?}")));
        }
    }
    Err(bad(
        lines,
        format!("found end of file where expected {}", expect.words()),
    ))
}

/// dpkg's change line: two or more blanks, then text.
fn is_change_line(line: &str) -> bool {
    let text = line.trim_start();
    line.len() - text.len() >= 2 && !text.is_empty()
}

/// The heading's parts, with dpkg's checks of the version and options.
fn parse_heading(caps: &regex::Captures<'_>) -> Result<Heading, String> {
    let version = &caps[2];
    check_version(version).map_err(|why| format!("version '{version}' is invalid: {why}"))?;
    let mut seen: Vec<String> = Vec::new();
    let options = caps[4].trim_start();
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let opt = OPTION
            .captures(option)
            .ok_or_else(|| format!("bad key-value after ';': '{option}'"))?;
        let (key, value) = (opt[1].to_ascii_lowercase(), &opt[2]);
        if seen.contains(&key) {
            return Err(format!("repeated key-value {}", &opt[1]));
        }
        let valid = match key.as_str() {
            "urgency" => value
                .split_whitespace()
                .next()
                .is_some_and(|u| u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')),
            "binary-only" => value == "yes",
            k => is_x_field(k),
        };
        if !valid {
            return Err(format!("bad or unknown key-value {}={value}", &opt[1]));
        }
        seen.push(key);
    }
    Ok(Heading {
        source: caps[1].to_owned(),
        version: version.to_owned(),
        distributions: caps[3].split_whitespace().map(str::to_owned).collect(),
    })
}

/// `X[BCS]+-...`: user fields dpkg accepts in a heading.
fn is_x_field(key: &str) -> bool {
    key.strip_prefix('x').is_some_and(|rest| {
        let flags = rest.len() - rest.trim_start_matches(['b', 'c', 's']).len();
        flags > 0 && rest[flags..].starts_with('-')
    })
}

/// dpkg's version check (`Dpkg::Version::version_check`): an optional
/// numeric epoch, an upstream part starting with a digit, an optional
/// revision after the last `-`, each of its allowed characters.
pub fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("version number is empty".into());
    }
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return Err("epoch part of the version number is not a number".into());
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("version number does not start with digit".into());
    }
    let allowed =
        |extra: &str, c: char| c.is_ascii_alphanumeric() || ".+~".contains(c) || extra.contains(c);
    if let Some(c) = upstream.chars().find(|c| !allowed("-:", *c)) {
        return Err(format!("invalid character {c:?} in version number"));
    }
    match revision {
        Some("") => Err("revision number is empty".into()),
        Some(r) => match r.chars().find(|c| !allowed("", *c)) {
            Some(c) => Err(format!("invalid character {c:?} in revision number")),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAILER_LINE: &str = " -- Ben <ben@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n";

    fn entry(heading: &str, body: &str) -> String {
        format!("{heading}\n\n{body}\n{TRAILER_LINE}\nlinux (1.0-1) unstable; urgency=low\n")
    }

    fn error(text: &str) -> String {
        first_entry(text, "debian/changelog")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn heading_version_and_distributions() {
        let text = entry(
            "linux (6.1.176-1) bookworm-security; urgency=high",
            "  * New upstream stable update",
        );
        let h = first_entry(&text, "c").unwrap();
        assert_eq!(h.source, "linux");
        assert_eq!(h.version, "6.1.176-1");
        assert_eq!(h.distribution(), "bookworm-security");
        let text = entry(
            "linux (1:3.14~rc5-1~exp1) UNRELEASED experimental; urgency=medium, binary-only=yes, XS-Foo=bar",
            "  * a",
        );
        let h = first_entry(&text, "c").unwrap();
        assert_eq!(h.distributions, ["UNRELEASED", "experimental"]);
        // dpkg skips comment lines anywhere.
        let text = format!(
            "# a comment\n{}",
            entry("linux (1-1) sid; urgency=low", "  * a")
        );
        assert_eq!(first_entry(&text, "c").unwrap().version, "1-1");
    }

    #[test]
    fn conflict_markers_before_the_first_trailer_are_errors() {
        let conflicted = format!(
            "<<<<<<< HEAD\n{}=======\n{}>>>>>>> feature\n",
            entry("linux (6.1.170-3) bookworm; urgency=high", "  * a"),
            entry("linux (6.1.176-1) bookworm; urgency=high", "  * b"),
        );
        assert_eq!(
            error(&conflicted),
            "debian/changelog:1: merge-conflict marker `<<<<<<<`"
        );
        let inside = "linux (6.1.176-1) bookworm; urgency=high\n\n<<<<<<< HEAD\n  * a\n=======\n  * b\n>>>>>>> x\n";
        assert_eq!(
            error(&format!("{inside}{TRAILER_LINE}")),
            "debian/changelog:3: merge-conflict marker `<<<<<<<`"
        );
        // After the first entry, a marker no longer concerns the version.
        let later = format!(
            "{}<<<<<<< HEAD\n",
            entry("linux (1-1) sid; urgency=low", "  * a")
        );
        assert_eq!(first_entry(&later, "c").unwrap().version, "1-1");
    }

    #[test]
    fn what_dpkg_reports_is_an_error() {
        for (text, message) in [
            (
                "",
                "debian/changelog:0: found end of file where expected first heading",
            ),
            (
                "\nlinux (1-1) sid; urgency=low\n",
                "debian/changelog:1: found blank line where expected first heading",
            ),
            (
                "linux 1-1 sid\n",
                "debian/changelog:1: badly formatted heading line: \"linux 1-1 sid\"",
            ),
            (
                "linux (1-1) sid; urgency=low\n\n  * a\n",
                "debian/changelog:3: found end of file where expected more change data or trailer",
            ),
            (
                "linux (1-1) sid; urgency=low\n -- A <a@b>  Mon, 01 Jan 2024 00:00:00 +0000\n",
                "debian/changelog:2: found trailer where expected start of change data",
            ),
            (
                "linux (1-1) sid; urgency=low\n  * a\n -- A <a@b> Mon, 01 Jan 2024 00:00:00 +0000\n",
                "debian/changelog:3: badly formatted trailer line: two spaces go before the date",
            ),
            (
                "linux (1-1) sid; urgency=low\n  * a\n -- nobody\n",
                "debian/changelog:3: badly formatted trailer line",
            ),
            (
                "linux (1-1) sid; urgency=low\n  * a\nlinux (0-1) sid; urgency=low\n",
                "debian/changelog:3: found start of entry where expected more change data or trailer",
            ),
            (
                "linux (v1-1) sid; urgency=low\n",
                "debian/changelog:1: version 'v1-1' is invalid: version number does not start with digit",
            ),
            (
                "linux (1-1) sid; urgency=low, colour=red\n",
                "debian/changelog:1: bad or unknown key-value colour=red",
            ),
            (
                "linux (1-1) sid; urgency\n",
                "debian/changelog:1: bad key-value after ';': 'urgency'",
            ),
            (
                "linux (1-1) sid; urgency=low\n odd\n",
                "debian/changelog:2: unrecognized line: \" odd\"",
            ),
        ] {
            assert_eq!(error(text), message, "{text:?}");
        }
    }

    #[test]
    fn versions_as_dpkg_checks_them() {
        for good in [
            "6.1.176-1",
            "1:3.14~rc5-1~exp1",
            "5.15.0-91.101",
            "3.2.41",
            "1.0-a-b",
        ] {
            assert_eq!(check_version(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "version number is empty"),
            ("x:1-1", "epoch part of the version number is not a number"),
            ("a1", "version number does not start with digit"),
            ("1_2", "invalid character '_' in version number"),
            ("1-", "revision number is empty"),
            ("1:2-a:b", "invalid character ':' in revision number"),
        ] {
            assert_eq!(check_version(bad), Err(why.to_owned()), "{bad}");
        }
    }
}
