//! A child process under test: started with its stderr in a log file per start, waited on until
//! it is up, signalled by pid, and killed when the test lets go of it.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What a Weir binary logs when a listen address is taken: the port was picked free, but
/// another test bound it first.
const PORT_TAKEN: &str = "cannot listen";

/// One child process, restartable; SIGKILLed when dropped.
pub struct Process {
    /// For messages: "gateway gw-3".
    what: String,
    log_dir: PathBuf,
    log_prefix: String,
    child: Option<Child>,
    starts: usize,
}

impl Process {
    /// A process not started yet; its logs go to `<log_dir>/<log_prefix>-<start>.log`.
    pub fn new(what: &str, log_dir: &Path, log_prefix: &str) -> Process {
        Process {
            what: what.to_string(),
            log_dir: log_dir.to_path_buf(),
            log_prefix: log_prefix.to_string(),
            child: None,
            starts: 0,
        }
    }

    /// Starts `command` with stdin closed and stderr in the next log file (stdout is the
    /// caller's to set), then polls `up` every 20 ms. `Err` carries every log line so far when
    /// the process exits first or is not up within 20 s.
    pub fn spawn(
        &mut self,
        mut command: Command,
        mut up: impl FnMut() -> bool,
    ) -> Result<(), String> {
        self.kill();
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.what));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "{} exited with {status}:\n{}",
                    self.what,
                    self.logs()
                ));
            }
            if up() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "{} not up within {} s:\n{}",
            self.what,
            START_TIMEOUT.as_secs(),
            self.logs()
        ))
    }

    /// The log file of the current (or last) start.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir
            .join(format!("{}-{}.log", self.log_prefix, self.starts))
    }

    /// The log file the next [`Process::spawn`] writes to, for an `up` that reads it.
    pub fn next_log_path(&self) -> PathBuf {
        self.log_dir
            .join(format!("{}-{}.log", self.log_prefix, self.starts + 1))
    }

    /// Every log line of every start, in order.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                let path = self.log_dir.join(format!("{}-{n}.log", self.log_prefix));
                std::fs::read_to_string(path).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref();
        child
            .unwrap_or_else(|| panic!("{} is not running", self.what))
            .id() as i32
    }

    /// Sends `signal` to the process (only ever to the pid this test started).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal)
            .unwrap_or_else(|e| panic!("send {signal} to {}: {e}", self.what));
    }

    /// SIGKILL, then reap it; nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Waits up to `within` for the process to exit by itself; its status, or `None` if it still
    /// runs (it is left running).
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and wait for it to exit by itself.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let mut child = self.child.take().expect("running");
        child.wait().expect("wait")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts something on ports picked free: `attempt(n)` for n = 0, 1, 2 while it fails because
/// another test took a port first (`attempt` picks new ports when n > 0). Panics with the logs
/// on any other failure.
pub fn retry_port_races<T>(what: &str, mut attempt: impl FnMut(u32) -> Result<T, String>) -> T {
    for n in 0..3 {
        match attempt(n) {
            Ok(started) => return started,
            Err(logs) if logs.contains(PORT_TAKEN) => continue,
            Err(logs) => panic!("{what} did not start:\n{logs}"),
        }
    }
    panic!("{what} could not get free ports in three tries");
}

/// Restarts something on the ports it had: `attempt` again every 100 ms, for up to 10 s, while
/// the old socket still holds the port. Panics with the logs on any other failure.
pub fn retry_while_port_lingers(what: &str, mut attempt: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match attempt() {
            Ok(()) => return,
            Err(logs) if logs.contains(PORT_TAKEN) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(logs) => panic!("{what} did not restart:\n{logs}"),
        }
    }
}
