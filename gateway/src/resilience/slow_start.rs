//! Slow start: an endpoint or pool that has just come back takes a share of its traffic that
//! ramps linearly from [`FLOOR`] to all of it over the configured window, so a recovering
//! backend is not hit with a full share (and a cold cache) at once. The same ramp starts when a
//! config version puts an endpoint back in service (the top-level `ramp.rs` decides which).

use std::time::Duration;

use rand::Rng;

/// The share a just-recovered endpoint starts with.
pub const FLOOR: f64 = 0.1;

/// The share `since` after coming back, for a ramp of `window` (`0s` = no slow start).
pub fn factor(since: Duration, window: Duration) -> f64 {
    if window.is_zero() || since >= window {
        return 1.0;
    }
    FLOOR + (1.0 - FLOOR) * since.as_secs_f64() / window.as_secs_f64()
}

/// Keep a candidate with probability `factor` (always when it is 1).
pub fn admit(factor: f64, rng: &mut impl Rng) -> bool {
    factor >= 1.0 || rng.random::<f64>() < factor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_linearly_from_the_floor_to_one() {
        let window = Duration::from_secs(10);
        assert_eq!(factor(Duration::ZERO, window), FLOOR);
        assert!((factor(Duration::from_secs(5), window) - 0.55).abs() < 1e-9);
        assert_eq!(factor(Duration::from_secs(10), window), 1.0);
        assert_eq!(factor(Duration::from_secs(99), window), 1.0);
    }

    #[test]
    fn a_zero_window_turns_it_off() {
        assert_eq!(factor(Duration::ZERO, Duration::ZERO), 1.0);
    }
}
