//! The Pingora `ProxyHttp` implementation, kept thin: each hook hands its decision to a plain
//! module (router, balance, outlier, trace_ctx, problem) and records what happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::access_log::{self, AccessEntry};
use crate::balance::{self, PickMode};
use crate::endpoint::{EndpointState, InFlight};
use crate::metrics::Metrics;
use crate::outlier::{self, Outcome, Verdict};
use crate::problem::{self, Problem};
use crate::ratelimit;
use crate::ratelimit::key::RequestFacts;
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
}

struct Attempt {
    pool: usize,
    in_flight: InFlight,
    sent_at: Instant,
    /// The outcome went to the outlier detector already.
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

    /// Whether the attempt cap (`1 + connect_retries`) allows another attempt.
    fn may_try_again(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| (self.tried.len() as u32) < r.retry.attempts)
    }

    /// Report the attempt's outcome (if not yet reported) and release its in-flight slot.
    fn end_attempt(&mut self, outcome: Outcome, now: Instant, metrics: &Metrics) {
        self.report(outcome, now, metrics);
        self.attempt = None;
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

    /// Count a retry Pingora is about to make, by reason.
    fn count_retry(&self, e: &Error, ctx: &RequestCtx, reason: &str) {
        if e.retry()
            && let Some(route) = &ctx.route
        {
            self.gateway
                .metrics
                .retries
                .with_label_values(&[&route.upstream.name, reason])
                .inc();
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
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let req = session.req_header();
        {
            let mut rng = rand::rng();
            ctx.request_id = trace_ctx::request_id(req.headers.get("x-request-id"), &mut rng);
            ctx.new_traceparent = trace_ctx::traceparent(header(req, "traceparent"), &mut rng);
        }
        let snapshot = self.gateway.snapshot();
        let host = request_host(req);
        let path = req.uri.path();
        match snapshot.router.find(host, path) {
            Some(route) => {
                let route = Arc::clone(route);
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
                ctx.route = Some(route);
                ctx.snapshot = Some(snapshot);
                Ok(refused)
            }
            None => {
                let detail = format!(
                    "no route matches host \"{}\" and path \"{}\"",
                    problem::echo(host),
                    problem::echo(path)
                );
                ctx.snapshot = Some(snapshot);
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

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx.route.clone().ok_or_else(|| {
            Error::explain(ErrorType::InternalError, "upstream_peer without a route")
        })?;
        let upstream = &route.upstream;
        let now = Instant::now();
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
        ctx.attempt = Some(Attempt {
            pool: pick.pool,
            in_flight: endpoint.start_request(),
            sent_at: now,
            reported: false,
        });
        let mut peer = HttpPeer::new(endpoint.key.addr, false, String::new());
        peer.options.connection_timeout = Some(upstream.connect_timeout);
        peer.options.read_timeout = Some(route.timeout);
        peer.options.write_timeout = Some(route.timeout);
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
        // A client's own id and valid traceparent are in the request already.
        if !ctx.request_id.from_client {
            upstream_request.insert_header("x-request-id", ctx.request_id.value.clone())?;
        }
        if let Some(traceparent) = &ctx.new_traceparent {
            upstream_request.insert_header("traceparent", traceparent.clone())?;
        }
        if let Some(client) = session.client_addr().and_then(|a| a.as_inet()) {
            let forwarded = match upstream_request.headers.get("x-forwarded-for") {
                Some(prior) => format!(
                    "{}, {}",
                    String::from_utf8_lossy(prior.as_bytes()),
                    client.ip()
                ),
                None => client.ip().to_string(),
            };
            upstream_request.insert_header("x-forwarded-for", forwarded)?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
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
        let outcome = if response.status.is_server_error() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        // The in-flight slot is held until the body is done (released in `logging`).
        ctx.report(outcome, now, &self.gateway.metrics);
        Ok(())
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

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.end_attempt(
            Outcome::ConnectFailure,
            Instant::now(),
            &self.gateway.metrics,
        );
        ctx.last_failure_was_connect = true;
        // Nothing was sent, so a connect failure is safe to retry whatever the method.
        e.set_retry(ctx.may_try_again());
        self.count_retry(&e, ctx, "connect_failure");
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        ctx.end_attempt(Outcome::Failure, Instant::now(), &self.gateway.metrics);
        ctx.last_failure_was_connect = false;
        let mut e = e.more_context(format!("peer: {peer}"));
        // Pingora's default policy: only idempotent requests whose body is still buffered.
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        if !ctx.may_try_again() {
            e.set_retry(false);
        }
        self.count_retry(&e, ctx, "connection_error");
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
            if let Err(write_error) = respond(session, problem, &ctx.request_id.value, false).await
            {
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
        if e.is_some_and(|e| e.esource() == &ErrorSource::Upstream) {
            ctx.report(Outcome::Failure, now, &self.gateway.metrics);
        }
        ctx.attempt = None;
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
            method: req.method.as_str(),
            host: problem::echo(request_host(req)),
            path: problem::echo(req.uri.path()),
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
            let timeout = ctx.route.as_ref().map_or(Duration::ZERO, |r| r.timeout);
            (
                504,
                format!("upstream {upstream} did not answer within {timeout:?}"),
            )
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

fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a [u8]> {
    req.headers.get(name).map(|v| v.as_bytes())
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

/// A status code as a metric label, without allocating per request.
fn status_label(status: u16) -> &'static str {
    static LABELS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600).map(|code| code.to_string()).collect());
    labels
        .get(usize::from(status))
        .map_or("other", String::as_str)
}
