//! A real single-member `etcd` (Debian `etcd-server`) on loopback for tests: its data in a temp
//! dir, client and peer ports picked free (and an HTTPS client port with a given certificate), up
//! once `/health` says so; killed by pid when dropped. A start fails with every log line when etcd
//! exits or is not healthy within 20 s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Process, agent, free_addr};

/// What etcd logs when a port it was given is taken.
const PORT_TAKEN: &str = "address already in use";

/// One etcd member serving `http://127.0.0.1:<port>`.
pub struct Etcd {
    process: Process,
    pub client: SocketAddr,
    peer: SocketAddr,
    data_dir: PathBuf,
    /// With TLS: the certificate and key files, and the HTTPS client address (the plain one
    /// stays, for the health check).
    tls: Option<(PathBuf, PathBuf, SocketAddr)>,
}

impl Etcd {
    /// Starts etcd with its data under `dir/etcd` (logs in `dir/etcd-<n>.log`).
    pub fn start(dir: &Path) -> Etcd {
        Etcd::start_with(dir, None)
    }

    /// Starts etcd serving clients over HTTPS too, with this certificate chain and key (PEM).
    pub fn start_tls(dir: &Path, cert: &Path, key: &Path) -> Etcd {
        Etcd::start_with(dir, Some((cert.to_path_buf(), key.to_path_buf())))
    }

    fn start_with(dir: &Path, tls: Option<(PathBuf, PathBuf)>) -> Etcd {
        let mut etcd = Etcd {
            process: Process::new("etcd", dir, "etcd"),
            client: free_addr(),
            peer: free_addr(),
            data_dir: dir.join("etcd"),
            tls: tls.map(|(cert, key)| (cert, key, free_addr())),
        };
        for attempt in 0..3 {
            if attempt > 0 {
                etcd.client = free_addr();
                etcd.peer = free_addr();
                if let Some(tls) = etcd.tls.as_mut() {
                    tls.2 = free_addr();
                }
            }
            match etcd.spawn() {
                Ok(()) => return etcd,
                Err(logs) if logs.contains(PORT_TAKEN) => continue,
                Err(logs) => panic!("etcd did not start:\n{logs}"),
            }
        }
        panic!("etcd could not get free ports in three tries");
    }

    /// The client URL, for `--etcd-endpoints`.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// The HTTPS client URL of an etcd started with [`Etcd::start_tls`].
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(_, _, addr)| format!("https://{addr}"))
    }

    /// SIGKILL (the data dir stays).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.process.kill();
        if let Err(logs) = self.spawn() {
            panic!("etcd did not restart:\n{logs}");
        }
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let client = self.url();
        let listen = match self.tls_url() {
            Some(tls) => format!("{client},{tls}"),
            None => client.clone(),
        };
        let peer = format!("http://{}", self.peer);
        let mut command = Command::new("etcd");
        command
            .args(["--name", "weir-test"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &listen])
            .args(["--advertise-client-urls", &listen])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("weir-test={peer}")])
            .args(["--initial-cluster-state", "new"])
            // Quicker elections for a single member; no metrics listener of its own.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdout(Stdio::null());
        if let Some((cert, key, _)) = &self.tls {
            command
                .arg("--cert-file")
                .arg(cert)
                .arg("--key-file")
                .arg(key);
        }
        let health = format!("{client}/health");
        let agent = agent();
        self.process.spawn(command, || {
            agent
                .get(&health)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .is_some_and(|body| body.contains("\"health\":\"true\""))
        })
    }
}
