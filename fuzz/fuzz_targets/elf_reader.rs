//! Fuzzes the ELF reader end to end: decompression, signature stripping,
//! ELF parsing, exports, versions, modinfo, and the loader's rules on
//! whatever comes out. Any panic or runaway allocation is a bug.

#![no_main]

use abibot::elf::{ReadOptions, read_bytes};
use abibot::loadcheck::check;
use abibot::symbols::SymbolSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small bound keeps libFuzzer's RSS limit meaningful.
    let options = ReadOptions {
        max_decompressed: 16 << 20,
    };
    if let Ok(info) = read_bytes(data, "fuzz.ko", "fuzz", &options) {
        let set = SymbolSet::from_symbols(info.exports.clone()).unwrap_or_default();
        let _ = check(&info, &set, Some("6.1.0 SMP mod_unload modversions "));
    }
});
