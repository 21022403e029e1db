//! Groups responses by the value of one response header (`--group-by-header`), so a report can
//! show, say, which region answered each second. The header comes from the server, so what is
//! kept is bounded: the first [`MAX_VALUES`] distinct values seen (each cut to
//! [`MAX_VALUE_LEN`] bytes) get a group of their own, any later one counts as [`OTHER`], and a
//! response without the header as [`MISSING`].
//!
//! One [`Grouper`] per worker thread (it is not `Sync`); the thread's recorder keeps its group
//! numbers, and merging recorders maps them by value (see `record::Recorder::merge`).

use std::cell::RefCell;

use http::HeaderName;

/// Most distinct header values tracked; later ones count as [`OTHER`].
pub const MAX_VALUES: usize = 16;
/// Longest value kept, in bytes; longer values are cut (and so grouped by their first bytes).
pub const MAX_VALUE_LEN: usize = 128;

/// A response's group: `0..MAX_VALUES` one of the values, or [`OTHER`], [`MISSING`], [`NONE`].
pub type GroupId = u8;
/// A value seen after [`MAX_VALUES`] others.
pub const OTHER: GroupId = MAX_VALUES as GroupId;
/// A response without the header.
pub const MISSING: GroupId = OTHER + 1;
/// Slots a per-group count needs: the values, [`OTHER`] and [`MISSING`].
pub const SLOTS: usize = MAX_VALUES + 2;
/// The run does not group responses.
pub const NONE: GroupId = GroupId::MAX;

/// The thread's table of header values seen so far.
#[derive(Debug)]
pub struct Grouper {
    header: HeaderName,
    values: RefCell<Vec<Vec<u8>>>,
}

impl Grouper {
    pub fn new(header: HeaderName) -> Self {
        Grouper {
            header,
            values: RefCell::new(Vec::new()),
        }
    }

    /// The header it groups by.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// Whether `name` is that header (ASCII case-insensitive, as header names are).
    pub fn is_header(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.header.as_str())
    }

    /// The group of a response whose header had `value` (`None`: no such header).
    pub fn id(&self, value: Option<&[u8]>) -> GroupId {
        let Some(value) = value else {
            return MISSING;
        };
        let value = value.trim_ascii();
        let value = &value[..value.len().min(MAX_VALUE_LEN)];
        let mut values = self.values.borrow_mut();
        if let Some(index) = values.iter().position(|v| v == value) {
            return index as GroupId;
        }
        if values.len() < MAX_VALUES {
            values.push(value.to_vec());
            return (values.len() - 1) as GroupId;
        }
        OTHER
    }

    /// The values seen, in group order, as text (bytes that are not UTF-8 are replaced).
    pub fn values(&self) -> Vec<String> {
        self.values
            .borrow()
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouper() -> Grouper {
        Grouper::new(HeaderName::from_static("x-weir-origin-region"))
    }

    #[test]
    fn values_get_groups_in_the_order_seen() {
        let g = grouper();
        assert_eq!(g.id(Some(b"us-east")), 0);
        assert_eq!(g.id(Some(b"eu-west")), 1);
        assert_eq!(
            g.id(Some(b" us-east ")),
            0,
            "surrounding spaces do not count"
        );
        assert_eq!(g.id(None), MISSING);
        assert_eq!(g.values(), vec!["us-east", "eu-west"]);
        assert!(g.is_header("X-Weir-Origin-Region"));
        assert!(!g.is_header("x-weir-origin"));
    }

    #[test]
    fn distinct_values_are_bounded() {
        let g = grouper();
        for i in 0..MAX_VALUES {
            assert_eq!(g.id(Some(format!("v{i}").as_bytes())), i as GroupId);
        }
        // A server that sends a new value with every response cannot grow the table.
        for i in 0..1000 {
            assert_eq!(g.id(Some(format!("new-{i}").as_bytes())), OTHER);
        }
        assert_eq!(g.values().len(), MAX_VALUES);
        assert_eq!(g.id(Some(b"v3")), 3, "known values keep their group");
        let long = vec![b'x'; 10 * MAX_VALUE_LEN];
        let g = grouper();
        g.id(Some(&long));
        assert_eq!(g.values()[0].len(), MAX_VALUE_LEN);
        assert_eq!(g.id(Some(&long[..MAX_VALUE_LEN + 1])), 0);
        g.id(Some(&[0xff, 0xfe]));
        assert_eq!(g.values()[1], "\u{fffd}\u{fffd}");
    }
}
