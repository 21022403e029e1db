//! `weir-gateway --check`: exit 0 for a valid config, 1 with every error and its path otherwise.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_config_exits_zero() {
    let (code, stdout, _) = check(
        r#"
[gateway]
region = "us-east"
[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001"]
[[routes]]
upstream = "api"
"#,
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("valid"), "{stdout}");
}

#[test]
fn every_error_is_reported_with_its_path() {
    let (code, _, stderr) = check(
        r#"
[upstreams.api]
region_policy = "closest"
[[upstreams.api.pools]]
region = "us-east"
weight = 0
endpoints = ["127.0.0.1:9001"]
[[routes]]
upstream = "api"
[[routes]]
path_prefix = "/v1"
upstream = "apii"
timout = "5s"
"#,
    );
    assert_eq!(code, 1, "{stderr}");
    for expected in [
        "upstreams.api.region_policy",
        "upstreams.api.pools",
        "routes[1].upstream",
        "no upstream named \"apii\"",
        "routes[1].timout",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let (code, _, stderr) = check("[gateway]\nregion = \"us-east\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn a_missing_file_exits_non_zero_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_weir-gateway"))
        .args(["--config", "/nonexistent/weir.toml", "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/weir.toml"));
}
