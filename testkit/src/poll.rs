//! Waiting for a condition that a process under test reaches on its own time.

use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms for up to `within`; true as soon as it holds, false if it never did.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
