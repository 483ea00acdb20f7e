//! Shared helpers of the `elf_*` tests: paths into tests/data, and a tiny ELF
//! writer for ELF32/ELF64 in either byte order, so byte order and word size
//! are tested without a cross compiler.

#![allow(dead_code)]

use std::path::PathBuf;

pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/debian-bookworm")
        .join(rel)
}

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHN_UNDEF: u16 = 0;
pub const SHN_ABS: u16 = 0xfff1;
pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;

/// A section to write (index = position + 1).
#[derive(Clone, Debug)]
pub struct Sec {
    pub name: String,
    pub addr: u64,
    pub data: Vec<u8>,
}

/// A symbol to write; `shndx` is a section index or a special index.
#[derive(Clone, Debug)]
pub struct SymDef {
    pub name: String,
    pub value: u64,
    pub shndx: u16,
    pub bind: u8,
}

/// name, type, address, contents, link, info, entry size.
type RawSection = (String, u32, u64, Vec<u8>, u32, u32, u64);

/// An ELF file to write.
#[derive(Clone, Debug)]
pub struct Obj {
    pub is64: bool,
    pub big: bool,
    pub e_type: u16,
    pub machine: u16,
    pub sections: Vec<Sec>,
    pub symbols: Vec<SymDef>,
    /// Leave out .symtab/.strtab (a stripped image).
    pub stripped: bool,
}

pub struct Out {
    pub big: bool,
    pub bytes: Vec<u8>,
}

impl Out {
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    /// Appends the bytes of an integer in the file's byte order.
    fn put<const N: usize>(&mut self, le: [u8; N], be: [u8; N]) {
        self.bytes
            .extend_from_slice(if self.big { &be } else { &le });
    }
    pub fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes(), v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes(), v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes(), v.to_be_bytes());
    }
    pub fn word(&mut self, is64: bool, v: u64) {
        if is64 {
            self.u64(v)
        } else {
            self.u32(v as u32)
        }
    }
    fn align(&mut self, to: usize) {
        while !self.bytes.len().is_multiple_of(to) {
            self.bytes.push(0);
        }
    }
}

/// Integers in a target's byte order, for section contents.
pub fn enc32(big: bool, v: u32) -> [u8; 4] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

pub fn enc_word(is64: bool, big: bool, v: u64) -> Vec<u8> {
    let mut o = Out {
        big,
        bytes: Vec::new(),
    };
    o.word(is64, v);
    o.bytes
}

fn strtab(names: impl Iterator<Item = String>) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = vec![0u8];
    let mut offsets = Vec::new();
    for n in names {
        offsets.push(bytes.len() as u32);
        bytes.extend_from_slice(n.as_bytes());
        bytes.push(0);
    }
    (bytes, offsets)
}

impl Obj {
    pub fn new(is64: bool, big: bool, e_type: u16, machine: u16) -> Obj {
        Obj {
            is64,
            big,
            e_type,
            machine,
            sections: Vec::new(),
            symbols: Vec::new(),
            stripped: false,
        }
    }

    /// Adds a section and returns its index.
    pub fn section(&mut self, name: &str, addr: u64, data: Vec<u8>) -> u16 {
        self.sections.push(Sec {
            name: name.into(),
            addr,
            data,
        });
        self.sections.len() as u16
    }

    pub fn symbol(&mut self, name: &str, value: u64, shndx: u16, bind: u8) {
        self.symbols.push(SymDef {
            name: name.into(),
            value,
            shndx,
            bind,
        });
    }

    pub fn build(&self) -> Vec<u8> {
        let (is64, big) = (self.is64, self.big);
        let mut o = Out {
            big,
            bytes: Vec::new(),
        };
        let ehsize = if is64 { 64 } else { 52 };
        o.bytes.resize(ehsize, 0);

        // Locals first, as ELF requires; sh_info = first global.
        let mut syms: Vec<&SymDef> = self
            .symbols
            .iter()
            .filter(|s| s.bind == STB_LOCAL)
            .collect();
        let first_global = syms.len() + 1;
        syms.extend(self.symbols.iter().filter(|s| s.bind != STB_LOCAL));
        let (strtab_bytes, name_offs) = strtab(syms.iter().map(|s| s.name.clone()));
        let mut symtab = Out {
            big,
            bytes: Vec::new(),
        };
        let sym_size = if is64 { 24 } else { 16 };
        symtab.bytes.resize(sym_size, 0);
        for (s, name) in syms.iter().zip(&name_offs) {
            let info = (s.bind << 4) | if s.shndx == SHN_UNDEF { 0 } else { 1 };
            if is64 {
                symtab.u32(*name);
                symtab.u8(info);
                symtab.u8(0);
                symtab.u16(s.shndx);
                symtab.u64(s.value);
                symtab.u64(0);
            } else {
                symtab.u32(*name);
                symtab.u32(s.value as u32);
                symtab.u32(0);
                symtab.u8(info);
                symtab.u8(0);
                symtab.u16(s.shndx);
            }
        }

        let mut all: Vec<RawSection> = self
            .sections
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SHT_PROGBITS,
                    s.addr,
                    s.data.clone(),
                    0,
                    0,
                    0,
                )
            })
            .collect();
        let user = all.len() as u32;
        if !self.stripped {
            all.push((
                ".symtab".into(),
                SHT_SYMTAB,
                0,
                symtab.bytes,
                user + 2,
                first_global as u32,
                sym_size as u64,
            ));
            all.push((".strtab".into(), SHT_STRTAB, 0, strtab_bytes, 0, 0, 0));
        }
        let (shstr, shname_offs) = strtab(
            all.iter()
                .map(|s| s.0.clone())
                .chain([".shstrtab".to_string()]),
        );
        all.push((".shstrtab".into(), SHT_STRTAB, 0, shstr, 0, 0, 0));

        let mut offsets = Vec::new();
        for s in &all {
            o.align(8);
            offsets.push(o.bytes.len() as u64);
            o.bytes.extend_from_slice(&s.3);
        }
        o.align(8);
        let shoff = o.bytes.len() as u64;
        // Null section header.
        o.bytes
            .resize(o.bytes.len() + if is64 { 64 } else { 40 }, 0);
        for ((s, off), name) in all.iter().zip(&offsets).zip(&shname_offs) {
            let (_, ty, addr, data, link, info, entsize) = s;
            o.u32(*name);
            o.u32(*ty);
            o.word(is64, 2); // SHF_ALLOC
            o.word(is64, *addr);
            o.word(is64, *off);
            o.word(is64, data.len() as u64);
            o.u32(*link);
            o.u32(*info);
            o.word(is64, 1);
            o.word(is64, *entsize);
        }
        let shnum = all.len() as u16 + 1;

        let mut h = Out {
            big,
            bytes: Vec::new(),
        };
        h.bytes.extend_from_slice(b"\x7fELF");
        h.u8(if is64 { 2 } else { 1 });
        h.u8(if big { 2 } else { 1 });
        h.u8(1);
        h.bytes.resize(16, 0);
        h.u16(self.e_type);
        h.u16(self.machine);
        h.u32(1);
        h.word(is64, 0); // entry
        h.word(is64, 0); // phoff
        h.word(is64, shoff);
        h.u32(0);
        h.u16(ehsize as u16);
        h.u16(0);
        h.u16(0);
        h.u16(if is64 { 64 } else { 40 });
        h.u16(shnum);
        h.u16(shnum - 1);
        o.bytes[..ehsize].copy_from_slice(&h.bytes);
        o.bytes
    }
}

/// One export of a synthetic module.
pub struct Export<'a> {
    pub name: &'a str,
    pub crc: u32,
    pub gpl: bool,
    pub namespace: &'a str,
}

/// A GPL module for `machine` that exports nothing and imports `imports`
/// (name, CRC), each with its `__versions` entry.
pub fn importer(is64: bool, big: bool, machine: u16, imports: &[(&str, u64)]) -> Obj {
    let names: Vec<&str> = imports.iter().map(|(name, _)| *name).collect();
    module(
        is64,
        big,
        machine,
        &[],
        imports,
        "license=GPL;vermagic=x",
        &names,
    )
}

/// Builds a relocatable kernel module the way kbuild lays one out:
/// `__kcrctab{,_gpl}` with local `__crc_*` labels, `__ksymtab{,_gpl}`,
/// `__ksymtab_strings` with `__kstrtab_*`/`__kstrtabns_*`, `__versions`
/// (64-byte entries, word-sized CRC) and `.modinfo`.
pub fn module(
    is64: bool,
    big: bool,
    machine: u16,
    exports: &[Export<'_>],
    versions: &[(&str, u64)],
    modinfo: &str,
    undefined: &[&str],
) -> Obj {
    let mut obj = Obj::new(is64, big, ET_REL, machine);
    let word = if is64 { 8 } else { 4 };
    let mut strings = Vec::new();
    let mut str_syms = Vec::new();
    for e in exports {
        str_syms.push((format!("__kstrtab_{}", e.name), strings.len() as u64));
        strings.extend_from_slice(e.name.as_bytes());
        strings.push(0);
        str_syms.push((format!("__kstrtabns_{}", e.name), strings.len() as u64));
        strings.extend_from_slice(e.namespace.as_bytes());
        strings.push(0);
    }
    let strings_idx = obj.section("__ksymtab_strings", 0, strings);
    for (n, v) in str_syms {
        obj.symbol(&n, v, strings_idx, STB_LOCAL);
    }
    for gpl in [false, true] {
        let mine: Vec<&Export<'_>> = exports.iter().filter(|e| e.gpl == gpl).collect();
        if mine.is_empty() {
            continue;
        }
        let suffix = if gpl { "_gpl" } else { "" };
        let crcs: Vec<u8> = mine.iter().flat_map(|e| enc32(big, e.crc)).collect();
        let crc_idx = obj.section(&format!("__kcrctab{suffix}"), 0, crcs);
        let ksym_idx = obj.section(&format!("__ksymtab{suffix}"), 0, vec![0; 12 * mine.len()]);
        for (i, e) in mine.iter().enumerate() {
            obj.symbol(
                &format!("__crc_{}", e.name),
                4 * i as u64,
                crc_idx,
                STB_LOCAL,
            );
            obj.symbol(
                &format!("__ksymtab_{}", e.name),
                12 * i as u64,
                ksym_idx,
                STB_LOCAL,
            );
        }
    }
    let mut vers = Vec::new();
    for (name, crc) in versions {
        vers.extend(enc_word(is64, big, *crc));
        let mut field = name.as_bytes().to_vec();
        field.resize(64 - word, 0);
        vers.extend(field);
    }
    obj.section("__versions", 0, vers);
    obj.section(".modinfo", 0, modinfo.replace(';', "\0").into_bytes());
    for u in undefined {
        obj.symbol(u, 0, SHN_UNDEF, STB_GLOBAL);
    }
    obj
}
