//! The `[rollout]` part of a diff, destructured without `..` so a new field does not compile
//! until it is compared.

use super::Changes;
use crate::model::RolloutSettings;

impl Changes {
    pub(super) fn rollout(&mut self, old: &RolloutSettings, new: &RolloutSettings) {
        let RolloutSettings {
            bake,
            evaluate_every,
            max_error_ratio_increase,
            max_p99_ratio,
            min_p99_increase,
            min_requests,
            stale_grace,
        } = old;
        let at = |key: &str| format!("rollout.{key}");
        self.duration(&at("bake"), *bake, new.bake);
        self.duration(&at("evaluate_every"), *evaluate_every, new.evaluate_every);
        self.value(
            &at("max_error_ratio_increase"),
            max_error_ratio_increase,
            &new.max_error_ratio_increase,
        );
        self.value(&at("max_p99_ratio"), max_p99_ratio, &new.max_p99_ratio);
        self.duration(
            &at("min_p99_increase"),
            *min_p99_increase,
            new.min_p99_increase,
        );
        self.value(&at("min_requests"), min_requests, &new.min_requests);
        self.duration(&at("stale_grace"), *stale_grace, new.stale_grace);
    }
}
