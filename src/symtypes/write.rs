//! Writing a [`Symtypes`] in SUSE's consolidated form.
//!
//! Files in path order, each under its `/* path */` header and separated by
//! a blank line; in a file, types first then exports, each by name. A type
//! whose definition equals the last one written for its name is left out (a
//! reader finds it again by walking the file's records), an opaque
//! `struct name { UNKNOWN }` is written `s##name`, and exports are always
//! written (so every file keeps its exports even when two files define one
//! identically). Reading the result gives back every record reachable from a
//! file's exports, which is every record genksyms writes.

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use super::{DefId, Definition, Kind, Symtypes, Token, TypeKey};

/// Writes `st` as one consolidated symtypes file.
pub fn write(st: &Symtypes, out: &mut dyn Write) -> io::Result<()> {
    let mut files: Vec<_> = st.files().iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut active: FxHashMap<TypeKey, DefId> = FxHashMap::default();
    for (i, file) in files.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        writeln!(out, "/* {} */", file.path)?;
        let mut records: Vec<(TypeKey, DefId)> =
            file.records.iter().map(|(&k, &d)| (k, d)).collect();
        records.sort_by_cached_key(|&(k, _)| (k.kind == Kind::Export, st.key_text(k)));
        for (key, def) in records {
            if is_opaque(st, st.def(def)) {
                let prefix = key.kind.prefix().unwrap_or('s');
                writeln!(out, "{prefix}##{}", st.names.text(key.name))?;
                continue;
            }
            if key.kind != Kind::Export && active.get(&key) == Some(&def) {
                continue;
            }
            active.insert(key, def);
            write_record(st, def, out)?;
        }
    }
    out.flush()
}

/// One record line: `[override ]name[ extern] tokens`.
fn write_record(st: &Symtypes, id: DefId, out: &mut dyn Write) -> io::Result<()> {
    let def = st.def(id);
    if def.is_override {
        out.write_all(b"override ")?;
    }
    out.write_all(st.key_text(def.key).as_bytes())?;
    if def.is_extern {
        out.write_all(b" extern")?;
    }
    writeln!(out, " {}", st.def_text(id))
}

/// `struct name { UNKNOWN }` (or union, enum) for a record of that name.
fn is_opaque(st: &Symtypes, def: &Definition) -> bool {
    let Some(keyword) = def.key.kind.keyword() else {
        return false;
    };
    let name = st.names.text(def.key.name);
    let want = [keyword, name, "{", "UNKNOWN", "}"];
    !def.is_extern
        && !def.is_override
        && def.tokens.len() == want.len()
        && def
            .tokens
            .iter()
            .zip(want)
            .all(|(t, w)| matches!(*t, Token::Atom(n) if st.names.text(n) == w))
}
