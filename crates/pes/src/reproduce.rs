//! `pes reproduce`: which experiments run at which [`Scale`], each written as a run record
//! ([`crate::records`]); `pes.md` and the figures are then rendered from the records alone by
//! [`crate::report::render`].
//!
//! | experiment (record) | `--quick` | `--full` |
//! |---|---|---|
//! | influence balancing (`influence`) | the paper's settings, 3 seeds | the same |
//! | toy regression (`toy`) | the paper's settings: 20 000 iterations, 3 seeds | the same |
//! | MNIST schedule (`mnist-quick`; `mnist-cpu-*`) | [`MnistConfig::quick`] | `configs/mnist-cpu-{k10,k100,valid-k10}.json` |
//! | variance (`variance`) | [`VarianceConfig::quick`] | `configs/variance.json` (the paper's T = 1000, N = 1000) |
//!
//! The paper-scale configurations run with their own subcommands: MNIST (`configs/mnist.json`,
//! `configs/mnist-t1000*.json`) with `pes mnist --config`, recorded with `pes record`.

use crate::checkpoint::MetaCheckpointer;
use crate::error::{PesError, Result};
use crate::experiments::MethodRun;
use crate::experiments::{self, Context, InfluenceConfig, MnistConfig, ToyConfig, VarianceConfig};
use crate::meta::slug;
use crate::records::{self, Record};
use crate::report;
use repro_core::data::DataArgs;
use repro_core::reproduce::Scale;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The CPU-sized MNIST configurations `--full` runs, with their record names.
pub const MNIST_CPU: [(&str, &str); 3] = [
    ("mnist-cpu-k10", include_str!("../configs/mnist-cpu-k10.json")),
    ("mnist-cpu-k100", include_str!("../configs/mnist-cpu-k100.json")),
    (
        "mnist-cpu-valid-k10",
        include_str!("../configs/mnist-cpu-valid-k10.json"),
    ),
];

/// The variance configuration `--full` runs: the paper's (T = 1000, N = 1000, 20 repeats).
pub const VARIANCE_FULL: &str = include_str!("../configs/variance.json");

/// The settings of every experiment of a reproduction.
#[derive(Debug, Clone)]
pub struct Experiments {
    /// Influence balancing (§5.1).
    pub influence: InfluenceConfig,
    /// Toy regression (§5.2).
    pub toy: ToyConfig,
    /// MNIST learning-rate schedule (§5.3): `(record name, config)`.
    pub mnist: Vec<(String, MnistConfig)>,
    /// Variance against the number of unrolls (§5.4).
    pub variance: VarianceConfig,
}

impl Experiments {
    /// What runs at `scale` (see the module's table).
    pub fn at(scale: Scale) -> Result<Self> {
        let quick = scale == Scale::Quick;
        let mnist = if quick {
            vec![("mnist-quick".to_string(), MnistConfig::quick())]
        } else {
            MNIST_CPU
                .iter()
                .map(|(name, text)| Ok((name.to_string(), repro_core::config::parse(text, name)?)))
                .collect::<Result<_>>()?
        };
        Ok(Self {
            influence: InfluenceConfig::default(),
            toy: ToyConfig::default(),
            mnist,
            variance: if quick {
                VarianceConfig::quick()
            } else {
                repro_core::config::parse(VARIANCE_FULL, "variance.json")?
            },
        })
    }
}

fn save<C: Serialize, R: Serialize>(
    out: &Path,
    name: &str,
    command: &str,
    config: &C,
    metrics: &R,
) -> Result<()> {
    let summary = summary(name, &serde_json::to_value(metrics)?);
    records::save(
        out,
        name,
        &Record {
            command: command.to_string(),
            config,
            metrics,
            summary,
        },
    )?;
    Ok(())
}

/// The headline numbers of a record: each run's method, seed and final evaluation.
pub fn summary(name: &str, metrics: &serde_json::Value) -> serde_json::Value {
    let runs = metrics
        .get("runs")
        .or_else(|| metrics.is_array().then_some(metrics))
        .and_then(|r| r.as_array());
    match runs {
        Some(runs) if runs.first().is_some_and(|r| r.get("history").is_some()) => {
            let finals: Vec<serde_json::Value> = runs
                .iter()
                .map(|r| {
                    let last = r["history"].as_array().and_then(|h| h.last()).cloned();
                    serde_json::json!({
                        "method": r["label"], "seed": r["config"]["seed"],
                        "final_theta": last.as_ref().map(|l| l["theta"].clone()),
                        "final_eval": last.as_ref().map(|l| l["eval"].clone()),
                        "seconds": r["seconds"],
                    })
                })
                .collect();
            serde_json::json!({ "experiment": name, "final": finals, "optimum": metrics.get("optimum") })
        }
        _ => serde_json::json!({ "experiment": name, "curves": metrics }),
    }
}

/// Runs every experiment of `only` (all when empty) at `scale`, writes their records under
/// `out/pes/runs/` and renders `out/pes.md` from the records; returns its path.
pub fn reproduce(
    scale: Scale,
    only: &[String],
    out: &Path,
    data: &DataArgs,
    ctx: &Context,
) -> Result<PathBuf> {
    let plan = Experiments::at(scale)?;
    let flag = if scale == Scale::Quick {
        "--quick"
    } else {
        "--full"
    };
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| name.starts_with(o.as_str()));
    let command = |name: &str| format!("cargo run --release -p pes -- reproduce {flag} --only {name}");

    if wants("influence") {
        eprintln!("== influence balancing ==");
        let runs = experiments::influence::run(&plan.influence, ctx)?;
        save(out, "influence", &command("influence"), &plan.influence, &runs)?;
    }
    if wants("toy") {
        eprintln!("== toy regression ==");
        let toy = experiments::toy::run(&plan.toy, ctx)?;
        save(out, "toy", &command("toy"), &plan.toy, &toy)?;
    }
    for (name, cfg) in &plan.mnist {
        if wants(name) {
            eprintln!("== MNIST learning-rate schedule ({name}) ==");
            let mnist = experiments::mnist::run(cfg, data, ctx)?;
            save(out, name, &command(name), cfg, &mnist)?;
        }
    }
    if wants("variance") {
        eprintln!("== variance ==");
        let curves = experiments::variance::run(&plan.variance, &ctx.device)?;
        save(out, "variance", &command("variance"), &plan.variance, &curves)?;
    }
    report::render(out)
}

/// Turns one or more `pes mnist` run folders of the same config (several processes, each
/// running some seeds and methods, see [`experiments::mnist::MnistSelection`]) into the record
/// `name` under `out`. Every (method, seed) comes from its latest checkpoint, finished or not
/// (a run still going is recorded as partial, [`MethodRun::completed`]); the landscape from
/// the first folder that holds one. When several folders ran the same (method, seed) the
/// furthest checkpoint is taken. The folders' configs must be identical.
pub fn record_mnist_runs(runs: &[PathBuf], name: &str, command: &str, out: &Path) -> Result<PathBuf> {
    let Some(first) = runs.first() else {
        return Err(PesError::Config("no run folder to record".into()));
    };
    let config: MnistConfig = repro_core::config::load(&first.join("config.json"))?;
    for r in &runs[1..] {
        let other: MnistConfig = repro_core::config::load(&r.join("config.json"))?;
        if serde_json::to_value(&other)? != serde_json::to_value(&config)? {
            return Err(PesError::Config(format!(
                "{} and {} hold different configs",
                first.display(),
                r.display()
            )));
        }
    }
    let mut heatmap = None;
    for r in runs {
        let path = r.join(experiments::mnist::LANDSCAPE_FILE);
        if heatmap.is_none() && path.exists() {
            heatmap = Some(serde_json::from_str(&std::fs::read_to_string(&path)?)?);
        }
    }
    let heatmap = heatmap.unwrap_or(experiments::Grid {
        x: config.grid_lr,
        y: config.grid_decay,
        values: Vec::new(),
    });
    let mut methods = Vec::new();
    for &seed in &config.seeds {
        for m in &config.methods {
            let cfg = m.clone().with_seed(seed);
            let label = format!("{} seed {}", cfg.label(), seed);
            // the furthest checkpoint when several folders ran the same (method, seed)
            let mut best: Option<crate::checkpoint::MetaState> = None;
            for r in runs {
                let ck = MetaCheckpointer::new(r.join("checkpoints").join(slug(&label)));
                if let Some(state) = ck.latest_state()?
                    && best.as_ref().is_none_or(|b| state.iteration > b.iteration)
                {
                    best = Some(state);
                }
            }
            if let Some(state) = best {
                methods.push(MethodRun {
                    label: cfg.label(),
                    config: cfg.clone(),
                    completed: (state.iteration < config.iterations).then_some(state.iteration),
                    history: state.history,
                    seconds: state.seconds,
                });
            }
        }
    }
    let result = experiments::MnistResult {
        runs: methods,
        heatmap,
        embedded_subset: false,
        train_images: 0,
    };
    // the data facts come from the results of any process that finished
    let done = runs
        .iter()
        .find_map(|r| std::fs::read_to_string(r.join("results.json")).ok());
    let result = match done {
        Some(text) => {
            let done: experiments::MnistResult = serde_json::from_str(&text)?;
            experiments::MnistResult {
                embedded_subset: done.embedded_subset,
                train_images: done.train_images,
                ..result
            }
        }
        None => result,
    };
    save(out, name, command, &config, &result)?;
    Ok(records::path(out, name))
}
