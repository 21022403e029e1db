//! Issue 13's request-path hardening, each case against real processes: client errors that must
//! not count against the upstream, path normalisation, slow readers, the request checks and
//! header rules, and the access log's new fields.

#[path = "support/raw.rs"]
mod raw;
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use raw::{Answer, RawOrigin, send_and_never_read, send_raw};
use support::{Gateway, Origins};

/// One upstream `api` on `endpoints` (TOML array insides), `upstream_keys` in its table, and
/// `routes` (TOML) after it.
fn config(endpoints: &str, upstream_keys: &str, routes: &str) -> String {
    format!(
        "[upstreams.api]\n{upstream_keys}\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
         endpoints = [{endpoints}]\n{routes}\n"
    )
}

/// One catch-all route to `api` with `route_keys`.
fn catch_all(route_keys: &str) -> String {
    format!("[[routes]]\nupstream = \"api\"\n{route_keys}\n")
}

/// The first access-log line `matches` accepts, waiting for the log writer.
fn logged(gw: &Gateway, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let mut found = None;
    gw.eventually(Duration::from_secs(5), || {
        found = gw.access_log().into_iter().find(|l| matches(l));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no such access-log line: {:?}", gw.access_log()))
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n").into_bytes()
}

// --- 1. clients cannot open breakers or eject endpoints ---

#[test]
fn client_errors_never_count_against_the_upstream() {
    let origins = Origins::start("us-east", &["a", "b"]);
    // Slow answers, so a client can hang up before its answer.
    origins.set_fault("a", r#"{"delay_ms":300}"#);
    origins.set_fault("b", r#"{"delay_ms":300}"#);
    let gw = Gateway::start(&config(
        &origins.endpoints_toml(),
        "outlier = { consecutive_failures = 2, max_ejected_fraction = 1.0 }\n\
         circuit_breaker = { min_requests = 4, failure_rate = 0.25 }",
        &catch_all("timeout = \"5s\""),
    ));
    for _ in 0..30 {
        // A hop-by-hop nomination of a protected header: Pingora refuses it (downstream).
        let resp = send_raw(gw.proxy, &get("/", "Connection: host\r\n"));
        assert!(resp.as_ref().is_none_or(|r| r.status == 400), "{resp:?}");
        // A chunked body with an invalid chunk size.
        let _ = send_raw(
            gw.proxy,
            b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        );
        // A client that hangs up before its (slow) answer.
        let mut stream = TcpStream::connect(gw.proxy).expect("connect");
        stream.write_all(&get("/", "")).expect("send");
        std::thread::sleep(Duration::from_millis(30));
        drop(stream);
    }
    origins.clear_fault("a");
    origins.clear_fault("b");
    for _ in 0..10 {
        let resp = gw.get("/");
        assert_eq!(resp.status, 200, "{resp:?}\n{}", gw.logs());
    }
    assert_eq!(gw.metric("weir_ejections_total", &[]), 0.0, "{}", gw.logs());
    assert_eq!(
        gw.metric("weir_breaker_transitions_total", &["to=\"open\""]),
        0.0
    );
    let up = gw.upstream_status("api");
    let text = up.to_string();
    assert!(!text.contains("\"ejected\":true"), "{text}");
    assert!(!text.contains("\"open\""), "breakers stay closed: {text}");
}

// --- 2. paths are normalised before routing ---

#[test]
fn a_limited_prefix_cannot_be_bypassed_and_the_origin_gets_the_normal_path() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        "[rate_limits.one]\nkey = \"route\"\nrate = 1\nper = \"1h\"\nburst = 1\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api/\"\nupstream = \"api\"\nrate_limits = [\"one\"]\n\
         [[routes]]\nname = \"root\"\nupstream = \"api\"\n\
         [[routes]]\nname = \"only\"\nhost = \"only.test\"\npath_prefix = \"/only-this/\"\nupstream = \"api\"\n",
    ));
    let first = send_raw(gw.proxy, &get("/api/x?q=%2e%2e", "")).expect("answer");
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.echoed_request_line(), "GET /api/x?q=%2e%2e HTTP/1.1");
    for sneaky in [
        "//api/x",
        "/%61pi/x",
        "/./api/x",
        "/x/../api/x",
        "/API/../api/x",
    ] {
        let resp = send_raw(gw.proxy, &get(sneaky, "")).expect("answer");
        assert_eq!(
            resp.status, 429,
            "{sneaky} must hit the limited route: {resp:?}"
        );
    }
    // The normal path is what the origin gets (here through the unlimited root route).
    let resp = send_raw(gw.proxy, &get("//other/./a/../b%7e?x=1", "")).expect("answer");
    assert_eq!(resp.echoed_request_line(), "GET /other/b~?x=1 HTTP/1.1");
    // A host that exposes only /only-this/ does not reach /secret.
    let resp = send_raw(
        gw.proxy,
        b"GET /only-this/../secret HTTP/1.1\r\nHost: only.test\r\nConnection: close\r\n\r\n",
    )
    .expect("answer");
    assert_eq!(resp.status, 404, "{resp:?}");
    for bad in ["/..", "/a/../../b", "/%zz"] {
        let resp = send_raw(gw.proxy, &get(bad, "")).expect("answer");
        assert_eq!(resp.status, 400, "{bad}: {resp:?}");
        assert_eq!(
            resp.header("content-type"),
            Some("application/problem+json")
        );
    }
}

#[test]
fn encoded_slashes_are_kept_or_rejected_and_raw_paths_forwarded_by_route() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        "[[routes]]\npath_prefix = \"/strict/\"\nupstream = \"api\"\nencoded_slashes = \"reject\"\n\
         [[routes]]\npath_prefix = \"/raw/\"\nupstream = \"api\"\nforward_raw_path = true\n\
         [[routes]]\npath_prefix = \"/Loose/\"\nupstream = \"api\"\npath_prefix_ignore_case = true\n\
         [[routes]]\nupstream = \"api\"\n",
    ));
    let kept = send_raw(gw.proxy, &get("/a%2fb", "")).expect("answer");
    assert_eq!(kept.echoed_request_line(), "GET /a%2Fb HTTP/1.1");
    let refused = send_raw(gw.proxy, &get("/strict/a%2Fb", "")).expect("answer");
    assert_eq!(refused.status, 400, "{refused:?}");
    let raw_path = send_raw(gw.proxy, &get("/raw//x/./y", "")).expect("answer");
    assert_eq!(raw_path.echoed_request_line(), "GET /raw//x/./y HTTP/1.1");
    let loose = send_raw(gw.proxy, &get("/LOOSE/x", "")).expect("answer");
    assert_eq!(loose.status, 200);
    let line = logged(&gw, |l| l["path"] == "/LOOSE/x");
    assert_eq!(line["route"], "*/Loose/", "{line}");
}

// --- 3. slow readers ---

#[test]
fn a_client_that_never_reads_releases_its_slot_by_the_deadline() {
    let origin = RawOrigin::start(Answer::Large(64 * 1024 * 1024));
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "bulkhead = { max_in_flight = 2 }",
        &catch_all("timeout = \"3s\"\npriority = \"critical\""),
    ));
    // Two clients take both slots and never read their large answers.
    let held: Vec<TcpStream> = (0..2)
        .map(|_| send_and_never_read(gw.proxy, &get("/big", "")))
        .collect();
    assert!(
        gw.eventually(Duration::from_secs(3), || {
            gw.metric("weir_bulkhead_in_flight", &["upstream=\"api\""]) >= 2.0
        }),
        "both slots taken: {:?}",
        gw.access_log()
    );
    // While they hold them, everyone else is shed.
    assert_eq!(gw.get("/small").status, 503);
    // By the deadline (3 s) plus the grace (1 s), both are cut and the slots are free again.
    assert!(
        gw.eventually(Duration::from_secs(10), || {
            gw.metric(
                "weir_timeouts_total",
                &["upstream=\"api\"", "kind=\"downstream_write\""],
            ) >= 2.0
        }),
        "slow readers cut\n{}",
        gw.logs()
    );
    let in_flight = gw.upstream_status("api").to_string();
    assert!(
        gw.eventually(Duration::from_secs(2), || {
            gw.metric("weir_bulkhead_in_flight", &["upstream=\"api\""]) == 0.0
        }),
        "{in_flight}"
    );
    let status = gw.upstream_status("api");
    let endpoints = &status["pools"][0]["endpoints"];
    assert_eq!(endpoints[0]["in_flight"], 0, "{status}");
    // Other clients are served again.
    let resp = gw.get("/small");
    assert_eq!(resp.status, 200, "{resp:?}");
    // Nothing counted against the upstream.
    assert_eq!(gw.metric("weir_ejections_total", &[]), 0.0);
    let cut = logged(&gw, |l| l["failure_side"] == "client");
    assert!(
        cut["error"]
            .as_str()
            .unwrap_or("")
            .contains("WriteTimedout"),
        "{cut}"
    );
    drop(held);
}

// --- 4. request checks and header rules ---

#[test]
fn duplicated_content_lengths_collapse_and_differing_ones_are_refused() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5, 5\r\n\r\nhello",
    )
    .expect("answer");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.echoed("content-length"), ["5"]);
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    )
    .expect("answer");
    assert_eq!(resp.echoed("content-length"), ["5"]);
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    );
    assert!(resp.as_ref().is_none_or(|r| r.status == 400), "{resp:?}");
}

#[test]
fn host_is_required_for_http11_and_supplied_for_http10() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let resp = send_raw(gw.proxy, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").expect("answer");
    assert_eq!(resp.status, 400, "{resp:?}");
    let resp = send_raw(gw.proxy, b"GET / HTTP/1.0\r\n\r\n").expect("answer");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.echoed("host"), [origin.addr.to_string()]);
}

#[test]
fn the_gateway_ids_reach_the_origin_once_and_cannot_be_stripped() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = send_raw(
        gw.proxy,
        &get(
            "/",
            &format!(
                "X-Request-Id: one\r\nX-Request-Id: two\r\ntraceparent: {tp}\r\ntraceparent: {tp}\r\n"
            ),
        ),
    )
    .expect("answer");
    assert_eq!(resp.echoed("x-request-id"), ["one"]);
    let traces = resp.echoed("traceparent");
    assert_eq!(traces.len(), 1, "{traces:?}");
    let resp = send_raw(
        gw.proxy,
        &get(
            "/",
            "X-Request-Id: mine\r\nConnection: x-request-id, traceparent\r\n",
        ),
    )
    .expect("answer");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.echoed("x-request-id"), ["mine"]);
    assert_eq!(resp.echoed("traceparent").len(), 1);
}

#[test]
fn underscores_are_dropped_unless_the_route_allows_them() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        "[[routes]]\npath_prefix = \"/open/\"\nupstream = \"api\"\nunderscores_in_headers = true\n\
         [[routes]]\nupstream = \"api\"\n",
    ));
    let resp = send_raw(gw.proxy, &get("/", "X_Api_Key: a\r\nX-Ok: b\r\n")).expect("answer");
    assert!(resp.echoed("x_api_key").is_empty(), "{resp:?}");
    assert_eq!(resp.echoed("x-ok"), ["b"]);
    let resp = send_raw(gw.proxy, &get("/open/", "X_Api_Key: a\r\n")).expect("answer");
    assert_eq!(resp.echoed("x_api_key"), ["a"]);
}

#[test]
fn forwarding_headers_come_from_the_gateway_unless_the_peer_is_trusted() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let spoofed = "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
                   X-Forwarded-Host: evil\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n";
    let resp = send_raw(gw.proxy, &get("/", spoofed)).expect("answer");
    assert!(resp.echoed("forwarded").is_empty(), "{resp:?}");
    assert_eq!(resp.echoed("x-real-ip"), ["127.0.0.1"]);
    assert_eq!(resp.echoed("x-forwarded-proto"), ["http"]);
    assert_eq!(resp.echoed("x-forwarded-host"), ["test"]);
    assert_eq!(
        resp.echoed("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 127.0.0.1"]
    );

    let trusted = Gateway::start(&format!(
        "[client_ip]\ntrusted_proxies = [\"127.0.0.1\"]\n{}",
        config(&origin.endpoint_toml(), "", &catch_all(""))
    ));
    let resp = send_raw(trusted.proxy, &get("/", spoofed)).expect("answer");
    assert_eq!(resp.echoed("x-forwarded-proto"), ["https"]);
    assert_eq!(resp.echoed("x-forwarded-host"), ["evil"]);
    assert_eq!(resp.echoed("forwarded"), ["for=6.6.6.6"]);
}

#[test]
fn trace_is_refused() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let resp = send_raw(
        gw.proxy,
        b"TRACE / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .expect("answer");
    assert_eq!(resp.status, 405, "{resp:?}");
    assert!(resp.header("allow").is_some());
}

#[test]
fn bodies_over_the_route_cap_get_413() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        &catch_all("max_body_size = 10"),
    ));
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world",
    )
    .expect("answer");
    assert_eq!(resp.status, 413, "{resp:?}");
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    )
    .expect("answer");
    assert_eq!(resp.status, 200, "{resp:?}");
    let resp = send_raw(
        gw.proxy,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
          6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n",
    )
    .expect("answer");
    assert_eq!(resp.status, 413, "{resp:?}");
}

#[test]
fn a_204_loses_its_content_length() {
    let origin = RawOrigin::start(Answer::Canned(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    ));
    let gw = Gateway::start(&config(&origin.endpoint_toml(), "", &catch_all("")));
    let resp = send_raw(gw.proxy, &get("/", "")).expect("answer");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(resp.header("content-length"), None, "{resp:?}");
}

#[test]
fn an_unsolicited_101_is_a_502() {
    let origin = RawOrigin::start(Answer::Canned(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\n",
    ));
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        &catch_all("retry = { attempts = 1 }"),
    ));
    let resp = send_raw(gw.proxy, &get("/", "")).expect("answer");
    assert_eq!(resp.status, 502, "{resp:?}");
}

// --- 5. the access log ---

#[test]
fn the_access_log_has_query_agent_version_trace_and_tried_endpoints() {
    let origins = Origins::start("us-east", &["a"]);
    // A second endpoint that refuses connections: tried first or not, the log says so.
    let dead = support::free_addr();
    let gw = Gateway::start(&config(
        &format!("{}, \"{dead}\"", origins.endpoints_toml()),
        "",
        &catch_all(""),
    ));
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for _ in 0..20 {
        let resp = gw.request(
            "GET",
            "/p?x=1&y=2",
            &[("user-agent", "weir-test/1"), ("traceparent", tp)],
        );
        assert_eq!(resp.status, 200);
    }
    let line = logged(&gw, |l| l["path"] == "/p");
    assert_eq!(line["query"], "x=1&y=2", "{line}");
    assert_eq!(line["user_agent"], "weir-test/1");
    assert_eq!(line["http_version"], "HTTP/1.1");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let retried = logged(&gw, |l| l["attempts"] == 2);
    assert_eq!(retried["tried"][0], dead.to_string(), "{retried}");
}

#[test]
fn the_query_can_be_left_out_of_the_access_log() {
    let origins = Origins::start("us-east", &["a"]);
    let body = config(&origins.endpoints_toml(), "", &catch_all(""));
    let gw = Gateway::start(&body);
    // The key applies on reload: each request reads it from its config version.
    let text = gw.config_text(&body).replace(
        "[access_log]\nenabled = true\n",
        "[access_log]\nenabled = true\nquery = false\n",
    );
    gw.write_raw_config(&text);
    assert!(
        gw.eventually(Duration::from_secs(5), || {
            gw.metric("weir_config_version", &[]) >= 2.0
        }),
        "reloaded\n{}",
        gw.logs()
    );
    assert_eq!(gw.get("/p?secret=1").status, 200);
    let line = logged(&gw, |l| l["path"] == "/p");
    assert!(line.get("query").is_none(), "{line}");
}

#[test]
fn a_body_trickled_past_the_deadline_gets_408() {
    let origin = RawOrigin::start(Answer::Echo);
    let gw = Gateway::start(&config(
        &origin.endpoint_toml(),
        "",
        &catch_all("timeout = \"1s\""),
    ));
    let mut stream = TcpStream::connect(gw.proxy).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 40\r\n\r\n")
        .expect("send head");
    // One byte every 100 ms: 4 s for the body, against a 1 s deadline.
    let mut answer = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if stream.write_all(b"x").is_err() {
            break;
        }
    }
    use std::io::Read;
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(gw.metric("weir_ejections_total", &[]), 0.0);
}
