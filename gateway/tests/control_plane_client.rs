//! The gateway's push client against a fake control plane on loopback (plain HTTP/1.1 served by
//! threads here, so the test decides what is pushed and how reports are answered): versions only
//! go forward, and a report endpoint that hangs does not hold up the next version.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Gateway;
use weir_protocol::{ConfigPush, Outcome, Report, StreamMessage};

/// A control plane that pushes what the test sends and records the reports it gets.
struct FakeControlPlane {
    addr: SocketAddr,
    pushes: Sender<String>,
    reports: Arc<Mutex<Vec<Report>>>,
    /// While set, the next report is read and never answered (its connection is held open).
    hang_next_report: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl FakeControlPlane {
    fn start() -> FakeControlPlane {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (pushes, lines) = channel::<String>();
        let lines = Arc::new(Mutex::new(lines));
        let reports = Arc::new(Mutex::new(Vec::new()));
        let hang_next_report = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        {
            let (reports, hang, held) = (
                Arc::clone(&reports),
                Arc::clone(&hang_next_report),
                Arc::clone(&held),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (lines, reports, hang, held) = (
                        Arc::clone(&lines),
                        Arc::clone(&reports),
                        Arc::clone(&hang),
                        Arc::clone(&held),
                    );
                    std::thread::spawn(move || serve(stream, &lines, &reports, &hang, &held));
                }
            });
        }
        FakeControlPlane {
            addr,
            pushes,
            reports,
            hang_next_report,
            held,
        }
    }

    fn push(&self, version: u64, config: &str) {
        let checksum = weir_gateway::reload::checksum(config);
        self.push_raw(version, &checksum, config);
    }

    fn push_raw(&self, version: u64, checksum: &str, config: &str) {
        let line = StreamMessage::Config(ConfigPush {
            version,
            checksum: checksum.to_string(),
            config: config.to_string(),
        })
        .to_line();
        self.pushes.send(line).expect("the stream thread is gone");
    }

    fn report_for(&self, version: u64) -> Option<Report> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.version == version)
            .cloned()
    }
}

fn serve(
    stream: TcpStream,
    lines: &Mutex<Receiver<String>>,
    reports: &Mutex<Vec<Report>>,
    hang: &AtomicBool,
    held: &Mutex<Vec<TcpStream>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut stream = stream;
    if request_line.starts_with("GET /v1/stream") {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        );
        let chunk = |stream: &mut TcpStream, line: &str| {
            stream.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
        };
        if chunk(
            &mut stream,
            &StreamMessage::Hello { heartbeat_ms: 500 }.to_line(),
        )
        .is_err()
        {
            return;
        }
        loop {
            let next = lines
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_millis(500));
            let line = match next {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => StreamMessage::Heartbeat.to_line(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if chunk(&mut stream, &line).is_err() {
                return;
            }
        }
    } else if request_line.starts_with("POST /v1/gateways/") {
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(report) = serde_json::from_slice::<Report>(&body) {
            reports.lock().unwrap().push(report);
        }
        if hang.swap(false, Ordering::SeqCst) {
            held.lock().unwrap().push(stream); // never answered
        } else {
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    } else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

fn fleet(weight: u32) -> String {
    format!(
        "[upstreams.app]\n[[upstreams.app.pools]]\nregion = \"us-east\"\nweight = {weight}\n\
         endpoints = [\"127.0.0.1:9\"]\n\n[[routes]]\nupstream = \"app\"\n"
    )
}

/// A gateway following `cp`; returns once it is ready (it has applied a first version).
fn gateway_following(cp: &FakeControlPlane, dir: &std::path::Path) -> Gateway {
    let token = dir.join("token");
    std::fs::write(&token, "gw-token\n").unwrap();
    Gateway::start(&format!(
        "[control_plane]\nurl = \"http://{}\"\ntoken_file = \"{}\"\ncache_path = \"{}\"\n\
         stream_timeout = \"3s\"\nreconnect_backoff = \"50ms\"\nmax_reconnect_backoff = \"500ms\"\n",
        cp.addr,
        token.display(),
        dir.join("cache.json").display(),
    ))
}

fn version(gateway: &Gateway) -> u64 {
    gateway.status()["config_version"].as_u64().unwrap_or(0)
}

#[test]
fn pushed_versions_only_go_forward() {
    let cp = FakeControlPlane::start();
    let dir = tempfile::tempdir().unwrap();
    cp.push(5, &fleet(100));
    let gateway = gateway_following(&cp, dir.path());
    assert_eq!(version(&gateway), 5);
    assert!(gateway.eventually(Duration::from_secs(10), || cp.report_for(5).is_some()));
    assert_eq!(cp.report_for(5).unwrap().outcome, Outcome::Ack);

    cp.push(3, &fleet(30));
    assert!(gateway.eventually(Duration::from_secs(10), || cp.report_for(3).is_some()));
    let older = cp.report_for(3).unwrap();
    assert_eq!((older.outcome, older.applied_version), (Outcome::Nack, 5));
    assert!(
        older.errors[0].contains("older than version 5"),
        "{older:?}"
    );

    cp.push(0, &fleet(20));
    assert!(gateway.eventually(Duration::from_secs(10), || cp.report_for(0).is_some()));
    let zero = cp.report_for(0).unwrap();
    assert_eq!((zero.outcome, zero.applied_version), (Outcome::Nack, 5));

    // The same number with other content is a rewritten history: refused too.
    cp.push(5, &fleet(50));
    assert!(gateway.eventually(Duration::from_secs(10), || {
        cp.reports
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.version == 5)
            .count()
            == 2
    }));
    assert_eq!(version(&gateway), 5);
    let status = gateway.status();
    assert_eq!(
        status["upstreams"][0]["pools"][0]["weight"], 100,
        "{status}"
    );
    assert_eq!(
        gateway.metric("weir_control_plane_pushes_total", &["stale"]),
        3.0
    );
    // A newer version is applied as usual.
    cp.push(6, &fleet(60));
    assert!(gateway.eventually(Duration::from_secs(10), || version(&gateway) == 6));
}

#[test]
fn a_hanging_report_endpoint_does_not_delay_the_next_version() {
    let cp = FakeControlPlane::start();
    let dir = tempfile::tempdir().unwrap();
    cp.hang_next_report.store(true, Ordering::SeqCst);
    cp.push(1, &fleet(100));
    let gateway = gateway_following(&cp, dir.path());
    // The report of version 1 arrives and is never answered.
    assert!(gateway.eventually(Duration::from_secs(10), || {
        !cp.held.lock().unwrap().is_empty()
    }));

    cp.push(2, &fleet(90));
    assert!(gateway.eventually(Duration::from_secs(20), || version(&gateway) == 2));
    // Version 2 was applied while the report of version 1 was still waiting for its answer: no
    // report had timed out yet (a report is given 5 s). The 'config applied' line is written
    // just after the new version is published, so wait for it too.
    let applied_line = |logs: &str| {
        logs.lines()
            .any(|l| l.contains("config applied") && l.contains("\"version\":2"))
    };
    gateway.eventually(Duration::from_secs(5), || applied_line(&gateway.logs()));
    let logs = gateway.logs();
    let applied = logs
        .lines()
        .position(|l| l.contains("config applied") && l.contains("\"version\":2"))
        .unwrap_or_else(|| panic!("no 'config applied' line for version 2:\n{logs}"));
    let timed_out = logs.lines().position(|l| l.contains("a report timed out"));
    assert!(
        timed_out.is_none_or(|t| t > applied),
        "version 2 waited for the report of version 1 to time out:\n{logs}"
    );
    // Once that report gives up, the newest state is reported.
    assert!(gateway.eventually(Duration::from_secs(20), || cp.report_for(2).is_some()));
    assert_eq!(cp.report_for(2).unwrap().outcome, Outcome::Ack);
}
