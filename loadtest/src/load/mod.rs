//! The load engine: worker threads of virtual users that send requests to the targets, in the
//! open model (on a schedule, timed from when each request was due) or the closed model (each
//! user as fast as its connection allows), and record what happened.
//!
//! Each worker thread runs a single-threaded tokio runtime with its share of the users, so a
//! user's request, its connection and its recorder live on one thread and share nothing but the
//! progress counters. The run starts when every worker has opened its connections.

pub mod conn;
pub mod group;
mod h1;
pub mod record;
pub mod schedule;
pub mod target;
mod user;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use http::HeaderName;

use record::Recorder;
use schedule::Schedule;
use target::{PickOrder, Target};

/// How requests are paced.
#[derive(Clone, Debug)]
pub enum Pacing {
    /// Requests are due on this schedule; latency is timed from when each was due.
    Open(Schedule),
    /// Every user sends its next request as soon as the previous one ended, for this long.
    Closed { duration: Duration },
}

/// Everything a run needs, checked.
#[derive(Debug)]
pub struct Plan {
    pub targets: Vec<Target>,
    /// The pick order of each phase (phases may weigh the targets differently).
    orders: Vec<PickOrder>,
    addrs: Vec<SocketAddr>,
    pub pacing: Pacing,
    /// Start of each phase in seconds (the first is 0).
    phase_starts: Vec<f64>,
    pub connections: u32,
    /// HTTP/2 streams per connection (1 for HTTP/1.1).
    pub streams: u32,
    pub http2: bool,
    pub threads: u32,
    pub timeout: Duration,
    /// Count responses by the value of this response header (`--group-by-header`).
    pub group_by: Option<HeaderName>,
    /// Count a 429 as an error (`--count-429-as-error`), in the live counters and recoveries.
    pub count_429_as_error: bool,
}

/// The shape of the load, as given.
#[derive(Clone, Debug)]
pub struct LoadShape {
    pub pacing: Pacing,
    pub phase_starts: Vec<f64>,
    /// Per phase, the targets' weights for that phase (in target order); empty: every phase
    /// uses the targets' own weights.
    pub phase_weights: Vec<Vec<u32>>,
    pub connections: u32,
    pub streams: u32,
    pub http2: bool,
    pub threads: u32,
    pub timeout: Duration,
}

/// Most connections (and HTTP/2 streams in all) a run may use.
pub const MAX_USERS: u32 = 100_000;
/// Longest run. The timeline keeps a small latency histogram (~13 KB) per second and worker
/// thread, so memory grows with the length of the run: ~280 MB per thread at this cap.
pub const MAX_DURATION: Duration = Duration::from_secs(6 * 3600);

impl Plan {
    /// Checks the combination; the error says what is wrong.
    pub fn new(mut targets: Vec<Target>, shape: LoadShape) -> Result<Self, String> {
        let weights: Vec<u32> = targets.iter().map(|t| t.weight).collect();
        let mut orders = vec![PickOrder::new(&weights)?];
        if !shape.phase_weights.is_empty() {
            orders = shape
                .phase_weights
                .iter()
                .map(|weights| {
                    if weights.len() != targets.len() {
                        return Err("a phase's weights must name every target".to_owned());
                    }
                    PickOrder::new(weights)
                })
                .collect::<Result<_, _>>()?;
        }
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for target in &mut targets {
            target.addr_index = match addrs.iter().position(|&a| a == target.addr) {
                Some(index) => index,
                None => {
                    addrs.push(target.addr);
                    addrs.len() - 1
                }
            };
        }
        if shape.connections == 0 || shape.streams == 0 || shape.threads == 0 {
            return Err("connections, streams and threads must be at least 1".to_owned());
        }
        if shape.streams > 1 && !shape.http2 {
            return Err("--streams needs --http2 (HTTP/1.1 sends one request at a time)".into());
        }
        if shape.threads > shape.connections {
            return Err(format!(
                "{} threads for {} connections: every thread needs a connection",
                shape.threads, shape.connections
            ));
        }
        if u64::from(shape.connections) * u64::from(shape.streams) > u64::from(MAX_USERS) {
            return Err(format!("connections × streams is at most {MAX_USERS}"));
        }
        if shape.timeout.is_zero() {
            return Err("the timeout must be more than 0".to_owned());
        }
        let duration = match &shape.pacing {
            Pacing::Open(schedule) => Duration::from_secs_f64(schedule.duration()),
            Pacing::Closed { duration } => *duration,
        };
        if duration.is_zero() || duration > MAX_DURATION {
            return Err("the duration must be more than 0 and at most 6h".to_owned());
        }
        let mut phase_starts = shape.phase_starts;
        if phase_starts.is_empty() {
            phase_starts.push(0.0);
        }
        Ok(Plan {
            targets,
            orders,
            addrs,
            pacing: shape.pacing,
            phase_starts,
            connections: shape.connections,
            streams: shape.streams,
            http2: shape.http2,
            threads: shape.threads,
            timeout: shape.timeout,
            group_by: None,
            count_429_as_error: false,
        })
    }

    /// Planned length of the run.
    pub fn duration(&self) -> Duration {
        match &self.pacing {
            Pacing::Open(schedule) => Duration::from_secs_f64(schedule.duration()),
            Pacing::Closed { duration } => *duration,
        }
    }

    /// The phase a request due at `t` seconds belongs to.
    fn phase_of(&self, t: f64) -> usize {
        self.phase_starts
            .partition_point(|&s| s <= t)
            .saturating_sub(1)
    }

    fn phase_count(&self) -> usize {
        self.phase_starts.len()
    }

    /// The target of request `k`, due in `phase`.
    fn pick(&self, phase: usize, k: u64) -> usize {
        self.orders[phase.min(self.orders.len() - 1)].pick(k)
    }
}

/// Counters all workers add to as they go, for the progress line.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    /// No response, or a 5xx.
    pub errors: AtomicU64,
}

impl Live {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.completed.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// A run under way.
pub struct Running {
    start: Instant,
    /// The wall-clock time of `start`.
    started_at: SystemTime,
    workers: Vec<JoinHandle<Recorder>>,
    live: Arc<Live>,
}

impl Running {
    /// The instant second 0 of the run began.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Second 0 on the wall clock: after the connections were opened, like every time the
    /// report gives relative to the start.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Whether every worker is done.
    pub fn is_finished(&self) -> bool {
        self.workers.iter().all(JoinHandle::is_finished)
    }

    /// Waits for every worker and merges what they measured.
    pub fn join(self) -> Recorder {
        let mut merged: Option<Recorder> = None;
        for worker in self.workers {
            // A worker that panicked lost its share; the others' figures still stand.
            let Ok(recorder) = worker.join() else {
                eprintln!("weir-loadtest: a worker thread failed; its requests are missing");
                continue;
            };
            match &mut merged {
                Some(m) => m.merge(&recorder),
                None => merged = Some(recorder),
            }
        }
        merged.unwrap_or_else(|| Recorder::new(1, 0))
    }
}

/// Starts the workers, waits until they have opened their connections (at most the request
/// timeout), and starts the clock.
pub fn start(plan: Arc<Plan>) -> io::Result<Running> {
    let live = Arc::new(Live::default());
    let threads = plan.threads as usize;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut start_txs = Vec::with_capacity(threads);
    let mut workers = Vec::with_capacity(threads);
    for (index, connections) in split(plan.connections, plan.threads)
        .into_iter()
        .enumerate()
    {
        let (start_tx, start_rx) = tokio::sync::oneshot::channel();
        start_txs.push(start_tx);
        let share = user::Share {
            thread: index as u64,
            first_connection: connections.start,
            connections: connections.end - connections.start,
        };
        let (plan, live, ready) = (Arc::clone(&plan), Arc::clone(&live), ready_tx.clone());
        let worker = std::thread::Builder::new()
            .name(format!("load-{index}"))
            .spawn(move || user::run_worker(plan, share, live, ready, start_rx))?;
        workers.push(worker);
    }
    drop(ready_tx);
    // Each worker says when its connections are open (or failed); a dead worker drops its sender.
    for _ in 0..threads {
        if ready_rx.recv().is_err() {
            break;
        }
    }
    // Both clocks read together, so a time relative to `start` maps to the wall clock.
    let (now, wall) = (Instant::now(), SystemTime::now());
    let lead = Duration::from_millis(5);
    let start = now + lead;
    for tx in start_txs {
        let _ = tx.send(start);
    }
    Ok(Running {
        start,
        started_at: wall + lead,
        workers,
        live,
    })
}

/// Splits `n` items into `parts` contiguous ranges whose sizes differ by at most one.
fn split(n: u32, parts: u32) -> Vec<std::ops::Range<u32>> {
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + u32::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_even_and_contiguous() {
        assert_eq!(split(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(split(2, 2), vec![0..1, 1..2]);
        assert_eq!(split(5, 1), vec![0..5]);
    }
}
