//! The part of the policy's memory that must survive a restart: which regions it holds (drained
//! or ramping, with the operator's weight to ramp back to and the weight it last set) and the
//! pauses. Saved as one small JSON file next to the store, written atomically (temp file, fsync,
//! rename, directory fsync), so a failed or torn write leaves the previous file whole.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;

use atomic_write_file::AtomicWriteFile;
use serde::{Deserialize, Serialize};

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

/// The memory saved in `dir`; empty if there is none yet.
pub fn load(dir: &Path) -> io::Result<Memory> {
    match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Memory::default()),
        Err(e) => Err(e),
    }
}

/// Replaces the memory saved in `dir` with `memory`, durably; on error the previous file stands.
pub fn save(dir: &Path, memory: &Memory) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(memory).map_err(io::Error::other)?;
    let mut file = AtomicWriteFile::open(dir.join(FILE))?;
    file.write_all(&bytes)?;
    // Fsyncs the temp file, renames it over the old one, fsyncs the directory; dropped
    // unfinished (an error above), it removes the temp file and leaves the old one.
    file.commit()
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
        assert_eq!(load(dir.path()).expect("load"), Memory::default());
        save(dir.path(), &sample()).expect("save");
        assert_eq!(load(dir.path()).expect("load"), sample());
        save(dir.path(), &Memory::default()).expect("save");
        assert_eq!(load(dir.path()).expect("load"), Memory::default());
    }

    #[test]
    fn a_torn_file_is_an_error_not_an_empty_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), &sample()).expect("save");
        let path = dir.path().join(FILE);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        assert_eq!(
            load(dir.path()).expect_err("torn").kind(),
            io::ErrorKind::InvalidData
        );
    }
}
