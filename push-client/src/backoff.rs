//! The wait before reconnecting: exponential with full jitter (a uniform draw below the
//! exponential bound), so a fleet that lost its control plane does not reconnect all at once.

use std::time::Duration;

use rand::Rng;

/// The wait after `failures` failed attempts in a row (1 for the first): uniform in
/// `0..=min(max, base × 2^(failures-1))`; nothing after 0 failures.
pub fn reconnect_wait(
    failures: u32,
    base: Duration,
    max: Duration,
    rng: &mut impl Rng,
) -> Duration {
    if base.is_zero() || failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
    let bound = base.saturating_mul(factor).min(max);
    bound.mul_f64(rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const BASE: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn the_bound_doubles_per_failure_is_capped_and_jittered() {
        let mut rng = StdRng::seed_from_u64(7);
        for (failures, bound) in [
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1600),
            (5, 2000),
            (99, 2000),
        ] {
            let waits: Vec<Duration> = (0..2_000)
                .map(|_| reconnect_wait(failures, BASE, MAX, &mut rng))
                .collect();
            let longest = *waits.iter().max().unwrap();
            assert!(
                longest <= Duration::from_millis(bound),
                "{failures}: {longest:?}"
            );
            assert!(
                longest > Duration::from_millis(bound) * 9 / 10,
                "{failures}: {longest:?}"
            );
            assert!(*waits.iter().min().unwrap() < Duration::from_millis(bound) / 10);
        }
        assert_eq!(reconnect_wait(0, BASE, MAX, &mut rng), Duration::ZERO);
        assert_eq!(
            reconnect_wait(3, Duration::ZERO, MAX, &mut rng),
            Duration::ZERO
        );
    }
}
