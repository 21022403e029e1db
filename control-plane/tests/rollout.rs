//! Staged config rollouts with a real control plane, four gateways in two regions, real origins
//! and traffic through every gateway: a canary of a config that sends the route to origins
//! answering 500 is rolled back by itself before its bake ends, and the other gateways never
//! apply it; a good config is promoted after its bake; a rollout survives a SIGKILL of the
//! control plane mid-bake; a second rollout and a plain apply are refused while one bakes, a
//! forced apply or a weight change supersedes it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ADMIN, ControlPlane, Gateway, OPERATE, Origins, READ, agent, workspace_bin};

/// The region of each gateway; eu-west's two are the canaries of `region=eu-west`.
const GATEWAYS: [(&str, &str); 4] = [
    ("us-east-1", "us-east"),
    ("us-east-2", "us-east"),
    ("eu-west-1", "eu-west"),
    ("eu-west-2", "eu-west"),
];

struct Fleet {
    cp: ControlPlane,
    gateways: Vec<Gateway>,
    _east: Origins,
    _west: Origins,
    broken: Origins,
}

/// Upstream `app` (healthy origins in both regions) and `broken` (origins told to answer 500,
/// its breaker off so every answer reaches the telemetry); the route goes to `route_to`. Bakes
/// are short: `[rollout]` evaluates every 250 ms.
fn config(fleet: &Fleet, route_to: &str, extra_route: bool) -> String {
    let mut text = format!(
        "[upstreams.app]\nregion_policy = \"nearest\"\n\
         [[upstreams.app.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
         [[upstreams.app.pools]]\nregion = \"eu-west\"\nendpoints = [{}]\n\
         [upstreams.broken]\ncircuit_breaker = {{ enabled = false }}\n\
         [[upstreams.broken.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"{route_to}\"\n\
         [rollout]\nbake = \"3s\"\nevaluate_every = \"250ms\"\nmin_requests = 20\n\
         stale_grace = \"5s\"\n",
        fleet._east.endpoints_toml(),
        fleet._west.endpoints_toml(),
        fleet.broken.endpoints_toml(),
    );
    if extra_route {
        text.push_str(
            "[[routes]]\nname = \"extra\"\npath_prefix = \"/extra\"\nupstream = \"app\"\n",
        );
    }
    text
}

/// A control plane with the base config (version 1) applied by four gateways.
fn fleet() -> Fleet {
    let cp = ControlPlane::start();
    let broken = Origins::start("us-east", &["x", "y"]);
    for name in ["x", "y"] {
        broken.set_fault(name, r#"{"status":500}"#);
    }
    let mut fleet = Fleet {
        cp,
        gateways: Vec::new(),
        _east: Origins::start("us-east", &["a", "b"]),
        _west: Origins::start("eu-west", &["c", "d"]),
        broken,
    };
    let base = config(&fleet, "app", false);
    assert_eq!(fleet.cp.put_config(&base).status, 201);
    let fast = "telemetry_interval = \"250ms\"";
    for (id, region) in GATEWAYS {
        let gateway = Gateway::start_full(&fleet.cp.url(), id, region, "", fast);
        fleet.gateways.push(gateway);
    }
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(15), || fleet.all_on(1))
    );
    fleet
}

impl Fleet {
    fn gateway(&self, id: &str) -> &Gateway {
        self.gateways.iter().find(|g| g.id == id).expect("gateway")
    }

    fn all_on(&self, version: u64) -> bool {
        self.gateways.iter().all(|g| g.version() == version)
    }

    fn rollout(&self) -> Value {
        let status = self.cp.get("/v1/rollout", READ);
        assert_eq!(status.status, 200, "{}", status.body);
        status.json()["rollout"].clone()
    }

    fn state(&self) -> String {
        self.rollout()["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The CP's view of what `id` applied.
    fn applied(&self, id: &str) -> Option<u64> {
        let list = self.cp.get("/v1/gateways", READ).json();
        list["gateways"]
            .as_array()?
            .iter()
            .find(|g| g["id"] == id)?["applied_version"]
            .as_u64()
    }

    /// `PUT /v1/config` as admin with a query.
    fn put(&self, text: &str, query: &str) -> support::Resp {
        self.cp.call(
            "PUT",
            &format!("/v1/config{query}"),
            Some(ADMIN),
            Some(("application/toml", text)),
            &[],
        )
    }
}

/// Requests through every gateway in a loop until dropped; counts answers and errors.
struct Traffic {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    fn start(gateways: &[Gateway]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let threads = gateways
            .iter()
            .map(|gateway| {
                let url = format!("http://{}/", gateway.proxy);
                let (stop, requests, errors) = (stop.clone(), requests.clone(), errors.clone());
                std::thread::spawn(move || {
                    let agent = agent();
                    while !stop.load(Ordering::Relaxed) {
                        let ok = agent
                            .get(&url)
                            .call()
                            .is_ok_and(|r| r.status().is_success());
                        requests.fetch_add(1, Ordering::Relaxed);
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            requests,
            errors,
            threads,
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn weirctl(cp: &ControlPlane, token: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(workspace_bin("weirctl"))
        .args(["--url", &cp.url(), "--token", token])
        .args(args)
        .output()
        .expect("run weirctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `(author, action, message)` of version `number`.
fn version_meta(cp: &ControlPlane, number: u64) -> (String, String, String) {
    let version = cp.get(&format!("/v1/versions/{number}"), READ).json();
    let field = |name: &str| version[name].as_str().unwrap_or_default().to_owned();
    (field("author"), field("action"), field("message"))
}

fn audit_actions(cp: &ControlPlane) -> Vec<String> {
    cp.get("/v1/audit", READ).json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_bad_canary_is_rolled_back_before_its_bake_ends_and_never_reaches_the_others() {
    let fleet = fleet();
    let traffic = Traffic::start(&fleet.gateways);
    let bad = fleet.gateways[0].dir.path().join("bad.toml");
    std::fs::write(&bad, config(&fleet, "broken", false)).expect("write bad config");
    let started = Instant::now();
    let (ok, out) = weirctl(
        &fleet.cp,
        ADMIN,
        &[
            "config",
            "apply",
            "-f",
            bad.to_str().expect("path"),
            "--canary",
            "region=eu-west",
            "--bake",
            "8s",
            "-m",
            "route to broken",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("rollout started: version 2 on eu-west-1, eu-west-2"),
        "{out}"
    );
    // While it bakes and until it is rolled back, us-east never applies version 2.
    let mut canaries_applied = false;
    let rolled_back = fleet.cp.eventually(Duration::from_secs(12), || {
        for id in ["us-east-1", "us-east-2"] {
            assert_ne!(
                fleet.gateway(id).version(),
                2,
                "{id} applied the canary version"
            );
            assert_ne!(
                fleet.applied(id),
                Some(2),
                "{id} applied the canary version"
            );
        }
        canaries_applied |= fleet.gateway("eu-west-1").version() == 2;
        fleet.state() == "rolled_back"
    });
    assert!(rolled_back, "{}", fleet.rollout());
    eprintln!("bad canary applied → rolled back: {:?}", started.elapsed());
    assert!(canaries_applied, "the canaries ran version 2");
    let rollout = fleet.rollout();
    assert_eq!(rollout["outcome_version"], 3);
    let (finished, until) = (
        rollout["finished"].as_str().expect("finished"),
        rollout["bake_until"].as_str().expect("bake_until"),
    );
    assert!(
        finished < until,
        "rolled back at {finished}, before the bake ended at {until}"
    );
    // The rollback is a version like any other, authored by the policy, with the evidence.
    let (author, action, message) = version_meta(&fleet.cp, 3);
    assert_eq!(
        (author.as_str(), action.as_str()),
        ("policy:rollout", "rollout rollback")
    );
    assert!(
        message.starts_with("rollout of version 2 rolled back: "),
        "{message}"
    );
    assert!(message.contains("canary error ratio"), "{message}");
    assert!(message.contains("eu-west-1: error ratio"), "{message}");
    assert!(
        message.contains("baseline us-east-1, us-east-2: error ratio 0.000"),
        "{message}"
    );
    let v1 = fleet.cp.get("/v1/versions/1", READ).json();
    let v3 = fleet.cp.get("/v1/versions/3", READ).json();
    assert_eq!(
        v3["config"], v1["config"],
        "version 3 is version 1's config"
    );
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(3))
    );
    let (requests, errors) = (
        traffic.requests.load(Ordering::Relaxed),
        traffic.errors.load(Ordering::Relaxed),
    );
    eprintln!("client errors: {errors} of {requests} requests through the four gateways");
    drop(traffic);
    let actions = audit_actions(&fleet.cp);
    assert_eq!(
        actions[..2],
        ["rollout rollback", "rollout start"],
        "{actions:?}"
    );
    let (_, status) = weirctl(&fleet.cp, READ, &["rollout", "status"]);
    assert!(status.contains("ROLLED_BACK"), "{status}");
    let metrics = fleet.cp.get("/metrics", READ).body;
    assert!(
        metrics.contains("weir_cp_rollouts_total{outcome=\"rolled_back\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("weir_cp_rollout_active 0"));
    assert!(metrics.contains("weir_cp_rollout_evaluations_total{verdict=\"breach\"} 1"));
}

#[test]
fn a_good_config_goes_to_the_canaries_only_and_is_promoted_after_its_bake() {
    let fleet = fleet();
    let _traffic = Traffic::start(&fleet.gateways);
    let good = fleet.put(
        &config(&fleet, "app", true),
        "?canary=eu-west-1,us-east-2&bake=3s&message=add%20extra",
    );
    assert_eq!(good.status, 201, "{}", good.body);
    assert_eq!(
        good.json()["rollout"]["canaries"],
        serde_json::json!(["eu-west-1", "us-east-2"])
    );
    let canaries = ["eu-west-1", "us-east-2"];
    let others = ["us-east-1", "eu-west-2"];
    assert!(fleet.cp.eventually(Duration::from_secs(10), || {
        canaries.iter().all(|id| fleet.gateway(id).version() == 2)
    }));
    assert_eq!(fleet.state(), "baking");
    for id in others {
        assert_eq!(fleet.gateway(id).version(), 1, "{id} is not a canary");
    }
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.state() == "promoted")
    );
    let rollout = fleet.rollout();
    assert_eq!(
        rollout["outcome_version"],
        Value::Null,
        "promotion makes no version"
    );
    assert!(
        rollout["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("clean bake of 3s"),
        "{rollout}"
    );
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(2))
    );
    assert_eq!(fleet.cp.current_version(), 2);
    assert_eq!(audit_actions(&fleet.cp)[0], "rollout promote");
}

#[test]
fn a_rollout_survives_a_sigkill_of_the_control_plane_mid_bake() {
    let mut fleet = fleet();
    let _traffic = Traffic::start(&fleet.gateways);
    // 25% of four: one canary, the first id in order.
    let started = fleet.put(&config(&fleet, "app", true), "?canary=25%25&bake=6s");
    assert_eq!(started.status, 201, "{}", started.body);
    let bake_until = started.json()["rollout"]["bake_until"].clone();
    assert!(fleet.cp.eventually(Duration::from_secs(10), || {
        fleet.gateway("eu-west-1").version() == 2
    }));
    fleet.cp.restart();
    // It resumes from the saved deadline, the others still on the stable version.
    let rollout = fleet.rollout();
    assert_eq!(rollout["state"], "baking", "{rollout}");
    assert_eq!(rollout["bake_until"], bake_until);
    assert!(fleet.cp.logs().contains("rollout resumed after a restart"));
    let promoted = fleet.cp.eventually(Duration::from_secs(15), || {
        for id in ["us-east-1", "us-east-2", "eu-west-2"] {
            assert!(
                fleet.gateway(id).version() == 1 || fleet.state() == "promoted",
                "{id} got version 2 before the promotion"
            );
        }
        fleet.state() == "promoted"
    });
    assert!(promoted, "{}", fleet.rollout());
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(2))
    );
    assert_eq!(audit_actions(&fleet.cp)[0], "rollout promote");

    // The store and the saved record disagree: a "rollout start" version with no record of its
    // rollout (as a crash between the two writes leaves it). It is rolled back on start.
    let unrecorded = fleet.put(&config(&fleet, "app", false), "?canary=eu-west-2&bake=20s");
    assert_eq!(unrecorded.status, 201, "{}", unrecorded.body);
    fleet.cp.kill();
    std::fs::remove_file(fleet.cp.data_dir().join("rollout.json")).expect("remove the record");
    fleet.cp.restart();
    let (author, action, message) = version_meta(&fleet.cp, 4);
    assert_eq!(
        (author.as_str(), action.as_str()),
        ("policy:rollout", "rollout rollback")
    );
    assert!(message.contains("without its rollout record"), "{message}");
    let v2 = fleet.cp.get("/v1/versions/2", READ).json();
    let v4 = fleet.cp.get("/v1/versions/4", READ).json();
    assert_eq!(v4["config"], v2["config"], "back to the stable config");
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(4))
    );
    assert_eq!(fleet.state(), "rolled_back");
}

#[test]
fn one_rollout_at_a_time_and_a_forced_apply_or_a_weight_supersedes_it() {
    let fleet = fleet();
    let started = fleet.put(
        &config(&fleet, "app", true),
        "?canary=region%3Deu-west&bake=20s",
    );
    assert_eq!(started.status, 201, "{}", started.body);
    let second = fleet.put(&config(&fleet, "broken", false), "?canary=10%25");
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(
        second.body.contains("only one rollout at a time"),
        "{}",
        second.body
    );
    let plain = fleet.put(&config(&fleet, "broken", false), "");
    assert_eq!(plain.status, 409, "{}", plain.body);
    assert!(plain.body.contains("force"), "{}", plain.body);
    // Forced: on top of the stable config, to everyone; the rollout is superseded.
    let forced = fleet.put(
        &config(&fleet, "app", false).replace("3s", "4s"),
        "?force=true",
    );
    assert_eq!(forced.status, 201, "{}", forced.body);
    assert_eq!(
        forced.json()["changes"],
        serde_json::json!(["rollout.bake: 3s -> 4s"])
    );
    let rollout = fleet.rollout();
    assert_eq!(
        (
            rollout["state"].as_str(),
            rollout["outcome_version"].as_u64()
        ),
        (Some("superseded"), Some(3))
    );
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(3))
    );
    assert_eq!(audit_actions(&fleet.cp)[0], "rollout supersede");

    // A weight change during a bake is applied to the stable config and supersedes it too.
    let again = fleet.put(
        &config(&fleet, "app", true).replace("3s", "4s"),
        "?canary=eu-west-2",
    );
    assert_eq!(again.status, 201, "{}", again.body);
    let (ok, out) = weirctl(&fleet.cp, OPERATE, &["weight", "app", "us-east", "50"]);
    assert!(ok, "{out}");
    assert_eq!(fleet.state(), "superseded");
    let current = fleet.cp.get("/v1/config", READ).json();
    let text = current["config"].as_str().expect("config");
    assert_eq!(current["version"], 5);
    assert!(text.contains("weight = 50"), "{text}");
    assert!(
        !text.contains("name = \"extra\""),
        "the unbaked canary change is not in it: {text}"
    );
    assert!(
        fleet
            .cp
            .eventually(Duration::from_secs(10), || fleet.all_on(5))
    );
    // Promote and abort answer 409 when nothing bakes.
    assert_eq!(
        fleet
            .cp
            .call("POST", "/v1/rollout/promote", Some(ADMIN), None, &[])
            .status,
        409
    );
    assert_eq!(
        fleet
            .cp
            .call("POST", "/v1/rollout/abort", Some(OPERATE), None, &[])
            .status,
        403
    );
}
