//! One request against all the rate-limit policies of its route: local buckets first, then every
//! global one in a single Redis round trip. Admitted only when all admit; a refusal gives back
//! the tokens the other policies took, so a rejected request costs no policy anything.

use std::sync::Arc;

use weir_config::StoreErrorAction;

use super::buckets::Slot;
use super::gcra::Decision;
use super::key::{self, RequestFacts};
use super::policy::{Policy, RouteLimits, header_seconds};
use super::store::{GlobalBucket, GlobalVerdict, RedisStore};

/// The outcome for one request.
#[derive(Debug)]
pub enum Verdict {
    /// Go on. `header` is the `RateLimit` value to add to the response (when a checked policy
    /// has `response_headers`).
    Admitted { header: Option<String> },
    /// Over `policy`'s limit: one request fits again after `retry_after` ns, the bucket is full
    /// after `reset` ns.
    Limited {
        policy: Arc<Policy>,
        retry_after: u64,
        reset: u64,
    },
    /// Redis could not be asked and `policy` says `on_store_error = "deny"`.
    StoreDenied { policy: Arc<Policy> },
}

/// Tokens taken so far, to give back if a later policy refuses.
struct Taken<'a> {
    slots: Vec<(&'a Policy, Slot)>,
}

impl Taken<'_> {
    fn refund(&self) {
        for (policy, slot) in &self.slots {
            policy.buckets.refund(*slot, &policy.quota);
        }
    }
}

/// Collects the `RateLimit` field admitted responses carry. (`RateLimit-Policy` is only sent
/// with a 429: it never changes, and each response header costs the proxy about 2% per request.)
#[derive(Default)]
struct Advertised {
    state: String,
}

impl Advertised {
    fn add(&mut self, policy: &Policy, remaining: u32, reset_nanos: u64) {
        if !policy.response_headers {
            return;
        }
        if self.state.is_empty() {
            self.state.reserve(48);
        } else {
            self.state.push_str(", ");
        }
        // `"name";r=<remaining>;t=<seconds>`, without the formatting machinery of `write!`.
        self.state.push_str(&policy.state_prefix);
        push_decimal(&mut self.state, u64::from(remaining));
        self.state.push_str(";t=");
        push_decimal(&mut self.state, header_seconds(reset_nanos));
    }

    fn into_header(self) -> Option<String> {
        (!self.state.is_empty()).then_some(self.state)
    }
}

/// Append `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// Decide one request at `now` (nanoseconds on the limiter clock). Each policy counts its own
/// decision: one that admitted a request another policy refused still counts `admitted` (and
/// gets its token back).
pub async fn check(
    limits: &RouteLimits,
    facts: &RequestFacts<'_>,
    now: u64,
    store: Option<&RedisStore>,
) -> Verdict {
    let mut taken = Taken { slots: Vec::new() };
    let mut advertised = Advertised::default();
    let has_global = !limits.global.is_empty();
    for (i, policy) in limits.local.iter().enumerate() {
        let Some(key) = key::local_key(&policy.parts, policy.missing, facts) else {
            continue;
        };
        match policy.buckets.check(key, &policy.quota, now) {
            (
                Decision::Admit {
                    remaining, reset, ..
                },
                slot,
            ) => {
                // The last check of a request never needs a refund: skip the bookkeeping (and
                // its allocation) for the common one-policy route.
                if has_global || i + 1 < limits.local.len() {
                    taken.slots.push((policy, slot));
                }
                policy.counters.admitted.inc();
                advertised.add(policy, remaining, reset);
            }
            (
                Decision::Limit {
                    retry_after, reset, ..
                },
                _,
            ) => {
                taken.refund();
                policy.counters.limited.inc();
                return Verdict::Limited {
                    policy: Arc::clone(policy),
                    retry_after,
                    reset,
                };
            }
        }
    }
    if has_global
        && let Some(refused) = check_global(
            &limits.global,
            facts,
            now,
            store,
            &mut taken,
            &mut advertised,
        )
        .await
    {
        return refused;
    }
    Verdict::Admitted {
        header: advertised.into_header(),
    }
}

/// The global policies in one Redis call; `Some` when the request is refused.
async fn check_global<'a>(
    policies: &'a [Arc<Policy>],
    facts: &RequestFacts<'_>,
    now: u64,
    store: Option<&RedisStore>,
    taken: &mut Taken<'a>,
    advertised: &mut Advertised,
) -> Option<Verdict> {
    let globals: Vec<(&Arc<Policy>, String)> = policies
        .iter()
        .filter_map(|p| {
            Some((
                p,
                key::global_key(&p.redis_prefix, &p.parts, p.missing, facts)?,
            ))
        })
        .collect();
    if globals.is_empty() {
        return None;
    }
    let buckets: Vec<GlobalBucket<'_>> = globals
        .iter()
        .map(|(policy, key)| GlobalBucket {
            key,
            interval: policy.quota.interval(),
            burst: policy.quota.burst(),
        })
        .collect();
    let result = match store {
        Some(store) => store.check(&buckets).await,
        None => Err(super::store::StoreError::Unavailable(
            "no [redis] section".into(),
        )),
    };
    match result {
        Ok(GlobalVerdict::Admitted(states)) => {
            for ((policy, _), state) in globals.iter().zip(states) {
                policy.counters.admitted.inc();
                advertised.add(policy, state.remaining, nanos(state.reset));
            }
            None
        }
        Ok(GlobalVerdict::Limited {
            index,
            retry_after,
            state,
        }) => {
            taken.refund();
            let policy = Arc::clone(globals.get(index).map_or(&policies[0], |(p, _)| p));
            policy.counters.limited.inc();
            Some(Verdict::Limited {
                policy,
                retry_after: nanos(retry_after).max(1),
                reset: nanos(state.reset),
            })
        }
        Err(error) => {
            tracing::debug!(%error, "rate-limit store unavailable; following on_store_error");
            for (policy, _) in &globals {
                policy.counters.store_error.inc();
                if let Some(refused) = fall_back(policy, facts, now, taken, advertised) {
                    return Some(refused);
                }
            }
            None
        }
    }
}

/// What a global policy does without Redis.
fn fall_back<'a>(
    policy: &'a Arc<Policy>,
    facts: &RequestFacts<'_>,
    now: u64,
    taken: &mut Taken<'a>,
    advertised: &mut Advertised,
) -> Option<Verdict> {
    match policy.on_store_error {
        StoreErrorAction::Allow => {
            policy.counters.allowed.inc();
            None
        }
        StoreErrorAction::Deny => {
            policy.counters.denied.inc();
            taken.refund();
            Some(Verdict::StoreDenied {
                policy: Arc::clone(policy),
            })
        }
        StoreErrorAction::Local => {
            let key = key::local_key(&policy.parts, policy.missing, facts)?;
            match policy.buckets.check(key, &policy.quota, now) {
                (
                    Decision::Admit {
                        remaining, reset, ..
                    },
                    slot,
                ) => {
                    policy.counters.local_admitted.inc();
                    taken.slots.push((policy, slot));
                    advertised.add(policy, remaining, reset);
                    None
                }
                (
                    Decision::Limit {
                        retry_after, reset, ..
                    },
                    _,
                ) => {
                    policy.counters.local_limited.inc();
                    taken.refund();
                    Some(Verdict::Limited {
                        policy: Arc::clone(policy),
                        retry_after,
                        reset,
                    })
                }
            }
        }
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 1234, u64::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
