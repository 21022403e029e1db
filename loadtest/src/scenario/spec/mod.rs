//! The scenario file: TOML read into raw structs (`raw`), then validated (`validate`) into a
//! [`Scenario`] (`model`).
//!
//! Parsing fails with every problem found, each with its path (`phases[2].rate: must be > 0`);
//! a TOML syntax or type error stops at the first one and gives its line and column. Rates are
//! read as any TOML value and checked in `validate`, so a rate of the wrong type (`rate = "fast"`)
//! is one error among the others rather than the only one. The validated type holds only what
//! the run engine needs, with defaults applied and the phases' start offsets computed. Nothing
//! here does I/O except [`load`], which reads the file.

mod model;
mod raw;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use model::{Action, ActionKind, HttpAction, Scenario};
use raw::RawScenario;

/// Reads and validates a scenario file. Each error is prefixed with the file's path.
pub fn load(path: &Path) -> Result<Scenario, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| vec![format!("cannot read {}: {err}", path.display())])?;
    parse(&text).map_err(|errors| {
        errors
            .into_iter()
            .map(|err| format!("{}: {err}", path.display()))
            .collect()
    })
}

/// Parses and validates a scenario from its TOML text.
pub fn parse(text: &str) -> Result<Scenario, Vec<String>> {
    let raw: RawScenario = toml::from_str(text).map_err(|err| vec![syntax_error(text, &err)])?;
    validate::scenario(raw)
}

/// `line L, column C: message` for a TOML error.
fn syntax_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let Some(span) = err.span() else {
        return message.to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}
