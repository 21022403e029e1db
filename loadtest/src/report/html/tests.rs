//! The whole page for realistic and extreme reports: well formed, self-contained, escaped, and
//! showing what each section promises.

use super::buckets::Buckets;
use super::page::render_html;
use super::palette::GROUP_COLORS;
use crate::report::fixture;
use crate::report::model::Second;
use crate::report::units;

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
fn card_figures_wrap_rather_than_being_cut() {
    assert!(
        !render_html(&fixture::open()).contains("white-space:nowrap}.card"),
        "nothing is cut, it wraps"
    );
}

#[test]
fn the_subtitle_names_a_single_rate() {
    let mut report = fixture::open();
    report.phases.truncate(1);
    report.phases[0].rate_from = Some(380.0);
    report.phases[0].rate_to = Some(380.0);
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
    assert!(html.contains("<tr class=\"fail\"><td>FAIL</td><td>run</td><td>errors &lt; 1%</td>"));
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
