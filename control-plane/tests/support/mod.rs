//! Test harness: a real `weir-control-plane` process with a token per role, gateways run by it,
//! simulated origins, and a blocking HTTP client. Reads like the tests' own language: start a
//! control plane, put a config, start gateways, assert what they serve.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

// Each test binary uses its own subset.
use weir_testkit::{Etcd, Process, retry_port_races, retry_while_port_lingers};
#[allow(unused_imports)]
pub use weir_testkit::{Origins, Resp, agent, free_addr, workspace_bin};

/// Which store the control planes a test starts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Files,
    /// A real etcd on loopback, started with each control plane (see [`ControlPlane::etcd`]).
    Etcd,
}

thread_local! {
    static STORE: std::cell::Cell<StoreKind> = const { std::cell::Cell::new(StoreKind::Files) };
}

/// Runs `test` with every control plane it starts on `kind`'s store.
pub fn on_store(kind: StoreKind, test: impl FnOnce()) {
    STORE.with(|store| store.set(kind));
    test();
}

/// Runs each named test (a plain `fn()`) twice: in `files::` on the file store, and in `etcd::`
/// on an etcd store (the same test, not a copy of it).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod files {
            $(#[test] fn $name() { super::support::on_store(super::support::StoreKind::Files, super::$name) })*
        }
        mod etcd {
            $(#[test] fn $name() { super::support::on_store(super::support::StoreKind::Etcd, super::$name) })*
        }
    };
}

/// Clear-text tokens of the test token file, one per role.
pub const ADMIN: &str = "admin-token-0123456789";
pub const OPERATE: &str = "operate-token-0123456789";
pub const READ: &str = "read-token-0123456789";
/// A gateway token for any gateway id (`gateway_id = "*"`).
pub const GATEWAY: &str = "gateway-token-0123456789";
/// A gateway token bound to gateway `gw-a` only.
pub const GW_A: &str = "gw-a-token-0123456789";
/// A gateway token bound to the ids `us-east-*`.
pub const US_EAST: &str = "us-east-token-0123456789";
/// A gateway-role token bound to the weir-dns instance `dns-1` only.
pub const DNS_1: &str = "dns-1-token-0123456789";

/// SHA-256 hex of `text`.
pub fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running control plane with its store and logs in a temp dir.
pub struct ControlPlane {
    process: Process,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
    heartbeat: String,
    /// Extra `serve` arguments (TLS, seed).
    extra_args: Vec<String>,
    /// The etcd of an etcd store (killed when the control plane is dropped).
    pub etcd: Option<Etcd>,
    /// The etcd store's client URL (a replica's points at another control plane's etcd).
    etcd_url: Option<String>,
}

impl ControlPlane {
    pub fn start() -> ControlPlane {
        Self::start_with_heartbeat("2s")
    }

    pub fn start_with_heartbeat(heartbeat: &str) -> ControlPlane {
        Self::start_with(heartbeat, |_| Vec::new())
    }

    /// Starts with extra `serve` arguments, made from the control plane's temp dir.
    pub fn start_with(
        heartbeat: &str,
        extra_args: impl FnOnce(&Path) -> Vec<String>,
    ) -> ControlPlane {
        let dir = tempfile::tempdir().expect("temp dir");
        let extra_args = extra_args(dir.path());
        let tokens: String = [
            ("alice", "admin", ADMIN, None),
            ("oscar", "operate", OPERATE, None),
            ("rita", "read", READ, None),
            ("edge", "gateway", GATEWAY, Some("*")),
            ("gw-a", "gateway", GW_A, Some("gw-a")),
            ("east", "gateway", US_EAST, Some("us-east-*")),
            ("dns-1", "gateway", DNS_1, Some("dns-1")),
        ]
        .iter()
        .map(|(name, role, token, gateway_id)| {
            let binding = gateway_id
                .map(|id| format!("gateway_id = \"{id}\"\n"))
                .unwrap_or_default();
            format!(
                "[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n{binding}\n",
                sha256(token)
            )
        })
        .collect();
        std::fs::write(dir.path().join("tokens.toml"), tokens).expect("token file");
        let etcd = match STORE.with(|store| store.get()) {
            StoreKind::Files => None,
            StoreKind::Etcd => Some(Etcd::start(dir.path())),
        };
        let mut cp = ControlPlane {
            process: Process::new("control plane", dir.path(), "cp"),
            addr: free_addr(),
            dir,
            agent: agent(),
            heartbeat: heartbeat.to_string(),
            extra_args,
            etcd_url: etcd.as_ref().map(Etcd::url),
            etcd,
        };
        retry_port_races("control plane", |attempt| {
            if attempt > 0 {
                cp.addr = free_addr();
            }
            cp.spawn()
        });
        cp
    }

    pub fn tls(&self) -> bool {
        self.extra_args.iter().any(|a| a == "--tls-cert")
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `serve` arguments naming this control plane's store.
    pub fn store_args(&self) -> Vec<String> {
        match &self.etcd_url {
            None => vec!["--data-dir".into(), self.data_dir().display().to_string()],
            Some(url) => vec![
                "--store".into(),
                "etcd".into(),
                "--etcd-endpoints".into(),
                url.clone(),
                "--etcd-timeout".into(),
                "1s".into(),
                "--leader-ttl".into(),
                "2s".into(),
            ],
        }
    }

    /// Who leads, as this replica sees it (`GET /v1/gateways`), and this replica's identity.
    pub fn leadership(&self) -> (Option<String>, String) {
        let list = self.get("/v1/gateways", READ).json();
        let view = &list["control_plane"];
        (
            view["leader"].as_str().map(str::to_owned),
            view["replica"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Another replica of this control plane on the same etcd store, on its own address (etcd
    /// stores only).
    pub fn replica(&self) -> ControlPlane {
        let url = self.etcd_url.clone().expect("replicas need an etcd store");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(
            self.dir.path().join("tokens.toml"),
            dir.path().join("tokens.toml"),
        )
        .expect("token file");
        let mut cp = ControlPlane {
            process: Process::new("control plane replica", dir.path(), "cp"),
            addr: free_addr(),
            dir,
            agent: agent(),
            heartbeat: self.heartbeat.clone(),
            extra_args: Vec::new(),
            etcd: None,
            etcd_url: Some(url),
        };
        retry_port_races("control plane replica", |attempt| {
            if attempt > 0 {
                cp.addr = free_addr();
            }
            cp.spawn()
        });
        cp
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(workspace_bin("weir-control-plane"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(self.store_args())
            .arg("--tokens")
            .arg(self.dir.path().join("tokens.toml"))
            .args(["--heartbeat", &self.heartbeat])
            .args(&self.extra_args)
            .stdout(Stdio::null());
        let (tls, healthz) = (self.tls(), format!("{}/healthz", self.url()));
        let agent = self.agent.clone();
        let log_path = self.process.next_log_path();
        self.process.spawn(command, || {
            // Over TLS (which this client does not speak) the log says when it listens.
            if tls {
                std::fs::read_to_string(&log_path)
                    .is_ok_and(|log| log.contains("control plane listening"))
            } else {
                agent.get(&healthz).call().is_ok_and(|r| r.status() == 200)
            }
        })
    }

    /// Every log line of every start of this control plane.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// The size in bytes of every log file of this control plane.
    pub fn log_bytes(&self) -> u64 {
        self.process.logs().len() as u64
    }

    /// The process's resident memory in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.process.stop()
    }

    /// Starts the process again on the same address and store.
    pub fn restart(&mut self) {
        self.kill();
        retry_while_port_lingers("control plane", || self.spawn());
    }

    /// One API call. `body` is `(content type, text)`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = format!("{}{path}", self.url());
        let bearer = token.map(|token| format!("Bearer {token}"));
        let mut all_headers: Vec<(&str, &str)> = headers.to_vec();
        if let Some(bearer) = &bearer {
            all_headers.push(("authorization", bearer));
        }
        weir_testkit::send(&self.agent, method, &url, &all_headers, body)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None, &[])
    }

    /// `PUT /v1/config` with a TOML body, as admin.
    pub fn put_config(&self, toml: &str) -> Resp {
        self.call(
            "PUT",
            "/v1/config",
            Some(ADMIN),
            Some(("application/toml", toml)),
            &[],
        )
    }

    pub fn current_version(&self) -> u64 {
        let resp = self.get("/v1/config", READ);
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.json()["version"].as_u64().expect("version")
    }

    /// Polls `cond` until it holds or `within` passes.
    pub fn eventually(&self, within: Duration, cond: impl FnMut() -> bool) -> bool {
        weir_testkit::eventually(within, cond)
    }
}

/// A fleet config with one upstream `app` with a pool per region, and a catch-all route.
pub fn fleet_config(pools: &[(&str, u32, &Origins)]) -> String {
    let mut text = String::from("[upstreams.app]\nregion_policy = \"nearest\"\n");
    for (region, weight, origins) in pools {
        text.push_str(&format!(
            "\n[[upstreams.app.pools]]\nregion = \"{region}\"\nweight = {weight}\nendpoints = [{}]\n",
            origins.endpoints_toml()
        ));
    }
    text.push_str("\n[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n");
    text
}

/// A `weir-gateway` run by a control plane: its node file, cache and logs in a temp dir.
pub struct Gateway {
    process: Process,
    pub id: String,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    node_file: PathBuf,
    agent: ureq::Agent,
}

impl Gateway {
    /// Starts a gateway following `cp_url`; returns once the process is up (not necessarily
    /// ready: with no control plane and no cache it has no config to serve).
    pub fn start(cp_url: &str, id: &str, region: &str) -> Gateway {
        Self::start_with(cp_url, id, region, "")
    }

    /// As [`Gateway::start`], with extra lines in the `[gateway]` section.
    pub fn start_with(cp_url: &str, id: &str, region: &str, gateway_extra: &str) -> Gateway {
        Self::start_full(cp_url, id, region, gateway_extra, "")
    }

    /// As [`Gateway::start`], with extra lines in `[gateway]` and in `[control_plane]`.
    pub fn start_full(
        cp_url: &str,
        id: &str,
        region: &str,
        gateway_extra: &str,
        control_plane_extra: &str,
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("token"), format!("{GATEWAY}\n")).expect("token file");
        let node_file = dir.path().join("gateway.toml");
        let mut gateway = Gateway {
            process: Process::new(&format!("gateway {id}"), dir.path(), "gateway"),
            id: id.to_string(),
            proxy: free_addr(),
            admin: free_addr(),
            node_file,
            dir,
            agent: agent(),
        };
        retry_port_races(&format!("gateway {id}"), |attempt| {
            if attempt > 0 {
                gateway.proxy = free_addr();
                gateway.admin = free_addr();
            }
            gateway.write_node(cp_url, region, gateway_extra, control_plane_extra);
            gateway.spawn()
        });
        gateway
    }

    fn write_node(
        &self,
        cp_url: &str,
        region: &str,
        gateway_extra: &str,
        control_plane_extra: &str,
    ) {
        let dir = self.dir.path();
        let text = format!(
            "[gateway]\nid = \"{id}\"\nregion = \"{region}\"\n{gateway_extra}\n\
             [listen]\nhttp = \"{proxy}\"\n\n[admin]\nlisten = \"{admin}\"\n\n\
             [access_log]\nenabled = false\n\n\
             [control_plane]\nurl = \"{cp_url}\"\ntoken_file = \"{token}\"\n\
             cache_path = \"{cache}\"\nstream_timeout = \"3s\"\n\
             reconnect_backoff = \"50ms\"\nmax_reconnect_backoff = \"500ms\"\n\
             {control_plane_extra}\n",
            id = self.id,
            proxy = self.proxy,
            admin = self.admin,
            token = dir.join("token").display(),
            cache = dir.join("cache.json").display(),
        );
        std::fs::write(&self.node_file, text).expect("node file");
    }

    /// Up when the admin listener answers `/healthz`.
    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(workspace_bin("weir-gateway"));
        command
            .arg("--config")
            .arg(&self.node_file)
            .args(["--threads", "1"])
            .stdout(Stdio::null());
        let (agent, healthz) = (self.agent.clone(), format!("http://{}/healthz", self.admin));
        self.process.spawn(command, || {
            agent.get(&healthz).call().is_ok_and(|r| r.status() == 200)
        })
    }

    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// SIGKILL and start again with the same files and ports.
    pub fn restart(&mut self) {
        self.kill();
        let what = format!("gateway {}", self.id);
        retry_while_port_lingers(&what, || self.spawn());
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends `signal` (e.g. SIGTERM: the gateway drains and exits).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        self.process.signal(signal);
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.process.wait_exit(within)
    }

    /// The version this gateway serves, from `/status` (0 before the first).
    pub fn version(&self) -> u64 {
        self.status()["config_version"].as_u64().unwrap_or(0)
    }

    pub fn status(&self) -> serde_json::Value {
        match self
            .agent
            .get(format!("http://{}/status", self.admin))
            .call()
        {
            Ok(mut resp) => resp
                .body_mut()
                .read_json()
                .unwrap_or(serde_json::Value::Null),
            Err(_) => serde_json::Value::Null,
        }
    }

    pub fn ready(&self) -> bool {
        self.agent
            .get(format!("http://{}/readyz", self.admin))
            .call()
            .is_ok_and(|r| r.status() == 200)
    }

    /// `GET path` through the proxy: (status, the `x-weir-origin-region` that answered).
    pub fn get(&self, path: &str) -> (u16, String) {
        match self
            .agent
            .get(format!("http://{}{path}", self.proxy))
            .call()
        {
            Ok(resp) => (
                resp.status().as_u16(),
                resp.headers()
                    .get("x-weir-origin-region")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            ),
            Err(e) => panic!("GET {path} via {}: {e}", self.id),
        }
    }
}

/// A `weir-loadtest origin` process on given addresses: the origins of a region started again on
/// the ports they had (the gateways' config names them) after their process was killed.
pub struct OriginsAt {
    process: Process,
    _dir: tempfile::TempDir,
}

impl OriginsAt {
    /// Starts one process serving each `(name, addr)` in `region`; returns once every listener
    /// answers (retried while the old sockets still hold the ports).
    pub fn start(region: &str, listeners: &[(String, SocketAddr)]) -> OriginsAt {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut origins = OriginsAt {
            process: Process::new(&format!("origins {region}"), dir.path(), "origin"),
            _dir: dir,
        };
        let what = format!("origins {region}");
        let agent = agent();
        retry_while_port_lingers(&what, || {
            let mut command = Command::new(workspace_bin("weir-loadtest"));
            command.args(["origin", "--region", region]);
            for (name, addr) in listeners {
                command.args(["--listen", &addr.to_string(), "--name", name]);
            }
            command.stdout(Stdio::null());
            origins.process.spawn(command, || {
                listeners.iter().all(|(_, addr)| {
                    agent
                        .get(format!("http://{addr}/_origin/stats"))
                        .call()
                        .is_ok_and(|r| r.status() == 200)
                })
            })
        });
        origins
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// `weir-loadtest run` in the background: an open-model load through `targets`, its JSON report
/// in a temp dir; SIGKILLed if dropped before [`Load::finish`].
pub struct Load {
    process: Process,
    report: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the clients saw, from the load's JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOutcome {
    /// Requests that ended (a response, or a failure).
    pub requests: u64,
    /// Failures and 5xx (`summary.error_count`).
    pub errors: u64,
}

impl Load {
    /// Starts `rate` requests/s for `duration` (e.g. `"12s"`), spread over `targets` (URLs).
    pub fn start(targets: &[String], rate: u32, duration: &str) -> Load {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = dir.path().join("report.json");
        let mut command = Command::new(workspace_bin("weir-loadtest"));
        command
            .args(["run", "--rate", &rate.to_string(), "-d", duration])
            .args(["-c", "16", "--timeout", "2s", "--quiet", "--json"])
            .arg(&report)
            .args(targets)
            .stdout(Stdio::null());
        let mut process = Process::new("weir-loadtest run", dir.path(), "load");
        // Up as soon as it runs: the report says the rest.
        process
            .spawn(command, || true)
            .unwrap_or_else(|logs| panic!("weir-loadtest run did not start:\n{logs}"));
        Load {
            process,
            report,
            _dir: dir,
        }
    }

    /// Waits up to `within` for the run to end; its outcome. Panics with its log if it fails.
    pub fn finish(mut self, within: Duration) -> LoadOutcome {
        let status = self.process.wait_exit(within);
        assert!(
            status.is_some_and(|s| s.success()),
            "weir-loadtest run: {status:?}\n{}",
            self.process.logs()
        );
        let text = std::fs::read_to_string(&self.report).expect("load report");
        let report: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
        let summary = &report["summary"];
        let count = |key: &str| summary[key].as_u64().expect(key);
        LoadOutcome {
            requests: count("completed") + count("failed"),
            errors: count("error_count"),
        }
    }
}
