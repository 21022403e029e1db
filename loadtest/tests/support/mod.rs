//! Test harness shared by the `weir-loadtest` integration tests: start an origin process, talk
//! HTTP/1.1 to it, run `weir-loadtest` and read its reports.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
pub use weir_testkit::Resp;

pub const BIN: &str = env!("CARGO_BIN_EXE_weir-loadtest");
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A running origin process; killed when dropped.
pub struct OriginProc {
    pub child: Child,
    /// Bound addresses, in `--listen` order, with the name each announced.
    pub listeners: Vec<(String, SocketAddr)>,
}

impl OriginProc {
    /// Starts `weir-loadtest origin ARGS` and waits for `listeners` "listening on" lines.
    pub fn start(args: &[&str], listeners: usize) -> Self {
        let mut child = Command::new(BIN)
            .arg("origin")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir-loadtest");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Reads stderr for the whole life of the child so the pipe never fills.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[origin] {line}");
                // The receiver may be gone: keep draining anyway.
                let _ = tx.send(line);
            }
        });
        let mut proc = OriginProc {
            child,
            listeners: Vec::new(),
        };
        let deadline = Instant::now() + IO_TIMEOUT;
        while proc.listeners.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("origin did not announce its listeners in time");
            // "origin NAME (REGION) listening on ADDR"
            if let Some((head, addr)) = line.split_once(" listening on ") {
                let name = head
                    .strip_prefix("origin ")
                    .and_then(|rest| rest.split(" (").next())
                    .expect("origin line format")
                    .to_owned();
                proc.listeners
                    .push((name, addr.trim().parse().expect("announced address")));
            }
        }
        proc
    }

    pub fn addr(&self, index: usize) -> SocketAddr {
        self.listeners[index].1
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for OriginProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        Conn {
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .expect("write request");
        self.read_response()
    }

    pub fn read_response(&mut self) -> Resp {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header line");
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (k, v) = trimmed.split_once(':').expect("header format");
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("response has content-length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        Resp {
            status,
            headers,
            body: String::from_utf8(body).expect("utf-8 body"),
        }
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    Conn::open(addr).send("GET", path, &[], "")
}

pub fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    Conn::open(addr).send("POST", path, &[], body)
}

pub fn delete(addr: SocketAddr, path: &str) -> Resp {
    Conn::open(addr).send("DELETE", path, &[], "")
}

pub fn requests_served(addr: SocketAddr) -> u64 {
    let resp = get(addr, "/_origin/stats");
    assert_eq!(resp.status, 200);
    let stats: serde_json::Value = serde_json::from_str(&resp.body).expect("stats JSON");
    stats["requests"].as_u64().expect("requests count")
}

/// Runs `weir-loadtest ARGS... --json FILE --html FILE` in `dir`; returns the output, the JSON
/// report and the HTML page.
pub fn loadtest(dir: &Path, args: &[&str]) -> (Output, Value, String) {
    let json = dir.join("report.json");
    let html = dir.join("report.html");
    let output = Command::new(BIN)
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .stdin(Stdio::null())
        .output()
        .expect("run weir-loadtest");
    let report = std::fs::read(&json)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let page = std::fs::read_to_string(&html).unwrap_or_default();
    (output, report, page)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
