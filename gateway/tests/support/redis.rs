//! Test helper: real `redis-server` processes on loopback. `shared_redis_url` is the Redis a test
//! process shares with others (scripts/test.sh starts one); `RedisServer` is a private one a test
//! may kill, restart or freeze. Include with `#[path = "support/redis.rs"] mod redis_support;`.
//!
//! Every server runs under a small `sh` watchdog that kills it when this process's end of the
//! watchdog's stdin closes, so no redis-server outlives a test process, even one killed by a
//! timeout (Drop does not run then).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const NO_REDIS: &str =
    "Redis tests need WEIR_TEST_REDIS_URL (scripts/test.sh starts one) or redis-server on PATH";
const NO_REDIS_SERVER: &str = "this test starts its own redis-server: put it on PATH or set \
     WEIR_TEST_REDIS_SERVER (scripts/test.sh installs it with apt-get)";

/// Ports are drawn below Linux's default ephemeral range (32768-60999), so an outgoing
/// connection never takes a port a killed server is about to be restarted on.
const PORTS: std::ops::Range<u16> = 20_000..32_768;

/// How long a server may take to answer PING after starting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis shared by this test process: `WEIR_TEST_REDIS_URL` if set, else a private server
/// started on first use and kept until the process exits. Share it through `unique_prefix` keys.
pub fn shared_redis_url() -> String {
    if let Ok(url) = std::env::var("WEIR_TEST_REDIS_URL")
        && !url.is_empty()
    {
        return url;
    }
    assert!(redis_server_bin().is_some(), "{NO_REDIS}");
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    SHARED.get_or_init(RedisServer::start).url()
}

/// A key prefix no other test, test process or earlier run uses:
/// `weir-test:<name>:<pid>:<clock nanoseconds>:<n>`.
pub fn unique_prefix(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "weir-test:{name}:{}:{nanos}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `redis-server` binary: `WEIR_TEST_REDIS_SERVER`, else the first on `PATH`.
pub fn redis_server_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WEIR_TEST_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
}

/// A private `redis-server` on `127.0.0.1`, no persistence, killed on drop.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<Process>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        assert!(redis_server_bin().is_some(), "{NO_REDIS_SERVER}");
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        let mut last_error = String::new();
        for _ in 0..20 {
            let port = rand::random_range(PORTS);
            match Process::spawn(port, &dir) {
                Ok(process) => {
                    return RedisServer {
                        port,
                        dir,
                        process: Some(process),
                    };
                }
                Err(err) => last_error = err,
            }
        }
        panic!("could not start redis-server on any of 20 ports; last: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's pid (for signals); panics after `kill`.
    pub fn pid(&self) -> Pid {
        self.process.as_ref().expect("redis-server is running").pid
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        kill(self.pid(), Signal::SIGSTOP).expect("SIGSTOP redis-server");
    }

    /// Undoes `pause` (SIGCONT).
    pub fn resume(&self) {
        kill(self.pid(), Signal::SIGCONT).expect("SIGCONT redis-server");
    }

    /// Kills the server with SIGKILL and waits until it is gone. Its data is lost.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop();
            assert!(
                ping(self.port).is_err(),
                "redis-server on port {} still answers after SIGKILL",
                self.port
            );
        }
    }

    /// Starts a fresh, empty server on the same port (killing the current one first, if any).
    /// Retries for a few seconds while the port cannot be bound yet.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Process::spawn(self.port, &self.dir) {
                Ok(process) => {
                    self.process = Some(process);
                    return;
                }
                Err(err) if Instant::now() >= deadline => {
                    panic!(
                        "could not restart redis-server on port {}: {err}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop();
        }
    }
}

/// A running server: its watchdog shell (whose stdin we hold) and the server's own pid.
struct Process {
    watchdog: Child,
    pid: Pid,
}

/// Runs the server in the background and prints its pid; a background reader kills it when
/// stdin (fd 3 here) reaches EOF; the shell itself waits for the server, so it exits when the
/// server does.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null >/dev/null 2>&1 3<&- &
pid=$!
echo "$pid"
(read -r _ <&3; kill -9 "$pid") </dev/null >/dev/null 2>&1 &
exec 3<&-
wait "$pid""#;

impl Process {
    /// Starts `redis-server` on `port` and waits until it answers; on failure, says why (with the
    /// end of the server's log).
    fn spawn(port: u16, dir: &tempfile::TempDir) -> Result<Process, String> {
        let log = dir.path().join(format!("redis-{port}.log"));
        let mut watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "redis-watchdog"])
            .arg(redis_server_bin().ok_or(NO_REDIS_SERVER)?)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("spawn sh for redis-server: {err}"))?;
        let pid = match read_pid(&mut watchdog) {
            Ok(pid) => pid,
            Err(err) => {
                let _ = watchdog.kill();
                let _ = watchdog.wait();
                return Err(err);
            }
        };
        let mut process = Process { watchdog, pid };
        // Wait until the server on `port` is this one (not another test's that holds the port),
        // and stop waiting as soon as it has exited (port taken, bad binary, ...).
        let answered = wait_until(START_TIMEOUT, || {
            let exited = matches!(process.watchdog.try_wait(), Ok(Some(_)));
            (exited || server_pid(port) == Ok(pid)).then_some(!exited)
        });
        if answered == Some(true) {
            return Ok(process);
        }
        process.stop();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        Err(format!(
            "redis-server on port {port} did not start (or another server holds the port); \
             its log ends: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }

    /// SIGKILL, then reap the watchdog (which exits once the server is gone).
    fn stop(mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The first line of the watchdog's stdout: the server's pid.
fn read_pid(watchdog: &mut Child) -> Result<Pid, String> {
    let stdout = watchdog.stdout.as_mut().ok_or("watchdog has no stdout")?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).map_err(|err| err.to_string())? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line)
        .trim()
        .parse::<i32>()
        .map(Pid::from_raw)
        .map_err(|err| format!("watchdog printed no pid ({err})"))
}

/// Sends PING to `127.0.0.1:port` and expects `+PONG`.
pub fn ping(port: u16) -> Result<(), String> {
    let mut stream = connect(port)?;
    stream
        .write_all(b"PING\r\n")
        .map_err(|err| err.to_string())?;
    let mut reply = [0u8; 7];
    stream
        .read_exact(&mut reply)
        .map_err(|err| err.to_string())?;
    if &reply == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(format!("replied {:?}", String::from_utf8_lossy(&reply)))
    }
}

/// The `process_id` the server on `127.0.0.1:port` reports in `INFO server`.
fn server_pid(port: u16) -> Result<Pid, String> {
    let mut stream = connect(port)?;
    stream
        .write_all(b"INFO server\r\n")
        .map_err(|err| err.to_string())?;
    // A bulk string: `$<length>\r\n<text>\r\n`.
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|err| err.to_string())?;
    let length: usize = header
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("INFO replied {header:?}"))?;
    let mut text = vec![0; length];
    reader
        .read_exact(&mut text)
        .map_err(|err| err.to_string())?;
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .map(Pid::from_raw)
        .ok_or_else(|| "INFO without process_id".to_string())
}

/// A connection to `127.0.0.1:port` with short timeouts.
fn connect(port: u16) -> Result<TcpStream, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_millis(500);
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|err| err.to_string())?;
    Ok(stream)
}

/// Polls `check` every 10 ms until it returns `Some`, for at most `limit`.
fn wait_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
