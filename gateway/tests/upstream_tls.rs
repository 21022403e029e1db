//! TLS (and HTTP/2) to upstreams against real processes: TLS origins on loopback (tokio-rustls
//! and hyper in the test, certificates made by rcgen), reached with the pool's CA and SNI; a
//! certificate that fails verification is a connect failure, counted, retried on another
//! endpoint and logged with its reason; mutual TLS; HTTP/2 to the origin with its trailers passed
//! through (gRPC unary); files that cannot be used are config errors at their key.

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use certs::{Ca, Leaf};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Extra, Gateway};
use tokio_rustls::rustls;

/// A TLS origin on its own runtime: answers `origin=<name> sni=<sni> version=<HTTP version>`,
/// and on `/grpc` a gRPC-style answer whose status travels in trailers.
struct TlsOrigin {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

/// How the origin's TLS is set up.
struct OriginTls<'a> {
    leaf: &'a Leaf,
    /// Require a client certificate signed by this CA.
    client_ca: Option<&'a Path>,
    /// ALPN offered: `h2` only, or `http/1.1` only.
    h2: bool,
}

impl TlsOrigin {
    fn start(name: &'static str, tls: OriginTls<'_>) -> TlsOrigin {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match tls.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(pem_cert(ca)).expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(vec![pem_cert(&tls.leaf.cert)], pem_key(&tls.leaf.key))
            .expect("origin certificate");
        config.alpn_protocols = vec![if tls.h2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let sni = stream.get_ref().1.server_name().unwrap_or("-").to_string();
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let service = service_fn(move |req| answer(name, sni.clone(), req));
                    let io = TokioIo::new(stream);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        TlsOrigin {
            addr,
            _runtime: runtime,
        }
    }
}

/// A plain-text origin that speaks only HTTP/2 (by prior knowledge, h2c).
fn start_h2c(name: &'static str) -> TlsOrigin {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind origin");
    let addr = listener.local_addr().expect("origin address");
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(name, "-".to_string(), req));
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    TlsOrigin {
        addr,
        _runtime: runtime,
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    name: &str,
    sni: String,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let text = format!("origin={name} sni={sni} version={:?}", req.version());
    if req.uri().path().starts_with("/grpc") {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        trailers.insert("grpc-message", http::HeaderValue::from_static("ok"));
        // A gRPC message: not compressed, 5 bytes long.
        let body = Full::new(Bytes::from_static(b"\0\0\0\0\x05hello"))
            .with_trailers(async move { Some(Ok(trailers)) })
            .boxed();
        let resp = hyper::Response::builder()
            .header("content-type", "application/grpc")
            .body(body)
            .expect("response");
        return Ok(resp);
    }
    Ok(hyper::Response::new(Full::new(Bytes::from(text)).boxed()))
}

fn pem_cert(path: &Path) -> rustls_pki_types::CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(path).expect("PEM certificate")
}

fn pem_key(path: &Path) -> rustls_pki_types::PrivateKeyDer<'static> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_file(path).expect("PEM key")
}

/// Upstream `name` with one pool on `endpoints` and `pool_keys`, and a route `/{name}/` to it.
fn upstream(name: &str, endpoints: &[SocketAddr], pool_keys: &str) -> String {
    let endpoints: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[upstreams.{name}]\n[[upstreams.{name}.pools]]\nregion = \"us-east\"\n\
         endpoints = [{}]\n{pool_keys}\n\
         [[routes]]\npath_prefix = \"/{name}/\"\nupstream = \"{name}\"\n",
        endpoints.join(", ")
    )
}

#[test]
fn a_tls_origin_is_reached_with_its_ca_and_sni_and_health_checked_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let named = ca.leaf(dir.path(), "named", &["api.internal"]);
    let by_ip = ca.leaf(dir.path(), "by-ip", &["127.0.0.1"]);
    let origin = TlsOrigin::start(
        "named",
        OriginTls {
            leaf: &named,
            client_ca: None,
            h2: false,
        },
    );
    let ip_origin = TlsOrigin::start(
        "ip",
        OriginTls {
            leaf: &by_ip,
            client_ca: None,
            h2: false,
        },
    );
    let ca_file = ca.cert_path.display();
    let gw = Gateway::start(&format!(
        "{}\n{}",
        upstream(
            "named",
            &[origin.addr],
            &format!("tls = {{ sni = \"api.internal\", ca_file = \"{ca_file}\" }}"),
        )
        .replace(
            "[upstreams.named]\n",
            "[upstreams.named]\nhealth = { path = \"/\", interval = \"200ms\", timeout = \"200ms\" }\n",
        ),
        // No sni: the endpoint's address is the name verified.
        upstream("ip", &[ip_origin.addr], &format!("tls = {{ ca_file = \"{ca_file}\" }}")),
    ));

    let resp = gw.get("/named/x");
    assert_eq!(resp.status, 200, "{}\n{}", resp.body, gw.logs());
    assert_eq!(resp.body, "origin=named sni=api.internal version=HTTP/1.1");
    let resp = gw.get("/ip/x");
    assert_eq!(resp.status, 200, "{}\n{}", resp.body, gw.logs());
    assert_eq!(
        resp.body, "origin=ip sni=- version=HTTP/1.1",
        "no SNI for an address"
    );
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.access_log()
                .iter()
                .any(|line| line["path"] == "/ip/x" && line["upstream_protocol"] == "h1+tls")
        }),
        "{:?}",
        gw.access_log()
    );

    // The active health checks speak TLS too (a plain GET would fail and mark it down).
    assert_health_checks_pass(&gw, "named");
}

#[test]
fn a_certificate_that_fails_verification_is_a_connect_failure_retried_elsewhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let stranger = Ca::new(dir.path(), "stranger");
    let good = ca.leaf(dir.path(), "good", &["api.internal"]);
    let wrong_name = ca.leaf(dir.path(), "wrong-name", &["other.internal"]);
    let unknown_ca = stranger.leaf(dir.path(), "unknown-ca", &["api.internal"]);
    let start = |name, leaf| {
        TlsOrigin::start(
            name,
            OriginTls {
                leaf,
                client_ca: None,
                h2: false,
            },
        )
    };
    let (good, wrong_name, unknown_ca) = (
        start("good", &good),
        start("wrong-name", &wrong_name),
        start("unknown-ca", &unknown_ca),
    );
    let tls = format!(
        "tls = {{ sni = \"api.internal\", ca_file = \"{}\" }}",
        ca.cert_path.display()
    );
    let gw = Gateway::start(&format!(
        "{}\n{}\n{}",
        upstream("mixed", &[good.addr, wrong_name.addr], &tls),
        upstream("bad", &[unknown_ca.addr], &tls),
        upstream("name", &[wrong_name.addr], &tls),
    ));

    // Alone in its pool, an endpoint whose certificate fails is a 502, like a refused connect.
    let resp = gw.get("/bad/x");
    assert_eq!(resp.status, 502, "{}", resp.body);
    let resp = gw.get("/name/x");
    assert_eq!(resp.status, 502, "{}", resp.body);
    for upstream in ["bad", "name"] {
        let labels = [&*format!("upstream=\"{upstream}\"")];
        assert!(gw.metric("weir_upstream_connect_failures_total", &labels) >= 1.0);
        let reason = [labels[0], "reason=\"certificate\""];
        assert!(
            gw.metric("weir_upstream_tls_failures_total", &reason) >= 1.0,
            "{upstream}: {}",
            gw.admin_get("/metrics").body
        );
    }
    // The reason is in the log, with the endpoint.
    let logs = gw.logs();
    assert!(logs.contains("TLS to the upstream failed"), "{logs}");
    assert!(logs.contains("UnknownIssuer"), "{logs}");
    assert!(logs.contains("not valid for name"), "{logs}");
    assert!(logs.contains(&unknown_ca.addr.to_string()), "{logs}");

    // Beside a good endpoint, every request succeeds: the failing one is retried elsewhere and
    // taken out.
    for _ in 0..20 {
        let resp = gw.get("/mixed/x");
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body, "origin=good sni=api.internal version=HTTP/1.1");
    }
    assert_eq!(
        gw.metric(
            "weir_upstream_tls_failures_total",
            &["upstream=\"mixed\"", "reason=\"handshake\""]
        ),
        0.0
    );
    assert_eq!(
        gw.metric(
            "weir_requests_total",
            &["route=\"*/mixed/\"", "code=\"200\""]
        ),
        20.0
    );
}

#[test]
fn mutual_tls_presents_the_pools_client_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let clients = Ca::new(dir.path(), "clients");
    let server = ca.leaf(dir.path(), "server", &["api.internal"]);
    let client = clients.leaf(dir.path(), "client", &["gateway.internal"]);
    let origin = TlsOrigin::start(
        "mtls",
        OriginTls {
            leaf: &server,
            client_ca: Some(&clients.cert_path),
            h2: false,
        },
    );
    let base = format!(
        "sni = \"api.internal\", ca_file = \"{}\"",
        ca.cert_path.display()
    );
    let gw = Gateway::start(&format!(
        "{}\n{}",
        upstream(
            "with",
            &[origin.addr],
            &format!(
                "tls = {{ {base}, cert = \"{}\", key = \"{}\" }}",
                client.cert.display(),
                client.key.display()
            ),
        ),
        upstream("without", &[origin.addr], &format!("tls = {{ {base} }}")),
    ));
    let resp = gw.get("/with/x");
    assert_eq!(resp.status, 200, "{}\n{}", resp.body, gw.logs());
    assert_eq!(resp.body, "origin=mtls sni=api.internal version=HTTP/1.1");
    // Without a client certificate the origin ends the handshake: a connect failure.
    let resp = gw.get("/without/x");
    assert_eq!(resp.status, 502, "{}", resp.body);
    assert!(
        gw.metric(
            "weir_upstream_tls_failures_total",
            &["upstream=\"without\""]
        ) >= 1.0,
        "{}",
        gw.logs()
    );
}

#[test]
fn http2_to_the_origin_passes_grpc_trailers_through() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let leaf = ca.leaf(dir.path(), "h2", &["api.internal"]);
    let origin = TlsOrigin::start(
        "h2",
        OriginTls {
            leaf: &leaf,
            client_ca: None,
            h2: true,
        },
    );
    let tls = format!(
        "tls = {{ sni = \"api.internal\", ca_file = \"{}\" }}\nprotocol = \"h2\"",
        ca.cert_path.display()
    );
    // h2c on the plain listener, so the test's client speaks HTTP/2 end to end.
    let extra = Extra {
        listen: "h2c = true".to_string(),
        ..Extra::default()
    };
    let gw = Gateway::start_with_extra(&upstream("grpc", &[origin.addr], &tls), &[], &extra);

    // An HTTP/1.1 client: the origin is still spoken to in HTTP/2.
    let resp = gw.get("/grpc/status");
    assert_eq!(resp.status, 200, "{}\n{}", resp.body, gw.logs());
    let resp = gw.get("/grpc-info/x");
    assert_eq!(resp.status, 404, "no such route");
    // The access log says how the origin was spoken to.
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.access_log()
                .iter()
                .any(|line| line["path"] == "/grpc/status" && line["upstream_protocol"] == "h2+tls")
        }),
        "{:?}",
        gw.access_log()
    );

    // A gRPC unary call over h2c: the message and the trailers arrive intact.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, headers, body, trailers) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(gw.proxy)
            .await
            .expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .expect("h2c handshake");
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("http://{}/grpc/Echo/Say", gw.proxy))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\x02hi")))
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let collected = resp.into_body().collect().await.expect("body");
        let trailers = collected.trailers().cloned();
        (status, headers, collected.to_bytes(), trailers)
    });
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/grpc")
    );
    assert_eq!(&body[..], b"\0\0\0\0\x05hello");
    let trailers = trailers.expect("trailers");
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"0"[..])
    );
    assert_eq!(
        trailers.get("grpc-message").map(|v| v.as_bytes()),
        Some(&b"ok"[..])
    );
}

#[test]
fn a_plain_pool_speaks_h2c_by_prior_knowledge() {
    let origin = start_h2c("h2c");
    let gw = Gateway::start(&format!(
        "{}\n{}",
        upstream("h2c", &[origin.addr], "protocol = \"h2\""),
        upstream("h1", &[origin.addr], ""),
    ));
    let resp = gw.get("/h2c/x");
    assert_eq!(resp.status, 200, "{}\n{}", resp.body, gw.logs());
    assert_eq!(resp.body, "origin=h2c sni=- version=HTTP/2.0");
    // The same origin spoken to in HTTP/1.1 does not answer: the protocol is the pool's.
    assert_eq!(gw.get("/h1/x").status, 502);
}

#[test]
fn tls_files_that_cannot_be_used_are_config_errors_at_their_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let one = ca.leaf(dir.path(), "one", &["api.internal"]);
    let two = ca.leaf(dir.path(), "two", &["api.internal"]);
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let origin = TlsOrigin::start(
        "ok",
        OriginTls {
            leaf: &one,
            client_ca: None,
            h2: false,
        },
    );
    let good = upstream(
        "api",
        &[origin.addr],
        &format!(
            "tls = {{ sni = \"api.internal\", ca_file = \"{}\" }}",
            ca.cert_path.display()
        ),
    );
    let bad = format!(
        "{}\n{}",
        upstream(
            "api",
            &[origin.addr],
            &format!("tls = {{ ca_file = \"{}\" }}", missing.display()),
        ),
        upstream(
            "other",
            &[origin.addr],
            &format!(
                "tls = {{ ca_file = \"{}\", cert = \"{}\", key = \"{}\" }}",
                not_pem.display(),
                one.cert.display(),
                two.key.display()
            ),
        ),
    );

    // `--check` lists every problem with its path.
    let config_path = dir.path().join("bad.toml");
    std::fs::write(&config_path, &bad).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
        .arg("--config")
        .arg(&config_path)
        .arg("--check")
        .output()
        .expect("run --check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for expected in [
        "upstreams.api.pools[0].tls.ca_file: cannot read",
        "upstreams.other.pools[0].tls.ca_file: ",
        "holds no certificate",
        "upstreams.other.pools[0].tls.key: does not go with the certificate",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }

    // A running gateway refuses the version whole and keeps serving the old one.
    let gw = Gateway::start(&good);
    assert_eq!(gw.get("/api/x").status, 200);
    gw.write_config(&bad);
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.metric("weir_config_reloads_total", &["result=\"error\""]) >= 1.0
        }),
        "{}",
        gw.logs()
    );
    assert!(
        gw.logs().contains("upstreams.api.pools[0].tls.ca_file"),
        "{}",
        gw.logs()
    );
    assert_eq!(gw.status()["config_version"], 1, "still the first version");
    assert_eq!(gw.get("/api/x").status, 200);
    assert_eq!(
        gw.get("/other/x").status,
        404,
        "the rejected version's route is not served"
    );
}

/// An endpoint given by DNS name, in a TLS pool without `sni`: the name is sent as SNI and
/// verified, by requests and by the health checks. `localhost` resolves without a DNS server
/// (RFC 6761), so the configured nameserver is never asked.
#[test]
fn a_name_endpoint_sends_and_verifies_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream");
    let leaf = ca.leaf(dir.path(), "localhost", &["localhost"]);
    let origin = TlsOrigin::start(
        "named",
        OriginTls {
            leaf: &leaf,
            client_ca: None,
            h2: false,
        },
    );
    let ca_file = ca.cert_path.display();
    let port = origin.addr.port();
    let gw = Gateway::start(&format!(
        "[resolver]\nnameservers = [\"127.0.0.1:9\"]\nfamily = \"ipv4\"\n\
         [upstreams.named]\nhealth = {{ path = \"/\", interval = \"200ms\", timeout = \"200ms\" }}\n\
         [[upstreams.named.pools]]\nregion = \"us-east\"\nendpoints = [\"localhost:{port}\"]\n\
         tls = {{ ca_file = \"{ca_file}\" }}\n\
         [[routes]]\npath_prefix = \"/named/\"\nupstream = \"named\"\n"
    ));
    assert!(
        gw.eventually(Duration::from_secs(5), || gw.get("/named/x").status == 200),
        "{}",
        gw.logs()
    );
    let resp = gw.get("/named/x");
    assert_eq!(resp.body, "origin=named sni=localhost version=HTTP/1.1");
    assert_health_checks_pass(&gw, "named");
}

/// The pool's active health checks pass (they speak TLS too: a plain GET would fail and mark the
/// endpoint down): at least two successes and no failure.
fn assert_health_checks_pass(gw: &Gateway, upstream: &str) {
    let label = format!("upstream=\"{upstream}\"");
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.metric("weir_health_checks_total", &[&label, "result=\"success\""]) >= 2.0
        }),
        "{}",
        gw.logs()
    );
    assert_eq!(
        gw.metric("weir_health_checks_total", &[&label, "result=\"failure\""]),
        0.0,
        "{}",
        gw.logs()
    );
}
