//! Admission of a routed request before it goes upstream: the gateway-wide in-flight cap, the
//! upstream's bulkhead (both shedding by priority class) and the upstream's circuit breaker.
//! Refusals say where and for how long, so the proxy can answer `503` with `Retry-After`.
//! It composes `resilience/` policies over the runtime model, so it sits beside the request
//! lifecycle rather than in `resilience/`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_config::{LoadShedding, Priority};

use crate::resilience::breaker::{Admission, Transition};
use crate::resilience::bulkhead::{Bulkhead, Permit, Shares};
use crate::runtime::UpstreamRuntime;

/// Slots held for an admitted request; dropping them releases the slots.
pub struct Admitted {
    pub gateway_permit: Permit,
    pub upstream_permit: Permit,
    /// The upstream breaker let the request through as a half-open probe; its outcome must be
    /// reported with `was_probe = true` (or the probe released).
    pub upstream_probe: bool,
    /// The upstream breaker half-opened on this request.
    pub transition: Option<Transition>,
}

/// Where a request was refused: the access log's `shed_by` and the `scope` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedBy {
    /// The gateway-wide `[load_shedding] max_in_flight`.
    Gateway,
    /// The upstream's `bulkhead.max_in_flight` (or adaptive limit).
    Upstream,
    /// The upstream's `bulkhead.max_pending_connects`.
    Connect,
    /// The upstream's circuit breaker is open.
    CircuitBreaker,
}

impl ShedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ShedBy::Gateway => "gateway",
            ShedBy::Upstream => "upstream",
            ShedBy::Connect => "connect",
            ShedBy::CircuitBreaker => "circuit_breaker",
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub by: ShedBy,
    /// For `Retry-After`, in whole seconds (at least 1).
    pub retry_after_secs: u64,
}

/// The class shares of `[load_shedding]`, applied to every cap.
pub fn shares(shedding: &LoadShedding) -> Shares {
    Shares::from(shedding)
}

/// Admit a request of `priority` to `upstream`, or say why not. Slots are taken gateway first,
/// then upstream, then the breaker is asked, so a refusal at any step releases what was taken.
pub fn admit(
    gateway: &Arc<Bulkhead>,
    upstream: &UpstreamRuntime,
    priority: Priority,
    shedding: &LoadShedding,
    now: Instant,
) -> Result<Admitted, Refused> {
    let shares = shares(shedding);
    let shed = |by| Refused {
        by,
        retry_after_secs: shedding.retry_after.as_secs().max(1),
    };
    let gateway_permit = gateway
        .try_enter(shedding.max_in_flight, priority, &shares)
        .map_err(|_| shed(ShedBy::Gateway))?;
    let upstream_permit = upstream
        .guard
        .bulkhead
        .try_enter(upstream.in_flight_cap(), priority, &shares)
        .map_err(|_| shed(ShedBy::Upstream))?;
    let (admission, transition) = upstream.guard.breaker.admit(&upstream.breaker, now);
    let upstream_probe = match admission {
        Admission::Allowed => false,
        Admission::Probe => true,
        Admission::Rejected { retry_after } => {
            return Err(Refused {
                by: ShedBy::CircuitBreaker,
                retry_after_secs: whole_seconds(retry_after),
            });
        }
    };
    Ok(Admitted {
        gateway_permit,
        upstream_permit,
        upstream_probe,
        transition,
    })
}

/// A wait rounded up to whole seconds, at least 1 (`Retry-After` has no fractions).
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}
