//! Which pushed versions a follower (a gateway, a weir-dns) may apply: versions only go forward.
//! A push of version 0, of a version older than the one served, or of the served version's
//! number with other content is refused whatever it contains (a rollback is a new version), so
//! such a push comes from a control plane whose store was replaced, or from something that is
//! not the control plane.

use weir_protocol::ConfigPush;

/// Why a pushed version is not applied, whatever it contains.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("version 0 is not a version (the control plane numbers versions from 1)")]
    Zero,
    #[error(
        "version {pushed} is older than version {serving}, which the follower serves: versions \
         only go forward (a rollback is a new version). If the control plane's store was \
         replaced, delete the follower's cache file and restart it to follow the new history"
    )]
    Older { pushed: u64, serving: u64 },
    #[error(
        "version {0} differs from the version {0} the follower serves (another checksum): the \
         control plane's history was replaced; delete the follower's cache file and restart it \
         to follow the new history"
    )]
    Rewritten(u64),
}

/// Whether `push` may be applied by a follower serving `serving` (version, checksum); version 0
/// is served only before the first config.
pub fn check_order(push: &ConfigPush, serving: (u64, &str)) -> Result<(), Stale> {
    let (version, checksum) = serving;
    if push.version == 0 {
        Err(Stale::Zero)
    } else if version > 0 && push.version < version {
        Err(Stale::Older {
            pushed: push.version,
            serving: version,
        })
    } else if version > 0 && push.version == version && push.checksum != checksum {
        Err(Stale::Rewritten(version))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(version: u64, checksum: &str) -> ConfigPush {
        ConfigPush {
            version,
            checksum: checksum.into(),
            config: String::new(),
        }
    }

    #[test]
    fn versions_only_go_forward() {
        assert_eq!(check_order(&push(1, "a"), (0, "")), Ok(()));
        assert_eq!(check_order(&push(6, "b"), (5, "a")), Ok(()));
        assert_eq!(
            check_order(&push(5, "a"), (5, "a")),
            Ok(()),
            "a repeat is fine"
        );
        assert_eq!(check_order(&push(0, "a"), (0, "")), Err(Stale::Zero));
        assert_eq!(check_order(&push(0, "a"), (5, "a")), Err(Stale::Zero));
        assert_eq!(
            check_order(&push(3, "c"), (5, "a")),
            Err(Stale::Older {
                pushed: 3,
                serving: 5
            })
        );
        assert_eq!(
            check_order(&push(5, "z"), (5, "a")),
            Err(Stale::Rewritten(5))
        );
    }
}
