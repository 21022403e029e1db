//! The wait before a retry: exponential with full jitter (a uniform draw below the exponential
//! bound), so retries from many requests spread out instead of arriving together.

use std::time::Duration;

use rand::Rng;

/// The wait before retry number `retry` (1 for the first retry): uniform in
/// `0..=min(max, base × 2^(retry-1))`.
pub fn backoff(retry: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    if base.is_zero() || retry == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(retry - 1).unwrap_or(u32::MAX);
    let bound = base.saturating_mul(factor).min(max);
    bound.mul_f64(rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const BASE: Duration = Duration::from_millis(25);
    const MAX: Duration = Duration::from_millis(250);

    #[test]
    fn the_bound_doubles_per_retry_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(3);
        for (retry, bound) in [(1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (40, 250)] {
            let waits: Vec<Duration> = (0..2_000)
                .map(|_| backoff(retry, BASE, MAX, &mut rng))
                .collect();
            let longest = waits.iter().max().unwrap();
            assert!(
                *longest <= Duration::from_millis(bound),
                "retry {retry}: {longest:?}"
            );
            // Jittered across the whole range, not fixed at the bound.
            assert!(
                *longest > Duration::from_millis(bound) * 9 / 10,
                "retry {retry}: {longest:?}"
            );
            assert!(*waits.iter().min().unwrap() < Duration::from_millis(bound) / 10);
        }
    }

    #[test]
    fn zero_base_or_first_attempt_waits_nothing() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(backoff(3, Duration::ZERO, MAX, &mut rng), Duration::ZERO);
        assert_eq!(backoff(0, BASE, MAX, &mut rng), Duration::ZERO);
    }
}
