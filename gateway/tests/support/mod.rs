//! Test harness: real origin and gateway processes on loopback, a blocking HTTP client, and
//! readers for metrics and status. Reads like the tests' own language: start origins, start a
//! gateway with this config, send, assert.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use weir_testkit::{Origins, Resp, agent, free_addr, loopback};
use weir_testkit::{Process, retry_port_races};

/// A running `weir-gateway` process with its own config file and logs in a temp dir.
pub struct Gateway {
    process: Process,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// Keys added to the harness's `[listen]` and `[access_log]` tables.
    extra: Extra,
}

/// Keys a test adds to the tables the harness writes itself.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub listen: String,
    pub access_log: String,
}

impl Gateway {
    /// Start a gateway with `body` (upstreams and routes, optionally `[gateway]`); the harness
    /// adds the listeners and access log. Waits until `/readyz` answers 200.
    pub fn start(body: &str) -> Gateway {
        Self::start_with_args(body, &[])
    }

    pub fn start_with_args(body: &str, extra_args: &[&str]) -> Gateway {
        Self::start_with_extra(body, extra_args, &Extra::default())
    }

    /// Like `start_with_args`, with `extra` keys in `[listen]` and `[access_log]`.
    pub fn start_with_extra(body: &str, extra_args: &[&str], extra: &Extra) -> Gateway {
        // The listen ports are picked free but taken later; another test can win the race, so
        // try again with new ports when the gateway says so.
        retry_port_races("gateway", |_| Self::try_start(body, extra_args, extra))
    }

    fn try_start(body: &str, extra_args: &[&str], extra: &Extra) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("gateway.toml");
        let mut gateway = Gateway {
            process: Process::new("gateway", dir.path(), "gateway"),
            proxy: free_addr(),
            admin: free_addr(),
            config_path,
            agent: agent(),
            dir,
            extra: extra.clone(),
        };
        gateway.write_config(body);
        let access_log =
            std::fs::File::create(gateway.dir.path().join("access.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir-gateway"));
        command
            .arg("--config")
            .arg(&gateway.config_path)
            .args(["--threads", "2", "--watch-interval", "100ms"])
            .args(extra_args)
            .stdout(access_log);
        let (agent, readyz) = (
            gateway.agent.clone(),
            format!("http://{}/readyz", gateway.admin),
        );
        gateway.process.spawn(command, || {
            agent.get(&readyz).call().is_ok_and(|r| r.status() == 200)
        })?;
        Ok(gateway)
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
            "{gateway_section}{rest}\n[listen]\nhttp = \"{}\"\n{}\n[admin]\nlisten = \"{}\"\n[access_log]\nenabled = true\n{}\n",
            self.proxy, self.extra.listen, self.admin, self.extra.access_log
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
        self.process.signal(nix::sys::signal::Signal::SIGHUP);
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        self.process.signal(signal);
    }

    /// Waits up to `within` for the gateway to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.process.wait_exit(within)
    }

    /// The gateway's own temp dir (config, logs).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
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
        weir_testkit::metric_sum(&self.admin_get("/metrics").body, name, labels)
    }

    /// Operational log (stderr).
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Access log lines parsed as JSON.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Poll `cond` for up to `within`; true as soon as it holds.
    pub fn eventually(&self, within: Duration, cond: impl FnMut() -> bool) -> bool {
        weir_testkit::eventually(within, cond)
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

/// Send one request to the gateway's proxy listener through `agent` (a client with its own
/// connections, for tests that need many concurrent clients).
pub fn request_via(
    agent: &ureq::Agent,
    proxy: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Resp, ureq::Error> {
    weir_testkit::send(
        agent,
        method,
        &format!("http://{proxy}{path}"),
        headers,
        None,
    )
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
