//! The whole run's totals (requests, responses by status, transport errors) and its
//! configuration, as captioned key-value tables.

use super::tables::key_values;
use crate::report::model::{HttpVersion, Report, StatusCounts};
use crate::report::units;

/// Requests, statuses and transport errors of the whole run.
pub(super) fn totals(out: &mut String, report: &Report) {
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

/// The configuration and the targets.
pub(super) fn config(out: &mut String, report: &Report) {
    let c = &report.config;
    out.push_str("<section><h2>Configuration</h2><div class=\"grid3\">");
    let http = match c.http {
        HttpVersion::Http1 => "HTTP/1.1",
        HttpVersion::Http2 => "HTTP/2 (h2c)",
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
