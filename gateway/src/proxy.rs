//! The Pingora `ProxyHttp` implementation, kept thin: each hook hands its decision to a plain
//! module (router, ratelimit, resilience, balance, outlier, trace_ctx, problem) and records what
//! happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, ProxyWarnLogContext, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::access_log::{self, AccessEntry, EndpointList};
use crate::balance::{self, PickMode};
use crate::endpoint::{EndpointState, InFlight};
use crate::metrics::Metrics;
use crate::outlier::{self, Outcome, Verdict};
use crate::problem::{self, Problem};
use crate::ratelimit;
use crate::ratelimit::key::RequestFacts;
use crate::request::body::BodyCap;
use crate::request::failure::{self, Side};
use crate::request::{headers, path, response};
use crate::resilience::admission::{self, ShedBy};
use crate::resilience::backoff::backoff;
use crate::resilience::breaker::{Admission as BreakerAdmission, BreakerState, Transition};
use crate::resilience::bulkhead::{ConnectPermit, Permit};
use crate::resilience::retry::{self, Failure, Refusal};
use crate::snapshot::{RouteEntry, Snapshot};
use crate::state::Gateway;
use crate::trace_ctx::{self, RequestId};
use http::HeaderValue;

/// How long an idle pooled upstream connection is kept.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The custom error for "no endpoint could be chosen".
const NO_ENDPOINT: ErrorType = ErrorType::CustomCode("NoEndpoint", 503);
/// The custom error for "every endpoint tried refused the connection".
const ALL_CONNECTS_FAILED: ErrorType = ErrorType::CustomCode("AllConnectsFailed", 502);
/// The custom error for "the route's deadline passed before an attempt could start".
const DEADLINE_EXCEEDED: ErrorType = ErrorType::CustomCode("DeadlineExceeded", 504);
/// The custom error for "too many connection attempts to this upstream are under way".
const CONNECTS_FULL: ErrorType = ErrorType::CustomCode("PendingConnectsFull", 503);
/// The error that turns a retryable status into a retry (the response is not forwarded).
const RETRY_STATUS: ErrorType = ErrorType::Custom("RetryableStatus");
/// The custom error for "the request body grew past the route's `max_body_size`".
const BODY_TOO_LARGE: ErrorType = ErrorType::CustomCode("BodyTooLarge", 413);
/// The custom error for "the origin switched protocols although the client asked for no upgrade".
const UNSOLICITED_UPGRADE: ErrorType = ErrorType::CustomCode("UnsolicitedUpgrade", 502);
/// The custom error for "the request body was still arriving at the route's deadline".
const BODY_TOO_SLOW: ErrorType = ErrorType::CustomCode("RequestBodyTimeout", 408);
/// How long past the route's deadline a response may still take to reach a slow client.
const DOWNSTREAM_WRITE_GRACE: Duration = Duration::from_secs(1);
/// The write timeout for answers the gateway makes before routing (small problem documents).
const UNROUTED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct WeirProxy {
    pub gateway: Arc<Gateway>,
}

/// Per-request state: the snapshot and route loaded once, and the attempts made.
pub struct RequestCtx {
    started: Instant,
    snapshot: Option<Arc<Snapshot>>,
    route: Option<Arc<RouteEntry>>,
    request_id: RequestId,
    /// A trace started here, to send upstream; `None` passes the client's through.
    new_traceparent: Option<HeaderValue>,
    tried: Vec<Arc<EndpointState>>,
    attempt: Option<Attempt>,
    /// Where the last attempt went, for logs and metrics.
    last_pool: Option<usize>,
    mode: PickMode,
    upstream_time: Option<Duration>,
    last_failure_was_connect: bool,
    /// The client address (`[client_ip]` rules), once something needed it.
    client_ip: Option<std::net::IpAddr>,
    /// `RateLimit` for an admitted response.
    rate_limit_header: Option<String>,
    /// The policy that refused the request, for the access log.
    limited_by: Option<Arc<str>>,
    /// When the route's total deadline passes.
    deadline: Option<Instant>,
    /// The gateway-wide in-flight slot, held until the request is over.
    gateway_permit: Option<Permit>,
    /// The upstream's in-flight (bulkhead) slot, held until the upstream is done with the
    /// request (its response read to the end) or the request is over.
    upstream_permit: Option<Permit>,
    /// A pending-connect slot, held from choosing a peer until connected (or failed).
    connect_permit: Option<ConnectPermit>,
    /// The upstream breaker admitted this request as a half-open probe, not yet reported.
    upstream_probe: bool,
    /// Where the request was shed or failed fast, for the access log.
    shed_by: Option<ShedBy>,
    /// `Retry-After` for a request shed in `upstream_peer`.
    shed_retry_after: Option<u64>,
    /// The fault injected, for the access log.
    fault: Option<&'static str>,
    /// Why the gateway refused the request itself (a bad path, TRACE, no Host, too large).
    rejected: Option<&'static str>,
    /// The route's request-body cap and what was read of the body so far.
    body_cap: Option<BodyCap>,
}

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

impl RequestCtx {
    fn region(&self) -> &str {
        self.route
            .as_ref()
            .zip(self.last_pool)
            .map_or("", |(route, pool)| &route.upstream.pools[pool].region)
    }

    fn endpoint_label(&self) -> &str {
        self.tried.last().map_or("", |e| e.label.as_str())
    }

    /// Report how the current attempt went to the outlier detector (once), and log what that
    /// changed. The attempt keeps its in-flight slot until [`Self::end_attempt`].
    fn report(&mut self, outcome: Outcome, now: Instant, metrics: &Metrics) {
        let (Some(attempt), Some(route)) = (self.attempt.as_mut(), self.route.as_ref()) else {
            return;
        };
        if std::mem::replace(&mut attempt.reported, true) {
            return;
        }
        let upstream = &route.upstream;
        let pool = &upstream.pools[attempt.pool];
        let endpoint = attempt.in_flight.endpoint();
        if outcome == Outcome::ConnectFailure {
            pool.connect_failures.inc();
        }
        let success = outcome == Outcome::Success;
        let request_id = self.request_id.as_str();
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
                    request_id = %self.request_id.as_str(), upstream = %upstream.name, region = %pool.region,
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
                    request_id = %self.request_id.as_str(), upstream = %upstream.name, region = %pool.region,
                    endpoint = %endpoint.label, "endpoint marked down after a connect failure"
                );
            }
            None => {}
        }
    }

    /// Report the attempt's outcome (if not yet reported) and release its in-flight slot.
    fn end_attempt(&mut self, outcome: Outcome, now: Instant, metrics: &Metrics) {
        self.report(outcome, now, metrics);
        self.attempt = None;
    }

    /// End the attempt without an outcome (the client or the gateway ended it): its half-open
    /// probe slot, if it had one, goes back, and nothing is counted against the endpoint.
    fn abandon_attempt(&mut self) {
        if let Some(attempt) = self.attempt.take()
            && attempt.probe
            && !attempt.reported
        {
            attempt.in_flight.endpoint().breaker.release_probe();
        }
    }

    /// The request is over without reporting some outcome: give back half-open probe slots so
    /// a breaker is not left waiting for an answer that will never come.
    fn release_probes(&mut self) {
        self.abandon_attempt();
        let Some(route) = &self.route else { return };
        if std::mem::take(&mut self.upstream_probe) {
            route.upstream.guard.breaker.release_probe();
        }
    }

    /// Time left before the deadline (zero once it passed; the route's timeout before routing).
    fn remaining(&self, now: Instant) -> Duration {
        self.deadline
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(now))
    }

    /// Count a timeout by kind (connect, read, deadline, downstream_write): a read timeout is
    /// `deadline` when the deadline is what ran out.
    fn count_timeout(&self, metrics: &Metrics, kind: &'static str, now: Instant) {
        let Some(route) = &self.route else { return };
        let kind = if kind == "read" && self.remaining(now) < Duration::from_millis(1) {
            "deadline"
        } else {
            kind
        };
        metrics
            .timeouts
            .with_label_values(&[&route.name, &route.upstream.name, kind])
            .inc();
    }
}

/// Count and log a circuit-breaker transition (`endpoint` is `None` for the upstream's).
fn breaker_transition(
    metrics: &Metrics,
    upstream: &crate::snapshot::UpstreamRuntime,
    endpoint: Option<&Arc<EndpointState>>,
    t: Transition,
    request_id: &str,
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
        tracing::warn!(request_id, upstream = %upstream.name, endpoint, scope, from = t.from.as_str(), to = t.to.as_str(), "circuit breaker opened");
    } else {
        tracing::info!(request_id, upstream = %upstream.name, endpoint, scope, from = t.from.as_str(), to = t.to.as_str(), "circuit breaker changed state");
    }
}

impl WeirProxy {
    /// Act on a rate-limit verdict: note what an admitted response advertises, or answer a
    /// refused request here (429, or 503 when the store is away and the policy denies).
    /// Returns whether the request was answered.
    async fn apply_verdict(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        verdict: ratelimit::Verdict,
    ) -> Result<bool> {
        let (problem, headers) = match verdict {
            ratelimit::Verdict::Admitted { header } => {
                ctx.rate_limit_header = header;
                return Ok(false);
            }
            ratelimit::Verdict::Limited {
                policy,
                retry_after,
                reset,
            } => {
                let (policy_header, state, seconds) = policy.limited_headers(retry_after, reset);
                let detail = format!(
                    "rate limit \"{}\" exceeded; retry after {seconds} s",
                    policy.name
                );
                tracing::debug!(request_id = %ctx.request_id.as_str(), policy = %policy.name, retry_after_s = seconds, "rate limited");
                ctx.limited_by = Some(Arc::clone(&policy.name));
                (
                    Problem::new(429, detail, ctx.request_id.as_str()),
                    vec![
                        ("retry-after", seconds.to_string()),
                        ("ratelimit-policy", policy_header),
                        ("ratelimit", state),
                    ],
                )
            }
            ratelimit::Verdict::StoreDenied { policy } => {
                let detail = format!(
                    "rate limit \"{}\" cannot be checked (its store is unavailable); retry later",
                    policy.name
                );
                ctx.limited_by = Some(Arc::clone(&policy.name));
                (
                    Problem::new(503, detail, ctx.request_id.as_str()),
                    vec![("retry-after", "1".to_string())],
                )
            }
        };
        respond_with(session, problem, &ctx.request_id.value, true, headers).await?;
        Ok(true)
    }

    /// Shedding, fault injection and the upstream's breaker, in that order, for a routed
    /// request. Returns whether the request was answered here.
    async fn resilience_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        snapshot: &Snapshot,
        route: &RouteEntry,
    ) -> Result<bool> {
        let metrics = &self.gateway.metrics;
        let upstream = &route.upstream;
        let shedding = &snapshot.config.load_shedding;
        let now = Instant::now();
        match admission::admit(
            &self.gateway.in_flight,
            upstream,
            route.priority,
            shedding,
            now,
        ) {
            Ok(admitted) => {
                ctx.gateway_permit = Some(admitted.gateway_permit);
                ctx.upstream_permit = Some(admitted.upstream_permit);
                ctx.upstream_probe = admitted.upstream_probe;
                if let Some(t) = admitted.transition {
                    breaker_transition(metrics, upstream, None, t, ctx.request_id.as_str());
                }
            }
            Err(refused) => {
                let detail = match refused.by {
                    ShedBy::CircuitBreaker => {
                        metrics
                            .breaker_rejections
                            .with_label_values(&[&upstream.name])
                            .inc();
                        format!(
                            "upstream {} is failing (its circuit breaker is open); retry after {} s",
                            upstream.name, refused.retry_after_secs
                        )
                    }
                    by => {
                        metrics
                            .shed
                            .with_label_values(&[by.as_str(), route.priority.as_str()])
                            .inc();
                        format!(
                            "the gateway is over capacity ({} limit) and sheds {} requests; retry after {} s",
                            by.as_str(),
                            route.priority,
                            refused.retry_after_secs
                        )
                    }
                };
                tracing::debug!(request_id = %ctx.request_id.as_str(), route = %route.name, shed_by = refused.by.as_str(), priority = route.priority.as_str(), "request refused");
                ctx.shed_by = Some(refused.by);
                let retry_after = refused.retry_after_secs.to_string();
                let problem = Problem::new(503, detail, ctx.request_id.as_str());
                respond_with(
                    session,
                    problem,
                    &ctx.request_id.value,
                    true,
                    vec![("retry-after", retry_after)],
                )
                .await?;
                return Ok(true);
            }
        }
        let Some(plan) = &route.fault else {
            return Ok(false);
        };
        let injected = plan.decide(&session.req_header().headers, &mut rand::rng());
        ctx.fault = injected.label();
        if let Some(delay) = injected.delay {
            metrics
                .faults
                .with_label_values(&[&route.name, "delay"])
                .inc();
            tokio::time::sleep(delay.min(ctx.remaining(Instant::now()))).await;
        }
        if let Some(status) = injected.abort {
            metrics
                .faults
                .with_label_values(&[&route.name, "abort"])
                .inc();
            // An injected abort is not the upstream's doing: the breaker's probe slot goes back.
            ctx.release_probes();
            let detail = format!("fault injected by route {} (abort)", route.name);
            let problem = Problem::new(status, detail, ctx.request_id.as_str());
            respond_with(
                session,
                problem,
                &ctx.request_id.value,
                true,
                vec![("x-weir-fault", "abort".to_string())],
            )
            .await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Answer a request the gateway refuses itself (`reason` goes to the access log), closing
    /// the connection: what follows the refused request cannot be trusted to be framed right.
    async fn reject(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        status: u16,
        reason: &'static str,
        detail: String,
        headers: Vec<(&'static str, String)>,
    ) -> Result<()> {
        ctx.rejected = Some(reason);
        tracing::debug!(request_id = %ctx.request_id.as_str(), status, reason, "request refused by the gateway");
        let problem = Problem::new(status, detail, ctx.request_id.as_str());
        respond_with(session, problem, &ctx.request_id.value, false, headers).await
    }

    /// The matched route's rules for the request itself, in order: encoded slashes, the body
    /// cap on a declared length, the path the origin gets, and the headers it may see. Returns
    /// whether the request was answered here.
    async fn apply_request_rules(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        snapshot: &Snapshot,
        route: &RouteEntry,
        normalized: Option<String>,
    ) -> Result<bool> {
        let rules = &route.request;
        let req = session.req_header();
        if rules.encoded_slashes == weir_config::EncodedSlashes::Reject {
            let path = normalized.as_deref().unwrap_or(req.uri.path());
            if path.contains("%2F") || path.contains("%2f") {
                let detail = format!(
                    "route {} does not accept an encoded slash (%2F) in the path",
                    route.name
                );
                self.reject(session, ctx, 400, "path_encoded_slash", detail, Vec::new())
                    .await?;
                return Ok(true);
            }
        }
        if let Some(limit) = rules.max_body_size {
            let declared = req
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            match BodyCap::new(limit, declared) {
                Ok(cap) => ctx.body_cap = Some(cap),
                Err(too_large) => {
                    self.reject(
                        session,
                        ctx,
                        413,
                        "body_too_large",
                        too_large.detail(),
                        Vec::new(),
                    )
                    .await?;
                    return Ok(true);
                }
            }
        }
        let trusted = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .is_some_and(|a| snapshot.client_ip.trusts(a.ip()));
        let req = session.req_header_mut();
        if let Some(normalized) = normalized.filter(|_| !rules.forward_raw_path) {
            let target = path::with_path(req.raw_path(), &normalized);
            req.set_raw_path(&target)?;
        }
        headers::sanitize(req, rules.underscores_in_headers, trusted);
        Ok(false)
    }

    /// Whether to retry after `failure`: the route's policy, then the upstream's budget. Counts
    /// the retry, or the refusal of a retry that was otherwise wanted.
    fn decide_retry(&self, session: &Session, ctx: &RequestCtx, failure: Failure) -> bool {
        let (Some(route), Some(deadline)) = (&ctx.route, ctx.deadline) else {
            return false;
        };
        let upstream = &route.upstream;
        let metrics = &self.gateway.metrics;
        let now = Instant::now();
        let request = retry::Request {
            idempotent: session.req_header().method.is_idempotent(),
            body_replayable: !session.as_ref().retry_buffer_truncated(),
            attempts: ctx.tried.len() as u32,
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
                tracing::debug!(request_id = %ctx.request_id.as_str(), upstream = %upstream.name, endpoint = %ctx.endpoint_label(), reason = failure.label(), attempt = ctx.tried.len(), "retrying");
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
            tracing::debug!(request_id = %ctx.request_id.as_str(), upstream = %upstream.name, reason = refusal.label(), "not retrying");
        }
        false
    }
}

#[async_trait]
impl ProxyHttp for WeirProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            snapshot: None,
            route: None,
            request_id: RequestId {
                value: HeaderValue::from_static(""),
                from_client: false,
            },
            new_traceparent: None,
            tried: Vec::new(),
            attempt: None,
            last_pool: None,
            mode: PickMode::Normal,
            upstream_time: None,
            last_failure_was_connect: false,
            client_ip: None,
            rate_limit_header: None,
            limited_by: None,
            deadline: None,
            gateway_permit: None,
            upstream_permit: None,
            connect_permit: None,
            upstream_probe: false,
            shed_by: None,
            shed_retry_after: None,
            fault: None,
            rejected: None,
            body_cap: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        // Until a route sets its deadline, answers are small and must not wait on a client
        // that does not read.
        session.set_write_timeout(Some(UNROUTED_WRITE_TIMEOUT));
        let req = session.req_header();
        {
            let mut rng = rand::rng();
            ctx.request_id = trace_ctx::request_id(req.headers.get("x-request-id"), &mut rng);
            let client_trace = trace_ctx::only(req.headers.get_all("traceparent"));
            ctx.new_traceparent = trace_ctx::traceparent(client_trace, &mut rng);
        }
        let snapshot = self.gateway.snapshot();
        ctx.snapshot = Some(Arc::clone(&snapshot));
        if let Some(refusal) = headers::refuse(req) {
            let extra = match refusal {
                headers::Refusal::Trace => {
                    vec![(
                        "allow",
                        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
                    )]
                }
                headers::Refusal::MissingHost => Vec::new(),
            };
            let detail = refusal.detail().to_string();
            self.reject(
                session,
                ctx,
                refusal.status(),
                refusal.as_str(),
                detail,
                extra,
            )
            .await?;
            return Ok(true);
        }
        // Routes, limits and the origin all see the normalised path.
        let normalized = match normalize_target(req) {
            Ok(normalized) => normalized,
            Err(e) => {
                let detail = e.detail().to_string();
                self.reject(session, ctx, 400, e.as_str(), detail, Vec::new())
                    .await?;
                return Ok(true);
            }
        };
        let host = request_host(req);
        let path = normalized.as_deref().unwrap_or(req.uri.path());
        match snapshot.router.find(host, path) {
            Some(route) => {
                let route = Arc::clone(route);
                ctx.route = Some(Arc::clone(&route));
                if self
                    .apply_request_rules(session, ctx, &snapshot, &route, normalized)
                    .await?
                {
                    return Ok(true);
                }
                let refused = if route.limits.is_empty() {
                    false
                } else {
                    let client_ip = client_ip(session, &snapshot);
                    ctx.client_ip = Some(client_ip);
                    let facts = RequestFacts {
                        client_ip,
                        headers: &session.req_header().headers,
                        route: &route.name,
                    };
                    let verdict = ratelimit::check(
                        &route.limits,
                        &facts,
                        ratelimit::clock::now(),
                        snapshot.redis.as_deref(),
                    )
                    .await;
                    self.apply_verdict(session, ctx, verdict).await?
                };
                ctx.deadline = Some(ctx.started + route.timeout);
                // The deadline bounds writing the answer too (plus a grace for the last bytes).
                session
                    .set_write_timeout(Some(route.timeout.saturating_add(DOWNSTREAM_WRITE_GRACE)));
                let answered = refused
                    || self
                        .resilience_filter(session, ctx, &snapshot, &route)
                        .await?;
                if !answered {
                    route
                        .upstream
                        .guard
                        .budget
                        .record_request(&route.upstream.retry_budget, Instant::now());
                }
                Ok(answered)
            }
            None if snapshot.awaiting_config() => {
                let detail = "this gateway has not received its config from the control plane \
                              yet"
                .to_string();
                respond_with(
                    session,
                    Problem::new(503, detail, ctx.request_id.as_str()),
                    &ctx.request_id.value,
                    true,
                    vec![("retry-after", "1".to_string())],
                )
                .await?;
                Ok(true)
            }
            None => {
                let detail = format!(
                    "no route matches host \"{}\" and path \"{}\"",
                    problem::echo(host),
                    problem::echo(path)
                );
                respond(
                    session,
                    Problem::new(404, detail, ctx.request_id.as_str()),
                    &ctx.request_id.value,
                    true,
                )
                .await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let (Some(cap), Some(chunk)) = (ctx.body_cap.as_mut(), body.as_ref())
            && let Err(too_large) = cap.add(chunk.len())
        {
            ctx.rejected = Some("body_too_large");
            return Error::e_explain(BODY_TOO_LARGE, too_large.detail());
        }
        // A body trickled in holds the request's slots too: the deadline bounds it.
        if ctx.deadline.is_some_and(|d| Instant::now() > d) {
            ctx.rejected = Some("body_too_slow");
            return Error::e_explain(
                BODY_TOO_SLOW,
                "the request body was still arriving at the route's deadline",
            );
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx.route.clone().ok_or_else(|| {
            Error::explain(ErrorType::InternalError, "upstream_peer without a route")
        })?;
        let upstream = &route.upstream;
        if !ctx.tried.is_empty() {
            let wait = backoff(
                ctx.tried.len() as u32,
                route.retry.backoff,
                route.retry.max_backoff,
                &mut rand::rng(),
            )
            .min(ctx.remaining(Instant::now()));
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let now = Instant::now();
        let remaining = ctx.remaining(now);
        if remaining.is_zero() {
            ctx.count_timeout(&self.gateway.metrics, "deadline", now);
            return Err(Error::explain(
                DEADLINE_EXCEEDED,
                format!(
                    "upstream {} did not answer within the route's {:?} deadline ({} attempts)",
                    upstream.name,
                    route.timeout,
                    ctx.tried.len()
                ),
            ));
        }
        match upstream
            .guard
            .bulkhead
            .try_connect(upstream.bulkhead.max_pending_connects)
        {
            Ok(permit) => ctx.connect_permit = Some(permit),
            Err(_) => {
                let shedding = &ctx
                    .snapshot
                    .as_ref()
                    .map_or(1, |s| s.config.load_shedding.retry_after.as_secs().max(1));
                self.gateway
                    .metrics
                    .shed
                    .with_label_values(&["connect", route.priority.as_str()])
                    .inc();
                ctx.shed_by = Some(ShedBy::Connect);
                ctx.shed_retry_after = Some(*shedding);
                return Err(Error::explain(
                    CONNECTS_FULL,
                    format!(
                        "too many connection attempts to upstream {} are under way; retry after {shedding} s",
                        upstream.name
                    ),
                ));
            }
        }
        let pick = {
            let mut rng = rand::rng();
            balance::pick(upstream, &ctx.tried, now, &mut rng).or_else(|| {
                // A mid-exchange failure is no proof the endpoint is down; after one, an endpoint
                // already tried may serve the retry. After connect failures, do not go round again.
                (!ctx.tried.is_empty() && !ctx.last_failure_was_connect)
                    .then(|| balance::pick(upstream, &[], now, &mut rng))
                    .flatten()
            })
        };
        let Some(pick) = pick else {
            return Err(if ctx.last_failure_was_connect {
                Error::explain(
                    ALL_CONNECTS_FAILED,
                    format!(
                        "could not connect to upstream {} ({} attempts, no endpoint left to try)",
                        upstream.name,
                        ctx.tried.len()
                    ),
                )
            } else {
                Error::explain(
                    NO_ENDPOINT,
                    format!(
                        "no endpoint of upstream {} can take the request",
                        upstream.name
                    ),
                )
            });
        };
        let pool = &upstream.pools[pick.pool];
        match pick.mode {
            PickMode::Panic => upstream.panic_routing.inc(),
            PickMode::Spill => pool.spill_routing.inc(),
            PickMode::Normal => {}
        }
        let endpoint = &pool.endpoints[pick.endpoint];
        ctx.mode = pick.mode;
        ctx.last_pool = Some(pick.pool);
        ctx.tried.push(Arc::clone(endpoint));
        let (admission, transition) = endpoint.breaker.admit(&upstream.breaker, now);
        if let Some(t) = transition {
            let request_id = ctx.request_id.as_str();
            breaker_transition(
                &self.gateway.metrics,
                upstream,
                Some(endpoint),
                t,
                request_id,
            );
        }
        let probe = admission == BreakerAdmission::Probe;
        ctx.attempt = Some(Attempt {
            pool: pick.pool,
            in_flight: endpoint.start_request(),
            sent_at: now,
            probe,
            in_flight_at_start: upstream.guard.bulkhead.in_flight(),
            reported: false,
        });
        // Every wait of the attempt ends by the deadline at the latest.
        let mut peer = HttpPeer::new(endpoint.key.addr, false, String::new());
        peer.options.connection_timeout = Some(route.connect_timeout.min(remaining));
        peer.options.read_timeout = Some(route.read_timeout.min(remaining));
        peer.options.write_timeout = Some(route.read_timeout.min(remaining));
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        _fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.connect_permit = None;
        // Latency is measured from here, so connection set-up does not count as slowness.
        if let Some(attempt) = ctx.attempt.as_mut() {
            attempt.sent_at = Instant::now();
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let trusted = peer
            .zip(ctx.snapshot.as_ref())
            .is_some_and(|(peer, s)| s.client_ip.trusts(peer));
        let client = ctx.client_ip.or_else(|| {
            let snapshot = ctx.snapshot.as_ref()?;
            Some(client_ip(session, snapshot))
        });
        let endpoint = ctx.tried.last().map_or("", |e| e.label.as_str());
        headers::forward(
            upstream_request,
            &headers::Forwarding {
                request_id: &ctx.request_id.value,
                traceparent: ctx.new_traceparent.as_ref(),
                peer,
                client,
                trusted,
                endpoint,
            },
        )
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let now = Instant::now();
        if let (Some(attempt), Some(route)) = (&ctx.attempt, &ctx.route) {
            let elapsed = now.saturating_duration_since(attempt.sent_at);
            attempt.in_flight.endpoint().observe_latency(elapsed, now);
            route.upstream.pools[attempt.pool]
                .upstream_duration
                .observe(elapsed.as_secs_f64());
            ctx.upstream_time = Some(elapsed);
        }
        let upgrade_requested = session
            .req_header()
            .headers
            .contains_key(http::header::UPGRADE);
        let unsolicited = response::is_unsolicited_upgrade(response, upgrade_requested);
        response::strip_length_of_bodiless(response);
        let outcome = if response.status.is_server_error() || unsolicited {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        // The in-flight slot is held until the body is done (released in `logging`).
        ctx.report(outcome, now, &self.gateway.metrics);
        if unsolicited {
            return Error::e_explain(
                UNSOLICITED_UPGRADE,
                "the upstream switched protocols (101) although the request asked for no upgrade",
            );
        }
        let code = response.status.as_u16();
        let retryable_status = ctx
            .route
            .as_ref()
            .is_some_and(|r| r.retry.statuses.contains(&code));
        // Decided here, before anything reaches the client; the budget is already charged, so
        // `error_while_proxy` only passes the decision on.
        if retryable_status && self.decide_retry(session, ctx, Failure::Status(code)) {
            let mut e = Error::explain(
                RETRY_STATUS,
                format!("upstream answered {code}; retrying on another endpoint"),
            );
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if end_of_stream {
            // The upstream is done with this request: its bulkhead slot and the endpoint's
            // in-flight count go back now, before the client has read the last of it.
            ctx.upstream_permit = None;
            ctx.attempt = None;
            return Ok(None);
        }
        // The deadline covers the body too; a response still streaming past it is cut.
        let now = Instant::now();
        if ctx.deadline.is_some_and(|d| now > d) {
            ctx.count_timeout(&self.gateway.metrics, "deadline", now);
            return Error::e_explain(
                DEADLINE_EXCEEDED,
                "the response body was still streaming at the route's deadline",
            );
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        response.insert_header("x-request-id", ctx.request_id.value.clone())?;
        if let Some(state) = ctx.rate_limit_header.take() {
            response.insert_header("ratelimit", state)?;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        // Each write to the client must end by the deadline (plus a grace): a client that does
        // not read cannot hold the request, its slots and its upstream connection for longer.
        if ctx.deadline.is_some() {
            let left = ctx
                .remaining(Instant::now())
                .saturating_add(DOWNSTREAM_WRITE_GRACE);
            session.set_write_timeout(Some(left));
        }
        Ok(None)
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // `logging` records the failure with the request id (debug log and access log).
        true
    }

    fn suppress_proxy_warn_log(
        &self,
        _session: &Session,
        _ctx: &RequestCtx,
        _error: &Error,
        _context: ProxyWarnLogContext,
    ) -> bool {
        // Retried failures are logged (debug, with the request id) where they are decided.
        true
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let now = Instant::now();
        ctx.connect_permit = None;
        tracing::debug!(request_id = %ctx.request_id.as_str(), endpoint = %ctx.endpoint_label(), side = failure::side(&e).as_str(), error = %e, "could not connect upstream");
        if matches!(e.etype(), ErrorType::ConnectTimedout) {
            ctx.count_timeout(&self.gateway.metrics, "connect", now);
        }
        ctx.end_attempt(Outcome::ConnectFailure, now, &self.gateway.metrics);
        ctx.last_failure_was_connect = true;
        // Nothing was sent, so a connect failure is safe to retry whatever the method.
        let retry = self.decide_retry(session, ctx, Failure::Connect);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let now = Instant::now();
        ctx.last_failure_was_connect = false;
        if e.etype() == &RETRY_STATUS {
            // Decided and counted in `upstream_response_filter`.
            ctx.abandon_attempt();
            return e;
        }
        let side = failure::side(&e);
        tracing::debug!(request_id = %ctx.request_id.as_str(), endpoint = %ctx.endpoint_label(), side = side.as_str(), error = %e, "exchange failed");
        if !side.counts_against_upstream() {
            // The client went away, sent something unusable or did not read, or the gateway
            // ended the exchange: nothing counts against the endpoint, and nothing is retried.
            ctx.abandon_attempt();
            if side == Side::Client && e.etype() == &ErrorType::WriteTimedout {
                ctx.count_timeout(&self.gateway.metrics, "downstream_write", now);
            }
            let mut e = e;
            e.set_retry(false);
            return e;
        }
        ctx.end_attempt(Outcome::Failure, now, &self.gateway.metrics);
        let mut e = e.more_context(format!("peer: {peer}"));
        if failure::is_timeout(e.etype()) {
            ctx.count_timeout(&self.gateway.metrics, "read", now);
        }
        // Never once the response has started: the client already has part of an answer.
        let started = session.response_written().is_some();
        let retry = !started && self.decide_retry(session, ctx, Failure::Reset);
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (code, detail) = describe_failure(e, ctx);
        if code > 0 {
            let problem = Problem::new(code, detail, ctx.request_id.as_str());
            let headers = ctx
                .shed_retry_after
                .map(|secs| vec![("retry-after", secs.to_string())])
                .unwrap_or_default();
            let written =
                respond_with(session, problem, &ctx.request_id.value, false, headers).await;
            if let Err(write_error) = written {
                tracing::debug!(request_id = %ctx.request_id.as_str(), error = %write_error, "could not send error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let now = Instant::now();
        // The exchange is over. An attempt that got no response header failed if the upstream
        // side broke; a client that went away says nothing about the endpoint.
        let side = e.map(failure::side);
        if side.is_some_and(Side::counts_against_upstream) {
            ctx.report(Outcome::Failure, now, &self.gateway.metrics);
        }
        if let (Some(e), Some(side)) = (e, side) {
            tracing::debug!(request_id = %ctx.request_id.as_str(), side = side.as_str(), error = %e, "request failed");
        }
        ctx.release_probes();
        ctx.attempt = None;
        ctx.connect_permit = None;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let duration = now.saturating_duration_since(ctx.started);
        let route = ctx.route.as_deref();
        let route_name = route.map_or("", |r| &*r.name);
        let upstream_name = route.map_or("", |r| &*r.upstream.name);
        let region = ctx.region();
        let metrics = &self.gateway.metrics;
        metrics
            .requests
            .with_label_values(&[route_name, upstream_name, region, status_label(status)])
            .inc();
        if let Some(route) = route {
            route.request_duration.observe(duration.as_secs_f64());
        }
        if !self.gateway.access_log.is_enabled() {
            return;
        }
        let req = session.req_header();
        let log_query = ctx
            .snapshot
            .as_ref()
            .is_none_or(|s| s.config.access_log.query);
        let traceparent = ctx
            .new_traceparent
            .as_ref()
            .map(HeaderValue::as_bytes)
            .or_else(|| trace_ctx::only(req.headers.get_all("traceparent")));
        let tried = ctx.tried.len().saturating_sub(1);
        self.gateway.access_log.write(&AccessEntry {
            time: access_log::now_rfc3339(),
            request_id: ctx.request_id.as_str(),
            client: ctx
                .client_ip
                .or_else(|| ctx.snapshot.as_ref().map(|s| client_ip(session, s)))
                .map(|ip| ip.to_string()),
            peer: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip().to_string()),
            rate_limited_by: ctx.limited_by.as_deref(),
            shed_by: ctx.shed_by.map(ShedBy::as_str),
            fault: ctx.fault,
            priority: route.map_or("", |r| r.priority.as_str()),
            method: req.method.as_str(),
            host: problem::echo(request_host(req)),
            path: problem::echo(req.uri.path()),
            query: req.uri.query().filter(|_| log_query).map(problem::echo),
            http_version: http_version(req.version),
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(problem::echo),
            trace_id: traceparent.and_then(trace_ctx::trace_id),
            tried: EndpointList(&ctx.tried[..tried]),
            rejected: ctx.rejected,
            failure_side: side.map(Side::as_str),
            status,
            route: route_name,
            upstream: upstream_name,
            region,
            endpoint: ctx.endpoint_label(),
            selection: ctx.mode.as_str(),
            attempts: ctx.tried.len() as u32,
            duration_ms: duration.as_secs_f64() * 1e3,
            upstream_ms: ctx.upstream_time.map(|d| d.as_secs_f64() * 1e3),
            bytes: session.body_bytes_sent(),
            config_version: ctx.snapshot.as_ref().map_or(0, |s| s.version),
            error: e.map(|e| e.to_string()),
        });
    }
}

/// The status and detail for a request that could not be proxied.
fn describe_failure(e: &Error, ctx: &RequestCtx) -> (u16, String) {
    let upstream = ctx.route.as_ref().map_or("", |r| &*r.upstream.name);
    let attempts = ctx.tried.len();
    match e.etype() {
        ErrorType::HTTPStatus(code) => (*code, format!("the request failed with status {code}")),
        ErrorType::CustomCode(_, code) => (
            *code,
            e.context.as_ref().map_or_else(
                || "no endpoint can take the request".to_string(),
                |c| c.as_str().to_string(),
            ),
        ),
        ErrorType::ConnectTimedout
        | ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::SocketError
        | ErrorType::BindError
        | ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::HandshakeError => (
            502,
            format!("could not connect to upstream {upstream} ({attempts} attempts)"),
        ),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            let detail = match &ctx.route {
                Some(route) if ctx.remaining(Instant::now()) < Duration::from_millis(1) => format!(
                    "upstream {upstream} did not answer within the route's {:?} deadline ({attempts} attempts)",
                    route.timeout
                ),
                Some(route) => format!(
                    "upstream {upstream} did not answer within the {:?} read timeout ({attempts} attempts)",
                    route.read_timeout
                ),
                None => format!("upstream {upstream} did not answer in time"),
            };
            (504, detail)
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (
                502,
                format!("upstream {upstream} failed while answering ({attempts} attempts)"),
            ),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed => {
                    (0, String::new())
                }
                _ => (400, "the request could not be read".to_string()),
            },
            ErrorSource::Internal | ErrorSource::Unset => {
                (500, "the gateway failed to handle the request".to_string())
            }
        },
    }
}

/// Write a problem response; `keep_alive` keeps the client connection for its next request.
async fn respond(
    session: &mut Session,
    problem: Problem<'_>,
    request_id: &HeaderValue,
    keep_alive: bool,
) -> Result<()> {
    respond_with(session, problem, request_id, keep_alive, Vec::new()).await
}

/// [`respond`] with extra response headers.
async fn respond_with(
    session: &mut Session,
    problem: Problem<'_>,
    request_id: &HeaderValue,
    keep_alive: bool,
    headers: Vec<(&'static str, String)>,
) -> Result<()> {
    let (mut header, body) = problem.into_response()?;
    header.insert_header("x-request-id", request_id.clone())?;
    for (name, value) in headers {
        header.insert_header(name, value)?;
    }
    if keep_alive {
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session.write_response_body(Some(body), true).await?;
        Ok(())
    } else {
        session
            .as_downstream_mut()
            .write_error_response(header, body)
            .await
    }
}

/// The normal form of the request's path when it differs from the path as sent (`None` when it
/// is already normal, or the target has no path: `*`, CONNECT).
fn normalize_target(req: &RequestHeader) -> std::result::Result<Option<String>, path::PathError> {
    if !path::has_path(req.raw_path(), req.method == http::Method::CONNECT)? {
        return Ok(None);
    }
    Ok(match path::normalize(req.uri.path())? {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(normalized) => Some(normalized),
    })
}

/// The client address under the snapshot's `[client_ip]` rules.
fn client_ip(session: &Session, snapshot: &Snapshot) -> std::net::IpAddr {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.ip());
    snapshot
        .client_ip
        .resolve(peer, &session.req_header().headers)
}

/// The request's host: the URI authority (HTTP/2, absolute-form) or the `Host` header.
fn request_host(req: &RequestHeader) -> &str {
    req.uri
        .host()
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
}

/// The request's HTTP version as the access log spells it.
fn http_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "other",
    }
}

/// A status code as a metric label, without allocating per request.
fn status_label(status: u16) -> &'static str {
    static LABELS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600).map(|code| code.to_string()).collect());
    labels
        .get(usize::from(status))
        .map_or("other", String::as_str)
}
