//! What one pool did over an interval, from two readings of the cumulative series the request
//! path already keeps (attempts answered, with their latency histogram; connect failures; failed
//! answers; broken exchanges): the counts by difference, and p50/p99 interpolated in the
//! histogram's buckets. Pure arithmetic, no clock and no metrics registry.

/// One reading of a pool's cumulative series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Attempts that got a response header (`weir_upstream_duration_seconds` count).
    pub answered: u64,
    /// `weir_upstream_connect_failures_total` (TLS handshakes included).
    pub connect_failures: u64,
    /// `weir_upstream_failures_total{kind="status_5xx"}`.
    pub status_5xx: u64,
    /// `weir_upstream_failures_total{kind="exchange"}`.
    pub exchange_failures: u64,
    /// The latency histogram's buckets: (upper bound in seconds, cumulative count), ascending;
    /// the `+Inf` bucket is `answered`.
    pub buckets: Vec<(f64, u64)>,
}

/// A pool's interval: what [`weir_protocol::PoolTelemetry`] carries besides health.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Attempts answered or failed.
    pub requests: u64,
    pub status_5xx: u64,
    pub transport_errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// `now - before` of a counter; a counter that went back (its series was removed and made
/// again, e.g. the pool left the config and came back) restarted from 0.
fn delta(before: u64, now: u64) -> u64 {
    if now >= before { now - before } else { now }
}

/// The interval between `before` (`None`: the pool is new, its series count from 0) and `now`.
/// The series are read one after another, not at one instant, so a failure counted between two
/// reads could show more failed answers than answers: they are capped at the answers.
pub fn interval(before: Option<&Reading>, now: &Reading) -> Interval {
    let zero = Reading::default();
    let before = before.unwrap_or(&zero);
    let answered = delta(before.answered, now.answered);
    let transport_errors = delta(before.connect_failures, now.connect_failures)
        + delta(before.exchange_failures, now.exchange_failures);
    let status_5xx = delta(before.status_5xx, now.status_5xx).min(answered);
    // Bucket deltas, cumulative; with a reset (or new bounds), the readings are not comparable.
    let comparable = now.answered >= before.answered
        && before.buckets.len() == now.buckets.len()
        && before
            .buckets
            .iter()
            .zip(&now.buckets)
            .all(|(b, n)| b.0 == n.0 && n.1 >= b.1);
    let buckets: Vec<(f64, u64)> = if comparable {
        now.buckets
            .iter()
            .zip(&before.buckets)
            .map(|(n, b)| (n.0, n.1 - b.1))
            .collect()
    } else {
        now.buckets.clone()
    };
    let total = if comparable { answered } else { now.answered };
    Interval {
        requests: answered + transport_errors,
        status_5xx,
        transport_errors,
        p50_ms: quantile(&buckets, total, 0.5).map(|s| s * 1e3),
        p99_ms: quantile(&buckets, total, 0.99).map(|s| s * 1e3),
    }
}

/// The `q` quantile (0..=1) of `total` observations in cumulative `buckets` (upper bound,
/// count at or below it), in the buckets' unit: linear interpolation inside the bucket that holds
/// the rank, as Prometheus's `histogram_quantile` does (the first bucket starts at 0; a rank past
/// the last finite bound is that bound). `None` without observations.
pub fn quantile(buckets: &[(f64, u64)], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, cumulative) in buckets {
        if cumulative as f64 >= rank && cumulative > lower.1 {
            let share = (rank - lower.1 as f64) / (cumulative - lower.1) as f64;
            return Some(lower.0 + (bound - lower.0) * share.clamp(0.0, 1.0));
        }
        lower = (bound, cumulative);
    }
    // In the +Inf bucket: nothing better is known than the last finite bound.
    buckets.last().map(|&(bound, _)| bound).or(Some(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: [f64; 4] = [0.001, 0.01, 0.1, 1.0];

    fn reading(answered: u64, per_bucket: [u64; 4], failures: (u64, u64, u64)) -> Reading {
        let mut cumulative = 0;
        let buckets = BOUNDS
            .iter()
            .zip(per_bucket)
            .map(|(&bound, n)| {
                cumulative += n;
                (bound, cumulative)
            })
            .collect();
        Reading {
            answered,
            connect_failures: failures.0,
            status_5xx: failures.1,
            exchange_failures: failures.2,
            buckets,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket_holding_the_rank() {
        // 100 observations: 50 in (0, 1ms], 40 in (1ms, 10ms], 10 in (10ms, 100ms].
        let buckets = [(0.001, 50), (0.01, 90), (0.1, 100), (1.0, 100)];
        assert!(close(quantile(&buckets, 100, 0.5), 0.001));
        // Rank 25 is half-way through the first bucket, from 0.
        assert!(close(quantile(&buckets, 100, 0.25), 0.0005));
        // Rank 70: 20 of the second bucket's 40, half-way from 1ms to 10ms.
        assert!(close(quantile(&buckets, 100, 0.7), 0.0055));
        // Rank 99: 9 of the third bucket's 10.
        assert!(close(quantile(&buckets, 100, 0.99), 0.01 + 0.09 * 0.9));
        assert_eq!(quantile(&buckets, 0, 0.5), None);
        // Past the last finite bound (observations only in +Inf): that bound.
        assert!(close(quantile(&buckets, 200, 0.99), 1.0));
    }

    #[test]
    fn an_interval_is_the_difference_of_two_readings() {
        let before = reading(100, [100, 0, 0, 0], (1, 2, 3));
        // Then 10 more answers, all between 10ms and 100ms, 4 of them failed; 2 connect
        // failures and 1 broken exchange.
        let now = reading(110, [100, 0, 10, 0], (3, 6, 4));
        let interval = interval(Some(&before), &now);
        assert_eq!(interval.requests, 10 + 2 + 1);
        assert_eq!(interval.status_5xx, 4);
        assert_eq!(interval.transport_errors, 3);
        // Only this interval's answers count: the median is in (10ms, 100ms], not under 1ms.
        assert!(close(interval.p50_ms, 10.0 + 90.0 * 0.5));
        assert!(close(interval.p99_ms, 10.0 + 90.0 * 0.99));
    }

    #[test]
    fn an_idle_pool_has_no_latency_and_a_new_pool_counts_from_zero() {
        let now = reading(5, [5, 0, 0, 0], (0, 5, 0));
        let idle = interval(Some(&now), &now);
        assert_eq!((idle.requests, idle.p50_ms, idle.p99_ms), (0, None, None));
        let new = interval(None, &now);
        assert_eq!((new.requests, new.status_5xx), (5, 5));
        assert!(close(new.p50_ms, 0.5));
    }

    #[test]
    fn a_reset_series_counts_from_zero_and_failures_never_exceed_answers() {
        let before = reading(1000, [1000, 0, 0, 0], (50, 50, 50));
        let now = reading(10, [0, 10, 0, 0], (1, 2, 0));
        let reset = interval(Some(&before), &now);
        assert_eq!(reset.requests, 10 + 1);
        assert_eq!(reset.status_5xx, 2);
        assert!(close(reset.p50_ms, 1.0 + 9.0 * 0.5));
        // A failed answer read before its answer was: capped at the answers.
        let racing = interval(
            Some(&reading(10, [10, 0, 0, 0], (0, 0, 0))),
            &reading(11, [11, 0, 0, 0], (0, 3, 0)),
        );
        assert_eq!((racing.requests, racing.status_5xx), (1, 1));
    }
}
