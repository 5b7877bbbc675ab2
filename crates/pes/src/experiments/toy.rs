//! Toy 2-D regression with a learned linear learning-rate schedule (paper §5.2, Fig. 4): the
//! experiment's settings, the meta-loss landscape, its exact optimum and the runner.

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
    /// Methods compared in Fig. 4 (the paper's: PES, truncated ES with σ = 1, TBPTT, RTRL;
    /// full-episode ES and UORO as extra rows).
    pub methods: Vec<EstimatorConfig>,
    /// Evaluate every this many outer iterations.
    pub eval_every: usize,
    /// Heatmap resolution over θ ∈ [−5, 5]² (cells per side).
    pub grid: usize,
    /// Points per side of the f64 grid over [−5, 5]² that seeds the search for the exact
    /// optimum of the meta-objective.
    pub optimum_grid: usize,
    /// Perturbation seeds: every method runs once per seed.
    pub seeds: Vec<u64>,
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
                EstimatorConfig::new(EstimatorKind::TruncatedEs, 10, 100, 1.0),
                EstimatorConfig::new(EstimatorKind::Tbptt, 10, 1, 0.0),
                EstimatorConfig::new(EstimatorKind::Rtrl, 10, 1, 0.0),
                EstimatorConfig::new(EstimatorKind::Uoro, 10, 1, 0.0),
                EstimatorConfig::new(EstimatorKind::Es, 100, 100, 1.0),
            ],
            eval_every: 100,
            grid: 100,
            optimum_grid: 401,
            seeds: vec![0, 1, 2],
        }
    }
}

/// The exact minimiser of the meta-objective (f64 grid, then a pattern search).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    /// θ* (log lr at t = 0, log lr at t = T).
    pub theta: [f64; 2],
    /// The meta-loss at θ*.
    pub meta_loss: f64,
}

/// Toy regression results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyResult {
    /// One run per method and seed.
    pub runs: Vec<MethodRun>,
    /// Meta-loss over θ ∈ [−5, 5]².
    pub heatmap: Grid,
    /// The exact optimum of the meta-objective in [−5, 5]².
    pub optimum: Optimum,
}

/// The minimiser of `problem`'s meta-objective over [−5, 5]²: the best of an `n × n` f64
/// grid, each of the 8 best grid points refined by a compass search (step halved down to
/// 1e-9) on the exact f64 meta-loss.
pub fn exact_optimum(problem: &ToyRegression, n: usize) -> Optimum {
    let (lo, hi) = (-5.0, 5.0);
    let h = (hi - lo) / (n.max(2) - 1) as f64;
    let mut grid: Vec<(f64, [f64; 2])> = (0..n * n)
        .map(|k| {
            let th = [lo + (k % n) as f64 * h, lo + (k / n) as f64 * h];
            (problem.meta_losses(&th)[0], th)
        })
        .collect();
    grid.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = Optimum {
        theta: grid[0].1,
        meta_loss: grid[0].0,
    };
    for &(start, th0) in grid.iter().take(8) {
        let (mut f, mut th, mut step) = (start, th0, h);
        while step > 1e-9 {
            let mut moved = false;
            for (dx, dy) in [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (1.0, 1.0),
                (-1.0, -1.0),
                (1.0, -1.0),
                (-1.0, 1.0),
            ] {
                let cand = [th[0] + dx * step, th[1] + dy * step];
                let fc = problem.meta_losses(&cand)[0];
                if fc < f {
                    (f, th, moved) = (fc, cand, true);
                }
            }
            if !moved {
                step *= 0.5;
            }
        }
        if f < best.meta_loss {
            best = Optimum {
                theta: th,
                meta_loss: f,
            };
        }
    }
    best
}

/// Toy regression (§5.2): the meta-loss landscape, its exact optimum and every method from
/// θ₀ = (−4, −4), once per seed.
pub fn run(config: &ToyConfig, ctx: &Context) -> Result<ToyResult> {
    let problem = ToyRegression {
        horizon: config.horizon,
    };
    let centres = Grid::centres((-5.0, 5.0), (-5.0, 5.0), config.grid);
    let flat: Vec<f64> = centres.iter().flat_map(|&(a, b)| [a, b]).collect();
    let values = problem.meta_losses(&flat);
    let heatmap = Grid {
        x: (-5.0, 5.0),
        y: (-5.0, 5.0),
        values: values.chunks(config.grid).map(|r| r.to_vec()).collect(),
    };
    let optimum = exact_optimum(&problem, config.optimum_grid);
    eprintln!(
        "exact optimum: θ* = ({:.4}, {:.4}), meta-loss {:.4}",
        optimum.theta[0], optimum.theta[1], optimum.meta_loss
    );
    let mut eval = |th: &[f64]| Ok(problem.meta_loss(th));
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        runs.extend(train_all(
            &problem,
            Plan {
                methods: &config.methods,
                seed,
                theta0: &config.theta0,
                outer: &config.outer,
                iterations: config.iterations,
                eval_every: config.eval_every,
            },
            ctx,
            &mut eval,
        )?);
    }
    Ok(ToyResult {
        runs,
        heatmap,
        optimum,
    })
}
