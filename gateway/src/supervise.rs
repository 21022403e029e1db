//! Background tasks that never die silently: each runs under a supervisor that logs a task which
//! panicked or returned before shutdown, counts it in `weir_background_task_restarts_total{task}`,
//! and starts it again after a backoff (100 ms doubling to 10 s; back to 100 ms once a run lasted
//! a minute). Only the shutdown signal ends a supervised task.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::{BackgroundService, GenBackgroundService};
use prometheus::IntCounter;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The first wait before a restart.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run at least this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// `task` as a Pingora background service named `name`, restarted whenever it stops early.
pub fn service<T>(
    name: &'static str,
    metrics: &Metrics,
    task: T,
) -> GenBackgroundService<Supervised<T>>
where
    T: BackgroundService + Send + Sync + 'static,
{
    GenBackgroundService::new(
        format!("weir {name}"),
        Arc::new(Supervised::new(name, metrics, task)),
    )
}

pub struct Supervised<T> {
    name: &'static str,
    task: Arc<T>,
    restarts: IntCounter,
}

impl<T> Supervised<T> {
    pub fn new(name: &'static str, metrics: &Metrics, task: T) -> Self {
        Self {
            name,
            task: Arc::new(task),
            restarts: metrics.background_task_restarts.with_label_values(&[name]),
        }
    }
}

#[async_trait]
impl<T> BackgroundService for Supervised<T>
where
    T: BackgroundService + Send + Sync + 'static,
{
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let (task, watch) = (Arc::clone(&self.task), shutdown.clone());
            let started = Instant::now();
            // A task of its own, so a panic ends that task only and comes back as an error here.
            let outcome = tokio::spawn(async move { task.start(watch).await }).await;
            if *shutdown.borrow() {
                return;
            }
            let reason = match outcome {
                Ok(()) => "returned before shutdown".to_string(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e.into_panic())),
                Err(e) => format!("failed: {e}"),
            };
            if started.elapsed() >= HEALTHY_RUN {
                backoff = FIRST_BACKOFF;
            }
            self.restarts.inc();
            tracing::error!(
                task = self.name,
                reason,
                restart_in_ms = backoff.as_millis() as u64,
                restarts = self.restarts.get(),
                "background task stopped; restarting it"
            );
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_string(), |text| (*text).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Panics on its first `panics` runs, then runs until shutdown, counting its runs.
    struct Flaky {
        panics: u32,
        runs: Arc<AtomicU32>,
    }

    #[async_trait]
    impl BackgroundService for Flaky {
        async fn start(&self, mut shutdown: ShutdownWatch) {
            let run = self.runs.fetch_add(1, Ordering::SeqCst);
            if run < self.panics {
                panic!("injected failure {run}");
            }
            let _ = shutdown.changed().await;
        }
    }

    fn restarts(metrics: &Metrics, task: &str) -> u64 {
        metrics
            .background_task_restarts
            .with_label_values(&[task])
            .get()
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_counted_and_stops_on_shutdown() {
        let metrics = Metrics::new().expect("metrics");
        let runs = Arc::new(AtomicU32::new(0));
        let supervised = Arc::new(Supervised::new(
            "flaky",
            &metrics,
            Flaky {
                panics: 2,
                runs: Arc::clone(&runs),
            },
        ));
        let (stop, watch) = tokio::sync::watch::channel(false);
        let running = tokio::spawn({
            let supervised = Arc::clone(&supervised);
            async move { supervised.start(watch).await }
        });
        // Paused time: the backoffs (100 ms, 200 ms) pass as soon as every task is idle.
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(restarts(&metrics, "flaky"), 2);
        assert!(
            !running.is_finished(),
            "a supervised task runs until shutdown"
        );
        stop.send(true).expect("send shutdown");
        running.await.expect("supervisor ends on shutdown");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no restart after shutdown");
        assert_eq!(restarts(&metrics, "flaky"), 2);
    }

    /// Returns at once, as a task whose loop broke by mistake.
    struct Quits {
        runs: Arc<AtomicU32>,
    }

    #[async_trait]
    impl BackgroundService for Quits {
        async fn start(&self, _shutdown: ShutdownWatch) {
            self.runs.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_returns_early_is_restarted_with_a_growing_backoff() {
        let metrics = Metrics::new().expect("metrics");
        let runs = Arc::new(AtomicU32::new(0));
        let supervised = Arc::new(Supervised::new(
            "quits",
            &metrics,
            Quits {
                runs: Arc::clone(&runs),
            },
        ));
        let (stop, watch) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let running = tokio::spawn({
            let supervised = Arc::clone(&supervised);
            async move { supervised.start(watch).await }
        });
        while runs.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Runs 2..5 waited 100 + 200 + 400 + 800 ms of (paused, virtual) time.
        assert!(started.elapsed() >= Duration::from_millis(1500));
        assert!(restarts(&metrics, "quits") >= 4);
        stop.send(true).expect("send shutdown");
        running.await.expect("supervisor ends on shutdown");
    }
}
