//! The `[resolver]` part of a diff, key by key, destructured without `..` so a new field does
//! not compile until it is compared.

use super::Changes;
use crate::model::ResolverSettings;

impl Changes {
    pub(super) fn resolver(&mut self, old: &ResolverSettings, new: &ResolverSettings) {
        let ResolverSettings {
            nameservers,
            min_ttl,
            max_ttl,
            timeout,
            max_addresses,
            family,
        } = old;
        self.list("resolver.nameservers", nameservers, &new.nameservers);
        self.duration("resolver.min_ttl", *min_ttl, new.min_ttl);
        self.duration("resolver.max_ttl", *max_ttl, new.max_ttl);
        self.duration("resolver.timeout", *timeout, new.timeout);
        self.value("resolver.max_addresses", max_addresses, &new.max_addresses);
        self.value("resolver.family", family, &new.family);
    }
}
