//! Reads `[dns]` into `RawDns`: keys and value types only, every unknown key, wrong type and
//! missing required key reported at its path (`dns.names."api.example.com".members[0].weight`).

use super::read_array_of_tables;
use crate::document::{At, Table, join_key};
use crate::raw::{RawDns, RawDnsMember, RawDnsName, RawDnsProbe, RawSoa};
use crate::report::Reporter;

const DNS_KEYS: &[&str] = &["zones", "soa", "ns", "names", "client_regions", "probe"];
const SOA_KEYS: &[&str] = &["mname", "rname", "negative_ttl"];
const NAME_KEYS: &[&str] = &["policy", "ttl", "answers", "all_down", "members"];
const MEMBER_KEYS: &[&str] = &["region", "addresses", "health", "weight"];
const PROBE_KEYS: &[&str] = &["interval", "timeout", "rise", "fall"];

/// Reads `[dns]` when `root` has it.
pub(super) fn read_dns(root: &Table<'_>, report: &mut Reporter<'_>) -> Option<RawDns> {
    let dns = root.table("dns", DNS_KEYS, report)?;
    dns.require(
        "zones",
        "the zones to serve, like [\"gslb.example.com\"]",
        report,
    );
    dns.require(
        "soa",
        "the zones' SOA, like { mname = \"ns1.gslb.example.com\", rname = \"ops.example.com\" }",
        report,
    );
    dns.require("ns", "the zones' name servers", report);
    Some(RawDns {
        zones: dns.strings("zones", report),
        soa: dns.table("soa", SOA_KEYS, report).map(|soa| {
            soa.require("mname", "the primary name server", report);
            soa.require(
                "rname",
                "the contact mailbox, like \"ops.example.com\"",
                report,
            );
            RawSoa {
                mname: soa.string("mname", report),
                rname: soa.string("rname", report),
                negative_ttl: soa.duration("negative_ttl", report),
            }
        }),
        ns: dns.strings("ns", report),
        names: read_names(&dns, report),
        client_regions: dns.string_entries("client_regions", report),
        probe: dns
            .table("probe", PROBE_KEYS, report)
            .map(|probe| RawDnsProbe {
                interval: probe.duration("interval", report),
                timeout: probe.duration("timeout", report),
                rise: probe.integer("rise", report),
                fall: probe.integer("fall", report),
            })
            .unwrap_or_default(),
    })
}

fn read_names(dns: &Table<'_>, report: &mut Reporter<'_>) -> Vec<RawDnsName> {
    let Some(entries) = dns.table_of_any_keys("names", report) else {
        return Vec::new();
    };
    let parent = dns.key_path("names");
    entries
        .iter()
        .filter_map(|(key, node)| {
            let name = At {
                value: key.get_ref().to_string(),
                span: key.span(),
            };
            let path = join_key(&parent, &name.value);
            let table = Table::open(node, path, NAME_KEYS, report)?;
            table.require("members", "a name needs at least one member", report);
            Some(RawDnsName {
                name,
                policy: table.string("policy", report),
                ttl: table.duration("ttl", report),
                answers: table.integer("answers", report),
                all_down: table.string("all_down", report),
                members: read_array_of_tables(&table, "members", MEMBER_KEYS, report, read_member),
            })
        })
        .collect()
}

fn read_member(table: &Table<'_>, report: &mut Reporter<'_>) -> RawDnsMember {
    table.require("region", "a member needs a region", report);
    table.require("addresses", "a member needs at least one address", report);
    RawDnsMember {
        region: table.string("region", report),
        addresses: table.strings("addresses", report),
        health: table.string("health", report),
        weight: table.integer("weight", report),
    }
}
