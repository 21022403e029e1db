//! Collects problems while reading and validating, and places each one at a line and column.

use std::ops::Range;

use crate::error::{ConfigError, ConfigErrors};

/// A byte range in the config text.
pub(crate) type Span = Range<usize>;

/// Gathers every problem found; never stops at the first.
pub(crate) struct Reporter<'t> {
    text: &'t str,
    /// Byte offset where each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
}

impl<'t> Reporter<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(offset, _)| offset + 1))
            .collect();
        Self {
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// Records a problem at `path`, placed at the start of `span` when there is one.
    pub(crate) fn error(
        &mut self,
        path: impl Into<String>,
        span: Option<&Span>,
        message: impl Into<String>,
    ) {
        let (line, column) = match span.map(|span| self.line_and_column(span.start)) {
            Some((line, column)) => (Some(line), Some(column)),
            None => (None, None),
        };
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
            line,
            column,
        });
    }

    /// Whether a problem was already recorded at exactly `path`; used to skip checks between
    /// keys when one of them is already known to be wrong.
    pub(crate) fn has_error_at(&self, path: &str) -> bool {
        self.errors.iter().any(|error| error.path == path)
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// All problems in text order; those without a position come last.
    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut errors = self.errors;
        errors.sort_by_key(|error| (error.line.is_none(), error.line, error.column));
        ConfigErrors(errors)
    }

    /// 1-based line and column (counted in characters) of a byte offset.
    fn line_and_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let column = match self.text.get(line_start..offset) {
            Some(before) => before.chars().count(),
            None => offset - line_start,
        };
        (line_index + 1, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let reporter = Reporter::new("a = 1\nbé = 2\n");
        assert_eq!(reporter.line_and_column(0), (1, 1));
        assert_eq!(reporter.line_and_column(4), (1, 5));
        assert_eq!(reporter.line_and_column(6), (2, 1));
        // "é" is two bytes but one column.
        assert_eq!(reporter.line_and_column(10), (2, 4));
        assert_eq!(reporter.line_and_column(100), (3, 1));
    }
}
