//! One version per file under `versions/`: its name, its JSON encoding, its checksum, and a durable
//! write (temp file, fsync, rename, fsync of the directory, by atomic-write-file). A file that does
//! not parse, names another version, or whose checksum does not match its config is refused as
//! `Corrupt`; an I/O failure is returned as `Io` naming the file. Nothing here retries.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atomic_write_file::AtomicWriteFile;
use weir_protocol::checksum;

use super::{StoreError, Version};

/// Digits in a version file's name: enough for every `u64`, so names sort like numbers.
const DIGITS: usize = 20;

/// The name of version `number`'s file.
pub fn file_name(number: u64) -> String {
    format!("{number:0DIGITS$}.json")
}

/// What a name found in `versions/` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `<number>.json`
    Version(u64),
    /// `<number>.json.corrupt[.<n>]`: set aside by an earlier recovery; its number stays taken.
    Corrupt(u64),
    /// `.<number>.json.<random>`: atomic-write-file's temporary file, left by a crash.
    Temp,
    /// Anything else: not ours, left alone.
    Other,
}

pub fn classify(name: &str) -> Entry {
    if let Some(rest) = name.strip_prefix('.') {
        return match number_prefix(rest) {
            Some((_, tail)) if tail.starts_with(".json.") => Entry::Temp,
            _ => Entry::Other,
        };
    }
    match number_prefix(name) {
        Some((number, ".json")) => Entry::Version(number),
        Some((number, tail)) if tail.starts_with(".json.corrupt") => Entry::Corrupt(number),
        _ => Entry::Other,
    }
}

fn number_prefix(name: &str) -> Option<(u64, &str)> {
    let digits = name.get(..DIGITS)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, &name[DIGITS..]))
}

/// `now` as RFC 3339 UTC with milliseconds. humantime panics before 1970 and fails after 9999, so
/// a clock that far off is clamped rather than taking the store down.
pub fn rfc3339(now: SystemTime) -> String {
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    let now = match now.duration_since(UNIX_EPOCH) {
        Err(_) => UNIX_EPOCH,
        Ok(since) if since > LAST => UNIX_EPOCH + LAST,
        Ok(_) => now,
    };
    humantime::format_rfc3339_millis(now).to_string()
}

pub fn encode(version: &Version) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(version)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Parses the file of version `number`, refusing one that is not exactly that version.
pub fn decode(number: u64, bytes: &[u8]) -> Result<Version, String> {
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))?;
    if version.meta.version != number {
        return Err(format!(
            "holds version {}, not {number}",
            version.meta.version
        ));
    }
    let actual = checksum(&version.config);
    if version.meta.checksum != actual {
        return Err(format!(
            "checksum {} does not match its config ({actual})",
            version.meta.checksum
        ));
    }
    Ok(version)
}

/// Reads and checks version `number` from `dir`.
pub fn read(dir: &Path, number: u64) -> Result<Version, StoreError> {
    let path = dir.join(file_name(number));
    let bytes = fs::read(&path).map_err(|source| StoreError::io(&path, source))?;
    decode(number, &bytes).map_err(|reason| StoreError::Corrupt { path, reason })
}

/// Writes `version` durably into `dir`: when this returns `Ok` the file is complete, fsynced and
/// its name is fsynced in the directory. On error it removes the file if the rename happened (so
/// a failed write does not reappear after a restart) and returns whether the name may still be
/// taken on disk.
pub fn write(dir: &Path, version: &Version) -> Result<(), WriteFailed> {
    let path = dir.join(file_name(version.meta.version));
    match path.symlink_metadata() {
        Ok(_) => {
            return Err(WriteFailed {
                error: StoreError::Corrupt {
                    path,
                    reason: "already exists; a stored version is never overwritten".into(),
                },
                name_taken: true,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(WriteFailed {
                error: StoreError::io(&path, source),
                name_taken: true,
            });
        }
    }
    let bytes = encode(version).map_err(|e| WriteFailed {
        error: StoreError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode: {e}"),
        },
        name_taken: false,
    })?;
    let result = AtomicWriteFile::open(&path).and_then(|mut file| {
        file.write_all(&bytes)?;
        // Fsyncs the temp file, renames it, fsyncs the directory (atomic-write-file 0.3,
        // `imp/unix/mod.rs`: `rename_temporary_file`). Dropped unfinished, it removes the temp file.
        file.commit()
    });
    result.map_err(|source| WriteFailed {
        name_taken: !undo(dir, &path),
        error: StoreError::io(&path, source),
    })
}

/// A failed `write`.
#[derive(Debug)]
pub struct WriteFailed {
    pub error: StoreError,
    /// The file may exist (the rename happened and could not be undone): do not reuse its number.
    pub name_taken: bool,
}

/// Removes `path` after a failed commit (the rename may have happened before the directory fsync
/// failed). True when the name is free.
fn undo(dir: &Path, path: &Path) -> bool {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Ok(()) => {
            if let Err(error) = sync_dir(dir) {
                tracing::warn!(path = %path.display(), %error, "removed a failed version write but cannot fsync its directory");
            }
            true
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot remove a failed version write; its number will not be reused");
            false
        }
    }
}

/// Fsyncs a directory so the names created, renamed or removed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::io(dir, source))
}

/// Where a corrupt version file is set aside: the first of `<name>.corrupt`, `<name>.corrupt.1`,
/// ... that does not exist, so an earlier quarantined file is never replaced.
pub fn quarantine_path(path: &Path) -> Result<PathBuf, StoreError> {
    let base = path.as_os_str().to_os_string();
    for n in 0u32.. {
        let mut candidate = base.clone();
        if n == 0 {
            candidate.push(".corrupt");
        } else {
            candidate.push(format!(".corrupt.{n}"));
        }
        let candidate = PathBuf::from(candidate);
        match candidate.symlink_metadata() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(candidate),
            Err(source) => return Err(StoreError::io(&candidate, source)),
            Ok(_) => {}
        }
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: "no free name to set it aside".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VersionMeta;

    fn version(number: u64, config: &str) -> Version {
        Version {
            meta: VersionMeta {
                version: number,
                author: "alice".into(),
                message: "m".into(),
                time: rfc3339(UNIX_EPOCH),
                action: "replace".into(),
                checksum: checksum(config),
                drained: Default::default(),
            },
            config: config.into(),
        }
    }

    #[test]
    fn names_sort_and_classify() {
        assert_eq!(file_name(42), "00000000000000000042.json");
        assert_eq!(file_name(u64::MAX).len(), DIGITS + 5);
        assert_eq!(classify(&file_name(42)), Entry::Version(42));
        assert_eq!(
            classify("00000000000000000042.json.corrupt"),
            Entry::Corrupt(42)
        );
        assert_eq!(
            classify("00000000000000000042.json.corrupt.3"),
            Entry::Corrupt(42)
        );
        assert_eq!(classify(".00000000000000000042.json.aB3xYz"), Entry::Temp);
        assert_eq!(classify("42.json"), Entry::Other);
        assert_eq!(classify("0000000000000000004x.json"), Entry::Other);
        assert_eq!(classify("99999999999999999999.json"), Entry::Other);
        assert_eq!(classify(".DS_Store"), Entry::Other);
        assert_eq!(classify("00000000000000000042.json.bak"), Entry::Other);
    }

    #[test]
    fn time_is_rfc3339_millis_and_clamped() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert!(rfc3339(far).starts_with("9999-12-31T23:59:59"));
    }

    #[test]
    fn decode_checks_number_and_checksum() {
        let v = version(3, "a = 1\n");
        let bytes = encode(&v).expect("encode");
        assert_eq!(decode(3, &bytes), Ok(v.clone()));
        assert!(decode(4, &bytes).is_err_and(|e| e.contains("holds version 3")));
        let mut tampered = v.clone();
        tampered.config = "a = 2\n".into();
        let bytes = encode(&tampered).expect("encode");
        assert!(decode(3, &bytes).is_err_and(|e| e.contains("checksum")));
        assert!(decode(3, &bytes[..10]).is_err_and(|e| e.contains("does not parse")));
    }

    #[test]
    fn write_refuses_to_overwrite_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = version(1, "a = 1\n");
        write(dir.path(), &v).expect("write");
        assert_eq!(read(dir.path(), 1).expect("read"), v);
        let again = write(dir.path(), &version(1, "b = 2\n")).expect_err("overwrite");
        assert!(again.name_taken);
        assert_eq!(read(dir.path(), 1).expect("read"), v);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![file_name(1)], "no temp file left behind");
    }

    #[test]
    fn quarantine_never_replaces_an_earlier_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(file_name(7));
        let first = quarantine_path(&path).expect("first");
        assert!(first.to_string_lossy().ends_with(".json.corrupt"));
        fs::write(&first, "x").expect("write");
        let second = quarantine_path(&path).expect("second");
        assert!(second.to_string_lossy().ends_with(".json.corrupt.1"));
    }
}
