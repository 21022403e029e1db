//! Test harness: a real `weir-control-plane` process with a token per role, gateways run by it,
//! simulated origins, and a blocking HTTP client. Reads like the tests' own language: start a
//! control plane, put a config, start gateways, assert what they serve.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clear-text tokens of the test token file, one per role.
pub const ADMIN: &str = "admin-token-0123456789";
pub const OPERATE: &str = "operate-token-0123456789";
pub const READ: &str = "read-token-0123456789";
pub const GATEWAY: &str = "gateway-token-0123456789";

/// A binary built beside the test binaries (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

/// An answer from the control plane.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

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
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
    heartbeat: String,
    starts: usize,
    /// Extra `serve` arguments (TLS, seed).
    extra_args: Vec<String>,
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
            ("alice", "admin", ADMIN),
            ("oscar", "operate", OPERATE),
            ("rita", "read", READ),
            ("edge", "gateway", GATEWAY),
        ]
        .iter()
        .map(|(name, role, token)| {
            format!(
                "[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n\n",
                sha256(token)
            )
        })
        .collect();
        std::fs::write(dir.path().join("tokens.toml"), tokens).expect("token file");
        let mut cp = ControlPlane {
            child: None,
            addr: free_addr(),
            dir,
            agent: agent(),
            heartbeat: heartbeat.to_string(),
            starts: 0,
            extra_args,
        };
        for _ in 0..3 {
            match cp.spawn() {
                Ok(()) => return cp,
                Err(logs) if logs.contains("cannot listen") => cp.addr = free_addr(),
                Err(logs) => panic!("control plane did not start:\n{logs}"),
            }
        }
        panic!("control plane could not get a free port in three tries");
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

    fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = Command::new(workspace_bin("weir-control-plane"))
            .arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--tokens")
            .arg(self.dir.path().join("tokens.toml"))
            .args(["--heartbeat", &self.heartbeat])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weir-control-plane");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "control plane exited with {status}:\n{}",
                    self.logs()
                ));
            }
            // Over TLS (which this client does not speak) the log says when it listens.
            let up = if self.tls() {
                std::fs::read_to_string(self.log_path())
                    .is_ok_and(|log| log.contains("control plane listening"))
            } else {
                self.agent
                    .get(format!("{}/healthz", self.url()))
                    .call()
                    .is_ok_and(|resp| resp.status() == 200)
            };
            if up {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "control plane not up within 20 s:\n{}",
            self.logs()
        ))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("cp-{}.log", self.starts))
    }

    /// Every log line of every start of this control plane.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(format!("cp-{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signal");
        child.wait().expect("wait")
    }

    /// Starts the process again on the same address and store.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The old socket may linger for a moment.
                Err(logs) if logs.contains("cannot listen") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(logs) => panic!("control plane did not restart:\n{logs}"),
            }
        }
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
        let mut request = http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let result = match body {
            Some((content_type, text)) => self.agent.run(
                request
                    .header("content-type", content_type)
                    .body(text.to_string())
                    .expect("request"),
            ),
            None => self.agent.run(request.body(()).expect("request")),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
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

    /// Polls `cond` every 20 ms until it holds or `within` passes.
    pub fn eventually(&self, within: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        cond()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `weir-loadtest origin` process serving one listener per name, all in one region.
pub struct Origins {
    child: Option<Child>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Origins {
    pub fn start(region: &str, names: &[&str]) -> Origins {
        let mut cmd = Command::new(workspace_bin("weir-loadtest"));
        cmd.args(["origin", "--region", region]);
        for name in names {
            cmd.args(["--listen", "127.0.0.1:0", "--name", name]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir-loadtest origin");
        // Each listener announces itself: "origin NAME (REGION) listening on ADDR".
        let stderr = child.stderr.take().expect("origin stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut listeners = Vec::new();
        while listeners.len() < names.len() {
            let line = lines
                .next()
                .expect("origin exited before listening")
                .expect("read origin stderr");
            if let Some((head, addr)) = line.split_once(" listening on ")
                && let Some(name) = head
                    .strip_prefix("origin ")
                    .and_then(|rest| rest.split_whitespace().next())
            {
                listeners.push((name.to_string(), addr.trim().parse().expect("origin addr")));
            }
        }
        // Keep draining stderr so the origin never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Origins {
            child: Some(child),
            listeners,
        }
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no origin named {name}"))
    }

    /// The endpoints as a TOML array.
    pub fn endpoints_toml(&self) -> String {
        let quoted: Vec<String> = self
            .listeners
            .iter()
            .map(|(_, a)| format!("\"{a}\""))
            .collect();
        format!("[{}]", quoted.join(", "))
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fleet config with one upstream `app` with a pool per region, and a catch-all route.
pub fn fleet_config(pools: &[(&str, u32, &Origins)]) -> String {
    let mut text = String::from("[upstreams.app]\nregion_policy = \"nearest\"\n");
    for (region, weight, origins) in pools {
        text.push_str(&format!(
            "\n[[upstreams.app.pools]]\nregion = \"{region}\"\nweight = {weight}\nendpoints = {}\n",
            origins.endpoints_toml()
        ));
    }
    text.push_str("\n[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n");
    text
}

/// A `weir-gateway` run by a control plane: its node file, cache and logs in a temp dir.
pub struct Gateway {
    child: Option<Child>,
    pub id: String,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    node_file: PathBuf,
    agent: ureq::Agent,
    starts: usize,
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
            child: None,
            id: id.to_string(),
            proxy: free_addr(),
            admin: free_addr(),
            node_file,
            dir,
            agent: agent(),
            starts: 0,
        };
        gateway.write_node(cp_url, region, gateway_extra, control_plane_extra);
        for _ in 0..3 {
            match gateway.spawn() {
                Ok(()) => return gateway,
                Err(logs) if logs.contains("cannot listen") => {
                    gateway.proxy = free_addr();
                    gateway.admin = free_addr();
                    gateway.write_node(cp_url, region, gateway_extra, control_plane_extra);
                }
                Err(logs) => panic!("gateway {id} did not start:\n{logs}"),
            }
        }
        panic!("gateway {id} could not get free ports in three tries");
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

    fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = Command::new(workspace_bin("weir-gateway"))
            .arg("--config")
            .arg(&self.node_file)
            .args(["--threads", "1"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weir-gateway");
        self.child = Some(child);
        // Up when the admin listener answers /healthz.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("gateway exited with {status}:\n{}", self.logs()));
            }
            if let Ok(resp) = self
                .agent
                .get(format!("http://{}/healthz", self.admin))
                .call()
                && resp.status() == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("gateway not up within 20 s:\n{}", self.logs()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("gateway-{}.log", self.starts))
    }

    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(format!("gateway-{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// SIGKILL and start again with the same files and ports.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(logs) if logs.contains("cannot listen") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(logs) => panic!("gateway {} did not restart:\n{logs}", self.id),
            }
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
        }
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

    pub fn metric(&self, name: &str) -> f64 {
        let text = self
            .agent
            .get(format!("http://{}/metrics", self.admin))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
