//! The fleet as the control plane sees it: the latest version to push (one `watch` channel every
//! stream follows, so a slow gateway skips to the newest version instead of queueing old ones)
//! and what each gateway last said. Memory is bounded: at most `MAX_GATEWAYS` are remembered, the
//! longest-gone disconnected one is forgotten first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch;
use weir_protocol::{ConfigPush, Outcome, Report, StreamMessage};

use crate::metrics::Metrics;

/// Most gateways remembered at once.
pub const MAX_GATEWAYS: usize = 10_000;

/// A version ready to send: the stream line is serialized once, not once per gateway.
#[derive(Debug)]
pub struct Pushed {
    pub version: u64,
    pub line: bytes::Bytes,
}

impl Pushed {
    pub fn new(version: u64, checksum: &str, config: &str) -> Pushed {
        let line = StreamMessage::Config(ConfigPush {
            version,
            checksum: checksum.to_string(),
            config: config.to_string(),
        })
        .to_line();
        Pushed {
            version,
            line: bytes::Bytes::from(line),
        }
    }
}

/// The last report of a gateway, as `GET /v1/gateways` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastReport {
    pub version: u64,
    pub outcome: Outcome,
    pub errors: Vec<String>,
    pub at: String,
}

/// One gateway, as `GET /v1/gateways` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayView {
    pub id: String,
    pub region: Option<String>,
    pub connected: bool,
    pub applied_version: Option<u64>,
    pub applied_at_unix_us: Option<u64>,
    pub last_report: Option<LastReport>,
    pub last_seen: String,
}

#[derive(Debug)]
struct Entry {
    region: Option<String>,
    streams: usize,
    applied_version: Option<u64>,
    applied_at_unix_us: Option<u64>,
    last_report: Option<LastReport>,
    last_seen: SystemTime,
}

pub struct Fleet {
    latest: watch::Sender<Option<Arc<Pushed>>>,
    gateways: Mutex<BTreeMap<String, Entry>>,
    metrics: Metrics,
}

impl Fleet {
    pub fn new(metrics: Metrics) -> Fleet {
        Fleet {
            latest: watch::Sender::new(None),
            gateways: Mutex::new(BTreeMap::new()),
            metrics,
        }
    }

    /// Makes `pushed` the version every stream sends, unless a newer one already is (two commits
    /// finishing out of order never move the fleet backwards).
    pub fn publish(&self, pushed: Pushed) {
        let pushed = Arc::new(pushed);
        self.latest.send_if_modified(|latest| match latest {
            Some(current) if current.version >= pushed.version => false,
            _ => {
                *latest = Some(Arc::clone(&pushed));
                true
            }
        });
    }

    /// Follow the latest version (the receiver sees the current one as unseen).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Pushed>>> {
        let mut receiver = self.latest.subscribe();
        receiver.mark_changed();
        receiver
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.gateways.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A gateway opened a stream; it counts as connected until the guard is dropped.
    pub fn connect(self: &Arc<Self>, id: &str, region: Option<String>) -> StreamGuard {
        let now = SystemTime::now();
        let mut gateways = self.lock();
        make_room(&mut gateways, id);
        let entry = gateways.entry(id.to_string()).or_insert_with(|| Entry {
            region: None,
            streams: 0,
            applied_version: None,
            applied_at_unix_us: None,
            last_report: None,
            last_seen: now,
        });
        entry.streams += 1;
        entry.last_seen = now;
        if region.is_some() {
            entry.region = region;
        }
        self.metrics.gateways_connected.inc();
        StreamGuard {
            fleet: Arc::clone(self),
            id: id.to_string(),
        }
    }

    /// The stream of `id` is still alive (a heartbeat or a push went out).
    pub fn seen(&self, id: &str) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.last_seen = SystemTime::now();
        }
    }

    /// Records a gateway's report.
    pub fn report(&self, id: &str, report: Report, now: SystemTime) {
        self.metrics
            .reports
            .with_label_values(&[match report.outcome {
                Outcome::Ack => "ack",
                Outcome::Nack => "nack",
            }])
            .inc();
        let mut gateways = self.lock();
        make_room(&mut gateways, id);
        let entry = gateways.entry(id.to_string()).or_insert_with(|| Entry {
            region: None,
            streams: 0,
            applied_version: None,
            applied_at_unix_us: None,
            last_report: None,
            last_seen: now,
        });
        entry.last_seen = now;
        if report.region.is_some() {
            entry.region = report.region;
        }
        if report.applied_version > 0 {
            if entry.applied_version != Some(report.applied_version) {
                entry.applied_at_unix_us = report.applied_at_unix_us;
            }
            entry.applied_version = Some(report.applied_version);
        }
        entry.last_report = Some(LastReport {
            version: report.version,
            outcome: report.outcome,
            errors: report.errors.into_iter().take(100).collect(),
            at: humantime::format_rfc3339_millis(now).to_string(),
        });
    }

    /// Every remembered gateway, by id.
    pub fn gateways(&self) -> Vec<GatewayView> {
        self.lock()
            .iter()
            .map(|(id, entry)| GatewayView {
                id: id.clone(),
                region: entry.region.clone(),
                connected: entry.streams > 0,
                applied_version: entry.applied_version,
                applied_at_unix_us: entry.applied_at_unix_us,
                last_report: entry.last_report.clone(),
                last_seen: humantime::format_rfc3339_millis(entry.last_seen).to_string(),
            })
            .collect()
    }

    fn disconnect(&self, id: &str) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.streams = entry.streams.saturating_sub(1);
            entry.last_seen = SystemTime::now();
        }
        self.metrics.gateways_connected.dec();
    }
}

/// Forget the longest-gone disconnected gateway when the table is full and `id` is new.
fn make_room(gateways: &mut BTreeMap<String, Entry>, id: &str) {
    if gateways.len() < MAX_GATEWAYS || gateways.contains_key(id) {
        return;
    }
    let oldest = gateways
        .iter()
        .filter(|(_, entry)| entry.streams == 0)
        .min_by_key(|(_, entry)| entry.last_seen)
        .map(|(id, _)| id.clone());
    if let Some(oldest) = oldest {
        gateways.remove(&oldest);
    }
}

/// Marks a stream closed when dropped (however the stream ended).
pub struct StreamGuard {
    fleet: Arc<Fleet>,
    id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.fleet.disconnect(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Arc<Fleet> {
        Arc::new(Fleet::new(Metrics::new().unwrap()))
    }

    #[test]
    fn publish_never_goes_backwards() {
        let fleet = fleet();
        let mut follower = fleet.subscribe();
        fleet.publish(Pushed::new(2, "c", "x"));
        fleet.publish(Pushed::new(1, "c", "x"));
        assert!(follower.has_changed().unwrap());
        assert_eq!(follower.borrow_and_update().as_ref().unwrap().version, 2);
        assert!(!follower.has_changed().unwrap());
        fleet.publish(Pushed::new(3, "c", "x"));
        assert_eq!(follower.borrow_and_update().as_ref().unwrap().version, 3);
    }

    #[test]
    fn streams_and_reports_make_the_gateway_view() {
        let fleet = fleet();
        let guard = fleet.connect("g1", Some("us-east".into()));
        let second = fleet.connect("g1", None);
        drop(guard);
        fleet.report(
            "g1",
            Report {
                region: None,
                version: 4,
                outcome: Outcome::Nack,
                errors: vec!["routes[0].upstream: unknown".into()],
                applied_version: 3,
                applied_at_unix_us: Some(10),
            },
            SystemTime::now(),
        );
        let view = &fleet.gateways()[0];
        assert!(view.connected, "one stream is still open");
        assert_eq!(view.region.as_deref(), Some("us-east"));
        assert_eq!(view.applied_version, Some(3));
        let last = view.last_report.as_ref().unwrap();
        assert_eq!((last.version, last.outcome), (4, Outcome::Nack));
        drop(second);
        assert!(!fleet.gateways()[0].connected);
    }

    #[test]
    fn a_full_table_forgets_the_longest_gone() {
        let fleet = fleet();
        let mut guards = Vec::new();
        for i in 0..MAX_GATEWAYS {
            let guard = fleet.connect(&format!("g{i}"), None);
            if i == 0 {
                drop(guard);
            } else {
                guards.push(guard);
            }
        }
        let _new = fleet.connect("newcomer", None);
        let ids: Vec<String> = fleet.gateways().into_iter().map(|g| g.id).collect();
        assert_eq!(ids.len(), MAX_GATEWAYS);
        assert!(!ids.contains(&"g0".to_string()));
        assert!(ids.contains(&"newcomer".to_string()));
    }
}
