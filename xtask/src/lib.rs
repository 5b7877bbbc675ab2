//! Workspace automation (`cargo xtask ...`).
//!
//! The binary (`src/main.rs`) only parses the command line; the work is done here so that
//! integration tests can drive it:
//!
//! * [`fetch`]: download or import datasets, verify them, and put them in place.
//! * [`papers`]: the registry of paper crates that `reproduce` and `bench` run.
//! * [`reproduce`]: full or quick reproduction runs that write `docs/results/*.md`.
//! * [`bench`](mod@bench): release-mode throughput against the PyTorch/JAX references.
//! * [`peak`]: the machine's peak fp32 rate, from the CPU and a table of its FMA units.

pub mod bench;
pub mod fetch;
pub mod papers;
pub mod peak;
pub mod reproduce;

use std::path::{Path, PathBuf};

/// The workspace root: the nearest directory at or above this crate (then at or above the
/// current directory) whose `Cargo.toml` has a `[workspace]` table.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cwd = std::env::current_dir().ok();
    [Some(manifest_dir), cwd.as_deref()]
        .into_iter()
        .flatten()
        .find_map(find_workspace_root)
        .unwrap_or_else(|| manifest_dir.parent().unwrap_or(manifest_dir).to_owned())
}

fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| dir.to_owned())
    })
}

/// `<workspace root>/datasets`, where `cargo xtask fetch` puts datasets by default.
pub fn default_datasets_root() -> PathBuf {
    workspace_root().join("datasets")
}

#[cfg(test)]
mod tests {
    #[test]
    fn workspace_root_has_a_workspace_manifest() {
        let root = super::workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
        assert!(root.join("xtask").is_dir());
    }
}
