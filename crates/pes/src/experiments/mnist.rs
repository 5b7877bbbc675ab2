//! Meta-learning an MNIST learning-rate schedule (paper §5.3, Figs. 5–6): the experiment's
//! settings, the meta-loss landscape over (log10 lr₀, log10 decay) and the runner.

use super::{Context, Grid, MethodRun, Plan, train_all};
use crate::error::{PesError, Result};
use crate::estimators::{EstimatorConfig, EstimatorKind};
use crate::meta::slug;
use crate::outer::OuterConfig;
use crate::problems::mnist_schedule::{Batches, Init, MnistSchedule, ObjectiveBatch};
use crate::problems::{UnrolledProblem, Window, matrix};
use crate::sharded::Sharded;
use burn::tensor::Device;
use repro_core::data::{DataArgs, DatasetName, Split, load};
use serde::{Deserialize, Serialize};

/// The §5.3 experiment. `full()` holds the paper's settings; `quick()` a scaled-down
/// version that runs in minutes on a laptop CPU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MnistConfig {
    /// Widths of the two hidden layers.
    pub hidden: [usize; 2],
    /// Inner minibatch size.
    pub batch_size: usize,
    /// Episode length T (inner training steps).
    pub horizon: usize,
    /// θ₀ = (log lr₀, log decay).
    pub theta0: [f64; 2],
    /// Outer iterations.
    pub iterations: usize,
    /// Outer optimiser.
    pub outer: OuterConfig,
    /// Methods compared in Figs. 5–6.
    pub methods: Vec<EstimatorConfig>,
    /// Evaluate every this many outer iterations.
    pub eval_every: usize,
    /// Heatmap resolution (cells per side) over log10 lr₀ × log10 decay.
    pub grid: usize,
    /// Heatmap ranges (log10 lr₀, log10 decay).
    pub grid_lr: (f64, f64),
    /// Heatmap range of log10 decay.
    pub grid_decay: (f64, f64),
    /// Use at most this many training images (0: all 50 000).
    pub train_images: usize,
    /// The meta-objective summed over the episode.
    pub objective: MnistObjective,
    /// Images held out from the end of the training images for the validation objective.
    pub validation_images: usize,
    /// Seeds of the initial network, the minibatches and the perturbations: every method
    /// runs once per seed (the landscape uses the first).
    pub seeds: Vec<u64>,
}

/// The meta-objective of the MNIST experiment (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum MnistObjective {
    /// Sum over the episode of the training loss on a fresh training batch.
    TrainingLoss,
    /// Sum over the episode of the error rate (1 − accuracy) on a batch of held-out images.
    ValidationError,
}

impl std::fmt::Display for MnistObjective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MnistObjective::TrainingLoss => "training loss",
            MnistObjective::ValidationError => "validation error (1 − accuracy, held-out split)",
        })
    }
}

impl MnistConfig {
    /// The paper's settings (T = 5000, K ∈ {10, 100}, N = 1000, 5000 outer iterations).
    pub fn full() -> Self {
        let m = |kind, k| EstimatorConfig::new(kind, k, 1000, 0.1);
        Self {
            hidden: [100, 100],
            batch_size: 100,
            horizon: 5000,
            theta0: [0.003f64.ln(), 30f64.ln()],
            iterations: 5000,
            outer: OuterConfig::adam(1e-2, 0.9),
            methods: vec![
                m(EstimatorKind::Pes, 10),
                m(EstimatorKind::TruncatedEs, 10),
                m(EstimatorKind::Pes, 100),
                m(EstimatorKind::TruncatedEs, 100),
            ],
            eval_every: 500,
            grid: 40,
            grid_lr: (-4.0, 1.0),
            grid_decay: (-1.0, 2.5),
            train_images: 0,
            objective: MnistObjective::TrainingLoss,
            validation_images: 10_000,
            seeds: vec![0],
        }
    }

    /// Scaled down for a 2-core CPU: T = 500, K = 10, N = 10, 200 outer iterations (4
    /// episodes), 8×8 heatmap, 10 000 training images; outer lr raised to 0.05 so θ moves
    /// visibly in 200 iterations.
    pub fn quick() -> Self {
        let m = |kind| EstimatorConfig::new(kind, 10, 10, 0.1);
        Self {
            horizon: 500,
            iterations: 200,
            outer: OuterConfig::adam(5e-2, 0.9),
            methods: vec![m(EstimatorKind::Pes), m(EstimatorKind::TruncatedEs)],
            eval_every: 25,
            grid: 8,
            train_images: 10_000,
            ..Self::full()
        }
    }
}

impl Default for MnistConfig {
    fn default() -> Self {
        Self::full()
    }
}

/// MNIST results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MnistResult {
    /// One run per method.
    pub runs: Vec<MethodRun>,
    /// Meta-loss (sum of objective losses over a full episode) over
    /// (log10 lr₀, log10 decay).
    pub heatmap: Grid,
    /// Whether the embedded 10 000-image MNIST subset stood in for the full training set.
    pub embedded_subset: bool,
    /// Training images used.
    pub train_images: usize,
}

/// The MNIST inner problem of `config` with `seed` (first 50 000 training images, or fewer;
/// for the validation objective the last `validation_images` of them are held out).
pub fn problem(config: &MnistConfig, data: &DataArgs, seed: u64) -> Result<(MnistSchedule, bool, usize)> {
    let loaded = load(DatasetName::Mnist, Split::Train, data)?;
    let ds = loaded.dataset;
    let mut n = ds.len().min(50_000);
    if config.train_images > 0 {
        n = n.min(config.train_images);
    }
    let mut images = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        images.extend(
            ds.image(i)
                .iter()
                .map(|&p| ((p as f32 / 255.0) - 0.13066) / 0.30811),
        );
        labels.push(ds.label(i));
    }
    let (objective, validation) = match config.objective {
        MnistObjective::TrainingLoss => (ObjectiveBatch::Fresh, None),
        MnistObjective::ValidationError => {
            let held = config.validation_images.min(n / 2).max(1);
            let split = n - held;
            let valid = Batches::Sampled {
                images: images.split_off(split * 784),
                labels: labels.split_off(split),
                seed: seed ^ 0x5EED,
            };
            n = split;
            (ObjectiveBatch::ValidationError, Some(valid))
        }
    };
    let mut problem = MnistSchedule::new(
        config.hidden,
        config.batch_size,
        Some(config.horizon),
        objective,
        Batches::Sampled { images, labels, seed },
        Init::TruncatedNormal,
        seed,
    );
    problem.validation = validation;
    Ok((problem, loaded.embedded_subset, n))
}

/// Full-episode meta-losses of many θ at once; diverged runs give +∞ instead of an error.
pub fn landscape(problem: &MnistSchedule, thetas: &[f64], steps: usize, device: &Device) -> Vec<f64> {
    let n = thetas.len() / 2;
    let (_, terms) = problem.unroll(
        problem.init_state(n, device),
        matrix(thetas, n, 2, device),
        Window {
            episode: u64::MAX,
            t0: 0,
            steps,
        },
    );
    let [rows, cols] = terms.dims();
    let v = terms
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_else(|_| vec![f32::NAN; rows * cols]);
    (0..rows)
        .map(|i| {
            let s: f64 = v[i * cols..(i + 1) * cols].iter().map(|&x| x as f64).sum();
            if s.is_finite() { s } else { f64::INFINITY }
        })
        .collect()
}

/// What to do with the meta-loss landscape in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LandscapeMode {
    /// Compute it (or reuse the run folder's `landscape.json` on resume), then meta-train.
    #[default]
    Compute,
    /// Meta-train only (another process computes the landscape).
    Skip,
    /// Compute the landscape only.
    Only,
}

/// The part of an MNIST config one process runs, so that several processes can share a
/// config (each in its own run folder; `pes record` merges them).
#[derive(Debug, Clone, Default)]
pub struct MnistSelection {
    /// Only these seeds of the config (empty: all).
    pub seeds: Vec<u64>,
    /// Only the methods whose label slug is listed (`pes-k-10`, `tes-k-100`; empty: all).
    pub methods: Vec<String>,
    /// The landscape.
    pub landscape: LandscapeMode,
}

impl MnistSelection {
    /// The seeds and methods of `config` this selection runs; an error names a seed or
    /// method that the config does not have.
    pub fn pick(&self, config: &MnistConfig) -> Result<(Vec<u64>, Vec<EstimatorConfig>)> {
        if let Some(s) = self.seeds.iter().find(|s| !config.seeds.contains(s)) {
            return Err(PesError::Config(format!(
                "seed {s} is not among the config's seeds {:?}",
                config.seeds
            )));
        }
        let slugs: Vec<String> = config.methods.iter().map(|m| slug(&m.label())).collect();
        if let Some(m) = self.methods.iter().find(|m| !slugs.contains(m)) {
            return Err(PesError::Config(format!(
                "method {m} is not among the config's methods {slugs:?}"
            )));
        }
        let seeds = if self.seeds.is_empty() {
            config.seeds.clone()
        } else {
            config
                .seeds
                .iter()
                .copied()
                .filter(|s| self.seeds.contains(s))
                .collect()
        };
        let methods = config
            .methods
            .iter()
            .filter(|m| self.methods.is_empty() || self.methods.contains(&slug(&m.label())))
            .cloned()
            .collect();
        Ok((seeds, methods))
    }
}

/// The landscape file of a run folder.
pub const LANDSCAPE_FILE: &str = "landscape.json";

/// MNIST learning-rate schedule (§5.3): landscape, then every method from
/// (log 0.003, log 30).
pub fn run(config: &MnistConfig, data: &DataArgs, ctx: &Context) -> Result<MnistResult> {
    run_selected(config, &MnistSelection::default(), data, ctx)
}

/// The meta-loss over the config's grid, from the first seed's inner problem.
fn compute_landscape(config: &MnistConfig, problem0: &MnistSchedule, ctx: &Context) -> Grid {
    let d = ctx.device.clone();
    let ln10 = std::f64::consts::LN_10;
    let centres = Grid::centres(config.grid_lr, config.grid_decay, config.grid);
    let flat: Vec<f64> = centres.iter().flat_map(|&(a, b)| [a * ln10, b * ln10]).collect();
    // The grid is evaluated in chunks of particles to bound memory.
    let chunk = 100;
    let bar = ctx
        .progress
        .then(|| repro_core::train::progress_bar(centres.len().div_ceil(chunk) as u64, "heatmap"));
    let mut values = Vec::with_capacity(centres.len());
    for part in flat.chunks(2 * chunk) {
        values.extend(landscape(problem0, part, config.horizon, &d));
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Grid {
        x: config.grid_lr,
        y: config.grid_decay,
        values: values.chunks(config.grid.max(1)).map(|r| r.to_vec()).collect(),
    }
}

/// [`run`] restricted to `selection`. In a run folder the landscape is kept in
/// [`LANDSCAPE_FILE`] and reused on resume; a skipped landscape has no rows. With several
/// `ctx.devices` the methods' particles are sharded over them ([`Sharded`], one copy of the
/// problem per device; the landscape and evaluations stay on the main device); a method
/// with fewer particles than devices is refused before any work.
pub fn run_selected(
    config: &MnistConfig,
    selection: &MnistSelection,
    data: &DataArgs,
    ctx: &Context,
) -> Result<MnistResult> {
    let (seeds, methods) = selection.pick(config)?;
    let shards = ctx.devices.len();
    if shards > 1 && selection.landscape != LandscapeMode::Only {
        let particles = |m: &EstimatorConfig| if m.kind.is_evolutionary() { m.particles } else { 1 };
        if let Some(m) = methods.iter().find(|m| particles(m) < shards) {
            return Err(PesError::Config(format!(
                "{} has fewer particles ({}) than devices ({shards}) to shard them over",
                m.label(),
                particles(m)
            )));
        }
    }
    let first = config.seeds.first().copied().unwrap_or(0);
    let (problem0, embedded_subset, train_images) = problem(config, data, first)?;
    if embedded_subset {
        eprintln!("MNIST: using the embedded 10 000-image subset (full MNIST not found)");
    }
    let d = ctx.device.clone();
    let empty = Grid {
        x: config.grid_lr,
        y: config.grid_decay,
        values: Vec::new(),
    };
    let heatmap = match (selection.landscape, &ctx.run) {
        (LandscapeMode::Skip, _) => empty,
        (_, Some(run)) if ctx.resume && run.file(LANDSCAPE_FILE).exists() => {
            serde_json::from_str(&std::fs::read_to_string(run.file(LANDSCAPE_FILE))?)?
        }
        (_, run) => {
            let grid = compute_landscape(config, &problem0, ctx);
            if let Some(run) = run {
                repro_core::train::run_dir::write_atomic(
                    &run.file(LANDSCAPE_FILE),
                    serde_json::to_string(&grid)?.as_bytes(),
                )?;
            }
            grid
        }
    };
    let horizon = config.horizon;
    let mut runs = Vec::new();
    let seeds = if selection.landscape == LandscapeMode::Only {
        Vec::new()
    } else {
        seeds
    };
    for &seed in &seeds {
        let (problem, _, _) = problem(config, data, seed)?;
        let mut eval = |th: &[f64]| Ok(landscape(&problem, th, horizon, &d)[0]);
        let plan = Plan {
            methods: &methods,
            seed,
            theta0: &config.theta0,
            outer: &config.outer,
            iterations: config.iterations,
            eval_every: config.eval_every,
        };
        runs.extend(if shards > 1 {
            let copies = vec![problem.clone(); shards];
            let sharded = Sharded::new(copies, ctx.devices.clone())?;
            train_all(&sharded, plan, ctx, &mut eval)?
        } else {
            train_all(&problem, plan, ctx, &mut eval)?
        });
    }
    Ok(MnistResult {
        runs,
        heatmap,
        embedded_subset,
        train_images,
    })
}
