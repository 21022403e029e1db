//! One gateway's recent health summaries: the newest few, bounded by count, by age and by the
//! pools they carry, and whether the gateway is stale (no summary within 3 of its intervals).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use weir_protocol::Telemetry;

/// A gateway is stale when no summary came within this many of its intervals.
pub const STALE_AFTER_INTERVALS: u32 = 3;
/// The interval a gateway is judged by is its `interval_ms`, kept within these bounds (those of
/// `control_plane.telemetry_interval`), so a summary cannot make its sender never stale.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// What a window keeps: at most `summaries` summaries, none received more than `age` before the
/// newest, and at most `pools` pools over all of them. The newest summary is always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub summaries: usize,
    pub age: Duration,
    pub pools: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            summaries: 12,
            age: Duration::from_secs(120),
            pools: 2 * weir_protocol::MAX_TELEMETRY_POOLS,
        }
    }
}

/// One summary as the control plane received it (shared, so views copy no pools).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub at: SystemTime,
    pub telemetry: Arc<Telemetry>,
}

/// A gateway's kept summaries: the newest, and the older ones still within the bounds.
#[derive(Debug)]
pub struct Window {
    newest: Received,
    /// Oldest first.
    older: VecDeque<Received>,
    /// Pools over every kept summary.
    pools: usize,
}

impl Window {
    pub fn new(first: Received) -> Window {
        Window {
            pools: first.telemetry.pools.len(),
            newest: first,
            older: VecDeque::new(),
        }
    }

    /// Keeps `received` as the newest summary and drops the oldest ones past `bounds`.
    pub fn push(&mut self, received: Received, bounds: Bounds) {
        self.pools += received.telemetry.pools.len();
        let previous = std::mem::replace(&mut self.newest, received);
        self.older.push_back(previous);
        while let Some(oldest) = self.older.front() {
            let old = self
                .newest
                .at
                .duration_since(oldest.at)
                .is_ok_and(|age| age > bounds.age);
            if self.kept() <= bounds.summaries && self.pools <= bounds.pools && !old {
                break;
            }
            self.pools -= oldest.telemetry.pools.len();
            self.older.pop_front();
        }
    }

    pub fn latest(&self) -> &Received {
        &self.newest
    }

    /// Summaries kept (at least 1).
    pub fn kept(&self) -> usize {
        self.older.len() + 1
    }

    /// The kept summaries, oldest first (the last is [`Window::latest`]).
    pub fn recent(&self) -> impl Iterator<Item = &Received> {
        self.older.iter().chain(std::iter::once(&self.newest))
    }

    /// How long after its latest summary the gateway is stale: 3 × the longest interval its
    /// window keeps (a short first interval does not make it stale early), within the bounds.
    pub fn stale_after(&self) -> Duration {
        let longest = self
            .recent()
            .map(|r| r.telemetry.interval_ms)
            .max()
            .unwrap_or(0);
        Duration::from_millis(longest).clamp(MIN_INTERVAL, MAX_INTERVAL) * STALE_AFTER_INTERVALS
    }

    /// Time since the latest summary at `now` (zero if the clock went back).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.newest.at).unwrap_or_default()
    }

    pub fn is_stale(&self, now: SystemTime) -> bool {
        self.age(now) > self.stale_after()
    }
}

#[cfg(test)]
mod tests {
    use weir_protocol::PoolTelemetry;

    use super::*;

    const BOUNDS: Bounds = Bounds {
        summaries: 4,
        age: Duration::from_secs(10),
        pools: 6,
    };

    fn at(start: SystemTime, ms: u64, interval_ms: u64, pools: usize) -> Received {
        let pool = PoolTelemetry {
            upstream: "api".into(),
            region: "us-east".into(),
            healthy_fraction: 1.0,
            requests: 1,
            status_5xx: 0,
            transport_errors: 0,
            p50_ms: None,
            p99_ms: None,
            breaker_open: false,
        };
        Received {
            at: start + Duration::from_millis(ms),
            telemetry: Arc::new(Telemetry {
                region: None,
                config_version: ms,
                interval_ms,
                pools: vec![pool; pools],
            }),
        }
    }

    fn versions(window: &Window) -> Vec<u64> {
        window
            .recent()
            .map(|r| r.telemetry.config_version)
            .collect()
    }

    #[test]
    fn the_window_keeps_the_newest_summaries_within_count_age_and_pools() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut window = Window::new(at(start, 0, 1000, 1));
        for ms in [1000, 2000, 3000, 4000, 5000] {
            window.push(at(start, ms, 1000, 1), BOUNDS);
        }
        assert_eq!(versions(&window), [2000, 3000, 4000, 5000], "at most 4");
        // 11 s later: every older one is past the age bound; the newest stays.
        window.push(at(start, 16_000, 1000, 1), BOUNDS);
        assert_eq!(versions(&window), [16_000]);
        // Pools: 6 at most over the window, the newest kept even when it alone is more.
        window.push(at(start, 17_000, 1000, 3), BOUNDS);
        window.push(at(start, 18_000, 1000, 3), BOUNDS);
        assert_eq!(versions(&window), [17_000, 18_000]);
        window.push(at(start, 19_000, 1000, 7), BOUNDS);
        assert_eq!(versions(&window), [19_000]);
        assert_eq!(window.latest().telemetry.config_version, 19_000);
        assert_eq!(window.kept(), 1);
    }

    #[test]
    fn a_gateway_is_stale_after_three_of_its_longest_intervals() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        // A short first interval does not count once a longer one is kept.
        let mut window = Window::new(at(start, 0, 100, 1));
        window.push(at(start, 2000, 2000, 1), BOUNDS);
        assert_eq!(window.stale_after(), Duration::from_secs(6));
        let later = |ms: u64| start + Duration::from_millis(2000 + ms);
        assert!(!window.is_stale(later(6000)));
        assert!(window.is_stale(later(6001)));
        // A clock that went back is no age.
        assert!(!window.is_stale(start));
        assert_eq!(window.age(start), Duration::ZERO);
        // The interval a summary claims is kept within bounds.
        let tiny = Window::new(at(start, 0, 1, 1));
        assert_eq!(tiny.stale_after(), MIN_INTERVAL * STALE_AFTER_INTERVALS);
        let huge = Window::new(at(start, 0, u64::MAX, 1));
        assert_eq!(huge.stale_after(), MAX_INTERVAL * STALE_AFTER_INTERVALS);
    }
}
