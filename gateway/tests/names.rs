//! Pool endpoints given as DNS names, resolved in the background from a real authoritative
//! server (`weir-dns` on a loopback port, reloaded with SIGHUP to change its records): traffic
//! follows the records after their TTL, the addresses that stay keep their state, a dead DNS
//! server leaves the last good addresses serving, a large answer is capped, and a name that
//! never resolves leaves the other pools serving.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{Gateway, free_addr};
use weir_testkit::{Process, eventually, retry_port_races, workspace_bin};

const NAME: &str = "api.gslb.example.com";

/// weir-dns serving `gslb.example.com`, where `api` answers `addresses` (one failover member,
/// every address in each answer, TTL 1 s).
struct Dns {
    process: Process,
    listen: SocketAddr,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

fn zone(addresses: &[&str]) -> String {
    let quoted: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"
[dns]
zones = ["gslb.example.com"]
soa = {{ mname = "ns1.gslb.example.com", rname = "ops.example.com" }}
ns = ["ns1.gslb.example.com"]

[dns.names."{NAME}"]
policy = "failover"
ttl = "1s"
answers = 16

[[dns.names."{NAME}".members]]
region = "us-east"
addresses = [{}]
"#,
        quoted.join(", ")
    )
}

impl Dns {
    fn start(addresses: &[&str]) -> Dns {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("fleet.toml");
        std::fs::write(&config, zone(addresses)).expect("write zone");
        let mut process = Process::new("weir-dns", dir.path(), "weir-dns");
        let listen = retry_port_races("weir-dns", |_| {
            let (listen, admin) = (free_addr(), free_addr());
            let mut command = Command::new(workspace_bin("weir-dns"));
            command
                .args(["--config", config.to_str().expect("utf-8 path")])
                .args(["--listen", &listen.to_string()])
                .args(["--admin", &admin.to_string()])
                .args(["--query-log", "off"])
                .stdout(Stdio::null());
            let ready = format!("http://{admin}/readyz");
            process.spawn(command, || {
                weir_testkit::send(&weir_testkit::agent(), "GET", &ready, &[], None)
                    .is_ok_and(|r| r.status == 200)
            })?;
            Ok(listen)
        });
        Dns {
            process,
            listen,
            config,
            _dir: dir,
        }
    }

    /// Serve `addresses` from now on (a reload by SIGHUP).
    fn answer(&self, addresses: &[&str]) {
        std::fs::write(&self.config, zone(addresses)).expect("write zone");
        self.process.signal(Signal::SIGHUP);
    }
}

/// One `weir-loadtest origin` serving a name on each of `ips`, all on the same port (a name
/// stands for its addresses on one port), killed on drop.
struct SamePortOrigins {
    child: Child,
    port: u16,
}

impl SamePortOrigins {
    fn start(named: &[(&str, &str)]) -> SamePortOrigins {
        for _ in 0..20 {
            let port = free_addr().port();
            let mut command = Command::new(workspace_bin("weir-loadtest"));
            command.args(["origin", "--region", "us-east"]);
            for (name, ip) in named {
                command.args(["--listen", &format!("{ip}:{port}"), "--name", name]);
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn weir-loadtest origin");
            let up = eventually(Duration::from_secs(5), || {
                named.iter().all(|(_, ip)| {
                    std::net::TcpStream::connect((ip.parse::<std::net::IpAddr>().unwrap(), port))
                        .is_ok()
                })
            });
            if up && child.try_wait().ok().flatten().is_none() {
                return SamePortOrigins { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start origins on a common port");
    }
}

impl Drop for SamePortOrigins {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resolver(dns: &Dns, extra: &str) -> String {
    format!(
        "[resolver]\nnameservers = [\"{}\"]\nmin_ttl = \"200ms\"\nmax_ttl = \"2s\"\ntimeout = \"500ms\"\n{extra}\n",
        dns.listen
    )
}

/// The endpoint addresses of upstream `name`'s pools, as `/status` lists them.
fn endpoints(gw: &Gateway, name: &str) -> Vec<String> {
    let up = gw.upstream_status(name);
    let mut out: Vec<String> = up["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["endpoints"].as_array().into_iter().flatten())
        .filter_map(|e| e["address"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

fn origins_of(gw: &Gateway, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}");
        *counts.entry(resp.origin().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn traffic_follows_the_records_and_survives_the_dns_server() {
    let origins =
        SamePortOrigins::start(&[("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4")]);
    let port = origins.port;
    let mut dns = Dns::start(&["127.0.0.2"]);
    let gw = Gateway::start(&format!(
        "{}\n[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
         endpoints = [\"{NAME}:{port}\"]\n[[routes]]\nupstream = \"api\"\n",
        resolver(&dns, "")
    ));
    // Resolved in the background: the pool has the name's address once it answered.
    assert!(gw.eventually(Duration::from_secs(5), || {
        endpoints(&gw, "api") == [format!("127.0.0.2:{port}")]
    }));
    assert_eq!(origins_of(&gw, 20).get("a"), Some(&20));
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    assert!(
        gw.endpoint_status("api", a)["ewma_latency_ms"].is_number(),
        "a has a latency estimate"
    );

    // A second address appears: added, and the one that stays keeps its state.
    dns.answer(&["127.0.0.2", "127.0.0.3"]);
    assert!(gw.eventually(Duration::from_secs(5), || {
        endpoints(&gw, "api") == [format!("127.0.0.2:{port}"), format!("127.0.0.3:{port}")]
    }));
    assert!(
        gw.endpoint_status("api", a)["ewma_latency_ms"].is_number(),
        "a kept its latency estimate across the change"
    );
    assert_eq!(
        gw.status()["config_version"],
        1,
        "the config itself did not change"
    );

    // The records move: traffic follows after the TTL, none to the address that left.
    dns.answer(&["127.0.0.3", "127.0.0.4"]);
    assert!(gw.eventually(Duration::from_secs(5), || {
        endpoints(&gw, "api") == [format!("127.0.0.3:{port}"), format!("127.0.0.4:{port}")]
    }));
    let counts = origins_of(&gw, 100);
    assert_eq!(counts.get("a"), None, "{counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 100, "{counts:?}");
    assert_eq!(
        gw.metric(
            "weir_upstream_resolved_addresses",
            &[&format!("name=\"{NAME}\"")]
        ),
        2.0
    );
    assert_eq!(
        gw.status()["names"][NAME],
        serde_json::json!(["127.0.0.3", "127.0.0.4"])
    );

    // The DNS server dies: lookups fail, the last good addresses keep serving.
    dns.process.kill();
    assert!(gw.eventually(Duration::from_secs(10), || {
        gw.metric(
            "weir_upstream_resolutions_total",
            &[&format!("name=\"{NAME}\""), "result=\"error\""],
        ) >= 2.0
    }));
    let counts = origins_of(&gw, 50);
    assert_eq!(counts.get("a"), None, "{counts:?}");
    assert_eq!(
        endpoints(&gw, "api"),
        [format!("127.0.0.3:{port}"), format!("127.0.0.4:{port}")]
    );
    assert!(gw.logs().contains("keeping the last good addresses"));
}

#[test]
fn a_large_answer_is_capped_and_an_unresolvable_name_leaves_other_pools_serving() {
    let many: Vec<String> = (10..30).map(|n| format!("127.0.0.{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let dns = Dns::start(&many[..16]);
    let origin = support::Origins::start("us-east", &["plain"]);
    let body = |max_addresses: u32| {
        format!(
            "{}\n\
             [upstreams.many]\n[[upstreams.many.pools]]\nregion = \"us-east\"\nendpoints = [\"{NAME}:9\"]\n\
             [upstreams.ghost]\n[[upstreams.ghost.pools]]\nregion = \"us-east\"\n\
             endpoints = [\"nothere.gslb.example.com:9\"]\n\
             [upstreams.plain]\n[[upstreams.plain.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
             [[routes]]\npath_prefix = \"/ghost\"\nupstream = \"ghost\"\n\
             [[routes]]\nupstream = \"plain\"\n",
            resolver(&dns, &format!("max_addresses = {max_addresses}")),
            origin.endpoints_toml()
        )
    };
    let gw = Gateway::start(&body(3));
    // Sixteen answered, the lowest three kept.
    assert!(gw.eventually(Duration::from_secs(5), || {
        endpoints(&gw, "many") == ["127.0.0.10:9", "127.0.0.11:9", "127.0.0.12:9"]
    }));
    assert!(
        gw.logs()
            .contains("more addresses than resolver.max_addresses")
    );

    // NXDOMAIN: no endpoint from that name, its route answers 503, the rest serves, and the
    // gateway stays ready.
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.metric(
            "weir_upstream_resolutions_total",
            &["name=\"nothere.gslb.example.com\"", "result=\"error\""],
        ) >= 1.0
    }));
    assert!(endpoints(&gw, "ghost").is_empty());
    assert_eq!(
        gw.status()["names"]["nothere.gslb.example.com"],
        serde_json::json!([])
    );
    assert_eq!(gw.get("/ghost").status, 503);
    assert_eq!(gw.get("/").status, 200);
    assert_eq!(gw.admin_get("/readyz").status, 200);

    // A reload with other resolver settings applies them (the version changes; the pool grows).
    gw.write_config(&body(5));
    assert!(gw.eventually(Duration::from_secs(5), || {
        endpoints(&gw, "many").len() == 5
    }));
    assert_eq!(endpoints(&gw, "many")[4], "127.0.0.14:9");
    assert_eq!(gw.status()["config_version"], 2);
}
