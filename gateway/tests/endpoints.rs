//! Endpoint selection and passive health with real origins: a slowed endpoint loses its share,
//! a failing one is ejected and comes back, and dead endpoints cost clients no error.

mod support;

use std::time::Duration;

use support::{Gateway, Origins, spread};

fn one_pool(origins: &Origins, extra: &str) -> String {
    format!(
        r#"
[upstreams.api]
{extra}
[[upstreams.api.pools]]
region = "us-east"
endpoints = [{eps}]
[[routes]]
upstream = "api"
"#,
        eps = origins.endpoints_toml()
    )
}

#[test]
fn a_slowed_endpoint_gets_a_small_share_within_seconds() {
    let origins = Origins::start("us-east", &["a", "b", "c"]);
    let gw = Gateway::start(&one_pool(&origins, ""));
    spread(&gw, 60);
    origins.set_fault("c", r#"{"delay_ms":100}"#);
    // Traffic until the balancer has seen c slow. Under CPU load, noise can make c look slower
    // than a and b before the fault, and P2C then leaves it alone until its idle estimate decays
    // (seconds): so wait for the observation, bounded by time, rather than a fixed moment.
    let c_ewma = |gw: &Gateway| {
        gw.status()["upstreams"][0]["pools"][0]["endpoints"][2]["ewma_latency_ms"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while c_ewma(&gw) < 50.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "c was never seen slow within 20 s: {}",
            gw.status()
        );
        for _ in 0..20 {
            gw.get("/");
        }
    }
    let counts = spread(&gw, 300);
    let slow = counts.get("c").copied().unwrap_or(0);
    assert!(
        slow <= 15,
        "the slow endpoint got {slow} of 300: {counts:?}"
    );
    // Peak EWMA: one fast answer moves the estimate only part of the way back down.
    assert!(
        c_ewma(&gw) >= 50.0,
        "status shows the slow EWMA: {}",
        gw.status()
    );
}

#[test]
fn consecutive_5xx_eject_an_endpoint_which_returns_after_the_ejection_time() {
    let origins = Origins::start("us-east", &["a", "b"]);
    let outlier = r#"outlier = { consecutive_failures = 3, base_ejection_time = "1s", max_ejected_fraction = 0.5 }"#;
    // Without status retries, so the client sees each of b's 503s.
    let config = one_pool(&origins, outlier) + "[routes.retry]\nstatuses = []\n";
    let gw = Gateway::start(&config);
    origins.set_fault("b", r#"{"status":503}"#);
    // Requests until b is ejected. How soon b is picked depends on the two endpoints' latency
    // estimates (after a slow 503, b is picked again only once its idle estimate decays), so
    // the loop is bounded by time, not by a count.
    let mut failures = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gw.metric("weir_ejections_total", &["upstream=\"api\""]) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "b was not ejected within 20 s ({failures} failures seen)"
        );
        if gw.get("/").status == 503 {
            failures += 1;
        }
    }
    assert!(failures >= 3, "b answered 503 until ejected ({failures})");
    assert!(
        failures <= 6,
        "and was ejected after 3 in a row ({failures})"
    );
    assert_eq!(
        gw.metric("weir_ejections_total", &["upstream=\"api\""]),
        1.0
    );
    let status = gw.status();
    assert_eq!(
        status["upstreams"][0]["pools"][0]["endpoints"][1]["ejected"], true,
        "{status}"
    );
    let counts = spread(&gw, 50);
    assert_eq!(counts.get("a"), Some(&50));

    // Recovery: the origin heals and the ejection runs out.
    origins.clear_fault("b");
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.status()["upstreams"][0]["pools"][0]["endpoints"][1]["ejected"] == false
    }));
    assert!(gw.eventually(Duration::from_secs(5), || spread(&gw, 40).contains_key("b")));
    assert_eq!(
        gw.metric("weir_endpoint_ejected", &["upstream=\"api\""]),
        0.0
    );
}

#[test]
fn the_ejection_cap_keeps_part_of_the_pool_in_service() {
    let origins = Origins::start("us-east", &["a", "b"]);
    let outlier = r#"outlier = { consecutive_failures = 2, base_ejection_time = "30s", max_ejected_fraction = 0.5 }"#;
    let gw = Gateway::start(&one_pool(&origins, outlier));
    origins.set_fault("a", r#"{"status":503}"#);
    origins.set_fault("b", r#"{"status":503}"#);
    for _ in 0..30 {
        gw.get("/");
    }
    assert_eq!(
        gw.metric("weir_ejections_total", &[]),
        1.0,
        "only half the pool may be ejected"
    );
}

#[test]
fn a_dead_endpoint_costs_no_client_error_and_is_marked_down_at_once() {
    let live = Origins::start("us-east", &["a"]);
    let mut dead = Origins::start("us-east", &["dead"]);
    let body = format!(
        r#"
[upstreams.api]
health = {{ interval = "5s", timeout = "1s" }}
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["{}", "{}"]
[[routes]]
upstream = "api"
"#,
        live.addr("a"),
        dead.addr("dead")
    );
    let gw = Gateway::start(&body);
    dead.kill();
    let counts = spread(&gw, 50);
    assert_eq!(counts.get("a"), Some(&50));
    // The first connect failure marked it down: no more attempts on it.
    assert_eq!(gw.metric("weir_upstream_connect_failures_total", &[]), 1.0);
    assert_eq!(
        gw.metric("weir_retries_total", &["reason=\"connect_failure\""]),
        1.0
    );
    let status = gw.status();
    assert_eq!(
        status["upstreams"][0]["pools"][0]["endpoints"][1]["healthy"],
        false
    );
}

#[test]
fn with_every_endpoint_dead_the_client_gets_a_502_problem() {
    let mut dead = Origins::start("us-east", &["x", "y"]);
    let gw = Gateway::start(&one_pool(&dead, ""));
    dead.kill();
    let resp = gw.get("/");
    assert_eq!(resp.status, 502, "{resp:?}");
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json")
    );
    let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{doc}"
    );
}

#[test]
fn a_hung_origin_gets_a_504_at_the_route_timeout() {
    let origins = Origins::start("us-east", &["slow"]);
    let body = format!(
        r#"
[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["{}"]
[[routes]]
upstream = "api"
timeout = "300ms"
"#,
        origins.addr("slow")
    );
    let gw = Gateway::start(&body);
    origins.set_fault("slow", r#"{"delay_ms":3000}"#);
    let started = std::time::Instant::now();
    let resp = gw.get("/");
    assert_eq!(resp.status, 504, "{resp:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}
