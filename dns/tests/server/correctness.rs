//! DNS correctness: SOA and NS at the apex, NXDOMAIN, NODATA, REFUSED, AA, case, TCP, and
//! truncation with a small EDNS buffer (then the whole answer over TCP).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::{Ask, Dns, HEAD, addresses};

fn config() -> String {
    let v4: Vec<String> = (1..=16).map(|n| format!("\"192.0.2.{n}\"")).collect();
    let v6: Vec<String> = (1..=16).map(|n| format!("\"2001:db8::{n:x}\"")).collect();
    format!(
        r#"{HEAD}
[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]

[dns.names."big.gslb.example.com"]
policy = "failover"
answers = 16
[[dns.names."big.gslb.example.com".members]]
region = "us-east"
addresses = [{v4}]
[[dns.names."big.gslb.example.com".members]]
region = "eu-west"
addresses = [{v6}]

[dns.names."a-long-label-that-makes-the-question-longer.big.gslb.example.com"]
answers = 16
[[dns.names."a-long-label-that-makes-the-question-longer.big.gslb.example.com".members]]
region = "eu-west"
addresses = [{v6}]
"#,
        v4 = v4.join(", "),
        v6 = v6.join(", ")
    )
}

#[test]
fn the_zone_answers_authoritatively_and_correctly() {
    let dns = Dns::start(&config());
    let soa = dns.dig(&["gslb.example.com", "SOA"]);
    assert!(
        soa.contains("status: NOERROR") && soa.contains("flags: qr aa"),
        "{soa}"
    );
    assert!(
        soa.contains("ns1.gslb.example.com. ops.example.com."),
        "{soa}"
    );
    let ns = dns.dig(&["gslb.example.com", "NS", "+short"]);
    let mut servers: Vec<&str> = ns.lines().collect();
    servers.sort_unstable();
    assert_eq!(servers, ["ns1.gslb.example.com.", "ns2.gslb.example.com."]);
    let nx = dns.dig(&["missing.gslb.example.com", "A"]);
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("flags: qr aa"),
        "{nx}"
    );
    assert!(nx.contains("AUTHORITY: 1") && nx.contains("SOA"), "{nx}");
    let nodata = dns.dig(&["api.gslb.example.com", "AAAA"]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    assert!(nodata.contains("AUTHORITY: 1"), "{nodata}");
    let txt = dns.dig(&["api.gslb.example.com", "TXT"]);
    assert!(
        txt.contains("status: NOERROR") && txt.contains("ANSWER: 0"),
        "{txt}"
    );
    let refused = dns.dig(&["example.org", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");
    assert!(!refused.contains("flags: qr aa"), "{refused}");
    let case = dns.dig(&["aPi.GSLB.example.COM", "A", "+short"]);
    assert_eq!(case.trim(), "192.0.2.10");
    let tcp = dns.dig(&["api.gslb.example.com", "A", "+tcp", "+short"]);
    assert_eq!(tcp.trim(), "192.0.2.10");
    // Also by packet: rcodes and the AA bit.
    let reply = dns.ask("missing.gslb.example.com.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.metadata.authoritative);
    let reply = dns.ask("other.example.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn large_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let dns = Dns::start(&config());
    // 16 AAAA records under a long name do not fit 512 bytes (dig asks ANY over TCP by
    // itself, so dig asks AAAA here).
    let long = "a-long-label-that-makes-the-question-longer.big.gslb.example.com";
    let udp = dns.dig(&[long, "AAAA", "+bufsize=512", "+ignore"]);
    assert!(udp.contains("flags: qr aa tc"), "{udp}");
    let retried = dns.dig(&[long, "AAAA", "+bufsize=512", "+short"]);
    assert_eq!(retried.lines().count(), 16, "{retried}");
    // 16 A + 16 AAAA records do not fit 512 bytes either.
    let mut ask = Ask::new("big.gslb.example.com.", RecordType::ANY);
    ask.payload = Some(512);
    let truncated = dns.ask_with(&ask);
    assert!(truncated.metadata.truncation);
    assert!(addresses(&truncated).len() < 32);
    // No EDNS at all: 512 bytes too.
    let plain = dns.ask("big.gslb.example.com.", RecordType::ANY);
    assert!(plain.metadata.truncation && plain.edns.is_none());
    let plain = dns.dig(&[long, "AAAA", "+noedns", "+ignore"]);
    assert!(plain.contains("flags: qr aa tc"), "{plain}");
    // A big enough buffer, or TCP (dig retries a truncated answer over TCP by itself).
    ask.payload = Some(4096);
    let whole = dns.ask_with(&ask);
    assert!(!whole.metadata.truncation);
    assert_eq!(addresses(&whole).len(), 32);
    let tcp = dns.dig(&["big.gslb.example.com", "ANY", "+tcp", "+short"]);
    assert_eq!(tcp.lines().count(), 32, "{tcp}");
}
