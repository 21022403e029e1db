//! Whether a failed attempt may be retried under a route's retry policy, before the budget is
//! asked: connect failures always (nothing was sent), statuses and resets only for idempotent
//! methods unless the route allows more, never once the response has started, and never past
//! the attempt cap or the deadline.

use std::time::{Duration, Instant};

use weir_config::RetryPolicy;

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: nothing reached the upstream.
    Connect,
    /// The connection broke, or a read timed out, before the response header.
    Reset,
    /// The upstream answered with this status.
    Status(u16),
}

impl Failure {
    /// The `reason` label of `weir_retries_total`.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Connect => "connect_failure",
            Failure::Reset => "reset",
            Failure::Status(_) => "status",
        }
    }
}

/// What the request allows, apart from the failure itself.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// GET, HEAD, OPTIONS, PUT, DELETE, TRACE.
    pub idempotent: bool,
    /// The request body is still buffered in full, so it can be sent again.
    pub body_replayable: bool,
    /// Attempts made so far, the failed one included.
    pub attempts: u32,
    /// When the request's total deadline passes.
    pub deadline: Instant,
}

/// Why a failure is not retried (the `weir_retries_refused_total` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The policy does not retry this kind of failure.
    NotRetryable,
    /// A status or reset on a method that is not idempotent.
    NotIdempotent,
    /// The body was too large to keep for a second attempt.
    BodyNotReplayable,
    /// `retry.attempts` reached.
    AttemptsExhausted,
    /// Not enough time left before the deadline for another attempt.
    DeadlinePassed,
    /// The upstream's retry budget is spent (decided by the caller after [`decide`]).
    BudgetExhausted,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::NotRetryable => "not_retryable",
            Refusal::NotIdempotent => "not_idempotent",
            Refusal::BodyNotReplayable => "body_not_replayable",
            Refusal::AttemptsExhausted => "attempts_exhausted",
            Refusal::DeadlinePassed => "deadline",
            Refusal::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Below this much time left, another attempt cannot do anything useful.
const MIN_TIME_FOR_ATTEMPT: Duration = Duration::from_millis(1);

/// Whether `failure` may be retried; the caller then asks the retry budget.
pub fn decide(
    policy: &RetryPolicy,
    failure: Failure,
    request: Request,
    now: Instant,
) -> Result<(), Refusal> {
    match failure {
        Failure::Connect => {}
        Failure::Reset if !policy.on_reset => return Err(Refusal::NotRetryable),
        Failure::Status(code) if !policy.statuses.contains(&code) => {
            return Err(Refusal::NotRetryable);
        }
        Failure::Reset | Failure::Status(_) => {
            if !request.idempotent && !policy.non_idempotent {
                return Err(Refusal::NotIdempotent);
            }
        }
    }
    if !request.body_replayable && failure != Failure::Connect {
        return Err(Refusal::BodyNotReplayable);
    }
    if request.attempts >= policy.attempts {
        return Err(Refusal::AttemptsExhausted);
    }
    if request.deadline.saturating_duration_since(now) < MIN_TIME_FOR_ATTEMPT {
        return Err(Refusal::DeadlinePassed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(now: Instant) -> Request {
        Request {
            idempotent: true,
            body_replayable: true,
            attempts: 1,
            deadline: now + Duration::from_secs(1),
        }
    }

    #[test]
    fn connect_failures_are_retried_whatever_the_method() {
        let now = Instant::now();
        let policy = RetryPolicy::default();
        let post = Request {
            idempotent: false,
            body_replayable: false,
            ..request(now)
        };
        assert_eq!(decide(&policy, Failure::Connect, post, now), Ok(()));
    }

    #[test]
    fn statuses_and_resets_need_an_idempotent_method_unless_allowed() {
        let now = Instant::now();
        let mut policy = RetryPolicy::default();
        let post = Request {
            idempotent: false,
            ..request(now)
        };
        for failure in [Failure::Reset, Failure::Status(503)] {
            assert_eq!(decide(&policy, failure, request(now), now), Ok(()));
            assert_eq!(
                decide(&policy, failure, post, now),
                Err(Refusal::NotIdempotent)
            );
        }
        policy.non_idempotent = true;
        assert_eq!(decide(&policy, Failure::Status(502), post, now), Ok(()));
    }

    #[test]
    fn only_listed_statuses_and_resets_when_enabled() {
        let now = Instant::now();
        let mut policy = RetryPolicy::default();
        assert_eq!(
            decide(&policy, Failure::Status(500), request(now), now),
            Err(Refusal::NotRetryable)
        );
        policy.on_reset = false;
        assert_eq!(
            decide(&policy, Failure::Reset, request(now), now),
            Err(Refusal::NotRetryable)
        );
    }

    #[test]
    fn the_attempt_cap_the_deadline_and_the_body_stop_retries() {
        let now = Instant::now();
        let policy = RetryPolicy::default();
        let last = Request {
            attempts: 3,
            ..request(now)
        };
        assert_eq!(
            decide(&policy, Failure::Connect, last, now),
            Err(Refusal::AttemptsExhausted)
        );
        let late = Request {
            deadline: now,
            ..request(now)
        };
        assert_eq!(
            decide(&policy, Failure::Connect, late, now),
            Err(Refusal::DeadlinePassed)
        );
        let streamed = Request {
            body_replayable: false,
            ..request(now)
        };
        assert_eq!(
            decide(&policy, Failure::Status(503), streamed, now),
            Err(Refusal::BodyNotReplayable)
        );
    }
}
