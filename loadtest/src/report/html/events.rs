//! What happened during the run and the verdicts: the actions fired, the recoveries after
//! failures and the assertions checked, one table each.

use super::tables::table;
use crate::report::model::Report;
use crate::report::units;

pub(super) fn actions(out: &mut String, report: &Report) {
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

pub(super) fn recoveries(out: &mut String, report: &Report) {
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

pub(super) fn assertions(out: &mut String, report: &Report) {
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
