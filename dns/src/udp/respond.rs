//! One UDP datagram in, at most one out, as hickory-server's UDP path decides: a datagram too
//! short for a header, or a response, is dropped; a header followed by an unparsable body gets a
//! bare FORMERR (not counted or logged: the handler never saw a query); anything else is
//! answered by the [`Handler`]. Sources no reply can go to (port 0, an unspecified or broadcast
//! address) are dropped. Cannot fail: the worst outcome is silence.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use crate::handler::Handler;
use crate::metrics::QueryCounters;

/// Answers `packet` from `source` into `out`; `false` when nothing is to be sent.
pub fn respond(
    handler: &Handler,
    counters: &mut QueryCounters,
    packet: &[u8],
    source: SocketAddr,
    out: &mut Vec<u8>,
) -> bool {
    if !answerable(source) {
        return false;
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
        return false; // under twelve bytes: not a DNS message
    };
    let request = match Request::from_bytes(packet.to_vec(), source, Protocol::Udp) {
        Ok(request) => request,
        Err(error) => {
            tracing::debug!(%error, %source, "malformed query: FORMERR");
            return formerr(&header, out);
        }
    };
    if request.metadata.message_type == MessageType::Response {
        return false; // never answer responses (reflection)
    }
    handler.answer_udp(&request, counters, out);
    true
}

/// Whether a reply can be sent to `source` (hickory's `sanitize_src_address`).
fn answerable(source: SocketAddr) -> bool {
    source.port() != 0
        && match source.ip() {
            IpAddr::V4(ip) => !ip.is_unspecified() && !ip.is_broadcast(),
            IpAddr::V6(ip) => !ip.is_unspecified(),
        }
}

/// The bare FORMERR hickory sends for a header with an unparsable body: the header echoed as a
/// response, no sections.
fn formerr(request: &Header, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::FormErr;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut BinEncoder::new(out)).is_ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;
    use crate::metrics::Metrics;
    use crate::query_log::{Destination, QueryLog};
    use crate::state::State;

    /// 16 A and 16 AAAA records for ANY: more than 512 bytes (truncation without EDNS).
    fn config() -> String {
        let mut config = String::from(
            r#"
[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com" }
ns = ["ns1.gslb.example.com"]

[dns.names."api.gslb.example.com"]
policy = "failover"
answers = 2
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]
[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["192.0.2.20"]

[dns.names."big.gslb.example.com"]
policy = "failover"
answers = 16
"#,
        );
        let v4: Vec<String> = (1..=16).map(|n| format!("\"192.0.2.{n}\"")).collect();
        let v6: Vec<String> = (1..=16).map(|n| format!("\"2001:db8::{n:x}\"")).collect();
        config.push_str(&format!(
            r#"[[dns.names."big.gslb.example.com".members]]
region = "us-east"
addresses = [{}]
[[dns.names."big.gslb.example.com".members]]
region = "eu-west"
addresses = [{}]
"#,
            v4.join(", "),
            v6.join(", ")
        ));
        config
    }

    struct Fixture {
        handler: Handler,
        counters: QueryCounters,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("weir.toml");
        std::fs::write(&path, config()).expect("write config");
        let metrics = Arc::new(Metrics::new());
        let state = State::load(path, metrics.clone()).expect("valid config");
        Fixture {
            handler: Handler {
                state: Arc::new(state),
                log: QueryLog::start(Destination::Off, metrics.log_dropped.clone()),
            },
            counters: QueryCounters::default(),
            _dir: dir,
        }
    }

    fn source() -> SocketAddr {
        "127.0.0.1:40000".parse().expect("addr")
    }

    fn query(id: u16, name: &str, edns: Option<u16>) -> Vec<u8> {
        ask(id, name, RecordType::A, edns)
    }

    fn ask(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        if let Some(size) = edns {
            let mut ours = Edns::new();
            ours.set_max_payload(size);
            message.set_edns(ours);
        }
        message.to_vec().expect("encode")
    }

    fn answer(f: &mut Fixture, packet: &[u8]) -> Option<Message> {
        let mut out = Vec::new();
        respond(&f.handler, &mut f.counters, packet, source(), &mut out)
            .then(|| Message::from_vec(&out).expect("a valid response"))
    }

    #[test]
    fn a_query_is_answered_and_counted() {
        let mut f = fixture();
        let reply = answer(&mut f, &query(7, "api.gslb.example.com.", None)).expect("answered");
        assert_eq!(reply.metadata.id, 7);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        let addresses: Vec<_> = reply
            .answers
            .iter()
            .filter_map(|r: &Record| match r.data {
                RData::A(A(ip)) => Some(ip.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(addresses, ["192.0.2.10", "192.0.2.20"]);
        answer(&mut f, &query(8, "api.gslb.example.com.", None)).expect("answered");
        let metrics = &f.handler.state.metrics;
        assert_eq!(
            metrics
                .queries
                .with_label_values(&["udp", "A", "NOERROR"])
                .get(),
            2
        );
        assert_eq!(
            metrics
                .decisions
                .with_label_values(&["api.gslb.example.com", "us-east", "false"])
                .get(),
            2
        );
    }

    #[test]
    fn short_packets_and_responses_get_no_reply() {
        let mut f = fixture();
        assert!(answer(&mut f, &[0x12, 0x34, 0x01]).is_none());
        assert!(answer(&mut f, &[]).is_none());
        let mut response = query(9, "api.gslb.example.com.", None);
        response[2] |= 0x80; // QR: a response
        assert!(answer(&mut f, &response).is_none());
        let mut out = Vec::new();
        let port_zero = "127.0.0.1:0".parse().expect("addr");
        let packet = query(10, "api.gslb.example.com.", None);
        assert!(!respond(
            &f.handler,
            &mut f.counters,
            &packet,
            port_zero,
            &mut out
        ));
        assert!(respond(
            &f.handler,
            &mut f.counters,
            &packet,
            source(),
            &mut out
        ));
    }

    #[test]
    fn a_header_with_a_broken_body_is_formerr_and_not_counted() {
        let mut f = fixture();
        let mut packet = query(11, "api.gslb.example.com.", None);
        packet.truncate(packet.len() - 3); // the question cut short
        let reply = answer(&mut f, &packet).expect("FORMERR");
        assert_eq!(reply.metadata.id, 11);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        assert!(reply.queries.is_empty() && reply.answers.is_empty());
        assert_eq!(
            f.handler
                .state
                .metrics
                .queries
                .with_label_values(&["udp", "none", "FORMERR"])
                .get(),
            0
        );
    }

    #[test]
    fn answers_are_truncated_to_the_clients_buffer() {
        let mut f = fixture();
        let mut out = Vec::new();
        let small = ask(12, "big.gslb.example.com.", RecordType::ANY, None);
        assert!(respond(
            &f.handler,
            &mut f.counters,
            &small,
            source(),
            &mut out
        ));
        assert!(out.len() <= 512, "{} bytes without EDNS", out.len());
        let reply = Message::from_vec(&out).expect("valid");
        assert!(reply.metadata.truncation, "TC set");
        let large = ask(13, "big.gslb.example.com.", RecordType::ANY, Some(4096));
        assert!(respond(
            &f.handler,
            &mut f.counters,
            &large,
            source(),
            &mut out
        ));
        let reply = Message::from_vec(&out).expect("valid");
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 32);
        assert_eq!(reply.edns.as_ref().map(Edns::max_payload), Some(4096));
    }
}
