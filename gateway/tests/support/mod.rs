//! Test harness: real origin and gateway processes on loopback, a blocking HTTP client, and
//! readers for metrics and status. Reads like the tests' own language: start origins, start a
//! gateway with this config, send, assert.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the process under test to take).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr")
}

/// The `weir-loadtest` binary, built beside the test binaries (`cargo build --workspace`).
fn loadtest_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test> → target/<profile>/weir-loadtest
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("weir-loadtest"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// One `weir-loadtest origin` process serving one listener per name, all in one region.
pub struct Origins {
    child: Option<Child>,
    pub region: String,
    listeners: Vec<(String, SocketAddr)>,
}

impl Origins {
    /// Start one process serving `names`, each on a port the origin picks itself (port 0), so
    /// parallel tests never race for a port.
    pub fn start(region: &str, names: &[&str]) -> Origins {
        let mut cmd = Command::new(loadtest_bin());
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
                .unwrap_or_else(|| panic!("origin exited before listening on all of {names:?}"))
                .expect("read origin stderr");
            if let Some((head, addr)) = line.split_once(" listening on ") {
                let name = head
                    .trim_start_matches("origin ")
                    .split(' ')
                    .next()
                    .unwrap_or("");
                let addr: SocketAddr = addr.trim().parse().expect("origin address");
                listeners.push((name.to_string(), addr));
            }
        }
        // Keep draining stderr so the origin never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Origins {
            child: Some(child),
            region: region.to_string(),
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

    /// The addresses as a TOML array body: `"127.0.0.1:1", "127.0.0.1:2"`.
    pub fn endpoints_toml(&self) -> String {
        self.listeners
            .iter()
            .map(|(_, a)| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SIGKILL the process, as a crashed region would look.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Set a fault on one listener, e.g. `{"status":503}` or `{"delay_ms":100}`.
    pub fn set_fault(&self, name: &str, fault_json: &str) {
        let url = format!("http://{}/_origin/fault", self.addr(name));
        let resp = agent()
            .post(&url)
            .header("content-type", "application/json")
            .send(fault_json)
            .expect("set fault");
        assert_eq!(resp.status(), 200, "setting fault on {name}");
    }

    pub fn clear_fault(&self, name: &str) {
        let url = format!("http://{}/_origin/fault", self.addr(name));
        let resp = agent().delete(&url).call().expect("clear fault");
        assert!(resp.status().is_success(), "clearing fault on {name}");
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `weir-gateway` process with its own config file and logs in a temp dir.
pub struct Gateway {
    child: Option<Child>,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

/// An answer from the gateway.
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

    /// The name of the origin that answered (`x-weir-origin`).
    pub fn origin(&self) -> &str {
        self.header("x-weir-origin").unwrap_or("")
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

impl Gateway {
    /// Start a gateway with `body` (upstreams and routes, optionally `[gateway]`); the harness
    /// adds the listeners and access log. Waits until `/readyz` answers 200.
    pub fn start(body: &str) -> Gateway {
        Self::start_with_args(body, &[])
    }

    pub fn start_with_args(body: &str, extra_args: &[&str]) -> Gateway {
        // The listen ports are picked free but taken later; another test can win the race, so
        // try again with new ports when the gateway says so.
        for _ in 0..3 {
            match Self::try_start(body, extra_args) {
                Ok(gateway) => return gateway,
                Err(logs) if logs.contains("cannot listen on") => continue,
                Err(logs) => panic!("gateway did not start:\n{logs}"),
            }
        }
        panic!("gateway could not get free ports in three tries");
    }

    fn try_start(body: &str, extra_args: &[&str]) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let proxy = free_addr();
        let admin = free_addr();
        let config_path = dir.path().join("gateway.toml");
        let mut gateway = Gateway {
            child: None,
            proxy,
            admin,
            config_path,
            agent: agent(),
            dir,
        };
        gateway.write_config(body);
        let stdout =
            std::fs::File::create(gateway.dir.path().join("access.log")).expect("log file");
        let stderr =
            std::fs::File::create(gateway.dir.path().join("gateway.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
            .arg("--config")
            .arg(&gateway.config_path)
            .args(["--threads", "2", "--watch-interval", "100ms"])
            .args(extra_args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn weir-gateway");
        gateway.child = Some(child);
        gateway.wait_ready()?;
        Ok(gateway)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("gateway exited with {status}:\n{}", self.logs()));
            }
            let url = format!("http://{}/readyz", self.admin);
            if let Ok(resp) = self.agent.get(&url).call()
                && resp.status() == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!("gateway not ready within 20 s:\n{}", self.logs()))
    }

    /// The whole config text for `body`, with this gateway's listeners.
    pub fn config_text(&self, body: &str) -> String {
        let (gateway_section, rest) = if body.trim_start().starts_with("[gateway]") {
            (String::new(), body.to_string())
        } else {
            (
                "[gateway]\nid = \"test-gw\"\nregion = \"us-east\"\n".to_string(),
                body.to_string(),
            )
        };
        format!(
            "{gateway_section}{rest}\n[listen]\nhttp = \"{}\"\n[admin]\nlisten = \"{}\"\n[access_log]\nenabled = true\n",
            self.proxy, self.admin
        )
    }

    /// Replace the config file atomically (write a temp file, then rename), as editors do.
    pub fn write_config(&self, body: &str) {
        self.write_raw_config(&self.config_text(body));
    }

    pub fn write_raw_config(&self, text: &str) {
        let tmp = self.dir.path().join(".gateway.toml.tmp");
        let mut f = std::fs::File::create(&tmp).expect("temp config");
        f.write_all(text.as_bytes()).expect("write config");
        f.sync_all().expect("sync config");
        std::fs::rename(&tmp, &self.config_path).expect("rename config");
    }

    pub fn sighup(&self) {
        let pid = self.child.as_ref().expect("running").id();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("send SIGHUP");
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[])
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, ureq::Error> {
        request_via(&self.agent, self.proxy, method, path, headers)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.try_request(method, path, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()))
    }

    pub fn admin_get(&self, path: &str) -> Resp {
        let url = format!("http://{}{}", self.admin, path);
        let mut resp = self.agent.get(&url).call().expect("admin request");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("admin body");
        Resp {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.admin_get("/status").body).expect("status is JSON")
    }

    /// Sum of every sample of `name` whose labels include all of `labels` (`key="value"`).
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.admin_get("/metrics").body;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Operational log (stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Access log lines parsed as JSON.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Poll `cond` every 50 ms for up to `within`; true as soon as it holds.
    pub fn eventually(&self, within: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Config body: upstream `api` with a us-east pool (`east`) and an eu-west pool (`west`) at the
/// given weights, `extra` upstream keys, and one catch-all route to it.
pub fn two_regions(
    policy: &str,
    (east, east_weight): (&Origins, u32),
    (west, west_weight): (&Origins, u32),
    extra: &str,
) -> String {
    format!(
        r#"
[upstreams.api]
region_policy = "{policy}"
{extra}
[[upstreams.api.pools]]
region = "us-east"
weight = {east_weight}
endpoints = [{east}]
[[upstreams.api.pools]]
region = "eu-west"
weight = {west_weight}
endpoints = [{west}]
[[routes]]
upstream = "api"
"#,
        east = east.endpoints_toml(),
        west = west.endpoints_toml(),
    )
}

/// Count answers by origin name over `n` GETs.
pub fn spread(gw: &Gateway, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}");
        *counts.entry(resp.origin().to_string()).or_insert(0) += 1;
    }
    counts
}

/// One GET over a fresh connection from the loopback address `from` (e.g. `127.0.0.2`), so a
/// test can be several clients as the gateway sees them. `Connection: close`, read to the end.
pub fn get_from(
    from: std::net::IpAddr,
    to: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Resp {
    use socket2::{Domain, Socket, Type};
    use std::io::Read;
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket
        .connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {to} from {from}: {e}"));
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "unreadable response from {to}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Status line, headers and (content-length or read-to-end) body of one HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).ok()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// `127.0.0.<last_octet>`: another client address on loopback.
pub fn loopback(last_octet: u8) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last_octet))
}

/// Call `send` on a fixed schedule, `rate` times a second for `duration` (open loop: a slow
/// answer delays the next call, but the schedule catches up). Returns the time from the first
/// call to the last.
pub fn paced(rate: f64, duration: Duration, mut send: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut last = start;
    for i in 0u64.. {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        if at > start + duration {
            break;
        }
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        last = Instant::now();
        send();
    }
    last - start
}

/// What one origin listener says it served (`GET /_origin/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// Every non-`/_origin` request, `/healthz` included.
    pub requests: u64,
    /// Of which health checks.
    pub healthz: u64,
}

impl Origins {
    /// The listener names, in the order given to `start`.
    pub fn names(&self) -> Vec<String> {
        self.listeners.iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn stats(&self, name: &str) -> OriginStats {
        let url = format!("http://{}/_origin/stats", self.addr(name));
        let mut resp = agent().get(&url).call().expect("origin stats");
        assert_eq!(resp.status(), 200, "stats of {name}");
        let doc: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().expect("stats body"))
                .expect("stats are JSON");
        OriginStats {
            requests: doc["requests"].as_u64().expect("requests"),
            healthz: doc["healthz"].as_u64().expect("healthz"),
        }
    }

    /// Requests this listener served, health checks left out: the attempts the gateway sent it.
    pub fn served(&self, name: &str) -> u64 {
        let stats = self.stats(name);
        stats.requests - stats.healthz
    }

    /// `served` summed over every listener of this process.
    pub fn served_total(&self) -> u64 {
        self.listeners.iter().map(|(n, _)| self.served(n)).sum()
    }
}

/// Send one request to the gateway's proxy listener through `agent` (a client with its own
/// connections, for tests that need many concurrent clients).
pub fn request_via(
    agent: &ureq::Agent,
    proxy: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Resp, ureq::Error> {
    let url = format!("http://{proxy}{path}");
    let mut builder = ureq::http::Request::builder().method(method).uri(&url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder.body(()).expect("request");
    let mut resp = agent.run(request)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.body_mut().read_to_string()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl Gateway {
    /// The `/status` entry of upstream `name`.
    pub fn upstream_status(&self, name: &str) -> serde_json::Value {
        let status = self.status();
        status["upstreams"]
            .as_array()
            .and_then(|ups| ups.iter().find(|u| u["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no upstream {name} in /status: {status}"))
    }

    /// The `/status` entry of the endpoint at `addr` in upstream `upstream` (any pool).
    pub fn endpoint_status(&self, upstream: &str, addr: SocketAddr) -> serde_json::Value {
        let up = self.upstream_status(upstream);
        let want = addr.to_string();
        up["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["endpoints"].as_array().into_iter().flatten())
            .find(|e| e["address"] == want.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no endpoint {want} in upstream {upstream}: {up}"))
    }
}
