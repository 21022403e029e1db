//! The bake's running count: every health summary received since the rollout started, once,
//! added up for each canary (only summaries that report the canary version) and for the
//! baseline (the other gateways, only summaries that report the stable version), and the
//! judgement of the canaries against the baseline with the evidence in one line. An open
//! breaker counts too: behind it requests fail without reaching a pool, so its pool's counts
//! alone would hide the harm.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use weir_config::RolloutSettings;
use weir_protocol::PoolTelemetry;

/// One health summary as the bake reads it.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    pub gateway: &'a str,
    /// When the control plane received it.
    pub at: SystemTime,
    /// The config version the gateway served.
    pub config_version: u64,
    pub pools: &'a [PoolTelemetry],
}

/// Requests, errors and a request-weighted p99 over many summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    p99_weighted_ms: f64,
    p99_requests: u64,
}

impl Counts {
    fn add(&mut self, pool: &PoolTelemetry) {
        self.requests = self.requests.saturating_add(pool.requests);
        self.errors = self
            .errors
            .saturating_add(pool.status_5xx.saturating_add(pool.transport_errors));
        if let Some(p99) = pool.p99_ms
            && pool.requests > 0
        {
            self.p99_weighted_ms += p99 * pool.requests as f64;
            self.p99_requests = self.p99_requests.saturating_add(pool.requests);
        }
    }

    fn join(&mut self, other: &Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.p99_weighted_ms += other.p99_weighted_ms;
        self.p99_requests = self.p99_requests.saturating_add(other.p99_requests);
    }

    /// (5xx + transport errors) ÷ requests; 0.0 without requests.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// The summaries' p99 upstream latency, weighted by their requests; `None` without answers.
    pub fn p99_ms(&self) -> Option<f64> {
        (self.p99_requests > 0).then(|| self.p99_weighted_ms / self.p99_requests as f64)
    }

    fn show(&self) -> String {
        let p99 = self
            .p99_ms()
            .map_or_else(|| "no p99".to_owned(), |p99| format!("p99 {p99:.1}ms"));
        format!(
            "error ratio {:.3} of {} requests, {p99}",
            self.error_ratio(),
            self.requests
        )
    }
}

/// What one evaluation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough canary requests yet to judge.
    Pending,
    /// No breach.
    Good,
    /// The canaries do worse than the baseline beyond a threshold.
    Breach,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Good => "good",
            Verdict::Breach => "breach",
        }
    }
}

/// The running count of one bake.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per gateway, the newest summary already counted.
    counted_until: BTreeMap<String, SystemTime>,
    canaries: BTreeMap<String, Counts>,
    baseline: Counts,
    baseline_gateways: BTreeSet<String>,
    /// (gateway, upstream) of each canary summary with a breaker open.
    canary_breakers: BTreeSet<(String, String)>,
    /// Upstreams with a breaker open in some baseline summary.
    baseline_breakers: BTreeSet<String>,
}

impl Tally {
    /// Counts every summary of `summaries` received after `since` and not counted yet.
    pub fn add(
        &mut self,
        summaries: &[Summary<'_>],
        since: SystemTime,
        canaries: &BTreeSet<String>,
        (stable, canary): (u64, u64),
    ) {
        for summary in summaries {
            if summary.at <= since
                || self
                    .counted_until
                    .get(summary.gateway)
                    .is_some_and(|until| summary.at <= *until)
            {
                continue;
            }
            let is_canary = canaries.contains(summary.gateway);
            for pool in summary.pools.iter().filter(|pool| pool.breaker_open) {
                match (is_canary, summary.config_version) {
                    (true, version) if version == canary => {
                        self.canary_breakers
                            .insert((summary.gateway.to_owned(), pool.upstream.clone()));
                    }
                    (false, version) if version == stable => {
                        self.baseline_breakers.insert(pool.upstream.clone());
                    }
                    _ => {}
                }
            }
            let counts = match (is_canary, summary.config_version) {
                (true, version) if version == canary => {
                    self.canaries.entry(summary.gateway.to_owned()).or_default()
                }
                (false, version) if version == stable => {
                    self.baseline_gateways.insert(summary.gateway.to_owned());
                    &mut self.baseline
                }
                // A canary still on the stable version, or a gateway on another one: neither
                // side's evidence.
                _ => continue,
            };
            for pool in summary.pools {
                counts.add(pool);
            }
        }
        // Marked after the loop: one call may hold several summaries of a gateway.
        for summary in summaries {
            let until = self
                .counted_until
                .entry(summary.gateway.to_owned())
                .or_insert(summary.at);
            *until = (*until).max(summary.at);
        }
    }

    /// Every canary's counts together.
    pub fn canary_total(&self) -> Counts {
        let mut total = Counts::default();
        for counts in self.canaries.values() {
            total.join(counts);
        }
        total
    }

    pub fn baseline(&self) -> Counts {
        self.baseline
    }

    /// The canaries against the baseline, with the evidence: each canary's counts and the
    /// baseline's, and which threshold a breach crossed.
    pub fn judge(&self, settings: &RolloutSettings) -> (Verdict, String) {
        let canary = self.canary_total();
        let baseline = self.baseline;
        let mut evidence: Vec<String> = self
            .canaries
            .iter()
            .map(|(id, counts)| format!("{id}: {}", counts.show()))
            .collect();
        if evidence.is_empty() {
            evidence.push("no canary summary of the canary version yet".to_owned());
        }
        let gateways: Vec<&str> = self.baseline_gateways.iter().map(String::as_str).collect();
        let baseline_line = if gateways.is_empty() {
            "baseline: no summary".to_owned()
        } else {
            format!("baseline {}: {}", gateways.join(", "), baseline.show())
        };
        evidence.push(baseline_line);
        let details = evidence.join("; ");
        // A breaker needs its own minimum of requests to open: no min_requests here.
        let opened: Vec<String> = self
            .canary_breakers
            .iter()
            .filter(|(_, upstream)| !self.baseline_breakers.contains(upstream))
            .map(|(gateway, upstream)| format!("{gateway}: {upstream}"))
            .collect();
        if !opened.is_empty() {
            return (
                Verdict::Breach,
                format!(
                    "a breaker opened on canaries only ({}) ({details})",
                    opened.join(", ")
                ),
            );
        }
        if canary.requests < u64::from(settings.min_requests) {
            return (
                Verdict::Pending,
                format!(
                    "canaries saw {} requests, fewer than min_requests {}: not judged yet ({details})",
                    canary.requests, settings.min_requests
                ),
            );
        }
        let limit = baseline.error_ratio() + settings.max_error_ratio_increase;
        if canary.error_ratio() > limit {
            return (
                Verdict::Breach,
                format!(
                    "canary error ratio {:.3} > baseline {:.3} + {} ({details})",
                    canary.error_ratio(),
                    baseline.error_ratio(),
                    settings.max_error_ratio_increase
                ),
            );
        }
        if let (Some(canary_p99), Some(baseline_p99)) = (canary.p99_ms(), baseline.p99_ms()) {
            let floor_ms = settings.min_p99_increase.as_secs_f64() * 1e3;
            if canary_p99 > baseline_p99 * settings.max_p99_ratio
                && canary_p99 - baseline_p99 > floor_ms
            {
                return (
                    Verdict::Breach,
                    format!(
                        "canary p99 {canary_p99:.1}ms > baseline {baseline_p99:.1}ms × {} and \
                         more than {floor_ms:.0}ms above it ({details})",
                        settings.max_p99_ratio
                    ),
                );
            }
        }
        (Verdict::Good, details)
    }
}
