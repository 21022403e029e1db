//! One name's resolution policy, with the time passed in: when it is asked again (its TTL
//! clamped to `[resolver]`'s `min_ttl..=max_ttl`; after a failure, `min_ttl` doubling up to
//! [`MAX_RETRY`]), which addresses of an answer are kept (sorted, deduplicated, the lowest
//! `max_addresses`), and that a failed or empty lookup keeps the last good addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_config::ResolverSettings;

/// The longest wait between lookups of a name that keeps failing, so it comes back soon after
/// its DNS server does (shorter when `max_ttl` is).
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// What one lookup of a name gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The addresses answered (in the order given) and the time they stay valid.
    Answer { ips: Vec<IpAddr>, ttl: Duration },
    /// No answer: a timeout, a refused or failed query, NXDOMAIN.
    Failed,
}

/// What folding one lookup in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The `result` label of `weir_upstream_resolutions_total`: `ok`, `empty` or `error`.
    pub result: &'static str,
    /// The new addresses, when they differ from the last good ones.
    pub changed: Option<Arc<[IpAddr]>>,
    /// Addresses of the answer left out by `max_addresses`.
    pub dropped: usize,
}

/// A name's last good answer and when to ask again.
#[derive(Debug, Clone)]
pub struct NameState {
    last_good: Option<Arc<[IpAddr]>>,
    next_at: Instant,
    failures: u32,
}

impl NameState {
    /// A name not asked yet: due at once.
    pub fn new(now: Instant) -> Self {
        Self {
            last_good: None,
            next_at: now,
            failures: 0,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next_at
    }

    /// When the name is to be asked again.
    pub fn next_at(&self) -> Instant {
        self.next_at
    }

    /// Ask again at once (the resolver settings changed).
    pub fn ask_now(&mut self, now: Instant) {
        self.next_at = now;
    }

    /// The addresses the name stands for now; `None` until it has resolved once.
    pub fn last_good(&self) -> Option<&Arc<[IpAddr]>> {
        self.last_good.as_ref()
    }

    /// Lookups failed in a row since the last good answer.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Folds in the lookup made at `now`.
    pub fn record(&mut self, lookup: Lookup, settings: &ResolverSettings, now: Instant) -> Outcome {
        let (ips, ttl) = match lookup {
            Lookup::Answer { ips, ttl } if !ips.is_empty() => (ips, ttl),
            Lookup::Answer { .. } => return self.failed("empty", settings, now),
            Lookup::Failed => return self.failed("error", settings, now),
        };
        let (kept, dropped) = keep(ips, settings.max_addresses as usize);
        self.failures = 0;
        self.next_at = now + ttl.clamp(settings.min_ttl, settings.max_ttl);
        let changed = (self.last_good.as_deref() != Some(&kept[..])).then(|| Arc::from(kept));
        if let Some(new) = &changed {
            self.last_good = Some(Arc::clone(new));
        }
        Outcome {
            result: "ok",
            changed,
            dropped,
        }
    }

    fn failed(
        &mut self,
        result: &'static str,
        settings: &ResolverSettings,
        now: Instant,
    ) -> Outcome {
        self.failures = self.failures.saturating_add(1);
        let cap = MAX_RETRY.min(settings.max_ttl).max(settings.min_ttl);
        let doublings = self.failures.saturating_sub(1).min(16);
        let wait = settings.min_ttl.saturating_mul(1 << doublings).min(cap);
        self.next_at = now + wait;
        Outcome {
            result,
            changed: None,
            dropped: 0,
        }
    }
}

/// The addresses kept from an answer: sorted and deduplicated, then the lowest `max`, so the
/// same answer (in any order) keeps the same ones; and how many were left out.
fn keep(mut ips: Vec<IpAddr>, max: usize) -> (Vec<IpAddr>, usize) {
    ips.sort_unstable();
    ips.dedup();
    let dropped = ips.len().saturating_sub(max);
    ips.truncate(max);
    (ips, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ResolverSettings {
        ResolverSettings {
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(300),
            max_addresses: 3,
            ..ResolverSettings::default()
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    fn answer(list: &[&str], ttl_secs: u64) -> Lookup {
        Lookup::Answer {
            ips: ips(list),
            ttl: Duration::from_secs(ttl_secs),
        }
    }

    #[test]
    fn a_new_name_is_due_at_once_and_then_after_its_ttl() {
        let t0 = Instant::now();
        let mut name = NameState::new(t0);
        assert!(name.is_due(t0));
        let outcome = name.record(answer(&["10.0.0.2", "10.0.0.1"], 30), &settings(), t0);
        assert_eq!(outcome.result, "ok");
        assert_eq!(
            outcome.changed.as_deref(),
            Some(&ips(&["10.0.0.1", "10.0.0.2"])[..])
        );
        assert_eq!(name.next_at(), t0 + Duration::from_secs(30));
        assert!(!name.is_due(t0 + Duration::from_secs(29)));
        assert!(name.is_due(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn hostile_ttls_are_clamped() {
        let t0 = Instant::now();
        let mut name = NameState::new(t0);
        name.record(answer(&["10.0.0.1"], 0), &settings(), t0);
        assert_eq!(
            name.next_at(),
            t0 + Duration::from_secs(1),
            "a TTL of 0: min_ttl"
        );
        name.record(answer(&["10.0.0.1"], 365 * 86_400), &settings(), t0);
        assert_eq!(
            name.next_at(),
            t0 + Duration::from_secs(300),
            "a year: max_ttl"
        );
    }

    #[test]
    fn only_a_different_answer_is_a_change() {
        let t0 = Instant::now();
        let mut name = NameState::new(t0);
        name.record(answer(&["10.0.0.1", "10.0.0.2"], 5), &settings(), t0);
        let same = name.record(
            answer(&["10.0.0.2", "10.0.0.1", "10.0.0.1"], 5),
            &settings(),
            t0,
        );
        assert_eq!(same.changed, None, "order and duplicates do not matter");
        let moved = name.record(answer(&["10.0.0.3"], 5), &settings(), t0);
        assert_eq!(moved.changed.as_deref(), Some(&ips(&["10.0.0.3"])[..]));
        assert_eq!(name.last_good().map(|a| a.len()), Some(1));
    }

    #[test]
    fn a_large_answer_keeps_the_lowest_max_addresses() {
        let t0 = Instant::now();
        let mut name = NameState::new(t0);
        let outcome = name.record(
            answer(
                &["10.0.0.9", "10.0.0.5", "10.0.0.7", "10.0.0.1", "10.0.0.3"],
                5,
            ),
            &settings(),
            t0,
        );
        assert_eq!(outcome.dropped, 2);
        assert_eq!(
            name.last_good().map(|a| a.to_vec()),
            Some(ips(&["10.0.0.1", "10.0.0.3", "10.0.0.5"]))
        );
    }

    #[test]
    fn failures_keep_the_last_good_answer_and_back_off() {
        let t0 = Instant::now();
        let mut name = NameState::new(t0);
        name.record(answer(&["10.0.0.1"], 5), &settings(), t0);
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            let outcome = name.record(Lookup::Failed, &settings(), now);
            assert_eq!(outcome.result, "error");
            assert_eq!(outcome.changed, None);
            waits.push(name.next_at() - now);
            now = name.next_at();
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(name.failures(), 8);
        let empty = name.record(answer(&[], 5), &settings(), now);
        assert_eq!(empty.result, "empty");
        assert_eq!(
            name.last_good().map(|a| a.to_vec()),
            Some(ips(&["10.0.0.1"]))
        );
        name.record(answer(&["10.0.0.1"], 5), &settings(), now);
        assert_eq!(name.failures(), 0, "an answer ends the streak");
    }

    #[test]
    fn retries_never_wait_longer_than_max_ttl() {
        let t0 = Instant::now();
        let short = ResolverSettings {
            max_ttl: Duration::from_secs(3),
            ..settings()
        };
        let mut name = NameState::new(t0);
        for _ in 0..5 {
            name.record(Lookup::Failed, &short, t0);
        }
        assert_eq!(name.next_at(), t0 + Duration::from_secs(3));
    }
}
