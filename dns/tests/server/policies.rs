//! Answers per policy: nearest by ECS and by source address, weighted split, failover order.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use weir_testkit::eventually;

use crate::support::{Ask, Dns, HEAD, addresses};

fn config() -> String {
    format!(
        r#"{HEAD}
[dns.names."near.gslb.example.com"]
policy = "nearest"
[[dns.names."near.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10", "2001:db8::10"]
[[dns.names."near.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.10", "2001:db8:e::10"]
weight = 50
[[dns.names."near.gslb.example.com".members]]
region = "ap-south"
addresses = ["203.0.113.10"]
weight = 80

[dns.names."split.gslb.example.com"]
policy = "weighted"
[[dns.names."split.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.20"]
weight = 75
[[dns.names."split.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.20"]
weight = 25
[[dns.names."split.gslb.example.com".members]]
region = "ap-south"
addresses = ["203.0.113.20"]
weight = 0

[dns.names."order.gslb.example.com"]
policy = "failover"
answers = 2
[[dns.names."order.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.30"]
weight = 0
[[dns.names."order.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.30"]
[[dns.names."order.gslb.example.com".members]]
region = "ap-south"
addresses = ["203.0.113.30"]
[[dns.names."order.gslb.example.com".members]]
region = "us-west"
addresses = ["192.0.2.31"]

[dns.client_regions]
"198.51.100.0/24" = "eu-west"
"2001:db8:e::/48" = "eu-west"
"203.0.113.0/24" = "ap-south"
"127.0.0.2/32" = "eu-west"
"127.0.0.3/32" = "ap-south"
"0.0.0.0/0" = "us-east"
"#
    )
}

#[test]
fn nearest_answers_the_client_region_by_subnet_or_source() {
    let dns = Dns::start(&config());
    // dig with an EDNS Client Subnet: the answer follows the subnet and echoes it with a scope.
    let eu = dns.dig(&["near.gslb.example.com", "A", "+subnet=198.51.100.0/24"]);
    assert!(eu.contains("198.51.100.10"), "{eu}");
    assert!(!eu.contains("192.0.2.10"), "{eu}");
    assert!(eu.contains("CLIENT-SUBNET: 198.51.100.0/24/24"), "{eu}");
    assert!(eu.contains("flags: qr aa"), "{eu}");
    let v6 = dns.dig(&[
        "near.gslb.example.com",
        "AAAA",
        "+subnet=2001:db8:e::/56",
        "+short",
    ]);
    assert_eq!(v6.trim(), "2001:db8:e::10");
    // Without ECS, the resolver's own address: 127.0.0.1 is us-east, .2 eu-west, .3 ap-south.
    for (source, expected) in [
        ([127, 0, 0, 1], "192.0.2.10"),
        ([127, 0, 0, 2], "198.51.100.10"),
        ([127, 0, 0, 3], "203.0.113.10"),
    ] {
        let mut ask = Ask::new("near.gslb.example.com.", RecordType::A);
        ask.source = IpAddr::from(source);
        assert_eq!(
            addresses(&dns.ask_with(&ask)),
            [expected],
            "from {source:?}"
        );
    }
    let by_dig = dns.dig(&["-b", "127.0.0.3", "near.gslb.example.com", "+short"]);
    assert_eq!(by_dig.trim(), "203.0.113.10");
    // A subnet beats the source address.
    let mut ask = Ask::new("near.gslb.example.com.", RecordType::A);
    ask.source = IpAddr::from([127, 0, 0, 2]);
    ask.subnet = Some((IpAddr::from([203, 0, 113, 0]), 24));
    assert_eq!(addresses(&dns.ask_with(&ask)), ["203.0.113.10"]);
}

#[test]
fn weighted_splits_by_weight_within_five_percent() {
    let dns = Dns::start(&config());
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..2_000 {
        let answer = dns.ask("split.gslb.example.com.", RecordType::A);
        let [address] = addresses(&answer).try_into().expect("one address");
        *counts.entry(address).or_default() += 1;
    }
    let us = counts.get("192.0.2.20").copied().unwrap_or(0);
    let eu = counts.get("198.51.100.20").copied().unwrap_or(0);
    // 75% ± 5% of 2,000, and never the member with weight 0.
    assert!((1_400..=1_600).contains(&us), "{counts:?}");
    assert_eq!(us + eu, 2_000, "{counts:?}");
    let metrics = dns.metrics();
    assert!(
        metrics.contains(
            "weir_dns_policy_decisions_total{all_down=\"false\",name=\"split.gslb.example.com\",region=\"us-east\"}"
        ),
        "{metrics}"
    );
}

#[test]
fn failover_answers_the_first_healthy_members_in_order() {
    let dns = Dns::start(&config());
    for _ in 0..20 {
        let answer = dns.ask("order.gslb.example.com.", RecordType::A);
        assert_eq!(addresses(&answer), ["198.51.100.30", "203.0.113.30"]);
    }
}

#[test]
fn every_query_is_logged_as_one_json_line() {
    let dns = Dns::start_with_log(&config(), "stderr");
    let mut ask = Ask::new("near.gslb.example.com.", RecordType::A);
    ask.subnet = Some((IpAddr::from([198, 51, 100, 0]), 24));
    assert_eq!(addresses(&dns.ask_with(&ask)), ["198.51.100.10"]);
    let entry = || {
        dns.process
            .logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["name"] == "near.gslb.example.com.")
    };
    assert!(eventually(Duration::from_secs(5), || entry().is_some()));
    let entry = entry().expect("logged");
    assert_eq!(entry["protocol"], "udp");
    assert_eq!(entry["qtype"], "A");
    assert_eq!(entry["rcode"], "NOERROR");
    assert_eq!(entry["ecs"], "198.51.100.0/24");
    assert_eq!(entry["client_region"], "eu-west");
    assert_eq!(entry["answered_region"], "eu-west");
    assert_eq!(entry["answers"], serde_json::json!(["198.51.100.10"]));
    assert_eq!(entry["client"], "127.0.0.1");
}
