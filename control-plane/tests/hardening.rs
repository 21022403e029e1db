//! What an attacker and a new operator found (issue 13), against a real control plane on
//! loopback: gateway tokens bound to gateway ids, capped reports and gateway tables, auth
//! failures a client always reads, applies that change nothing, and a log jq can read.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{ADMIN, ControlPlane, GATEWAY, GW_A, Gateway, OPERATE, READ, US_EAST, fleet_config};
use weir_testkit::Origins;

const FLEET: &str = r#"
[upstreams.app]
region_policy = "nearest"

[[upstreams.app.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001", "127.0.0.1:9002"]

[[upstreams.app.pools]]
region = "eu-west"
weight = 80
endpoints = ["127.0.0.1:9101"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

fn report_body(version: u64, errors: &[String]) -> String {
    serde_json::json!({
        "version": version,
        "outcome": if errors.is_empty() { "ack" } else { "nack" },
        "errors": errors,
        "applied_version": version,
    })
    .to_string()
}

fn report(cp: &ControlPlane, token: &str, id: &str, body: &str) -> support::Resp {
    cp.call(
        "POST",
        &format!("/v1/gateways/{id}/report"),
        Some(token),
        Some(("application/json", body)),
        &[],
    )
}

fn gateway_ids(cp: &ControlPlane) -> Vec<String> {
    let resp = cp.get("/v1/gateways", READ);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_gateway_token_speaks_only_for_its_own_gateways() {
    let cp = ControlPlane::start();
    assert_eq!(cp.put_config(FLEET).status, 201);
    let ack = report_body(1, &[]);
    assert_eq!(report(&cp, GW_A, "gw-a", &ack).status, 204);
    let forged = report(&cp, GW_A, "gw-b", &ack);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.json()["detail"].as_str().unwrap().contains("gw-a"));
    assert_eq!(report(&cp, US_EAST, "us-east-7", &ack).status, 204);
    assert_eq!(report(&cp, US_EAST, "eu-west-7", &ack).status, 403);
    // The stream too (a 403 answers at once; a granted stream would never end).
    let stream = cp.get("/v1/stream?gateway=gw-b", GW_A);
    assert_eq!(stream.status, 403, "{}", stream.body);
    assert_eq!(cp.get("/v1/stream?gateway=us-west-1", US_EAST).status, 403);
    assert_eq!(gateway_ids(&cp), ["gw-a", "us-east-7"]);
    assert!(cp.logs().contains("other_gateway"));
}

#[test]
fn a_gateway_token_without_a_binding_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[tokens]]\nname = \"edge\"\nrole = \"gateway\"\nsha256 = \"{}\"\n",
            support::sha256("x")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(support::workspace_bin("weir-control-plane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tokens")
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens[0].gateway_id: a gateway token must name the gateway id"),
        "{stderr}"
    );
    // `token` makes bound gateway tokens, and refuses to make an unbound one.
    let token = |args: &[&str]| {
        std::process::Command::new(support::workspace_bin("weir-control-plane"))
            .arg("token")
            .args(args)
            .output()
            .unwrap()
    };
    let made = token(&[
        "--name",
        "e1",
        "--role",
        "gateway",
        "--gateway-id",
        "us-east-*",
    ]);
    assert!(made.status.success());
    assert!(String::from_utf8_lossy(&made.stdout).contains("gateway_id = \"us-east-*\""));
    assert_eq!(
        token(&["--name", "e1", "--role", "gateway"]).status.code(),
        Some(2)
    );
    assert_eq!(
        token(&["--name", "a", "--role", "admin", "--gateway-id", "x"])
            .status
            .code(),
        Some(2)
    );
}

/// One raw HTTP/1.1 exchange: the head, then `body` (written by another thread, so a server that
/// answers early is still read), and the status line's code and the whole answer.
fn raw_post(addr: std::net::SocketAddr, path: &str, token: &str, body: Vec<u8>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server may stop reading (and close) at any point: that is its right.
        let _ = writer.write_all(&body);
    });
    let mut answer = String::new();
    let _ = BufReader::new(&stream).read_to_string(&mut answer);
    let _ = sender.join();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer)
}

#[test]
fn oversized_reports_are_refused_and_nothing_grows() {
    let cp = ControlPlane::start();
    assert_eq!(cp.put_config(FLEET).status, 201);
    // Let the process settle before measuring.
    assert_eq!(report(&cp, GATEWAY, "g1", &report_body(1, &[])).status, 204);
    let (rss_before, log_before) = (cp.rss_kib(), cp.log_bytes());

    // 2 MB: refused from its Content-Length, and the client reads the 413.
    let huge = report_body(1, &["e".repeat(2 << 20)]).into_bytes();
    for _ in 0..10 {
        let (code, answer) = raw_post(cp.addr, "/v1/gateways/g1/report", GATEWAY, huge.clone());
        assert_eq!(code, 413, "{answer}");
    }
    // Just under the general 1 MiB body cap: still far over the report cap.
    let big = report_body(1, &["e".repeat(1000 << 10)]);
    for _ in 0..30 {
        let resp = report(&cp, GATEWAY, "g1", &big);
        assert_eq!(resp.status, 413, "{}", resp.body);
    }
    // Within the cap, a NACK with many long errors keeps 20 short ones and logs none.
    let many: Vec<String> = (0..200)
        .map(|i| format!("secret-{i}-{}", "x".repeat(200)))
        .collect();
    assert_eq!(
        report(&cp, GATEWAY, "g1", &report_body(2, &many)).status,
        204
    );
    let gateways = cp.get("/v1/gateways", READ).json();
    let kept = gateways["gateways"][0]["last_report"]["errors"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(kept.len(), 20);
    assert!(
        kept.iter()
            .all(|e| e.as_str().unwrap().chars().count() <= 257)
    );

    let logs = cp.logs();
    assert!(!logs.contains("secret-"), "report errors are not logged");
    assert!(!logs.contains("eeeeeeee"), "report payloads are not logged");
    assert!(logs.contains("\"error_count\":200"), "the summary is");
    let log_growth = cp.log_bytes() - log_before;
    assert!(log_growth < 64 << 10, "the log grew by {log_growth} bytes");
    let rss_growth = cp.rss_kib().saturating_sub(rss_before);
    assert!(rss_growth < 32 << 10, "memory grew by {rss_growth} KiB");
}

#[test]
fn phantom_ids_past_the_cap_are_refused_and_real_gateways_stay() {
    let cp = ControlPlane::start_with("2s", |_| {
        vec!["--max-gateways-per-token".into(), "5".into()]
    });
    let east = Origins::start("us-east", &["a"]);
    assert_eq!(
        cp.put_config(&fleet_config(&[("us-east", 100, &east)]))
            .status,
        201
    );
    // The real gateway holds its stream with the `*` token, as do its phantom neighbours.
    let gateway = Gateway::start(&cp.url(), "real", "us-east");
    assert!(cp.eventually(Duration::from_secs(20), || gateway.version() == 1));

    let ack = report_body(1, &[]);
    let mut refused = 0;
    for i in 0..40 {
        let resp = report(&cp, US_EAST, &format!("us-east-{i}"), &ack);
        match resp.status {
            204 => assert!(i < 5, "phantom {i} was accepted"),
            429 => refused += 1,
            other => panic!("phantom {i}: {other} {}", resp.body),
        }
        let resp = report(&cp, GATEWAY, &format!("phantom-{i}"), &ack);
        assert!(resp.status == 204 || resp.status == 429, "{}", resp.body);
    }
    assert_eq!(refused, 35);
    let ids = gateway_ids(&cp);
    assert_eq!(ids.len(), 1 + 5 + 4, "{ids:?}");
    assert!(ids.contains(&"real".to_string()));
    // A known id is not new: the real gateway goes on reporting, and follows new versions.
    let resp = cp.call(
        "PUT",
        "/v1/upstreams/app/pools/us-east/weight",
        Some(OPERATE),
        Some(("application/json", r#"{"weight":90}"#)),
        &[],
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert!(cp.eventually(Duration::from_secs(20), || gateway.version() == 2));
    let view = cp.get("/v1/gateways", READ).json();
    let real = view["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "real")
        .cloned()
        .unwrap();
    assert_eq!(real["connected"], true);
    assert!(cp.eventually(Duration::from_secs(10), || {
        cp.get("/v1/gateways", READ).json()["gateways"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == "real" && g["applied_version"] == 2)
    }));
    let metrics = cp.get("/metrics", READ).body;
    assert!(
        metrics.contains("weir_cp_gateways_refused_total{reason=\"token_cap\"}"),
        "{metrics}"
    );
}

/// Reads one HTTP/1.1 answer (head and `Content-Length` body) from a kept-alive connection.
fn read_answer(reader: &mut BufReader<TcpStream>) -> Result<(u16, String), String> {
    let mut status = String::new();
    reader.read_line(&mut status).map_err(|e| e.to_string())?;
    if status.is_empty() {
        return Err("the connection was closed".into());
    }
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status:?}"))?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn auth_failures_come_after_the_body_on_a_connection_that_stays_open() {
    let cp = ControlPlane::start();
    assert_eq!(cp.put_config(FLEET).status, 201);
    // Sizable bodies, within each path's cap (reports have a smaller one).
    let big = format!("{FLEET}\n# {}\n", "x".repeat(256 << 10));
    let small = format!("{FLEET}\n# {}\n", "x".repeat(60 << 10));
    let routes = [
        ("PUT", "/v1/config?dry_run=true"),
        ("POST", "/v1/regions/eu-west/drain"),
        ("POST", "/v1/versions/1/rollback"),
        ("GET", "/v1/config"),
        ("POST", "/v1/gateways/g1/report"),
        ("PUT", "/v1/upstreams/app/pools/eu-west/weight"),
    ];
    let stream = TcpStream::connect(cp.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // Every request on one connection: the head first, the body a moment later, as a client on
    // a real network sends it.
    for round in 0..3 {
        for (method, path) in routes {
            let body = if path.ends_with("/report") {
                &small
            } else {
                &big
            };
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/toml\r\n\
                 Content-Length: {}\r\n\r\n",
                cp.addr,
                body.len()
            );
            writer.write_all(head.as_bytes()).unwrap();
            writer.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            writer.write_all(body.as_bytes()).unwrap_or_else(|e| {
                panic!("round {round}, {method} {path}: writing the body: {e}")
            });
            let (code, answer) = read_answer(&mut reader)
                .unwrap_or_else(|e| panic!("round {round}, {method} {path}: {e}"));
            assert_eq!(code, 401, "{method} {path}: {answer}");
        }
    }
    // And through an ordinary client that reuses its connections.
    for _ in 0..20 {
        let resp = cp.call(
            "PUT",
            "/v1/config?dry_run=true",
            None,
            Some(("application/toml", &big)),
            &[],
        );
        assert_eq!(resp.status, 401);
        assert_eq!(cp.call("GET", "/v1/config", None, None, &[]).status, 401);
    }
}

#[test]
fn an_apply_that_changes_nothing_makes_no_version_unless_forced() {
    let cp = ControlPlane::start();
    assert_eq!(cp.put_config(FLEET).status, 201);
    // Comments, layout and explicitly written defaults: the same config.
    let same = FLEET
        .replace(
            "region_policy = \"nearest\"",
            "# keep traffic home\nregion_policy   =   \"nearest\"\nslow_start = \"10s\"",
        )
        .replace(
            "region = \"us-east\"\n",
            "region = \"us-east\"\nweight = 100 # the default\n",
        );
    assert_ne!(same, FLEET);
    let resp = cp.put_config(&same);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["version"], 1);
    assert_eq!(resp.json()["changed"], false);
    assert_eq!(cp.current_version(), 1);
    let forced = cp.call(
        "PUT",
        "/v1/config?force=true&message=keep+the+comments",
        Some(ADMIN),
        Some(("application/toml", &same)),
        &[],
    );
    assert_eq!(forced.status, 201, "{}", forced.body);
    assert_eq!(forced.json()["version"], 2);
    assert_eq!(cp.get("/v1/config?format=toml", READ).body, same);
    // A real change still makes a version.
    let changed = cp.put_config(&same.replace("weight = 80", "weight = 70"));
    assert_eq!(changed.status, 201, "{}", changed.body);
}

/// A JSON value whose objects, at every depth, have no key twice.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<UniqueKeys, M::Error> {
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("key {key:?} twice")));
                    }
                    map.next_value::<UniqueKeys>()?;
                }
                Ok(UniqueKeys)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<UniqueKeys, S::Error> {
                while seq.next_element::<UniqueKeys>()?.is_some() {}
                Ok(UniqueKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_string<E>(self, _: String) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
            fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[test]
fn every_log_line_is_json_with_unique_keys() {
    let cp = ControlPlane::start();
    let resp = cp.call(
        "PUT",
        "/v1/config?message=add+the+app",
        Some(ADMIN),
        Some(("application/toml", FLEET)),
        &[],
    );
    assert_eq!(resp.status, 201);
    let resp = cp.call(
        "POST",
        "/v1/regions/eu-west/drain?message=game+day",
        Some(OPERATE),
        None,
        &[],
    );
    assert_eq!(resp.status, 201);
    let logs = cp.logs();
    let mut stored = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        if let Err(e) = serde_json::from_str::<UniqueKeys>(line) {
            panic!("{e}: {line}");
        }
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if value["fields"]["message"] == "config version stored" {
            stored += 1;
            assert!(value["fields"]["change_message"].is_string(), "{line}");
        }
    }
    assert_eq!(stored, 2, "{logs}");
}
