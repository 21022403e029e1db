//! Shared GCRA buckets in Redis: one Lua script checks several buckets atomically in one round
//! trip, on Redis's clock. It fails fast instead of slowing requests down: every call is bounded by
//! `redis.timeout`, and after an error or a timeout the store makes no call for a short backoff
//! (answering `StoreError::Unavailable` at once), then tries again by itself. What an error means
//! for a request (`on_store_error`) is the caller's choice.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramVec};
use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, Client, ErrorKind, IntoConnectionInfo, RedisError, Script};
use tokio::sync::watch;
use weir_config::RedisSettings;

/// The GCRA of `gcra.rs` over many buckets, in microseconds. All or nothing: it takes a request
/// from the buckets only when every bucket admits (a refused bucket may only have an old debt cut
/// to its current quota written back, as `gcra.rs` does). Lua numbers are doubles, exact for integers below 2^53 µs (285 years), and
/// Redis truncates them to integers in replies, so every value is kept integral here.
///
/// KEYS[i]: bucket i. ARGV[2i-1], ARGV[2i]: its emission interval T (µs) and burst.
/// Reply: {1, remaining_1, reset_1, remaining_2, reset_2, ...} when all admit,
///        {0, i (0-based), retry_after, reset} for the first bucket over its limit.
const GCRA_SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end -- Redis < 5: allows writes after TIME
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local new_tats, seen, reply = {}, {}, {1}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = interval * tonumber(ARGV[2 * i])
  local tat = seen[key] or tonumber(redis.call('GET', key)) or now
  -- Clamped as in gcra.rs: after a reload to a larger rate, the new quota applies at once.
  local base = math.min(math.max(tat, now), now + tolerance)
  local new_tat = base + interval
  local ahead = new_tat - now
  if ahead > tolerance then
    if base < tat then
      -- A reload cut an old debt to the new quota: keep the cut, or it would never take effect.
      redis.call('SET', key, string.format('%.0f', base), 'PX', string.format('%.0f', math.ceil((base - now) / 1000)))
    end
    return {0, i - 1, ahead - tolerance, base - now}
  end
  new_tats[i], seen[key] = new_tat, new_tat
  reply[2 * i] = math.floor((tolerance - ahead) / interval)
  reply[2 * i + 1] = ahead
end
for i, key in ipairs(KEYS) do
  -- Expires when the bucket is full again: a full bucket and no key mean the same.
  local ttl_ms = math.ceil((new_tats[i] - now) / 1000)
  redis.call('SET', key, string.format('%.0f', new_tats[i]), 'PX', string.format('%.0f', ttl_ms))
end
return reply
";

/// The longest a background connection attempt may take (independent of the request timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The first pause after a failure; it doubles on each failed retry, up to `BACKOFF_MAX`.
const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Timeouts in a row that start a backoff. One slow answer is a hiccup that costs only its own
/// request; at 20k requests/s a backoff after every single timeout would send thousands of
/// requests to `on_store_error` for it (measured: up to 3% of them with the 5 ms default).
const TIMEOUTS_BEFORE_BACKOFF: u32 = 3;

/// One bucket to check: its full Redis key and its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalBucket<'a> {
    /// The full Redis key, prefix included (`weir:policy:...`).
    pub key: &'a str,
    /// The emission interval `per / rate`. Redis keeps microseconds: it is rounded to the nearest
    /// microsecond (validation keeps it at least 1 µs).
    pub interval: Duration,
    /// The bucket size: requests admitted at once from a full bucket.
    pub burst: u32,
}

/// A bucket after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketState {
    /// Requests that still fit right now.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalVerdict {
    /// Every bucket admitted and took the request; one state per bucket, in the order given.
    Admitted(Vec<BucketState>),
    /// Bucket `index`, the first over its limit, refused; no bucket was changed. One request fits
    /// in it again after `retry_after` (> 0); `state.remaining` is 0.
    Limited {
        index: usize,
        retry_after: Duration,
        state: BucketState,
    },
}

/// Why a check has no verdict. Messages name the Redis address, never a password.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// `redis.url` could not be used (shown without any password).
    #[error("redis url {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The latency histogram does not have exactly the label `outcome`.
    #[error("redis latency histogram: {0}")]
    Histogram(String),
    /// Redis did not answer within `redis.timeout`.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// No call was made: the store is backing off after a failure.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Connecting failed, or Redis answered with an error or a reply the script cannot give.
    #[error("redis {0}")]
    Redis(String),
}

/// A pool of pipelined Redis connections running the GCRA script. Cheap to share behind an `Arc`;
/// `check` must run inside a tokio runtime (connections are made on the caller's runtime).
pub struct RedisStore {
    settings: RedisSettings,
    /// `host:port`, for messages.
    addr: String,
    client: Client,
    script: Script,
    slots: Vec<Arc<Slot>>,
    next_slot: AtomicUsize,
    next_connection_id: AtomicU64,
    backoff: Backoff,
    latency: Latency,
}

impl RedisStore {
    /// Builds the store without connecting: connections are made on first use, so the gateway
    /// starts (and serves, per `on_store_error`) while Redis is down. `latency` has the one label
    /// `outcome` and gets one observation per call made: `ok`, `error` or `timeout` (calls skipped
    /// during a backoff are not observed; the caller sees `Unavailable`).
    pub fn new(settings: &RedisSettings, latency: HistogramVec) -> Result<Self, StoreError> {
        let info = settings
            .url
            .as_str()
            .into_connection_info()
            .map_err(|err| StoreError::InvalidUrl {
                url: redact(&settings.url),
                reason: err.to_string(),
            })?;
        let addr = info.addr().to_string();
        // `CLIENT LIST` on the server then names Weir's connections.
        let redis_info = info
            .redis_settings()
            .clone()
            .set_lib_name("weir", env!("CARGO_PKG_VERSION"));
        // Without TCP_NODELAY, Nagle's algorithm can hold a small request back for a whole
        // delayed-ACK period, far beyond a millisecond timeout.
        let info = info
            .set_tcp_settings(TcpSettings::default().set_nodelay(true))
            .set_redis_settings(redis_info);
        let client = Client::open(info).map_err(|err| StoreError::InvalidUrl {
            url: redact(&settings.url),
            reason: err.to_string(),
        })?;
        let slots = (0..settings.pool_size.max(1))
            .map(|_| Arc::new(Slot::default()))
            .collect();
        Ok(Self {
            settings: settings.clone(),
            addr,
            client,
            script: Script::new(GCRA_SCRIPT),
            slots,
            next_slot: AtomicUsize::new(0),
            next_connection_id: AtomicU64::new(1),
            backoff: Backoff::default(),
            latency: Latency::new(&latency)?,
        })
    }

    /// The settings this store was built from, so a reload can tell whether to rebuild it.
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// Checks every bucket in one atomic script call: admitted only if all admit, and then each
    /// takes the request; when one is over its limit, no request is taken. An empty list is
    /// admitted without a call.
    pub async fn check(&self, buckets: &[GlobalBucket<'_>]) -> Result<GlobalVerdict, StoreError> {
        if buckets.is_empty() {
            return Ok(GlobalVerdict::Admitted(Vec::new()));
        }
        let started = Instant::now();
        self.backoff
            .enter(started, self.settings.timeout)
            .map_err(|wait| StoreError::Unavailable(format!("{}: {wait}", self.addr)))?;
        let result = self.call(buckets, started + self.settings.timeout).await;
        self.record(started, &result);
        result
    }

    /// One script call on the next connection of the pool, all of it (connecting included)
    /// bounded by `deadline`.
    async fn call(
        &self,
        buckets: &[GlobalBucket<'_>],
        deadline: Instant,
    ) -> Result<GlobalVerdict, StoreError> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let slot = self.next_slot();
        let conn = tokio::time::timeout_at(deadline, self.connection(slot))
            .await
            .map_err(|_| StoreError::Timeout(self.settings.timeout))??;

        let mut invocation = self.script.prepare_invoke();
        for bucket in buckets {
            invocation
                .key(bucket.key)
                .arg(interval_micros(bucket.interval))
                .arg(bucket.burst.max(1));
        }
        let mut inner = conn.inner.clone();
        let reply =
            tokio::time::timeout_at(deadline, invocation.invoke_async::<Vec<i64>>(&mut inner))
                .await;
        match reply {
            Ok(Ok(reply)) => parse_reply(&reply, buckets.len()),
            Ok(Err(err)) => {
                if breaks_connection(&err) {
                    slot.forget(conn.id);
                }
                Err(StoreError::Redis(format!("{}: {err}", self.addr)))
            }
            // A connection that does not answer may never answer again (a host gone without a
            // reset): replace it rather than wait for TCP to notice.
            Err(_) => {
                slot.forget(conn.id);
                Err(StoreError::Timeout(self.settings.timeout))
            }
        }
    }

    /// The slot's connection, or the outcome of its connection attempt (started here if none is
    /// under way). The attempt runs in its own task, so a request that gives up waiting does not
    /// cancel it: on a cold start the first requests may time out, later ones find it ready.
    async fn connection(&self, slot: &Arc<Slot>) -> Result<Conn, StoreError> {
        let mut pending = {
            let mut state = slot.lock();
            match &*state {
                SlotState::Ready(conn) => return Ok(conn.clone()),
                SlotState::Connecting { done, .. } => done.clone(),
                SlotState::Empty => self.start_connecting(slot, &mut state),
            }
        };
        let outcome = pending
            .wait_for(Option::is_some)
            .await
            .map(|outcome| outcome.clone())
            .ok()
            .flatten();
        outcome
            .unwrap_or_else(|| {
                Err(format!(
                    "connect to {}: abandoned (its runtime shut down)",
                    self.addr
                ))
            })
            .map_err(StoreError::Redis)
    }

    /// Spawns a connection attempt for `slot` (whose state, locked by the caller, is `Empty`).
    fn start_connecting(&self, slot: &Arc<Slot>, state: &mut SlotState) -> ConnectOutcome {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        *state = SlotState::Connecting {
            id,
            done: rx.clone(),
        };
        let client = self.client.clone();
        let addr = self.addr.clone();
        let attempt = ConnectAttempt {
            slot: Arc::clone(slot),
            id,
        };
        tokio::spawn(async move {
            // Pipelined requests are bounded by `check`'s own timeout, not the crate's.
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(None);
            let result = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map(|inner| Conn { id, inner })
                .map_err(|err| format!("connect to {addr}: {err}"));
            attempt.finish(result.as_ref().ok().cloned());
            tx.send_replace(Some(result));
        });
        rx
    }

    /// Round-robin over the pool.
    fn next_slot(&self) -> &Arc<Slot> {
        let i = self.next_slot.fetch_add(1, Ordering::Relaxed);
        &self.slots[i % self.slots.len()]
    }

    /// Observes the call's latency and feeds its outcome to the backoff.
    fn record(&self, started: Instant, result: &Result<GlobalVerdict, StoreError>) {
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(_) => {
                self.latency.ok.observe(seconds);
                self.backoff.succeeded();
            }
            Err(err) => {
                let histogram = match err {
                    StoreError::Timeout(_) => &self.latency.timeout,
                    _ => &self.latency.error,
                };
                histogram.observe(seconds);
                self.backoff.failed(started, err);
            }
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.addr)
            .field("timeout", &self.settings.timeout)
            .field("pool_size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// The latency histogram's three children, resolved once (no label lookup per call).
struct Latency {
    ok: Histogram,
    error: Histogram,
    timeout: Histogram,
}

impl Latency {
    fn new(vec: &HistogramVec) -> Result<Self, StoreError> {
        // A histogram with one other label would accept the values and mislabel them.
        let labels: Vec<&[String]> = vec.desc().iter().map(|d| &d.variable_labels[..]).collect();
        if labels != [["outcome".to_string()]] {
            return Err(StoreError::Histogram(format!(
                "labels {labels:?}, expected [\"outcome\"]"
            )));
        }
        let child = |outcome: &str| {
            vec.get_metric_with_label_values(&[outcome])
                .map_err(|err| StoreError::Histogram(err.to_string()))
        };
        Ok(Self {
            ok: child("ok")?,
            error: child("error")?,
            timeout: child("timeout")?,
        })
    }
}

/// One pooled connection, numbered so a failure replaces exactly the connection that failed.
#[derive(Clone)]
struct Conn {
    id: u64,
    inner: MultiplexedConnection,
}

/// How a waiter learns the outcome of a connection attempt (`None` while it runs).
type ConnectOutcome = watch::Receiver<Option<Result<Conn, String>>>;

/// One place in the pool.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
enum SlotState {
    /// No connection: the next call starts an attempt.
    #[default]
    Empty,
    /// Attempt `id` is under way.
    Connecting {
        id: u64,
        done: ConnectOutcome,
    },
    Ready(Conn),
}

impl Slot {
    /// The state; never held across an await. A poisoned lock still holds a consistent state
    /// (every update is a single assignment).
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops connection `id` if it is still the slot's, so the next call reconnects. Callers that
    /// still hold a clone finish their requests on it.
    fn forget(&self, id: u64) {
        let mut state = self.lock();
        if matches!(&*state, SlotState::Ready(conn) if conn.id == id) {
            *state = SlotState::Empty;
        }
    }
}

/// A running connection attempt's claim on its slot. Settles the slot when the attempt finishes,
/// or, if its task is dropped (its runtime shut down), frees the slot for a new attempt.
struct ConnectAttempt {
    slot: Arc<Slot>,
    id: u64,
}

impl ConnectAttempt {
    fn finish(self, conn: Option<Conn>) {
        let mut state = self.slot.lock();
        if matches!(&*state, SlotState::Connecting { id, .. } if *id == self.id) {
            *state = conn.map_or(SlotState::Empty, SlotState::Ready);
        }
        // Drop (below) then finds the slot settled and leaves it alone.
    }
}

impl Drop for ConnectAttempt {
    fn drop(&mut self) {
        let mut state = self.slot.lock();
        if matches!(&*state, SlotState::Connecting { id, .. } if *id == self.id) {
            *state = SlotState::Empty;
        }
    }
}

/// Failure backoff shared by the pool: one Redis, one verdict on whether it is answering.
#[derive(Default)]
struct Backoff {
    state: Mutex<BackoffState>,
}

struct BackoffState {
    /// No call before this instant; `None` while Redis answers.
    until: Option<Instant>,
    /// When the current backoff began: calls started before it failed in the same outage and do
    /// not lengthen it.
    since: Option<Instant>,
    /// The length of the next backoff.
    delay: Duration,
    /// The failure that started the backoff, for `Unavailable` messages.
    reason: String,
    /// Timeouts since the last success, while not backing off.
    timeouts_in_a_row: u32,
}

impl Default for BackoffState {
    fn default() -> Self {
        Self {
            until: None,
            since: None,
            delay: BACKOFF_INITIAL,
            reason: String::new(),
            timeouts_in_a_row: 0,
        }
    }
}

impl Backoff {
    fn lock(&self) -> MutexGuard<'_, BackoffState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a call through unless the store is backing off. The first call after a backoff is
    /// the probe: others are refused while it runs (at most `timeout`), so a dead Redis costs one
    /// request one timeout per backoff, not every request. A refusal says how long it lasts, and
    /// why.
    fn enter(&self, now: Instant, timeout: Duration) -> Result<(), String> {
        let mut state = self.lock();
        match state.until {
            None => Ok(()),
            Some(until) if now < until => Err(format!(
                "no call for another {:?} after: {}",
                until - now,
                state.reason
            )),
            Some(_) => {
                // A probe cancelled with its request just lets the window run out.
                state.until = Some(now + timeout);
                Ok(())
            }
        }
    }

    fn succeeded(&self) {
        let mut state = self.lock();
        if state.until.is_some() || state.delay != BACKOFF_INITIAL || state.timeouts_in_a_row > 0 {
            *state = BackoffState::default();
        }
    }

    fn failed(&self, started: Instant, err: &StoreError) {
        let mut state = self.lock();
        if state.until.is_some() && state.since.is_some_and(|since| started < since) {
            return;
        }
        if matches!(err, StoreError::Timeout(_)) && state.until.is_none() {
            state.timeouts_in_a_row += 1;
            if state.timeouts_in_a_row < TIMEOUTS_BEFORE_BACKOFF {
                return;
            }
        }
        let now = Instant::now();
        state.until = Some(now + state.delay);
        state.since = Some(now);
        state.delay = (state.delay * 2).min(BACKOFF_MAX);
        state.reason = err.to_string();
    }
}

/// The interval in whole microseconds (rounded, at least 1) as the script takes it.
fn interval_micros(interval: Duration) -> u64 {
    let micros = interval.as_nanos().saturating_add(500) / 1000;
    u64::try_from(micros).unwrap_or(u64::MAX).max(1)
}

/// Whether an error leaves the connection unusable (anything but an error reply from Redis).
fn breaks_connection(err: &RedisError) -> bool {
    !matches!(
        err.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

/// Turns the script's reply into a verdict, checking its shape against the buckets sent.
fn parse_reply(reply: &[i64], buckets: usize) -> Result<GlobalVerdict, StoreError> {
    match reply {
        [1, states @ ..] if states.len() == 2 * buckets => Ok(GlobalVerdict::Admitted(
            states
                .chunks_exact(2)
                .map(|pair| bucket_state(pair[0], pair[1]))
                .collect(),
        )),
        [0, index, retry_after, reset] => match usize::try_from(*index) {
            Ok(index) if index < buckets => Ok(GlobalVerdict::Limited {
                index,
                retry_after: micros(*retry_after),
                state: bucket_state(0, *reset),
            }),
            _ => Err(unexpected_reply(reply, buckets)),
        },
        _ => Err(unexpected_reply(reply, buckets)),
    }
}

fn unexpected_reply(reply: &[i64], buckets: usize) -> StoreError {
    StoreError::Redis(format!("script replied {reply:?} for {buckets} bucket(s)"))
}

fn bucket_state(remaining: i64, reset: i64) -> BucketState {
    BucketState {
        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
        reset: micros(reset),
    }
}

fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_verdicts() {
        let admitted = parse_reply(&[1, 4, 200_000, 0, 1_000_000], 2);
        assert_eq!(
            admitted,
            Ok(GlobalVerdict::Admitted(vec![
                BucketState {
                    remaining: 4,
                    reset: Duration::from_millis(200)
                },
                BucketState {
                    remaining: 0,
                    reset: Duration::from_secs(1)
                },
            ]))
        );
        assert_eq!(
            parse_reply(&[0, 1, 900, 5_000], 2),
            Ok(GlobalVerdict::Limited {
                index: 1,
                retry_after: Duration::from_micros(900),
                state: BucketState {
                    remaining: 0,
                    reset: Duration::from_micros(5_000)
                },
            })
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        for reply in [
            &[][..],
            &[1, 4][..],
            &[0, 2, 1, 1][..],
            &[0, -1, 1, 1][..],
            &[7][..],
        ] {
            assert!(
                matches!(parse_reply(reply, 2), Err(StoreError::Redis(_))),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn intervals_round_to_whole_microseconds() {
        assert_eq!(interval_micros(Duration::from_secs(1) / 3), 333_333);
        assert_eq!(interval_micros(Duration::from_nanos(1_600)), 2);
        assert_eq!(interval_micros(Duration::from_nanos(1)), 1);
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact("redis://:hunter2@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn single_timeouts_do_not_back_off_but_a_run_of_them_does() {
        let backoff = Backoff::default();
        let timeout = StoreError::Timeout(Duration::from_millis(5));
        for _ in 0..2 {
            backoff.failed(Instant::now(), &timeout);
        }
        backoff.succeeded();
        for _ in 0..2 {
            backoff.failed(Instant::now(), &timeout);
            assert!(backoff.lock().until.is_none());
        }
        backoff.failed(Instant::now(), &timeout);
        assert!(backoff.lock().until.is_some(), "three in a row back off");
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let backoff = Backoff::default();
        let err = StoreError::Redis("connection refused".into());
        let t0 = Instant::now();
        backoff.failed(t0, &err);
        let until = backoff.lock().until.expect("backing off");
        assert!(
            backoff
                .enter(Instant::now(), Duration::from_millis(5))
                .is_err()
        );
        // A call that started before the backoff does not lengthen it.
        backoff.failed(t0, &err);
        assert_eq!(backoff.lock().until, Some(until));
        assert_eq!(backoff.lock().delay, BACKOFF_INITIAL * 2);
        // After it: one probe, the others still refused.
        assert!(backoff.enter(until, Duration::from_millis(5)).is_ok());
        assert!(backoff.enter(until, Duration::from_millis(5)).is_err());
        backoff.failed(until + Duration::from_millis(5), &err);
        assert_eq!(backoff.lock().delay, BACKOFF_INITIAL * 4);
        for _ in 0..10 {
            backoff.lock().until = Some(Instant::now() - Duration::from_millis(1));
            let probe = Instant::now();
            assert!(backoff.enter(probe, Duration::from_millis(5)).is_ok());
            backoff.failed(probe, &err);
        }
        assert_eq!(backoff.lock().delay, BACKOFF_MAX);
        backoff.succeeded();
        assert!(
            backoff
                .enter(Instant::now(), Duration::from_millis(5))
                .is_ok()
        );
        assert_eq!(backoff.lock().delay, BACKOFF_INITIAL);
    }
}
