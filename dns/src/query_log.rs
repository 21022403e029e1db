//! The JSON query log: one line per answered query, written by a thread of its own through a
//! bounded queue so a slow terminal or pipe never slows answers; when the queue is full the line
//! is dropped and counted (`weir_dns_query_log_dropped_total`). Every field is bounded (a DNS
//! name is at most 255 bytes).

use std::io::Write;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use prometheus::IntCounter;
use serde::Serialize;

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16_384;

/// Where the query log goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Destination {
    Stdout,
    Stderr,
    Off,
}

/// One query, as logged.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    pub protocol: &'static str,
    pub client: String,
    /// The EDNS Client Subnet, `address/prefix`, when the query had one.
    pub ecs: Option<String>,
    pub name: String,
    pub qtype: String,
    pub rcode: &'static str,
    pub answers: Vec<String>,
    /// The region the client was placed in.
    pub client_region: Option<String>,
    /// The region of the first member answered.
    pub answered_region: Option<String>,
    pub all_down: bool,
    pub micros: u64,
}

/// A handle to the log; cheap to clone, `None` inside when the log is off.
#[derive(Clone)]
pub struct QueryLog {
    sender: Option<SyncSender<Entry>>,
    dropped: IntCounter,
}

impl QueryLog {
    pub fn start(destination: Destination, dropped: IntCounter) -> QueryLog {
        let sender = match destination {
            Destination::Off => None,
            Destination::Stdout | Destination::Stderr => {
                let (sender, receiver) = sync_channel::<Entry>(QUEUE);
                std::thread::Builder::new()
                    .name("query-log".into())
                    .spawn(move || {
                        let mut out: Box<dyn Write> = match destination {
                            Destination::Stderr => Box::new(std::io::stderr().lock()),
                            _ => Box::new(std::io::stdout().lock()),
                        };
                        for entry in receiver {
                            if serde_json::to_writer(&mut out, &entry).is_err()
                                || out.write_all(b"\n").is_err()
                            {
                                return; // the reader went away: stop logging, keep serving
                            }
                            // Flush when nothing else is waiting, so lines are not held back.
                            let _ = out.flush();
                        }
                    })
                    .ok()
                    .map(|_| sender)
            }
        };
        QueryLog { sender, dropped }
    }

    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    pub fn log(&self, entry: Entry) {
        if let Some(sender) = &self.sender {
            match sender.try_send(entry) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.inc();
                }
            }
        }
    }
}
