//! Bad reference input gets a clear error naming file and line, never a panic.

use abibot::formats::{self, Format, ParseErrorKind};

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/abi/6.1.0-50/amd64_none_amd64"
);

#[test]
fn truncated_lines_of_a_real_file_name_their_line() {
    let bytes = std::fs::read(REAL).unwrap();
    // Cut inside line 1000 at every field boundary and mid-field.
    let start: usize = bytes
        .split(|&b| b == b'\n')
        .take(999)
        .map(|l| l.len() + 1)
        .sum();
    let line_len = bytes[start..].iter().position(|&b| b == b'\n').unwrap();
    for cut in 1..line_len {
        let mut damaged = bytes[..start + cut].to_vec();
        damaged.push(b'\n');
        damaged.extend_from_slice(&bytes[start + line_len + 1..]);
        match formats::parse(&damaged, None, "ref") {
            // A cut that leaves a valid shorter line (e.g. losing only the
            // namespace tab, or a shortened CRC or name) is legitimately accepted.
            Ok(set) => assert!(set.len() >= 24_621, "cut {cut}"),
            Err(e) => {
                assert_eq!(e.line, 1000, "cut {cut}: {e}");
                assert!(e.to_string().starts_with("ref:1000: "), "{e}");
            }
        }
    }
}

#[test]
fn bad_hex_is_named() {
    let err =
        formats::parse(b"0x1234567g\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n", None, "f").unwrap_err();
    assert_eq!(
        err.kind,
        ParseErrorKind::BadCrc {
            found: "0x1234567g".into()
        }
    );
    let err =
        formats::parse(b"0x1\tfoo\tvmlinux\n0x123456789\tbar\tvmlinux\n", None, "f").unwrap_err();
    assert_eq!(
        (err.line, err.kind),
        (
            2,
            ParseErrorKind::BadCrc {
                found: "0x123456789".into()
            }
        )
    );
}

#[test]
fn ten_megabyte_line_gives_a_short_error() {
    let mut line = b"0x00000001\t".to_vec();
    line.resize(10 * 1024 * 1024, b'a');
    line.push(b'\n');
    let err = formats::parse(&line, None, "big").unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.to_string().len() < 300, "error message stays short");
    let no_tab = vec![b'x'; 10 * 1024 * 1024];
    let err = formats::parse(&no_tab, None, "big").unwrap_err();
    assert!(matches!(err.kind, ParseErrorKind::UnknownFormat { .. }));
    assert!(err.to_string().len() < 300);
}

#[test]
fn binary_garbage_is_refused_in_every_format() {
    let mut state = 0x2545_f491_u32;
    let garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    assert!(formats::parse(&garbage, None, "bin").is_err());
    for format in Format::ALL {
        let err = formats::parse(&garbage, Some(format), "bin").unwrap_err();
        assert_eq!(err.file, "bin");
        assert!(err.line >= 1, "{format}: {err}");
    }
    // Valid UTF-8 that is still garbage.
    let text = "\u{1F600}\t\u{0}\t\n".repeat(10);
    for format in Format::ALL {
        assert!(
            formats::parse(text.as_bytes(), Some(format), "t").is_err(),
            "{format}"
        );
    }
}

#[test]
fn empty_file_is_an_empty_reference_in_every_format_but_kabi() {
    for format in Format::ALL {
        let parsed = formats::parse(b"", Some(format), "empty");
        match format {
            Format::Kabi => assert!(matches!(
                parsed.unwrap_err().kind,
                ParseErrorKind::KabiMarker { .. }
            )),
            _ => assert!(parsed.unwrap().is_empty(), "{format}"),
        }
    }
}

#[test]
fn crlf_file_parses_like_lf() {
    let bytes = std::fs::read(REAL).unwrap();
    let crlf: Vec<u8> = bytes
        .split(|&b| b == b'\n')
        .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
        .collect();
    assert_eq!(
        formats::parse(&crlf, None, "crlf").unwrap(),
        formats::parse(&bytes, None, "lf").unwrap()
    );
}

#[test]
fn a_utf8_byte_order_mark_is_skipped_in_every_format() {
    let bytes = std::fs::read(REAL).unwrap();
    let with_bom = [&b"\xef\xbb\xbf"[..], &bytes].concat();
    assert_eq!(formats::detect(&with_bom), Some(Format::Symvers));
    assert_eq!(
        formats::parse(&with_bom, None, "bom").unwrap(),
        formats::parse(&bytes, None, "plain").unwrap()
    );
    let lines = [
        "0x4191061e DAC1064_global_init drivers/video/matrox/matroxfb_DAC1064 EXPORT_SYMBOL\n",
        "EXPORT_SYMBOL arch/x86/kvm/kvm 0x8b1e0478\tkvm_cpu_has_pending_timer\n",
        "#2-\n0xa6e0ef4b\t__alloc_pages\tvmlinux\tEXPORT_SYMBOL\t\n",
    ];
    for line in lines {
        let bom = format!("\u{feff}{line}");
        let plain = formats::parse(line.as_bytes(), None, "plain").unwrap();
        assert_eq!(
            formats::detect(bom.as_bytes()),
            formats::detect(line.as_bytes())
        );
        assert_eq!(
            formats::parse(bom.as_bytes(), None, "bom").unwrap(),
            plain,
            "{line}"
        );
    }
    // Only at the start: elsewhere it is a character in a field.
    let inside = "0x1\ta\tvmlinux\n\u{feff}0x1\tb\tvmlinux\n";
    let err = formats::parse(inside.as_bytes(), None, "f").unwrap_err();
    assert_eq!(err.line, 2, "{err}");
}

#[test]
fn names_longer_than_the_kernel_allows_are_refused_at_their_line() {
    let name = |len: usize| "a".repeat(len);
    let line = |n: &str, module: &str| format!("0x00000001\t{n}\t{module}\tEXPORT_SYMBOL\t\n");
    let ok = format!(
        "{}{}",
        line("first", "vmlinux"),
        line(&name(511), "vmlinux")
    );
    assert_eq!(formats::parse(ok.as_bytes(), None, "ref").unwrap().len(), 2);

    for (text, field) in [
        (line(&name(512), "vmlinux"), "symbol name"),
        (line(&name(50 << 20), "vmlinux"), "symbol name"),
        (line("b", &name(4096)), "module"),
        (
            format!("0x00000001\tb\tvmlinux\tEXPORT_SYMBOL\t{}\n", name(4096)),
            "namespace",
        ),
    ] {
        let bytes = format!("{}{text}", line("first", "vmlinux"));
        let err = formats::parse(bytes.as_bytes(), None, "ref").unwrap_err();
        assert_eq!(err.line, 2, "{field}");
        assert!(
            matches!(&err.kind, ParseErrorKind::TooLong { field: f, .. } if *f == field),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&format!("ref:2: {field} of ")),
            "{err}"
        );
        assert!(err.to_string().len() < 200, "short message");
    }
    // The legacy and Ubuntu forms are bounded too.
    let legacy = format!("0x1 {} vmlinux EXPORT_SYMBOL\n", name(512));
    assert!(formats::parse(legacy.as_bytes(), None, "l").is_err());
    let ubuntu = format!("EXPORT_SYMBOL vmlinux 0x1\t{}\n", name(512));
    assert!(formats::parse(ubuntu.as_bytes(), None, "u").is_err());
}

#[test]
fn a_duplicate_names_both_lines_after_blank_lines() {
    let text = "\n0x1\ta\tvmlinux\n\n0x1\tb\tvmlinux\n0x2\ta\tvmlinux\n";
    let err = formats::parse(text.as_bytes(), None, "f").unwrap_err();
    assert_eq!(
        (err.line, err.kind),
        (
            5,
            ParseErrorKind::Duplicate {
                name: "a".into(),
                first_line: 2
            }
        )
    );
}

#[test]
fn a_reference_over_the_size_limit_is_refused_before_parsing() {
    // Zeroed memory from the allocator is not touched unless read: cheap.
    let huge = vec![0u8; (256 << 20) + 1];
    let err = formats::parse(&huge, None, "rev:debian/abi/x").unwrap_err();
    assert!(
        matches!(err.kind, ParseErrorKind::TooLarge { size, .. } if size == huge.len()),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "rev:debian/abi/x:0: 268435457 bytes is more than the 256 MiB allowed for a reference file"
    );
}
