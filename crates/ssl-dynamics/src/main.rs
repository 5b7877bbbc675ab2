//! `ssl-dynamics`: command line over the `ssl_dynamics` library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use repro_core::DeviceArgs;
use repro_core::data::DataArgs;
use repro_core::fast_conv::Algorithm;
use repro_core::train::{RunArgs, RunDir};
use ssl_dynamics::bench::run_bench;
use ssl_dynamics::config::PretrainConfig;
use ssl_dynamics::linear::claims::{SgdSettings, sgd_check};
use ssl_dynamics::linear::{Mode, OdeParams, fixed_points, integrate};
use ssl_dynamics::reproduce::{ReproduceOptions, reproduce};
use ssl_dynamics::sweep::{RunSet, run_one};
use ssl_dynamics::train::{RunData, load_encoder, pretrain_resumable_on, probe_encoder};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ssl-dynamics",
    about = "Non-contrastive SSL dynamics and DirectPred (Tian, Chen, Ganguli, ICML 2021)"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate the eigenvalue ODE for one mode and print where it ends.
    Ode {
        #[arg(long, default_value_t = 0.24)]
        eta: f64,
        /// Predictor weight decay (default: equal to eta).
        #[arg(long)]
        eta_p: Option<f64>,
        #[arg(long, default_value_t = 1.0)]
        alpha_p: f64,
        #[arg(long, default_value_t = 0.0)]
        sigma2: f64,
        /// EMA rate beta (omit for no EMA, tau = 1).
        #[arg(long)]
        beta: Option<f64>,
        #[arg(long, default_value_t = 0.5)]
        p0: f64,
        #[arg(long, default_value_t = 0.5)]
        s0: f64,
        #[arg(long, default_value_t = 1500.0)]
        t_end: f64,
    },
    /// Train the full linear model by SGD on synthetic data and compare with p*+.
    Linear {
        #[arg(long, value_delimiter = ',', default_values_t = vec![0.05, 0.1, 0.15])]
        etas: Vec<f64>,
        #[arg(long, default_value_t = 15000)]
        steps: usize,
    },
    /// Pre-train with a JSON config (see crates/ssl-dynamics/configs/); checkpoints after every
    /// epoch into the run directory, `--resume` continues from the latest one.
    Train {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        epochs: Option<usize>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        devices: repro_core::DevicesArgs,
    },
    /// Linear probe of a saved encoder.
    Probe {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        encoder: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Train (or resume) a named set of the CPU comparison and ablation runs, or one run, and
    /// write their records under OUT/ssl-dynamics/runs/ (runs with an up-to-date record are kept).
    Sweep {
        /// The set of runs.
        #[arg(long, value_enum, conflicts_with = "only")]
        set: Option<RunSet>,
        /// One run, by name (e.g. mnist-byol-directpred1-s0).
        #[arg(long)]
        only: Option<String>,
        /// Train again even where an up-to-date record exists.
        #[arg(long)]
        retrain: bool,
        /// Results directory.
        #[arg(long, default_value = "docs/results")]
        out: PathBuf,
        /// Where run directories (checkpoints) go.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Run the claims and CPU training, write DIR/ssl-dynamics.md and figures.
    Reproduce {
        #[command(flatten)]
        args: repro_core::reproduce::ReproduceArgs,
        /// Only the theory (seconds); the training section is written from existing records.
        #[arg(long)]
        skip_training: bool,
        /// Where run directories (checkpoints) go.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Time the byol-resnet18 workload of the PyTorch reference benchmark (images/s).
    Bench {
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// ResNet width (64 = ResNet-18; smaller for smoke tests).
        #[arg(long, default_value_t = 64)]
        width: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// How ResNet's 3×3 stride-1 convolutions are computed on flex.
        #[arg(long, value_enum, default_value_t = Algorithm::Winograd)]
        conv: Algorithm,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // reuse freed tensor buffers instead of fresh pages every step (docs/performance.md)
    repro_core::allocator::keep_freed_memory();
    match cli.command {
        Command::Ode {
            eta,
            eta_p,
            alpha_p,
            sigma2,
            beta,
            p0,
            s0,
            t_end,
        } => {
            let params = OdeParams {
                alpha_p,
                eta,
                eta_p: eta_p.unwrap_or(eta),
                sigma2,
                beta,
            };
            let traj = integrate(&params, &[Mode::new(p0, s0)], t_end, 0.02, 10);
            for (t, s) in traj.times.iter().zip(&traj.states) {
                println!(
                    "t = {t:>8.1}  p = {:.5}  s = {:.5e}  tau = {:.4}",
                    s[0].p, s[0].s, s[0].tau
                );
            }
            match fixed_points(&params, 1.0) {
                Some(f) => println!(
                    "fixed points (tau = 1): p*+ = {:.4}, s*+ = {:.4}; p*- = {:.4}, s*- = {:.4}",
                    f.p_plus, f.s_plus, f.p_minus, f.s_minus
                ),
                None => println!("no non-trivial fixed point: eta > 1/(4(1+sigma^2))"),
            }
        }
        Command::Linear { etas, steps } => {
            let settings = SgdSettings {
                steps,
                ..SgdSettings::default()
            };
            let r = sgd_check(settings, &etas, 0.25, 0.1);
            for ((eta, th, sv), (_, n0, n1, _)) in r.singular_values.iter().zip(&r.nuisance) {
                println!(
                    "eta = {eta}: p*+ = {th:.4}, W_p singular values {sv:.4?}, nuisance |W| {n0:.3} -> {n1:.4}"
                );
            }
            println!(
                "past threshold {:?}; no stop-gradient {:?}",
                r.past_threshold, r.no_stop_gradient
            );
        }
        Command::Train {
            config,
            epochs,
            run,
            data,
            devices,
        } => {
            let devices = devices.devices(&cli.device)?;
            let mut cfg = PretrainConfig::load(&config)?;
            if let Some(e) = epochs {
                cfg.epochs = e;
            }
            cfg.seed = run.seed;
            // a batch that does not split over the devices is refused before the run exists
            repro_core::train::DataParallel::new(devices.clone())?.check_batch(cfg.batch)?;
            let dir = RunDir::from_args(&run, "ssl-dynamics").context("creating the run directory")?;
            dir.write_config(&cfg).context("writing config.json")?;
            let loaded = RunData::load(&cfg, &data)?;
            let (_, result) = pretrain_resumable_on(&cfg, &loaded, &dir, run.resume, &devices)?;
            println!(
                "probe: final-epoch {:.2}%  (best epoch {:.2}%); encoder saved to {}",
                100.0 * result.probe.final_acc,
                100.0 * result.probe.best_acc,
                dir.file("encoder.bpk").display()
            );
        }
        Command::Probe {
            config,
            encoder,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let cfg = PretrainConfig::load(&config)?;
            let loaded = RunData::load(&cfg, &data)?;
            let fresh = cfg.ssl.branch.init(&device).encoder;
            let enc = load_encoder(fresh, &encoder)?;
            let r = probe_encoder(&enc, &loaded, cfg.recipe, cfg.probe, &device);
            println!(
                "probe: final-epoch {:.2}%  (best epoch {:.2}%, train {:.2}%)",
                100.0 * r.final_acc,
                100.0 * r.best_acc,
                100.0 * r.train_acc
            );
        }
        Command::Reproduce {
            args,
            skip_training,
            runs_dir,
            data,
        } => {
            let opts = ReproduceOptions {
                scale: args.scale(),
                out: args.out,
                skip_training,
                runs_dir,
                data,
            };
            let (_, device) = cli.device.device()?;
            let path = reproduce(&opts, &device)?;
            println!("wrote {}", path.display());
        }
        Command::Sweep {
            set,
            only,
            retrain,
            out,
            runs_dir,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let specs = match (set, only) {
                (_, Some(name)) => {
                    vec![RunSet::find(&name).with_context(|| format!("no run called {name}"))?]
                }
                (Some(set), None) => set.runs(),
                (None, None) => anyhow::bail!("give --set or --only"),
            };
            for spec in &specs {
                run_one(spec, &out, &runs_dir, &data, retrain, &device)?;
            }
        }
        Command::Bench {
            steps,
            warmup,
            width,
            batch,
            conv,
        } => {
            let (_, device) = cli.device.device()?;
            let r = run_bench(width, conv, batch, steps, warmup, &device)?;
            eprintln!(
                "DirectPred host work {:.2}% of the step (eigendecomposition {:.3}%)",
                100.0 * r.directpred_share,
                100.0 * r.eig_share
            );
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
