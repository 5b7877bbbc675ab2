//! Runners of the paper's experiments, shared by the subcommands and `pes reproduce`: each
//! meta-trains every configured method from the same θ₀ and returns the histories (and the
//! meta-loss landscapes for the heatmaps).

pub mod influence;
pub mod mnist;
pub mod toy;
pub mod variance;

pub use influence::InfluenceConfig;
pub use mnist::{MnistConfig, MnistResult};
pub use toy::{ToyConfig, ToyResult};
pub use variance::{VarianceConfig, VarianceCurve};

use crate::checkpoint::MetaRecord;
use crate::error::Result;
use crate::estimators::{EstimatorConfig, Method, build};
use crate::meta::{MetaOptions, meta_train_timed};
use crate::problems::UnrolledProblem;
use burn::tensor::Device;
use repro_core::train::RunDir;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// An experiment's settings from the JSON file `path` through [`repro_core::config::load`]
/// (strict: a misspelt key is an error naming the file and the field; missing keys take the
/// defaults), or the defaults (the paper's settings) when there is no file.
pub fn load_config<C: DeserializeOwned + Default>(path: Option<&Path>) -> Result<C> {
    match path {
        None => Ok(C::default()),
        Some(p) => Ok(repro_core::config::load(p)?),
    }
}

/// Where and how experiments run.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the tensors live (the main device).
    pub device: Device,
    /// Devices to shard the particles of device-tensor problems over, the main one first;
    /// one device: no sharding ([`crate::sharded`]).
    pub devices: Vec<Device>,
    /// Run directory for metrics and checkpoints.
    pub run: Option<RunDir>,
    /// Continue every method from its last checkpoint.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Checkpoint every this many outer iterations (0: never).
    pub checkpoint_every: usize,
}

impl Context {
    /// In memory, quiet (tests).
    pub fn quiet(device: &Device) -> Self {
        Self {
            device: device.clone(),
            devices: vec![device.clone()],
            run: None,
            resume: false,
            progress: false,
            checkpoint_every: 0,
        }
    }

    fn options(&self, config: &EstimatorConfig, iterations: usize, eval_every: usize) -> MetaOptions {
        MetaOptions {
            iterations,
            eval_every,
            checkpoint_every: self.checkpoint_every,
            label: format!("{} seed {}", config.label(), config.seed),
            run: self.run.clone(),
            resume: self.resume,
            progress: self.progress,
        }
    }
}

/// One method's meta-training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodRun {
    /// Display label of the method (`PES K=10`).
    pub label: String,
    /// The estimator's settings (seed included).
    pub config: EstimatorConfig,
    /// The evaluated records, from iteration 0.
    pub history: Vec<MetaRecord>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Outer iterations completed when fewer than configured (a run recorded from its last
    /// checkpoint while still going); `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<usize>,
}

impl MethodRun {
    /// The method (kind and K): the typed key of this run.
    pub fn method(&self) -> Method {
        self.config.method()
    }
    /// Whether the run stopped before its configured iterations.
    pub fn is_partial(&self) -> bool {
        self.completed.is_some()
    }
    /// The last evaluated record.
    pub fn last(&self) -> &MetaRecord {
        self.history.last().expect("at least the initial evaluation")
    }
    /// `(iteration, eval)` points.
    pub fn eval_points(&self) -> Vec<(f64, f64)> {
        self.history
            .iter()
            .filter_map(|r| r.eval.map(|e| (r.iteration as f64, e)))
            .collect()
    }
    /// Lowest evaluated value.
    pub fn best(&self) -> f64 {
        self.history
            .iter()
            .filter_map(|r| r.eval)
            .fold(f64::INFINITY, f64::min)
    }
}

/// A scalar field on a regular grid (cell centres), `values[row][col]`, row 0 at `y.0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grid {
    /// Range of the horizontal axis.
    pub x: (f64, f64),
    /// Range of the vertical axis.
    pub y: (f64, f64),
    /// The values, one row per vertical cell (+∞ where the inner problem diverged; written
    /// as `null` in JSON).
    #[serde(deserialize_with = "nulls_as_infinity")]
    pub values: Vec<Vec<f64>>,
}

/// Reads `null` (how JSON writes a non-finite number) as +∞.
fn nulls_as_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<Vec<f64>>, D::Error> {
    let rows: Vec<Vec<Option<f64>>> = Deserialize::deserialize(d)?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_iter().map(|v| v.unwrap_or(f64::INFINITY)).collect())
        .collect())
}

impl Grid {
    /// Cell centres `(x, y)` row by row.
    pub fn centres(x: (f64, f64), y: (f64, f64), n: usize) -> Vec<(f64, f64)> {
        let c = |r: (f64, f64), i: usize| r.0 + (i as f64 + 0.5) * (r.1 - r.0) / n as f64;
        (0..n)
            .flat_map(|row| (0..n).map(move |col| (c(x, col), c(y, row))))
            .collect()
    }
}

/// What every method of an experiment shares.
struct Plan<'a> {
    methods: &'a [EstimatorConfig],
    /// Perturbation seed (replaces the methods' own).
    seed: u64,
    theta0: &'a [f64],
    outer: &'a crate::outer::OuterConfig,
    iterations: usize,
    eval_every: usize,
}

fn train_all<P: UnrolledProblem + 'static>(
    problem: &P,
    plan: Plan<'_>,
    ctx: &Context,
    eval: &mut dyn FnMut(&[f64]) -> Result<f64>,
) -> Result<Vec<MethodRun>> {
    let mut runs = Vec::new();
    for m in plan.methods {
        let config = m.clone().with_seed(plan.seed);
        let mut est = build(&config, problem, &ctx.device)?;
        let opts = ctx.options(&config, plan.iterations, plan.eval_every);
        let (history, seconds) =
            meta_train_timed(problem, est.as_mut(), plan.theta0, plan.outer, &opts, eval)?;
        let last = history.last().expect("history");
        eprintln!(
            "{:>14}: θ = {:.4?}, eval = {:.4e} ({seconds:.1} s)",
            config.label(),
            last.theta,
            last.eval.unwrap_or(f64::NAN)
        );
        runs.push(MethodRun {
            label: config.label(),
            config,
            history,
            seconds,
            completed: None,
        });
    }
    Ok(runs)
}
