//! Influence balancing (paper §5.1, Fig. 3): the experiment's settings and runner.

use super::{Context, MethodRun, Plan, train_all};
use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind};
use crate::outer::OuterConfig;
use crate::problems::influence::InfluenceBalancing;
use serde::{Deserialize, Serialize};

/// The §5.1 experiment (defaults from the reference README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfluenceConfig {
    /// Initial θ.
    pub theta0: f64,
    /// Outer iterations.
    pub iterations: usize,
    /// Outer optimiser (plain SGD, lr 1e-4).
    pub outer: OuterConfig,
    /// Outer optimiser of UORO (plain SGD, lr 1e-5, as the reference runs it).
    pub uoro_outer: OuterConfig,
    /// Methods compared in Fig. 3.
    pub methods: Vec<EstimatorConfig>,
    /// Length of the fresh unroll used to measure the loss.
    pub eval_steps: usize,
    /// Evaluate every this many outer iterations.
    pub eval_every: usize,
    /// Perturbation seeds: every method runs once per seed.
    pub seeds: Vec<u64>,
}

impl Default for InfluenceConfig {
    fn default() -> Self {
        let es = |kind, k| EstimatorConfig::new(kind, k, 1000, 0.1);
        Self {
            theta0: 0.5,
            iterations: 3000,
            outer: OuterConfig::sgd(1e-4),
            uoro_outer: OuterConfig::sgd(1e-5),
            methods: vec![
                es(EstimatorKind::Pes, 1),
                es(EstimatorKind::TruncatedEs, 1),
                es(EstimatorKind::Tbptt, 1),
                es(EstimatorKind::Tbptt, 10),
                es(EstimatorKind::Tbptt, 100),
                es(EstimatorKind::Rtrl, 1),
                es(EstimatorKind::Uoro, 1),
            ],
            eval_steps: 500,
            eval_every: 50,
            seeds: vec![3, 4, 5],
        }
    }
}

/// Influence balancing (§5.1): every method from θ₀ = 0.5, once per seed (UORO with its
/// own outer optimiser).
pub fn run(config: &InfluenceConfig, ctx: &Context) -> Result<Vec<MethodRun>> {
    let problem = InfluenceBalancing::default();
    let steps = config.eval_steps;
    let mut eval = |th: &[f64]| Ok(problem.eval_losses(th, steps)[0]);
    let (uoro, others): (Vec<EstimatorConfig>, Vec<EstimatorConfig>) = config
        .methods
        .iter()
        .cloned()
        .partition(|m| m.kind == EstimatorKind::Uoro);
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        for (methods, outer) in [(&others, &config.outer), (&uoro, &config.uoro_outer)] {
            runs.extend(train_all(
                &problem,
                Plan {
                    methods,
                    seed,
                    theta0: &[config.theta0],
                    outer,
                    iterations: config.iterations,
                    eval_every: config.eval_every,
                },
                ctx,
                &mut eval,
            )?);
        }
    }
    Ok(runs)
}
