//! One evaluation's verdict on one region of one upstream, from the gateways' latest pool
//! figures: bad when at least `quorum` of the gateways that reported it since the previous
//! evaluation see it unhealthy; no evidence when none did (stale gateways do not vote).

use std::time::SystemTime;

use weir_config::{FailoverPolicy, UnhealthyWhen};
use weir_protocol::PoolTelemetry;

/// Most gateways named in one evidence text; the rest are counted.
const MAX_NAMED: usize = 8;

/// What the evaluator reads of one gateway: its latest summary's pools and when it came.
#[derive(Debug, Clone, Copy)]
pub struct GatewaySample<'a> {
    pub gateway: &'a str,
    /// Stopped reporting: its figures are not evidence.
    pub stale: bool,
    /// When its latest summary arrived.
    pub received: SystemTime,
    pub pools: &'a [PoolTelemetry],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Bad,
    Good,
    /// No gateway reported the region since the previous evaluation: the counts stay as they
    /// were, so a silent fleet neither drains nor restores anything.
    NoEvidence,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Bad => "bad",
            Verdict::Good => "good",
            Verdict::NoEvidence => "no evidence",
        }
    }
}

/// A verdict with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Gateways whose fresh summary has the pool.
    pub reporting: usize,
    /// Of those, the ones that see it unhealthy.
    pub bad: usize,
    /// Which gateways saw what, e.g. `1 of 2 gateways see it unhealthy (gw-a: healthy 0.00 <
    /// 0.7; gw-b: ok)`.
    pub evidence: String,
}

/// Judges `upstream`'s pool in `region`; only summaries received after `since` (the previous
/// evaluation) count, so one summary is never counted twice.
pub fn judge(
    policy: &FailoverPolicy,
    region: &str,
    samples: &[GatewaySample<'_>],
    since: Option<SystemTime>,
) -> Judgement {
    let mut reporting = 0;
    let mut bad = 0;
    let mut seen = Vec::new();
    for sample in samples {
        if sample.stale || since.is_some_and(|since| sample.received <= since) {
            continue;
        }
        let Some(pool) = sample
            .pools
            .iter()
            .find(|pool| pool.upstream == policy.upstream && pool.region == region)
        else {
            continue;
        };
        reporting += 1;
        let reasons = unhealthy(&policy.unhealthy_when, pool);
        if !reasons.is_empty() {
            bad += 1;
        }
        if seen.len() < MAX_NAMED {
            let saw = if reasons.is_empty() {
                "ok".to_owned()
            } else {
                reasons.join(", ")
            };
            seen.push(format!("{}: {saw}", sample.gateway));
        }
    }
    if reporting == 0 {
        return Judgement {
            verdict: Verdict::NoEvidence,
            reporting,
            bad,
            evidence: "no gateway reported it".to_owned(),
        };
    }
    // "At least quorum of them"; the small slack keeps 0.3 × 10 from falling short of 3.
    let verdict = if bad as f64 >= policy.quorum * reporting as f64 - 1e-9 {
        Verdict::Bad
    } else {
        Verdict::Good
    };
    let more = reporting.saturating_sub(seen.len());
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    Judgement {
        verdict,
        reporting,
        bad,
        evidence: format!(
            "{bad} of {reporting} gateways see it unhealthy ({}{tail})",
            seen.join("; ")
        ),
    }
}

/// Why one gateway's figures make the pool unhealthy (empty when they do not).
fn unhealthy(when: &UnhealthyWhen, pool: &PoolTelemetry) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(below) = when.healthy_fraction_below
        && pool.healthy_fraction < below
    {
        reasons.push(format!("healthy {:.2} < {below}", pool.healthy_fraction));
    }
    // Without requests there is no ratio to judge (an idle or drained pool is not failing).
    if let Some(above) = when.error_ratio_above
        && pool.requests > 0
        && pool.error_ratio() > above
    {
        reasons.push(format!(
            "errors {:.3} > {above} over {} requests",
            pool.error_ratio(),
            pool.requests
        ));
    }
    reasons
}
