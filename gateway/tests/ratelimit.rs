//! Local rate limits end to end: real gateway and origin processes on loopback, clients on
//! several loopback addresses.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sfv::{BareItem, ListEntry, Parser};
use support::{Gateway, Origins, Resp, get_from, loopback};

/// One upstream `api` in us-east, `policies` as written, and routes: `(path_prefix, limits)`.
fn body(origins: &Origins, policies: &str, routes: &[(&str, &str)]) -> String {
    let mut text = format!(
        "{policies}\n[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n",
        origins.endpoints_toml()
    );
    for (prefix, limits) in routes {
        text.push_str(&format!(
            "[[routes]]\npath_prefix = \"{prefix}\"\nupstream = \"api\"\nrate_limits = {limits}\n"
        ));
    }
    text
}

/// Counts of one paced client's answers.
#[derive(Debug, Default)]
struct Tally {
    admitted: u64,
    limited: u64,
    other: BTreeMap<u16, u64>,
    /// From the first request sent to the last.
    elapsed: Duration,
    sent: u64,
}

/// Send GETs from `from` at `rate` per second for `duration`, on a fixed schedule.
fn paced_from(
    from: IpAddr,
    to: SocketAddr,
    rate: f64,
    duration: Duration,
    headers: &[(&str, &str)],
) -> Tally {
    let mut tally = Tally::default();
    tally.elapsed = support::paced(rate, duration, || {
        let resp = get_from(from, to, "/", headers);
        tally.sent += 1;
        match resp.status {
            200 => tally.admitted += 1,
            429 => tally.limited += 1,
            code => *tally.other.entry(code).or_default() += 1,
        }
    });
    tally
}

#[test]
fn a_client_at_three_times_its_limit_gets_rate_times_time_plus_burst() {
    let origins = Origins::start("us-east", &["a"]);
    let policy = "[rate_limits.per-client]\nkey = \"client_ip\"\nrate = 50\nburst = 20\n";
    let gw = Gateway::start(&body(&origins, policy, &[("/", "[\"per-client\"]")]));
    let to = gw.proxy;
    // Another client, under its own limit, runs alongside and must not notice.
    let bystander =
        std::thread::spawn(move || paced_from(loopback(3), to, 10.0, Duration::from_secs(10), &[]));
    let heavy = paced_from(loopback(2), to, 150.0, Duration::from_secs(10), &[]);
    let bystander = bystander.join().unwrap();

    let expected = 20.0 + 50.0 * heavy.elapsed.as_secs_f64();
    let admitted = heavy.admitted as f64;
    assert!(
        (admitted - expected).abs() <= expected * 0.02,
        "admitted {admitted}, expected {expected:.0} ±2%: {heavy:?}"
    );
    assert!(
        heavy.sent as f64 >= 2.5 * expected,
        "the client did not reach 3x: {heavy:?}"
    );
    assert!(heavy.other.is_empty(), "{heavy:?}");
    assert_eq!(bystander.admitted, bystander.sent, "{bystander:?}");
    assert_eq!(
        gw.metric(
            "weir_ratelimit_decisions_total",
            &["policy=\"per-client\"", "decision=\"limited\""]
        ),
        heavy.limited as f64
    );
}

/// The members of a Structured Fields list: (string item, its parameters as integers).
fn sf_list(value: &str) -> Vec<(String, BTreeMap<String, i64>)> {
    let list = Parser::parse_list(value.as_bytes())
        .unwrap_or_else(|e| panic!("{value:?} is not a Structured Fields list: {e}"));
    list.into_iter()
        .map(|entry| match entry {
            ListEntry::Item(item) => {
                let BareItem::String(name) = item.bare_item else {
                    panic!("{value:?}: member is not a string")
                };
                let params = item
                    .params
                    .into_iter()
                    .map(|(k, v)| {
                        let n = v
                            .as_int()
                            .unwrap_or_else(|| panic!("{value:?}: {k} not an integer"));
                        (k, n)
                    })
                    .collect();
                (name, params)
            }
            ListEntry::InnerList(_) => panic!("{value:?}: inner list"),
        })
        .collect()
}

fn params(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn limited_answers_carry_retry_after_and_ratelimit_fields_and_waiting_is_enough() {
    let origins = Origins::start("us-east", &["a"]);
    let policies = r#"
[rate_limits.per-key]
key = "header:x-api-key"
rate = 1
per = "2s"
burst = 2
[rate_limits.quiet]
key = "header:x-api-key"
rate = 100
response_headers = false
"#;
    let gw = Gateway::start(&body(
        &origins,
        policies,
        &[("/", "[\"per-key\"]"), ("/quiet", "[\"quiet\"]")],
    ));
    let key = [("x-api-key", "k1")];
    let first = gw.request("GET", "/", &key);
    assert_eq!(first.status, 200);
    // Admitted answers carry the state only; the policy comes with a 429.
    assert_eq!(first.header("ratelimit-policy"), None);
    assert_eq!(
        sf_list(first.header("ratelimit").unwrap()),
        [("per-key".into(), params(&[("r", 1), ("t", 2)]))]
    );
    assert_eq!(gw.request("GET", "/", &key).status, 200);

    let limited = gw.request("GET", "/", &key);
    assert_eq!(limited.status, 429, "{limited:?}");
    let retry_after: u64 = limited
        .header("retry-after")
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        sf_list(limited.header("ratelimit-policy").unwrap()),
        [("per-key".into(), params(&[("q", 1), ("w", 2)]))]
    );
    let state = sf_list(limited.header("ratelimit").unwrap());
    assert_eq!(state[0].0, "per-key");
    assert_eq!(state[0].1["r"], 0);
    assert!(state[0].1["t"] >= 1);
    assert_eq!(
        limited.header("content-type"),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = serde_json::from_str(&limited.body).unwrap();
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["title"], "Too Many Requests");
    assert!(
        problem["detail"].as_str().unwrap().contains("per-key"),
        "{problem}"
    );
    // Another key is not limited, and the refused request cost nothing.
    assert_eq!(gw.request("GET", "/", &[("x-api-key", "k2")]).status, 200);

    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(
        gw.request("GET", "/", &key).status,
        200,
        "waiting Retry-After was not enough"
    );

    // `response_headers = false`: admitted responses say nothing.
    let quiet = gw.request("GET", "/quiet", &key);
    assert_eq!(quiet.status, 200);
    assert_eq!(quiet.header("ratelimit"), None);
    // The log is written off the request thread: the line may land just after the answer.
    assert!(
        gw.eventually(Duration::from_secs(5), || gw
            .access_log()
            .iter()
            .any(|l| l["status"] == 429 && l["rate_limited_by"] == "per-key")),
        "no access-log line names the policy: {:?}",
        gw.access_log()
    );
}

#[test]
fn a_request_refused_by_one_policy_costs_the_others_nothing() {
    let origins = Origins::start("us-east", &["a"]);
    let policies = r#"
[rate_limits.roomy]
key = "header:x-api-key"
rate = 1
per = "1m"
burst = 3
[rate_limits.tight]
key = "header:x-user"
rate = 1
per = "1m"
burst = 1
"#;
    let gw = Gateway::start(&body(
        &origins,
        policies,
        &[("/", "[\"roomy\", \"tight\"]")],
    ));
    assert_eq!(
        gw.request("GET", "/", &[("x-api-key", "k"), ("x-user", "u1")])
            .status,
        200
    );
    // u1 is out of `tight`; these are refused and must not drain `roomy` for k.
    for _ in 0..5 {
        assert_eq!(
            gw.request("GET", "/", &[("x-api-key", "k"), ("x-user", "u1")])
                .status,
            429
        );
    }
    assert_eq!(
        gw.request("GET", "/", &[("x-api-key", "k"), ("x-user", "u2")])
            .status,
        200
    );
    assert_eq!(
        gw.request("GET", "/", &[("x-api-key", "k"), ("x-user", "u3")])
            .status,
        200
    );
    let fourth = gw.request("GET", "/", &[("x-api-key", "k"), ("x-user", "u4")]);
    assert_eq!(fourth.status, 429);
    assert!(fourth.body.contains("roomy"), "{fourth:?}");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let origins = Origins::start("us-east", &["a"]);
    let policies = r#"
[client_ip]
trusted_proxies = ["127.0.0.1"]
[rate_limits.per-client]
key = "client_ip"
rate = 1
per = "1m"
burst = 1
"#;
    let gw = Gateway::start(&body(&origins, policies, &[("/", "[\"per-client\"]")]));
    let send = |from: u8, xff: Option<&str>| -> Resp {
        let headers: Vec<(&str, &str)> = xff.map(|v| ("x-forwarded-for", v)).into_iter().collect();
        get_from(loopback(from), gw.proxy, "/", &headers)
    };
    // 127.0.0.2 is not trusted: a new X-Forwarded-For each time does not make a new client.
    assert_eq!(send(2, Some("198.51.100.1")).status, 200);
    assert_eq!(send(2, Some("198.51.100.2")).status, 429);
    // 127.0.0.1 is a trusted proxy: each forwarded client has its own bucket.
    assert_eq!(send(1, Some("203.0.113.1")).status, 200);
    assert_eq!(send(1, Some("203.0.113.2")).status, 200);
    assert_eq!(send(1, Some("203.0.113.1")).status, 429);
    // A client that prepends a fake address through the proxy is still itself.
    assert_eq!(send(1, Some("192.0.2.99, 203.0.113.2")).status, 429);
    // Through the proxy without the header, the proxy itself is the client.
    assert_eq!(send(1, None).status, 200);

    // The log is written off the request thread: wait for all seven lines.
    gw.eventually(Duration::from_secs(5), || gw.access_log().len() >= 7);
    let log = gw.access_log();
    let clients: Vec<(&str, &str)> = log
        .iter()
        .map(|l| {
            (
                l["client"].as_str().unwrap_or(""),
                l["peer"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        clients.contains(&("203.0.113.2", "127.0.0.1")),
        "{clients:?}"
    );
    assert!(clients.contains(&("127.0.0.2", "127.0.0.2")), "{clients:?}");
}

#[test]
fn a_flood_of_distinct_keys_stays_under_the_cap_and_regular_clients_are_served() {
    let origins = Origins::start("us-east", &["a"]);
    let policies = r#"
[rate_limits.per-key]
key = "header:x-api-key"
rate = 5
burst = 5
max_keys = 200
"#;
    let gw = Gateway::start(&body(&origins, policies, &[("/", "[\"per-key\"]")]));
    assert_eq!(
        gw.request("GET", "/", &[("x-api-key", "regular")]).status,
        200
    );
    let started = Instant::now();
    let flood_per_thread = 2_500;
    let (flood, regular, max_keys_seen) = std::thread::scope(|s| {
        let flooders: Vec<_> = (0..3)
            .map(|t| {
                let gw = &gw;
                s.spawn(move || {
                    let mut admitted = 0u64;
                    for i in 0..flood_per_thread {
                        let key = format!("spoof-{t}-{i}");
                        let resp = gw.request("GET", "/", &[("x-api-key", &key)]);
                        assert!(matches!(resp.status, 200 | 429), "{resp:?}");
                        admitted += u64::from(resp.status == 200);
                    }
                    admitted
                })
            })
            .collect();
        // The regular client sends well under its rate all through the flood.
        let regular = s.spawn(|| {
            let mut statuses = Vec::new();
            let mut max_keys = 0.0f64;
            while started.elapsed() < Duration::from_secs(4) {
                statuses.push(gw.request("GET", "/", &[("x-api-key", "regular")]).status);
                max_keys = max_keys.max(gw.metric("weir_ratelimit_keys", &["policy=\"per-key\""]));
                std::thread::sleep(Duration::from_millis(400));
            }
            (statuses, max_keys)
        });
        let flood: u64 = flooders.into_iter().map(|h| h.join().unwrap()).sum();
        let (statuses, max_keys) = regular.join().unwrap();
        (flood, statuses, max_keys)
    });
    let seconds = started.elapsed().as_secs_f64();
    let total = 3 * flood_per_thread as u64;
    assert!(
        regular.iter().all(|&s| s == 200),
        "regular client refused during the flood: {regular:?}"
    );
    assert!(
        max_keys_seen <= 200.0 + 4.0,
        "{max_keys_seen} keys tracked, cap 200"
    );
    // New keys get a bucket only while there is room, then share one overflow quota; no slot
    // frees up within the test (keys are kept 10 s after their bucket refills).
    let bound = 200.0 + 5.0 * seconds + 5.0 + 4.0;
    assert!(
        (flood as f64) <= bound,
        "{flood} of {total} flood requests admitted in {seconds:.1} s (bound {bound:.0})"
    );
}

#[test]
fn a_reload_applies_new_rates_keeps_unchanged_buckets_and_frees_removed_ones() {
    let origins = Origins::start("us-east", &["a"]);
    let policy = |name: &str, rate: u32| {
        format!(
            "[rate_limits.{name}]\nkey = \"header:x-k\"\nrate = {rate}\nper = \"1m\"\nburst = 1\n"
        )
    };
    let both = |a_rate| {
        body(
            &origins,
            &format!("{}{}", policy("a", a_rate), policy("b", 1)),
            &[("/a", "[\"a\"]"), ("/b", "[\"b\"]")],
        )
    };
    let gw = Gateway::start(&both(1));
    let key = [("x-k", "k")];
    for path in ["/a", "/b"] {
        assert_eq!(gw.request("GET", path, &key).status, 200);
        assert_eq!(gw.request("GET", path, &key).status, 429);
    }
    let version = |gw: &Gateway| gw.metric("weir_config_version", &[]);

    gw.write_config(&both(600));
    assert!(
        gw.eventually(Duration::from_secs(5), || version(&gw) == 2.0),
        "{}",
        gw.logs()
    );
    // The new rate applies at once: the old debt (a minute) counts as an empty bucket under
    // the new quota, so one new interval (100 ms) later the client is admitted ...
    let first = gw.request("GET", "/a", &key);
    assert_eq!(first.header("retry-after"), Some("1"), "{first:?}");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(gw.request("GET", "/a", &key).status, 200);
    // ... and the unchanged policy kept its bucket.
    assert_eq!(gw.request("GET", "/b", &key).status, 429);

    // Removing `b` frees its buckets and series; bringing it back starts afresh.
    gw.write_config(&body(&origins, &policy("a", 600), &[("/a", "[\"a\"]")]));
    assert!(
        gw.eventually(Duration::from_secs(5), || version(&gw) == 3.0),
        "{}",
        gw.logs()
    );
    let metrics = gw.admin_get("/metrics").body;
    assert!(
        !metrics.contains("policy=\"b\""),
        "series of the removed policy remain"
    );
    gw.write_config(&both(600));
    assert!(
        gw.eventually(Duration::from_secs(5), || version(&gw) == 4.0),
        "{}",
        gw.logs()
    );
    assert_eq!(gw.request("GET", "/b", &key).status, 200);
}
