//! The `pes-mnist-mlp` throughput benchmark, defined by the JAX reference script
//! `../shared/bench/jax_ref.py` (relative to the workspace root; `cargo xtask bench` runs both).
//!
//! MLP 784-100-100-10 (He-normal init, zero biases) trained by SGD momentum 0.9 with the
//! inverse-time-decay schedule; N particles (antithetic), σ = 0.1, K = 10 inner steps per
//! outer step; all particles share the initial network and K fixed synthetic batches
//! (uniform [0, 1) pixels, random labels) reused every truncation; a step's objective is the
//! loss of the updated network on the step's own batch; no episode end. One outer step =
//! one PES truncation of every particle (this crate's [`Persistent`](crate::estimators::Persistent)
//! estimator, the code used for training) + an Adam update of θ. Reports particle inner steps per
//! second.

use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind, build};
use crate::outer::{OuterConfig, OuterOptimizer};
use crate::problems::mnist_schedule::model::{CLASSES, INPUT};
use crate::problems::mnist_schedule::{Batches, Init, MnistSchedule, ObjectiveBatch};
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use repro_core::flops::{chain, dense_macs, forward_backward};
use serde::Serialize;
use std::time::Instant;

/// Benchmark settings (`jax_ref.py`'s command-line defaults).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct BenchArgs {
    /// Timed outer steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed outer steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Particles N (even).
    #[arg(long, default_value_t = 100)]
    pub particles: usize,
    /// Truncation length K.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
}

/// One benchmark measurement (printed as one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// `pes-mnist-mlp`.
    pub workload: &'static str,
    /// `burn`.
    pub framework: &'static str,
    /// Particles N.
    pub particles: usize,
    /// Truncation length K.
    pub k: usize,
    /// Particle inner steps per second, `N·K / step time`.
    pub items_per_s: f64,
    /// Mean seconds per outer step, in milliseconds.
    pub step_ms: f64,
    /// CPU threads of the backend.
    pub threads: usize,
    /// Peak resident set size of the process at the end, MiB.
    pub peak_rss_mb: f64,
    /// Floating-point operations of one particle inner step ([`flops_per_item`]).
    pub flops_per_item: f64,
}

/// FLOPs of one particle inner step ([`repro_core::flops`]: matrix products only, 2 per
/// multiply-add) of the MLP `784-h₁-h₂-10` on a batch of `batch`: the gradient of the training
/// loss (forward, weight gradients, input gradients of layers 2 and 3) and the step's
/// objective, the loss of the updated network on a batch of the same size (one more forward
/// pass). Antithetic pairs are two particles, each running its own steps, so they change the
/// number of items, not this count. ReLU, softmax, the momentum update and the PES estimate
/// itself (`N × 2` per truncation) are not counted.
pub fn flops_per_item(hidden: [usize; 2], batch: usize) -> f64 {
    let sizes = [INPUT, hidden[0], hidden[1], CLASSES];
    let macs: Vec<u64> = sizes.windows(2).map(|w| dense_macs(w[0], w[1])).collect();
    let gradient = forward_backward(&chain(macs.iter().copied()));
    let objective = 2 * macs.iter().sum::<u64>();
    ((gradient + objective) * batch as u64) as f64
}

/// The benchmark's inner problem: synthetic fixed batches, He init, same-batch objective.
pub fn workload(k: usize) -> MnistSchedule {
    let mut rng = StdRng::seed_from_u64(0);
    let images = (0..k)
        .map(|_| (0..100 * 784).map(|_| rng.random::<f32>()).collect())
        .collect();
    let labels = (0..k)
        .map(|_| (0..100).map(|_| rng.random_range(0..10u8)).collect())
        .collect();
    MnistSchedule::new(
        [100, 100],
        100,
        None,
        ObjectiveBatch::Same,
        Batches::Fixed { images, labels },
        Init::HeNormal,
        0,
    )
}

/// Runs the benchmark on `device`.
pub fn run(args: &BenchArgs, device: &Device) -> Result<BenchResult> {
    let problem = workload(args.k);
    let config = EstimatorConfig::new(EstimatorKind::Pes, args.k, args.particles, 0.1);
    let mut pes = build(&config, &problem, device)?;
    let mut theta = vec![0.003f64.ln(), 30f64.ln()];
    let mut adam = OuterOptimizer::new(OuterConfig::adam(1e-2, 0.9), 2);
    let mut outer_step = |theta: &mut Vec<f64>| -> Result<()> {
        let est = pes.estimate(&problem, theta)?;
        adam.step(theta, &est.grad);
        Ok(())
    };
    for _ in 0..args.warmup {
        outer_step(&mut theta)?;
    }
    let start = Instant::now();
    for _ in 0..args.steps {
        outer_step(&mut theta)?;
    }
    let dt = start.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    Ok(BenchResult {
        workload: "pes-mnist-mlp",
        framework: "burn",
        particles: args.particles,
        k: args.k,
        items_per_s: ((args.particles * args.k) as f64 / dt * 10.0).round() / 10.0,
        step_ms: (dt * 1e6).round() / 1e3,
        threads: repro_core::backend::cpu_threads(),
        peak_rss_mb: repro_core::allocator::peak_rss_mib(),
        flops_per_item: flops_per_item(problem.hidden, problem.batch_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_a_small_mlp_by_hand() {
        // 784 → 2 → 3 → 10: 1568, 6 and 30 multiply-adds per image. Gradient: forward
        // 2·1604, weight gradients 2·1604, input gradients of layers 2 and 3 only 2·36;
        // objective: forward 2·1604. Batch 5.
        let per_image = 3 * 2 * 1604 + 2 * 36;
        assert_eq!(flops_per_item([2, 3], 5), (5 * per_image) as f64);
    }

    #[test]
    fn the_benchmark_counts_the_jax_reference_mlp() {
        // 784-100-100-10 on batches of 100 (jax_ref.py): 89400 multiply-adds per image
        // forward; two forward passes and the weight gradients are 3 × 2 × 89400, the input
        // gradients of layers 2 and 3 are 2 × (10000 + 1000).
        let problem = workload(1);
        assert_eq!((problem.hidden, problem.batch_size), ([100, 100], 100));
        let expected = 100.0 * (6.0 * 89400.0 + 2.0 * 11000.0);
        assert_eq!(flops_per_item(problem.hidden, problem.batch_size), expected);
        assert_eq!(expected, 55.84e6);
    }
}
