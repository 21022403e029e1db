//! Background service that reloads the config file on SIGHUP and when the file or one of the
//! `[tls]` certificate and key files it names changes (polled: size, mtime and inode). Before its first poll it catches up on a change made while
//! starting, then waits for the proxy listener (`listener::mark_ready_when_listening`).

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};

use crate::listener::mark_ready_when_listening;
use crate::reload;
use crate::state::Gateway;

pub struct ConfigWatcher {
    pub gateway: Arc<Gateway>,
    pub path: PathBuf,
    pub poll_interval: Duration,
    /// The proxy's listen address, probed for readiness.
    pub proxy_addr: SocketAddr,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct FileStamp {
    len: u64,
    mtime_ns: i128,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        inode: meta.ino(),
    })
}

/// The stamps of the certificate and key files the running config names, in config order.
fn certificate_stamps(gateway: &Gateway) -> Vec<Option<FileStamp>> {
    let snapshot = gateway.snapshot();
    let Some(tls) = &snapshot.config.node.tls else {
        return Vec::new();
    };
    tls.certificates
        .iter()
        .flat_map(|certificate| [stamp(&certificate.cert), stamp(&certificate.key)])
        .collect()
}

#[async_trait]
impl BackgroundService for ConfigWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload on file change only");
                None
            }
        };
        // Stamp the file before anything can report ready, and catch up on any change made
        // since the config was first read: a change after this point is seen by the poll.
        let mut last = stamp(&self.path);
        let mut last_certificates = certificate_stamps(&self.gateway);
        if let Ok(reload::Applied::Changed { .. }) =
            reload::apply_file(&self.gateway, &self.path, "startup")
        {
            tracing::info!("config changed while starting; applied");
        }
        mark_ready_when_listening(&self.gateway, self.proxy_addr, shutdown.clone()).await;

        let mut ticks = tokio::time::interval(self.poll_interval);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => None } } => {
                    last = stamp(&self.path);
                    let _ = reload::apply_file(&self.gateway, &self.path, "sighup");
                    last_certificates = certificate_stamps(&self.gateway);
                }
                _ = ticks.tick() => {
                    let now = stamp(&self.path);
                    if now.is_some() && now != last {
                        last = now;
                        let _ = reload::apply_file(&self.gateway, &self.path, "file_change");
                        last_certificates = certificate_stamps(&self.gateway);
                    }
                    // A renewal may write the certificate and the key one after the other: a
                    // half-written pair is rejected whole, and the next write is seen again.
                    let certificates = certificate_stamps(&self.gateway);
                    if certificates != last_certificates {
                        last_certificates = certificates;
                        let _ = reload::apply_file(&self.gateway, &self.path, "certificate_change");
                    }
                }
            }
        }
    }
}
