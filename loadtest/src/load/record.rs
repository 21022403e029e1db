//! What the workers measure: latency histograms (corrected and uncorrected), per-second and
//! per-100 ms counts, per-phase totals. One `Recorder` per worker thread, merged at the end.
//!
//! Latencies are recorded in microseconds, from 1 µs to one hour with three significant digits
//! (longer values are clamped to an hour). Per-second histograms keep two digits, which is
//! plenty for a chart and keeps a long run's memory small.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::report::model::{ErrorCounts, StatusCounts};

/// Highest latency a histogram holds, in µs (one hour).
const MAX_MICROS: u64 = 3_600_000_000;
/// Length of one slice of the fine timeline (used to time recoveries).
pub const SLICE: Duration = Duration::from_millis(100);

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status and this many bytes read.
    Response { status: u16, bytes: u64 },
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
    pub outcome: Outcome,
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
            Outcome::Response { status, bytes } => {
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
        let (s, o) = (&mut self.status, &other.status);
        s.s1xx += o.s1xx;
        s.s2xx += o.s2xx;
        s.s3xx += o.s3xx;
        s.s4xx += o.s4xx;
        s.s429 += o.s429;
        s.s5xx += o.s5xx;
        let (e, o) = (&mut self.errors, &other.errors);
        e.connect += o.connect;
        e.timeout += o.timeout;
        e.io += o.io;
        e.protocol += o.protocol;
    }
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
}

/// One slice of the fine timeline: requests that ended in it, and how many of them were errors
/// (no response, or a 5xx).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SliceRecord {
    pub ended: u64,
    pub errors: u64,
}

/// Everything measured by one worker (or, merged, by all).
#[derive(Clone, Debug)]
pub struct Recorder {
    pub total: Counts,
    pub latency: Latencies,
    /// Per phase; empty when the run has one phase, which is then the whole run (recording it
    /// twice would cost every request two more histogram writes). Read through [`Self::phase`].
    phases: Vec<(Counts, Latencies)>,
    pub seconds: Vec<SecondRecord>,
    pub slices: Vec<SliceRecord>,
    /// Highest index a second or slice may have: the run's length plus its drain time.
    max_seconds: usize,
}

impl Recorder {
    /// A recorder for `phases` phases and a run of at most `max_seconds` seconds (later
    /// events are counted in the totals but not in the timelines).
    pub fn new(phases: usize, max_seconds: usize) -> Self {
        Recorder {
            total: Counts::default(),
            latency: Latencies::new(),
            phases: if phases > 1 {
                (0..phases)
                    .map(|_| (Counts::default(), Latencies::new()))
                    .collect()
            } else {
                Vec::new()
            },
            seconds: Vec::new(),
            slices: Vec::new(),
            max_seconds,
        }
    }

    /// A request was written, `at` seconds from the start, in `phase`.
    pub fn sent(&mut self, at: f64, phase: usize) {
        self.total.sent += 1;
        if let Some(phase) = self.phase_mut(phase) {
            phase.0.sent += 1;
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
        let is_error = match f.outcome {
            Outcome::Response { status, .. } => {
                let corrected = micros(f.ended - f.start);
                let uncorrected = micros(f.ended - f.sent);
                if let Some(phase) = self.phase_mut(f.phase) {
                    phase.1.record(corrected, uncorrected);
                }
                self.latency.record(corrected, uncorrected);
                if let Some(second) = self.second_mut(f.ended) {
                    second
                        .latency
                        .get_or_insert_with(second_histogram)
                        .saturating_record(corrected);
                }
                status >= 500
            }
            Outcome::Failed(_) => true,
        };
        if let Some(second) = self.second_mut(f.ended) {
            second.counts.add_outcome(f.outcome);
        }
        if let Some(slice) = self.slice_mut(f.ended) {
            slice.ended += 1;
            slice.errors += u64::from(is_error);
        }
    }

    /// Adds another worker's measurements to these.
    pub fn merge(&mut self, other: &Recorder) {
        self.total.merge(&other.total);
        self.latency.merge(&other.latency);
        for (mine, theirs) in self.phases.iter_mut().zip(&other.phases) {
            mine.0.merge(&theirs.0);
            mine.1.merge(&theirs.1);
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
            outcome: Outcome::Response { status, bytes: 100 },
        }
    }

    #[test]
    fn corrected_and_uncorrected_latency_differ_by_the_wait() {
        let mut r = Recorder::new(1, 10);
        r.sent(0.5, 0);
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
            r.sent(t, 0);
            r.finished(response(t, t, t + 0.01, status));
        }
        r.sent(2.0, 0);
        r.finished(Finished {
            start: 2.0,
            sent: 2.0,
            ended: 2.5,
            phase: 0,
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
        a.sent(0.1, 0);
        a.finished(response(0.1, 0.1, 0.2, 200));
        b.sent(3.1, 1);
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
        r.sent(0.1, 0);
        r.finished(response(0.1, 0.1, 0.2, 200));
        let (counts, latency) = r.phase(0).unwrap();
        assert_eq!(counts.completed, 1);
        assert_eq!(latency.corrected.len(), 1);
        assert!(r.phase(1).is_none());
    }

    #[test]
    fn events_past_the_timeline_only_count_in_totals() {
        let mut r = Recorder::new(1, 2);
        r.sent(5.0, 0);
        r.finished(response(5.0, 5.0, 5.1, 200));
        assert_eq!(r.total.completed, 1);
        assert!(r.seconds.is_empty());
        assert!(r.slices.is_empty());
    }
}
