//! The problems found in a scenario file, each as `path: message`, collected so that none
//! hides another.

use std::fmt::Display;

/// Every problem found, as `path: message`.
#[derive(Debug, Default)]
pub(super) struct Errors(pub(super) Vec<String>);

impl Errors {
    pub(super) fn add(&mut self, path: impl Display, message: impl Display) {
        self.0.push(format!("{path}: {message}"));
    }

    /// The value, or an error at `path` saying it is missing.
    pub(super) fn required<T>(&mut self, path: impl Display, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(path, "missing");
        }
        value
    }
}
