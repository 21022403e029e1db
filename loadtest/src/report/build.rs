//! Builds a [`Report`] from what the workers recorded and what the run was asked to do.

use hdrhistogram::Histogram;

use super::model::{
    GroupKind, GroupReport, GroupValue, HttpVersion, LatencyStats, LatencyViews, Model, Percentile,
    PhaseReport, Report, RunConfig, SCHEMA, Second, SpectrumPoint, StatusCounts, Summary,
    TargetInfo, TargetReport,
};
use crate::load::group;
use crate::load::record::{Counts, Latencies, Recorder};
use crate::load::schedule::Schedule;

/// The percentiles every latency view lists.
pub const PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];
/// Spectrum resolution: ticks per halving of the distance to 100% (as wrk2 prints it).
const SPECTRUM_TICKS_PER_HALF: u32 = 5;

/// A phase as planned.
#[derive(Clone, Debug)]
pub struct PhasePlan {
    pub name: String,
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
    /// `None` in the closed model.
    pub rate_from: Option<f64>,
    pub rate_to: Option<f64>,
}

/// What the run was asked to do, for the report.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub scenario: Option<String>,
    pub started_at_unix_ms: u64,
    pub targets: Vec<TargetInfo>,
    pub http: HttpVersion,
    pub connections: u32,
    pub concurrency: u32,
    pub threads: u32,
    pub duration_s: f64,
    pub timeout_ms: f64,
    pub phases: Vec<PhasePlan>,
    /// Whether a 429 counts as an error.
    pub count_429_as_error: bool,
    /// The `--group-by-header` header, lowercase.
    pub group_by: Option<String>,
}

/// The report of a finished run; actions, recoveries and assertions are left empty for the
/// caller to fill.
pub fn build(info: RunInfo, recorded: &Recorder, schedule: Option<&Schedule>) -> Report {
    let duration = info.duration_s;
    let count_429 = info.count_429_as_error;
    let scheduled = schedule.map(|s| s.due_between(0.0, duration));
    let summary = summary(&recorded.total, duration, scheduled, count_429);
    let phases = info
        .phases
        .iter()
        .enumerate()
        .map(|(index, plan)| phase_report(plan, recorded.phase(index), schedule, count_429))
        .collect();
    let targets = info
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| target_report(target, recorded, index, duration, count_429))
        .collect();
    let groups = info
        .group_by
        .as_ref()
        .map(|header| Groups::of(header, recorded));
    Report {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at_unix_ms: info.started_at_unix_ms,
        config: RunConfig {
            scenario: info.scenario,
            targets: info.targets,
            model: if schedule.is_some() {
                Model::Open
            } else {
                Model::Closed
            },
            http: info.http,
            connections: info.connections,
            concurrency: info.concurrency,
            threads: info.threads,
            duration_s: duration,
            timeout_ms: info.timeout_ms,
            count_429_as_error: count_429,
        },
        summary,
        latency: views(&recorded.latency),
        timeline: timeline(recorded, duration, schedule, groups.as_ref()),
        phases,
        targets,
        group_by: groups.map(|g| g.report),
        actions: Vec::new(),
        recoveries: Vec::new(),
        assertions: Vec::new(),
    }
}

fn phase_report(
    plan: &PhasePlan,
    recorded: Option<(&Counts, &Latencies)>,
    schedule: Option<&Schedule>,
    count_429: bool,
) -> PhaseReport {
    let duration = plan.end_s - plan.start_s;
    let scheduled = schedule.map(|s| s.due_between(plan.start_s, plan.end_s));
    let (summary, latency) = match recorded {
        Some((counts, latencies)) => (
            summary(counts, duration, scheduled, count_429),
            views(latencies),
        ),
        None => (
            summary(&Counts::default(), duration, scheduled, count_429),
            LatencyViews::default(),
        ),
    };
    PhaseReport {
        name: plan.name.clone(),
        kind: plan.kind.clone(),
        start_s: plan.start_s,
        end_s: plan.end_s,
        rate_from: plan.rate_from,
        rate_to: plan.rate_to,
        summary,
        latency,
    }
}

fn target_report(
    target: &TargetInfo,
    recorded: &Recorder,
    index: usize,
    duration: f64,
    count_429: bool,
) -> TargetReport {
    let (summary, latency) = match recorded.target(index) {
        Some((counts, latency)) => (summary(counts, duration, None, count_429), stats(latency)),
        None => (
            summary(&Counts::default(), duration, None, count_429),
            LatencyStats::default(),
        ),
    };
    TargetReport {
        url: target.url.clone(),
        method: target.method.clone(),
        weight: target.weight,
        summary,
        latency,
    }
}

/// The groups of a run that counted responses by a header, and where each recorded group slot
/// goes in the report's list.
struct Groups {
    report: GroupReport,
    /// Index in `report.values` of each slot, `None` for a slot with no response.
    index: [Option<usize>; group::SLOTS],
}

impl Groups {
    fn of(header: &str, recorded: &Recorder) -> Self {
        let mut values = Vec::new();
        let mut index = [None; group::SLOTS];
        let empty = StatusCounts::default();
        for (slot, entry) in index.iter_mut().enumerate() {
            let status = recorded.groups.get(slot).copied().unwrap_or(empty);
            let (value, kind) = match slot {
                s if s == usize::from(group::OTHER) => (None, GroupKind::Other),
                s if s == usize::from(group::MISSING) => (None, GroupKind::Missing),
                s => match recorded.group_values.get(s) {
                    Some(value) => (Some(value.clone()), GroupKind::Value),
                    None => continue,
                },
            };
            let responses = status_total(&status);
            if kind != GroupKind::Value && responses == 0 {
                continue;
            }
            *entry = Some(values.len());
            values.push(GroupValue {
                value,
                kind,
                responses,
                status,
            });
        }
        Groups {
            report: GroupReport {
                header: header.to_owned(),
                max_values: group::MAX_VALUES as u32,
                values,
            },
            index,
        }
    }

    /// A second's counts by slot, as the report lists the groups.
    fn second(&self, by_slot: &[u64]) -> Vec<u64> {
        let mut out = vec![0; self.report.values.len()];
        for (slot, n) in by_slot.iter().enumerate() {
            if let Some(Some(i)) = self.index.get(slot) {
                out[*i] += n;
            }
        }
        out
    }
}

fn status_total(s: &StatusCounts) -> u64 {
    [s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s429, s.s5xx]
        .into_iter()
        .fold(0, u64::saturating_add)
}

/// Totals of a span of `duration` seconds; `count_429` makes a 429 an error.
pub fn summary(counts: &Counts, duration: f64, scheduled: Option<u64>, count_429: bool) -> Summary {
    let per_second = |n: u64| {
        if duration > 0.0 {
            n as f64 / duration
        } else {
            0.0
        }
    };
    let ended = counts.completed + counts.failed;
    let mut errors = counts.failed + counts.status.s5xx;
    if count_429 {
        errors += counts.status.s429;
    }
    Summary {
        duration_s: duration,
        scheduled,
        sent: counts.sent,
        completed: counts.completed,
        failed: counts.failed,
        target_rate: scheduled.map(per_second),
        sent_rate: per_second(counts.sent),
        throughput: per_second(counts.completed),
        bytes_received: counts.bytes,
        status: counts.status,
        errors: counts.errors,
        error_count: errors,
        error_rate: if ended == 0 {
            0.0
        } else {
            errors as f64 / ended as f64
        },
    }
}

fn views(latencies: &Latencies) -> LatencyViews {
    LatencyViews {
        corrected: stats(&latencies.corrected),
        uncorrected: stats(&latencies.uncorrected),
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The figures of one histogram of µs, in ms.
pub fn stats(h: &Histogram<u64>) -> LatencyStats {
    if h.is_empty() {
        return LatencyStats::default();
    }
    let percentiles = PERCENTILES
        .iter()
        .map(|&p| Percentile {
            percentile: p,
            ms: ms(h.value_at_percentile(p)),
        })
        .collect();
    let spectrum = h
        .iter_quantiles(SPECTRUM_TICKS_PER_HALF)
        .map(|v| SpectrumPoint {
            ms: ms(v.value_iterated_to()),
            quantile: v.quantile_iterated_to(),
            total_count: h.count_between(0, v.value_iterated_to()),
        })
        .collect();
    LatencyStats {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: h.mean() / 1000.0,
        stdev_ms: h.stdev() / 1000.0,
        max_ms: ms(h.max()),
        percentiles,
        spectrum,
    }
}

fn timeline(
    recorded: &Recorder,
    duration: f64,
    schedule: Option<&Schedule>,
    groups: Option<&Groups>,
) -> Vec<Second> {
    let seconds = (duration.ceil() as usize).max(recorded.seconds.len());
    (0..seconds)
        .map(|t| {
            let record = recorded.seconds.get(t);
            let counts = record.map(|r| r.counts).unwrap_or_default();
            let latency = record.and_then(|r| r.latency.as_ref());
            let at = |q: f64| latency.map(|h| ms(h.value_at_quantile(q)));
            Second {
                t: t as u32,
                scheduled: schedule.map(|s| s.due_between(t as f64, (t + 1) as f64)),
                sent: counts.sent,
                completed: counts.completed,
                status: counts.status,
                errors: counts.errors,
                p50_ms: at(0.5),
                p99_ms: at(0.99),
                max_ms: latency.map(|h| ms(h.max())),
                groups: groups.map_or_else(Vec::new, |g| {
                    g.second(record.map_or(&[][..], |r| &r.groups[..]))
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::{Finished, Outcome};
    use crate::load::schedule::Segment;

    fn info() -> RunInfo {
        RunInfo {
            scenario: None,
            started_at_unix_ms: 0,
            targets: vec![],
            http: HttpVersion::Http1,
            connections: 1,
            concurrency: 1,
            threads: 1,
            duration_s: 2.0,
            timeout_ms: 1000.0,
            phases: vec![PhasePlan {
                name: "main".into(),
                kind: "steady".into(),
                start_s: 0.0,
                end_s: 2.0,
                rate_from: Some(10.0),
                rate_to: Some(10.0),
            }],
            count_429_as_error: false,
            group_by: None,
        }
    }

    #[test]
    fn builds_summary_latency_and_timeline() {
        let mut r = Recorder::new(1, 10);
        for i in 0..20 {
            let t = f64::from(i) * 0.1;
            r.sent(t, 0, 0);
            r.finished(Finished {
                start: t,
                sent: t,
                ended: t + 0.002,
                phase: 0,
                target: 0,
                outcome: Outcome::Response {
                    status: if i == 0 { 500 } else { 200 },
                    bytes: 10,
                    group: group::NONE,
                },
            });
        }
        let schedule = Schedule::new(vec![Segment::steady(10.0, 2.0)]);
        let report = build(info(), &r, Some(&schedule));
        assert_eq!(report.config.model, Model::Open);
        assert_eq!(report.summary.scheduled, Some(20));
        assert_eq!(report.summary.sent, 20);
        assert!((report.summary.throughput - 10.0).abs() < 1e-9);
        assert!((report.summary.error_rate - 0.05).abs() < 1e-9);
        assert_eq!(report.latency.corrected.count, 20);
        assert!((report.latency.corrected.percentiles[0].ms - 2.0).abs() < 0.01);
        assert_eq!(
            report.latency.corrected.percentiles.len(),
            PERCENTILES.len()
        );
        let last = report.latency.corrected.spectrum.last().unwrap();
        assert_eq!(last.total_count, 20);
        assert_eq!(report.timeline.len(), 2);
        assert_eq!(report.timeline[0].scheduled, Some(10));
        assert_eq!(report.timeline[1].completed, 10);
        assert_eq!(report.phases[0].summary.sent, 20);
    }

    #[test]
    fn groups_list_the_values_seen_and_align_the_timeline() {
        use crate::load::record::Layout;
        let mut r = Recorder::with_layout(Layout {
            phases: 1,
            targets: 1,
            max_seconds: 10,
            grouped: true,
            count_429: true,
        });
        r.group_values = vec!["us-east".to_owned()];
        for (t, status, group) in [(0.1, 200, 0), (1.1, 429, group::MISSING), (1.2, 503, 0)] {
            r.sent(t, 0, 0);
            r.finished(Finished {
                start: t,
                sent: t,
                ended: t + 0.001,
                phase: 0,
                target: 0,
                outcome: Outcome::Response {
                    status,
                    bytes: 1,
                    group,
                },
            });
        }
        let report = build(
            RunInfo {
                count_429_as_error: true,
                group_by: Some("x-weir-origin-region".to_owned()),
                ..info()
            },
            &r,
            None,
        );
        let groups = report.group_by.expect("grouped");
        let kinds: Vec<_> = groups
            .values
            .iter()
            .map(|v| (v.kind, v.responses))
            .collect();
        // `other` had no response: not listed.
        assert_eq!(kinds, [(GroupKind::Value, 2), (GroupKind::Missing, 1)]);
        assert_eq!(groups.values[0].value.as_deref(), Some("us-east"));
        assert_eq!(groups.values[0].status.s5xx, 1);
        assert_eq!(report.timeline[0].groups, [1, 0]);
        assert_eq!(report.timeline[1].groups, [1, 1]);
        // The 429 is an error here, and the one target is the whole run.
        assert_eq!(report.summary.error_count, 2);
        assert_eq!(report.targets.len(), 0, "info() lists no target");
        assert!(report.config.count_429_as_error);
    }

    #[test]
    fn empty_run_has_zero_figures_and_a_timeline_per_planned_second() {
        let r = Recorder::new(1, 10);
        let report = build(info(), &r, None);
        assert_eq!(report.config.model, Model::Closed);
        assert_eq!(report.summary.error_rate, 0.0);
        assert_eq!(report.latency.corrected.count, 0);
        assert!(report.latency.corrected.percentiles.is_empty());
        assert_eq!(report.timeline.len(), 2);
        assert_eq!(report.timeline[0].p99_ms, None);
    }
}
