//! The `reproduce` flags every paper binary shares: the interface `cargo xtask reproduce`
//! calls (`<bin> reproduce --quick|--full --out DIR`).

use std::path::PathBuf;

/// `--quick` (the default) or `--full`, and where the report goes.
#[derive(Debug, Clone, clap::Args)]
pub struct ReproduceArgs {
    /// Minutes-scale runs on a CPU (the default).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// The paper-scale configurations.
    #[arg(long)]
    pub full: bool,
    /// Results directory: the report is `<out>/<paper>.md`, its figures `<out>/<paper>/`.
    #[arg(long, default_value = "docs/results")]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReproduceArgs,
    }

    #[test]
    fn parses_the_flags_xtask_passes_and_rejects_both_scales() {
        let c = Cli::try_parse_from(["bin", "--full", "--out", "x/y"]).unwrap();
        assert!(c.args.full && !c.args.quick);
        assert_eq!(c.args.out, PathBuf::from("x/y"));
        let d = Cli::try_parse_from(["bin"]).unwrap();
        assert!(!d.args.full && d.args.out == std::path::Path::new("docs/results"));
        assert!(Cli::try_parse_from(["bin", "--quick", "--full"]).is_err());
    }
}
