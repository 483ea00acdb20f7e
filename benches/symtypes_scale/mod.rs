//! The full-kernel stand-in of the symtypes benches: a consolidated file
//! copied `scale` times with identifiers renamed per copy, so its types and
//! exports stay distinct (Debian's data covers part of the tree only).

/// C keywords a renamed copy keeps.
const KEEP: &[&str] = &[
    "struct", "union", "enum", "typedef", "int", "char", "long", "unsigned", "void", "const",
    "extern",
];

/// Copies every section of `consolidated` `scale` times, identifiers
/// renamed per copy (C keywords kept).
pub fn scaled(consolidated: &str, scale: usize) -> String {
    let mut out = String::new();
    for copy in 0..scale {
        for line in consolidated.lines() {
            if let Some(path) = line.strip_prefix("/* ") {
                out.push_str(&format!("/* c{copy}/{path}\n"));
                continue;
            }
            let words: Vec<String> = line
                .split(' ')
                .map(|w| {
                    let ident = w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
                    if ident && !KEEP.contains(&w) {
                        format!("{w}_{copy}")
                    } else {
                        w.to_owned()
                    }
                })
                .collect();
            out.push_str(&words.join(" "));
            out.push('\n');
        }
    }
    out
}
