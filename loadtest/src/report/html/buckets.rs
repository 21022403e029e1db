//! The timeline grouped into at most [`MAX_BUCKETS`] buckets for the time charts, with the
//! per-second means each chart draws.

use crate::report::model::Second;

/// Most time buckets drawn per chart; longer runs are grouped into buckets of several seconds.
const MAX_BUCKETS: usize = 600;

/// The timeline grouped into at most [`MAX_BUCKETS`] buckets of `width` seconds; counts are
/// per-second means over the bucket.
pub(super) struct Buckets {
    pub(super) width: usize,
    pub(super) rows: Vec<Bucket>,
}

#[derive(Default)]
pub(super) struct Bucket {
    pub(super) t0: f64,
    pub(super) t1: f64,
    pub(super) scheduled: Option<f64>,
    pub(super) sent: f64,
    pub(super) completed: f64,
    /// The status chart's layers, in [`STATUS_SERIES`](super::palette::STATUS_SERIES) order.
    pub(super) stack: [f64; 6],
    /// Responses per second by group, in `group_by.values` order (empty without groups).
    pub(super) groups: Vec<f64>,
    pub(super) p50: Option<f64>,
    pub(super) p99: Option<f64>,
    pub(super) max: Option<f64>,
}

impl Buckets {
    pub(super) fn of(timeline: &[Second]) -> Self {
        let width = timeline.len().div_ceil(MAX_BUCKETS).max(1);
        let rows = timeline.chunks(width).map(Bucket::of).collect();
        Self { width, rows }
    }

    pub(super) fn per_label(&self) -> String {
        if self.width == 1 {
            "second".to_owned()
        } else {
            format!("{} seconds", self.width)
        }
    }

    pub(super) fn has_scheduled(&self) -> bool {
        self.rows.iter().any(|b| b.scheduled.is_some())
    }

    pub(super) fn has_other_status(&self) -> bool {
        self.rows.iter().any(|b| b.stack[1] > 0.0)
    }

    /// One point per bucket, at its middle.
    pub(super) fn line(&self, value: impl Fn(&Bucket) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
        self.rows.iter().map(|b| (b.mid(), value(b))).collect()
    }
}

impl Bucket {
    pub(super) fn of(seconds: &[Second]) -> Self {
        let n = seconds.len().max(1) as f64;
        let mean =
            |f: &dyn Fn(&Second) -> u64| seconds.iter().map(|s| f(s) as f64).sum::<f64>() / n;
        let t0 = seconds.first().map_or(0.0, |s| f64::from(s.t));
        let t1 = seconds.last().map_or(1.0, |s| f64::from(s.t) + 1.0);
        let scheduled = seconds
            .iter()
            .any(|s| s.scheduled.is_some())
            .then(|| mean(&|s| s.scheduled.unwrap_or(0)));
        let stack = [
            mean(&|s| s.status.s2xx),
            mean(&|s| s.status.s1xx.saturating_add(s.status.s3xx)),
            mean(&|s| s.status.s429),
            mean(&|s| s.status.s4xx),
            mean(&|s| s.status.s5xx),
            mean(&errors_of),
        ];
        let p50s: Vec<f64> = seconds.iter().filter_map(|s| s.p50_ms).collect();
        let width = seconds.iter().map(|s| s.groups.len()).max().unwrap_or(0);
        let groups = (0..width)
            .map(|i| mean(&|s| s.groups.get(i).copied().unwrap_or(0)))
            .collect();
        Self {
            t0,
            t1,
            scheduled,
            sent: mean(&|s| s.sent),
            completed: mean(&|s| s.completed),
            stack,
            groups,
            p50: (!p50s.is_empty()).then(|| p50s.iter().sum::<f64>() / p50s.len() as f64),
            p99: max_of(seconds.iter().filter_map(|s| s.p99_ms)),
            max: max_of(seconds.iter().filter_map(|s| s.max_ms)),
        }
    }

    pub(super) fn mid(&self) -> f64 {
        (self.t0 + self.t1) / 2.0
    }
}

fn errors_of(s: &Second) -> u64 {
    let e = &s.errors;
    [e.connect, e.timeout, e.io, e.protocol]
        .into_iter()
        .fold(0, u64::saturating_add)
}

pub(super) fn max_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.filter(|v| v.is_finite()).reduce(f64::max)
}
