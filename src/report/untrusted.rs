//! Showing strings that come from a repository or a build (flavour,
//! featureset and ABI names from file names, symbol names, module paths,
//! commit titles and authors, build output) so that they cannot act.
//!
//! - In human text ([`text`]), control characters (ANSI escapes, carriage
//!   returns, backspaces, newlines) and Unicode bidirectional controls are
//!   shown as `\u{..}` escapes: a name cannot recolour the terminal, rewrite
//!   a line, fake a line of its own or reorder what follows.
//! - In Markdown ([`code`], [`cell`], [`code_block`]), a name is always
//!   inside code, where it can form no HTML, mention (`@team`), issue link,
//!   autolink or emphasis: GitHub and GitLab skip code when they link
//!   mentions and references. [`cell`] also keeps a `|` from splitting a
//!   table row.
//! - In raw HTML (a `<summary>`, where Markdown code spans do not render),
//!   [`html_code`] writes a `<code>` element with the name entity-escaped.
//! - JSON needs nothing here: serde writes the exact string, escaped.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of a repository string a comment shows where the
/// string stands in a sentence (title, ABI name, module name); a longer one
/// is cut with `...`, so a hostile name cannot eat a comment's size budget.
pub const MAX_SHOWN_CHARS: usize = 200;

/// Characters that would act on a terminal or reorder text.
fn hides_or_acts(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` for human text: control and bidirectional characters as `\u{1b}`.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hides_or_acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hides_or_acts(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`text`] as an owned string (for renderers taking a `Fn(&str) -> String`).
pub fn plain(s: &str) -> String {
    text(s).into_owned()
}

/// The first [`MAX_SHOWN_CHARS`] characters of `s`, `...` marking a cut.
pub fn clip(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// The longest run of backticks in `text` (a fence must be longer).
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A Markdown code span that shows `s` literally, whatever it holds: the
/// fence is longer than any backtick run inside, line breaks become spaces
/// and control characters escapes, so a name can never form a mention, a
/// link or HTML, nor end the span early.
pub fn code(s: &str) -> String {
    let s = text(s);
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// [`code`] for a table cell. GFM splits a row at every `|` not escaped by
/// a backslash, even inside code, and reads backslashes in pairs; so each
/// `|` gets one more backslash when an even run of them precedes it.
pub fn cell(s: &str) -> String {
    let span = code(s);
    let mut out = String::with_capacity(span.len() + 4);
    let mut run = 0;
    for c in span.chars() {
        if c == '|' && run % 2 == 0 {
            out.push('\\');
        }
        run = if c == '\\' { run + 1 } else { 0 };
        out.push(c);
    }
    out
}

/// A fenced code block whose fence no line inside can close; each line's
/// control characters are escaped (a `\r` inside cannot start a line).
pub fn code_block(body: &str) -> String {
    let body: String = body
        .split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(line) => format!("{}\n", text(line)),
            None => text(line).into_owned(),
        })
        .collect();
    let fence = fence([body.as_str()]);
    format!("{fence}text\n{body}{fence}\n")
}

/// The fence of a code block holding `lines` (whole lines, so no backtick
/// run spans two): longer than any backtick run inside, at least three.
pub fn fence<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let run = lines.into_iter().map(longest_backtick_run).max();
    "`".repeat(run.unwrap_or(0).max(2) + 1)
}

/// `s` with the characters in `extra` and every character HTML gives a
/// meaning to (`&`, `<`, `>`, both quotes) as entities.
fn entities(s: &str, extra: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => match extra.iter().find(|(e, _)| *e == c) {
                Some((_, entity)) => out.push_str(entity),
                None => out.push(c),
            },
        }
    }
    out
}

/// `s` for an HTML page, as element text or a quoted attribute value: it
/// can open no tag, close no attribute and start no entity; control and
/// bidirectional characters are escaped as in [`text`].
pub fn html(s: &str) -> String {
    entities(&text(s), &[])
}

/// `<code>s</code>` for raw HTML: every character HTML, Markdown or
/// GitHub's mention filter could act on is an entity, and the element is
/// code, which the mention and reference filters skip.
pub fn html_code(s: &str) -> String {
    let extra = [('@', "&#64;"), ('`', "&#96;"), ('|', "&#124;")];
    format!("<code>{}</code>", entities(&text(s), &extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_acts_on_a_terminal() {
        assert_eq!(text("amd64_none_amd64"), "amd64_none_amd64");
        assert_eq!(text("a\x1b[31mred\r\nb"), "a\\u{1b}[31mred\\u{d}\\u{a}b");
        assert_eq!(text("x\u{202e}y\u{9b}"), "x\\u{202e}y\\u{9b}");
    }

    #[test]
    fn code_spans_cannot_be_escaped() {
        assert_eq!(code("kmalloc"), "`kmalloc`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("@team\n[x](y)"), "`@team\\u{a}[x](y)`");
        let block = code_block("a ``` b\n\x1b[2J\n");
        assert!(block.starts_with("````text\n"), "{block}");
        assert!(block.contains("\n\\u{1b}[2J\n"), "{block}");
    }

    #[test]
    fn cells_escape_pipes_whatever_precedes_them() {
        assert_eq!(cell("a|b"), "`a\\|b`");
        // Already escaped: GFM shows it as `a|b`, the row stays whole.
        assert_eq!(cell("a\\|b"), "`a\\|b`");
        assert_eq!(cell("a\\\\|b"), "`a\\\\\\|b`");
        // Every pipe ends an odd run of backslashes.
        for name in ["|", "\\|", "\\\\|", "x\\\\\\|y|"] {
            let out = cell(name);
            let mut run = 0;
            for c in out.chars() {
                if c == '|' {
                    assert_eq!(run % 2, 1, "{name:?} -> {out:?}");
                }
                run = if c == '\\' { run + 1 } else { 0 };
            }
        }
    }

    #[test]
    fn html_code_is_inert() {
        assert_eq!(
            html_code("<img src=x onerror=alert(1)>@team"),
            "<code>&lt;img src=x onerror=alert(1)&gt;&#64;team</code>"
        );
        assert_eq!(clip(&"x".repeat(MAX_SHOWN_CHARS)).len(), MAX_SHOWN_CHARS);
        assert!(clip(&"x".repeat(MAX_SHOWN_CHARS + 1)).ends_with("x..."));
    }

    #[test]
    fn html_text_opens_no_tag_and_closes_no_attribute() {
        let hostile = "Fix <script>alert(\"x\")</script> & \" onerror=\"alert(1)\" '\u{1b}";
        let out = html(hostile);
        assert_eq!(
            out,
            "Fix &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \
             &quot; onerror=&quot;alert(1)&quot; &#39;\\u{1b}"
        );
        assert!(!out.contains(['<', '>', '"', '\'']), "{out}");
        // Every `&` starts one of the entities written here.
        for (i, _) in out.match_indices('&') {
            let rest = &out[i..];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"];
            assert!(known.iter().any(|e| rest.starts_with(e)), "{out}");
        }
    }
}
