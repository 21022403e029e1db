//! The Pingora `ProxyHttp` implementation, the only code that sees a Pingora `Session`. Each hook
//! is a short, ordered list of steps, each a call into a plain module: `request/` (the request's
//! own rules, admission, its attempts at the upstream, the gateway's answers), the router, rate
//! limits, trace context. What stays here is reading the session and writing to it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, ProxyWarnLogContext, Session};
use pingora::{Error, ErrorType, Result};

use crate::access_log::{self, AccessEntry, EndpointList};
use crate::header_values::{TRACEPARENT, X_REQUEST_ID};
use crate::problem;
use crate::ratelimit;
use crate::ratelimit::key::RequestFacts;
use crate::request::admission::{self, ShedBy};
use crate::request::answer::{self, Answer};
use crate::request::attempt::{self, Attempts, NotStarted, Resend, Target, TimedOut};
use crate::request::body::BodyCap;
use crate::request::failure::{self, Side};
use crate::request::{headers, path, redirect, response, target};
use crate::resilience::bulkhead::Permit;
use crate::resilience::retry::Failure;
use crate::runtime::RouteEntry;
use crate::snapshot::Snapshot;
use crate::state::Gateway;
use crate::tls::Sni;
use crate::tls::acme::{ChallengeReply, Challenges};
use crate::trace_ctx::{self, RequestId};
use http::HeaderValue;

/// Concurrent streams per HTTP/2 connection to an upstream (Pingora opens another connection
/// past it).
const UPSTREAM_H2_STREAMS: usize = 100;
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
    /// The HTTP-01 tokens of ACME orders in progress; `None` without `[[tls.acme]]` (then no
    /// request pays for the check).
    pub acme: Option<Arc<Challenges>>,
}

/// Per-request state: the snapshot loaded once, the route and the attempts made at its
/// upstream, the slots held, and what the access log reports.
pub struct RequestCtx {
    started: Instant,
    snapshot: Option<Arc<Snapshot>>,
    request_id: RequestId,
    /// A trace started here, to send upstream; `None` passes the client's through.
    new_traceparent: Option<HeaderValue>,
    /// The route, its deadline and the attempts made at its upstream.
    attempts: Attempts,
    /// The client address (`[client_ip]` rules), once something needed it.
    client_ip: Option<std::net::IpAddr>,
    /// `RateLimit` for an admitted response.
    rate_limit_header: Option<String>,
    /// The policy that refused the request, for the access log.
    limited_by: Option<Arc<str>>,
    /// The gateway-wide in-flight slot, held until the request is over.
    gateway_permit: Option<Permit>,
    /// The upstream's in-flight (bulkhead) slot, held until the upstream is done with the
    /// request (its response read to the end) or the request is over.
    upstream_permit: Option<Permit>,
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
    /// The client spoke TLS to the gateway (read once from the session's digest).
    client_tls: bool,
}

impl WeirProxy {
    /// The route's rate limits: an admitted request notes the `RateLimit` header its response
    /// gets; a refused one gets its answer (429, or 503 when the store is away and the policy
    /// denies).
    async fn rate_limit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        snapshot: &Snapshot,
        route: &RouteEntry,
    ) -> Option<Answer> {
        if route.limits.is_empty() {
            return None;
        }
        let client_ip = client_ip(session, snapshot);
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
        match verdict {
            ratelimit::Verdict::Admitted { header } => {
                ctx.rate_limit_header = header;
                None
            }
            ratelimit::Verdict::Limited {
                policy,
                retry_after,
                reset,
            } => {
                let (policy_header, state, seconds) = policy.limited_headers(retry_after, reset);
                tracing::debug!(request_id = %ctx.request_id.as_str(), policy = %policy.name, retry_after_s = seconds, "rate limited");
                ctx.limited_by = Some(Arc::clone(&policy.name));
                Some(answer::rate_limited(
                    &policy.name,
                    seconds,
                    policy_header,
                    state,
                ))
            }
            ratelimit::Verdict::StoreDenied { policy } => {
                ctx.limited_by = Some(Arc::clone(&policy.name));
                Some(answer::store_unavailable(&policy.name))
            }
        }
    }

    /// Admission: a slot under the gateway-wide cap, one under the upstream's bulkhead, then the
    /// upstream's breaker. A refusal is counted, logged and answered (503, `Retry-After`).
    fn admit(
        &self,
        ctx: &mut RequestCtx,
        snapshot: &Snapshot,
        route: &RouteEntry,
    ) -> Option<Answer> {
        let metrics = &self.gateway.metrics;
        let upstream = &route.upstream;
        let shedding = &snapshot.config.fleet.load_shedding;
        let now = Instant::now();
        let refused = match admission::admit(
            &self.gateway.in_flight,
            upstream,
            route.priority,
            shedding,
            now,
        ) {
            Ok(admitted) => {
                ctx.gateway_permit = Some(admitted.gateway_permit);
                ctx.upstream_permit = Some(admitted.upstream_permit);
                let (probe, transition) = (admitted.upstream_probe, admitted.transition);
                ctx.attempts
                    .admitted(probe, transition, &ctx.request_id, metrics);
                return None;
            }
            Err(refused) => refused,
        };
        match refused.by {
            ShedBy::CircuitBreaker => metrics
                .breaker_rejections
                .with_label_values(&[&upstream.name])
                .inc(),
            by => metrics
                .shed
                .with_label_values(&[by.as_str(), route.priority.as_str()])
                .inc(),
        }
        tracing::debug!(request_id = %ctx.request_id.as_str(), route = %route.name, shed_by = refused.by.as_str(), priority = route.priority.as_str(), "request refused");
        ctx.shed_by = Some(refused.by);
        Some(answer::shed(refused, &upstream.name, route.priority))
    }

    /// The route's fault plan, for the requests it covers: a delay (never past the deadline),
    /// then perhaps an abort, answered with its status.
    async fn inject_fault(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        route: &RouteEntry,
    ) -> Option<Answer> {
        let plan = route.fault.as_ref()?;
        let metrics = &self.gateway.metrics;
        let injected = plan.decide(&session.req_header().headers, &mut rand::rng());
        ctx.fault = injected.label();
        if let Some(delay) = injected.delay {
            metrics
                .faults
                .with_label_values(&[&route.name, "delay"])
                .inc();
            tokio::time::sleep(delay.min(ctx.attempts.remaining(Instant::now()))).await;
        }
        let status = injected.abort?;
        metrics
            .faults
            .with_label_values(&[&route.name, "abort"])
            .inc();
        // An injected abort is not the upstream's doing: the breaker's probe slot goes back.
        ctx.attempts.release_probes();
        Some(answer::fault_abort(&route.name, status))
    }

    /// A TLS connection to the attempt's endpoint failed: counted by reason, and logged at warn
    /// with the endpoint and rustls's reason.
    fn tls_failed(&self, ctx: &RequestCtx, reason: &'static str, e: &Error) {
        let upstream = ctx.attempts.route().map_or("", |r| &*r.upstream.name);
        let region = ctx.attempts.region();
        self.gateway
            .metrics
            .upstream_tls_failures
            .with_label_values(&[upstream, region, reason])
            .inc();
        tracing::warn!(request_id = %ctx.request_id.as_str(), upstream, region, endpoint = %ctx.attempts.endpoint_label(), reason, error = %e, "TLS to the upstream failed");
    }

    /// The error for an attempt that could not start; its context is the answer's detail.
    fn not_started(&self, ctx: &mut RequestCtx, why: NotStarted) -> Box<Error> {
        let tried = ctx.attempts.tried().len();
        let (upstream, timeout) = ctx
            .attempts
            .route()
            .map_or(("", Duration::ZERO), |r| (&*r.upstream.name, r.timeout));
        match why {
            NotStarted::Unrouted => {
                Error::explain(ErrorType::InternalError, "upstream_peer without a route")
            }
            NotStarted::DeadlinePassed => Error::explain(
                DEADLINE_EXCEEDED,
                answer::deadline_exceeded(upstream, timeout, tried),
            ),
            NotStarted::ConnectsFull => {
                let retry_after = ctx.snapshot.as_ref().map_or(1, |s| {
                    s.config.fleet.load_shedding.retry_after.as_secs().max(1)
                });
                ctx.shed_by = Some(ShedBy::Connect);
                ctx.shed_retry_after = Some(retry_after);
                Error::explain(CONNECTS_FULL, answer::connects_full(upstream, retry_after))
            }
            NotStarted::AllConnectsFailed => Error::explain(
                ALL_CONNECTS_FAILED,
                answer::all_connects_failed(upstream, tried),
            ),
            NotStarted::NoEndpoint => Error::explain(NO_ENDPOINT, answer::no_endpoint(upstream)),
        }
    }
}

#[async_trait]
impl ProxyHttp for WeirProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            snapshot: None,
            request_id: RequestId {
                value: HeaderValue::from_static(""),
                from_client: false,
            },
            new_traceparent: None,
            attempts: Attempts::new(),
            client_ip: None,
            rate_limit_header: None,
            limited_by: None,
            gateway_permit: None,
            upstream_permit: None,
            shed_by: None,
            shed_retry_after: None,
            fault: None,
            rejected: None,
            body_cap: None,
            client_tls: false,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        // Until a route sets its deadline, answers are small and must not wait on a client
        // that does not read.
        session.set_write_timeout(Some(UNROUTED_WRITE_TIMEOUT));
        // 1. The request id, the trace to send upstream, and whether the client used TLS.
        identify(ctx, session.req_header());
        ctx.client_tls = over_tls(session);
        // 1b. An ACME CA fetching an HTTP-01 token, before any routing.
        if let Some(challenges) = &self.acme
            && let Some(reply) = challenges.answer(session.req_header().uri.path())
        {
            return acme_challenge(session, ctx, reply).await;
        }
        // 2. One config version for the whole request.
        let snapshot = self.gateway.snapshot();
        ctx.snapshot = Some(Arc::clone(&snapshot));
        // 3. Refusals before routing, the normalised path (routes, limits and the origin all
        //    see it), the route.
        let (route, normalized) = match find_route(ctx, session.req_header(), &snapshot) {
            Ok(found) => found,
            Err(answer) => return answered(session, ctx, answer).await,
        };
        // 3b. Plain HTTP on a route served over HTTPS only: 308 to the same URL on HTTPS.
        if route.redirect_https && !ctx.client_tls {
            let answer = redirect_https(ctx, session.req_header(), route, normalized.as_deref());
            return answered(session, ctx, answer).await;
        }
        // 4. The route's rules for the request itself.
        if let Some(answer) = apply_request_rules(session, ctx, &snapshot, route, normalized)? {
            return answered(session, ctx, answer).await;
        }
        // 5. Rate limits.
        let limited = match self.rate_limit(session, ctx, &snapshot, route).await {
            Some(answer) => {
                send(session, answer, &ctx.request_id).await?;
                true
            }
            None => false,
        };
        // 6. The deadline, which bounds writing the answer too (plus a grace for the last bytes).
        ctx.attempts.start_clock(ctx.started);
        session.set_write_timeout(Some(route.timeout.saturating_add(DOWNSTREAM_WRITE_GRACE)));
        if limited {
            return Ok(true);
        }
        // 7. Admission: the gateway's cap, the upstream's bulkhead and breaker.
        if let Some(answer) = self.admit(ctx, &snapshot, route) {
            return answered(session, ctx, answer).await;
        }
        // 8. Faults: a delay, an abort.
        if let Some(answer) = self.inject_fault(session, ctx, route).await {
            return answered(session, ctx, answer).await;
        }
        // 9. On its way upstream: the request adds to the upstream's retry budget.
        let upstream = &route.upstream;
        upstream
            .guard
            .budget
            .record_request(&upstream.retry_budget, Instant::now());
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // 1. The route's body cap.
        if let (Some(cap), Some(chunk)) = (ctx.body_cap.as_mut(), body.as_ref())
            && let Err(too_large) = cap.add(chunk.len())
        {
            ctx.rejected = Some("body_too_large");
            return Error::e_explain(BODY_TOO_LARGE, too_large.detail());
        }
        // 2. A body trickled in holds the request's slots too: the deadline bounds it.
        if ctx.attempts.deadline().is_some_and(|d| Instant::now() > d) {
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
        let metrics = &self.gateway.metrics;
        // 1. After a failed attempt, a full-jitter backoff, never past the deadline.
        if ctx.attempts.is_retry() {
            let wait = ctx.attempts.backoff(Instant::now(), &mut rand::rng());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let now = Instant::now();
        // 2. The deadline: past it, 504.
        let remaining = ctx
            .attempts
            .time_left(now, metrics)
            .map_err(|why| self.not_started(ctx, why))?;
        // 3. A slot under `max_pending_connects` until connected: none free, 503.
        ctx.attempts
            .hold_connect_slot(metrics)
            .map_err(|why| self.not_started(ctx, why))?;
        // 4. An endpoint this request has not tried, admitted by its breaker.
        let target = ctx
            .attempts
            .start(remaining, now, &mut rand::rng(), &ctx.request_id, metrics)
            .map_err(|why| self.not_started(ctx, why))?;
        // 5. The peer, every wait of the attempt bounded by the deadline.
        Ok(peer(target))
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
        ctx.attempts.connected(Instant::now());
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
        headers::forward(
            upstream_request,
            &headers::Forwarding {
                request_id: &ctx.request_id.value,
                traceparent: ctx.new_traceparent.as_ref(),
                peer,
                client,
                trusted,
                endpoint: ctx.attempts.endpoint_label(),
                client_tls: ctx.client_tls,
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
        let metrics = &self.gateway.metrics;
        // 1. What the gateway corrects or refuses in the origin's header.
        let upgrade_requested = session
            .req_header()
            .headers
            .contains_key(http::header::UPGRADE);
        let unsolicited = response::is_unsolicited_upgrade(response, upgrade_requested);
        response::strip_length_of_bodiless(response);
        // 2. Latency and outcome go to the endpoint; its in-flight slot is held until the body
        //    is done.
        let outcome = attempt::outcome(response.status.as_u16(), unsolicited);
        ctx.attempts
            .answered(outcome, now, &ctx.request_id, metrics);
        if unsolicited {
            return Error::e_explain(
                UNSOLICITED_UPGRADE,
                "the upstream switched protocols (101) although the request asked for no upgrade",
            );
        }
        // 3. A retryable status is decided here, before anything reaches the client; the
        //    budget is already charged, so `error_while_proxy` only passes the decision on.
        let code = response.status.as_u16();
        if ctx.attempts.is_retryable_status(code)
            && ctx.attempts.retry(
                Failure::Status(code),
                resend(session),
                now,
                &ctx.request_id,
                metrics,
            )
        {
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
            ctx.attempts.upstream_done();
            return Ok(None);
        }
        // The deadline covers the body too; a response still streaming past it is cut.
        if ctx
            .attempts
            .body_past_deadline(Instant::now(), &self.gateway.metrics)
        {
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
        // `x-request-id`, `ratelimit`, HSTS: room for all three at once.
        response.reserve(3);
        response.insert_header("x-request-id", ctx.request_id.value.clone())?;
        if let Some(state) = ctx.rate_limit_header.take() {
            response.insert_header("ratelimit", state)?;
        }
        // HSTS only over HTTPS (RFC 6797 §7.2: a browser ignores it on plain HTTP).
        if ctx.client_tls
            && let Some(hsts) = ctx.attempts.route().and_then(|r| r.hsts.as_ref())
        {
            response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
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
        if ctx.attempts.deadline().is_some() {
            let left = ctx
                .attempts
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
        tracing::debug!(request_id = %ctx.request_id.as_str(), endpoint = %ctx.attempts.endpoint_label(), side = failure::side(&e).as_str(), error = %e, "could not connect upstream");
        // 1. A TLS failure is counted by reason and logged where an operator sees it (a
        //    certificate that fails verification is a setup problem, not a blip).
        if let Some(reason) = failure::tls_failure(&e) {
            self.tls_failed(ctx, reason, &e);
        }
        // 2. The endpoint is blamed; nothing was sent, so a retry is safe whatever the method.
        let retry = ctx.attempts.connect_failed(
            timed_out(e.etype()),
            resend(session),
            now,
            &ctx.request_id,
            &self.gateway.metrics,
        );
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        mut e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let now = Instant::now();
        if e.etype() == &RETRY_STATUS {
            // Decided and counted in `upstream_response_filter`.
            ctx.attempts.status_retried();
            return e;
        }
        // 1. Whose failure it is; a TLS endpoint's alert (a refused client certificate arrives
        //    after the handshake in TLS 1.3) is counted and logged like a handshake failure.
        let side = failure::side(&e);
        if side.counts_against_upstream()
            && ctx.attempts.over_tls()
            && let Some(reason) = failure::tls_alert(&e)
        {
            self.tls_failed(ctx, reason, &e);
        }
        tracing::debug!(request_id = %ctx.request_id.as_str(), endpoint = %ctx.attempts.endpoint_label(), side = side.as_str(), error = %e, "exchange failed");
        // 2. Only the upstream's counts against the endpoint and may be retried, never once the
        //    response has started (the client already has part of an answer).
        let started = session.response_written().is_some();
        let retry = ctx.attempts.exchange_failed(
            side,
            timed_out(e.etype()),
            (!started).then(|| resend(session)),
            now,
            &ctx.request_id,
            &self.gateway.metrics,
        );
        if side.counts_against_upstream() {
            e = e.more_context(format!("peer: {peer}"));
        }
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (code, answer) = answer::failed(e, &ctx.attempts, ctx.shed_retry_after, Instant::now());
        if let Some(answer) = answer
            && let Err(write_error) = send(session, answer, &ctx.request_id).await
        {
            tracing::debug!(request_id = %ctx.request_id.as_str(), error = %write_error, "could not send error response");
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let now = Instant::now();
        let metrics = &self.gateway.metrics;
        // 1. The exchange is over. An attempt that got no response header failed if the
        //    upstream side broke; a client that went away says nothing about the endpoint.
        //    Probe slots nothing reported go back.
        let side = e.map(failure::side);
        let upstream_failed = side.is_some_and(Side::counts_against_upstream);
        ctx.attempts
            .request_over(upstream_failed, now, &ctx.request_id, metrics);
        if let (Some(e), Some(side)) = (e, side) {
            tracing::debug!(request_id = %ctx.request_id.as_str(), side = side.as_str(), error = %e, "request failed");
        }
        // 2. Metrics.
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let duration = now.saturating_duration_since(ctx.started);
        let route = ctx.attempts.route();
        let labels = Labels {
            route: route.map_or("", |r| &*r.name),
            upstream: route.map_or("", |r| &*r.upstream.name),
            region: ctx.attempts.region(),
        };
        metrics
            .requests
            .with_label_values(&[
                labels.route,
                labels.upstream,
                labels.region,
                status_label(status),
            ])
            .inc();
        if let Some(route) = route {
            route.request_duration.observe(duration.as_secs_f64());
        }
        // 3. The access log.
        if self.gateway.access_log.is_enabled() {
            let entry = access_entry(session, ctx, labels, e, side, status, duration);
            self.gateway.access_log.write(&entry);
        }
    }
}

/// The request's id (the client's when sane) and the trace to send upstream.
fn identify(ctx: &mut RequestCtx, req: &RequestHeader) {
    let mut rng = rand::rng();
    ctx.request_id = trace_ctx::request_id(req.headers.get(&X_REQUEST_ID), &mut rng);
    let client_trace = trace_ctx::only(req.headers.get_all(&TRACEPARENT));
    ctx.new_traceparent = trace_ctx::traceparent(client_trace, &mut rng);
}

/// What is refused before routing, the normal form of the path, then the route; with the normal
/// path when it differs from the path as sent. An unrouted request gets its answer.
fn find_route<'s>(
    ctx: &mut RequestCtx,
    req: &RequestHeader,
    snapshot: &'s Snapshot,
) -> std::result::Result<(&'s RouteEntry, Option<String>), Answer> {
    if let Some(refusal) = headers::refuse(req) {
        return Err(reject(
            ctx,
            refusal.as_str(),
            answer::refused_request(refusal),
        ));
    }
    let normalized = target::normalized_path(req)
        .map_err(|e| reject(ctx, e.as_str(), Answer::close(400, e.detail().to_string())))?;
    let host = target::host(req);
    let path = normalized.as_deref().unwrap_or(req.uri.path());
    match snapshot.router.find(host, path) {
        Some(route) => {
            ctx.attempts.routed(Arc::clone(route));
            Ok((route, normalized))
        }
        None if snapshot.awaiting_config() => Err(answer::awaiting_config()),
        None => Err(answer::no_route(host, path)),
    }
}

/// The matched route's rules for the request itself, in order: encoded slashes, the body cap on
/// a declared length, the path the origin gets, and the headers it may see. A refused request
/// gets its answer.
fn apply_request_rules(
    session: &mut Session,
    ctx: &mut RequestCtx,
    snapshot: &Snapshot,
    route: &RouteEntry,
    normalized: Option<String>,
) -> Result<Option<Answer>> {
    let rules = &route.request;
    let req = session.req_header();
    if rules.encoded_slashes == weir_config::EncodedSlashes::Reject {
        let path = normalized.as_deref().unwrap_or(req.uri.path());
        if target::has_encoded_slash(path) {
            let answer = answer::encoded_slash(&route.name);
            return Ok(Some(reject(ctx, "path_encoded_slash", answer)));
        }
    }
    if let Some(limit) = rules.max_body_size {
        match BodyCap::new(limit, target::declared_length(req)) {
            Ok(cap) => ctx.body_cap = Some(cap),
            Err(too_large) => {
                let answer = Answer::close(413, too_large.detail());
                return Ok(Some(reject(ctx, "body_too_large", answer)));
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
    Ok(None)
}

/// A request the gateway refuses itself: `reason` goes to the access log, and the answer closes
/// the connection (what follows the refused request cannot be trusted to be framed right).
fn reject(ctx: &mut RequestCtx, reason: &'static str, answer: Answer) -> Answer {
    ctx.rejected = Some(reason);
    tracing::debug!(request_id = %ctx.request_id.as_str(), status = answer.status, reason, "request refused by the gateway");
    answer
}

/// An HTTP-01 token's key authorization as plain text, or a 404 problem for a token no order
/// waits for.
async fn acme_challenge(
    session: &mut Session,
    ctx: &mut RequestCtx,
    reply: ChallengeReply,
) -> Result<bool> {
    ctx.rejected = Some("acme_challenge");
    let key_authorization = match reply {
        ChallengeReply::Found(key_authorization) => key_authorization,
        ChallengeReply::Unknown => {
            let answer = Answer::keep(404, "no ACME challenge waits for this token".into());
            return answered(session, ctx, answer).await;
        }
    };
    let mut header = ResponseHeader::build(200, Some(2))?;
    header.insert_header("content-type", "text/plain")?;
    header.insert_header("content-length", key_authorization.len().to_string())?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session
        .write_response_body(Some(key_authorization.into()), true)
        .await?;
    Ok(true)
}

/// [`send`] the answer; the request is answered.
async fn answered(session: &mut Session, ctx: &RequestCtx, answer: Answer) -> Result<bool> {
    send(session, answer, &ctx.request_id).await?;
    Ok(true)
}

/// Write an answer the gateway made itself: one kept alive as a normal response, one that closes
/// the connection as Pingora's error response.
async fn send(session: &mut Session, answer: Answer, request_id: &RequestId) -> Result<()> {
    let keep_alive = answer.keep_alive;
    let (header, body) = answer.into_response(request_id)?;
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

/// The Pingora peer for an attempt. A plain-text HTTP/1.1 pool costs nothing more than it did
/// before pools could speak TLS: no name is made and no reference taken.
fn peer(target: Target) -> Box<HttpPeer> {
    let sni = match &target.tls {
        None => String::new(),
        // Pingora skips verification for an empty SNI; without the pool's `sni`, the DNS name
        // the endpoint was resolved from, else its address is the name verified (IP SAN), and
        // rustls sends no SNI for an address.
        Some(tls) => tls
            .sni
            .clone()
            .or_else(|| target.server_name.as_deref().map(str::to_owned))
            .unwrap_or_else(|| target.addr.ip().to_string()),
    };
    let mut peer = HttpPeer::new(target.addr, target.tls.is_some(), sni);
    peer.options.connection_timeout = Some(target.connect_timeout);
    peer.options.read_timeout = Some(target.read_timeout);
    peer.options.write_timeout = Some(target.read_timeout);
    peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
    if let Some(tls) = target.tls {
        peer.options.verify_cert = tls.verify;
        peer.options.verify_hostname = tls.verify;
        peer.options.ca.clone_from(&tls.ca);
        peer.client_cert_key.clone_from(&tls.client_cert);
        peer.group_key = tls.reuse_key;
    }
    if target.protocol == weir_config::UpstreamProtocol::H2 {
        // h2 only: by ALPN over TLS, by prior knowledge (h2c) in plain text.
        peer.options.set_http_version(2, 2);
        peer.options.max_h2_streams = UPSTREAM_H2_STREAMS;
    }
    Box::new(peer)
}

/// Whether the client's connection is TLS: its session digest has a TLS part (no allocation).
fn over_tls(session: &Session) -> bool {
    session
        .digest()
        .is_some_and(|digest| digest.ssl_digest.is_some())
}

/// `redirect_https`: `308` to the same URL on HTTPS (the normalised path, the query as sent),
/// counted per route; a host no URL can be built from is answered `400`.
fn redirect_https(
    ctx: &mut RequestCtx,
    req: &RequestHeader,
    route: &RouteEntry,
    normalized: Option<&str>,
) -> Answer {
    let path = normalized.unwrap_or(req.uri.path());
    match redirect::https_location(target::host(req), path, req.uri.query(), route.https_port) {
        Ok(location) => {
            if let Some(counter) = &route.redirects {
                counter.inc();
            }
            ctx.rejected = Some("redirect_https");
            answer::redirect_https(location)
        }
        Err(bad) => reject(ctx, "redirect_bad_host", answer::unredirectable(bad)),
    }
}

/// What the request allows a retry: an idempotent method, a body still buffered in full.
fn resend(session: &Session) -> Resend {
    Resend {
        idempotent: session.req_header().method.is_idempotent(),
        body_replayable: !session.as_ref().retry_buffer_truncated(),
    }
}

/// Which I/O of the exchange ran out of time, if the error is a timeout.
fn timed_out(etype: &ErrorType) -> Option<TimedOut> {
    match etype {
        ErrorType::ConnectTimedout => Some(TimedOut::Connect),
        ErrorType::ReadTimedout => Some(TimedOut::Read),
        ErrorType::WriteTimedout => Some(TimedOut::Write),
        _ => None,
    }
}

/// Where a request went, as metric labels and access-log fields (empty when it was not routed).
#[derive(Clone, Copy)]
struct Labels<'a> {
    route: &'a str,
    upstream: &'a str,
    region: &'a str,
}

/// The access-log line of a finished request.
fn access_entry<'a>(
    session: &'a Session,
    ctx: &'a RequestCtx,
    labels: Labels<'a>,
    e: Option<&'a Error>,
    side: Option<Side>,
    status: u16,
    duration: Duration,
) -> AccessEntry<'a> {
    let req = session.req_header();
    let attempts = &ctx.attempts;
    let route = attempts.route();
    let log_query = ctx
        .snapshot
        .as_ref()
        .is_none_or(|s| s.config.node.access_log.query);
    let traceparent = ctx
        .new_traceparent
        .as_ref()
        .map(HeaderValue::as_bytes)
        .or_else(|| trace_ctx::only(req.headers.get_all(&TRACEPARENT)));
    let tried = attempts.tried();
    // Borrowed from the connection's digest: nothing is allocated, and nothing read without TLS.
    let ssl = session
        .digest()
        .and_then(|digest| digest.ssl_digest.as_deref());
    let tls_version = ssl.map(|ssl| ssl.version.as_ref());
    let sni = ssl.map(|ssl| ssl.extension.get::<Sni>().map(Sni::as_str));
    AccessEntry {
        time: access_log::now(),
        request_id: ctx.request_id.as_str(),
        client: ctx
            .client_ip
            .or_else(|| ctx.snapshot.as_ref().map(|s| client_ip(session, s)))
            .map(access_log::Ip),
        peer: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| access_log::Ip(a.ip())),
        rate_limited_by: ctx.limited_by.as_deref(),
        shed_by: ctx.shed_by.map(ShedBy::as_str),
        fault: ctx.fault,
        priority: route.map_or("", |r| r.priority.as_str()),
        method: req.method.as_str(),
        host: problem::echo(target::host(req)),
        path: problem::echo(req.uri.path()),
        query: req.uri.query().filter(|_| log_query).map(problem::echo),
        http_version: http_version(req.version),
        tls_version,
        sni,
        alpn: tls_version.map(|_| {
            if req.version == http::Version::HTTP_2 {
                "h2"
            } else {
                "http/1.1"
            }
        }),
        user_agent: req
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(problem::echo),
        trace_id: traceparent.and_then(trace_ctx::trace_id),
        tried: EndpointList(&tried[..tried.len().saturating_sub(1)]),
        rejected: ctx.rejected,
        failure_side: side.map(Side::as_str),
        status,
        route: labels.route,
        upstream: labels.upstream,
        region: labels.region,
        endpoint: attempts.endpoint_label(),
        selection: attempts.mode().as_str(),
        upstream_protocol: attempts.upstream_protocol(),
        attempts: tried.len() as u32,
        duration_ms: duration.as_secs_f64() * 1e3,
        upstream_ms: attempts.upstream_time().map(|d| d.as_secs_f64() * 1e3),
        bytes: session.body_bytes_sent(),
        config_version: ctx.snapshot.as_ref().map_or(0, |s| s.version),
        error: e.map(|e| access_log::Shown(e)),
    }
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
