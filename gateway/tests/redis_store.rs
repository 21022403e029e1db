//! The shared GCRA store against a real Redis: burst and refill, all-or-nothing checks over
//! several buckets, key expiry, the rate under overload, and failing fast (and recovering) when
//! Redis dies or hangs. Keys carry a per-test prefix, so tests share one Redis in parallel.

#[path = "support/redis.rs"]
mod redis_support;

use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec};
use redis::AsyncCommands;
use redis_support::{RedisServer, shared_redis_url, unique_prefix};
use weir_config::RedisSettings;
use weir_gateway::ratelimit::store::{
    BucketState, GlobalBucket, GlobalVerdict, RedisStore, StoreError,
};

const SECOND: Duration = Duration::from_secs(1);

/// Settings for `url` with a timeout generous enough for a loaded test machine.
fn settings(url: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_string(),
        timeout: SECOND,
        pool_size: 2,
        key_prefix: "weir".to_string(),
    }
}

fn latency_histogram() -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new("weir_test_redis_seconds", "test"),
        &["outcome"],
    )
    .expect("histogram")
}

fn store(settings: &RedisSettings) -> RedisStore {
    RedisStore::new(settings, latency_histogram()).expect("store")
}

fn bucket(key: &str, interval: Duration, burst: u32) -> GlobalBucket<'_> {
    GlobalBucket {
        key,
        interval,
        burst,
    }
}

/// A plain connection for looking at keys behind the store's back.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis")
}

fn admitted(verdict: Result<GlobalVerdict, StoreError>) -> Vec<BucketState> {
    match verdict {
        Ok(GlobalVerdict::Admitted(states)) => states,
        other => panic!("expected Admitted, got {other:?}"),
    }
}

/// Calls `check` every 20 ms until it succeeds, for at most `limit`; returns how long it took.
async fn until_ok(store: &RedisStore, buckets: &[GlobalBucket<'_>], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match store.check(buckets).await {
            Ok(_) => return start.elapsed(),
            Err(err) if start.elapsed() < limit => {
                eprintln!("not yet ({:?}): {err}", start.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("no success within {limit:?}; last error: {err}"),
        }
    }
}

#[tokio::test]
async fn a_full_bucket_admits_its_burst_then_limits() {
    let key = unique_prefix("burst");
    let store = store(&settings(&shared_redis_url()));
    let buckets = [bucket(&key, SECOND, 5)];

    let mut remaining = Vec::new();
    for n in 1..=5u32 {
        let [state] = admitted(store.check(&buckets).await)[..] else {
            panic!("one state per bucket")
        };
        remaining.push(state.remaining);
        // Full again after n intervals, less the little time that passed since the first check.
        assert!(
            state.reset <= SECOND * n && state.reset > SECOND * n - SECOND / 2,
            "reset after {n}: {:?}",
            state.reset
        );
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);

    match store.check(&buckets).await {
        Ok(GlobalVerdict::Limited {
            index,
            retry_after,
            state,
        }) => {
            assert_eq!(index, 0);
            assert!(
                retry_after > Duration::ZERO && retry_after <= SECOND,
                "{retry_after:?}"
            );
            assert_eq!(state.remaining, 0);
            assert!(
                state.reset <= 5 * SECOND && state.reset > 4 * SECOND,
                "{:?}",
                state.reset
            );
        }
        other => panic!("expected Limited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_check_changes_no_bucket() {
    let url = shared_redis_url();
    let prefix = unique_prefix("atomic");
    let (wide, narrow) = (format!("{prefix}:wide"), format!("{prefix}:narrow"));
    let store = store(&settings(&url));
    let both = [bucket(&wide, SECOND, 5), bucket(&narrow, SECOND, 1)];

    let states = admitted(store.check(&both).await);
    assert_eq!(
        states.iter().map(|s| s.remaining).collect::<Vec<_>>(),
        [4, 0]
    );
    let mut conn = raw(&url).await;
    let wide_tat: String = conn.get(&wide).await.expect("GET wide");

    // `narrow` is empty: the check is refused, naming it, and `wide` is left as it was.
    match store.check(&both).await {
        Ok(GlobalVerdict::Limited { index: 1, .. }) => {}
        other => panic!("expected Limited at index 1, got {other:?}"),
    }
    let after: String = conn.get(&wide).await.expect("GET wide");
    assert_eq!(after, wide_tat);
    let [state] = admitted(store.check(&[bucket(&wide, SECOND, 5)]).await)[..] else {
        panic!("one state")
    };
    assert_eq!(
        state.remaining, 3,
        "only the admitted checks took from `wide`"
    );
}

#[tokio::test]
async fn a_raised_rate_applies_to_a_bucket_in_debt() {
    let store = store(&settings(&shared_redis_url()));
    let key = format!("{}:raise", unique_prefix("raise"));
    // One request a minute: the bucket is a minute in debt after one request.
    admitted(store.check(&[bucket(&key, 60 * SECOND, 1)]).await);
    let fast = [bucket(&key, Duration::from_millis(10), 1)];
    // Raised to 100/s: the old debt is cut to the new quota on the first check ...
    match store.check(&fast).await {
        Ok(GlobalVerdict::Limited { retry_after, .. }) => {
            assert!(retry_after <= Duration::from_millis(10), "{retry_after:?}")
        }
        other => panic!("expected Limited, got {other:?}"),
    }
    // ... so one new interval later the client is admitted, not a minute later.
    tokio::time::sleep(Duration::from_millis(30)).await;
    admitted(store.check(&fast).await);
}

#[tokio::test]
async fn an_empty_check_is_admitted_without_redis() {
    // Nothing listens on this port: an empty list must not even try.
    let store = store(&settings("redis://127.0.0.1:1"));
    assert_eq!(store.check(&[]).await, Ok(GlobalVerdict::Admitted(vec![])));
}

#[tokio::test]
async fn a_bucket_full_again_leaves_no_key() {
    let url = shared_redis_url();
    let key = unique_prefix("expiry");
    let store = store(&settings(&url));
    let interval = Duration::from_millis(50);
    let buckets = [bucket(&key, interval, 2)];

    admitted(store.check(&buckets).await);
    admitted(store.check(&buckets).await);
    let mut conn = raw(&url).await;
    let ttl_ms: i64 = conn.pttl(&key).await.expect("PTTL");
    assert!(
        (1..=100).contains(&ttl_ms),
        "expires when full again: {ttl_ms} ms"
    );

    tokio::time::sleep(Duration::from_millis(150)).await;
    let exists: bool = conn.exists(&key).await.expect("EXISTS");
    assert!(!exists, "{key} should have expired");
    // And a missing key is a full bucket.
    let [state] = admitted(store.check(&buckets).await)[..] else {
        panic!("one state")
    };
    assert_eq!(state.remaining, 1);
}

#[tokio::test]
async fn an_overload_is_admitted_at_the_rate_plus_the_burst() {
    const RATE: u32 = 100;
    const BURST: u32 = 10;
    let key = unique_prefix("rate");
    let store = std::sync::Arc::new(store(&settings(&shared_redis_url())));
    let interval = SECOND / RATE;
    let run_for = 2 * SECOND;

    // Two tasks, each offering 1.5x the rate: 3x in all.
    let start = Instant::now();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (store, key) = (std::sync::Arc::clone(&store), key.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval * 2 / 3);
                let (mut admitted, mut last) = (0u32, Instant::now());
                while start.elapsed() < run_for {
                    ticks.tick().await;
                    last = Instant::now();
                    match store.check(&[bucket(&key, interval, BURST)]).await {
                        Ok(GlobalVerdict::Admitted(_)) => admitted += 1,
                        Ok(GlobalVerdict::Limited { .. }) => {}
                        Err(err) => panic!("store failed: {err}"),
                    }
                }
                (admitted, last)
            })
        })
        .collect();
    let mut total = 0;
    let mut last = start;
    for task in tasks {
        let (admitted, sent) = task.await.expect("task");
        total += admitted;
        last = last.max(sent);
    }
    let elapsed = last - start;
    let expected = f64::from(BURST) + f64::from(RATE) * elapsed.as_secs_f64();
    let error = (f64::from(total) - expected).abs() / expected;
    assert!(
        error <= 0.05,
        "admitted {total} in {elapsed:?}, expected {expected:.0} ± 5%"
    );
}

#[tokio::test]
async fn a_killed_redis_fails_fast_and_is_used_again_after_a_restart() {
    let mut server = RedisServer::start();
    let key = unique_prefix("restart");
    let mut config = settings(&server.url());
    config.timeout = Duration::from_millis(200);
    let store = store(&config);
    let buckets = [bucket(&key, SECOND, 1000)];
    until_ok(&store, &buckets, 5 * SECOND).await;

    server.kill();
    let start = Instant::now();
    let err = store.check(&buckets).await.expect_err("Redis is dead");
    assert!(
        start.elapsed() < config.timeout + SECOND / 2,
        "failed after {:?}: {err}",
        start.elapsed()
    );
    // Backing off: no call, an answer at once.
    let start = Instant::now();
    let err = store.check(&buckets).await.expect_err("backing off");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(20),
        "{:?}",
        start.elapsed()
    );

    // Calls keep failing while it is down (each a refusal or a quick connection error).
    for _ in 0..10 {
        let start = Instant::now();
        assert!(store.check(&buckets).await.is_err());
        assert!(start.elapsed() < config.timeout + SECOND / 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    // A fresh server on the same port, without the script: the same store recovers by itself.
    server.restart();
    let took = until_ok(&store, &buckets, 2 * SECOND).await;
    eprintln!("recovered {took:?} after the restart");
    // The script was loaded again (NOSCRIPT fallback) and keeps working.
    admitted(store.check(&buckets).await);
}

#[tokio::test]
async fn a_hung_redis_times_out_and_is_used_again_when_it_answers() {
    let server = RedisServer::start();
    let key = unique_prefix("hung");
    let mut config = settings(&server.url());
    config.timeout = Duration::from_millis(20);
    let histogram = latency_histogram();
    let store = RedisStore::new(&config, histogram.clone()).expect("store");
    let buckets = [bucket(&key, SECOND, 1000)];
    until_ok(&store, &buckets, 5 * SECOND).await;

    server.pause();
    // Each call gives up at the timeout; three in a row start a backoff, after which calls are
    // refused at once without waiting.
    for _ in 0..3 {
        let start = Instant::now();
        let result = store.check(&buckets).await;
        let took = start.elapsed();
        assert_eq!(result, Err(StoreError::Timeout(config.timeout)));
        assert!(
            took < Duration::from_millis(500),
            "timed out after {took:?}"
        );
    }
    assert!(matches!(
        store.check(&buckets).await,
        Err(StoreError::Unavailable(_))
    ));
    server.resume();

    until_ok(&store, &buckets, 2 * SECOND).await;
    let count = |outcome: &str| histogram.with_label_values(&[outcome]).get_sample_count();
    assert_eq!(count("timeout"), 3);
    assert!(count("ok") >= 2);
}

#[tokio::test]
async fn a_store_starts_while_redis_is_down() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    let key = unique_prefix("cold");
    let store = store(&settings(&url));
    let buckets = [bucket(&key, SECOND, 10)];

    let start = Instant::now();
    let err = store.check(&buckets).await.expect_err("nothing listens");
    assert!(matches!(err, StoreError::Redis(_)), "{err}");
    assert!(
        err.to_string().contains(&server.port().to_string()),
        "{err}"
    );
    assert!(start.elapsed() < SECOND, "{:?}", start.elapsed());

    server.restart();
    until_ok(&store, &buckets, 2 * SECOND).await;
}

#[test]
fn check_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let store = store(&settings("redis://127.0.0.1:1"));
    let buckets = [bucket("k", SECOND, 1)];
    assert_send(&store.check(&buckets));
}

#[test]
fn a_bad_url_or_histogram_is_refused() {
    let err = RedisStore::new(
        &settings("http://user:hunter2@example.invalid"),
        latency_histogram(),
    )
    .expect_err("not a redis url");
    assert!(
        matches!(err, StoreError::InvalidUrl { .. }) && !err.to_string().contains("hunter2"),
        "{err}"
    );

    let wrong_labels =
        HistogramVec::new(HistogramOpts::new("weir_test_x", "x"), &["route"]).expect("histogram");
    let err = RedisStore::new(&settings("redis://127.0.0.1:6379"), wrong_labels)
        .expect_err("the histogram needs the label outcome");
    assert!(matches!(err, StoreError::Histogram(_)), "{err}");
}
