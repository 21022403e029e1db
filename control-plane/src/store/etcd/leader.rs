//! Electing the one replica that runs the fleet-wide periodic work (the failover policy), with an
//! etcd lease: a replica becomes leader by creating the `leader` key (its identity as the value)
//! bound to a lease of `ttl`, in a transaction that succeeds only when no leader key exists, and
//! keeps the lease alive every `ttl`/4. It steps down (and says so) once it has had no keep-alive
//! answer for `ttl`/2, before etcd can expire the lease and let another replica in, so two replicas
//! never both believe they lead. The others watch the key and campaign when it is deleted (a
//! resignation, or the lease expiring when the leader died). Every failure is logged and retried
//! with backoff; the leadership (who leads, and whether it is this replica) is published on a
//! watch channel.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::watch;

use super::{Keys, failed};
use crate::store::{Leadership, StoreError, StoreMetrics};

pub struct Election {
    pub client: Client,
    pub keys: Keys,
    pub identity: String,
    pub ttl: Duration,
    pub metrics: StoreMetrics,
    pub sender: watch::Sender<Leadership>,
    /// The lease held while leading, for a resignation on shutdown.
    pub lease: Arc<Mutex<Option<i64>>>,
}

impl Election {
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.round().await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(error) => {
                    tracing::warn!(store = "etcd", %error, retry_in_ms = backoff.as_millis() as u64,
                        "leader election failed; retrying");
                    self.publish(None);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn publish(&self, leader: Option<String>) {
        let is_me = leader.as_deref() == Some(self.identity.as_str());
        let was_me = self.sender.borrow().is_me;
        if is_me != was_me {
            self.metrics.leader.set(i64::from(is_me));
            self.metrics.leader_changes.inc();
            if is_me {
                tracing::info!(
                    store = "etcd",
                    replica = self.identity,
                    "this replica is now the leader"
                );
            } else {
                tracing::warn!(store = "etcd", replica = self.identity, leader = ?leader,
                    "this replica is no longer the leader");
            }
        }
        self.sender.send_if_modified(|now| {
            let next = Leadership {
                leader: leader.clone(),
                is_me,
            };
            let changed = *now != next;
            *now = next;
            changed
        });
    }

    /// One campaign: lead until the lease cannot be kept, or follow until the leader key goes.
    async fn round(&mut self) -> Result<(), StoreError> {
        let ttl_secs = i64::try_from(self.ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let lease = self
            .client
            .lease_grant(ttl_secs, None)
            .await
            .map_err(|e| failed("lease", e))?
            .id();
        let key = self.keys.leader();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                key.clone(),
                self.identity.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else(vec![TxnOp::get(key.clone(), None)]);
        let response = self
            .client
            .txn(txn)
            .await
            .map_err(|e| failed("campaign", e))?;
        if response.succeeded() {
            *self.lease.lock().unwrap_or_else(PoisonError::into_inner) = Some(lease);
            self.publish(Some(self.identity.clone()));
            let kept = self.lead(lease).await;
            *self.lease.lock().unwrap_or_else(PoisonError::into_inner) = None;
            self.publish(None);
            return kept;
        }
        // Someone else leads: give the lease back and follow.
        let _ = self.client.lease_revoke(lease).await;
        let revision = response.header().map_or(0, |h| h.revision());
        let leader = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => get
                .kvs()
                .first()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            _ => None,
        });
        let Some(leader) = leader else {
            // The key went between the compare and the get: campaign again at once.
            return Ok(());
        };
        self.publish(Some(leader));
        self.follow(&key, revision + 1).await
    }

    /// Keeps the lease alive; returns (an error) once it cannot be kept.
    async fn lead(&mut self, lease: i64) -> Result<(), StoreError> {
        let (mut keeper, mut answers) = self
            .client
            .lease_keep_alive(lease)
            .await
            .map_err(|e| failed("keep_alive", e))?;
        let mut kept_at = Instant::now();
        loop {
            tokio::time::sleep(self.ttl / 4).await;
            let sent = keeper.keep_alive().await;
            let answer = match sent {
                Ok(()) => tokio::time::timeout(self.ttl / 4, answers.message()).await,
                Err(error) => Ok(Err(error)),
            };
            match answer {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => kept_at = Instant::now(),
                Ok(Ok(Some(_))) => {
                    return Err(StoreError::Unavailable {
                        op: "keep_alive",
                        reason: "the leader's lease expired".into(),
                    });
                }
                Ok(Ok(None)) => {
                    return Err(StoreError::Unavailable {
                        op: "keep_alive",
                        reason: "the keep-alive stream ended".into(),
                    });
                }
                Ok(Err(error)) if kept_at.elapsed() >= self.ttl / 2 => {
                    return Err(failed("keep_alive", error));
                }
                Err(_) if kept_at.elapsed() >= self.ttl / 2 => {
                    return Err(StoreError::Unavailable {
                        op: "keep_alive",
                        reason: format!("no answer for {:?}; stepping down", kept_at.elapsed()),
                    });
                }
                // A late or failed keep-alive, with time left on the lease: try again.
                Ok(Err(_)) | Err(_) => {}
            }
        }
    }

    /// Waits until the leader key is deleted (or changes hands).
    async fn follow(&mut self, key: &str, from_revision: i64) -> Result<(), StoreError> {
        let options = WatchOptions::new().with_start_revision(from_revision);
        let mut stream = self
            .client
            .watch(key, Some(options))
            .await
            .map_err(|e| failed("watch_leader", e))?;
        while let Some(response) = stream
            .message()
            .await
            .map_err(|e| failed("watch_leader", e))?
        {
            for event in response.events() {
                match event.event_type() {
                    EventType::Delete => return Ok(()),
                    EventType::Put => {
                        if let Some(kv) = event.kv() {
                            self.publish(Some(String::from_utf8_lossy(kv.value()).into_owned()));
                        }
                    }
                }
            }
            if response.canceled() {
                return Ok(());
            }
        }
        Ok(())
    }
}
