//! The gateways' health summaries as the control plane keeps them: a bounded window per gateway
//! (`window.rs`) for at most `max_gateways` gateways, and the plain view the failover policy and
//! staged rollouts read ([`TelemetryStore::view`]). Memory is bounded: gateways × the window's
//! pools. A new gateway past the cap is refused unless one quiet for longer than
//! [`FORGET_AFTER`] can be forgotten, so a flood of new ids never evicts a gateway in use.

mod window;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use weir_protocol::Telemetry;
use weir_protocol::api::GatewayTelemetryView;

pub use window::{Bounds, MAX_INTERVAL, MIN_INTERVAL, Received, STALE_AFTER_INTERVALS, Window};

use crate::fleet::FORGET_AFTER;
use crate::metrics::Metrics;

/// One gateway's telemetry at an instant: what the failover policy and rollouts judge.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayTelemetry {
    pub id: String,
    /// The region its latest summary named.
    pub region: Option<String>,
    /// No summary within [`STALE_AFTER_INTERVALS`] of its intervals: count it as not
    /// reporting, never as healthy.
    pub stale: bool,
    /// When its latest summary arrived.
    pub last_seen: SystemTime,
    /// How long after `last_seen` it turns stale.
    pub stale_after: Duration,
    /// Its latest summary (the last of `recent`).
    pub latest: Arc<Telemetry>,
    /// Its kept summaries, oldest first (at most [`Bounds::summaries`], none older than
    /// [`Bounds::age`] before the latest).
    pub recent: Vec<Received>,
}

/// A new gateway refused: the store keeps `max_gateways` already, all heard from within
/// [`FORGET_AFTER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the control plane already keeps telemetry of {cap} gateways, its cap (--max-gateways); a \
     gateway is forgotten an hour after its last summary"
)]
pub struct Full {
    pub cap: usize,
}

pub struct TelemetryStore {
    gateways: Mutex<BTreeMap<String, Window>>,
    bounds: Bounds,
    max_gateways: usize,
    metrics: Metrics,
}

impl TelemetryStore {
    pub fn new(metrics: Metrics, max_gateways: usize) -> TelemetryStore {
        TelemetryStore::with_bounds(metrics, max_gateways, Bounds::default())
    }

    pub fn with_bounds(metrics: Metrics, max_gateways: usize, bounds: Bounds) -> TelemetryStore {
        TelemetryStore {
            gateways: Mutex::new(BTreeMap::new()),
            bounds,
            max_gateways,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Window>> {
        self.gateways.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `telemetry` (already [checked](Telemetry::check)) as gateway `id`'s newest summary,
    /// received at `now`.
    pub fn record(&self, id: &str, telemetry: Telemetry, now: SystemTime) -> Result<(), Full> {
        let received = Received {
            at: now,
            telemetry: Arc::new(telemetry),
        };
        let mut gateways = self.lock();
        if let Some(window) = gateways.get_mut(id) {
            window.push(received, self.bounds);
            return Ok(());
        }
        if gateways.len() >= self.max_gateways {
            gateways.retain(|_, window| window.age(now) <= FORGET_AFTER);
            self.metrics.telemetry_gateways.set(gateways.len() as i64);
            if gateways.len() >= self.max_gateways {
                return Err(Full {
                    cap: self.max_gateways,
                });
            }
        }
        gateways.insert(id.to_string(), Window::new(received));
        self.metrics.telemetry_gateways.set(gateways.len() as i64);
        Ok(())
    }

    /// Every gateway's telemetry at `now`, by id; also sets the stale-gateways gauge.
    pub fn view(&self, now: SystemTime) -> Vec<GatewayTelemetry> {
        let view: Vec<GatewayTelemetry> = self
            .lock()
            .iter()
            .map(|(id, window)| {
                let latest = window.latest();
                GatewayTelemetry {
                    id: id.clone(),
                    region: latest.telemetry.region.clone(),
                    stale: window.is_stale(now),
                    last_seen: latest.at,
                    stale_after: window.stale_after(),
                    latest: Arc::clone(&latest.telemetry),
                    recent: window.recent().cloned().collect(),
                }
            })
            .collect();
        self.count_stale(view.iter().filter(|g| g.stale).count());
        view
    }

    /// The `GET /v1/telemetry` view at `now`: latest summaries only.
    pub fn list(&self, now: SystemTime) -> Vec<GatewayTelemetryView> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let list: Vec<GatewayTelemetryView> = self
            .lock()
            .iter()
            .map(|(id, window)| {
                let latest = window.latest();
                GatewayTelemetryView {
                    id: id.clone(),
                    region: latest.telemetry.region.clone(),
                    stale: window.is_stale(now),
                    last_seen: humantime::format_rfc3339_millis(latest.at).to_string(),
                    age_ms: millis(window.age(now)),
                    stale_after_ms: millis(window.stale_after()),
                    window: window.kept(),
                    latest: Telemetry::clone(&latest.telemetry),
                }
            })
            .collect();
        self.count_stale(list.iter().filter(|g| g.stale).count());
        list
    }

    /// Sets the stale-gateways gauge at `now` (before the metrics are rendered).
    pub fn refresh(&self, now: SystemTime) {
        let stale = self.lock().values().filter(|w| w.is_stale(now)).count();
        self.count_stale(stale);
    }

    fn count_stale(&self, stale: usize) {
        self.metrics
            .telemetry_stale
            .set(i64::try_from(stale).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(region: &str, version: u64) -> Telemetry {
        Telemetry {
            region: Some(region.into()),
            config_version: version,
            interval_ms: 1000,
            pools: Vec::new(),
        }
    }

    fn ids(view: &[GatewayTelemetry]) -> Vec<&str> {
        view.iter().map(|g| g.id.as_str()).collect()
    }

    #[test]
    fn the_view_has_each_gateways_latest_summary_window_and_staleness() {
        let metrics = Metrics::new().unwrap();
        let store = TelemetryStore::new(metrics.clone(), 10);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let second = |s: u64| start + Duration::from_secs(s);
        for (s, version) in [(0, 1), (1, 2), (2, 3)] {
            store
                .record("gw-a", summary("us-east", version), second(s))
                .unwrap();
        }
        store
            .record("gw-b", summary("eu-west", 3), second(2))
            .unwrap();
        let view = store.view(second(5));
        assert_eq!(ids(&view), ["gw-a", "gw-b"]);
        let a = &view[0];
        assert_eq!(a.region.as_deref(), Some("us-east"));
        assert_eq!((a.latest.config_version, a.last_seen), (3, second(2)));
        assert_eq!(a.stale_after, Duration::from_secs(3));
        assert!(!a.stale, "3 s after its last summary, 3 intervals of 1 s");
        let versions: Vec<u64> = a
            .recent
            .iter()
            .map(|r| r.telemetry.config_version)
            .collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(metrics.telemetry_stale.get(), 0);
        let view = store.view(second(6));
        assert!(view.iter().all(|g| g.stale));
        assert_eq!(metrics.telemetry_stale.get(), 2);
        // The API's view says the same, with the window's size.
        let list = store.list(second(6));
        assert_eq!(
            (list[0].window, list[0].age_ms, list[0].stale),
            (3, 4000, true)
        );
        assert_eq!(list[0].stale_after_ms, 3000);
        // A new summary makes it fresh again.
        store
            .record("gw-a", summary("us-east", 4), second(6))
            .unwrap();
        store.refresh(second(6));
        assert_eq!(metrics.telemetry_stale.get(), 1);
    }

    #[test]
    fn a_full_store_refuses_new_gateways_until_one_has_been_quiet_for_an_hour() {
        let metrics = Metrics::new().unwrap();
        let store = TelemetryStore::new(metrics.clone(), 2);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        store.record("a", summary("r", 1), start).unwrap();
        store.record("b", summary("r", 1), start).unwrap();
        let later = start + FORGET_AFTER;
        store.record("b", summary("r", 2), later).unwrap();
        assert_eq!(
            store.record("c", summary("r", 1), later),
            Err(Full { cap: 2 }),
            "a is quiet, but not for longer than an hour"
        );
        // A known gateway is never refused.
        store.record("a", summary("r", 2), later).unwrap();
        let much_later = later + FORGET_AFTER + Duration::from_secs(1);
        store.record("c", summary("r", 1), much_later).unwrap();
        assert_eq!(
            ids(&store.view(much_later)),
            ["c"],
            "a and b were forgotten"
        );
        assert_eq!(metrics.telemetry_gateways.get(), 1);
    }
}
