//! Propagation benchmark (not criterion: it measures a distributed system, with real processes on
//! loopback). Part 1: a control plane and 10 gateways; 100 weight changes; for each, the time from
//! the change being acknowledged (the `201` received) to the last gateway having applied it (its
//! report carries the instant it published the version). Part 2: 100 push streams (raw HTTP
//! clients standing in for gateways): the control plane's memory, and the time to fan out one
//! change to all of them.
//!
//! With `WEIR_BENCH_STORE=etcd` the store is a real etcd on loopback and there are two replicas:
//! the changes are written through replica A, and the gateways and streams follow replica B, so
//! the figures include a commit in etcd and the push across replicas (its watch).
//!
//! Run: `cargo build --release -p weir-gateway && cargo bench -p weir-control-plane --bench
//! propagation` (env: WEIR_BENCH_GATEWAYS, WEIR_BENCH_CHANGES, WEIR_BENCH_STREAMS,
//! WEIR_BENCH_STORE=files|etcd).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{ControlPlane, GATEWAY, Gateway, OPERATE, READ, StoreKind, on_store};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FLEET: &str = r#"
[upstreams.app]
region_policy = "weighted"

[[upstreams.app.pools]]
region = "us-east"
weight = 100
endpoints = ["127.0.0.1:9"]

[[upstreams.app.pools]]
region = "eu-west"
weight = 100
endpoints = ["127.0.0.1:10"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut values: Vec<f64>) {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 90.0),
        percentile(&values, 99.0),
        values[values.len() - 1]
    );
}

fn set_weight(cp: &ControlPlane, weight: u32) -> u64 {
    let resp = cp.call(
        "PUT",
        "/v1/upstreams/app/pools/eu-west/weight",
        Some(OPERATE),
        Some(("application/json", &format!("{{\"weight\": {weight}}}"))),
        &[],
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    resp.json()["version"].as_u64().unwrap()
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let gateways = env_usize("WEIR_BENCH_GATEWAYS", 10);
    let changes = env_usize("WEIR_BENCH_CHANGES", 100);
    let streams = env_usize("WEIR_BENCH_STREAMS", 100);

    let kind = match std::env::var("WEIR_BENCH_STORE").as_deref() {
        Ok("etcd") => StoreKind::Etcd,
        _ => StoreKind::Files,
    };
    let mut writer = None;
    on_store(kind, || writer = Some(ControlPlane::start()));
    let writer = writer.expect("started");
    // On etcd the gateways follow another replica than the one written to.
    let replica = (kind == StoreKind::Etcd).then(|| writer.replica());
    let cp = replica.as_ref().unwrap_or(&writer);
    println!("store: {kind:?}");
    assert_eq!(writer.put_config(FLEET).status, 201);
    let fleet: Vec<Gateway> = (0..gateways)
        .map(|i| Gateway::start(&cp.url(), &format!("bench-{i}"), "us-east"))
        .collect();
    let all_on = |version: u64| -> Option<Vec<serde_json::Value>> {
        let list = cp.get("/v1/gateways", READ).json();
        let views = list["gateways"].as_array()?.clone();
        let on: Vec<_> = views
            .into_iter()
            .filter(|g| g["applied_version"] == version)
            .collect();
        (on.len() == fleet.len()).then_some(on)
    };
    assert!(
        cp.eventually(Duration::from_secs(30), || all_on(1).is_some()),
        "gateways did not converge on version 1"
    );

    println!("part 1: {gateways} gateways, {changes} weight changes");
    let mut from_ack = Vec::new();
    let mut from_request = Vec::new();
    let mut write = Vec::new();
    for i in 0..changes {
        let sent = SystemTime::now();
        let version = set_weight(&writer, if i % 2 == 0 { 40 } else { 60 });
        let acked = SystemTime::now();
        write.push(acked.duration_since(sent).unwrap_or_default().as_secs_f64() * 1e3);
        let deadline = Instant::now() + Duration::from_secs(10);
        let views = loop {
            if let Some(views) = all_on(version) {
                break views;
            }
            assert!(
                Instant::now() < deadline,
                "version {version} did not reach every gateway"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let last = views
            .iter()
            .map(|g| g["applied_at_unix_us"].as_u64().expect("applied_at"))
            .max()
            .unwrap();
        from_ack.push(last.saturating_sub(unix_us(acked)) as f64 / 1e3);
        from_request.push(last.saturating_sub(unix_us(sent)) as f64 / 1e3);
    }
    summary("request sent -> acknowledged (the durable write)", write);
    summary("acknowledged -> applied on all", from_ack);
    summary("request sent -> applied on all", from_request);
    drop(fleet);

    println!("part 2: {streams} push streams");
    let pid = cp.pid();
    let before = rss_kib(pid);
    let (seen_sender, seen) = mpsc::channel::<(u64, Instant)>();
    for i in 0..streams {
        let (addr, seen_sender) = (cp.addr, seen_sender.clone());
        std::thread::spawn(move || {
            let mut tcp = TcpStream::connect(addr).expect("connect");
            write!(
                tcp,
                "GET /v1/stream?gateway=sim-{i} HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Bearer {GATEWAY}\r\n\r\n"
            )
            .expect("request");
            // Chunked framing lines are skipped: only lines holding a config message count.
            for line in BufReader::new(tcp).lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.split("\"type\":\"config\",\"version\":").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if seen_sender
                        .send((digits.parse().unwrap_or(0), Instant::now()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
    let current = cp.current_version();
    let mut connected = 0;
    while connected < streams {
        let (version, _) = seen.recv_timeout(Duration::from_secs(20)).expect("streams");
        if version == current {
            connected += 1;
        }
    }
    let with_streams = rss_kib(pid);
    println!(
        "control-plane RSS: {before} KiB before, {with_streams} KiB with {streams} streams \
         ({:.1} KiB per stream)",
        (with_streams.saturating_sub(before)) as f64 / streams as f64
    );
    let mut fan_out = Vec::new();
    for i in 0..20 {
        let version = set_weight(&writer, if i % 2 == 0 { 30 } else { 70 });
        let acked = Instant::now();
        let mut got = 0;
        let mut last = acked;
        while got < streams {
            let (v, at) = seen.recv_timeout(Duration::from_secs(10)).expect("fan-out");
            if v == version {
                got += 1;
                last = last.max(at);
            }
        }
        fan_out.push(last.saturating_duration_since(acked).as_secs_f64() * 1e3);
    }
    summary(
        &format!("acknowledged -> received on all {streams} streams"),
        fan_out,
    );
    println!("control-plane RSS after the fan-outs: {} KiB", rss_kib(pid));
}
