//! Firing scenario actions on time: an HTTP request or a command, each under a timeout.
//!
//! An action never fails the run: whatever happens (refused connection, timeout, non-2xx,
//! non-zero exit, a command that cannot start) is reported in its [`ActionEvent`] with `ok =
//! false` and a `detail` saying what (a status or exit status, and the first 200 bytes of the
//! answer or of the command's stderr, else stdout). A command that outlives its timeout is
//! killed with its whole process group (it runs in its own group, so `sh -c` children go too).
//! Times are read from tokio's clock, so tests can pause it.

use std::collections::HashMap;
use std::future::Future;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until, timeout};

use super::spec::{Action, ActionKind, HttpAction};
use crate::report::model::ActionEvent;

/// How much of an answer (or of a command's output) the event keeps.
const DETAIL_BYTES: usize = 200;
/// After a command exits, how long its output may still take to arrive (a background child can
/// hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(250);

/// Runs one action now and reports it; `run_start` is the start of the run (times in the event
/// are from it). A `std::time::Instant` converts with `.into()`.
pub async fn fire(action: &Action, run_start: Instant) -> ActionEvent {
    let started = Instant::now();
    let (ok, detail) = match &action.kind {
        ActionKind::Http(http) => run_http(http, action.timeout).await,
        ActionKind::Command(argv) => run_command(argv, action.timeout).await,
    };
    ActionEvent {
        fired_at_s: started.saturating_duration_since(run_start).as_secs_f64(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        ok,
        detail,
        ..unfired(action)
    }
}

/// Fires every action at `run_start + action.at`, each in its own task (so actions due at the
/// same time fire together, and a slow one delays no other). The handle yields the events sorted
/// by the time they fired. Aborting the handle cancels the actions not yet done.
pub fn spawn_all(actions: Vec<Action>, run_start: Instant) -> JoinHandle<Vec<ActionEvent>> {
    spawn_with(actions, run_start, |action, start| async move {
        fire(&action, start).await
    })
}

/// [`spawn_all`] with the firing function given, so the schedule can be tested on its own.
fn spawn_with<F, Fut>(
    actions: Vec<Action>,
    run_start: Instant,
    fire: F,
) -> JoinHandle<Vec<ActionEvent>>
where
    F: Fn(Action, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ActionEvent> + Send + 'static,
{
    let fire = Arc::new(fire);
    tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        let mut fallbacks = HashMap::new();
        for action in actions {
            let fallback = unfired(&action);
            let fire = Arc::clone(&fire);
            let handle = tasks.spawn(async move {
                sleep_until(run_start + action.at).await;
                fire(action, run_start).await
            });
            fallbacks.insert(handle.id(), fallback);
        }
        let mut events = Vec::with_capacity(fallbacks.len());
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, event)) => events.push(event),
                Err(err) => events.extend(fallbacks.remove(&err.id()).map(|mut event| {
                    event.detail = format!("the action's task failed: {err}");
                    event
                })),
            }
        }
        events.sort_by(|a, b| {
            a.fired_at_s
                .total_cmp(&b.fired_at_s)
                .then_with(|| a.name.cmp(&b.name))
        });
        events
    })
}

/// The event of an action that has not (or not successfully) fired.
fn unfired(action: &Action) -> ActionEvent {
    let at_s = action.at.as_secs_f64();
    ActionEvent {
        name: action.name.clone(),
        kind: match action.kind {
            ActionKind::Http(_) => "http",
            ActionKind::Command(_) => "command",
        }
        .to_string(),
        at_s,
        fired_at_s: at_s,
        duration_ms: 0.0,
        ok: false,
        detail: String::new(),
        failure: action.failure,
    }
}

// ------------------------------------------------------------------------------- http

async fn run_http(http: &HttpAction, limit: Duration) -> (bool, String) {
    match timeout(limit, send(http)).await {
        Ok(Ok((status, body))) => (status.is_success(), with_text(status.to_string(), &body)),
        Ok(Err(err)) => (false, err),
        Err(_) => (
            false,
            format!("no answer within {}", humantime::format_duration(limit)),
        ),
    }
}

/// Sends the request on a new connection; the status and the first bytes of the body.
async fn send(http: &HttpAction) -> Result<(StatusCode, Vec<u8>), String> {
    let authority = http
        .url
        .authority()
        .ok_or_else(|| format!("{} has no host", http.url))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|err| format!("connect to {authority}: {err}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| format!("HTTP handshake with {authority}: {err}"))?;
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request(http)?)
        .await
        .map_err(|err| format!("{} {}: {}", http.method, http.url, error_chain(&err)))?;
    let status = response.status();
    Ok((status, body_prefix(response.into_body()).await))
}

fn request(http: &HttpAction) -> Result<Request<Full<Bytes>>, String> {
    let path = http.url.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::builder()
        .method(http.method.clone())
        .uri(path)
        .body(Full::new(http.body.clone()))
        .map_err(|err| format!("cannot build the request to {}: {err}", http.url))?;
    *request.headers_mut() = http.headers.clone();
    if let Some(authority) = http.url.authority()
        && !request.headers().contains_key(HOST)
    {
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|err| format!("host {authority}: {err}"))?;
        request.headers_mut().insert(HOST, host);
    }
    Ok(request)
}

/// Up to [`DETAIL_BYTES`] of the body; a body that breaks off keeps what came.
async fn body_prefix(mut body: Incoming) -> Vec<u8> {
    let mut prefix = Vec::new();
    while prefix.len() < DETAIL_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    prefix.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    prefix
}

/// An error with its sources, `a: b: c`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Aborts a spawned task when dropped (the connection of a request that timed out).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ------------------------------------------------------------------------------- command

async fn run_command(argv: &[String], limit: Duration) -> (bool, String) {
    let Some((program, args)) = argv.split_first() else {
        return (false, "empty command".to_string());
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(err) => return (false, format!("cannot run `{program}`: {err}")),
    };
    let stdout = child.stdout.take().map(|pipe| tokio::spawn(drain(pipe)));
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(drain(pipe)));
    match timeout(limit, child.wait()).await {
        Ok(Ok(status)) => {
            let stderr = output(stderr).await;
            let text = if stderr.is_empty() {
                output(stdout).await
            } else {
                stderr
            };
            (status.success(), with_text(exit_text(status), &text))
        }
        Ok(Err(err)) => (false, format!("waiting for `{program}`: {err}")),
        Err(_) => {
            kill_group(&mut child).await;
            let waited = humantime::format_duration(limit);
            (
                false,
                format!("`{program}` still running after {waited}; killed"),
            )
        }
    }
}

/// Reads a pipe to its end (so the command never blocks on it), keeping the first bytes.
async fn drain(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
        let room = DETAIL_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&buffer[..n.min(room)]);
    }
    kept
}

/// What a drained pipe kept, if it ends within [`OUTPUT_GRACE`].
async fn output(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    let Some(reader) = reader else {
        return Vec::new();
    };
    let mut reader = AbortOnDrop(reader);
    timeout(OUTPUT_GRACE, &mut reader.0)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Kills the command's process group (the command and anything it started), then reaps it.
async fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill().await;
}

fn exit_text(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// `head: text`, with the text made one line and cut to [`DETAIL_BYTES`]; just `head` when the
/// text is empty.
fn with_text(head: String, bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(DETAIL_BYTES)];
    let text: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        head
    } else {
        format!("{head}: {text}")
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use http::{HeaderMap, Method, Response, Uri};
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server saw of one request.
    #[derive(Clone, Debug)]
    struct Seen {
        method: Method,
        path: String,
        header: Option<String>,
        body: Vec<u8>,
    }

    /// A tiny HTTP/1.1 server on a free loopback port: `/fail` answers 503, anything else 200.
    struct TestServer {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        _task: AbortOnDrop<()>,
    }

    impl TestServer {
        async fn start() -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let log = Arc::clone(&log);
                    let service = service_fn(move |request| record(Arc::clone(&log), request));
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
            TestServer {
                addr,
                seen,
                _task: AbortOnDrop(task),
            }
        }

        fn url(&self, path: &str) -> Uri {
            format!("http://{}{path}", self.addr).parse().unwrap()
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    async fn record(
        log: Arc<Mutex<Vec<Seen>>>,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        let header = parts
            .headers
            .get("x-test")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let path = parts.uri.path().to_string();
        log.lock().unwrap().push(Seen {
            method: parts.method,
            path: path.clone(),
            header,
            body,
        });
        let (status, text) = match path.as_str() {
            "/fail" => (StatusCode::SERVICE_UNAVAILABLE, "down\nfor now".to_string()),
            "/big" => (StatusCode::OK, "x".repeat(1000)),
            _ => (StatusCode::OK, "fault set".to_string()),
        };
        let mut response = Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = status;
        Ok(response)
    }

    fn http_action(name: &str, at_ms: u64, url: Uri) -> Action {
        let mut headers = HeaderMap::new();
        headers.insert("x-test", HeaderValue::from_static("yes"));
        Action {
            name: name.to_string(),
            at: Duration::from_millis(at_ms),
            failure: true,
            timeout: Duration::from_secs(5),
            kind: ActionKind::Http(Box::new(HttpAction {
                method: Method::POST,
                url,
                headers,
                body: Bytes::from_static(br#"{"status":503}"#),
            })),
        }
    }

    fn command_action(name: &str, at_ms: u64, argv: &[&str], timeout_ms: u64) -> Action {
        Action {
            name: name.to_string(),
            at: Duration::from_millis(at_ms),
            failure: false,
            timeout: Duration::from_millis(timeout_ms),
            kind: ActionKind::Command(argv.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[tokio::test]
    async fn http_action_sends_method_headers_and_body() {
        let server = TestServer::start().await;
        let action = http_action("fault", 0, server.url("/_origin/fault"));
        let event = fire(&action, Instant::now()).await;
        assert!(event.ok, "{event:?}");
        assert_eq!(event.detail, "200 OK: fault set");
        assert_eq!(
            (event.name.as_str(), event.kind.as_str()),
            ("fault", "http")
        );
        assert!(event.failure);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, Method::POST);
        assert_eq!(seen[0].path, "/_origin/fault");
        assert_eq!(seen[0].header.as_deref(), Some("yes"));
        assert_eq!(seen[0].body, br#"{"status":503}"#);
    }

    #[tokio::test]
    async fn http_action_non_2xx_is_not_ok() {
        let server = TestServer::start().await;
        let event = fire(&http_action("f", 0, server.url("/fail")), Instant::now()).await;
        assert!(!event.ok);
        assert_eq!(event.detail, "503 Service Unavailable: down for now");
    }

    #[tokio::test]
    async fn http_action_keeps_the_first_bytes_of_the_answer() {
        let server = TestServer::start().await;
        let event = fire(&http_action("f", 0, server.url("/big")), Instant::now()).await;
        assert!(event.ok);
        assert_eq!(event.detail, format!("200 OK: {}", "x".repeat(200)));
    }

    #[tokio::test]
    async fn connection_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url: Uri = format!("http://{addr}/").parse().unwrap();
        let event = fire(&http_action("f", 0, url), Instant::now()).await;
        assert!(!event.ok);
        assert!(
            event.detail.starts_with(&format!("connect to {addr}: ")),
            "{}",
            event.detail
        );
        assert!(
            event.detail.to_lowercase().contains("refused"),
            "{}",
            event.detail
        );
    }

    #[tokio::test]
    async fn http_timeout() {
        // Accepts the connection but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let accepted = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(accepted);
        });
        let mut action = http_action("f", 0, format!("http://{addr}/").parse().unwrap());
        action.timeout = Duration::from_millis(200);
        let event = fire(&action, Instant::now()).await;
        assert!(!event.ok);
        assert_eq!(event.detail, "no answer within 200ms");
        assert!(
            event.duration_ms >= 200.0 && event.duration_ms < 1000.0,
            "{event:?}"
        );
    }

    #[tokio::test]
    async fn commands_report_their_exit_status() {
        let now = Instant::now();
        let event = fire(&command_action("t", 0, &["true"], 5000), now).await;
        assert!(event.ok);
        assert_eq!(
            (event.kind.as_str(), event.detail.as_str()),
            ("command", "exit status 0")
        );
        let event = fire(&command_action("f", 0, &["false"], 5000), now).await;
        assert!(!event.ok);
        assert_eq!(event.detail, "exit status 1");
        let exit3 = ["sh", "-c", "echo out; echo 'no such pid' >&2; exit 3"];
        let event = fire(&command_action("e", 0, &exit3, 5000), now).await;
        assert!(!event.ok);
        assert_eq!(event.detail, "exit status 3: no such pid");
        let stdout = ["sh", "-c", "echo only stdout"];
        let event = fire(&command_action("o", 0, &stdout, 5000), now).await;
        assert_eq!(event.detail, "exit status 0: only stdout");
    }

    #[tokio::test]
    async fn command_that_cannot_start() {
        let argv = ["/nonexistent/weir-no-such-program"];
        let event = fire(&command_action("x", 0, &argv, 5000), Instant::now()).await;
        assert!(!event.ok);
        assert!(
            event
                .detail
                .starts_with("cannot run `/nonexistent/weir-no-such-program`: "),
            "{}",
            event.detail
        );
    }

    #[tokio::test]
    async fn command_timeout_kills_the_group() {
        // The shell starts a background sleeper that holds the pipes; both are killed.
        let argv = ["sh", "-c", "sleep 30 & sleep 30"];
        let started = std::time::Instant::now();
        let event = fire(&command_action("slow", 0, &argv, 200), Instant::now()).await;
        assert!(!event.ok);
        assert_eq!(event.detail, "`sh` still running after 200ms; killed");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    /// A stand-in for `fire` that only records when it was called.
    async fn fake_fire(
        action: Action,
        run_start: Instant,
        calls: Arc<Mutex<Vec<String>>>,
    ) -> ActionEvent {
        calls.lock().unwrap().push(action.name.clone());
        let fired = Instant::now();
        if action.name == "slow" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        ActionEvent {
            fired_at_s: fired.duration_since(run_start).as_secs_f64(),
            ok: true,
            ..unfired(&action)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_action_fires_once_on_time() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let actions = vec![
            command_action("late", 3000, &["true"], 1000),
            command_action("slow", 1500, &["true"], 1000),
            command_action("same-time", 1500, &["true"], 1000),
            command_action("first", 0, &["true"], 1000),
        ];
        let start = Instant::now();
        let handle = spawn_with(actions, start, move |action, run_start| {
            fake_fire(action, run_start, Arc::clone(&log))
        });
        let events = handle.await.unwrap();
        let fired: Vec<(&str, f64)> = events
            .iter()
            .map(|e| (e.name.as_str(), e.fired_at_s))
            .collect();
        // Same-time actions fire together: the slow one does not hold the other back.
        assert_eq!(
            fired,
            vec![
                ("first", 0.0),
                ("same-time", 1.5),
                ("slow", 1.5),
                ("late", 3.0)
            ]
        );
        let mut called = calls.lock().unwrap().clone();
        called.sort();
        assert_eq!(called, vec!["first", "late", "same-time", "slow"]);
        // The slow action ends at 6.5 s: the handle waited for it.
        assert_eq!(start.elapsed(), Duration::from_millis(6500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_action_is_reported() {
        let actions = vec![command_action("boom", 100, &["true"], 1000)];
        let handle = spawn_with(actions, Instant::now(), |_action, _start| async {
            panic!("boom");
        });
        let events = handle.await.unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].ok);
        assert!(
            events[0].detail.starts_with("the action's task failed"),
            "{}",
            events[0].detail
        );
    }

    #[tokio::test]
    async fn spawn_all_fires_real_actions_on_time() {
        let server = TestServer::start().await;
        let actions = vec![
            http_action("second", 100, server.url("/b")),
            http_action("first", 50, server.url("/a")),
            command_action("cmd", 50, &["true"], 5000),
        ];
        let events = spawn_all(actions, Instant::now()).await.unwrap();
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), 3);
        assert_eq!(names[2], "second");
        for event in &events {
            assert!(event.ok, "{event:?}");
            let late = event.fired_at_s - event.at_s;
            assert!(
                (0.0..0.05).contains(&late),
                "{} fired {late}s late",
                event.name
            );
        }
        let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
        assert_eq!(paths, vec!["/a", "/b"]);
    }
}
