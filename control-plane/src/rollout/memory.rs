//! The file that carries a rollout across a control-plane restart: the last rollout's
//! [`Record`] (active or finished) as one small JSON record in the store (`rollout.json` next to
//! the file store, written atomically; a key in etcd), so a failed or torn write leaves the
//! previous one whole. A file that cannot be read is an error, never taken for "no rollout".

use std::io;

use crate::store::Store;

use super::Record;

/// The file's name in the store's directory.
pub const FILE: &str = "rollout.json";

/// The rollout saved in `store`; `None` if none was ever saved.
pub fn load(store: &Store) -> io::Result<Option<Record>> {
    match store.load_state(FILE).map_err(io::Error::other)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        None => Ok(None),
    }
}

/// Replaces the rollout saved in `store` with `record`, durably; on error the previous one stands.
pub fn save(store: &Store, record: &Record) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    store.save_state(FILE, &bytes).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::super::Phase;
    use super::*;

    fn sample() -> Record {
        Record {
            stable: 4,
            canary: 5,
            canaries: ["gw-c".to_owned(), "gw-d".to_owned()].into(),
            selector: "region=eu-west".into(),
            author: "alice".into(),
            started_unix_ms: 1_000,
            bake_ms: 2_000,
            bake_until_unix_ms: 3_000,
            phase: Phase::Baking,
            outcome_version: None,
            reason: String::new(),
            finished_unix_ms: None,
            replica: Some("cp-a/127.0.0.1:7700".into()),
        }
    }

    #[test]
    fn a_saved_record_loads_back_and_none_saved_loads_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("store");
        assert_eq!(load(&store).expect("load"), None);
        save(&store, &sample()).expect("save");
        assert_eq!(load(&store).expect("load"), Some(sample()));
    }

    #[test]
    fn a_torn_file_is_an_error_not_an_absent_rollout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("store");
        save(&store, &sample()).expect("save");
        let path = dir.path().join(FILE);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        assert_eq!(
            load(&store).expect_err("torn").kind(),
            io::ErrorKind::InvalidData
        );
    }
}
