//! 100,000 random and mutated packets over UDP, and broken streams over TCP: the server never
//! crashes or stalls (a valid question is answered correctly after every 500 packets), and
//! its memory stays flat between the first and the second half.

use std::io::Write;
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::support::{Ask, Dns, HEAD, addresses, exchange};

/// SplitMix64: deterministic, so a failure replays the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        (self.next() & 0xff) as u8
    }
}

/// Valid questions to mutate: with and without EDNS and ECS, several types.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (name, qtype) in [
        ("api.gslb.example.com.", RecordType::A),
        ("api.gslb.example.com.", RecordType::AAAA),
        ("gslb.example.com.", RecordType::SOA),
        ("x.gslb.example.com.", RecordType::ANY),
        ("example.org.", RecordType::NS),
    ] {
        let mut ask = Ask::new(name, qtype);
        seeds.push(ask.message().to_vec().expect("encode"));
        ask.payload = Some(1232);
        ask.subnet = Some((IpAddr::from([198, 51, 100, 0]), 24));
        seeds.push(ask.message().to_vec().expect("encode"));
    }
    seeds
}

/// One broken packet: random bytes, or a seed with bits flipped, cut short, extended, or its
/// header counts overwritten.
fn mutant(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut packet = seeds[rng.below(seeds.len())].clone();
    match rng.below(6) {
        0 => {
            let len = rng.below(600);
            packet = (0..len).map(|_| rng.byte()).collect();
        }
        1 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(packet.len());
                packet[at] ^= 1 << rng.below(8);
            }
        }
        2 => packet.truncate(rng.below(packet.len())),
        3 => packet.extend((0..rng.below(300)).map(|_| rng.byte())),
        4 => {
            // QDCOUNT, ANCOUNT, NSCOUNT or ARCOUNT set to anything.
            let at = 4 + 2 * rng.below(4);
            packet[at] = rng.byte();
            packet[at + 1] = rng.byte();
        }
        _ => {
            // Garbage inside the question name (labels, pointers).
            for _ in 0..=rng.below(4) {
                let at = 12 + rng.below(packet.len().saturating_sub(12));
                if at < packet.len() {
                    packet[at] = rng.byte();
                }
            }
        }
    }
    packet
}

fn config() -> String {
    format!(
        r#"{HEAD}
[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10", "2001:db8::10"]
"#
    )
}

/// A valid question gets the right answer: asked every 100 ms for up to 10 s, since a flood may
/// have filled the socket's buffer and the question can be dropped with the flood.
fn still_answers(dns: &Dns) {
    let bytes = Ask::new("api.gslb.example.com.", RecordType::A)
        .message()
        .to_vec()
        .expect("encode");
    let source = IpAddr::from([127, 0, 0, 1]);
    let answer = exchange(dns.listen, source, &bytes, Duration::from_millis(100), 100)
        .unwrap_or_else(|e| panic!("the server stalled: {e}"));
    assert_eq!(addresses(&answer), ["192.0.2.10"]);
}

#[test]
fn random_and_mutated_packets_neither_crash_nor_stall_nor_grow_memory() {
    let dns = Dns::start(&config());
    let seeds = seeds();
    let mut rng = Rng(16);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let flood = |count: usize, rng: &mut Rng| {
        for n in 0..count {
            let packet = mutant(rng, &seeds);
            // A send can fail when the socket buffer is full; the next one goes.
            let _ = socket.send_to(&packet, dns.listen);
            if n % 500 == 499 {
                still_answers(&dns);
            }
        }
    };
    flood(50_000, &mut rng);
    let rss_half = dns.rss_kib();
    flood(50_000, &mut rng);
    let rss_end = dns.rss_kib();
    assert!(dns.process.running());
    still_answers(&dns);
    eprintln!("weir-dns RSS after 50,000 packets: {rss_half} KiB; after 100,000: {rss_end} KiB");
    // Flat: the second 50,000 packets may not add more than 16 MiB.
    assert!(
        rss_end <= rss_half + 16 * 1024,
        "RSS grew from {rss_half} KiB to {rss_end} KiB"
    );

    // TCP: mutated frames, lying length prefixes, half-sent frames, idle connections.
    let mut idle = Vec::new();
    for n in 0..200 {
        let Ok(mut stream) = TcpStream::connect(dns.listen) else {
            continue;
        };
        stream
            .set_write_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        for _ in 0..5 {
            let packet = mutant(&mut rng, &seeds);
            let mut frame = u16::try_from(packet.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            if n % 7 == 0 {
                frame = 65_535u16.to_be_bytes().to_vec(); // claims more than it sends
            }
            frame.extend(&packet);
            if stream.write_all(&frame).is_err() {
                break;
            }
        }
        if n % 20 == 0 {
            idle.push(stream);
        }
    }
    let tcp = dns.dig(&["api.gslb.example.com", "A", "+tcp", "+short"]);
    assert_eq!(tcp.trim(), "192.0.2.10");
    still_answers(&dns);
    drop(idle);
    assert!(dns.process.running());
    let metrics = dns.metrics();
    assert!(metrics.contains("rcode=\"FORMERR\""), "{metrics}");
}
