//! The HTTP health prober: one tokio task per distinct `health` URL, probing it every
//! `probe.interval` (each probe bounded by `probe.timeout`) and feeding the result to its
//! [`Target`]. A probe succeeds on a `2xx` status line; a refused connection, a timeout, a
//! non-2xx status or garbage is a failure. Targets outlive reloads (keyed by URL), so a reload
//! never resets a member's health; a URL no config names any more has its task stopped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use weir_config::{DnsProbe, DnsSettings, HttpUrl};

use crate::health::Target;
use crate::metrics::Metrics;

/// The most bytes read looking for the status line.
const MAX_STATUS_LINE: usize = 1024;

/// A target and the task probing it.
type Probing = (Arc<Target>, JoinHandle<()>);

/// Every probe target, with its task.
pub struct Board {
    probe: Arc<ArcSwap<DnsProbe>>,
    metrics: Arc<Metrics>,
    running: Mutex<HashMap<HttpUrl, Probing>>,
}

impl Board {
    pub fn new(metrics: Arc<Metrics>) -> Board {
        Board {
            probe: Arc::new(ArcSwap::from_pointee(DnsProbe::default())),
            metrics,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The targets `settings` names: the running ones reused, new ones created (up, not yet
    /// probed). Changes nothing: [`Board::commit`] does, once the config is accepted.
    pub fn prepare(&self, settings: &DnsSettings) -> HashMap<HttpUrl, Arc<Target>> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        settings
            .names
            .values()
            .flat_map(|name| name.members.iter())
            .filter_map(|member| member.health.clone())
            .map(|url| {
                let target = running
                    .get(&url)
                    .map(|(target, _)| target.clone())
                    .unwrap_or_else(|| Arc::new(Target::new(url.clone(), Instant::now())));
                (url, target)
            })
            .collect()
    }

    /// Probes exactly `targets` from now on, with `probe`'s settings: starts the new ones,
    /// stops the ones left out. Must run inside a tokio runtime.
    pub fn commit(&self, targets: &HashMap<HttpUrl, Arc<Target>>, probe: &DnsProbe) {
        self.probe.store(Arc::new(probe.clone()));
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|url, (_, task)| {
            let keep = targets.contains_key(url);
            if !keep {
                task.abort();
                let label = url.to_string();
                let _ = self.metrics.target_up.remove_label_values(&[&label]);
                for result in ["ok", "fail"] {
                    let _ = self
                        .metrics
                        .probes
                        .remove_label_values(&[label.as_str(), result]);
                }
            }
            keep
        });
        for (url, target) in targets {
            if running.contains_key(url) {
                continue;
            }
            let task = tokio::spawn(probe_forever(
                target.clone(),
                self.probe.clone(),
                self.metrics.clone(),
            ));
            running.insert(url.clone(), (target.clone(), task));
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, task) in running.values() {
            task.abort();
        }
    }
}

async fn probe_forever(
    target: Arc<Target>,
    settings: Arc<ArcSwap<DnsProbe>>,
    metrics: Arc<Metrics>,
) {
    let label = target.url.to_string();
    // Spread the first probes of many targets over one interval.
    let first = settings
        .load()
        .interval
        .mul_f64(rand::rng().random_range(0.0..0.2));
    tokio::time::sleep(first).await;
    loop {
        let probe = settings.load_full();
        let started = tokio::time::Instant::now();
        let result = match tokio::time::timeout(probe.timeout, probe_once(&target.url)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no 2xx answer within {:?}", probe.timeout)),
        };
        let ok = result.is_ok();
        metrics
            .probes
            .with_label_values(&[label.as_str(), if ok { "ok" } else { "fail" }])
            .inc();
        if target.record(ok, Instant::now(), probe.rise, probe.fall) {
            tracing::warn!(
                target = %label,
                up = target.is_up(),
                reason = result.err().as_deref().unwrap_or("probes succeed again"),
                "probe target changed state"
            );
        }
        metrics
            .target_up
            .with_label_values(&[&label])
            .set(i64::from(target.is_up()));
        tokio::time::sleep_until(started + probe.interval).await;
    }
}

/// One `GET`: `Ok` on a `2xx` status line.
pub async fn probe_once(url: &HttpUrl) -> Result<(), String> {
    let address = resolve(url).await?;
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: weir-dns\r\nConnection: close\r\n\r\n",
        url.path
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buffer = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !buffer.windows(2).any(|w| w == b"\r\n") {
        if buffer.len() >= MAX_STATUS_LINE {
            return Err("no status line in the first 1 KiB".to_owned());
        }
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("connection closed before a status line".to_owned());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    status_ok(&buffer)
}

/// Whether a response starting with `head` has a `2xx` status.
fn status_ok(head: &[u8]) -> Result<(), String> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(status) if version.starts_with("HTTP/1.") && (200..300).contains(&status) => Ok(()),
        Some(status) if version.starts_with("HTTP/1.") => Err(format!("status {status}")),
        _ => Err(format!("not an HTTP/1 status line: {:?}", line.trim_end())),
    }
}

async fn resolve(url: &HttpUrl) -> Result<SocketAddr, String> {
    if let Ok(ip) = url.host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, url.port));
    }
    tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", url.host))
}

/// How long a down target takes at most to be noticed: `fall` probes, one per interval, each
/// up to the timeout (for documentation and tests).
pub fn detection_time(probe: &DnsProbe) -> Duration {
    (probe.interval + probe.timeout) * probe.fall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_status_lines_pass() {
        assert!(status_ok(b"HTTP/1.1 200 OK\r\n").is_ok());
        assert!(status_ok(b"HTTP/1.0 204 No Content\r\n").is_ok());
        assert_eq!(
            status_ok(b"HTTP/1.1 503 Unavailable\r\n"),
            Err("status 503".to_owned())
        );
        assert!(status_ok(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_ok(b"HTTP/1.1 abc\r\n").is_err());
    }

    async fn serve_once(answer: &'static [u8]) -> HttpUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 512];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer).await;
            }
        });
        HttpUrl {
            host: "127.0.0.1".into(),
            port,
            path: "/readyz".into(),
        }
    }

    #[tokio::test]
    async fn a_probe_reads_the_status_of_a_real_server() {
        let good = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(probe_once(&good).await, Ok(()));
        let bad = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        assert_eq!(probe_once(&bad).await, Err("status 503".to_owned()));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            drop(listener);
            HttpUrl {
                host: "127.0.0.1".into(),
                port,
                path: "/".into(),
            }
        };
        assert!(probe_once(&closed).await.is_err());
    }

    #[test]
    fn detection_time_is_fall_rounds() {
        let probe = DnsProbe::default();
        assert_eq!(detection_time(&probe), Duration::from_secs(9));
    }
}
