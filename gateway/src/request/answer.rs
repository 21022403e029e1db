//! Answers the gateway makes itself, built as plain values: the status, the problem document's
//! detail, extra headers, and whether the client connection is kept; and the status and detail
//! for a request that could not be proxied. Only `proxy.rs` writes them to the client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorSource, ErrorType};
use weir_config::Priority;

use crate::problem::{self, Problem};
use crate::request::admission::{Refused, ShedBy};
use crate::request::attempt::Attempts;
use crate::request::{headers, redirect};
use crate::trace_ctx::RequestId;

/// A problem+json answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub detail: String,
    /// Sent after `x-request-id`, in this order.
    pub headers: Vec<(&'static str, String)>,
    /// Keep the client connection for its next request; otherwise it is closed.
    pub keep_alive: bool,
}

impl Answer {
    /// An answer after which the client connection is kept.
    pub fn keep(status: u16, detail: String) -> Self {
        Self {
            status,
            detail,
            headers: Vec::new(),
            keep_alive: true,
        }
    }

    /// An answer after which the client connection is closed: what follows a refused request
    /// cannot be trusted to be framed right, and a failed exchange may have left it anywhere.
    pub fn close(status: u16, detail: String) -> Self {
        Self {
            keep_alive: false,
            ..Self::keep(status, detail)
        }
    }

    /// With one more response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The response header (problem headers, `x-request-id`, then the extra headers) and body.
    pub fn into_response(self, request_id: &RequestId) -> pingora::Result<(ResponseHeader, Bytes)> {
        let problem = Problem::new(self.status, self.detail, request_id.as_str());
        let (mut header, body) = problem.into_response()?;
        header.insert_header("x-request-id", request_id.value.clone())?;
        for (name, value) in self.headers {
            header.insert_header(name, value)?;
        }
        Ok((header, body))
    }
}

/// A request the gateway refuses before routing (TRACE, HTTP/1.1 without `Host`).
pub fn refused_request(refusal: headers::Refusal) -> Answer {
    let answer = Answer::close(refusal.status(), refusal.detail().to_string());
    match refusal {
        headers::Refusal::Trace => answer.with_header(
            "allow",
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
        ),
        headers::Refusal::MissingHost => answer,
    }
}

/// A path with an encoded slash on a route that rejects them.
pub fn encoded_slash(route: &str) -> Answer {
    Answer::close(
        400,
        format!("route {route} does not accept an encoded slash (%2F) in the path"),
    )
}

/// `redirect_https`: a plain-HTTP request goes to the same URL on HTTPS. `308` keeps the method
/// and body (a `POST` stays a `POST`), unlike `301`.
pub fn redirect_https(location: String) -> Answer {
    let detail = format!("this route is served over HTTPS: {location}");
    Answer::keep(308, detail).with_header("location", location)
}

/// `redirect_https` with no host a URL can be built from: `400`, and the connection is closed.
pub fn unredirectable(bad: redirect::BadHost) -> Answer {
    Answer::close(400, bad.detail().to_string())
}

/// Before the first config from the control plane.
pub fn awaiting_config() -> Answer {
    let detail = "this gateway has not received its config from the control plane yet";
    Answer::keep(503, detail.to_string()).with_header("retry-after", "1".to_string())
}

/// No route for the host and path (both cut to a length fit for an error message).
pub fn no_route(host: &str, path: &str) -> Answer {
    let detail = format!(
        "no route matches host \"{}\" and path \"{}\"",
        problem::echo(host),
        problem::echo(path)
    );
    Answer::keep(404, detail)
}

/// A rate-limit policy refused the request: `429` with `Retry-After` and the `RateLimit`
/// headers.
pub fn rate_limited(policy: &str, seconds: u64, policy_header: String, state: String) -> Answer {
    let detail = format!("rate limit \"{policy}\" exceeded; retry after {seconds} s");
    Answer::keep(429, detail)
        .with_header("retry-after", seconds.to_string())
        .with_header("ratelimit-policy", policy_header)
        .with_header("ratelimit", state)
}

/// A rate-limit policy cannot be checked (its store is away) and denies.
pub fn store_unavailable(policy: &str) -> Answer {
    let detail = format!(
        "rate limit \"{policy}\" cannot be checked (its store is unavailable); retry later"
    );
    Answer::keep(503, detail).with_header("retry-after", "1".to_string())
}

/// Admission refused the request: a cap shed it, or the upstream's breaker is open.
pub fn shed(refused: Refused, upstream: &str, priority: Priority) -> Answer {
    let detail = match refused.by {
        ShedBy::CircuitBreaker => format!(
            "upstream {upstream} is failing (its circuit breaker is open); retry after {} s",
            refused.retry_after_secs
        ),
        by => format!(
            "the gateway is over capacity ({} limit) and sheds {priority} requests; retry after {} s",
            by.as_str(),
            refused.retry_after_secs
        ),
    };
    Answer::keep(503, detail).with_header("retry-after", refused.retry_after_secs.to_string())
}

/// A fault plan aborted the request with `status`.
pub fn fault_abort(route: &str, status: u16) -> Answer {
    let detail = format!("fault injected by route {route} (abort)");
    Answer::keep(status, detail).with_header("x-weir-fault", "abort".to_string())
}

/// The deadline passed before an attempt, or while the upstream was still to answer.
pub fn deadline_exceeded(upstream: &str, timeout: Duration, attempts: usize) -> String {
    format!(
        "upstream {upstream} did not answer within the route's {timeout:?} deadline ({attempts} attempts)"
    )
}

/// `max_pending_connects` connection attempts are under way.
pub fn connects_full(upstream: &str, retry_after_secs: u64) -> String {
    format!(
        "too many connection attempts to upstream {upstream} are under way; retry after {retry_after_secs} s"
    )
}

/// Every endpoint left refused the connection.
pub fn all_connects_failed(upstream: &str, attempts: usize) -> String {
    format!(
        "could not connect to upstream {upstream} ({attempts} attempts, no endpoint left to try)"
    )
}

/// No endpoint can take the request.
pub fn no_endpoint(upstream: &str) -> String {
    format!("no endpoint of upstream {upstream} can take the request")
}

/// The answer to a request that could not be proxied, closing the connection; `None` when the
/// client is gone (nothing to answer). `retry_after` is set for a request shed on the way.
pub fn failed(
    e: &Error,
    attempts: &Attempts,
    retry_after: Option<u64>,
    now: Instant,
) -> (u16, Option<Answer>) {
    let (code, detail) = describe_failure(e, attempts, now);
    if code == 0 {
        return (0, None);
    }
    let answer = Answer::close(code, detail);
    let answer = match retry_after {
        Some(secs) => answer.with_header("retry-after", secs.to_string()),
        None => answer,
    };
    (code, Some(answer))
}

/// The status and detail for a request that could not be proxied; `0` when the client went
/// away (nothing to answer).
pub fn describe_failure(e: &Error, attempts: &Attempts, now: Instant) -> (u16, String) {
    let route = attempts.route();
    let upstream = route.map_or("", |r| &*r.upstream.name);
    let tried = attempts.tried().len();
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
            format!("could not connect to upstream {upstream} ({tried} attempts)"),
        ),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            let detail = match route {
                Some(route) if attempts.deadline_ran_out(now) => {
                    deadline_exceeded(upstream, route.timeout, tried)
                }
                Some(route) => format!(
                    "upstream {upstream} did not answer within the {:?} read timeout ({tried} attempts)",
                    route.read_timeout
                ),
                None => format!("upstream {upstream} did not answer in time"),
            };
            (504, detail)
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (
                502,
                format!("upstream {upstream} failed while answering ({tried} attempts)"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::fixture::Fixture;

    fn id() -> RequestId {
        RequestId {
            value: http::HeaderValue::from_static("req-1"),
            from_client: false,
        }
    }

    fn error(etype: ErrorType, source: ErrorSource) -> Box<Error> {
        let mut e = Error::new(etype);
        e.esource = source;
        e
    }

    #[test]
    fn an_answer_is_a_problem_document_with_the_request_id_then_its_headers() {
        let answer = rate_limited(
            "per-ip",
            3,
            "\"per-ip\";q=10".into(),
            "\"per-ip\";r=0".into(),
        );
        assert!(answer.keep_alive);
        let (header, body) = answer.into_response(&id()).unwrap();
        assert_eq!(header.status.as_u16(), 429);
        let names: Vec<&str> = header.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "content-length",
                "cache-control",
                "x-request-id",
                "retry-after",
                "ratelimit-policy",
                "ratelimit"
            ]
        );
        let value = |name| header.headers[name].to_str().unwrap();
        assert_eq!(value("x-request-id"), "req-1");
        assert_eq!(value("retry-after"), "3");
        assert_eq!(value("ratelimit-policy"), "\"per-ip\";q=10");
        assert_eq!(value("content-length"), body.len().to_string());
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["status"], 429);
        assert_eq!(doc["title"], "Too Many Requests");
        assert_eq!(
            doc["detail"],
            "rate limit \"per-ip\" exceeded; retry after 3 s"
        );
        assert_eq!(doc["request_id"], "req-1");
    }

    #[test]
    fn refusals_close_the_connection_and_other_answers_keep_it() {
        let trace = refused_request(headers::Refusal::Trace);
        assert_eq!((trace.status, trace.keep_alive), (405, false));
        let allow = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string();
        assert_eq!(trace.headers, [("allow", allow)]);
        let hostless = refused_request(headers::Refusal::MissingHost);
        assert_eq!((hostless.status, hostless.keep_alive), (400, false));
        assert!(hostless.headers.is_empty());
        let slash = encoded_slash("api");
        assert_eq!((slash.status, slash.keep_alive), (400, false));
        assert_eq!(
            slash.detail,
            "route api does not accept an encoded slash (%2F) in the path"
        );

        let waiting = awaiting_config();
        assert_eq!((waiting.status, waiting.keep_alive), (503, true));
        assert_eq!(
            waiting.detail,
            "this gateway has not received its config from the control plane yet"
        );
        assert_eq!(waiting.headers, [("retry-after", "1".to_string())]);
        let long = "h".repeat(300);
        let missing = no_route(&long, "/x");
        assert_eq!((missing.status, missing.keep_alive), (404, true));
        assert!(missing.detail.len() < 260, "client input is cut");
        let store = store_unavailable("global");
        assert_eq!(store.status, 503);
        assert_eq!(store.headers, [("retry-after", "1".to_string())]);
        let abort = fault_abort("api", 418);
        assert_eq!((abort.status, abort.keep_alive), (418, true));
        assert_eq!(abort.detail, "fault injected by route api (abort)");
        assert_eq!(abort.headers, [("x-weir-fault", "abort".to_string())]);
    }

    #[test]
    fn a_shed_request_hears_why_and_when_to_come_back() {
        let open = Refused {
            by: ShedBy::CircuitBreaker,
            retry_after_secs: 4,
        };
        let answer = shed(open, "api", Priority::Normal);
        assert_eq!(answer.status, 503);
        assert_eq!(
            answer.detail,
            "upstream api is failing (its circuit breaker is open); retry after 4 s"
        );
        assert_eq!(answer.headers, [("retry-after", "4".to_string())]);
        let full = Refused {
            by: ShedBy::Upstream,
            retry_after_secs: 1,
        };
        assert_eq!(
            shed(full, "api", Priority::Optional).detail,
            "the gateway is over capacity (upstream limit) and sheds optional requests; retry after 1 s"
        );
    }

    #[test]
    fn a_failed_request_is_described_by_what_failed() {
        use ErrorSource::{Downstream, Internal, Upstream};
        let fx = Fixture::new("", "timeout = \"10s\"\nread_timeout = \"2s\"", &[1]);
        let t0 = Instant::now();
        let mut attempts = fx.request(t0);
        fx.start(&mut attempts, t0);
        let at_deadline = t0 + Duration::from_secs(10);
        let cases = [
            (
                error(ErrorType::HTTPStatus(413), Downstream),
                t0,
                413,
                "the request failed with status 413",
            ),
            (
                Error::explain(ErrorType::CustomCode("NoEndpoint", 503), "none left"),
                t0,
                503,
                "none left",
            ),
            (
                error(ErrorType::CustomCode("X", 503), Internal),
                t0,
                503,
                "no endpoint can take the request",
            ),
            (
                error(ErrorType::ConnectRefused, Upstream),
                t0,
                502,
                "could not connect to upstream api (1 attempts)",
            ),
            (
                error(ErrorType::ReadTimedout, Upstream),
                t0,
                504,
                "upstream api did not answer within the 2s read timeout (1 attempts)",
            ),
            (
                error(ErrorType::ReadTimedout, Upstream),
                at_deadline,
                504,
                "upstream api did not answer within the route's 10s deadline (1 attempts)",
            ),
            (
                error(ErrorType::ConnectionClosed, Upstream),
                t0,
                502,
                "upstream api failed while answering (1 attempts)",
            ),
            (
                error(ErrorType::ReadTimedout, Downstream),
                t0,
                400,
                "the request could not be read",
            ),
            (error(ErrorType::ReadError, Downstream), t0, 0, ""),
            (
                error(ErrorType::InternalError, Internal),
                t0,
                500,
                "the gateway failed to handle the request",
            ),
        ];
        for (e, now, code, detail) in cases {
            assert_eq!(
                describe_failure(&e, &attempts, now),
                (code, detail.to_string()),
                "{e}"
            );
        }
        let unrouted = Attempts::new();
        let timed_out = error(ErrorType::ReadTimedout, Upstream);
        assert_eq!(
            describe_failure(&timed_out, &unrouted, t0),
            (504, "upstream  did not answer in time".to_string())
        );
        assert_eq!(
            deadline_exceeded("api", Duration::from_secs(10), 1),
            describe_failure(&timed_out, &attempts, at_deadline).1,
            "one text for the deadline, before an attempt and after one"
        );
    }

    #[test]
    fn a_failure_answer_closes_and_says_when_to_retry_a_shed_request() {
        let fx = Fixture::new("", "", &[1]);
        let attempts = fx.request(Instant::now());
        let full = Error::explain(ErrorType::CustomCode("PendingConnectsFull", 503), "busy");
        let (code, answer) = failed(&full, &attempts, Some(2), Instant::now());
        let answer = answer.expect("an answer");
        assert_eq!((code, answer.status, answer.keep_alive), (503, 503, false));
        assert_eq!(answer.detail, "busy");
        assert_eq!(answer.headers, [("retry-after", "2".to_string())]);
        let gone = error(ErrorType::ConnectionClosed, ErrorSource::Downstream);
        assert_eq!(failed(&gone, &attempts, None, Instant::now()), (0, None));
    }
}
