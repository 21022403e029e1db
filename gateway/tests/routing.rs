//! Routing through a live gateway: host and longest-prefix matching, 404 problem documents,
//! request ids and trace context.

mod support;

use support::{Gateway, Origins};

fn gateway(origins: &Origins) -> Gateway {
    Gateway::start(&format!(
        r#"
[upstreams.root]
[[upstreams.root.pools]]
region = "us-east"
endpoints = ["{root}"]
[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["{api}"]
[upstreams.v2]
[[upstreams.v2.pools]]
region = "us-east"
endpoints = ["{v2}"]
[upstreams.host]
[[upstreams.host.pools]]
region = "us-east"
endpoints = ["{host}"]
[upstreams.wild]
[[upstreams.wild.pools]]
region = "us-east"
endpoints = ["{wild}"]

[[routes]]
upstream = "root"
[[routes]]
path_prefix = "/api"
upstream = "api"
[[routes]]
path_prefix = "/api/v2"
upstream = "v2"
[[routes]]
host = "shop.example.com"
path_prefix = "/"
upstream = "host"
[[routes]]
host = "*.example.com"
path_prefix = "/static"
upstream = "wild"
"#,
        root = origins.addr("root"),
        api = origins.addr("api"),
        v2 = origins.addr("v2"),
        host = origins.addr("host"),
        wild = origins.addr("wild"),
    ))
}

#[test]
fn routes_by_host_then_longest_prefix() {
    let origins = Origins::start("us-east", &["root", "api", "v2", "host", "wild"]);
    let gw = gateway(&origins);
    let cases: [(&str, &str, &str); 7] = [
        ("any.org", "/", "root"),
        ("any.org", "/api/users", "api"),
        ("any.org", "/api/v2/users?x=1", "v2"),
        ("shop.example.com", "/api", "host"),
        ("SHOP.example.com:8080", "/", "host"),
        ("img.example.com", "/static/a.png", "wild"),
        ("example.com", "/static/a.png", "root"),
    ];
    for (host, path, want) in cases {
        let resp = gw.request("GET", path, &[("host", host)]);
        assert_eq!(resp.status, 200, "{host}{path}: {resp:?}");
        assert_eq!(resp.origin(), want, "{host}{path}");
    }
}

#[test]
fn no_route_is_a_404_problem_document() {
    let origins = Origins::start("us-east", &["root", "api", "v2", "host", "wild"]);
    let gw = gateway(&origins);
    let resp = gw.request("GET", "/elsewhere", &[("host", "img.example.com")]);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json")
    );
    let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(doc["status"], 404);
    assert_eq!(doc["title"], "Not Found");
    assert!(
        doc["detail"].as_str().unwrap().contains("/elsewhere"),
        "{doc}"
    );
    assert_eq!(doc["request_id"].as_str(), resp.header("x-request-id"));
    // The connection stays usable and the miss is counted.
    assert_eq!(gw.get("/").status, 200);
    assert_eq!(gw.metric("weir_requests_total", &["code=\"404\""]), 1.0);
}

#[test]
fn request_id_is_kept_or_made_and_passed_upstream() {
    let origins = Origins::start("us-east", &["root", "api", "v2", "host", "wild"]);
    let gw = gateway(&origins);
    let resp = gw.request("GET", "/", &[("x-request-id", "client-id-1")]);
    assert_eq!(resp.header("x-request-id"), Some("client-id-1"));
    assert_eq!(
        resp.header("x-weir-origin-saw-request-id"),
        Some("client-id-1")
    );

    let resp = gw.get("/");
    let made = resp.header("x-request-id").expect("a generated id");
    assert_eq!(made.len(), 32);
    assert_eq!(resp.header("x-weir-origin-saw-request-id"), Some(made));
}

#[test]
fn traceparent_is_propagated_or_started() {
    let origins = Origins::start("us-east", &["root", "api", "v2", "host", "wild"]);
    let gw = gateway(&origins);
    let client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = gw.request("GET", "/", &[("traceparent", client)]);
    assert_eq!(resp.header("x-weir-origin-saw-traceparent"), Some(client));

    let resp = gw.get("/");
    let started = resp
        .header("x-weir-origin-saw-traceparent")
        .expect("a new trace");
    assert!(
        started.starts_with("00-") && started.len() == 55,
        "{started}"
    );
}

#[test]
fn access_log_has_one_json_line_per_request() {
    let origins = Origins::start("us-east", &["root", "api", "v2", "host", "wild"]);
    let gw = gateway(&origins);
    gw.request("GET", "/api/x", &[("x-request-id", "log-me")]);
    assert!(gw.eventually(std::time::Duration::from_secs(5), || {
        gw.access_log().iter().any(|l| l["request_id"] == "log-me")
    }));
    let line = gw
        .access_log()
        .into_iter()
        .find(|l| l["request_id"] == "log-me")
        .unwrap();
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "*/api");
    assert_eq!(line["upstream"], "api");
    assert_eq!(line["region"], "us-east");
    assert_eq!(line["endpoint"], origins.addr("api").to_string());
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/api/x");
    for key in ["time", "host", "duration_ms", "upstream_ms", "bytes"] {
        assert!(!line[key].is_null(), "{key} missing in {line}");
    }
}
