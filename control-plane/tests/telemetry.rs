//! Gateway telemetry with real processes: two gateways in two regions post health summaries
//! every 250 ms; the control plane's `GET /v1/telemetry` shows the region whose origin answers
//! 500 with an error ratio near 1 and the other near 0, marks a SIGKILLed gateway stale, and
//! refuses summaries that speak for another gateway, are too large or lie, while a flood of them
//! keeps each window and the number of gateways bounded.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{ControlPlane, GATEWAY, GW_A, Gateway, Origins, READ, fleet_config};

/// The telemetry interval the gateways here use (the shortest allowed).
const INTERVAL: &str = "telemetry_interval = \"250ms\"";
/// The control plane's window keeps at most this many summaries per gateway.
const WINDOW: u64 = 12;

fn telemetry(cp: &ControlPlane) -> Value {
    let resp = cp.get("/v1/telemetry", READ);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

fn gateway<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["gateways"].as_array()?.iter().find(|g| g["id"] == id)
}

/// The latest summary's pool of `region` for gateway `id`, if it had requests.
fn busy_pool(list: &Value, id: &str, region: &str) -> Option<Value> {
    gateway(list, id)?["latest"]["pools"]
        .as_array()?
        .iter()
        .find(|p| p["upstream"] == "app" && p["region"] == region)
        .filter(|p| p["requests"].as_u64().unwrap_or(0) > 0)
        .cloned()
}

fn error_ratio(pool: &Value) -> f64 {
    let requests = pool["requests"].as_u64().unwrap_or(0) as f64;
    let errors =
        pool["status_5xx"].as_u64().unwrap_or(0) + pool["transport_errors"].as_u64().unwrap_or(0);
    errors as f64 / requests
}

fn post(cp: &ControlPlane, id: &str, token: &str, body: &str) -> u16 {
    cp.call(
        "POST",
        &format!("/v1/gateways/{id}/telemetry"),
        Some(token),
        Some(("application/json", body)),
        &[],
    )
    .status
}

fn summary(pools: usize) -> Value {
    let pool = json!({
        "upstream": "app", "region": "us-east", "healthy_fraction": 1.0,
        "requests": 10, "status_5xx": 1, "transport_errors": 0,
        "p50_ms": 1.5, "p99_ms": 9.0, "breaker_open": false
    });
    json!({
        "region": "us-east", "config_version": 1, "interval_ms": 1000,
        "pools": vec![pool; pools],
    })
}

#[test]
fn the_control_plane_sees_each_regions_errors_and_a_killed_gateway_goes_stale() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    let west = Origins::start("eu-west", &["c"]);
    let put = cp.put_config(&fleet_config(&[
        ("us-east", 100, &east),
        ("eu-west", 100, &west),
    ]));
    assert_eq!(put.status, 201, "{}", put.body);
    east.set_fault("a", r#"{"status":500}"#);
    let gw_east = Gateway::start_full(&cp.url(), "gw-east", "us-east", "", INTERVAL);
    let mut gw_west = Gateway::start_full(&cp.url(), "gw-west", "eu-west", "", INTERVAL);
    // Traffic through both gateways until both pools show up busy in the control plane's view.
    let mut seen = None;
    let found = cp.eventually(Duration::from_secs(20), || {
        for gw in [&gw_east, &gw_west] {
            if gw.version() == 1 {
                for _ in 0..5 {
                    gw.get("/");
                }
            }
        }
        let list = telemetry(&cp);
        let pools = (
            busy_pool(&list, "gw-east", "us-east"),
            busy_pool(&list, "gw-west", "eu-west"),
        );
        if let (Some(failing), Some(fine)) = pools {
            seen = Some((list, failing, fine));
            return true;
        }
        false
    });
    assert!(found, "no busy pools in {}", telemetry(&cp));
    let (list, failing, fine) = seen.unwrap();
    assert!(
        error_ratio(&failing) > 0.9,
        "us-east answers 500: {failing}"
    );
    assert_eq!(error_ratio(&fine), 0.0, "eu-west answers 200: {fine}");
    assert_eq!(failing["status_5xx"], failing["requests"], "{failing}");
    assert_eq!(fine["healthy_fraction"], 1.0, "{fine}");
    assert!(
        fine["p50_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{fine}"
    );
    for id in ["gw-east", "gw-west"] {
        let g = gateway(&list, id).unwrap();
        assert_eq!(g["latest"]["config_version"], 1, "{g}");
        assert_eq!(g["stale"], false, "{g}");
        let (stale_after, interval) = (
            g["stale_after_ms"].as_u64(),
            g["latest"]["interval_ms"].as_u64(),
        );
        assert!(
            stale_after
                .zip(interval)
                .is_some_and(|(after, interval)| after >= 3 * interval && interval > 0),
            "stale after 3 of its intervals: {g}"
        );
    }
    assert_eq!(gateway(&list, "gw-east").unwrap()["region"], "us-east");
    assert_eq!(list["current_version"], 1);

    gw_west.kill();
    assert!(
        cp.eventually(Duration::from_secs(10), || {
            let list = telemetry(&cp);
            gateway(&list, "gw-west").is_some_and(|g| g["stale"] == true)
                && gateway(&list, "gw-east").is_some_and(|g| g["stale"] == false)
        }),
        "gw-west never went stale: {}",
        telemetry(&cp)
    );
    // weirctl shows it too.
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_weirctl"))
        .arg("telemetry")
        .env("WEIR_URL", cp.url())
        .env("WEIR_TOKEN", READ)
        .output()
        .expect("run weirctl");
    let shown = String::from_utf8_lossy(&ctl.stdout);
    assert!(ctl.status.success(), "{shown}");
    assert!(shown.starts_with("GATEWAY "), "{shown}");
    assert!(
        shown.lines().any(|l| l.starts_with("gw-west (stale) ")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("gw-east ") && l.contains(" us-east ")),
        "{shown}"
    );
    let metrics = cp.get("/metrics", READ).body;
    assert!(
        metrics.contains("weir_cp_telemetry_stale_gateways 1"),
        "{metrics}"
    );
    assert!(
        weir_testkit::metric_sum(
            &metrics,
            "weir_cp_telemetry_total",
            &["result=\"accepted\""]
        ) > 0.0,
        "{metrics}"
    );
    // The gateway counts what it sent.
    let mut scrape = weir_testkit::agent()
        .get(format!("http://{}/metrics", gw_east.admin))
        .call()
        .expect("the gateway's metrics");
    let gw_metrics = scrape.body_mut().read_to_string().expect("metrics text");
    assert!(
        weir_testkit::metric_sum(
            &gw_metrics,
            "weir_control_plane_telemetry_total",
            &["outcome=\"sent\""]
        ) > 0.0,
        "{gw_metrics}"
    );
}

#[test]
fn summaries_for_another_gateway_too_large_or_lying_are_refused() {
    let cp = ControlPlane::start();
    let good = summary(2).to_string();
    assert_eq!(post(&cp, "gw-a", GW_A, &good), 204);
    assert_eq!(
        post(&cp, "gw-b", GW_A, &good),
        403,
        "gw-a's token speaks for gw-a only"
    );
    assert_eq!(
        post(&cp, "gw-a", READ, &good),
        403,
        "a read token posts nothing"
    );
    let huge = summary(3000).to_string();
    assert!(huge.len() > weir_protocol::MAX_TELEMETRY_BYTES);
    assert_eq!(post(&cp, "gw-a", GW_A, &huge), 413);
    let mut lying = summary(1);
    lying["pools"][0]["status_5xx"] = json!(11);
    assert_eq!(post(&cp, "gw-a", GW_A, &lying.to_string()), 422);
    let mut unhealthy = summary(1);
    unhealthy["pools"][0]["healthy_fraction"] = json!(1.5);
    let resp = cp.call(
        "POST",
        "/v1/gateways/gw-a/telemetry",
        Some(GW_A),
        Some(("application/json", &unhealthy.to_string())),
        &[],
    );
    assert_eq!(resp.status, 422);
    assert!(
        resp.body.contains("pools[0].healthy_fraction"),
        "{}",
        resp.body
    );
    // JSON has no NaN: such a body is malformed.
    let nan = good.replace("1.5", "NaN");
    assert_eq!(post(&cp, "gw-a", GW_A, &nan), 400);
    // Fields a newer gateway may add are ignored, as in reports.
    let mut newer = summary(1);
    newer["pools"][0]["shiny"] = json!(true);
    assert_eq!(post(&cp, "gw-a", GW_A, &newer.to_string()), 204);
    let list = telemetry(&cp);
    let ids: Vec<&str> = list["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, ["gw-a"], "nothing refused was kept");
    let metrics = cp.get("/metrics", READ).body;
    for (result, count) in [("accepted", 2.0), ("invalid", 2.0), ("malformed", 1.0)] {
        let label = format!("result=\"{result}\"");
        assert_eq!(
            weir_testkit::metric_sum(&metrics, "weir_cp_telemetry_total", &[&label]),
            count,
            "{result}"
        );
    }
}

#[test]
fn a_flood_of_summaries_keeps_windows_and_gateways_bounded() {
    let cp = ControlPlane::start_with("2s", |_| vec!["--max-gateways".into(), "5".into()]);
    let body = summary(20).to_string();
    for _ in 0..(WINDOW * 5) {
        assert_eq!(post(&cp, "gw-a", GW_A, &body), 204);
    }
    let list = telemetry(&cp);
    assert_eq!(gateway(&list, "gw-a").unwrap()["window"], WINDOW, "{list}");
    // New ids past the cap are refused; the gateways already known keep posting.
    let statuses: Vec<u16> = (0..10)
        .map(|i| post(&cp, &format!("flood-{i}"), GATEWAY, &body))
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 204).count(),
        4,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 204 || s == 429),
        "{statuses:?}"
    );
    assert_eq!(post(&cp, "gw-a", GW_A, &body), 204);
    let list = telemetry(&cp);
    assert_eq!(list["gateways"].as_array().unwrap().len(), 5, "{list}");
}
