//! The failover policy at fleet scale, with a real control plane, four gateways in two regions,
//! real origins and real load from `weir-loadtest run`: us-east's origins are SIGKILLed under
//! load → us-east is drained fleet-wide within `evaluate_every × drain_after` (plus detection and
//! one push), clients see under 0.5% errors, and the drain's version names its evidence; the
//! origins come back on the same ports → the weight ramps back in the configured steps, not
//! before `restore_after` good evaluations. Also: a region failing every other evaluation is not
//! flapped, and `max_drained` holds with three regions when two fail at once.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use support::{ControlPlane, Gateway, Load, Origins, OriginsAt, READ};

/// Time between two evaluations: `evaluate_every`'s smallest value.
const EVALUATE_EVERY: Duration = Duration::from_secs(1);
const DRAIN_AFTER: usize = 2;
const RESTORE_AFTER: usize = 3;
/// The gateways' `telemetry_interval` (its smallest value) and the health-check interval.
const TELEMETRY: Duration = Duration::from_millis(250);
const HEALTH: Duration = Duration::from_millis(100);
/// The control plane looks for due evaluations every half second (`failover::task`).
const POLICY_TICK: Duration = Duration::from_millis(500);

/// Upstream `app` with a pool per `(region, weight, origins)`, fast active health checks, a
/// catch-all route and a failover policy with `policy`'s lines.
fn fleet(pools: &[(&str, u32, &Origins)], policy: &str) -> String {
    let mut text = format!(
        "[upstreams.app]\nregion_policy = \"nearest\"\n\
         health = {{ path = \"/healthz\", interval = \"{}ms\", timeout = \"100ms\", \
         healthy_threshold = 1, unhealthy_threshold = 1 }}\n",
        HEALTH.as_millis()
    );
    for (region, weight, origins) in pools {
        text.push_str(&format!(
            "[[upstreams.app.pools]]\nregion = \"{region}\"\nweight = {weight}\nendpoints = [{}]\n",
            origins.endpoints_toml()
        ));
    }
    text.push_str(&format!(
        "[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n\
         [failover.app]\nevaluate_every = \"{}s\"\ndrain_after = {DRAIN_AFTER}\n{policy}\n",
        EVALUATE_EVERY.as_secs()
    ));
    text
}

fn gateway(cp: &ControlPlane, id: &str, region: &str) -> Gateway {
    let telemetry = format!("telemetry_interval = \"{}ms\"", TELEMETRY.as_millis());
    Gateway::start_full(&cp.url(), id, region, "", &telemetry)
}

fn time(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("time {text}: {e}"))
}

/// One version of the history.
#[derive(Debug, Clone)]
struct Version {
    number: u64,
    author: String,
    message: String,
    at: SystemTime,
}

/// The policy's versions (author `policy:failover`), oldest first.
fn policy_versions(cp: &ControlPlane) -> Vec<Version> {
    let list = cp.get("/v1/versions?limit=1000", READ).json();
    let mut versions: Vec<Version> = list["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| Version {
            number: v["version"].as_u64().expect("version"),
            author: v["author"].as_str().unwrap_or_default().to_owned(),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
            at: time(v["time"].as_str().expect("time")),
        })
        .filter(|v| v.author == "policy:failover")
        .collect();
    versions.sort_by_key(|v| v.number);
    versions
}

/// The weight of `region`'s pool in version `number`.
fn weight_in(cp: &ControlPlane, number: u64, region: &str) -> u64 {
    let body = cp.get(&format!("/v1/versions/{number}"), READ).json();
    let fleet = body["config"].as_str().expect("config");
    let pool = fleet
        .split("[[upstreams.app.pools]]")
        .find(|pool| pool.contains(&format!("region = \"{region}\"")))
        .expect("the region's pool");
    pool.lines()
        .find_map(|line| line.strip_prefix("weight = "))
        .and_then(|w| w.trim().parse().ok())
        .expect("weight")
}

/// Every evaluation the policy made, by region and time, as read from `GET /v1/failover` (which
/// keeps the last 10 per region: polled every few tens of ms, none is missed).
#[derive(Default)]
struct Evaluations(BTreeMap<String, BTreeMap<SystemTime, String>>);

impl Evaluations {
    /// Reads the status; returns `region`'s entry in it.
    fn record(&mut self, cp: &ControlPlane, region: &str) -> serde_json::Value {
        let status = cp.get("/v1/failover", READ).json();
        let mut wanted = serde_json::Value::Null;
        for entry in status["upstreams"][0]["regions"]
            .as_array()
            .expect("regions")
        {
            let name = entry["region"].as_str().expect("region");
            let log = self.0.entry(name.to_owned()).or_default();
            for evaluation in entry["last"].as_array().expect("last") {
                let verdict = evaluation["verdict"].as_str().expect("verdict").to_owned();
                log.insert(time(evaluation["at"].as_str().expect("at")), verdict);
            }
            if name == region {
                wanted = entry.clone();
            }
        }
        wanted
    }

    /// `region`'s verdicts made after `from` and up to `to` (inclusive), in order.
    fn between(&self, region: &str, from: SystemTime, to: SystemTime) -> Vec<&str> {
        self.0
            .get(region)
            .map(|log| {
                log.range(from..=to)
                    .filter(|(at, _)| **at > from)
                    .map(|(_, verdict)| verdict.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The evaluation times of `region`, in order.
    fn times(&self, region: &str) -> Vec<SystemTime> {
        self.0
            .get(region)
            .map(|log| log.keys().copied().collect())
            .unwrap_or_default()
    }
}

/// The latest time at which one of `ids` published `version` or a later one, once all have
/// (the control plane's gateway view); `None` before.
fn applied_by_all(cp: &ControlPlane, ids: &[&str], version: u64) -> Option<SystemTime> {
    let list = cp.get("/v1/gateways", READ).json();
    let gateways = list["gateways"].as_array()?;
    let mut latest = SystemTime::UNIX_EPOCH;
    for id in ids {
        let view = gateways.iter().find(|g| g["id"] == *id)?;
        if view["applied_version"].as_u64()? < version {
            return None;
        }
        let at =
            SystemTime::UNIX_EPOCH + Duration::from_micros(view["applied_at_unix_us"].as_u64()?);
        latest = latest.max(at);
    }
    Some(latest)
}

#[test]
fn a_dead_region_is_drained_fleet_wide_under_load_and_ramped_back_after_restore_after() {
    let cp = ControlPlane::start();
    let mut east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c", "d"]);
    let east_listeners: Vec<_> = east
        .names()
        .into_iter()
        .map(|n| (n.clone(), east.addr(&n)))
        .collect();
    let policy = format!("restore_after = {RESTORE_AFTER}\nramp = [\"10%\", \"50%\", \"100%\"]");
    let config = fleet(&[("us-east", 80, &east), ("eu-west", 100, &west)], &policy);
    assert_eq!(cp.put_config(&config).status, 201);
    let ids = ["east-1", "east-2", "west-1", "west-2"];
    let gateways: Vec<Gateway> = ids
        .iter()
        .map(|id| {
            gateway(
                &cp,
                id,
                if id.starts_with("east") {
                    "us-east"
                } else {
                    "eu-west"
                },
            )
        })
        .collect();
    assert!(cp.eventually(Duration::from_secs(20), || {
        applied_by_all(&cp, &ids, 1).is_some()
    }));
    let mut log = Evaluations::default();
    assert!(cp.eventually(Duration::from_secs(20), || {
        log.record(&cp, "us-east")["good_in_row"].as_u64() >= Some(2)
    }));

    // Steady load through all four gateways; us-east's gateways send theirs to us-east.
    let targets: Vec<String> = gateways
        .iter()
        .map(|g| format!("http://{}/", g.proxy))
        .collect();
    let load = Load::start(&targets, 100, "12s");
    assert!(cp.eventually(Duration::from_secs(10), || east.served_total() >= 50));
    let killed = SystemTime::now();
    east.kill();

    // Drained by policy, fleet-wide: a version authored policy:failover, applied by every gateway.
    let mut drain = None;
    assert!(cp.eventually(Duration::from_secs(15), || {
        log.record(&cp, "us-east");
        drain = policy_versions(&cp).into_iter().next();
        drain.is_some()
    }));
    let drain = drain.expect("the drain");
    let mut applied = None;
    assert!(cp.eventually(Duration::from_secs(10), || {
        log.record(&cp, "us-east");
        applied = applied_by_all(&cp, &ids, drain.number);
        applied.is_some()
    }));
    let took = applied
        .expect("applied")
        .duration_since(killed)
        .unwrap_or_default();
    // The drain_after bad evaluations, after the failure is seen: health check, telemetry post,
    // the evaluation's own phase (up to one tick late); plus the push and room for a loaded CI.
    let bound = EVALUATE_EVERY * DRAIN_AFTER as u32
        + HEALTH
        + TELEMETRY
        + POLICY_TICK
        + Duration::from_millis(2500);
    eprintln!("killed → drained by every gateway: {took:?} (bound {bound:?})");
    assert!(
        took <= bound,
        "drained fleet-wide {took:?} after the kill (bound {bound:?})"
    );
    // Exactly at the drain_after-th bad evaluation after the kill, not one later (the first
    // evaluation after the kill may not have heard of it yet).
    let seen = log.between("us-east", killed, drain.at);
    let unaware = usize::from(seen.first().is_some_and(|v| *v != "bad"));
    assert!(
        unaware + DRAIN_AFTER == seen.len() && seen[unaware..].iter().all(|v| *v == "bad"),
        "evaluations from the kill to the drain: {seen:?}"
    );
    assert!(
        drain.message.starts_with(
            "failover drain app/us-east: 2 bad evaluations in a row (drain_after = 2)"
        ),
        "{}",
        drain.message
    );
    for id in ids {
        assert!(
            drain.message.contains(&format!("{id}: ")),
            "{id} not in the evidence: {}",
            drain.message
        );
    }
    assert_eq!(weight_in(&cp, drain.number, "us-east"), 0);

    // Back on the same ports: restore_after good evaluations, then 10%, 50%, 100% of 80.
    let restarted = SystemTime::now();
    let _east = OriginsAt::start("us-east", &east_listeners);
    let mut versions = Vec::new();
    assert!(cp.eventually(Duration::from_secs(25), || {
        log.record(&cp, "us-east");
        versions = policy_versions(&cp);
        versions.len() >= 4
    }));
    let outcome = load.finish(Duration::from_secs(20));
    eprintln!(
        "clients: {} errors in {} requests",
        outcome.errors, outcome.requests
    );
    assert!(outcome.requests >= 1000, "{outcome:?}");
    assert!(
        outcome.errors * 200 < outcome.requests,
        "errors not under 0.5%: {outcome:?}"
    );

    let kinds: Vec<&str> = versions
        .iter()
        .map(|v| v.message.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["drain", "ramp", "ramp", "restore"], "{versions:#?}");
    let weights: Vec<u64> = versions
        .iter()
        .map(|v| weight_in(&cp, v.number, "us-east"))
        .collect();
    assert_eq!(weights, [0, 8, 40, 80]);
    let first = &versions[1];
    assert!(
        first
            .message
            .contains(&format!("(restore_after = {RESTORE_AFTER})")),
        "{}",
        first.message
    );
    // Not before restore_after good evaluations since the origins came back, the last of them
    // in a row just before the first step.
    let before_ramp = log.between("us-east", restarted, first.at);
    let good = before_ramp
        .iter()
        .rev()
        .take_while(|v| **v == "good")
        .count();
    assert!(
        good >= RESTORE_AFTER,
        "evaluations before the first ramp step: {before_ramp:?}"
    );
    // Then one step per good evaluation, never two in one.
    for pair in versions[1..].windows(2) {
        let evaluated = log.between("us-east", pair[0].at, pair[1].at);
        assert_eq!(
            evaluated.last(),
            Some(&"good"),
            "between {} and {}",
            pair[0].message,
            pair[1].message
        );
    }
    let current = cp.current_version();
    assert!(cp.eventually(Duration::from_secs(10), || {
        applied_by_all(&cp, &ids, current).is_some()
    }));
    assert!(log.times("us-east").len() > 8);
}

/// The issue asks for no flapping "over 2 minutes" of a region that fails every other
/// evaluation. `evaluate_every` cannot go below 1 s, so time is compressed by counting
/// evaluations: 20 of them (10 bad, 10 good) are 2 minutes at `evaluate_every = "6s"` (100 s at
/// the issue's example, 5 s). They take 20 to 30 s here: the control plane starts an evaluation
/// due at one of its half-second ticks at the next one when the tick comes a little early.
const FLAP_EVALUATIONS: usize = 20;

#[test]
fn a_region_failing_every_other_evaluation_is_not_flapped() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a", "b"]);
    let west = Origins::start("eu-west", &["c"]);
    let config = fleet(
        &[("us-east", 100, &east), ("eu-west", 100, &west)],
        "restore_after = 2\nramp = [\"50%\", \"100%\"]",
    );
    assert_eq!(cp.put_config(&config).status, 201);
    let ids = ["east-1", "west-1"];
    let _gateways = [
        gateway(&cp, "east-1", "us-east"),
        gateway(&cp, "west-1", "eu-west"),
    ];
    assert!(cp.eventually(Duration::from_secs(20), || {
        applied_by_all(&cp, &ids, 1).is_some()
    }));
    let mut log = Evaluations::default();

    // Right after each evaluation, us-east's origins flip between failing (health checks too)
    // and well: the next evaluation sees the new state (health checks every 100 ms, telemetry
    // every 250 ms, evaluations 1 s apart), so bad and good alternate.
    let last_evaluation = |cp: &ControlPlane| {
        cp.get("/v1/failover", READ).json()["upstreams"][0]["last_evaluation"]
            .as_str()
            .map(str::to_owned)
    };
    let start = SystemTime::now();
    let mut seen = last_evaluation(&cp);
    let mut failing = false;
    for _ in 0..FLAP_EVALUATIONS {
        assert!(cp.eventually(Duration::from_secs(5), || {
            log.record(&cp, "us-east");
            last_evaluation(&cp) != seen
        }));
        seen = last_evaluation(&cp);
        failing = !failing;
        for name in ["a", "b"] {
            if failing {
                east.set_fault(name, r#"{"status":500}"#);
            } else {
                east.clear_fault(name);
            }
        }
    }
    log.record(&cp, "us-east");
    let verdicts = log.between("us-east", start, SystemTime::now());
    let gaps: Vec<u128> = log
        .times("us-east")
        .windows(2)
        .filter_map(|pair| pair[1].duration_since(pair[0]).ok())
        .map(|gap| gap.as_millis())
        .collect();
    eprintln!("us-east's verdicts: {verdicts:?}; ms between evaluations: {gaps:?}");
    let bad = verdicts.iter().filter(|v| **v == "bad").count();
    let good = verdicts.iter().filter(|v| **v == "good").count();
    assert!(
        bad >= FLAP_EVALUATIONS / 3 && good >= FLAP_EVALUATIONS / 3,
        "the region did not flap: {verdicts:?}"
    );
    let longest_bad = verdicts
        .split(|v| *v != "bad")
        .map(<[&str]>::len)
        .max()
        .unwrap_or(0);
    let versions = policy_versions(&cp);
    let count = |kind: &str| {
        versions
            .iter()
            .filter(|v| v.message.starts_with(&format!("failover {kind} ")))
            .count()
    };
    assert!(
        count("drain") <= 1 && count("restore") <= 1,
        "{versions:#?}"
    );
    if longest_bad < DRAIN_AFTER {
        // Never drain_after bad evaluations in a row (the usual case): nothing happens at all.
        assert!(
            versions.is_empty(),
            "verdicts {verdicts:?}, yet {versions:#?}"
        );
    }
}

#[test]
fn max_drained_holds_when_two_of_three_regions_fail_at_once() {
    let cp = ControlPlane::start();
    let east = Origins::start("us-east", &["a"]);
    let west = Origins::start("eu-west", &["c"]);
    let south = Origins::start("ap-south", &["e"]);
    let config = fleet(
        &[
            ("us-east", 100, &east),
            ("eu-west", 100, &west),
            ("ap-south", 100, &south),
        ],
        "max_drained = 1",
    );
    assert_eq!(cp.put_config(&config).status, 201);
    let ids = ["east-1", "west-1", "south-1"];
    let _gateways = [
        gateway(&cp, "east-1", "us-east"),
        gateway(&cp, "west-1", "eu-west"),
        gateway(&cp, "south-1", "ap-south"),
    ];
    assert!(cp.eventually(Duration::from_secs(20), || {
        applied_by_all(&cp, &ids, 1).is_some()
    }));
    let mut log = Evaluations::default();
    assert!(cp.eventually(Duration::from_secs(20), || {
        log.record(&cp, "eu-west")["good_in_row"].as_u64() >= Some(1)
    }));

    east.set_fault("a", r#"{"status":503}"#);
    west.set_fault("c", r#"{"status":503}"#);
    // Well past drain_after for both: one is drained, the other is held back by max_drained
    // (not by never_drain_last: ap-south still has its weight).
    let mut west_state = serde_json::Value::Null;
    assert!(cp.eventually(Duration::from_secs(20), || {
        west_state = log.record(&cp, "eu-west");
        west_state["bad_in_row"].as_u64() >= Some(DRAIN_AFTER as u64 + 2)
    }));
    let versions = policy_versions(&cp);
    assert_eq!(versions.len(), 1, "{versions:#?}");
    assert!(
        versions[0]
            .message
            .starts_with("failover drain app/us-east"),
        "{versions:#?}"
    );
    assert_eq!(west_state["state"], "healthy", "{west_state}");
    assert!(
        west_state["next_action"]
            .as_str()
            .is_some_and(|next| next.contains("max_drained")),
        "{west_state}"
    );
    let current = cp.current_version();
    assert_eq!(weight_in(&cp, current, "eu-west"), 100);
    assert_eq!(weight_in(&cp, current, "ap-south"), 100);
}
