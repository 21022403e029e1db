//! Virtual users: the loops that take the next request, wait until it is due (open model), send
//! it and record how it ended. One worker thread runs a share of them on a local task set.
//!
//! Open model, and why "corrected" means what it means: the users of a thread take request
//! numbers in order. A user that is free takes the next number before it is due and sleeps until
//! then; its latency is timed from when it was actually sent, because any lateness there is the
//! timer's (tokio's has 1 ms resolution), not the target's. A request that was already due when
//! a user became free had to wait for a connection: the target was too slow to free one, and
//! its latency is timed from when it was due. That is the coordinated-omission correction, and
//! the uncorrected view times every request from when it was sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::LocalSet;

use super::conn::Http2Conn;
use super::group::Grouper;
use super::h1::Http1Conn;
use super::record::{FailureKind, Finished, Layout, Outcome, Recorder, is_error};
use super::{Live, Pacing, Plan};

/// The connections a worker thread owns: `connections` of them from `first_connection`.
#[derive(Clone, Copy, Debug)]
pub struct Share {
    pub thread: u64,
    pub first_connection: u32,
    pub connections: u32,
}

/// Longest a worker waits for its connections to open before the run starts anyway.
const WARM_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed connect in the closed model, so a target that is down gets a steady
/// trickle of attempts rather than a busy loop.
const CLOSED_CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// What the users of one thread share.
struct Thread {
    plan: Arc<Plan>,
    share: Share,
    start: Instant,
    recorder: RefCell<Recorder>,
    /// The thread's next request number (open model: an index into its users' sequence).
    next: Cell<u64>,
    live: Arc<Live>,
    /// The thread's table of `--group-by-header` values, when the run groups responses.
    grouper: Option<Grouper>,
}

impl Thread {
    fn take(&self) -> u64 {
        let j = self.next.get();
        self.next.set(j + 1);
        j
    }

    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    fn users(&self) -> u64 {
        u64::from(self.share.connections) * u64::from(self.plan.streams)
    }

    fn first_user(&self) -> u64 {
        u64::from(self.share.first_connection) * u64::from(self.plan.streams)
    }

    fn all_users(&self) -> u64 {
        u64::from(self.plan.connections) * u64::from(self.plan.streams)
    }

    /// Records how a request ended, here and in the progress counters.
    fn finish(&self, finished: Finished) {
        let live = &self.live;
        if let Outcome::Response { .. } = finished.outcome {
            live.completed.fetch_add(1, Ordering::Relaxed);
        }
        if is_error(finished.outcome, self.plan.count_429_as_error) {
            live.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.recorder.borrow_mut().finished(finished);
    }

    fn sent(&self, at: f64, phase: usize, target: usize) {
        self.live.sent.fetch_add(1, Ordering::Relaxed);
        self.recorder.borrow_mut().sent(at, phase, target);
    }

    /// Sends a request to `target` on `connections`; returns how it ended.
    async fn send(&self, connections: &mut Connections, target: usize) -> Outcome {
        connections
            .send(&self.plan, target, self.grouper.as_ref())
            .await
    }
}

/// A user's way to the targets: its own HTTP/1.1 connections (one per target address) or a
/// share of HTTP/2 connections.
enum Connections {
    Http1(Vec<Http1Conn>),
    Http2(Rc<Vec<Http2Conn>>),
}

impl Connections {
    async fn warm(&mut self, timeout: Duration) {
        match self {
            Connections::Http1(conns) => {
                for conn in conns {
                    conn.warm(timeout).await;
                }
            }
            Connections::Http2(conns) => {
                for conn in conns.iter() {
                    conn.warm(timeout).await;
                }
            }
        }
    }

    async fn send(&mut self, plan: &Plan, target: usize, grouper: Option<&Grouper>) -> Outcome {
        let target = &plan.targets[target];
        match self {
            Connections::Http1(conns) => {
                let head_only = target.method == http::Method::HEAD;
                conns[target.addr_index]
                    .send(&target.http1_request, head_only, plan.timeout, grouper)
                    .await
            }
            Connections::Http2(conns) => {
                conns[target.addr_index]
                    .send(target, plan.timeout, grouper)
                    .await
            }
        }
    }
}

/// A worker thread's body: opens its users' connections, says it is ready, waits for the start,
/// runs the users to the end and returns what they recorded.
pub fn run_worker(
    plan: Arc<Plan>,
    share: Share,
    live: Arc<Live>,
    ready: mpsc::Sender<()>,
    start: oneshot::Receiver<Instant>,
) -> Recorder {
    let layout = Layout {
        phases: plan.phase_count(),
        targets: plan.targets.len(),
        max_seconds: max_seconds(&plan),
        grouped: plan.group_by.is_some(),
        count_429: plan.count_429_as_error,
    };
    let empty = Recorder::with_layout(layout);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("weir-loadtest: cannot start a worker runtime: {err}");
            return empty;
        }
    };
    let local = LocalSet::new();
    local.block_on(&runtime, async move {
        let users = open_connections(&plan, share);
        let (start_tx, start_rx) = watch::channel(None::<Instant>);
        let warming = Rc::new(Cell::new(users.len()));
        let ready = Rc::new(RefCell::new(Some(ready)));
        let mut tasks = Vec::with_capacity(users.len());
        let (thread_tx, thread_rx) = watch::channel(None::<Rc<Thread>>);
        for mut connections in users {
            let (warming, ready) = (Rc::clone(&warming), Rc::clone(&ready));
            let mut thread_rx = thread_rx.clone();
            let warm_timeout = plan.timeout.min(WARM_TIMEOUT);
            tasks.push(tokio::task::spawn_local(async move {
                connections.warm(warm_timeout).await;
                warming.set(warming.get() - 1);
                if warming.get() == 0 {
                    // The last user to be ready tells the coordinator.
                    if let Some(ready) = ready.borrow_mut().take() {
                        let _ = ready.send(());
                    }
                }
                let Ok(thread) = thread_rx.wait_for(Option::is_some).await else {
                    return;
                };
                let Some(thread) = thread.clone() else { return };
                run_user(&thread, connections).await;
            }));
        }
        drop(start_tx);
        drop(start_rx);
        let Ok(start) = start.await else {
            return empty;
        };
        let thread = Rc::new(Thread {
            plan: Arc::clone(&plan),
            share,
            start,
            recorder: RefCell::new(empty),
            next: Cell::new(0),
            live,
            grouper: plan.group_by.clone().map(Grouper::new),
        });
        let _ = thread_tx.send(Some(Rc::clone(&thread)));
        for task in tasks {
            let _ = task.await;
        }
        let mut recorder = thread.recorder.replace(Recorder::with_layout(layout));
        if let Some(grouper) = &thread.grouper {
            recorder.group_values = grouper.values();
        }
        recorder
    })
}

/// Seconds the timeline may need: the run, the backlog sent up to a timeout after it, and that
/// last request's own timeout.
fn max_seconds(plan: &Plan) -> usize {
    (plan.duration() + plan.timeout * 2).as_secs() as usize + 2
}

/// Each user's connections: HTTP/1.1 users have their own; HTTP/2 users share theirs with the
/// other streams of the same connection.
fn open_connections(plan: &Plan, share: Share) -> Vec<Connections> {
    let all_idempotent = plan.targets.iter().all(|t| t.method.is_idempotent());
    let mut users = Vec::new();
    for _ in 0..share.connections {
        if plan.http2 {
            let shared = Rc::new(plan.addrs.iter().map(|&a| Http2Conn::new(a)).collect());
            for _ in 0..plan.streams {
                users.push(Connections::Http2(Rc::clone(&shared)));
            }
        } else {
            users.push(Connections::Http1(
                plan.addrs
                    .iter()
                    .map(|&a| Http1Conn::new(a, all_idempotent))
                    .collect(),
            ));
        }
    }
    users
}

async fn run_user(thread: &Thread, mut connections: Connections) {
    match &thread.plan.pacing {
        Pacing::Open(schedule) => open_user(thread, schedule, &mut connections).await,
        Pacing::Closed { duration } => closed_user(thread, *duration, &mut connections).await,
    }
}

async fn open_user(
    thread: &Thread,
    schedule: &super::schedule::Schedule,
    connections: &mut Connections,
) {
    let plan = &thread.plan;
    let end = thread.start + plan.duration();
    let (users, first, all) = (thread.users(), thread.first_user(), thread.all_users());
    loop {
        // This thread's users own request numbers first..first+users of every round of `all`.
        let j = thread.take();
        let k = (j / users) * all + first + j % users;
        let Some(due) = schedule.due(k) else { break };
        let due_at = thread.start + Duration::from_secs_f64(due);
        let now = Instant::now();
        let waited_for_connection = now > due_at;
        if waited_for_connection {
            if now >= end + plan.timeout {
                // Due before the end, but no connection came free for a whole timeout after
                // it: the target is not answering, so the rest of the backlog is not sent.
                break;
            }
        } else {
            tokio::time::sleep_until(due_at.into()).await;
        }
        let sent_at = Instant::now();
        let sent = thread.seconds(sent_at);
        let phase = plan.phase_of(due);
        let target = plan.pick(phase, k);
        thread.sent(sent, phase, target);
        let outcome = thread.send(connections, target).await;
        thread.finish(Finished {
            start: if waited_for_connection { due } else { sent },
            sent,
            ended: thread.seconds(Instant::now()),
            phase,
            target,
            outcome,
        });
    }
}

async fn closed_user(thread: &Thread, duration: Duration, connections: &mut Connections) {
    let plan = &thread.plan;
    let end = thread.start + duration;
    let threads = u64::from(plan.threads);
    loop {
        let sent_at = Instant::now();
        if sent_at >= end {
            break;
        }
        let k = thread.take() * threads + thread.share.thread;
        let sent = thread.seconds(sent_at);
        let target = plan.pick(0, k);
        thread.sent(sent, 0, target);
        let outcome = thread.send(connections, target).await;
        thread.finish(Finished {
            start: sent,
            sent,
            ended: thread.seconds(Instant::now()),
            phase: 0,
            target,
            outcome,
        });
        if outcome == Outcome::Failed(FailureKind::Connect) {
            tokio::time::sleep(CLOSED_CONNECT_BACKOFF).await;
        }
    }
}
