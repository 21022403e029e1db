//! TEMPORARY (replaced by the report helper's renderer).
use super::model::Report;
pub fn render_text(report: &Report) -> String {
    serde_json::to_string_pretty(&report.summary).unwrap_or_default()
        + "\n"
        + &serde_json::to_string_pretty(&report.latency.corrected.percentiles).unwrap_or_default()
        + "\n"
        + &serde_json::to_string(&report.latency.uncorrected.percentiles).unwrap_or_default()
        + "\n"
}
