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
use crate::problems::mnist_schedule::{Batches, Init, MnistSchedule, ObjectiveBatch};
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
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
    })
}
