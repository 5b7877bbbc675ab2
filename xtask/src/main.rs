//! `cargo xtask <command>`: see `cargo xtask --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use xtask::fetch::{self, Dataset, FetchOptions};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Workspace automation", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each carries its own argument struct.
#[derive(Debug, Subcommand)]
enum Command {
    /// Download (or import with --from) a dataset, verify it and put it under datasets/.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// Dataset to fetch.
    #[arg(value_enum)]
    dataset: DatasetArg,
    /// Datasets root directory [default: <workspace>/datasets]; files go to DIR/<dataset>/.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Base URL replacing the built-in mirrors (repeatable, tried in order); the file name
    /// is appended to it.
    #[arg(long = "mirror", value_name = "URL")]
    mirrors: Vec<String>,
    /// Import from a local directory (looked up as DIR/ and DIR/<dataset>/) instead of
    /// downloading; files go through the same verification. Raw (decompressed) IDX files
    /// are accepted and stored gzip-compressed.
    #[arg(long, value_name = "LOCAL_DIR")]
    from: Option<PathBuf>,
    /// Keep .tar.gz archives after extracting them.
    #[arg(long)]
    keep_archives: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DatasetArg {
    Mnist,
    FashionMnist,
    Cifar10,
    Stl10,
    All,
}

impl DatasetArg {
    fn datasets(self) -> Vec<Dataset> {
        match self {
            DatasetArg::Mnist => vec![Dataset::Mnist],
            DatasetArg::FashionMnist => vec![Dataset::FashionMnist],
            DatasetArg::Cifar10 => vec![Dataset::Cifar10],
            DatasetArg::Stl10 => vec![Dataset::Stl10],
            DatasetArg::All => Dataset::ALL.to_vec(),
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Fetch(args) => run_fetch(args),
    }
}

fn run_fetch(args: FetchArgs) -> ExitCode {
    let mut opts = FetchOptions::new(args.dir.unwrap_or_else(xtask::default_datasets_root));
    opts.mirrors = args.mirrors;
    opts.from = args.from;
    opts.keep_archives = args.keep_archives;

    let results = fetch::fetch_datasets(&args.dataset.datasets(), &opts);
    println!("\nSummary:");
    let mut failed = 0;
    for (dataset, result) in &results {
        match result {
            Ok(report) => print!("{report}"),
            Err(error) => {
                failed += 1;
                println!("{dataset}: FAILED\n  {error}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {failed} of {} dataset(s) failed", results.len());
        ExitCode::FAILURE
    }
}
