//! `cargo xtask reproduce`: runs each selected paper crate's `reproduce` subcommand in release
//! mode; each writes `<out>/<report>.md` with its tables and plots.

use crate::papers::Paper;
use std::path::Path;
use std::process::Command;

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Minutes per paper on a CPU.
    Quick,
    /// The paper-scale configurations.
    Full,
}

/// The command line of one paper's reproduction.
pub fn command(root: &Path, paper: &Paper, scale: Scale, out: &Path, features: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args(["run", "--release", "--quiet", "-p", paper.package]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    cmd.args([
        "--",
        "reproduce",
        if scale == Scale::Quick {
            "--quick"
        } else {
            "--full"
        },
        "--out",
    ]);
    cmd.arg(out);
    cmd
}

/// Runs the reproductions one after the other; returns the papers that failed.
pub fn run(
    root: &Path,
    papers: &[Paper],
    scale: Scale,
    out: &Path,
    features: &[String],
) -> Vec<(Paper, String)> {
    let mut failed = Vec::new();
    for p in papers {
        eprintln!(
            "== reproduce {} ({:?}) -> {}",
            p.package,
            scale,
            out.join(p.report).display()
        );
        let status = command(root, p, scale, out, features).status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => failed.push((*p, format!("exited with {s}"))),
            Err(e) => failed.push((*p, format!("could not start cargo: {e}"))),
        }
    }
    failed
}
