//! Integration tests for `weir-loadtest run`: the real binary against real origin processes on
//! loopback, checked through its JSON report and exit status.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::process::Output;

use serde_json::Value;
use support::*;

/// Runs `weir-loadtest run ARGS`; returns the process output and its JSON report.
fn run(args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, report, _) = loadtest(dir.path(), &[&["run"], args].concat());
    (output, report)
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn percentile(report: &Value, view: &str, p: f64) -> f64 {
    report["latency"][view]["percentiles"]
        .as_array()
        .expect("percentiles")
        .iter()
        .find(|e| e["percentile"].as_f64() == Some(p))
        .and_then(|e| e["ms"].as_f64())
        .unwrap_or_else(|| panic!("no p{p} in {view}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A free loopback port with nothing listening on it.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

#[test]
fn a_stall_shows_in_the_corrected_p99_and_not_in_the_uncorrected() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let addr = origin.addr(0);
    let set = post(
        addr,
        "/_origin/fault",
        r#"{"stall_ms":1000,"stall_every_ms":5000}"#,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    // 1,000 req/s for 10 s over 10 connections: two whole stall cycles, whatever the phase.
    let (output, report) = run(&["--rate", "1000", "-c", "10", "-d", "10s", &url(addr, "/")]);
    assert!(output.status.success(), "{}", stderr(&output));

    // The truth: requests arrive evenly; one in five seconds is stalled, and a request arriving
    // x into the stall waits 1 s − x. So 20% of requests wait uniformly 0..1 s and the p99 is
    // the stalled request with 5% of the stall left: 1 s × (1 − 0.01 / 0.2) = 950 ms.
    let true_p99 = 1000.0 * (1.0 - 0.01 / 0.2);
    let corrected = percentile(&report, "corrected", 99.0);
    let uncorrected = percentile(&report, "uncorrected", 99.0);
    assert!(
        (corrected - true_p99).abs() <= 0.1 * true_p99,
        "corrected p99 {corrected} ms, true {true_p99} ms"
    );
    // Only the ~20 requests on the connections when each stall began waited after being sent.
    assert!(
        uncorrected < 100.0,
        "uncorrected p99 {uncorrected} ms should not show the stall"
    );
    assert_eq!(report["summary"]["completed"], 10_000);
    assert_eq!(report["summary"]["error_rate"], 0.0);
}

#[test]
fn the_open_model_holds_its_rate() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let (output, report) = run(&[
        "--rate",
        "2000",
        "-c",
        "20",
        "-d",
        "4s",
        &url(origin.addr(0), "/"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = &report["summary"];
    assert_eq!(summary["scheduled"], 8000);
    let sent_rate = summary["sent_rate"].as_f64().expect("sent_rate");
    assert!((sent_rate - 2000.0).abs() <= 20.0, "sent {sent_rate}/s");
    // Not only on average: every second of the run was scheduled its share exactly and sent it
    // within 5% (a debug build on a shared two-core machine can fall a few milliseconds behind
    // within a second and catch up in the next; the whole run is held to 1% above).
    let timeline = report["timeline"].as_array().expect("timeline");
    for second in &timeline[..4] {
        let sent = second["sent"].as_f64().expect("sent");
        assert!((sent - 2000.0).abs() <= 100.0, "second {second}");
        assert_eq!(second["scheduled"], 2000);
    }
    let throughput = summary["throughput"].as_f64().expect("throughput");
    assert!(
        (throughput - 2000.0).abs() <= 20.0,
        "throughput {throughput}/s"
    );
    assert_eq!(report["config"]["model"], "open");
    assert_eq!(report["summary"]["target_rate"], 2000.0);
}

#[test]
fn the_closed_model_reports_in_text_and_json() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let (output, report) = run(&["-c", "4", "-t", "2", "-d", "1s", &url(origin.addr(0), "/x")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let completed = report["summary"]["completed"].as_u64().expect("completed");
    assert!(completed > 100, "completed {completed}");
    assert_eq!(report["summary"]["status"]["2xx"], completed);
    assert_eq!(report["config"]["model"], "closed");
    assert_eq!(report["summary"]["scheduled"], Value::Null);
    // Nothing waits for a schedule in the closed model: both views are the same.
    assert_eq!(
        report["latency"]["corrected"]["percentiles"],
        report["latency"]["uncorrected"]["percentiles"]
    );
    assert_eq!(requests_served(origin.addr(0)), completed);
    let text = stdout(&output);
    assert!(text.contains("Requests/sec"), "{text}");
}

#[test]
fn http2_streams_share_connections() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let (output, report) = run(&[
        "--http2",
        "-c",
        "2",
        "--streams",
        "8",
        "-d",
        "1s",
        &url(origin.addr(0), "/"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(report["summary"]["completed"].as_u64().expect("completed") > 100);
    assert_eq!(report["summary"]["failed"], 0);
    assert_eq!(report["config"]["http"], "http2");
    assert_eq!(report["config"]["concurrency"], 16);
}

#[test]
fn weights_split_the_requests() {
    let a = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let b = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let (output, report) = run(&[
        "--rate",
        "400",
        "-c",
        "8",
        "-d",
        "1s",
        &format!("3@{}", url(a.addr(0), "/")),
        &url(b.addr(0), "/"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["summary"]["completed"], 400);
    assert_eq!(requests_served(a.addr(0)), 300);
    assert_eq!(requests_served(b.addr(0)), 100);
    assert_eq!(report["config"]["targets"][0]["weight"], 3);
}

#[test]
fn failures_are_counted_by_kind() {
    // Nothing listens: every request is a connect error, and the run still reports.
    let (output, report) = run(&[
        "--rate",
        "50",
        "-c",
        "2",
        "-d",
        "1s",
        &url(closed_port(), "/"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["summary"]["errors"]["connect"], 50);
    assert_eq!(report["summary"]["error_rate"], 1.0);

    // A slow origin: requests over the timeout are timeouts.
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    post(origin.addr(0), "/_origin/fault", r#"{"delay_ms":500}"#);
    let (output, report) = run(&[
        "--rate",
        "20",
        "-c",
        "4",
        "-d",
        "1s",
        "--timeout",
        "100ms",
        &url(origin.addr(0), "/"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["summary"]["errors"]["timeout"], 20);

    // 5xx responses are responses, and errors in the error rate.
    post(origin.addr(0), "/_origin/fault", r#"{"status":503}"#);
    let (_, report) = run(&[
        "--rate",
        "20",
        "-c",
        "2",
        "-d",
        "1s",
        &url(origin.addr(0), "/"),
    ]);
    assert_eq!(report["summary"]["status"]["5xx"], 20);
    assert_eq!(report["summary"]["completed"], 20);
    assert_eq!(report["summary"]["error_rate"], 1.0);
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    for (args, reason) in [
        (vec!["--rate", "0", "http://127.0.0.1:1/"], "--rate"),
        (vec!["https://127.0.0.1:1/"], "https is not supported"),
        (vec!["-c", "1", "-t", "2", "http://127.0.0.1:1/"], "threads"),
        (vec!["--streams", "4", "http://127.0.0.1:1/"], "--http2"),
        (vec!["-H", "no-colon", "http://127.0.0.1:1/"], "Name: value"),
        (
            vec!["--no-such-flag", "http://127.0.0.1:1/"],
            "no-such-flag",
        ),
    ] {
        let (output, _) = run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(reason),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
