//! weir-dns fed by the control plane, as a gateway is: `weirctl drain` takes a region out of the
//! DNS answers within one push and `restore` brings it back; the instance shows in
//! `GET /v1/gateways` (kind `dns`, its ACK, its member view) and in `weirctl status` and
//! `weirctl dns`; with the control plane killed it keeps answering, and restarted without it, it
//! answers from its cache; a silent stream is taken for dead and reopened. A region whose
//! gateways are all not ready (draining on SIGTERM, or killed) leaves the answers though its probe
//! target answers; `weirctl weight --dns` moves a weighted split. Real processes throughout;
//! answers are read with `dig`.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{
    ControlPlane, DNS_1, Gateway, OPERATE, Origins, READ, agent, free_addr, workspace_bin,
};
use weir_testkit::{Process, metric_sum, retry_port_races, retry_while_port_lingers};

const FLEET: &str = r#"[upstreams.app]
[[upstreams.app.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001"]

[[upstreams.app.pools]]
region = "eu-west"
endpoints = ["127.0.0.1:9101"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"

[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com" }
ns = ["ns1.gslb.example.com"]

[dns.names."api.gslb.example.com"]
policy = "weighted"
answers = 2

[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]

[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["192.0.2.20"]
"#;

/// A weir-dns following a control plane, its token, cache and logs in a temp dir.
struct Dns {
    process: Process,
    listen: SocketAddr,
    admin: SocketAddr,
    cp_url: String,
    dir: tempfile::TempDir,
}

impl Dns {
    fn start(cp_url: &str) -> Dns {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("token"), format!("{DNS_1}\n")).expect("token");
        let mut dns = Dns {
            process: Process::new("weir-dns", dir.path(), "dns"),
            listen: free_addr(),
            admin: free_addr(),
            cp_url: cp_url.to_string(),
            dir,
        };
        retry_port_races("weir-dns", |attempt| {
            if attempt > 0 {
                (dns.listen, dns.admin) = (free_addr(), free_addr());
            }
            dns.spawn()
        });
        dns
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache.json")
    }

    /// Up once `/readyz` says a config (pushed or cached) is served.
    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(workspace_bin("weir-dns"));
        command
            .args(["--control-plane", &self.cp_url])
            .arg("--token-file")
            .arg(self.dir.path().join("token"))
            .arg("--cache")
            .arg(self.cache())
            .args(["--id", "dns-1", "--stream-timeout", "3s"])
            .args(["--listen", &self.listen.to_string()])
            .args(["--admin", &self.admin.to_string()])
            .args(["--query-log", "off"])
            .stdout(Stdio::null());
        let readyz = format!("http://{}/readyz", self.admin);
        let agent = agent();
        self.process.spawn(command, || {
            agent.get(&readyz).call().is_ok_and(|r| r.status() == 200)
        })
    }

    fn restart(&mut self) {
        self.process.kill();
        retry_while_port_lingers("weir-dns", || self.spawn());
    }

    fn metrics(&self) -> String {
        agent()
            .get(format!("http://{}/metrics", self.admin))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }

    fn status(&self) -> serde_json::Value {
        agent()
            .get(format!("http://{}/status", self.admin))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json().ok())
            .unwrap_or_default()
    }

    /// `dig +short` A answers, sorted.
    fn answers(&self) -> Vec<String> {
        self.answers_with(&[])
    }

    /// `dig +short` A answers with `extra` dig options, sorted.
    fn answers_with(&self, extra: &[&str]) -> Vec<String> {
        let output = Command::new("dig")
            .arg(format!("@{}", self.listen.ip()))
            .args(["-p", &self.listen.port().to_string(), "+time=1", "+tries=2"])
            .args(extra)
            .args(["+short", "api.gslb.example.com", "A"])
            .output()
            .expect("dig (Debian package dnsutils)");
        let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }
}

fn weirctl(cp: &ControlPlane, token: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_weirctl"))
        .args(args)
        .env("WEIR_URL", cp.url())
        .env("WEIR_TOKEN", token)
        .output()
        .expect("run weirctl");
    assert!(
        output.status.success(),
        "weirctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `weirctl args` and returns how long after it returned (the API's `201`) the answers
/// became `want`.
fn time_to(cp: &ControlPlane, dns: &Dns, args: &[&str], want: &[&str]) -> Duration {
    weirctl(cp, OPERATE, args);
    let done = Instant::now();
    assert!(
        cp.eventually(Duration::from_secs(10), || dns.answers() == want),
        "after weirctl {args:?} the answers are {:?}, not {want:?}",
        dns.answers()
    );
    done.elapsed()
}

#[test]
fn drains_move_the_answers_and_the_cache_outlives_the_control_plane() {
    let mut cp = ControlPlane::start_with_heartbeat("500ms");
    assert_eq!(cp.put_config(FLEET).status, 201);
    let mut dns = Dns::start(&cp.url());
    let both = ["192.0.2.10", "192.0.2.20"];
    assert_eq!(dns.answers(), both);

    // Listed as a weir-dns instance with its ACK and member view.
    assert!(cp.eventually(Duration::from_secs(10), || {
        let list = cp.get("/v1/gateways", READ).json();
        let node = &list["gateways"][0];
        node["id"] == "dns-1"
            && node["kind"] == "dns"
            && node["connected"] == true
            && node["last_report"]["outcome"] == "ack"
            && node["applied_version"] == 1
            && node["dns"]["members"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
    }));
    let status = weirctl(&cp, READ, &["status"]);
    assert!(
        status.contains("weir-dns: 1 known, 1 connected, 1 on version 1"),
        "{status}"
    );

    let drained = time_to(
        &cp,
        &dns,
        &["drain", "us-east", "-m", "test"],
        &["192.0.2.20"],
    );
    println!("drain us-east -> answers changed {drained:?} after the 201");
    assert!(
        cp.eventually(Duration::from_secs(10), || {
            weirctl(&cp, READ, &["dns"])
                .contains("api.gslb.example.com  us-east  dns-1    up      -         0       no")
        }),
        "{}",
        weirctl(&cp, READ, &["dns"])
    );
    let restored = time_to(&cp, &dns, &["restore", "us-east", "-m", "test"], &both);
    println!("restore us-east -> answers changed {restored:?} after the 201");

    // The control plane dies: the answers stay.
    cp.kill();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dns.answers(), both);

    // weir-dns restarted with the control plane still down: it answers from its cache.
    dns.restart();
    assert_eq!(dns.answers(), both);
    assert!(
        dns.process
            .logs()
            .contains("answering from the cached config")
    );
}

#[test]
fn a_push_older_than_the_served_version_is_nacked() {
    let mut cp = ControlPlane::start_with_heartbeat("500ms");
    assert_eq!(cp.put_config(FLEET).status, 201);
    assert_eq!(
        cp.put_config(&FLEET.replace("192.0.2.20", "192.0.2.21"))
            .status,
        201
    );
    let bad_kind = cp.call(
        "GET",
        "/v1/stream?gateway=dns-1&kind=resolver",
        Some(DNS_1),
        None,
        &[],
    );
    assert_eq!(bad_kind.status, 400, "{}", bad_kind.body);
    let mut dns = Dns::start(&cp.url());
    assert!(cp.eventually(Duration::from_secs(10), || dns.answers()
        == ["192.0.2.10", "192.0.2.21"]));
    // A control plane whose store was replaced (version 1 again, other content) is refused.
    cp.kill();
    std::fs::remove_dir_all(cp.data_dir()).expect("wipe the store");
    cp.restart();
    assert_eq!(cp.put_config(FLEET).status, 201);
    assert!(
        cp.eventually(Duration::from_secs(15), || {
            let list = cp.get("/v1/gateways", READ).json();
            let node = &list["gateways"][0];
            node["last_report"]["outcome"] == "nack"
                && node["last_report"]["errors"][0]
                    .as_str()
                    .is_some_and(|e| e.contains("older than version 2"))
                && node["applied_version"] == 2
        }),
        "{}",
        cp.get("/v1/gateways", READ).body
    );
    assert_eq!(
        dns.answers(),
        ["192.0.2.10", "192.0.2.21"],
        "the served version stays"
    );
    dns.process.kill();
}

#[test]
fn a_silent_stream_is_taken_for_dead_and_reopened() {
    let cp = ControlPlane::start_with_heartbeat("500ms");
    assert_eq!(cp.put_config(FLEET).status, 201);
    let dns = Dns::start(&cp.url());
    let timeouts = || {
        metric_sum(
            &dns.metrics(),
            "weir_dns_control_plane_streams_total",
            &["reason=\"timeout\""],
        )
    };
    assert_eq!(timeouts(), 0.0);
    // A frozen control plane keeps the connection open and says nothing: past --stream-timeout
    // (3 s) the stream is dead.
    let pid = Pid::from_raw(cp.pid());
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
    let dead = cp.eventually(Duration::from_secs(10), || timeouts() >= 1.0);
    kill(pid, Signal::SIGCONT).expect("SIGCONT");
    assert!(dead, "{}", dns.metrics());
    assert_eq!(
        dns.answers(),
        ["192.0.2.10", "192.0.2.20"],
        "answers meanwhile"
    );
    // Reconnected: the next version arrives.
    weirctl(&cp, OPERATE, &["drain", "eu-west", "-m", "test"]);
    assert!(cp.eventually(Duration::from_secs(15), || dns.answers() == ["192.0.2.10"]));
}

/// `FLEET` with each member probed at a live origin (which keeps answering throughout).
fn probed_fleet(origins: &Origins) -> String {
    FLEET
        .replace(
            "addresses = [\"192.0.2.10\"]",
            &format!(
                "addresses = [\"192.0.2.10\"]\nhealth = \"http://{}/healthz\"",
                origins.addr("us")
            ),
        )
        .replace(
            "addresses = [\"192.0.2.20\"]",
            &format!(
                "addresses = [\"192.0.2.20\"]\nhealth = \"http://{}/healthz\"",
                origins.addr("eu")
            ),
        )
        .replace(
            "[dns.names.\"api.gslb.example.com\"]\n",
            "[dns.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\n\n\
             [dns.names.\"api.gslb.example.com\"]\n",
        )
}

fn weirctl_dns_row(cp: &ControlPlane, region: &str) -> String {
    weirctl(cp, READ, &["dns"])
        .lines()
        .find(|line| line.starts_with(&format!("api.gslb.example.com  {region} ")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_region_whose_gateways_are_not_ready_leaves_the_answers_though_its_probe_answers() {
    let origins = Origins::start("any", &["us", "eu"]);
    let mut cp = ControlPlane::start_with_heartbeat("300ms");
    assert_eq!(cp.put_config(&probed_fleet(&origins)).status, 201);
    let dns = Dns::start(&cp.url());
    let both = ["192.0.2.10", "192.0.2.20"];
    // No gateway known yet: the probes alone judge, and both answer.
    assert_eq!(dns.answers(), both);
    let mut us = Gateway::start(&cp.url(), "gw-us", "us-east");
    let _eu = Gateway::start(&cp.url(), "gw-eu", "eu-west");
    assert!(
        cp.eventually(Duration::from_secs(10), || {
            weirctl_dns_row(&cp, "us-east").contains("1/1 ready")
                && weirctl_dns_row(&cp, "eu-west").contains("1/1 ready")
        }),
        "{}",
        weirctl(&cp, READ, &["dns"])
    );
    assert_eq!(dns.status()["health_sources"], "probes and gateways");
    assert_eq!(dns.answers(), both);

    // us-east's only gateway drains (SIGTERM): its stream closes, the region leaves the answers
    // while its probe target still answers.
    us.signal(Signal::SIGTERM);
    let start = Instant::now();
    assert!(
        cp.eventually(Duration::from_secs(10), || dns.answers() == ["192.0.2.20"]),
        "{:?}",
        dns.answers()
    );
    println!(
        "gateway SIGTERM -> us-east out of the answers in {:?}",
        start.elapsed()
    );
    assert!(
        us.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway exits"
    );
    let metrics = dns.metrics();
    let ready = |metrics: &str, region: &str| {
        metric_sum(
            metrics,
            "weir_dns_region_gateways",
            &[&format!("region=\"{region}\""), "state=\"ready\""],
        )
    };
    assert_eq!(ready(&metrics, "us-east"), 0.0, "{metrics}");
    assert_eq!(ready(&metrics, "eu-west"), 1.0, "{metrics}");
    let member = &dns.status()["names"][0]["members"][0];
    assert_eq!(
        (&member["region"], &member["healthy"], &member["answered"]),
        (&"us-east".into(), &true.into(), &false.into()),
        "probed healthy, not answered: {member}"
    );
    assert!(
        cp.eventually(Duration::from_secs(10), || {
            let row = weirctl_dns_row(&cp, "us-east");
            row.contains(" up ") && row.contains("0/1 ready") && row.ends_with("no")
        }),
        "{}",
        weirctl(&cp, READ, &["dns"])
    );

    // Back up: it returns. Killed (SIGKILL): its stream drops and it leaves again.
    us.restart();
    assert!(cp.eventually(Duration::from_secs(10), || dns.answers() == both));
    us.kill();
    let start = Instant::now();
    assert!(cp.eventually(Duration::from_secs(10), || dns.answers() == ["192.0.2.20"]));
    println!(
        "gateway SIGKILL -> us-east out of the answers in {:?}",
        start.elapsed()
    );

    // The control plane gone: the probes alone judge again, and say so.
    cp.kill();
    assert!(cp.eventually(Duration::from_secs(10), || dns.answers() == both));
    assert_eq!(dns.status()["health_sources"], "probes alone");
    assert_eq!(
        metric_sum(&dns.metrics(), "weir_dns_gateway_view", &[]),
        0.0
    );
    assert!(dns.process.logs().contains("answering by probes alone"));
}

#[test]
fn weight_with_dns_moves_the_weighted_split() {
    let cp = ControlPlane::start_with_heartbeat("500ms");
    assert_eq!(
        cp.put_config(&FLEET.replace("answers = 2", "answers = 1"))
            .status,
        201
    );
    let dns = Dns::start(&cp.url());
    let out = weirctl(
        &cp,
        OPERATE,
        &[
            "weight",
            "--dns",
            "api.gslb.example.com",
            "eu-west",
            "25",
            "-m",
            "test",
        ],
    );
    assert!(
        out.contains("api.gslb.example.com/eu-west weight 100 -> 25"),
        "{out}"
    );
    assert!(cp.eventually(Duration::from_secs(10), || {
        weirctl_dns_row(&cp, "eu-west").contains(" 25 ")
    }));
    // 100 : 25 is 80% / 20%; count over 400 answers (one address each).
    let mut east = 0;
    let queries = 400;
    for _ in 0..queries / 50 {
        // One dig process asks 50 times.
        let mut args = Vec::new();
        for _ in 0..50 {
            args.extend(["api.gslb.example.com", "A", "+short"]);
        }
        let output = Command::new("dig")
            .arg(format!("@{}", dns.listen.ip()))
            .args(["-p", &dns.listen.port().to_string(), "+time=1", "+tries=2"])
            .args(&args)
            .output()
            .expect("dig");
        east += String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| *line == "192.0.2.10")
            .count();
    }
    let share = east as f64 / queries as f64;
    println!("us-east share after eu-west weight 25: {share:.3}");
    assert!((0.72..=0.88).contains(&share), "us-east answered {share}");
    // Weight 0 takes eu-west out entirely.
    weirctl(
        &cp,
        OPERATE,
        &["weight", "--dns", "api.gslb.example.com", "eu-west", "0"],
    );
    assert!(cp.eventually(Duration::from_secs(10), || {
        (0..20).all(|_| dns.answers() == ["192.0.2.10"])
    }));
    // An explicit weight during a drain wins over what the drain remembered: the restore puts
    // back the pool's weight and leaves the member's at 50.
    weirctl(&cp, OPERATE, &["drain", "eu-west", "-m", "test"]);
    weirctl(
        &cp,
        OPERATE,
        &["weight", "--dns", "api.gslb.example.com", "eu-west", "50"],
    );
    weirctl(&cp, OPERATE, &["restore", "eu-west", "-m", "test"]);
    let config = cp.get("/v1/config?format=toml", READ).body;
    assert!(
        config.contains("region = \"eu-west\"\nweight = 50\naddresses"),
        "{config}"
    );
}
