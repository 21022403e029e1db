//! The JSON access log: one line per request, written off the request path through a bounded,
//! lossy queue, so a slow disk or pipe drops lines (counted) instead of stalling or growing. The
//! file is reopened on request (SIGUSR1, for log rotation) and flushed at exit.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
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
    /// The path as the origin got it (normalised unless the route forwards the raw path).
    pub path: &'a str,
    /// The query string, without `?` (left out with `access_log.query = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<&'a str>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`.
    pub http_version: &'static str,
    /// The TLS version (`TLSv1.3`) on an HTTPS listener; absent on the plain one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<&'a str>,
    /// On an HTTPS listener, the protocol spoken after the handshake: `h2` (chosen by ALPN) or
    /// `http/1.1` (chosen by ALPN, or the client offered none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<&'static str>,
    /// On an HTTPS listener, the SNI name the client sent (at most 255 bytes; `null` when it
    /// sent none); absent on the plain one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    /// The W3C trace id sent upstream (the client's, or the trace started here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<&'a str>,
    pub status: u16,
    pub route: &'a str,
    pub upstream: &'a str,
    pub region: &'a str,
    pub endpoint: &'a str,
    /// How the region was chosen: normal, spill or panic.
    pub selection: &'a str,
    /// How the last attempt's pool is spoken to: `h1`, `h2`, `h1+tls` or `h2+tls`; absent
    /// when no attempt was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_protocol: Option<&'static str>,
    pub attempts: u32,
    /// The endpoints tried before the last one (`endpoint`), in order.
    #[serde(skip_serializing_if = "EndpointList::is_empty")]
    pub tried: EndpointList<'a>,
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
    /// Why the gateway refused the request itself (`path_above_root`, `method_trace`,
    /// `missing_host`, `body_too_large`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<&'a str>,
    /// Whose failure `error` was: upstream, client or gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_side: Option<&'a str>,
}

/// Endpoint labels serialised as a JSON array straight from the request's list, without
/// collecting them first.
#[derive(Debug, Clone, Copy)]
pub struct EndpointList<'a>(pub &'a [std::sync::Arc<crate::endpoint::EndpointState>]);

impl EndpointList<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for EndpointList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|e| e.label.as_str()))
    }
}

pub struct AccessLog {
    writer: Option<Writer>,
    dropped_reported: AtomicUsize,
}

/// The request path's end of the queue to the writer thread.
struct Writer {
    queue: SyncSender<Command>,
    dropped: Arc<AtomicUsize>,
    /// The writer thread, joined by `flush` at exit.
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

enum Command {
    Line(Vec<u8>),
    /// Close and open the file again (after a rotation moved it).
    Reopen,
    /// Write out what is buffered and end the thread.
    Stop,
}

/// Where lines go: standard output, or a file opened for appending (created if missing).
enum Sink {
    Stdout,
    File(PathBuf),
}

impl Sink {
    fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Sink::Stdout => Box::new(std::io::stdout()),
            Sink::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        })
    }
}

impl AccessLog {
    pub fn open(settings: &AccessLogSettings) -> std::io::Result<Self> {
        if !settings.enabled {
            return Ok(Self::disabled());
        }
        let sink = match &settings.path {
            None => Sink::Stdout,
            Some(path) => Sink::File(path.clone()),
        };
        let out = sink.open()?;
        let (queue, commands) = sync_channel(QUEUE_LINES);
        let thread = std::thread::Builder::new()
            .name("weir-access-log".to_string())
            .spawn(move || write_lines(&sink, out, &commands))?;
        Ok(Self {
            writer: Some(Writer {
                queue,
                dropped: Arc::new(AtomicUsize::new(0)),
                thread: Mutex::new(Some(thread)),
            }),
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
        let Some(writer) = &self.writer else {
            return;
        };
        let mut line = Vec::with_capacity(512);
        if serde_json::to_writer(&mut line, entry).is_ok() {
            line.push(b'\n');
            // Lossy: a full queue drops the line and counts it; nothing else can fail here.
            if writer.queue.try_send(Command::Line(line)).is_err() {
                writer.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reopen the log file (for rotation: after it was renamed, lines go to a new file at the
    /// configured path). Lines already queued go to the old file. Nothing for standard output.
    pub fn reopen(&self) {
        if let Some(writer) = &self.writer {
            // Blocking send: a reopen must not be dropped when the queue is full.
            let _ = writer.queue.send(Command::Reopen);
        }
    }

    /// Write out every queued line and stop the writer (at exit); later lines are dropped.
    pub fn flush(&self) {
        let Some(writer) = &self.writer else {
            return;
        };
        let _ = writer.queue.send(Command::Stop);
        let thread = writer.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Lines dropped since the last call (for the metrics counter).
    pub fn take_dropped(&self) -> usize {
        let Some(writer) = &self.writer else {
            return 0;
        };
        let total = writer.dropped.load(Ordering::Relaxed);
        let before = self.dropped_reported.swap(total, Ordering::Relaxed);
        total.saturating_sub(before)
    }
}

/// The writer thread: write lines as they come, flushing whenever the queue runs empty.
fn write_lines(sink: &Sink, out: Box<dyn Write + Send>, commands: &Receiver<Command>) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    let mut next = commands.recv().ok();
    while let Some(command) = next {
        match command {
            Command::Line(line) => {
                if let Err(e) = out.write_all(&line) {
                    tracing::warn!(error = %e, "access log write failed");
                }
            }
            Command::Reopen => {
                let _ = out.flush();
                match sink.open() {
                    Ok(file) => {
                        out = BufWriter::with_capacity(64 * 1024, file);
                        tracing::info!("access log reopened");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reopen the access log; writing to the old file")
                    }
                }
            }
            Command::Stop => break,
        }
        next = match commands.try_recv() {
            Ok(command) => Some(command),
            Err(TryRecvError::Empty) => {
                let _ = out.flush();
                commands.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    let _ = out.flush();
}

/// Now, as RFC 3339 with milliseconds (UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::{AccessEntry, EndpointList};

    fn entry<'a>(sni: Option<Option<&'a str>>) -> AccessEntry<'a> {
        AccessEntry {
            time: String::new(),
            request_id: "r",
            client: None,
            peer: None,
            method: "GET",
            host: "a.test",
            path: "/",
            query: None,
            http_version: "HTTP/2",
            tls_version: sni.map(|_| "TLSv1.3"),
            alpn: sni.map(|_| "h2"),
            sni,
            user_agent: None,
            trace_id: None,
            status: 200,
            route: "",
            upstream: "",
            region: "",
            endpoint: "",
            selection: "normal",
            upstream_protocol: None,
            attempts: 0,
            tried: EndpointList(&[]),
            duration_ms: 0.0,
            upstream_ms: None,
            bytes: 0,
            config_version: 1,
            error: None,
            rate_limited_by: None,
            shed_by: None,
            fault: None,
            priority: "normal",
            rejected: None,
            failure_side: None,
        }
    }

    fn line(entry: &AccessEntry<'_>) -> String {
        serde_json::to_string(entry).expect("serialise")
    }

    #[test]
    fn sni_is_a_name_null_without_one_and_absent_without_tls() {
        let named: serde_json::Value =
            serde_json::from_str(&line(&entry(Some(Some("a.test"))))).expect("json");
        assert_eq!(named["sni"], "a.test");
        let unnamed: serde_json::Value =
            serde_json::from_str(&line(&entry(Some(None)))).expect("json");
        assert!(
            unnamed.get("sni").is_some_and(serde_json::Value::is_null),
            "{unnamed}"
        );
        let plain: serde_json::Value = serde_json::from_str(&line(&entry(None))).expect("json");
        assert!(plain.get("sni").is_none(), "{plain}");
    }

    #[test]
    fn a_hostile_sni_stays_inside_its_json_string() {
        let hostile = "x\",\"status\":500,\"a\":\"\n\u{7}\\";
        let text = line(&entry(Some(Some(hostile))));
        assert!(!text.contains('\n'), "one line: {text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(parsed["sni"], hostile);
        assert_eq!(parsed["status"], 200);
    }
}
