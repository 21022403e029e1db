//! A graceful binary upgrade under load: `weir-loadtest` sends over keep-alive and over new
//! connections while the gateway is replaced five times in a row (the new process started with
//! `--upgrade` takes the listening sockets, the old one gets SIGQUIT, hands them over, finishes
//! its requests and exits 0); not one request fails and no connection is refused. The old
//! process closes its idle keep-alive connections: a request written at that instant meets the
//! keep-alive race, and the load generator sends it again on a new connection, as browsers and
//! HTTP libraries do (RFC 9112 §9.3.1); a client that does not retry would see that one reset.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use weir_testkit::{
    Origins, Process, agent, eventually, free_addr, retry_port_races, workspace_bin,
};

/// Upgrades in a row.
const UPGRADES: usize = 5;
/// How long the load runs: long enough for five hand-overs (each about 1–2 s: Pingora's new
/// process polls its upgrade socket once a second).
const LOAD: Duration = Duration::from_secs(12);

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    proxy: SocketAddr,
    admin: SocketAddr,
}

impl Setup {
    fn new(origins: &Origins) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let (proxy, admin) = (free_addr(), free_addr());
        let config = dir.path().join("gateway.toml");
        let text = format!(
            "[gateway]\nid = \"upgrade-gw\"\nregion = \"us-east\"\nshutdown_grace = \"5s\"\n\
             [upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [{}]\n\
             [[routes]]\nupstream = \"api\"\n\
             [listen]\nhttp = \"{proxy}\"\n[admin]\nlisten = \"{admin}\"\n",
            origins.endpoints_toml()
        );
        std::fs::write(&config, text).expect("write config");
        let socket = dir.path().join("upgrade.sock");
        Setup {
            dir,
            config,
            socket,
            proxy,
            admin,
        }
    }

    fn command(&self, upgrade: bool) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir-gateway"));
        command
            .arg("--config")
            .arg(&self.config)
            .args(["--threads", "2"])
            .arg("--upgrade-socket")
            .arg(&self.socket)
            .stdout(Stdio::null());
        if upgrade {
            command.arg("--upgrade");
        }
        command
    }

    /// Generation 0: a plain start, up when `/readyz` answers 200; with `notify`, as systemd
    /// would run it (`$NOTIFY_SOCKET`).
    fn first(&self, n: u32, notify: Option<&Path>) -> Result<Process, String> {
        let mut process = Process::new("gateway gen 0", self.dir.path(), &format!("gen0-{n}"));
        let (agent, readyz) = (agent(), format!("http://{}/readyz", self.admin));
        let mut command = self.command(false);
        if let Some(socket) = notify {
            command.env("NOTIFY_SOCKET", socket);
        }
        process.spawn(command, || {
            agent.get(&readyz).call().is_ok_and(|r| r.status() == 200)
        })?;
        Ok(process)
    }

    /// The next generation takes over from `old`: started with `--upgrade` (up once it waits
    /// on the upgrade socket), then `old` gets SIGQUIT; returns once the new one has the
    /// sockets (it removes the socket file) and its proxy listens.
    fn upgrade(&self, old: &Process, generation: usize) -> Process {
        let what = format!("gateway gen {generation}");
        let mut new = Process::new(&what, self.dir.path(), &format!("gen{generation}"));
        let socket = self.socket.clone();
        new.spawn(self.command(true), || socket.exists())
            .unwrap_or_else(|logs| panic!("{what} did not start:\n{logs}"));
        old.signal(Signal::SIGQUIT);
        let took_over = eventually(Duration::from_secs(10), || {
            !self.socket.exists() && new.logs().contains("proxy listening")
        });
        assert!(
            took_over,
            "{what} did not take the sockets over:\n{}\nold:\n{}",
            new.logs(),
            old.logs()
        );
        new
    }
}

/// One `weir-loadtest run` in the background, its JSON report in `dir`.
fn load(dir: &Path, name: &str, proxy: SocketAddr, args: &[&str]) -> (Child, PathBuf) {
    let report = dir.join(format!("{name}.json"));
    let child = Command::new(workspace_bin("weir-loadtest"))
        .arg("run")
        .args(args)
        .args([
            "-d",
            &format!("{}s", LOAD.as_secs()),
            "--timeout",
            "5s",
            "-q",
        ])
        .arg("--json")
        .arg(&report)
        .arg(format!("http://{proxy}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir-loadtest run");
    (child, report)
}

/// A load run's summary, after it ended by itself.
fn summary(mut child: Child, report: &Path) -> serde_json::Value {
    let deadline = Instant::now() + LOAD + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("weir-loadtest did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "weir-loadtest exited with {status}");
    let text = std::fs::read_to_string(report).expect("load report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("report JSON");
    report["summary"].clone()
}

#[test]
fn five_upgrades_in_a_row_under_load_lose_no_request() {
    let origins = Origins::start("us-east", &["o1", "o2"]);
    let (setup, first) = retry_port_races("gateway", |n| {
        let setup = Setup::new(&origins);
        let first = setup.first(n, None)?;
        Ok((setup, first))
    });
    // Keep-alive connections, and a new connection per request (`Connection: close`).
    let keep_alive = load(
        setup.dir.path(),
        "keep-alive",
        setup.proxy,
        &["-c", "4", "-R", "320"],
    );
    let new_conns = load(
        setup.dir.path(),
        "close",
        setup.proxy,
        &["-c", "2", "-R", "160", "-H", "Connection: close"],
    );
    std::thread::sleep(Duration::from_millis(800));

    let mut current = first;
    let mut retired = Vec::new();
    for generation in 1..=UPGRADES {
        let new = setup.upgrade(&current, generation);
        retired.push(std::mem::replace(&mut current, new));
    }

    let keep_alive = summary(keep_alive.0, &keep_alive.1);
    let new_conns = summary(new_conns.0, &new_conns.1);
    // Each old process hands over, drains and exits 0 on its own.
    for old in &mut retired {
        let status = old.wait_exit(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "an old gateway did not exit 0 ({status:?}):\n{}",
            old.logs()
        );
        assert!(
            old.logs().contains("listener sockets sent"),
            "{}",
            old.logs()
        );
    }
    let mut sent = 0;
    for (name, s) in [("keep-alive", &keep_alive), ("close", &new_conns)] {
        eprintln!(
            "{name}: sent {} completed {} failed {} errors {} 5xx {}",
            s["sent"], s["completed"], s["failed"], s["errors"], s["status"]["5xx"]
        );
        assert_eq!(s["failed"], 0, "{name}: {s}");
        assert_eq!(s["error_count"], 0, "{name}: {s}");
        for kind in ["connect", "timeout", "io", "protocol"] {
            assert_eq!(s["errors"][kind], 0, "{name}: {kind} errors: {s}");
        }
        assert_eq!(s["completed"], s["sent"], "{name}: {s}");
        assert_eq!(s["status"]["2xx"], s["sent"], "{name}: {s}");
        sent += s["sent"].as_u64().expect("sent");
    }
    assert!(sent >= 5_000, "only {sent} requests were sent");

    // The last generation serves on, and stops gracefully.
    let resp = agent()
        .get(&format!("http://{}/", setup.proxy))
        .call()
        .expect("request after the upgrades");
    assert_eq!(resp.status(), 200);
    let status = current.stop();
    assert!(status.success(), "{}", current.logs());
}

/// A process this test caused to start (the successor gen 0 spawns), SIGKILLed if the test
/// ends before it stopped.
struct Successor(i32);

impl Successor {
    fn alive(&self) -> bool {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), None).is_ok()
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        if self.alive() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

#[test]
fn sigusr2_starts_the_new_binary_which_takes_over() {
    let origins = Origins::start("us-east", &["o1"]);
    // systemd's notify socket, as the unit's `Type=notify` gives one.
    let notify_dir = tempfile::tempdir().expect("temp dir");
    let notify_path = notify_dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (setup, mut first) = retry_port_races("gateway", |n| {
        let setup = Setup::new(&origins);
        let first = setup.first(n, Some(&notify_path))?;
        Ok((setup, first))
    });
    let mut buf = [0u8; 256];
    let len = notify
        .recv(&mut buf)
        .expect("READY=1 from the first gateway");
    assert_eq!(&buf[..len], b"READY=1");
    first.signal(Signal::SIGUSR2);
    // The successor logs to the same stderr; its pid is in the old one's log line.
    let mut successor = None;
    let started = eventually(Duration::from_secs(10), || {
        successor = first
            .logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["fields"]["message"] == "upgrade: successor started")
            .and_then(|line| line["fields"]["pid"].as_i64())
            .map(|pid| Successor(pid as i32));
        successor.is_some()
    });
    assert!(started, "no successor:\n{}", first.logs());
    let successor = successor.expect("successor");
    // The successor claims the unit before the old process exits, so systemd follows it.
    let len = notify.recv(&mut buf).expect("MAINPID from the successor");
    assert_eq!(
        String::from_utf8_lossy(&buf[..len]),
        format!("MAINPID={}\nREADY=1", successor.0)
    );
    assert!(
        first.wait_exit(Duration::ZERO).is_none(),
        "the old gateway exited before the successor took over"
    );
    let status = first.wait_exit(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "the old gateway did not exit 0 ({status:?}):\n{}",
        first.logs()
    );
    assert!(successor.alive(), "{}", first.logs());
    let resp = agent()
        .get(&format!("http://{}/", setup.proxy))
        .call()
        .expect("request to the successor");
    assert_eq!(resp.status(), 200);
    let readyz = agent()
        .get(&format!("http://{}/readyz", setup.admin))
        .call()
        .expect("readyz of the successor");
    assert_eq!(readyz.status(), 200);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(successor.0), Signal::SIGTERM)
        .expect("SIGTERM the successor");
    assert!(
        eventually(Duration::from_secs(10), || !successor.alive()),
        "the successor did not stop:\n{}",
        first.logs()
    );
}
