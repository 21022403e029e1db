//! Finding the workspace's binaries from a test binary.

use std::path::{Path, PathBuf};

/// A binary built beside the test binaries (`cargo build --workspace --bins`, which
/// `scripts/test.sh` runs first). Panics, saying how to build it, when it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        bin.display()
    );
    bin
}
