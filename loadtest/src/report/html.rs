//! TEMPORARY (replaced by the report helper's renderer).
use super::model::Report;
pub fn render_html(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}
