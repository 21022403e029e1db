//! The attempt lifecycle driven through real snapshots, with time passed in.

use std::sync::{Arc, Mutex};

use super::*;
use crate::request::fixture::Fixture;
use crate::resilience::breaker::CircuitBreaker;

const GET: Resend = Resend {
    idempotent: true,
    body_replayable: true,
};
const POST: Resend = Resend {
    idempotent: false,
    body_replayable: true,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Fixture {
    fn count(&self, vec: &prometheus::IntCounterVec, labels: &[&str]) -> u64 {
        vec.with_label_values(labels).get()
    }

    fn retries(&self, reason: &str) -> u64 {
        self.count(&self.metrics.retries, &["api", reason])
    }

    fn refused(&self, reason: &str) -> u64 {
        self.count(&self.metrics.retries_refused, &["api", reason])
    }

    /// `weir_timeouts_total` for connect, read, deadline, downstream_write.
    fn timeouts(&self) -> [u64; 4] {
        let route = self.route();
        ["connect", "read", "deadline", "downstream_write"]
            .map(|kind| self.count(&self.metrics.timeouts, &[&route.name, "api", kind]))
    }

    fn transitions(&self, scope: &str, to: &str) -> u64 {
        self.count(&self.metrics.breaker_transitions, &["api", scope, to])
    }

    /// Probe slots `breaker` (the upstream's or an endpoint's) has free now; leaves it as
    /// it was.
    fn free_probe_slots(&self, breaker: &CircuitBreaker, now: Instant) -> u32 {
        let settings = &self.upstream().breaker;
        let mut taken = 0;
        while breaker.admit(settings, now).0 == Admission::Probe {
            taken += 1;
        }
        for _ in 0..taken {
            breaker.release_probe();
        }
        taken
    }

    fn failed(
        &self,
        attempts: &mut Attempts,
        side: Side,
        resend: Option<Resend>,
        now: Instant,
    ) -> bool {
        attempts.exchange_failed(side, None, resend, now, &self.id, &self.metrics)
    }
}

/// Log lines written on this thread while `f` runs.
fn logged(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = lines.0.lock().expect("log buffer").clone();
    String::from_utf8(bytes).expect("utf-8 log")
}

#[test]
fn a_retry_goes_to_an_endpoint_not_yet_tried_then_round_again_up_to_the_cap() {
    let fx = Fixture::new("", "", &[1, 2]);
    let t0 = Instant::now();
    let mut request = fx.request(t0);
    let first = fx.start(&mut request, t0);
    assert!(fx.failed(&mut request, Side::Upstream, Some(GET), t0));
    assert!(request.is_retry());
    let second = fx.start(&mut request, t0);
    assert_ne!(first.addr, second.addr, "a retry goes to another endpoint");
    assert!(fx.failed(&mut request, Side::Upstream, Some(GET), t0));
    assert_eq!(fx.retries("reset"), 2);
    // Both tried: after a mid-exchange failure, an endpoint already tried may serve it.
    fx.start(&mut request, t0);
    assert_eq!(request.tried().len(), 3);
    assert!(
        !fx.failed(&mut request, Side::Upstream, Some(GET), t0),
        "retry.attempts is 3"
    );
    assert_eq!(fx.refused("attempts_exhausted"), 1);
    assert_eq!(fx.retries("reset"), 2);
}

#[test]
fn after_connect_failures_no_endpoint_is_tried_twice() {
    let fx = Fixture::new("", "", &[1, 2]);
    let t0 = Instant::now();
    let mut request = fx.request(t0);
    for _ in 0..2 {
        fx.start(&mut request, t0);
        let retry = request.connect_failed(None, POST, t0, &fx.id, &fx.metrics);
        assert!(retry, "nothing was sent: retried whatever the method");
    }
    assert_eq!(fx.retries("connect_failure"), 2);
    assert_eq!(fx.upstream().pools[0].connect_failures.get(), 2);
    let remaining = request.time_left(t0, &fx.metrics).unwrap();
    let mut rng = rand::rng();
    let next = request.start(remaining, t0, &mut rng, &fx.id, &fx.metrics);
    assert_eq!(next, Err(NotStarted::AllConnectsFailed));
    assert_eq!(request.tried().len(), 2);
}

#[test]
fn what_is_retried_follows_the_method_the_body_the_response_and_the_side() {
    let fx = Fixture::new("", "", &[1, 2, 3]);
    let t0 = Instant::now();
    let cases = [
        // (side, what the request allows, retried)
        (Side::Upstream, Some(GET), true),
        (Side::Upstream, Some(POST), false),
        (
            Side::Upstream,
            Some(Resend {
                idempotent: true,
                body_replayable: false,
            }),
            false,
        ),
        // The response has started.
        (Side::Upstream, None, false),
        (Side::Client, Some(GET), false),
        (Side::Gateway, Some(GET), false),
    ];
    for (side, resend, want) in cases {
        let mut request = fx.request(t0);
        fx.start(&mut request, t0);
        assert_eq!(
            fx.failed(&mut request, side, resend, t0),
            want,
            "{side:?} {resend:?}"
        );
    }
    assert_eq!(fx.retries("reset"), 1);
    // Refusals by the method, the body or the side are not counted as refused retries.
    for reason in ["budget_exhausted", "attempts_exhausted", "deadline"] {
        assert_eq!(fx.refused(reason), 0, "{reason}");
    }
    // Statuses: only the route's list (502, 503, 504 by default).
    let mut request = fx.request(t0);
    fx.start(&mut request, t0);
    assert!(request.is_retryable_status(503));
    assert!(!request.is_retryable_status(500));
    assert!(request.retry(Failure::Status(503), GET, t0, &fx.id, &fx.metrics));
    assert!(!request.retry(Failure::Status(503), POST, t0, &fx.id, &fx.metrics));
    assert_eq!(fx.retries("status"), 1);
}

#[test]
fn the_budget_the_attempt_cap_and_the_deadline_refuse_and_are_counted() {
    let t0 = Instant::now();
    let spent = Fixture::new(
        "retry_budget = { ratio = 0.0, min_per_second = 0 }",
        "",
        &[1, 2],
    );
    let mut request = spent.request(t0);
    spent.start(&mut request, t0);
    assert!(!request.connect_failed(None, GET, t0, &spent.id, &spent.metrics));
    assert_eq!(spent.refused("budget_exhausted"), 1);
    assert_eq!(spent.retries("connect_failure"), 0);

    let once = Fixture::new("", "retry = { attempts = 1 }", &[1, 2]);
    let mut request = once.request(t0);
    once.start(&mut request, t0);
    assert!(!request.connect_failed(None, GET, t0, &once.id, &once.metrics));
    assert_eq!(once.refused("attempts_exhausted"), 1);

    let late = Fixture::new("", "timeout = \"1s\"", &[1, 2]);
    let mut request = late.request(t0);
    late.start(&mut request, t0);
    let at_deadline = t0 + secs(1);
    assert!(!request.connect_failed(None, GET, at_deadline, &late.id, &late.metrics));
    assert_eq!(late.refused("deadline"), 1);
}

#[test]
fn the_backoff_never_passes_the_deadline() {
    let fx = Fixture::new(
        "",
        "timeout = \"1s\"\nretry = { backoff = \"10s\", max_backoff = \"10s\" }",
        &[1],
    );
    let t0 = Instant::now();
    let request = fx.request(t0);
    let mut rng = rand::rng();
    for _ in 0..20 {
        let wait = request.backoff(t0 + Duration::from_millis(900), &mut rng);
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
    }
    assert_eq!(request.backoff(t0 + secs(2), &mut rng), Duration::ZERO);
}

#[test]
fn timeouts_are_counted_by_kind_and_only_where_they_belong() {
    let fx = Fixture::new("", "timeout = \"10s\"", &[1, 2, 3]);
    let (id, metrics) = (&fx.id, &fx.metrics);
    let t0 = Instant::now();
    let deadline = t0 + secs(10);
    let started = || {
        let mut request = fx.request(t0);
        fx.start(&mut request, t0);
        request
    };
    let broke = |side, timed_out, now| {
        started().exchange_failed(side, Some(timed_out), None, now, id, metrics);
    };
    started().connect_failed(Some(TimedOut::Connect), GET, t0, id, metrics);
    assert_eq!(fx.timeouts(), [1, 0, 0, 0], "a connect timeout");
    started().connect_failed(None, GET, t0, id, metrics);
    assert_eq!(
        fx.timeouts(),
        [1, 0, 0, 0],
        "a connect failure that is no timeout"
    );
    broke(Side::Upstream, TimedOut::Read, t0);
    assert_eq!(fx.timeouts(), [1, 1, 0, 0], "the upstream's read timeout");
    broke(Side::Upstream, TimedOut::Write, t0);
    assert_eq!(
        fx.timeouts(),
        [1, 2, 0, 0],
        "a write upstream counts as a read timeout"
    );
    broke(Side::Upstream, TimedOut::Read, deadline);
    assert_eq!(
        fx.timeouts(),
        [1, 2, 1, 0],
        "at the deadline, the deadline's"
    );
    broke(Side::Client, TimedOut::Write, t0);
    assert_eq!(fx.timeouts(), [1, 2, 1, 1], "a client that does not read");
    broke(Side::Client, TimedOut::Read, t0);
    broke(Side::Gateway, TimedOut::Write, t0);
    broke(Side::Upstream, TimedOut::Connect, t0);
    assert_eq!(
        fx.timeouts(),
        [1, 2, 1, 1],
        "not counted: a client that does not send, \
        the gateway's own, a connect timeout reported mid-exchange"
    );
    // Before an attempt, and while the body streams.
    let request = fx.request(t0);
    let late = request.time_left(deadline, metrics);
    assert_eq!(late, Err(NotStarted::DeadlinePassed));
    assert_eq!(fx.timeouts(), [1, 2, 2, 1]);
    assert!(!request.body_past_deadline(deadline, metrics));
    assert!(request.body_past_deadline(deadline + Duration::from_millis(1), metrics));
    assert_eq!(fx.timeouts(), [1, 2, 3, 1]);
}

#[test]
fn latency_runs_from_the_connection_and_the_connect_slot_is_held_until_then() {
    let fx = Fixture::new("bulkhead = { max_pending_connects = 1 }", "", &[1, 2]);
    let t0 = Instant::now();
    let mut request = fx.request(t0);
    let target = fx.start(&mut request, t0);
    assert_eq!(target.read_timeout, request.route().unwrap().read_timeout);
    let mut other = fx.request(t0);
    assert_eq!(
        other.hold_connect_slot(&fx.metrics),
        Err(NotStarted::ConnectsFull)
    );
    assert_eq!(fx.count(&fx.metrics.shed, &["connect", "normal"]), 1);
    request.connected(t0 + Duration::from_millis(100));
    assert_eq!(other.hold_connect_slot(&fx.metrics), Ok(()));
    request.answered(
        Outcome::Success,
        t0 + Duration::from_millis(150),
        &fx.id,
        &fx.metrics,
    );
    assert_eq!(request.upstream_time(), Some(Duration::from_millis(50)));
    let endpoint = &request.tried()[0];
    assert_eq!(endpoint.in_flight(), 1, "held until the upstream is done");
    request.upstream_done();
    assert_eq!(fx.endpoint(0).in_flight() + fx.endpoint(1).in_flight(), 0);
}

#[test]
fn an_attempt_near_the_deadline_gets_only_what_is_left() {
    let fx = Fixture::new("connect_timeout = \"5s\"", "timeout = \"10s\"", &[1]);
    let t0 = Instant::now();
    let mut request = fx.request(t0);
    let target = fx.start(&mut request, t0 + secs(8));
    assert_eq!(target.connect_timeout, secs(2));
    assert_eq!(target.read_timeout, secs(2));
    assert_eq!(
        Attempts::new().time_left(t0, &fx.metrics),
        Err(NotStarted::Unrouted)
    );
}

#[test]
fn answers_are_failures_when_5xx_or_an_unasked_upgrade() {
    assert_eq!(outcome(200, false), Outcome::Success);
    assert_eq!(outcome(404, false), Outcome::Success);
    assert_eq!(outcome(499, false), Outcome::Success);
    assert_eq!(outcome(500, false), Outcome::Failure);
    assert_eq!(outcome(503, false), Outcome::Failure);
    assert_eq!(outcome(101, true), Outcome::Failure);
}

/// Breakers that open on one failure, half-open after 1 s, need 5 successes to close.
const TOUCHY: &str = "slow_start = \"0s\"\ncircuit_breaker = { min_requests = 1, open_for = \"1s\", half_open_successes = 5 }";

/// Both breakers opened at `t0` by one failed request, half-opened at `t0 + 1s` by a request
/// that succeeded, so each has room for two probes; the test holds one of each. Returns a
/// request that took the endpoint's other probe slot and `t0 + 1s`.
fn probing(fx: &Fixture, upstream_probe: bool) -> (Attempts, Instant) {
    let t0 = Instant::now();
    let mut failing = fx.request(t0);
    fx.start(&mut failing, t0);
    fx.failed(&mut failing, Side::Upstream, None, t0);
    failing.request_over(true, t0, &fx.id, &fx.metrics);
    let t1 = t0 + secs(1);
    let up = fx.upstream();
    let mut first = fx.request(t1);
    let (admission, transition) = up.guard.breaker.admit(&up.breaker, t1);
    assert_eq!(admission, Admission::Probe);
    first.admitted(true, transition, &fx.id, &fx.metrics);
    fx.start(&mut first, t1);
    first.answered(Outcome::Success, t1, &fx.id, &fx.metrics);
    first.request_over(false, t1, &fx.id, &fx.metrics);
    let (up, ep) = (fx.upstream(), fx.endpoint(0));
    assert_eq!(fx.free_probe_slots(&ep.breaker, t1), 2);
    assert_eq!(fx.free_probe_slots(&up.guard.breaker, t1), 2);
    assert_eq!(ep.breaker.admit(&up.breaker, t1).0, Admission::Probe);
    assert_eq!(up.guard.breaker.admit(&up.breaker, t1).0, Admission::Probe);

    let mut request = fx.request(t1);
    if upstream_probe {
        let (admission, _) = up.guard.breaker.admit(&up.breaker, t1);
        assert_eq!(admission, Admission::Probe);
        request.admitted(true, None, &fx.id, &fx.metrics);
    }
    fx.start(&mut request, t1);
    assert_eq!(fx.free_probe_slots(&ep.breaker, t1), 0);
    (request, t1)
}

#[test]
fn an_endpoint_probe_slot_goes_back_exactly_once_on_every_path() {
    type Path = fn(&Fixture, &mut Attempts, Instant);
    let paths: [(&str, Path, u32); 5] = [
        // Reported: the success frees its slot and adds one (2 successes: 3 slots, 1 held).
        (
            "answered",
            |fx, a, t| {
                a.answered(Outcome::Success, t, &fx.id, &fx.metrics);
                a.upstream_done();
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            2,
        ),
        (
            "answered, then the client went away mid-body",
            |fx, a, t| {
                a.answered(Outcome::Success, t, &fx.id, &fx.metrics);
                fx.failed(a, Side::Client, None, t);
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            2,
        ),
        (
            "the client went away",
            |fx, a, t| {
                fx.failed(a, Side::Client, None, t);
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            1,
        ),
        (
            "a status retried",
            |fx, a, t| {
                a.status_retried();
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            1,
        ),
        (
            "ended without an outcome",
            |fx, a, t| {
                a.request_over(false, t, &fx.id, &fx.metrics);
                a.release_probes();
            },
            1,
        ),
    ];
    for (what, path, free) in paths {
        let fx = Fixture::new(TOUCHY, "", &[1]);
        let (mut request, t1) = probing(&fx, false);
        path(&fx, &mut request, t1);
        assert_eq!(
            fx.free_probe_slots(&fx.endpoint(0).breaker, t1),
            free,
            "{what}"
        );
    }
}

#[test]
fn the_upstream_probe_slot_goes_back_exactly_once_on_every_path() {
    type Path = fn(&Fixture, &mut Attempts, Instant);
    let paths: [(&str, Path, u32); 4] = [
        (
            "answered",
            |fx, a, t| {
                a.answered(Outcome::Success, t, &fx.id, &fx.metrics);
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            2,
        ),
        (
            "an injected abort, then the end of the request",
            |fx, a, t| {
                a.release_probes();
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            1,
        ),
        (
            "the client went away",
            |fx, a, t| {
                fx.failed(a, Side::Client, None, t);
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            1,
        ),
        (
            "a status retried",
            |fx, a, t| {
                a.status_retried();
                a.request_over(false, t, &fx.id, &fx.metrics);
            },
            1,
        ),
    ];
    for (what, path, free) in paths {
        let fx = Fixture::new(TOUCHY, "", &[1]);
        let (mut request, t1) = probing(&fx, true);
        path(&fx, &mut request, t1);
        let up = fx.upstream();
        assert_eq!(fx.free_probe_slots(&up.guard.breaker, t1), free, "{what}");
    }
}

#[test]
fn an_attempt_is_reported_once_whatever_follows() {
    let fx = Fixture::new(
        "circuit_breaker = { enabled = false }\noutlier = { consecutive_failures = 2 }",
        "",
        &[1],
    );
    let t0 = Instant::now();
    let pool = &fx.upstream().pools[0];
    // A 503, then the body broke: `logging` sees an upstream failure too.
    let mut request = fx.request(t0);
    fx.start(&mut request, t0);
    request.answered(Outcome::Failure, t0, &fx.id, &fx.metrics);
    fx.failed(&mut request, Side::Upstream, None, t0);
    request.request_over(true, t0, &fx.id, &fx.metrics);
    assert_eq!(pool.ejections.get(), 0, "one failure, not two in a row");
    assert_eq!(pool.available(t0), 1);
    // Another request's failure makes two in a row.
    let mut again = fx.request(t0);
    fx.start(&mut again, t0);
    again.answered(Outcome::Failure, t0, &fx.id, &fx.metrics);
    assert_eq!(pool.ejections.get(), 1);
}

#[test]
fn each_breaker_transition_is_counted_and_logged_once() {
    let fx = Fixture::new(
        "circuit_breaker = { min_requests = 1, open_for = \"1s\", half_open_successes = 1 }",
        "",
        &[1],
    );
    let t0 = Instant::now();
    let t1 = t0 + secs(1);
    let log = logged(|| {
        let mut failing = fx.request(t0);
        fx.start(&mut failing, t0);
        assert!(!fx.failed(&mut failing, Side::Upstream, None, t0));
        // `logging` sees the same failure again: it was reported already.
        failing.request_over(true, t0, &fx.id, &fx.metrics);

        let mut probe = fx.request(t1);
        let up = fx.upstream();
        let (admission, transition) = up.guard.breaker.admit(&up.breaker, t1);
        assert_eq!(admission, Admission::Probe);
        probe.admitted(true, transition, &fx.id, &fx.metrics);
        fx.start(&mut probe, t1);
        probe.answered(Outcome::Success, t1, &fx.id, &fx.metrics);
        probe.request_over(false, t1, &fx.id, &fx.metrics);
    });
    for scope in ["endpoint", "upstream"] {
        for to in ["open", "half_open", "closed"] {
            assert_eq!(fx.transitions(scope, to), 1, "{scope} {to}");
        }
    }
    assert_eq!(log.matches("circuit breaker opened").count(), 2, "{log}");
    assert_eq!(
        log.matches("circuit breaker changed state").count(),
        4,
        "{log}"
    );
    assert!(log.contains("req-1"), "{log}");
    // A closed endpoint breaker starts the endpoint's slow start.
    let ep = fx.endpoint(0);
    assert!(ep.slow_start_factor(t1, fx.upstream().slow_start) < 1.0);
}
