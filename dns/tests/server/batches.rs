//! The batched UDP loop: a burst mixing good and malformed packets has every good one answered
//! (and only the malformed header-bearing one gets FORMERR), and a client that never reads its
//! replies does not stall anyone else.

use std::collections::BTreeSet;
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{Ask, Dns, HEAD, addresses, exchange};

fn config() -> String {
    format!(
        r#"{HEAD}
[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]
"#
    )
}

/// A query for the test name with `id`.
fn good(id: u16) -> Vec<u8> {
    let mut message = Ask::new("api.gslb.example.com.", RecordType::A).message();
    message.metadata.id = id;
    message.to_vec().expect("encode")
}

#[test]
fn a_burst_with_malformed_packets_has_every_good_query_answered() {
    let dns = Dns::start(&config());
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    // 20 good queries with, between them, a too-short packet, a response, and a header whose
    // question is cut short (FORMERR), sent back to back so they arrive in few batches.
    let mut wanted = BTreeSet::new();
    for id in 1..=20u16 {
        socket.send_to(&good(id), dns.listen).expect("send");
        wanted.insert(id);
        match id % 4 {
            0 => socket.send_to(&[0xde, 0xad], dns.listen),
            1 => {
                let mut response = good(1000 + id);
                response[2] |= 0x80; // QR set: never answered
                socket.send_to(&response, dns.listen)
            }
            2 => {
                let mut cut = good(2000 + id);
                cut.truncate(cut.len() - 3);
                socket.send_to(&cut, dns.listen)
            }
            _ => Ok(0),
        }
        .expect("send");
    }
    let formerrs: BTreeSet<u16> = (1..=20u16)
        .filter(|id| id % 4 == 2)
        .map(|id| 2000 + id)
        .collect();
    let (mut answered, mut formerred) = (BTreeSet::new(), BTreeSet::new());
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while (answered != wanted || formerred != formerrs) && Instant::now() < deadline {
        let Ok(read) = socket.recv(&mut buffer) else {
            break;
        };
        let reply = Message::from_vec(&buffer[..read]).expect("a valid reply");
        let id = reply.metadata.id;
        match reply.metadata.response_code {
            ResponseCode::NoError => {
                assert_eq!(addresses(&reply), ["192.0.2.10"], "reply {id}");
                assert!(answered.insert(id), "reply {id} twice");
            }
            ResponseCode::FormErr => assert!(formerred.insert(id), "FORMERR {id} twice"),
            other => panic!("reply {id}: {other}"),
        }
    }
    assert_eq!(answered, wanted);
    assert_eq!(formerred, formerrs);
    // Nothing else comes (no reply to the response or the two-byte packet).
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert!(socket.recv(&mut buffer).is_err(), "an unexpected reply");
}

#[test]
fn a_client_that_never_reads_does_not_stall_others() {
    let dns = Dns::start(&config());
    // A client that floods queries and reads nothing: its replies overflow its receive buffer
    // and are dropped by the kernel, not waited on.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let packet = good(7);
    for _ in 0..20_000 {
        silent.send_to(&packet, dns.listen).expect("send");
    }
    // Another client is still answered, each time.
    for _ in 0..20 {
        let reply = exchange(
            dns.listen,
            IpAddr::from([127, 0, 0, 1]),
            &good(8),
            Duration::from_secs(2),
            3,
        )
        .expect("answered while another client does not read");
        assert_eq!(addresses(&reply), ["192.0.2.10"]);
    }
    assert!(dns.metrics().contains("weir_dns_queries_total"));
}
