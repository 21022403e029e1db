//! The page's frame: the head with its style sheet (`report.css`), the title, the sections in
//! order and the footer.

use std::fmt::Write;

use super::escape::escape;
use super::{breakdown, cards, charts, events, totals};
use crate::report::model::{HttpVersion, Report};
use crate::report::units;

/// The page's style sheet; the page has no other.
const CSS: &str = include_str!("report.css");

/// The whole page.
pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(128 * 1024);
    head(&mut out, report);
    out.push_str("<body><main>");
    title(&mut out, report);
    cards::key_figures(&mut out, report);
    charts::charts(&mut out, report);
    totals::totals(&mut out, report);
    breakdown::targets(&mut out, report);
    breakdown::groups(&mut out, report);
    breakdown::phases(&mut out, report);
    events::actions(&mut out, report);
    events::recoveries(&mut out, report);
    events::assertions(&mut out, report);
    totals::config(&mut out, report);
    let _ = write!(
        out,
        "<footer>{} · weir-loadtest {}</footer></main></body></html>",
        escape(report.schema),
        escape(report.tool_version)
    );
    out.push('\n');
    out
}

fn head(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>weir-loadtest: {}</title><style>",
        escape(&run_name(report))
    );
    // One rule per line in the file, for reading; all on one line in the page.
    out.extend(CSS.lines());
    out.push_str("</style></head>");
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
        HttpVersion::Http1 => "HTTP/1.1",
        HttpVersion::Http2 => "HTTP/2",
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
