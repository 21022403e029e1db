//! `weir-control-plane migrate --from-dir DIR --to-etcd URLS`: copies a file store's whole
//! history into an empty etcd store: every version under its own number, every audit line in its
//! order, the state records (`failover.json`, `rollout.json`), and last `current`, the commit point
//! (until it is written the etcd store holds no history, and an interrupted copy can be run
//! again). Refuses an etcd store that already has a history; checks what it wrote by reading it
//! back. The file store is opened (and so locked) for the copy: stop its control plane first.

use std::path::Path;

use etcd_client::{Client, ConnectOptions, DeleteOptions, TxnOp};

use super::etcd::{EtcdOptions, Keys};
use super::{AuditEntry, StoreError, StoreMetrics, record};
use crate::store::Store;

/// The state records a file store keeps next to its versions.
pub const STATE_FILES: [&str; 2] = ["failover.json", "rollout.json"];

/// What a migration copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub versions: usize,
    pub audit_lines: usize,
    pub state_records: usize,
    pub current: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("file store {dir}: {source}")]
    Files { dir: String, source: StoreError },
    #[error("etcd: {0}")]
    Etcd(StoreError),
    #[error(
        "etcd already holds a history under {prefix} (current version {current}); migrate only into an empty prefix"
    )]
    NotEmpty { prefix: String, current: u64 },
    #[error("the file store has no version; nothing to migrate")]
    Empty,
    #[error("read back from etcd: {0}")]
    Mismatch(String),
}

/// Copies the file store in `dir` into etcd.
pub fn migrate(dir: &Path, to: &EtcdOptions) -> Result<Copied, MigrateError> {
    let files_error = |source| MigrateError::Files {
        dir: dir.display().to_string(),
        source,
    };
    let (files, recovery) = Store::open(dir).map_err(files_error)?;
    if !recovery.is_clean() {
        tracing::warn!(
            ?recovery,
            "the file store was repaired on open before the copy"
        );
    }
    let Some(current) = files.current() else {
        return Err(MigrateError::Empty);
    };
    let metas = files.list(usize::MAX, None);
    // Oldest first.
    let mut audit = files.audit(usize::MAX).map_err(files_error)?;
    audit.reverse();
    let mut states = Vec::new();
    for name in STATE_FILES {
        if let Some(bytes) = files.load_state(name).map_err(files_error)? {
            states.push((name, bytes));
        }
    }
    let keys = Keys::new(&to.prefix);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            MigrateError::Etcd(StoreError::Unavailable {
                op: "start",
                reason: e.to_string(),
            })
        })?;
    let copied = runtime.block_on(async {
        let unavailable = |op: &'static str| {
            move |e: etcd_client::Error| {
                MigrateError::Etcd(StoreError::Unavailable {
                    op,
                    reason: e.to_string(),
                })
            }
        };
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(to.timeout)
            .with_timeout(to.timeout);
        if let Some((user, password)) = &to.user {
            // etcd's simple tokens expire (5 min by default): refresh them on the way.
            connect = connect
                .with_user(user.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        if let Some(ca_file) = &to.ca_file {
            let pem = std::fs::read(ca_file).map_err(|source| {
                MigrateError::Etcd(StoreError::Io {
                    path: ca_file.clone(),
                    source,
                })
            })?;
            connect = connect.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(pem)),
            );
        }
        let mut client = Client::connect(to.endpoints.clone(), Some(connect))
            .await
            .map_err(unavailable("connect"))?;
        let existing = client
            .get(keys.current(), None)
            .await
            .map_err(unavailable("read"))?;
        if let Some(kv) = existing.kvs().first() {
            let current = String::from_utf8_lossy(kv.value()).parse().unwrap_or(0);
            return Err(MigrateError::NotEmpty {
                prefix: keys.prefix().to_owned(),
                current,
            });
        }
        // Leftovers of an interrupted copy (no `current` yet): start clean.
        client
            .delete(keys.prefix(), Some(DeleteOptions::new().with_prefix()))
            .await
            .map_err(unavailable("delete"))?;
        let mut copied = Copied {
            current: current.meta.version,
            ..Copied::default()
        };
        for meta in metas.iter().rev() {
            let version = files
                .get(meta.version)
                .map_err(files_error)?
                .ok_or_else(|| {
                    MigrateError::Mismatch(format!("version {} vanished", meta.version))
                })?;
            let bytes = record::encode(&version)
                .map_err(|e| MigrateError::Mismatch(format!("version {}: {e}", meta.version)))?;
            client
                .put(keys.version(meta.version), bytes, None)
                .await
                .map_err(unavailable("put"))?;
            copied.versions += 1;
        }
        // Audit lines keep the file's order: each under the highest version named so far (so
        // every line sorts before the versions committed after the migration), numbered in order.
        let mut anchor = 0;
        let mut batch = Vec::new();
        for (seq, entry) in audit.iter().enumerate() {
            anchor = anchor.max(entry.version).min(copied.current);
            batch.push(TxnOp::put(
                keys.audit_note(anchor, seq as u128, 0),
                line(entry)?,
                None,
            ));
            if batch.len() == 64 {
                client
                    .txn(etcd_client::Txn::new().and_then(std::mem::take(&mut batch)))
                    .await
                    .map_err(unavailable("put"))?;
            }
            copied.audit_lines += 1;
        }
        if !batch.is_empty() {
            client
                .txn(etcd_client::Txn::new().and_then(batch))
                .await
                .map_err(unavailable("put"))?;
        }
        for (name, bytes) in &states {
            client
                .put(keys.state(name), bytes.clone(), None)
                .await
                .map_err(unavailable("put"))?;
            copied.state_records += 1;
        }
        client
            .put(keys.current(), copied.current.to_string(), None)
            .await
            .map_err(unavailable("put"))?;
        Ok(copied)
    })?;
    drop(runtime);
    verify(&files, to, &copied)?;
    Ok(copied)
}

fn line(entry: &AuditEntry) -> Result<Vec<u8>, MigrateError> {
    serde_json::to_vec(entry).map_err(|e| MigrateError::Mismatch(format!("audit line: {e}")))
}

/// Opens the etcd store just written and compares every version and the audit log with the
/// file store's.
fn verify(files: &Store, to: &EtcdOptions, copied: &Copied) -> Result<(), MigrateError> {
    let metrics = StoreMetrics::unregistered().map_err(|e| {
        MigrateError::Etcd(StoreError::Unavailable {
            op: "metrics",
            reason: e.to_string(),
        })
    })?;
    let etcd = Store::open_etcd(to, metrics).map_err(MigrateError::Etcd)?;
    let (want, got) = (files.list(usize::MAX, None), etcd.list(usize::MAX, None));
    if want != got {
        return Err(MigrateError::Mismatch(format!(
            "{} versions in the file store, {} in etcd",
            want.len(),
            got.len()
        )));
    }
    for meta in &want {
        let a = files.get(meta.version).map_err(MigrateError::Etcd)?;
        let b = etcd.get(meta.version).map_err(MigrateError::Etcd)?;
        if a != b {
            return Err(MigrateError::Mismatch(format!(
                "version {} differs",
                meta.version
            )));
        }
    }
    let audit = etcd.audit(usize::MAX).map_err(MigrateError::Etcd)?;
    if audit.len() != copied.audit_lines || audit != files.audit(usize::MAX).unwrap_or_default() {
        return Err(MigrateError::Mismatch("the audit log differs".into()));
    }
    Ok(())
}
