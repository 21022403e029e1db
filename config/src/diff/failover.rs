//! The `[failover]` part of a diff: each upstream's policy key by key, destructured without `..`
//! so a new field does not compile until it is compared.

use super::Changes;
use crate::model::{FailoverPolicy, UnhealthyWhen};

impl Changes {
    pub(super) fn failover(&mut self, path: &str, old: &FailoverPolicy, new: &FailoverPolicy) {
        let FailoverPolicy {
            upstream: _, // the key it was matched by
            evaluate_every,
            unhealthy_when,
            quorum,
            drain_after,
            restore_after,
            ramp,
            never_drain_last,
            max_drained,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.duration(&at("evaluate_every"), *evaluate_every, new.evaluate_every);
        let UnhealthyWhen {
            healthy_fraction_below,
            error_ratio_above,
        } = unhealthy_when;
        let show =
            |condition: Option<f64>| condition.map_or_else(|| "off".to_owned(), |x| x.to_string());
        self.value(
            &at("unhealthy_when.healthy_fraction_below"),
            show(*healthy_fraction_below),
            show(new.unhealthy_when.healthy_fraction_below),
        );
        self.value(
            &at("unhealthy_when.error_ratio_above"),
            show(*error_ratio_above),
            show(new.unhealthy_when.error_ratio_above),
        );
        self.value(&at("quorum"), quorum, &new.quorum);
        self.value(&at("drain_after"), drain_after, &new.drain_after);
        self.value(&at("restore_after"), restore_after, &new.restore_after);
        let percent = |steps: &[u32]| -> Vec<String> {
            steps.iter().map(|step| format!("{step}%")).collect()
        };
        self.list(&at("ramp"), &percent(ramp), &percent(&new.ramp));
        self.value(
            &at("never_drain_last"),
            never_drain_last,
            &new.never_drain_last,
        );
        self.value(&at("max_drained"), max_drained, &new.max_drained);
    }
}
