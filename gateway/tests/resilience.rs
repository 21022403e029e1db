//! Resilience end to end, with real gateway and origin processes on loopback: deadlines that
//! cover retries, retry budgets against amplification, circuit breakers and slow start,
//! bulkheads and priority shedding under concurrent load, fault injection, and reloading those
//! settings without a restart.
//!
//! Upstream attempts are counted at the origins themselves (`GET /_origin/stats`), so a test
//! does not only trust the gateway's own metrics.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{Gateway, Origins, Resp, agent, request_via};

/// One answer seen by a load client.
#[derive(Debug)]
struct Sample {
    /// When the request was sent.
    at: Instant,
    latency: Duration,
    /// Status 0 is a transport error (its text in `body`).
    resp: Resp,
}

impl Sample {
    fn status(&self) -> u16 {
        self.resp.status
    }
}

fn send(agent: &ureq::Agent, proxy: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Sample {
    let at = Instant::now();
    let resp = request_via(agent, proxy, "GET", path, headers).unwrap_or_else(|e| Resp {
        status: 0,
        headers: Vec::new(),
        body: e.to_string(),
    });
    Sample {
        at,
        latency: at.elapsed(),
        resp,
    }
}

/// Start `n` client threads, each with its own connections, sending `GET path` in a loop until
/// `stop`. A shed answer (503 without `x-weir-origin`) is followed by a pause of `shed_pause`, as
/// a client told to come back later would, so shed clients do not turn into a CPU benchmark.
fn start_clients(
    proxy: SocketAddr,
    n: usize,
    path: &'static str,
    stop: &Arc<AtomicBool>,
    shed_pause: Duration,
) -> Vec<JoinHandle<Vec<Sample>>> {
    (0..n)
        .map(|_| {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let agent = agent();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sample = send(&agent, proxy, path, &[]);
                    let shed = sample.status() == 503 && sample.resp.origin().is_empty();
                    let broken = sample.status() == 0;
                    samples.push(sample);
                    if shed || broken {
                        std::thread::sleep(shed_pause);
                    }
                }
                samples
            })
        })
        .collect()
}

fn join_all(clients: Vec<JoinHandle<Vec<Sample>>>) -> Vec<Sample> {
    clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect()
}

fn by_status(samples: &[Sample]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for s in samples {
        *counts.entry(s.status()).or_insert(0) += 1;
    }
    counts
}

fn median(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty(), "no samples");
    v.sort();
    v[v.len() / 2]
}

/// A shed or fail-fast answer from the gateway itself: `503`, a whole-seconds `Retry-After`, a
/// problem document, and no origin behind it.
fn assert_gateway_503(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 503, "{what}: {resp:?}");
    assert_eq!(resp.origin(), "", "{what} came from an origin: {resp:?}");
    let retry_after: u64 = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what} has no Retry-After: {resp:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After is not whole seconds: {resp:?}"));
    assert!(retry_after >= 1, "{what}: Retry-After {retry_after}");
}

fn assert_problem(resp: &Resp, status: u16, what: &str) {
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json"),
        "{what}: {resp:?}"
    );
    let doc: serde_json::Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("{what}: problem body is not JSON ({e}): {resp:?}"));
    assert_eq!(doc["status"], status, "{what}: {doc}");
}

/// Access-log lines of `route`, once at least `want` of them were written (the log is written
/// off the request path).
fn log_lines(gw: &Gateway, route: &str, want: usize) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    gw.eventually(Duration::from_secs(5), || {
        lines = gw
            .access_log()
            .into_iter()
            .filter(|l| l["route"] == route)
            .collect();
        lines.len() >= want
    });
    assert!(
        lines.len() >= want,
        "only {} access-log lines for route {route}, expected {want}",
        lines.len()
    );
    lines
}

fn config_version(gw: &Gateway) -> u64 {
    gw.status()["config_version"]
        .as_u64()
        .expect("config_version")
}

/// Write `body` as the new config, send SIGHUP, and wait until the gateway runs it.
fn reload(gw: &Gateway, body: &str) {
    let before = config_version(gw);
    gw.write_config(body);
    gw.sighup();
    assert!(
        gw.eventually(Duration::from_secs(5), || config_version(gw) > before),
        "the new config was not applied:\n{}",
        gw.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts and deadlines
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hung_origin_gets_a_504_at_the_deadline_not_later() {
    let origins = Origins::start("us-east", &["hung"]);
    let body = format!(
        r#"
[upstreams.hung]
outlier = {{ consecutive_failures = 1000 }}
[[upstreams.hung.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "hung"
upstream = "hung"
timeout = "500ms"
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    origins.set_fault("hung", r#"{"delay_ms":30000}"#);

    let started = Instant::now();
    let resp = gw.get("/");
    let elapsed = started.elapsed();
    assert_eq!(resp.status, 504, "{resp:?}");
    assert_problem(&resp, 504, "the deadline's answer");
    assert!(
        elapsed >= Duration::from_millis(500),
        "answered before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "answered long after the 500 ms deadline: {elapsed:?}"
    );
    // The only endpoint was tried once: a retry must go to an endpoint not tried yet.
    assert_eq!(
        origins.served("hung"),
        1,
        "attempts that reached the origin"
    );
    assert!(
        gw.metric(
            "weir_timeouts_total",
            &["route=\"hung\"", "upstream=\"hung\""]
        ) >= 1.0,
        "the timeout was not counted:\n{}",
        gw.admin_get("/metrics").body
    );
    let lines = log_lines(&gw, "hung", 1);
    assert_eq!(lines[0]["status"], 504, "{}", lines[0]);
}

#[test]
fn the_deadline_covers_retries_and_backoff() {
    // Three hung endpoints. The first attempt runs out of its 1.2 s read timeout, the retry out of
    // the 0.3 s left of the deadline. Were the retry's read timeout not cut to what is left, the
    // answer would come after 2.4 s at the earliest (3.6 s with a third attempt).
    let origins = Origins::start("us-east", &["h1", "h2", "h3"]);
    let body = format!(
        r#"
[upstreams.hung]
outlier = {{ consecutive_failures = 1000 }}
[[upstreams.hung.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "hung"
upstream = "hung"
timeout = "1500ms"
read_timeout = "1200ms"
[routes.retry]
attempts = 3
backoff = "25ms"
max_backoff = "50ms"
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    for name in ["h1", "h2", "h3"] {
        origins.set_fault(name, r#"{"delay_ms":30000}"#);
    }

    let started = Instant::now();
    let resp = gw.get("/");
    let elapsed = started.elapsed();
    assert_eq!(resp.status, 504, "{resp:?}");
    assert_problem(&resp, 504, "the deadline's answer");
    assert!(
        elapsed >= Duration::from_millis(1500),
        "answered before the 1.5 s deadline: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2200),
        "the deadline did not cover the retries: {elapsed:?}"
    );

    // The first attempt ran out of its read timeout and was retried on another endpoint; the
    // retry ran out of what was left of the deadline.
    let served: BTreeMap<String, u64> = origins
        .names()
        .into_iter()
        .map(|n| {
            let s = origins.served(&n);
            (n, s)
        })
        .collect();
    let attempts: u64 = served.values().sum();
    assert_eq!(attempts, 2, "attempts that reached the origins: {served:?}");
    assert!(
        served.values().all(|&n| n <= 1),
        "an endpoint was tried twice: {served:?}"
    );
    let lines = log_lines(&gw, "hung", 1);
    assert_eq!(lines[0]["attempts"], 2, "{}", lines[0]);
    assert_eq!(lines[0]["status"], 504, "{}", lines[0]);
    assert!(
        gw.metric(
            "weir_timeouts_total",
            &["route=\"hung\"", "upstream=\"hung\"", "kind=\"read\""]
        ) >= 1.0,
        "the first attempt's read timeout was not counted:\n{}",
        gw.admin_get("/metrics").body
    );
    assert!(
        gw.metric(
            "weir_timeouts_total",
            &["route=\"hung\"", "upstream=\"hung\"", "kind=\"deadline\""]
        ) >= 1.0,
        "the request running out of its deadline was not counted:\n{}",
        gw.admin_get("/metrics").body
    );
    assert!(
        gw.metric(
            "weir_retries_total",
            &["upstream=\"hung\"", "reason=\"reset\""]
        ) >= 1.0,
        "the read timeout was not retried as a reset"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries and the retry budget
// ---------------------------------------------------------------------------------------------

#[test]
fn the_retry_budget_bounds_amplification_when_every_origin_fails() {
    let origins = Origins::start("us-east", &["a", "b", "c"]);
    let body = format!(
        r#"
[upstreams.api]
outlier = {{ consecutive_failures = 1000 }}
[upstreams.api.circuit_breaker]
enabled = false
[upstreams.api.retry_budget]
ratio = 0.2
min_per_second = 10
window = "10s"
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "amp"
upstream = "api"
[routes.retry]
attempts = 3
backoff = "0s"
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    for name in ["a", "b", "c"] {
        origins.set_fault(name, r#"{"status":503}"#);
    }

    // 200 requests a second for 3 s, from four paced clients.
    let proxy = gw.proxy;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let agent = agent();
                let mut samples = Vec::new();
                support::paced(50.0, Duration::from_secs(3), || {
                    samples.push(send(&agent, proxy, "/", &[]));
                });
                samples
            })
        })
        .collect();
    let samples = join_all(clients);
    let n = samples.len() as f64;
    assert!(n >= 550.0, "only {n} requests were sent");
    for s in &samples {
        assert_eq!(s.status(), 503, "{:?}", s.resp);
        assert_ne!(
            s.resp.origin(),
            "",
            "the last attempt's 503 is passed on as the origin sent it: {:?}",
            s.resp
        );
    }

    let attempts = origins.served_total() as f64;
    let retries = gw.metric("weir_retries_total", &["upstream=\"api\""]);
    // Budget: retries <= ratio x requests + min_per_second x window (the whole test is inside one
    // window), plus a little for concurrent requests racing for the last tokens.
    let bound = 1.2 * n + 10.0 * 10.0 + 10.0;
    eprintln!("{n} requests: {attempts} upstream attempts, {retries} retries, bound {bound}");
    assert!(
        attempts <= bound,
        "{attempts} upstream attempts for {n} requests, budget allows {bound}"
    );
    assert!(
        attempts < 1.5 * n,
        "{attempts} upstream attempts for {n} requests: retries amplified the load"
    );
    assert!(
        attempts > n,
        "no request was retried at all ({attempts} for {n})"
    );
    assert_eq!(
        attempts,
        n + retries,
        "origins served {attempts}, gateway says {n} requests + {retries} retries"
    );
    assert!(
        gw.metric(
            "weir_retries_refused_total",
            &["upstream=\"api\"", "reason=\"budget_exhausted\""]
        ) > 0.0,
        "no retry was refused for the budget:\n{}",
        gw.admin_get("/metrics").body
    );
    let lines = log_lines(&gw, "amp", samples.len());
    let logged_attempts: u64 = lines.iter().map(|l| l["attempts"].as_u64().unwrap()).sum();
    assert_eq!(
        logged_attempts as f64, attempts,
        "access-log attempts disagree with the origins"
    );

    // The budget's own view of its window: every request and every retry of this test.
    let budget = &gw.upstream_status("api")["retry_budget"];
    assert_eq!(
        budget["requests"].as_f64(),
        Some(n),
        "/status retry_budget {budget}, {n} requests sent"
    );
    assert_eq!(
        budget["retries"].as_f64(),
        Some(retries),
        "/status retry_budget {budget}, weir_retries_total {retries}"
    );
}

#[test]
fn a_503_from_one_endpoint_is_retried_on_another_and_a_post_is_not() {
    let origins = Origins::start("us-east", &["a", "b", "bad"]);
    let body = format!(
        r#"
[upstreams.api]
outlier = {{ consecutive_failures = 1000 }}
[upstreams.api.circuit_breaker]
enabled = false
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "api"
upstream = "api"
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    origins.set_fault("bad", r#"{"status":503}"#);

    for _ in 0..60 {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_ne!(resp.origin(), "bad");
    }
    let bad = origins.served("bad");
    assert!(bad >= 1, "the failing endpoint was never tried");
    assert_eq!(
        gw.metric(
            "weir_retries_total",
            &["upstream=\"api\"", "reason=\"status\""]
        ),
        bad as f64,
        "every 503 of the failing endpoint was retried once"
    );
    let lines = log_lines(&gw, "api", 60);
    let retried = lines.iter().filter(|l| l["attempts"] == 2).count();
    assert_eq!(retried as u64, bad, "access-log attempts");

    // Every endpoint fails now (so which one the balancer picks does not matter). POST is not
    // idempotent: its 503 is passed on after one attempt.
    for name in ["a", "b"] {
        origins.set_fault(name, r#"{"status":503}"#);
    }
    let served = |origins: &Origins| -> Vec<u64> {
        ["a", "b", "bad"]
            .iter()
            .map(|n| origins.served(n))
            .collect()
    };
    let retries_before = gw.metric("weir_retries_total", &["upstream=\"api\""]);
    let before: u64 = served(&origins).iter().sum();
    for _ in 0..20 {
        let resp = gw.request("POST", "/", &[]);
        assert_eq!(resp.status, 503, "{resp:?}");
        assert_ne!(
            resp.origin(),
            "",
            "the origin's own 503 is passed on: {resp:?}"
        );
    }
    let after: u64 = served(&origins).iter().sum();
    assert_eq!(after - before, 20, "upstream attempts for 20 POSTs");
    assert_eq!(
        gw.metric("weir_retries_total", &["upstream=\"api\""]),
        retries_before,
        "a POST was retried"
    );

    // A GET in the same state is tried on each endpoint once: three attempts, three endpoints.
    let before = served(&origins);
    let resp = gw.get("/");
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_ne!(
        resp.origin(),
        "",
        "the last attempt's 503 is passed on: {resp:?}"
    );
    let after = served(&origins);
    let deltas: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        deltas,
        [1, 1, 1],
        "attempts per endpoint (a, b, bad) for one GET"
    );
}

// ---------------------------------------------------------------------------------------------
// Circuit breakers and slow start
// ---------------------------------------------------------------------------------------------

#[test]
fn the_upstream_breaker_opens_fails_fast_half_opens_and_closes() {
    let origins = Origins::start("us-east", &["a"]);
    let body = format!(
        r#"
[upstreams.api]
outlier = {{ consecutive_failures = 1000 }}
[upstreams.api.circuit_breaker]
min_requests = 10
failure_rate = 0.5
window = "10s"
open_for = "2s"
half_open_successes = 3
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "brk"
upstream = "api"
[routes.retry]
attempts = 1
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    let state = || gw.metric("weir_upstream_breaker_state", &["upstream=\"api\""]);
    let status_breaker = || gw.upstream_status("api")["breaker"].clone();
    assert_eq!(state(), 0.0);
    assert_eq!(status_breaker(), "closed");
    origins.set_fault("a", r#"{"status":503}"#);

    // Failures until the breaker opens: the first answer from the gateway itself.
    let mut from_origin = 0;
    let first_rejection = loop {
        let resp = gw.get("/");
        assert_eq!(resp.status, 503, "{resp:?}");
        if resp.origin().is_empty() {
            break resp;
        }
        from_origin += 1;
        assert!(
            from_origin <= 30,
            "the breaker did not open after 30 failures"
        );
    };
    let opened = Instant::now();
    assert_gateway_503(&first_rejection, "the open breaker's answer");
    assert!(
        (10..=13).contains(&from_origin),
        "the breaker opened after {from_origin} failures (min_requests 10)"
    );
    let served_at_open = origins.served("a");
    assert_eq!(served_at_open, from_origin);
    assert_eq!(state(), 1.0, "gauge while open");
    assert_eq!(status_breaker(), "open");

    // While open: every request is answered at once and none reaches the origin.
    let mut rejected = 1;
    for _ in 0..20 {
        let resp = gw.get("/");
        assert_gateway_503(&resp, "a request while the breaker is open");
        rejected += 1;
    }
    if opened.elapsed() < Duration::from_millis(1900) {
        assert_eq!(
            origins.served("a"),
            served_at_open,
            "requests reached the origin while the breaker was open"
        );
    }
    assert_eq!(
        gw.metric("weir_breaker_rejections_total", &["upstream=\"api\""]),
        rejected as f64
    );
    let shed_lines = log_lines(&gw, "brk", from_origin as usize + rejected)
        .into_iter()
        .filter(|l| l["shed_by"] == "circuit_breaker")
        .count();
    assert_eq!(shed_lines, rejected, "access-log lines with shed_by");

    // The origin recovers; after open_for the breaker lets probes through and closes after
    // three successes.
    origins.clear_fault("a");
    let half_open_at = opened + Duration::from_millis(2300);
    std::thread::sleep(half_open_at.saturating_duration_since(Instant::now()));
    let probe = gw.get("/");
    assert_eq!(
        probe.status, 200,
        "the first request after open_for is a probe: {probe:?}"
    );
    assert_eq!(state(), 2.0, "gauge after one of three probe successes");
    assert_eq!(status_breaker(), "half_open");
    let mut successes = 1;
    let closed = gw.eventually(Duration::from_secs(5), || {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "a request while half-open: {resp:?}");
        successes += 1;
        std::thread::sleep(Duration::from_millis(50));
        state() == 0.0
    });
    assert!(
        closed,
        "the breaker did not close after {successes} successes"
    );
    assert!(successes >= 3, "closed after only {successes} successes");
    assert_eq!(status_breaker(), "closed");
    for to in ["open", "half_open", "closed"] {
        assert_eq!(
            gw.metric(
                "weir_breaker_transitions_total",
                &[
                    "upstream=\"api\"",
                    "scope=\"upstream\"",
                    &format!("to=\"{to}\"")
                ]
            ),
            1.0,
            "transitions to {to}"
        );
    }
}

#[test]
fn an_endpoint_breaker_moves_traffic_away_and_slow_start_ramps_it_back() {
    let origins = Origins::start("us-east", &["a", "b", "c"]);
    let c = origins.addr("c");
    // failure_rate 0.6: the upstream as a whole (each failure of c followed by a successful
    // retry) stays below it, the failing endpoint does not.
    let body = format!(
        r#"
[upstreams.api]
slow_start = "5s"
outlier = {{ consecutive_failures = 1000 }}
[upstreams.api.circuit_breaker]
min_requests = 10
failure_rate = 0.6
window = "10s"
open_for = "1s"
half_open_successes = 3
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "api"
upstream = "api"
"#,
        eps = origins.endpoints_toml()
    );
    let gw = Gateway::start(&body);
    let endpoint_breaker = || gw.endpoint_status("api", c)["breaker"].clone();
    let endpoint_gauge = || {
        gw.metric(
            "weir_endpoint_breaker_state",
            &["upstream=\"api\"", &format!("endpoint=\"{c}\"")],
        )
    };
    assert_eq!(endpoint_breaker(), "closed");
    // a and b answer in 5 ms, c at once: the latency-aware balancer prefers c whenever it may
    // (as it would a just-recovered, idle endpoint), so c gets traffic while it fails, and slow
    // start is what holds it back after it recovers. (With equal latencies, one noisy slow answer
    // from c can keep the balancer off it for seconds, and the breaker never sees its failures.)
    for name in ["a", "b"] {
        origins.set_fault(name, r#"{"delay_ms":5}"#);
    }
    origins.set_fault("c", r#"{"status":503}"#);

    // c fails until its breaker opens; clients see none of it (retried on a or b).
    let mut sent = 0;
    while endpoint_breaker() != "open" {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}");
        sent += 1;
        assert!(
            sent <= 300,
            "c's breaker did not open after {sent} requests"
        );
    }
    let opened = Instant::now();
    assert_eq!(endpoint_gauge(), 1.0);
    let c_at_open = origins.served("c");
    assert!(c_at_open >= 10, "opened after {c_at_open} failures");
    for _ in 0..30 {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_ne!(resp.origin(), "c", "the open endpoint was selected");
    }
    if opened.elapsed() < Duration::from_millis(900) {
        assert_eq!(origins.served("c"), c_at_open, "c got traffic while open");
    }
    assert_eq!(
        gw.metric("weir_upstream_breaker_state", &["upstream=\"api\""]),
        0.0,
        "one bad endpoint must not open the upstream's breaker"
    );

    // c recovers; clients keep traffic flowing, which carries the probes.
    origins.clear_fault("c");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(gw.proxy, 4, "/", &stop, Duration::from_millis(50));
    let mut closed_at = None;
    gw.eventually(Duration::from_secs(10), || {
        if endpoint_breaker() == "closed" {
            closed_at = Some(Instant::now());
        }
        closed_at.is_some()
    });
    let Some(closed_at) = closed_at else {
        stop.store(true, Ordering::Relaxed);
        join_all(clients);
        panic!("c's breaker did not close after the origin recovered");
    };
    let early_factor = gw.endpoint_status("api", c)["slow_start"].as_f64();
    std::thread::sleep(
        (closed_at + Duration::from_millis(5200)).saturating_duration_since(Instant::now()),
    );
    let late_factor = gw.endpoint_status("api", c)["slow_start"].as_f64();
    std::thread::sleep(
        (closed_at + Duration::from_millis(6600)).saturating_duration_since(Instant::now()),
    );
    stop.store(true, Ordering::Relaxed);
    let samples = join_all(clients);
    assert_eq!(
        by_status(&samples).keys().copied().collect::<Vec<_>>(),
        [200],
        "{:?}",
        by_status(&samples)
    );

    let early_factor = early_factor.expect("slow_start in /status");
    let late_factor = late_factor.expect("slow_start in /status");
    assert!(
        (0.1..0.5).contains(&early_factor),
        "slow_start just after closing: {early_factor}"
    );
    assert!(
        late_factor > 0.99,
        "slow_start 5.2 s after closing: {late_factor}"
    );
    let share = |from: Duration, to: Duration| {
        let window: Vec<_> = samples
            .iter()
            .filter(|s| s.at >= closed_at + from && s.at < closed_at + to)
            .collect();
        let to_c = window.iter().filter(|s| s.resp.origin() == "c").count();
        (to_c as f64 / window.len().max(1) as f64, window.len())
    };
    // The ramp as the clients saw it, for the log of a failed run.
    let ramp: Vec<String> = (0..13)
        .map(|i| {
            let from = Duration::from_millis(500 * i);
            let (s, n) = share(from, from + Duration::from_millis(500));
            format!("{:.1}s: {s:.3} of {n}", from.as_secs_f64())
        })
        .collect();
    eprintln!("c's share after closing, by half second: {ramp:?}");
    let (early, early_n) = share(Duration::ZERO, Duration::from_secs(1));
    let (late, late_n) = share(Duration::from_millis(5300), Duration::from_millis(6500));
    assert!(
        early_n >= 30 && late_n >= 30,
        "too few requests: {early_n}, {late_n}"
    );
    assert!(
        late >= 0.15,
        "c's share at full weight is {late:.3} ({late_n} requests)"
    );
    assert!(
        early <= 0.6 * late,
        "c's share in the first second after closing ({early:.3} of {early_n}) is not clearly \
         below its later share ({late:.3} of {late_n})"
    );
    for to in ["open", "half_open", "closed"] {
        assert!(
            gw.metric(
                "weir_breaker_transitions_total",
                &[
                    "upstream=\"api\"",
                    "scope=\"endpoint\"",
                    &format!("to=\"{to}\"")
                ]
            ) >= 1.0,
            "endpoint transitions to {to}"
        );
    }
    assert_eq!(
        gw.metric(
            "weir_breaker_transitions_total",
            &["upstream=\"api\"", "scope=\"upstream\"", "to=\"open\""]
        ),
        0.0
    );
    assert_eq!(endpoint_gauge(), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Bulkheads and load shedding
// ---------------------------------------------------------------------------------------------

#[test]
fn a_slow_upstream_is_held_to_its_bulkhead_and_the_fast_one_does_not_notice() {
    let slow_origin = Origins::start("us-east", &["s1"]);
    let fast_origins = Origins::start("us-east", &["f1", "f2"]);
    let body = format!(
        r#"
[load_shedding]
max_in_flight = 60
[upstreams.slow]
outlier = {{ consecutive_failures = 1000 }}
[upstreams.slow.bulkhead]
max_in_flight = 10
[[upstreams.slow.pools]]
region = "us-east"
endpoints = [{slow}]
[upstreams.fast]
[[upstreams.fast.pools]]
region = "us-east"
endpoints = [{fast}]
[[routes]]
name = "slow"
path_prefix = "/slow"
upstream = "slow"
[[routes]]
name = "fast"
path_prefix = "/fast"
upstream = "fast"
"#,
        slow = slow_origin.endpoints_toml(),
        fast = fast_origins.endpoints_toml(),
    );
    let gw = Gateway::start(&body);
    slow_origin.set_fault("s1", r#"{"delay_ms":2000}"#);
    let proxy = gw.proxy;

    // Baseline of the fast route, alone.
    let probe = agent();
    let baseline = median(
        (0..100)
            .map(|_| {
                let s = send(&probe, proxy, "/fast", &[]);
                assert_eq!(s.status(), 200, "{:?}", s.resp);
                s.latency
            })
            .collect(),
    );

    // 64 clients on the slow route: more than the gateway-wide normal ceiling (54), so without
    // the bulkhead they would take the whole gateway.
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let slow_clients = start_clients(proxy, 64, "/slow", &stop, Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(500));
    let fast_stop = Arc::new(AtomicBool::new(false));
    let fast_client = {
        let stop = Arc::clone(&fast_stop);
        std::thread::spawn(move || {
            let agent = agent();
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(send(&agent, proxy, "/fast", &[]));
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    let mut max_slow_in_flight = 0.0f64;
    let mut max_gateway_in_flight = 0.0f64;
    let sampling_until = Instant::now() + Duration::from_millis(3000);
    while Instant::now() < sampling_until {
        let bulkhead = gw.upstream_status("slow")["bulkhead"].clone();
        assert_eq!(bulkhead["limit"], 10, "{bulkhead}");
        let in_flight = bulkhead["in_flight"].as_f64().expect("in_flight");
        assert!(in_flight <= 10.0, "bulkhead exceeded: {bulkhead}");
        max_slow_in_flight = max_slow_in_flight.max(in_flight);
        let gauge = gw.metric("weir_bulkhead_in_flight", &["upstream=\"slow\""]);
        assert!(gauge <= 10.0, "weir_bulkhead_in_flight {gauge}");
        let gateway = gw.metric("weir_gateway_in_flight", &[]);
        assert!(gateway <= 60.0, "weir_gateway_in_flight {gateway}");
        max_gateway_in_flight = max_gateway_in_flight.max(gateway);
        std::thread::sleep(Duration::from_millis(200));
    }
    fast_stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let fast = fast_client.join().expect("fast client");
    let slow = join_all(slow_clients);
    let load_time = load_started.elapsed();

    // The fast route: no error, latency about as before.
    assert!(fast.len() >= 50, "only {} fast requests", fast.len());
    let fast_errors: Vec<_> = fast.iter().filter(|s| s.status() != 200).collect();
    assert!(fast_errors.is_empty(), "fast route errors: {fast_errors:?}");
    let under_load = median(fast.iter().map(|s| s.latency).collect());
    eprintln!(
        "fast route median: {baseline:?} alone, {under_load:?} beside the saturated slow route"
    );
    assert!(
        under_load < baseline * 5 + Duration::from_millis(20),
        "fast route median {under_load:?} under load, {baseline:?} alone"
    );

    // The slow route: at most its bulkhead at a time, the excess shed at once.
    let counts = by_status(&slow);
    assert_eq!(
        counts
            .keys()
            .copied()
            .filter(|s| *s != 200 && *s != 503)
            .count(),
        0,
        "slow route statuses: {counts:?}"
    );
    let ok = counts.get(&200).copied().unwrap_or(0);
    let shed: Vec<_> = slow.iter().filter(|s| s.status() == 503).collect();
    eprintln!(
        "slow route in {load_time:?}: {counts:?}, at most {max_slow_in_flight} in flight to it, \
         {max_gateway_in_flight} in the gateway"
    );
    assert!(ok >= 5, "only {ok} slow requests got through: {counts:?}");
    let most = 10.0 * (load_time.as_secs_f64() / 2.0 + 1.0);
    assert!(
        ok as f64 <= most,
        "{ok} slow requests of 2 s each completed in {load_time:?}: more than 10 at a time"
    );
    assert!(max_slow_in_flight >= 5.0, "the bulkhead was never busy");
    assert!(
        max_gateway_in_flight >= 5.0,
        "weir_gateway_in_flight never moved"
    );
    assert!(!shed.is_empty(), "nothing was shed: {counts:?}");
    for s in &shed {
        assert_gateway_503(&s.resp, "a shed slow request");
        assert_eq!(s.resp.header("retry-after"), Some("1"), "{:?}", s.resp);
        assert_problem(&s.resp, 503, "a shed slow request");
    }
    let shed_median = median(shed.iter().map(|s| s.latency).collect());
    let shed_max = shed.iter().map(|s| s.latency).max().unwrap();
    assert!(
        shed_median < Duration::from_millis(500) && shed_max < Duration::from_millis(1900),
        "shed requests waited (median {shed_median:?}, max {shed_max:?}) instead of failing fast"
    );

    let by_upstream = gw.metric("weir_shed_total", &["scope=\"upstream\""]);
    assert!(
        by_upstream > 0.0,
        "weir_shed_total{{scope=\"upstream\"}} is 0"
    );
    assert_eq!(
        gw.metric("weir_shed_total", &[]),
        shed.len() as f64,
        "weir_shed_total disagrees with the clients' 503s"
    );
    assert_eq!(
        gw.metric("weir_bulkhead_limit", &["upstream=\"slow\""]),
        10.0
    );
    let lines = log_lines(&gw, "slow", slow.len());
    let logged_upstream = lines.iter().filter(|l| l["shed_by"] == "upstream").count();
    assert_eq!(logged_upstream as f64, by_upstream, "access-log shed_by");
    assert!(
        lines
            .iter()
            .filter(|l| l["status"] == 503)
            .all(|l| l["shed_by"] == "upstream" || l["shed_by"] == "gateway"),
        "a 503 of the slow route without shed_by"
    );

    // Everything drains: no in-flight count leaks.
    assert!(
        gw.eventually(Duration::from_secs(3), || {
            gw.metric("weir_bulkhead_in_flight", &["upstream=\"slow\""]) == 0.0
                && gw.metric("weir_gateway_in_flight", &[]) == 0.0
        }),
        "in-flight gauges stay at {} (slow) and {} (gateway) with no request in progress",
        gw.metric("weir_bulkhead_in_flight", &["upstream=\"slow\""]),
        gw.metric("weir_gateway_in_flight", &[])
    );
}

#[test]
fn under_overload_optional_is_shed_first_and_critical_never() {
    let origins = Origins::start("us-east", &["a", "b"]);
    let mut body = format!(
        r#"
[load_shedding]
max_in_flight = 40
normal_share = 0.75
optional_share = 0.5
[upstreams.api]
outlier = {{ consecutive_failures = 1000 }}
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
"#,
        eps = origins.endpoints_toml()
    );
    for priority in ["critical", "normal", "optional"] {
        body.push_str(&format!(
            "[[routes]]\nname = \"{priority}\"\npath_prefix = \"/{priority}\"\nupstream = \"api\"\npriority = \"{priority}\"\n"
        ));
    }
    let gw = Gateway::start(&body);
    for name in ["a", "b"] {
        origins.set_fault(name, r#"{"delay_ms":300}"#);
    }

    // Ceilings: optional below 20 in flight, normal below 30, critical up to 40. Ten critical
    // clients always fit (at most 30 others + 10); 25 normal ones do not fit beside them.
    let stop = Arc::new(AtomicBool::new(false));
    let pause = Duration::from_millis(50);
    let critical = start_clients(gw.proxy, 10, "/critical", &stop, pause);
    let normal = start_clients(gw.proxy, 25, "/normal", &stop, pause);
    let optional = start_clients(gw.proxy, 25, "/optional", &stop, pause);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let in_flight = gw.metric("weir_gateway_in_flight", &[]);
        assert!(in_flight <= 40.0, "weir_gateway_in_flight {in_flight}");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let critical = join_all(critical);
    let normal = join_all(normal);
    let optional = join_all(optional);

    let tally = |samples: &[Sample], name: &str| {
        let counts = by_status(samples);
        assert_eq!(
            counts
                .keys()
                .copied()
                .filter(|s| *s != 200 && *s != 503)
                .count(),
            0,
            "{name} statuses: {counts:?}"
        );
        for s in samples.iter().filter(|s| s.status() == 503) {
            assert_gateway_503(&s.resp, &format!("a shed {name} request"));
            assert_problem(&s.resp, 503, &format!("a shed {name} request"));
        }
        let shed = counts.get(&503).copied().unwrap_or(0);
        let ok = counts.get(&200).copied().unwrap_or(0);
        (shed, ok, shed as f64 / samples.len().max(1) as f64)
    };
    let (critical_shed, critical_ok, _) = tally(&critical, "critical");
    let (normal_shed, normal_ok, normal_rate) = tally(&normal, "normal");
    let (optional_shed, optional_ok, optional_rate) = tally(&optional, "optional");
    let summary = format!(
        "critical {critical_ok} ok / {critical_shed} shed, normal {normal_ok} / {normal_shed}, \
         optional {optional_ok} / {optional_shed}"
    );
    eprintln!("{summary}");
    assert_eq!(critical_shed, 0, "critical requests were shed: {summary}");
    assert!(critical_ok >= 50, "{summary}");
    assert!(optional_shed > 0, "optional was never shed: {summary}");
    assert!(normal_shed > 0, "normal was never shed: {summary}");
    assert!(normal_ok > 0, "{summary}");
    assert!(
        optional_rate > normal_rate,
        "optional shed less than normal ({optional_rate:.2} vs {normal_rate:.2}): {summary}"
    );
    for (priority, shed) in [
        ("critical", critical_shed),
        ("normal", normal_shed),
        ("optional", optional_shed),
    ] {
        assert_eq!(
            gw.metric("weir_shed_total", &[&format!("priority=\"{priority}\"")]),
            shed as f64,
            "weir_shed_total for {priority}: {summary}"
        );
    }
    assert_eq!(
        gw.metric("weir_shed_total", &["scope=\"gateway\""]),
        (normal_shed + optional_shed) as f64,
        "sheds by the gateway-wide cap: {summary}"
    );
    let lines = log_lines(&gw, "optional", optional.len());
    let logged = lines.iter().filter(|l| l["shed_by"] == "gateway").count();
    assert_eq!(logged, optional_shed, "access-log shed_by for optional");
    assert!(
        gw.eventually(Duration::from_secs(3), || gw
            .metric("weir_gateway_in_flight", &[])
            == 0.0),
        "weir_gateway_in_flight stays at {} with no request in progress",
        gw.metric("weir_gateway_in_flight", &[])
    );
}

// ---------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------

fn fault_config(origins: &Origins, fault: &str) -> String {
    format!(
        r#"
[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "game"
upstream = "api"
{fault}
"#,
        eps = origins.endpoints_toml()
    )
}

#[test]
fn injected_faults_hit_their_share_of_marked_requests_only() {
    let origins = Origins::start("us-east", &["a", "b"]);
    let fault = r#"
[routes.fault]
header = "x-game-day"
abort_status = 503
abort_percent = 20.0
delay = "20ms"
delay_percent = 10.0
"#;
    let gw = Gateway::start(&fault_config(&origins, fault));
    let proxy = gw.proxy;
    let run = |threads: usize, each: usize, path: &'static str, marked: bool| {
        let clients: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::spawn(move || {
                    let agent = agent();
                    let headers: &[(&str, &str)] =
                        if marked { &[("x-game-day", "on")] } else { &[] };
                    (0..each)
                        .map(|_| send(&agent, proxy, path, headers))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        join_all(clients)
    };

    let marked = run(8, 250, "/day", true);
    let aborted: Vec<_> = marked.iter().filter(|s| s.status() != 200).collect();
    for s in &aborted {
        assert_eq!(s.status(), 503, "{:?}", s.resp);
        assert_eq!(s.resp.header("x-weir-fault"), Some("abort"), "{:?}", s.resp);
        assert_eq!(s.resp.origin(), "", "an aborted request reached the origin");
        assert_problem(&s.resp, 503, "an aborted request");
    }
    for s in marked.iter().filter(|s| s.status() == 200) {
        assert_eq!(s.resp.header("x-weir-fault"), None, "{:?}", s.resp);
    }
    let abort_share = aborted.len() as f64 / 2000.0;
    assert!(
        (abort_share - 0.20).abs() <= 0.03,
        "aborted share {abort_share:.3}, expected 0.20 ± 0.03"
    );

    let lines = log_lines(&gw, "game", 2000);
    let fault_of = |l: &serde_json::Value| l["fault"].as_str().map(str::to_owned);
    let day: Vec<_> = lines.iter().filter(|l| l["path"] == "/day").collect();
    assert_eq!(day.len(), 2000);
    let logged_aborts = day
        .iter()
        .filter(|l| matches!(fault_of(l).as_deref(), Some("abort" | "delay+abort")))
        .count();
    let delayed: Vec<_> = day
        .iter()
        .filter(|l| matches!(fault_of(l).as_deref(), Some("delay" | "delay+abort")))
        .collect();
    let both = day
        .iter()
        .filter(|l| fault_of(l).as_deref() == Some("delay+abort"))
        .count();
    assert_eq!(logged_aborts, aborted.len(), "access-log aborts");
    let delay_share = delayed.len() as f64 / 2000.0;
    eprintln!(
        "of 2000 marked: {} aborted, {} delayed, {both} both",
        aborted.len(),
        delayed.len()
    );
    assert!(
        (delay_share - 0.10).abs() <= 0.03,
        "delayed share {delay_share:.3}, expected 0.10 ± 0.03"
    );
    // Independent draws: about 2% are both delayed and aborted.
    assert!(
        (10..=80).contains(&both),
        "{both} requests were both delayed and aborted, expected about 40"
    );
    for l in &delayed {
        let ms = l["duration_ms"].as_f64().expect("duration_ms");
        assert!(ms >= 19.0, "a delayed request took {ms} ms: {l}");
    }
    let metric = |kind: &str| {
        gw.metric(
            "weir_faults_injected_total",
            &["route=\"game\"", &format!("kind=\"{kind}\"")],
        )
    };
    assert_eq!(metric("abort"), aborted.len() as f64);
    assert_eq!(metric("delay"), delayed.len() as f64);

    // Unmarked requests: nothing injected.
    let plain = run(4, 50, "/plain", false);
    assert!(
        plain
            .iter()
            .all(|s| s.status() == 200 && s.resp.header("x-weir-fault").is_none()),
        "{:?}",
        by_status(&plain)
    );
    let lines = log_lines(&gw, "game", 2200);
    let plain_faults = lines
        .iter()
        .filter(|l| l["path"] == "/plain" && !l["fault"].is_null())
        .count();
    assert_eq!(plain_faults, 0, "unmarked requests with a fault logged");
    assert_eq!(metric("abort"), aborted.len() as f64);
    assert_eq!(metric("delay"), delayed.len() as f64);
    // Aborted requests never reached an origin.
    assert_eq!(
        origins.served_total(),
        (2000 - aborted.len() + 200) as u64,
        "requests that reached the origins"
    );
}

// ---------------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------------

#[test]
fn fault_settings_change_with_a_reload() {
    let origins = Origins::start("us-east", &["a"]);
    let abort = |status: u16| {
        format!(
            "[routes.fault]\nheader = \"x-game-day\"\nheader_value = \"on\"\nabort_status = {status}\nabort_percent = 100.0\n"
        )
    };
    let gw = Gateway::start(&fault_config(&origins, &abort(503)));
    let marked = [("x-game-day", "on")];
    let resp = gw.request("GET", "/", &marked);
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.header("x-weir-fault"), Some("abort"));
    // header_value: another value is not marked.
    assert_eq!(gw.request("GET", "/", &[("x-game-day", "off")]).status, 200);
    assert_eq!(gw.get("/").status, 200);

    reload(&gw, &fault_config(&origins, &abort(429)));
    let resp = gw.request("GET", "/", &marked);
    assert_eq!(resp.status, 429, "after the reload: {resp:?}");
    assert_eq!(resp.header("x-weir-fault"), Some("abort"));

    reload(&gw, &fault_config(&origins, ""));
    let resp = gw.request("GET", "/", &marked);
    assert_eq!(resp.status, 200, "fault removed by the reload: {resp:?}");
    assert_eq!(resp.header("x-weir-fault"), None);
    assert_eq!(
        gw.metric(
            "weir_faults_injected_total",
            &["route=\"game\"", "kind=\"abort\""]
        ),
        2.0
    );
}

#[test]
fn a_route_priority_changes_with_a_reload() {
    let origins = Origins::start("us-east", &["a"]);
    let config = |priority: &str| {
        format!(
            r#"
[load_shedding]
max_in_flight = 4
normal_share = 0.5
optional_share = 0.25
[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
name = "r"
upstream = "api"
priority = "{priority}"
"#,
            eps = origins.endpoints_toml()
        )
    };
    let gw = Gateway::start(&config("optional"));
    origins.set_fault("a", r#"{"delay_ms":1000}"#);
    // Four requests at once: optional is admitted below floor(0.25 x 4) = 1 in flight, critical
    // up to 4.
    let burst = || {
        let barrier = Arc::new(Barrier::new(4));
        let proxy = gw.proxy;
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let agent = agent();
                    barrier.wait();
                    vec![send(&agent, proxy, "/", &[])]
                })
            })
            .collect();
        by_status(&join_all(clients))
    };
    let optional = burst();
    assert_eq!(
        (optional.get(&200), optional.get(&503)),
        (Some(&1), Some(&3)),
        "as optional: {optional:?}"
    );
    reload(&gw, &config("critical"));
    let critical = burst();
    assert_eq!(critical.get(&200), Some(&4), "as critical: {critical:?}");
    assert_eq!(
        gw.metric("weir_shed_total", &["priority=\"optional\""]),
        3.0
    );
    assert_eq!(
        gw.metric("weir_shed_total", &["priority=\"critical\""]),
        0.0
    );
}
