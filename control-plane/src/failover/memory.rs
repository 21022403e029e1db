//! The part of the policy's memory that must survive a restart: which regions it holds (drained
//! or ramping, with the operator's weight to ramp back to and the weight it last set) and the
//! pauses. Saved as one small JSON record in the store (`failover.json` next to the file store,
//! written atomically; a key in etcd), so a failed or torn write leaves the previous one whole.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The file's name in the store's directory.
pub const FILE: &str = "failover.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    pub paused_all: bool,
    #[serde(default)]
    pub paused: BTreeSet<String>,
    /// Upstream → region → what the policy holds there.
    #[serde(default)]
    pub held: BTreeMap<String, BTreeMap<String, Held>>,
    /// Upstream → region → an action being committed when this was saved: after a restart the
    /// config's weight tells whether it was (so a crash between the commit and the next save
    /// neither loses a drain nor hands a ramp step to the operator).
    #[serde(default)]
    pub unsettled: BTreeMap<String, BTreeMap<String, Unsettled>>,
}

/// A region whose action was not settled: what the policy held before it and after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsettled {
    /// The weight the action sets.
    pub weight: u32,
    pub before: Option<Held>,
    pub after: Option<Held>,
}

/// A region the policy holds weight back from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The ramp's 100%.
    pub operator_weight: u32,
    /// The ramp step last applied; `None` while drained.
    pub step: Option<usize>,
    /// The weight the policy last set: any other weight in the config is an operator's.
    pub weight: u32,
}

/// The memory saved in `store`; empty if there is none yet.
pub fn load(store: &Store) -> io::Result<Memory> {
    match store.load_state(FILE).map_err(io::Error::other)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        None => Ok(Memory::default()),
    }
}

/// Replaces the memory saved in `store` with `memory`, durably; on error the previous one stands.
pub fn save(store: &Store, memory: &Memory) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(memory).map_err(io::Error::other)?;
    store.save_state(FILE, &bytes).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Memory {
        let mut regions = BTreeMap::new();
        regions.insert(
            "us-east".to_owned(),
            Held {
                operator_weight: 80,
                step: Some(0),
                weight: 40,
            },
        );
        let unsettled = Unsettled {
            weight: 0,
            before: None,
            after: Some(Held {
                operator_weight: 100,
                step: None,
                weight: 0,
            }),
        };
        Memory {
            paused_all: false,
            paused: ["api".to_owned()].into(),
            held: [("app".to_owned(), regions)].into(),
            unsettled: [("app".to_owned(), [("eu-west".to_owned(), unsettled)].into())].into(),
        }
    }

    #[test]
    fn a_saved_memory_loads_back_and_none_saved_loads_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("store");
        assert_eq!(load(&store).expect("load"), Memory::default());
        save(&store, &sample()).expect("save");
        assert_eq!(load(&store).expect("load"), sample());
        save(&store, &Memory::default()).expect("save");
        assert_eq!(load(&store).expect("load"), Memory::default());
    }

    #[test]
    fn a_torn_file_is_an_error_not_an_empty_memory() {
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
