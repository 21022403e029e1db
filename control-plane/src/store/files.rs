//! The file store, the embedded default: every accepted change is a new immutable version in its
//! own file (written to a temp file, fsynced, renamed, directory fsynced), followed by a line in an
//! append-only audit log. A crash at any instant leaves the old version or the new one, never a
//! torn one; `FileStore::open` repairs what a crash left and reports it. A failed write returns
//! `Io` and leaves the previous version current, in memory and on disk.
//!
//! On disk, under the data directory:
//! - `versions/<20-digit number>.json`: one version (`Version` as JSON), the commit point;
//! - `versions/<number>.json.corrupt[.<n>]`: a version file recovery found damaged, set aside;
//! - `audit.log`: NDJSON `AuditEntry` lines, oldest first;
//! - `<name>.json`: small state files of other components (`failover.json`, `rollout.json`);
//! - `lock`: held (flock) while a `FileStore` is open, so two processes never write one store.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use atomic_write_file::AtomicWriteFile;

use super::audit::{self, AuditLog};
use super::{
    AuditEntry, Recovery, StoreError, Update, UpdateError, Version, VersionMeta, record, recover,
};

/// The file store. `Send + Sync`; calls block on file I/O, except `current` and `list`, which
/// only read memory.
#[derive(Debug)]
pub struct FileStore {
    versions_dir: PathBuf,
    audit_path: PathBuf,
    /// Held for a whole update, so one writer at a time.
    pub(super) writer: Mutex<Writer>,
    /// What readers see; written only briefly, after a version is durable.
    index: RwLock<Index>,
    /// Holds the flock on `lock` while the store is open.
    _lock: File,
}

#[derive(Debug)]
pub(super) struct Writer {
    pub(super) audit: AuditLog,
    /// The number the next version gets: above every number ever used.
    next: u64,
}

#[derive(Debug, Default)]
struct Index {
    /// Every version's metadata (small); config bodies stay on disk.
    metas: BTreeMap<u64, VersionMeta>,
    current: Option<Arc<Version>>,
}

impl FileStore {
    /// Opens the store in `dir` (created if missing) and recovers from whatever a crash left.
    pub fn open(dir: &Path) -> Result<(FileStore, Recovery), StoreError> {
        create_dir_durably(dir)?;
        let lock = lock(&dir.join("lock"))?;
        let versions_dir = dir.join("versions");
        create_dir_durably(&versions_dir)?;
        let found = recover::scan(&versions_dir)?;
        let audit_path = dir.join("audit.log");
        let (mut audit, scan, created) = AuditLog::open(&audit_path)?;
        if created {
            record::sync_dir(dir)?;
        }
        let mut recovery = Recovery {
            temp_files_removed: found.temp_files_removed,
            corrupt_versions: found.corrupt_versions,
            audit_tail_cut: scan.tail_cut,
            audit_unreadable: scan.unreadable,
            versions: found.metas.len(),
            ..Recovery::default()
        };
        // Versions stored but not named by the audit log: the crash came between the version
        // file and its audit line.
        let named = scan.last_version.unwrap_or(0);
        let now = record::rfc3339(SystemTime::now());
        for meta in found.metas.range(named.saturating_add(1)..).map(|(_, m)| m) {
            tracing::warn!(
                version = meta.version,
                "version stored without its audit line; adding a 'recovered' line"
            );
            audit.append(AuditEntry {
                time: now.clone(),
                actor: meta.author.clone(),
                action: "recovered".into(),
                version: meta.version,
                message: meta.message.clone(),
                detail: format!(
                    "{} at {}; audit line written on recovery",
                    meta.action, meta.time
                ),
            })?;
            recovery.audit_repaired += 1;
        }
        let highest = found.highest_number.max(named);
        let next = highest.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: versions_dir.clone(),
            reason: "version numbers are exhausted".into(),
        })?;
        let store = FileStore {
            versions_dir,
            audit_path,
            writer: Mutex::new(Writer { audit, next }),
            index: RwLock::new(Index {
                metas: found.metas,
                current: found.current.map(Arc::new),
            }),
            _lock: lock,
        };
        Ok((store, recovery))
    }

    /// The store's directory, for the small files kept next to it (the failover policy's).
    pub fn dir(&self) -> &Path {
        self.audit_path.parent().unwrap_or(Path::new("."))
    }

    /// The current version (kept in memory).
    pub fn current(&self) -> Option<Arc<Version>> {
        self.read_index().current.clone()
    }

    /// Version `number` with its config, read from disk (the current one from memory). `None`
    /// when there is no such version.
    pub fn get(&self, number: u64) -> Result<Option<Version>, StoreError> {
        {
            let index = self.read_index();
            if !index.metas.contains_key(&number) {
                return Ok(None);
            }
            if let Some(current) = index.current.as_ref().filter(|c| c.meta.version == number) {
                return Ok(Some(Version::clone(current)));
            }
        }
        record::read(&self.versions_dir, number).map(Some)
    }

    /// Up to `limit` versions' metadata, newest first, only those below `before` if given.
    pub fn list(&self, limit: usize, before: Option<u64>) -> Vec<VersionMeta> {
        super::newest_first(&self.read_index().metas, limit, before)
    }

    /// Atomically: checks `expected` (when given it must be the current version number, 0 for
    /// "no version yet", else `Conflict`), calls `decide` with the current version, and on
    /// `Commit` stores the next version durably, appends its audit line, and returns it (`None`
    /// for `Unchanged`). `decide` runs under the writer lock, so read-modify-write changes cannot
    /// interleave; it must not call back into the store's writing methods.
    ///
    /// The version file is the commit point: if it cannot be written the answer is `Io` and the
    /// previous version stays current. If only the audit line fails, the version stands (it is
    /// durable and would be current after a restart anyway), the error is logged, and the line is
    /// written before the next one (or as `recovered` on the next open).
    pub fn update<E>(
        &self,
        expected: Option<u64>,
        now: SystemTime,
        decide: impl FnOnce(Option<&Version>) -> Result<Update, E>,
    ) -> Result<Option<Arc<Version>>, UpdateError<E>> {
        // A panic in an earlier `decide` poisons the lock but changes nothing: carry on.
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current();
        let current_number = current.as_ref().map_or(0, |c| c.meta.version);
        if let Some(expected) = expected
            && expected != current_number
        {
            return Err(UpdateError::Conflict {
                expected,
                current: current_number,
            });
        }
        let change = match decide(current.as_deref()).map_err(UpdateError::Rejected)? {
            Update::Unchanged => return Ok(None),
            Update::Commit(change) => change,
        };
        let number = writer.next;
        let version = Arc::new(Version {
            meta: VersionMeta {
                version: number,
                author: change.author,
                message: change.message,
                time: record::rfc3339(now),
                action: change.action,
                checksum: weir_protocol::checksum(&change.config),
                drained: change.drained,
            },
            config: change.config,
        });
        if let Err(failed) = record::write(&self.versions_dir, &version) {
            if failed.name_taken {
                writer.next = number.saturating_add(1);
            }
            return Err(UpdateError::Io(failed.error));
        }
        writer.next = number.saturating_add(1);
        let entry = AuditEntry {
            time: version.meta.time.clone(),
            actor: version.meta.author.clone(),
            action: version.meta.action.clone(),
            version: number,
            message: version.meta.message.clone(),
            detail: change.detail,
        };
        if let Err(error) = writer.audit.append(entry) {
            tracing::error!(
                version = number, %error, pending = writer.audit.pending(),
                "version stored but its audit line could not be written; it will be retried"
            );
        }
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        index.metas.insert(number, version.meta.clone());
        index.current = Some(Arc::clone(&version));
        Ok(Some(version))
    }

    /// Appends an audit line that stores no version (a rollout promoted, superseded or resolved
    /// on restart), under the writer lock so it never interleaves with a version's line.
    pub fn note(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.audit.append(entry)
    }

    /// The last `limit` audit entries, newest first, read from the end of the file.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        audit::tail(&self.audit_path, limit)
    }

    /// The state file `name` (e.g. `failover.json`) kept next to the store; `None` if never saved.
    pub fn load_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir().join(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::io(&path, source)),
        }
    }

    /// Replaces the state file `name` durably (temp file, fsync, rename, directory fsync); on
    /// error the previous file stands.
    pub fn save_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.dir().join(name);
        let result = AtomicWriteFile::open(&path).and_then(|mut file| {
            file.write_all(bytes)?;
            file.commit()
        });
        result.map_err(|source| StoreError::io(&path, source))
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates `dir` and any missing parents, fsyncing each new directory's parent so it survives a
/// crash.
fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at.filter(|p| !p.as_os_str().is_empty()) {
        match path.symlink_metadata() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(path),
            Err(source) => return Err(StoreError::io(path, source)),
        }
        at = path.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|source| StoreError::io(dir, source))?;
    for path in missing.iter().rev() {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        record::sync_dir(parent)?;
    }
    Ok(())
}

/// Takes the store's lock file (released by the kernel when the process dies, even by SIGKILL).
fn lock(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| StoreError::io(path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(StoreError::io(path, source)),
    }
}
