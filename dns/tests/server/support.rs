//! The harness: start `weir-dns` with a config on free loopback ports, ask it questions (by
//! `dig` or by a packet built here), read its admin endpoints.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use weir_testkit::{Process, agent, free_addr, retry_port_races, retry_while_port_lingers, send};

/// A running weir-dns.
pub struct Dns {
    pub process: Process,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dns {
    /// Starts weir-dns on free ports with `config` (a fleet config with `[dns]`), its query log
    /// off unless `query_log` says where.
    pub fn start(config: &str) -> Dns {
        Dns::start_with_log(config, "off")
    }

    /// Like [`Dns::start`], with `--query-log` set to `query_log` (`stderr` lands in the
    /// process's log file).
    pub fn start_with_log(config: &str, query_log: &str) -> Dns {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, config).expect("write config");
        let mut process = Process::new("weir-dns", dir.path(), "weir-dns");
        let (listen, admin) = retry_port_races("weir-dns", |_| {
            let (listen, admin) = (free_addr(), free_addr());
            spawn(&mut process, &path, listen, admin, query_log)?;
            Ok((listen, admin))
        });
        Dns {
            process,
            listen,
            admin,
            config: path,
            _dir: dir,
        }
    }

    /// Starts it again on the same ports (after it was killed).
    pub fn restart(&mut self) {
        let (path, listen, admin) = (self.config.clone(), self.listen, self.admin);
        retry_while_port_lingers("weir-dns", || {
            spawn(&mut self.process, &path, listen, admin, "off")
        });
    }

    /// Asks over UDP from 127.0.0.1.
    pub fn ask(&self, name: &str, qtype: RecordType) -> Message {
        self.ask_with(&Ask::new(name, qtype))
    }

    pub fn ask_with(&self, ask: &Ask) -> Message {
        let bytes = ask.message().to_vec().expect("encode");
        exchange(self.listen, ask.source, &bytes, Duration::from_secs(2), 3)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `dig @server -p port ARGS +time=2 +tries=2`, its output.
    pub fn dig(&self, args: &[&str]) -> String {
        let output = Command::new("dig")
            .arg(format!("@{}", self.listen.ip()))
            .args(["-p", &self.listen.port().to_string(), "+time=2", "+tries=2"])
            .args(args)
            .output()
            .expect("dig (Debian package dnsutils; scripts/test.sh installs it)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn status(&self) -> serde_json::Value {
        let (_, body) = get(self.admin, "/status").expect("status");
        serde_json::from_str(&body).expect("status JSON")
    }

    pub fn metrics(&self) -> String {
        get(self.admin, "/metrics").expect("metrics").1
    }

    /// The resident set size of the process, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.pid()))
            .expect("proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

fn spawn(
    process: &mut Process,
    config: &Path,
    listen: SocketAddr,
    admin: SocketAddr,
    query_log: &str,
) -> Result<(), String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir-dns"));
    command
        .args(["--config", config.to_str().expect("utf-8 path")])
        .args(["--listen", &listen.to_string()])
        .args(["--admin", &admin.to_string()])
        .args(["--query-log", query_log])
        .stdout(std::process::Stdio::null());
    process.spawn(command, || {
        get(admin, "/readyz").is_some_and(|(status, _)| status == 200)
    })
}

/// `GET http://addr/path`: status and body, or `None` when nothing answers.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    send(&agent(), "GET", &format!("http://{addr}{path}"), &[], None)
        .ok()
        .map(|resp| (resp.status, resp.body))
}

/// One question, with what the client adds to it.
pub struct Ask {
    pub name: String,
    pub qtype: RecordType,
    /// Where the question comes from (any 127.0.0.0/8 address works on Linux).
    pub source: IpAddr,
    /// EDNS Client Subnet `(address, prefix)`.
    pub subnet: Option<(IpAddr, u8)>,
    /// EDNS with this UDP payload size; `None` sends no OPT record (unless `subnet` is set).
    pub payload: Option<u16>,
}

impl Ask {
    pub fn new(name: &str, qtype: RecordType) -> Ask {
        Ask {
            name: name.to_owned(),
            qtype,
            source: IpAddr::from([127, 0, 0, 1]),
            subnet: None,
            payload: None,
        }
    }

    pub fn message(&self) -> Message {
        let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
        message.add_query(Query::query(
            Name::from_str(&self.name).expect("name"),
            self.qtype,
        ));
        if self.payload.is_some() || self.subnet.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(self.payload.unwrap_or(1232));
            if let Some((address, prefix)) = self.subnet {
                edns.options_mut()
                    .insert(EdnsOption::Subnet(ClientSubnet::new(address, prefix, 0)));
            }
            message.set_edns(edns);
        }
        message
    }
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sends `bytes` from `source` to `server` and reads the answer with the same id, waiting
/// `wait` for it, `tries` times.
pub fn exchange(
    server: SocketAddr,
    source: IpAddr,
    bytes: &[u8],
    wait: Duration,
    tries: u32,
) -> Result<Message, String> {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(wait))
        .map_err(|e| e.to_string())?;
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let mut buffer = [0u8; 65_535];
    for _ in 0..tries {
        socket.send_to(bytes, server).map_err(|e| e.to_string())?;
        while let Ok(read) = socket.recv(&mut buffer) {
            let message = Message::from_vec(&buffer[..read]).map_err(|e| e.to_string())?;
            if message.metadata.id == id {
                return Ok(message);
            }
        }
    }
    Err(format!("no answer from {server}"))
}

/// The A and AAAA addresses of an answer, in order.
pub fn addresses(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.to_string()),
            RData::AAAA(aaaa) => Some(aaaa.to_string()),
            _ => None,
        })
        .collect()
}

/// A file's text with `from` replaced by `to` (panics when `from` is not there).
pub fn rewrite(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read config");
    assert!(text.contains(from), "{from:?} not in the config");
    std::fs::write(path, text.replace(from, to)).expect("write config");
}

/// The zone head every test config starts with.
pub const HEAD: &str = r#"
[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com", negative_ttl = "20s" }
ns = ["ns1.gslb.example.com", "ns2.gslb.example.com"]
"#;
