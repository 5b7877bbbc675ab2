//! `gloro`: train, certify, attack, export and benchmark GloRo Nets.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Parser, Subcommand};
use gloro::attack::PgdConfig;
use gloro::bounds::{BoundMethod, ConvMethod};
use gloro::certify::{Certifier, CertifyOptions};
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
        #[command(flatten)]
        devices: repro_core::DevicesArgs,
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
        /// Per-layer bounds: `sound` (the certificate) or `power-iteration` (the paper's
        /// estimate, for comparison; not a certificate).
        #[arg(long, value_enum, default_value = "sound")]
        bound: BoundMethod,
        /// How conv layers are bounded under `--bound sound`.
        #[arg(long, value_enum, default_value = "auto")]
        conv_bound: ConvMethod,
        /// Leave out the floating-point rounding allowance (for measuring its cost; the result
        /// is then not a certificate).
        #[arg(long)]
        no_float_margin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Per-layer bounds by every method (power iteration, exact, Fourier) with their times, for
    /// a run's model or a freshly initialised architecture; prints JSON.
    Bounds {
        /// Run directory (holds config.json and model.bpk).
        #[arg(long, conflicts_with = "arch")]
        run: Option<PathBuf>,
        /// An architecture with random (orthogonal) weights instead of a run.
        #[arg(long, value_enum)]
        arch: Option<gloro::model::Architecture>,
        /// Input `C,H,W` for `--arch`.
        #[arg(long, value_delimiter = ',', default_value = "1,28,28")]
        input: Vec<usize>,
        /// Largest smaller side of a layer's matrix bounded exactly.
        #[arg(long, default_value_t = gloro::bounds::EXACT_LIMIT)]
        exact_limit: usize,
    },
    /// Keep a finished run in the repository as a record the report reads
    /// (`<out>/gloro/runs/<name>/record.json`: config, metrics, evaluations; no weights).
    Record {
        /// Run directory (holds summary.json); its folder name is the record's name.
        #[arg(long)]
        run: PathBuf,
        /// Results directory.
        #[arg(long, default_value = "docs/results")]
        out: PathBuf,
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
        #[arg(value_enum)]
        workloads: Vec<bench::Workload>,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Images per step (the reference's is 256).
        #[arg(long, default_value_t = bench::BATCH)]
        batch: usize,
        /// Print the time per phase of the step (forward, power iteration, loss, backward,
        /// optimiser) instead of the throughput.
        #[arg(long)]
        profile: bool,
    },
}

fn load_run(dir: &Path, device: &Device) -> Result<(TrainConfig, GloroNet)> {
    let run = train::TrainedRun::open(dir, device)?;
    Ok((run.config, run.model))
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
            devices,
        } => {
            let devices = devices.devices(&cli.device)?;
            let mut cfg = TrainConfig::load(&config)?;
            if let Some(e) = epochs {
                cfg.epochs = e;
                cfg.lr.hold = cfg.lr.hold.min(e / 2);
            }
            // a batch that does not split over the devices is refused before the run exists
            repro_core::train::DataParallel::new(devices.clone())?.check_batch(cfg.batch_size)?;
            let dir = RunDir::from_args(&run, "gloro")?;
            let (_, summary) = train::train_on(&cfg, &dir, &data, run.seed, run.resume, &devices)?;
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
            bound,
            conv_bound,
            no_float_margin,
            data,
        } => {
            let (_, device) = cli.device.device()?;
            let (cfg, model) = load_run(&run, &device)?;
            let eps = eps.unwrap_or(cfg.eps);
            let options = CertifyOptions {
                bound,
                conv: conv_bound,
                float_margin: !no_float_margin,
                convergence: cfg.convergence,
            };
            let started = std::time::Instant::now();
            let certifier = Certifier::new(&model, eps, options)?;
            let bound_seconds = started.elapsed().as_secs_f64();
            let head = serde_json::json!({
                "eps": eps, "k": certifier.k, "certificate": options.is_certificate(), "options": options,
                "layers": certifier.layers, "bound_seconds": bound_seconds,
            });
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
                let mut out = head;
                out["images"] = serde_json::json!(results);
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let ds = load(cfg.dataset, split, &data)?;
                let (x, _, labels) = train::to_tensors(&ds.dataset, limit, &device);
                let started = std::time::Instant::now();
                let ev = certifier.evaluate(&x, &labels, cfg.eval_batch);
                let mut out = head;
                for (key, value) in [
                    ("data", serde_json::json!(ds.dataset.name)),
                    ("embedded_subset", serde_json::json!(ds.embedded_subset)),
                    ("n", serde_json::json!(ev.n)),
                    ("clean_accuracy", serde_json::json!(ev.clean_accuracy)),
                    ("vra", serde_json::json!(ev.vra)),
                    ("rejected", serde_json::json!(ev.rejected)),
                    (
                        "certify_seconds",
                        serde_json::json!(started.elapsed().as_secs_f64()),
                    ),
                    ("vra_curve", serde_json::json!(ev.vra_curve(2.0 * eps, 21))),
                ] {
                    out[key] = value;
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
        }
        Command::Bounds {
            run,
            arch,
            input,
            exact_limit,
        } => {
            let (_, device) = cli.device.device()?;
            let (model, convergence) = match (run, arch) {
                (Some(run), _) => {
                    let (cfg, model) = load_run(&run, &device)?;
                    (model, cfg.convergence)
                }
                (None, Some(arch)) => {
                    let [c, h, w] = <[usize; 3]>::try_from(input.as_slice())
                        .map_err(|_| anyhow::anyhow!("--input: expected C,H,W, got {input:?}"))?;
                    (arch.config([c, h, w], 10).init(&device), Default::default())
                }
                (None, None) => bail!("give --run DIR or --arch NAME"),
            };
            let rows = gloro::bounds::tightness(&model, convergence, exact_limit)?;
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Command::Record { run, out } => {
            let path = run.join("summary.json");
            let mut summary: train::Summary = repro_core::config::load(&path)?;
            // the seed as the run directory recorded it when training started
            let written: serde_json::Value = repro_core::config::load(&run.join("config.json"))?;
            summary.seed = written["seed"].as_u64().unwrap_or(0);
            let name = run
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("--run {}: no run name", run.display()))?;
            let written = gloro::reproduce::write_record(&out, name, &summary)?;
            println!("wrote {}", written.display());
        }
        Command::Export { run, out } => {
            let (_, device) = cli.device.device()?;
            let (cfg, model) = load_run(&run, &device)?;
            let certifier = Certifier::new(&model, cfg.eps, CertifyOptions::sound(cfg.convergence))?;
            export::export(&certifier, cfg.input_shape().0, &out)?;
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
            let certifier = Certifier::new(&model, cfg.eps, CertifyOptions::sound(cfg.convergence))?;
            let r = soundness::check(&certifier, &model_ad, &x, &ad, attack, 250);
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
            let (model, result) = toy::run(&cfg, &device)?;
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
            batch,
            profile,
        } => {
            if batch == 0 {
                bail!("--batch: expected at least one image per step, got 0");
            }
            let (_, device) = cli.device.device()?;
            let list = if workloads.is_empty() {
                bench::Workload::ALL.to_vec()
            } else {
                workloads
            };
            for w in list {
                if profile {
                    let p = bench::profile(w, steps, warmup, batch, &device);
                    println!("{}", serde_json::to_string(&p)?);
                    continue;
                }
                let timing = bench::Timing {
                    steps,
                    warmup,
                    reps,
                    batch,
                };
                let r = bench::run(w, timing, &device);
                println!("{}", serde_json::to_string(&r)?);
            }
        }
    }
    Ok(())
}
