//! The gateway process's life: a graceful SIGTERM (requests in flight finish, `/readyz` fails,
//! the listener closes, idle keep-alive connections close, exit 0), the request-header deadline
//! and byte cap against slow or huge headers, every README metric present from the start, no
//! per-request Pingora log lines, and reopening the access log on SIGUSR1.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{Extra, Gateway, Origins};

fn one_origin(origins: &Origins, gateway_keys: &str) -> String {
    format!(
        "[gateway]\nid = \"test-gw\"\nregion = \"us-east\"\n{gateway_keys}\n\
         [upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
         [[routes]]\nupstream = \"api\"\n",
        origins.endpoints_toml()
    )
}

/// One HTTP/1.1 request on a new connection, keep-alive; returns the connection and the
/// response's status line.
fn keep_alive_get(addr: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").expect("send");
    let mut buf = vec![0u8; 16 * 1024];
    let n = stream.read(&mut buf).expect("response");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = text.lines().next().unwrap_or_default().to_string();
    (stream, status)
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits() {
    let origins = Origins::start("us-east", &["slow"]);
    let mut gw = Gateway::start(&one_origin(&origins, "shutdown_grace = \"20s\""));
    // An idle keep-alive connection, which the drain must close.
    let (mut idle, status) = keep_alive_get(gw.proxy);
    assert!(status.contains(" 200 "), "{status}");
    origins.set_fault("slow", r#"{"delay_ms":2000}"#);
    let proxy = gw.proxy;
    let in_flight = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(proxy).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(stream, "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n").expect("send");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).to_string()
    });
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.metric("weir_gateway_in_flight", &[]) >= 1.0
        }),
        "the slow request never reached the gateway"
    );

    gw.signal(Signal::SIGTERM);
    // Not ready at once, while the admin listener still answers.
    assert!(
        gw.eventually(Duration::from_secs(2), || gw.admin_get("/readyz").status
            == 503),
        "/readyz should fail right after SIGTERM\n{}",
        gw.logs()
    );
    assert_eq!(gw.metric("weir_draining", &[]), 1.0);
    // The listener closes: new connections are refused.
    assert!(
        gw.eventually(Duration::from_secs(2), || matches!(
            TcpStream::connect(gw.proxy),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused
        )),
        "the proxy listener should close after SIGTERM"
    );
    // The idle keep-alive connection is closed by the gateway.
    let mut buf = [0u8; 64];
    assert!(
        matches!(idle.read(&mut buf), Ok(0) | Err(_)),
        "an idle keep-alive connection should be closed"
    );
    // The request in flight completes.
    let answer = in_flight.join().expect("client thread");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight should finish with 200, got {answer:?}\n{}",
        gw.logs()
    );
    // And the process exits 0 within the grace, without waiting for all of it.
    let status = gw
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the gateway did not exit\n{}", gw.logs()));
    assert!(status.success(), "{status:?}\n{}", gw.logs());
    assert!(gw.logs().contains("drained; exiting"), "{}", gw.logs());
}

#[test]
fn sigterm_with_nothing_in_flight_exits_at_once() {
    let origins = Origins::start("us-east", &["a"]);
    let mut gw = Gateway::start(&one_origin(&origins, "shutdown_grace = \"5m\""));
    assert_eq!(gw.get("/").status, 200);
    gw.signal(Signal::SIGTERM);
    // Far below the five minutes of grace: there is nothing to wait for.
    let status = gw
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the gateway did not exit\n{}", gw.logs()));
    assert!(status.success(), "{status:?}");
}

/// Sends `head` then one byte of `trickle` every 200 ms until the gateway answers or closes;
/// returns what it answered, or `None` if it still held the connection after `give_up`.
fn trickle(addr: SocketAddr, head: &str, give_up: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("send head");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < give_up {
        match stream.read(&mut buf) {
            Ok(n) => return Some(String::from_utf8_lossy(&buf[..n]).to_string()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(String::new()),
        }
        if stream.write_all(b"x").is_err() {
            return Some(String::new());
        }
    }
    None
}

#[test]
fn a_header_sent_one_byte_at_a_time_is_cut_at_the_header_read_timeout() {
    let origins = Origins::start("us-east", &["a"]);
    let extra = Extra {
        listen: "header_read_timeout = \"1s\"".to_string(),
        ..Extra::default()
    };
    let gw = Gateway::start_with_extra(&one_origin(&origins, ""), &[], &extra);
    let answer = trickle(
        gw.proxy,
        "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ",
        Duration::from_secs(20),
    )
    .expect("a trickled header must not hold the connection");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    assert_eq!(
        gw.metric("weir_header_rejections_total", &[r#"reason="timeout""#]),
        1.0
    );
    // A connection that sends nothing is cut too.
    let mut silent = TcpStream::connect(gw.proxy).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert!(matches!(silent.read(&mut buf), Ok(0) | Err(_)));
    // Requests sent at once are not affected, nor is a kept-alive connection's idle time.
    let (mut kept, status) = keep_alive_get(gw.proxy);
    assert!(status.contains(" 200 "), "{status}");
    std::thread::sleep(Duration::from_millis(1500));
    write!(kept, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").expect("second request");
    let n = kept.read(&mut buf).expect("second response");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[test]
fn a_header_over_max_header_bytes_gets_431() {
    let origins = Origins::start("us-east", &["a"]);
    let extra = Extra {
        listen: "max_header_bytes = 4096".to_string(),
        ..Extra::default()
    };
    let gw = Gateway::start_with_extra(&one_origin(&origins, ""), &[], &extra);
    let mut stream = TcpStream::connect(gw.proxy).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let big = "a".repeat(8 * 1024);
    let _ = write!(
        stream,
        "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {big}\r\n\r\n"
    );
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert_eq!(
        gw.metric("weir_header_rejections_total", &[r#"reason="too_large""#]),
        1.0
    );
    // A header under the cap passes.
    let header = "b".repeat(2 * 1024);
    assert_eq!(gw.request("GET", "/", &[("x-ok", &header)]).status, 200);
}

/// The metric names in README.md's metrics table.
fn readme_metric_names() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut names = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| `weir_")) {
        let first_cell = line.split('|').nth(1).unwrap_or_default();
        for part in first_cell.split('`').skip(1).step_by(2) {
            names.push(part.to_string());
        }
    }
    names
}

#[test]
fn every_readme_metric_exists_before_the_first_request() {
    let origins = Origins::start("us-east", &["a"]);
    let body = format!(
        "{}\n[upstreams.api.health]\npath = \"/healthz\"\n\
         [upstreams.api.bulkhead.adaptive]\nmin_in_flight = 4\n\
         [rate_limits.per-ip]\nkey = [\"client_ip\"]\nrate = 100\n\
         [upstreams.named]\n[[upstreams.named.pools]]\nregion = \"us-east\"\n\
         endpoints = [\"localhost:9\"]\n",
        one_origin(&origins, "")
    );
    // An HTTPS listener, for the certificate-expiry series (one per served certificate).
    let tls_dir = tempfile::tempdir().expect("dir");
    let certified = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).expect("cert");
    let (cert, key) = (tls_dir.path().join("a.pem"), tls_dir.path().join("a.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let body = format!(
        "{body}\n[[tls.certificates]]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let extra = support::Extra {
        listen: format!("https = \"{}\"\n", support::free_addr()),
        access_log: String::new(),
    };
    let gw = Gateway::start_with_extra(&body, &[], &extra);
    let text = gw.admin_get("/metrics").body;
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let names = readme_metric_names();
    assert!(names.len() > 25, "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            !(exported.contains(name.as_str())
                || exported.contains(format!("{name}_bucket").as_str()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not exported at start: {missing:?}\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("weir_build_info{") && l.ends_with(" 1")),
        "{text}"
    );
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(exported.contains(process), "missing {process}");
    }
}

#[test]
fn a_failing_origin_leaves_no_pingora_warnings_in_the_log() {
    // Nothing listens there: every attempt fails to connect and is retried.
    let dead = weir_testkit::free_addr();
    let gw = Gateway::start(&format!(
        "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"{dead}\"]\n\
         [[routes]]\nupstream = \"api\"\n"
    ));
    for _ in 0..10 {
        let status = gw.get("/").status;
        assert!(status >= 500, "{status}");
    }
    // Clients that hang up in the middle of a header: Pingora logs an ERROR for each, with no
    // request id, from a path no `ProxyHttp` hook can silence.
    for _ in 0..3 {
        let mut stream = TcpStream::connect(gw.proxy).expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
            .expect("send");
    }
    // Let the gateway see the hang-ups, then one more answered request.
    std::thread::sleep(Duration::from_millis(200));
    assert!(gw.get("/").status >= 500);
    let logs = gw.logs();
    let pingora_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""target":"pingora"#))
        .filter(|l| l.contains(r#""level":"WARN""#) || l.contains(r#""level":"ERROR""#))
        .collect();
    assert!(pingora_lines.is_empty(), "{pingora_lines:#?}");
    // Pingora's start-up messages are kept.
    assert!(logs.contains(r#""target":"pingora_core::server"#), "{logs}");
}

#[test]
fn sigusr1_reopens_the_access_log_for_rotation() {
    let origins = Origins::start("us-east", &["a"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    let extra = Extra {
        access_log: format!("path = {:?}", path.display().to_string()),
        ..Extra::default()
    };
    let gw = Gateway::start_with_extra(&one_origin(&origins, ""), &[], &extra);
    let lines = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(gw.request("GET", "/before", &[]).status, 200);
    assert!(gw.eventually(Duration::from_secs(5), || lines(&path) == 1));
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    gw.signal(Signal::SIGUSR1);
    assert!(
        gw.eventually(Duration::from_secs(5), || gw
            .metric("weir_log_reopens_total", &[])
            == 1.0),
        "{}",
        gw.logs()
    );
    assert_eq!(gw.request("GET", "/after", &[]).status, 200);
    assert!(
        gw.eventually(Duration::from_secs(5), || lines(&path) == 1),
        "the new line should go to a new file at the configured path\n{}",
        gw.logs()
    );
    let new = std::fs::read_to_string(&path).expect("new log");
    assert!(new.contains("/after"), "{new}");
    let old = std::fs::read_to_string(&rotated).expect("rotated log");
    assert!(old.contains("/before") && !old.contains("/after"), "{old}");
}
