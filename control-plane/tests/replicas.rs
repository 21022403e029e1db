//! Several control-plane replicas on one etcd, real processes on loopback: writers racing on one
//! base across replicas (exactly one `201`), a write through one replica reaching a gateway that
//! follows another (the delay printed, not asserted), etcd down (writes `503` with a problem
//! document, reads from the replica's last view), one leader elected with a lease (another takes
//! over when it dies or stops), and `migrate` copying a file store's history.

mod support;

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{ControlPlane, Gateway, OPERATE, READ, StoreKind, on_store, workspace_bin};

const FLEET: &str = r#"
[upstreams.app]
region_policy = "weighted"

[[upstreams.app.pools]]
region = "us-east"
weight = 100
endpoints = ["127.0.0.1:9"]

[[upstreams.app.pools]]
region = "eu-west"
weight = 100
endpoints = ["127.0.0.1:10"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

fn etcd_control_plane() -> ControlPlane {
    let mut cp = None;
    on_store(StoreKind::Etcd, || {
        cp = Some(ControlPlane::start_with_heartbeat("200ms"))
    });
    cp.expect("started")
}

fn set_weight(cp: &ControlPlane, weight: u32, if_match: Option<u64>) -> support::Resp {
    let tag = if_match.map(|v| format!("\"{v}\""));
    let headers: Vec<(&str, &str)> = tag.iter().map(|t| ("if-match", t.as_str())).collect();
    cp.call(
        "PUT",
        "/v1/upstreams/app/pools/eu-west/weight",
        Some(OPERATE),
        Some(("application/json", &format!("{{\"weight\": {weight}}}"))),
        &headers,
    )
}

#[test]
fn eight_writers_across_two_replicas_on_one_base_exactly_one_wins() {
    let a = etcd_control_plane();
    let b = a.replica();
    assert_eq!(a.put_config(FLEET).status, 201);
    for round in 0..3u32 {
        let base = a.current_version();
        assert!(b.eventually(Duration::from_secs(5), || b.current_version() == base));
        let replicas = Arc::new([a.url(), b.url()]);
        let barrier = Arc::new(Barrier::new(8));
        let writers: Vec<_> = (0..8u32)
            .map(|i| {
                // Every writer a weight no earlier round set, so none is "unchanged".
                let (replicas, barrier) = (Arc::clone(&replicas), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let agent = support::agent();
                    let url = format!(
                        "{}/v1/upstreams/app/pools/eu-west/weight",
                        replicas[i as usize % 2]
                    );
                    let bearer = format!("Bearer {OPERATE}");
                    let tag = format!("\"{base}\"");
                    let body = format!("{{\"weight\": {}}}", 10 + round * 8 + i);
                    barrier.wait();
                    weir_testkit::send(
                        &agent,
                        "PUT",
                        &url,
                        &[("authorization", &bearer), ("if-match", &tag)],
                        Some(("application/json", &body)),
                    )
                    .expect("answer")
                })
            })
            .collect();
        let answers: Vec<_> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            7,
            "round {round}: {statuses:?}"
        );
        for conflict in answers.iter().filter(|r| r.status == 409) {
            assert_eq!(
                conflict.json()["current_version"],
                base + 1,
                "{}",
                conflict.body
            );
        }
    }
    // One history, contiguous, the same through both replicas, one audit line per version.
    let history = |cp: &ControlPlane| -> Vec<u64> {
        cp.get("/v1/versions", READ).json()["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| v["version"].as_u64().expect("number"))
            .collect()
    };
    assert_eq!(history(&a), vec![4, 3, 2, 1]);
    assert!(b.eventually(Duration::from_secs(5), || history(&b) == vec![4, 3, 2, 1]));
    let audit = b.get("/v1/audit", READ).json();
    assert_eq!(audit["entries"].as_array().expect("entries").len(), 4);
}

#[test]
fn a_write_through_one_replica_reaches_a_gateway_on_the_other() {
    let a = etcd_control_plane();
    let b = a.replica();
    assert_eq!(a.put_config(FLEET).status, 201);
    let gateway = Gateway::start(&b.url(), "gw-1", "us-east");
    assert!(
        weir_testkit::eventually(Duration::from_secs(20), || gateway.version() == 1),
        "the gateway never got version 1 from replica B:\n{}",
        gateway.logs()
    );
    let applied_at = |version: u64| -> Option<u64> {
        let list = b.get("/v1/gateways", READ).json();
        list["gateways"]
            .as_array()?
            .iter()
            .find(|g| g["applied_version"] == version)?["applied_at_unix_us"]
            .as_u64()
    };
    let mut delays = Vec::new();
    for i in 0..30u32 {
        let resp = set_weight(&a, if i % 2 == 0 { 40 } else { 60 }, None);
        let acked = SystemTime::now();
        assert_eq!(resp.status, 201, "{}", resp.body);
        let version = resp.json()["version"].as_u64().expect("version");
        let deadline = Instant::now() + Duration::from_secs(10);
        let applied = loop {
            if let Some(at) = applied_at(version) {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "version {version} written through A never reached the gateway on B"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let acked_us = acked.duration_since(UNIX_EPOCH).expect("clock").as_micros() as u64;
        delays.push(applied.saturating_sub(acked_us) as f64 / 1e3);
    }
    delays.sort_by(|x, y| x.partial_cmp(y).expect("numbers"));
    println!(
        "201 from replica A -> applied by a gateway on replica B, 30 weight changes: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        delays[14], delays[29], delays[29]
    );
    assert!(
        b.logs()
            .contains("pushing a version another replica committed")
    );
}

#[test]
fn with_etcd_down_writes_answer_503_and_reads_come_from_the_last_view() {
    let mut cp = etcd_control_plane();
    assert_eq!(cp.put_config(FLEET).status, 201);
    let before = cp.get("/v1/config", READ);
    cp.etcd.as_mut().expect("etcd").kill();
    let started = Instant::now();
    let refused = set_weight(&cp, 10, None);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let problem = refused.json();
    assert_eq!(problem["title"], "Store Unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nothing was changed")),
        "{problem}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let put = cp.put_config(&FLEET.replace("weight = 100", "weight = 90"));
    assert_eq!(put.status, 503, "{}", put.body);
    // The current version and the history are served from the replica's view.
    let during = cp.get("/v1/config", READ);
    assert_eq!(during.status, 200);
    assert_eq!(during.body, before.body);
    assert_eq!(cp.get("/v1/versions", READ).status, 200);
    // Back: writes go through again, numbered after the last one.
    cp.etcd.as_mut().expect("etcd").restart();
    assert!(cp.eventually(
        Duration::from_secs(15),
        || set_weight(&cp, 10, Some(1)).status == 201
    ));
    assert_eq!(cp.current_version(), 2);
    assert!(cp.logs().contains("store unavailable"));
}

#[test]
fn migrate_copies_a_file_store_and_a_control_plane_serves_it_from_etcd() {
    let mut files = ControlPlane::start();
    assert_eq!(files.put_config(FLEET).status, 201);
    assert_eq!(set_weight(&files, 30, Some(1)).status, 201);
    let drained = files.call(
        "POST",
        "/v1/regions/us-east/drain",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(drained.status, 201, "{}", drained.body);
    let pause = files.call("POST", "/v1/failover/pause", Some(OPERATE), None, &[]);
    assert!(pause.status == 200 || pause.status == 404, "{}", pause.body);
    let history = files.get("/v1/versions", READ).body;
    let audit = files.get("/v1/audit", READ).json();
    let config = files.get("/v1/config", READ).body;
    assert!(files.stop().success());

    let etcd = etcd_control_plane();
    // The etcd control plane above has an empty store under the default prefix: migrate into
    // another prefix and serve that.
    let url = etcd.etcd.as_ref().expect("etcd").url();
    let migrate = |prefix: &str| {
        Command::new(workspace_bin("weir-control-plane"))
            .args(["migrate", "--from-dir"])
            .arg(files.data_dir())
            .args(["--to-etcd", &url, "--etcd-prefix", prefix])
            .output()
            .expect("run migrate")
    };
    let out = migrate("/migrated/");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("copied 3 versions (current 3)"), "{said}");
    let again = migrate("/migrated/");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a history"));

    let mut served = None;
    on_store(StoreKind::Files, || {
        served = Some(ControlPlane::start_with("2s", |_| {
            vec![
                "--store".into(),
                "etcd".into(),
                "--etcd-endpoints".into(),
                url.clone(),
                "--etcd-prefix".into(),
                "/migrated/".into(),
            ]
        }));
    });
    let served = served.expect("started");
    assert_eq!(served.get("/v1/versions", READ).body, history);
    assert_eq!(served.get("/v1/config", READ).body, config);
    assert_eq!(served.get("/v1/audit", READ).json(), audit);
    // The drain memory came along: restore puts the weights back.
    let restored = served.call(
        "POST",
        "/v1/regions/us-east/restore",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(restored.status, 201, "{}", restored.body);
    assert_eq!(restored.json()["version"], 4);
    drop(etcd);
}

#[test]
fn one_leader_and_another_takes_over_within_the_lease_when_it_dies() {
    let mut a = etcd_control_plane();
    let mut b = a.replica();
    let agreed = |a: &ControlPlane, b: &ControlPlane| -> Option<String> {
        let (leader_a, _) = a.leadership();
        let (leader_b, _) = b.leadership();
        (leader_a.is_some() && leader_a == leader_b).then(|| leader_a.expect("some"))
    };
    assert!(a.eventually(Duration::from_secs(10), || agreed(&a, &b).is_some()));
    let leader = agreed(&a, &b).expect("a leader");
    let (_, id_a) = a.leadership();
    let (_, id_b) = b.leadership();
    assert!(
        leader == id_a || leader == id_b,
        "{leader} is neither {id_a} nor {id_b}"
    );
    let metrics = |cp: &ControlPlane| {
        weir_testkit::metric_sum(&cp.get("/metrics", READ).body, "weir_cp_leader", &[])
    };
    assert_eq!(
        metrics(&a) + metrics(&b),
        1.0,
        "exactly one replica says it leads"
    );
    // SIGKILL the leader: the other takes over once the lease (2 s) expires.
    let (dead, survivor, survivor_id) = if leader == id_a {
        (&mut a, &b, id_b.clone())
    } else {
        (&mut b, &a, id_a.clone())
    };
    dead.kill();
    let killed = Instant::now();
    assert!(
        survivor.eventually(Duration::from_secs(10), || survivor.leadership().0
            == Some(survivor_id.clone())),
        "no takeover:\n{}",
        survivor.logs()
    );
    println!(
        "leader SIGKILLed -> the other replica leads after {:?} (lease 2 s)",
        killed.elapsed()
    );
    // A clean stop resigns: a new replica takes over at once.
    let survivor_is_a = survivor_id == id_a;
    let mut next = if survivor_is_a {
        a.replica()
    } else {
        b.replica()
    };
    let (_, next_id) = next.leadership();
    let stopping = if survivor_is_a { &mut a } else { &mut b };
    let stopped = Instant::now();
    assert!(stopping.stop().success());
    assert!(
        next.eventually(Duration::from_secs(10), || next.leadership().0
            == Some(next_id.clone()))
    );
    println!(
        "leader stopped (SIGTERM, lease revoked) -> the next replica leads after {:?}",
        stopped.elapsed()
    );
    next.kill();
}

#[test]
fn a_rollout_is_run_by_the_replica_that_started_it_and_the_others_wait_for_its_promotion() {
    let a = etcd_control_plane();
    let mut b = a.replica();
    assert_eq!(a.put_config(FLEET).status, 201);
    let canary = Gateway::start(&a.url(), "gw-canary", "us-east");
    let other = Gateway::start(&b.url(), "gw-other", "us-east");
    assert!(weir_testkit::eventually(Duration::from_secs(20), || {
        canary.version() == 1 && other.version() == 1
    }));
    let changed = FLEET.replace(
        "weight = 100\nendpoints = [\"127.0.0.1:10\"]",
        "weight = 50\nendpoints = [\"127.0.0.1:10\"]",
    );
    let started = a.call(
        "PUT",
        "/v1/config?canary=gw-canary&bake=60s",
        Some(support::ADMIN),
        Some(("application/toml", &changed)),
        &[],
    );
    assert_eq!(started.status, 201, "{}", started.body);
    assert!(weir_testkit::eventually(Duration::from_secs(10), || canary
        .version()
        == 2));
    // Replica B sees version 2 but holds it back from its gateways, and refuses changes and
    // rollout decisions while A bakes it.
    assert!(b.eventually(Duration::from_secs(5), || b.current_version() == 2));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        other.version(),
        1,
        "an unbaked version reached a gateway on B"
    );
    let (_, id_a) = a.leadership();
    let refused = set_weight(&b, 10, None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&id_a)),
        "{}",
        refused.body
    );
    let promote_on_b = b.call(
        "POST",
        "/v1/rollout/promote",
        Some(support::ADMIN),
        None,
        &[],
    );
    assert_eq!(promote_on_b.status, 409, "{}", promote_on_b.body);
    // Restarted meanwhile, B does not take the rollout over: its gateway stays on version 1.
    b.restart();
    assert!(b.logs().contains("run by another replica is baking"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(other.version(), 1);
    assert_eq!(set_weight(&b, 10, None).status, 409);
    // Promoted by A: B pushes version 2 to its gateways.
    let promoted = a.call(
        "POST",
        "/v1/rollout/promote",
        Some(support::ADMIN),
        None,
        &[],
    );
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert!(
        weir_testkit::eventually(Duration::from_secs(5), || other.version() == 2),
        "the promoted version never reached B's gateway:\n{}",
        b.logs()
    );
    assert_eq!(set_weight(&b, 10, None).status, 201);
}
