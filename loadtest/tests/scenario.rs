//! Integration tests for `weir-loadtest scenario` (and the assertions of `run`): the real binary,
//! real origin processes on loopback, scenario files written by the test.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::*;

fn scenario(dir: &Path, text: &str) -> (Output, Value, String) {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, text).expect("write scenario");
    loadtest(dir, &["scenario", file.to_str().expect("utf-8 path")])
}

/// Checks a report against the documented schema, `loadtest/schema/report.schema.json`.
fn assert_matches_schema(report: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schema/report.schema.json"))
        .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match the schema:\n{}",
        errors.join("\n")
    );
}

/// The page loads nothing from anywhere: no external script, style, image or font.
fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "not an HTML page");
    let lower = page.to_ascii_lowercase();
    for needle in [
        "src=", "href=", "url(", "@import", "<link", "<script", "http://", "https://",
    ] {
        // Target URLs appear as text, escaped in table cells, never as a reference.
        if needle.starts_with("http") {
            for (at, _) in lower.match_indices(needle) {
                let before = &lower[..at];
                let last_tag = before.rfind('<').unwrap_or(0);
                let inside_tag = before[last_tag..].find('>').is_none();
                assert!(!inside_tag, "a URL inside a tag at byte {at}");
            }
        } else {
            assert!(!lower.contains(needle), "the page contains {needle:?}");
        }
    }
}

#[test]
fn an_action_fires_once_on_time_and_is_marked_in_the_report() {
    let target = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let marker = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, report, page) = scenario(
        dir.path(),
        &format!(
            r#"
name = "one action"

[load]
targets = [{{ url = "http://{target}/" }}]
connections = 4

[[phases]]
name = "steady"
kind = "steady"
rate = 100
duration = "5s"

[[actions]]
name = "mark-the-moment"
at = "3s"
http = {{ method = "POST", url = "http://{marker}/mark", body = "hello" }}
"#,
            target = target.addr(0),
            marker = marker.addr(0)
        ),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // Once: the marker origin saw exactly one request.
    assert_eq!(requests_served(marker.addr(0)), 1);
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1);
    let action = &actions[0];
    assert_eq!(action["name"], "mark-the-moment");
    assert_eq!(action["ok"], true, "{action}");
    assert_eq!(action["at_s"], 3.0);
    let fired = action["fired_at_s"].as_f64().expect("fired_at_s");
    assert!((fired - 3.0).abs() <= 0.1, "fired at {fired} s");
    // Marked in the report: the page names it, and the load went on around it.
    assert!(
        page.contains("mark-the-moment"),
        "the HTML report does not show the action"
    );
    assert_eq!(report["summary"]["completed"], 500);
    assert_eq!(report["config"]["scenario"], "one action");
    assert_matches_schema(&report);
    assert_self_contained(&page);
}

#[test]
fn a_failure_is_timed_until_it_recovers_and_phase_assertions_are_checked() {
    let target = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = format!("http://{}/_origin/fault", target.addr(0));
    let (output, report, _) = scenario(
        dir.path(),
        &format!(
            r#"
name = "outage"
assert = ["rps > 150"]

[load]
targets = [{{ url = "http://{target}/" }}]
connections = 8
timeout = "2s"

[[phases]]
name = "before"
kind = "steady"
rate = 200
duration = "2s"
assert = ["errors < 1%", "p99 < 1s"]

[[phases]]
name = "outage"
kind = "steady"
rate = 200
duration = "2s"
assert = ["errors < 1%"]

[[phases]]
name = "after"
kind = "ramp"
from = 200
to = 300
duration = "3s"
assert = ["errors < 1%"]

[[actions]]
name = "origin fails"
at = "2s"
failure = true
http = {{ method = "POST", url = "{fault}", body = '{{"status":503}}' }}

[[actions]]
name = "origin repaired"
at = "4s"
http = {{ method = "DELETE", url = "{fault}" }}
"#,
            target = target.addr(0),
        ),
    );
    // The outage phase's assertion fails: exit 1, and stderr says which.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("(outage): errors < 1%"),
        "{}",
        stderr(&output)
    );
    let results = report["assertions"].as_array().expect("assertions");
    let passed = |scope: &str, expr: &str| {
        results
            .iter()
            .find(|r| r["scope"] == scope && r["expr"] == expr)
            .and_then(|r| r["passed"].as_bool())
            .unwrap_or_else(|| panic!("no assertion {scope}: {expr} in {results:?}"))
    };
    assert!(passed("run", "rps > 150"));
    assert!(passed("before", "errors < 1%"));
    assert!(passed("before", "p99 < 1s"));
    assert!(!passed("outage", "errors < 1%"));
    // Requests due in the millisecond before the repair landed may still get a 503.
    assert!(passed("after", "errors < 1%"));

    // Every request of the outage got a 503, and the errors stopped when it was repaired.
    // (All but those due in the millisecond before the fault landed.)
    let outage = &report["phases"][1]["summary"];
    let failed = outage["status"]["5xx"].as_u64().expect("5xx");
    assert!((395..=400).contains(&failed), "{failed} of 400 failed");
    let recoveries = report["recoveries"].as_array().expect("recoveries");
    assert_eq!(recoveries.len(), 1, "only the failure action is measured");
    let recovery = &recoveries[0];
    assert_eq!(recovery["action"], "origin fails");
    assert_eq!(recovery["peak_error_rate"], 1.0);
    let after = recovery["recovered_after_s"].as_f64().expect("recovered");
    assert!((after - 2.0).abs() <= 0.3, "recovered after {after} s");
    // The ramp's schedule: 200 → 300 req/s over 3 s is 750 requests.
    assert_eq!(report["phases"][2]["summary"]["scheduled"], 750);
    assert_matches_schema(&report);
}

#[test]
fn an_invalid_scenario_lists_every_error_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, report, _) = scenario(
        dir.path(),
        r#"
[load]
targets = [{ url = "https://127.0.0.1:1/" }]

[[phases]]
kind = "steady"
rate = -5
duration = "1s"

[[actions]]
at = "9s"
"#,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    for path in ["load.targets[0]", "phases[0].rate", "actions[0]"] {
        assert!(err.contains(path), "no error for {path} in:\n{err}");
    }
    assert_eq!(
        report,
        Value::Null,
        "no report for a run that did not happen"
    );
}

#[test]
fn run_assertions_pass_fail_and_refuse_bad_expressions() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let url = format!("http://{}/", origin.addr(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = ["run", "--rate", "100", "-c", "2", "-d", "1s"];

    let args = [
        &base[..],
        &[&url, "--assert", "p99 < 5s", "--assert", "errors < 0.1%"],
    ]
    .concat();
    let (output, report, _) = loadtest(dir.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["assertions"][0]["passed"], true);
    assert_eq!(report["assertions"][1]["scope"], "run");

    let args = [
        &base[..],
        &[&url, "--assert", "p50 < 1us", "--assert", "rps > 50"],
    ]
    .concat();
    let (output, report, _) = loadtest(dir.path(), &args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("p50 < 1us"), "{}", stderr(&output));
    assert_eq!(report["assertions"][0]["passed"], false);
    assert_eq!(report["assertions"][1]["passed"], true);

    let args = [&base[..], &[&url, "--assert", "p99 <"]].concat();
    let (output, _, _) = loadtest(dir.path(), &args);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("p99 <"), "{}", stderr(&output));
}

#[test]
fn a_closed_run_against_nothing_still_matches_the_schema() {
    // Closed model, every request a connect error: nulls and empty latencies where the schema
    // allows them, and a target URL with characters HTML must escape.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{addr}/a?b='x'&c=1");
    let (output, report, page) = loadtest(dir.path(), &["run", "-c", "1", "-d", "300ms", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        report["summary"]["errors"]["connect"]
            .as_u64()
            .expect("count")
            > 0
    );
    assert_matches_schema(&report);
    assert_self_contained(&page);
    assert!(
        page.contains("/a?b=&#39;x&#39;&amp;c=1"),
        "the target URL is not escaped"
    );
}

#[test]
fn an_invalid_rate_does_not_hide_a_late_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, _, _) = scenario(
        dir.path(),
        r#"
name = "two mistakes"

[load]
targets = [{ url = "http://127.0.0.1:1/" }]

[[phases]]
kind = "steady"
rate = 0
duration = "5s"

[[actions]]
name = "too late"
at = "9s"
command = ["true"]
"#,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("(2 errors)"), "{err}");
    assert!(err.contains("phases[0].rate: must be > 0"), "{err}");
    assert!(
        err.contains("actions[0].at: 9s is not before the end of the phases (5s)"),
        "{err}"
    );
}

#[test]
fn a_failover_shows_in_the_responses_by_region() {
    // Two origins standing for two regions; the phases move the load from one to the other, as
    // a gateway's failover would, and the report shows which region answered when.
    let east = OriginProc::start(&["--listen", "127.0.0.1:0", "--region", "us-east"], 1);
    let west = OriginProc::start(&["--listen", "127.0.0.1:0", "--region", "eu-west"], 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("scenario.toml");
    std::fs::write(
        &file,
        format!(
            r#"
name = "failover"

[load]
targets = [{{ name = "east", url = "http://{east}/" }}, {{ name = "west", url = "http://{west}/" }}]
connections = 4

[[phases]]
name = "east"
kind = "steady"
rate = 50
duration = "2s"
weights = {{ east = 1 }}

[[phases]]
name = "west"
kind = "ramp"
from = 50
to = 150
duration = "2s"
weights = {{ west = 1 }}
"#,
            east = east.addr(0),
            west = west.addr(0)
        ),
    )
    .expect("write scenario");
    let (output, report, page) = loadtest(
        dir.path(),
        &[
            "scenario",
            file.to_str().expect("utf-8 path"),
            "--group-by-header",
            "x-weir-origin-region",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_matches_schema(&report);
    let values = report["group_by"]["values"].as_array().expect("values");
    assert_eq!(values[0]["value"], "us-east");
    assert_eq!(values[0]["responses"], 100);
    assert_eq!(values[1]["value"], "eu-west");
    assert_eq!(values[1]["responses"], 200);
    // By second: east answers in seconds 0-1 only, west in 2-3 (a request due just before
    // second 2 may end just after it).
    let timeline = report["timeline"].as_array().expect("timeline");
    let in_second = |t: usize, group: usize| timeline[t]["groups"][group].as_u64().unwrap_or(0);
    assert_eq!(in_second(0, 1), 0);
    assert!(in_second(3, 0) == 0 && in_second(3, 1) > 0, "{timeline:?}");
    assert!(in_second(0, 0) > 0);
    // The text header gives each phase's rate, not the mean (75/s).
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("(constant arrival rate), east 50, west 50 -> 150 requests/s\n"),
        "{text}"
    );
    assert!(page.contains("<h2>Responses by x-weir-origin-region</h2>"));
    assert_self_contained(&page);
}
