//! Keeping secrets out of what abibot prints: URL credentials redacted from
//! any text before it reaches a log line, an error or `/healthz`, and
//! token-shaped strings recognised where a name or a path was expected.
//!
//! One place decides what a secret looks like, so the configuration checks,
//! the git errors and the health endpoint cannot disagree.

use std::borrow::Cow;

/// What replaces a URL's user information (`user:password@`).
pub const REDACTED: &str = "<redacted>";

/// Prefixes of the access tokens GitHub and GitLab issue: a string starting
/// with one of them is a token whatever its length.
pub const TOKEN_PREFIXES: [&str; 9] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gloas-",
    "glrt-",
];

/// A run of characters at least this long, with the digit, letter and
/// entropy mix below, is taken for a generated secret (GitLab's shortest
/// tokens are 20 characters; words in variable names are far shorter).
pub const TOKEN_MIN_RUN: usize = 20;

/// Digits and letters each a random 20-character token almost surely has
/// (a base-62 token averages 3 digits in 20; hex, 12).
const TOKEN_MIN_DIGITS: usize = 2;
const TOKEN_MIN_LETTERS: usize = 4;

/// Shannon entropy, in bits per character, above which a long run is
/// random-looking: 20 random base-62 characters give about 4.0, 40 hex
/// characters about 3.7, an English word in capitals under 3.3.
const TOKEN_MIN_ENTROPY: f64 = 3.3;

/// Whether `value` looks like an access token rather than a name or a path:
/// a known GitHub/GitLab token prefix, or a long run of random-looking
/// letters and digits (split on `_`, `-`, `.`, `/` and spaces, the separators
/// of names and paths).
pub fn looks_like_token(value: &str) -> bool {
    let value = value.trim();
    if TOKEN_PREFIXES.iter().any(|p| value.starts_with(p)) {
        return true;
    }
    value.split(['_', '-', '.', '/', ' ', '\\']).any(random_run)
}

fn random_run(run: &str) -> bool {
    if run.chars().count() < TOKEN_MIN_RUN {
        return false;
    }
    let digits = run.chars().filter(char::is_ascii_digit).count();
    let letters = run.chars().filter(char::is_ascii_alphabetic).count();
    digits >= TOKEN_MIN_DIGITS && letters >= TOKEN_MIN_LETTERS && entropy(run) >= TOKEN_MIN_ENTROPY
}

/// Shannon entropy of the characters of `s`, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Where the user information of a URL starting at `scheme_end` (just past
/// `://`) ends: the byte range of `user[:password]` when the authority has
/// an `@`, `None` otherwise.
fn userinfo(text: &str, scheme_end: usize) -> Option<std::ops::Range<usize>> {
    let rest = &text[scheme_end..];
    let authority_len = rest
        .find(|c: char| {
            matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace()
        })
        .unwrap_or(rest.len());
    let at = rest[..authority_len].rfind('@')?;
    Some(scheme_end..scheme_end + at)
}

/// Whether the user information of a `scheme://` URL may hold a secret:
/// all of it but an ssh user name alone (`ssh://git@host`), which names
/// the account the key is for and is kept for the operator to read.
fn userinfo_is_secret(scheme: &str, info: &str) -> bool {
    !scheme.eq_ignore_ascii_case("ssh") || info.contains(':') || looks_like_token(info)
}

/// Where the secret user information of the URL whose `://` is at `sep`
/// lies in `text` (see [`userinfo_is_secret`]).
fn secret_userinfo(text: &str, sep: usize) -> Option<std::ops::Range<usize>> {
    let scheme_start = text[..sep]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .map_or(0, |i| i + 1);
    userinfo(text, sep + 3)
        .filter(|r| userinfo_is_secret(&text[scheme_start..sep], &text[r.clone()]))
}

/// Whether `url` carries credentials (`https://user:token@host/...`,
/// `https://token@host/...`); `ssh://git@host/...` does not.
pub fn url_has_credentials(url: &str) -> bool {
    url.find("://")
        .and_then(|sep| secret_userinfo(url, sep))
        .is_some()
}

/// `text` with the user information of every `scheme://user:password@host`
/// URL in it replaced by [`REDACTED`] (an ssh user name alone is kept), and
/// every word starting with a known token prefix too. Applied to whatever may echo a URL: git's errors,
/// `/healthz`'s `last_error`, log lines.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let scheme_end = search + found + 3;
        if let Some(range) = secret_userinfo(text, search + found) {
            out.push_str(&text[copied..range.start]);
            out.push_str(REDACTED);
            copied = range.end;
            search = range.end;
        } else {
            search = scheme_end;
        }
    }
    let urls_done = if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    };
    redact_prefixed_tokens(urls_done)
}

/// Replaces words that start with a token prefix: unambiguous, unlike the
/// entropy test, which would also hide commit ids.
fn redact_prefixed_tokens(text: Cow<'_, str>) -> Cow<'_, str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let has_token = text
        .split(|c: char| !is_word(c))
        .any(|w| TOKEN_PREFIXES.iter().any(|p| w.starts_with(p)));
    if !has_token {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if is_word(c) {
            word.push(c);
            continue;
        }
        if TOKEN_PREFIXES.iter().any(|p| word.starts_with(p)) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&word);
        }
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognised_and_names_are_not() {
        for token in [
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "glpat-xxxxxxxxxxxxxxxxxxxx",
            "4f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
            "aZ3kL9pQ2xW7mN4vB8cR1tY6",
        ] {
            assert!(looks_like_token(token), "{token}");
        }
        for name in [
            "ABIBOT_GITHUB_TOKEN",
            "GITLAB_TOKEN_FOR_SALSA_DEBIAN_ORG",
            "ABIBOT_TOKEN_2",
            "/etc/abibot/github-token",
            "/var/lib/abibot/secrets/gitlab-salsa-2024.token",
            "CI_JOB_TOKEN",
            "ABIBOTGITHUBTOKENPRODUCTION",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
    }

    #[test]
    fn url_userinfo_is_redacted_everywhere_in_a_text() {
        let text = "fetch https://user:s3cr3t@host/x.git: failed; retry ssh://git:pw@h:22/y, ssh://git@h/w and https://h/z";
        let r = redact(text);
        assert_eq!(
            r,
            "fetch https://<redacted>@host/x.git: failed; retry ssh://<redacted>@h:22/y, ssh://git@h/w and https://h/z"
        );
        assert!(matches!(redact("no url here"), Cow::Borrowed(_)));
        assert_eq!(redact("https://a@b@host/p"), "https://<redacted>@host/p");
        assert_eq!(redact("'http://tok@h'"), "'http://<redacted>@h'");
        // An @ after the path is not user information.
        assert_eq!(redact("https://h/p@v"), "https://h/p@v");
    }

    #[test]
    fn prefixed_tokens_are_redacted_but_commit_ids_stay() {
        let sha = "4f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        let text = format!("bad token ghp_abcDEF123 at {sha}; glpat-xyz.");
        assert_eq!(
            redact(&text),
            format!("bad token <redacted> at {sha}; <redacted>.")
        );
    }

    #[test]
    fn credentials_in_urls_are_detected() {
        assert!(url_has_credentials("https://user:tok@host/x.git"));
        assert!(url_has_credentials("https://tok@host/x.git"));
        assert!(url_has_credentials("ssh://git:pw@host/x.git"));
        assert!(url_has_credentials(
            "ssh://ghp_16C7e42F292c6912E7710c838347Ae178B4a@host/x.git"
        ));
        assert!(!url_has_credentials("https://host/x.git"));
        assert!(!url_has_credentials("ssh://git@host/x.git"));
        assert!(!url_has_credentials("git@host:x.git"));
    }
}
