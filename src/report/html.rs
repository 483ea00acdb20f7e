//! The HTML timeline: one self-contained page picturing a [`Picture`]. Per
//! ABI name an inline SVG chart (a row per flavour, commits in walk order
//! from left to right, a bar per reference state coloured by which distinct
//! state of the name it is, marks where findings were made), then the
//! details every bar and mark links to. The page loads nothing: its CSS is
//! inline, it has no script, and its Content-Security-Policy forbids every
//! load. Every repository string goes through [`untrusted::html`].
//!
//! The marks carry `data-*` attributes (`data-abi`, `data-flavour`,
//! `data-state`, `data-kind`, `data-commit`) so that a test or a script can
//! read the picture back and check it against the JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::untrusted::{clip, html};
use super::{scan::headline, thousands, timeline::verdict};
use crate::compare::Summary;
use crate::findings::{Finding, FindingKind};
use crate::history::timeline::{AbiHistory, State};
use crate::picture::{Picture, Span};

/// Forbids every load (scripts, images, fonts, frames, connections): only
/// the page's own inline style applies.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// The page's style sheet.
const STYLE: &str = include_str!("html.css");

/// Chart geometry, in CSS pixels.
const LABEL_W: usize = 250;
const PAD_L: usize = 14;
const COL_W: usize = 96;
const TAIL_W: usize = 56;
const HEAD_H: usize = 46;
const ROW_H: usize = 34;
const BAR_H: usize = 22;
const FOOT_H: usize = 30;

/// Fill colours of a name's distinct states, in order (a name with more
/// states reuses them); red is kept for the marks of problems.
const PALETTE: [&str; 8] = [
    "#2f6fc4", "#c77700", "#7b52b9", "#1f8a7e", "#b8456c", "#5c6b78", "#8a6d00", "#2b8fc9",
];

/// The colour of distinct state `n` (from 1).
fn colour(n: usize) -> &'static str {
    PALETTE[(n.max(1) - 1) % PALETTE.len()]
}

/// A repository string shown in a sentence or cell: cut short, escaped.
fn shown(s: &str) -> String {
    html(&clip(s))
}

/// `2025-06-15 15:06 UTC` from seconds since the epoch.
fn date(time: Option<i64>) -> String {
    let Some(secs) = time.and_then(|t| u64::try_from(t).ok()) else {
        return "date unknown".to_owned();
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

/// `+7 −3 ~18,107` (added, removed, changed in CRC, export or namespace).
fn changes(s: &Summary) -> String {
    let changed = s.crc_changed + s.export_changed + s.namespace_changed;
    format!(
        "+{} &minus;{} ~{}",
        thousands(s.added),
        thousands(s.removed),
        thousands(changed)
    )
}

/// The whole page.
pub fn page(p: &Picture) -> String {
    let title = format!("abibot timeline of {}", shown(&p.repo));
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
    );
    summary(&mut out, p, &title);
    for (i, abi) in p.abis.iter().enumerate() {
        Chart::new(p, i, abi).section(&mut out);
    }
    findings_section(&mut out, p);
    commits_section(&mut out, p);
    errors_section(&mut out, p);
    let _ = write!(
        out,
        "<footer>abibot {} &middot; this page loads nothing from the network; \
         every name in it comes from the repository and is shown as text.</footer>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// The head of the page: what was walked, a verdict per name, the legend.
fn summary(out: &mut String, p: &Picture, title: &str) {
    let problems = p.findings.iter().filter(|f| f.kind.is_problem()).count();
    let head = p.head.as_ref().map_or("", |h| h.short());
    let _ = write!(
        out,
        "<header>\n<h1>{title}</h1>\n<p class=\"walk\">{} commits walked up to \
         <code>{head}</code> &middot; {} ABI names &middot; \
         <a href=\"#findings\">{} findings</a>, <strong class=\"{}\">{problems} problems</strong>\
         </p>\n<ul class=\"verdicts\">\n",
        thousands(p.commits_scanned),
        thousands(p.abis.len()),
        thousands(p.findings.len()),
        if problems > 0 { "bad" } else { "good" },
    );
    for (i, abi) in p.abis.iter().enumerate() {
        let class = if abi.distinct() > 1 { "bad" } else { "good" };
        let _ = writeln!(
            out,
            "<li class=\"{class}\"><a href=\"#abi-{i}\">{}</a></li>",
            verdict(abi, &|s| format!("<code>{}</code>", shown(s)))
        );
    }
    out.push_str("</ul>\n");
    legend(out);
    out.push_str("</header>\n");
}

/// What the colours and marks mean.
fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for n in 1..=3 {
        let _ = write!(
            out,
            "<span><i class=\"swatch\" style=\"background:{}\"></i>state {n}</span>",
            colour(n)
        );
    }
    out.push_str(
        "<span>each colour is a different set of CRCs under one name; \
         <b>&#8617;1</b> a return to state 1</span>\
         <span><b class=\"m-hidden-break\">&#9670;</b> hidden break</span>\
         <span><b class=\"m-coverage-lost\">&#10005;</b> coverage lost</span>\
         <span><b class=\"m-restoration\">&#8617;</b> restoration</span>\
         <span><b class=\"m-unversioned\">0</b> unversioned symbols</span>\
         <span><b class=\"m-bump\">|</b> name changed</span></div>\n",
    );
}

/// A mark glyph and its label, per finding kind drawn in a row (bumps and
/// unchecked names are drawn across the chart instead).
fn glyph(kind: FindingKind) -> Option<&'static str> {
    match kind {
        FindingKind::HiddenBreak => Some("&#9670;"),
        FindingKind::CoverageLost => Some("&#10005;"),
        FindingKind::Restoration => Some("&#8617;"),
        FindingKind::Unversioned => Some("0"),
        FindingKind::UncheckedRelease => Some("!"),
        FindingKind::Bump | FindingKind::Unchecked => None,
    }
}

/// One ABI name's chart and state table.
struct Chart<'a> {
    p: &'a Picture,
    index: usize,
    abi: &'a AbiHistory,
    /// Indices into `p.commits` shown as columns, in order.
    columns: Vec<usize>,
    /// The flavours shown as rows.
    rows: Vec<&'a str>,
    /// The name's findings.
    findings: Vec<&'a Finding>,
}

impl<'a> Chart<'a> {
    fn new(p: &'a Picture, index: usize, abi: &'a AbiHistory) -> Chart<'a> {
        let findings: Vec<&Finding> = p.findings.iter().filter(|f| f.abi == abi.abi).collect();
        let mut columns = BTreeSet::new();
        let mut rows: BTreeSet<&str> = abi.flavours.keys().map(String::as_str).collect();
        for ((name, flavour), spans) in &p.spans {
            if *name == abi.abi {
                rows.insert(flavour);
                columns.extend(spans.iter().flat_map(|s| [s.from, s.to]).flatten());
            }
        }
        let states = abi.flavours.values().flatten().map(|s| &s.commit);
        let found = findings.iter().map(|f| &f.commit);
        columns.extend(states.chain(found).filter_map(|c| p.index_of(c)));
        Chart {
            p,
            index,
            abi,
            columns: columns.into_iter().collect(),
            rows: rows.into_iter().collect(),
            findings,
        }
    }

    /// The x of a commit index (`None`: the chart's left edge when
    /// starting, its right edge when ending).
    fn x(&self, at: Option<usize>, end: bool) -> usize {
        match at.and_then(|i| self.columns.iter().position(|&c| c == i)) {
            Some(col) => PAD_L + col * COL_W,
            None if end => PAD_L + self.columns.len() * COL_W + TAIL_W,
            None => PAD_L,
        }
    }

    fn width(&self) -> usize {
        self.x(None, true) + 8
    }

    fn height(&self) -> usize {
        HEAD_H + self.rows.len() * ROW_H + FOOT_H
    }

    fn row_y(&self, row: usize) -> usize {
        HEAD_H + row * ROW_H
    }

    /// A flavour's states under the name (none for a flavour only seen
    /// in the spans).
    fn states(&self, flavour: &str) -> &'a [State] {
        self.abi
            .flavours
            .get(flavour)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The anchor of a flavour's state `k`.
    fn anchor(&self, row: usize, k: usize) -> String {
        format!("a{}-f{row}-s{k}", self.index)
    }

    /// The section: heading, chart, state table.
    fn section(&self, out: &mut String) {
        let n = self.abi.distinct();
        let (class, badge) = match n {
            0 | 1 => ("good", "one ABI".to_owned()),
            n => ("bad", format!("{n} different ABIs")),
        };
        let _ = write!(
            out,
            "<section class=\"abi\" id=\"abi-{}\">\n<h2>ABI <code>{}</code> \
             <span class=\"badge {class}\">{badge}</span></h2>\n<div class=\"chart\">\n",
            self.index,
            shown(self.abi.abi.as_str())
        );
        self.svg(out);
        out.push_str("</div>\n");
        self.table(out);
        out.push_str("</section>\n");
    }

    /// The flavour names, beside the chart (they stay when it scrolls).
    fn labels(&self, out: &mut String) {
        let h = self.height();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"labels\" width=\"{LABEL_W}\" \
             height=\"{h}\" viewBox=\"0 0 {LABEL_W} {h}\">"
        );
        for (row, flavour) in self.rows.iter().enumerate() {
            let y = self.row_y(row);
            let _ = writeln!(
                out,
                "<g class=\"row\" data-flavour=\"{}\">{}<text class=\"flavour\" x=\"8\" \
                 y=\"{}\"><title>{}</title>{}</text></g>",
                html(flavour),
                band(row, y, LABEL_W),
                y + ROW_H / 2 + 5,
                html(flavour),
                html(&clip_to(flavour, 30))
            );
        }
        out.push_str("</svg>\n");
    }

    fn svg(&self, out: &mut String) {
        self.labels(out);
        out.push_str("<div class=\"scroll\">\n");
        let (w, h) = (self.width(), self.height());
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{w}\" \
             height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" data-abi=\"{}\">",
            html(self.abi.abi.as_str())
        );
        let _ = writeln!(
            out,
            "<title>Reference states under ABI {}</title>",
            html(self.abi.abi.as_str())
        );
        self.grid(out);
        for (row, flavour) in self.rows.iter().enumerate() {
            self.row(out, row, flavour);
        }
        self.name_changes(out);
        out.push_str("</svg>\n</div>\n");
    }

    /// Column heads (commit, date) and their grid lines.
    fn grid(&self, out: &mut String) {
        let bottom = self.height() - FOOT_H;
        for &i in &self.columns {
            let c = &self.p.commits[i];
            let x = self.x(Some(i), false);
            let day = date(c.time);
            let _ = writeln!(
                out,
                "<a href=\"#c-{i}\"><g class=\"col\"><title>{} {}</title>\
                 <line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\"/>\
                 <text class=\"sha\" x=\"{}\" y=\"18\">{}</text>\
                 <text class=\"day\" x=\"{}\" y=\"34\">{}</text></g></a>",
                c.sha.short(),
                html(&c.title),
                HEAD_H - 6,
                x + 4,
                c.sha.short(),
                x + 4,
                &day[..10.min(day.len())]
            );
        }
        let now = self.x(None, true) - TAIL_W / 2;
        let _ = writeln!(
            out,
            "<text class=\"day\" x=\"{now}\" y=\"34\" text-anchor=\"middle\">head</text>"
        );
    }

    /// One flavour: its name, its states' bars, its marks.
    fn row(&self, out: &mut String, row: usize, flavour: &str) {
        let y = self.row_y(row);
        out.push_str(&band(row, y, self.width()));
        let spans = self
            .p
            .spans
            .get(&(self.abi.abi.clone(), flavour.to_owned()))
            .map_or(&[][..], Vec::as_slice);
        let states = self.states(flavour);
        self.earlier(out, row, flavour, spans, states);
        for (k, (n, state)) in numbered(states).enumerate() {
            let next = states.get(k + 1).and_then(|s| self.p.index_of(&s.commit));
            self.bar(
                out,
                Bar {
                    row,
                    k,
                    n,
                    state,
                    next,
                },
                flavour,
                spans,
            );
        }
        self.marks(out, row, flavour, spans);
    }

    /// Before the flavour's first state in the range: the state it had
    /// when the range began, in grey.
    fn earlier(&self, out: &mut String, row: usize, flavour: &str, spans: &[Span], s: &[State]) {
        let first = s.first().and_then(|s| self.p.index_of(&s.commit));
        let y = self.row_y(row) + (ROW_H - BAR_H) / 2;
        for (a, b) in pieces(spans, None, first) {
            let (x0, x1) = (self.x(a, false) + 1, self.x(b, true) - 1);
            let _ = writeln!(
                out,
                "<g class=\"earlier\" data-flavour=\"{}\"><title>a state from before the \
                 range</title><rect x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"{BAR_H}\" \
                 rx=\"4\"/></g>",
                html(flavour),
                x1.saturating_sub(x0)
            );
        }
    }

    /// One state's bar (in pieces when the flavour lost its reference
    /// under the name for a while), linking to its row in the table.
    fn bar(&self, out: &mut String, bar: Bar<'_>, flavour: &str, spans: &[Span]) {
        let Bar {
            row,
            k,
            n,
            state,
            next,
        } = bar;
        let label = match state.returns_to {
            Some(to) => format!("&#8617;{to}"),
            None => n.to_string(),
        };
        let start = self.p.index_of(&state.commit);
        let _ = write!(
            out,
            "<a href=\"#{}\"><g class=\"state{}\" data-abi=\"{}\" data-flavour=\"{}\" \
             data-state=\"{}\" data-commit=\"{}\"><title>{} state {}: {} {}</title>",
            self.anchor(row, k),
            if state.incompatible { " broke" } else { "" },
            html(self.abi.abi.as_str()),
            html(flavour),
            k + 1,
            state.commit.as_str(),
            html(flavour),
            label,
            state.commit.short(),
            html(&state.title)
        );
        let y = self.row_y(row) + (ROW_H - BAR_H) / 2;
        for (a, b) in pieces(spans, start, next) {
            let (x0, x1) = (self.x(a, false) + 2, self.x(b, true) - 2);
            let _ = write!(
                out,
                "<rect x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"{BAR_H}\" rx=\"4\" \
                 fill=\"{}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
                x1.saturating_sub(x0),
                colour(n),
                x0 + 14,
                y + BAR_H / 2 + 5
            );
        }
        out.push_str("</g></a>\n");
    }

    /// The marks of the name's findings in this flavour's row.
    fn marks(&self, out: &mut String, row: usize, flavour: &str, spans: &[Span]) {
        let y = self.row_y(row) + ROW_H / 2;
        for f in &self.findings {
            let Some(glyph) = glyph(f.kind) else { continue };
            if !f.flavours.iter().any(|fl| fl.flavour == flavour) {
                continue;
            }
            let at = self.p.index_of(&f.commit);
            let x = self.x(at, false);
            if f.kind == FindingKind::CoverageLost {
                self.gap(out, row, at, spans);
            }
            let _ = writeln!(
                out,
                "<a href=\"#f-{id}\"><g class=\"mark m-{kind}\" data-kind=\"{kind}\" \
                 data-abi=\"{}\" data-flavour=\"{}\" data-commit=\"{}\" data-finding=\"{id}\">\
                 <title>{kind} at {}: {}</title><circle cx=\"{x}\" cy=\"{y}\" r=\"10\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{glyph}</text></g></a>",
                html(self.abi.abi.as_str()),
                html(flavour),
                f.commit.as_str(),
                f.commit.short(),
                html(&f.title),
                y + 5,
                id = f.id.as_str(),
                kind = f.kind.name(),
            );
        }
    }

    /// After a lost reference: an empty dashed bar up to where the flavour
    /// has a reference under the name again, or the name changed, or the head.
    fn gap(&self, out: &mut String, row: usize, at: Option<usize>, spans: &[Span]) {
        let renamed = self
            .findings
            .iter()
            .filter(|f| glyph(f.kind).is_none())
            .filter_map(|f| self.p.index_of(&f.commit));
        let back = spans
            .iter()
            .filter_map(|s| s.from)
            .chain(renamed)
            .filter(|&i| at.is_some_and(|at| i > at))
            .min();
        let (x0, x1) = (self.x(at, false) + 2, self.x(back, true) - 2);
        let y = self.row_y(row) + (ROW_H - BAR_H) / 2;
        let _ = writeln!(
            out,
            "<g class=\"gap\"><title>no reference: nothing checks this flavour</title>\
             <rect x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"{BAR_H}\" rx=\"4\"/></g>",
            x1.saturating_sub(x0)
        );
    }

    /// Where the name changed (a bump, a change to a name without
    /// references): a line across the chart, the new name below.
    fn name_changes(&self, out: &mut String) {
        let bottom = self.height() - FOOT_H;
        for f in &self.findings {
            if glyph(f.kind).is_some() {
                continue;
            }
            let x = self.x(self.p.index_of(&f.commit), false);
            let new = f.new_abi.as_ref().map_or("?", |a| a.as_str());
            let _ = writeln!(
                out,
                "<a href=\"#f-{id}\"><g class=\"bump\" data-kind=\"{}\" data-commit=\"{}\">\
                 <title>{}</title><line x1=\"{x}\" y1=\"{HEAD_H}\" x2=\"{x}\" y2=\"{bottom}\"/>\
                 <text x=\"{}\" y=\"{}\">&#8594; {}</text></g></a>",
                f.kind.name(),
                f.commit.as_str(),
                headline(f, &|s| html(s)),
                x + 4,
                bottom + 20,
                html(&clip_to(new, 24)),
                id = f.id.as_str(),
            );
        }
    }

    /// Every state with its commit, date, subject and counts.
    fn table(&self, out: &mut String) {
        out.push_str(
            "<table class=\"states\">\n<thead><tr><th>flavour</th><th>state</th>\
             <th>commit</th><th>date</th><th>subject</th><th>symbols</th>\
             <th title=\"added, removed, changed (CRC, export or namespace) against the \
             state judged against\">changes</th><th>verdict</th></tr></thead>\n<tbody>\n",
        );
        for (row, flavour) in self.rows.iter().enumerate() {
            for (k, (n, state)) in numbered(self.states(flavour)).enumerate() {
                self.state_row(out, self.anchor(row, k), flavour, n, state);
            }
        }
        out.push_str("</tbody>\n</table>\n");
    }

    fn state_row(&self, out: &mut String, id: String, flavour: &str, n: usize, s: &State) {
        let label = match s.returns_to {
            Some(to) => format!("returns to {to}"),
            None => n.to_string(),
        };
        let time = self
            .p
            .index_of(&s.commit)
            .and_then(|i| self.p.commits[i].time);
        let _ = writeln!(
            out,
            "<tr id=\"{id}\"><td><code>{}</code></td><td><i class=\"swatch\" \
             style=\"background:{}\"></i>{label}</td><td><code title=\"{}\">{}</code></td>\
             <td class=\"when\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"{}\">{}</td></tr>",
            shown(flavour),
            colour(n),
            s.commit.as_str(),
            s.commit.short(),
            date(time),
            shown(&s.title),
            thousands(s.symbols),
            s.changes.as_ref().map_or("&ndash;".to_owned(), changes),
            if s.incompatible { "bad" } else { "good" },
            state_verdict(s)
        );
    }
}

/// A state's bar: its row, its index among the flavour's states, its
/// distinct number, the state, and where the next state begins.
struct Bar<'a> {
    row: usize,
    k: usize,
    n: usize,
    state: &'a State,
    next: Option<usize>,
}

/// A row's background, striped.
fn band(row: usize, y: usize, width: usize) -> String {
    let parity = if row.is_multiple_of(2) { "even" } else { "odd" };
    format!(
        "<rect class=\"band {parity}\" x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{ROW_H}\"/>\n"
    )
}

/// Each state with the number of the distinct state it is (a return has
/// the number of the state it returns to): its colour.
fn numbered(states: &[State]) -> impl Iterator<Item = (usize, &State)> {
    let mut distinct = 0;
    states.iter().map(move |s| match s.returns_to {
        Some(to) => (to, s),
        None => {
            distinct += 1;
            (distinct, s)
        }
    })
}

/// What a state means, in a few words.
fn state_verdict(s: &State) -> String {
    let mut words = match (s.returns_to, s.incompatible, s.changes.is_some()) {
        (Some(to), _, _) => format!("returns to state {to}"),
        (None, true, _) => "incompatible: a hidden break".to_owned(),
        (None, false, true) => "compatible refresh".to_owned(),
        (None, false, false) => "first state of the name".to_owned(),
    };
    if let Some(from) = &s.came_back_from {
        let _ = write!(
            words,
            " (came back from <code>{}</code>)",
            shown(from.as_str())
        );
    }
    words
}

/// The first `n` characters of `s`, `…` marking a cut (chart labels).
fn clip_to(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}\u{2026}", &s[..i]),
        None => s.to_owned(),
    }
}

/// The stretches of `[start, end)` (commit indices; `None`: open) during
/// which `spans` say the flavour had a reference.
fn pieces(
    spans: &[Span],
    start: Option<usize>,
    end: Option<usize>,
) -> Vec<(Option<usize>, Option<usize>)> {
    // Open ends as numbers: before every commit, after every commit.
    let lo = |a: Option<usize>| a.map_or(-1, |a| a as i64);
    let hi = |b: Option<usize>| b.map_or(i64::MAX, |b| b as i64);
    spans
        .iter()
        .filter_map(|s| {
            let a = if lo(s.from) > lo(start) {
                s.from
            } else {
                start
            };
            let b = if hi(s.to) < hi(end) { s.to } else { end };
            (lo(a) < hi(b)).then_some((a, b))
        })
        .collect()
}

/// Every finding, problems first, each with its anchor.
fn findings_section(out: &mut String, p: &Picture) {
    out.push_str(
        "<section id=\"findings\">\n<h2>Findings</h2>\n<table>\n<thead><tr><th>kind</th>\
         <th>commit</th><th>date</th><th>what</th><th>flavours</th><th>changes</th>\
         <th>subject</th></tr></thead>\n<tbody>\n",
    );
    let mut sorted: Vec<&Finding> = p.findings.iter().collect();
    sorted.sort_by_key(|f| !f.kind.is_problem());
    for f in sorted {
        let time = p.index_of(&f.commit).and_then(|i| p.commits[i].time);
        let flavours: Vec<String> = f
            .flavours
            .iter()
            .map(|fl| format!("<code>{}</code>", shown(&fl.flavour)))
            .collect();
        let counts: Vec<String> = match f.kind {
            FindingKind::CoverageLost => vec!["reference removed".to_owned()],
            _ => f.flavours.iter().map(|fl| changes(&fl.summary)).collect(),
        };
        let _ = writeln!(
            out,
            "<tr id=\"f-{}\"><td><span class=\"kind k-{kind}\">{kind}</span></td>\
             <td><code title=\"{}\">{}</code></td><td class=\"when\">{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            f.id.as_str(),
            f.commit.as_str(),
            f.commit.short(),
            date(time),
            headline(f, &|s| format!("<code>{}</code>", shown(s))),
            flavours.join(" "),
            counts.join("<br>"),
            shown(&f.title),
            kind = f.kind.name(),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The commits the charts show, each with its anchor.
fn commits_section(out: &mut String, p: &Picture) {
    out.push_str(
        "<section id=\"commits\">\n<h2>Commits shown</h2>\n<table>\n<thead><tr>\
         <th>commit</th><th>date</th><th>subject</th></tr></thead>\n<tbody>\n",
    );
    for (i, c) in p.commits.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr id=\"c-{i}\"><td><code>{}</code></td><td class=\"when\">{}</td><td>{}</td></tr>",
            c.sha.as_str(),
            date(c.time),
            shown(&c.title)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Problems at single revisions, when there are any.
fn errors_section(out: &mut String, p: &Picture) {
    if p.errors.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"errors\">\n<h2>Problems at single revisions</h2>\n<table>\n\
         <thead><tr><th>severity</th><th>commit</th><th>file</th><th>message</th></tr>\
         </thead>\n<tbody>\n",
    );
    for e in &p.errors {
        let _ = writeln!(
            out,
            "<tr><td>{:?}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            e.severity,
            e.commit.short(),
            shown(&e.path),
            shown(&e.message)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from: Option<usize>, to: Option<usize>) -> Span {
        Span { from, to }
    }

    #[test]
    fn a_state_is_drawn_only_where_the_flavour_had_a_reference() {
        // There from before the range to commit 3, then again from 5 on.
        let spans = [span(None, Some(3)), span(Some(5), None)];
        assert_eq!(
            pieces(&spans, Some(1), None),
            [(Some(1), Some(3)), (Some(5), None)]
        );
        assert_eq!(pieces(&spans, Some(1), Some(2)), [(Some(1), Some(2))]);
        assert_eq!(pieces(&spans, None, Some(1)), [(None, Some(1))]);
        assert_eq!(pieces(&spans, Some(3), Some(5)), []);
        assert_eq!(pieces(&[], Some(0), None), []);
    }

    #[test]
    fn dates_are_utc_to_the_minute() {
        assert_eq!(date(Some(1_750_000_000)), "2025-06-15 15:06 UTC");
        assert_eq!(date(Some(-1)), "date unknown");
        assert_eq!(date(None), "date unknown");
    }
}
