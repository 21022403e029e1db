//! Micro-benchmarks of the per-request policy work: route lookup and endpoint selection, each
//! beside a naive baseline so the number means something.

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

fn snapshot(routes: usize, endpoints: usize) -> Snapshot {
    let mut text = String::from("[gateway]\nregion = \"us-east\"\n[upstreams.api]\n");
    for region in ["us-east", "eu-west"] {
        let eps: Vec<String> = (0..endpoints)
            .map(|i| format!("\"127.0.0.1:{}\"", 10_000 + i))
            .collect();
        text.push_str(&format!(
            "[[upstreams.api.pools]]\nregion = \"{region}\"\nendpoints = [{}]\n",
            eps.join(", ")
        ));
    }
    for i in 0..routes {
        text.push_str(&format!(
            "[[routes]]\nhost = \"svc{i}.example.com\"\npath_prefix = \"/api/v{i}\"\nupstream = \"api\"\n"
        ));
    }
    text.push_str("[[routes]]\nupstream = \"api\"\n");
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

fn routing(c: &mut Criterion) {
    let snap = snapshot(200, 2);
    let table: Vec<(String, String)> = (0..200)
        .map(|i| (format!("svc{i}.example.com"), format!("/api/v{i}")))
        .collect();
    let mut group = c.benchmark_group("route lookup, 200 routes");
    group.bench_function("weir router", |b| {
        b.iter(|| {
            snap.router
                .find("svc150.example.com:443", "/api/v150/users")
                .is_some()
        })
    });
    group.bench_function("naive linear scan", |b| {
        b.iter(|| {
            table
                .iter()
                .filter(|(host, prefix)| {
                    host == "svc150.example.com" && "/api/v150/users".starts_with(prefix.as_str())
                })
                .max_by_key(|(_, prefix)| prefix.len())
                .is_some()
        })
    });
    group.finish();
}

fn selection(c: &mut Criterion) {
    let snap = snapshot(1, 8);
    let upstream = &snap.upstreams["api"];
    let now = Instant::now();
    for (i, ep) in upstream.pools[0].endpoints.iter().enumerate() {
        ep.observe_latency(Duration::from_micros(500 + 100 * i as u64), now);
    }
    let mut rng = SmallRng::seed_from_u64(1);
    let mut group = c.benchmark_group("endpoint selection, 2 pools x 8 endpoints");
    group.bench_function("weir pick (region + P2C on peak EWMA)", |b| {
        b.iter(|| balance::pick(upstream, &[], now, &mut rng))
    });
    group.bench_function("naive uniform random", |b| {
        use rand::Rng;
        b.iter(|| rng.random_range(0..upstream.pools[0].endpoints.len()))
    });
    group.finish();
}

criterion_group!(benches, routing, selection);
criterion_main!(benches);
