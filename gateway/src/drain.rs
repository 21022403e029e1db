//! Graceful shutdown. On SIGTERM (or SIGQUIT) `/readyz` fails at once; Pingora then stops
//! accepting on the proxy listener, closes idle keep-alive connections and lets requests in flight
//! finish (without keep-alive); the process exits 0 as soon as no proxy connection is open, or
//! when `gateway.shutdown_grace` has passed, whichever comes first. SIGINT stops at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{SignalKind, signal};

use crate::state::Gateway;

/// How often the drain looks at the open connections.
const POLL: Duration = Duration::from_millis(20);
/// Connections must stay at zero this long, so one accepted just before the listener closed is
/// seen before the process exits.
const SETTLE: Duration = Duration::from_millis(60);

/// Pingora's shutdown signal source, which also starts Weir's drain.
pub struct DrainSignals {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl ShutdownSignalWatch for DrainSignals {
    async fn recv(&self) -> ShutdownSignal {
        let kinds = [
            SignalKind::terminate(),
            SignalKind::quit(),
            SignalKind::interrupt(),
        ];
        let [term, quit, interrupt] = kinds.map(signal);
        let (mut term, mut quit, mut interrupt) = match (term, quit, interrupt) {
            (Ok(term), Ok(quit), Ok(interrupt)) => (term, quit, interrupt),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
                tracing::error!(error = %e, "cannot listen for shutdown signals; stopping");
                return ShutdownSignal::FastShutdown;
            }
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = quit.recv() => "SIGQUIT",
            _ = interrupt.recv() => {
                tracing::info!(signal = "SIGINT", "stopping now");
                return ShutdownSignal::FastShutdown;
            }
        };
        let grace = self.gateway.snapshot().config.node.gateway.shutdown_grace;
        if self.gateway.start_draining() {
            tracing::info!(
                signal = name,
                grace_ms = grace.as_millis() as u64,
                open_connections = self.gateway.open_connections(),
                "shutting down: not ready, no new connections, finishing requests in flight"
            );
            let gateway = Arc::clone(&self.gateway);
            let spawned = std::thread::Builder::new()
                .name("weir-drain".to_string())
                .spawn(move || {
                    exit_when_drained(&gateway, grace, Instant::now());
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the drain; Pingora's grace period applies");
            }
        }
        ShutdownSignal::GracefulTerminate
    }
}

/// What the drain saw when it ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// No connection was open (for `SETTLE`).
    Empty,
    /// The grace ran out with this many connections open.
    GraceOver(usize),
}

/// Waits for the open connections to reach zero or for `grace` to pass since `started`, polling
/// `open` and reading the time from `now`.
pub fn wait_for_drain(
    grace: Duration,
    started: Instant,
    mut open: impl FnMut() -> usize,
    mut now: impl FnMut() -> Instant,
    mut pause: impl FnMut(Duration),
) -> Drained {
    let mut empty_since: Option<Instant> = None;
    loop {
        let (count, at) = (open(), now());
        if count == 0 {
            let since = *empty_since.get_or_insert(at);
            if at.duration_since(since) >= SETTLE {
                return Drained::Empty;
            }
        } else {
            empty_since = None;
        }
        if at.duration_since(started) >= grace {
            return if count == 0 {
                Drained::Empty
            } else {
                Drained::GraceOver(count)
            };
        }
        pause(POLL);
    }
}

/// The drain thread: wait, flush the access log, exit 0.
fn exit_when_drained(gateway: &Gateway, grace: Duration, started: Instant) -> ! {
    let drained = wait_for_drain(
        grace,
        started,
        || gateway.open_connections(),
        Instant::now,
        std::thread::sleep,
    );
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match drained {
        Drained::Empty => tracing::info!(elapsed_ms, "drained; exiting"),
        Drained::GraceOver(open) => tracing::warn!(
            elapsed_ms,
            open_connections = open,
            "shutdown grace over; closing the connections still open and exiting"
        ),
    }
    gateway.access_log.flush();
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A manual clock that `pause` advances.
    struct Manual {
        t0: Instant,
        now: Cell<Duration>,
    }

    impl Manual {
        fn new() -> Self {
            Self {
                t0: Instant::now(),
                now: Cell::new(Duration::ZERO),
            }
        }
        fn at(&self) -> Instant {
            self.t0 + self.now.get()
        }
        fn elapsed(&self) -> Duration {
            self.now.get()
        }
        fn advance(&self, by: Duration) {
            self.now.set(self.now.get() + by);
        }
    }

    #[test]
    fn ends_once_connections_stay_at_zero() {
        let clock = Manual::new();
        // Two connections for 300 ms, then none.
        let open = || {
            if clock.elapsed() < Duration::from_millis(300) {
                2
            } else {
                0
            }
        };
        let drained = wait_for_drain(
            Duration::from_secs(5),
            clock.at(),
            open,
            || clock.at(),
            |d| clock.advance(d),
        );
        assert_eq!(drained, Drained::Empty);
        assert!(clock.elapsed() >= Duration::from_millis(300) + SETTLE);
        assert!(clock.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_connection_seen_during_the_settle_time_restarts_it() {
        let clock = Manual::new();
        let open = || match clock.elapsed().as_millis() {
            0..40 => 0,
            40..100 => 1,
            _ => 0,
        };
        let drained = wait_for_drain(
            Duration::from_secs(5),
            clock.at(),
            open,
            || clock.at(),
            |d| clock.advance(d),
        );
        assert_eq!(drained, Drained::Empty);
        assert!(clock.elapsed() >= Duration::from_millis(100) + SETTLE);
    }

    #[test]
    fn the_grace_bounds_the_wait() {
        let clock = Manual::new();
        let drained = wait_for_drain(
            Duration::from_secs(2),
            clock.at(),
            || 3,
            || clock.at(),
            |d| clock.advance(d),
        );
        assert_eq!(drained, Drained::GraceOver(3));
        assert!(clock.elapsed() >= Duration::from_secs(2));
        assert!(clock.elapsed() < Duration::from_secs(2) + POLL * 2);
    }

    #[test]
    fn a_zero_grace_exits_at_once() {
        let clock = Manual::new();
        let drained = wait_for_drain(
            Duration::ZERO,
            clock.at(),
            || 1,
            || clock.at(),
            |d| clock.advance(d),
        );
        assert_eq!(drained, Drained::GraceOver(1));
    }
}
