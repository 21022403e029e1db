//! A circuit breaker (one per endpoint, one per upstream): closed until the failure rate over a
//! sliding window passes a threshold with enough requests, then open (fail fast) for a time that
//! doubles on each failed recovery, then half-open: a small, growing number of probes, closing
//! after consecutive successes. Settings are passed in per call; state survives reloads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use weir_config::CircuitBreaker as Settings;

use super::window::SlidingWindow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Closed,
        }
    }
}

/// Whether a request may go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Admitted as a half-open probe: report its outcome with `was_probe = true`, or release it.
    Probe,
    /// Refused; the breaker may let requests through again after `retry_after` (at least 1 ms).
    Rejected {
        retry_after: Duration,
    },
}

/// A state change, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

#[derive(Debug, Default)]
struct Inner {
    open_until: Option<Instant>,
    /// Failed recoveries since the breaker last closed: the open time doubles with each.
    reopens: u32,
    probes_in_flight: u32,
    /// Consecutive probe successes in this half-open period.
    successes: u32,
    closed_at: Option<Instant>,
}

/// Half-open refusals ask the client to come back after this.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct CircuitBreaker {
    state: AtomicU8,
    /// Requests (`a`) and failures (`b`) while closed.
    window: SlidingWindow,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(now: Instant) -> Self {
        Self {
            state: AtomicU8::new(0),
            window: SlidingWindow::new(now),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn load(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn set(&self, state: BreakerState) {
        self.state.store(state as u8, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Should a request go through now? The second value is the Open → HalfOpen change this
    /// call made, if any (it happens lazily, on the first request after the open time).
    pub fn admit(&self, s: &Settings, now: Instant) -> (Admission, Option<Transition>) {
        if !s.enabled || self.load() == BreakerState::Closed {
            return (Admission::Allowed, None);
        }
        let mut inner = self.lock();
        let mut transition = None;
        if self.load() == BreakerState::Open {
            match inner.open_until {
                Some(until) if now < until => {
                    let retry_after = (until - now).max(Duration::from_millis(1));
                    return (Admission::Rejected { retry_after }, None);
                }
                _ => {
                    inner.successes = 0;
                    inner.probes_in_flight = 0;
                    self.set(BreakerState::HalfOpen);
                    transition = Some(Transition {
                        from: BreakerState::Open,
                        to: BreakerState::HalfOpen,
                    });
                }
            }
        }
        match self.load() {
            BreakerState::HalfOpen if inner.probes_in_flight <= inner.successes => {
                inner.probes_in_flight += 1;
                (Admission::Probe, transition)
            }
            BreakerState::HalfOpen => (
                Admission::Rejected {
                    retry_after: HALF_OPEN_RETRY_AFTER,
                },
                transition,
            ),
            // Closed by a concurrent probe in the meantime.
            _ => (Admission::Allowed, transition),
        }
    }

    /// Whether a request could be admitted now, without taking a probe slot (for choosing among
    /// endpoints; cheap).
    pub fn is_selectable(&self, s: &Settings, now: Instant) -> bool {
        if !s.enabled || self.load() == BreakerState::Closed {
            return true;
        }
        let inner = self.lock();
        match self.load() {
            BreakerState::Open => inner.open_until.is_none_or(|until| now >= until),
            BreakerState::HalfOpen => inner.probes_in_flight <= inner.successes,
            BreakerState::Closed => true,
        }
    }

    /// Report an outcome; returns the transition it caused. While half-open only probes count;
    /// late answers to requests admitted before the breaker opened are ignored.
    pub fn record(
        &self,
        s: &Settings,
        now: Instant,
        success: bool,
        was_probe: bool,
    ) -> Option<Transition> {
        if !s.enabled {
            return None;
        }
        if self.load() == BreakerState::Closed && !was_probe {
            self.window.add(now, s.window, 1, u64::from(!success));
            if success || !self.should_open(s, now) {
                return None;
            }
        }
        let mut inner = self.lock();
        if was_probe {
            inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
        }
        match self.load() {
            BreakerState::Closed if !success && !was_probe && self.should_open(s, now) => {
                self.open(&mut inner, s, now);
                Some(Transition {
                    from: BreakerState::Closed,
                    to: BreakerState::Open,
                })
            }
            BreakerState::HalfOpen if was_probe && success => {
                inner.successes += 1;
                if inner.successes < s.half_open_successes {
                    return None;
                }
                inner.reopens = 0;
                inner.closed_at = Some(now);
                inner.open_until = None;
                self.window.reset();
                self.set(BreakerState::Closed);
                Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Closed,
                })
            }
            BreakerState::HalfOpen if was_probe => {
                inner.reopens = inner.reopens.saturating_add(1);
                self.open(&mut inner, s, now);
                Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Open,
                })
            }
            _ => None,
        }
    }

    /// A probe admitted but never reported (the request ended otherwise): give its slot back.
    pub fn release_probe(&self) {
        let mut inner = self.lock();
        inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
    }

    /// The state now; an open breaker whose time has passed reads as half-open.
    pub fn state(&self, s: &Settings, now: Instant) -> BreakerState {
        if !s.enabled {
            return BreakerState::Closed;
        }
        match self.load() {
            BreakerState::Open if self.lock().open_until.is_none_or(|until| now >= until) => {
                BreakerState::HalfOpen
            }
            state => state,
        }
    }

    /// When the breaker last closed after having been open; `None` if it never did.
    pub fn closed_at(&self) -> Option<Instant> {
        self.lock().closed_at
    }

    fn should_open(&self, s: &Settings, now: Instant) -> bool {
        let (requests, failures) = self.window.totals(now, s.window);
        requests >= u64::from(s.min_requests)
            && requests > 0
            && failures as f64 >= s.failure_rate * requests as f64
    }

    fn open(&self, inner: &mut Inner, s: &Settings, now: Instant) {
        let factor = 1u32.checked_shl(inner.reopens.min(31)).unwrap_or(u32::MAX);
        let period = s.open_for.saturating_mul(factor).min(s.max_open_for);
        inner.open_until = Some(now + period);
        inner.successes = 0;
        inner.probes_in_flight = 0;
        self.set(BreakerState::Open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            failure_rate: 0.5,
            min_requests: 10,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(1),
            max_open_for: Duration::from_secs(3),
            half_open_successes: 3,
        }
    }

    fn opened(s: &Settings, t0: Instant) -> CircuitBreaker {
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            assert_eq!(b.record(s, t0, false, false), None);
        }
        let t = b
            .record(s, t0, false, false)
            .expect("opens at min_requests");
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::Open));
        b
    }

    #[test]
    fn opens_at_the_failure_rate_with_enough_requests_only() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..6 {
            b.record(&s, t0, true, false);
        }
        for _ in 0..5 {
            assert_eq!(b.record(&s, t0, false, false), None, "5/11 is below half");
        }
        assert!(
            b.record(&s, t0, false, false).is_some(),
            "6/12 reaches half"
        );
        assert_eq!(b.state(&s, t0), BreakerState::Open);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            b.record(&s, t0, false, false);
        }
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.record(&s, later, false, false), None);
        assert_eq!(b.state(&s, later), BreakerState::Closed);
    }

    #[test]
    fn rejects_while_open_then_half_opens() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        let at = t0 + Duration::from_millis(400);
        assert_eq!(
            b.admit(&s, at).0,
            Admission::Rejected {
                retry_after: Duration::from_millis(600)
            }
        );
        assert!(!b.is_selectable(&s, at));
        let later = t0 + Duration::from_secs(1);
        assert!(b.is_selectable(&s, later));
        assert_eq!(b.state(&s, later), BreakerState::HalfOpen);
        let (admission, transition) = b.admit(&s, later);
        assert_eq!(admission, Admission::Probe);
        assert_eq!(transition.unwrap().to, BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_lets_a_growing_number_of_probes_and_closes_after_successes() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        let t = t0 + Duration::from_secs(1);
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert!(
            matches!(b.admit(&s, t).0, Admission::Rejected { .. }),
            "one probe at first"
        );
        assert_eq!(b.record(&s, t, true, true), None);
        // One success: two probes may be in flight.
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert!(matches!(b.admit(&s, t).0, Admission::Rejected { .. }));
        assert_eq!(b.record(&s, t, true, true), None);
        let closed = b.record(&s, t, true, true).expect("third success closes");
        assert_eq!(closed.to, BreakerState::Closed);
        assert_eq!(b.closed_at(), Some(t));
        assert_eq!(b.admit(&s, t).0, Admission::Allowed);
        // The window restarted: old failures do not reopen it.
        assert_eq!(b.record(&s, t, false, false), None);
    }

    #[test]
    fn a_failed_probe_reopens_for_twice_as_long_up_to_the_cap() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        let mut t = t0 + Duration::from_secs(1);
        for expected in [2, 3, 3] {
            assert_eq!(b.admit(&s, t).0, Admission::Probe);
            let reopened = b.record(&s, t, false, true).unwrap();
            assert_eq!(reopened.to, BreakerState::Open);
            let wait = Duration::from_secs(expected);
            assert!(!b.is_selectable(&s, t + wait - Duration::from_millis(1)));
            t += wait;
            assert!(b.is_selectable(&s, t));
        }
    }

    #[test]
    fn late_answers_and_released_probes() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        let t = t0 + Duration::from_secs(1);
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        // A request admitted before the breaker opened fails late: ignored.
        assert_eq!(b.record(&s, t, false, false), None);
        b.release_probe();
        assert_eq!(b.admit(&s, t).0, Admission::Probe, "the slot came back");
    }

    #[test]
    fn a_disabled_breaker_never_opens() {
        let t0 = Instant::now();
        let mut s = settings();
        s.enabled = false;
        let b = CircuitBreaker::new(t0);
        for _ in 0..100 {
            assert_eq!(b.record(&s, t0, false, false), None);
        }
        assert_eq!(b.admit(&s, t0).0, Admission::Allowed);
        assert_eq!(b.state(&s, t0), BreakerState::Closed);
    }

    #[test]
    fn concurrent_reports_leave_a_sane_state() {
        let t0 = Instant::now();
        let s = settings();
        let b = std::sync::Arc::new(CircuitBreaker::new(t0));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (b, s) = (std::sync::Arc::clone(&b), s.clone());
                std::thread::spawn(move || {
                    for n in 0..5_000u64 {
                        let now = t0 + Duration::from_millis(n);
                        if let (Admission::Probe, _) = b.admit(&s, now) {
                            b.record(&s, now, (n + i) % 3 == 0, true);
                        } else {
                            b.record(&s, now, (n + i) % 3 == 0, false);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let state = b.state(&s, t0 + Duration::from_secs(60));
        assert_ne!(
            state,
            BreakerState::Closed,
            "two thirds fail: it cannot end closed"
        );
    }
}
