//! A routed request's attempts at its upstream: the deadline, a backoff before each retry, a
//! pending-connect slot until connected, an endpoint not yet tried, each attempt's outcome
//! reported once (endpoint and upstream breakers, outlier detection, adaptive limit), half-open
//! probe slots given back on every path that reports nothing, timeouts counted by kind, and the
//! retry decision (the route's policy, then the upstream's budget). Plain values come in (the
//! route, `now`, a failure's side); metrics and log lines go out. It never sees a Pingora session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::balance::{self, PickMode};
use crate::endpoint::{EndpointState, InFlight};
use crate::metrics::Metrics;
use crate::outlier::{self, Outcome, Verdict};
use crate::request::failure::Side;
use crate::resilience::backoff::backoff;
use crate::resilience::breaker::{Admission, BreakerState, Transition};
use crate::resilience::bulkhead::ConnectPermit;
use crate::resilience::retry::{self, Failure, Refusal};
use crate::runtime::{RouteEntry, UpstreamRuntime};
use crate::trace_ctx::RequestId;
use crate::upstream_tls::PoolTls;
use weir_config::UpstreamProtocol;

/// With less than this left, a read timeout is the deadline running out.
const DEADLINE_SLACK: Duration = Duration::from_millis(1);

/// A timeout, by the `kind` label of `weir_timeouts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Connecting to an endpoint.
    Connect,
    /// Waiting for the upstream's response header or its next body chunk.
    Read,
    /// The route's total deadline.
    Deadline,
    /// Writing to a client that does not read.
    DownstreamWrite,
}

impl Timeout {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Read => "read",
            Self::Deadline => "deadline",
            Self::DownstreamWrite => "downstream_write",
        }
    }
}

/// Which I/O of an exchange ran out of time, as the error says; the failure's side says whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedOut {
    Connect,
    Read,
    Write,
}

/// What the request allows a retry, apart from the failure itself.
#[derive(Debug, Clone, Copy)]
pub struct Resend {
    /// The method is idempotent.
    pub idempotent: bool,
    /// The request body is still buffered in full, so it can be sent again.
    pub body_replayable: bool,
}

/// Where an attempt goes: the endpoint, its timeouts (already cut to what is left of the
/// deadline) and how to speak to it (its pool's TLS and HTTP version).
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// The pool's TLS; `None` (no reference taken) for a plain-text pool.
    pub tls: Option<Arc<PoolTls>>,
    /// The DNS name the address was resolved from, for SNI when the pool's TLS names none
    /// (`None` for a plain pool).
    pub server_name: Option<Arc<str>>,
    pub protocol: UpstreamProtocol,
}

impl PartialEq for Target {
    /// The same endpoint, timeouts and protocol, and the same loaded TLS (not an equal one).
    fn eq(&self, other: &Self) -> bool {
        let same_tls = match (&self.tls, &other.tls) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.addr == other.addr
            && self.server_name == other.server_name
            && self.connect_timeout == other.connect_timeout
            && self.read_timeout == other.read_timeout
            && self.protocol == other.protocol
            && same_tls
    }
}

/// Why no attempt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// The request has no route (a hook called out of order).
    Unrouted,
    /// The deadline passed (counted as a `deadline` timeout).
    DeadlinePassed,
    /// `max_pending_connects` connection attempts are under way (counted as shed).
    ConnectsFull,
    /// Every endpoint left refused the connection.
    AllConnectsFailed,
    /// No endpoint can take the request.
    NoEndpoint,
}

/// Whether an answer counts as a success for the endpoint: a 5xx or a protocol switch nobody
/// asked for is a failure.
pub fn outcome(status: u16, unsolicited_upgrade: bool) -> Outcome {
    if (500..600).contains(&status) || unsolicited_upgrade {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

/// Whether a reported outcome came with a response header (a failure then is a 5xx answer) or
/// without one (the exchange broke: reset, timeout, no connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    Yes,
    No,
}

/// One attempt at an endpoint, from choosing it until the upstream is done with it.
struct Attempt {
    pool: usize,
    in_flight: InFlight,
    sent_at: Instant,
    /// The endpoint's breaker admitted this attempt as a half-open probe.
    probe: bool,
    /// The upstream's in-flight count when the attempt started, for the adaptive limit.
    in_flight_at_start: u32,
    /// The outcome went to the outlier detector and breakers already.
    reported: bool,
}

/// The route a request matched, its deadline, and the attempts made at the route's upstream.
pub struct Attempts {
    route: Option<Arc<RouteEntry>>,
    /// When the route's total deadline passes.
    deadline: Option<Instant>,
    /// Every endpoint tried, in order; the last is the current (or last) attempt's.
    tried: Vec<Arc<EndpointState>>,
    current: Option<Attempt>,
    /// Where the last attempt went, for logs and metrics.
    last_pool: Option<usize>,
    mode: PickMode,
    upstream_time: Option<Duration>,
    last_failure_was_connect: bool,
    /// A pending-connect slot, held from choosing a peer until connected (or failed).
    connect_permit: Option<ConnectPermit>,
    /// The upstream breaker admitted this request as a half-open probe, not yet reported.
    upstream_probe: bool,
}

impl Default for Attempts {
    fn default() -> Self {
        Self::new()
    }
}

impl Attempts {
    /// No route yet, nothing tried.
    pub const fn new() -> Self {
        Self {
            route: None,
            deadline: None,
            tried: Vec::new(),
            current: None,
            last_pool: None,
            mode: PickMode::Normal,
            upstream_time: None,
            last_failure_was_connect: false,
            connect_permit: None,
            upstream_probe: false,
        }
    }

    /// The request matched `route`.
    pub fn routed(&mut self, route: Arc<RouteEntry>) {
        self.route = Some(route);
    }

    /// The route's deadline starts running from the request's arrival.
    pub fn start_clock(&mut self, arrived: Instant) {
        if let Some(route) = &self.route {
            self.deadline = Some(arrived + route.timeout);
        }
    }

    /// The upstream's breaker admitted the request (as a half-open probe, or not); a transition
    /// its admission made is counted and logged.
    pub fn admitted(
        &mut self,
        upstream_probe: bool,
        transition: Option<Transition>,
        request_id: &RequestId,
        metrics: &Metrics,
    ) {
        self.upstream_probe = upstream_probe;
        if let (Some(t), Some(route)) = (transition, &self.route) {
            breaker_transition(metrics, &route.upstream, None, t, request_id);
        }
    }

    pub fn route(&self) -> Option<&RouteEntry> {
        self.route.as_deref()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (zero once it passed, or before it is set).
    #[inline]
    pub fn remaining(&self, now: Instant) -> Duration {
        self.deadline
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(now))
    }

    /// Whether less than `DEADLINE_SLACK` is left: what timed out then was the deadline.
    pub fn deadline_ran_out(&self, now: Instant) -> bool {
        self.remaining(now) < DEADLINE_SLACK
    }

    /// Every endpoint tried so far, in order.
    pub fn tried(&self) -> &[Arc<EndpointState>] {
        &self.tried
    }

    /// How the last endpoint was chosen.
    pub fn mode(&self) -> PickMode {
        self.mode
    }

    /// From connection (or reuse) to the response header, of the attempt that got one.
    pub fn upstream_time(&self) -> Option<Duration> {
        self.upstream_time
    }

    /// The region of the last attempt's pool ("" before one).
    pub fn region(&self) -> &str {
        self.route
            .as_ref()
            .zip(self.last_pool)
            .map_or("", |(route, pool)| &route.upstream.pools[pool].region)
    }

    /// How the last attempt's pool is spoken to, for the access log: `h1`, `h2`, `h1+tls` or
    /// `h2+tls`; `None` before an attempt.
    pub fn upstream_protocol(&self) -> Option<&'static str> {
        let (route, pool) = self.route.as_ref().zip(self.last_pool)?;
        let pool = &route.upstream.pools[pool];
        Some(match (pool.protocol, pool.tls.is_some()) {
            (UpstreamProtocol::H1, false) => "h1",
            (UpstreamProtocol::H2, false) => "h2",
            (UpstreamProtocol::H1, true) => "h1+tls",
            (UpstreamProtocol::H2, true) => "h2+tls",
        })
    }

    /// Whether the last attempt's pool speaks TLS to its endpoints.
    pub fn over_tls(&self) -> bool {
        self.route
            .as_ref()
            .zip(self.last_pool)
            .is_some_and(|(route, pool)| route.upstream.pools[pool].tls.is_some())
    }

    /// The last attempt's endpoint ("" before one).
    pub fn endpoint_label(&self) -> &str {
        self.tried.last().map_or("", |e| e.label.as_str())
    }

    /// Whether an attempt was made already (so the next is a retry).
    pub fn is_retry(&self) -> bool {
        !self.tried.is_empty()
    }

    /// Whether the route retries an answer with this status.
    pub fn is_retryable_status(&self, status: u16) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| r.retry.statuses.contains(&status))
    }

    /// The full-jitter wait before the next retry, never past the deadline.
    pub fn backoff(&self, now: Instant, rng: &mut impl Rng) -> Duration {
        let Some(route) = &self.route else {
            return Duration::ZERO;
        };
        backoff(
            self.tried.len() as u32,
            route.retry.backoff,
            route.retry.max_backoff,
            rng,
        )
        .min(self.remaining(now))
    }

    /// What is left of the deadline for the next attempt; past it, the attempt does not start
    /// and a `deadline` timeout is counted.
    pub fn time_left(&self, now: Instant, metrics: &Metrics) -> Result<Duration, NotStarted> {
        if self.route.is_none() {
            return Err(NotStarted::Unrouted);
        }
        let remaining = self.remaining(now);
        if remaining.is_zero() {
            self.count_timeout(Timeout::Deadline, now, metrics);
            return Err(NotStarted::DeadlinePassed);
        }
        Ok(remaining)
    }

    /// Take a slot under the upstream's `max_pending_connects` until connected; full, the
    /// request is shed (counted).
    pub fn hold_connect_slot(&mut self, metrics: &Metrics) -> Result<(), NotStarted> {
        let Some(route) = &self.route else {
            return Err(NotStarted::Unrouted);
        };
        let upstream = &route.upstream;
        match upstream
            .guard
            .bulkhead
            .try_connect(upstream.bulkhead.max_pending_connects)
        {
            Ok(permit) => {
                self.connect_permit = Some(permit);
                Ok(())
            }
            Err(_) => {
                metrics
                    .shed
                    .with_label_values(&["connect", route.priority.as_str()])
                    .inc();
                Err(NotStarted::ConnectsFull)
            }
        }
    }

    /// Start an attempt: an endpoint this request has not tried (after a mid-exchange failure,
    /// one already tried when none is left), admitted by its breaker (perhaps as a half-open
    /// probe) and counted in flight. `remaining` is [`Self::time_left`]'s.
    pub fn start(
        &mut self,
        remaining: Duration,
        now: Instant,
        rng: &mut impl Rng,
        request_id: &RequestId,
        metrics: &Metrics,
    ) -> Result<Target, NotStarted> {
        let Some(route) = self.route.as_deref() else {
            return Err(NotStarted::Unrouted);
        };
        let upstream = &route.upstream;
        let tried = &self.tried;
        let pick = balance::pick(upstream, tried, now, rng).or_else(|| {
            // A mid-exchange failure is no proof the endpoint is down; after one, an endpoint
            // already tried may serve the retry. After connect failures, do not go round again.
            (!tried.is_empty() && !self.last_failure_was_connect)
                .then(|| balance::pick(upstream, &[], now, rng))
                .flatten()
        });
        let Some(pick) = pick else {
            return Err(if self.last_failure_was_connect {
                NotStarted::AllConnectsFailed
            } else {
                NotStarted::NoEndpoint
            });
        };
        let pool = &upstream.pools[pick.pool];
        match pick.mode {
            PickMode::Panic => upstream.panic_routing.inc(),
            PickMode::Spill => pool.spill_routing.inc(),
            PickMode::Normal => {}
        }
        let endpoint = &pool.endpoints[pick.endpoint];
        self.mode = pick.mode;
        self.last_pool = Some(pick.pool);
        self.tried.push(Arc::clone(endpoint));
        let (admission, transition) = endpoint.breaker.admit(&upstream.breaker, now);
        if let Some(t) = transition {
            breaker_transition(metrics, upstream, Some(endpoint), t, request_id);
        }
        self.current = Some(Attempt {
            pool: pick.pool,
            in_flight: endpoint.start_request(),
            sent_at: now,
            probe: admission == Admission::Probe,
            in_flight_at_start: upstream.guard.bulkhead.in_flight(),
            reported: false,
        });
        // Every wait of the attempt ends by the deadline at the latest.
        Ok(Target {
            addr: endpoint.key.addr,
            connect_timeout: route.connect_timeout.min(remaining),
            read_timeout: route.read_timeout.min(remaining),
            tls: pool.tls.clone(),
            server_name: pool.server_name(endpoint.key.addr).cloned(),
            protocol: pool.protocol,
        })
    }

    /// The connection is made: the pending-connect slot goes back, and latency is measured from
    /// here, so connection set-up does not count as slowness.
    pub fn connected(&mut self, now: Instant) {
        self.connect_permit = None;
        if let Some(attempt) = self.current.as_mut() {
            attempt.sent_at = now;
        }
    }

    /// The response header arrived: its latency feeds the endpoint's estimate and the pool's
    /// histogram, and the outcome is reported. The attempt keeps its in-flight slot until the
    /// upstream is done ([`Self::upstream_done`]).
    pub fn answered(
        &mut self,
        outcome: Outcome,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) {
        if let (Some(attempt), Some(route)) = (&self.current, &self.route) {
            let elapsed = now.saturating_duration_since(attempt.sent_at);
            attempt.in_flight.endpoint().observe_latency(elapsed, now);
            route.upstream.pools[attempt.pool]
                .upstream_duration
                .observe(elapsed.as_secs_f64());
            self.upstream_time = Some(elapsed);
        }
        self.report(outcome, Answered::Yes, now, request_id, metrics);
    }

    /// The upstream finished the response: the attempt ends and the endpoint's in-flight count
    /// goes back, before the client has read the last of it.
    pub fn upstream_done(&mut self) {
        self.current = None;
    }

    /// Whether a response body still streaming at `now` must be cut: past the deadline (counted
    /// as a `deadline` timeout).
    pub fn body_past_deadline(&self, now: Instant, metrics: &Metrics) -> bool {
        if self.deadline.is_some_and(|d| now > d) {
            self.count_timeout(Timeout::Deadline, now, metrics);
            return true;
        }
        false
    }

    /// The connection could not be made: the pending-connect slot goes back, a connect timeout
    /// is counted, the endpoint is blamed, and the answer is whether to retry (nothing was sent,
    /// so whatever the method).
    pub fn connect_failed(
        &mut self,
        timed_out: Option<TimedOut>,
        resend: Resend,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) -> bool {
        self.connect_permit = None;
        if timed_out == Some(TimedOut::Connect) {
            self.count_timeout(Timeout::Connect, now, metrics);
        }
        self.finish(Outcome::ConnectFailure, now, request_id, metrics);
        self.last_failure_was_connect = true;
        self.retry(Failure::Connect, resend, now, request_id, metrics)
    }

    /// The exchange broke. Only an upstream-side failure counts against the endpoint and may be
    /// retried (`resend` is `None` once the response has started: the client has part of an
    /// answer); a client that went away, sent something unusable or did not read, and the
    /// gateway's own decisions, end the attempt without an outcome. Returns whether to retry.
    pub fn exchange_failed(
        &mut self,
        side: Side,
        timed_out: Option<TimedOut>,
        resend: Option<Resend>,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) -> bool {
        self.last_failure_was_connect = false;
        if !side.counts_against_upstream() {
            self.abandon();
            if side == Side::Client && timed_out == Some(TimedOut::Write) {
                self.count_timeout(Timeout::DownstreamWrite, now, metrics);
            }
            return false;
        }
        self.finish(Outcome::Failure, now, request_id, metrics);
        if matches!(timed_out, Some(TimedOut::Read | TimedOut::Write)) {
            self.count_timeout(Timeout::Read, now, metrics);
        }
        resend.is_some_and(|resend| self.retry(Failure::Reset, resend, now, request_id, metrics))
    }

    /// A retryable status is being retried (decided and counted by [`Self::retry`] when the
    /// answer arrived): the attempt ends without another outcome.
    pub fn status_retried(&mut self) {
        self.last_failure_was_connect = false;
        self.abandon();
    }

    /// Whether to retry after `failure`: the route's policy, then the upstream's budget. Counts
    /// the retry, or the refusal of a retry that was otherwise wanted.
    pub fn retry(
        &self,
        failure: Failure,
        resend: Resend,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) -> bool {
        let (Some(route), Some(deadline)) = (&self.route, self.deadline) else {
            return false;
        };
        let upstream = &route.upstream;
        let request = retry::Request {
            idempotent: resend.idempotent,
            body_replayable: resend.body_replayable,
            attempts: self.tried.len() as u32,
            deadline,
        };
        let refusal = match retry::decide(&route.retry, failure, request, now) {
            Ok(())
                if upstream
                    .guard
                    .budget
                    .try_withdraw(&upstream.retry_budget, now) =>
            {
                metrics
                    .retries
                    .with_label_values(&[&upstream.name, failure.label()])
                    .inc();
                tracing::debug!(request_id = %request_id.as_str(), upstream = %upstream.name, endpoint = %self.endpoint_label(), reason = failure.label(), attempt = self.tried.len(), "retrying");
                return true;
            }
            Ok(()) => Refusal::BudgetExhausted,
            Err(refusal) => refusal,
        };
        if matches!(
            refusal,
            Refusal::BudgetExhausted | Refusal::AttemptsExhausted | Refusal::DeadlinePassed
        ) {
            metrics
                .retries_refused
                .with_label_values(&[&upstream.name, refusal.label()])
                .inc();
            tracing::debug!(request_id = %request_id.as_str(), upstream = %upstream.name, reason = refusal.label(), "not retrying");
        }
        false
    }

    /// The request is over: an upstream-side failure (`upstream_failed`) still unreported is
    /// reported, probe slots nothing reported go back, and the attempt and its slots end.
    pub fn request_over(
        &mut self,
        upstream_failed: bool,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) {
        if upstream_failed {
            self.report(Outcome::Failure, Answered::No, now, request_id, metrics);
        }
        self.release_probes();
        self.current = None;
        self.connect_permit = None;
    }

    /// The request ends without reporting some outcome (an injected abort, or the end of the
    /// request): half-open probe slots go back, so a breaker is not left waiting for an answer
    /// that will never come.
    pub fn release_probes(&mut self) {
        self.abandon();
        let Some(route) = &self.route else { return };
        if std::mem::take(&mut self.upstream_probe) {
            route.upstream.guard.breaker.release_probe();
        }
    }

    /// Count a timeout: a read timeout is `deadline` when the deadline is what ran out.
    pub fn count_timeout(&self, kind: Timeout, now: Instant, metrics: &Metrics) {
        let Some(route) = &self.route else { return };
        let kind = if kind == Timeout::Read && self.deadline_ran_out(now) {
            Timeout::Deadline
        } else {
            kind
        };
        metrics
            .timeouts
            .with_label_values(&[&route.name, &route.upstream.name, kind.as_str()])
            .inc();
    }

    /// Report the attempt's outcome (if not yet reported) and end it: its in-flight slot goes
    /// back.
    fn finish(
        &mut self,
        outcome: Outcome,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) {
        self.report(outcome, Answered::No, now, request_id, metrics);
        self.current = None;
    }

    /// End the attempt without an outcome (the client or the gateway ended it): its half-open
    /// probe slot, if it had one, goes back, and nothing is counted against the endpoint.
    fn abandon(&mut self) {
        if let Some(attempt) = self.current.take()
            && attempt.probe
            && !attempt.reported
        {
            attempt.in_flight.endpoint().breaker.release_probe();
        }
    }

    /// Report how the current attempt went (once) to the endpoint's and the upstream's
    /// breakers, the adaptive limit and the outlier detector, and log what that changed; a
    /// failure is counted in its pool's series by kind (only failures: a success costs nothing
    /// more). The attempt keeps its in-flight slot.
    fn report(
        &mut self,
        outcome: Outcome,
        answered: Answered,
        now: Instant,
        request_id: &RequestId,
        metrics: &Metrics,
    ) {
        let (Some(attempt), Some(route)) = (self.current.as_mut(), self.route.as_deref()) else {
            return;
        };
        if std::mem::replace(&mut attempt.reported, true) {
            return;
        }
        let upstream = &route.upstream;
        let pool = &upstream.pools[attempt.pool];
        let endpoint = attempt.in_flight.endpoint();
        match (outcome, answered) {
            (Outcome::Success, _) => {}
            (Outcome::ConnectFailure, _) => pool.connect_failures.inc(),
            (Outcome::Failure, Answered::Yes) => pool.status_5xx.inc(),
            (Outcome::Failure, Answered::No) => pool.exchange_failures.inc(),
        }
        let success = outcome == Outcome::Success;
        if let Some(t) = endpoint
            .breaker
            .record(&upstream.breaker, now, success, attempt.probe)
        {
            if t.to == BreakerState::Closed {
                endpoint.mark_recovered(now);
            }
            breaker_transition(metrics, upstream, Some(endpoint), t, request_id);
        }
        let probe = std::mem::take(&mut self.upstream_probe);
        if let Some(t) = upstream
            .guard
            .breaker
            .record(&upstream.breaker, now, success, probe)
        {
            breaker_transition(metrics, upstream, None, t, request_id);
        }
        if let Some(limit) = &upstream.adaptive
            && let Some(settings) = &upstream.bulkhead.adaptive
        {
            let rtt = now.saturating_duration_since(attempt.sent_at);
            limit.on_sample(
                settings,
                upstream.bulkhead.max_in_flight,
                rtt,
                !success,
                attempt.in_flight_at_start,
                now,
            );
        }
        match outlier::report(upstream, pool, endpoint, outcome, now) {
            Some(Verdict::Ejected(period)) => {
                pool.ejections.inc();
                tracing::warn!(
                    request_id = %request_id.as_str(), upstream = %upstream.name, region = %pool.region,
                    endpoint = %endpoint.label, ejected_for = ?period, reason = ?outcome,
                    "endpoint ejected"
                );
            }
            Some(Verdict::MarkedDown) => {
                metrics
                    .endpoint_healthy
                    .with_label_values(&[&*upstream.name, &*pool.region, endpoint.label.as_str()])
                    .set(0);
                tracing::warn!(
                    request_id = %request_id.as_str(), upstream = %upstream.name, region = %pool.region,
                    endpoint = %endpoint.label, "endpoint marked down after a connect failure"
                );
            }
            None => {}
        }
    }
}

/// Count and log a circuit-breaker transition (`endpoint` is `None` for the upstream's).
fn breaker_transition(
    metrics: &Metrics,
    upstream: &UpstreamRuntime,
    endpoint: Option<&Arc<EndpointState>>,
    t: Transition,
    request_id: &RequestId,
) {
    let scope = if endpoint.is_some() {
        "endpoint"
    } else {
        "upstream"
    };
    metrics
        .breaker_transitions
        .with_label_values(&[&upstream.name, scope, t.to.as_str()])
        .inc();
    let endpoint = endpoint.map_or("", |e| e.label.as_str());
    if t.to == BreakerState::Open {
        tracing::warn!(request_id = request_id.as_str(), upstream = %upstream.name, endpoint, scope, from = t.from.as_str(), to = t.to.as_str(), "circuit breaker opened");
    } else {
        tracing::info!(request_id = request_id.as_str(), upstream = %upstream.name, endpoint, scope, from = t.from.as_str(), to = t.to.as_str(), "circuit breaker changed state");
    }
}

#[cfg(test)]
mod tests;
