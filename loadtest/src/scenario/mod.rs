//! Scenarios: a file of load phases and timed actions (`spec`), firing the actions (`action`),
//! measuring the recovery after a failure action (`recovery`), and the subcommand that runs
//! one (`job`).
//!
//! These are plain modules the run engine calls: `spec` does no I/O but reading the file,
//! `recovery` is a pure function, and `action` only talks to what the scenario names.

pub mod action;
pub mod job;
pub mod recovery;
pub mod spec;
