//! Weir's config: the TOML schema, its parser and validator, and reload comparisons.
//!
//! [`parse`] turns a gateway's file into a validated [`Config`], reporting every problem at once
//! as [`ConfigErrors`]; [`parse_fleet`] does the same for the fleet config a control plane stores
//! and pushes, and [`Config::with_node`] joins the two (a [`Config`] is its [`NodeSettings`] and
//! its [`FleetSettings`], whose `KEYS` say which top-level key is which; [`Config::has_fleet`]
//! whether a config has a fleet part yet). [`restart_required`] and [`diff`] compare two configs on
//! reload. This crate does no I/O: its callers read files and hand over text.
#![forbid(unsafe_code)]

mod diff;
mod document;
mod error;
mod model;
mod raw;
mod read;
mod report;
mod scope;
mod validate;

pub use diff::{diff, restart_required};
pub use document::join_key;
pub use error::{ConfigError, ConfigErrors};
pub use model::*;

use toml::de::DeTable;

use report::Reporter;
use scope::Scope;

/// Parses a gateway's own file and validates it. Returns every problem at once, in the order they
/// appear in the text. A file with `[control_plane]` holds only the node keys ([`NodeSettings::KEYS`]):
/// the fleet keys come from the control plane, and writing them here is an error.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_scoped(text, Scope::GatewayFile)
}

/// Parses a fleet config (what a control plane stores and pushes to every gateway) and validates
/// it. Node keys ([`NodeSettings::KEYS`]) are errors here: each gateway sets them in its own file. The
/// node settings of the result are defaults; see [`Config::with_node`].
pub fn parse_fleet(text: &str) -> Result<Config, ConfigErrors> {
    parse_scoped(text, Scope::Fleet)
}

fn parse_scoped(text: &str, scope: Scope) -> Result<Config, ConfigErrors> {
    let mut report = Reporter::new(text);
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(syntax) => {
            report.error("", syntax.span().as_ref(), syntax.message());
            return Err(report.into_errors());
        }
    };
    let refused = scope::refuse_misplaced(document.get_ref(), scope, &mut report);
    let raw = read::read_document(document.get_ref(), document.span(), &refused, &mut report);
    let config = validate::validate(&raw, &mut report);
    if scope == Scope::GatewayFile {
        for refused in config.refused_by_node() {
            report.error(refused.path, None, refused.message);
        }
    }
    if report.has_errors() {
        Err(report.into_errors())
    } else {
        Ok(config)
    }
}
