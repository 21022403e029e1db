//! Reading `versions/` on open, after whatever a crash (or a bad disk) left there: leftover temp
//! files are removed, a version file that does not parse, names another version, or whose checksum
//! does not match is renamed to `*.corrupt` with a warning, and every number ever used (valid or
//! quarantined) is remembered so none is reused. Fails only on I/O errors (a directory that cannot
//! be read, a file that cannot be read, removed or renamed): nothing is guessed then.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::record::{self, Entry};
use super::{StoreError, Version, VersionMeta};

/// What is in `versions/` once it is clean.
#[derive(Debug, Default)]
pub struct Versions {
    /// Every valid version.
    pub metas: BTreeMap<u64, VersionMeta>,
    /// The highest valid version, with its config.
    pub current: Option<Version>,
    /// The highest number any file uses, valid or not.
    pub highest_number: u64,
    pub temp_files_removed: usize,
    pub corrupt_versions: usize,
}

pub fn scan(dir: &Path) -> Result<Versions, StoreError> {
    let mut found = Versions::default();
    let mut numbers = Vec::new();
    let mut changed = false;
    let entries = fs::read_dir(dir).map_err(|source| StoreError::io(dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::io(dir, source))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(file = %path.display(), "unexpected file in the store; left alone");
            continue;
        };
        match record::classify(&name) {
            Entry::Version(number) => numbers.push(number),
            Entry::Corrupt(number) => {
                found.highest_number = found.highest_number.max(number);
            }
            Entry::Temp => {
                fs::remove_file(&path).map_err(|source| StoreError::io(&path, source))?;
                tracing::info!(file = %path.display(), "removed a temp file left by an interrupted write");
                found.temp_files_removed += 1;
                changed = true;
            }
            Entry::Other => {
                tracing::warn!(file = %path.display(), "unexpected file in the store; left alone");
            }
        }
    }
    numbers.sort_unstable();
    for number in numbers {
        found.highest_number = found.highest_number.max(number);
        let path = dir.join(record::file_name(number));
        let bytes = fs::read(&path).map_err(|source| StoreError::io(&path, source))?;
        match record::decode(number, &bytes) {
            Ok(version) => {
                found.metas.insert(number, version.meta.clone());
                // Ascending order: only the highest valid body is kept.
                found.current = Some(version);
            }
            Err(reason) => {
                let aside = record::quarantine_path(&path)?;
                fs::rename(&path, &aside).map_err(|source| StoreError::io(&path, source))?;
                tracing::warn!(
                    file = %path.display(), moved_to = %aside.display(), %reason,
                    "corrupt version file set aside; its number will not be reused"
                );
                found.corrupt_versions += 1;
                changed = true;
            }
        }
    }
    if changed {
        record::sync_dir(dir)?;
    }
    Ok(found)
}
