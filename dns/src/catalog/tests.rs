//! The DNS rules of `Catalog::answer`, from a real `[dns]` config, without sockets.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;

const CONFIG: &str = r#"
[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com", negative_ttl = "45s" }
ns = ["ns1.gslb.example.com", "ns2.gslb.example.com"]

[dns.names."api.gslb.example.com"]
ttl = "30s"
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10", "2001:db8::10"]
health = "http://127.0.0.1:1/readyz"
[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.10"]

[dns.names."v4.deep.gslb.example.com"]
all_down = "servfail"
[[dns.names."v4.deep.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.20"]
health = "http://127.0.0.1:1/readyz"

[dns.client_regions]
"198.51.100.0/24" = "eu-west"
"0.0.0.0/0" = "us-east"
"#;

struct Fixture {
    catalog: Catalog,
    target: Arc<Target>,
}

fn fixture() -> Fixture {
    let config = weir_config::parse_fleet(CONFIG).expect("valid");
    let settings = config.fleet.dns.expect("dns");
    let url = weir_config::HttpUrl {
        host: "127.0.0.1".into(),
        port: 1,
        path: "/readyz".into(),
    };
    let target = Arc::new(Target::new(url.clone(), Instant::now()));
    let targets = HashMap::from([(url, target.clone())]);
    Fixture {
        catalog: Catalog::new(
            &settings,
            &targets,
            &crate::gateways::Gates::new(Arc::default()),
            7,
        )
        .expect("builds"),
        target,
    }
}

fn ask(catalog: &Catalog, qname: &str, qtype: RecordType, client: Client) -> Reply {
    let mut rng = SmallRng::seed_from_u64(1);
    catalog.answer(
        &Name::from_str(qname).expect("name"),
        qtype,
        DNSClass::IN,
        &client,
        &mut rng,
    )
}

fn from(source: &str) -> Client {
    Client {
        source: source.parse().expect("ip"),
        subnet: None,
    }
}

fn data(reply: &Reply) -> Vec<String> {
    reply
        .answers
        .iter()
        .map(|record| record.data.to_string())
        .collect()
}

#[test]
fn names_outside_the_zones_are_refused() {
    let f = fixture();
    for qname in [
        "example.com.",
        "gslb.example.org.",
        "xgslb.example.com.",
        ".",
    ] {
        let reply = ask(&f.catalog, qname, RecordType::A, from("192.0.2.1"));
        assert_eq!(
            (reply.rcode, reply.authoritative),
            (ResponseCode::Refused, false),
            "{qname}"
        );
    }
    let mut rng = SmallRng::seed_from_u64(1);
    let chaos = f.catalog.answer(
        &Name::from_str("api.gslb.example.com.").expect("name"),
        RecordType::A,
        DNSClass::CH,
        &from("192.0.2.1"),
        &mut rng,
    );
    assert_eq!(chaos.rcode, ResponseCode::Refused);
}

#[test]
fn the_apex_has_soa_and_ns() {
    let f = fixture();
    let soa = ask(
        &f.catalog,
        "GSLB.example.com.",
        RecordType::SOA,
        from("192.0.2.1"),
    );
    assert_eq!(
        (soa.rcode, soa.authoritative),
        (ResponseCode::NoError, true)
    );
    let [record] = soa.answers.as_slice() else {
        panic!("{soa:?}")
    };
    assert_eq!(record.name.to_ascii().to_lowercase(), "gslb.example.com.");
    let RData::SOA(data) = &record.data else {
        panic!("{record:?}")
    };
    assert_eq!((data.serial, data.minimum), (7, 45));
    assert_eq!(data.mname.to_string(), "ns1.gslb.example.com.");
    let ns = ask(
        &f.catalog,
        "gslb.example.com.",
        RecordType::NS,
        from("192.0.2.1"),
    );
    assert_eq!(
        data_sorted(&ns),
        ["ns1.gslb.example.com.", "ns2.gslb.example.com."]
    );
    // The apex has no address: NODATA with the SOA.
    let a = ask(
        &f.catalog,
        "gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert!(a.answers.is_empty() && a.rcode == ResponseCode::NoError);
    assert_eq!(a.authority.len(), 1);
    assert_eq!(a.authority[0].ttl, 45);
}

fn data_sorted(reply: &Reply) -> Vec<String> {
    let mut data = data(reply);
    data.sort();
    data
}

#[test]
fn unknown_names_are_nxdomain_and_missing_types_nodata() {
    let f = fixture();
    let nx = ask(
        &f.catalog,
        "nope.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!((nx.rcode, nx.authoritative), (ResponseCode::NXDomain, true));
    assert!(matches!(nx.authority.as_slice(), [soa] if soa.record_type() == RecordType::SOA));
    // An empty non-terminal exists: NODATA.
    let ent = ask(
        &f.catalog,
        "deep.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(
        (ent.rcode, ent.answers.len(), ent.authority.len()),
        (ResponseCode::NoError, 0, 1)
    );
    // A name without IPv6 members, and a type no name has.
    for (qname, qtype) in [
        ("v4.deep.gslb.example.com.", RecordType::AAAA),
        ("api.gslb.example.com.", RecordType::TXT),
        ("api.gslb.example.com.", RecordType::SOA),
    ] {
        let reply = ask(&f.catalog, qname, qtype, from("192.0.2.1"));
        assert_eq!(
            (reply.rcode, reply.answers.len(), reply.authority.len()),
            (ResponseCode::NoError, 0, 1),
            "{qname} {qtype}"
        );
    }
}

#[test]
fn names_match_whatever_their_case() {
    let f = fixture();
    let reply = ask(
        &f.catalog,
        "ApI.GsLb.ExAmPlE.CoM.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(data(&reply), ["192.0.2.10"]);
    assert_eq!(
        reply.answers[0].name.to_ascii().to_lowercase(),
        "api.gslb.example.com."
    );
    assert_eq!(reply.answers[0].ttl, 30);
}

#[test]
fn nearest_follows_the_subnet_or_else_the_source() {
    let f = fixture();
    let by_source = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::A,
        from("198.51.100.7"),
    );
    assert_eq!(data(&by_source), ["198.51.100.10"]);
    assert_eq!(by_source.client_region.as_deref(), Some("eu-west"));
    let by_subnet = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::A,
        Client {
            source: "192.0.2.1".parse().expect("ip"),
            subnet: Some(("198.51.100.0".parse().expect("ip"), 24)),
        },
    );
    assert_eq!(data(&by_subnet), ["198.51.100.10"]);
    assert_eq!(by_subnet.ecs_scope, 24);
    let decision = by_subnet.decision.expect("a decision");
    assert_eq!(
        (&*decision.name, &*decision.region),
        ("api.gslb.example.com", "eu-west")
    );
    let us = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(data(&us), ["192.0.2.10"]);
    let aaaa = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::AAAA,
        from("198.51.100.7"),
    );
    assert_eq!(data(&aaaa), ["2001:db8::10"]);
}

#[test]
fn health_moves_answers_and_lowers_the_ttl_while_changing() {
    let f = fixture();
    let now = Instant::now();
    f.target.record(false, now, 5, 3);
    let changing = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(data(&changing), ["192.0.2.10"]);
    assert_eq!(
        changing.answers[0].ttl, 2,
        "the probe interval while changing"
    );
    f.target.record(false, now, 5, 3);
    f.target.record(false, now, 5, 3);
    let spilled = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(data(&spilled), ["198.51.100.10"]);
    assert_eq!(spilled.answers[0].ttl, 30);
    // The only member of a servfail name is down.
    let failed = ask(
        &f.catalog,
        "v4.deep.gslb.example.com.",
        RecordType::A,
        from("192.0.2.1"),
    );
    assert_eq!(
        (failed.rcode, failed.answers.len()),
        (ResponseCode::ServFail, 0)
    );
    // All down with all_down = "all": every member, so AAAA still answers.
    let aaaa = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::AAAA,
        from("192.0.2.1"),
    );
    assert_eq!(data(&aaaa), ["2001:db8::10"]);
    assert!(aaaa.decision.expect("decision").all_down);
}

#[test]
fn any_answers_both_families() {
    let f = fixture();
    let reply = ask(
        &f.catalog,
        "api.gslb.example.com.",
        RecordType::ANY,
        from("192.0.2.1"),
    );
    assert_eq!(data(&reply), ["192.0.2.10", "2001:db8::10"]);
}
