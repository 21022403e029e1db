//! Hot reload with real processes: many reloads under load lose no request, an invalid config is
//! rejected whole while the old one keeps serving, listener changes need a restart, and endpoint
//! state survives a reload.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Gateway, Origins, two_regions};

fn config(east: &Origins, west: &Origins, east_weight: u32, policy: &str) -> String {
    two_regions(policy, (east, east_weight), (west, 100), "")
}

fn version(gw: &Gateway) -> u64 {
    gw.status()["config_version"].as_u64().unwrap()
}

#[test]
fn reloading_many_times_under_load_fails_no_request() {
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let gw = Arc::new(Gateway::start(&config(&east, &west, 100, "nearest")));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match gw.try_request("GET", "/", &[]) {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("failed: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();

    // At least 20 reloads, and keep reloading until thousands of requests went through them
    // (bounded: a slow machine gets 60 s).
    let started = std::time::Instant::now();
    let mut reloads: u64 = 0;
    while (reloads < 20 || ok.load(Ordering::Relaxed) < 2000)
        && started.elapsed() < Duration::from_secs(60)
    {
        // Alternate between two different valid configs, by file change and by SIGHUP.
        let (weight, policy) = if reloads.is_multiple_of(2) {
            (0, "weighted")
        } else {
            (100, "nearest")
        };
        let before = version(&gw);
        gw.write_config(&config(&east, &west, weight, policy));
        if reloads.is_multiple_of(3) {
            gw.sighup();
        }
        assert!(
            gw.eventually(Duration::from_secs(5), || version(&gw) > before),
            "reload {reloads} was not applied:\n{}",
            gw.logs()
        );
        reloads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let ok = ok.load(Ordering::Relaxed);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(ok >= 2000, "only {ok} requests were sent");
    assert_eq!(version(&gw), reloads + 1);
    assert_eq!(
        gw.metric("weir_config_reloads_total", &["result=\"ok\""]),
        reloads as f64
    );
    assert_eq!(gw.metric("weir_config_version", &[]), (reloads + 1) as f64);
}

#[test]
fn an_invalid_config_is_rejected_and_the_old_one_keeps_serving() {
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let gw = Gateway::start(&config(&east, &west, 100, "nearest"));
    let checksum = gw.status()["config_checksum"].clone();

    gw.write_raw_config(
        "[upstreams.api]\nregion_policy = \"closest\"\n[[routes]]\nupstream = \"nope\"\n",
    );
    gw.sighup();
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.metric("weir_config_reloads_total", &["result=\"error\""]) >= 1.0
    }));
    let status = gw.status();
    assert_eq!(status["config_version"], 1);
    assert_eq!(status["config_checksum"], checksum);
    let logs = gw.logs();
    assert!(
        logs.contains("upstreams.api.region_policy"),
        "every error is logged:\n{logs}"
    );
    assert!(
        logs.contains("routes[0].upstream"),
        "every error is logged:\n{logs}"
    );
    for _ in 0..20 {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200);
        assert_ne!(resp.origin(), "c", "still the old config's locality");
    }

    // A later valid config is applied as usual.
    gw.write_config(&config(&east, &west, 0, "nearest"));
    assert!(gw.eventually(Duration::from_secs(5), || version(&gw) == 2));
    assert_eq!(gw.get("/").origin(), "c");
}

#[test]
fn a_listener_change_is_reported_as_needing_a_restart_and_not_applied() {
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let gw = Gateway::start(&config(&east, &west, 100, "nearest"));
    let text = gw
        .config_text(&config(&east, &west, 0, "nearest"))
        .replace(&gw.proxy.to_string(), "127.0.0.1:1");
    gw.write_raw_config(&text);
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.metric(
            "weir_config_reloads_total",
            &["result=\"restart_required\""],
        ) >= 1.0
    }));
    assert!(gw.logs().contains("listen.http"));
    assert_eq!(version(&gw), 1);
    assert_ne!(
        gw.get("/").origin(),
        "c",
        "the weight change in the same file was not applied"
    );
}

#[test]
fn endpoint_state_survives_a_reload_and_removed_endpoints_are_dropped() {
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let gw = Gateway::start(&config(&east, &west, 100, "nearest"));
    for _ in 0..50 {
        gw.get("/");
    }
    let ewma_before =
        gw.status()["upstreams"][0]["pools"][0]["endpoints"][0]["ewma_latency_ms"].clone();
    assert!(
        ewma_before.is_number(),
        "traffic produced a latency estimate"
    );

    // Same us-east pool, eu-west endpoint replaced.
    let other_west = Origins::start("eu-west", &["d"]);
    gw.write_config(&config(&east, &other_west, 100, "nearest"));
    assert!(gw.eventually(Duration::from_secs(5), || version(&gw) == 2));
    let status = gw.status();
    let east_ep = &status["upstreams"][0]["pools"][0]["endpoints"][0];
    assert!(
        east_ep["ewma_latency_ms"].is_number(),
        "state kept across reload: {status}"
    );
    let west_eps = status["upstreams"][0]["pools"][1]["endpoints"]
        .as_array()
        .unwrap();
    assert_eq!(west_eps.len(), 1);
    assert_eq!(west_eps[0]["address"], other_west.addr("d").to_string());
    let metrics = gw.admin_get("/metrics").body;
    assert!(
        !metrics.contains(&west.addr("c").to_string()),
        "the removed endpoint's series are gone"
    );
}
