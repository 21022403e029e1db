//! Graceful shutdown. On SIGTERM `/readyz` fails at once; Pingora then stops
//! accepting on the proxy listener, closes idle keep-alive connections and lets requests in flight
//! finish (without keep-alive); the process exits 0 as soon as no proxy connection is open, or
//! when `gateway.shutdown_grace` has passed, whichever comes first. SIGINT stops at once.
//! SIGQUIT is the old process's half of a binary upgrade: keep-alive ends at once, Pingora sends
//! the listening sockets to the new process (`--upgrade`) and keeps accepting for its fixed 5 s,
//! then stops; the drain above starts only then, so no connection is accepted after it.
//! SIGUSR2 does both halves: it starts the binary on disk with `--upgrade` as the successor
//! (`upgrade.rs`), then hands over as on SIGQUIT; if the successor fails to start, it serves on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ExecutionPhase, ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast;

use crate::state::Gateway;

/// How often the drain looks at the open connections.
const POLL: Duration = Duration::from_millis(20);
/// Connections must stay at zero this long, so one accepted just before the listener closed is
/// seen before the process exits.
const SETTLE: Duration = Duration::from_millis(60);

/// Pingora's shutdown signal source, which also starts Weir's drain.
pub struct DrainSignals {
    pub gateway: Arc<Gateway>,
    /// Pingora's execution phases (`Server::watch_execution_phase`), taken by an upgrade's drain
    /// to wait for the listeners to close.
    pub phases: std::sync::Mutex<Option<broadcast::Receiver<ExecutionPhase>>>,
    /// `--upgrade-socket`: where a successor started on SIGUSR2 waits for the sockets.
    pub upgrade_socket: std::path::PathBuf,
}

#[async_trait]
impl ShutdownSignalWatch for DrainSignals {
    async fn recv(&self) -> ShutdownSignal {
        let kinds = [
            SignalKind::terminate(),
            SignalKind::quit(),
            SignalKind::interrupt(),
            SignalKind::user_defined2(),
        ];
        let [term, quit, interrupt, usr2] = kinds.map(signal);
        let (mut term, mut quit, mut interrupt, mut usr2) = match (term, quit, interrupt, usr2) {
            (Ok(term), Ok(quit), Ok(interrupt), Ok(usr2)) => (term, quit, interrupt, usr2),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                tracing::error!(error = %e, "cannot listen for shutdown signals; stopping");
                return ShutdownSignal::FastShutdown;
            }
        };
        let name = loop {
            tokio::select! {
                _ = term.recv() => break "SIGTERM",
                _ = quit.recv() => break "SIGQUIT",
                _ = interrupt.recv() => {
                    tracing::info!(signal = "SIGINT", "stopping now");
                    return ShutdownSignal::FastShutdown;
                }
                // Start the binary now on disk as this one's successor; hand over only once it
                // waits for the sockets, else keep serving.
                _ = usr2.recv() => match crate::upgrade::start_successor(&self.upgrade_socket).await {
                    Ok(pid) => {
                        tracing::info!(signal = "SIGUSR2", pid, "upgrade: successor started");
                        break "SIGUSR2";
                    }
                    Err(e) => tracing::error!(signal = "SIGUSR2", error = %e, "upgrade: no successor; serving on"),
                },
            }
        };
        let grace = self.gateway.snapshot().config.node.gateway.shutdown_grace;
        let upgrade = name != "SIGTERM";
        if self.gateway.start_draining() {
            tracing::info!(
                signal = name,
                grace_ms = grace.as_millis() as u64,
                open_connections = self.gateway.open_connections(),
                "shutting down: not ready, no new connections, finishing requests in flight"
            );
            let gateway = Arc::clone(&self.gateway);
            let phases = match self.phases.lock() {
                Ok(mut phases) if upgrade => phases.take(),
                _ => None,
            };
            let spawned = std::thread::Builder::new()
                .name("weir-drain".to_string())
                .spawn(move || {
                    if let Some(phases) = phases {
                        tracing::info!("upgrade: handing the listening sockets over");
                        wait_for_listeners_closed(phases);
                    }
                    exit_when_drained(&gateway, grace, Instant::now());
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the drain; Pingora's grace period applies");
            }
        }
        if upgrade {
            ShutdownSignal::GracefulUpgrade
        } else {
            ShutdownSignal::GracefulTerminate
        }
    }
}

/// Blocks until Pingora starts its shutdown (the sockets are handed over and its listeners stop
/// accepting), or its phase channel ends.
pub fn wait_for_listeners_closed(mut phases: broadcast::Receiver<ExecutionPhase>) {
    loop {
        match phases.blocking_recv() {
            Ok(phase) if listeners_closed(&phase) => return,
            Err(broadcast::error::RecvError::Closed) => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
        }
    }
}

/// Pingora sends `ShutdownStarted` after it broadcast the shutdown its listeners stop on; the
/// upgrade phases before it (sending the sockets, its 5 s close timeout) still accept.
fn listeners_closed(phase: &ExecutionPhase) -> bool {
    matches!(
        phase,
        ExecutionPhase::ShutdownStarted
            | ExecutionPhase::ShutdownGracePeriod
            | ExecutionPhase::ShutdownRuntimes
            | ExecutionPhase::Terminated
    )
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
    fn an_upgrade_drains_only_after_the_listeners_stop_accepting() {
        let (tx, rx) = broadcast::channel(8);
        for phase in [
            ExecutionPhase::Running,
            ExecutionPhase::GracefulUpgradeTransferringFds,
            ExecutionPhase::GracefulUpgradeCloseTimeout,
        ] {
            assert!(!listeners_closed(&phase), "{phase:?}");
            tx.send(phase).unwrap();
        }
        tx.send(ExecutionPhase::ShutdownStarted).unwrap();
        let mut after = tx.subscribe();
        tx.send(ExecutionPhase::ShutdownGracePeriod).unwrap();
        wait_for_listeners_closed(rx);
        assert!(matches!(
            after.try_recv(),
            Ok(ExecutionPhase::ShutdownGracePeriod)
        ));
        // Pingora gone without a word: the drain goes ahead.
        let (tx, rx) = broadcast::channel::<ExecutionPhase>(1);
        drop(tx);
        wait_for_listeners_closed(rx);
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
