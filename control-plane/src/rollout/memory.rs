//! The file that carries a rollout across a control-plane restart: the last rollout's
//! [`Record`] (active or finished) as one small JSON file next to the store, written atomically
//! (temp file, fsync, rename, directory fsync), so a failed or torn write leaves the previous
//! file whole. A file that cannot be read is an error, never taken for "no rollout".

use std::io::{self, Write};
use std::path::Path;

use atomic_write_file::AtomicWriteFile;

use super::Record;

/// The file's name in the store's directory.
pub const FILE: &str = "rollout.json";

/// The rollout saved in `dir`; `None` if none was ever saved.
pub fn load(dir: &Path) -> io::Result<Option<Record>> {
    match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the rollout saved in `dir` with `record`, durably; on error the previous file stands.
pub fn save(dir: &Path, record: &Record) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let mut file = AtomicWriteFile::open(dir.join(FILE))?;
    file.write_all(&bytes)?;
    // Fsyncs the temp file, renames it over the old one, fsyncs the directory; dropped
    // unfinished (an error above), it removes the temp file and leaves the old one.
    file.commit()
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
        }
    }

    #[test]
    fn a_saved_record_loads_back_and_none_saved_loads_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("load"), None);
        save(dir.path(), &sample()).expect("save");
        assert_eq!(load(dir.path()).expect("load"), Some(sample()));
    }

    #[test]
    fn a_torn_file_is_an_error_not_an_absent_rollout() {
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
