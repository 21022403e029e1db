//! The control plane over HTTPS (rustls): a gateway trusting its certificate through
//! `control_plane.ca_file` follows it; one that does not trust it gets nothing and says why.

mod support;

use std::time::Duration;

use support::{ControlPlane, Gateway, Origins, fleet_config};

#[test]
fn a_gateway_follows_a_control_plane_over_tls() {
    let origins = Origins::start("us-east", &["a"]);
    let fleet = fleet_config(&[("us-east", 100, &origins)]);
    let cp = ControlPlane::start_with("2s", |dir| {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("self-signed certificate");
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("fleet.toml"), &fleet).unwrap();
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
    });
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
