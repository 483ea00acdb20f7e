//! The `.modinfo` section: NUL-separated `key=value` strings written by
//! `MODULE_LICENSE`, `MODULE_IMPORT_NS`, modpost (`depends`, `vermagic`,
//! `name`) and friends.

use serde::Serialize;

/// The `.modinfo` keys abibot uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModInfo {
    /// `name=`: the module name the kernel uses (`usb_storage`).
    pub name: Option<String>,
    /// `vermagic=`: release and build flags the module was built for.
    pub vermagic: Option<String>,
    /// `license=`: the first one, as the kernel reads it.
    pub license: Option<String>,
    /// `depends=`, split at commas (modules this one needs loaded first).
    pub depends: Vec<String>,
    /// Every `import_ns=` (the key may repeat).
    pub import_ns: Vec<String>,
}

impl ModInfo {
    /// Parses the section's bytes. Values need not be UTF-8 (authors' names
    /// often are Latin-1), so they are read lossily; keys abibot needs are ASCII.
    pub fn parse(bytes: &[u8]) -> ModInfo {
        let mut info = ModInfo::default();
        // Entries are aligned by NUL padding, so empty pieces are skipped.
        for entry in bytes.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let Some(eq) = memchr::memchr(b'=', entry) else {
                continue;
            };
            let (key, rest) = entry.split_at(eq);
            let value = rest.get(1..).unwrap_or_default();
            let value = || String::from_utf8_lossy(value).into_owned();
            match key {
                b"name" if info.name.is_none() => info.name = Some(value()),
                b"vermagic" if info.vermagic.is_none() => info.vermagic = Some(value()),
                b"license" if info.license.is_none() => info.license = Some(value()),
                b"depends" => info.depends.extend(
                    value()
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned),
                ),
                b"import_ns" => info.import_ns.push(value()),
                _ => {}
            }
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_padded_entries() {
        let raw = b"author=J\xf6rg\0import_ns=A\0\0\0license=GPL v2\0license=MIT\0depends=usbcore,scsi_mod\0import_ns=B\0name=uas\0vermagic=6.1.0 SMP \0junk\0";
        let info = ModInfo::parse(raw);
        assert_eq!(info.name.as_deref(), Some("uas"));
        assert_eq!(info.license.as_deref(), Some("GPL v2"));
        assert_eq!(info.import_ns, ["A", "B"]);
        assert_eq!(info.depends, ["usbcore", "scsi_mod"]);
        assert_eq!(info.vermagic.as_deref(), Some("6.1.0 SMP "));
        assert_eq!(ModInfo::parse(b"depends=\0").depends, Vec::<String>::new());
    }
}
