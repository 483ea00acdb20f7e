//! What a Markdown reader sees as prose: the text outside fenced blocks,
//! code spans and `<code>` elements, where a mention, link or HTML would
//! take effect. Tests of every renderer check hostile strings against it.

/// Markdown outside fenced blocks, code spans and `<code>` elements. A fence
/// may be indented (up to three spaces, as CommonMark allows) and is closed
/// by a line of at least as many backticks.
pub fn outside_code(markdown: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<usize> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        match fence {
            Some(n) if ticks >= n && trimmed.chars().all(|c| c == '`') => fence = None,
            Some(_) => {}
            None if ticks >= 3 && line.len() - line.trim_start().len() <= 3 => fence = Some(ticks),
            None => outside_code_line(line, &mut out),
        }
    }
    out
}

/// A line without its code: spans of n backticks (closed, as CommonMark
/// says, by the next run of exactly n), and `<code>` elements. An unclosed
/// run is literal text.
fn outside_code_line(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(start) = rest.find(['`', '<']) {
        out.push_str(&rest[..start]);
        let from = &rest[start..];
        if let Some(after) = from.strip_prefix('<') {
            let element = after
                .strip_prefix("code>")
                .and_then(|r| Some((r, r.find("</code>")?)));
            match element {
                Some((inside, end)) => rest = &inside[end + "</code>".len()..],
                None => {
                    out.push('<');
                    rest = after;
                }
            }
            continue;
        }
        let n = from.chars().take_while(|&c| c == '`').count();
        let after = &from[n..];
        match closing_run(after, n) {
            Some(end) => rest = &after[end + n..],
            None => {
                out.push_str(&from[..n]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.push('\n');
}

/// Where the first run of exactly `n` backticks in `text` starts.
fn closing_run(text: &str, n: usize) -> Option<usize> {
    let mut search = 0;
    while let Some(i) = text[search..].find('`') {
        let at = search + i;
        let run = text[at..].chars().take_while(|&c| c == '`').count();
        if run == n {
            return Some(at);
        }
        search = at + run;
    }
    None
}
