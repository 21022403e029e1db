//! A small blocking HTTPS/1.1 client over rustls that says which certificate (serial) each new
//! handshake got, and can keep its connection for the next request; plus helpers around the
//! `curl` and `openssl` command-line clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

pub struct Client {
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    sni: String,
    conn: Option<BufReader<StreamOwned<ClientConnection, TcpStream>>>,
}

/// What one request saw.
#[derive(Debug)]
pub struct Sent {
    pub status: u16,
    /// The serial (hex) of the certificate, when this request made a new handshake.
    pub new_handshake_serial: Option<String>,
}

impl Client {
    pub fn new(ca_pem: &str, addr: SocketAddr, sni: &str) -> Client {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA pem")).expect("add CA");
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        // Every new connection a full handshake: a resumed session shows no certificate.
        let mut config = config;
        config.resumption = rustls::client::Resumption::disabled();
        Client {
            config: Arc::new(config),
            addr,
            sni: sni.to_string(),
            conn: None,
        }
    }

    /// Closes the kept connection: the next request makes a new handshake.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// `GET path`, on the kept connection when there is one.
    pub fn get(&mut self, path: &str) -> Result<Sent, String> {
        let mut new_handshake_serial = None;
        if self.conn.is_none() {
            let tcp = TcpStream::connect(self.addr).map_err(|e| format!("connect: {e}"))?;
            tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let name = ServerName::try_from(self.sni.clone()).map_err(|e| e.to_string())?;
            let conn =
                ClientConnection::new(Arc::clone(&self.config), name).map_err(|e| e.to_string())?;
            let mut stream = StreamOwned::new(conn, tcp);
            while stream.conn.is_handshaking() {
                stream
                    .conn
                    .complete_io(&mut stream.sock)
                    .map_err(|e| format!("handshake: {e}"))?;
            }
            let leaf = stream
                .conn
                .peer_certificates()
                .and_then(|certs| certs.first())
                .ok_or("no certificate")?;
            new_handshake_serial = Some(serial_of(leaf.as_ref()));
            self.conn = Some(BufReader::new(stream));
        }
        let result = self.exchange(path);
        if result.is_err() {
            self.conn = None;
        }
        result.map(|status| Sent {
            status,
            new_handshake_serial,
        })
    }

    fn exchange(&mut self, path: &str) -> Result<u16, String> {
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.sni);
        conn.get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        conn.read_line(&mut line)
            .map_err(|e| format!("read: {e}"))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut header = String::new();
            conn.read_line(&mut header)
                .map_err(|e| format!("read header: {e}"))?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().map_err(|_| "bad length")?;
            }
            if lower == "connection: close" {
                close = true;
            }
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body)
            .map_err(|e| format!("read body: {e}"))?;
        if close {
            self.conn = None;
        }
        Ok(status)
    }
}

/// A certificate's serial, lower-case hex without leading zeros.
pub fn serial_of(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parse certificate");
    format!("{:x}", cert.tbs_certificate.serial)
}

/// The serial `openssl s_client` is served for `sni` (`None`: no SNI), or `None` when the
/// handshake fails. `extra` adds options (e.g. `-tls1_2`).
pub fn openssl_serial(addr: SocketAddr, sni: Option<&str>, extra: &[&str]) -> Option<String> {
    let mut command = Command::new("openssl");
    command.args(["s_client", "-connect", &addr.to_string(), "-showcerts"]);
    match sni {
        Some(sni) => command.args(["-servername", sni]),
        None => command.arg("-noservername"),
    };
    let output = command
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    let pem_start = text.find("-----BEGIN CERTIFICATE-----")?;
    let pem_end = text[pem_start..].find("-----END CERTIFICATE-----")? + pem_start + 25;
    let der = CertificateDer::from_pem_slice(text[pem_start..pem_end].as_bytes()).ok()?;
    Some(serial_of(der.as_ref()))
}

/// `curl` with `args`; its exit code and standard output.
pub fn curl(args: &[&str]) -> (i32, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}
