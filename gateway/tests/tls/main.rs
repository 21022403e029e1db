//! Edge TLS and HTTP/2 through a live gateway, with real clients: the certificate for each SNI
//! (openssl s_client, curl), versions refused, hot certificate swaps under load, a broken swap
//! rejected whole, the SNI name in the access log, HTTP/2 by ALPN (h2load) and by prior knowledge
//! (h2c) with its stream, reset and GOAWAY metrics, the reset-flood guard, and clients that
//! misbehave before or during the handshake.

#[path = "../support/mod.rs"]
mod support;

mod acme;
mod certs;
mod client;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use certs::{Ca, Leaf};
use client::{Client, curl, openssl_serial};
use support::{Extra, Gateway, Origins, free_addr};

/// A gateway with an HTTPS listener in front of one origin, serving `certificates` (TOML of
/// `[[tls.certificates]]`) with `tls` keys in `[tls]` and `listen` keys in `[listen]`.
struct Edge {
    gateway: Gateway,
    https: SocketAddr,
    _origins: Origins,
}

fn start_edge(tls: &str, certificates: &str, listen: &str) -> Edge {
    let origins = Origins::start("us-east", &["app"]);
    let https = free_addr();
    let body = format!(
        "[upstreams.app]\n[[upstreams.app.pools]]\nregion = \"us-east\"\nendpoints = [\"{}\"]\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n\n[tls]\n{tls}\n{certificates}\n",
        origins.addr("app")
    );
    let extra = Extra {
        listen: format!("https = \"{https}\"\n{listen}"),
        access_log: String::new(),
    };
    let gateway = Gateway::start_with_extra(&body, &[], &extra);
    Edge {
        gateway,
        https,
        _origins: origins,
    }
}

/// Three leaves in `dir`: `a.test` (serial a1), `*.wild.test` (b2) and the default (c3).
fn three_leaves(ca: &Ca, dir: &Path) -> String {
    let a = ca.leaf(dir, "a", &["a.test"], 0xa1);
    let wild = ca.leaf(dir, "wild", &["*.wild.test"], 0xb2);
    let fallback = ca.leaf(dir, "fallback", &["fallback.test"], 0xc3);
    format!(
        "{}{}{}",
        a.toml(false),
        wild.toml(false),
        fallback.toml(true)
    )
}

fn resolve(name: &str, addr: SocketAddr) -> String {
    format!("{name}:{}:{}", addr.port(), addr.ip())
}

#[test]
fn each_name_gets_its_certificate_and_a_client_without_sni_the_default() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let certificates = three_leaves(&ca, dir.path());
    let edge = start_edge("", &certificates, "");
    let serial = |sni| openssl_serial(edge.https, sni, &[]);
    assert_eq!(serial(Some("a.test")).as_deref(), Some("a1"));
    assert_eq!(serial(Some("x.wild.test")).as_deref(), Some("b2"));
    assert_eq!(serial(Some("unknown.test")).as_deref(), Some("c3"));
    assert_eq!(serial(None).as_deref(), Some("c3"));

    // curl verifies the chain against the private CA, over HTTP/1.1 and HTTP/2.
    let ca_file = ca.write(dir.path());
    let ca_file = ca_file.to_str().expect("path");
    let url = format!("https://a.test:{}/hello", edge.https.port());
    let resolve = resolve("a.test", edge.https);
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (code, out) = curl(&[
            flag,
            "--cacert",
            ca_file,
            "--resolve",
            &resolve,
            "--write-out",
            "\n%{http_code} %{http_version}",
            &url,
        ]);
        assert_eq!(code, 0, "curl {flag}: {out}");
        assert!(
            out.ends_with(&format!("\n200 {version}")),
            "curl {flag}: {out}"
        );
    }
    let gw = &edge.gateway;
    assert!(gw.metric("weir_tls_handshakes_total", &["result=\"ok\""]) >= 6.0);
    assert!(
        gw.metric(
            "weir_http_connections_total",
            &["version=\"2\"", "transport=\"tls\""]
        ) >= 1.0
    );
    let status = gw.status();
    assert_eq!(status["tls_certificates"][0]["serial"], "a1", "{status:#}");
}

/// The HTTP/2 frame counters, summed over their labels.
fn http2_counters(gw: &Gateway) -> [f64; 3] {
    [
        gw.metric("weir_http2_streams_total", &[]),
        gw.metric("weir_http2_resets_total", &[]),
        gw.metric("weir_http2_goaways_total", &[]),
    ]
}

#[test]
fn the_access_log_names_the_sni_each_connection_sent() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let certificates = three_leaves(&ca, dir.path());
    let edge = start_edge("", &certificates, "");
    let ca_file = ca.write(dir.path());
    let ca_file = ca_file.to_str().expect("path");
    let port = edge.https.port();
    let gw = &edge.gateway;
    let get = |args: &[&str]| {
        let mut all = vec!["--write-out", "\n%{http_code}"];
        all.extend_from_slice(args);
        let (code, out) = curl(&all);
        assert!(code == 0 && out.ends_with("\n200"), "curl {args:?}: {out}");
    };
    // HTTP/1.1 first (over TLS and in plain text): the HTTP/2 counters do not move.
    let a = resolve("a.test", edge.https);
    let a_url = |path: &str| format!("https://a.test:{port}{path}");
    get(&[
        "--http1.1",
        "--cacert",
        ca_file,
        "--resolve",
        &a,
        &a_url("/a-h1"),
    ]);
    // An IP address as the host: curl sends no SNI, and the default certificate is served.
    let ip_url = format!("https://127.0.0.1:{port}/no-sni");
    get(&["--http1.1", "--insecure", &ip_url]);
    get(&["--http1.1", &format!("http://{}/plain", gw.proxy)]);
    assert_eq!(
        http2_counters(gw),
        [0.0; 3],
        "HTTP/1.1 moved the HTTP/2 counters"
    );
    // Then HTTP/2: one stream per request.
    let wild = resolve("x.wild.test", edge.https);
    let wild_url = format!("https://x.wild.test:{port}/wild-h2");
    get(&[
        "--http2",
        "--cacert",
        ca_file,
        "--resolve",
        &a,
        &a_url("/a-h2"),
    ]);
    get(&[
        "--http2",
        "--cacert",
        ca_file,
        "--resolve",
        &wild,
        &wild_url,
    ]);
    assert_eq!(
        gw.metric("weir_http2_streams_total", &["transport=\"tls\""]),
        2.0
    );

    assert!(gw.eventually(Duration::from_secs(5), || gw.access_log().len() >= 5));
    let log = gw.access_log();
    let line = |path: &str| {
        log.iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("{path} not logged: {log:?}"))
    };
    for (path, sni, version) in [
        ("/a-h1", "a.test", "HTTP/1.1"),
        ("/a-h2", "a.test", "HTTP/2"),
        ("/wild-h2", "x.wild.test", "HTTP/2"),
    ] {
        let line = line(path);
        assert_eq!(line["sni"], sni, "{line}");
        assert_eq!(line["http_version"], version, "{line}");
    }
    let no_sni = line("/no-sni");
    assert!(no_sni.get("sni").is_some_and(|v| v.is_null()), "{no_sni}");
    assert!(no_sni["tls_version"].is_string(), "{no_sni}");
    let plain = line("/plain");
    assert!(plain.get("sni").is_none(), "{plain}");
}

#[test]
fn unknown_names_are_refused_when_told_and_old_versions_always() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let certificates = three_leaves(&ca, dir.path());
    let edge = start_edge("unknown_sni = \"reject\"\n", &certificates, "");
    assert_eq!(openssl_serial(edge.https, Some("unknown.test"), &[]), None);
    assert_eq!(
        openssl_serial(edge.https, Some("a.test"), &[]).as_deref(),
        Some("a1")
    );
    assert_eq!(openssl_serial(edge.https, None, &[]).as_deref(), Some("c3"));
    assert_eq!(
        openssl_serial(edge.https, Some("a.test"), &["-tls1_1"]),
        None
    );
    assert_eq!(
        openssl_serial(edge.https, Some("a.test"), &["-tls1_2"]).as_deref(),
        Some("a1")
    );
    let gw = &edge.gateway;
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.metric("weir_tls_handshakes_total", &["result=\"bad_sni\""]) >= 1.0
    }));

    let dir = tempfile::tempdir().expect("dir");
    let certificates = three_leaves(&ca, dir.path());
    let modern = start_edge("min_version = \"1.3\"\n", &certificates, "");
    assert_eq!(
        openssl_serial(modern.https, Some("a.test"), &["-tls1_2"]),
        None
    );
    assert_eq!(
        openssl_serial(modern.https, Some("a.test"), &["-tls1_3"]).as_deref(),
        Some("a1")
    );
}

#[test]
fn certificates_are_swapped_under_load_without_a_failed_request() {
    const SWAPS: u64 = 20;
    const REQUESTS: usize = 2_000;
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let leaf = ca.leaf(dir.path(), "a", &["a.test"], 0x100);
    let edge = start_edge("", &leaf.toml(true), "");
    let (https, ca_pem) = (edge.https, ca.pem.clone());

    // Handshakes started while each swap was in force: (serial expected, serial seen).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_force = std::sync::Arc::new(std::sync::Mutex::new(Some("100".to_string())));
    let load = {
        let (stop, in_force) = (stop.clone(), in_force.clone());
        std::thread::spawn(move || {
            let mut client = Client::new(&ca_pem, https, "a.test");
            let (mut sent, mut failed, mut seen) = (0usize, Vec::new(), Vec::new());
            while sent < REQUESTS || !stop.load(std::sync::atomic::Ordering::Acquire) {
                // Every fifth request on a new connection, the others reuse it.
                if sent % 5 == 0 {
                    client.close();
                }
                let expected = in_force.lock().expect("lock").clone();
                match client.get("/swap") {
                    Ok(answer) if answer.status == 200 => {
                        if let Some(serial) = answer.new_handshake_serial {
                            let after = in_force.lock().expect("lock").clone();
                            // Only handshakes wholly inside one swap's time say which it saw.
                            if expected.is_some() && expected == after {
                                seen.push((expected.unwrap_or_default(), serial));
                            }
                        }
                    }
                    Ok(answer) => failed.push(format!("status {}", answer.status)),
                    Err(e) => failed.push(e),
                }
                sent += 1;
            }
            (sent, failed, seen)
        })
    };
    for swap in 1..=SWAPS {
        let serial = 0x100 + swap;
        *in_force.lock().expect("lock") = None;
        let (cert, key) = ca.leaf_pem(&["a.test"], serial, false);
        leaf.replace(&cert, &key);
        let want = format!("{serial:x}");
        let gw = &edge.gateway;
        assert!(
            gw.eventually(Duration::from_secs(10), || {
                gw.status()["tls_certificates"][0]["serial"] == want.as_str()
            }),
            "swap {swap} not applied:\n{}",
            gw.logs()
        );
        *in_force.lock().expect("lock") = Some(want);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let (sent, failed, seen) = load.join().expect("load thread");
    assert!(sent >= REQUESTS, "{sent} requests");
    assert!(
        failed.is_empty(),
        "{} of {sent} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let wrong: Vec<_> = seen.iter().filter(|(want, got)| want != got).collect();
    assert!(
        wrong.is_empty(),
        "handshakes with an old certificate: {wrong:?}"
    );
    assert!(seen.len() >= 100, "only {} handshakes observed", seen.len());
}

#[test]
fn a_broken_swap_is_rejected_whole_and_the_old_certificates_keep_serving() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let a = ca.leaf(dir.path(), "a", &["a.test"], 0xa1);
    let b = ca.leaf(dir.path(), "b", &["b.test"], 0xb2);
    let edge = start_edge("", &format!("{}{}", a.toml(true), b.toml(false)), "");
    let gw = &edge.gateway;
    // b gets a new certificate with someone else's key; a is renewed correctly at the same time.
    let (b_cert, _) = ca.leaf_pem(&["b.test"], 0xb3, false);
    let (_, other_key) = ca.leaf_pem(&["other.test"], 0xff, false);
    let (a_cert, a_key) = ca.leaf_pem(&["a.test"], 0xa2, false);
    certs::write_atomically(&b.key, &other_key);
    certs::write_atomically(&b.cert, &b_cert);
    Leaf::replace(&a, &a_cert, &a_key);
    assert!(
        gw.eventually(Duration::from_secs(10), || {
            gw.logs().contains("tls.certificates[1].key") && gw.logs().contains("does not match")
        }),
        "{}",
        gw.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    // All or nothing: a's renewal waits for a whole set.
    assert_eq!(
        openssl_serial(edge.https, Some("a.test"), &[]).as_deref(),
        Some("a1")
    );
    assert_eq!(
        openssl_serial(edge.https, Some("b.test"), &[]).as_deref(),
        Some("b2")
    );
    assert!(gw.metric("weir_config_reloads_total", &["result=\"error\""]) >= 1.0);

    // --check reports the same problem with its path.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
        .args(["--check", "--config"])
        .arg(&gw.config_path)
        .output()
        .expect("run --check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    assert!(
        stderr.contains("tls.certificates[1].key") && stderr.contains("does not match"),
        "{stderr}"
    );

    // Fixed: the whole new set serves.
    let (b_cert, b_key) = ca.leaf_pem(&["b.test"], 0xb4, false);
    Leaf::replace(&b, &b_cert, &b_key);
    assert!(gw.eventually(Duration::from_secs(10), || {
        openssl_serial(edge.https, Some("b.test"), &[]).as_deref() == Some("b4")
    }));
    assert_eq!(
        openssl_serial(edge.https, Some("a.test"), &[]).as_deref(),
        Some("a2")
    );
}

#[test]
fn a_gateway_does_not_start_with_a_broken_certificate_set() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let (cert, key) = ca.leaf_pem(&["old.test"], 1, true);
    let expired = Leaf {
        cert: dir.path().join("old.pem"),
        key: dir.path().join("old.key"),
    };
    expired.replace(&cert, &key);
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[listen]\nhttps = \"{}\"\n[tls]\n{}",
            free_addr(),
            expired.toml(true)
        ),
    )
    .expect("write config");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
        .args(["--check", "--config"])
        .arg(&config)
        .output()
        .expect("run --check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    assert!(
        stderr.contains("tls.certificates[0].cert") && stderr.contains("expired"),
        "{stderr}"
    );
}

#[test]
fn http2_by_alpn_carries_ten_thousand_requests_without_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let leaf = ca.leaf(dir.path(), "a", &["a.test"], 0xa1);
    let edge = start_edge("", &leaf.toml(true), "");
    let output = std::process::Command::new("h2load")
        .args(["-n", "10000", "-c", "10", "-m", "10"])
        .arg(format!("https://127.0.0.1:{}/h2load", edge.https.port()))
        .output()
        .expect("run h2load (Debian nghttp2-client)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("10000 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("status codes: 10000 2xx"), "{text}");
    assert!(text.contains("Application protocol: h2"), "{text}");
    let gw = &edge.gateway;
    let streams = |transport| gw.metric("weir_http2_streams_total", &[transport]);
    assert_eq!(streams("transport=\"tls\""), 10000.0);
    assert_eq!(streams("transport=\"plain\""), 0.0);
    // Nothing was reset, and the gateway closed no connection with an error.
    assert_eq!(gw.metric("weir_http2_resets_total", &[]), 0.0);
    assert_eq!(
        gw.metric("weir_http2_goaways_total", &["by=\"gateway\""]),
        gw.metric(
            "weir_http2_goaways_total",
            &["by=\"gateway\"", "reason=\"no_error\""]
        ),
    );
}

#[test]
fn h2c_by_prior_knowledge_and_http1_share_the_plain_listener() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let leaf = ca.leaf(dir.path(), "a", &["a.test"], 0xa1);
    let edge = start_edge("", &leaf.toml(true), "h2c = true\n");
    let url = format!("http://{}/plain", edge.gateway.proxy);
    let (code, out) = curl(&[
        "--http2-prior-knowledge",
        "--write-out",
        "\n%{http_code} %{http_version}",
        &url,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n200 2"), "{out}");
    let (code, out) = curl(&[
        "--http1.1",
        "--write-out",
        "\n%{http_code} %{http_version}",
        &url,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n200 1.1"), "{out}");
    // Routing, 404 problems and request metrics work the same over HTTP/2.
    let ca_file = ca.write(dir.path());
    let (_, out) = curl(&[
        "--http2",
        "--cacert",
        ca_file.to_str().expect("path"),
        "--resolve",
        &resolve("a.test", edge.https),
        "--header",
        "x-request-id: over-h2",
        "--include",
        &format!("https://a.test:{}/routed", edge.https.port()),
    ]);
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    let gw = &edge.gateway;
    assert!(gw.eventually(Duration::from_secs(5), || {
        gw.access_log()
            .iter()
            .any(|line| line["path"] == "/routed" && line["status"] == 200)
    }));
    let log = gw.access_log();
    let routed = log.iter().find(|l| l["path"] == "/routed").expect("logged");
    assert_eq!(routed["http_version"], "HTTP/2", "{routed}");
    assert_eq!(routed["alpn"], "h2", "{routed}");
    assert!(
        routed["tls_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLS")),
        "{routed}"
    );
    let plain = log.iter().find(|l| l["path"] == "/plain").expect("logged");
    assert!(plain.get("tls_version").is_none(), "{plain}");
    assert!(gw.metric("weir_requests_total", &[]) >= 3.0);
}

/// HPACK for `GET http://localhost/`: static-table `:method GET`, `:scheme http`, `:path /`,
/// and `:authority` as a literal without indexing.
fn request_headers_block() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x84, 0x01, 9];
    block.extend_from_slice(b"localhost");
    block
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn a_stream_reset_flood_gets_goaway_and_other_clients_do_not_notice() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let leaf = ca.leaf(dir.path(), "a", &["a.test"], 0xa1);
    // A low guard, so that the test also fails when the setting is not applied (h2's own default
    // is 20).
    let edge = start_edge(
        "",
        &leaf.toml(true),
        "h2c = true\n[listen.http2]\nmax_reset_streams = 5\n",
    );
    let proxy = edge.gateway.proxy;

    let polite = std::thread::spawn(move || {
        let url = format!("http://{proxy}/polite");
        (0..50)
            .map(|_| {
                curl(&[
                    "--http2-prior-knowledge",
                    "--write-out",
                    "%{http_code}",
                    "--output",
                    "/dev/null",
                    &url,
                ])
            })
            .filter(|(code, out)| *code != 0 || out != "200")
            .count()
    });

    let mut flood = TcpStream::connect(proxy).expect("connect");
    flood.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(0x4, 0, 0, &[])); // SETTINGS
    let headers = request_headers_block();
    for n in 0..12u32 {
        let stream = 1 + 2 * n;
        // HEADERS with END_STREAM | END_HEADERS, then RST_STREAM (CANCEL).
        bytes.extend(frame(0x1, 0x5, stream, &headers));
        bytes.extend(frame(0x3, 0, stream, &8u32.to_be_bytes()));
    }
    // The gateway may close before it has read everything.
    let _ = flood.write_all(&bytes);
    let mut received = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    while started.elapsed() < Duration::from_secs(5) {
        match flood.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    let goaway = frames(&received).into_iter().find(|(kind, _)| *kind == 0x7);
    let (_, payload) = goaway.expect("a GOAWAY frame");
    let code = u32::from_be_bytes(payload[4..8].try_into().expect("code"));
    assert_eq!(code, 0xb, "ENHANCE_YOUR_CALM");
    assert_eq!(
        polite.join().expect("polite client"),
        0,
        "the other client's requests failed"
    );
    // The flood is in the metrics: the client's resets past the guard, and one GOAWAY.
    let gw = &edge.gateway;
    let calm = ["by=\"gateway\"", "reason=\"enhance_your_calm\""];
    assert_eq!(gw.metric("weir_http2_goaways_total", &calm), 1.0);
    let cancels = gw.metric(
        "weir_http2_resets_total",
        &["by=\"client\"", "reason=\"cancel\""],
    );
    assert!(cancels > 5.0, "{cancels} client resets counted");
    // The polite client's 50 streams and the flood's, all on the plain listener.
    let plain = gw.metric("weir_http2_streams_total", &["transport=\"plain\""]);
    assert!(plain >= 50.0 + cancels, "{plain} streams counted");
}

/// The frames in `bytes` as (type, payload), skipping the server's preface-free start.
fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = (usize::from(bytes[at]) << 16)
            | (usize::from(bytes[at + 1]) << 8)
            | usize::from(bytes[at + 2]);
        let kind = bytes[at + 3];
        let end = (at + 9 + len).min(bytes.len());
        out.push((kind, bytes[at + 9..end].to_vec()));
        at = end;
    }
    out
}

#[test]
fn broken_and_stalled_handshakes_do_not_stop_the_gateway_serving_others() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let leaf = ca.leaf(dir.path(), "a", &["a.test"], 0xa1);
    let edge = start_edge("handshake_timeout = \"500ms\"\n", &leaf.toml(true), "");
    let gw = &edge.gateway;
    let resident = || gw.metric("process_resident_memory_bytes", &[]);
    let before = resident();

    // Bytes that are not a ClientHello.
    let mut garbage = TcpStream::connect(edge.https).expect("connect");
    garbage
        .write_all(b"\x16\x03\x01\x00\x05hello, this is not TLS at all\r\n\r\n")
        .expect("write");
    // Many connections that never send a byte, and one that stops mid-ClientHello.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(edge.https).expect("connect idle"))
        .collect();
    let mut half = TcpStream::connect(edge.https).expect("connect");
    half.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .expect("write");

    // Memory stays bounded: a waiting connection costs a socket and a small task, not buffers.
    let growth = resident() - before;
    assert!(
        growth < 64.0 * 1024.0 * 1024.0,
        "{growth} bytes more with 1000 idle connections"
    );

    let mut client = Client::new(&ca.pem, edge.https, "a.test");
    for _ in 0..20 {
        client.close();
        let answer = client.get("/meanwhile").expect("served while others stall");
        assert_eq!(answer.status, 200);
    }
    // The stalled ones are closed at the deadline.
    half.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = matches!(half.read(&mut buf), Ok(0) | Err(_));
    assert!(closed && started.elapsed() < Duration::from_secs(4));
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.metric("weir_tls_handshakes_total", &["result=\"timeout\""]) >= 1000.0
                && gw.metric("weir_tls_handshakes_total", &["result=\"protocol_error\""]) >= 1.0
        }),
        "{}",
        gw.admin_get("/metrics").body
    );
    drop(idle);
    let answer = client.get("/after").expect("still serving");
    assert_eq!(answer.status, 200);
}
