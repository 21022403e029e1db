//! Recovery after a failure action: how long, in 100 ms slices, until the error rate was normal.
//!
//! A pure function of the run's slices; it cannot fail, and says `None` when there was no
//! recovery to see. The rules:
//!
//! - **Slices.** `slices[i]` covers `[i × 100 ms, (i + 1) × 100 ms)` from the start of the run:
//!   the requests scheduled in it, the requests that ended in it (completed or failed), and the
//!   errors among those (failed + 5xx). A slice's error rate is `errors / ended`.
//! - **Baseline.** The error rate over the slices before the one the action fired in, at most
//!   5 s of them. With less than 1 s of them (an action early in the run) the baseline is 0.
//! - **Normal.** A slice is normal when its error rate is at most
//!   `max(2 × baseline, baseline + 1 percentage point)`. A slice in which nothing ended is
//!   normal only when nothing was scheduled in it either: under a total outage requests hang
//!   until their timeout and nothing ends for a while, which is the opposite of normal.
//! - **Window.** From the slice the action fired in up to the end of the run, or up to the next
//!   failure action if one comes earlier (its effect is measured on its own). Only whole slices
//!   inside the window count.
//! - **Recovered.** At the first slice from which every slice is normal for 2 s (20 slices), or,
//!   when less than 2 s of the window is left, until the end of the window provided that is at
//!   least 1 s. `recovered_after_s` is that slice's start minus the action's time (0 when the
//!   rate never left normal), rounded to the millisecond; `None` when no slice qualifies.
//! - **Peak.** The highest error rate of a slice in the window (slices where nothing ended do
//!   not count; under a timeout outage the peak shows once the timeouts end).
//!
//! The per-slice rate is noisy at low request rates: with fewer than about 50 requests/s a single
//! error is already more than the 1-point margin. Scenarios that measure recovery should run at
//! a few hundred requests/s.

use crate::report::model::Recovery;

/// Length of one slice in seconds.
pub const SLICE_S: f64 = 0.1;
/// Longest baseline before the action: 5 s.
const BASELINE_SLICES: usize = 50;
/// Shortest baseline that is used: 1 s (shorter means baseline 0).
const MIN_BASELINE_SLICES: usize = 10;
/// How long the rate must stay normal: 2 s.
const STAY_SLICES: usize = 20;
/// At the end of the window, the least that counts as staying normal: 1 s.
const MIN_STAY_SLICES: usize = 10;
/// The extra error rate above the baseline that is still normal: 1 percentage point.
const MARGIN: f64 = 0.01;

/// One 100 ms slice of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    /// Requests the schedule asked for in this slice.
    pub scheduled: u64,
    /// Requests that completed or failed in this slice.
    pub ended: u64,
    /// Among `ended`: failed + 5xx.
    pub errors: u64,
}

impl Slice {
    fn error_rate(&self) -> Option<f64> {
        (self.ended > 0).then(|| self.errors as f64 / self.ended as f64)
    }

    fn is_normal(&self, limit: f64) -> bool {
        match self.error_rate() {
            Some(rate) => rate <= limit + 1e-12,
            None => self.scheduled == 0,
        }
    }
}

/// Measures the recovery after the failure action `action` that fired at `fired_at_s`; the
/// window ends at `run_end_s` or at `next_failure_s` (the next failure action), whichever comes
/// first. Times are seconds from the start of the run.
pub fn measure(
    action: &str,
    slices: &[Slice],
    fired_at_s: f64,
    run_end_s: f64,
    next_failure_s: Option<f64>,
) -> Recovery {
    let first = slice_index(fired_at_s.max(0.0)).min(slices.len());
    let window_end = next_failure_s.map_or(run_end_s, |next| next.min(run_end_s));
    let last = slice_index(window_end.max(0.0)).clamp(first, slices.len());
    let baseline = baseline(&slices[..first]);
    let limit = (2.0 * baseline).max(baseline + MARGIN);
    let window = &slices[first..last];
    let peak = window
        .iter()
        .filter_map(Slice::error_rate)
        .fold(0.0, f64::max);
    let recovered_after_s = first_stable(window, limit).map(|offset| {
        let start = (first + offset) as f64 * SLICE_S;
        round_ms((start - fired_at_s).max(0.0))
    });
    Recovery {
        action: action.to_string(),
        at_s: fired_at_s,
        baseline_error_rate: baseline,
        peak_error_rate: peak,
        recovered_after_s,
    }
}

/// The slice that contains time `t_s` (or, for a slice boundary, starts at it).
fn slice_index(t_s: f64) -> usize {
    (t_s / SLICE_S + 1e-6).floor() as usize
}

/// The error rate over the last [`BASELINE_SLICES`] of `before`, or 0 with too few of them.
fn baseline(before: &[Slice]) -> f64 {
    let window = &before[before.len().saturating_sub(BASELINE_SLICES)..];
    if window.len() < MIN_BASELINE_SLICES {
        return 0.0;
    }
    let ended: u64 = window.iter().map(|s| s.ended).sum();
    let errors: u64 = window.iter().map(|s| s.errors).sum();
    if ended == 0 {
        0.0
    } else {
        errors as f64 / ended as f64
    }
}

/// The first index from which the slices stay normal long enough (see the module doc).
fn first_stable(window: &[Slice], limit: f64) -> Option<usize> {
    // normal_run[i]: how many slices in a row are normal from i on.
    let mut normal_run = vec![0usize; window.len() + 1];
    for i in (0..window.len()).rev() {
        normal_run[i] = if window[i].is_normal(limit) {
            normal_run[i + 1] + 1
        } else {
            0
        };
    }
    (0..window.len()).find(|&i| {
        let left = window.len() - i;
        normal_run[i] >= STAY_SLICES || (normal_run[i] == left && left >= MIN_STAY_SLICES)
    })
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Slice = Slice {
        scheduled: 20,
        ended: 20,
        errors: 0,
    };
    const DOWN: Slice = Slice {
        scheduled: 20,
        ended: 20,
        errors: 20,
    };
    const HANGING: Slice = Slice {
        scheduled: 20,
        ended: 0,
        errors: 0,
    };
    const IDLE: Slice = Slice {
        scheduled: 0,
        ended: 0,
        errors: 0,
    };

    fn errors(errors: u64) -> Slice {
        Slice { errors, ..OK }
    }

    /// Builds a series from (slice, how many) runs.
    fn series(runs: &[(Slice, usize)]) -> Vec<Slice> {
        runs.iter()
            .flat_map(|&(slice, n)| std::iter::repeat_n(slice, n))
            .collect()
    }

    #[test]
    fn no_impact_recovers_at_once() {
        let slices = series(&[(OK, 200)]);
        let r = measure("fault", &slices, 10.0, 20.0, None);
        assert_eq!(r.action, "fault");
        assert_eq!(r.at_s, 10.0);
        assert_eq!(r.recovered_after_s, Some(0.0));
        assert_eq!(r.peak_error_rate, 0.0);
        assert_eq!(r.baseline_error_rate, 0.0);
    }

    #[test]
    fn outage_then_recovery() {
        // Action at 6 s; 1.5 s of errors; then clean until the end at 12 s.
        let slices = series(&[(OK, 60), (DOWN, 15), (OK, 45)]);
        let r = measure("fault", &slices, 6.0, 12.0, None);
        assert_eq!(r.recovered_after_s, Some(1.5));
        assert_eq!(r.peak_error_rate, 1.0);
    }

    #[test]
    fn action_inside_a_slice() {
        // Fired at 6.05 s; errors in slices 60..=64; slice 65 starts at 6.5 s.
        let slices = series(&[(OK, 60), (DOWN, 5), (OK, 40)]);
        let r = measure("fault", &slices, 6.05, 10.5, None);
        assert_eq!(r.recovered_after_s, Some(0.45));
    }

    #[test]
    fn never_recovers() {
        let slices = series(&[(OK, 60), (DOWN, 60)]);
        let r = measure("fault", &slices, 6.0, 12.0, None);
        assert_eq!(r.recovered_after_s, None);
        assert_eq!(r.peak_error_rate, 1.0);
    }

    #[test]
    fn relapse_within_two_seconds_restarts_the_count() {
        // Down 1 s, fine 1.5 s, down again 0.5 s, then fine for good.
        let slices = series(&[(OK, 60), (DOWN, 10), (OK, 15), (DOWN, 5), (OK, 40)]);
        let r = measure("fault", &slices, 6.0, 13.0, None);
        assert_eq!(r.recovered_after_s, Some(3.0));
    }

    #[test]
    fn noisy_baseline_sets_the_bar() {
        // Baseline 1 error in 20 = 5 %: up to 10 % is normal, 15 % is not.
        let slices = series(&[(errors(1), 50), (errors(3), 10), (errors(2), 30)]);
        let r = measure("fault", &slices, 5.0, 9.0, None);
        assert!((r.baseline_error_rate - 0.05).abs() < 1e-12);
        assert_eq!(r.recovered_after_s, Some(1.0));
        assert!((r.peak_error_rate - 0.15).abs() < 1e-12);
    }

    #[test]
    fn baseline_is_the_last_five_seconds() {
        // An old bad patch more than 5 s before the action does not count.
        let slices = series(&[(DOWN, 20), (OK, 50), (OK, 30)]);
        let r = measure("fault", &slices, 7.0, 10.0, None);
        assert_eq!(r.baseline_error_rate, 0.0);
    }

    #[test]
    fn short_baseline_is_zero() {
        // Only 0.5 s before the action: baseline 0, so 1 error in 20 (5 %) is not normal.
        let slices = series(&[(errors(1), 5), (errors(1), 10), (OK, 30)]);
        let r = measure("fault", &slices, 0.5, 4.5, None);
        assert_eq!(r.baseline_error_rate, 0.0);
        assert_eq!(r.recovered_after_s, Some(1.0));
        let at_start = measure("fault", &slices, 0.0, 4.5, None);
        assert_eq!(at_start.recovered_after_s, Some(1.5));
    }

    #[test]
    fn one_point_margin_over_a_clean_baseline() {
        // 1 error in 200 (0.5 %) is within baseline + 1 point.
        let quiet = Slice {
            scheduled: 200,
            ended: 200,
            errors: 1,
        };
        let slices = series(&[(OK, 60), (quiet, 30)]);
        let r = measure("fault", &slices, 6.0, 9.0, None);
        assert_eq!(r.recovered_after_s, Some(0.0));
        assert_eq!(r.peak_error_rate, 0.005);
    }

    #[test]
    fn hanging_requests_are_not_normal() {
        // Nothing ends for 2 s (timeouts), then the timeouts end as errors, then recovery.
        let slices = series(&[(OK, 60), (HANGING, 20), (DOWN, 5), (OK, 30)]);
        let r = measure("fault", &slices, 6.0, 11.5, None);
        assert_eq!(r.recovered_after_s, Some(2.5));
        assert_eq!(r.peak_error_rate, 1.0);
    }

    #[test]
    fn idle_slices_are_normal() {
        // Nothing scheduled for a while after the action: nothing to judge, nothing wrong.
        let slices = series(&[(OK, 60), (IDLE, 10), (OK, 20)]);
        let r = measure("fault", &slices, 6.0, 9.0, None);
        assert_eq!(r.recovered_after_s, Some(0.0));
        assert_eq!(r.peak_error_rate, 0.0);
    }

    #[test]
    fn the_next_failure_ends_the_window() {
        // Recovery would come at 8 s, but the next failure action fires at 7.5 s.
        let slices = series(&[(OK, 60), (DOWN, 20), (OK, 40)]);
        let r = measure("first", &slices, 6.0, 12.0, Some(7.5));
        assert_eq!(r.recovered_after_s, None);
        let later = measure("first", &slices, 6.0, 12.0, Some(11.0));
        assert_eq!(later.recovered_after_s, Some(2.0));
    }

    #[test]
    fn short_tail_at_the_end_of_the_run() {
        // 1.2 s of normal slices left at the end: enough (at least 1 s).
        let slices = series(&[(OK, 60), (DOWN, 10), (OK, 12)]);
        let r = measure("fault", &slices, 6.0, 8.2, None);
        assert_eq!(r.recovered_after_s, Some(1.0));
        // 0.8 s left: not enough to tell.
        let r = measure("fault", &slices, 6.0, 7.8, None);
        assert_eq!(r.recovered_after_s, None);
    }

    #[test]
    fn partial_last_slice_is_ignored() {
        // The run ends at 8.25 s: slice 82 (8.2..8.3) is not whole and does not count.
        let slices = series(&[(OK, 60), (DOWN, 12), (OK, 10), (DOWN, 1)]);
        let r = measure("fault", &slices, 6.0, 8.25, None);
        assert_eq!(r.recovered_after_s, Some(1.2));
    }

    #[test]
    fn action_after_the_slices_does_not_panic() {
        let slices = series(&[(OK, 10)]);
        let r = measure("late", &slices, 5.0, 6.0, None);
        assert_eq!(r.recovered_after_s, None);
        assert_eq!(r.peak_error_rate, 0.0);
        let none = measure("none", &[], 0.0, 0.0, None);
        assert_eq!(none.recovered_after_s, None);
    }
}
