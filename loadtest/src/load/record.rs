//! What the workers measure: latency histograms (corrected and uncorrected), per-second and
//! per-100 ms counts, per-phase and per-target totals, and responses by the value of a response
//! header (see `group`). One `Recorder` per worker thread, merged at the end.
//!
//! Latencies are recorded in microseconds, from 1 µs to one hour with three significant digits
//! (longer values are clamped to an hour). Per-second histograms keep two digits, which is
//! plenty for a chart and keeps a long run's memory small.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::group::{self, GroupId};
use crate::report::model::{ErrorCounts, StatusCounts};

/// Highest latency a histogram holds, in µs (one hour).
const MAX_MICROS: u64 = 3_600_000_000;
/// Length of one slice of the fine timeline (used to time recoveries).
pub const SLICE: Duration = Duration::from_millis(100);

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status and this many bytes read, in this group of the
    /// `--group-by-header` values ([`group::NONE`] when the run does not group).
    Response {
        status: u16,
        bytes: u64,
        group: GroupId,
    },
    /// No response.
    Failed(FailureKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Connect,
    Timeout,
    Io,
    Protocol,
}

/// One finished request, with its times in seconds from the start of the run.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// When its latency starts: the scheduled time if it had to wait for a free connection
    /// (open model), else when it was sent.
    pub start: f64,
    /// When it was written to the connection.
    pub sent: f64,
    /// When it ended.
    pub ended: f64,
    /// Its phase (by scheduled time).
    pub phase: usize,
    /// Its target (index into the plan's targets).
    pub target: usize,
    pub outcome: Outcome,
}

/// Whether an outcome counts as an error: no response, a 5xx, and a 429 when `count_429`.
pub fn is_error(outcome: Outcome, count_429: bool) -> bool {
    match outcome {
        Outcome::Response { status, .. } => status >= 500 || (count_429 && status == 429),
        Outcome::Failed(_) => true,
    }
}

/// Counts of a span (a second, a phase, the run).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub sent: u64,
    pub completed: u64,
    pub failed: u64,
    pub bytes: u64,
    pub status: StatusCounts,
    pub errors: ErrorCounts,
}

impl Counts {
    fn add_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Response { status, bytes, .. } => {
                self.completed += 1;
                self.bytes += bytes;
                add_status(&mut self.status, status);
            }
            Outcome::Failed(kind) => {
                self.failed += 1;
                let slot = match kind {
                    FailureKind::Connect => &mut self.errors.connect,
                    FailureKind::Timeout => &mut self.errors.timeout,
                    FailureKind::Io => &mut self.errors.io,
                    FailureKind::Protocol => &mut self.errors.protocol,
                };
                *slot += 1;
            }
        }
    }

    fn merge(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.completed += other.completed;
        self.failed += other.failed;
        self.bytes += other.bytes;
        merge_status(&mut self.status, &other.status);
        let (e, o) = (&mut self.errors, &other.errors);
        e.connect += o.connect;
        e.timeout += o.timeout;
        e.io += o.io;
        e.protocol += o.protocol;
    }
}

fn merge_status(s: &mut StatusCounts, o: &StatusCounts) {
    s.s1xx += o.s1xx;
    s.s2xx += o.s2xx;
    s.s3xx += o.s3xx;
    s.s4xx += o.s4xx;
    s.s429 += o.s429;
    s.s5xx += o.s5xx;
}

fn add_status(counts: &mut StatusCounts, status: u16) {
    let slot = match status {
        429 => &mut counts.s429,
        100..=199 => &mut counts.s1xx,
        200..=299 => &mut counts.s2xx,
        300..=399 => &mut counts.s3xx,
        400..=499 => &mut counts.s4xx,
        // 5xx, and anything odd a server may send (6xx..9xx), count as server errors.
        _ => &mut counts.s5xx,
    };
    *slot += 1;
}

/// Both latency views of a span.
#[derive(Clone, Debug)]
pub struct Latencies {
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            corrected: full_histogram(),
            uncorrected: full_histogram(),
        }
    }

    fn record(&mut self, corrected: u64, uncorrected: u64) {
        self.corrected.saturating_record(corrected);
        self.uncorrected.saturating_record(uncorrected);
    }

    fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
    }
}

fn full_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// One second of the timeline.
#[derive(Clone, Debug, Default)]
pub struct SecondRecord {
    /// Sent in this second; completions and failures by the second they ended in.
    pub counts: Counts,
    /// Corrected latencies of the responses that arrived in this second.
    pub latency: Option<Histogram<u32>>,
    /// Responses that arrived in this second by group ([`group::SLOTS`] of them when the run
    /// groups responses, else empty).
    pub groups: Vec<u64>,
}

/// One slice of the fine timeline: requests that ended in it, and how many of them were errors
/// (no response, or a 5xx).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SliceRecord {
    pub ended: u64,
    pub errors: u64,
}

/// Counts and corrected latency of one target.
#[derive(Clone, Debug)]
pub struct TargetRecord {
    pub counts: Counts,
    pub latency: Histogram<u64>,
}

/// What a recorder keeps apart besides the totals.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub phases: usize,
    pub targets: usize,
    /// Highest index a second may have (see [`Recorder::new`]).
    pub max_seconds: usize,
    /// Whether responses are counted by group (`--group-by-header`).
    pub grouped: bool,
    /// Whether a 429 counts as an error in the fine timeline (recovery times).
    pub count_429: bool,
}

/// Everything measured by one worker (or, merged, by all).
#[derive(Clone, Debug)]
pub struct Recorder {
    pub total: Counts,
    pub latency: Latencies,
    /// Per phase; empty when the run has one phase, which is then the whole run (recording it
    /// twice would cost every request two more histogram writes). Read through [`Self::phase`].
    phases: Vec<(Counts, Latencies)>,
    /// Per target; empty when the run has one target (then the whole run). Read through
    /// [`Self::target`].
    targets: Vec<TargetRecord>,
    pub seconds: Vec<SecondRecord>,
    pub slices: Vec<SliceRecord>,
    /// Responses by group over the whole run, [`group::SLOTS`] of them when grouped, else empty.
    pub groups: Vec<StatusCounts>,
    /// The header value of each group number below [`group::OTHER`], in order.
    pub group_values: Vec<String>,
    /// Highest index a second or slice may have: the run's length plus its drain time.
    max_seconds: usize,
    count_429: bool,
}

impl Recorder {
    /// A recorder for `phases` phases, one target and a run of at most `max_seconds` seconds
    /// (later events are counted in the totals but not in the timelines).
    pub fn new(phases: usize, max_seconds: usize) -> Self {
        Self::with_layout(Layout {
            phases,
            targets: 1,
            max_seconds,
            grouped: false,
            count_429: false,
        })
    }

    /// A recorder that keeps apart what `layout` asks for.
    pub fn with_layout(layout: Layout) -> Self {
        Recorder {
            total: Counts::default(),
            latency: Latencies::new(),
            phases: if layout.phases > 1 {
                (0..layout.phases)
                    .map(|_| (Counts::default(), Latencies::new()))
                    .collect()
            } else {
                Vec::new()
            },
            targets: if layout.targets > 1 {
                (0..layout.targets)
                    .map(|_| TargetRecord {
                        counts: Counts::default(),
                        latency: full_histogram(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            seconds: Vec::new(),
            slices: Vec::new(),
            groups: if layout.grouped {
                vec![StatusCounts::default(); group::SLOTS]
            } else {
                Vec::new()
            },
            group_values: Vec::new(),
            max_seconds: layout.max_seconds,
            count_429: layout.count_429,
        }
    }

    /// A request to `target` was written, `at` seconds from the start, in `phase`.
    pub fn sent(&mut self, at: f64, phase: usize, target: usize) {
        self.total.sent += 1;
        if let Some(phase) = self.phase_mut(phase) {
            phase.0.sent += 1;
        }
        if let Some(target) = self.targets.get_mut(target) {
            target.counts.sent += 1;
        }
        if let Some(second) = self.second_mut(at) {
            second.counts.sent += 1;
        }
    }

    /// A request ended.
    pub fn finished(&mut self, f: Finished) {
        self.total.add_outcome(f.outcome);
        if let Some(phase) = self.phase_mut(f.phase) {
            phase.0.add_outcome(f.outcome);
        }
        if let Some(target) = self.targets.get_mut(f.target) {
            target.counts.add_outcome(f.outcome);
        }
        if let Outcome::Response { status, group, .. } = f.outcome {
            let corrected = micros(f.ended - f.start);
            let uncorrected = micros(f.ended - f.sent);
            if let Some(phase) = self.phase_mut(f.phase) {
                phase.1.record(corrected, uncorrected);
            }
            if let Some(target) = self.targets.get_mut(f.target) {
                target.latency.saturating_record(corrected);
            }
            self.latency.record(corrected, uncorrected);
            if let Some(counts) = self.groups.get_mut(usize::from(group)) {
                add_status(counts, status);
            }
            let grouped = !self.groups.is_empty() && usize::from(group) < group::SLOTS;
            if let Some(second) = self.second_mut(f.ended) {
                second
                    .latency
                    .get_or_insert_with(second_histogram)
                    .saturating_record(corrected);
                if grouped {
                    if second.groups.is_empty() {
                        second.groups = vec![0; group::SLOTS];
                    }
                    second.groups[usize::from(group)] += 1;
                }
            }
        }
        let error = is_error(f.outcome, self.count_429);
        if let Some(second) = self.second_mut(f.ended) {
            second.counts.add_outcome(f.outcome);
        }
        if let Some(slice) = self.slice_mut(f.ended) {
            slice.ended += 1;
            slice.errors += u64::from(error);
        }
    }

    /// Adds another worker's measurements to these. Groups are matched by header value: a
    /// value this recorder has not seen takes a free group, or [`group::OTHER`] when there is
    /// none, so the merged groups stay bounded too.
    pub fn merge(&mut self, other: &Recorder) {
        self.total.merge(&other.total);
        self.latency.merge(&other.latency);
        for (mine, theirs) in self.phases.iter_mut().zip(&other.phases) {
            mine.0.merge(&theirs.0);
            mine.1.merge(&theirs.1);
        }
        for (mine, theirs) in self.targets.iter_mut().zip(&other.targets) {
            mine.counts.merge(&theirs.counts);
            let _ = mine.latency.add(&theirs.latency);
        }
        let map = self.group_map(other);
        for (slot, theirs) in other.groups.iter().enumerate() {
            if let Some(mine) = self.groups.get_mut(map[slot]) {
                merge_status(mine, theirs);
            }
        }
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Default::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.counts.merge(&theirs.counts);
            if let Some(h) = &theirs.latency {
                let _ = mine.latency.get_or_insert_with(second_histogram).add(h);
            }
            if !theirs.groups.is_empty() && mine.groups.is_empty() {
                mine.groups = vec![0; group::SLOTS];
            }
            for (slot, n) in theirs.groups.iter().enumerate() {
                if let Some(mine) = mine.groups.get_mut(map[slot]) {
                    *mine += n;
                }
            }
        }
        if self.slices.len() < other.slices.len() {
            self.slices
                .resize(other.slices.len(), SliceRecord::default());
        }
        for (mine, theirs) in self.slices.iter_mut().zip(&other.slices) {
            mine.ended += theirs.ended;
            mine.errors += theirs.errors;
        }
    }

    /// For each of `other`'s group slots, the slot of the same value here (adding values this
    /// recorder has not seen while there is room).
    fn group_map(&mut self, other: &Recorder) -> [usize; group::SLOTS] {
        let mut map = [0; group::SLOTS];
        for (slot, entry) in map.iter_mut().enumerate() {
            *entry = slot;
        }
        for (slot, value) in other.group_values.iter().enumerate() {
            map[slot] = match self.group_values.iter().position(|v| v == value) {
                Some(index) => index,
                None if self.group_values.len() < group::MAX_VALUES => {
                    self.group_values.push(value.clone());
                    self.group_values.len() - 1
                }
                None => usize::from(group::OTHER),
            };
        }
        map
    }

    /// The counts and corrected latency of one target (of the whole run when there is one).
    pub fn target(&self, target: usize) -> Option<(&Counts, &Histogram<u64>)> {
        if self.targets.is_empty() {
            return (target == 0).then_some((&self.total, &self.latency.corrected));
        }
        self.targets.get(target).map(|t| (&t.counts, &t.latency))
    }

    fn phase_mut(&mut self, phase: usize) -> Option<&mut (Counts, Latencies)> {
        let last = self.phases.len().checked_sub(1)?;
        self.phases.get_mut(phase.min(last))
    }

    /// The counts and latencies of one phase (of the whole run when there is one phase).
    pub fn phase(&self, phase: usize) -> Option<(&Counts, &Latencies)> {
        if self.phases.is_empty() {
            return (phase == 0).then_some((&self.total, &self.latency));
        }
        self.phases.get(phase).map(|(c, l)| (c, l))
    }

    fn second_mut(&mut self, at: f64) -> Option<&mut SecondRecord> {
        let index = at.max(0.0) as usize;
        if index >= self.max_seconds {
            return None;
        }
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Default::default);
        }
        Some(&mut self.seconds[index])
    }

    fn slice_mut(&mut self, at: f64) -> Option<&mut SliceRecord> {
        let index = (at.max(0.0) / SLICE.as_secs_f64()) as usize;
        if index >= self.max_seconds * 10 {
            return None;
        }
        if self.slices.len() <= index {
            self.slices.resize(index + 1, SliceRecord::default());
        }
        Some(&mut self.slices[index])
    }
}

fn second_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("valid histogram bounds")
}

/// Seconds → whole microseconds, at least 1 (the histogram's lowest value).
fn micros(seconds: f64) -> u64 {
    ((seconds * 1e6).round() as u64).clamp(1, MAX_MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(start: f64, sent: f64, ended: f64, status: u16) -> Finished {
        Finished {
            start,
            sent,
            ended,
            phase: 0,
            target: 0,
            outcome: Outcome::Response {
                status,
                bytes: 100,
                group: group::NONE,
            },
        }
    }

    #[test]
    fn corrected_and_uncorrected_latency_differ_by_the_wait() {
        let mut r = Recorder::new(1, 10);
        r.sent(0.5, 0, 0);
        r.finished(response(0.0, 0.5, 0.501, 200));
        assert_eq!(
            r.latency.corrected.max(),
            r.latency.corrected.highest_equivalent(501_000)
        );
        assert_eq!(r.latency.uncorrected.max(), 1000);
        assert_eq!(r.total.status.s2xx, 1);
        assert_eq!(r.total.bytes, 100);
    }

    #[test]
    fn statuses_errors_seconds_and_slices() {
        let mut r = Recorder::new(1, 10);
        for (t, status) in [
            (0.05, 200),
            (0.15, 429),
            (1.2, 503),
            (1.25, 404),
            (1.3, 600),
        ] {
            r.sent(t, 0, 0);
            r.finished(response(t, t, t + 0.01, status));
        }
        r.sent(2.0, 0, 0);
        r.finished(Finished {
            start: 2.0,
            sent: 2.0,
            ended: 2.5,
            phase: 0,
            target: 0,
            outcome: Outcome::Failed(FailureKind::Timeout),
        });
        let s = r.total.status;
        assert_eq!((s.s2xx, s.s429, s.s4xx, s.s5xx), (1, 1, 1, 2));
        assert_eq!(r.total.errors.timeout, 1);
        assert_eq!(r.total.failed, 1);
        assert_eq!(r.seconds.len(), 3);
        assert_eq!(r.seconds[1].counts.completed, 3);
        assert_eq!(r.seconds[2].counts.failed, 1);
        assert!(r.seconds[2].latency.is_none());
        assert_eq!(
            r.slices[25],
            SliceRecord {
                ended: 1,
                errors: 1
            }
        );
        assert_eq!(
            r.slices[12],
            SliceRecord {
                ended: 2,
                errors: 1
            }
        );
        assert_eq!(
            r.slices[13],
            SliceRecord {
                ended: 1,
                errors: 1
            }
        );
        assert_eq!(
            r.slices[1],
            SliceRecord {
                ended: 1,
                errors: 0
            }
        );
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Recorder::new(2, 10);
        let mut b = Recorder::new(2, 10);
        a.sent(0.1, 0, 0);
        a.finished(response(0.1, 0.1, 0.2, 200));
        b.sent(3.1, 1, 0);
        b.finished(Finished {
            phase: 1,
            ..response(3.1, 3.1, 3.2, 500)
        });
        a.merge(&b);
        assert_eq!(a.total.sent, 2);
        assert_eq!(a.latency.corrected.len(), 2);
        assert_eq!(a.phase(1).unwrap().0.status.s5xx, 1);
        assert_eq!(a.phase(0).unwrap().0.sent, 1);
        assert_eq!(a.seconds.len(), 4);
        assert_eq!(a.slices[32].errors, 1);
    }

    #[test]
    fn one_phase_is_the_whole_run() {
        let mut r = Recorder::new(1, 10);
        r.sent(0.1, 0, 0);
        r.finished(response(0.1, 0.1, 0.2, 200));
        let (counts, latency) = r.phase(0).unwrap();
        assert_eq!(counts.completed, 1);
        assert_eq!(latency.corrected.len(), 1);
        assert!(r.phase(1).is_none());
    }

    fn layout(targets: usize, grouped: bool, count_429: bool) -> Layout {
        Layout {
            phases: 1,
            targets,
            max_seconds: 10,
            grouped,
            count_429,
        }
    }

    fn in_group(at: f64, target: usize, status: u16, group: GroupId) -> Finished {
        Finished {
            target,
            outcome: Outcome::Response {
                status,
                bytes: 1,
                group,
            },
            ..response(at, at, at + 0.001, status)
        }
    }

    #[test]
    fn each_target_has_its_counts_and_latency() {
        let mut r = Recorder::with_layout(layout(2, false, false));
        for (t, target, status) in [(0.1, 0, 200), (0.2, 1, 503), (0.3, 1, 200)] {
            r.sent(t, 0, target);
            r.finished(in_group(t, target, status, group::NONE));
        }
        let (a, a_latency) = r.target(0).unwrap();
        assert_eq!((a.sent, a.completed, a.status.s2xx), (1, 1, 1));
        assert_eq!(a_latency.len(), 1);
        let (b, b_latency) = r.target(1).unwrap();
        assert_eq!((b.sent, b.status.s2xx, b.status.s5xx), (2, 1, 1));
        assert_eq!(b_latency.len(), 2);
        assert!(r.target(2).is_none());
        let mut other = Recorder::with_layout(layout(2, false, false));
        other.sent(0.4, 0, 1);
        other.finished(in_group(0.4, 1, 200, group::NONE));
        r.merge(&other);
        assert_eq!(r.target(1).unwrap().0.sent, 3);
        // One target is the whole run.
        let single = Recorder::new(1, 10);
        assert!(single.target(0).is_some() && single.target(1).is_none());
    }

    #[test]
    fn groups_count_per_second_and_merge_by_value() {
        let mut a = Recorder::with_layout(layout(1, true, false));
        a.group_values = vec!["us-east".into(), "eu-west".into()];
        a.finished(in_group(0.5, 0, 200, 0));
        a.finished(in_group(1.5, 0, 200, 1));
        a.finished(in_group(1.6, 0, 200, group::MISSING));
        let mut b = Recorder::with_layout(layout(1, true, false));
        // The other thread saw the values in another order, and one more.
        b.group_values = vec!["eu-west".into(), "ap-south".into()];
        b.finished(in_group(1.7, 0, 503, 0));
        b.finished(in_group(1.8, 0, 200, 1));
        a.merge(&b);
        assert_eq!(a.group_values, vec!["us-east", "eu-west", "ap-south"]);
        assert_eq!(a.seconds[0].groups[0], 1);
        assert_eq!(&a.seconds[1].groups[..3], &[0, 2, 1]);
        assert_eq!(a.seconds[1].groups[usize::from(group::MISSING)], 1);
        assert_eq!(a.groups[1].s5xx, 1);
        assert_eq!(a.groups[1].s2xx, 1);
        // Merged values stay bounded: past the limit they count as other.
        let mut full = Recorder::with_layout(layout(1, true, false));
        full.group_values = (0..group::MAX_VALUES).map(|i| format!("v{i}")).collect();
        full.merge(&b);
        assert_eq!(full.group_values.len(), group::MAX_VALUES);
        assert_eq!(full.seconds[1].groups[usize::from(group::OTHER)], 2);
    }

    #[test]
    fn a_429_is_an_error_only_when_asked() {
        for (count_429, errors) in [(false, 0), (true, 1)] {
            let mut r = Recorder::with_layout(layout(1, false, count_429));
            r.finished(response(0.05, 0.05, 0.06, 429));
            assert_eq!(r.slices[0].errors, errors, "count_429 = {count_429}");
        }
        assert!(is_error(Outcome::Failed(FailureKind::Io), false));
    }

    #[test]
    fn events_past_the_timeline_only_count_in_totals() {
        let mut r = Recorder::new(1, 2);
        r.sent(5.0, 0, 0);
        r.finished(response(5.0, 5.0, 5.1, 200));
        assert_eq!(r.total.completed, 1);
        assert!(r.seconds.is_empty());
        assert!(r.slices.is_empty());
    }
}
