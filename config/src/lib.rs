//! Weir's config: the TOML schema, its parser and validator, and reload comparisons.
//!
//! [`parse`] turns TOML text into a validated [`Config`], reporting every problem at once as
//! [`ConfigErrors`]. [`restart_required`] and [`diff`] compare two configs on reload. This crate
//! does no I/O: the gateway reads the file and hands over its text.
#![forbid(unsafe_code)]

mod diff;
mod document;
mod error;
mod model;
mod raw;
mod read;
mod report;
mod validate;

pub use diff::{diff, restart_required};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;

use toml::de::DeTable;

use report::Reporter;

/// Parses TOML text and validates it. Returns every problem at once, in the order they appear in
/// the text.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let mut report = Reporter::new(text);
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(syntax) => {
            report.error("", syntax.span().as_ref(), syntax.message());
            return Err(report.into_errors());
        }
    };
    let raw = read::read_document(document.get_ref(), document.span(), &mut report);
    let config = validate::validate(&raw, &mut report);
    if report.has_errors() {
        Err(report.into_errors())
    } else {
        Ok(config)
    }
}
