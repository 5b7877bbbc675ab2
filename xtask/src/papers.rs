//! The registry of paper crates: what `cargo xtask reproduce` and `cargo xtask bench` run.
//!
//! Each paper crate's binary implements two subcommands with a common interface:
//! - `<bin> reproduce --quick|--full --out DIR` writes `DIR/<report>.md` and its figures
//!   (the flags of [`repro_args::ReproduceArgs`]);
//! - `<bin> bench --steps N --warmup N` prints one JSON line per workload:
//!   `{"workload": ..., "framework": "burn", "items_per_s": ..., "step_ms": ..., ...}`.

use clap::ValueEnum;
use clap::builder::PossibleValue;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;

/// One paper crate; its name on the xtask command line is its key (`gloro`, `ssl`, `pes`), and
/// its package name is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Paper {
    /// GloRo Nets (package `gloro`).
    Gloro,
    /// Self-supervised learning dynamics without contrastive pairs (package `ssl-dynamics`).
    #[value(alias = "ssl-dynamics")]
    Ssl,
    /// Persistent evolution strategies (package `pes`).
    Pes,
}

/// The reference script of a paper's benchmark workloads (under `../shared/bench/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `torch_ref.py`: takes the workload names as positional arguments.
    Torch,
    /// `jax_ref.py`: runs its one workload.
    Jax,
}

impl Reference {
    /// The script's file name.
    pub fn script(self) -> &'static str {
        match self {
            Reference::Torch => "torch_ref.py",
            Reference::Jax => "jax_ref.py",
        }
    }
}

/// A benchmark workload, named as in the paper binaries' and reference scripts' JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Workload {
    #[serde(rename = "gloro-2c2f")]
    Gloro2C2F,
    #[serde(rename = "gloro-6c2f")]
    Gloro6C2F,
    #[serde(rename = "byol-resnet18")]
    ByolResnet18,
    #[serde(rename = "pes-mnist-mlp")]
    PesMnistMlp,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 4] = [
        Workload::Gloro2C2F,
        Workload::Gloro6C2F,
        Workload::ByolResnet18,
        Workload::PesMnistMlp,
    ];

    /// The name in JSON lines and on the reference scripts' command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Gloro2C2F => "gloro-2c2f",
            Workload::Gloro6C2F => "gloro-6c2f",
            Workload::ByolResnet18 => "byol-resnet18",
            Workload::PesMnistMlp => "pes-mnist-mlp",
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Paper {
    /// Every registered paper crate, in the order they run.
    pub const ALL: [Paper; 3] = [Paper::Gloro, Paper::Ssl, Paper::Pes];

    /// Cargo package (and binary) name.
    pub fn package(self) -> &'static str {
        match self {
            Paper::Gloro => "gloro",
            Paper::Ssl => "ssl-dynamics",
            Paper::Pes => "pes",
        }
    }

    /// Report file written under the results directory.
    pub fn report(self) -> &'static str {
        match self {
            Paper::Gloro => "gloro.md",
            Paper::Ssl => "ssl-dynamics.md",
            Paper::Pes => "pes.md",
        }
    }

    /// The reference script of its benchmark workloads.
    pub fn reference(self) -> Reference {
        match self {
            Paper::Gloro | Paper::Ssl => Reference::Torch,
            Paper::Pes => Reference::Jax,
        }
    }

    /// The workloads its benchmark runs.
    pub fn workloads(self) -> &'static [Workload] {
        match self {
            Paper::Gloro => &[Workload::Gloro2C2F, Workload::Gloro6C2F],
            Paper::Ssl => &[Workload::ByolResnet18],
            Paper::Pes => &[Workload::PesMnistMlp],
        }
    }

    /// `cargo run --release --quiet -p <package> [--features F] --` in `root`: the paper binary,
    /// awaiting its subcommand.
    pub fn cargo_run(self, root: &Path, features: &[String]) -> Command {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root)
            .args(["run", "--release", "--quiet", "-p", self.package()]);
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        cmd.arg("--");
        cmd
    }
}

impl std::fmt::Display for Paper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// A paper named on the command line, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    All,
    One(Paper),
}

impl ValueEnum for Selection {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Selection::All,
            Selection::One(Paper::Gloro),
            Selection::One(Paper::Ssl),
            Selection::One(Paper::Pes),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Selection::All => Some(PossibleValue::new("all").help("every paper")),
            Selection::One(p) => p.to_possible_value(),
        }
    }
}

/// The papers named (all of them when none or `all` is named), in registry order, each once.
pub fn select(names: &[Selection]) -> Vec<Paper> {
    if names.is_empty() || names.contains(&Selection::All) {
        return Paper::ALL.to_vec();
    }
    Paper::ALL
        .into_iter()
        .filter(|p| names.contains(&Selection::One(*p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> Result<Selection, String> {
        Selection::from_str(name, false)
    }

    #[test]
    fn selection_by_key_package_or_all() {
        assert_eq!(select(&[]), Paper::ALL);
        assert_eq!(select(&[parse("all").unwrap()]), Paper::ALL);
        let names = ["pes", "ssl-dynamics", "pes"].map(|n| parse(n).unwrap());
        assert_eq!(select(&names), vec![Paper::Ssl, Paper::Pes]);
        assert_eq!(parse("ssl"), Ok(Selection::One(Paper::Ssl)));
        assert_eq!(parse("gloro"), Ok(Selection::One(Paper::Gloro)));
        assert!(parse("foo").is_err());
    }

    #[test]
    fn workload_names_are_the_json_names_and_unique() {
        for w in Workload::ALL {
            assert_eq!(serde_json::to_string(&w).unwrap(), format!("\"{w}\""));
            let back: Workload = serde_json::from_str(&format!("\"{}\"", w.name())).unwrap();
            assert_eq!(back, w);
        }
        let from_papers: Vec<Workload> = Paper::ALL.iter().flat_map(|p| p.workloads()).copied().collect();
        assert_eq!(
            from_papers,
            Workload::ALL,
            "each workload belongs to exactly one paper"
        );
    }
}
