//! An adaptive concurrency limit for one upstream, a simplified form of Netflix's Gradient2: the
//! limit shrinks when recent latency rises above `tolerance` times the lowest recent latency
//! seen lately, grows by about its square root while latency stays near that baseline and the
//! limit is in use, holds while less than half of it is in use, and shrinks by a tenth on every
//! dropped request. Time is passed in, never read here.
//!
//! Each finished request is one sample:
//!
//! - `short_rtt`: an exponential average over about the last 10 latencies (forgotten after a
//!   quiet spell of two `min_rtt_window`s, like the baseline).
//! - `min_rtt`, the baseline: the smallest `short_rtt` over the last one to two
//!   `min_rtt_window`s (the window in progress and the one before it), so there is always a full
//!   window of history behind it and a lasting change of baseline is learnt within two windows.
//!   It is the minimum of the *average*, not of single latencies: a healthy upstream's fastest
//!   request in 30 s sits far out in its jitter (at 2,000 requests/s, a 1-in-60,000 draw), and
//!   against it the usual latency would look several times too slow.
//! - While fewer than half the limit are in flight, the limit holds (the upstream is not what
//!   limits the traffic, and latency noise then says nothing about the limit); Gradient2 does the
//!   same. Otherwise:
//! - `gradient = clamp(tolerance × min_rtt / short_rtt, 0.5, 1.0)`.
//! - `target = limit × gradient + √limit`; the √limit is room for a queue, so the limit probes
//!   upwards while latency holds.
//! - `limit = 0.8 × limit + 0.2 × target`, smoothing out single slow or fast requests.
//! - A dropped request (timeout, overload, 5xx) sets `limit = 0.9 × limit` instead and leaves the
//!   latencies alone: a timeout's latency is the timeout, and a fast error would pass for a new
//!   minimum.
//! - Finally `limit` is kept within `[min_in_flight, max]`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use weir_config::AdaptiveLimit;

/// Weight of the newest latency in `short_rtt`: `2 / (10 + 1)`, an average over ~10 samples.
const SHORT_RTT_WEIGHT: f64 = 2.0 / 11.0;
/// The lowest gradient: latency far above the minimum at most halves the target.
const MIN_GRADIENT: f64 = 0.5;
/// Weight of the new target in the limit.
const TARGET_WEIGHT: f64 = 0.2;
/// What a dropped request multiplies the limit by.
const DROP_FACTOR: f64 = 0.9;

/// One upstream's adaptive cap on requests in flight. Holds only what was learnt: the settings
/// and the upper bound come with each call, so it can be kept across config reloads.
#[derive(Debug)]
pub struct GradientLimit {
    /// `state.limit` rounded, for lock-free reads on the request path.
    current: AtomicU32,
    state: Mutex<State>,
}

impl GradientLimit {
    /// A limit starting at `settings.initial`, its first latency window opening at `now`.
    pub fn new(settings: &AdaptiveLimit, now: Instant) -> Self {
        let initial = settings.initial.max(settings.min_in_flight).max(1);
        Self {
            current: AtomicU32::new(initial),
            state: Mutex::new(State {
                limit: f64::from(initial),
                short_rtt_ns: None,
                last_sample: now,
                min_rtt: WindowedMin::new(now),
            }),
        }
    }

    /// The current limit, as last learnt: one atomic load.
    pub fn limit(&self) -> u32 {
        self.current.load(Ordering::Relaxed)
    }

    /// The limit kept within the current settings' bounds, for use right after a reload
    /// narrowed them (the learnt limit follows at the next sample).
    pub fn cap(&self, settings: &AdaptiveLimit, max: u32) -> u32 {
        let (lower, upper) = bounds(settings, max);
        self.limit().clamp(lower, upper)
    }

    /// Learns from one finished request: it took `rtt`, was `dropped` or not, and `in_flight`
    /// requests (itself included) were in progress when it was sent. `max` is the bulkhead's
    /// `max_in_flight`, the limit's upper bound.
    pub fn on_sample(
        &self,
        settings: &AdaptiveLimit,
        max: u32,
        rtt: Duration,
        dropped: bool,
        in_flight: u32,
        now: Instant,
    ) {
        // Nothing inside can panic halfway through an update, so a poisoned state is whole.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = if dropped {
            state.limit * DROP_FACTOR
        } else {
            state.next_limit(settings, rtt, in_flight, now)
        };
        let (lower, upper) = bounds(settings, max);
        state.limit = next.clamp(f64::from(lower), f64::from(upper));
        // Stored under the lock, so racing samples cannot publish their limits out of order.
        self.current
            .store(state.limit.round() as u32, Ordering::Relaxed);
    }
}

/// `[min_in_flight, max]`, made non-empty and at least 1 whatever the inputs.
fn bounds(settings: &AdaptiveLimit, max: u32) -> (u32, u32) {
    let upper = max.max(1);
    (settings.min_in_flight.clamp(1, upper), upper)
}

/// What the limit has learnt so far.
#[derive(Debug)]
struct State {
    /// Fractional, so small steps add up.
    limit: f64,
    /// `None` until the first latency (and after a quiet spell).
    short_rtt_ns: Option<f64>,
    /// When the last latency came in.
    last_sample: Instant,
    min_rtt: WindowedMin,
}

impl State {
    /// The limit after one request that was not dropped, before clamping.
    fn next_limit(
        &mut self,
        settings: &AdaptiveLimit,
        rtt: Duration,
        in_flight: u32,
        now: Instant,
    ) -> f64 {
        // At least 1 ns, so the gradient never divides zero by zero.
        let rtt_ns = (rtt.as_nanos() as f64).max(1.0);
        let quiet = now.saturating_duration_since(self.last_sample);
        self.last_sample = now;
        if quiet >= settings.min_rtt_window.saturating_mul(2) {
            // As stale as a forgotten baseline.
            self.short_rtt_ns = None;
        }
        let short_rtt_ns = self.observe_short_rtt(rtt_ns);
        let min_rtt_ns = self
            .min_rtt
            .observe(short_rtt_ns, now, settings.min_rtt_window);
        if f64::from(in_flight) < self.limit / 2.0 {
            return self.limit;
        }
        let gradient = (settings.tolerance * min_rtt_ns / short_rtt_ns).clamp(MIN_GRADIENT, 1.0);
        let target = self.limit * gradient + self.limit.sqrt();
        self.limit * (1.0 - TARGET_WEIGHT) + target * TARGET_WEIGHT
    }

    /// Folds `rtt_ns` into the short-term average and returns it.
    fn observe_short_rtt(&mut self, rtt_ns: f64) -> f64 {
        let average = match self.short_rtt_ns {
            Some(average) => average + (rtt_ns - average) * SHORT_RTT_WEIGHT,
            None => rtt_ns,
        };
        self.short_rtt_ns = Some(average);
        average
    }
}

/// The smallest latency over the window in progress and the one before it.
#[derive(Debug)]
struct WindowedMin {
    /// The previous window's minimum; infinite when there was none.
    previous_ns: f64,
    /// This window's minimum so far; infinite before its first sample.
    current_ns: f64,
    started: Instant,
}

impl WindowedMin {
    fn new(now: Instant) -> Self {
        Self {
            previous_ns: f64::INFINITY,
            current_ns: f64::INFINITY,
            started: now,
        }
    }

    /// Folds in `rtt_ns`, seen at `now`, and returns the minimum.
    fn observe(&mut self, rtt_ns: f64, now: Instant, window: Duration) -> f64 {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= window {
            // After a quiet spell of two windows or more, the last window is stale too.
            self.previous_ns = if elapsed < window.saturating_mul(2) {
                self.current_ns
            } else {
                f64::INFINITY
            };
            self.current_ns = f64::INFINITY;
            self.started = now;
        }
        self.current_ns = self.current_ns.min(rtt_ns);
        self.current_ns.min(self.previous_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const MAX: u32 = 200;
    const FAST: Duration = Duration::from_millis(10);

    fn settings() -> AdaptiveLimit {
        AdaptiveLimit {
            min_in_flight: 8,
            initial: 50,
            tolerance: 2.0,
            min_rtt_window: Duration::from_secs(1),
        }
    }

    /// A limit and an injected clock that advances 1 ms per sample.
    struct Run {
        settings: AdaptiveLimit,
        limit: GradientLimit,
        now: Instant,
    }

    impl Run {
        fn new() -> Self {
            let settings = settings();
            let now = Instant::now();
            Self {
                limit: GradientLimit::new(&settings, now),
                settings,
                now,
            }
        }

        fn sample(&mut self, rtt: Duration, dropped: bool, in_flight: u32) -> u32 {
            self.now += Duration::from_millis(1);
            let settings = &self.settings;
            self.limit
                .on_sample(settings, MAX, rtt, dropped, in_flight, self.now);
            self.limit.limit()
        }

        /// `n` requests taking `rtt` with the limit fully used; returns the limits seen.
        fn busy(&mut self, n: usize, rtt: Duration) -> Vec<u32> {
            (0..n)
                .map(|_| {
                    let in_flight = self.limit.limit();
                    self.sample(rtt, false, in_flight)
                })
                .collect()
        }
    }

    #[test]
    fn starts_at_the_initial_limit() {
        let run = Run::new();
        assert_eq!(run.limit.limit(), 50);
        assert_eq!(run.limit.cap(&run.settings, MAX), 50);
    }

    #[test]
    fn grows_to_the_max_while_latency_holds_and_the_limit_is_used() {
        let mut run = Run::new();
        let limits = run.busy(500, FAST);
        assert!(limits.windows(2).all(|w| w[0] <= w[1]), "{limits:?}");
        assert_eq!(*limits.last().unwrap(), MAX);
        // About √limit / 5 per sample: 50 → 200 takes more than a handful of requests.
        let reached = limits.iter().position(|&l| l == MAX).unwrap();
        assert!(
            (50..300).contains(&reached),
            "reached the max after {reached}"
        );
    }

    #[test]
    fn latency_within_tolerance_still_grows() {
        let mut run = Run::new();
        run.busy(5, FAST);
        let limits = run.busy(500, FAST * 19 / 10);
        assert_eq!(*limits.last().unwrap(), MAX);
    }

    #[test]
    fn does_not_grow_while_mostly_idle() {
        let mut run = Run::new();
        for in_flight in [1, 10, 24] {
            for _ in 0..200 {
                assert_eq!(run.sample(FAST, false, in_flight), 50);
            }
        }
        // Half the limit in use is enough to grow.
        assert!(run.sample(FAST, false, 25) > 50);
    }

    #[test]
    fn shrinks_when_latency_rises_past_tolerance() {
        let mut run = Run::new();
        run.busy(500, FAST);
        let limits = run.busy(300, FAST * 4);
        assert!(limits.windows(2).all(|w| w[0] >= w[1]), "{limits:?}");
        // At gradient 0.5 the limit settles where limit = 0.5 × limit + √limit, i.e. 4: below
        // the floor of 8.
        assert_eq!(*limits.last().unwrap(), 8);
        // A step per sample of at most a tenth (0.8 + 0.2 × 0.5), so one slow request is no
        // collapse.
        assert!(limits[0] >= 180, "{}", limits[0]);
    }

    #[test]
    fn a_moderate_slowdown_settles_in_between() {
        let mut run = Run::new();
        run.busy(500, FAST);
        // 3 × the minimum with tolerance 2: gradient 2/3, so the limit settles where
        // limit = 2/3 × limit + √limit, at 9.
        let limits = run.busy(500, FAST * 3);
        assert_eq!(*limits.last().unwrap(), 9);
    }

    #[test]
    fn drops_shrink_by_a_tenth_each() {
        let mut run = Run::new();
        assert_eq!(run.sample(FAST, true, 50), 45);
        assert_eq!(run.sample(FAST, true, 45), 41);
        let limits: Vec<u32> = (0..50).map(|_| run.sample(FAST, true, 40)).collect();
        assert_eq!(*limits.last().unwrap(), 8);
    }

    #[test]
    fn fast_failures_do_not_teach_a_false_minimum() {
        let mut run = Run::new();
        run.busy(10, FAST);
        for _ in 0..3 {
            run.sample(Duration::from_micros(100), true, 50);
        }
        let after_drops = run.limit.limit();
        // Had the 100 µs failures counted, 10 ms would look 50 × slower and the limit would
        // shrink; it grows.
        let limits = run.busy(100, FAST);
        assert!(limits[0] > after_drops && *limits.last().unwrap() > 60);
    }

    #[test]
    fn a_new_window_learns_a_new_baseline() {
        let mut run = Run::new();
        run.busy(500, FAST);
        // The upstream gets 5 × slower for good: the limit falls to its floor ...
        let slow = FAST * 5;
        let limits = run.busy(500, slow);
        assert_eq!(*limits.last().unwrap(), 8);
        // ... until the windows holding the old minimum have passed (1 s each, 1 ms per sample,
        // the second ending ~1,000 samples from here): then 50 ms is the baseline and the limit
        // climbs back.
        let limits = run.busy(2_500, slow);
        assert_eq!(*limits.last().unwrap(), MAX);
        assert!(limits[..990].iter().all(|&l| l == 8), "{limits:?}");
        let back_at_max = limits.iter().position(|&l| l == MAX).unwrap();
        assert!((1_000..1_300).contains(&back_at_max), "{back_at_max}");
    }

    #[test]
    fn a_minimum_older_than_two_windows_is_forgotten() {
        // After a quiet spell, are 50 ms latencies slow (shrink) or the new normal (grow)?
        let after_quiet_spell = |quiet: Duration| {
            let mut run = Run::new();
            run.busy(20, FAST);
            let before = run.limit.limit();
            run.now += quiet;
            let after = *run.busy(20, FAST * 5).last().unwrap();
            (before, after)
        };
        // Within two windows the 10 ms minimum still holds ...
        let (before, after) = after_quiet_spell(Duration::from_millis(1_500));
        assert!(after < before, "{before} → {after}");
        // ... after two, it is forgotten and 50 ms is the minimum at once.
        let (before, after) = after_quiet_spell(Duration::from_secs(3));
        assert!(after > before, "{before} → {after}");
    }

    #[test]
    fn never_leaves_its_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut run = Run::new();
        for _ in 0..20_000 {
            let rtt = Duration::from_micros(rng.random_range(0..200_000));
            let dropped = rng.random_bool(0.05);
            let in_flight = rng.random_range(0..=MAX * 2);
            let limit = run.sample(rtt, dropped, in_flight);
            assert!((8..=MAX).contains(&limit), "{limit}");
        }
        let zero = run.sample(Duration::ZERO, false, MAX);
        assert!((8..=MAX).contains(&zero), "{zero}");
    }

    #[test]
    fn a_reload_narrowing_the_bounds_applies_at_once_and_sticks() {
        let mut run = Run::new();
        run.busy(500, FAST);
        assert_eq!(run.limit.limit(), MAX);
        // Reload: max_in_flight 200 → 60, min_in_flight 8 → 20.
        run.settings.min_in_flight = 20;
        assert_eq!(run.limit.cap(&run.settings, 60), 60);
        run.now += Duration::from_millis(1);
        run.limit
            .on_sample(&run.settings, 60, FAST, false, 60, run.now);
        assert_eq!(run.limit.limit(), 60);
        for _ in 0..100 {
            run.now += Duration::from_millis(1);
            run.limit
                .on_sample(&run.settings, 60, FAST, true, 60, run.now);
        }
        assert_eq!(run.limit.limit(), 20);
        assert_eq!(run.limit.cap(&run.settings, 60), 20);
    }

    /// The example of docs/config.md: `max_in_flight = 200`, `min_in_flight = 20`, the rest
    /// default (initial 100, tolerance 2, a 30 s window).
    fn documented_example() -> AdaptiveLimit {
        AdaptiveLimit {
            min_in_flight: 20,
            initial: 100,
            tolerance: 2.0,
            min_rtt_window: Duration::from_secs(30),
        }
    }

    /// A healthy origin's latency: 1 ms plus a log-normal jitter (median 4 ms, σ 0.6), steady
    /// over time.
    fn healthy_latency(rng: &mut StdRng) -> Duration {
        let normal: f64 = {
            // Box–Muller.
            let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        Duration::from_secs_f64(0.001 + 0.004 * (0.6 * normal).exp())
    }

    /// Requests in flight when one is sent, Poisson around `mean` (Knuth's method).
    fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
        let floor = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= rng.random::<f64>();
            if p <= floor {
                return k;
            }
            k += 1;
        }
    }

    /// 60 s of samples at 2,000 requests/s (0.5 ms apart on the injected clock); `in_flight`
    /// says how many are in flight when each is sent, given the limit then. Returns the lowest
    /// limit seen and the requests a `normal` route would have had shed (in flight at or above
    /// 90% of the limit).
    fn two_thousand_per_second(in_flight: impl Fn(&mut StdRng, u32) -> u32) -> (u32, u32, usize) {
        let settings = documented_example();
        let mut rng = StdRng::seed_from_u64(2_000);
        let mut now = Instant::now();
        let limit = GradientLimit::new(&settings, now);
        let (mut lowest, mut shed) = (u32::MAX, 0);
        for _ in 0..120_000 {
            now += Duration::from_micros(500);
            let current = limit.limit();
            let in_flight = in_flight(&mut rng, current);
            if f64::from(in_flight) >= f64::from(current) * 0.9 {
                shed += 1;
            }
            let rtt = healthy_latency(&mut rng);
            limit.on_sample(&settings, 200, rtt, false, in_flight, now);
            lowest = lowest.min(limit.limit());
        }
        (lowest, limit.limit(), shed)
    }

    #[test]
    fn a_healthy_origin_at_2000_per_second_keeps_its_limit_and_sees_no_sheds() {
        // ~12 in flight (2,000/s × ~6 ms), in bursts up to ~25: far below half the limit.
        let (lowest, last, shed) = two_thousand_per_second(|rng, _| poisson(rng, 12.0));
        // Against the single fastest latency in 30 s the usual one looked 3× slower, and an
        // under-used limit could only shrink: it fell to the floor of 20 and shed ~6%.
        assert_eq!(shed, 0, "lowest limit {lowest}, last {last}");
        assert_eq!(lowest, 100, "an under-used limit holds");
    }

    #[test]
    fn a_healthy_origin_using_the_whole_limit_lets_it_grow() {
        // Enough traffic to use the limit whole: latency noise alone must not push it down.
        let (lowest, last, _) = two_thousand_per_second(|_, limit| limit);
        assert_eq!(last, 200, "lowest limit {lowest}");
        // It dips while the first window's baseline forms, never near the floor of 20.
        assert!(lowest >= 40, "lowest limit {lowest}");
    }

    #[test]
    fn can_be_shared_between_threads() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<GradientLimit>();
    }
}
