//! `redirect_https`, `hsts` and `X-Forwarded-Proto` against real processes: a plain-HTTP request
//! to a redirecting route gets `308` to the same URL on HTTPS (and never reaches the origin), a
//! host no URL can safely be built from is refused, HSTS is sent over HTTPS only, and the origin
//! learns which of the two the client used.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/raw.rs"]
mod raw;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use certs::Ca;
use raw::{Answer, RawOrigin, send_raw};
use support::{Extra, Gateway, free_addr};

const HSTS: &str = "max-age=31536000; includeSubDomains";

fn get(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Upstream `api` on `origin`, a redirecting route for `api.example.com` (HSTS on, the redirect
/// naming `https_port`), a redirecting catch-all for `*.wild.example`, and a plain route for
/// `plain.example` with HSTS (which plain HTTP must not get).
fn config(origin: &RawOrigin, https_port: u16) -> String {
    format!(
        "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
         [[routes]]\nname = \"secure\"\nhost = \"api.example.com\"\nupstream = \"api\"\n\
         redirect_https = true\nhttps_port = {https_port}\nhsts = \"{HSTS}\"\n\
         [[routes]]\nname = \"wild\"\nhost = \"*.wild.example\"\nupstream = \"api\"\n\
         redirect_https = true\n\
         [[routes]]\nname = \"any\"\nhost = \"*\"\npath_prefix = \"/any/\"\nupstream = \"api\"\n\
         redirect_https = true\n\
         [[routes]]\nname = \"plain\"\nhost = \"plain.example\"\nupstream = \"api\"\n\
         hsts = \"{HSTS}\"\n",
        origin.endpoint_toml()
    )
}

#[test]
fn plain_http_is_redirected_to_the_same_url_on_https() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin, 8443));

    // The normalised path and the query as sent; the port of `Host` is dropped for
    // `https_port`.
    let resp = send_raw(
        gw.proxy,
        &get("/a/./b//c?x=1&y=%2F", "API.example.com:8080"),
    )
    .expect("answer");
    assert_eq!(resp.status, 308, "{resp:?}");
    assert_eq!(
        resp.header("location"),
        Some("https://api.example.com:8443/a/b/c?x=1&y=%2F")
    );
    assert!(
        !resp.body.starts_with("GET"),
        "never reached the origin: {resp:?}"
    );
    assert!(resp.body.contains("Permanent Redirect"), "{resp:?}");
    assert_eq!(
        resp.header("strict-transport-security"),
        None,
        "no HSTS over plain HTTP"
    );

    // Port 443 is left out; a wildcard route redirects to the host it matched.
    let resp = send_raw(gw.proxy, &get("/", "shop.wild.example")).expect("answer");
    assert_eq!(resp.status, 308);
    assert_eq!(resp.header("location"), Some("https://shop.wild.example/"));
    assert_eq!(
        gw.metric("weir_redirects_total", &["route=\"secure\""]),
        1.0
    );
    assert_eq!(gw.metric("weir_redirects_total", &["route=\"wild\""]), 1.0);

    // A route without redirect_https is proxied: HSTS only over HTTPS, and the origin is told
    // the client used http.
    let resp = send_raw(gw.proxy, &get("/x", "plain.example")).expect("answer");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.echoed("x-forwarded-proto"), ["http"]);
    assert_eq!(resp.header("strict-transport-security"), None);
}

#[test]
fn a_host_that_cannot_be_put_in_a_url_is_refused_not_redirected() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin, 443));
    // A catch-all route matches any Host; one that would smuggle another authority or a path
    // into the Location gets 400.
    for hostile in [
        "evil.example/@good.example",
        "good.example@evil.example",
        "a b",
    ] {
        let resp = send_raw(gw.proxy, &get("/any/x", hostile)).expect("answer");
        assert_eq!(resp.status, 400, "{hostile}: {resp:?}");
        assert_eq!(resp.header("location"), None, "{hostile}");
    }
    // An IPv6 literal keeps its brackets.
    let resp = send_raw(gw.proxy, &get("/any/x?q", "[::1]:8080")).expect("answer");
    assert_eq!(resp.status, 308, "{resp:?}");
    assert_eq!(resp.header("location"), Some("https://[::1]/any/x?q"));
    // A host no route serves is not redirected anywhere.
    let resp = send_raw(gw.proxy, &get("/", "evil.example")).expect("answer");
    assert_eq!(resp.status, 404, "{resp:?}");
    assert_eq!(resp.header("location"), None);
}

/// A gateway with an HTTPS listener (`[tls]` with one certificate for the test hosts).
fn https_gateway(dir: &Path, origin: &RawOrigin) -> (Gateway, SocketAddr, Ca) {
    let ca = Ca::new(dir, "edge");
    let leaf = ca.leaf(dir, "edge", &["api.example.com", "plain.example"]);
    let https = free_addr();
    let body = format!(
        "{}\n[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n",
        config(origin, https.port()),
        leaf.cert.display(),
        leaf.key.display()
    );
    let extra = Extra {
        listen: format!("https = \"{https}\""),
        ..Extra::default()
    };
    let gw = Gateway::start_with_extra(&body, &[], &extra);
    (gw, https, ca)
}

/// `curl` over HTTPS to `host` on `addr`: the status, the response head and the body.
fn curl(ca: &Ca, addr: SocketAddr, host: &str, path: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca.cert_path)
        .arg("--resolve")
        .arg(format!("{host}:{}:{}", addr.port(), addr.ip()))
        .args(["-D", "-"])
        .arg(format!("https://{host}:{}{path}", addr.port()))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn over_https_there_is_no_redirect_and_hsts_is_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = RawOrigin::start(Answer::Echo);
    let (gw, https, ca) = https_gateway(dir.path(), &origin);

    // The redirecting route is served over HTTPS, with HSTS and X-Forwarded-Proto: https.
    let (status, head, body) = curl(&ca, https, "api.example.com", "/a?b=1");
    assert_eq!(status, 200, "{head}{body}");
    assert!(
        head.contains(&format!(
            "strict-transport-security: {}",
            HSTS.to_ascii_lowercase()
        )),
        "{head}"
    );
    let proto: Vec<&str> = body
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-proto"))
        .map(|(_, v)| v.trim())
        .collect();
    assert_eq!(proto, ["https"], "{body}");
    assert_eq!(
        gw.metric("weir_redirects_total", &["route=\"secure\""]),
        0.0
    );

    // The same gateway's plain listener still redirects, to the HTTPS listener's port.
    let resp = send_raw(gw.proxy, &get("/a?b=1", "api.example.com")).expect("answer");
    assert_eq!(resp.status, 308);
    assert_eq!(
        resp.header("location"),
        Some(format!("https://api.example.com:{}/a?b=1", https.port()).as_str())
    );
    // A route without hsts gets none over HTTPS either; one with hsts but no redirect gets it.
    let (status, head, _) = curl(&ca, https, "plain.example", "/");
    assert_eq!(status, 200);
    assert!(head.contains("strict-transport-security"), "{head}");
}
