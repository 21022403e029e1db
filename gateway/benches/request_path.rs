//! Micro-benchmarks of the per-request policy work: route lookup and endpoint selection, each
//! beside a naive baseline so the number means something, and each at growing config sizes
//! (1 / 100 / 10,000 routes; 8 / 1,000 endpoints in a pool) to show the cost stays flat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use weir_gateway::balance;
use weir_gateway::endpoint::EndpointRegistry;
use weir_gateway::metrics::Metrics;
use weir_gateway::ratelimit::LimiterRegistry;
use weir_gateway::resilience::guards::GuardRegistry;
use weir_gateway::snapshot::{Registries, Snapshot, Version};

/// A config with `routes` routes (see [`route_table`]) and two pools of `endpoints` endpoints.
fn snapshot(routes: usize, endpoints: usize) -> Snapshot {
    let mut text = String::from("[gateway]\nregion = \"us-east\"\n[upstreams.api]\n");
    for region in ["us-east", "eu-west"] {
        let eps: Vec<String> = (0..endpoints)
            .map(|i| format!("\"127.0.{}.{}:{}\"", i / 250, 1 + i % 250, 10_000 + i))
            .collect();
        text.push_str(&format!(
            "[[upstreams.api.pools]]\nregion = \"{region}\"\nendpoints = [{}]\n",
            eps.join(", ")
        ));
    }
    for (host, prefix) in route_table(routes) {
        text.push_str(&format!(
            "[[routes]]\nhost = \"{host}\"\npath_prefix = \"{prefix}\"\nupstream = \"api\"\n"
        ));
    }
    let config = weir_config::parse(&text).expect("valid bench config");
    let registries = Registries {
        endpoints: &EndpointRegistry::default(),
        names: &weir_gateway::names::ResolvedNames::default(),
        limiters: &LimiterRegistry::default(),
        guards: &GuardRegistry::default(),
        metrics: &Metrics::new().expect("metrics"),
    };
    let version = Version {
        number: 1,
        checksum: String::new(),
    };
    Snapshot::compile(Arc::new(config), version, &registries, Instant::now())
        .expect("the bench config compiles")
}

/// `n` routes (the last one the catch-all `*` `/`): of the others, 40% exact hosts
/// (`svcI.example.com` `/api/vI`), 20% wildcard hosts (`*.tI.example.com` `/`) and 40% path
/// prefixes on any host (`/pI/`, and every fourth `/pI/v2/` under it).
fn route_table(n: usize) -> Vec<(String, String)> {
    let mut table: Vec<(String, String)> = (0..n.saturating_sub(1))
        .map(|i| match i % 5 {
            0 | 1 => (format!("svc{i}.example.com"), format!("/api/v{i}")),
            2 => (format!("*.t{i}.example.com"), "/".to_string()),
            _ if i % 4 == 0 => ("*".to_string(), format!("/p{i}/v2/")),
            _ => ("*".to_string(), format!("/p{i}/")),
        })
        .collect();
    table.push(("*".to_string(), "/".to_string()));
    table
}

fn routing(c: &mut Criterion) {
    // The same requests at every size: those whose route exists in the table, else the
    // catch-all answers them (at 1 route, every one).
    let requests = [
        ("svc5.example.com:443", "/api/v5/users"),
        ("www.t7.example.com", "/index.html"),
        ("example.org", "/p8/v2/items"),
        ("example.org", "/p9/x"),
        ("example.org", "/missing"),
    ];
    for n in [1usize, 100, 10_000] {
        let snap = snapshot(n, 2);
        let table = route_table(n);
        let mut group = c.benchmark_group(format!("route lookup, {n} routes"));
        group.bench_function("weir router (5 requests)", |b| {
            b.iter(|| {
                requests
                    .iter()
                    .filter(|(host, path)| snap.router.find(host, path).is_some())
                    .count()
            })
        });
        if n <= 100 {
            group.bench_function("naive linear scan (5 requests)", |b| {
                b.iter(|| {
                    requests
                        .iter()
                        .filter(|(host, path)| naive_find(&table, host, path).is_some())
                        .count()
                })
            });
        }
        group.finish();
    }
}

/// The baseline: every route compared, the most specific host then the longest prefix kept.
fn naive_find<'a>(table: &'a [(String, String)], host: &str, path: &str) -> Option<&'a str> {
    let host = host.split(':').next().unwrap_or(host);
    let rank = |pattern: &str| match pattern.strip_prefix('*') {
        None if pattern == host => Some(usize::MAX),
        Some("") => Some(0),
        Some(tail) if host.len() > tail.len() && host.ends_with(tail) => Some(tail.len()),
        _ => None,
    };
    table
        .iter()
        .filter_map(|(pattern, prefix)| Some((rank(pattern)?, prefix)))
        .filter(|(_, prefix)| path.starts_with(prefix.as_str()))
        .max_by_key(|(rank, prefix)| (*rank, prefix.len()))
        .map(|(_, prefix)| prefix.as_str())
}

fn selection(c: &mut Criterion) {
    for n in [8usize, 1_000] {
        let snap = snapshot(1, n);
        let upstream = &snap.upstreams["api"];
        let now = Instant::now();
        for (i, ep) in upstream.pools[0].endpoints.iter().enumerate() {
            ep.observe_latency(Duration::from_micros(500 + 100 * (i % 8) as u64), now);
        }
        let mut rng = SmallRng::seed_from_u64(1);
        let mut group = c.benchmark_group(format!("endpoint selection, 2 pools x {n} endpoints"));
        group.bench_function("weir pick (region + P2C on peak EWMA)", |b| {
            b.iter(|| balance::pick(upstream, &[], now, &mut rng))
        });
        group.bench_function("naive uniform random", |b| {
            use rand::Rng;
            b.iter(|| rng.random_range(0..upstream.pools[0].endpoints.len()))
        });
        group.finish();
    }
}

criterion_group!(benches, routing, selection);
criterion_main!(benches);
