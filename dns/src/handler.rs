//! Turns a parsed request into a `Catalog::answer` call and the reply into a response, with
//! EDNS (buffer size honoured, version checked, Client Subnet read and echoed with its scope,
//! RFC 7871), then counts it and logs it: hickory's `RequestHandler` for TCP, and
//! `Handler::answer_udp` for our UDP loop ([`crate::udp`]). Malformed packets never get here:
//! FORMERR when the header parses, silence otherwise (hickory's TCP path, `udp::respond`). A
//! query with other than one question, or a bad ECS option, is FORMERR; an opcode other than
//! QUERY is NOTIMP. UDP answers larger than the client's buffer are truncated with TC set
//! (hickory's encoder), so the client retries over TCP, which carries up to 64 KiB.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use ipnet::IpNet;

use crate::catalog::{Client, Reply};
use crate::metrics::{QueryCounters, qtype_label, rcode_label};
use crate::query_log::{Entry, QueryLog};
use crate::state::State;

/// The largest UDP payload we answer with, whatever a client advertises.
pub const MAX_UDP_PAYLOAD: u16 = 4096;

#[derive(Clone)]
pub struct Handler {
    pub state: Arc<State>,
    pub log: QueryLog,
}

/// A reply with the EDNS it goes out with.
struct Prepared {
    reply: Reply,
    edns: Option<Edns>,
    ecs: Option<ClientSubnet>,
}

/// A response's record sections: ours, then none.
type Records<'a> = std::slice::Iter<'a, Record>;
type NoRecords<'a> = std::iter::Empty<&'a Record>;

impl Prepared {
    /// The response header: the request's, with our code and AA bit.
    fn metadata(&self, request: &Request) -> Metadata {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = self.reply.authoritative;
        metadata.response_code = self.reply.rcode;
        metadata
    }

    /// The response to `request`: its header from the request's, with our code and AA bit, and
    /// our answer and authority sections (UDP and TCP send the same one).
    fn response<'a>(
        &'a self,
        request: &'a Request,
    ) -> MessageResponse<'a, 'a, Records<'a>, Records<'a>, NoRecords<'a>, NoRecords<'a>> {
        MessageResponseBuilder::new(&request.queries, self.edns.as_ref()).build(
            self.metadata(request),
            self.reply.answers.iter(),
            self.reply.authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        )
    }
}

impl Handler {
    /// Everything but the sending; synchronous so the RNG never lives across an await.
    fn prepare(&self, request: &Request) -> Prepared {
        let mut edns = request.edns.as_ref().map(|asked| {
            let mut ours = Edns::new();
            ours.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            ours.set_version(0);
            ours
        });
        let fail = |rcode, edns| Prepared {
            reply: Reply {
                rcode,
                ..Reply::refused()
            },
            edns,
            ecs: None,
        };
        if request
            .edns
            .as_ref()
            .is_some_and(|asked| asked.version() > 0)
        {
            return fail(ResponseCode::BADVERS, edns);
        }
        if request.metadata.op_code != OpCode::Query {
            return fail(ResponseCode::NotImp, edns);
        }
        let [query] = request.queries.queries() else {
            return fail(ResponseCode::FormErr, edns);
        };
        let asked_subnet = match request
            .edns
            .as_ref()
            .and_then(|e| e.option(EdnsCode::Subnet))
        {
            Some(EdnsOption::Subnet(subnet)) => match valid_subnet(subnet) {
                Some(subnet) => Some(subnet),
                None => return fail(ResponseCode::FormErr, edns),
            },
            _ => None,
        };
        let client = Client {
            source: request.src().ip(),
            subnet: asked_subnet
                .filter(|subnet| subnet.source_prefix() > 0)
                .map(|subnet| (subnet.addr(), subnet.source_prefix())),
        };
        let original = query.original();
        let catalog = self.state.catalog.load();
        let reply = catalog.answer(
            original.name(),
            original.query_type(),
            original.query_class(),
            &client,
            &mut rand::rng(),
        );
        // Echo the option with our scope (RFC 7871 §7.2.1).
        let ecs = asked_subnet.map(|subnet| {
            ClientSubnet::new(subnet.addr(), subnet.source_prefix(), reply.ecs_scope)
        });
        if let (Some(edns), Some(ecs)) = (edns.as_mut(), ecs) {
            edns.options_mut().insert(EdnsOption::Subnet(ecs));
        }
        Prepared { reply, edns, ecs }
    }

    fn record(&self, request: &Request, prepared: &Prepared, started: Instant) {
        let metrics = &self.state.metrics;
        let protocol = protocol_label(request.protocol());
        let qtype = qtype_of(request);
        let rcode = rcode_label(prepared.reply.rcode);
        metrics
            .queries
            .with_label_values(&[protocol, qtype, rcode])
            .inc();
        if let Some(decision) = &prepared.reply.decision {
            metrics
                .decisions
                .with_label_values(&[
                    &*decision.name,
                    &*decision.region,
                    if decision.all_down { "true" } else { "false" },
                ])
                .inc();
        }
        self.log(request, prepared, started);
    }

    /// Answers one parsed UDP request into `out` (cleared first), truncated with TC to the
    /// client's EDNS buffer (512 bytes without EDNS), as hickory's UDP path encodes; counts it
    /// with `counters` (this worker's cached handles) and logs it.
    pub(crate) fn answer_udp(
        &self,
        request: &Request,
        counters: &mut QueryCounters,
        out: &mut Vec<u8>,
    ) {
        let started = Instant::now();
        let prepared = self.prepare(request);
        let response = prepared.response(request);
        out.clear();
        let mut encoder = BinEncoder::new(out);
        encoder.set_max_size(prepared.edns.as_ref().map_or(512, Edns::max_payload));
        if let Err(error) = response.destructive_emit(&mut encoder) {
            // As hickory does: a bare SERVFAIL rather than nothing.
            tracing::error!(%error, "error encoding message");
            servfail(request.metadata.id, out);
        }
        let metrics = &self.state.metrics;
        counters.count_query(
            metrics,
            "udp",
            qtype_of(request),
            rcode_label(prepared.reply.rcode),
        );
        if let Some(decision) = &prepared.reply.decision {
            counters.count_decision(metrics, decision);
        }
        self.log(request, &prepared, started);
    }

    fn log(&self, request: &Request, prepared: &Prepared, started: Instant) {
        if !self.log.enabled() {
            return;
        }
        let protocol = protocol_label(request.protocol());
        let query = request.queries.queries().first().map(|q| q.original());
        let rcode = rcode_label(prepared.reply.rcode);
        let reply = &prepared.reply;
        self.log.log(Entry {
            ts_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            protocol,
            client: request.src().ip().to_string(),
            ecs: prepared
                .ecs
                .map(|ecs| format!("{}/{}", ecs.addr(), ecs.source_prefix())),
            name: query.map(|q| q.name().to_string()).unwrap_or_default(),
            qtype: query
                .map(|q| q.query_type().to_string())
                .unwrap_or_default(),
            rcode,
            answers: reply
                .answers
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some(a.to_string()),
                    RData::AAAA(aaaa) => Some(aaaa.to_string()),
                    _ => None,
                })
                .collect(),
            client_region: reply.client_region.as_deref().map(str::to_owned),
            answered_region: reply.decision.as_ref().map(|d| d.region.to_string()),
            all_down: reply.decision.as_ref().is_some_and(|d| d.all_down),
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        });
    }
}

/// The `protocol` label of a request's transport.
fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "udp",
        Protocol::Tcp => "tcp",
        #[allow(unreachable_patterns)] // other transports exist with hickory features
        _ => "other",
    }
}

/// The `qtype` label of a request's first question (`none` without one).
fn qtype_of(request: &Request) -> &'static str {
    request
        .queries
        .queries()
        .first()
        .map_or("none", |q| qtype_label(q.original().query_type()))
}

/// A header-only SERVFAIL for `id` in `out` (what hickory sends when a response cannot be
/// encoded).
fn servfail(id: u16, out: &mut Vec<u8>) {
    out.clear();
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut encoder = BinEncoder::new(out);
    if header.emit(&mut encoder).is_err() {
        out.clear(); // cannot happen: 12 bytes into an unbounded Vec
    }
}

/// A Client Subnet option as RFC 7871 §7.1.2 wants it: a prefix no longer than the family's
/// and no address bits set past it; `None` (FORMERR) otherwise.
fn valid_subnet(subnet: &ClientSubnet) -> Option<ClientSubnet> {
    let max = match subnet.addr() {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if subnet.source_prefix() > max {
        return None;
    }
    let network = IpNet::new(subnet.addr(), subnet.source_prefix()).ok()?;
    (network.trunc().addr() == subnet.addr()).then_some(*subnet)
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let started = Instant::now();
        let prepared = self.prepare(request);
        let response = prepared.response(request);
        let info = match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "could not send a response");
                ResponseInfo::from(Header {
                    metadata: prepared.metadata(request),
                    counts: HeaderCounts::default(),
                })
            }
        };
        self.record(request, &prepared, started);
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_subnets_must_be_clean() {
        let subnet =
            |text: &str, prefix: u8| ClientSubnet::new(text.parse().expect("ip"), prefix, 0);
        assert!(valid_subnet(&subnet("198.51.100.0", 24)).is_some());
        assert!(valid_subnet(&subnet("198.51.100.1", 24)).is_none());
        assert!(valid_subnet(&subnet("198.51.100.1", 32)).is_some());
        assert!(valid_subnet(&subnet("0.0.0.0", 0)).is_some());
        assert!(valid_subnet(&subnet("2001:db8::", 32)).is_some());
        assert!(valid_subnet(&subnet("2001:db8::1", 64)).is_none());
        assert!(valid_subnet(&subnet("1.2.3.4", 33)).is_none());
    }
}
