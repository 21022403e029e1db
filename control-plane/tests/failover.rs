//! The failover policy with a real control plane, two gateways in two regions and real origins:
//! us-east's origins fail → the policy drains us-east fleet-wide as a version authored
//! `policy:failover` with its evidence; they recover → the weight ramps back in the configured
//! steps; `weirctl failover status|pause|resume` and the metrics show it; a drain survives a
//! SIGKILL of the control plane and is still ramped back by the policy.

mod support;

use std::time::{Duration, Instant};

use support::{ControlPlane, Gateway, OPERATE, Origins, READ, workspace_bin};

/// Upstream `app` with active health checks and a pool per region, a failover policy that acts
/// within seconds, and a catch-all route.
fn config(east: &Origins, west: &Origins) -> String {
    config_with(east, west, "")
}

/// As [`config`], with `policy` lines added to `[failover.app]`.
fn config_with(east: &Origins, west: &Origins, policy: &str) -> String {
    format!(
        "[upstreams.app]\nregion_policy = \"nearest\"\n\
         health = {{ path = \"/healthz\", interval = \"250ms\", timeout = \"200ms\", \
         healthy_threshold = 1, unhealthy_threshold = 1 }}\n\
         [[upstreams.app.pools]]\nregion = \"us-east\"\nweight = 80\nendpoints = [{}]\n\
         [[upstreams.app.pools]]\nregion = \"eu-west\"\nendpoints = [{}]\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n\
         [failover.app]\nevaluate_every = \"1s\"\ndrain_after = 2\nrestore_after = 3\n\
         ramp = [\"50%\", \"100%\"]\n{policy}\n",
        east.endpoints_toml(),
        west.endpoints_toml()
    )
}

/// `(version, author, message)` of every version, oldest first.
fn history(cp: &ControlPlane) -> Vec<(u64, String, String)> {
    let list = cp.get("/v1/versions", READ).json();
    let mut versions: Vec<(u64, String, String)> = list["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("version"),
                v["author"].as_str().unwrap_or_default().to_owned(),
                v["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    versions.reverse();
    versions
}

/// The policy's versions' messages, oldest first.
fn policy_messages(cp: &ControlPlane) -> Vec<String> {
    history(cp)
        .into_iter()
        .filter(|(_, author, _)| author == "policy:failover")
        .map(|(_, _, message)| message)
        .collect()
}

fn region_state(cp: &ControlPlane, region: &str) -> serde_json::Value {
    let status = cp.get("/v1/failover", READ).json();
    status["upstreams"][0]["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .find(|r| r["region"] == region)
        .cloned()
        .unwrap_or_default()
}

fn applied(gateway: &Gateway, version: u64) -> bool {
    gateway.version() == version
}

fn weirctl(cp: &ControlPlane, token: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(workspace_bin("weirctl"))
        .args(["--url", &cp.url(), "--token", token])
        .args(args)
        .output()
        .expect("run weirctl");
    assert!(
        out.status.success(),
        "weirctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_failing_region_is_drained_by_policy_and_ramped_back_when_it_recovers() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c", "d"]);
    assert_eq!(cp.put_config(&config(&east, &west)).status, 201);
    let fast = "telemetry_interval = \"250ms\"";
    let edge_east = Gateway::start_full(&cp.url(), "edge-east", "us-east", "", fast);
    let edge_west = Gateway::start_full(&cp.url(), "edge-west", "eu-west", "", fast);
    let both = |version: u64| applied(&edge_east, version) && applied(&edge_west, version);
    assert!(cp.eventually(Duration::from_secs(20), || both(1)));
    // The policy sees both regions good before anything fails.
    assert!(cp.eventually(Duration::from_secs(20), || {
        let east = region_state(&cp, "us-east");
        east["state"] == "healthy" && east["good_in_row"].as_u64() >= Some(2)
    }));
    assert_eq!(edge_east.get("/").1, "us-east");

    // Pause: evaluations go on, no action is taken.
    let paused = weirctl(&cp, OPERATE, &["failover", "pause", "app"]);
    assert!(paused.contains("paused now: app"), "{paused}");
    for name in ["a", "b"] {
        east.set_fault(name, r#"{"status":503}"#);
    }
    let failed_at = Instant::now();
    assert!(cp.eventually(Duration::from_secs(20), || {
        region_state(&cp, "us-east")["bad_in_row"].as_u64() >= Some(3)
    }));
    assert!(policy_messages(&cp).is_empty(), "paused, yet it acted");
    let status = weirctl(&cp, READ, &["failover", "status"]);
    assert!(status.contains("PAUSED"), "{status}");

    // Resumed, it drains us-east at the next evaluation: one version, pushed to both gateways.
    weirctl(&cp, OPERATE, &["failover", "resume"]);
    assert!(cp.eventually(Duration::from_secs(20), || {
        !policy_messages(&cp).is_empty()
    }));
    let drain = &policy_messages(&cp)[0];
    assert!(drain.starts_with("failover drain app/us-east: "), "{drain}");
    assert!(drain.contains("edge-east: healthy 0.00 < 0.7"), "{drain}");
    assert!(drain.contains("edge-west: healthy 0.00 < 0.7"), "{drain}");
    let drained_version = cp.current_version();
    assert!(cp.eventually(Duration::from_secs(10), || both(drained_version)));
    eprintln!("failed → drained and applied: {:?}", failed_at.elapsed());
    assert!(
        (0..10).all(|_| edge_east.get("/").1 == "eu-west"),
        "us-east's gateway sends its traffic to eu-west"
    );
    let audit = cp.get("/v1/audit", READ).json();
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["actor"] == "policy:failover" && e["action"] == "failover"),
        "{audit}"
    );

    // Back: after 3 good evaluations, 50% of the operator's 80, then 100%.
    for name in ["a", "b"] {
        east.clear_fault(name);
    }
    assert!(cp.eventually(Duration::from_secs(30), || {
        policy_messages(&cp).len() >= 3
    }));
    let messages = policy_messages(&cp);
    assert!(
        messages[1].starts_with("failover ramp app/us-east: 3 good evaluations in a row"),
        "{messages:?}"
    );
    assert!(
        messages[2].starts_with("failover restore app/us-east"),
        "{messages:?}"
    );
    let config = cp.get("/v1/config?format=toml", READ).body;
    assert!(config.contains("weight = 80"), "{config}");
    let steps: Vec<String> = history(&cp)
        .iter()
        .filter(|(_, author, _)| author == "policy:failover")
        .map(|(version, _, _)| {
            let body = cp.get(&format!("/v1/versions/{version}"), READ).json();
            let text = body["config"].as_str().unwrap_or_default().to_owned();
            let east_pool = text
                .split("[[upstreams.app.pools]]")
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            east_pool
                .lines()
                .find(|line| line.starts_with("weight"))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(steps, vec!["weight = 0", "weight = 40", "weight = 80"]);
    assert_eq!(region_state(&cp, "us-east")["state"], "healthy");
    let metrics = cp.get("/metrics", READ).body;
    for line in [
        "weir_cp_failover_actions_total{kind=\"drain\",result=\"committed\"} 1",
        "weir_cp_failover_actions_total{kind=\"ramp\",result=\"committed\"} 1",
        "weir_cp_failover_actions_total{kind=\"restore\",result=\"committed\"} 1",
        "weir_cp_failover_drained_regions 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let current = cp.current_version();
    assert!(cp.eventually(Duration::from_secs(10), || both(current)));
}

#[test]
fn the_last_region_is_never_drained_and_a_manual_drain_is_never_restored() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    let west = Origins::start("eu-west", &["c"]);
    assert_eq!(
        cp.put_config(&config_with(&east, &west, "max_drained = 2"))
            .status,
        201
    );
    let fast = "telemetry_interval = \"250ms\"";
    let edge_east = Gateway::start_full(&cp.url(), "edge-east", "us-east", "", fast);
    let edge_west = Gateway::start_full(&cp.url(), "edge-west", "eu-west", "", fast);
    let both = |version: u64| applied(&edge_east, version) && applied(&edge_west, version);
    assert!(cp.eventually(Duration::from_secs(20), || both(1)));

    // Both regions fail: one is drained, the other is the last with weight and stays.
    east.set_fault("a", r#"{"status":503}"#);
    west.set_fault("c", r#"{"status":503}"#);
    assert!(cp.eventually(Duration::from_secs(20), || {
        region_state(&cp, "eu-west")["bad_in_row"].as_u64() >= Some(4)
    }));
    let messages = policy_messages(&cp);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("failover drain app/us-east"),
        "{messages:?}"
    );
    let west_state = region_state(&cp, "eu-west");
    assert_eq!(west_state["state"], "healthy", "{west_state}");
    assert!(
        west_state["next_action"]
            .as_str()
            .unwrap_or_default()
            .contains("never_drain_last"),
        "{west_state}"
    );

    // Everything recovers and us-east is ramped back; then an operator drains it by hand.
    east.clear_fault("a");
    west.clear_fault("c");
    assert!(cp.eventually(Duration::from_secs(30), || {
        policy_messages(&cp).len() == 3 && region_state(&cp, "us-east")["state"] == "healthy"
    }));
    let drain = cp.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(drain.status, 201, "{}", drain.body);
    // Good evaluations well past restore_after (3): the policy leaves it to the operator.
    assert!(cp.eventually(Duration::from_secs(20), || {
        let east = region_state(&cp, "us-east");
        east["state"] == "operator"
            && east["last"].as_array().is_some_and(|last| {
                last.iter()
                    .rev()
                    .take(5)
                    .filter(|e| e["verdict"] == "good")
                    .count()
                    == 5
            })
    }));
    assert_eq!(policy_messages(&cp).len(), 3, "{:?}", policy_messages(&cp));
    let config = cp.get("/v1/config", READ).json();
    assert_eq!(
        (&config["author"], &config["action"]),
        (&serde_json::json!("oscar"), &serde_json::json!("drain")),
        "the operator's drain is still the current version: {config}"
    );
}

#[test]
fn a_region_drained_by_policy_is_still_the_policys_after_the_control_plane_is_killed() {
    let mut cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c", "d"]);
    assert_eq!(cp.put_config(&config(&east, &west)).status, 201);
    let fast = "telemetry_interval = \"250ms\"";
    let edge_east = Gateway::start_full(&cp.url(), "edge-east", "us-east", "", fast);
    let edge_west = Gateway::start_full(&cp.url(), "edge-west", "eu-west", "", fast);
    let both = |version: u64| applied(&edge_east, version) && applied(&edge_west, version);
    assert!(cp.eventually(Duration::from_secs(20), || both(1)));
    for name in ["a", "b"] {
        east.set_fault(name, r#"{"status":503}"#);
    }
    assert!(cp.eventually(Duration::from_secs(20), || {
        policy_messages(&cp).len() == 1
    }));
    let drained_version = cp.current_version();

    // SIGKILL and start again on the same store: the drain is still the policy's.
    cp.restart();
    let east_state = region_state(&cp, "us-east");
    assert_eq!(east_state["state"], "drained", "{east_state}");
    assert_eq!(east_state["operator_weight"], 80, "{east_state}");
    assert!(cp.eventually(Duration::from_secs(10), || both(drained_version)));

    // Back: the policy, not an operator, ramps us-east to 50% then to the operator's 80.
    for name in ["a", "b"] {
        east.clear_fault(name);
    }
    assert!(cp.eventually(Duration::from_secs(30), || {
        policy_messages(&cp).len() >= 3
    }));
    let messages = policy_messages(&cp);
    assert!(
        messages[1].starts_with("failover ramp app/us-east: 3 good evaluations in a row"),
        "{messages:?}"
    );
    assert!(
        messages[2].starts_with("failover restore app/us-east"),
        "{messages:?}"
    );
    let config = cp.get("/v1/config?format=toml", READ).body;
    assert!(config.contains("weight = 80"), "{config}");
    assert_eq!(region_state(&cp, "us-east")["state"], "healthy");
}
