//! Toy 2-D regression with a learned linear learning-rate schedule (paper §5.2, Fig. 5): the
//! experiment's settings, meta-loss landscape and runner.

use super::{Context, Grid, MethodRun, Plan, train_all};
use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind};
use crate::outer::OuterConfig;
use crate::problems::toy_regression::ToyRegression;
use serde::{Deserialize, Serialize};

/// The §5.2 experiment (defaults from the reference script and README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyConfig {
    /// Episode length T.
    pub horizon: usize,
    /// θ₀ = (log lr at t = 0, log lr at t = T).
    pub theta0: [f64; 2],
    /// Outer iterations.
    pub iterations: usize,
    /// Outer Adam, lr 1e-2, β1 = 0.99 (the script's default).
    pub outer: OuterConfig,
    /// Methods compared in Fig. 5.
    pub methods: Vec<EstimatorConfig>,
    /// Evaluate every this many outer iterations.
    pub eval_every: usize,
    /// Heatmap resolution over θ ∈ [−5, 5]² (cells per side).
    pub grid: usize,
    /// Perturbation seed of every method.
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            horizon: 100,
            theta0: [-4.0, -4.0],
            iterations: 20_000,
            outer: OuterConfig::adam(1e-2, 0.99),
            methods: vec![
                EstimatorConfig::new(EstimatorKind::Pes, 10, 100, 0.3),
                EstimatorConfig::new(EstimatorKind::Es, 100, 100, 1.0),
                EstimatorConfig::new(EstimatorKind::TruncatedEs, 10, 100, 0.3),
                EstimatorConfig::new(EstimatorKind::Tbptt, 10, 1, 0.0),
                EstimatorConfig::new(EstimatorKind::NoiseReuseEs, 10, 100, 0.3),
            ],
            eval_every: 10,
            grid: 100,
            seed: 0,
        }
    }
}

/// Toy regression results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyResult {
    /// One run per method.
    pub runs: Vec<MethodRun>,
    /// Meta-loss over θ ∈ [−5, 5]².
    pub heatmap: Grid,
}

/// Toy regression (§5.2): the meta-loss landscape and every method from θ₀ = (−4, −4).
pub fn run(config: &ToyConfig, ctx: &Context) -> Result<ToyResult> {
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
