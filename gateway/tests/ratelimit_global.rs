//! Global rate limits end to end: gateway processes sharing buckets through a real Redis, and
//! what they do when that Redis stops, hangs and comes back.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::time::{Duration, Instant};

use redis_support::{RedisServer, shared_redis_url, unique_prefix};
use support::{Gateway, Origins};

/// Upstream `api`, a `[redis]` section and one route per `(path_prefix, policy)`.
fn body(
    origins: &Origins,
    url: &str,
    prefix: &str,
    policies: &str,
    routes: &[(&str, &str)],
) -> String {
    let mut text = format!(
        "[redis]\nurl = \"{url}\"\ntimeout = \"100ms\"\nkey_prefix = \"{prefix}\"\n{policies}\n\
         [upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n",
        origins.endpoints_toml()
    );
    for (path, policy) in routes {
        text.push_str(&format!(
            "[[routes]]\npath_prefix = \"{path}\"\nupstream = \"api\"\nrate_limits = [\"{policy}\"]\n"
        ));
    }
    text
}

/// GETs to `gw` at `rate` per second for `duration`; returns (admitted, sent, first-to-last).
fn paced(
    gw: &Gateway,
    rate: f64,
    duration: Duration,
    headers: &[(&str, &str)],
) -> (u64, u64, Duration) {
    let (mut admitted, mut sent) = (0, 0);
    let elapsed = support::paced(rate, duration, || {
        let status = gw.request("GET", "/", headers).status;
        assert!(matches!(status, 200 | 429), "status {status}");
        admitted += u64::from(status == 200);
        sent += 1;
    });
    (admitted, sent, elapsed)
}

#[test]
fn two_gateways_share_one_limit_through_redis() {
    let origins = Origins::start("us-east", &["a"]);
    let url = shared_redis_url();
    let policy = "[rate_limits.shared]\nkey = \"header:x-api-key\"\nrate = 40\nburst = 40\nscope = \"global\"\n";
    let config = body(
        &origins,
        &url,
        &unique_prefix("two-gateways"),
        policy,
        &[("/", "shared")],
    );
    let (gw1, gw2) = (Gateway::start(&config), Gateway::start(&config));
    let key = [("x-api-key", "tenant-1")];
    // Together at three times the limit, half through each gateway.
    let ((a1, s1, e1), (a2, s2, e2)) = std::thread::scope(|s| {
        let one = s.spawn(|| paced(&gw1, 60.0, Duration::from_secs(5), &key));
        let two = s.spawn(|| paced(&gw2, 60.0, Duration::from_secs(5), &key));
        (one.join().unwrap(), two.join().unwrap())
    });
    let elapsed = e1.max(e2).as_secs_f64();
    let expected = 40.0 + 40.0 * elapsed;
    let admitted = (a1 + a2) as f64;
    assert!(
        (admitted - expected).abs() <= expected * 0.05,
        "admitted {admitted} ({a1} + {a2} of {s1} + {s2}), expected {expected:.0} ±5%"
    );
    // Each gateway alone would have admitted far more than its share.
    assert!(
        a1 > 0 && a2 > 0,
        "one gateway admitted nothing: {a1} + {a2}"
    );
    for gw in [&gw1, &gw2] {
        assert_eq!(
            gw.metric(
                "weir_ratelimit_decisions_total",
                &["decision=\"store_error\""]
            ),
            0.0,
            "{}",
            gw.logs()
        );
        assert!(
            gw.metric(
                "weir_ratelimit_redis_duration_seconds_count",
                &["outcome=\"ok\""]
            ) > 0.0
        );
    }
}

#[test]
fn without_redis_each_policy_follows_on_store_error_and_recovers_by_itself() {
    let origins = Origins::start("us-east", &["a"]);
    let mut redis = RedisServer::start();
    let policies = r#"
[rate_limits.deny]
key = "header:x-k"
rate = 1000
scope = "global"
on_store_error = "deny"
[rate_limits.allow]
key = "header:x-k"
rate = 1
per = "1m"
burst = 1
scope = "global"
on_store_error = "allow"
[rate_limits.local]
key = "header:x-k"
rate = 1
per = "1m"
burst = 3
scope = "global"
on_store_error = "local"
"#;
    let gw = Gateway::start(&body(
        &origins,
        &redis.url(),
        &unique_prefix("store-error"),
        policies,
        &[("/deny", "deny"), ("/allow", "allow"), ("/local", "local")],
    ));
    let key = [("x-k", "k")];
    let status = |path: &str| gw.request("GET", path, &key).status;
    let burst = |path: &str| (0..4).map(|_| status(path)).collect::<Vec<_>>();

    // Redis up: global buckets.
    assert_eq!(status("/deny"), 200);
    assert_eq!(burst("/allow"), [200, 429, 429, 429]);
    assert_eq!(burst("/local"), [200, 200, 200, 429]);

    // Redis gone.
    redis.kill();
    let denied = gw.request("GET", "/deny", &key);
    assert_eq!(denied.status, 503, "{denied:?}");
    assert_eq!(denied.header("retry-after"), Some("1"));
    assert_eq!(
        denied.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(burst("/allow"), [200, 200, 200, 200]);
    // A fresh local bucket with the same quota.
    assert_eq!(burst("/local"), [200, 200, 200, 429]);
    for (policy, action) in [
        ("deny", "denied"),
        ("allow", "allowed"),
        ("local", "local_admitted"),
        ("local", "local_limited"),
    ] {
        let labels = [
            format!("policy=\"{policy}\""),
            format!("action=\"{action}\""),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert!(
            gw.metric("weir_ratelimit_store_fallbacks_total", &labels) > 0.0,
            "{policy}/{action}"
        );
    }
    assert!(
        gw.metric(
            "weir_ratelimit_decisions_total",
            &["decision=\"store_error\""]
        ) >= 9.0
    );

    // Redis back (empty): the gateway returns to it without being told.
    redis.restart();
    assert!(
        gw.eventually(Duration::from_secs(5), || status("/deny") == 200),
        "still denied after Redis came back:\n{}",
        gw.logs()
    );
    // The local fallback bucket of "k" is spent for a minute; admissions now come from Redis.
    assert_eq!(burst("/local"), [200, 200, 200, 429]);
    assert_eq!(burst("/allow"), [200, 429, 429, 429]);
}

#[test]
fn a_hung_redis_costs_a_request_at_most_the_timeout() {
    let origins = Origins::start("us-east", &["a"]);
    let redis = RedisServer::start();
    let policy = "[rate_limits.allow]\nkey = \"header:x-k\"\nrate = 100\nscope = \"global\"\non_store_error = \"allow\"\n";
    let gw = Gateway::start(&body(
        &origins,
        &redis.url(),
        &unique_prefix("hung"),
        policy,
        &[("/", "allow")],
    ));
    assert_eq!(gw.get("/").status, 200);
    redis.pause();
    let started = Instant::now();
    let statuses: Vec<u16> = (0..20).map(|_| gw.get("/").status).collect();
    let took = started.elapsed();
    redis.resume();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // The timeout is 100 ms; after the first failure the store backs off and answers at once.
    // Generous bound: nothing waits for the hung server itself.
    assert!(took < Duration::from_secs(5), "20 requests took {took:?}");
    assert!(
        gw.metric(
            "weir_ratelimit_redis_duration_seconds_count",
            &["outcome=\"timeout\""]
        ) >= 1.0
    );
}
