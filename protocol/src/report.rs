//! What a gateway says back after each pushed version: a [`Report`] (ACK or NACK with its errors)
//! posted to [`report_path`], and the caps both sides keep on it so a report can never grow the
//! control plane's memory or logs without bound.

use serde::{Deserialize, Serialize};

use crate::api::Route;

/// The largest report body the control plane reads (`413` beyond it).
pub const MAX_REPORT_BYTES: usize = 64 << 10;
/// Most errors a report carries; the control plane keeps no more.
pub const MAX_REPORT_ERRORS: usize = 20;
/// Longest error a report carries, in characters; the control plane keeps no more.
pub const MAX_ERROR_CHARS: usize = 256;

/// At most [`MAX_REPORT_ERRORS`] errors of at most [`MAX_ERROR_CHARS`] characters (a cut error
/// ends in `…`); when some are left out, the last line says how many. What both sides keep.
pub fn cap_errors(errors: Vec<String>) -> Vec<String> {
    let total = errors.len();
    let mut kept: Vec<String> = errors
        .into_iter()
        .take(MAX_REPORT_ERRORS)
        .map(|error| match error.char_indices().nth(MAX_ERROR_CHARS) {
            Some((cut, _)) => format!("{}…", &error[..cut]),
            None => error,
        })
        .collect();
    if total > MAX_REPORT_ERRORS {
        kept.pop();
        kept.push(format!(
            "… and {} more errors (see the gateway's log)",
            total - MAX_REPORT_ERRORS + 1
        ));
    }
    kept
}

/// `POST` a [`Report`] here (role `gateway`), with `{id}` the gateway's id.
pub fn report_path(gateway_id: &str) -> String {
    Route::Report.fill(&[gateway_id])
}

/// What a gateway did with a pushed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Applied (or already running): the gateway serves this version.
    Ack,
    /// Refused: the gateway still serves the version it had; `errors` say why.
    Nack,
}

impl Outcome {
    /// The wire spelling: `ack` or `nack`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ack => "ack",
            Outcome::Nack => "nack",
        }
    }
}

/// `POST`ed by a gateway after each pushed version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The gateway's region (`gateway.region`), if it has one.
    #[serde(default)]
    pub region: Option<String>,
    /// The version this report is about.
    pub version: u64,
    pub outcome: Outcome,
    /// Why a NACKed version was refused, one line per problem (with its path).
    #[serde(default)]
    pub errors: Vec<String>,
    /// The version the gateway serves now (after an ACK, `version`; after a NACK, the previous
    /// one, or 0 when it has none).
    pub applied_version: u64,
    /// When the gateway published the version (Unix time, µs); for propagation measurements.
    #[serde(default)]
    pub applied_at_unix_us: Option<u64>,
    /// Sent by weir-dns only: its view of its GSLB members (capped; absent from a gateway's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::DnsView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_errors_are_capped_in_number_and_length() {
        let long = "x".repeat(10_000);
        let kept = cap_errors((0..500).map(|_| long.clone()).collect());
        assert_eq!(kept.len(), MAX_REPORT_ERRORS);
        assert!(
            kept.iter()
                .all(|e| e.chars().count() <= MAX_ERROR_CHARS + 1)
        );
        assert_eq!(
            kept.last().unwrap(),
            "… and 481 more errors (see the gateway's log)"
        );
        assert_eq!(cap_errors(vec!["é".repeat(300)])[0].chars().count(), 257);
        assert_eq!(cap_errors(vec!["short".into()]), vec!["short".to_string()]);
        // Capped errors always fit the body cap, with room for the rest of the report.
        let report = Report {
            region: Some("r".repeat(128)),
            version: u64::MAX,
            outcome: Outcome::Nack,
            errors: cap_errors((0..500).map(|_| "\u{1}".repeat(10_000)).collect()),
            applied_version: u64::MAX,
            applied_at_unix_us: Some(u64::MAX),
            dns: None,
        };
        assert!(serde_json::to_vec(&report).unwrap().len() < MAX_REPORT_BYTES);
    }

    #[test]
    fn report_defaults_optional_fields() {
        let report: Report =
            serde_json::from_str(r#"{"version":3,"outcome":"nack","applied_version":2}"#).unwrap();
        assert_eq!(report.outcome, Outcome::Nack);
        assert!(report.errors.is_empty());
        assert_eq!(report.region, None);
        assert_eq!(report.dns, None);
        assert!(
            !serde_json::to_string(&report).unwrap().contains("dns"),
            "a gateway's report is what it was"
        );
    }

    #[test]
    fn reports_go_to_their_gateways_path() {
        assert_eq!(report_path("gw-1"), "/v1/gateways/gw-1/report");
        assert_eq!(
            serde_json::to_string(&Outcome::Nack).unwrap(),
            format!("\"{}\"", Outcome::Nack.as_str())
        );
    }
}
