//! A circuit breaker (one per endpoint, one per upstream): closed until the failure rate over a
//! sliding window reaches a threshold with enough requests, then open (fail fast) for a time that
//! doubles on each failed recovery, then half-open: a small, growing number of probes, closing
//! after consecutive successes. It cannot fail itself: a poisoned lock is taken over, and a
//! probe never reported can be released. Settings are passed in per call; state survives reloads.
//!
//! Cost: closed, `admit` is one atomic load and `record` one window add (plus a window read on a
//! failure); open, `admit` and `is_selectable` are two atomic loads. Only half-open admission and
//! the transitions take the mutex.
//!
//! The lazy Open → HalfOpen change is made and returned by `admit` only (with the admission),
//! so the caller can count and log it; `state` and `is_selectable` report an open breaker whose
//! time is up as half-open without changing it.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use weir_config::CircuitBreakerSettings as Settings;

use super::window::SlidingWindow;

/// A half-open refusal asks the client to come back after this: the probes will tell by then.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The shortest `retry_after` of a refusal.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(1);
/// Relative slack when comparing the failure count with `failure_rate × requests`, so binary
/// rounding never keeps a breaker closed (`0.07 × 100` is `7.000000000000001`).
const ROUNDING_SLACK: f64 = 1e-12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
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
        self as i64
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

impl Transition {
    const OPENED: Self = Self::new(BreakerState::Closed, BreakerState::Open);
    const HALF_OPENED: Self = Self::new(BreakerState::Open, BreakerState::HalfOpen);
    const CLOSED: Self = Self::new(BreakerState::HalfOpen, BreakerState::Closed);
    const REOPENED: Self = Self::new(BreakerState::HalfOpen, BreakerState::Open);

    const fn new(from: BreakerState, to: BreakerState) -> Self {
        Self { from, to }
    }
}

/// What only changes under the lock: the half-open bookkeeping and the history.
#[derive(Debug, Default)]
struct Inner {
    /// Failed recoveries since the breaker last closed: the open time doubles with each.
    reopens: u32,
    /// Probes admitted in this half-open period and not yet reported or released. Zeroed when
    /// the breaker opens or half-opens, so a leaked slot cannot wedge it; the price is that a
    /// probe outliving a whole open time is counted in the next half-open period (rare).
    probes_in_flight: u32,
    /// Consecutive probe successes in this half-open period.
    successes: u32,
    closed_at: Option<Instant>,
}

impl Inner {
    /// One probe in flight at first, one more for each success so far.
    fn has_probe_slot(&self) -> bool {
        self.probes_in_flight <= self.successes
    }
}

/// One breaker's state; the settings come with each call.
#[derive(Debug)]
pub struct CircuitBreaker {
    /// A `BreakerState`, read without the lock; written under it.
    state: AtomicU8,
    /// While open: when it half-opens, in nanoseconds since `origin`. Written before `state`.
    open_until: AtomicU64,
    origin: Instant,
    /// Requests (`a`) and failures (`b`) while closed.
    window: SlidingWindow,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker with an empty window.
    pub fn new(now: Instant) -> Self {
        Self {
            state: AtomicU8::new(BreakerState::Closed as u8),
            open_until: AtomicU64::new(0),
            origin: now,
            window: SlidingWindow::new(now),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Should a request go through now? The second value is the Open → HalfOpen change this call
    /// made, if any: it happens lazily, on the first `admit` after the open time.
    pub fn admit(&self, s: &Settings, now: Instant) -> (Admission, Option<Transition>) {
        if !s.enabled {
            return (Admission::Allowed, None);
        }
        match self.load() {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Open => match self.open_time_left(now) {
                Some(left) => (rejected(left), None),
                None => self.admit_half_open(now),
            },
            BreakerState::HalfOpen => self.admit_half_open(now),
        }
    }

    /// Whether a request could be admitted now, without taking a probe slot (for filtering the
    /// endpoints to choose from). Lock-free unless half-open.
    pub fn is_selectable(&self, s: &Settings, now: Instant) -> bool {
        if !s.enabled {
            return true;
        }
        match self.load() {
            BreakerState::Closed => true,
            BreakerState::Open => self.open_time_left(now).is_none(),
            BreakerState::HalfOpen => {
                let inner = self.lock();
                // Closed or reopened since the load: ask again.
                match self.load() {
                    BreakerState::HalfOpen => inner.has_probe_slot(),
                    BreakerState::Closed => true,
                    BreakerState::Open => self.open_time_left(now).is_none(),
                }
            }
        }
    }

    /// Report an outcome; returns the transition it caused. Requests admitted while closed that
    /// answer after the breaker opened are ignored: they say nothing about the recovery. A probe
    /// answering after the breaker closed counts as an ordinary request.
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
        if was_probe {
            return self.record_probe(s, now, success);
        }
        match self.load() {
            BreakerState::Closed => self.record_closed(s, now, success),
            BreakerState::Open | BreakerState::HalfOpen => None,
        }
    }

    /// A probe admitted but never reported (the request ended otherwise): give its slot back.
    pub fn release_probe(&self) {
        let mut inner = self.lock();
        inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
    }

    /// The state now, for status and gauges: an open breaker whose time is up reads as
    /// half-open (the change itself is left to `admit`). A disabled breaker reads as closed.
    pub fn state(&self, s: &Settings, now: Instant) -> BreakerState {
        if !s.enabled {
            return BreakerState::Closed;
        }
        match self.load() {
            BreakerState::Open if self.open_time_left(now).is_none() => BreakerState::HalfOpen,
            state => state,
        }
    }

    /// When the breaker last closed after having been open; `None` if it never did.
    pub fn closed_at(&self) -> Option<Instant> {
        self.lock().closed_at
    }

    /// Counts a closed breaker's outcome; a failure may open it.
    fn record_closed(&self, s: &Settings, now: Instant, success: bool) -> Option<Transition> {
        self.window.add(now, s.window, 1, u64::from(!success));
        // Only a failure can raise the failure rate.
        if success || !self.failure_rate_reached(s, now) {
            return None;
        }
        let mut inner = self.lock();
        // Another failure may have opened it, or it reopened and closed with a fresh window.
        if self.load() != BreakerState::Closed || !self.failure_rate_reached(s, now) {
            return None;
        }
        self.open(&mut inner, s, now);
        Some(Transition::OPENED)
    }

    fn record_probe(&self, s: &Settings, now: Instant, success: bool) -> Option<Transition> {
        let mut inner = self.lock();
        inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
        match self.load() {
            BreakerState::HalfOpen if success => {
                inner.successes = inner.successes.saturating_add(1);
                if inner.successes < s.half_open_successes {
                    return None;
                }
                self.close(&mut inner, now);
                Some(Transition::CLOSED)
            }
            BreakerState::HalfOpen => {
                inner.reopens = inner.reopens.saturating_add(1);
                self.open(&mut inner, s, now);
                Some(Transition::REOPENED)
            }
            BreakerState::Closed => {
                drop(inner);
                self.record_closed(s, now, success)
            }
            // Reopened by another probe's failure: this answer is late.
            BreakerState::Open => None,
        }
    }

    /// Admission once the open time may be up: half-opens if so, then hands out a probe slot.
    fn admit_half_open(&self, now: Instant) -> (Admission, Option<Transition>) {
        let mut inner = self.lock();
        let mut transition = None;
        if self.load() == BreakerState::Open {
            if let Some(left) = self.open_time_left(now) {
                // Reopened since the lock-free check.
                return (rejected(left), None);
            }
            inner.successes = 0;
            inner.probes_in_flight = 0;
            self.set(BreakerState::HalfOpen);
            transition = Some(Transition::HALF_OPENED);
        }
        let admission = match self.load() {
            BreakerState::HalfOpen if inner.has_probe_slot() => {
                inner.probes_in_flight += 1;
                Admission::Probe
            }
            BreakerState::HalfOpen => rejected(HALF_OPEN_RETRY_AFTER),
            // Closed by a probe since the lock-free check.
            _ => Admission::Allowed,
        };
        (admission, transition)
    }

    /// Opens for `open_for × 2^reopens`, at most `max_open_for`, from `now`.
    fn open(&self, inner: &mut Inner, s: &Settings, now: Instant) {
        let doubling = 1u32.checked_shl(inner.reopens).unwrap_or(u32::MAX);
        let open_for = s.open_for.saturating_mul(doubling).min(s.max_open_for);
        let until = self.nanos_since_origin(now).saturating_add(nanos(open_for));
        inner.successes = 0;
        inner.probes_in_flight = 0;
        // Before the state, so whoever sees Open sees this deadline (or a later one).
        self.open_until.store(until, Ordering::Relaxed);
        self.set(BreakerState::Open);
    }

    /// Closes with a fresh window: the failures that opened it are history.
    fn close(&self, inner: &mut Inner, now: Instant) {
        inner.reopens = 0;
        inner.closed_at = Some(now);
        self.window.reset();
        self.set(BreakerState::Closed);
    }

    /// Whether enough requests failed over the window to open the breaker.
    fn failure_rate_reached(&self, s: &Settings, now: Instant) -> bool {
        let (requests, failures) = self.window.totals(now, s.window);
        requests > 0 && requests >= u64::from(s.min_requests) && {
            let threshold = s.failure_rate * requests as f64;
            failures as f64 >= threshold - threshold * ROUNDING_SLACK
        }
    }

    /// How long an open breaker stays open from `now`; `None` once its time is up.
    fn open_time_left(&self, now: Instant) -> Option<Duration> {
        let until = self.open_until.load(Ordering::Relaxed);
        let elapsed = self.nanos_since_origin(now);
        (elapsed < until).then(|| Duration::from_nanos(until - elapsed))
    }

    fn nanos_since_origin(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.origin))
    }

    fn load(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn set(&self, state: BreakerState) {
        self.state.store(state as u8, Ordering::Release);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing under the lock can panic halfway through an update, so a poisoned one is whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn rejected(retry_after: Duration) -> Admission {
    Admission::Rejected {
        retry_after: retry_after.max(MIN_RETRY_AFTER),
    }
}

/// A duration in nanoseconds, saturating (at 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn is_rejected(admission: Admission) -> bool {
        matches!(admission, Admission::Rejected { .. })
    }

    /// A breaker opened at `t0` by ten failures.
    fn opened(s: &Settings, t0: Instant) -> CircuitBreaker {
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            assert_eq!(b.record(s, t0, false, false), None);
        }
        assert_eq!(b.record(s, t0, false, false), Some(Transition::OPENED));
        b
    }

    /// A breaker half-opened at `t0 + open_for` (the transition already taken), no probe out.
    fn half_opened(s: &Settings, t0: Instant) -> (CircuitBreaker, Instant) {
        let b = opened(s, t0);
        let t = t0 + s.open_for;
        assert_eq!(
            b.admit(s, t),
            (Admission::Probe, Some(Transition::HALF_OPENED))
        );
        b.release_probe();
        (b, t)
    }

    /// Runs `n` probes to success one at a time; returns the last transition.
    fn succeed_probes(b: &CircuitBreaker, s: &Settings, t: Instant, n: u32) -> Option<Transition> {
        let mut last = None;
        for _ in 0..n {
            assert_eq!(b.admit(s, t).0, Admission::Probe);
            last = b.record(s, t, true, true);
        }
        last
    }

    #[test]
    fn states_have_names_and_gauge_codes() {
        let all = [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ];
        let names: Vec<_> = all.iter().map(|s| s.as_str()).collect();
        let codes: Vec<_> = all.iter().map(|s| s.code()).collect();
        assert_eq!(names, ["closed", "open", "half_open"]);
        assert_eq!(codes, [0, 1, 2]);
    }

    #[test]
    fn a_new_breaker_is_closed_and_admits() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        assert_eq!(b.state(&s, t0), BreakerState::Closed);
        assert_eq!(b.admit(&s, t0), (Admission::Allowed, None));
        assert!(b.is_selectable(&s, t0));
        assert_eq!(b.closed_at(), None);
    }

    #[test]
    fn opens_at_the_failure_rate() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..6 {
            assert_eq!(b.record(&s, t0, true, false), None);
        }
        for _ in 0..5 {
            assert_eq!(b.record(&s, t0, false, false), None, "5/11 is below half");
        }
        assert_eq!(
            b.record(&s, t0, false, false),
            Some(Transition::OPENED),
            "6/12 reaches half"
        );
        assert_eq!(b.state(&s, t0), BreakerState::Open);
    }

    #[test]
    fn never_opens_below_min_requests() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            assert_eq!(b.record(&s, t0, false, false), None);
        }
        assert_eq!(b.state(&s, t0), BreakerState::Closed, "9/9 failed, 9 < 10");
        assert_eq!(b.record(&s, t0, false, false), Some(Transition::OPENED));
    }

    #[test]
    fn successes_never_open_it() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            b.record(&s, t0, false, false);
        }
        // 9 of 9 failed; the tenth request reaches min_requests, but succeeds.
        assert_eq!(b.record(&s, t0, true, false), None);
        assert_eq!(b.state(&s, t0), BreakerState::Closed);
    }

    #[test]
    fn float_rounding_does_not_keep_it_closed() {
        let t0 = Instant::now();
        let s = Settings {
            failure_rate: 0.07,
            ..settings()
        };
        let b = CircuitBreaker::new(t0);
        for _ in 0..93 {
            b.record(&s, t0, true, false);
        }
        for _ in 0..6 {
            assert_eq!(b.record(&s, t0, false, false), None);
        }
        // 7 of 100, though 0.07 × 100 is 7.000000000000001.
        assert_eq!(b.record(&s, t0, false, false), Some(Transition::OPENED));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let s = settings();
        let b = CircuitBreaker::new(t0);
        for _ in 0..9 {
            b.record(&s, t0, false, false);
        }
        let later = t0 + s.window;
        assert_eq!(b.record(&s, later, false, false), None);
        assert_eq!(b.state(&s, later), BreakerState::Closed);
        // The window slides: failures 5 s apart still add up within it.
        for _ in 0..8 {
            b.record(&s, later + ms(5_000), false, false);
        }
        assert_eq!(
            b.record(&s, later + ms(5_000), false, false),
            Some(Transition::OPENED)
        );
    }

    #[test]
    fn the_current_settings_apply() {
        let t0 = Instant::now();
        let b = CircuitBreaker::new(t0);
        let lenient = Settings {
            failure_rate: 0.9,
            ..settings()
        };
        for _ in 0..10 {
            b.record(&lenient, t0, true, false);
        }
        for _ in 0..10 {
            assert_eq!(b.record(&lenient, t0, false, false), None, "below 90%");
        }
        // Reloaded with the default threshold: the same window now opens it.
        assert_eq!(
            b.record(&settings(), t0, false, false),
            Some(Transition::OPENED)
        );
    }

    #[test]
    fn rejects_while_open_with_the_time_left() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        for (at, left) in [(0, 1_000), (400, 600), (999, 1)] {
            assert_eq!(
                b.admit(&s, t0 + ms(at)),
                (rejected(ms(left)), None),
                "at {at} ms"
            );
            assert!(!b.is_selectable(&s, t0 + ms(at)));
            assert_eq!(b.state(&s, t0 + ms(at)), BreakerState::Open);
        }
        // Less than a millisecond left still asks for one.
        let almost = t0 + s.open_for - Duration::from_micros(10);
        assert_eq!(b.admit(&s, almost).0, rejected(ms(1)));
    }

    #[test]
    fn half_opens_lazily_after_open_for_and_reports_it_once() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        let t = t0 + s.open_for;
        // Reads report half-open but leave the change, and its report, to `admit`.
        assert_eq!(b.state(&s, t), BreakerState::HalfOpen);
        assert!(b.is_selectable(&s, t));
        assert_eq!(
            b.admit(&s, t),
            (Admission::Probe, Some(Transition::HALF_OPENED))
        );
        assert_eq!(b.state(&s, t), BreakerState::HalfOpen);
        let (admission, transition) = b.admit(&s, t);
        assert!(is_rejected(admission));
        assert_eq!(transition, None, "reported once");
    }

    #[test]
    fn half_open_probes_grow_by_one_per_success() {
        let t0 = Instant::now();
        let s = Settings {
            half_open_successes: 4,
            ..settings()
        };
        let (b, t) = half_opened(&s, t0);
        for successes in 0..3 {
            // `successes + 1` probes may be in flight at once, and no more.
            for _ in 0..=successes {
                assert!(b.is_selectable(&s, t));
                assert_eq!(b.admit(&s, t), (Admission::Probe, None));
            }
            assert!(!b.is_selectable(&s, t));
            assert_eq!(b.admit(&s, t), (rejected(HALF_OPEN_RETRY_AFTER), None));
            // One answers; the others are given back (say, cancelled).
            assert_eq!(b.record(&s, t, true, true), None);
            for _ in 0..successes {
                b.release_probe();
            }
        }
        assert_eq!(b.state(&s, t), BreakerState::HalfOpen);
    }

    #[test]
    fn is_selectable_takes_no_probe_slot() {
        let t0 = Instant::now();
        let s = settings();
        let (b, t) = half_opened(&s, t0);
        for _ in 0..10 {
            assert!(b.is_selectable(&s, t));
        }
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
    }

    #[test]
    fn closes_after_consecutive_successes_with_a_fresh_window() {
        let t0 = Instant::now();
        let s = settings();
        let (b, t) = half_opened(&s, t0);
        assert_eq!(succeed_probes(&b, &s, t, 2), None);
        assert_eq!(b.closed_at(), None);
        assert_eq!(succeed_probes(&b, &s, t, 1), Some(Transition::CLOSED));
        assert_eq!(b.state(&s, t), BreakerState::Closed);
        assert_eq!(b.closed_at(), Some(t));
        assert_eq!(b.admit(&s, t), (Admission::Allowed, None));
        // The ten failures that opened it are forgotten: nine more do not reopen it.
        for _ in 0..9 {
            assert_eq!(b.record(&s, t, false, false), None);
        }
        // The next opening is for `open_for` again, not doubled.
        assert_eq!(b.record(&s, t, false, false), Some(Transition::OPENED));
        assert!(!b.is_selectable(&s, t + s.open_for - ms(1)));
        assert!(b.is_selectable(&s, t + s.open_for));
    }

    #[test]
    fn a_failed_probe_reopens_for_twice_as_long_up_to_the_cap() {
        let t0 = Instant::now();
        let s = settings();
        let (b, mut t) = half_opened(&s, t0);
        // A success first: the failure still reopens, and successes are not carried over.
        assert_eq!(succeed_probes(&b, &s, t, 1), None);
        for wait_secs in [2, 3, 3] {
            assert_eq!(b.admit(&s, t).0, Admission::Probe);
            assert_eq!(b.record(&s, t, false, true), Some(Transition::REOPENED));
            assert_eq!(b.state(&s, t), BreakerState::Open);
            let wait = Duration::from_secs(wait_secs);
            assert_eq!(b.admit(&s, t).0, rejected(wait));
            assert!(!b.is_selectable(&s, t + wait - ms(1)));
            t += wait;
            assert!(b.is_selectable(&s, t));
            assert_eq!(b.admit(&s, t).1, Some(Transition::HALF_OPENED));
            b.release_probe();
        }
        assert_eq!(
            succeed_probes(&b, &s, t, 2),
            None,
            "the count restarted at the reopening"
        );
        assert_eq!(succeed_probes(&b, &s, t, 1), Some(Transition::CLOSED));
    }

    #[test]
    fn late_answers_while_open_or_half_open_are_ignored() {
        let t0 = Instant::now();
        let s = settings();
        let b = opened(&s, t0);
        // Requests admitted before it opened, answering now.
        assert_eq!(b.record(&s, t0, false, false), None);
        assert_eq!(b.record(&s, t0, true, false), None);
        let t = t0 + s.open_for;
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert_eq!(b.record(&s, t, false, false), None);
        assert_eq!(b.state(&s, t), BreakerState::HalfOpen);
        // Only the probe decides.
        assert_eq!(b.record(&s, t, false, true), Some(Transition::REOPENED));
        // A second probe's answer after the reopening changes nothing.
        assert_eq!(b.record(&s, t, true, true), None);
        assert_eq!(b.state(&s, t), BreakerState::Open);
    }

    #[test]
    fn a_probe_answering_after_the_close_counts_as_a_request() {
        let t0 = Instant::now();
        let s = Settings {
            half_open_successes: 2,
            min_requests: 1,
            ..settings()
        };
        let b = CircuitBreaker::new(t0);
        assert_eq!(b.record(&s, t0, false, false), Some(Transition::OPENED));
        let t = t0 + s.open_for;
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert_eq!(b.record(&s, t, true, true), None);
        // Two probes out; the first success closes it, the second probe then fails.
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert_eq!(b.record(&s, t, true, true), Some(Transition::CLOSED));
        assert_eq!(b.record(&s, t, false, true), Some(Transition::OPENED));
    }

    #[test]
    fn a_released_probe_gives_its_slot_back() {
        let t0 = Instant::now();
        let s = settings();
        let (b, t) = half_opened(&s, t0);
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert!(is_rejected(b.admit(&s, t).0));
        b.release_probe();
        assert_eq!(b.admit(&s, t).0, Admission::Probe, "the slot came back");
        // Releasing more than was taken does not make room for two.
        b.release_probe();
        b.release_probe();
        assert_eq!(b.admit(&s, t).0, Admission::Probe);
        assert!(is_rejected(b.admit(&s, t).0));
    }

    #[test]
    fn a_disabled_breaker_always_admits_and_never_changes() {
        let t0 = Instant::now();
        let s = Settings {
            enabled: false,
            ..settings()
        };
        let b = CircuitBreaker::new(t0);
        for _ in 0..100 {
            assert_eq!(b.record(&s, t0, false, false), None);
        }
        assert_eq!(b.admit(&s, t0), (Admission::Allowed, None));
        assert!(b.is_selectable(&s, t0));
        assert_eq!(b.state(&s, t0), BreakerState::Closed);
        // Nothing was counted while disabled: enabled again, one more failure does not open it.
        assert_eq!(b.record(&settings(), t0, false, false), None);
        // Disabling an open breaker lets everything through without touching its state.
        let open = opened(&settings(), t0);
        assert_eq!(open.admit(&s, t0), (Admission::Allowed, None));
        assert_eq!(open.state(&s, t0), BreakerState::Closed);
        assert_eq!(open.state(&settings(), t0), BreakerState::Open);
    }

    #[test]
    fn time_before_the_origin_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let s = settings();
        let b = CircuitBreaker::new(t0);
        let early = t0 - ms(500);
        for _ in 0..10 {
            b.record(&s, early, false, false);
        }
        assert_eq!(b.state(&s, early), BreakerState::Open);
        // Opened "at the origin": half-opens `open_for` after it.
        assert_eq!(b.admit(&s, early).0, rejected(s.open_for));
        assert!(b.is_selectable(&s, t0 + s.open_for));
    }

    #[test]
    fn racing_failures_open_it_once() {
        let t0 = Instant::now();
        let s = settings();
        let b = Arc::new(CircuitBreaker::new(t0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (b, s) = (Arc::clone(&b), s.clone());
                std::thread::spawn(move || {
                    (0..1_000)
                        .filter_map(|_| b.record(&s, t0, false, false))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let transitions: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(transitions, [Transition::OPENED]);
    }

    #[test]
    fn racing_probes_close_it_once() {
        let t0 = Instant::now();
        let s = Settings {
            half_open_successes: 50,
            ..settings()
        };
        let (b, t) = half_opened(&s, t0);
        let b = Arc::new(b);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (b, s) = (Arc::clone(&b), s.clone());
                std::thread::spawn(move || {
                    let mut transitions = Vec::new();
                    for _ in 0..1_000 {
                        match b.admit(&s, t).0 {
                            Admission::Probe => transitions.extend(b.record(&s, t, true, true)),
                            Admission::Allowed => transitions.extend(b.record(&s, t, true, false)),
                            Admission::Rejected { .. } => {}
                        }
                    }
                    transitions
                })
            })
            .collect();
        let transitions: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(transitions, [Transition::CLOSED]);
        assert_eq!(b.state(&s, t), BreakerState::Closed);
    }

    #[test]
    fn concurrent_use_leaves_a_sane_state() {
        let t0 = Instant::now();
        let s = settings();
        let b = Arc::new(CircuitBreaker::new(t0));
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let (b, s) = (Arc::clone(&b), s.clone());
                std::thread::spawn(move || {
                    for n in 0..5_000u64 {
                        let now = t0 + ms(n);
                        let success = (n + i) % 3 == 0;
                        match b.admit(&s, now).0 {
                            Admission::Probe if n % 7 == 0 => b.release_probe(),
                            Admission::Probe => drop(b.record(&s, now, success, true)),
                            Admission::Allowed => drop(b.record(&s, now, success, false)),
                            Admission::Rejected { .. } => {}
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Whatever happened, no probe slot leaked: once the open time is surely up, requests
        // get through, and enough successes close it.
        let later = t0 + Duration::from_secs(60);
        assert_ne!(b.state(&s, later), BreakerState::Open);
        for _ in 0..s.half_open_successes {
            match b.admit(&s, later).0 {
                Admission::Probe => drop(b.record(&s, later, true, true)),
                Admission::Allowed => break,
                rejected => panic!("{rejected:?}"),
            }
        }
        assert_eq!(b.state(&s, later), BreakerState::Closed);
    }
}
