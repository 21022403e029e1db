//! Reads `[failover.<upstream>]` into `RawFailover`: keys and value types only, every unknown key
//! and wrong type reported at its path (`failover.api.unhealthy_when.error_ratio_above`).

use crate::document::{At, Table, join_key};
use crate::raw::{RawFailover, RawUnhealthyWhen};
use crate::report::Reporter;

const FAILOVER_KEYS: &[&str] = &[
    "evaluate_every",
    "unhealthy_when",
    "quorum",
    "drain_after",
    "restore_after",
    "ramp",
    "never_drain_last",
    "max_drained",
];
const UNHEALTHY_WHEN_KEYS: &[&str] = &["healthy_fraction_below", "error_ratio_above"];

/// Reads every table under `failover` (none when `root` has no `failover`).
pub(super) fn read_failover(root: &Table<'_>, report: &mut Reporter<'_>) -> Vec<RawFailover> {
    let Some(entries) = root.table_of_any_keys("failover", report) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(key, node)| {
            let upstream = At {
                value: key.get_ref().to_string(),
                span: key.span(),
            };
            let path = join_key("failover", &upstream.value);
            let table = Table::open(node, path, FAILOVER_KEYS, report)?;
            Some(RawFailover {
                upstream,
                evaluate_every: table.duration("evaluate_every", report),
                unhealthy_when: table
                    .table("unhealthy_when", UNHEALTHY_WHEN_KEYS, report)
                    .map(|when| RawUnhealthyWhen {
                        span: when.span().clone(),
                        healthy_fraction_below: when.number("healthy_fraction_below", report),
                        error_ratio_above: when.number("error_ratio_above", report),
                    }),
                quorum: table.number("quorum", report),
                drain_after: table.integer("drain_after", report),
                restore_after: table.integer("restore_after", report),
                ramp: table.strings("ramp", report),
                never_drain_last: table.boolean("never_drain_last", report),
                max_drained: table.integer("max_drained", report),
            })
        })
        .collect()
}
