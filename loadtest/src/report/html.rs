//! The HTML report: one self-contained page (inline CSS and SVG, no script, no external
//! reference) with the key figures, four charts and the tables of phases, actions, recoveries
//! and assertions. Every text from the report is escaped.

use std::fmt::Write;

use super::model::{Report, Second};
use super::text::duration;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 45.0;

/// One line of a chart.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

/// Vertical marks on a time chart: phases (bands) and actions (lines).
struct Marks<'a> {
    phases: Vec<(f64, f64, &'a str)>,
    actions: Vec<(f64, &'a str)>,
}

/// Renders the whole page.
pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = match &report.config.scenario {
        Some(name) => format!("weir-loadtest: {name}"),
        None => "weir-loadtest report".to_owned(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    figures(&mut out, report);
    config(&mut out, report);
    let marks = Marks {
        phases: if report.phases.len() > 1 {
            report
                .phases
                .iter()
                .map(|p| (p.start_s, p.end_s, p.name.as_str()))
                .collect()
        } else {
            Vec::new()
        },
        actions: report
            .actions
            .iter()
            .map(|a| (a.fired_at_s, a.name.as_str()))
            .collect(),
    };
    percentile_chart(&mut out, report);
    latency_chart(&mut out, &report.timeline, &marks);
    status_chart(&mut out, &report.timeline, &marks);
    throughput_chart(&mut out, &report.timeline, &marks);
    tables(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:24px auto;max-width:900px;color:#222;background:#fff}h1{font-size:22px}\
h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.figures{display:flex;flex-wrap:wrap;gap:10px}.figure{border:1px solid #ddd;border-radius:6px;\
padding:8px 12px;min-width:120px}.figure b{display:block;font-size:20px}\
.figure span{font-size:12px;color:#666}table{border-collapse:collapse;font-size:13px;margin:8px 0}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f5f5f5}\
.fail{background:#fde2e2}.pass{background:#e3f6e3}svg{font-size:11px}\
.legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;\
height:3px;margin-right:4px;vertical-align:middle}";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn figures(out: &mut String, report: &Report) {
    let s = &report.summary;
    let pct = |p: f64| {
        report
            .latency
            .corrected
            .percentiles
            .iter()
            .find(|x| x.percentile == p)
            .map_or_else(|| "–".to_owned(), |x| duration(x.ms))
    };
    let mut items = vec![
        (format!("{:.0}/s", s.throughput), "throughput"),
        (pct(50.0), "p50 (corrected)"),
        (pct(99.0), "p99 (corrected)"),
        (pct(99.9), "p99.9 (corrected)"),
        (
            format!("{:.3}%", s.error_rate * 100.0),
            "errors (no response or 5xx)",
        ),
        (s.completed.to_string(), "responses"),
    ];
    if let Some(target) = s.target_rate {
        items.push((
            format!("{target:.0}/s → {:.0}/s", s.sent_rate),
            "target → sent rate",
        ));
    }
    let failed = report.assertions.iter().filter(|a| !a.passed).count();
    if !report.assertions.is_empty() {
        items.push((
            format!(
                "{} of {}",
                report.assertions.len() - failed,
                report.assertions.len()
            ),
            "assertions passed",
        ));
    }
    out.push_str("<div class=\"figures\">");
    for (value, label) in items {
        let _ = write!(
            out,
            "<div class=\"figure\"><b>{}</b><span>{}</span></div>",
            escape(&value),
            label
        );
    }
    out.push_str("</div>\n");
}

fn config(out: &mut String, report: &Report) {
    let c = &report.config;
    let _ = write!(
        out,
        "<h2>Load</h2><table><tr><th>model</th><td>{:?}</td><th>HTTP</th><td>{:?}</td></tr>\
         <tr><th>connections</th><td>{}</td><th>in flight at most</th><td>{}</td></tr>\
         <tr><th>threads</th><td>{}</td><th>duration</th><td>{:.1} s (timeout {})</td></tr></table>\
         <table><tr><th>method</th><th>target</th><th>weight</th></tr>",
        c.model,
        c.http,
        c.connections,
        c.concurrency,
        c.threads,
        c.duration_s,
        duration(c.timeout_ms)
    );
    for t in &c.targets {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.method),
            escape(&t.url),
            t.weight
        );
    }
    out.push_str("</table>\n");
}

/// Latency by percentile, x = 1/(1 − quantile) on a log scale (HdrHistogram's plot).
fn percentile_chart(out: &mut String, report: &Report) {
    let to_points = |spectrum: &[super::model::SpectrumPoint]| -> Vec<(f64, f64)> {
        spectrum
            .iter()
            .filter(|p| p.quantile < 1.0)
            .map(|p| ((1.0 / (1.0 - p.quantile)).log10(), p.ms))
            .collect()
    };
    let series = vec![
        Series {
            name: "corrected",
            color: "#1f77b4",
            points: to_points(&report.latency.corrected.spectrum),
        },
        Series {
            name: "uncorrected",
            color: "#ff7f0e",
            points: to_points(&report.latency.uncorrected.spectrum),
        },
    ];
    let ticks: Vec<(f64, String)> = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, label)| (i as f64, (*label).to_owned()))
        .collect();
    chart(
        out,
        "Latency by percentile",
        "ms",
        &series,
        Some(&ticks),
        &Marks {
            phases: Vec::new(),
            actions: Vec::new(),
        },
    );
}

fn time_series<'a>(
    timeline: &[Second],
    name: &'a str,
    color: &'a str,
    value: impl Fn(&Second) -> Option<f64>,
) -> Series<'a> {
    Series {
        name,
        color,
        points: timeline
            .iter()
            .filter_map(|s| value(s).map(|v| (f64::from(s.t) + 0.5, v)))
            .collect(),
    }
}

fn latency_chart(out: &mut String, timeline: &[Second], marks: &Marks) {
    let series = vec![
        time_series(timeline, "p50", "#2ca02c", |s| s.p50_ms),
        time_series(timeline, "p99", "#1f77b4", |s| s.p99_ms),
        time_series(timeline, "max", "#d62728", |s| s.max_ms),
    ];
    chart(
        out,
        "Latency over time (corrected, by second of response)",
        "ms",
        &series,
        None,
        marks,
    );
}

fn status_chart(out: &mut String, timeline: &[Second], marks: &Marks) {
    let n = |v: u64| Some(v as f64);
    let series = vec![
        time_series(timeline, "2xx", "#2ca02c", |s| n(s.status.s2xx)),
        time_series(timeline, "3xx", "#17becf", |s| n(s.status.s3xx)),
        time_series(timeline, "4xx", "#bcbd22", |s| n(s.status.s4xx)),
        time_series(timeline, "429", "#9467bd", |s| n(s.status.s429)),
        time_series(timeline, "5xx", "#d62728", |s| n(s.status.s5xx)),
        time_series(timeline, "no response", "#7f7f7f", |s| {
            let e = &s.errors;
            n(e.connect + e.timeout + e.io + e.protocol)
        }),
    ];
    chart(
        out,
        "Status codes over time",
        "per second",
        &series,
        None,
        marks,
    );
}

fn throughput_chart(out: &mut String, timeline: &[Second], marks: &Marks) {
    let mut series = vec![
        time_series(timeline, "sent", "#1f77b4", |s| Some(s.sent as f64)),
        time_series(timeline, "completed", "#2ca02c", |s| {
            Some(s.completed as f64)
        }),
    ];
    if timeline.iter().any(|s| s.scheduled.is_some()) {
        series.push(time_series(timeline, "scheduled", "#aaaaaa", |s| {
            s.scheduled.map(|v| v as f64)
        }));
    }
    chart(
        out,
        "Throughput over time",
        "requests/s",
        &series,
        None,
        marks,
    );
}

/// A "nice" step for about `count` ticks over `span`.
fn nice_step(span: f64, count: f64) -> f64 {
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(f64::MIN_POSITIVE)
}

fn tick_label(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Draws a line chart; `x_ticks` replaces the numeric x axis (time in seconds) with labels.
fn chart(
    out: &mut String,
    title: &str,
    y_unit: &str,
    series: &[Series],
    x_ticks: Option<&[(f64, String)]>,
    marks: &Marks,
) {
    let _ = write!(out, "<h2>{}</h2>", escape(title));
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_max) = (0.0f64, 0.0f64);
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            x_max = x_max.max(x);
            y_max = y_max.max(y);
        }
    }
    if let Some(ticks) = x_ticks {
        x_max = x_max.max(ticks.iter().map(|t| t.0).fold(0.0, f64::max));
    }
    for &(_, end, _) in &marks.phases {
        x_max = x_max.max(end);
    }
    if x_max <= 0.0 && y_max <= 0.0 {
        out.push_str("<p>No data.</p>\n");
        return;
    }
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let y_step = nice_step(y_max, 5.0);
    let y_top = ((y_max / y_step).ceil() * y_step).max(y_step);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + x / x_max * plot_w;
    let sy = |y: f64| TOP + plot_h - y / y_top * plot_h;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    // Phases as alternating bands with their names, under everything else.
    for (i, &(start, end, name)) in marks.phases.iter().enumerate() {
        let fill = if i % 2 == 0 { "#f4f7fb" } else { "#eaf0f7" };
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"{fill}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#557\">{}</text>",
            sx(start),
            (sx(end) - sx(start)).max(0.0),
            sx(start) + 3.0,
            TOP + 12.0,
            escape(name)
        );
    }
    // Grid and y axis.
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            sy(y),
            sy(y),
            LEFT - 6.0,
            sy(y) + 4.0,
            tick_label(y)
        );
        y += y_step;
    }
    let _ = write!(
        out,
        "<text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_unit)
    );
    // X axis.
    let base = TOP + plot_h;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#888\"/>",
        LEFT + plot_w
    );
    match x_ticks {
        Some(ticks) => {
            for (x, label) in ticks {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    sx(*x),
                    base + 16.0,
                    escape(label)
                );
            }
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>",
                LEFT + plot_w / 2.0,
                base + 34.0
            );
        }
        None => {
            let step = nice_step(x_max, 10.0).max(1.0);
            let mut x = 0.0;
            while x <= x_max + 1e-9 {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    sx(x),
                    base + 16.0,
                    tick_label(x)
                );
                x += step;
            }
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">seconds from the start</text>",
                LEFT + plot_w / 2.0,
                base + 34.0
            );
        }
    }
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"><title>{}</title></polyline>",
            s.color,
            path.join(" "),
            escape(s.name)
        );
    }
    // Actions as dashed lines with their names, over the lines.
    for (i, &(at, name)) in marks.actions.iter().enumerate() {
        let x = sx(at);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{base}\" stroke=\"#000\" \
             stroke-dasharray=\"4 3\"><title>{}</title></line>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#000\">{}</text>",
            escape(name),
            x + 3.0,
            TOP + 26.0 + 12.0 * (i % 4) as f64,
            escape(name)
        );
    }
    out.push_str("</svg><div class=\"legend\">");
    for s in series {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            s.color,
            escape(s.name)
        );
    }
    if !marks.actions.is_empty() {
        out.push_str("<span>- - - action</span>");
    }
    out.push_str("</div>\n");
}

fn tables(out: &mut String, report: &Report) {
    if report.phases.len() > 1 {
        out.push_str(
            "<h2>Phases</h2><table><tr><th>phase</th><th>kind</th><th>time (s)</th>\
             <th>rate (req/s)</th><th>sent</th><th>completed</th><th>p50</th><th>p99</th>\
             <th>errors</th></tr>",
        );
        for p in &report.phases {
            let pct = |q: f64| {
                p.latency
                    .corrected
                    .percentiles
                    .iter()
                    .find(|x| x.percentile == q)
                    .map_or_else(|| "–".to_owned(), |x| duration(x.ms))
            };
            let rate = match (p.rate_from, p.rate_to) {
                (Some(a), Some(b)) if a != b => format!("{a:.0} → {b:.0}"),
                (Some(a), _) => format!("{a:.0}"),
                _ => "–".to_owned(),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.1} – {:.1}</td><td>{rate}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td></tr>",
                escape(&p.name),
                escape(&p.kind),
                p.start_s,
                p.end_s,
                p.summary.sent,
                p.summary.completed,
                pct(50.0),
                pct(99.0),
                p.summary.error_rate * 100.0
            );
        }
        out.push_str("</table>\n");
    }
    if !report.actions.is_empty() {
        out.push_str(
            "<h2>Actions</h2><table><tr><th>action</th><th>kind</th><th>due (s)</th>\
             <th>fired (s)</th><th>took</th><th>outcome</th><th>detail</th></tr>",
        );
        for a in &report.actions {
            let _ = write!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td>\
                 <td>{:.0} ms</td><td>{}</td><td>{}</td></tr>",
                if a.ok { "pass" } else { "fail" },
                escape(&a.name),
                escape(&a.kind),
                a.at_s,
                a.fired_at_s,
                a.duration_ms,
                if a.ok { "ok" } else { "failed" },
                escape(&a.detail)
            );
        }
        out.push_str("</table>\n");
    }
    if !report.recoveries.is_empty() {
        out.push_str(
            "<h2>Recovery</h2><table><tr><th>failure</th><th>at (s)</th>\
             <th>error rate before</th><th>peak</th><th>back to normal after</th></tr>",
        );
        for r in &report.recoveries {
            let (class, after) = match r.recovered_after_s {
                Some(s) => ("pass", format!("{s:.1} s")),
                None => ("fail", "not recovered".to_owned()),
            };
            let _ = write!(
                out,
                "<tr class=\"{class}\"><td>{}</td><td>{:.1}</td><td>{:.2}%</td><td>{:.2}%</td>\
                 <td>{after}</td></tr>",
                escape(&r.action),
                r.at_s,
                r.baseline_error_rate * 100.0,
                r.peak_error_rate * 100.0
            );
        }
        out.push_str("</table>\n");
    }
    if !report.assertions.is_empty() {
        out.push_str(
            "<h2>Assertions</h2><table><tr><th>scope</th><th>assertion</th><th>measured</th>\
             <th>result</th></tr>",
        );
        for a in &report.assertions {
            let _ = write!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if a.passed { "pass" } else { "fail" },
                escape(&a.scope),
                escape(&a.expr),
                escape(&a.actual),
                if a.passed { "pass" } else { "FAIL" }
            );
        }
        out.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(0.9, 5.0), 0.2);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(nice_step(f64::NAN, 5.0), 1.0);
    }
}
