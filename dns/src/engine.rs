//! The answer engine: which addresses one GSLB name answers for one query, from its policy,
//! its members' weight and health and the client's region. Plain code over plain data (health is
//! read from the members' probe targets and their region's gateway readiness, randomness comes
//! from the caller), so every policy is
//! unit-tested without sockets. It cannot fail: the worst outcome is `all_down`.

use std::net::IpAddr;
use std::sync::Arc;

use rand::Rng;
use weir_config::{AllDown, DnsPolicy};

use crate::gateways::Gate;
use crate::health::Target;

/// The record type asked for, as an address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// One member of a name, ready for answering.
#[derive(Debug)]
pub struct Member {
    pub region: Arc<str>,
    pub addresses: Vec<IpAddr>,
    pub weight: u32,
    /// `None`: no `health` URL, always healthy.
    pub health: Option<Arc<Target>>,
    /// Its region's gateways as the control plane last said (shared by the region's members).
    pub gate: Arc<Gate>,
}

impl Member {
    fn has(&self, family: Family) -> bool {
        self.addresses
            .iter()
            .any(|address| in_family(address, family))
    }

    /// Healthy by its probes and its region's gateways, with weight > 0: a member that may be
    /// answered.
    pub fn eligible(&self) -> bool {
        self.weight > 0
            && !self.gate.is_out()
            && self.health.as_ref().is_none_or(|target| target.is_up())
    }

    /// Whether its health is about to change (a probe disagreed with its state).
    pub fn changing(&self) -> bool {
        self.health
            .as_ref()
            .is_some_and(|target| target.is_changing())
    }
}

fn in_family(address: &IpAddr, family: Family) -> bool {
    matches!(
        (address, family),
        (IpAddr::V4(_), Family::V4) | (IpAddr::V6(_), Family::V6)
    )
}

/// A GSLB name's answering rules.
#[derive(Debug)]
pub struct Rules {
    pub policy: DnsPolicy,
    /// Most addresses per answer (at least 1).
    pub answers: usize,
    pub all_down: AllDown,
    pub members: Vec<Member>,
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These addresses, in answer order; `region` is the first answered member's (for metrics).
    Addresses {
        addresses: Vec<IpAddr>,
        region: Arc<str>,
        /// No member was eligible, so `all_down = "all"` answered.
        all_down: bool,
    },
    /// No member has an address of the asked family: NODATA.
    NoData,
    /// No member was eligible and `all_down = "servfail"`.
    ServFail,
}

impl Rules {
    /// Picks the addresses of `family` to answer a client in `client_region`.
    pub fn select<R: Rng + ?Sized>(
        &self,
        family: Family,
        client_region: Option<&str>,
        rng: &mut R,
    ) -> Selection {
        let candidates: Vec<&Member> = self.members.iter().filter(|m| m.has(family)).collect();
        if candidates.is_empty() {
            return Selection::NoData;
        }
        let eligible: Vec<&Member> = candidates
            .iter()
            .copied()
            .filter(|m| m.eligible())
            .collect();
        if eligible.is_empty() {
            return match self.all_down {
                AllDown::ServFail => Selection::ServFail,
                AllDown::All => {
                    // Every weighted member (every member when the operator drained them all).
                    let weighted: Vec<&Member> = candidates
                        .iter()
                        .copied()
                        .filter(|m| m.weight > 0)
                        .collect();
                    let answered = if weighted.is_empty() {
                        candidates
                    } else {
                        weighted
                    };
                    collect(&answered, family, usize::MAX, true)
                }
            };
        }
        let ordered = match self.policy {
            DnsPolicy::Failover => eligible,
            DnsPolicy::Weighted => weighted_order(eligible, rng),
            DnsPolicy::Nearest => nearest_order(eligible, client_region, rng),
        };
        collect(&ordered, family, self.answers.max(1), false)
    }

    /// Whether any member's health is changing (answers then get a shorter TTL).
    pub fn changing(&self) -> bool {
        self.members.iter().any(Member::changing)
    }
}

/// The addresses of `family` of `members`, in order, at most `limit`.
fn collect(members: &[&Member], family: Family, limit: usize, all_down: bool) -> Selection {
    let addresses: Vec<IpAddr> = members
        .iter()
        .flat_map(|member| member.addresses.iter().copied())
        .filter(|address| in_family(address, family))
        .take(limit)
        .collect();
    match members.first() {
        Some(first) => Selection::Addresses {
            addresses,
            region: first.region.clone(),
            all_down,
        },
        None => Selection::NoData,
    }
}

/// A random order in which each member comes next with a chance proportional to its weight
/// among those left (all weights here are > 0).
fn weighted_order<'a, R: Rng + ?Sized>(mut left: Vec<&'a Member>, rng: &mut R) -> Vec<&'a Member> {
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: u64 = left.iter().map(|m| u64::from(m.weight)).sum();
        let mut pick = rng.random_range(0..total.max(1));
        let index = left
            .iter()
            .position(|m| {
                let weight = u64::from(m.weight);
                if pick < weight {
                    true
                } else {
                    pick -= weight;
                    false
                }
            })
            .unwrap_or(0);
        ordered.push(left.remove(index));
    }
    ordered
}

/// The client's region first (its members in weighted random order), then the other regions'
/// members by weight, heaviest first, ties in member order.
fn nearest_order<'a, R: Rng + ?Sized>(
    eligible: Vec<&'a Member>,
    client_region: Option<&str>,
    rng: &mut R,
) -> Vec<&'a Member> {
    let (local, mut others): (Vec<&Member>, Vec<&Member>) = eligible
        .into_iter()
        .partition(|m| client_region == Some(&*m.region));
    others.sort_by_key(|m| std::cmp::Reverse(m.weight)); // stable: ties keep member order
    let mut ordered = weighted_order(local, rng);
    ordered.extend(others);
    ordered
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Instant;

    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use weir_config::HttpUrl;

    use super::*;

    fn member(region: &str, addresses: &[&str], weight: u32) -> Member {
        Member {
            region: Arc::from(region),
            addresses: addresses.iter().map(|a| a.parse().expect("ip")).collect(),
            weight,
            health: None,
            gate: Arc::default(),
        }
    }

    /// A member whose probe target is down (failed once with fall = 1).
    fn down(mut member: Member) -> Member {
        let target = Target::new(
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 1,
                path: "/".into(),
            },
            Instant::now(),
        );
        target.record(false, Instant::now(), 1, 1);
        member.health = Some(Arc::new(target));
        member
    }

    fn rules(policy: DnsPolicy, answers: usize, members: Vec<Member>) -> Rules {
        Rules {
            policy,
            answers,
            all_down: AllDown::All,
            members,
        }
    }

    fn addresses(selection: &Selection) -> Vec<String> {
        match selection {
            Selection::Addresses { addresses, .. } => {
                addresses.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected addresses, got {other:?}"),
        }
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(16)
    }

    #[test]
    fn a_member_whose_regions_gateways_are_all_not_ready_is_not_answered() {
        let gates = crate::gateways::Gates::new(Arc::default());
        let mut east = member("us-east", &["192.0.2.1"], 100);
        east.gate = gates.gate("us-east");
        let mut west = member("eu-west", &["192.0.2.2"], 100);
        west.gate = gates.gate("eu-west");
        let r = rules(DnsPolicy::Failover, 2, vec![east, west]);
        let mut readiness = weir_protocol::GatewayReadiness::default();
        readiness.count("us-east", false);
        readiness.count("eu-west", true);
        gates.apply(readiness);
        assert!(r.members[0].health.is_none(), "no probe says it is down");
        assert!(!r.members[0].eligible());
        assert_eq!(
            addresses(&r.select(Family::V4, None, &mut rng())),
            ["192.0.2.2"]
        );
        gates.forget();
        assert_eq!(
            addresses(&r.select(Family::V4, None, &mut rng())),
            ["192.0.2.1", "192.0.2.2"],
            "probes alone without the control plane"
        );
    }

    #[test]
    fn failover_answers_the_first_healthy_members_in_order() {
        let r = rules(
            DnsPolicy::Failover,
            1,
            vec![
                down(member("a", &["192.0.2.1"], 100)),
                member("b", &["192.0.2.2"], 0),
                member("c", &["192.0.2.3"], 100),
                member("d", &["192.0.2.4"], 100),
            ],
        );
        assert_eq!(
            addresses(&r.select(Family::V4, None, &mut rng())),
            ["192.0.2.3"]
        );
        let two = Rules { answers: 2, ..r };
        assert_eq!(
            addresses(&two.select(Family::V4, None, &mut rng())),
            ["192.0.2.3", "192.0.2.4"]
        );
    }

    #[test]
    fn nearest_prefers_the_client_region_then_spills_by_weight() {
        let r = rules(
            DnsPolicy::Nearest,
            1,
            vec![
                member("us-east", &["192.0.2.1", "2001:db8::1"], 100),
                member("eu-west", &["198.51.100.1"], 20),
                member("ap-south", &["203.0.113.1"], 50),
            ],
        );
        let mut rng = rng();
        assert_eq!(
            addresses(&r.select(Family::V4, Some("eu-west"), &mut rng)),
            ["198.51.100.1"]
        );
        assert_eq!(
            addresses(&r.select(Family::V4, Some("us-east"), &mut rng)),
            ["192.0.2.1"]
        );
        assert_eq!(
            addresses(&r.select(Family::V6, Some("eu-west"), &mut rng)),
            ["2001:db8::1"]
        );
        // Unknown region: heaviest first.
        assert_eq!(
            addresses(&r.select(Family::V4, None, &mut rng)),
            ["192.0.2.1"]
        );
        // The client's region down: spill to the heaviest healthy other region.
        let mut members = r.members;
        members[1] = down(member("eu-west", &["198.51.100.1"], 20));
        members[0] = down(member("us-east", &["192.0.2.1"], 100));
        let r = rules(DnsPolicy::Nearest, 3, members);
        let selection = r.select(Family::V4, Some("eu-west"), &mut rng);
        assert_eq!(addresses(&selection), ["203.0.113.1"]);
        assert!(
            matches!(selection, Selection::Addresses { ref region, all_down: false, .. } if &**region == "ap-south")
        );
    }

    #[test]
    fn weighted_splits_by_weight_and_skips_weight_zero() {
        let r = rules(
            DnsPolicy::Weighted,
            1,
            vec![
                member("a", &["192.0.2.1"], 75),
                member("b", &["192.0.2.2"], 25),
                member("c", &["192.0.2.3"], 0),
            ],
        );
        let mut rng = rng();
        let mut counts: HashMap<String, u32> = HashMap::new();
        for _ in 0..10_000 {
            let first = addresses(&r.select(Family::V4, None, &mut rng)).remove(0);
            *counts.entry(first).or_default() += 1;
        }
        let a = counts.get("192.0.2.1").copied().unwrap_or(0);
        assert!((7_200..=7_800).contains(&a), "{counts:?}");
        assert!(!counts.contains_key("192.0.2.3"), "{counts:?}");
        // Two answers: both weighted members, never the drained one.
        let two = Rules { answers: 2, ..r };
        let mut both = addresses(&two.select(Family::V4, None, &mut rng));
        both.sort();
        assert_eq!(both, ["192.0.2.1", "192.0.2.2"]);
    }

    #[test]
    fn answers_caps_the_addresses_across_members() {
        let r = rules(
            DnsPolicy::Failover,
            3,
            vec![
                member("a", &["192.0.2.1", "192.0.2.2"], 100),
                member("b", &["192.0.2.3", "192.0.2.4"], 100),
            ],
        );
        assert_eq!(
            addresses(&r.select(Family::V4, None, &mut rng())),
            ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        );
    }

    #[test]
    fn all_down_answers_every_weighted_member_or_servfail() {
        let members = || {
            vec![
                down(member("a", &["192.0.2.1"], 100)),
                down(member("b", &["192.0.2.2"], 0)),
                down(member("c", &["192.0.2.3"], 10)),
            ]
        };
        let all = rules(DnsPolicy::Nearest, 1, members());
        let selection = all.select(Family::V4, Some("a"), &mut rng());
        assert_eq!(addresses(&selection), ["192.0.2.1", "192.0.2.3"]);
        assert!(matches!(
            selection,
            Selection::Addresses { all_down: true, .. }
        ));
        let servfail = Rules {
            all_down: AllDown::ServFail,
            ..rules(DnsPolicy::Nearest, 1, members())
        };
        assert_eq!(
            servfail.select(Family::V4, None, &mut rng()),
            Selection::ServFail
        );
        // Every member drained and down: all of them rather than nothing.
        let drained = rules(
            DnsPolicy::Weighted,
            1,
            vec![
                member("a", &["192.0.2.1"], 0),
                member("b", &["192.0.2.2"], 0),
            ],
        );
        assert_eq!(
            addresses(&drained.select(Family::V4, None, &mut rng())),
            ["192.0.2.1", "192.0.2.2"]
        );
    }

    #[test]
    fn a_family_no_member_has_is_nodata() {
        let r = rules(
            DnsPolicy::Nearest,
            1,
            vec![member("a", &["192.0.2.1"], 100)],
        );
        assert_eq!(r.select(Family::V6, None, &mut rng()), Selection::NoData);
        assert!(!r.changing());
    }
}
