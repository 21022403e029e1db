//! Typed reads from the parsed TOML document: tables with a fixed set of keys, and value
//! conversions that report a mismatch (with its key path and position) instead of stopping.

use std::time::Duration;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::report::{Reporter, Span};

/// Keys earlier versions read, with what to write instead (added to their unknown-key message).
const REMOVED_KEYS: &[(&str, &str)] = &[(
    "connect_retries",
    "a route's [routes.retry] attempts limits the attempts per request, connect failures included",
)];

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct At<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// One node of the parsed document.
pub(crate) type Node<'a> = Spanned<DeValue<'a>>;

/// A TOML table whose keys were checked against a fixed list.
pub(crate) struct Table<'a> {
    path: String,
    span: Span,
    entries: Vec<(&'a str, &'a Node<'a>)>,
}

impl<'a> Table<'a> {
    /// Reads `node` at `path` as a table, reporting a type error when it is not one and every
    /// key that is not in `known`.
    pub(crate) fn open(
        node: &'a Node<'a>,
        path: String,
        known: &[&str],
        report: &mut Reporter<'_>,
    ) -> Option<Self> {
        match node.get_ref() {
            DeValue::Table(table) => Some(Self::new(table, node.span(), path, known, report)),
            other => {
                report.error(path, Some(&node.span()), type_error("a table", other));
                None
            }
        }
    }

    /// Wraps an already-parsed table (e.g. the document root), reporting unknown keys.
    pub(crate) fn new(
        table: &'a DeTable<'a>,
        span: Span,
        path: String,
        known: &[&str],
        report: &mut Reporter<'_>,
    ) -> Self {
        let mut entries = Vec::with_capacity(table.len());
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                entries.push((name, value));
            } else {
                let mut message = format!("unknown key (expected one of: {})", known.join(", "));
                if let Some((_, instead)) = REMOVED_KEYS.iter().find(|(old, _)| *old == name) {
                    message = format!("{message}; {name} was removed: {instead}");
                }
                report.error(join_key(&path, name), Some(&key.span()), message);
            }
        }
        Self {
            path,
            span,
            entries,
        }
    }

    /// Leaves `keys` unread, as if they were absent.
    pub(crate) fn forget(&mut self, keys: &[&str]) {
        self.entries.retain(|(name, _)| !keys.contains(name));
    }

    /// Where the table was written (its `[header]`, or the `{ ... }` of an inline table).
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The dotted path of `key` inside this table.
    pub(crate) fn key_path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    fn get(&self, key: &str) -> Option<&'a Node<'a>> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, node)| *node)
    }

    /// Reports `key` as missing when it is absent; used for required keys.
    pub(crate) fn require(&self, key: &str, why: &str, report: &mut Reporter<'_>) {
        if self.get(key).is_none() {
            report.error(
                self.key_path(key),
                Some(&self.span),
                format!("missing required key ({why})"),
            );
        }
    }

    pub(crate) fn string(&self, key: &str, report: &mut Reporter<'_>) -> Option<At<String>> {
        self.get(key)
            .and_then(|node| read_string(node, &self.key_path(key), report))
    }

    pub(crate) fn integer(&self, key: &str, report: &mut Reporter<'_>) -> Option<At<i64>> {
        self.get(key)
            .and_then(|node| read_integer(node, &self.key_path(key), report))
    }

    /// A float; an integer is accepted too (`1` reads as `1.0`).
    pub(crate) fn number(&self, key: &str, report: &mut Reporter<'_>) -> Option<At<f64>> {
        self.get(key)
            .and_then(|node| read_number(node, &self.key_path(key), report))
    }

    pub(crate) fn boolean(&self, key: &str, report: &mut Reporter<'_>) -> Option<At<bool>> {
        let node = self.get(key)?;
        match node.get_ref() {
            DeValue::Boolean(value) => Some(at(*value, node)),
            other => {
                report.error(
                    self.key_path(key),
                    Some(&node.span()),
                    type_error("a boolean", other),
                );
                None
            }
        }
    }

    /// A duration string with a unit, parsed by `humantime` (`"500ms"`, `"2m"`).
    pub(crate) fn duration(&self, key: &str, report: &mut Reporter<'_>) -> Option<At<Duration>> {
        self.get(key)
            .and_then(|node| read_duration(node, &self.key_path(key), report))
    }

    /// A nested table with its own known keys.
    pub(crate) fn table(
        &self,
        key: &str,
        known: &[&str],
        report: &mut Reporter<'_>,
    ) -> Option<Table<'a>> {
        let node = self.get(key)?;
        Table::open(node, self.key_path(key), known, report)
    }

    /// A nested table whose keys are names chosen by the user (like `upstreams`); its entries
    /// are read by the caller.
    pub(crate) fn table_of_any_keys(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Option<&'a DeTable<'a>> {
        let node = self.get(key)?;
        match node.get_ref() {
            DeValue::Table(table) => Some(table),
            other => {
                report.error(
                    self.key_path(key),
                    Some(&node.span()),
                    type_error("a table", other),
                );
                None
            }
        }
    }

    /// A nested table of user-chosen keys whose values are strings (like `dns.client_regions`):
    /// each key with its value, `None` for a value that is not a string (reported).
    pub(crate) fn string_entries(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Vec<(At<String>, Option<At<String>>)> {
        let Some(table) = self.table_of_any_keys(key, report) else {
            return Vec::new();
        };
        let path = self.key_path(key);
        table
            .iter()
            .map(|(name, node)| {
                let entry_path = join_key(&path, name.get_ref());
                let name = At {
                    value: name.get_ref().to_string(),
                    span: name.span(),
                };
                (name, read_string(node, &entry_path, report))
            })
            .collect()
    }

    /// An array of strings; an element that is not a string is reported (at `key[index]`) and
    /// becomes `None`, so indexes stay as written.
    pub(crate) fn strings(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Option<At<Vec<Option<At<String>>>>> {
        let array = self.array(key, report)?;
        Some(read_strings(array, &self.key_path(key), report))
    }

    /// An array of integers; an element that is not an integer is reported (at `key[index]`)
    /// and becomes `None`.
    pub(crate) fn integers(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Option<At<Vec<Option<At<i64>>>>> {
        let array = self.array(key, report)?;
        let path = self.key_path(key);
        let values = array
            .value
            .iter()
            .enumerate()
            .map(|(index, node)| read_integer(node, &join_index(&path, index), report))
            .collect();
        Some(At {
            value: values,
            span: array.span,
        })
    }

    /// One string or an array of strings (`key = "a"` or `key = ["a", "b"]`).
    pub(crate) fn string_or_strings(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Option<OneOrMany> {
        let node = self.get(key)?;
        match node.get_ref() {
            DeValue::String(value) => Some(OneOrMany::One(at(value.to_string(), node))),
            DeValue::Array(array) => Some(OneOrMany::Many(read_strings(
                at(array, node),
                &self.key_path(key),
                report,
            ))),
            other => {
                report.error(
                    self.key_path(key),
                    Some(&node.span()),
                    type_error("a string or an array of strings", other),
                );
                None
            }
        }
    }

    /// An array; its elements are read by the caller.
    pub(crate) fn array(
        &self,
        key: &str,
        report: &mut Reporter<'_>,
    ) -> Option<At<&'a DeArray<'a>>> {
        let node = self.get(key)?;
        match node.get_ref() {
            DeValue::Array(array) => Some(at(array, node)),
            other => {
                report.error(
                    self.key_path(key),
                    Some(&node.span()),
                    type_error("an array", other),
                );
                None
            }
        }
    }
}

/// A value written either as one string or as an array of strings.
#[derive(Debug)]
pub(crate) enum OneOrMany {
    One(At<String>),
    /// Each element as written; `None` for one that is not a string (already reported).
    Many(At<Vec<Option<At<String>>>>),
}

/// Reads every element of `array` (written at `path`) as a string.
fn read_strings(
    array: At<&DeArray<'_>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> At<Vec<Option<At<String>>>> {
    At {
        value: array
            .value
            .iter()
            .enumerate()
            .map(|(index, node)| read_string(node, &join_index(path, index), report))
            .collect(),
        span: array.span,
    }
}

fn read_string(node: &Node<'_>, path: &str, report: &mut Reporter<'_>) -> Option<At<String>> {
    match node.get_ref() {
        DeValue::String(value) => Some(at(value.to_string(), node)),
        other => {
            report.error(path, Some(&node.span()), type_error("a string", other));
            None
        }
    }
}

fn read_integer(node: &Node<'_>, path: &str, report: &mut Reporter<'_>) -> Option<At<i64>> {
    match node.get_ref() {
        DeValue::Integer(integer) => match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(value) => Some(at(value, node)),
            Err(_) => {
                report.error(path, Some(&node.span()), "integer is too large");
                None
            }
        },
        other => {
            report.error(path, Some(&node.span()), type_error("an integer", other));
            None
        }
    }
}

fn read_number(node: &Node<'_>, path: &str, report: &mut Reporter<'_>) -> Option<At<f64>> {
    let value = match node.get_ref() {
        DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .map(|value| value as f64),
        other => {
            report.error(path, Some(&node.span()), type_error("a number", other));
            return None;
        }
    };
    match value {
        Some(value) => Some(at(value, node)),
        None => {
            report.error(path, Some(&node.span()), "not a representable number");
            None
        }
    }
}

const DURATION_EXPECTED: &str = "expected a duration with a unit, like \"500ms\"";

fn read_duration(node: &Node<'_>, path: &str, report: &mut Reporter<'_>) -> Option<At<Duration>> {
    let message = match node.get_ref() {
        DeValue::String(text) => match humantime::parse_duration(text) {
            Ok(value) => return Some(at(value, node)),
            Err(_) => format!("{DURATION_EXPECTED}, got {text:?}"),
        },
        DeValue::Integer(_) | DeValue::Float(_) => DURATION_EXPECTED.to_owned(),
        other => format!("{DURATION_EXPECTED}, got {}", type_name(other)),
    };
    report.error(path, Some(&node.span()), message);
    None
}

fn at<T>(value: T, node: &Node<'_>) -> At<T> {
    At {
        value,
        span: node.span(),
    }
}

fn type_error(expected: &str, found: &DeValue<'_>) -> String {
    format!("expected {expected}, got {}", type_name(found))
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// `parent.key`, quoting `key` the way TOML would when it is not a bare key (`upstreams."my api"`);
/// just `key` when `parent` is empty. The key paths of config errors and diffs are built with it.
pub fn join_key(parent: &str, key: &str) -> String {
    let is_bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if is_bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_only_when_not_bare() {
        assert_eq!(join_key("", "upstreams"), "upstreams");
        assert_eq!(join_key("upstreams", "api-v2_x"), "upstreams.api-v2_x");
        assert_eq!(join_key("upstreams", "api.v2"), "upstreams.\"api.v2\"");
        assert_eq!(join_key("upstreams", ""), "upstreams.\"\"");
        assert_eq!(join_index("routes", 3), "routes[3]");
    }
}
