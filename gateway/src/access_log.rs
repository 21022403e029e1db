//! The JSON access log: one line per request, serialised straight into a reused buffer (no
//! string per field) and written off the request path through a bounded, lossy queue, so a slow
//! disk or pipe drops lines (counted) instead of stalling or growing. Under load the writer thread
//! writes in batches: after a large batch it pauses, so the request threads queue lines without
//! waking it for each; a few lines at a time are written at once. The file is reopened on request
//! (SIGUSR1, for log rotation) and flushed at exit.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use weir_config::AccessLogSettings;

use crate::header_values::ipv4_text;

/// Lines that may wait for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 16 * 1024;
/// The writer's pause after a batch of at least `BUSY_BATCH` lines (under load): lines that
/// arrive meanwhile wait at most this long, and are written together (one write, and no wake-up
/// per line). After a smaller batch it waits for the next line without pausing, so at low rates
/// every line is written as soon as it comes.
const BATCH_PAUSE: Duration = Duration::from_millis(10);
const BUSY_BATCH: usize = 16;
/// Line buffers kept for reuse, and the largest one kept (a huge line's buffer is freed).
const SPARE_BUFFERS: usize = 1024;
const SPARE_CAPACITY: usize = 4096;

/// One request as the access log records it.
#[derive(Debug, Serialize)]
pub struct AccessEntry<'a> {
    pub time: Timestamp,
    pub request_id: &'a str,
    /// The client address under the `[client_ip]` rules.
    pub client: Option<Ip>,
    /// The connection's peer address (a proxy's, when the client is behind one).
    pub peer: Option<Ip>,
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
    pub error: Option<Shown<'a>>,
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

impl AccessEntry<'_> {
    /// The line as JSON: the same bytes `serde_json` makes of the derived `Serialize` (a test
    /// holds them equal), but each field name is written as a constant instead of being escaped
    /// byte by byte, which was a third of the line's cost.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut object = Fields { out, first: true };
        object.field("time", &self.time)?;
        object.text("request_id", self.request_id);
        object.field("client", &self.client)?;
        object.field("peer", &self.peer)?;
        object.text("method", self.method);
        object.text("host", self.host);
        object.text("path", self.path);
        object.some_text("query", self.query);
        object.text("http_version", self.http_version);
        object.some_text("tls_version", self.tls_version);
        object.some_text("alpn", self.alpn);
        object.some("sni", self.sni)?;
        object.some_text("user_agent", self.user_agent);
        object.some_text("trace_id", self.trace_id);
        object.field("status", &self.status)?;
        object.text("route", self.route);
        object.text("upstream", self.upstream);
        object.text("region", self.region);
        object.text("endpoint", self.endpoint);
        object.text("selection", self.selection);
        object.some_text("upstream_protocol", self.upstream_protocol);
        object.field("attempts", &self.attempts)?;
        if !self.tried.is_empty() {
            object.field("tried", &self.tried)?;
        }
        object.field("duration_ms", &self.duration_ms)?;
        object.field("upstream_ms", &self.upstream_ms)?;
        object.field("bytes", &self.bytes)?;
        object.field("config_version", &self.config_version)?;
        object.field("error", &self.error)?;
        object.some_text("rate_limited_by", self.rate_limited_by);
        object.some_text("shed_by", self.shed_by);
        object.some_text("fault", self.fault);
        object.text("priority", self.priority);
        object.some_text("rejected", self.rejected);
        object.some_text("failure_side", self.failure_side);
        object.out.push(b'}');
        Ok(())
    }
}

/// A JSON object being written field by field.
struct Fields<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Fields<'_> {
    /// `"name":value`; `name` is a plain identifier, so it needs no escaping.
    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> serde_json::Result<()> {
        self.name(name);
        serde_json::to_writer(&mut *self.out, value)
    }

    /// `"name":"text"`: copied as it is when nothing in it needs escaping (the common case),
    /// else escaped by `serde_json`.
    fn text(&mut self, name: &str, text: &str) {
        self.name(name);
        if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.push(b'"');
            self.out.extend_from_slice(text.as_bytes());
            self.out.push(b'"');
        } else {
            // Writing a string into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut *self.out, text);
        }
    }

    /// [`Self::text`] when there is one, nothing otherwise.
    fn some_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }

    /// `"name":` after the `{` or `,` before it.
    fn name(&mut self, name: &str) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// The field when it has a value, nothing otherwise (`skip_serializing_if = "Option::is_none"`).
    fn some<T: Serialize>(&mut self, name: &str, value: Option<T>) -> serde_json::Result<()> {
        match value {
            Some(value) => self.field(name, &value),
            None => Ok(()),
        }
    }
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

/// A time as the log writes it, RFC 3339 with milliseconds (UTC), formatted into the line.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub SystemTime);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

/// An address, written into the line as text (IPv4 digit by digit, much cheaper than `Display`).
#[derive(Debug, Clone, Copy)]
pub struct Ip(pub IpAddr);

impl Serialize for Ip {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            IpAddr::V4(v4) => serializer.serialize_str(ipv4_text(v4, &mut [0; 15])),
            IpAddr::V6(v6) => serializer.collect_str(&v6),
        }
    }
}

/// Something displayed (an error), written into the line without a string of its own.
#[derive(Clone, Copy)]
pub struct Shown<'a>(pub &'a dyn std::fmt::Display);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.to_string())
    }
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

pub struct AccessLog {
    writer: Option<Writer>,
    dropped_reported: AtomicUsize,
}

/// The request path's end of the queue to the writer thread.
struct Writer {
    queue: SyncSender<Command>,
    /// Emptied line buffers the writer thread gives back, for the next lines.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
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
        let spare = Arc::new(Mutex::new(Vec::with_capacity(SPARE_BUFFERS)));
        let given_back = Arc::clone(&spare);
        let thread = std::thread::Builder::new()
            .name("weir-access-log".to_string())
            .spawn(move || write_lines(&sink, out, &commands, &given_back))?;
        Ok(Self {
            writer: Some(Writer {
                queue,
                spare,
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
        let reused = writer.spare.lock().ok().and_then(|mut spare| spare.pop());
        let mut line = reused.unwrap_or_else(|| Vec::with_capacity(512));
        if entry.write_json(&mut line).is_ok() {
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

/// The writer thread: write what is queued, flush when the queue runs empty, give the emptied
/// buffers back, then, after a large batch, pause (`BATCH_PAUSE`) before taking more.
fn write_lines(
    sink: &Sink,
    out: Box<dyn Write + Send>,
    commands: &Receiver<Command>,
    spare: &Mutex<Vec<Vec<u8>>>,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    let mut emptied: Vec<Vec<u8>> = Vec::new();
    let mut batch = 0;
    let mut next = commands.recv().ok();
    while let Some(command) = next {
        batch += 1;
        match command {
            Command::Line(line) => {
                if let Err(e) = out.write_all(&line) {
                    tracing::warn!(error = %e, "access log write failed");
                }
                recycle(line, &mut emptied);
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
                give_back(spare, &mut emptied);
                if batch >= BUSY_BATCH {
                    std::thread::sleep(BATCH_PAUSE);
                }
                batch = 0;
                commands.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    let _ = out.flush();
}

/// Keep a written line's buffer, emptied, unless it grew large or enough are kept.
fn recycle(mut line: Vec<u8>, emptied: &mut Vec<Vec<u8>>) {
    if line.capacity() <= SPARE_CAPACITY && emptied.len() < SPARE_BUFFERS {
        line.clear();
        emptied.push(line);
    }
}

/// Put emptied buffers back in the shared spare list (up to its bound).
fn give_back(spare: &Mutex<Vec<Vec<u8>>>, emptied: &mut Vec<Vec<u8>>) {
    if let Ok(mut spare) = spare.lock() {
        let room = SPARE_BUFFERS.saturating_sub(spare.len());
        let keep = emptied.len().min(room);
        spare.extend(emptied.drain(..keep));
    }
    emptied.clear();
}

/// Now, for the access log.
pub fn now() -> Timestamp {
    Timestamp(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::{AccessEntry, EndpointList, Ip, SPARE_BUFFERS, Shown, give_back, recycle};
    use std::sync::Mutex;

    fn entry<'a>(sni: Option<Option<&'a str>>) -> AccessEntry<'a> {
        AccessEntry {
            time: super::Timestamp(std::time::UNIX_EPOCH),
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
    fn time_addresses_and_error_read_as_their_text() {
        let error = std::io::Error::other("upstream \"a\" broke");
        let mut logged = entry(None);
        logged.time =
            super::Timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500));
        logged.client = Some(Ip("192.0.2.10".parse().expect("ip")));
        logged.peer = Some(Ip("2001:db8::1".parse().expect("ip")));
        logged.error = Some(Shown(&error));
        let text = line(&logged);
        assert!(
            text.starts_with(r#"{"time":"1970-01-01T00:00:01.500Z","request_id":"r","client":"192.0.2.10","peer":"2001:db8::1","#),
            "{text}"
        );
        assert!(text.contains(r#""error":"upstream \"a\" broke""#), "{text}");
    }

    #[test]
    fn the_written_line_is_what_serde_makes_of_the_entry() {
        let now = std::time::Instant::now();
        let tried: Vec<std::sync::Arc<crate::endpoint::EndpointState>> =
            ["10.0.0.1:80", "[::1]:81"]
                .into_iter()
                .map(|addr| {
                    let key = crate::endpoint::EndpointKey {
                        upstream: "api".into(),
                        region: "us-east".into(),
                        addr: addr.parse().expect("addr"),
                    };
                    std::sync::Arc::new(crate::endpoint::EndpointState::new(key, now))
                })
                .collect();
        let error = std::io::Error::other("broke \"here\"\n");
        let hostile = "x\",\"status\":500,\"a\":\"\n\u{7}\\ é";
        let full = AccessEntry {
            time: super::Timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_234)),
            client: Some(Ip("192.0.2.1".parse().expect("ip"))),
            peer: Some(Ip("::1".parse().expect("ip"))),
            query: Some(hostile),
            user_agent: Some(hostile),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            upstream_protocol: Some("h2+tls"),
            tried: EndpointList(&tried),
            duration_ms: 1.0 / 3.0,
            upstream_ms: Some(0.25),
            bytes: usize::MAX,
            config_version: u64::MAX,
            error: Some(Shown(&error)),
            rate_limited_by: Some("per-key"),
            shed_by: Some("gateway"),
            fault: Some("delay+abort"),
            rejected: Some("body_too_large"),
            failure_side: Some("upstream"),
            ..entry(Some(Some(hostile)))
        };
        let mut nan = entry(Some(None));
        nan.duration_ms = f64::NAN;
        // Copied as it is: nothing here needs escaping (DEL and non-ASCII do not).
        nan.user_agent = Some("curl/8 \u{7f} é 🦀");
        // A quote or a backslash alone is escaped all the same.
        nan.query = Some("q=\"x\"");
        nan.path = "/a\\b";
        for case in [entry(None), entry(Some(None)), full, nan] {
            let mut written = Vec::new();
            case.write_json(&mut written).expect("write");
            let serialised = serde_json::to_vec(&case).expect("serialise");
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&serialised)
            );
        }
    }

    #[test]
    fn written_buffers_come_back_empty_and_bounded() {
        let mut emptied = Vec::new();
        recycle(b"a line".to_vec(), &mut emptied);
        recycle(vec![b'x'; 64 * 1024], &mut emptied);
        assert_eq!(emptied.len(), 1, "a large buffer is freed, not kept");
        assert!(emptied[0].is_empty() && emptied[0].capacity() >= 6);
        let spare = Mutex::new(vec![Vec::new(); SPARE_BUFFERS - 1]);
        let mut more = vec![Vec::new(), Vec::new()];
        give_back(&spare, &mut more);
        assert_eq!(spare.lock().expect("lock").len(), SPARE_BUFFERS);
        assert!(more.is_empty());
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
