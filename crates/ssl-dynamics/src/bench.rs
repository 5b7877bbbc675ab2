//! `ssl-dynamics bench`: the `byol-resnet18` workload of the PyTorch reference benchmark,
//! timed on this library's real training step ([`SslTrainer::train_step`]).
//!
//! Workload: batch 64, two fixed random views `U[0,1)` of 3×32×32 reused every step, online and
//! target = ResNet-18 (CIFAR stem) + projector 512 → 512 (BN, no affine) → ReLU → 128, the
//! target built independently; linear 128×128 predictor without bias set every step *before*
//! use from `F̂` (ρ = 0.3, `eigh` in f64, `p = √(s/max s) + 0.01`) and not trained; symmetric
//! cosine loss; SGD lr 0.03, momentum 0.9, weight decay 4e-4 on encoder + projector; EMA 0.996.

use crate::byol::{SslConfig, SslTrainer};
use crate::directpred::DirectPredConfig;
use crate::error::Result;
use crate::nets::{BranchConfig, EncoderKind};
use crate::predictor::PredictorKind;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The JSON line printed by `bench` (same keys as `torch_ref.py`, plus the eigen share).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    /// `byol-resnet18`.
    pub workload: String,
    /// `burn`.
    pub framework: String,
    /// Images per second.
    pub items_per_s: f64,
    /// Milliseconds per training step.
    pub step_ms: f64,
    /// CPU worker threads.
    pub threads: usize,
    /// Fraction of the step spent in DirectPred's host work (estimator, eigh, weight write).
    pub directpred_share: f64,
    /// Fraction of the step spent in the eigendecomposition alone.
    pub eig_share: f64,
    /// Peak resident set size of the process at the end, MiB.
    pub peak_rss_mb: f64,
}

/// The benchmark's method config for a given encoder width (64 = ResNet-18).
pub fn bench_config(width: usize) -> SslConfig {
    let branch = BranchConfig::new(EncoderKind::Resnet18 { width })
        .with_projector_hidden(8 * width)
        .with_projector_out(128);
    let dp = DirectPredConfig {
        set_before_use: true,
        ..DirectPredConfig::default()
    };
    SslConfig::byol(branch, PredictorKind::DirectPred(dp))
}

/// Runs `warmup` untimed and `steps` timed training steps with batch `batch` on `device`.
pub fn run_bench(
    width: usize,
    batch: usize,
    steps: usize,
    warmup: usize,
    device: &Device,
) -> Result<BenchResult> {
    let device = device.clone().autodiff();
    device.seed(0);
    let mut trainer = SslTrainer::new(bench_config(width), &device)?;
    let v1 = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Default, &device);
    let v2 = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Default, &device);
    for _ in 0..warmup {
        trainer.train_step(v1.clone(), v2.clone())?;
    }
    let (mut dp, mut eig) = (0.0, 0.0);
    let t0 = Instant::now();
    for _ in 0..steps {
        let s = trainer.train_step(v1.clone(), v2.clone())?;
        dp += s.directpred_s;
        eig += s.eig_s;
    }
    let total = t0.elapsed().as_secs_f64();
    let dt = total / steps.max(1) as f64;
    Ok(BenchResult {
        workload: "byol-resnet18".into(),
        framework: "burn".into(),
        items_per_s: (batch as f64 / dt * 100.0).round() / 100.0,
        step_ms: (dt * 1e6).round() / 1e3,
        threads: repro_core::backend::cpu_threads(),
        directpred_share: dp / total.max(1e-12),
        eig_share: eig / total.max(1e-12),
        peak_rss_mb: repro_core::allocator::peak_rss_mib(),
    })
}
