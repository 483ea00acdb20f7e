//! Fuzzes the debug-info reader end to end: ELF sections, decompression,
//! relocations, gimli's unit and DIE parsing, the type walk and the symtypes
//! model built from it. Any panic or runaway allocation is a bug; errors
//! are the expected answer to most inputs.

#![no_main]

use abibot::dwarf::from_elf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(types) = from_elf("fuzz.o", data) {
        // The model must be usable: explain it against itself.
        let ex = abibot::explain::explain(&types.symtypes, &types.symtypes);
        assert!(ex.exports.is_empty());
    }
});
