//! genksyms symtypes: reading both forms, writing the consolidated one,
//! recomputing CRCs (against genksyms' own on real Debian data) and
//! `abibot verify`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use abibot::symtypes::{self, ErrorKind, Kind, Symtypes, SymtypesError, crc};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

/// symbol -> CRC as genksyms computed them (`symversions.tsv.xz`: symbol,
/// crc, object).
fn genksyms_crcs(version: &str) -> BTreeMap<String, u32> {
    let path = data(&format!("symtypes/{version}/symversions.tsv.xz"));
    let mut text = String::new();
    xz2::read::XzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let crc = u32::from_str_radix(fields[1].trim_start_matches("0x"), 16).unwrap();
            (fields[0].to_owned(), crc)
        })
        .collect()
}

fn real(version: &str) -> Symtypes {
    symtypes::load(&data(&format!("symtypes/{version}/symtypes.tar.xz"))).unwrap()
}

/// Every export's recomputed CRC, by name.
fn computed(st: &Symtypes) -> BTreeMap<String, u32> {
    crc::all_crcs(st)
        .unwrap()
        .into_iter()
        .map(|e| (st.names.text(e.symbol).to_owned(), e.crc))
        .collect()
}

#[test]
fn every_real_crc_equals_genksyms() {
    for (version, count) in [("6.1.0-47", 4217), ("6.1.0-50", 4217)] {
        let st = real(version);
        assert_eq!(st.files().len(), 445, "{version}");
        let want = genksyms_crcs(version);
        let got = computed(&st);
        assert_eq!(want.len(), count, "{version}");
        assert_eq!(got.len(), count, "{version}: exports in the symtypes");
        let differ: Vec<_> = want
            .iter()
            .filter(|(name, crc)| got.get(*name) != Some(crc))
            .map(|(name, crc)| (name, *crc, got.get(name).copied()))
            .collect();
        assert!(differ.is_empty(), "{version}: {} differ: {:x?}", differ.len(), &differ[..differ.len().min(5)]);
    }
}
