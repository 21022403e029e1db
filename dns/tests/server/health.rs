//! Health probes against a real HTTP server (another weir-dns's admin listener): killed with
//! SIGKILL, its member leaves the answers after `fall` failed probes; restarted on the same
//! port, it comes back only after `rise` good ones.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use weir_testkit::{eventually, metric_sum};

use crate::support::{Dns, HEAD, addresses};

#[test]
fn a_dead_member_leaves_the_answers_and_returns_after_rise_successes() {
    let mut target = Dns::start(HEAD);
    let health = format!("http://{}/readyz", target.admin);
    let dns = Dns::start(&format!(
        r#"{HEAD}
[dns.names."api.gslb.example.com"]
policy = "failover"
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]
health = "{health}"
[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.10"]

[dns.probe]
interval = "100ms"
timeout = "100ms"
fall = 3
rise = 5
"#
    ));
    let answer = || addresses(&dns.ask("api.gslb.example.com.", RecordType::A));
    let probes = |result: &str| {
        metric_sum(
            &dns.metrics(),
            "weir_dns_probes_total",
            &[&format!("result=\"{result}\"")],
        )
    };
    assert!(eventually(Duration::from_secs(5), || probes("ok") >= 2.0));
    assert_eq!(answer(), ["192.0.2.10"]);

    target.process.kill();
    assert!(
        eventually(Duration::from_secs(10), || answer() == ["198.51.100.10"]),
        "the dead member is still answered"
    );
    assert!(probes("fail") >= 3.0, "down before fall = 3 failures");
    let status = dns.status();
    let member = &status["names"][0]["members"][0];
    assert_eq!(member["healthy"], false, "{status}");
    assert_eq!(member["last_probe_ok"], false, "{status}");

    let ok_before = probes("ok");
    target.restart();
    assert!(
        eventually(Duration::from_secs(10), || answer() == ["192.0.2.10"]),
        "the member did not come back"
    );
    assert!(
        probes("ok") - ok_before >= 5.0,
        "back before rise = 5 successes"
    );
    let metrics = dns.metrics();
    assert!(
        metrics.contains("weir_dns_member_healthy{member=\"0\",name=\"api.gslb.example.com\",region=\"us-east\"} 1"),
        "{metrics}"
    );
}
