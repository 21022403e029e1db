//! Fault injection for game days: decide, per request, whether to add a delay and whether to
//! abort with a status, from a route's `[routes.fault]` settings. Pure: randomness is passed in.

use std::time::Duration;

use http::HeaderMap;
use rand::Rng;
use weir_config::FaultInjection;

/// A route's compiled fault settings.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    header: Option<http::HeaderName>,
    header_value: Option<Vec<u8>>,
    delay: Option<(Duration, f64)>,
    abort: Option<(u16, f64)>,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    pub delay: Option<Duration>,
    pub abort: Option<u16>,
}

impl Injected {
    pub fn is_none(&self) -> bool {
        self.delay.is_none() && self.abort.is_none()
    }

    /// The access-log label: `delay`, `abort` or `delay+abort`.
    pub fn label(&self) -> Option<&'static str> {
        match (self.delay.is_some(), self.abort.is_some()) {
            (false, false) => None,
            (true, false) => Some("delay"),
            (false, true) => Some("abort"),
            (true, true) => Some("delay+abort"),
        }
    }
}

impl FaultPlan {
    /// Compile validated settings. A header name the config accepted is always a valid token; if
    /// it somehow is not, the plan matches nothing rather than everything.
    pub fn new(settings: &FaultInjection) -> Self {
        let percent = |p: f64| (p / 100.0).clamp(0.0, 1.0);
        Self {
            header: settings.header.as_deref().map(|name| {
                http::HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or(http::HeaderName::from_static("x-weir-invalid-fault-header"))
            }),
            header_value: settings
                .header_value
                .as_ref()
                .map(|v| v.as_bytes().to_vec()),
            delay: settings.delay.map(|d| (d, percent(settings.delay_percent))),
            abort: settings
                .abort_status
                .map(|s| (s, percent(settings.abort_percent))),
        }
    }

    /// Whether the request is eligible at all (it carries the configured header and value).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let Some(name) = &self.header else {
            return true;
        };
        match (headers.get(name), &self.header_value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(value), Some(wanted)) => value.as_bytes() == wanted.as_slice(),
        }
    }

    /// Draw this request's faults: delay and abort are independent, each with its own share.
    pub fn decide(&self, headers: &HeaderMap, rng: &mut impl Rng) -> Injected {
        if !self.matches(headers) {
            return Injected::default();
        }
        let mut hit = |share: f64| share >= 1.0 || rng.random::<f64>() < share;
        Injected {
            delay: self.delay.and_then(|(d, share)| hit(share).then_some(d)),
            abort: self.abort.and_then(|(s, share)| hit(share).then_some(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn settings() -> FaultInjection {
        FaultInjection {
            header: None,
            header_value: None,
            delay: Some(Duration::from_millis(50)),
            delay_percent: 30.0,
            abort_status: Some(503),
            abort_percent: 10.0,
        }
    }

    fn shares(plan: &FaultPlan, headers: &HeaderMap, n: u32) -> (f64, f64) {
        let mut rng = StdRng::seed_from_u64(7);
        let (mut delays, mut aborts) = (0, 0);
        for _ in 0..n {
            let injected = plan.decide(headers, &mut rng);
            delays += u32::from(injected.delay.is_some());
            aborts += u32::from(injected.abort.is_some());
        }
        (
            f64::from(delays) / f64::from(n),
            f64::from(aborts) / f64::from(n),
        )
    }

    #[test]
    fn hits_each_configured_share_independently() {
        let plan = FaultPlan::new(&settings());
        let (delay, abort) = shares(&plan, &HeaderMap::new(), 100_000);
        assert!((delay - 0.30).abs() < 0.01, "delay share {delay}");
        assert!((abort - 0.10).abs() < 0.01, "abort share {abort}");
    }

    #[test]
    fn only_requests_with_the_header_and_value_are_eligible() {
        let mut s = settings();
        s.header = Some("x-game-day".into());
        s.header_value = Some("yes".into());
        s.delay_percent = 100.0;
        s.abort_percent = 100.0;
        let plan = FaultPlan::new(&s);
        let mut rng = StdRng::seed_from_u64(1);
        let mut headers = HeaderMap::new();
        assert!(plan.decide(&headers, &mut rng).is_none());
        headers.insert("x-game-day", "no".parse().unwrap());
        assert!(plan.decide(&headers, &mut rng).is_none());
        headers.insert("x-game-day", "yes".parse().unwrap());
        let injected = plan.decide(&headers, &mut rng);
        assert_eq!(injected.delay, Some(Duration::from_millis(50)));
        assert_eq!(injected.abort, Some(503));
        assert_eq!(injected.label(), Some("delay+abort"));
    }

    #[test]
    fn any_value_matches_when_no_value_is_configured() {
        let mut s = settings();
        s.header = Some("x-game-day".into());
        let plan = FaultPlan::new(&s);
        let mut headers = HeaderMap::new();
        headers.insert("x-game-day", "anything".parse().unwrap());
        assert!(plan.matches(&headers));
        assert!(!plan.matches(&HeaderMap::new()));
    }

    #[test]
    fn zero_percent_never_fires_and_unset_faults_are_absent() {
        let mut s = settings();
        s.delay_percent = 0.0;
        s.abort_status = None;
        let plan = FaultPlan::new(&s);
        let (delay, abort) = shares(&plan, &HeaderMap::new(), 10_000);
        assert_eq!((delay, abort), (0.0, 0.0));
    }
}
