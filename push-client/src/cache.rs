//! The last applied control-plane version on disk, so a gateway or weir-dns restarted while the
//! control plane is unreachable serves what it served before. Written atomically (temporary file, fsync,
//! rename, fsync of the directory); a cache that is missing, unreadable or damaged is ignored
//! with a warning, never half-used.

use std::io::Write;
use std::path::Path;

use weir_protocol::ConfigPush;

use weir_protocol::checksum;

/// Writes `push` as the cache at `path`, replacing the previous one only once fully written.
pub fn save(path: &Path, push: &ConfigPush) -> std::io::Result<()> {
    let json = serde_json::to_vec(push).map_err(std::io::Error::other)?;
    let mut file = atomic_write_file::AtomicWriteFile::options().open(path)?;
    file.write_all(&json)?;
    file.commit()
}

/// Why the cache was not used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("there is no cache at {0} yet")]
    Missing(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a cached config: {message}")]
    Damaged { path: String, message: String },
}

/// Reads the cache at `path` and checks it is whole (its checksum matches its config).
pub fn load(path: &Path) -> Result<ConfigPush, CacheError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheError::Missing(shown));
        }
        Err(source) => {
            return Err(CacheError::Read {
                path: shown,
                source,
            });
        }
    };
    let push: ConfigPush = serde_json::from_slice(&bytes).map_err(|e| CacheError::Damaged {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if checksum(&push.config) != push.checksum {
        return Err(CacheError::Damaged {
            path: shown,
            message: format!("version {} does not match its checksum", push.version),
        });
    }
    Ok(push)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(version: u64, config: &str) -> ConfigPush {
        ConfigPush {
            version,
            checksum: checksum(config),
            config: config.to_string(),
        }
    }

    #[test]
    fn saves_and_loads_replacing_the_previous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        assert!(matches!(load(&path), Err(CacheError::Missing(_))));
        save(&path, &push(1, "[a]\n")).unwrap();
        save(&path, &push(2, "[b]\n")).unwrap();
        assert_eq!(load(&path).unwrap(), push(2, "[b]\n"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn a_damaged_cache_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(
            &path,
            b"{\"version\":3,\"checksum\":\"00\",\"config\":\"x\"}",
        )
        .unwrap();
        assert!(matches!(load(&path), Err(CacheError::Damaged { .. })));
        std::fs::write(&path, b"{\"version\":3,").unwrap();
        assert!(matches!(load(&path), Err(CacheError::Damaged { .. })));
    }
}
