//! The etcd store: the same versions, audit log and state records as the file store, kept in an
//! etcd v3 cluster (keys in the `keys` module) so several control-plane replicas share one
//! history. A commit is one transaction that compares-and-swaps `current` and writes the version,
//! the new `current` and the audit line together; it is returned only once etcd has committed it
//! (raft quorum, fsync). Each replica keeps every version's metadata and the current version in
//! memory and follows etcd with a watch (`watch` module), so reads of the current version and the
//! history answer from memory, and versions other replicas commit reach `Store::remote_versions`
//! within milliseconds. An etcd out of reach (no answer within the operation timeout) is
//! `Unavailable` and changes nothing; a value that does not decode is `Etcd`, naming its key.
//! The `leader` module elects the replica that runs the failover policy.
//!
//! The store runs its own small tokio runtime (one worker) for the etcd client and the watch, so
//! its blocking interface works the same from `spawn_blocking`, from `main` and from tests.

mod keys;
mod leader;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, SortOrder, SortTarget,
    TlsOptions, Txn, TxnOp,
};
use tokio::sync::watch as channel;

pub use keys::Keys;

use super::{
    AuditEntry, Leadership, StoreError, StoreMetrics, Update, UpdateError, Version, VersionMeta,
    record,
};

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Client URLs (`http://127.0.0.1:2379`, or `https://` with `ca_file`).
    pub endpoints: Vec<String>,
    /// Every key of this store starts with it (default `/weir/`).
    pub prefix: String,
    /// etcd's user and password authentication.
    pub user: Option<(String, String)>,
    /// PEM CA that signed etcd's server certificates (for `https://` endpoints).
    pub ca_file: Option<PathBuf>,
    /// Longest wait for one etcd operation (connect, read, commit) before it is `Unavailable`.
    pub timeout: Duration,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints,
            prefix: "/weir/".into(),
            user: None,
            ca_file: None,
            timeout: Duration::from_secs(3),
        }
    }
}

/// What a replica's view of etcd is worth: whether its watch is connected, and if not since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewState {
    pub connected: bool,
    /// How long the watch has been down (None while connected).
    pub disconnected_for: Option<Duration>,
}

/// The etcd store.
pub struct EtcdStore {
    /// Taken on drop and shut down in the background (a runtime may not be dropped on an async
    /// thread).
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    keys: Keys,
    timeout: Duration,
    endpoints: String,
    metrics: StoreMetrics,
    shared: Arc<Shared>,
    /// The lease this replica leads with, if it does.
    lease: Arc<Mutex<Option<i64>>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

/// What the store's callers and its watch share.
#[derive(Debug)]
struct Shared {
    /// Held across a commit (and while the watch applies an event), so this replica's own
    /// commits and the watch never race on the view.
    writer: tokio::sync::Mutex<()>,
    index: RwLock<Index>,
    /// Versions other replicas committed.
    remote: channel::Sender<Option<Arc<Version>>>,
    /// When the watch went down (None while it is up).
    down_since: Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct Index {
    metas: BTreeMap<u64, VersionMeta>,
    current: Option<Arc<Version>>,
}

impl Shared {
    fn current(&self) -> Option<Arc<Version>> {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    fn current_number(&self) -> u64 {
        self.current().map_or(0, |c| c.meta.version)
    }

    /// Adds `version` to the view; it becomes current if it is newer. A version from another
    /// replica is also handed to `remote`. False when it was already known.
    fn advance(&self, version: Arc<Version>, remote: bool) -> bool {
        let number = version.meta.version;
        {
            let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
            if index.metas.contains_key(&number) {
                return false;
            }
            index.metas.insert(number, version.meta.clone());
            if index
                .current
                .as_ref()
                .is_some_and(|c| c.meta.version > number)
            {
                return true;
            }
            index.current = Some(Arc::clone(&version));
        }
        if remote {
            self.remote.send_replace(Some(version));
        }
        true
    }

    fn set_connected(&self, connected: bool) {
        let mut down = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match (connected, down.is_some()) {
            (true, _) => *down = None,
            (false, false) => *down = Some(Instant::now()),
            (false, true) => {}
        }
    }
}

/// An etcd client failure as a store error: out of reach or refused.
fn failed(op: &'static str, error: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    match &error {
        E::GRpcStatus(status)
            if matches!(
                status.code(),
                tonic::Code::PermissionDenied
                    | tonic::Code::Unauthenticated
                    | tonic::Code::InvalidArgument
                    | tonic::Code::FailedPrecondition
            ) =>
        {
            StoreError::Etcd {
                key: op.to_owned(),
                reason: error.to_string(),
            }
        }
        _ => StoreError::Unavailable {
            op,
            reason: error.to_string(),
        },
    }
}

impl EtcdStore {
    /// Connects, loads every version's metadata and the current version, and starts the watch.
    pub fn open(
        options: &EtcdOptions,
        metrics: StoreMetrics,
        remote: channel::Sender<Option<Arc<Version>>>,
    ) -> Result<EtcdStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weir-etcd")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable {
                op: "start",
                reason: format!("cannot start the etcd client's runtime: {e}"),
            })?;
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout)
            .with_keep_alive(Duration::from_secs(5), options.timeout);
        if let Some((user, password)) = &options.user {
            // etcd's simple tokens expire (5 min by default): refresh them on the way.
            connect = connect
                .with_user(user.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        if let Some(ca_file) = &options.ca_file {
            let pem = std::fs::read(ca_file).map_err(|source| StoreError::Io {
                path: ca_file.clone(),
                source,
            })?;
            connect =
                connect.with_tls(TlsOptions::new().ca_certificate(Certificate::from_pem(pem)));
        }
        let endpoints = options.endpoints.join(",");
        let client = runtime
            .block_on(async {
                tokio::time::timeout(
                    options.timeout,
                    Client::connect(options.endpoints.clone(), Some(connect)),
                )
                .await
            })
            .map_err(|_| StoreError::Unavailable {
                op: "connect",
                reason: format!("no answer from {endpoints} within {:?}", options.timeout),
            })?
            .map_err(|e| failed("connect", e))?;
        let shared = Arc::new(Shared {
            writer: tokio::sync::Mutex::new(()),
            index: RwLock::new(Index::default()),
            remote,
            down_since: Mutex::new(None),
        });
        let mut store = EtcdStore {
            runtime: Some(runtime),
            client,
            keys: Keys::new(&options.prefix),
            timeout: options.timeout,
            endpoints,
            metrics,
            shared,
            lease: Arc::new(Mutex::new(None)),
        };
        let revision = store.load()?;
        let follow = watch::Watch {
            client: store.client.clone(),
            keys: store.keys.clone(),
            shared: Arc::clone(&store.shared),
            metrics: store.metrics.clone(),
            timeout: store.timeout,
            next_revision: revision + 1,
        };
        store.runtime().spawn(follow.run());
        Ok(store)
    }

    fn runtime(&mut self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime until drop")
    }

    /// Runs `op` on the store's runtime, timing and counting it; `Unavailable` after the timeout.
    fn block<T>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let runtime = self.runtime.as_ref().expect("runtime until drop");
        let timeout = self.timeout;
        let result = runtime.block_on(async move {
            // A commit is two round trips: give it twice the operation timeout.
            match tokio::time::timeout(timeout * 2, work).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Unavailable {
                    op,
                    reason: format!("no answer within {:?}", timeout * 2),
                }),
            }
        });
        self.count(op, started, &result);
        result
    }

    fn count<T>(&self, op: &'static str, started: Instant, result: &Result<T, StoreError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .operations
            .with_label_values(&[op, outcome])
            .inc();
        if let Err(error) = result {
            tracing::warn!(store = "etcd", op, %error, endpoints = %self.endpoints, "etcd store operation failed");
        }
    }

    /// Reads every version into the view; the revision it read at.
    fn load(&mut self) -> Result<i64, StoreError> {
        let (client, keys, shared) = (
            self.client.clone(),
            self.keys.clone(),
            Arc::clone(&self.shared),
        );
        self.block("load", async move {
            let mut kv = client.kv_client();
            let current = read_current(&mut kv, &keys).await?;
            let response = kv
                .get(keys.versions(), Some(GetOptions::new().with_prefix()))
                .await
                .map_err(|e| failed("load", e))?;
            let revision = response.header().map_or(0, |h| h.revision());
            let mut index = Index::default();
            for kv in response.kvs() {
                let Some(number) = keys.version_number(kv.key()) else {
                    tracing::warn!(key = %String::from_utf8_lossy(kv.key()), "unexpected key in the store; left alone");
                    continue;
                };
                if number > current {
                    // Left by an interrupted migrate: not part of the history yet.
                    continue;
                }
                let version = decode(&keys, number, kv.value())?;
                index.metas.insert(number, version.meta.clone());
                if number == current {
                    index.current = Some(Arc::new(version));
                }
            }
            if current > 0 && index.current.is_none() {
                return Err(StoreError::Etcd {
                    key: keys.version(current),
                    reason: format!("{} names version {current}, which is missing", keys.current()),
                });
            }
            *shared.index.write().unwrap_or_else(PoisonError::into_inner) = index;
            Ok(revision)
        })
    }

    pub fn current(&self) -> Option<Arc<Version>> {
        self.shared.current()
    }

    /// Starts campaigning for leadership as `identity` with a lease of `ttl`; the leadership
    /// as it changes.
    pub fn campaign(&self, identity: String, ttl: Duration) -> channel::Receiver<Leadership> {
        let (sender, receiver) = channel::channel(Leadership::default());
        let election = leader::Election {
            client: self.client.clone(),
            keys: self.keys.clone(),
            identity,
            ttl,
            metrics: self.metrics.clone(),
            sender,
            lease: Arc::clone(&self.lease),
        };
        self.runtime
            .as_ref()
            .expect("runtime until drop")
            .spawn(election.run());
        receiver
    }

    /// Gives up the leadership at once (revokes the lease), so another replica takes over
    /// without waiting for the lease to expire. Nothing when this replica does not lead.
    pub fn resign(&self) -> Result<(), StoreError> {
        let Some(lease) = self
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        let client = self.client.clone();
        self.block("resign", async move {
            client
                .lease_client()
                .revoke(lease)
                .await
                .map_err(|e| failed("resign", e))?;
            Ok(())
        })
    }

    /// Whether the view follows etcd now.
    pub fn view_state(&self) -> ViewState {
        let down = *self
            .shared
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ViewState {
            connected: down.is_none(),
            disconnected_for: down.map(|since| since.elapsed()),
        }
    }

    pub fn get(&self, number: u64) -> Result<Option<Version>, StoreError> {
        {
            let index = self
                .shared
                .index
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if !index.metas.contains_key(&number) {
                return Ok(None);
            }
            if let Some(current) = index.current.as_ref().filter(|c| c.meta.version == number) {
                return Ok(Some(Version::clone(current)));
            }
        }
        let (client, keys) = (self.client.clone(), self.keys.clone());
        self.block("get", async move {
            let response = client
                .kv_client()
                .get(keys.version(number), None)
                .await
                .map_err(|e| failed("get", e))?;
            match response.kvs().first() {
                None => Ok(None),
                Some(kv) => decode(&keys, number, kv.value()).map(Some),
            }
        })
    }

    pub fn list(&self, limit: usize, before: Option<u64>) -> Vec<VersionMeta> {
        let index = self
            .shared
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        super::newest_first(&index.metas, limit, before)
    }

    /// See `Store::update`. The commit is one transaction: `current` still the number this
    /// change was decided on and no version under the new number, then the version, the new
    /// `current` and the audit line.
    pub fn update<E>(
        &self,
        expected: Option<u64>,
        now: SystemTime,
        decide: impl FnOnce(Option<&Version>) -> Result<Update, E>,
    ) -> Result<Option<Arc<Version>>, UpdateError<E>> {
        let (client, keys, shared) = (
            self.client.clone(),
            self.keys.clone(),
            Arc::clone(&self.shared),
        );
        let mut rejected = None;
        let mut conflict = None;
        let result = self.block("commit", async {
            let _writer = shared.writer.lock().await;
            let mut kv = client.kv_client();
            // Decide on what etcd holds now, not on a view the watch has not updated yet.
            catch_up(&mut kv, &keys, &shared).await?;
            let current = shared.current();
            let current_number = current.as_ref().map_or(0, |c| c.meta.version);
            if let Some(expected) = expected
                && expected != current_number
            {
                conflict = Some((expected, current_number));
                return Ok(None);
            }
            let change = match decide(current.as_deref()) {
                Err(error) => {
                    rejected = Some(error);
                    return Ok(None);
                }
                Ok(Update::Unchanged) => return Ok(None),
                Ok(Update::Commit(change)) => change,
            };
            let number = current_number + 1;
            let version = Version {
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
            };
            let entry = AuditEntry {
                time: version.meta.time.clone(),
                actor: version.meta.author.clone(),
                action: version.meta.action.clone(),
                version: number,
                message: version.meta.message.clone(),
                detail: change.detail,
            };
            let txn = Txn::new()
                .when(vec![
                    is_current(&keys, current_number),
                    Compare::create_revision(keys.version(number), CompareOp::Equal, 0),
                ])
                .and_then(vec![
                    TxnOp::put(keys.version(number), encode(&keys, &version)?, None),
                    TxnOp::put(keys.current(), number.to_string(), None),
                    TxnOp::put(keys.audit_of_version(number), json(&keys, &entry)?, None),
                ]);
            let response = kv.txn(txn).await.map_err(|e| failed("commit", e))?;
            if !response.succeeded() {
                // Another replica committed since the catch-up: the change was decided on a
                // version that is no longer current.
                let now_current = read_current(&mut kv, &keys).await?;
                conflict = Some((expected.unwrap_or(current_number), now_current));
                return Ok(None);
            }
            let version = Arc::new(version);
            shared.advance(Arc::clone(&version), false);
            Ok(Some(version))
        });
        if let Some((expected, current)) = conflict {
            self.metrics
                .operations
                .with_label_values(&["commit", "conflict"])
                .inc();
            return Err(UpdateError::Conflict { expected, current });
        }
        if let Some(error) = rejected {
            return Err(UpdateError::Rejected(error));
        }
        let stored = result.map_err(UpdateError::Io)?;
        if let Some(version) = &stored {
            tracing::debug!(
                store = "etcd",
                version = version.meta.version,
                "version committed to etcd"
            );
        }
        Ok(stored)
    }

    /// See `Store::note`: keyed under the current version, compared-and-swapped on it so the
    /// line sorts after every version line written before it.
    pub fn note(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let (client, keys, shared) = (
            self.client.clone(),
            self.keys.clone(),
            Arc::clone(&self.shared),
        );
        self.block("note", async move {
            let _writer = shared.writer.lock().await;
            let mut kv = client.kv_client();
            let line = json(&keys, &entry)?;
            for _ in 0..8 {
                let current = read_current(&mut kv, &keys).await?;
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let key = keys.audit_note(current, nanos, rand::random());
                let txn = Txn::new()
                    .when(vec![
                        is_current(&keys, current),
                        Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                    ])
                    .and_then(vec![TxnOp::put(key, line.clone(), None)]);
                if kv
                    .txn(txn)
                    .await
                    .map_err(|e| failed("note", e))?
                    .succeeded()
                {
                    return Ok(());
                }
            }
            Err(StoreError::Etcd {
                key: keys.current(),
                reason: "kept changing while an audit line was written; not written".into(),
            })
        })
    }

    /// The last `limit` audit lines, newest first (one range read, sorted by key).
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (client, keys) = (self.client.clone(), self.keys.clone());
        self.block("audit", async move {
            let options = GetOptions::new()
                .with_prefix()
                .with_sort(SortTarget::Key, SortOrder::Descend)
                .with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
            let response = client
                .kv_client()
                .get(keys.audit(), Some(options))
                .await
                .map_err(|e| failed("audit", e))?;
            Ok(response
                .kvs()
                .iter()
                .filter_map(|kv| match serde_json::from_slice(kv.value()) {
                    Ok(entry) => Some(entry),
                    Err(error) => {
                        tracing::warn!(key = %String::from_utf8_lossy(kv.key()), %error, "unreadable audit line; skipped");
                        None
                    }
                })
                .collect())
        })
    }

    pub fn load_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (client, key) = (self.client.clone(), self.keys.state(name));
        self.block("load_state", async move {
            let response = client
                .kv_client()
                .get(key, None)
                .await
                .map_err(|e| failed("load_state", e))?;
            Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
        })
    }

    pub fn save_state(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (client, key, bytes) = (self.client.clone(), self.keys.state(name), bytes.to_vec());
        self.block("save_state", async move {
            client
                .kv_client()
                .put(key, bytes, None)
                .await
                .map_err(|e| failed("save_state", e))?;
            Ok(())
        })
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `current` holds `number` (or, for 0, does not exist).
fn is_current(keys: &Keys, number: u64) -> Compare {
    if number == 0 {
        Compare::create_revision(keys.current(), CompareOp::Equal, 0)
    } else {
        Compare::value(keys.current(), CompareOp::Equal, number.to_string())
    }
}

/// The number in `current` (0 when there is none yet), read linearizably.
async fn read_current(kv: &mut etcd_client::KvClient, keys: &Keys) -> Result<u64, StoreError> {
    let response = kv
        .get(keys.current(), None)
        .await
        .map_err(|e| failed("read", e))?;
    match response.kvs().first() {
        None => Ok(0),
        Some(kv) => std::str::from_utf8(kv.value())
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| StoreError::Etcd {
                key: keys.current(),
                reason: format!(
                    "not a version number: {:?}",
                    String::from_utf8_lossy(kv.value())
                ),
            }),
    }
}

/// Brings the view up to etcd's current version (a version another replica committed that the
/// watch has not delivered yet), fetching every version the view lacks.
async fn catch_up(
    kv: &mut etcd_client::KvClient,
    keys: &Keys,
    shared: &Shared,
) -> Result<(), StoreError> {
    let current = read_current(kv, keys).await?;
    let known = shared.current_number();
    if current <= known {
        return Ok(());
    }
    let options = GetOptions::new().with_range(keys.version(current + 1));
    let response = kv
        .get(keys.version(known + 1), Some(options))
        .await
        .map_err(|e| failed("read", e))?;
    for kv in response.kvs() {
        if let Some(number) = keys.version_number(kv.key()) {
            shared.advance(Arc::new(decode(keys, number, kv.value())?), true);
        }
    }
    Ok(())
}

fn decode(keys: &Keys, number: u64, bytes: &[u8]) -> Result<Version, StoreError> {
    record::decode(number, bytes).map_err(|reason| StoreError::Etcd {
        key: keys.version(number),
        reason,
    })
}

fn encode(keys: &Keys, version: &Version) -> Result<Vec<u8>, StoreError> {
    record::encode(version).map_err(|e| StoreError::Etcd {
        key: keys.version(version.meta.version),
        reason: format!("cannot encode: {e}"),
    })
}

fn json(keys: &Keys, entry: &AuditEntry) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(entry).map_err(|e| StoreError::Etcd {
        key: keys.audit(),
        reason: format!("cannot encode an audit line: {e}"),
    })
}
