//! `pes`: the command line over the library (see `pes --help`).

use anyhow::Result;
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand};
use pes::experiments::{self, Context, InfluenceConfig, MnistConfig, ToyConfig, VarianceConfig};
use pes::report;
use repro_core::DeviceArgs;
use repro_core::data::DataArgs;
use repro_core::train::RunDir;
use serde::Serialize;
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
    /// Influence balancing (§5.1, Fig. 3).
    Influence(RunFlags),
    /// Toy 2-D regression learning-rate schedule (§5.2, Fig. 4).
    Toy(RunFlags),
    /// MNIST learning-rate schedule (§5.3, Figs. 5–6).
    #[command(mut_arg("devices", |a| a.help(
        "Shard each method's particles over these devices, comma-separated, the first one \
         main (e.g. `wgpu:discrete:0,wgpu:discrete:1`; see docs/scaling.md). Default: the \
         one `--device`"
    )))]
    Mnist {
        #[command(flatten)]
        run: RunFlags,
        /// Scaled-down settings (minutes) instead of the paper's (days on a 2-core CPU).
        #[arg(long)]
        quick: bool,
        /// Only these seeds of the config (repeatable; default: all). Processes sharing a
        /// config run in separate run folders that `pes record` merges.
        #[arg(long = "seed")]
        seeds: Vec<u64>,
        /// Only these methods of the config, by label slug (`pes-k-10`, `tes-k-100`;
        /// repeatable; default: all).
        #[arg(long = "method")]
        methods: Vec<String>,
        /// Compute the meta-loss landscape and meta-train, skip the landscape, or compute
        /// only the landscape.
        #[arg(long, value_enum, default_value = "compute")]
        landscape: experiments::mnist::LandscapeMode,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        devices: repro_core::DevicesArgs,
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
    /// Run the experiments, write their records under `<out>/pes/runs/` and render
    /// `<out>/pes.md` and `<out>/pes/*.png` from the records.
    Reproduce {
        #[command(flatten)]
        args: repro_core::reproduce::ReproduceArgs,
        /// Only these experiments (record names or prefixes: influence, toy, mnist, variance).
        #[arg(long)]
        only: Vec<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Render `<out>/pes.md` and the figures from the run records alone.
    Report {
        /// Results directory.
        #[arg(long, default_value = "docs/results")]
        out: PathBuf,
    },
    /// Turn `pes mnist` run folders of one config (finished or still going) into the run
    /// record `<out>/pes/runs/<name>/`.
    Record {
        /// A run folder (holds config.json and checkpoints/); repeat for folders of other
        /// processes of the same config.
        #[arg(long, required = true)]
        run: Vec<PathBuf>,
        /// Record name (e.g. mnist-cpu-k10).
        #[arg(long)]
        name: String,
        /// The command that produced the run, kept in the record.
        #[arg(long)]
        command: String,
        /// Results directory.
        #[arg(long, default_value = "docs/results")]
        out: PathBuf,
    },
    /// Measure the pes-mnist-mlp workload (particle inner steps per second).
    Bench(pes::bench::BenchArgs),
}

/// Loads a subcommand's config, runs it in its run directory, draws its figures and saves
/// `results.json` beside them.
fn meta_command<C, R>(
    flags: &RunFlags,
    devices: &[Device],
    config: Option<C>,
    run: impl FnOnce(&C, &Context) -> pes::Result<R>,
    plot: impl FnOnce(&R, &Path) -> pes::Result<()>,
) -> Result<()>
where
    C: Serialize + DeserializeOwned + Default,
    R: Serialize,
{
    let config = match config {
        Some(c) => c,
        None => experiments::load_config(flags.config.as_deref())?,
    };
    let dir = RunDir::create(&flags.runs_dir, "pes", &flags.name, flags.resume)?;
    dir.write_config(&config)?;
    let ctx = Context {
        device: devices[0].clone(),
        devices: devices.to_vec(),
        run: Some(dir.clone()),
        resume: flags.resume,
        progress: true,
        checkpoint_every: flags.checkpoint_every,
    };
    let result = run(&config, &ctx)?;
    plot(&result, &dir.path)?;
    report::save_json(&dir.path, "results.json", &result)?;
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // reuse freed tensor buffers instead of fresh pages every step (docs/performance.md)
    repro_core::allocator::keep_freed_memory();
    let (_, device) = cli.device.device()?;
    match cli.command {
        Command::Influence(flags) => meta_command::<InfluenceConfig, _>(
            &flags,
            std::slice::from_ref(&device),
            None,
            experiments::influence::run,
            |runs, dir| report::plot_influence(runs, dir),
        )?,
        Command::Toy(flags) => meta_command::<ToyConfig, _>(
            &flags,
            std::slice::from_ref(&device),
            None,
            experiments::toy::run,
            report::plot_toy,
        )?,
        Command::Mnist {
            run: flags,
            quick,
            seeds,
            methods,
            landscape,
            data,
            devices,
        } => {
            let devices = devices.devices(&cli.device)?;
            let preset = (flags.config.is_none() && quick).then(MnistConfig::quick);
            let selection = experiments::mnist::MnistSelection {
                seeds,
                methods,
                landscape,
            };
            let run = |cfg: &MnistConfig, ctx: &Context| {
                experiments::mnist::run_selected(cfg, &selection, &data, ctx)
            };
            meta_command(&flags, &devices, preset, run, report::plot_mnist)?
        }
        Command::Variance { config, quick, out } => {
            let cfg: VarianceConfig = match (&config, quick) {
                (None, true) => VarianceConfig::quick(),
                _ => experiments::load_config(config.as_deref())?,
            };
            let curves = experiments::variance::run(&cfg, &device)?;
            for c in &curves {
                eprintln!("{:?}: {:?}", c.sequence, c.points);
            }
            std::fs::create_dir_all(&out)?;
            report::plot_variance(&curves, &out)?;
            report::save_json(&out, "variance.json", &curves)?;
        }
        Command::Reproduce { args, only, data } => {
            let ctx = Context {
                progress: true,
                ..Context::quiet(&device)
            };
            pes::reproduce::reproduce(args.scale(), &only, &args.out, &data, &ctx)?;
        }
        Command::Report { out } => {
            report::render(&out)?;
        }
        Command::Record {
            run,
            name,
            command,
            out,
        } => {
            pes::reproduce::record_mnist_runs(&run, &name, &command, &out)?;
            report::render(&out)?;
        }
        Command::Bench(args) => {
            let r = pes::bench::run(&args, &device)?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
