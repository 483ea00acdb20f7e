//! Fuzzes the reference text parsers (every format, detected or forced),
//! the kABI entry parser, Debian `defines` and ignore files. Any panic is a
//! bug; a parse that succeeds must also write back and parse to the same set.

#![no_main]

use abibot::formats::{self, Format};
use abibot::ignore::IgnoreRules;
use abibot::layouts::debian::Defines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = formats::parse_kabi(data, "fuzz");
    for format in [None, Some(Format::Symvers), Some(Format::DebianLegacy), Some(Format::Ubuntu)] {
        if let Ok(set) = formats::parse(data, format, "fuzz") {
            let mut out = Vec::new();
            if formats::write(&set, Format::Symvers, &mut out).is_ok() {
                let again = formats::parse(&out, Some(Format::Symvers), "again").expect("own output parses");
                assert_eq!(again, set);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Defines::parse(text, "defines");
        let _ = IgnoreRules::parse_file(text, "ignore");
    }
});
