//! The progress line shown on a terminal while a run goes: elapsed time, requests sent and
//! completed, the current rate and errors. Nothing is printed when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::load::Live;

/// Draws the progress line, once a second.
pub struct Progress {
    enabled: bool,
    total: Duration,
    last: Option<(Instant, u64)>,
}

impl Progress {
    /// A progress line for a run of `total`, shown unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool, total: Duration) -> Self {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            total,
            last: None,
        }
    }

    /// Redraws the line from the live counters.
    pub fn update(&mut self, start: Instant, live: &Live) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let (sent, completed, errors) = live.snapshot();
        let rate = match self.last {
            Some((at, before)) if now > at => {
                (sent.saturating_sub(before)) as f64 / (now - at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, sent));
        let line = line(
            now.saturating_duration_since(start),
            self.total,
            sent,
            completed,
            errors,
            rate,
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Clears the line before the report is printed.
    pub fn finish(&mut self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

fn line(
    elapsed: Duration,
    total: Duration,
    sent: u64,
    completed: u64,
    errors: u64,
    rate: f64,
) -> String {
    format!(
        "{:>6.1}s / {:.0}s   sent {sent}   completed {completed}   {rate:.0} req/s   errors {errors}",
        elapsed.as_secs_f64(),
        total.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_the_counters() {
        let text = line(
            Duration::from_millis(2500),
            Duration::from_secs(10),
            100,
            98,
            1,
            40.0,
        );
        assert_eq!(
            text,
            "   2.5s / 10s   sent 100   completed 98   40 req/s   errors 1"
        );
    }
}
