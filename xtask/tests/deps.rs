//! `cargo xtask` must build without Burn: on a fresh clone `cargo xtask fetch` is the first
//! command a user runs, and a Burn build before it would take many minutes.

use std::process::Command;

#[test]
fn xtask_links_no_burn_crate() {
    // the directory cargo names when it runs the test, not the one baked in at build time:
    // a target directory shared by two checkouts may hold a binary built in the other one
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let manifest = format!("{dir}/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(manifest)
        .args(["--package", "xtask"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.lines().any(|l| l.starts_with("repro-args ")), "{tree}");
    let heavy: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("burn") || l.starts_with("repro-core ") || l.starts_with("cubecl"))
        .collect();
    assert!(heavy.is_empty(), "xtask depends on {heavy:?}");
}
