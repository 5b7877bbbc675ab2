//! `pes`: the command line over the library (see `pes --help`).

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use pes::experiments::{self, Context};
use pes::problems::influence::InfluenceConfig;
use pes::problems::mnist_schedule::MnistConfig;
use pes::problems::toy_regression::ToyConfig;
use pes::report::{self, Scale};
use pes::variance::VarianceConfig;
use repro_core::DeviceArgs;
use repro_core::data::DataArgs;
use repro_core::train::RunDir;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "pes",
    about = "Persistent Evolution Strategies (Vicol, Metz & Sohl-Dickstein, ICML 2021) on Burn"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

/// Run directory flags of the meta-training subcommands.
#[derive(Debug, Clone, Args)]
struct RunFlags {
    /// JSON config (defaults: the paper's settings, as in crates/pes/configs/).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Name of the run; metrics, checkpoints and plots go to `<runs-dir>/pes/<name>/`.
    #[arg(long, default_value = "default")]
    name: String,
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Continue every method from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Checkpoint every this many outer iterations.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Influence balancing (§5.1, Fig. 4).
    Influence(RunFlags),
    /// Toy 2-D regression learning-rate schedule (§5.2, Fig. 5).
    Toy(RunFlags),
    /// MNIST learning-rate schedule (§5.3, Fig. 6).
    Mnist {
        #[command(flatten)]
        run: RunFlags,
        /// Scaled-down settings (minutes) instead of the paper's (days on a 2-core CPU).
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Variance of PES against the number of unrolls (§5.4, Fig. 7).
    Variance {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        quick: bool,
        /// Folder for variance.png and variance.json.
        #[arg(long, default_value = "runs/pes/variance")]
        out: PathBuf,
    },
    /// Run the experiments and write `<out>/pes.md` and `<out>/pes/*.png`.
    Reproduce {
        #[command(flatten)]
        args: repro_core::reproduce::ReproduceArgs,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Measure the pes-mnist-mlp workload (particle inner steps per second).
    Bench(pes::bench::BenchArgs),
}

fn read_config<C: DeserializeOwned + Default>(path: &Option<PathBuf>) -> Result<C> {
    match path {
        None => Ok(C::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        }
    }
}

fn context(flags: &RunFlags, device: &burn::tensor::Device) -> Result<Context> {
    let run = RunDir::create(&flags.runs_dir, "pes", &flags.name, flags.resume)?;
    Ok(Context {
        device: device.clone(),
        run: Some(run),
        resume: flags.resume,
        progress: true,
        checkpoint_every: flags.checkpoint_every,
    })
}

fn save_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), serde_json::to_string_pretty(value)?)?;
    eprintln!("wrote {}", dir.join(name).display());
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // reuse freed tensor buffers instead of fresh pages every step (docs/performance.md)
    repro_core::allocator::keep_freed_memory();
    let (_, device) = cli.device.device()?;
    match cli.command {
        Command::Influence(flags) => {
            let cfg: InfluenceConfig = read_config(&flags.config)?;
            let ctx = context(&flags, &device)?;
            let run = ctx.run.clone().expect("run dir");
            run.write_config(&cfg)?;
            let runs = experiments::influence(&cfg, &ctx)?;
            report::plot_influence(&runs, &run.path)?;
            save_json(&run.path, "results.json", &runs)?;
        }
        Command::Toy(flags) => {
            let cfg: ToyConfig = read_config(&flags.config)?;
            let ctx = context(&flags, &device)?;
            let run = ctx.run.clone().expect("run dir");
            run.write_config(&cfg)?;
            let result = experiments::toy(&cfg, &ctx)?;
            report::plot_toy(&result, &run.path)?;
            save_json(&run.path, "results.json", &result)?;
        }
        Command::Mnist {
            run: flags,
            quick,
            data,
        } => {
            let cfg: MnistConfig = match (&flags.config, quick) {
                (None, true) => MnistConfig::quick(),
                _ => read_config(&flags.config)?,
            };
            let ctx = context(&flags, &device)?;
            let run = ctx.run.clone().expect("run dir");
            run.write_config(&cfg)?;
            let result = experiments::mnist(&cfg, &data, &ctx)?;
            report::plot_mnist(&result, &run.path)?;
            save_json(&run.path, "results.json", &result)?;
        }
        Command::Variance { config, quick, out } => {
            let cfg: VarianceConfig = match (&config, quick) {
                (None, true) => VarianceConfig::quick(),
                _ => read_config(&config)?,
            };
            let curves = pes::variance::run(&cfg, &device)?;
            for c in &curves {
                eprintln!("{:?}: {:?}", c.sequence, c.points);
            }
            std::fs::create_dir_all(&out)?;
            report::plot_variance(&curves, &out)?;
            save_json(&out, "variance.json", &curves)?;
        }
        Command::Reproduce { args, data } => {
            let (full, out) = (args.scale() == repro_core::reproduce::Scale::Full, args.out);
            let scale = if full { Scale::Full } else { Scale::Quick };
            let ctx = Context {
                device: device.clone(),
                run: None,
                resume: false,
                progress: true,
                checkpoint_every: 0,
            };
            report::reproduce(scale, &out, &data, &ctx)?;
        }
        Command::Bench(args) => {
            let r = pes::bench::run(&args, &device)?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
