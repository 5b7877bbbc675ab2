//! The `reproduce` flags every paper binary shares: the interface `cargo xtask reproduce`
//! calls (`<bin> reproduce --quick|--full --out DIR`).

use std::path::{Path, PathBuf};

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

/// Where the record of run `name` of `paper` lives: `<out>/<paper>/runs/<name>/record.json`.
/// A record is a finished run in the compact form kept in the repository (command, config,
/// metrics, summary; no weights), from which the paper's report is rendered.
pub fn record_path(out: &Path, paper: &str, name: &str) -> PathBuf {
    out.join(paper).join("runs").join(name).join("record.json")
}

/// Reads the record of run `name`, if one was written; strictly (unknown or mistyped fields
/// are errors naming the file and the field).
pub fn read_record<T: serde::de::DeserializeOwned>(
    out: &Path,
    paper: &str,
    name: &str,
) -> Result<Option<T>, crate::config::ConfigError> {
    let path = record_path(out, paper, name);
    if !path.is_file() {
        return Ok(None);
    }
    crate::config::load(&path).map(Some)
}

/// Writes (or overwrites) the record of run `name` atomically; returns its path.
pub fn write_record<T: serde::Serialize>(
    out: &Path,
    paper: &str,
    name: &str,
    record: &T,
) -> std::io::Result<PathBuf> {
    let path = record_path(out, paper, name);
    std::fs::create_dir_all(path.parent().expect("a record has a folder"))?;
    let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    crate::train::run_dir::write_atomic(&path, &json)?;
    Ok(path)
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

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rec {
        command: String,
        value: f64,
    }

    #[test]
    fn records_round_trip_and_are_read_strictly() {
        let out = tempfile::tempdir().unwrap();
        assert!(read_record::<Rec>(out.path(), "p", "a").unwrap().is_none());
        let r = Rec {
            command: "x".into(),
            value: 0.25,
        };
        let path = write_record(out.path(), "p", "a", &r).unwrap();
        assert_eq!(path, out.path().join("p/runs/a/record.json"));
        assert_eq!(read_record::<Rec>(out.path(), "p", "a").unwrap(), Some(r));
        std::fs::write(&path, r#"{"command": "x", "value": 1, "extra": 2}"#).unwrap();
        let e = read_record::<Rec>(out.path(), "p", "a").unwrap_err().to_string();
        assert!(e.contains("record.json") && e.contains("extra"), "{e}");
    }
}
