//! `cargo xtask <command>`: see `cargo xtask --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use repro_args::ScaleArgs;
use xtask::fetch::{self, Dataset, FetchOptions};
use xtask::papers::{self, Selection};
use xtask::{bench, reproduce};

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
    /// Run the papers' reproductions; each writes docs/results/<paper>.md with tables and plots.
    Reproduce(ReproduceArgs),
    /// Release-mode training throughput of the benchmark workloads, beside PyTorch/JAX.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct ReproduceArgs {
    /// Papers to run [default: all].
    #[arg(value_enum)]
    papers: Vec<Selection>,
    #[command(flatten)]
    scale: ScaleArgs,
    /// Results directory [default: <workspace>/docs/results].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Cargo features of the paper crates (e.g. `wgpu`).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Papers to benchmark [default: all].
    #[arg(value_enum)]
    papers: Vec<Selection>,
    /// Also run the PyTorch/JAX reference scripts of ../shared/bench in this session.
    #[arg(long)]
    compare: bool,
    /// Timed steps per repetition.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps per repetition.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Repetitions of our benchmark (median and spread are reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Device to measure ours on; `wgpu` builds the binaries with the `wgpu` feature and runs
    /// on the GPU (docs/performance.md, "On a GPU").
    #[arg(long, value_enum, default_value = "flex")]
    device: bench::BenchDevice,
    /// Cargo features of the paper crates (e.g. `wgpu`).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
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
    /// are accepted and stored gzip-compressed. For archive datasets an already extracted
    /// folder (e.g. tiny-imagenet-200/, or DIR itself) is accepted when the archive is absent.
    #[arg(long, value_name = "LOCAL_DIR")]
    from: Option<PathBuf>,
    /// Keep .tar.gz and .zip archives after extracting them.
    #[arg(long)]
    keep_archives: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DatasetArg {
    Mnist,
    FashionMnist,
    Cifar10,
    Stl10,
    TinyImagenet,
    All,
}

impl DatasetArg {
    fn datasets(self) -> Vec<Dataset> {
        match self {
            DatasetArg::Mnist => vec![Dataset::Mnist],
            DatasetArg::FashionMnist => vec![Dataset::FashionMnist],
            DatasetArg::Cifar10 => vec![Dataset::Cifar10],
            DatasetArg::Stl10 => vec![Dataset::Stl10],
            DatasetArg::TinyImagenet => vec![Dataset::TinyImagenet],
            DatasetArg::All => Dataset::ALL.to_vec(),
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Fetch(args) => run_fetch(args),
        Command::Reproduce(args) => run_reproduce(args),
        Command::Bench(args) => run_bench(args),
    }
}

fn run_reproduce(args: ReproduceArgs) -> ExitCode {
    let papers = papers::select(&args.papers);
    let root = xtask::workspace_root();
    let out = args.out.unwrap_or_else(|| root.join("docs/results"));
    let failed = reproduce::run(&root, &papers, args.scale.scale(), &out, &args.features);
    for (p, why) in &failed {
        eprintln!("error: {p} reproduction failed: {why}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_bench(args: BenchArgs) -> ExitCode {
    let papers = papers::select(&args.papers);
    let root = xtask::workspace_root();
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for &p in &papers {
        match bench::run_ours(
            &root,
            p,
            args.steps,
            args.warmup,
            args.reps,
            args.device,
            &args.features,
        ) {
            Ok(m) => ours.extend(m),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        if args.compare {
            match bench::run_reference(&root, p, args.steps, args.warmup) {
                Ok(m) => reference.extend(m),
                Err(e) => eprintln!("reference for {p} not run: {e}"),
            }
        }
    }
    let mut rows = bench::table(&ours, &reference);
    let peak = xtask::peak::Peak::detect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Ok(p) = &peak {
        bench::with_peak(&mut rows, p, cores);
    }
    if let Some(d) = ours.iter().find_map(|m| m.device.as_deref()) {
        println!("ours on {d}");
    }
    print!("{}", bench::render(&rows));
    match &peak {
        Ok(p) => println!(
            "{}",
            p.describe(rows.first().and_then(|r| r.ours_threads).unwrap_or(cores))
        ),
        Err(why) => println!("peak not stated: {why}"),
    }
    let dir = root.join("target/bench");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = dir.join(format!("bench-{stamp}.json"));
    let peak_line = peak.as_ref().map_or_else(|e| e.clone(), |p| p.describe(cores));
    let json = serde_json::json!({"rows": rows, "ours": ours, "reference": reference, "peak": peak_line});
    if std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap_or_default()))
        .is_ok()
    {
        println!("table written to {}", path.display());
    }
    ExitCode::SUCCESS
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

#[cfg(test)]
mod tests {
    use super::*;
    use repro_args::Scale;
    use std::path::Path;
    use xtask::papers::Paper;

    fn reproduce(args: &[&str]) -> Result<ReproduceArgs, clap::Error> {
        let cli = Cli::try_parse_from(["cargo xtask", "reproduce"].iter().chain(args))?;
        match cli.command {
            Command::Reproduce(r) => Ok(r),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn reproduce_takes_a_scale_flag_and_paper_names() {
        let r = reproduce(&[]).unwrap();
        assert_eq!(
            (r.scale.scale(), papers::select(&r.papers)),
            (Scale::Quick, Paper::ALL.to_vec())
        );
        let r = reproduce(&["--full", "pes", "ssl-dynamics"]).unwrap();
        assert_eq!(r.scale.scale(), Scale::Full);
        assert_eq!(papers::select(&r.papers), [Paper::Ssl, Paper::Pes]);
        assert_eq!(
            reproduce(&["--quick", "gloro"]).unwrap().scale.scale(),
            Scale::Quick
        );
        assert!(reproduce(&["--quick", "--full"]).is_err());
        assert!(reproduce(&["gloro", "nonesuch"]).is_err());
    }

    #[test]
    fn bench_names_papers_the_same_way() {
        let cli = Cli::try_parse_from(["cargo xtask", "bench", "ssl", "all", "--steps", "5"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        assert_eq!((papers::select(&b.papers), b.steps), (Paper::ALL.to_vec(), 5));
        assert!(Cli::try_parse_from(["cargo xtask", "bench", "byol"]).is_err());
    }

    #[test]
    fn a_bench_on_the_gpu_builds_with_wgpu_and_passes_the_device() {
        let cli = Cli::try_parse_from(["cargo xtask", "bench", "gloro", "--device", "wgpu"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        let cmd = bench::bench_command(Path::new("."), Paper::Gloro, 5, 1, b.device, &b.features);
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |flag: &str| args.iter().position(|a| a == flag).expect(flag);
        assert_eq!(args[at("--features") + 1], "wgpu");
        let dash = at("--");
        assert_eq!(&args[dash + 1..dash + 4], ["--device", "wgpu", "bench"]);
        // the default measures flex with the default features
        let cli = Cli::try_parse_from(["cargo xtask", "bench", "gloro"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        let cmd = bench::bench_command(Path::new("."), Paper::Gloro, 5, 1, b.device, &b.features);
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(!args.iter().any(|a| a == "--features"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--device", "flex"]), "{args:?}");
    }
}
