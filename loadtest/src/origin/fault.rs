//! Per-listener fault state: set at runtime through `/_origin/fault`, read lock-free per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

/// Longest delay a fault may ask for (one hour); longer is surely a typo.
const MAX_DELAY_MS: u64 = 3_600_000;

/// A fault as written to and read from `/_origin/fault` (JSON).
///
/// Every field is optional; a POST replaces the whole fault, so an omitted
/// field is unset, not kept from the previous fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Status that replaces 200 on every non-`/_origin` path (including `/healthz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Delay before every non-`/_origin` response, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Share of requests (0.0..=1.0, picked at random) that get `status`; all when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_ratio: Option<f64>,
    /// Periodic stall: for the first `stall_ms` of every `stall_every_ms` (counted from when the
    /// fault was set) the origin answers nothing; requests that arrive then wait until the stall
    /// ends. The load generator's coordinated-omission test uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_ms: Option<u64>,
    /// The stall's period; needed with `stall_ms`, and longer than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_every_ms: Option<u64>,
}

/// A validated fault, with its values ready for the request path.
#[derive(Clone, Copy, Debug)]
struct ActiveFault {
    spec: FaultSpec,
    status: Option<StatusCode>,
    delay: Option<Duration>,
    fail_ratio: Option<f64>,
    stall: Option<Stall>,
}

/// A periodic stall, timed from `since`.
#[derive(Clone, Copy, Debug)]
struct Stall {
    since: Instant,
    length: Duration,
    every: Duration,
}

impl Stall {
    /// How long a request arriving at `now` waits: until the end of the stall it falls in.
    fn wait(&self, now: Instant) -> Option<Duration> {
        let every = self.every.as_nanos();
        let into_cycle = now.saturating_duration_since(self.since).as_nanos() % every;
        let length = self.length.as_nanos();
        (into_cycle < length).then(|| Duration::from_nanos((length - into_cycle) as u64))
    }
}

/// What the fault does to one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Effect {
    pub delay: Option<Duration>,
    pub status: Option<StatusCode>,
}

/// The fault currently set on one listener.
#[derive(Debug, Default)]
pub struct FaultState {
    current: ArcSwapOption<ActiveFault>,
}

impl FaultSpec {
    /// Parses and validates a fault from a request body; the error is a message for the client.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let spec: FaultSpec =
            serde_json::from_slice(body).map_err(|e| format!("invalid fault JSON: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.status {
            StatusCode::from_u16(status)
                .map_err(|_| format!("invalid status {status}: must be 100..=999"))?;
        }
        if let Some(delay) = self.delay_ms
            && delay > MAX_DELAY_MS
        {
            return Err(format!(
                "invalid delay_ms {delay}: must be at most {MAX_DELAY_MS}"
            ));
        }
        if let Some(ratio) = self.fail_ratio {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(format!("invalid fail_ratio {ratio}: must be 0.0..=1.0"));
            }
            if self.status.is_none() {
                return Err("fail_ratio needs a status".to_owned());
            }
        }
        match (self.stall_ms, self.stall_every_ms) {
            (None, None) => {}
            (Some(stall), Some(every)) => {
                if stall == 0 || stall >= every || every > MAX_DELAY_MS {
                    return Err(format!(
                        "invalid stall {stall} ms every {every} ms: the stall must be more than 0 \
                         and shorter than its period, at most {MAX_DELAY_MS} ms"
                    ));
                }
            }
            _ => return Err("stall_ms and stall_every_ms go together".to_owned()),
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        *self == FaultSpec::default()
    }
}

impl FaultState {
    /// Replaces the whole fault; an empty spec (`{}`) clears it.
    pub fn set(&self, spec: FaultSpec) -> Result<(), String> {
        spec.validate()?;
        if spec.is_empty() {
            self.clear();
            return Ok(());
        }
        let status = match spec.status {
            Some(code) => {
                Some(StatusCode::from_u16(code).map_err(|_| format!("invalid status {code}"))?)
            }
            None => None,
        };
        let active = ActiveFault {
            spec,
            status,
            delay: spec
                .delay_ms
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis),
            // A ratio of 1 is the same as none: skip the random draw.
            fail_ratio: spec.fail_ratio.filter(|&r| r < 1.0),
            stall: spec
                .stall_ms
                .zip(spec.stall_every_ms)
                .map(|(length, every)| Stall {
                    since: Instant::now(),
                    length: Duration::from_millis(length),
                    every: Duration::from_millis(every),
                }),
        };
        self.current.store(Some(Arc::new(active)));
        Ok(())
    }

    pub fn clear(&self) {
        self.current.store(None);
    }

    /// The fault as set, `{}` when none.
    pub fn get(&self) -> FaultSpec {
        self.current
            .load()
            .as_deref()
            .map(|f| f.spec)
            .unwrap_or_default()
    }

    /// What the current fault does to one request (lock-free; draws the random share).
    pub fn sample(&self) -> Effect {
        let guard = self.current.load();
        let Some(fault) = guard.as_deref() else {
            return Effect::default();
        };
        let fault = *fault;
        drop(guard);
        let status = match (fault.status, fault.fail_ratio) {
            (Some(status), Some(ratio)) => (rand::random::<f64>() < ratio).then_some(status),
            (status, _) => status,
        };
        let stall = fault.stall.and_then(|s| s.wait(Instant::now()));
        let delay = match (fault.delay, stall) {
            (Some(d), Some(s)) => Some(d + s),
            (d, s) => d.or(s),
        };
        Effect { delay, status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let spec = FaultSpec::from_json(br#"{"status":503,"delay_ms":20}"#);
        assert_eq!(
            spec,
            Ok(FaultSpec {
                status: Some(503),
                delay_ms: Some(20),
                ..FaultSpec::default()
            })
        );
        assert!(FaultSpec::from_json(b"nope").is_err());
        assert!(FaultSpec::from_json(br#"{"status":42}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"stauts":503}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"status":503,"fail_ratio":1.5}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"fail_ratio":0.5}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"delay_ms":-1}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"stall_ms":100,"stall_every_ms":1000}"#).is_ok());
        assert!(FaultSpec::from_json(br#"{"stall_ms":100}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"stall_ms":1000,"stall_every_ms":1000}"#).is_err());
        assert!(FaultSpec::from_json(br#"{"stall_ms":0,"stall_every_ms":1000}"#).is_err());
    }

    #[test]
    fn a_stall_holds_requests_until_it_ends() {
        let since = Instant::now();
        let stall = Stall {
            since,
            length: Duration::from_millis(1000),
            every: Duration::from_millis(5000),
        };
        let at = |ms| since + Duration::from_millis(ms);
        assert_eq!(stall.wait(at(0)), Some(Duration::from_millis(1000)));
        assert_eq!(stall.wait(at(250)), Some(Duration::from_millis(750)));
        assert_eq!(stall.wait(at(1000)), None);
        assert_eq!(stall.wait(at(4999)), None);
        assert_eq!(stall.wait(at(5100)), Some(Duration::from_millis(900)));
    }

    #[test]
    fn set_sample_clear() {
        let state = FaultState::default();
        assert!(state.sample().status.is_none());
        state
            .set(FaultSpec {
                status: Some(503),
                delay_ms: Some(5),
                ..FaultSpec::default()
            })
            .ok();
        let effect = state.sample();
        assert_eq!(effect.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(effect.delay, Some(Duration::from_millis(5)));
        assert_eq!(state.get().status, Some(503));
        state.clear();
        assert!(state.sample().status.is_none());
        assert_eq!(state.get(), FaultSpec::default());
    }

    #[test]
    fn fail_ratio_zero_never_fails() {
        let state = FaultState::default();
        state
            .set(FaultSpec {
                status: Some(500),
                fail_ratio: Some(0.0),
                ..FaultSpec::default()
            })
            .ok();
        assert!((0..1000).all(|_| state.sample().status.is_none()));
    }
}
