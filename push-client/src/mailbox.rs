//! The one-slot mailbox between a follower's stream and its reporter task: the newest report not
//! yet sent replaces an older one (the newer carries the state the control plane shows), so a
//! slow report endpoint never delays applying the next version and nothing queues without bound.

use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;
use weir_protocol::Report;

/// The newest report not yet sent: one slot, and a wake-up for the reporter.
#[derive(Default)]
pub struct Mailbox {
    slot: Mutex<Option<Report>>,
    /// Notified on each post: the reporter waits on it, then [`Mailbox::take`]s.
    pub posted: Notify,
}

impl Mailbox {
    /// Puts `report` in the slot; returns the unsent report it replaced.
    pub fn post(&self, report: Report) -> Option<Report> {
        let replaced = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(report);
        self.posted.notify_one();
        replaced
    }

    /// The report to send now, if one is waiting.
    pub fn take(&self) -> Option<Report> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::Outcome;

    #[test]
    fn the_mailbox_keeps_only_the_newest_report() {
        let mailbox = Mailbox::default();
        let report = |version| Report {
            region: None,
            version,
            outcome: Outcome::Ack,
            errors: Vec::new(),
            applied_version: version,
            applied_at_unix_us: None,
            dns: None,
        };
        assert!(mailbox.post(report(1)).is_none());
        assert_eq!(mailbox.post(report(2)).map(|r| r.version), Some(1));
        assert_eq!(mailbox.take().map(|r| r.version), Some(2));
        assert!(mailbox.take().is_none());
    }
}
