//! `[control_plane]`, the split between a gateway's own keys and the fleet's, `parse_fleet`,
//! `Config::with_node` and `gateway.allow_fault_injection`.

use std::path::PathBuf;
use std::time::Duration;

use weir_config::{ControlPlaneSettings, parse_fleet, restart_required};

use crate::support::{
    assert_single_error, assert_single_error_at, errors, parse_ok, with_api_upstream,
};

const NODE: &str = "[gateway]\nid = \"edge-1\"\nregion = \"us-east\"\n\n\
                    [listen]\nhttp = \"127.0.0.1:8080\"\n\n\
                    [control_plane]\nurl = \"http://127.0.0.1:7700/\"\n\
                    token_file = \"/etc/weir/token\"\ncache_path = \"/var/lib/weir/cache.json\"\n";

const FLEET: &str = "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
                     endpoints = [\"127.0.0.1:9001\"]\n\n[[routes]]\nupstream = \"api\"\n";

#[test]
fn a_node_file_parses_with_defaults() {
    let node = parse_ok(NODE);
    assert_eq!(
        node.control_plane,
        Some(ControlPlaneSettings {
            url: "http://127.0.0.1:7700".into(),
            token_file: PathBuf::from("/etc/weir/token"),
            cache_path: PathBuf::from("/var/lib/weir/cache.json"),
            ca_file: None,
            stream_timeout: Duration::from_secs(6),
            reconnect_backoff: Duration::from_millis(200),
            max_reconnect_backoff: Duration::from_secs(10),
        })
    );
    assert!(node.upstreams.is_empty() && node.routes.is_empty());
    assert!(
        parse_ok(FLEET).control_plane.is_none(),
        "a file without it is unchanged"
    );
}

#[test]
fn every_control_plane_error_has_its_path() {
    let text = "[control_plane]\nurl = \"ftp://cp\"\ncache_path = \"\"\n\
                stream_timeout = \"0s\"\nreconnect_backoff = \"2s\"\nmax_reconnect_backoff = \"1s\"\n\
                colour = \"red\"\n";
    let paths: Vec<String> = errors(text).into_iter().map(|e| e.path).collect();
    for expected in [
        "control_plane.url",
        "control_plane.token_file",
        "control_plane.cache_path",
        "control_plane.stream_timeout",
        "control_plane.max_reconnect_backoff",
        "control_plane.colour",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }
    for (url, message) in [
        ("https://", "has no host"),
        ("http://cp:7700/?x=1", "query"),
        ("cp:7700", "must start with http"),
        ("http://user@cp", "credentials"),
    ] {
        let text = NODE.replace("http://127.0.0.1:7700/", url);
        assert_single_error(&text, "control_plane.url", message);
    }
    assert_single_error_at(
        &NODE.replace("token_file = \"/etc/weir/token\"\n", ""),
        "control_plane.token_file",
        "missing required key",
        (8, 1),
    );
}

#[test]
fn fleet_keys_are_refused_in_a_file_run_by_a_control_plane() {
    let text = format!("{NODE}\n{FLEET}\n[load_shedding]\nmax_in_flight = 10\n");
    let errors = errors(&text);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["upstreams", "routes", "load_shedding"],
        "{errors:#?}"
    );
    assert!(errors[0].message.contains("comes from the control plane"));
    assert!(errors[0].line.is_some());
}

#[test]
fn node_keys_are_refused_in_a_fleet_config() {
    let text = format!(
        "[listen]\nhttp = \"127.0.0.1:1\"\n\n{FLEET}\n[control_plane]\nurl = \"http://x\"\n"
    );
    let errors = parse_fleet(&text).unwrap_err().0;
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"listen") && paths.contains(&"control_plane"),
        "{paths:?}"
    );
    assert!(errors[0].message.contains("each gateway's own file"));
    assert!(parse_fleet(FLEET).is_ok());
    assert!(
        parse_fleet("").is_ok(),
        "an empty fleet is valid (a gateway waiting for its first)"
    );
}

#[test]
fn with_node_takes_the_node_keys_from_the_node() {
    let node = parse_ok(NODE);
    let fleet = parse_fleet(FLEET).unwrap();
    let joined = fleet.clone().with_node(&node);
    assert_eq!(joined.gateway, node.gateway);
    assert_eq!(joined.listen, node.listen);
    assert_eq!(joined.control_plane, node.control_plane);
    assert_eq!(joined.upstreams, fleet.upstreams);
    assert_eq!(joined.routes, fleet.routes);
    assert!(
        restart_required(&node, &joined).is_empty(),
        "joining changes no node key"
    );
    let moved = parse_ok(&NODE.replace("7700", "7701"));
    assert_eq!(restart_required(&node, &moved), vec!["control_plane"]);
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
}
