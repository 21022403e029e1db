//! The `[dns]` part of a diff: zones, SOA, NS, names (member by member, in order, since
//! `failover` follows it), client regions and probe settings, each struct destructured without
//! `..` so a new field does not compile until it is compared.

use super::{Changes, Presence};
use crate::model::{DnsMember, DnsName, DnsProbe, DnsSettings, DnsSoa};

impl Changes {
    pub(super) fn dns(&mut self, path: &str, old: &DnsSettings, new: &DnsSettings) {
        let DnsSettings {
            zones,
            soa,
            ns,
            names,
            client_regions,
            probe,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.members(&at("zones"), zones, &new.zones);
        self.soa(&at("soa"), soa, &new.soa);
        self.list(&at("ns"), ns, &new.ns);
        self.named(&at("names"), names, &new.names, Self::dns_name);
        let networks: std::collections::BTreeSet<_> = client_regions
            .keys()
            .chain(new.client_regions.keys())
            .collect();
        for network in networks {
            let line = format!("{path}.client_regions[{network}]");
            match (client_regions.get(network), new.client_regions.get(network)) {
                (Some(before), Some(after)) => self.value(&line, before, after),
                (Some(_), None) => self.push(format!("{line}: removed")),
                (None, Some(_)) => self.push(format!("{line}: added")),
                (None, None) => {}
            }
        }
        self.probe(&at("probe"), probe, &new.probe);
    }

    fn soa(&mut self, path: &str, old: &DnsSoa, new: &DnsSoa) {
        let DnsSoa {
            mname,
            rname,
            negative_ttl,
        } = old;
        self.value(&format!("{path}.mname"), mname, &new.mname);
        self.value(&format!("{path}.rname"), rname, &new.rname);
        self.duration(
            &format!("{path}.negative_ttl"),
            *negative_ttl,
            new.negative_ttl,
        );
    }

    fn dns_name(&mut self, path: &str, old: &DnsName, new: &DnsName) {
        let DnsName {
            name: _, // the key it was matched by
            policy,
            ttl,
            answers,
            all_down,
            members,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("policy"), policy, &new.policy);
        self.duration(&at("ttl"), *ttl, new.ttl);
        self.value(&at("answers"), answers, &new.answers);
        self.value(&at("all_down"), all_down, &new.all_down);
        let longest = members.len().max(new.members.len());
        for index in 0..longest {
            self.optional(
                &format!("{path}.members[{index}]"),
                members.get(index),
                new.members.get(index),
                Presence::Entry,
                Self::dns_member,
            );
        }
    }

    fn dns_member(&mut self, path: &str, old: &DnsMember, new: &DnsMember) {
        let DnsMember {
            region,
            addresses,
            health,
            weight,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("region"), region, &new.region);
        self.members(&at("addresses"), addresses, &new.addresses);
        let show = |url: &Option<crate::model::HttpUrl>| {
            url.as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string)
        };
        self.value(&at("health"), show(health), show(&new.health));
        self.value(&at("weight"), weight, &new.weight);
    }

    fn probe(&mut self, path: &str, old: &DnsProbe, new: &DnsProbe) {
        let DnsProbe {
            interval,
            timeout,
            rise,
            fall,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.duration(&at("interval"), *interval, new.interval);
        self.duration(&at("timeout"), *timeout, new.timeout);
        self.value(&at("rise"), rise, &new.rise);
        self.value(&at("fall"), fall, &new.fall);
    }
}
