//! The report as one self-contained HTML page (inline CSS and SVG charts, no script, nothing
//! fetched); all text from the report is escaped, and any report renders.

use std::fmt::Write;

use super::model::{
    GroupKind, GroupReport, LatencyStats, Model, Report, Second, SpectrumPoint, StatusCounts,
    Summary,
};
use super::svg::{Axis, Band, Chart, Layer, Marker};
use super::units;

/// Most time buckets drawn per chart; longer runs are grouped into buckets of several seconds.
const MAX_BUCKETS: usize = 600;

const BLUE: &str = "#2563eb";
const GREEN: &str = "#16a34a";
const AMBER: &str = "#d97706";
const RED: &str = "#dc2626";
const PURPLE: &str = "#9333ea";
const SLATE: &str = "#64748b";
const INK: &str = "#1f2937";
/// Colors of the `--group-by-header` values, in order (the last two: other, no header).
const GROUP_COLORS: [&str; 18] = [
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ea580c",
    "#4f46e5", "#0d9488", "#c026d3", "#ca8a04", "#1d4ed8", "#15803d", "#b45309", "#7e22ce",
    "#94a3b8", "#475569",
];

/// The whole page.
pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(128 * 1024);
    head(&mut out, report);
    out.push_str("<body><main>");
    title(&mut out, report);
    key_figures(&mut out, report);
    charts(&mut out, report);
    totals(&mut out, report);
    targets(&mut out, report);
    groups(&mut out, report);
    phases(&mut out, report);
    actions(&mut out, report);
    recoveries(&mut out, report);
    assertions(&mut out, report);
    config(&mut out, report);
    let _ = write!(
        out,
        "<footer>{} · weir-loadtest {}</footer></main></body></html>",
        escape(report.schema),
        escape(report.tool_version)
    );
    out.push('\n');
    out
}

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn head(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>weir-loadtest: {}</title><style>{CSS}</style></head>",
        escape(&run_name(report))
    );
}

/// The scenario's name, or the first target's URL.
fn run_name(report: &Report) -> String {
    match (&report.config.scenario, report.config.targets.first()) {
        (Some(name), _) => name.clone(),
        (None, Some(target)) if report.config.targets.len() == 1 => target.url.clone(),
        (None, Some(target)) => format!(
            "{} and {} more",
            target.url,
            report.config.targets.len() - 1
        ),
        (None, None) => "load test".to_owned(),
    }
}

fn title(out: &mut String, report: &Report) {
    let c = &report.config;
    let http = match c.http {
        super::model::HttpVersion::Http1 => "HTTP/1.1",
        super::model::HttpVersion::Http2 => "HTTP/2",
    };
    let model = match units::schedule_rates(report) {
        Some(rates) => format!("{}, {rates}", units::model_name(c.model)),
        None => units::model_name(c.model).to_owned(),
    };
    let _ = write!(
        out,
        "<header><h1>{}</h1><p class=\"sub\">{} · {} · {} connections · {} · started {}</p></header>",
        escape(&run_name(report)),
        escape(&model),
        units::secs(c.duration_s),
        c.connections,
        http,
        units::utc(report.started_at_unix_ms)
    );
}

/// One card of the key figures: a short `value` (a number) in large type, its `unit` after it
/// in small type, so a card never has to cut its figure.
struct Card {
    label: &'static str,
    value: String,
    unit: &'static str,
    note: String,
    class: &'static str,
}

fn key_figures(out: &mut String, report: &Report) {
    out.push_str("<section class=\"cards\">");
    for card in cards(report) {
        let unit = if card.unit.is_empty() {
            String::new()
        } else {
            format!("<span class=\"unit\">{}</span>", escape(card.unit))
        };
        let _ = write!(
            out,
            "<div class=\"card {}\"><div class=\"label\">{}</div><div class=\"value\">{}{unit}</div><div class=\"note\">{}</div></div>",
            card.class,
            card.label,
            escape(&card.value),
            escape(&card.note)
        );
    }
    out.push_str("</section>");
}

fn cards(report: &Report) -> Vec<Card> {
    let sum = &report.summary;
    let mut cards = vec![Card {
        label: "Throughput",
        value: units::rate_short(round_rate(sum.throughput)),
        unit: "req/s",
        note: format!(
            "{} responses in {}",
            sum.completed,
            units::secs(sum.duration_s)
        ),
        class: "",
    }];
    for (p, label) in [
        (50.0, "p50 latency"),
        (99.0, "p99 latency"),
        (99.9, "p99.9 latency"),
    ] {
        cards.push(latency_card(report, p, label));
    }
    let ended = sum.completed.saturating_add(sum.failed);
    cards.push(Card {
        label: "Error rate",
        value: units::percent(sum.error_rate),
        unit: "",
        note: format!(
            "{} of {ended} ({})",
            sum.error_count,
            units::error_rule(report)
        ),
        class: severity(sum.error_rate),
    });
    cards.push(rate_card(report));
    if !report.assertions.is_empty() {
        let passed = report.assertions.iter().filter(|a| a.passed).count();
        let all = report.assertions.len();
        cards.push(Card {
            label: "Assertions",
            value: format!("{passed}/{all}"),
            unit: "passed",
            note: if passed == all {
                "all passed".to_owned()
            } else {
                format!("{} failed", all - passed)
            },
            class: if passed == all { "good" } else { "bad" },
        });
    }
    cards
}

/// A rate for a card: whole from 100/s up, one decimal below (the digits that mean something).
fn round_rate(r: f64) -> f64 {
    if r.abs() >= 100.0 {
        r.round()
    } else {
        (r * 10.0).round() / 10.0
    }
}

fn latency_card(report: &Report, p: f64, label: &'static str) -> Card {
    let corrected = units::percentile(&report.latency.corrected, p);
    let note = if units::shows_uncorrected(report) {
        let raw = units::latency_opt(units::percentile(&report.latency.uncorrected, p));
        format!("corrected; uncorrected {raw}")
    } else {
        "recorded latency".to_owned()
    };
    Card {
        label,
        value: units::latency_opt(corrected),
        unit: "",
        note,
        class: "",
    }
}

/// The rate the schedule asked for, as the phases asked for it (a range when they differ, with
/// each phase's rate in the note), and how much of it was achieved.
fn rate_card(report: &Report) -> Card {
    let sum = &report.summary;
    match (report.config.model, sum.target_rate) {
        (Model::Open, Some(target)) => {
            let achieved = if target > 0.0 {
                format!(
                    "achieved {:.1}% ({} req/s), sent {}/s",
                    sum.throughput * 100.0 / target,
                    units::rate_short(round_rate(sum.throughput)),
                    units::rate_short(round_rate(sum.sent_rate))
                )
            } else {
                format!("sent {}/s", units::rate_short(round_rate(sum.sent_rate)))
            };
            let (value, note) = if units::has_one_rate(report) {
                (units::rate_short(round_rate(target)), achieved)
            } else {
                let rates = report
                    .phases
                    .iter()
                    .flat_map(|p| [p.rate_from, p.rate_to])
                    .flatten()
                    .filter(|r| r.is_finite());
                let (low, high) = rates.fold((f64::INFINITY, 0.0_f64), |(lo, hi), r| {
                    (lo.min(r), hi.max(r))
                });
                let by_phase = units::schedule_rates(report).unwrap_or_default();
                (
                    format!("{}–{}", units::rate_short(low), units::rate_short(high)),
                    format!("{by_phase}; {achieved}"),
                )
            };
            Card {
                label: "Target rate",
                value,
                unit: "req/s",
                note,
                class: if target > 0.0 && sum.throughput < 0.95 * target {
                    "warn"
                } else {
                    ""
                },
            }
        }
        _ => Card {
            label: "Concurrency",
            value: report.config.concurrency.to_string(),
            unit: "",
            note: format!(
                "closed model; sent {}/s",
                units::rate_short(round_rate(sum.sent_rate))
            ),
            class: "",
        },
    }
}

/// `bad` from 1% errors, `warn` above 0.
fn severity(error_rate: f64) -> &'static str {
    if error_rate >= 0.01 {
        "bad"
    } else if error_rate > 0.0 {
        "warn"
    } else {
        "good"
    }
}

/// A legend entry: label, color, dashed.
type LegendItem<'a> = (&'a str, &'static str, bool);

/// One chart with what goes around it.
struct Figure {
    name: &'static str,
    note: String,
    legend: Vec<LegendItem<'static>>,
    chart: Option<Chart>,
    empty: &'static str,
}

/// The four charts.
fn charts(out: &mut String, report: &Report) {
    let buckets = Buckets::of(&report.timeline);
    let per = buckets.per_label();
    let spectrum_note = if !units::shows_uncorrected(report) {
        "recorded latency; x logarithmic in 1/(1−q)"
    } else if curves_coincide(report) {
        "corrected (from the scheduled send time) and uncorrected coincide (requests seldom \
         waited for a connection): the dashed uncorrected curve lies on the corrected one's \
         band; x logarithmic in 1/(1−q)"
    } else {
        "corrected (from the scheduled send time) and uncorrected; x logarithmic in 1/(1−q)"
    };
    let figures = [
        Figure {
            name: "Latency by percentile",
            note: spectrum_note.to_owned(),
            legend: spectrum_legend(report),
            chart: spectrum_chart(report),
            empty: "No responses recorded.",
        },
        Figure {
            name: "Latency over time",
            note: format!("corrected, of the responses that arrived in each {per}"),
            legend: vec![
                ("p50", BLUE, false),
                ("p99", AMBER, false),
                ("max", RED, false),
            ],
            chart: latency_chart(report, &buckets),
            empty: "Empty timeline.",
        },
        Figure {
            name: "Status codes over time",
            note: format!("responses and transport errors per second, stacked, by {per}"),
            legend: status_legend(&buckets),
            chart: status_chart(report, &buckets),
            empty: "Empty timeline.",
        },
        Figure {
            name: "Throughput over time",
            note: format!("requests per second, by {per}"),
            legend: throughput_legend(&buckets),
            chart: throughput_chart(report, &buckets),
            empty: "Empty timeline.",
        },
    ];
    for f in figures {
        let svg = f.chart.map(|c| c.render(f.name));
        figure(out, f.name, &f.note, &f.legend, svg, f.empty);
    }
    if let Some(groups) = &report.group_by {
        let name = format!("Responses by {}", groups.header);
        let labels: Vec<String> = (0..groups.values.len())
            .map(|i| units::group_label(groups, i))
            .collect();
        let legend: Vec<(&str, &str, bool)> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| (label.as_str(), group_color(groups, i), false))
            .collect();
        let svg = group_chart(report, groups, &buckets, &labels).map(|c| c.render(&name));
        figure(
            out,
            &name,
            &format!("responses per second by the value of the header, stacked, by {per}"),
            &legend,
            svg,
            "No responses.",
        );
    }
}

/// A group's color: by position among the values; `other` and `no header` keep theirs.
fn group_color(groups: &GroupReport, index: usize) -> &'static str {
    match groups.values.get(index).map(|v| v.kind) {
        Some(GroupKind::Other) => GROUP_COLORS[16],
        Some(GroupKind::Missing) => GROUP_COLORS[17],
        _ => GROUP_COLORS[index % 16],
    }
}

/// Responses per second stacked by header value: a failover shows as one color giving way to
/// another.
fn group_chart(
    report: &Report,
    groups: &GroupReport,
    buckets: &Buckets,
    labels: &[String],
) -> Option<Chart> {
    if buckets.rows.is_empty() || groups.values.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.groups.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "responses per second"));
    let mut floors = vec![0.0; buckets.rows.len()];
    for layer in 0..groups.values.len() {
        let bars = buckets
            .rows
            .iter()
            .zip(floors.iter_mut())
            .filter_map(|(b, floor)| {
                let v = b.groups.get(layer).copied().unwrap_or(0.0);
                let bar = [b.t0, b.t1, *floor, *floor + v];
                *floor += v;
                (v > 0.0).then_some(bar)
            })
            .collect();
        chart.layers.push(Layer::Bars {
            color: group_color(groups, layer),
            bars,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        labels
            .iter()
            .zip(&b.groups)
            .filter(|(_, v)| **v > 0.0)
            .map(|(name, v)| format!("{name} {}", count(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(chart)
}

/// One chart with its heading, note and legend, or `empty` when it has nothing to show.
fn figure(
    out: &mut String,
    name: &str,
    note: &str,
    legend: &[LegendItem<'_>],
    svg: Option<String>,
    empty: &str,
) {
    let _ = write!(
        out,
        "<section class=\"figure\"><h2>{}</h2><p class=\"note\">{}</p><ul class=\"legend\">",
        escape(name),
        escape(note)
    );
    for (label, color, dashed) in legend {
        let style = if *dashed { "dashed" } else { "solid" };
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"border-top: 3px {style} {color}\"></span>{}</li>",
            escape(label)
        );
    }
    out.push_str("</ul>");
    match svg {
        Some(svg) => out.push_str(&svg),
        None => {
            let _ = write!(out, "<p class=\"empty\">{}</p>", escape(empty));
        }
    }
    out.push_str("</section>");
}

fn spectrum_legend(report: &Report) -> Vec<LegendItem<'static>> {
    if !units::shows_uncorrected(report) {
        vec![("latency", BLUE, false)]
    } else if curves_coincide(report) {
        vec![
            ("corrected (wide band)", BLUE, false),
            ("uncorrected (dashed, on it)", AMBER, true),
        ]
    } else {
        vec![("corrected", BLUE, false), ("uncorrected", AMBER, true)]
    }
}

/// Whether the corrected and uncorrected spectra are the same to within 1% (or 10 µs) at every
/// fixed percentile: then one curve hides the other unless drawn apart, and the page says so.
fn curves_coincide(report: &Report) -> bool {
    let (c, u) = (&report.latency.corrected, &report.latency.uncorrected);
    if c.percentiles.is_empty() || c.percentiles.len() != u.percentiles.len() {
        return false;
    }
    c.percentiles.iter().zip(&u.percentiles).all(|(a, b)| {
        let scale = a.ms.abs().max(b.ms.abs());
        (a.ms - b.ms).abs() <= (0.01 * scale).max(0.01)
    })
}

/// Position of quantile `q` on the spectrum's x axis: log10(1 / (1 − q)); `None` at 100%.
fn spectrum_x(q: f64) -> Option<f64> {
    let x = (1.0 / (1.0 - q.clamp(0.0, 1.0))).log10();
    x.is_finite().then_some(x)
}

/// The percentile spectrum, HdrHistogram-plotter style.
fn spectrum_chart(report: &Report) -> Option<Chart> {
    let corrected = &report.latency.corrected;
    if corrected.spectrum.is_empty() {
        return None;
    }
    let mut views: Vec<(&LatencyStats, &'static str, bool)> = vec![(corrected, BLUE, false)];
    if units::shows_uncorrected(report) && !report.latency.uncorrected.spectrum.is_empty() {
        views.push((&report.latency.uncorrected, AMBER, true));
    }
    let decades = views
        .iter()
        .flat_map(|(s, _, _)| s.spectrum.iter())
        .filter_map(|p| spectrum_x(p.quantile))
        .fold(2.0_f64, f64::max)
        .ceil()
        .min(12.0);
    let max_ms = views
        .iter()
        .flat_map(|(s, _, _)| s.spectrum.iter())
        .map(|p| p.ms)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let mut chart = Chart::new(
        percentile_axis(decades),
        Axis::from_zero(max_ms, "latency (ms)"),
    );
    let halo = views.len() > 1 && curves_coincide(report);
    for (stats, color, dashed) in views {
        let at = |p: &SpectrumPoint| spectrum_x(p.quantile).unwrap_or(decades).min(decades);
        if halo && !dashed {
            // Drawn under both lines: the dashed uncorrected line then shows on a band.
            chart.layers.push(Layer::Halo {
                color,
                points: stats.spectrum.iter().map(|p| (at(p), Some(p.ms))).collect(),
            });
        }
        chart.layers.push(Layer::Line {
            color,
            dashed,
            points: stats.spectrum.iter().map(|p| (at(p), Some(p.ms))).collect(),
        });
        let name = if dashed { "uncorrected" } else { "corrected" };
        chart.layers.push(Layer::Dots {
            color,
            points: stats
                .spectrum
                .iter()
                .map(|p| (at(p), p.ms, spectrum_tooltip(name, p)))
                .collect(),
        });
    }
    Some(chart)
}

fn spectrum_tooltip(view: &str, p: &SpectrumPoint) -> String {
    format!(
        "{view}: {:.4}% ≤ {} (count {})",
        p.quantile * 100.0,
        units::latency(p.ms),
        p.total_count
    )
}

/// Ticks at 0%, 90%, 99%, 99.9%, ... up to `decades` nines.
fn percentile_axis(decades: f64) -> Axis {
    let count = decades.max(1.0) as u32;
    let ticks = (0..=count)
        .map(|k| {
            let label = match k {
                0 => "0%".to_owned(),
                1 => "90%".to_owned(),
                2 => "99%".to_owned(),
                _ => format!("99.{}%", "9".repeat(k as usize - 2)),
            };
            (f64::from(k), label)
        })
        .collect();
    Axis {
        min: 0.0,
        max: f64::from(count),
        ticks,
        title: "percentile".to_owned(),
    }
}

/// The timeline grouped into at most [`MAX_BUCKETS`] buckets of `width` seconds; counts are
/// per-second means over the bucket.
struct Buckets {
    width: usize,
    rows: Vec<Bucket>,
}

#[derive(Default)]
struct Bucket {
    t0: f64,
    t1: f64,
    scheduled: Option<f64>,
    sent: f64,
    completed: f64,
    /// The status chart's layers, in [`STATUS_SERIES`] order.
    stack: [f64; 6],
    /// Responses per second by group, in `group_by.values` order (empty without groups).
    groups: Vec<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

/// Layers of the status chart, bottom to top: name and color; values in `Bucket::stack`.
const STATUS_SERIES: [(&str, &str); 6] = [
    ("2xx", GREEN),
    ("1xx/3xx", SLATE),
    ("429", AMBER),
    ("4xx", PURPLE),
    ("5xx", RED),
    ("transport errors", INK),
];

impl Buckets {
    fn of(timeline: &[Second]) -> Self {
        let width = timeline.len().div_ceil(MAX_BUCKETS).max(1);
        let rows = timeline.chunks(width).map(Bucket::of).collect();
        Self { width, rows }
    }

    fn per_label(&self) -> String {
        if self.width == 1 {
            "second".to_owned()
        } else {
            format!("{} seconds", self.width)
        }
    }

    fn has_scheduled(&self) -> bool {
        self.rows.iter().any(|b| b.scheduled.is_some())
    }

    fn has_other_status(&self) -> bool {
        self.rows.iter().any(|b| b.stack[1] > 0.0)
    }

    /// One point per bucket, at its middle.
    fn line(&self, value: impl Fn(&Bucket) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
        self.rows.iter().map(|b| (b.mid(), value(b))).collect()
    }
}

impl Bucket {
    fn of(seconds: &[Second]) -> Self {
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

    fn mid(&self) -> f64 {
        (self.t0 + self.t1) / 2.0
    }
}

fn errors_of(s: &Second) -> u64 {
    let e = &s.errors;
    [e.connect, e.timeout, e.io, e.protocol]
        .into_iter()
        .fold(0, u64::saturating_add)
}

fn max_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.filter(|v| v.is_finite()).reduce(f64::max)
}

/// End of the time axis: the last second, phase, action or the planned duration.
fn time_end(report: &Report) -> f64 {
    let timeline = report.timeline.last().map_or(0.0, |s| f64::from(s.t) + 1.0);
    let phases = report.phases.iter().map(|p| p.end_s);
    let actions = report.actions.iter().map(|a| a.fired_at_s.max(a.at_s));
    std::iter::once(timeline)
        .chain(std::iter::once(report.config.duration_s))
        .chain(phases)
        .chain(actions)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
}

/// A time chart's frame: axis, phase bands, action markers.
fn time_chart(report: &Report, y: Axis) -> Chart {
    let mut chart = Chart::new(Axis::time(time_end(report), "time since start"), y);
    if report.phases.len() > 1 {
        chart.bands = report
            .phases
            .iter()
            .map(|p| Band {
                from: p.start_s,
                to: p.end_s,
                label: p.name.clone(),
            })
            .collect();
    }
    chart.markers = report
        .actions
        .iter()
        .map(|a| Marker {
            x: a.fired_at_s,
            label: a.name.clone(),
            title: format!(
                "{} ({}) fired at {}, {}",
                a.name,
                a.kind,
                units::at(a.fired_at_s),
                if a.ok { "ok" } else { "failed" }
            ),
        })
        .collect();
    chart
}

fn latency_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = max_of(
        buckets
            .rows
            .iter()
            .flat_map(|b| [b.p50, b.p99, b.max])
            .flatten(),
    );
    let mut chart = time_chart(report, Axis::from_zero(top.unwrap_or(0.0), "latency (ms)"));
    for (color, points) in [
        (BLUE, buckets.line(|b| b.p50)),
        (AMBER, buckets.line(|b| b.p99)),
        (RED, buckets.line(|b| b.max)),
    ] {
        chart.layers.push(Layer::Line {
            color,
            dashed: false,
            points,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        format!(
            "p50 {}, p99 {}, max {}",
            units::latency_opt(b.p50),
            units::latency_opt(b.p99),
            units::latency_opt(b.max)
        )
    });
    Some(chart)
}

fn status_legend(buckets: &Buckets) -> Vec<LegendItem<'static>> {
    STATUS_SERIES
        .iter()
        .filter(|(name, _)| *name != "1xx/3xx" || buckets.has_other_status())
        .map(|(name, color)| (*name, *color, false))
        .collect()
}

fn status_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.stack.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "per second"));
    let mut floors = vec![0.0; buckets.rows.len()];
    for (layer, (_, color)) in STATUS_SERIES.iter().enumerate() {
        let bars = buckets
            .rows
            .iter()
            .zip(floors.iter_mut())
            .filter_map(|(b, floor)| {
                let v = b.stack[layer];
                let bar = [b.t0, b.t1, *floor, *floor + v];
                *floor += v;
                (v > 0.0).then_some(bar)
            })
            .collect();
        chart.layers.push(Layer::Bars { color, bars });
    }
    chart.hovers = hovers(buckets, |b| {
        STATUS_SERIES
            .iter()
            .zip(b.stack)
            .map(|((name, _), v)| format!("{name} {}", count(v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(chart)
}

fn throughput_legend(buckets: &Buckets) -> Vec<LegendItem<'static>> {
    let mut legend = vec![("sent", BLUE, false), ("completed", GREEN, false)];
    if buckets.has_scheduled() {
        legend.push(("scheduled", SLATE, true));
    }
    legend
}

fn throughput_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.sent.max(b.completed).max(b.scheduled.unwrap_or(0.0)))
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "requests per second"));
    let mut lines = vec![
        (BLUE, false, buckets.line(|b| Some(b.sent))),
        (GREEN, false, buckets.line(|b| Some(b.completed))),
    ];
    if buckets.has_scheduled() {
        // Last, dashed, so it stays visible where the others follow it exactly.
        lines.push((SLATE, true, buckets.line(|b| b.scheduled)));
    }
    for (color, dashed, points) in lines {
        chart.layers.push(Layer::Line {
            color,
            dashed,
            points,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        let scheduled = b.scheduled.map(|s| format!("scheduled {}, ", count(s)));
        format!(
            "{}sent {}, completed {}",
            scheduled.unwrap_or_default(),
            count(b.sent),
            count(b.completed)
        )
    });
    Some(chart)
}

/// One hover column per bucket: its time span, then `text`.
fn hovers(buckets: &Buckets, text: impl Fn(&Bucket) -> String) -> Vec<(f64, f64, String)> {
    buckets
        .rows
        .iter()
        .map(|b| {
            let span = if b.t1 - b.t0 > 1.0 {
                format!("{}–{}", units::secs(b.t0), units::secs(b.t1))
            } else {
                units::secs(b.t0)
            };
            (b.t0, b.t1, format!("{span}: {}", text(b)))
        })
        .collect()
}

/// A per-second figure: whole when it is, else one decimal.
fn count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Requests, statuses and transport errors of the whole run.
fn totals(out: &mut String, report: &Report) {
    let sum = &report.summary;
    out.push_str("<section><h2>Totals</h2><div class=\"grid3\">");
    let mut requests = vec![];
    if let Some(n) = sum.scheduled {
        requests.push(("scheduled", n.to_string()));
    }
    requests.extend([
        ("sent", sum.sent.to_string()),
        ("completed", sum.completed.to_string()),
        ("failed", sum.failed.to_string()),
        ("read", units::bytes(sum.bytes_received as f64)),
        ("measured for", units::secs(sum.duration_s)),
    ]);
    key_values(out, "Requests", &requests);
    key_values(out, "Responses by status", &status_rows(&sum.status));
    let e = &sum.errors;
    key_values(
        out,
        "Transport errors",
        &[
            ("connect", e.connect.to_string()),
            ("timeout", e.timeout.to_string()),
            ("io", e.io.to_string()),
            ("protocol", e.protocol.to_string()),
        ],
    );
    out.push_str("</div></section>");
}

/// Each target as configured (weight, share) and what it got: requests, statuses, latency.
fn targets(out: &mut String, report: &Report) {
    let total = units::total_weight(report);
    let rows: Vec<(&str, Vec<String>)> = report
        .config
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let result = report.targets.get(i);
            let summary = result.map(|r| &r.summary);
            let latency =
                |p: f64| units::latency_opt(result.and_then(|r| units::percentile(&r.latency, p)));
            let count = |f: fn(&Summary) -> u64| {
                summary.map_or_else(|| "-".to_owned(), |s| f(s).to_string())
            };
            let cells = vec![
                t.method.clone(),
                t.url.clone(),
                t.weight.to_string(),
                units::share(t.weight, total),
                count(|s| s.sent),
                count(|s| s.completed),
                latency(50.0),
                latency(99.0),
                latency(99.9),
                summary.map_or_else(|| "-".to_owned(), |s| units::percent(s.error_rate)),
                summary.map_or_else(String::new, statuses),
            ];
            (summary.map_or("", |s| severity(s.error_rate)), cells)
        })
        .collect();
    table(
        out,
        "Targets",
        &[
            "Method",
            "URL",
            "Weight#",
            "Share#",
            "Sent#",
            "Completed#",
            "p50#",
            "p99#",
            "p99.9#",
            "Errors#",
            "Statuses",
        ],
        &rows,
    );
}

/// `2xx 300, 5xx 2, failed 1`: the non-zero status classes and the requests without a response.
fn statuses(s: &Summary) -> String {
    let e = &s.errors;
    let failed = [e.connect, e.timeout, e.io, e.protocol]
        .into_iter()
        .fold(0, u64::saturating_add);
    units::status_items(&s.status)
        .into_iter()
        .chain(std::iter::once(("failed", failed)))
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Responses by `--group-by-header` value, with the seconds each value answered in.
fn groups(out: &mut String, report: &Report) {
    let Some(groups) = &report.group_by else {
        return;
    };
    let total: u64 = groups.values.iter().map(|v| v.responses).sum();
    let rows: Vec<(&str, Vec<String>)> = groups
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let share = if total == 0 {
                0.0
            } else {
                v.responses as f64 / total as f64
            };
            let span = units::seconds_seen(report, i)
                .map_or_else(|| "-".to_owned(), |(a, b)| format!("{a}s – {b}s"));
            let summary = Summary {
                status: v.status,
                ..Summary::default()
            };
            let cells = vec![
                units::group_label(groups, i),
                v.responses.to_string(),
                units::percent(share),
                span,
                statuses(&summary),
            ];
            ("", cells)
        })
        .collect();
    table(
        out,
        &format!("Responses by {}", groups.header),
        &["Value", "Responses#", "Share#", "Seconds", "Statuses"],
        &rows,
    );
}

fn status_rows(s: &StatusCounts) -> Vec<(&'static str, String)> {
    vec![
        ("1xx", s.s1xx.to_string()),
        ("2xx", s.s2xx.to_string()),
        ("3xx", s.s3xx.to_string()),
        ("4xx (not 429)", s.s4xx.to_string()),
        ("429", s.s429.to_string()),
        ("5xx", s.s5xx.to_string()),
    ]
}

/// A small two-column table with a caption.
fn key_values(out: &mut String, caption: &str, rows: &[(&str, String)]) {
    let _ = write!(
        out,
        "<table class=\"kv\"><caption>{}</caption><tbody>",
        escape(caption)
    );
    for (key, value) in rows {
        let _ = write!(
            out,
            "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    out.push_str("</tbody></table>");
}

/// A table: headers (a trailing `#` marks a numeric column), then rows of (class, cells).
fn table(out: &mut String, title: &str, headers: &[&str], rows: &[(&str, Vec<String>)]) {
    let _ = write!(
        out,
        "<section><h2>{}</h2><div class=\"scroll\"><table><thead><tr>",
        escape(title)
    );
    for h in headers {
        let (name, class) = header_class(h);
        let _ = write!(out, "<th{class}>{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
    for (row_class, cells) in rows {
        let _ = write!(out, "<tr class=\"{row_class}\">");
        for (i, cell) in cells.iter().enumerate() {
            let class = headers.get(i).map_or("", |h| header_class(h).1);
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
}

fn header_class(h: &str) -> (&str, &'static str) {
    match h.strip_suffix('#') {
        Some(name) => (name, " class=\"num\""),
        None => (h, ""),
    }
}

fn phases(out: &mut String, report: &Report) {
    if report.phases.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<String>)> = report
        .phases
        .iter()
        .map(|p| {
            let lat = &p.latency.corrected;
            let s = &p.summary;
            let cells = vec![
                p.name.clone(),
                p.kind.clone(),
                format!("{} – {}", units::secs(p.start_s), units::secs(p.end_s)),
                units::phase_rate(p.rate_from, p.rate_to),
                s.sent.to_string(),
                s.completed.to_string(),
                units::rate(s.throughput),
                units::latency_opt(units::percentile(lat, 50.0)),
                units::latency_opt(units::percentile(lat, 99.0)),
                units::latency_opt(units::percentile(lat, 99.9)),
                units::percent(s.error_rate),
            ];
            (severity(s.error_rate), cells)
        })
        .collect();
    table(
        out,
        "Phases",
        &[
            "Phase",
            "Kind",
            "Span",
            "Rate (req/s)#",
            "Sent#",
            "Completed#",
            "Req/s#",
            "p50#",
            "p99#",
            "p99.9#",
            "Errors#",
        ],
        &rows,
    );
}

fn actions(out: &mut String, report: &Report) {
    if report.actions.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<String>)> = report
        .actions
        .iter()
        .map(|a| {
            let cells = vec![
                a.name.clone(),
                a.kind.clone(),
                units::at(a.at_s),
                units::at(a.fired_at_s),
                units::latency(a.duration_ms),
                if a.ok { "ok" } else { "FAILED" }.to_owned(),
                if a.failure { "yes" } else { "no" }.to_owned(),
                a.detail.clone(),
            ];
            (if a.ok { "" } else { "bad" }, cells)
        })
        .collect();
    table(
        out,
        "Actions",
        &[
            "Action",
            "Kind",
            "Due#",
            "Fired#",
            "Took#",
            "Result",
            "Failure event",
            "Detail",
        ],
        &rows,
    );
}

fn recoveries(out: &mut String, report: &Report) {
    if report.recoveries.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<String>)> = report
        .recoveries
        .iter()
        .map(|r| {
            let cells = vec![
                r.action.clone(),
                units::at(r.at_s),
                units::percent(r.baseline_error_rate),
                units::percent(r.peak_error_rate),
                r.recovered_after_s
                    .map_or_else(|| "not recovered".to_owned(), units::secs),
            ];
            (
                if r.recovered_after_s.is_some() {
                    ""
                } else {
                    "bad"
                },
                cells,
            )
        })
        .collect();
    table(
        out,
        "Recoveries",
        &[
            "After action",
            "At#",
            "Baseline errors#",
            "Peak errors#",
            "Recovered after#",
        ],
        &rows,
    );
}

fn assertions(out: &mut String, report: &Report) {
    if report.assertions.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<String>)> = report
        .assertions
        .iter()
        .map(|a| {
            let verdict = if a.passed { "PASS" } else { "FAIL" };
            let cells = vec![
                verdict.to_owned(),
                a.scope.clone(),
                a.expr.clone(),
                a.actual.clone(),
            ];
            (if a.passed { "pass" } else { "fail" }, cells)
        })
        .collect();
    table(
        out,
        "Assertions",
        &["Result", "Scope", "Assertion", "Actual#"],
        &rows,
    );
}

/// The configuration and the targets.
fn config(out: &mut String, report: &Report) {
    let c = &report.config;
    out.push_str("<section><h2>Configuration</h2><div class=\"grid3\">");
    let http = match c.http {
        super::model::HttpVersion::Http1 => "HTTP/1.1",
        super::model::HttpVersion::Http2 => "HTTP/2 (h2c)",
    };
    key_values(
        out,
        "Load",
        &[
            (
                "scenario",
                c.scenario.clone().unwrap_or_else(|| "-".to_owned()),
            ),
            ("model", units::model_name(c.model).to_owned()),
            ("protocol", http.to_owned()),
            ("connections", c.connections.to_string()),
            ("in flight at most", c.concurrency.to_string()),
            ("threads", c.threads.to_string()),
            ("duration", units::secs(c.duration_s)),
            ("timeout", units::latency(c.timeout_ms)),
            ("started", units::utc(report.started_at_unix_ms)),
        ],
    );
    out.push_str("</div></section>");
}

const CSS: &str = "\
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--good:#16a34a;--warn:#d97706;--bad:#dc2626}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}\
main{max-width:1000px;margin:0 auto;padding:24px 20px 40px}\
header h1{margin:0 0 4px;font-size:22px;word-break:break-all}\
.sub{margin:0 0 20px;color:var(--muted)}\
h2{font-size:16px;margin:0 0 4px}\
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:0 0 16px}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;background:none;border:0;padding:0}\
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid #94a3b8;border-radius:10px;padding:10px 14px}\
.card.good{border-left-color:var(--good)}.card.warn{border-left-color:var(--warn)}.card.bad{border-left-color:var(--bad)}\
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}\
.card{min-width:0}.card .label{overflow-wrap:anywhere}\
.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}\
.card .unit{font-size:13px;font-weight:500;color:var(--muted);margin-left:4px}\
.card .note{color:var(--muted);font-size:12px}\
.note{color:var(--muted);margin:0 0 6px;font-size:12px}\
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;margin:0 0 4px;padding:0;font-size:12px}\
.swatch{display:inline-block;width:18px;height:0;margin-right:6px;vertical-align:middle}\
.empty{color:var(--muted);font-style:italic;padding:24px 0;text-align:center}\
svg.chart{width:100%;height:auto;display:block;font-size:11px}\
svg .grid{stroke:var(--line)}\
svg .axis{stroke:#9ca3af}\
svg .tick{fill:var(--muted)}\
svg .axis-title{fill:var(--ink);font-size:12px}\
svg .series{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}\
svg .halo{fill:none;stroke-width:6;stroke-opacity:.3;stroke-linejoin:round;stroke-linecap:round}\
svg .band{fill:#eef2ff}svg .band.alt{fill:#f0fdf4}\
svg .band-label{fill:#4b5563;font-size:11px}\
svg .marker line{stroke:#7c3aed;stroke-width:1.5;stroke-dasharray:4 3}\
svg .marker text{fill:#6d28d9;font-weight:600}\
svg .hover{fill:transparent}svg .hover:hover{fill:rgba(15,23,42,.07)}\
svg .dot{opacity:0}svg .dot:hover{opacity:1}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}\
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}\
thead th{color:var(--muted);font-weight:600;font-size:12px}\
td.num,th.num{text-align:right;white-space:nowrap}\
td{word-break:break-word}\
tr.bad td,tr.fail td{background:#fef2f2;color:#991b1b}\
tr.warn td{background:#fffbeb}\
tr.fail td:first-child{font-weight:700}tr.pass td:first-child{color:var(--good);font-weight:700}\
.scroll{overflow-x:auto}\
.grid3{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:16px}\
table.kv caption{text-align:left;font-weight:600;padding:0 0 4px}\
table.kv th{font-weight:normal;color:var(--muted)}\
footer{color:var(--muted);font-size:12px;text-align:center}\
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    /// Every tag closed in order (void elements and `/>` aside), so the page parses as meant.
    fn assert_balanced(html: &str) {
        const VOID: [&str; 2] = ["meta", "br"];
        let mut open: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start..].find('>') else {
                panic!("unterminated tag at {}", &rest[start..]);
            };
            let tag = &rest[start + 1..start + len];
            rest = &rest[start + len + 1..];
            if tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if VOID.contains(&name.as_str()) {
                continue;
            }
            if tag.starts_with('/') {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.as_str()),
                    "closing </{name}>"
                );
            } else {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "left open: {open:?}");
    }

    fn assert_self_contained(html: &str) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "url(",
            "@import",
            "<link",
            "<script",
            "<img",
            "<iframe",
            "xlink:href",
        ] {
            assert!(!lower.contains(bad), "found {bad:?}");
        }
    }

    fn assert_sane(html: &str) {
        assert_balanced(html);
        assert_self_contained(html);
        assert!(!html.contains("NaN"), "NaN in the page");
        assert!(!html.contains("=\"inf"), "infinite coordinate in the page");
        assert!(!html.contains("=\"-inf"), "infinite coordinate in the page");
    }

    #[test]
    fn open_report_has_the_key_figures() {
        let report = fixture::open();
        let html = render_html(&report);
        assert_sane(&html);
        let p99 = units::percentile(&report.latency.corrected, 99.0);
        let p999 = units::percentile(&report.latency.corrected, 99.9);
        for expected in [
            "<h1>a region dies under load</h1>",
            "<div class=\"value\">379<span class=\"unit\">req/s</span></div>",
            "10.68%",
            "<div class=\"value\">100–500<span class=\"unit\">req/s</span></div>",
            "warm-up 100 -&gt; 500, steady 500 requests/s; achieved 99.8% (379 req/s)",
            &units::latency_opt(p99),
            &units::latency_opt(p999),
            "Latency by percentile",
            "Latency over time",
            "Status codes over time",
            "Throughput over time",
            "99.9%",
            "scheduled",
            "uncorrected",
            "warm-up",
            "Responses by x-weir-origin-region",
        ] {
            assert!(html.contains(expected), "missing {expected:?}");
        }
        assert_eq!(
            html.matches("<svg").count(),
            5,
            "four charts and the groups'"
        );
    }

    #[test]
    fn cards_fit_their_figures() {
        // A card is about 140 px wide inside: its figure must be short enough for 22 px type
        // (the unit follows in small type), and the label for one line.
        for report in [fixture::open(), fixture::closed(), fixture::empty()] {
            for card in cards(&report) {
                assert!(
                    card.value.chars().count() <= 9,
                    "{}: {:?} is too long for a card",
                    card.label,
                    card.value
                );
                assert!(card.label.chars().count() <= 14, "{:?}", card.label);
            }
        }
        assert!(
            !CSS.contains("white-space:nowrap}.card"),
            "nothing is cut, it wraps"
        );
    }

    #[test]
    fn the_rate_card_shows_the_rate_asked_for() {
        let mut report = fixture::open();
        report.phases.truncate(1);
        report.phases[0].rate_from = Some(380.0);
        report.phases[0].rate_to = Some(380.0);
        let card = rate_card(&report);
        assert_eq!((card.label, card.value.as_str()), ("Target rate", "380"));
        assert_eq!(card.note, "achieved 99.8% (379 req/s), sent 380/s");
        let html = render_html(&report);
        assert!(html.contains("open model (constant arrival rate), 380 requests/s"));
    }

    #[test]
    fn coinciding_curves_stay_distinguishable() {
        let mut report = fixture::open();
        report.latency.uncorrected = report.latency.corrected.clone();
        let html = render_html(&report);
        assert_sane(&html);
        let spectrum = html
            .split("<h2>Latency by percentile</h2>")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("the spectrum figure");
        assert!(
            spectrum.contains("coincide"),
            "the page says the curves coincide"
        );
        assert!(spectrum.contains("uncorrected (dashed, on it)"));
        // A wide band under the corrected line, then the dashed uncorrected line on top.
        let halo = spectrum
            .find("class=\"halo\"")
            .expect("a band under the curves");
        let dashed = spectrum
            .find("stroke-dasharray")
            .expect("a dashed uncorrected line");
        assert!(halo < dashed);
        // Curves that differ are drawn as before.
        let html = render_html(&fixture::open());
        assert!(!html.contains("class=\"halo\""));
        assert!(!html.contains("coincide"));
    }

    #[test]
    fn responses_are_charted_by_header_value() {
        let report = fixture::open();
        let html = render_html(&report);
        let figure = html
            .split("<h2>Responses by x-weir-origin-region</h2>")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("the groups figure");
        for label in ["us-east", "eu-west", "(no header)"] {
            assert!(figure.contains(&format!("</span>{label}</li>")), "{label}");
        }
        // us-east's bars end at the failure (6 s), eu-west's begin there.
        assert!(figure.contains("0s: us-east 98, (no header) 2"), "{figure}");
        assert!(
            figure.contains("6s: eu-west 495, (no header) 2"),
            "{figure}"
        );
        assert!(figure.contains(&format!("fill=\"{}\"", GROUP_COLORS[0])));
        assert!(figure.contains(&format!("fill=\"{}\"", GROUP_COLORS[1])));
        assert!(html.contains("<td>us-east</td><td class=\"num\">"));
        assert!(html.contains("<td>0s – 6s</td>"));
        let closed = render_html(&fixture::closed());
        assert!(!closed.contains("Responses by x-"));
    }

    #[test]
    fn each_target_has_a_row_with_its_results() {
        let report = fixture::open();
        let html = render_html(&report);
        let t = &report.targets[1];
        let p99 = units::latency_opt(units::percentile(&t.latency, 99.0));
        let row = format!(
            "<td>POST</td><td>http://127.0.0.1:8080/b?x=1&amp;y=2</td><td class=\"num\">1</td><td class=\"num\">25.0%</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            t.summary.sent, t.summary.completed
        );
        assert!(html.contains(&row), "{row}");
        assert!(html.contains(&format!("<td class=\"num\">{p99}</td>")));
    }

    #[test]
    fn actions_are_marked_on_the_time_charts() {
        let html = render_html(&fixture::open());
        assert_eq!(html.matches("<g class=\"marker\">").count(), 4);
        assert_eq!(html.matches(">us-east origins fail</text>").count(), 4);
        assert_eq!(
            html.matches("class=\"band-label\"").count(),
            8,
            "two phases, four time charts (the groups' too)"
        );
    }

    #[test]
    fn failed_assertions_and_recoveries_are_highlighted() {
        let mut report = fixture::open();
        report.recoveries[0].recovered_after_s = None;
        let html = render_html(&report);
        assert!(
            html.contains("<tr class=\"fail\"><td>FAIL</td><td>run</td><td>errors &lt; 1%</td>")
        );
        assert_eq!(html.matches("<tr class=\"pass\">").count(), 2);
        assert!(html.contains("<tr class=\"bad\"><td>us-east origins fail</td>"));
        assert!(html.contains("not recovered"));
    }

    #[test]
    fn report_text_is_escaped() {
        let mut report = fixture::open();
        report.config.targets[0].url = "http://x/<script>alert('x')</script>".to_owned();
        report.config.scenario = Some("a & b \"quoted\"".to_owned());
        report.actions[0].name = "<b>boom</b>".to_owned();
        report.phases[0].name = "<i>warm</i>".to_owned();
        let html = render_html(&report);
        assert_sane(&html);
        assert!(html.contains("http://x/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("a &amp; b &quot;quoted&quot;"));
        assert!(html.contains("&lt;b&gt;boom&lt;/b&gt;"));
        assert!(!html.contains("<b>") && !html.contains("<i>"));
    }

    #[test]
    fn closed_report_renders_without_rates() {
        let html = render_html(&fixture::closed());
        assert_sane(&html);
        assert!(html.contains("Concurrency"));
        assert!(!html.contains("uncorrected"));
        assert!(!html.contains(">scheduled</li>"));
        assert!(
            !html.contains("class=\"band\""),
            "a single phase is not shaded"
        );
        assert!(html.contains("<h1>http://127.0.0.1:8080/</h1>"));
    }

    #[test]
    fn empty_report_renders() {
        let html = render_html(&fixture::empty());
        assert_sane(&html);
        assert!(html.contains("No responses recorded."));
        assert_eq!(html.matches("Empty timeline.").count(), 3);
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn single_second_and_gaps_render() {
        let mut report = fixture::open();
        report.timeline.truncate(1);
        report.timeline[0].p99_ms = None;
        let html = render_html(&report);
        assert_sane(&html);
        assert_eq!(html.matches("<svg").count(), 5);
        assert!(html.contains("<circle"), "a lone point is drawn as a dot");
    }

    #[test]
    fn huge_values_render() {
        let mut report = fixture::open();
        report.summary.throughput = f64::MAX;
        report.summary.completed = u64::MAX;
        report.latency.corrected.spectrum[0].ms = 1e300;
        report.latency.corrected.percentiles[0].ms = f64::INFINITY;
        report.timeline[2].sent = u64::MAX;
        report.timeline[3].max_ms = Some(f64::MAX);
        report.timeline[4].p50_ms = Some(f64::NAN);
        report.phases[1].end_s = f64::INFINITY;
        report.timeline[5].groups[1] = u64::MAX;
        let html = render_html(&report);
        assert_sane(&html);
        assert_eq!(html.matches("<svg").count(), 5);
    }

    #[test]
    fn long_runs_are_bucketed() {
        let mut report = fixture::closed();
        let second = report.timeline[0].clone();
        report.timeline = (0..86_400)
            .map(|t| Second {
                t,
                ..second.clone()
            })
            .collect();
        let buckets = Buckets::of(&report.timeline);
        assert_eq!(buckets.width, 144);
        assert_eq!(buckets.rows.len(), 600);
        let html = render_html(&report);
        assert_sane(&html);
        assert!(html.contains("by 144 seconds"));
        assert!(html.len() < 3_000_000, "{} bytes", html.len());
    }

    #[test]
    fn percentile_ticks() {
        let axis = percentile_axis(4.0);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        let x = spectrum_x(0.99).unwrap_or(f64::NAN);
        assert!((x - 2.0).abs() < 1e-9, "{x}");
        assert_eq!(spectrum_x(0.0), Some(0.0));
        assert_eq!(spectrum_x(1.0), None);
    }
}
