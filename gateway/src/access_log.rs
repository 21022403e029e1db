//! The JSON access log: one line per request, written off the request path through a bounded,
//! lossy queue, so a slow disk or pipe drops lines (counted) instead of stalling or growing.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::Serialize;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use weir_config::AccessLogSettings;

/// Lines that may wait for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 16 * 1024;

/// One request as the access log records it.
#[derive(Debug, Serialize)]
pub struct AccessEntry<'a> {
    pub time: String,
    pub request_id: &'a str,
    /// The client address under the `[client_ip]` rules.
    pub client: Option<String>,
    /// The connection's peer address (a proxy's, when the client is behind one).
    pub peer: Option<String>,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub route: &'a str,
    pub upstream: &'a str,
    pub region: &'a str,
    pub endpoint: &'a str,
    /// How the region was chosen: normal, spill or panic.
    pub selection: &'a str,
    pub attempts: u32,
    pub duration_ms: f64,
    pub upstream_ms: Option<f64>,
    pub bytes: usize,
    pub config_version: u64,
    pub error: Option<String>,
    /// The rate-limit policy that refused the request (429, or 503 with its store away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limited_by: Option<&'a str>,
    /// Where the request was shed or failed fast: gateway, upstream, connect, circuit_breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed_by: Option<&'a str>,
    /// The fault injected by the route's `[routes.fault]`: delay, abort or delay+abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'a str>,
    /// The priority class of the route.
    pub priority: &'a str,
}

pub struct AccessLog {
    writer: Option<(NonBlocking, ErrorCounter, WorkerGuard)>,
    dropped_reported: AtomicUsize,
}

impl AccessLog {
    pub fn open(settings: &AccessLogSettings) -> std::io::Result<Self> {
        if !settings.enabled {
            return Ok(Self::disabled());
        }
        let builder = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUE_LINES)
            .thread_name("weir-access-log");
        let (writer, guard) = match &settings.path {
            None => builder.finish(std::io::stdout()),
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                builder.finish(file)
            }
        };
        let errors = writer.error_counter();
        Ok(Self {
            writer: Some((writer, errors, guard)),
            dropped_reported: AtomicUsize::new(0),
        })
    }

    pub fn disabled() -> Self {
        Self {
            writer: None,
            dropped_reported: AtomicUsize::new(0),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.writer.is_some()
    }

    pub fn write(&self, entry: &AccessEntry<'_>) {
        let Some((writer, _, _)) = &self.writer else {
            return;
        };
        let mut line = Vec::with_capacity(512);
        if serde_json::to_writer(&mut line, entry).is_ok() {
            line.push(b'\n');
            // Lossy: a full queue drops the line and counts it; nothing else can fail here.
            let _ = writer.clone().write_all(&line);
        }
    }

    /// Lines dropped since the last call (for the metrics counter).
    pub fn take_dropped(&self) -> usize {
        let Some((_, errors, _)) = &self.writer else {
            return 0;
        };
        let total = errors.dropped_lines();
        let before = self.dropped_reported.swap(total, Ordering::Relaxed);
        total.saturating_sub(before)
    }
}

/// Now, as RFC 3339 with milliseconds (UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
