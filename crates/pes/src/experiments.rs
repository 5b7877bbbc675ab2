//! Runners of the paper's experiments, shared by the subcommands and `pes reproduce`: each
//! meta-trains every configured method from the same θ₀ and returns the histories (and the
//! meta-loss landscapes for the heatmaps).

use crate::checkpoint::MetaRecord;
use crate::error::Result;
use crate::estimator::{EstimatorConfig, build};
use crate::meta::{MetaOptions, meta_train};
use crate::problem::{UnrolledProblem, Window, matrix};
use crate::problems::influence::{InfluenceBalancing, InfluenceConfig};
use crate::problems::mnist_schedule::{Batches, Init, MnistConfig, MnistSchedule, ObjectiveBatch};
use crate::problems::toy_regression::{ToyConfig, ToyRegression};
use burn::tensor::Device;
use repro_core::data::{DataArgs, DatasetName, Split, load};
use repro_core::train::RunDir;
use serde::{Deserialize, Serialize};

/// Where and how experiments run.
#[derive(Debug, Clone)]
pub struct Context {
    pub device: Device,
    /// Run directory for metrics and checkpoints.
    pub run: Option<RunDir>,
    pub resume: bool,
    pub progress: bool,
    /// Checkpoint every this many outer iterations (0: never).
    pub checkpoint_every: usize,
}

impl Context {
    /// In memory, quiet (tests).
    pub fn quiet(device: &Device) -> Self {
        Self {
            device: device.clone(),
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
            label: config.label(),
            run: self.run.clone(),
            resume: self.resume,
            progress: self.progress,
        }
    }
}

/// One method's meta-training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodRun {
    pub label: String,
    pub config: EstimatorConfig,
    pub history: Vec<MetaRecord>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl MethodRun {
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
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub values: Vec<Vec<f64>>,
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
        let start = std::time::Instant::now();
        let mut est = build(&config, problem, &ctx.device)?;
        let opts = ctx.options(&config, plan.iterations, plan.eval_every);
        let history = meta_train(problem, est.as_mut(), plan.theta0, plan.outer, &opts, eval)?;
        let seconds = start.elapsed().as_secs_f64();
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
        });
    }
    Ok(runs)
}

/// Influence balancing (§5.1): every method from θ₀ = 0.5.
pub fn influence(config: &InfluenceConfig, ctx: &Context) -> Result<Vec<MethodRun>> {
    let problem = InfluenceBalancing::default();
    let d = ctx.device.clone();
    let steps = config.eval_steps;
    let mut eval = |th: &[f64]| Ok(problem.eval_losses(th, steps, &d)[0]);
    train_all(
        &problem,
        Plan {
            methods: &config.methods,
            seed: config.seed,
            theta0: &[config.theta0],
            outer: &config.outer,
            iterations: config.iterations,
            eval_every: config.eval_every,
        },
        ctx,
        &mut eval,
    )
}

/// Toy regression results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyResult {
    pub runs: Vec<MethodRun>,
    /// Meta-loss over θ ∈ [−5, 5]².
    pub heatmap: Grid,
}

/// Toy regression (§5.2): the meta-loss landscape and every method from θ₀ = (−4, −4).
pub fn toy(config: &ToyConfig, ctx: &Context) -> Result<ToyResult> {
    let problem = ToyRegression {
        horizon: config.horizon,
    };
    let d = ctx.device.clone();
    let centres = Grid::centres((-5.0, 5.0), (-5.0, 5.0), config.grid);
    let flat: Vec<f64> = centres.iter().flat_map(|&(a, b)| [a, b]).collect();
    let values = problem.meta_losses(&flat, &d);
    let heatmap = Grid {
        x: (-5.0, 5.0),
        y: (-5.0, 5.0),
        values: values.chunks(config.grid).map(|r| r.to_vec()).collect(),
    };
    let mut eval = |th: &[f64]| Ok(problem.meta_losses(th, &d)[0]);
    let runs = train_all(
        &problem,
        Plan {
            methods: &config.methods,
            seed: config.seed,
            theta0: &config.theta0,
            outer: &config.outer,
            iterations: config.iterations,
            eval_every: config.eval_every,
        },
        ctx,
        &mut eval,
    )?;
    Ok(ToyResult { runs, heatmap })
}

/// MNIST results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MnistResult {
    pub runs: Vec<MethodRun>,
    /// Meta-loss (sum of objective losses over a full episode) over
    /// (log10 lr₀, log10 decay).
    pub heatmap: Grid,
    /// Whether the embedded 10 000-image MNIST subset stood in for the full training set.
    pub embedded_subset: bool,
    pub train_images: usize,
}

/// The MNIST inner problem of `config` (first 50 000 training images, or fewer).
pub fn mnist_problem(config: &MnistConfig, data: &DataArgs) -> Result<(MnistSchedule, bool, usize)> {
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
    let problem = MnistSchedule::new(
        config.hidden,
        config.batch_size,
        Some(config.horizon),
        ObjectiveBatch::Fresh,
        Batches::Sampled {
            images,
            labels,
            seed: config.seed,
        },
        Init::TruncatedNormal,
        config.seed,
    );
    Ok((problem, loaded.embedded_subset, n))
}

/// Full-episode meta-losses of many θ at once; diverged runs give +∞ instead of an error.
pub fn mnist_landscape(problem: &MnistSchedule, thetas: &[f64], steps: usize, device: &Device) -> Vec<f64> {
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

/// MNIST learning-rate schedule (§5.3): landscape, then every method from
/// (log 0.003, log 30).
pub fn mnist(config: &MnistConfig, data: &DataArgs, ctx: &Context) -> Result<MnistResult> {
    let (problem, embedded_subset, train_images) = mnist_problem(config, data)?;
    if embedded_subset {
        eprintln!("MNIST: using the embedded 10 000-image subset (full MNIST not found)");
    }
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
        values.extend(mnist_landscape(&problem, part, config.horizon, &d));
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let heatmap = Grid {
        x: config.grid_lr,
        y: config.grid_decay,
        values: values.chunks(config.grid).map(|r| r.to_vec()).collect(),
    };
    let horizon = config.horizon;
    let mut eval = |th: &[f64]| Ok(mnist_landscape(&problem, th, horizon, &d)[0]);
    let runs = train_all(
        &problem,
        Plan {
            methods: &config.methods,
            seed: config.seed,
            theta0: &config.theta0,
            outer: &config.outer,
            iterations: config.iterations,
            eval_every: config.eval_every,
        },
        ctx,
        &mut eval,
    )?;
    Ok(MnistResult {
        runs,
        heatmap,
        embedded_subset,
        train_images,
    })
}
