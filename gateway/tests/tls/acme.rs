//! ACME against Pebble, the ACME test server, on loopback (real processes): a certificate is
//! ordered for a name no file certificate covers and served on the next handshake, issued by
//! Pebble; it is renewed before it expires (Pebble's short-lived certificates) and the new one
//! served; with Pebble SIGKILLed when a renewal is due the old certificate keeps serving and the
//! failure metric rises, and once Pebble is back (knowing no account) the gateway registers again
//! and renews; a restarted gateway serves the stored certificate without ordering; the state
//! files are mode 0600. Pebble resolves the names it validates through
//! `pebble-challtestsrv`, which answers 127.0.0.1 for every name.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use weir_testkit::{Process, eventually, free_addr, metric_sum};

use crate::certs::Ca;
use crate::client::openssl_serial;

/// The name ordered; no file certificate covers it.
const NAME: &str = "acme.weir.test";

/// Pebble with its DNS (`pebble-challtestsrv`), serving its directory over HTTPS with a
/// certificate made here; it validates HTTP-01 on `http_port`.
struct Pebble {
    pebble: Process,
    _dns: Process,
    directory: String,
    /// The CA of Pebble's own HTTPS certificate (for `ca_file`).
    ca_file: PathBuf,
    config_path: PathBuf,
    dns: SocketAddr,
    listen: SocketAddr,
}

fn need(binary: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "{binary} is missing: install the Debian package `pebble` (scripts/test.sh does)"
    );
}

fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl Pebble {
    /// Starts Pebble issuing certificates valid for `validity` seconds.
    fn start(dir: &Path, http_port: u16, validity: u64) -> Pebble {
        need("pebble");
        need("pebble-challtestsrv");
        let ca = Ca::new();
        let ca_file = ca.write(dir);
        let leaf = ca.leaf(dir, "pebble-https", &["127.0.0.1", "localhost"], 0x9e);
        let (dns, management, listen, pebble_management, tls_port) = (
            free_addr(),
            free_addr(),
            free_addr(),
            free_addr(),
            free_addr(),
        );
        let mut dns_process = Process::new("pebble-challtestsrv", dir, "challtestsrv");
        let mut command = Command::new("pebble-challtestsrv");
        command
            .args(["-dns01", &dns.to_string()])
            .args(["-management", &management.to_string()])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null());
        dns_process
            .spawn(command, || listening(management))
            .expect("pebble-challtestsrv starts");
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": pebble_management.to_string(),
                "certificate": leaf.cert,
                "privateKey": leaf.key,
                "httpPort": http_port,
                "tlsPort": tls_port.port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": validity,
            }
        });
        let config_path = dir.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).expect("pebble config");
        let mut pebble = Pebble {
            pebble: Process::new("pebble", dir, "pebble"),
            _dns: dns_process,
            directory: format!("https://{listen}/dir"),
            ca_file,
            config_path,
            dns,
            listen,
        };
        pebble.restart();
        pebble
    }

    /// Starts Pebble (again: a new CA that knows no account).
    fn restart(&mut self) {
        let mut command = Command::new("pebble");
        command
            .arg("-config")
            .arg(&self.config_path)
            .args(["-dnsserver", &self.dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null());
        let listen = self.listen;
        self.pebble
            .spawn(command, || listening(listen))
            .expect("pebble starts");
    }
}

/// A gateway with a plain listener (where Pebble validates), an HTTPS listener and
/// `[[tls.acme]]` for [`NAME`]; restartable on the same ports and state directory.
struct AcmeGateway {
    process: Process,
    http: SocketAddr,
    https: SocketAddr,
    admin: SocketAddr,
    config: PathBuf,
    state_dir: PathBuf,
}

impl AcmeGateway {
    fn new(dir: &Path) -> AcmeGateway {
        AcmeGateway {
            process: Process::new("gateway", dir, "gateway"),
            http: free_addr(),
            https: free_addr(),
            admin: free_addr(),
            config: dir.join("gateway.toml"),
            state_dir: dir.join("acme"),
        }
    }

    /// Writes the config (`certificates`: extra `[[tls.certificates]]`) and starts the gateway.
    fn start(&mut self, pebble: &Pebble, certificates: &str) {
        let text = format!(
            "[gateway]\nid = \"acme-gw\"\nregion = \"us-east\"\n\
             [listen]\nhttp = \"{}\"\nhttps = \"{}\"\n[admin]\nlisten = \"{}\"\n\
             [upstreams.app]\n[[upstreams.app.pools]]\nregion = \"us-east\"\n\
             endpoints = [\"127.0.0.1:9\"]\n[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n\
             [tls]\nacme_state_dir = {:?}\n{certificates}\n\
             [[tls.acme]]\nnames = [\"{NAME}\"]\ndirectory = \"{}\"\n\
             contact = [\"mailto:ops@weir.test\"]\nca_file = {:?}\n",
            self.http,
            self.https,
            self.admin,
            self.state_dir.display().to_string(),
            pebble.directory,
            pebble.ca_file.display().to_string(),
        );
        std::fs::write(&self.config, text).expect("gateway config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir-gateway"));
        command
            .arg("--config")
            .arg(&self.config)
            .args(["--threads", "1"])
            .stdout(Stdio::null());
        let admin = self.admin;
        self.process
            .spawn(command, || readyz(admin))
            .expect("gateway starts");
    }

    fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = weir_testkit::agent()
            .get(&format!("http://{}/metrics", self.admin))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        metric_sum(&text, name, labels)
    }

    /// The serial and issuer of the certificate served for `sni`.
    fn served(&self, sni: &str) -> Option<(String, String)> {
        served(self.https, sni)
    }

    fn logs(&self) -> String {
        self.process.logs()
    }
}

fn readyz(admin: SocketAddr) -> bool {
    weir_testkit::agent()
        .get(&format!("http://{admin}/readyz"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// `openssl s_client` to `addr` with `sni`: the leaf's serial and issuer.
fn served(addr: SocketAddr, sni: &str) -> Option<(String, String)> {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            sni,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[start..].find("-----END CERTIFICATE-----")? + start + 25;
    let der = CertificateDer::from_pem_slice(text[start..end].as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some((
        format!("{:x}", cert.tbs_certificate.serial),
        cert.issuer().to_string(),
    ))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_certificate_is_ordered_served_at_once_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let mut gateway = AcmeGateway::new(dir.path());
    let mut pebble = Pebble::start(dir.path(), gateway.http.port(), 3600);
    // A file certificate for another name, the default: it keeps serving its own name.
    let files = Ca::new();
    let fallback = files.leaf(dir.path(), "fallback", &["fallback.weir.test"], 0xc3);
    gateway.start(&pebble, &fallback.toml(true));

    let mut issued = None;
    let obtained = eventually(Duration::from_secs(20), || {
        issued = gateway
            .served(NAME)
            .filter(|(_, issuer)| issuer.contains("Pebble"));
        issued.is_some()
    });
    assert!(
        obtained,
        "no Pebble certificate for {NAME}:\n{}",
        gateway.logs()
    );
    let (serial, _) = issued.expect("issued");
    assert_ne!(serial, "c3");
    assert_eq!(
        openssl_serial(gateway.https, Some("fallback.weir.test"), &[]).as_deref(),
        Some("c3"),
        "the file certificate set is untouched"
    );
    assert_eq!(
        gateway.metric("weir_acme_orders_total", &["result=\"ok\""]),
        1.0
    );
    let expiry = gateway.metric(
        "weir_tls_certificate_expiry_timestamp_seconds",
        &[&format!("name=\"{NAME}\"")],
    );
    assert!(expiry > 1.7e9, "expiry gauge {expiry}");
    // A token no order waits for is a 404 from the gateway, not routed to the upstream.
    let unknown = weir_testkit::agent()
        .get(&format!(
            "http://{}/.well-known/acme-challenge/not-a-token",
            gateway.http
        ))
        .call()
        .expect("plain listener answers");
    assert_eq!(unknown.status(), 404);

    // The state: the account and the certificate, each mode 0600, in a 0700 directory.
    assert_eq!(mode(&gateway.state_dir), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&gateway.state_dir)
        .expect("state dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(format!("{NAME}.pem"))));
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }

    // Restarted with Pebble gone: the stored certificate serves at once, nothing is ordered.
    pebble.pebble.kill();
    gateway.process.stop();
    gateway.start(&pebble, &fallback.toml(true));
    assert_eq!(
        gateway.served(NAME).map(|(serial, _)| serial),
        Some(serial),
        "{}",
        gateway.logs()
    );
    assert_eq!(gateway.metric("weir_acme_orders_total", &[]), 0.0);
}

#[test]
fn renewal_comes_before_expiry_and_an_outage_keeps_the_old_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let mut gateway = AcmeGateway::new(dir.path());
    // 12 s certificates: a renewal is due 8 s after each issue.
    let mut pebble = Pebble::start(dir.path(), gateway.http.port(), 12);
    // ACME alone: no file certificate at all.
    gateway.start(&pebble, "");

    let serial = |gateway: &AcmeGateway| gateway.served(NAME).map(|(serial, _)| serial);
    assert!(
        eventually(Duration::from_secs(15), || serial(&gateway).is_some()),
        "no certificate:\n{}",
        gateway.logs()
    );
    let first = serial(&gateway).expect("first");
    let renewed = eventually(Duration::from_secs(20), || {
        serial(&gateway).is_some_and(|now| now != first)
    });
    assert!(renewed, "not renewed:\n{}", gateway.logs());
    assert!(gateway.metric("weir_acme_orders_total", &["result=\"ok\""]) >= 2.0);

    // The CA dies; the renewal due next fails, the certificate in hand keeps serving.
    pebble.pebble.kill();
    let current = serial(&gateway).expect("current");
    let failed = eventually(Duration::from_secs(20), || {
        gateway.metric("weir_acme_renewal_failures_total", &[]) >= 1.0
    });
    assert!(failed, "no renewal failure counted:\n{}", gateway.logs());
    assert!(gateway.metric("weir_acme_orders_total", &["result=\"error\""]) >= 1.0);
    assert_eq!(serial(&gateway), Some(current.clone()));
    assert!(gateway.logs().contains("acme: order failed"));

    // The CA is back, knowing no account: the next retry registers again and renews.
    pebble.restart();
    let recovered = eventually(Duration::from_secs(15), || {
        serial(&gateway).is_some_and(|now| now != current)
    });
    assert!(
        recovered,
        "not renewed after the outage:\n{}",
        gateway.logs()
    );
}
