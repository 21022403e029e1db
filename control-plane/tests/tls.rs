//! The control plane over HTTPS (rustls): a gateway trusting its certificate through
//! `control_plane.ca_file` follows it; one that does not trust it gets nothing and says why.
//! `weirctl` the same, through `--ca-file` or `WEIR_CA_FILE`.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{ControlPlane, Gateway, Origins, READ, fleet_config};

#[test]
fn a_gateway_follows_a_control_plane_over_tls() {
    let origins = Origins::start("us-east", &["a"]);
    let fleet = fleet_config(&[("us-east", 100, &origins)]);
    let cp = tls_control_plane(&fleet);
    assert!(cp.url().starts_with("https://"));
    let ca = cp.dir.path().join("cert.pem").display().to_string();
    let trusting = Gateway::start_full(
        &cp.url(),
        "trusting",
        "us-east",
        "",
        &format!("ca_file = \"{ca}\""),
    );
    assert!(
        cp.eventually(Duration::from_secs(20), || trusting.ready()),
        "not ready over TLS:\n{}",
        trusting.logs()
    );
    assert_eq!(trusting.version(), 1);
    assert_eq!(trusting.get("/"), (200, "us-east".to_string()));

    // Without the CA (system roots only) the handshake fails: no config, and the log says why.
    let doubting = Gateway::start(&cp.url(), "doubting", "us-east");
    assert!(
        cp.eventually(Duration::from_secs(10), || doubting.logs().contains("TLS")),
        "{}",
        doubting.logs()
    );
    assert!(!doubting.ready());
}

#[test]
fn weirctl_talks_to_a_control_plane_over_tls_with_its_ca() {
    let cp = tls_control_plane(&fleet_config(&[(
        "us-east",
        100,
        &Origins::start("us-east", &["a"]),
    )]));
    let ca = cp.dir.path().join("cert.pem");
    let weirctl = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_weirctl"))
            .args(args)
            .env("WEIR_URL", cp.url())
            .env("WEIR_TOKEN", READ)
            .env_remove("WEIR_CA_FILE")
            .envs(env.iter().copied())
            .output()
            .expect("run weirctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    };

    let ca_arg = ca.display().to_string();
    let (code, out) = weirctl(&["--ca-file", &ca_arg, "--json", "config", "history"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"version\": 1"), "{out}");
    let (code, out) = weirctl(&["status"], &[("WEIR_CA_FILE", &ca_arg)]);
    assert_eq!(code, 0, "{out}");

    // Not trusted by the public roots: unreachable (4), saying how to trust it.
    let (code, out) = weirctl(&["status"], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("certificate") && out.contains("--ca-file"),
        "{out}"
    );

    // A file that is not a certificate, or a CA file for an http:// URL: usage errors (2).
    let (code, out) = weirctl(&["--ca-file", "/nonexistent/ca.pem", "status"], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/ca.pem"), "{out}");
    let key = cp.dir.path().join("key.pem").display().to_string();
    let (code, out) = weirctl(&["--ca-file", &key, "status"], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no PEM certificate"), "{out}");
    let (code, out) = weirctl(
        &[
            "--url",
            "http://127.0.0.1:7700",
            "--ca-file",
            &ca_arg,
            "status",
        ],
        &[],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("https://"), "{out}");
}

/// A control plane serving HTTPS with a fresh self-signed certificate for 127.0.0.1
/// (`cert.pem` in its directory, the CA to trust), seeded with `fleet` as version 1.
fn tls_control_plane(fleet: &str) -> ControlPlane {
    ControlPlane::start_with("2s", |dir| {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("self-signed certificate");
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("fleet.toml"), fleet).unwrap();
        [
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--seed",
            "fleet.toml",
        ]
        .iter()
        .map(|arg| match *arg {
            "cert.pem" | "key.pem" | "fleet.toml" => dir.join(arg).display().to_string(),
            other => other.to_string(),
        })
        .collect()
    })
}
