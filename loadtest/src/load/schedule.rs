//! The open model's arrival schedule: when the k-th request is due, for phases of constant or
//! linearly ramping rate. Pure arithmetic on seconds; no clock.
//!
//! The cumulative count of arrivals by time `t` is `N(t) = ∫₀ᵗ rate`; request `k` (from 0) is
//! due at the `t` where `N(t) = k`, so request 0 is due at the start and a constant rate `r`
//! spaces requests `1/r` apart. A ramp from `r0` to `r1` over `d` has
//! `N(t) = r0·t + (r1 − r0)·t²/(2d)`, inverted with the quadratic formula.

/// One stretch of the schedule: the rate goes linearly from `rate_from` to `rate_to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// Length in seconds (> 0).
    pub duration: f64,
    /// Requests per second at the start (≥ 0).
    pub rate_from: f64,
    /// Requests per second at the end (≥ 0).
    pub rate_to: f64,
}

impl Segment {
    /// A constant rate.
    pub fn steady(rate: f64, duration: f64) -> Self {
        Segment {
            duration,
            rate_from: rate,
            rate_to: rate,
        }
    }

    /// Arrivals in the whole segment (may be fractional).
    fn count(&self) -> f64 {
        (self.rate_from + self.rate_to) / 2.0 * self.duration
    }

    /// Arrivals in the first `t` seconds of the segment.
    fn count_by(&self, t: f64) -> f64 {
        let slope = (self.rate_to - self.rate_from) / self.duration;
        self.rate_from * t + slope * t * t / 2.0
    }

    /// The `t` within the segment at which `n` arrivals have happened (`n` ≤ `count()`).
    fn time_of(&self, n: f64) -> f64 {
        let slope = (self.rate_to - self.rate_from) / self.duration;
        let t = if slope.abs() < 1e-12 {
            n / self.rate_from
        } else {
            // slope/2·t² + r0·t − n = 0; the root that is ≥ 0 on either sign of slope.
            let disc = (self.rate_from * self.rate_from + 2.0 * slope * n).max(0.0);
            // Written as 2n / (r0 + √disc) to stay accurate when slope is tiny.
            let denom = self.rate_from + disc.sqrt();
            if denom <= 0.0 { 0.0 } else { 2.0 * n / denom }
        };
        t.clamp(0.0, self.duration)
    }
}

/// The whole run's schedule: segments back to back from time 0.
#[derive(Clone, Debug)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// Arrivals before each segment (prefix sums of `Segment::count`).
    before: Vec<f64>,
    /// Start of each segment in seconds.
    starts: Vec<f64>,
    total: f64,
    duration: f64,
}

impl Schedule {
    /// A schedule of the given segments (each with `duration > 0` and rates ≥ 0).
    pub fn new(segments: Vec<Segment>) -> Self {
        let mut before = Vec::with_capacity(segments.len());
        let mut starts = Vec::with_capacity(segments.len());
        let (mut total, mut start) = (0.0, 0.0);
        for segment in &segments {
            before.push(total);
            starts.push(start);
            total += segment.count();
            start += segment.duration;
        }
        Schedule {
            segments,
            before,
            starts,
            total,
            duration: start,
        }
    }

    /// Length of the schedule in seconds.
    pub fn duration(&self) -> f64 {
        self.duration
    }

    /// How many requests the schedule asks for in total.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        // Request k exists when it is due strictly before the end: k < total.
        self.total.ceil() as u64
    }

    /// When request `k` is due, in seconds from the start; `None` past the end.
    pub fn due(&self, k: u64) -> Option<f64> {
        let n = k as f64;
        if n >= self.total {
            return None;
        }
        // The last segment whose arrivals-before is ≤ n (segments of rate 0 have no arrivals
        // of their own and are skipped over by this search).
        let index = self.before.partition_point(|&b| b <= n).saturating_sub(1);
        let index = (index..self.segments.len())
            .find(|&i| self.before[i] + self.segments[i].count() > n)?;
        let within = self.segments[index].time_of(n - self.before[index]);
        Some(self.starts[index] + within)
    }

    /// Requests due in `[t0, t1)` (seconds).
    pub fn due_between(&self, t0: f64, t1: f64) -> u64 {
        self.arrivals_by(t1).ceil() as u64 - self.arrivals_by(t0).ceil() as u64
    }

    /// `N(t)`: arrivals in `[0, t]`, fractional.
    fn arrivals_by(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        if t >= self.duration {
            return self.total;
        }
        let index = self.starts.partition_point(|&s| s <= t).saturating_sub(1);
        self.before[index] + self.segments[index].count_by(t - self.starts[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn steady_rate_spaces_requests_evenly() {
        let s = Schedule::new(vec![Segment::steady(100.0, 2.0)]);
        assert_eq!(s.total(), 200);
        assert!(close(s.due(0).unwrap(), 0.0));
        assert!(close(s.due(1).unwrap(), 0.01));
        assert!(close(s.due(199).unwrap(), 1.99));
        assert_eq!(s.due(200), None);
        assert_eq!(s.due_between(0.0, 1.0), 100);
        assert_eq!(s.due_between(1.0, 2.0), 100);
    }

    #[test]
    fn fractional_total_rounds_up_to_requests_due_before_the_end() {
        // 2.5 requests/s for 1 s: due at 0, 0.4 and 0.8.
        let s = Schedule::new(vec![Segment::steady(2.5, 1.0)]);
        assert_eq!(s.total(), 3);
        assert!(close(s.due(2).unwrap(), 0.8));
        assert_eq!(s.due(3), None);
    }

    #[test]
    fn ramp_from_zero_accelerates() {
        // 0 → 100 req/s over 10 s: N(t) = 5 t², 500 requests in all.
        let s = Schedule::new(vec![Segment {
            duration: 10.0,
            rate_from: 0.0,
            rate_to: 100.0,
        }]);
        assert_eq!(s.total(), 500);
        assert!(close(s.due(0).unwrap(), 0.0));
        // N(t) = 125 at t = 5.
        assert!(close(s.due(125).unwrap(), 5.0));
        assert!(s.due(499).unwrap() < 10.0);
        assert_eq!(s.due_between(0.0, 5.0), 125);
    }

    #[test]
    fn ramp_down_is_inverted_too() {
        let s = Schedule::new(vec![Segment {
            duration: 10.0,
            rate_from: 100.0,
            rate_to: 0.0,
        }]);
        assert_eq!(s.total(), 500);
        // N(t) = 100 t − 5 t²: N(5) = 375.
        assert!(close(s.due(375).unwrap(), 5.0));
    }

    #[test]
    fn segments_follow_each_other() {
        let s = Schedule::new(vec![
            Segment::steady(10.0, 1.0),
            Segment::steady(0.0, 1.0),
            Segment::steady(100.0, 1.0),
        ]);
        assert_eq!(s.total(), 110);
        assert!(close(s.due(9).unwrap(), 0.9));
        // Nothing due during the silent second: request 10 is the first of the third segment.
        assert!(close(s.due(10).unwrap(), 2.0));
        assert!(close(s.due(11).unwrap(), 2.01));
        assert_eq!(s.due_between(1.0, 2.0), 0);
        assert_eq!(s.due_between(2.0, 3.0), 100);
        assert!(close(s.duration(), 3.0));
    }

    #[test]
    fn due_times_increase_across_a_spike() {
        let s = Schedule::new(vec![
            Segment {
                duration: 2.0,
                rate_from: 10.0,
                rate_to: 1000.0,
            },
            Segment::steady(5000.0, 1.0),
        ]);
        let mut last = -1.0;
        for k in 0..s.total() {
            let t = s.due(k).unwrap();
            assert!(t > last || (k == 0 && t == 0.0), "k={k} t={t} last={last}");
            last = t;
        }
        assert!(last < 3.0);
    }
}
