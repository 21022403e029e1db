//! The control plane and its gateways, all real processes on loopback: versions pushed to ten
//! gateways and acknowledged, a NACK shown in `gateways`, traffic moving when a region is drained,
//! and static stability (the fleet keeps serving without the control plane, a gateway restarted
//! meanwhile serves from its cache, and everyone converges when the control plane is back).

mod support;

use std::time::Duration;

use support::{ControlPlane, Gateway, OPERATE, Origins, READ, agent, fleet_config};

/// The `gateways` view of one gateway.
fn gateway_view(cp: &ControlPlane, id: &str) -> serde_json::Value {
    let list = cp.get("/v1/gateways", READ).json();
    list["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn all_applied(cp: &ControlPlane, ids: &[String], version: u64) -> bool {
    let list = cp.get("/v1/gateways", READ).json();
    ids.iter().all(|id| {
        list["gateways"].as_array().unwrap().iter().any(|g| {
            g["id"] == id.as_str()
                && g["connected"] == true
                && g["applied_version"] == version
                && g["last_report"]["outcome"] == "ack"
        })
    })
}

#[test]
fn a_change_reaches_ten_gateways_and_each_acks() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    let west = Origins::start("eu-west", &["c"]);
    let first = cp.put_config(&fleet_config(&[
        ("us-east", 100, &east),
        ("eu-west", 100, &west),
    ]));
    assert_eq!(first.status, 201, "{}", first.body);
    let gateways: Vec<Gateway> = (0..10)
        .map(|i| {
            let region = if i % 2 == 0 { "us-east" } else { "eu-west" };
            Gateway::start(&cp.url(), &format!("gw-{i}"), region)
        })
        .collect();
    let ids: Vec<String> = gateways.iter().map(|g| g.id.clone()).collect();
    assert!(
        cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 1)),
        "not every gateway acknowledged version 1: {}",
        cp.get("/v1/gateways", READ).body
    );
    for gateway in &gateways {
        assert!(gateway.ready(), "{} not ready", gateway.id);
        assert_eq!(gateway.version(), 1);
    }

    let weight = cp.call(
        "PUT",
        "/v1/upstreams/app/pools/eu-west/weight",
        Some(OPERATE),
        Some(("application/json", r#"{"weight": 40}"#)),
        &[],
    );
    assert_eq!(weight.status, 201, "{}", weight.body);
    assert!(
        cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 2)),
        "not every gateway acknowledged the weight change: {}",
        cp.get("/v1/gateways", READ).body
    );
    for gateway in &gateways {
        assert_eq!(gateway.version(), 2, "{} /status", gateway.id);
        let status = gateway.status();
        let west_weight = status["upstreams"]
            .as_array()
            .and_then(|upstreams| upstreams.iter().find(|u| u["name"] == "app"))
            .and_then(|app| app["pools"].as_array())
            .and_then(|pools| pools.iter().find(|p| p["region"] == "eu-west"))
            .map(|p| p["weight"].clone());
        assert_eq!(west_weight, Some(serde_json::json!(40)), "{}", gateway.id);
    }
}

#[test]
fn a_version_a_gateway_refuses_is_nacked_and_shown() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    let base = fleet_config(&[("us-east", 100, &east)]);
    assert_eq!(cp.put_config(&base).status, 201);
    // This gateway refuses game-day faults; the control plane accepts them (others may run them).
    let strict = Gateway::start_with(
        &cp.url(),
        "strict",
        "us-east",
        "allow_fault_injection = false",
    );
    let relaxed = Gateway::start(&cp.url(), "relaxed", "us-east");
    let ids = vec!["strict".to_string(), "relaxed".to_string()];
    assert!(cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 1)));

    let with_fault = format!(
        "{base}\n[routes.fault]\nheader = \"x-game-day\"\nabort_status = 503\nabort_percent = 10\n"
    );
    let resp = cp.put_config(&with_fault);
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert!(
        cp.eventually(Duration::from_secs(10), || {
            let view = gateway_view(&cp, "strict");
            view["last_report"]["outcome"] == "nack" && view["last_report"]["version"] == 2
        }),
        "no NACK shown: {}",
        cp.get("/v1/gateways", READ).body
    );
    let view = gateway_view(&cp, "strict");
    assert_eq!(
        view["applied_version"], 1,
        "the NACKed version is not applied"
    );
    let errors = view["last_report"]["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e.as_str().unwrap().contains("fault")),
        "{errors:?}"
    );
    assert_eq!(
        strict.version(),
        1,
        "the refusing gateway still serves version 1"
    );
    assert_eq!(strict.get("/").0, 200);
    assert!(cp.eventually(
        Duration::from_secs(10),
        || gateway_view(&cp, "relaxed")["applied_version"] == 2
    ));
    assert_eq!(relaxed.version(), 2);
}

#[test]
fn draining_a_region_moves_its_traffic() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c", "d"]);
    assert_eq!(
        cp.put_config(&fleet_config(&[
            ("us-east", 100, &east),
            ("eu-west", 100, &west)
        ]))
        .status,
        201
    );
    let gateway = Gateway::start(&cp.url(), "edge-east", "us-east");
    let ids = vec!["edge-east".to_string()];
    assert!(cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 1)));
    let regions = |n: usize| -> Vec<String> { (0..n).map(|_| gateway.get("/").1).collect() };
    assert!(
        regions(20).iter().all(|r| r == "us-east"),
        "nearest keeps traffic home"
    );

    let drain = cp.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(drain.status, 201, "{}", drain.body);
    assert!(cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 2)));
    assert!(
        regions(20).iter().all(|r| r == "eu-west"),
        "drained: all to eu-west"
    );

    let restore = cp.call(
        "POST",
        "/v1/regions/us-east/restore",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(restore.status, 201, "{}", restore.body);
    assert!(cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 3)));
    // The restore put the region back in service: its endpoints ramp through slow start (10 s
    // by default), so right after the version is applied they take a reduced share.
    let status = gateway.status();
    let east_pool = &status["upstreams"][0]["pools"][0];
    assert_eq!(east_pool["region"], "us-east", "{status}");
    for endpoint in east_pool["endpoints"].as_array().unwrap() {
        let share = endpoint["slow_start"].as_f64().unwrap();
        assert!(share < 1.0, "not ramping after restore: {status}");
    }
    // The restored pool comes back through slow start; within a few seconds it is home again.
    assert!(
        cp.eventually(Duration::from_secs(20), || regions(10)
            .iter()
            .all(|r| r == "us-east")),
        "traffic did not return home after restore"
    );
}

#[test]
fn the_fleet_keeps_serving_without_the_control_plane_and_converges_after() {
    let mut cp = ControlPlane::start_with_heartbeat("200ms");
    let east = Origins::start("us-east", &["a"]);
    let west = Origins::start("eu-west", &["c"]);
    assert_eq!(
        cp.put_config(&fleet_config(&[
            ("us-east", 100, &east),
            ("eu-west", 100, &west)
        ]))
        .status,
        201
    );
    let mut one = Gateway::start(&cp.url(), "one", "us-east");
    let two = Gateway::start(&cp.url(), "two", "eu-west");
    let ids = vec!["one".to_string(), "two".to_string()];
    assert!(cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 1)));

    cp.kill();
    for _ in 0..20 {
        assert_eq!(one.get("/").0, 200);
        assert_eq!(two.get("/").0, 200);
    }
    // A gateway restarted while the control plane is down serves its cached version.
    one.restart();
    assert!(
        cp.eventually(Duration::from_secs(10), || one.ready()),
        "not ready from its cache:\n{}",
        one.logs()
    );
    assert_eq!(one.version(), 1);
    assert_eq!(one.get("/"), (200, "us-east".to_string()));
    assert!(one.logs().contains("serving the cached config"));

    // Control plane back (same store): both catch up by themselves, including a change made
    // right after it came back.
    cp.restart();
    let drain = cp.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(drain.status, 201, "{}", drain.body);
    assert!(
        cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 2)),
        "did not converge: {}",
        cp.get("/v1/gateways", READ).body
    );
    assert_eq!(one.get("/").1, "eu-west");
    assert_eq!(two.version(), 2);
}

#[test]
fn a_new_gateway_without_cache_or_control_plane_waits_and_says_so() {
    let mut cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    cp.kill();
    let gateway = Gateway::start(&cp.url(), "lonely", "us-east");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!gateway.ready(), "ready without any config");
    let (status, _) = gateway.get("/");
    assert_eq!(status, 503);
    cp.restart();
    assert_eq!(
        cp.put_config(&fleet_config(&[("us-east", 100, &east)]))
            .status,
        201
    );
    assert!(
        cp.eventually(Duration::from_secs(20), || gateway.ready()),
        "never became ready:\n{}",
        gateway.logs()
    );
    assert_eq!(gateway.get("/"), (200, "us-east".to_string()));
}

/// `GET /` through `gateway`: (status, the origin that answered).
fn origin_of(gateway: &Gateway) -> (u16, String) {
    match agent().get(format!("http://{}/", gateway.proxy)).call() {
        Ok(resp) => (
            resp.status().as_u16(),
            resp.headers()
                .get("x-weir-origin")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        ),
        Err(e) => panic!("GET / via {}: {e}", gateway.id),
    }
}

fn weirctl(cp: &ControlPlane, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weirctl"))
        .args(args)
        .env("WEIR_URL", cp.url())
        .env("WEIR_TOKEN", OPERATE)
        .output()
        .expect("run weirctl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weirctl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `/status` entry of endpoint `addr` of upstream `app`.
fn endpoint_status(gateway: &Gateway, addr: std::net::SocketAddr) -> serde_json::Value {
    let status = gateway.status();
    status["upstreams"][0]["pools"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|pool| pool["endpoints"].as_array().unwrap().iter())
        .find(|e| e["address"] == addr.to_string())
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_drained_endpoint_takes_no_new_requests_and_finishes_its_own() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let mut fleet = fleet_config(&[("us-east", 100, &east), ("eu-west", 100, &west)]);
    fleet = fleet.replace(
        "region_policy = \"nearest\"\n",
        "region_policy = \"nearest\"\nhealth = { path = \"/healthz\", interval = \"200ms\", timeout = \"100ms\" }\n",
    );
    assert_eq!(cp.put_config(&fleet).status, 201);
    let gateway = Gateway::start(&cp.url(), "edge-east", "us-east");
    let ids = vec!["edge-east".to_string()];
    assert!(cp.eventually(Duration::from_secs(20), || all_applied(&cp, &ids, 1)));
    let (a, b) = (east.addr("a"), east.addr("b"));

    // Only `a` takes us-east's traffic once `b` is drained.
    let out = weirctl(
        &cp,
        &["drain", "--endpoint", &b.to_string(), "-m", "reboot b"],
    );
    assert!(out.contains("drained endpoint"), "{out}");
    assert!(cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 2)));
    for _ in 0..20 {
        assert_eq!(origin_of(&gateway), (200, "a".to_string()));
    }
    assert_eq!(endpoint_status(&gateway, b)["drained"], true);
    let drained_gauge = |addr: std::net::SocketAddr| {
        let metrics = agent()
            .get(format!("http://{}/metrics", gateway.admin))
            .call()
            .expect("metrics")
            .body_mut()
            .read_to_string()
            .expect("metrics text");
        weir_testkit::metric_sum(
            &metrics,
            "weir_endpoint_drained",
            &[&format!("endpoint=\"{addr}\"")],
        )
    };
    assert_eq!((drained_gauge(a), drained_gauge(b)), (0.0, 1.0));

    // A slow request on `a`, then `a` is drained too while it is in flight.
    east.set_fault("a", r#"{"delay_ms":1500}"#);
    let slow = {
        let proxy = gateway.proxy;
        std::thread::spawn(move || {
            let resp = agent()
                .get(format!("http://{proxy}/"))
                .call()
                .expect("slow request");
            let origin = resp
                .headers()
                .get("x-weir-origin")
                .map(|v| v.to_str().unwrap().to_string());
            (resp.status().as_u16(), origin)
        })
    };
    assert!(cp.eventually(Duration::from_secs(10), || {
        endpoint_status(&gateway, a)["in_flight"] == 1
    }));
    weirctl(
        &cp,
        &["drain", "--endpoint", &a.to_string(), "--upstream", "app"],
    );
    assert!(cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 3)));
    assert_eq!(endpoint_status(&gateway, a)["drained"], true);
    let served_by_a = east.served("a");
    for _ in 0..20 {
        assert_eq!(
            origin_of(&gateway),
            (200, "c".to_string()),
            "us-east is all drained"
        );
    }
    assert_eq!(
        east.served("a"),
        served_by_a,
        "no new request reached the drained endpoint"
    );
    assert_eq!(
        slow.join().unwrap(),
        (200, Some("a".to_string())),
        "in flight, it finished"
    );
    east.clear_fault("a");
    // Health checks go on while drained.
    let checks = east.stats("a").healthz;
    assert!(
        cp.eventually(Duration::from_secs(10), || east.stats("a").healthz
            > checks + 2)
    );
    assert_eq!(endpoint_status(&gateway, a)["healthy"], true);

    // Restored: back in rotation, ramping up through slow start; history says who and why.
    let out = weirctl(&cp, &["restore", "--endpoint", &a.to_string()]);
    assert!(out.contains("restored endpoint"), "{out}");
    assert!(cp.eventually(Duration::from_secs(10), || all_applied(&cp, &ids, 4)));
    let status = endpoint_status(&gateway, a);
    assert_eq!(status["drained"], false);
    assert!(status["slow_start"].as_f64().unwrap() < 1.0, "{status}");
    assert!(cp.eventually(Duration::from_secs(20), || origin_of(&gateway).1 == "a"));
    let history = cp.get("/v1/versions", READ).json();
    let second = &history["versions"].as_array().unwrap()[2];
    assert_eq!(second["action"], "endpoint_drain");
    assert_eq!(second["author"], "oscar");
    assert_eq!(second["message"], "reboot b");
}
