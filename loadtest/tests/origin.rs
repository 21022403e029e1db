//! Integration tests for `weir-loadtest origin`: spawn the real binary, talk HTTP/1.1 to it over TCP.

mod support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn answers_200_with_region_and_name() {
    let origin = OriginProc::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--region",
            "us-east",
            "--name",
            "a",
        ],
        1,
    );
    assert_eq!(origin.listeners[0].0, "a");
    for (method, path) in [("GET", "/"), ("POST", "/some/path?q=1"), ("PUT", "/x")] {
        let resp = Conn::open(origin.addr(0)).send(method, path, &[], "payload");
        assert_eq!(resp.status, 200, "{method} {path}");
        assert_eq!(resp.header("x-weir-origin-region"), Some("us-east"));
        assert_eq!(resp.header("x-weir-origin"), Some("a"));
        assert_eq!(resp.header("content-type"), Some("text/plain"));
        assert_eq!(resp.body.len(), 64, "default body size");
        assert!(resp.body.starts_with("origin a (us-east)"), "{}", resp.body);
    }
}

#[test]
fn body_size_is_configurable() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--body-size", "1000"], 1);
    assert_eq!(get(origin.addr(0), "/").body.len(), 1000);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--name", "ka"], 1);
    let mut conn = Conn::open(origin.addr(0));
    for _ in 0..20 {
        let resp = conn.send("GET", "/", &[], "");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-weir-origin"), Some("ka"));
    }
    // A request with a body that the handler ignores must not break the connection.
    let resp = conn.send("POST", "/upload", &[], &"x".repeat(10_000));
    assert_eq!(resp.status, 200);
    assert_eq!(conn.send("GET", "/", &[], "").status, 200);
}

#[test]
fn several_listeners_in_one_process() {
    let origin = OriginProc::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--region",
            "eu-west",
            "--name",
            "a",
            "--name",
            "b",
            "--threads",
            "2",
        ],
        3,
    );
    let third_port = origin.addr(2).port().to_string();
    for (index, expected) in ["a", "b", third_port.as_str()].into_iter().enumerate() {
        assert_eq!(origin.listeners[index].0, expected);
        let resp = get(origin.addr(index), "/");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-weir-origin"), Some(expected));
        assert_eq!(resp.header("x-weir-origin-region"), Some("eu-west"));
    }
}

#[test]
fn fault_status_is_set_read_and_cleared() {
    let origin = OriginProc::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "a",
            "--name",
            "b",
        ],
        2,
    );
    let (a, b) = (origin.addr(0), origin.addr(1));

    let resp = post(a, "/_origin/fault", r#"{"status":503}"#);
    assert_eq!(resp.status, 200, "{}", resp.body);

    let resp = get(a, "/anything");
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("x-weir-origin"), Some("a"));
    // Faults are per listener.
    assert_eq!(get(b, "/anything").status, 200);

    let current: serde_json::Value =
        serde_json::from_str(&get(a, "/_origin/fault").body).expect("fault JSON");
    assert_eq!(current, serde_json::json!({"status": 503}));
    // Control endpoints are never faulted.
    assert_eq!(get(a, "/_origin/stats").status, 200);

    // A POST replaces the whole fault: the status is gone.
    assert_eq!(post(a, "/_origin/fault", r#"{"delay_ms":1}"#).status, 200);
    assert_eq!(get(a, "/").status, 200);
    assert_eq!(post(a, "/_origin/fault", r#"{"status":500}"#).status, 200);
    assert_eq!(get(a, "/").status, 500);

    let resp = delete(a, "/_origin/fault");
    assert_eq!(resp.status, 200);
    assert_eq!(get(a, "/").status, 200);
    assert_eq!(get(a, "/_origin/fault").body.trim(), "{}");
}

#[test]
fn fault_delay_is_applied() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let addr = origin.addr(0);
    assert_eq!(
        post(addr, "/_origin/fault", r#"{"delay_ms":300}"#).status,
        200
    );

    let mut conn = Conn::open(addr);
    let started = Instant::now();
    let resp = conn.send("GET", "/", &[], "");
    assert_eq!(resp.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "delay not applied: {:?}",
        started.elapsed()
    );

    // Control endpoints are not delayed, and status + delay combine.
    assert_eq!(
        post(addr, "/_origin/fault", r#"{"status":502,"delay_ms":200}"#).status,
        200
    );
    let started = Instant::now();
    assert_eq!(conn.send("GET", "/", &[], "").status, 502);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn healthz_reflects_the_fault() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let addr = origin.addr(0);
    let resp = get(addr, "/healthz");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.trim(), "ok");

    assert_eq!(
        post(addr, "/_origin/fault", r#"{"status":503,"delay_ms":150}"#).status,
        200
    );
    let started = Instant::now();
    let resp = get(addr, "/healthz");
    assert_eq!(resp.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(150));

    assert_eq!(delete(addr, "/_origin/fault").status, 200);
    assert_eq!(get(addr, "/healthz").status, 200);
}

#[test]
fn fail_ratio_fails_a_share_of_requests() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let addr = origin.addr(0);
    let mut conn = Conn::open(addr);
    let mut count_failures = |ratio: &str| {
        let body = format!(r#"{{"status":500,"fail_ratio":{ratio}}}"#);
        assert_eq!(post(addr, "/_origin/fault", &body).status, 200);
        (0..200)
            .filter(|_| conn.send("GET", "/", &[], "").status == 500)
            .count()
    };
    assert_eq!(count_failures("0.0"), 0);
    assert_eq!(count_failures("1.0"), 200);
    let half = count_failures("0.5");
    // Binomial(200, 0.5): outside 40..=160 has probability far below 1e-15.
    assert!(
        (40..=160).contains(&half),
        "{half} of 200 failed at ratio 0.5"
    );
}

#[test]
fn invalid_fault_is_rejected_with_400() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let addr = origin.addr(0);
    for body in [
        "not json",
        "",
        r#"{"status":"503"}"#,
        r#"{"status":42}"#,
        r#"{"stauts":503}"#,
        r#"{"status":503,"fail_ratio":2}"#,
    ] {
        let resp = post(addr, "/_origin/fault", body);
        assert_eq!(resp.status, 400, "body {body:?}");
        assert!(!resp.body.trim().is_empty(), "400 explains itself");
    }
    // Nothing was set by the rejected requests.
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(get(addr, "/_origin/fault").body.trim(), "{}");
    assert_eq!(get(addr, "/_origin/nope").status, 404);
    assert_eq!(
        Conn::open(addr)
            .send("PUT", "/_origin/fault", &[], "")
            .status,
        405
    );
}

#[test]
fn stats_count_non_control_requests() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"], 2);
    let (a, b) = (origin.addr(0), origin.addr(1));
    assert_eq!(requests_served(a), 0);
    let mut conn = Conn::open(a);
    for _ in 0..5 {
        assert_eq!(conn.send("GET", "/", &[], "").status, 200);
    }
    assert_eq!(get(a, "/healthz").status, 200);
    // Control requests are not counted, nor are another listener's.
    assert_eq!(get(a, "/_origin/fault").status, 200);
    assert_eq!(requests_served(a), 6);
    assert_eq!(requests_served(b), 0);
    let stats: serde_json::Value =
        serde_json::from_str(&get(a, "/_origin/stats").body).expect("stats JSON");
    assert_eq!(stats["healthz"], 1);

    assert_eq!(delete(a, "/_origin/stats").status, 200);
    assert_eq!(requests_served(a), 0);
}

#[test]
fn request_id_and_traceparent_are_echoed() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = Conn::open(origin.addr(0)).send(
        "GET",
        "/",
        &[("x-request-id", "req-123"), ("traceparent", traceparent)],
        "",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-weir-origin-saw-request-id"), Some("req-123"));
    assert_eq!(
        resp.header("x-weir-origin-saw-traceparent"),
        Some(traceparent)
    );

    let resp = get(origin.addr(0), "/");
    assert_eq!(resp.header("x-weir-origin-saw-request-id"), None);
    assert_eq!(resp.header("x-weir-origin-saw-traceparent"), None);
}

#[test]
fn no_echo_keeps_the_response_the_same_for_every_caller() {
    let origin = OriginProc::start(&["--listen", "127.0.0.1:0", "--no-echo"], 1);
    let resp = Conn::open(origin.addr(0)).send("GET", "/", &[("x-request-id", "req-123")], "");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-weir-origin-saw-request-id"), None);
}

#[test]
fn exits_cleanly_on_sigterm() {
    let mut origin = OriginProc::start(&["--listen", "127.0.0.1:0"], 1);
    // Hold a keep-alive connection open: it must not block the exit.
    let mut conn = Conn::open(origin.addr(0));
    assert_eq!(conn.send("GET", "/", &[], "").status, 200);
    let killed = Command::new("kill")
        .args(["-TERM", &origin.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = origin
        .wait_timeout(Duration::from_secs(5))
        .expect("origin exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn bind_failure_exits_nonzero_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local addr").to_string();
    let out = Command::new(BIN)
        .args(["origin", "--listen", "127.0.0.1:0", "--listen", &addr])
        .stdin(Stdio::null())
        .output()
        .expect("run origin");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr), "stderr: {stderr}");
    assert!(!stderr.contains("listening on"), "nothing served: {stderr}");
}

#[test]
fn rejects_more_names_than_listeners() {
    let out = Command::new(BIN)
        .args([
            "origin",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "a",
            "--name",
            "b",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run origin");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
}

#[test]
fn help_works() {
    for args in [&["--help"][..], &["origin", "--help"][..]] {
        let out = Command::new(BIN).args(args).output().expect("run help");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("origin"));
    }
}
