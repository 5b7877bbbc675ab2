//! `gloro`: train, certify, attack, export and benchmark GloRo Nets.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Parser, Subcommand};
use gloro::attack::PgdConfig;
use gloro::certify::Certifier;
use gloro::config::TrainConfig;
use gloro::model::GloroNet;
use gloro::{bench, export, soundness, toy, train};
use repro_core::DeviceArgs;
use repro_core::data::{DataArgs, Split, load};
use repro_core::train::{RunArgs, RunDir};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "gloro",
    about = "Globally-robust neural networks (Leino et al., ICML 2021)"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a GloRo Net from a configuration file (see crates/gloro/configs/).
    Train {
        /// Configuration JSON.
        #[arg(long)]
        config: PathBuf,
        /// Override the configuration's number of epochs.
        #[arg(long)]
        epochs: Option<usize>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Certify a trained run's model on a dataset split or on PNG images; prints JSON.
    Certify {
        /// Run directory (holds config.json and model.bpk).
        #[arg(long)]
        run: PathBuf,
        /// Radius to certify (default: the configuration's).
        #[arg(long)]
        eps: Option<f64>,
        /// PNG files to certify instead of a dataset split.
        #[arg(long, num_args = 1..)]
        images: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "test")]
        split: Split,
        /// Certify only the first N images of the split (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Export a run's weights and converged Lipschitz constants as safetensors.
    Export {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Attack every certified test point with l2 PGD; exits non-zero if any is broken.
    Soundness {
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value_t = 500)]
        limit: usize,
        #[arg(long, default_value_t = 100)]
        steps: usize,
        #[arg(long, default_value_t = 4)]
        restarts: usize,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Two-moons toy problem with a plot of decision regions and the bottom band.
    Toy {
        #[arg(long, default_value = "docs/results/gloro/moons.png")]
        out: PathBuf,
    },
    /// Run the reproduction and write docs/results/gloro.md.
    Reproduce {
        #[command(flatten)]
        args: repro_core::reproduce::ReproduceArgs,
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        /// Test points attacked by the soundness check.
        #[arg(long, default_value_t = 500)]
        soundness_points: usize,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Training throughput of gloro-2c2f and gloro-6c2f (JSON lines).
    Bench {
        /// Workloads (default: all).
        workloads: Vec<String>,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Print the time per phase of the step (forward, power iteration, loss, backward,
        /// optimiser) instead of the throughput.
        #[arg(long)]
        profile: bool,
    },
}

fn load_run(dir: &Path, device: &Device) -> Result<(TrainConfig, GloroNet)> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).with_context(|| {
        format!(
            "{}: cannot read (is --run a gloro run directory?)",
            cfg_path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", cfg_path.display()))?;
    let cfg: TrainConfig = serde_json::from_value(value["config"].clone()).with_context(|| {
        format!(
            "{}: field `config` is not a gloro configuration",
            cfg_path.display()
        )
    })?;
    let model =
        repro_core::train::checkpoint::load_model(cfg.network().init(device), &dir.join("model.bpk"))?;
    Ok((cfg, model))
}

fn read_png(path: &Path, shape: [usize; 3]) -> Result<Vec<f32>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("{}: not a PNG", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("{}: corrupt PNG", path.display()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    if [h, w] != [shape[1], shape[2]] {
        bail!(
            "{}: image is {w}x{h}, the model expects {}x{}",
            path.display(),
            shape[2],
            shape[1]
        );
    }
    let src_channels = info.color_type.samples();
    let px = &buf[..h * w * src_channels];
    let mut out = vec![0f32; shape[0] * h * w];
    for p in 0..h * w {
        let s = &px[p * src_channels..(p + 1) * src_channels];
        let rgb = if src_channels >= 3 {
            [s[0], s[1], s[2]]
        } else {
            [s[0]; 3]
        };
        if shape[0] == 1 {
            out[p] = (0.299 * rgb[0] as f32 + 0.587 * rgb[1] as f32 + 0.114 * rgb[2] as f32) / 255.0;
        } else {
            for c in 0..3 {
                out[c * h * w + p] = rgb[c] as f32 / 255.0;
            }
        }
    }
    Ok(out)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // reuse freed tensor buffers instead of fresh pages every step (docs/performance.md)
    repro_core::allocator::keep_freed_memory();
    match cli.command {
        Command::Train {
            config,
            epochs,
            run,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let mut cfg = TrainConfig::load(&config)?;
            if let Some(e) = epochs {
                cfg.epochs = e;
                cfg.lr.hold = cfg.lr.hold.min(e / 2);
            }
            let dir = RunDir::from_args(&run, "gloro")?;
            let (_, summary) = train::train(&cfg, &dir, &data, run.seed, run.resume, &device)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "run": dir.path, "clean_accuracy": summary.final_eval.clean_accuracy,
                    "vra": summary.final_eval.vra, "eps": cfg.eps, "k": summary.final_eval.k,
                }))?
            );
        }
        Command::Certify {
            run,
            eps,
            images,
            split,
            limit,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let (cfg, model) = load_run(&run, &device)?;
            let eps = eps.unwrap_or(cfg.eps);
            let certifier = Certifier::new(&model, eps, cfg.convergence);
            let (input, _) = cfg.input_shape();
            if !images.is_empty() {
                let mut results = Vec::new();
                for path in &images {
                    let v = read_png(path, input)?;
                    let x = Tensor::<4>::from_data(
                        TensorData::new(v, [1, input[0], input[1], input[2]]),
                        &device,
                    );
                    let c = certifier.certify(x)[0];
                    results.push(serde_json::json!({
                        "file": path, "class": c.class, "prediction": c.prediction.map_or("bot".to_string(), |p| p.to_string()),
                        "certified": c.prediction.is_some(), "radius": c.radius,
                    }));
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"eps": eps, "k": certifier.k, "images": results})
                    )?
                );
            } else {
                let ds = load(cfg.dataset, split, &data)?;
                let (x, _, labels) = train::to_tensors(&ds.dataset, limit, &device);
                let ev = certifier.evaluate(&x, &labels, cfg.eval_batch);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "data": ds.dataset.name, "embedded_subset": ds.embedded_subset, "n": ev.n, "eps": eps, "k": ev.k,
                        "clean_accuracy": ev.clean_accuracy, "vra": ev.vra, "rejected": ev.rejected,
                        "vra_curve": ev.vra_curve(2.0 * eps, 21),
                    }))?
                );
            }
        }
        Command::Export { run, out } => {
            let (_, device) = cli.device.device()?;
            let (cfg, model) = load_run(&run, &device)?;
            model.certified_lipschitz(cfg.convergence.tol, cfg.convergence.max_iters);
            export::export(&model, cfg.eps, cfg.input_shape().0, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Soundness {
            run,
            limit,
            steps,
            restarts,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let ad = device.clone().autodiff();
            let (cfg, model) = load_run(&run, &device)?;
            let model_ad =
                repro_core::train::checkpoint::load_model(cfg.network().init(&ad), &run.join("model.bpk"))?;
            let ds = load(cfg.dataset, Split::Test, &data)?;
            let (x, _, _) = train::to_tensors(&ds.dataset, limit, &device);
            let attack = PgdConfig {
                steps,
                restarts,
                ..PgdConfig::new(cfg.eps)
            };
            let r = soundness::check(&model, &model_ad, &x, &ad, attack, 250);
            println!("{}", serde_json::to_string_pretty(&r)?);
            if r.certified_broken > 0 {
                bail!(
                    "{} certified points were broken: the certificate is unsound",
                    r.certified_broken
                );
            }
        }
        Command::Toy { out } => {
            let (_, device) = cli.device.device()?;
            let cfg = toy::ToyConfig::default();
            let (model, result) = toy::run(&cfg, &device);
            toy::plot(&model, &cfg, &out, &device)?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Reproduce {
            args,
            runs_dir,
            data,
            soundness_points,
        } => {
            let (_, device) = cli.device.device()?;
            let opts = gloro::reproduce::Options {
                full: args.scale() == repro_core::reproduce::Scale::Full,
                out: args.out,
                runs_dir,
                data,
                soundness_points,
            };
            let path = gloro::reproduce::run(&opts, &device)?;
            println!("wrote {}", path.display());
        }
        Command::Bench {
            workloads,
            steps,
            warmup,
            reps,
            profile,
        } => {
            let (_, device) = cli.device.device()?;
            let list: Vec<String> = if workloads.is_empty() {
                bench::WORKLOADS.iter().map(|s| s.to_string()).collect()
            } else {
                workloads
            };
            for w in list {
                if profile {
                    let p = bench::profile(&w, steps, warmup, &device).map_err(anyhow::Error::msg)?;
                    println!("{}", serde_json::to_string(&p)?);
                    continue;
                }
                let r = bench::run(&w, steps, warmup, reps, &device).map_err(anyhow::Error::msg)?;
                println!("{}", serde_json::to_string(&r)?);
            }
        }
    }
    Ok(())
}
