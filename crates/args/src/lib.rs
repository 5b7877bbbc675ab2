//! The `reproduce` command line every paper binary shares and `cargo xtask reproduce` calls:
//! `<bin> reproduce --quick|--full --out DIR`.
//!
//! It lives apart from `repro-core` so that xtask, which only runs the paper binaries as
//! processes, builds without Burn; `repro_core::reproduce` re-exports it.

#![warn(missing_docs)]

use std::path::PathBuf;

/// How much of a paper a reproduction runs: the one scale every paper crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// Minutes-scale runs on a CPU (the default).
    Quick,
    /// The paper-scale configurations (or the largest this crate runs on a CPU; each crate's
    /// `reproduce` module says which).
    Full,
}

impl Scale {
    /// The command-line flag that selects this scale ([`ScaleArgs`]): `--quick` or `--full`.
    pub fn flag(self) -> &'static str {
        match self {
            Scale::Quick => "--quick",
            Scale::Full => "--full",
        }
    }
}

/// `--quick` (the default) or `--full`: the scale flags of every `reproduce` command line,
/// `cargo xtask reproduce` included.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct ScaleArgs {
    /// Minutes-scale runs on a CPU (the default).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The paper-scale configurations (days on a CPU; meant for a GPU machine).
    #[arg(long)]
    full: bool,
}

impl ScaleArgs {
    /// The scale the flags ask for.
    pub fn scale(&self) -> Scale {
        if self.full { Scale::Full } else { Scale::Quick }
    }
}

/// `--quick` (the default) or `--full`, and where the report goes.
#[derive(Debug, Clone, clap::Args)]
pub struct ReproduceArgs {
    #[command(flatten)]
    scale: ScaleArgs,
    /// Results directory: the report is `<out>/<paper>.md`, its figures `<out>/<paper>/`.
    #[arg(long, default_value = "docs/results")]
    pub out: PathBuf,
}

impl ReproduceArgs {
    /// The scale the flags ask for.
    pub fn scale(&self) -> Scale {
        self.scale.scale()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, ValueEnum};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReproduceArgs,
    }

    #[test]
    fn parses_the_flags_xtask_passes_and_rejects_both_scales() {
        let c = Cli::try_parse_from(["bin", "--full", "--out", "x/y"]).unwrap();
        assert_eq!(c.args.scale(), Scale::Full);
        assert_eq!(c.args.out, PathBuf::from("x/y"));
        let d = Cli::try_parse_from(["bin"]).unwrap();
        assert!(d.args.scale() == Scale::Quick && d.args.out == std::path::Path::new("docs/results"));
        assert_eq!(
            Cli::try_parse_from(["bin", "--quick"]).unwrap().args.scale(),
            Scale::Quick
        );
        assert!(Cli::try_parse_from(["bin", "--quick", "--full"]).is_err());
    }

    #[test]
    fn each_scale_flag_parses_back_to_its_scale() {
        for &scale in Scale::value_variants() {
            let c = Cli::try_parse_from(["bin", scale.flag()]).unwrap();
            assert_eq!(c.args.scale(), scale, "{}", scale.flag());
        }
    }
}
