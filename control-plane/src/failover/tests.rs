//! The policy driven through [`Failover::tick`] with a manual clock and made-up telemetry; each
//! committed action is applied to the config the next tick sees, as the control plane would.

use std::time::{Duration, SystemTime};

use weir_config::FleetSettings;
use weir_protocol::PoolTelemetry;
use weir_protocol::api::Drained;

use super::*;

const EVERY: Duration = Duration::from_secs(5);

/// Upstream `api` in `regions` (weight 100 each) with `[failover.api]` holding `policy` keys.
fn fleet(regions: &[&str], policy: &str) -> FleetSettings {
    let mut text = format!("[failover.api]\nevaluate_every = \"5s\"\n{policy}\n[upstreams.api]\n");
    for (index, region) in regions.iter().enumerate() {
        text.push_str(&format!(
            "[[upstreams.api.pools]]\nregion = \"{region}\"\nendpoints = [\"127.0.0.1:{}\"]\n",
            9001 + index
        ));
    }
    text.push_str("[[routes]]\nupstream = \"api\"\n");
    match weir_config::parse_fleet(&text) {
        Ok(config) => config.fleet,
        Err(errors) => panic!("{errors}\n{text}"),
    }
}

/// How one gateway sees one region.
#[derive(Clone, Copy, PartialEq)]
enum Seen {
    Bad,
    Good,
}

fn pool(region: &str, seen: Seen) -> PoolTelemetry {
    let failed = if seen == Seen::Bad { 100 } else { 0 };
    PoolTelemetry {
        upstream: "api".into(),
        region: region.into(),
        healthy_fraction: if seen == Seen::Bad { 0.0 } else { 1.0 },
        requests: 100,
        status_5xx: failed,
        transport_errors: 0,
        p50_ms: None,
        p99_ms: None,
        breaker_open: false,
    }
}

/// One gateway's report: its name, whether it is stale, and how it sees each region.
type Report<'a> = (&'a str, bool, &'a [(&'a str, Seen)]);

/// A fleet config, the store's drain memory, the policy and a manual clock.
struct Sim {
    fleet: FleetSettings,
    drained: Drained,
    policy: Failover,
    now: SystemTime,
    log: Vec<Action>,
}

impl Sim {
    fn new(fleet: FleetSettings) -> Sim {
        Sim {
            fleet,
            drained: Drained::new(),
            policy: Failover::new(),
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
            log: Vec::new(),
        }
    }

    /// One evaluation `EVERY` after the previous one, every gateway of `gateways` (name,
    /// stale, what it sees per region) having reported since; commits and applies the actions.
    fn eval(&mut self, gateways: &[Report<'_>]) -> Vec<Action> {
        self.now += EVERY;
        let pools: Vec<Vec<PoolTelemetry>> = gateways
            .iter()
            .map(|(_, _, seen)| seen.iter().map(|(region, s)| pool(region, *s)).collect())
            .collect();
        let samples: Vec<GatewaySample<'_>> = gateways
            .iter()
            .zip(&pools)
            .map(|((gateway, stale, _), pools)| GatewaySample {
                gateway,
                stale: *stale,
                received: self.now - Duration::from_secs(1),
                pools,
            })
            .collect();
        let actions = self
            .policy
            .tick(self.now, &self.fleet, &self.drained, &samples);
        for action in &actions {
            self.set_weight(&action.region, action.weight);
            self.policy.settled(action, true);
        }
        self.log.extend(actions.iter().cloned());
        actions
    }

    /// Two gateways that both see each region as given.
    fn both(&mut self, seen: &[(&str, Seen)]) -> Vec<Action> {
        self.eval(&[("gw-a", false, seen), ("gw-b", false, seen)])
    }

    fn set_weight(&mut self, region: &str, weight: u32) {
        let upstream = self.fleet.upstreams.get_mut("api").expect("api");
        let pool = upstream
            .pools
            .iter_mut()
            .find(|pool| pool.region == region)
            .expect("the region's pool");
        pool.weight = weight;
    }

    fn weight(&self, region: &str) -> u32 {
        self.fleet.upstreams["api"]
            .pools
            .iter()
            .find(|pool| pool.region == region)
            .map(|pool| pool.weight)
            .expect("the region's pool")
    }

    fn region_status(&self, region: &str) -> RegionStatus {
        self.policy.status(&self.fleet)[0]
            .regions
            .iter()
            .find(|status| status.region == region)
            .cloned()
            .expect("the region's status")
    }

    fn count(&self, kind: &str) -> usize {
        self.log
            .iter()
            .filter(|action| action.kind.name() == kind)
            .count()
    }
}

const EAST_BAD: &[(&str, Seen)] = &[("us-east", Seen::Bad), ("eu-west", Seen::Good)];
const ALL_GOOD: &[(&str, Seen)] = &[("us-east", Seen::Good), ("eu-west", Seen::Good)];

#[test]
fn a_region_is_drained_after_exactly_drain_after_bad_evaluations() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 3"));
    assert!(sim.both(EAST_BAD).is_empty());
    assert!(sim.both(EAST_BAD).is_empty());
    let status = sim.region_status("us-east");
    assert_eq!(status.bad_in_row, 2);
    assert_eq!(status.next_action, "drain after 1 more bad evaluation(s)");
    assert_eq!(status.next_action_at, Some(sim.now + EVERY));
    let actions = sim.both(EAST_BAD);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let drain = &actions[0];
    assert_eq!(
        (drain.region.as_str(), drain.kind, drain.from, drain.weight),
        ("us-east", ActionKind::Drain, 100, 0)
    );
    assert!(
        drain.evidence.starts_with(
            "3 bad evaluations in a row (drain_after = 3); last: 2 of 2 gateways see it unhealthy"
        ),
        "{}",
        drain.evidence
    );
    assert!(
        drain
            .evidence
            .contains("gw-a: healthy 0.00 < 0.7, errors 1.000 > 0.05 over 100 requests")
    );
    assert_eq!(sim.region_status("us-east").state, "drained");
    // Drained, it is not drained again; eu-west was never touched.
    for _ in 0..5 {
        assert!(sim.both(EAST_BAD).is_empty());
    }
    assert_eq!(sim.weight("eu-west"), 100);
}

#[test]
fn a_bad_evaluation_between_good_ones_starts_the_count_again() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 3"));
    sim.both(EAST_BAD);
    sim.both(EAST_BAD);
    sim.both(ALL_GOOD);
    sim.both(EAST_BAD);
    sim.both(EAST_BAD);
    assert_eq!(sim.count("drain"), 0);
    sim.both(EAST_BAD);
    assert_eq!(sim.count("drain"), 1);
}

#[test]
fn a_region_failing_every_other_evaluation_does_not_flap() {
    // Two minutes of 5 s evaluations, and then ten more.
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], ""));
    for n in 0..24 * 10 {
        sim.both(if n % 2 == 0 { EAST_BAD } else { ALL_GOOD });
    }
    assert_eq!((sim.count("drain"), sim.count("ramp")), (0, 0));
    // Drained once, it is not restored while it keeps failing every other evaluation.
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], ""));
    for _ in 0..3 {
        sim.both(EAST_BAD);
    }
    for n in 0..24 * 10 {
        sim.both(if n % 2 == 0 { EAST_BAD } else { ALL_GOOD });
    }
    assert_eq!(sim.count("drain"), 1);
    assert_eq!(sim.count("ramp") + sim.count("restore"), 0);
}

#[test]
fn a_drained_region_ramps_back_in_steps_after_restore_after_good_evaluations() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 4\nramp = [\"10%\", \"50%\", \"100%\"]",
    ));
    sim.set_weight("us-east", 80);
    assert_eq!(sim.both(EAST_BAD).len(), 1);
    for _ in 0..3 {
        assert!(sim.both(ALL_GOOD).is_empty());
    }
    let status = sim.region_status("us-east");
    assert_eq!(status.good_in_row, 3);
    assert_eq!(
        status.next_action,
        "ramp to weight 8 (10% of 80) after 1 more good evaluation(s)"
    );
    let weights: Vec<(u32, &str)> = (0..3)
        .map(|_| {
            let actions = sim.both(ALL_GOOD);
            assert_eq!(actions.len(), 1, "{actions:?}");
            (actions[0].weight, actions[0].kind.name())
        })
        .collect();
    assert_eq!(weights, vec![(8, "ramp"), (40, "ramp"), (80, "restore")]);
    assert_eq!(sim.region_status("us-east").state, "healthy");
    assert!(sim.both(ALL_GOOD).is_empty());
}

#[test]
fn a_ramp_holds_while_the_region_is_bad_and_drains_again_after_drain_after() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 2\nrestore_after = 1",
    ));
    sim.both(EAST_BAD);
    sim.both(EAST_BAD);
    assert_eq!(sim.both(ALL_GOOD)[0].weight, 10);
    assert!(
        sim.both(EAST_BAD).is_empty(),
        "a bad evaluation holds the step"
    );
    assert_eq!(sim.weight("us-east"), 10);
    let again = sim.both(EAST_BAD);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].kind, again[0].from), (ActionKind::Drain, 10));
    // The ramp's 100% is still the operator's weight, not the step it was drained from.
    assert_eq!(sim.region_status("us-east").operator_weight, Some(100));
}

#[test]
fn a_region_is_bad_only_when_a_quorum_of_reporting_gateways_see_it() {
    let one_of_three = |sim: &mut Sim| {
        sim.eval(&[
            ("gw-a", false, EAST_BAD),
            ("gw-b", false, ALL_GOOD),
            ("gw-c", false, ALL_GOOD),
        ])
    };
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nquorum = 0.5",
    ));
    assert!(one_of_three(&mut sim).is_empty());
    assert_eq!(sim.region_status("us-east").bad_in_row, 0);
    let two_of_three = sim.eval(&[
        ("gw-a", false, EAST_BAD),
        ("gw-b", false, EAST_BAD),
        ("gw-c", false, ALL_GOOD),
    ]);
    assert_eq!(two_of_three.len(), 1);
    assert!(two_of_three[0].evidence.contains("2 of 3 gateways"));
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nquorum = 0.3",
    ));
    assert_eq!(one_of_three(&mut sim).len(), 1);
}

#[test]
fn stale_gateways_do_not_vote_and_silence_is_no_evidence() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 2"));
    sim.both(EAST_BAD);
    for _ in 0..5 {
        let actions = sim.eval(&[("gw-a", true, EAST_BAD), ("gw-b", true, EAST_BAD)]);
        assert!(actions.is_empty());
    }
    let status = sim.region_status("us-east");
    assert_eq!(status.bad_in_row, 1, "silence neither counts nor resets");
    assert_eq!(
        status.last.last().map(|e| e.judgement.verdict),
        Some(Verdict::NoEvidence)
    );
    // One stale bad gateway beside a fresh good one: the fresh one alone decides.
    sim.eval(&[("gw-a", true, EAST_BAD), ("gw-b", false, ALL_GOOD)]);
    assert_eq!(sim.region_status("us-east").bad_in_row, 0);
}

#[test]
fn a_summary_is_counted_in_one_evaluation_only() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 2"));
    let pools = vec![pool("us-east", Seen::Bad)];
    let sample = [GatewaySample {
        gateway: "gw-a",
        stale: false,
        received: sim.now + Duration::from_secs(1),
        pools: &pools,
    }];
    for n in 2..6 {
        let at = sim.now + Duration::from_secs(n);
        assert!(
            sim.policy
                .tick(at, &sim.fleet, &sim.drained, &sample)
                .is_empty()
        );
        // Evaluated again only after evaluate_every.
        sim.now = at + EVERY;
    }
    assert_eq!(sim.region_status("us-east").bad_in_row, 1);
}

#[test]
fn the_last_region_with_weight_is_never_drained() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nmax_drained = 2",
    ));
    let all_bad = &[("us-east", Seen::Bad), ("eu-west", Seen::Bad)];
    let actions = sim.both(all_bad);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].region, "us-east");
    for _ in 0..5 {
        assert!(sim.both(all_bad).is_empty());
    }
    assert_eq!(sim.weight("eu-west"), 100);
    assert!(
        sim.region_status("eu-west")
            .next_action
            .contains("held back: never_drain_last")
    );
    // A region an operator took to 0 counts as down too.
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 1"));
    sim.set_weight("eu-west", 0);
    assert!(sim.both(EAST_BAD).is_empty());
    // Off, the policy may drain them all.
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nmax_drained = 2\nnever_drain_last = false",
    ));
    assert_eq!(sim.both(all_bad).len(), 2);
}

#[test]
fn at_most_max_drained_regions_are_drained_by_policy() {
    let regions = ["us-east", "eu-west", "ap-south"];
    let two_bad = &[
        ("us-east", Seen::Bad),
        ("eu-west", Seen::Bad),
        ("ap-south", Seen::Good),
    ];
    let mut sim = Sim::new(fleet(
        &regions,
        "drain_after = 1\nrestore_after = 1\nramp = [\"100%\"]",
    ));
    assert_eq!(sim.both(two_bad).len(), 1);
    assert_eq!(sim.weight("eu-west"), 100);
    assert!(
        sim.region_status("eu-west")
            .next_action
            .contains("held back: max_drained: 1 region(s) already drained by policy")
    );
    // us-east comes back (one step to 100%): its slot frees and eu-west, still bad, drains.
    let actions = sim.both(&[
        ("us-east", Seen::Good),
        ("eu-west", Seen::Bad),
        ("ap-south", Seen::Good),
    ]);
    let done: Vec<(&str, &str)> = actions
        .iter()
        .map(|action| (action.region.as_str(), action.kind.name()))
        .collect();
    assert_eq!(done, vec![("us-east", "restore"), ("eu-west", "drain")]);
    let mut sim = Sim::new(fleet(&regions, "drain_after = 1\nmax_drained = 2"));
    assert_eq!(sim.both(two_bad).len(), 2);
}

#[test]
fn a_region_weighted_by_hand_while_drained_is_never_ramped_by_policy() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 2",
    ));
    sim.both(EAST_BAD);
    // The operator brings it back to 30 by hand while it is still bad.
    sim.set_weight("us-east", 30);
    sim.both(EAST_BAD);
    assert_eq!(sim.region_status("us-east").state, "operator");
    for _ in 0..20 {
        sim.both(EAST_BAD);
    }
    assert_eq!(
        sim.weight("us-east"),
        30,
        "the policy does not drain it again"
    );
    for _ in 0..20 {
        sim.both(ALL_GOOD);
    }
    assert_eq!(sim.weight("us-east"), 30, "nor ramps it to its old weight");
    assert_eq!(sim.count("drain"), 1);
    assert_eq!(sim.count("ramp") + sim.count("restore"), 0);
    // Once seen good with a weight, it is watched again like any region.
    assert_eq!(sim.region_status("us-east").state, "healthy");
}

#[test]
fn a_region_drained_by_hand_is_never_restored_by_policy() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 1",
    ));
    // `weirctl drain us-east`: weight 0 and the store remembers what it had.
    sim.set_weight("us-east", 0);
    sim.drained
        .entry("us-east".into())
        .or_default()
        .insert("api".into(), 100);
    for _ in 0..30 {
        assert!(sim.both(ALL_GOOD).is_empty());
    }
    assert_eq!(sim.region_status("us-east").state, "operator");
    // Also when the policy had drained it first and the operator drained the region after.
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 1",
    ));
    sim.both(EAST_BAD);
    sim.drained
        .entry("us-east".into())
        .or_default()
        .insert("api".into(), 0);
    for _ in 0..30 {
        assert!(sim.both(ALL_GOOD).is_empty());
    }
    assert_eq!(sim.weight("us-east"), 0);
}

#[test]
fn pause_holds_every_action_until_resume() {
    for all in [false, true] {
        let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 2"));
        sim.policy.pause((!all).then_some("api"));
        for _ in 0..5 {
            assert!(sim.both(EAST_BAD).is_empty());
        }
        let status = sim.policy.status(&sim.fleet);
        assert!(status[0].paused);
        let east = sim.region_status("us-east");
        assert_eq!(east.bad_in_row, 5, "evaluations go on while paused");
        assert!(east.next_action.contains("paused"), "{}", east.next_action);
        assert_eq!(east.next_action_at, None);
        // Resuming another upstream, or one upstream under a pause of all, changes nothing.
        sim.policy.resume(Some("web"));
        if all {
            sim.policy.resume(Some("api"));
        }
        assert!(sim.both(EAST_BAD).is_empty());
        sim.policy.resume(if all { None } else { Some("api") });
        assert_eq!(sim.both(EAST_BAD).len(), 1);
    }
}

#[test]
fn an_action_not_committed_is_forgotten() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 2"));
    sim.both(EAST_BAD);
    sim.now += EVERY;
    let pools = vec![pool("us-east", Seen::Bad)];
    let sample = [GatewaySample {
        gateway: "gw-a",
        stale: false,
        received: sim.now,
        pools: &pools,
    }];
    let actions = sim.policy.tick(sim.now, &sim.fleet, &sim.drained, &sample);
    assert_eq!(actions.len(), 1);
    sim.policy.settled(&actions[0], false);
    let east = sim.region_status("us-east");
    assert_eq!((east.state, east.bad_in_row), ("healthy", 2));
    assert_eq!(east.last.len(), 2);
    // Still bad next time: the drain is due again.
    assert_eq!(sim.both(EAST_BAD).len(), 1);
}

#[test]
fn a_policy_removed_from_the_config_is_forgotten() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 3"));
    sim.both(EAST_BAD);
    sim.both(EAST_BAD);
    let without = sim.fleet.failover.clone();
    sim.fleet.failover.clear();
    assert!(sim.both(EAST_BAD).is_empty());
    assert!(sim.policy.status(&sim.fleet).is_empty());
    sim.fleet.failover = without;
    sim.both(EAST_BAD);
    assert_eq!(sim.region_status("us-east").bad_in_row, 1);
}

#[test]
fn ramp_weights_round_up_and_end_at_the_operators_weight() {
    use super::machine::step_weight;
    assert_eq!(step_weight(100, 10), 10);
    assert_eq!(step_weight(7, 10), 1);
    assert_eq!(step_weight(7, 50), 4);
    assert_eq!(step_weight(7, 100), 7);
    assert_eq!(step_weight(1, 1), 1);
}

#[test]
fn pause_holds_ramp_steps_too() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 1",
    ));
    sim.both(EAST_BAD);
    sim.policy.pause(Some("api"));
    for _ in 0..5 {
        assert!(sim.both(ALL_GOOD).is_empty());
    }
    assert_eq!(sim.weight("us-east"), 0);
    sim.policy.resume(Some("api"));
    assert_eq!(sim.both(ALL_GOOD)[0].weight, 10);
}

#[test]
fn a_region_the_drain_memory_holds_is_the_operators_whatever_its_weight() {
    // Drained by `weirctl drain`, then given a weight by a hand-edited config: still theirs.
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 1"));
    sim.drained
        .entry("us-east".into())
        .or_default()
        .insert("api".into(), 100);
    for _ in 0..5 {
        assert!(sim.both(EAST_BAD).is_empty());
    }
    assert_eq!(sim.region_status("us-east").state, "operator");
}

#[test]
fn after_a_restart_a_region_held_by_policy_is_still_the_policys_and_pauses_hold() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west", "ap-south"],
        "drain_after = 1\nrestore_after = 2\nramp = [\"50%\", \"100%\"]\nmax_drained = 2",
    ));
    sim.set_weight("us-east", 80);
    assert_eq!(sim.both(EAST_BAD).len(), 1);
    sim.policy.pause(Some("other"));
    let memory = sim.policy.memory();
    assert_eq!(
        memory.held["api"]["us-east"],
        memory::Held {
            operator_weight: 80,
            step: None,
            weight: 0
        }
    );

    // A new policy (the control plane restarted) with the saved memory: us-east, at weight 0,
    // is still drained by policy and comes back after restore_after good evaluations.
    sim.policy = Failover::new();
    sim.policy.restore(memory.clone(), |_, _| None);
    assert!(sim.policy.is_paused("other"));
    assert_eq!(sim.policy.held_by_policy(), 1);
    assert!(sim.both(ALL_GOOD).is_empty());
    assert_eq!(sim.region_status("us-east").state, "drained");
    let actions = sim.both(ALL_GOOD);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!((actions[0].weight, actions[0].kind.name()), (40, "ramp"));

    // Mid-ramp, restarted again: the ramp goes on from its step.
    let memory = sim.policy.memory();
    assert_eq!(memory.held["api"]["us-east"].step, Some(0));
    sim.policy = Failover::new();
    sim.policy.restore(memory, |_, _| None);
    let actions = sim.both(ALL_GOOD);
    assert_eq!((actions[0].weight, actions[0].kind.name()), (80, "restore"));
    assert!(sim.policy.memory().held.is_empty());
    assert!(sim.policy.is_paused("other"));
}

#[test]
fn an_action_unsettled_at_a_crash_is_taken_back_by_the_weight_the_config_has() {
    let mut sim = Sim::new(fleet(
        &["us-east", "eu-west"],
        "drain_after = 1\nrestore_after = 1\nramp = [\"50%\", \"100%\"]",
    ));
    sim.set_weight("us-east", 80);
    // A drain decided, saved before its commit, then the crash.
    let now = sim.now + EVERY;
    let bad = [pool("us-east", Seen::Bad), pool("eu-west", Seen::Good)];
    let sample = GatewaySample {
        gateway: "gw-a",
        stale: false,
        received: now - Duration::from_secs(1),
        pools: &bad,
    };
    let actions = sim.policy.tick(now, &sim.fleet, &sim.drained, &[sample]);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let memory = sim.policy.memory();
    assert!(memory.held.is_empty(), "{memory:?}");

    // Committed (the config has weight 0): drained by policy, ramped back when good.
    let mut committed = Failover::new();
    committed.restore(memory.clone(), |_, region| {
        Some(if region == "us-east" { 0 } else { 100 })
    });
    assert_eq!(committed.held_by_policy(), 1);
    // Not committed (weight 80 still): nothing held, so nothing is taken for the operator's.
    let mut lost = Failover::new();
    lost.restore(memory, |_, region| {
        Some(if region == "us-east" { 80 } else { 100 })
    });
    assert_eq!(lost.held_by_policy(), 0);

    sim.now = now;
    sim.set_weight("us-east", 0);
    sim.policy = committed;
    let actions = sim.both(ALL_GOOD);
    assert_eq!((actions[0].weight, actions[0].kind.name()), (40, "ramp"));
}

#[test]
fn an_evaluation_due_at_a_tick_is_not_put_off_by_the_previous_ticks_lateness() {
    let mut sim = Sim::new(fleet(&["us-east", "eu-west"], "drain_after = 2"));
    let start = sim.now;
    // The first tick comes a hair late; the next evaluation is due a hair after the next tick.
    sim.policy.tick(
        start + Duration::from_micros(300),
        &sim.fleet,
        &sim.drained,
        &[],
    );
    sim.policy
        .tick(start + EVERY, &sim.fleet, &sim.drained, &[]);
    assert_eq!(sim.policy.evaluations(), 2);
    // A tick well before the next evaluation still waits for it.
    sim.policy
        .tick(start + EVERY + EVERY / 2, &sim.fleet, &sim.drained, &[]);
    assert_eq!(sim.policy.evaluations(), 2);
}
