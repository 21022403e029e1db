//! Where the etcd store keeps what, under one prefix (default `/weir/`), so one etcd cluster can
//! hold several fleets and keys sort like the numbers they carry:
//! - `versions/<20-digit number>`: one version (`Version` as JSON, the file store's encoding);
//! - `current`: the current version's number in decimal, the key every commit compares-and-swaps;
//! - `audit/<20-digit version>/0`: the audit line of a version, in the version's own transaction;
//! - `audit/<20-digit version>/1/<20-digit nanoseconds>-<random>`: a line that stores no version,
//!   written while `<version>` was current, so lines sort in the order they were written;
//! - `state/<name>`: small records of other components (`failover.json`, `rollout.json`);
//! - `leader`: the leading replica's identity, bound to its lease (`leader` module).

/// The keys of one store.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

/// Digits of a number in a key: enough for every `u64`.
const DIGITS: usize = 20;

impl Keys {
    /// Keys under `prefix`, which gets a trailing `/` if it has none.
    pub fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn current(&self) -> String {
        format!("{}current", self.prefix)
    }

    pub fn versions(&self) -> String {
        format!("{}versions/", self.prefix)
    }

    pub fn version(&self, number: u64) -> String {
        format!("{}versions/{number:0DIGITS$}", self.prefix)
    }

    /// The number a `versions/` key names, if it is one.
    pub fn version_number(&self, key: &[u8]) -> Option<u64> {
        let key = std::str::from_utf8(key).ok()?;
        let digits = key.strip_prefix(&self.versions())?;
        if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    pub fn audit(&self) -> String {
        format!("{}audit/", self.prefix)
    }

    /// The audit line of version `number`.
    pub fn audit_of_version(&self, number: u64) -> String {
        format!("{}audit/{number:0DIGITS$}/0", self.prefix)
    }

    /// An audit line written while `current` was the current version, `unique` apart from others.
    pub fn audit_note(&self, current: u64, nanos: u128, unique: u64) -> String {
        format!(
            "{}audit/{current:0DIGITS$}/1/{nanos:0DIGITS$}-{unique:016x}",
            self.prefix
        )
    }

    pub fn leader(&self) -> String {
        format!("{}leader", self.prefix)
    }

    pub fn state(&self, name: &str) -> String {
        format!("{}state/{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_their_numbers_and_parse_back() {
        let keys = Keys::new("/weir");
        assert_eq!(keys.prefix(), "/weir/");
        assert!(keys.version(9) < keys.version(10));
        assert_eq!(keys.version_number(keys.version(42).as_bytes()), Some(42));
        assert_eq!(keys.version_number(b"/weir/versions/42"), None);
        assert_eq!(
            keys.version_number(b"/other/versions/00000000000000000042"),
            None
        );
        // A version's line sorts before the notes written while it was current, and those
        // before the next version's line.
        let line = keys.audit_of_version(7);
        let note = keys.audit_note(7, 1_700_000_000_000_000_000, 1);
        let later = keys.audit_note(7, 1_700_000_000_000_000_001, 0);
        assert!(line < note && note < later && later < keys.audit_of_version(8));
    }
}
