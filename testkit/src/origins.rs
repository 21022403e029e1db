//! Simulated origins: one `weir-loadtest origin` process serving a listener per name.

use crate::{agent, workspace_bin};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// One `weir-loadtest origin` process serving one listener per name, all in one region.
/// SIGKILLed when dropped.
pub struct Origins {
    child: Option<Child>,
    pub region: String,
    listeners: Vec<(String, SocketAddr)>,
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
    /// Starts one process serving `names`, each on a port the origin picks itself (port 0), so
    /// parallel tests never race for a port; returns once every listener is up.
    pub fn start(region: &str, names: &[&str]) -> Origins {
        let mut cmd = Command::new(workspace_bin("weir-loadtest"));
        cmd.args(["origin", "--region", region]);
        for name in names {
            cmd.args(["--listen", "127.0.0.1:0", "--name", name]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
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
            if let Some((head, addr)) = line.split_once(" listening on ")
                && let Some(name) = head
                    .strip_prefix("origin ")
                    .and_then(|rest| rest.split_whitespace().next())
            {
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

    /// The listener names, in the order given to `start`.
    pub fn names(&self) -> Vec<String> {
        self.listeners.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The addresses as the inside of a TOML array: `"127.0.0.1:1", "127.0.0.1:2"`.
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

    /// Sets a fault on one listener, e.g. `{"status":503}` or `{"delay_ms":100}`.
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

    pub fn stats(&self, name: &str) -> OriginStats {
        let url = format!("http://{}/_origin/stats", self.addr(name));
        let mut resp = agent().get(&url).call().expect("origin stats");
        assert_eq!(resp.status(), 200, "stats of {name}");
        let doc: serde_json::Value = resp.body_mut().read_json().expect("stats are JSON");
        OriginStats {
            requests: doc["requests"].as_u64().expect("requests"),
            healthz: doc["healthz"].as_u64().expect("healthz"),
        }
    }

    /// Requests this listener served, health checks left out: the attempts a gateway sent it.
    pub fn served(&self, name: &str) -> u64 {
        let stats = self.stats(name);
        stats.requests - stats.healthz
    }

    /// `served` summed over every listener of this process.
    pub fn served_total(&self) -> u64 {
        self.listeners.iter().map(|(n, _)| self.served(n)).sum()
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        self.kill();
    }
}
