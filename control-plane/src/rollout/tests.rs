//! The rollout engine with an injected clock: canary selection, the bake's judgement of the
//! canaries against the baseline, NACKs, quiet canaries, promotion and the end of a rollout.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use weir_config::RolloutSettings;
use weir_protocol::PoolTelemetry;

use super::*;

fn candidate(id: &str, region: &str) -> Candidate {
    Candidate {
        id: id.into(),
        region: Some(region.into()),
        connected: true,
        dns: false,
    }
}

fn fleet() -> Vec<Candidate> {
    vec![
        candidate("gw-d", "eu-west"),
        candidate("gw-a", "us-east"),
        candidate("gw-c", "eu-west"),
        candidate("gw-b", "us-east"),
        Candidate {
            dns: true,
            ..candidate("dns-1", "eu-west")
        },
        Candidate {
            connected: false,
            ..candidate("gw-e", "us-east")
        },
    ]
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|id| (*id).to_owned()).collect()
}

fn choose(selector: &str, fleet: &[Candidate]) -> Result<BTreeSet<String>, String> {
    Selector::parse(selector)?.choose(fleet)
}

#[test]
fn a_percentage_rounds_up_picks_sorted_ids_and_never_takes_every_gateway() {
    // 4 connected gateways (weir-dns and the disconnected one do not count).
    assert_eq!(choose("10%", &fleet()), Ok(ids(&["gw-a"])));
    assert_eq!(choose("26%", &fleet()), Ok(ids(&["gw-a", "gw-b"])));
    assert_eq!(
        choose("100%", &fleet()),
        Ok(ids(&["gw-a", "gw-b", "gw-c"])),
        "one is left as the baseline"
    );
    let alone = vec![candidate("gw-a", "us-east")];
    assert_eq!(choose("50%", &alone), Ok(ids(&["gw-a"])));
    assert!(choose("50%", &[]).unwrap_err().contains("no gateway"));
    for bad in ["0%", "101%", "1.5%", "region=", ","] {
        assert!(Selector::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ids_and_regions_choose_connected_gateways_and_leave_a_baseline() {
    assert_eq!(choose("gw-b, gw-c", &fleet()), Ok(ids(&["gw-b", "gw-c"])));
    let missing = choose("gw-b,gw-e,dns-1", &fleet()).unwrap_err();
    assert!(
        missing.contains("gw-e, dns-1") || missing.contains("dns-1, gw-e"),
        "{missing}"
    );
    assert_eq!(
        choose("region=eu-west", &fleet()),
        Ok(ids(&["gw-c", "gw-d"])),
        "weir-dns in eu-west is never a canary"
    );
    assert!(choose("region=ap-south", &fleet()).is_err());
    let every = choose("gw-a,gw-b,gw-c,gw-d", &fleet()).unwrap_err();
    assert!(every.contains("baseline"), "{every}");
    let one_region: Vec<Candidate> = fleet()
        .into_iter()
        .filter(|c| c.region.as_deref() == Some("us-east"))
        .collect();
    assert!(choose("region=us-east", &one_region).is_err());
    assert_eq!(
        Selector::parse("region=eu-west").unwrap().to_string(),
        "region=eu-west"
    );
}

const T0: u64 = 1_000_000;

fn at(ms: u64) -> SystemTime {
    from_ms(T0 + ms)
}

fn settings() -> RolloutSettings {
    RolloutSettings {
        bake: Duration::from_secs(10),
        evaluate_every: Duration::from_secs(1),
        min_requests: 50,
        ..RolloutSettings::default()
    }
}

/// Canaries gw-c and gw-d bake version 5 over stable version 4 for 10 s from t = 0.
fn bake() -> Bake {
    let record = Record {
        stable: 4,
        canary: 5,
        canaries: ids(&["gw-c", "gw-d"]),
        selector: "region=eu-west".into(),
        author: "alice".into(),
        started_unix_ms: T0,
        bake_ms: 10_000,
        bake_until_unix_ms: T0 + 10_000,
        phase: Phase::Baking,
        outcome_version: None,
        reason: String::new(),
        finished_unix_ms: None,
        replica: None,
    };
    Bake::new(record, settings(), at(0))
}

fn pool(requests: u64, errors: u64, p99_ms: f64) -> Vec<PoolTelemetry> {
    vec![PoolTelemetry {
        upstream: "app".into(),
        region: "us-east".into(),
        healthy_fraction: 1.0,
        requests,
        status_5xx: errors,
        transport_errors: 0,
        p50_ms: Some(p99_ms / 2.0),
        p99_ms: Some(p99_ms),
        breaker_open: false,
    }]
}

/// Canaries heard from at `ms`, having applied `version`.
fn canaries(ms: u64, version: u64) -> Vec<CanaryNow> {
    ["gw-c", "gw-d"]
        .iter()
        .map(|id| CanaryNow {
            id: (*id).into(),
            applied: Some(version),
            nack: None,
            last_heard: Some(at(ms)),
        })
        .collect()
}

struct Feed {
    pools: Vec<(String, u64, u64, Vec<PoolTelemetry>)>,
}

impl Feed {
    fn new() -> Feed {
        Feed { pools: Vec::new() }
    }

    /// A summary from `gateway` on `version` received at `ms`.
    fn add(&mut self, gateway: &str, ms: u64, version: u64, pools: Vec<PoolTelemetry>) {
        self.pools.push((gateway.into(), ms, version, pools));
    }

    fn summaries(&self) -> Vec<Summary<'_>> {
        self.pools
            .iter()
            .map(|(gateway, ms, version, pools)| Summary {
                gateway,
                at: at(*ms),
                config_version: *version,
                pools,
            })
            .collect()
    }

    /// One second of traffic at `ms`: the baseline healthy, the canaries as given.
    fn second(&mut self, ms: u64, canary: (u64, u64, f64)) {
        for baseline in ["gw-a", "gw-b"] {
            self.add(baseline, ms, 4, pool(100, 0, 20.0));
        }
        for id in ["gw-c", "gw-d"] {
            self.add(id, ms, 5, pool(canary.0, canary.1, canary.2));
        }
    }
}

#[test]
fn a_canary_error_ratio_above_the_baseline_rolls_back_with_the_evidence() {
    let mut bake = bake();
    let mut feed = Feed::new();
    feed.second(500, (20, 10, 20.0));
    // 40 canary requests: below min_requests, not judged even at 50% errors.
    assert_eq!(
        bake.tick(at(600), &canaries(600, 5), &feed.summaries()),
        Decision::Wait
    );
    assert_eq!(bake.evaluations().last().unwrap().verdict, Verdict::Pending);
    // Not due again before evaluate_every.
    feed.second(1000, (20, 10, 20.0));
    assert_eq!(
        bake.tick(at(1200), &canaries(1200, 5), &feed.summaries()),
        Decision::Wait
    );
    assert_eq!(bake.evaluations().count(), 1);
    let decision = bake.tick(at(1600), &canaries(1600, 5), &feed.summaries());
    let Decision::RollBack { evidence } = decision else {
        panic!("{decision:?}");
    };
    assert!(
        evidence.starts_with("canary error ratio 0.500 > baseline 0.000 + 0.02"),
        "{evidence}"
    );
    assert!(
        evidence.contains("gw-c: error ratio 0.500 of 40 requests"),
        "{evidence}"
    );
    assert!(
        evidence.contains("baseline gw-a, gw-b: error ratio 0.000 of 400"),
        "{evidence}"
    );
}

#[test]
fn errors_the_baseline_sees_too_are_no_breach() {
    let mut bake = bake();
    let mut feed = Feed::new();
    for baseline in ["gw-a", "gw-b"] {
        feed.add(baseline, 500, 4, pool(100, 10, 20.0));
    }
    for id in ["gw-c", "gw-d"] {
        feed.add(id, 500, 5, pool(100, 11, 20.0));
    }
    assert_eq!(
        bake.tick(at(600), &canaries(600, 5), &feed.summaries()),
        Decision::Wait
    );
    assert_eq!(bake.evaluations().last().unwrap().verdict, Verdict::Good);
}

#[test]
fn a_slow_canary_breaches_only_past_the_ratio_and_the_floor() {
    // 3× the baseline's p99 but only 40 ms above it: under the 50 ms floor.
    let mut bake = bake();
    let mut feed = Feed::new();
    feed.second(500, (100, 0, 60.0));
    assert_eq!(
        bake.tick(at(600), &canaries(600, 5), &feed.summaries()),
        Decision::Wait
    );
    // 10× and 180 ms above: a breach.
    let mut bake = self::bake();
    let mut feed = Feed::new();
    feed.second(500, (100, 0, 200.0));
    let decision = bake.tick(at(600), &canaries(600, 5), &feed.summaries());
    let Decision::RollBack { evidence } = decision else {
        panic!("{decision:?}");
    };
    assert!(
        evidence.starts_with("canary p99 200.0ms > baseline 20.0ms × 2"),
        "{evidence}"
    );
}

#[test]
fn a_breaker_open_on_canaries_only_is_a_breach_at_any_count() {
    let mut bake = bake();
    let mut feed = Feed::new();
    let mut open = pool(5, 5, 20.0);
    open[0].breaker_open = true;
    // The baseline's breaker for the same upstream is open too: not the canary's doing.
    feed.add("gw-a", 500, 4, open.clone());
    feed.add("gw-c", 500, 5, open.clone());
    assert_eq!(
        bake.tick(at(600), &canaries(600, 5), &feed.summaries()),
        Decision::Wait
    );
    let mut bake = self::bake();
    let mut feed = Feed::new();
    feed.add("gw-a", 500, 4, pool(100, 0, 20.0));
    feed.add("gw-c", 500, 5, open);
    let decision = bake.tick(at(600), &canaries(600, 5), &feed.summaries());
    let Decision::RollBack { evidence } = decision else {
        panic!("{decision:?}");
    };
    assert!(
        evidence.starts_with("a breaker opened on canaries only (gw-c: app)"),
        "{evidence}"
    );
}

#[test]
fn summaries_of_other_versions_and_from_before_the_start_are_not_counted() {
    let mut bake = bake();
    let mut feed = Feed::new();
    // Before the start, bad: ignored.
    feed.add("gw-c", 0, 5, pool(1000, 1000, 20.0));
    // A canary still on the stable version: neither side.
    feed.add("gw-d", 500, 4, pool(1000, 1000, 20.0));
    // A baseline gateway already on the canary version (it should not be): neither side.
    feed.add("gw-a", 500, 5, pool(1000, 1000, 20.0));
    bake.tick(at(600), &canaries(600, 5), &feed.summaries());
    let last = bake.evaluations().last().unwrap();
    assert_eq!(last.verdict, Verdict::Pending, "{}", last.evidence);
    assert!(
        last.evidence.contains("canaries saw 0 requests"),
        "{}",
        last.evidence
    );
    // The same summaries seen again are not counted twice.
    feed.second(700, (30, 0, 20.0));
    bake.tick(at(1600), &canaries(1600, 5), &feed.summaries());
    bake.tick(at(2600), &canaries(2600, 5), &feed.summaries());
    let last = bake.evaluations().last().unwrap();
    assert!(last.evidence.contains("canaries saw 60 requests") || last.verdict == Verdict::Good);
    assert_eq!(last.verdict, Verdict::Good, "{}", last.evidence);
}

#[test]
fn a_nack_from_a_canary_rolls_back_at_once() {
    let mut bake = bake();
    let mut nodes = canaries(100, 4);
    nodes[1].nack = Some("routes[0].upstream: unknown".into());
    let decision = bake.tick(at(100), &nodes, &[]);
    assert_eq!(
        decision,
        Decision::RollBack {
            evidence: "canary gw-d refused version 5 (NACK): routes[0].upstream: unknown".into()
        }
    );
}

#[test]
fn a_canary_quiet_for_the_whole_grace_rolls_back() {
    let mut bake = bake();
    let grace = settings().stale_grace.as_millis() as u64;
    // Past the 10 s bake, but not applied: the quiet rule decides first.
    let mut nodes = canaries(0, 4);
    nodes[0].last_heard = None; // never heard since this control plane started watching
    // Within the grace (counted from the start of watching): wait.
    assert_eq!(bake.tick(at(grace - 1), &nodes, &[]), Decision::Wait);
    let decision = bake.tick(at(grace + 1000), &nodes, &[]);
    let Decision::RollBack { evidence } = decision else {
        panic!("{decision:?}");
    };
    assert!(
        evidence.starts_with("canary gw-c not heard from for"),
        "{evidence}"
    );
}

#[test]
fn a_clean_bake_promotes_once_every_canary_applied_the_version() {
    let mut bake = bake();
    let mut feed = Feed::new();
    let mut ms = 500;
    while ms < 10_000 {
        feed.second(ms, (50, 0, 21.0));
        assert_eq!(
            bake.tick(at(ms + 100), &canaries(ms, 5), &feed.summaries()),
            Decision::Wait,
            "at {ms}"
        );
        ms += 1000;
    }
    // The deadline passed, but gw-d has not applied version 5: wait, then roll back.
    let mut behind = canaries(10_000, 5);
    behind[1].applied = Some(4);
    assert_eq!(
        bake.tick(at(10_600), &behind, &feed.summaries()),
        Decision::Wait
    );
    let last = bake.evaluations().last().unwrap();
    assert!(
        last.evidence.contains("gw-d (on version 4)"),
        "{}",
        last.evidence
    );
    // Applied now: promoted, with the evidence.
    let decision = bake.tick(at(11_600), &canaries(11_500, 5), &feed.summaries());
    let Decision::Promote { evidence } = decision else {
        panic!("{decision:?}");
    };
    assert!(
        evidence.starts_with("clean bake of 10s on gw-c, gw-d"),
        "{evidence}"
    );
    // A canary that never applies it within stale_grace past the deadline is rolled back.
    let mut bake = self::bake();
    let late = at(10_000) + settings().stale_grace;
    let mut never = canaries(0, 4);
    for node in &mut never {
        node.last_heard = Some(late);
    }
    let decision = bake.tick(late, &never, &[]);
    assert!(
        matches!(decision, Decision::RollBack { .. }),
        "{decision:?}"
    );
}

#[test]
fn an_ended_rollout_makes_no_more_decisions() {
    let mut bake = bake();
    bake.finish(
        Phase::Superseded,
        Some(6),
        "superseded by version 6".into(),
        at(500),
    );
    assert!(!bake.record.is_active());
    assert_eq!(bake.next_evaluation(), None);
    let mut nodes = canaries(100, 5);
    nodes[0].nack = Some("bad".into());
    assert_eq!(bake.tick(at(1000), &nodes, &[]), Decision::Wait);
    assert_eq!(bake.record.outcome_version, Some(6));
    assert_eq!(bake.record.finished_unix_ms, Some(T0 + 500));
}
