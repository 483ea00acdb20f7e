//! Fuzzes the configuration file path that `abibot config check` and the
//! daemon take: TOML text -> schema -> validated `Config`, then the summary
//! `config check` prints. Any panic is a bug; an error must name a line that
//! exists in the text.

#![no_main]

use abibot::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The file is read with `read_to_string`: non-UTF-8 never gets further.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        Ok(config) => {
            // What `config check` prints, except `warnings()`, which reads the
            // environment and the file system and so is not a function of the input.
            let _summary = abibot::daemon::config_summary(&config);
            assert!(!config.repos.is_empty(), "a valid config watches something");
        }
        Err(error) => {
            let message = error.to_string();
            if let ConfigError::Invalid { line, .. } = error {
                let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} of {lines}: {message}"
                );
            }
        }
    }
});
