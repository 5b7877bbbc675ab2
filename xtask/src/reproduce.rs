//! `cargo xtask reproduce`: runs each selected paper crate's `reproduce` subcommand in release
//! mode; each writes `<out>/<report>.md` with its tables and plots.

use crate::papers::Paper;
use repro_args::Scale;
use std::path::Path;
use std::process::Command;

/// The command line of one paper's reproduction:
/// `cargo run --release -p <package> -- reproduce --quick|--full --out <out>`.
pub fn command(root: &Path, paper: Paper, scale: Scale, out: &Path, features: &[String]) -> Command {
    let mut cmd = paper.cargo_run(root, features);
    cmd.args(["reproduce", scale.flag(), "--out"]);
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
    for &p in papers {
        eprintln!(
            "== reproduce {p} ({scale:?}) -> {}",
            out.join(p.report()).display()
        );
        match command(root, p, scale, out, features).status() {
            Ok(s) if s.success() => {}
            Ok(s) => failed.push((p, format!("exited with {s}"))),
            Err(e) => failed.push((p, format!("could not start cargo: {e}"))),
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn passes_the_package_features_and_scale_flag() {
        let cmd = command(
            Path::new("/w"),
            Paper::Ssl,
            Scale::Full,
            Path::new("out/dir"),
            &["wgpu".into()],
        );
        let args: Vec<&OsStr> = cmd.get_args().collect();
        assert_eq!(
            args,
            [
                "run",
                "--release",
                "--quiet",
                "-p",
                "ssl-dynamics",
                "--features",
                "wgpu",
                "--",
                "reproduce",
                "--full",
                "--out",
                "out/dir",
            ]
        );
        let quick = command(Path::new("/w"), Paper::Pes, Scale::Quick, Path::new("o"), &[]);
        let args: Vec<&OsStr> = quick.get_args().collect();
        assert_eq!(args[4], "pes");
        assert_eq!(&args[5..], ["--", "reproduce", "--quick", "--out", "o"]);
    }
}
