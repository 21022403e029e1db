//! The control plane's API against a real process on loopback: authentication and roles on every
//! route, validation, optimistic concurrency, history, rollback, traffic shifting, the audit log;
//! each test on both stores (files and etcd).

mod support;

use support::{ADMIN, ControlPlane, GATEWAY, OPERATE, READ};

// Every test here runs on the file store (`files::`) and on an etcd store (`etcd::`).
crate::on_both_stores!(
    every_route_checks_token_and_role,
    an_invalid_config_is_refused_with_every_error_and_nothing_changes,
    two_writers_on_the_same_base_one_wins_the_other_gets_409,
    dry_run_shows_the_changes_and_stores_nothing,
    json_bodies_are_accepted,
    history_rollback_and_audit,
    weights_drain_and_restore,
    no_version_yet_and_unknown_paths,
    sigterm_stops_cleanly_and_the_store_survives,
);

const FLEET: &str = r#"
# the app, in two regions
[upstreams.app]
region_policy = "nearest"

[[upstreams.app.pools]]
region = "us-east"
weight = 100
endpoints = ["127.0.0.1:9001"]

[[upstreams.app.pools]]
region = "eu-west"
weight = 80
endpoints = ["127.0.0.1:9101"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

fn with_version(cp: &ControlPlane) -> u64 {
    let resp = cp.put_config(FLEET);
    assert_eq!(resp.status, 201, "{}", resp.body);
    resp.json()["version"].as_u64().unwrap()
}

/// Every route, with the role it needs (`None`: no token needed).
fn routes() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        ("GET", "/healthz", None),
        ("GET", "/metrics", Some("read")),
        ("GET", "/v1/openapi.json", Some("read")),
        ("GET", "/v1/config", Some("read")),
        ("PUT", "/v1/config?dry_run=true", Some("admin")),
        ("GET", "/v1/versions", Some("read")),
        ("GET", "/v1/versions/1", Some("read")),
        ("POST", "/v1/versions/1/rollback", Some("operate")),
        (
            "PUT",
            "/v1/upstreams/app/pools/eu-west/weight",
            Some("operate"),
        ),
        ("POST", "/v1/regions/eu-west/drain", Some("operate")),
        ("POST", "/v1/regions/eu-west/restore", Some("operate")),
        (
            "POST",
            "/v1/endpoints/127.0.0.1:9001/drain",
            Some("operate"),
        ),
        (
            "POST",
            "/v1/endpoints/127.0.0.1:9001/restore",
            Some("operate"),
        ),
        ("GET", "/v1/gateways", Some("read")),
        ("POST", "/v1/gateways/g1/report", Some("gateway")),
        ("GET", "/v1/stream?gateway=g1", Some("gateway")),
        ("GET", "/v1/audit", Some("read")),
    ]
}

fn grants(held: &str, needed: &str) -> bool {
    let rank = |r: &str| match r {
        "read" => 0,
        "operate" => 1,
        "admin" => 2,
        _ => -1,
    };
    match (held, needed) {
        ("gateway", needed) => needed == "gateway",
        (_, "gateway") => false,
        (held, needed) => rank(held) >= rank(needed),
    }
}

fn every_route_checks_token_and_role() {
    let cp = ControlPlane::start_with_heartbeat("100ms");
    with_version(&cp);
    let tokens = [
        ("read", READ),
        ("operate", OPERATE),
        ("admin", ADMIN),
        ("gateway", GATEWAY),
    ];
    for (method, path, needed) in routes() {
        let body = match path {
            p if p.starts_with("/v1/config") => Some(("application/toml", FLEET)),
            p if p.ends_with("/weight") => Some(("application/json", r#"{"weight":80}"#)),
            p if p.ends_with("/report") => Some((
                "application/json",
                r#"{"version":1,"outcome":"ack","applied_version":1}"#,
            )),
            _ => None,
        };
        let Some(needed) = needed else {
            assert_eq!(cp.call(method, path, None, body, &[]).status, 200, "{path}");
            continue;
        };
        let none = cp.call(method, path, None, body, &[]);
        assert_eq!(
            none.status, 401,
            "{method} {path} without a token: {}",
            none.body
        );
        assert_eq!(
            none.header("content-type"),
            Some("application/problem+json")
        );
        let wrong = cp.call(method, path, Some("not-a-token"), body, &[]);
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong token");
        for (held, token) in tokens {
            if path.starts_with("/v1/stream") && grants(held, needed) {
                continue; // the stream never ends; its success is tested in the fleet tests
            }
            let resp = cp.call(method, path, Some(token), body, &[]);
            if grants(held, needed) {
                assert!(
                    resp.status < 400 || resp.status == 409,
                    "{method} {path} as {held}: {} {}",
                    resp.status,
                    resp.body
                );
            } else {
                assert_eq!(resp.status, 403, "{method} {path} as {held}: {}", resp.body);
                assert!(resp.json()["detail"].as_str().unwrap().contains(needed));
            }
        }
    }
    let logs = cp.logs();
    for token in [READ, OPERATE, ADMIN, GATEWAY, "not-a-token"] {
        assert!(!logs.contains(token), "a token appears in the logs");
    }
}

fn an_invalid_config_is_refused_with_every_error_and_nothing_changes() {
    let cp = ControlPlane::start();
    let version = with_version(&cp);
    let before = cp.get("/v1/config", READ).json();
    let bad = r#"
[upstreams.app]
region_policy = "closest"

[[upstreams.app.pools]]
region = "us-east"
weight = 150
endpoints = ["127.0.0.1:9001"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "nope"

[listen]
http = "127.0.0.1:1"
"#;
    let resp = cp.put_config(bad);
    assert_eq!(resp.status, 422, "{}", resp.body);
    let errors = resp.json()["errors"].as_array().unwrap().clone();
    let paths: Vec<&str> = errors.iter().map(|e| e["path"].as_str().unwrap()).collect();
    for expected in [
        "upstreams.app.region_policy",
        "upstreams.app.pools[0].weight",
        "routes[0].upstream",
        "listen",
    ] {
        assert!(
            paths.iter().any(|p| p.starts_with(expected)),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(errors.iter().all(|e| e["line"].as_u64().is_some()));
    assert_eq!(cp.current_version(), version);
    assert_eq!(cp.get("/v1/config", READ).json(), before);
    // Not even a syntax error half-applies.
    assert_eq!(cp.put_config("[upstreams.app\n").status, 422);
    assert_eq!(cp.current_version(), version);
}

fn two_writers_on_the_same_base_one_wins_the_other_gets_409() {
    let cp = ControlPlane::start();
    let base = with_version(&cp);
    let if_match = format!("\"{base}\"");
    let a = FLEET.replace("weight = 80", "weight = 70");
    let b = FLEET.replace("weight = 80", "weight = 60");
    let first = cp.call(
        "PUT",
        "/v1/config",
        Some(ADMIN),
        Some(("application/toml", &a)),
        &[("if-match", &if_match)],
    );
    assert_eq!(first.status, 201, "{}", first.body);
    let second = cp.call(
        "PUT",
        "/v1/config",
        Some(ADMIN),
        Some(("application/toml", &b)),
        &[("if-match", &if_match)],
    );
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(second.json()["current_version"], base + 1);
    let current = cp.get("/v1/config?format=toml", READ);
    assert_eq!(current.body, a, "the loser wrote nothing");
    assert_eq!(
        current.header("etag"),
        Some(format!("\"{}\"", base + 1).as_str())
    );

    // Truly concurrent: many writers on one base, exactly one wins.
    let base = base + 1;
    let cp = std::sync::Arc::new(cp);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let cp = std::sync::Arc::clone(&cp);
            std::thread::spawn(move || {
                let text = FLEET.replace("weight = 80", &format!("weight = {}", 10 + i));
                cp.call(
                    "PUT",
                    "/v1/config",
                    Some(ADMIN),
                    Some(("application/toml", &text)),
                    &[("if-match", &format!("\"{base}\""))],
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(cp.current_version(), base + 1);
}

fn dry_run_shows_the_changes_and_stores_nothing() {
    let cp = ControlPlane::start();
    let version = with_version(&cp);
    let changed = FLEET.replace("weight = 80", "weight = 0");
    let resp = cp.call(
        "PUT",
        "/v1/config?dry_run=true",
        Some(ADMIN),
        Some(("application/toml", &changed)),
        &[],
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let json = resp.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["base_version"], version);
    let changes: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        changes
            .iter()
            .any(|c| c.contains("eu-west") && c.contains("80 -> 0")),
        "{changes:?}"
    );
    assert_eq!(cp.current_version(), version);
    // The same text again is no new version.
    let same = cp.put_config(FLEET);
    assert_eq!(same.status, 200);
    assert_eq!(same.json()["changed"], false);
    assert_eq!(cp.current_version(), version);
}

fn json_bodies_are_accepted() {
    let cp = ControlPlane::start();
    let json = r#"{
      "upstreams": {"app": {"pools": [{"region": "us-east", "endpoints": ["127.0.0.1:9001"]}]}},
      "routes": [{"name": "all", "path_prefix": "/", "upstream": "app"}]
    }"#;
    let resp = cp.call(
        "PUT",
        "/v1/config?message=from%20json",
        Some(ADMIN),
        Some(("application/json", json)),
        &[],
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let current = cp.get("/v1/config", READ).json();
    assert_eq!(current["message"], "from json");
    assert_eq!(current["author"], "alice");
    assert!(current["config"].as_str().unwrap().contains("upstreams"));
    let bad = cp.call(
        "PUT",
        "/v1/config",
        Some(ADMIN),
        Some(("application/json", "{not json")),
        &[],
    );
    assert_eq!(bad.status, 400);
}

fn history_rollback_and_audit() {
    let cp = ControlPlane::start();
    let v1 = with_version(&cp);
    let v2 = cp
        .put_config(&FLEET.replace("weight = 80", "weight = 10"))
        .json()["version"]
        .as_u64()
        .unwrap();
    assert_eq!(v2, v1 + 1);
    let history = cp.get("/v1/versions", READ).json();
    let versions: Vec<u64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![v2, v1], "newest first");
    let one = cp.get(&format!("/v1/versions/{v1}"), READ).json();
    assert_eq!(one["config"], FLEET);
    assert_eq!(one["checksum"], support::sha256(FLEET));
    assert_eq!(cp.get("/v1/versions/99", READ).status, 404);

    let rollback = cp.call(
        "POST",
        &format!("/v1/versions/{v1}/rollback?message=bad%20weights"),
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(rollback.status, 201, "{}", rollback.body);
    let v3 = rollback.json()["version"].as_u64().unwrap();
    assert_eq!(v3, v2 + 1, "a rollback is a new version");
    let current = cp.get("/v1/config", READ).json();
    assert_eq!(current["config"], FLEET);
    assert_eq!(current["action"], "rollback");
    assert_eq!(current["author"], "oscar");

    let audit = cp.get("/v1/audit", READ).json();
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["action"], "rollback");
    assert_eq!(entries[0]["actor"], "oscar");
    assert_eq!(entries[0]["message"], "bad weights");
    assert_eq!(entries[2]["actor"], "alice");
}

fn weights_drain_and_restore() {
    let cp = ControlPlane::start();
    with_version(&cp);
    let weight = |body: &str| {
        cp.call(
            "PUT",
            "/v1/upstreams/app/pools/eu-west/weight",
            Some(OPERATE),
            Some(("application/json", body)),
            &[],
        )
    };
    let set = weight(r#"{"weight": 30}"#);
    assert_eq!(set.status, 201, "{}", set.body);
    assert_eq!(set.json()["previous_weight"], 80);
    let text = cp.get("/v1/config?format=toml", READ).body;
    assert!(text.contains("weight = 30") && text.contains("# the app, in two regions"));
    assert_eq!(weight(r#"{"weight": 101}"#).status, 422);
    assert_eq!(weight(r#"{"weight": "x"}"#).status, 400);
    let unknown = cp.call(
        "PUT",
        "/v1/upstreams/nope/pools/eu-west/weight",
        Some(OPERATE),
        Some(("application/json", r#"{"weight": 1}"#)),
        &[],
    );
    assert_eq!(unknown.status, 404);

    let drain = cp.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(drain.status, 201, "{}", drain.body);
    let drained = cp.get("/v1/config", READ).json();
    assert_eq!(drained["drained"]["us-east"]["app"], 100);
    assert!(drained["config"].as_str().unwrap().contains("weight = 0"));
    let again = cp.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(again.status, 409);
    // Draining the last region with weight would leave the upstream with none: refused.
    let both = cp.call(
        "POST",
        "/v1/regions/eu-west/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(both.status, 422, "{}", both.body);
    let restore = cp.call(
        "POST",
        "/v1/regions/us-east/restore",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(restore.status, 201, "{}", restore.body);
    let restored = cp.get("/v1/config", READ).json();
    assert!(restored["drained"].as_object().is_none_or(|d| d.is_empty()));
    assert!(
        restored["config"]
            .as_str()
            .unwrap()
            .contains("weight = 100")
    );
    assert_eq!(
        cp.call(
            "POST",
            "/v1/regions/us-east/restore",
            Some(OPERATE),
            None,
            &[]
        )
        .status,
        409
    );
    assert_eq!(
        cp.call("POST", "/v1/regions/mars/drain", Some(OPERATE), None, &[])
            .status,
        404
    );
}

fn no_version_yet_and_unknown_paths() {
    let cp = ControlPlane::start();
    assert_eq!(cp.get("/v1/config", READ).status, 404);
    assert_eq!(
        cp.call(
            "POST",
            "/v1/regions/us-east/drain",
            Some(OPERATE),
            None,
            &[]
        )
        .status,
        404
    );
    assert_eq!(cp.get("/v1/nothing", READ).status, 404);
    // Over the body cap: 413, or the connection closed on the client still sending.
    let big = "#".repeat(2 << 20);
    let sent = support::agent()
        .put(format!("{}/v1/config", cp.url()))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/toml")
        .send(big.as_str());
    match sent {
        Ok(resp) => assert_eq!(resp.status(), 413),
        Err(e) => assert!(
            e.to_string().contains("pipe") || e.to_string().contains("reset"),
            "{e}"
        ),
    }
    assert_eq!(cp.get("/v1/config", READ).status, 404, "nothing stored");
    let openapi = cp.get("/v1/openapi.json", READ).json();
    assert_eq!(openapi["openapi"], "3.1.0");
    let metrics = cp.get("/metrics", READ).body;
    assert!(metrics.contains("weir_cp_requests_total"));
    assert!(
        metrics.contains("weir_cp_auth_failures_total")
            || metrics.contains("weir_cp_config_version")
    );
}

fn sigterm_stops_cleanly_and_the_store_survives() {
    let mut cp = ControlPlane::start();
    let version = with_version(&cp);
    let status = cp.stop();
    assert!(status.success(), "{status}");
    cp.restart();
    assert_eq!(cp.current_version(), version);
    assert_eq!(cp.get("/v1/config?format=toml", READ).body, FLEET);
}
