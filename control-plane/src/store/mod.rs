//! The durable, versioned store of the fleet config, behind one interface ([`Store`]) with two
//! implementations: [`files::FileStore`] (the embedded default: one process, one data directory)
//! and [`etcd::EtcdStore`] (several control-plane replicas on one etcd cluster). Both give the
//! same guarantees: a version is returned only once it is durable (fsynced, or committed by etcd),
//! numbers have no gaps and are never reused, a write based on a stale version is a `Conflict`,
//! every version has its audit line, and a failed write leaves the previous version current.
//! Failures name the file or the etcd operation; an etcd that cannot be reached is `Unavailable`.

mod audit;
pub mod etcd;
#[cfg(test)]
mod etcd_tests;
pub mod files;
mod metrics;
pub mod migrate;
mod record;
mod recover;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use etcd::{EtcdOptions, EtcdStore};
pub use files::FileStore;
pub use metrics::StoreMetrics;
/// A version's metadata and the audit log's lines are what the API shows: one definition each.
pub use weir_protocol::api::{AuditEntry, Drained, VersionMeta};

/// Up to `limit` of `metas`, newest first, only those below `before` if given: `list` of both
/// stores over their in-memory index.
fn newest_first(
    metas: &std::collections::BTreeMap<u64, VersionMeta>,
    limit: usize,
    before: Option<u64>,
) -> Vec<VersionMeta> {
    metas
        .range(..before.unwrap_or(u64::MAX))
        .rev()
        .take(limit)
        .map(|(_, meta)| meta.clone())
        .collect()
}

/// One stored version: its metadata and the fleet config (TOML text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub meta: VersionMeta,
    pub config: String,
}

/// A change to store as the next version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub config: String,
    pub author: String,
    pub message: String,
    pub action: String,
    pub drained: Drained,
    /// For the audit log, e.g. `"api/us-east weight 100 -> 0"`.
    pub detail: String,
}

/// What an update's closure decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Commit(Change),
    /// Nothing to store (the change would not change anything).
    Unchanged,
}

/// Why an update stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The caller based its change on `expected`, but `current` is the current version.
    #[error("the change is based on version {expected} but the current version is {current}")]
    Conflict { expected: u64, current: u64 },
    /// The closure refused the change.
    #[error("the change was rejected: {0}")]
    Rejected(E),
    /// The version could not be stored; the previous one is still current.
    #[error(transparent)]
    Io(StoreError),
}

/// A store failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: another process has this store open", path.display())]
    Locked { path: PathBuf },
    /// The etcd cluster could not be reached or did not answer in time: nothing was changed.
    #[error("etcd {op}: {reason}")]
    Unavailable { op: &'static str, reason: String },
    /// etcd answered, but with something this store cannot use.
    #[error("etcd {key}: {reason}")]
    Etcd { key: String, reason: String },
}

impl StoreError {
    /// Whether the failure is the store being out of reach (an answer of `503`), not a fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What `Store::open` found and repaired, for the caller to log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Temp files of interrupted version writes, removed.
    pub temp_files_removed: usize,
    /// Version files that did not parse or did not match their checksum, renamed `*.corrupt`.
    pub corrupt_versions: usize,
    /// A torn last audit line (no newline) was cut off.
    pub audit_tail_cut: bool,
    /// `recovered` audit lines appended for versions the audit log did not name.
    pub audit_repaired: usize,
    /// Complete audit lines that do not parse (left in place, skipped when read).
    pub audit_unreadable: usize,
    /// Valid versions in the store.
    pub versions: usize,
}

impl Recovery {
    /// Whether the store was found as a clean shutdown leaves it.
    pub fn is_clean(&self) -> bool {
        self.temp_files_removed == 0
            && self.corrupt_versions == 0
            && !self.audit_tail_cut
            && self.audit_repaired == 0
            && self.audit_unreadable == 0
    }
}

/// Who leads the replicas (runs the fleet-wide periodic work): the leader's identity, and
/// whether it is this replica. The file store's only replica always leads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    pub leader: Option<String>,
    pub is_me: bool,
}

/// The store: files or etcd. `Send + Sync`: share it in an `Arc`. Calls block (file I/O, or a
/// round trip to etcd: use `spawn_blocking` from async code), except `current` and `list`, which
/// only read memory and so answer even while etcd is out of reach.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
    /// Versions another replica committed, as this one learns of them (never its own).
    remote: watch::Receiver<Option<Arc<Version>>>,
    /// The file store's end of `remote`, kept so the channel stays open (it never sends).
    _no_replicas: Option<watch::Sender<Option<Arc<Version>>>>,
}

#[derive(Debug)]
enum Backend {
    Files(FileStore),
    /// Boxed: the etcd client is large.
    Etcd(Box<EtcdStore>),
}

impl Store {
    /// Opens the file store in `dir` (created if missing), recovering from whatever a crash left.
    pub fn open(dir: &Path) -> Result<(Store, Recovery), StoreError> {
        let (files, recovery) = FileStore::open(dir)?;
        let (sender, remote) = watch::channel(None);
        let store = Store {
            backend: Backend::Files(files),
            remote,
            _no_replicas: Some(sender),
        };
        Ok((store, recovery))
    }

    /// Connects to etcd, loads every version's metadata and the current version, and starts
    /// following it.
    pub fn open_etcd(options: &EtcdOptions, metrics: StoreMetrics) -> Result<Store, StoreError> {
        let (sender, remote) = watch::channel(None);
        let etcd = EtcdStore::open(options, metrics, sender)?;
        Ok(Store {
            backend: Backend::Etcd(Box::new(etcd)),
            remote,
            _no_replicas: None,
        })
    }

    /// `files` or `etcd`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Files(..) => "files",
            Backend::Etcd(_) => "etcd",
        }
    }

    /// The versions other replicas commit, newest last seen (`None` until there is one). The
    /// file store has no other replica: it never changes.
    pub fn remote_versions(&self) -> watch::Receiver<Option<Arc<Version>>> {
        self.remote.clone()
    }

    /// The current version (kept in memory).
    pub fn current(&self) -> Option<Arc<Version>> {
        match &self.backend {
            Backend::Files(s) => s.current(),
            Backend::Etcd(s) => s.current(),
        }
    }

    /// Version `number` with its config. `None` when there is no such version.
    pub fn get(&self, number: u64) -> Result<Option<Version>, StoreError> {
        match &self.backend {
            Backend::Files(s) => s.get(number),
            Backend::Etcd(s) => s.get(number),
        }
    }

    /// Up to `limit` versions' metadata, newest first, only those below `before` if given.
    pub fn list(&self, limit: usize, before: Option<u64>) -> Vec<VersionMeta> {
        match &self.backend {
            Backend::Files(s) => s.list(limit, before),
            Backend::Etcd(s) => s.list(limit, before),
        }
    }

    /// Atomically: checks `expected` (when given it must be the current version number, 0 for
    /// "no version yet", else `Conflict`), calls `decide` with the current version, and on
    /// `Commit` stores the next version durably with its audit line and returns it (`None` for
    /// `Unchanged`). `decide` must not call back into the store's writing methods.
    ///
    /// On etcd the check is a compare-and-swap in the commit's transaction, so a writer on
    /// another replica that committed in between makes this a `Conflict` too (even without
    /// `expected`: the change was decided on a version that is no longer current).
    pub fn update<E>(
        &self,
        expected: Option<u64>,
        now: SystemTime,
        decide: impl FnOnce(Option<&Version>) -> Result<Update, E>,
    ) -> Result<Option<Arc<Version>>, UpdateError<E>> {
        match &self.backend {
            Backend::Files(s) => s.update(expected, now, decide),
            Backend::Etcd(s) => s.update(expected, now, decide),
        }
    }

    /// Appends an audit line that stores no version (a rollout promoted, superseded or resolved
    /// on restart), in order with the versions' lines.
    pub fn note(&self, entry: AuditEntry) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Files(s) => s.note(entry),
            Backend::Etcd(s) => s.note(entry),
        }
    }

    /// The last `limit` audit entries, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        match &self.backend {
            Backend::Files(s) => s.audit(limit),
            Backend::Etcd(s) => s.audit(limit),
        }
    }

    /// A small state record of another component (`failover.json`, `rollout.json`); `None` if
    /// it was never saved.
    pub fn load_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Files(s) => s.load_state(name),
            Backend::Etcd(s) => s.load_state(name),
        }
    }

    /// Replaces state record `name` durably; on error the previous one stands.
    pub fn save_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Files(s) => s.save_state(name, bytes),
            Backend::Etcd(s) => s.save_state(name, bytes),
        }
    }

    /// Starts the leader election as `identity` (etcd: a lease of `ttl`); the leadership as it
    /// changes. On the file store this replica is the leader from the start.
    pub fn campaign(
        &self,
        identity: String,
        ttl: std::time::Duration,
    ) -> watch::Receiver<Leadership> {
        match &self.backend {
            Backend::Files(_) => {
                // The sender goes at once: the leadership never changes, and a receiver keeps
                // the last value.
                let (_, receiver) = watch::channel(Leadership {
                    leader: Some(identity),
                    is_me: true,
                });
                receiver
            }
            Backend::Etcd(s) => s.campaign(identity, ttl),
        }
    }

    /// Gives up the leadership now (etcd; nothing on the file store).
    pub fn resign(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Files(_) => Ok(()),
            Backend::Etcd(s) => s.resign(),
        }
    }

    /// The file store behind this one (tests of its internals).
    #[cfg(test)]
    fn files(&self) -> &FileStore {
        match &self.backend {
            Backend::Files(s) => s,
            Backend::Etcd(_) => panic!("not a file store"),
        }
    }

    /// What the etcd store's view is worth when etcd is out of reach: `None` for the file store
    /// (always fresh), else whether the watch is connected and for how long it has not been.
    pub fn view(&self) -> Option<etcd::ViewState> {
        match &self.backend {
            Backend::Files(..) => None,
            Backend::Etcd(s) => Some(s.view_state()),
        }
    }
}
