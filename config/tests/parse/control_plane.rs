//! `[control_plane]`, the split between a gateway's own keys and the fleet's, `parse_fleet`,
//! `Config::with_node`, `Config::has_fleet` and `gateway.allow_fault_injection`.

use std::path::PathBuf;
use std::time::Duration;

use weir_config::{
    Config, ConfigError, ControlPlaneSettings, FleetSettings, NodeSettings, diff, parse,
    parse_fleet, restart_required,
};

use crate::example::FULL_EXAMPLE;
use crate::support::{
    assert_single_error, assert_single_error_at, errors, parse_ok, with_api_upstream,
};

/// A gateway's own file run by a control plane; `[control_plane]` is line 8, its `url` line 9.
const NODE: &str = "[gateway]\nid = \"edge-1\"\nregion = \"us-east\"\n\n\
                    [listen]\nhttp = \"127.0.0.1:8080\"\n\n\
                    [control_plane]\nurl = \"http://127.0.0.1:7700/\"\n\
                    token_file = \"/etc/weir/token\"\ncache_path = \"/var/lib/weir/cache.json\"\n";

const FLEET: &str = "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
                     endpoints = [\"127.0.0.1:9001\"]\n\n[[routes]]\nupstream = \"api\"\n";

/// `NODE` with `keys` added at the end of `[control_plane]` (from line 12).
fn node_with(keys: &str) -> String {
    format!("{NODE}{keys}\n")
}

/// `NODE` with its url replaced by `url`.
fn node_at(url: &str) -> String {
    NODE.replace("http://127.0.0.1:7700/", url)
}

fn control_plane(config: &Config) -> &ControlPlaneSettings {
    config
        .node
        .control_plane
        .as_ref()
        .expect("a [control_plane] section")
}

fn fleet_errors(text: &str) -> Vec<ConfigError> {
    match parse_fleet(text) {
        Ok(config) => panic!("expected errors, got a valid fleet config: {config:#?}"),
        Err(errors) => errors.0,
    }
}

/// `(path, line, column)` of each error, in order.
fn places(errors: &[ConfigError]) -> Vec<(&str, Option<usize>, Option<usize>)> {
    errors
        .iter()
        .map(|e| (e.path.as_str(), e.line, e.column))
        .collect()
}

/// Splits a gateway file into its node part and its fleet part by top-level section (every
/// section of `text` is written with a `[header]`).
fn split(text: &str) -> (String, String) {
    let (mut node, mut fleet) = (String::new(), String::new());
    let mut in_node = true;
    for line in text.lines() {
        if line.starts_with('[') {
            let top = line
                .trim_start_matches('[')
                .split(['.', ']'])
                .next()
                .unwrap_or_default();
            in_node = NodeSettings::KEYS.contains(&top);
            assert!(
                in_node || FleetSettings::KEYS.contains(&top),
                "unknown section {top}"
            );
        }
        let part = if in_node { &mut node } else { &mut fleet };
        part.push_str(line);
        part.push('\n');
    }
    (node, fleet)
}

#[test]
fn a_node_file_parses_with_defaults() {
    let node = parse_ok(NODE);
    assert_eq!(
        node.node.control_plane,
        Some(ControlPlaneSettings {
            url: "http://127.0.0.1:7700".into(),
            token_file: PathBuf::from("/etc/weir/token"),
            cache_path: PathBuf::from("/var/lib/weir/cache.json"),
            ca_file: None,
            stream_timeout: Duration::from_secs(6),
            reconnect_backoff: Duration::from_millis(200),
            max_reconnect_backoff: Duration::from_secs(10),
            telemetry_interval: Duration::from_secs(5),
        })
    );
    assert!(node.fleet.upstreams.is_empty() && node.fleet.routes.is_empty());
    assert!(!node.has_fleet(), "a node file carries no fleet part");
    assert!(
        parse_ok(FLEET).node.control_plane.is_none(),
        "a file without it is unchanged"
    );
}

#[test]
fn every_control_plane_key_is_read() {
    let text = "[control_plane]\nurl = \"https://cp.internal:7700/weir/\"\n\
                token_file = \"gateway.token\"\ncache_path = \"cache/fleet.json\"\n\
                ca_file = \"/etc/weir/ca.pem\"\nstream_timeout = \"10m\"\n\
                reconnect_backoff = \"1ms\"\nmax_reconnect_backoff = \"1ms\"\n\
                telemetry_interval = \"1m\"\n";
    assert_eq!(
        control_plane(&parse_ok(text)),
        &ControlPlaneSettings {
            url: "https://cp.internal:7700/weir".into(),
            token_file: PathBuf::from("gateway.token"),
            cache_path: PathBuf::from("cache/fleet.json"),
            ca_file: Some(PathBuf::from("/etc/weir/ca.pem")),
            stream_timeout: Duration::from_secs(600),
            reconnect_backoff: Duration::from_millis(1),
            max_reconnect_backoff: Duration::from_millis(1),
            telemetry_interval: Duration::from_secs(60),
        }
    );
    // Inline, too.
    let inline =
        "control_plane = { url = \"http://cp\", token_file = \"t\", cache_path = \"c\" }\n";
    assert_eq!(control_plane(&parse_ok(inline)).url, "http://cp");
}

#[test]
fn urls_are_stored_without_a_trailing_slash_and_with_a_lower_case_scheme() {
    for (written, stored) in [
        ("http://127.0.0.1:7700", "http://127.0.0.1:7700"),
        ("http://cp.internal/", "http://cp.internal"),
        (
            "https://cp.internal:443/weir//",
            "https://cp.internal:443/weir",
        ),
        ("http://[::1]:7700/a/b/", "http://[::1]:7700/a/b"),
        ("HTTPS://cp-1.example.com", "https://cp-1.example.com"),
        ("http://cp:65535/v%201", "http://cp:65535/v%201"),
    ] {
        let config = parse_ok(&node_at(written));
        assert_eq!(control_plane(&config).url, stored, "{written}");
    }
}

#[test]
fn every_url_problem_is_reported_at_the_url() {
    for (url, message) in [
        ("cp:7700", "must start with http:// or https://"),
        ("ftp://cp", "not ftp://"),
        ("https://", "has no host"),
        ("http://:7700", "has no host"),
        ("http://cp:7700/?x=1", "query or fragment"),
        ("http://cp:7700/#top", "query or fragment"),
        ("http://user@cp", "credentials"),
        ("http://user:secret@cp:7700", "credentials"),
        ("http://cp /v1", "spaces"),
        ("http://cp:", "invalid port \"\" (1-65535)"),
        ("http://cp:0", "invalid port \"0\""),
        ("http://cp:65536", "invalid port"),
        ("http://cp:+80", "invalid port"),
        ("http://cp:web", "invalid port"),
        ("http://::1:7700", "IPv6 host without brackets"),
        ("http://[::1:7700", "without its closing ']'"),
        ("http://[::g]:7700", "invalid IPv6 address"),
        ("http://[::1]7700", "after its host"),
        ("http://cp!.internal", "invalid host"),
        ("http://cp/a<b>", "a URL path cannot hold"),
    ] {
        let error = assert_single_error_at(&node_at(url), "control_plane.url", message, (9, 7));
        assert!(error.message.ends_with(&format!("got {url:?}")), "{error}");
    }
}

#[test]
fn every_control_plane_error_is_reported_with_its_place() {
    let text = "[control_plane]\nurl = \"ftp://cp\"\ncache_path = \"\"\n\
                stream_timeout = \"0s\"\nreconnect_backoff = 5\nmax_reconnect_backoff = \"1h\"\n\
                colour = \"red\"\nca_file = [\"a\"]\n";
    let errors = errors(text);
    assert_eq!(
        places(&errors),
        vec![
            ("control_plane.token_file", Some(1), Some(1)),
            ("control_plane.url", Some(2), Some(7)),
            ("control_plane.cache_path", Some(3), Some(14)),
            ("control_plane.stream_timeout", Some(4), Some(18)),
            ("control_plane.reconnect_backoff", Some(5), Some(21)),
            ("control_plane.max_reconnect_backoff", Some(6), Some(25)),
            ("control_plane.colour", Some(7), Some(1)),
            ("control_plane.ca_file", Some(8), Some(11)),
        ],
        "{errors:#?}"
    );
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(messages[0].contains("missing required key"));
    assert!(messages[2].contains("must not be empty"));
    assert!(messages[3].contains("between 1s and 10m"));
    assert!(messages[4].contains("expected a duration with a unit"));
    assert!(messages[5].contains("between 1ms and 10m"));
    assert!(messages[6].starts_with("unknown key (expected one of: url, token_file"));
    assert!(messages[7].contains("expected a string, got an array"));
}

#[test]
fn url_token_file_and_cache_path_are_required() {
    for key in ["url", "token_file", "cache_path"] {
        let line = NODE
            .lines()
            .find(|line| line.starts_with(key))
            .expect("key in NODE");
        let text = NODE.replace(&format!("{line}\n"), "");
        let path = format!("control_plane.{key}");
        assert_single_error_at(&text, &path, "missing required key", (8, 1));
    }
    let errors = errors("[control_plane]\n");
    assert_eq!(
        places(&errors),
        vec![
            ("control_plane.url", Some(1), Some(1)),
            ("control_plane.token_file", Some(1), Some(1)),
            ("control_plane.cache_path", Some(1), Some(1)),
        ]
    );
}

#[test]
fn stream_timeout_is_between_a_second_and_ten_minutes() {
    for (value, accepted) in [
        ("999ms", None),
        ("1s", Some(Duration::from_secs(1))),
        ("10m", Some(Duration::from_secs(600))),
        ("10m 1s", None),
    ] {
        let text = node_with(&format!("stream_timeout = \"{value}\""));
        if let Some(accepted) = accepted {
            assert_eq!(control_plane(&parse_ok(&text)).stream_timeout, accepted);
        } else {
            assert_single_error_at(
                &text,
                "control_plane.stream_timeout",
                "must be between 1s and 10m",
                (12, 18),
            );
        }
    }
}

#[test]
fn telemetry_interval_is_between_a_quarter_second_and_a_minute() {
    for (value, accepted) in [
        ("249ms", None),
        ("250ms", Some(Duration::from_millis(250))),
        ("1m", Some(Duration::from_secs(60))),
        ("1m 1ms", None),
    ] {
        let text = node_with(&format!("telemetry_interval = \"{value}\""));
        if let Some(accepted) = accepted {
            assert_eq!(control_plane(&parse_ok(&text)).telemetry_interval, accepted);
        } else {
            assert_single_error_at(
                &text,
                "control_plane.telemetry_interval",
                "must be between 250ms and 1m",
                (12, 22),
            );
        }
    }
}

#[test]
fn max_reconnect_backoff_is_not_shorter_than_reconnect_backoff() {
    assert_single_error_at(
        &node_with("reconnect_backoff = \"2s\"\nmax_reconnect_backoff = \"1s\""),
        "control_plane.max_reconnect_backoff",
        "must not be shorter than reconnect_backoff (1s < 2s)",
        (13, 25),
    );
    // The default max counts too: a longer base alone raises the max to it.
    let raised = parse_ok(&node_with("reconnect_backoff = \"30s\""));
    assert_eq!(
        control_plane(&raised).max_reconnect_backoff,
        Duration::from_secs(30)
    );
    // A base with its own error is reported once, not again through the max.
    assert_single_error(
        &node_with("reconnect_backoff = \"0s\"\nmax_reconnect_backoff = \"100ms\""),
        "control_plane.reconnect_backoff",
        "must be between 1ms and 10m",
    );
    assert_single_error(
        &node_with("max_reconnect_backoff = \"0s\""),
        "control_plane.max_reconnect_backoff",
        "must be between 1ms and 10m",
    );
}

#[test]
fn ca_file_is_only_for_https() {
    let https = parse_ok(&node_at("https://cp").replace(
        "[control_plane]\n",
        "[control_plane]\nca_file = \"/etc/weir/ca.pem\"\n",
    ));
    assert_eq!(
        control_plane(&https).ca_file,
        Some(PathBuf::from("/etc/weir/ca.pem"))
    );
    assert_single_error_at(
        &node_with("ca_file = \"/etc/weir/ca.pem\""),
        "control_plane.ca_file",
        "only used with an https url, and url is \"http://127.0.0.1:7700\"",
        (12, 11),
    );
    // A url with its own error is not blamed again through ca_file.
    assert_single_error(
        &node_with("ca_file = \"/etc/weir/ca.pem\"").replace("http://127.0.0.1", "ftp://x"),
        "control_plane.url",
        "must start with http",
    );
    assert_single_error(
        &node_with("ca_file = \" \""),
        "control_plane.ca_file",
        "empty",
    );
}

#[test]
fn the_cache_is_not_the_token_or_the_ca_file() {
    let text = NODE.replace("/var/lib/weir/cache.json", "/etc/weir/token");
    assert_single_error_at(
        &text,
        "control_plane.cache_path",
        "must not be the same file as token_file",
        (11, 14),
    );
    let text = node_at("https://cp").replace(
        "[control_plane]\n",
        "[control_plane]\nca_file = \"/var/lib/weir//cache.json\"\n",
    );
    assert_single_error(
        &text,
        "control_plane.cache_path",
        "must not be the same file as ca_file",
    );
}

#[test]
fn fleet_keys_are_refused_in_a_file_run_by_a_control_plane() {
    // Every fleet key, each with a problem of its own that must not be reported on top.
    let text = format!(
        "{NODE}\n[upstreams.api]\nhelth = {{}}\n\n[[routes]]\nupstream = \"nope\"\n\n\
         [client_ip]\nheader = \"x-real-ip\"\n\n[redis]\n\n\
         [rate_limits.per-client]\nrate = -1\n\n[load_shedding]\nmax_in_flight = \"lots\"\n\n[dns]\nzones = 5\n\n\
         [failover.api]\nquorum = 7\n\n[rollout]\nbake = 5\n"
    );
    let refused_errors = errors(&text);
    assert_eq!(
        places(&refused_errors),
        vec![
            ("upstreams", Some(13), Some(2)),
            ("routes", Some(16), Some(3)),
            ("client_ip", Some(19), Some(2)),
            ("redis", Some(22), Some(2)),
            ("rate_limits", Some(24), Some(2)),
            ("load_shedding", Some(27), Some(2)),
            ("dns", Some(30), Some(2)),
            ("failover", Some(33), Some(2)),
            ("rollout", Some(36), Some(2)),
        ],
        "{refused_errors:#?}"
    );
    for error in &refused_errors {
        assert_eq!(
            error.message,
            "comes from the control plane when [control_plane] is set; remove it from this file"
        );
    }
    let mut refused: Vec<&str> = refused_errors.iter().map(|e| e.path.as_str()).collect();
    refused.sort_unstable();
    let mut fleet_keys = FleetSettings::KEYS.to_vec();
    fleet_keys.sort_unstable();
    assert_eq!(
        refused, fleet_keys,
        "FleetSettings::KEYS lists exactly these"
    );
    // Written before [control_plane] or as a dotted key, it is refused just the same.
    let dotted = errors(&format!("load_shedding.max_in_flight = 5\n{NODE}"));
    assert_eq!(places(&dotted), vec![("load_shedding", Some(1), Some(1))]);
}

#[test]
fn node_keys_are_refused_in_a_fleet_config() {
    let text = format!(
        "[gateway]\nid = \"not a name\"\n\n[listen]\nhttp = \"nope\"\n\n[admin]\nlisten = 1\n\n\
         [access_log]\npath = \"\"\n\n{FLEET}\n[control_plane]\nurl = \"ftp://x\"\n[tls]\nmin_version = 1\n\
         [resolver]\nmin_ttl = 1\n"
    );
    let errors = fleet_errors(&text);
    assert_eq!(
        places(&errors),
        vec![
            ("gateway", Some(1), Some(2)),
            ("listen", Some(4), Some(2)),
            ("admin", Some(7), Some(2)),
            ("access_log", Some(10), Some(2)),
            ("control_plane", Some(21), Some(2)),
            ("tls", Some(23), Some(2)),
            ("resolver", Some(25), Some(2)),
        ],
        "{errors:#?}"
    );
    for error in &errors {
        assert_eq!(
            error.message,
            "is set in each gateway's own file, not in the fleet config"
        );
    }
    let refused: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        refused,
        NodeSettings::KEYS,
        "NodeSettings::KEYS lists exactly these"
    );
}

#[test]
fn a_fleet_config_is_validated_like_a_file() {
    let fleet = parse_fleet(FLEET).unwrap();
    assert_eq!(
        fleet.node.gateway,
        Config::default().node.gateway,
        "node keys: defaults"
    );
    assert_eq!(fleet.node.listen, Config::default().node.listen);
    assert!(fleet.node.control_plane.is_none());
    assert!(fleet.has_fleet());
    let empty = parse_fleet("").expect("an empty fleet (a gateway waiting for its first)");
    assert_eq!(empty, Config::default());
    assert!(!empty.has_fleet());
    // The same errors, paths and places as `parse` gives.
    let broken = with_api_upstream(
        "[[routes]]\nupstream = \"apii\"\ntimeout = \"0s\"\n[rate_limits.x]\nrate = 1\n",
    );
    let from_fleet = fleet_errors(&broken);
    assert_eq!(from_fleet, errors(&broken));
    assert_eq!(
        places(&from_fleet),
        vec![
            ("routes[0].upstream", Some(2), Some(12)),
            ("routes[0].timeout", Some(3), Some(11)),
            ("rate_limits.x.key", Some(4), Some(1)),
        ]
    );
    // Syntax errors too.
    let syntax = fleet_errors("[[routes]\n");
    assert_eq!(syntax.len(), 1);
    assert_eq!(syntax[0].path, "");
}

#[test]
fn has_fleet_sees_every_fleet_key() {
    for text in [
        with_api_upstream(""),
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\n".to_owned(),
        "[client_ip]\ntrusted_proxies = [\"10.0.0.0/8\"]\n".to_owned(),
        "[load_shedding]\nmax_in_flight = 10\n".to_owned(),
        "[rate_limits.x]\nkey = \"client_ip\"\nrate = 1\n".to_owned(),
    ] {
        assert!(parse_fleet(&text).unwrap().has_fleet(), "{text}");
    }
    // Node keys are not the fleet.
    let node_only = "[gateway]\nid = \"a\"\n[listen]\nhttp = \"0.0.0.0:80\"\n";
    assert!(!parse_ok(node_only).has_fleet());
}

#[test]
fn with_node_takes_the_node_keys_from_the_node() {
    let node = parse_ok(NODE);
    let fleet = parse_fleet(FLEET).unwrap();
    let joined = fleet.clone().with_node(&node);
    assert_eq!(joined.node.gateway, node.node.gateway);
    assert_eq!(joined.node.listen, node.node.listen);
    assert_eq!(joined.node.admin, node.node.admin);
    assert_eq!(joined.node.access_log, node.node.access_log);
    assert_eq!(joined.node.control_plane, node.node.control_plane);
    assert_eq!(joined.fleet.upstreams, fleet.fleet.upstreams);
    assert_eq!(joined.fleet.routes, fleet.fleet.routes);
    assert!(joined.has_fleet());
    assert!(
        restart_required(&node, &joined).is_empty(),
        "joining changes no node key"
    );
    // The next pushed version, joined the same way, is a live change.
    let next = parse_fleet(&FLEET.replace("9001", "9002"))
        .unwrap()
        .with_node(&node);
    assert!(restart_required(&joined, &next).is_empty());
    assert_eq!(
        diff(&joined, &next),
        vec![
            "upstreams.api.pools[us-east].endpoints: added 127.0.0.1:9002; removed 127.0.0.1:9001"
        ]
    );
}

/// The full example, split into a node file with `[control_plane]` and a fleet config, comes
/// back whole when the two are parsed and joined.
#[test]
fn the_full_example_round_trips_through_node_and_fleet() {
    let (node_text, fleet_text) = split(FULL_EXAMPLE);
    let node_text = format!(
        "{node_text}\n[control_plane]\nurl = \"https://cp.internal:7700\"\n\
         token_file = \"/etc/weir/token\"\ncache_path = \"/var/lib/weir/fleet.json\"\n\
         ca_file = \"/etc/weir/ca.pem\"\nstream_timeout = \"3s\"\n\
         reconnect_backoff = \"100ms\"\nmax_reconnect_backoff = \"5s\"\n"
    );
    let node = parse_ok(&node_text);
    assert!(!node.has_fleet());
    let fleet = parse_fleet(&fleet_text).expect("the fleet part alone is a fleet config");
    let joined = fleet.with_node(&node);

    let whole = parse_ok(FULL_EXAMPLE);
    let mut expected = whole.clone();
    expected.node.control_plane = node.node.control_plane.clone();
    assert_eq!(joined, expected);
    assert_eq!(diff(&whole, &joined), vec!["control_plane: added"]);
    assert_eq!(restart_required(&whole, &joined), vec!["control_plane"]);

    // Either part in the wrong place is refused key by key.
    let in_node = errors(&format!("{node_text}\n{fleet_text}"));
    assert!(
        in_node
            .iter()
            .all(|e| FleetSettings::KEYS.contains(&e.path.as_str()))
    );
    // The full example has no `[dns]` (weir-dns's section, tested in dns.rs).
    assert_eq!(in_node.len(), FleetSettings::KEYS.len() - 1, "{in_node:#?}");
    let in_fleet = fleet_errors(&format!("{fleet_text}\n{node_text}"));
    assert!(
        in_fleet
            .iter()
            .all(|e| NodeSettings::KEYS.contains(&e.path.as_str()))
    );
    assert_eq!(in_fleet.len(), NodeSettings::KEYS.len(), "{in_fleet:#?}");
}

#[test]
fn control_plane_changes_need_a_restart_and_are_diffed_key_by_key() {
    let old = parse_ok(NODE);
    let new = parse_ok(&node_at("https://cp.internal:7701").replace(
        "[control_plane]\n",
        "[control_plane]\nca_file = \"/ca.pem\"\nstream_timeout = \"3s\"\n\
         reconnect_backoff = \"1s\"\nmax_reconnect_backoff = \"30s\"\n",
    ));
    assert_eq!(restart_required(&old, &new), vec!["control_plane"]);
    assert_eq!(
        diff(&old, &new),
        vec![
            "control_plane.url: http://127.0.0.1:7700 -> https://cp.internal:7701",
            "control_plane.ca_file: (system) -> /ca.pem",
            "control_plane.stream_timeout: 6s -> 3s",
            "control_plane.reconnect_backoff: 200ms -> 1s",
            "control_plane.max_reconnect_backoff: 10s -> 30s",
        ]
    );
    let moved = parse_ok(&NODE.replace("/var/lib/weir/cache.json", "/cache.json"));
    assert_eq!(
        diff(&old, &moved),
        vec!["control_plane.cache_path: /var/lib/weir/cache.json -> /cache.json"]
    );
    assert_eq!(restart_required(&old, &moved), vec!["control_plane"]);
    let (without, _) = NODE.split_once("[control_plane]").expect("NODE has it");
    let plain = parse_ok(without);
    assert_eq!(restart_required(&plain, &old), vec!["control_plane"]);
    assert!(diff(&old, &plain).contains(&"control_plane: removed".to_owned()));
}

#[test]
fn a_gateway_can_refuse_fault_injection() {
    let with_fault = with_api_upstream(
        "[gateway]\nallow_fault_injection = false\n\n[[routes]]\nname = \"api\"\nupstream = \"api\"\n\
         [routes.fault]\nheader = \"x-game-day\"\nabort_status = 503\nabort_percent = 10\n",
    );
    let error = assert_single_error(
        &with_fault,
        "routes[0].fault",
        "allow_fault_injection = false",
    );
    assert_eq!(error.line, None);
    // In a fleet config the fault is fine; the gateway refuses it when it joins its node keys.
    let fleet = parse_fleet(
        &with_api_upstream("[[routes]]\nupstream = \"api\"\n[routes.fault]\nheader = \"x\"\nabort_status = 503\nabort_percent = 1\n"),
    )
    .unwrap();
    let strict = parse_ok("[gateway]\nallow_fault_injection = false\n");
    assert_eq!(fleet.clone().with_node(&strict).refused_by_node().len(), 1);
    assert!(fleet.with_node(&parse_ok("")).refused_by_node().is_empty());
    // Turning it off is a live change, and says so.
    let lenient = parse_ok("");
    assert!(restart_required(&lenient, &strict).is_empty());
    assert_eq!(
        diff(&lenient, &strict),
        vec!["gateway.allow_fault_injection: true -> false"]
    );
}

#[test]
fn a_file_without_control_plane_keeps_every_key() {
    let whole = parse(FULL_EXAMPLE).expect("node and fleet keys together");
    assert!(whole.node.control_plane.is_none() && whole.has_fleet());
}
