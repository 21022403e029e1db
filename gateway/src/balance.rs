//! Region and endpoint selection: pick a pool by region policy, health and weight (spilling to
//! other regions, or panic mode when no pool is healthy), then an endpoint in it by
//! power-of-two-choices on peak-EWMA latency × (in-flight + 1). Endpoints whose circuit breaker
//! is open are never candidates, nor are endpoints an operator drained (`pools[].drained`: not
//! even in panic mode, as an operator's decision beats a policy's; requests already on them
//! finish), and endpoints and pools in slow start take a reduced share.
//! Pure: time and randomness are passed in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use weir_config::RegionPolicy;

use crate::endpoint::EndpointState;
use crate::resilience::slow_start;
use crate::runtime::{PoolRuntime, UpstreamRuntime};

/// Why a pool was chosen; recorded in metrics and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickMode {
    /// The normal choice: the gateway's own region (`nearest`) or a weighted split.
    Normal,
    /// `nearest` sent the request away from the gateway's own region.
    Spill,
    /// No pool was healthy: every endpoint was a candidate, health ignored.
    Panic,
}

impl PickMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PickMode::Normal => "normal",
            PickMode::Spill => "spill",
            PickMode::Panic => "panic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub pool: usize,
    pub endpoint: usize,
    pub mode: PickMode,
}

/// Choose an endpoint of `upstream` for a new attempt, never one in `tried`. `None` when every
/// endpoint has been tried.
pub fn pick(
    upstream: &UpstreamRuntime,
    tried: &[Arc<EndpointState>],
    now: Instant,
    rng: &mut impl Rng,
) -> Option<Pick> {
    // An open breaker keeps an endpoint out even in panic mode: it has just proven it fails.
    let untried = |e: &Arc<EndpointState>| {
        !tried.iter().any(|t| Arc::ptr_eq(t, e)) && e.breaker.is_selectable(&upstream.breaker, now)
    };
    let ready = |e: &Arc<EndpointState>| e.is_available(now) && untried(e);
    let ramp = upstream.slow_start;
    let pool_ready = |p: &PoolRuntime| {
        p.is_healthy(upstream.min_healthy_fraction, now)
            && p.endpoints.iter().any(|e| ready(e) && !p.is_drained(e))
    };
    let pools = &upstream.pools;

    let normal = match upstream.policy {
        RegionPolicy::Nearest => match pools.iter().position(|p| p.is_local) {
            // A local pool in slow start keeps only its ramped share; the rest spills.
            Some(local)
                if pool_ready(&pools[local])
                    && slow_start::admit(pools[local].slow_start_factor(now, ramp), rng) =>
            {
                Some((local, PickMode::Normal))
            }
            local => {
                let mode = if local.is_some() {
                    PickMode::Spill
                } else {
                    PickMode::Normal
                };
                choose_pool(
                    pools,
                    |p| !p.is_local && pool_ready(p),
                    true,
                    ramp,
                    now,
                    rng,
                )
                .map(|i| (i, mode))
                .or_else(|| {
                    // Nowhere to spill the share a ramping local pool declined.
                    local
                        .filter(|&l| pool_ready(&pools[l]))
                        .map(|l| (l, PickMode::Normal))
                })
            }
        },
        RegionPolicy::Weighted => {
            choose_pool(pools, pool_ready, false, ramp, now, rng).map(|i| (i, PickMode::Normal))
        }
    };
    if let Some((pool, mode)) = normal {
        let endpoint = power_of_two(&pools[pool], ready, ramp, now, rng)?;
        return Some(Pick {
            pool,
            endpoint,
            mode,
        });
    }

    let any_pool_healthy = pools
        .iter()
        .any(|p| p.is_healthy(upstream.min_healthy_fraction, now));
    if any_pool_healthy {
        // Healthy pools exist but retries used up their endpoints: any available one will do.
        let pool = choose_pool(
            pools,
            |p| p.weight > 0 && p.endpoints.iter().any(|e| ready(e) && !p.is_drained(e)),
            false,
            ramp,
            now,
            rng,
        )?;
        let endpoint = power_of_two(&pools[pool], ready, ramp, now, rng)?;
        return Some(Pick {
            pool,
            endpoint,
            mode: PickMode::Spill,
        });
    }

    // Panic mode (as Envoy): with no healthy pool, trust nobody's health and use every endpoint
    // rather than fail every request.
    let pool = choose_pool(
        pools,
        |p| p.weight > 0 && p.endpoints.iter().any(|e| untried(e) && !p.is_drained(e)),
        false,
        Duration::ZERO,
        now,
        rng,
    )?;
    let endpoint = power_of_two(&pools[pool], untried, Duration::ZERO, now, rng)?;
    Some(Pick {
        pool,
        endpoint,
        mode: PickMode::Panic,
    })
}

/// Weighted random choice among the pools that pass `eligible`. With `prefer_fast`, and when
/// every candidate has a latency estimate, a pool's weight is divided by its latency. A pool in
/// slow start (`ramp`) counts with its ramped share of its weight.
fn choose_pool(
    pools: &[PoolRuntime],
    eligible: impl Fn(&PoolRuntime) -> bool,
    prefer_fast: bool,
    ramp: Duration,
    now: Instant,
    rng: &mut impl Rng,
) -> Option<usize> {
    // One pass, each pool judged once: draw by plain weight and, while every candidate so far
    // has a latency estimate, by weight ÷ latency too; use the latter only if all had one.
    let mut by_weight = WeightedDraw::default();
    let mut by_speed = WeightedDraw::default();
    let mut all_timed = prefer_fast;
    for (i, pool) in pools.iter().enumerate().filter(|(_, p)| eligible(p)) {
        let weight = f64::from(pool.weight) * pool.slow_start_factor(now, ramp);
        by_weight.offer(i, weight, rng);
        if all_timed {
            match pool.latency(now) {
                Some(l) => by_speed.offer(i, weight / l.as_secs_f64().max(1e-6), rng),
                None => all_timed = false,
            }
        }
    }
    if all_timed {
        by_speed.chosen
    } else {
        by_weight.chosen
    }
}

/// Weighted random choice over a stream: after all offers, each was chosen with probability
/// weight ÷ total weight, without storing the candidates.
#[derive(Default)]
struct WeightedDraw {
    total: f64,
    chosen: Option<usize>,
}

impl WeightedDraw {
    fn offer(&mut self, index: usize, weight: f64, rng: &mut impl Rng) {
        if weight <= 0.0 {
            return;
        }
        self.total += weight;
        if rng.random::<f64>() * self.total < weight {
            self.chosen = Some(index);
        }
    }
}

/// Loads closer than this share of the larger one count as equal.
const LOAD_TOLERANCE: f64 = 0.2;

/// Power of two choices among the pool's endpoints that pass `eligible` and are not drained: two
/// distinct random candidates, keep the one with the lower load.
/// Loads within [`LOAD_TOLERANCE`] count as equal and the (random) first candidate wins, so
/// jitter between equally fast endpoints does not pin traffic to one of them. A winner in slow
/// start keeps the request only with its ramped probability; otherwise the other candidate
/// takes it.
fn power_of_two(
    pool: &PoolRuntime,
    eligible: impl Fn(&Arc<EndpointState>) -> bool,
    ramp: Duration,
    now: Instant,
    rng: &mut impl Rng,
) -> Option<usize> {
    let endpoints = &pool.endpoints;
    let eligible = |e: &Arc<EndpointState>| eligible(e) && !pool.is_drained(e);
    let (a, b) = match draw_two(endpoints.len(), |i| eligible(&endpoints[i]), rng)? {
        (a, None) => return Some(a),
        (a, Some(b)) => (a, b),
    };
    let (load_a, load_b) = (endpoints[a].load(now), endpoints[b].load(now));
    let (winner, other) = if load_b < load_a * (1.0 - LOAD_TOLERANCE) {
        (b, a)
    } else {
        (a, b)
    };
    if slow_start::admit(endpoints[winner].slow_start_factor(now, ramp), rng) {
        Some(winner)
    } else {
        Some(other)
    }
}

/// Random draws before [`draw_two`] falls back to counting the eligible indices.
const DRAW_TRIES: usize = 8;

/// Two distinct indices below `len` that pass `eligible`, each uniformly random among them (the
/// second among the rest); `(a, None)` when only `a` passes, `None` when none does.
/// Draws indices at random and keeps the first that pass, so when most pass it costs a few
/// checks whatever `len` is; after [`DRAW_TRIES`] misses it counts the eligible ones and draws
/// among them. Both ways give every eligible index the same chance.
fn draw_two<R: Rng>(
    len: usize,
    eligible: impl Fn(usize) -> bool,
    rng: &mut R,
) -> Option<(usize, Option<usize>)> {
    if len == 0 {
        return None;
    }
    let drawn = |skip: Option<usize>, rng: &mut R| {
        (0..DRAW_TRIES)
            .map(|_| rng.random_range(0..len))
            .find(|&i| Some(i) != skip && eligible(i))
    };
    let nth =
        |n: usize, skip: Option<usize>| (0..len).filter(|&i| Some(i) != skip && eligible(i)).nth(n);
    let count = |skip: Option<usize>| (0..len).filter(|&i| Some(i) != skip && eligible(i)).count();
    let a = match drawn(None, rng) {
        Some(a) => a,
        None => match count(None) {
            0 => return None,
            n => nth(rng.random_range(0..n), None)?,
        },
    };
    if len == 1 {
        return Some((a, None));
    }
    let b = match drawn(Some(a), rng) {
        Some(b) => Some(b),
        None => match count(Some(a)) {
            0 => None,
            n => nth(rng.random_range(0..n), Some(a)),
        },
    };
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{EndpointKey, EndpointRegistry, HealthChange};
    use crate::metrics::Metrics;
    use crate::snapshot::compile_text;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn upstream(policy: &str, local: &str, pools: &[(&str, u32, &[u16])]) -> Arc<UpstreamRuntime> {
        upstream_drained(policy, local, pools, &[])
    }

    /// As `upstream`, with the ports in `drained` drained in the first pool.
    fn upstream_drained(
        policy: &str,
        local: &str,
        pools: &[(&str, u32, &[u16])],
        drained: &[u16],
    ) -> Arc<UpstreamRuntime> {
        let mut text = format!(
            "[gateway]\nregion = \"{local}\"\n[upstreams.api]\nregion_policy = \"{policy}\"\n"
        );
        for (region, weight, ports) in pools {
            let eps: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
            text.push_str(&format!(
                "[[upstreams.api.pools]]\nregion = \"{region}\"\nweight = {weight}\nendpoints = [{}]\n",
                eps.join(", ")
            ));
            if text.matches("[[upstreams.api.pools]]").count() == 1 {
                let drained: Vec<String> = drained
                    .iter()
                    .map(|p| format!("\"127.0.0.1:{p}\""))
                    .collect();
                text.push_str(&format!("drained = [{}]\n", drained.join(", ")));
            }
        }
        text.push_str("[[routes]]\nupstream = \"api\"\n");
        let snapshot = compile_text(
            &text,
            1,
            &EndpointRegistry::default(),
            &Metrics::new().unwrap(),
            Instant::now(),
        );
        Arc::clone(&snapshot.upstreams["api"])
    }

    fn region_counts(up: &UpstreamRuntime, n: usize) -> Vec<(String, usize, usize)> {
        let mut rng = StdRng::seed_from_u64(7);
        let now = Instant::now();
        let mut counts: Vec<usize> = vec![0; up.pools.len()];
        let mut panics = 0;
        for _ in 0..n {
            let pick = pick(up, &[], now, &mut rng).expect("a pick");
            counts[pick.pool] += 1;
            panics += usize::from(pick.mode == PickMode::Panic);
        }
        up.pools
            .iter()
            .zip(counts)
            .map(|(p, c)| (p.region.to_string(), c, panics))
            .collect()
    }

    #[test]
    fn nearest_keeps_traffic_local_while_healthy() {
        let up = upstream(
            "nearest",
            "us-east",
            &[("us-east", 100, &[1, 2]), ("eu-west", 100, &[3])],
        );
        let counts = region_counts(&up, 1000);
        assert_eq!(counts[0].1, 1000);
    }

    #[test]
    fn nearest_spills_when_local_pool_is_below_its_healthy_fraction() {
        let up = upstream(
            "nearest",
            "us-east",
            &[
                ("us-east", 100, &[1, 2, 3]),
                ("eu-west", 100, &[4]),
                ("ap-south", 100, &[5]),
            ],
        );
        up.pools[0].endpoints[0].mark_down();
        up.pools[0].endpoints[1].mark_down();
        let mut rng = StdRng::seed_from_u64(1);
        let pick = pick(&up, &[], Instant::now(), &mut rng).unwrap();
        assert_ne!(pick.pool, 0);
        assert_eq!(pick.mode, PickMode::Spill);
        let counts = region_counts(&up, 2000);
        assert_eq!(counts[0].1, 0);
        assert!(counts[1].1 > 800 && counts[2].1 > 800, "{counts:?}");
    }

    #[test]
    fn nearest_spills_when_local_weight_is_zero() {
        let up = upstream(
            "nearest",
            "us-east",
            &[("us-east", 0, &[1]), ("eu-west", 100, &[3])],
        );
        let counts = region_counts(&up, 100);
        assert_eq!(counts[1].1, 100);
    }

    #[test]
    fn spill_prefers_the_faster_region() {
        let up = upstream(
            "nearest",
            "us-east",
            &[
                ("us-east", 0, &[1]),
                ("eu-west", 100, &[2]),
                ("ap-south", 100, &[3]),
            ],
        );
        let now = Instant::now();
        up.pools[1].endpoints[0].observe_latency(Duration::from_millis(10), now);
        up.pools[2].endpoints[0].observe_latency(Duration::from_millis(90), now);
        let counts = region_counts(&up, 2000);
        assert!(counts[1].1 > 1600, "{counts:?}");
    }

    #[test]
    fn weighted_splits_by_weight() {
        let up = upstream(
            "weighted",
            "us-east",
            &[("us-east", 75, &[1, 2]), ("eu-west", 25, &[3])],
        );
        let counts = region_counts(&up, 4000);
        let share = counts[0].1 as f64 / 4000.0;
        assert!((share - 0.75).abs() < 0.03, "{counts:?}");
    }

    #[test]
    fn panic_mode_uses_every_endpoint_when_no_pool_is_healthy() {
        let up = upstream(
            "nearest",
            "us-east",
            &[("us-east", 100, &[1]), ("eu-west", 100, &[2])],
        );
        up.pools[0].endpoints[0].mark_down();
        up.pools[1].endpoints[0].mark_down();
        let counts = region_counts(&up, 1000);
        assert_eq!(counts[0].2, 1000, "every pick is a panic pick");
        assert!(counts[0].1 > 300 && counts[1].1 > 300, "{counts:?}");
    }

    #[test]
    fn retries_skip_tried_endpoints_then_leave_the_region() {
        let up = upstream(
            "nearest",
            "us-east",
            &[("us-east", 100, &[1, 2]), ("eu-west", 100, &[3])],
        );
        let mut rng = StdRng::seed_from_u64(3);
        let now = Instant::now();
        let first = pick(&up, &[], now, &mut rng).unwrap();
        let tried = vec![Arc::clone(&up.pools[0].endpoints[first.endpoint])];
        let second = pick(&up, &tried, now, &mut rng).unwrap();
        assert_eq!(second.pool, 0);
        assert_ne!(second.endpoint, first.endpoint);
        let tried = up.pools[0].endpoints.clone();
        let third = pick(&up, &tried, now, &mut rng).unwrap();
        assert_eq!(third.pool, 1);
        let all: Vec<_> = up.pools.iter().flat_map(|p| p.endpoints.clone()).collect();
        assert_eq!(pick(&up, &all, now, &mut rng), None);
    }

    #[test]
    fn p2c_avoids_the_slow_endpoint() {
        let up = upstream("nearest", "r", &[("r", 100, &[1, 2, 3])]);
        let now = Instant::now();
        for (i, ms) in [(0, 1), (1, 1), (2, 100)] {
            up.pools[0].endpoints[i].observe_latency(Duration::from_millis(ms), now);
        }
        let mut rng = StdRng::seed_from_u64(5);
        let slow = (0..3000)
            .filter(|_| pick(&up, &[], now, &mut rng).unwrap().endpoint == 2)
            .count();
        assert_eq!(slow, 0, "with two choices the slow endpoint always loses");
    }

    #[test]
    fn p2c_treats_loads_within_noise_as_equal() {
        let up = upstream("nearest", "r", &[("r", 100, &[1, 2])]);
        let now = Instant::now();
        up.pools[0].endpoints[0].observe_latency(Duration::from_micros(1300), now);
        up.pools[0].endpoints[1].observe_latency(Duration::from_micros(1200), now);
        let mut rng = StdRng::seed_from_u64(11);
        let first = (0..1000)
            .filter(|_| pick(&up, &[], now, &mut rng).unwrap().endpoint == 0)
            .count();
        assert!((400..=600).contains(&first), "{first} of 1000");
    }

    #[test]
    fn p2c_counts_in_flight_requests() {
        let up = upstream("nearest", "r", &[("r", 100, &[1, 2])]);
        let now = Instant::now();
        let busy = &up.pools[0].endpoints[0];
        let _guards: Vec<_> = (0..5).map(|_| busy.start_request()).collect();
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..100 {
            assert_eq!(pick(&up, &[], now, &mut rng).unwrap().endpoint, 1);
        }
    }

    #[test]
    fn a_drained_endpoint_gets_no_new_requests() {
        let up = upstream_drained(
            "nearest",
            "us-east",
            &[("us-east", 100, &[1, 2]), ("eu-west", 100, &[3])],
            &[1],
        );
        let mut rng = StdRng::seed_from_u64(13);
        let now = Instant::now();
        for _ in 0..500 {
            let pick = pick(&up, &[], now, &mut rng).unwrap();
            assert_eq!((pick.pool, pick.endpoint), (0, 1), "{pick:?}");
        }
        // Not even when retries used up the others, nor in panic mode.
        let tried = vec![Arc::clone(&up.pools[0].endpoints[1])];
        assert_eq!(pick(&up, &tried, now, &mut rng).unwrap().pool, 1);
        up.pools[0].endpoints[1].mark_down();
        up.pools[1].endpoints[0].mark_down();
        for _ in 0..200 {
            let pick = pick(&up, &[], now, &mut rng).unwrap();
            assert_eq!(pick.mode, PickMode::Panic);
            assert_ne!((pick.pool, pick.endpoint), (0, 0));
        }
    }

    #[test]
    fn a_pool_with_every_endpoint_drained_spills() {
        let up = upstream_drained(
            "nearest",
            "us-east",
            &[("us-east", 100, &[1, 2]), ("eu-west", 100, &[3])],
            &[1, 2],
        );
        let counts = region_counts(&up, 200);
        assert_eq!((counts[0].1, counts[1].1), (0, 200));
    }

    /// The pool's census is reused between picks, but never past a change of state or the end
    /// of an ejection.
    #[test]
    fn the_pool_census_follows_every_change() {
        let up = upstream("nearest", "r", &[("r", 100, &[1, 2, 3])]);
        let pool = &up.pools[0];
        let now = Instant::now();
        let window = Duration::from_secs(30);
        assert_eq!(
            (pool.available(now), pool.slow_start_factor(now, window)),
            (3, 1.0)
        );
        pool.endpoints[0].mark_down();
        assert_eq!(pool.available(now), 2);
        pool.endpoints[1].eject(now, Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(pool.available(now), 1);
        assert!(!pool.is_healthy(0.5, now));
        // The ejection is over: back, and ramping up from it.
        let later = now + Duration::from_secs(11);
        assert_eq!(pool.available(later), 2);
        let mean = (pool.endpoints[1].slow_start_factor(later, window) + 1.0) / 2.0;
        assert!(pool.slow_start_factor(later, window) < 1.0);
        assert_eq!(pool.slow_start_factor(later, window), mean);
        let ramped = later + window;
        assert_eq!(pool.slow_start_factor(ramped, window), 1.0);
        assert_eq!(
            pool.endpoints[0].record_check(true, 1, 1),
            Some(HealthChange::BecameHealthy)
        );
        assert_eq!(pool.available(ramped), 3);
    }

    #[test]
    fn draw_two_is_uniform_over_the_eligible_and_distinct() {
        let mut rng = StdRng::seed_from_u64(17);
        // Dense (the random draws find them) and sparse (the count fallback) eligible sets.
        for eligible in [vec![0, 1, 2, 3, 5, 6, 7, 8, 9], vec![3, 40]] {
            let ok = |i: usize| eligible.contains(&i);
            let mut firsts = [0usize; 64];
            let mut seconds = [0usize; 64];
            for _ in 0..9_000 {
                let (a, b) = draw_two(64, ok, &mut rng).unwrap();
                let b = b.unwrap();
                assert!(a != b && ok(a) && ok(b), "{a} {b}");
                firsts[a] += 1;
                seconds[b] += 1;
            }
            let expected = 9_000 / eligible.len();
            for &i in &eligible {
                for counts in [&firsts, &seconds] {
                    let n = counts[i];
                    assert!(
                        n.abs_diff(expected) < expected / 5,
                        "{i}: {n} of ~{expected}"
                    );
                }
            }
        }
        assert_eq!(draw_two(64, |i| i == 9, &mut rng), Some((9, None)));
        assert_eq!(draw_two(1, |_| true, &mut rng), Some((0, None)));
        assert_eq!(draw_two(64, |_| false, &mut rng), None);
        assert_eq!(draw_two(0, |_| true, &mut rng), None);
    }

    #[test]
    fn endpoint_key_identity_is_upstream_region_address() {
        let up = upstream("nearest", "r", &[("r", 100, &[1])]);
        let key: &EndpointKey = &up.pools[0].endpoints[0].key;
        assert_eq!(&*key.upstream, "api");
        assert_eq!(&*key.region, "r");
    }
}
