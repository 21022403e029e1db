//! The zones weir-dns serves, built from `[dns]`, and the DNS rules of an answer: `REFUSED`
//! outside them, SOA and NS at each apex, the answer engine for GSLB names, NODATA (SOA in the
//! authority section) for a name without the asked type, NXDOMAIN for names that do not exist.
//! No sockets here: `Catalog::answer` is a function of the question, the client and the RNG.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use rand::Rng;
use weir_config::{DnsPolicy, DnsSettings, HttpUrl};

use crate::engine::{Family, Member, Rules, Selection};
use crate::gateways::Gates;
use crate::health::Target;
use crate::region_map::RegionMap;

/// TTL of the SOA and NS records at each apex.
const APEX_TTL: u32 = 3600;
/// The SOA's refresh, retry and expire: only meaningful to secondaries, which we do not feed.
const SOA_TIMERS: (i32, i32, i32) = (3600, 600, 604_800);

/// Why a catalog could not be built from a validated config.
#[derive(Debug, thiserror::Error)]
#[error("{what} {name:?}: {source}")]
pub struct BuildError {
    what: &'static str,
    name: String,
    source: hickory_proto::ProtoError,
}

struct Zone {
    apex: LowerName,
    soa: Record,
    /// The SOA as the authority of a negative answer (TTL = min(SOA TTL, negative TTL)).
    negative_soa: Record,
    ns: Vec<Record>,
}

/// One GSLB name.
pub struct GslbName {
    /// As configured (lower-case, no trailing dot): the metric label.
    pub name: Arc<str>,
    pub ttl: u32,
    pub rules: Rules,
}

/// Who asks: the resolver's address and the EDNS Client Subnet it sent, if any.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub source: IpAddr,
    /// `(address, source prefix length)` of a valid ECS option with a prefix > 0.
    pub subnet: Option<(IpAddr, u8)>,
}

/// The policy decision behind an answer, for metrics and the query log.
#[derive(Debug, Clone)]
pub struct Decision {
    pub name: Arc<str>,
    pub region: Arc<str>,
    pub all_down: bool,
}

/// An answer, ready to be put into a response.
#[derive(Debug)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub decision: Option<Decision>,
    /// Where the client was placed.
    pub client_region: Option<Arc<str>>,
    /// The ECS scope prefix to echo when the query had ECS (RFC 7871).
    pub ecs_scope: u8,
}

impl Reply {
    fn bare(rcode: ResponseCode, authoritative: bool) -> Reply {
        Reply {
            rcode,
            authoritative,
            answers: Vec::new(),
            authority: Vec::new(),
            decision: None,
            client_region: None,
            ecs_scope: 0,
        }
    }

    pub fn refused() -> Reply {
        Reply::bare(ResponseCode::Refused, false)
    }
}

/// Everything weir-dns answers from, swapped whole on reload.
pub struct Catalog {
    /// Longest apex first, so a zone nested in another wins.
    zones: Vec<Zone>,
    names: HashMap<LowerName, GslbName>,
    /// Names that exist only because a GSLB name lies below them: NODATA, not NXDOMAIN.
    nonterminals: HashSet<LowerName>,
    regions: RegionMap,
    /// Answers of a name whose member health is changing get at most this TTL.
    changing_ttl: u32,
    /// The config this was built from (for `/status`).
    pub settings: DnsSettings,
}

fn name(text: &str, what: &'static str) -> Result<Name, BuildError> {
    Name::from_ascii(format!("{text}.")).map_err(|source| BuildError {
        what,
        name: text.to_owned(),
        source,
    })
}

impl Catalog {
    /// Builds the catalog; members' `health` URLs are looked up in `targets` (missing ones count
    /// as healthy), their regions' gateway readiness in `gates`. `serial` is the SOA serial.
    pub fn new(
        settings: &DnsSettings,
        targets: &HashMap<HttpUrl, Arc<Target>>,
        gates: &Gates,
        serial: u32,
    ) -> Result<Catalog, BuildError> {
        let mname = name(&settings.soa.mname, "soa.mname")?;
        let rname = name(&settings.soa.rname, "soa.rname")?;
        let negative_ttl = seconds(settings.soa.negative_ttl);
        let mut zones = Vec::new();
        for zone in &settings.zones {
            let apex = name(zone, "zone")?;
            let soa = SOA::new(
                mname.clone(),
                rname.clone(),
                serial,
                SOA_TIMERS.0,
                SOA_TIMERS.1,
                SOA_TIMERS.2,
                negative_ttl,
            );
            let soa = Record::from_rdata(apex.clone(), APEX_TTL, RData::SOA(soa));
            let mut negative_soa = soa.clone();
            negative_soa.ttl = APEX_TTL.min(negative_ttl);
            let ns = settings
                .ns
                .iter()
                .map(|ns| {
                    let target = name(ns, "ns")?;
                    Ok(Record::from_rdata(
                        apex.clone(),
                        APEX_TTL,
                        RData::NS(NS(target)),
                    ))
                })
                .collect::<Result<Vec<_>, BuildError>>()?;
            zones.push(Zone {
                apex: LowerName::new(&apex),
                soa,
                negative_soa,
                ns,
            });
        }
        zones.sort_by_key(|zone| std::cmp::Reverse(zone.apex.num_labels()));
        let mut names = HashMap::new();
        let mut nonterminals = HashSet::new();
        for (text, config) in &settings.names {
            let owner = LowerName::new(&name(text, "name")?);
            let mut parent = owner.base_name();
            while !parent.is_root() && zones.iter().any(|zone| zone.apex.zone_of(&parent)) {
                nonterminals.insert(parent.clone());
                parent = parent.base_name();
            }
            let members = config
                .members
                .iter()
                .map(|member| Member {
                    region: Arc::from(member.region.as_str()),
                    addresses: member.addresses.clone(),
                    weight: member.weight,
                    health: member
                        .health
                        .as_ref()
                        .and_then(|url| targets.get(url).cloned()),
                    gate: gates.gate(&member.region),
                })
                .collect();
            names.insert(
                owner,
                GslbName {
                    name: Arc::from(text.as_str()),
                    ttl: seconds(config.ttl),
                    rules: Rules {
                        policy: config.policy,
                        answers: config.answers as usize,
                        all_down: config.all_down,
                        members,
                    },
                },
            );
        }
        Ok(Catalog {
            zones,
            names,
            nonterminals,
            regions: RegionMap::new(&settings.client_regions),
            changing_ttl: seconds(settings.probe.interval).max(1),
            settings: settings.clone(),
        })
    }

    /// The GSLB names, for `/status` and metrics.
    pub fn names(&self) -> impl Iterator<Item = &GslbName> {
        self.names.values()
    }

    /// Answers one question. `qname` is the name as asked (its case is echoed).
    pub fn answer<R: Rng + ?Sized>(
        &self,
        qname: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        client: &Client,
        rng: &mut R,
    ) -> Reply {
        let lower = LowerName::new(qname);
        let Some(zone) = self.zones.iter().find(|zone| zone.apex.zone_of(&lower)) else {
            return Reply::refused();
        };
        if qclass != DNSClass::IN {
            return Reply::refused();
        }
        let apex = zone.apex == lower;
        let gslb = self.names.get(&lower);
        let mut reply = Reply::bare(ResponseCode::NoError, true);
        match (qtype, gslb) {
            (RecordType::A, Some(gslb)) => {
                return self.gslb(zone, gslb, &[Family::V4], qname, client, rng);
            }
            (RecordType::AAAA, Some(gslb)) => {
                return self.gslb(zone, gslb, &[Family::V6], qname, client, rng);
            }
            (RecordType::ANY, Some(gslb)) => {
                return self.gslb(zone, gslb, &[Family::V4, Family::V6], qname, client, rng);
            }
            (RecordType::SOA | RecordType::ANY, _) if apex => {
                reply.answers.push(with_owner(&zone.soa, qname));
            }
            (RecordType::NS, _) if apex => {
                reply
                    .answers
                    .extend(zone.ns.iter().map(|ns| with_owner(ns, qname)));
            }
            _ if gslb.is_some() || apex || self.nonterminals.contains(&lower) => {
                reply.authority.push(zone.negative_soa.clone());
            }
            _ => {
                reply.rcode = ResponseCode::NXDomain;
                reply.authority.push(zone.negative_soa.clone());
            }
        }
        reply
    }

    fn gslb<R: Rng + ?Sized>(
        &self,
        zone: &Zone,
        gslb: &GslbName,
        families: &[Family],
        qname: &Name,
        client: &Client,
        rng: &mut R,
    ) -> Reply {
        let location = client.subnet.map_or(client.source, |(address, _)| address);
        let located = self.regions.locate(location);
        let client_region = located.as_ref().map(|found| found.region.clone());
        let ttl = if gslb.rules.changing() {
            gslb.ttl.min(self.changing_ttl)
        } else {
            gslb.ttl
        };
        let mut reply = Reply::bare(ResponseCode::NoError, true);
        reply.client_region = client_region.clone();
        // Only `nearest` depends on where the client is.
        if gslb.rules.policy == DnsPolicy::Nearest
            && let Some((_, source_prefix)) = client.subnet
        {
            reply.ecs_scope = match &located {
                Some(found) => found.scope,
                None if self.regions.is_empty() => 0,
                None => source_prefix,
            };
        }
        for family in families {
            match gslb.rules.select(*family, client_region.as_deref(), rng) {
                Selection::Addresses {
                    addresses,
                    region,
                    all_down,
                } => {
                    reply.answers.extend(addresses.into_iter().map(|address| {
                        let data = match address {
                            IpAddr::V4(v4) => RData::A(A(v4)),
                            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                        };
                        Record::from_rdata(qname.clone(), ttl, data)
                    }));
                    reply.decision.get_or_insert(Decision {
                        name: gslb.name.clone(),
                        region,
                        all_down,
                    });
                }
                Selection::NoData => {}
                Selection::ServFail => {
                    let mut failed = Reply::bare(ResponseCode::ServFail, false);
                    failed.client_region = client_region;
                    return failed;
                }
            }
        }
        if reply.answers.is_empty() {
            reply.authority.push(zone.negative_soa.clone());
        }
        reply
    }
}

/// `record` owned by the name as asked (same name, maybe another case).
fn with_owner(record: &Record, qname: &Name) -> Record {
    let mut record = record.clone();
    record.name = qname.clone();
    record
}

/// Whole seconds, saturating.
fn seconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
