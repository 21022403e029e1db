//! The ACME state directory: one account file per directory URL (`account-<hash>.json`, the
//! account's key and URL) and one file per order (`<first name>.pem`, the private key and the
//! chain together, so a crash never pairs a key with another certificate). Every file is written
//! atomically (a temporary file, fsync, rename, fsync of the directory) with mode 0600, in a
//! directory of mode 0700. Fails with the path and the I/O error.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The state directory, created if missing.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// Opens `dir`, creating it (mode 0700) when missing.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(at(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the certificate ordered for `names` (first name first) is kept.
    pub fn certificate_path(&self, first_name: &str) -> PathBuf {
        self.dir.join(format!("{first_name}.pem"))
    }

    /// Where the account on `directory` is kept.
    pub fn account_path(&self, directory: &str) -> PathBuf {
        let hash = Sha256::digest(directory.as_bytes());
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("account-{hex}.json"))
    }

    /// The file's bytes, `None` when it does not exist.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(at(path)(e)),
        }
    }

    /// Replaces `path` with `bytes` at once (readers see the old file or the new one).
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let name = path.file_name().map_or_else(
            || "state".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let temp = self.dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            // An existing temporary file keeps its mode: set it again.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(at(&temp)(e));
        }
        fs::rename(&temp, path).map_err(at(path))?;
        // The rename itself survives a crash once the directory is synced.
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(at(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_replaced_whole_with_mode_0600() {
        let temp = tempfile::tempdir().unwrap();
        let store = StateDir::open(&temp.path().join("acme")).unwrap();
        assert_eq!(mode(store.path()), 0o700);
        let path = store.certificate_path("shop.example.org");
        assert_eq!(store.read(&path).unwrap(), None);
        store.write(&path, b"one").unwrap();
        assert_eq!(mode(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        store.write(&path, b"two").unwrap();
        assert_eq!(store.read(&path).unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(mode(&path), 0o600, "a replaced file is 0600 again");
        let names: Vec<_> = fs::read_dir(store.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["shop.example.org.pem"], "no temporary file is left");
    }

    #[test]
    fn each_directory_url_has_its_own_account() {
        let store = StateDir {
            dir: PathBuf::from("/state"),
        };
        let a = store.account_path("https://a.example/dir");
        assert_ne!(a, store.account_path("https://b.example/dir"));
        assert_eq!(a, store.account_path("https://a.example/dir"));
        assert!(a.starts_with("/state"));
    }
}
