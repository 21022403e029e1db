//! Member health from probe results, with rise/fall hysteresis (gdnsd's): a target starts up,
//! goes down after `fall` failures in a row and comes back after `rise` successes in a row, so a
//! member that fails every other probe never flaps. Time is passed in, never read here. The
//! answer path reads only two atomics per member.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use weir_config::HttpUrl;

/// The hysteresis state of one probe target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    up: bool,
    /// Results in a row that disagree with `up` (failures while up, successes while down).
    streak: u32,
    /// When `up` last changed (or the state began).
    since: Instant,
    /// The last probe's outcome, if any: when, whether it succeeded, and why not.
    last: Option<(Instant, bool)>,
}

impl Hysteresis {
    /// A target that has not been probed yet: up, so a fresh start or a new member serves.
    pub fn new(now: Instant) -> Hysteresis {
        Hysteresis {
            up: true,
            streak: 0,
            since: now,
            last: None,
        }
    }

    /// Counts one probe result; returns whether `up` changed.
    pub fn record(&mut self, ok: bool, now: Instant, rise: u32, fall: u32) -> bool {
        self.last = Some((now, ok));
        if ok == self.up {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        let needed = if self.up { fall } else { rise };
        if self.streak < needed.max(1) {
            return false;
        }
        self.up = ok;
        self.streak = 0;
        self.since = now;
        true
    }

    pub fn up(&self) -> bool {
        self.up
    }

    /// Whether results against the current state have started to come in.
    pub fn changing(&self) -> bool {
        self.streak > 0
    }

    pub fn since(&self) -> Instant {
        self.since
    }

    pub fn last(&self) -> Option<(Instant, bool)> {
        self.last
    }
}

/// One probe target (a `health` URL) shared by the members that name it, across reloads.
#[derive(Debug)]
pub struct Target {
    pub url: HttpUrl,
    up: AtomicBool,
    changing: AtomicBool,
    state: Mutex<Hysteresis>,
}

impl Target {
    pub fn new(url: HttpUrl, now: Instant) -> Target {
        Target {
            url,
            up: AtomicBool::new(true),
            changing: AtomicBool::new(false),
            state: Mutex::new(Hysteresis::new(now)),
        }
    }

    /// Counts a probe result; returns whether the target went up or down.
    pub fn record(&self, ok: bool, now: Instant, rise: u32, fall: u32) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = state.record(ok, now, rise, fall);
        self.up.store(state.up(), Ordering::Relaxed);
        self.changing.store(state.changing(), Ordering::Relaxed);
        changed
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn is_changing(&self) -> bool {
        self.changing.load(Ordering::Relaxed)
    }

    /// A copy of the hysteresis state, for `/status`.
    pub fn snapshot(&self) -> Hysteresis {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Feeds `results` one second apart from `start`; returns `up` after each.
    fn run(state: &mut Hysteresis, start: Instant, results: &[bool]) -> Vec<bool> {
        results
            .iter()
            .enumerate()
            .map(|(n, ok)| {
                state.record(*ok, start + Duration::from_secs(n as u64 + 1), 5, 3);
                state.up()
            })
            .collect()
    }

    #[test]
    fn down_after_fall_failures_and_up_after_rise_successes() {
        let start = Instant::now();
        let mut state = Hysteresis::new(start);
        assert!(state.up() && !state.changing() && state.last().is_none());
        let ups = run(&mut state, start, &[false, false, false]);
        assert_eq!(ups, [true, true, false]);
        assert_eq!(state.since(), start + Duration::from_secs(3));
        let mut state2 = state.clone();
        let ups = run(&mut state2, start, &[true, true, true, true, true]);
        assert_eq!(ups, [false, false, false, false, true]);
        assert_eq!(state2.since(), start + Duration::from_secs(5));
        assert_eq!(state2.last(), Some((start + Duration::from_secs(5), true)));
    }

    #[test]
    fn a_member_failing_every_other_probe_does_not_flap() {
        let start = Instant::now();
        let mut state = Hysteresis::new(start);
        let ups = run(
            &mut state,
            start,
            &[false, true, false, true, false, true, false, true],
        );
        assert!(ups.iter().all(|up| *up), "{ups:?}");
        // Down, then alternating: it never comes back.
        run(&mut state, start, &[false, false, false]);
        let ups = run(
            &mut state,
            start,
            &[true, false, true, true, false, true, true, true, true],
        );
        assert!(ups.iter().all(|up| !*up), "{ups:?}");
    }

    #[test]
    fn a_contrary_result_marks_the_state_as_changing() {
        let start = Instant::now();
        let target = Target::new(
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 1,
                path: "/".into(),
            },
            start,
        );
        assert!(!target.record(false, start, 5, 3));
        assert!(target.is_up() && target.is_changing());
        assert!(!target.record(true, start, 5, 3));
        assert!(target.is_up() && !target.is_changing());
        assert!(
            target.record(false, start, 5, 1),
            "fall = 1 takes it down at once"
        );
        assert!(!target.is_up());
        assert_eq!(target.snapshot().last(), Some((start, false)));
    }
}
