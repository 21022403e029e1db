//! SIGHUP reloads the config all or nothing: a good one changes the answers, a broken one is
//! rejected with every error and the previous one keeps serving.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use nix::sys::signal::Signal;
use weir_testkit::eventually;

use crate::support::{Dns, HEAD, addresses, rewrite};

#[test]
fn sighup_applies_a_good_config_and_rejects_a_broken_one() {
    let dns = Dns::start(&format!(
        r#"{HEAD}
[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]
"#
    ));
    let answer = || addresses(&dns.ask("api.gslb.example.com.", RecordType::A));
    assert_eq!(answer(), ["192.0.2.10"]);

    rewrite(&dns.config, "192.0.2.10", "192.0.2.99");
    dns.process.signal(Signal::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || answer() == ["192.0.2.99"]));
    assert_eq!(dns.status()["config"]["generation"], 2);

    // Two mistakes: both reported, nothing applied.
    rewrite(
        &dns.config,
        "\"192.0.2.99\"",
        "\"192.0.2.300\", \"192.0.2.7\"]\nweight = 500\n#",
    );
    dns.process.signal(Signal::SIGHUP);
    assert!(eventually(
        Duration::from_secs(5),
        || dns.status()["config"]["rejected"] == 1
    ));
    let status = dns.status();
    let errors = status["config"]["last_errors"]
        .as_array()
        .expect("errors")
        .clone();
    assert_eq!(errors.len(), 2, "{status}");
    assert!(
        errors[0].as_str().is_some_and(
            |e| e.contains("dns.names.\"api.gslb.example.com\".members[0].addresses[0]")
        ),
        "{errors:?}"
    );
    assert!(
        errors[1]
            .as_str()
            .is_some_and(|e| e.contains("members[0].weight")),
        "{errors:?}"
    );
    assert_eq!(status["config"]["generation"], 2);
    assert_eq!(answer(), ["192.0.2.99"]);
    assert!(dns.process.logs().contains("config rejected"));
    let metrics = dns.metrics();
    assert!(
        metrics.contains("weir_dns_config_reloads_total{result=\"rejected\"} 1"),
        "{metrics}"
    );
}

#[test]
fn check_validates_without_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.toml");
    std::fs::write(
        &path,
        format!(
            "{HEAD}\n[dns.client_regions]\n\"10.0.0.1/8\" = \"x\"\n\"10.0.0.0/8\" = \"mars\"\n"
        ),
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir-dns"))
        .args(["--check", "--config", path.to_str().expect("path")])
        .output()
        .expect("run weir-dns --check");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dns.client_regions.\"10.0.0.1/8\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("host bits") && stderr.contains("not the region of any member"),
        "{stderr}"
    );
    std::fs::write(&path, HEAD).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir-dns"))
        .args(["--check", "--config", path.to_str().expect("path")])
        .output()
        .expect("run weir-dns --check");
    assert!(output.status.success(), "{output:?}");
}
