//! Reads `[resolver]` into `RawResolver`: keys and value types only, every unknown key and wrong
//! type reported at its path (`resolver.min_ttl`).

use crate::document::Table;
use crate::raw::RawResolver;
use crate::report::Reporter;

const RESOLVER_KEYS: &[&str] = &[
    "nameservers",
    "min_ttl",
    "max_ttl",
    "timeout",
    "max_addresses",
    "family",
];

/// Reads `[resolver]`; all `None` when `root` has none.
pub(super) fn read_resolver(root: &Table<'_>, report: &mut Reporter<'_>) -> RawResolver {
    root.table("resolver", RESOLVER_KEYS, report)
        .map(|table| RawResolver {
            nameservers: table.strings("nameservers", report),
            min_ttl: table.duration("min_ttl", report),
            max_ttl: table.duration("max_ttl", report),
            timeout: table.duration("timeout", report),
            max_addresses: table.integer("max_addresses", report),
            family: table.string("family", report),
        })
        .unwrap_or_default()
}
