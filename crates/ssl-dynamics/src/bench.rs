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
use crate::nets::{Branch, BranchConfig, EncoderKind};
use crate::predictor::PredictorKind;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::fast_conv::Algorithm;
use repro_core::flops::{Product, chain, conv_out, conv2d_macs, dense_macs, forward_backward};
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
    /// Floating-point operations of one training step per image ([`flops_per_item`]).
    pub flops_per_item: f64,
}

/// Forward multiply-adds per image of `conv` on an `hw` input, and its output side.
fn conv_macs(conv: &Conv2d, hw: [usize; 2]) -> (u64, [usize; 2]) {
    let [c_out, c_in, kh, kw] = conv.weight.dims();
    let [sh, sw] = conv.stride;
    let out = match conv.padding {
        PaddingConfig2d::Valid => [conv_out(hw[0], kh, sh, 0), conv_out(hw[1], kw, sw, 0)],
        PaddingConfig2d::Same => [hw[0].div_ceil(sh), hw[1].div_ceil(sw)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [
            conv_out(hw[0], kh, sh, top + bottom),
            conv_out(hw[1], kw, sw, left + right),
        ],
    };
    // `c_in` is per group: each output channel sees `c_in` input channels.
    (conv2d_macs(c_in, c_out, [kh, kw], out), out)
}

/// The matrix products of `branch` (encoder convolutions in order, then the projector's two
/// dense layers) on `hw` images, read from the built network's weights; the first (the stem)
/// takes no input gradient.
pub fn branch_products(branch: &Branch, hw: [usize; 2]) -> Vec<Product> {
    let mut macs = Vec::new();
    if let Some(net) = &branch.encoder.resnet {
        let (m, mut hw) = conv_macs(&net.stem, hw);
        macs.push(m);
        for block in &net.blocks {
            let (m1, out) = conv_macs(&block.conv1, hw);
            let (m2, _) = conv_macs(&block.conv2, out);
            macs.extend([m1, m2]);
            if let Some((shortcut, _)) = &block.shortcut {
                macs.push(conv_macs(shortcut, hw).0);
            }
            hw = out;
        }
    }
    if let Some(net) = &branch.encoder.conv {
        let mut hw = hw;
        for b in &net.blocks {
            let (m, out) = conv_macs(&b.conv, hw);
            macs.push(m);
            hw = out;
        }
    }
    for fc in [&branch.projector.fc1, &branch.projector.fc2] {
        let [d_in, d_out] = fc.weight.dims();
        macs.push(dense_macs(d_in, d_out));
    }
    chain(macs)
}

/// FLOPs of one BYOL + DirectPred training step per image ([`repro_core::flops`]: matrix
/// products only, 2 per multiply-add), given the branch's `products` and the predictor width
/// `d`. Each image has two views; per view the online branch runs forward and backward, the
/// `d × d` predictor forward and back to its input (it is set, not trained: no weight
/// gradient), and the target branch (same shapes) forward only. Once per step, amortised over
/// `batch`: DirectPred's correlation `Fᵀ F` of the `2·batch` online projections and the
/// predictor `Q diag(p) Qᵀ` (one `d³` product). Batch norm, ReLU, pooling, the loss, SGD, the
/// EMA and `eigh` are not counted.
pub fn byol_flops_per_item(products: &[Product], d: usize, batch: usize) -> f64 {
    let forward: u64 = products.iter().map(|p| 2 * p.macs).sum();
    let predictor = dense_macs(d, d);
    let online = forward_backward(products) + 2 * predictor + 2 * predictor;
    let target = forward;
    let per_step = 2 * (2 * batch as u64) * dense_macs(d, d) + 2 * (d * d * d) as u64;
    (2 * (online + target)) as f64 + per_step as f64 / batch as f64
}

/// [`byol_flops_per_item`] of the benchmark's network on 32×32 images with `batch`.
pub fn flops_per_item(branch: &Branch, config: &BranchConfig, batch: usize) -> f64 {
    byol_flops_per_item(&branch_products(branch, [32, 32]), config.projector_out, batch)
}

/// The benchmark's method config for a given encoder width (64 = ResNet-18) and convolution
/// algorithm.
pub fn bench_config(width: usize, conv: Algorithm) -> SslConfig {
    let branch = BranchConfig::new(EncoderKind::Resnet18 { width, conv })
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
    conv: Algorithm,
    batch: usize,
    steps: usize,
    warmup: usize,
    device: &Device,
) -> Result<BenchResult> {
    let device = device.clone().autodiff();
    device.seed(0);
    let mut trainer = SslTrainer::new(bench_config(width, conv), &device)?;
    let flops_per_item = match &trainer.target {
        Some(target) => flops_per_item(target, &trainer.config.branch, batch),
        None => f64::NAN,
    };
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
        flops_per_item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byol_flops_of_a_two_layer_branch_by_hand() {
        // A branch of two products, 10 and 4 multiply-adds per view (the first takes no
        // input gradient), predictor d = 2 (4), batch 8. Per view: online
        // 2·14 + 2·14 + 2·4 = 64, predictor forward and input gradient 2·4 + 2·4 = 16,
        // target forward 2·14 = 28; two views: 2·108 = 216. Per step: correlation over 16
        // projections 2·16·4 = 128 and Q diag(p) Qᵀ 2·8 = 16, over 8 images: 18.
        let products = chain([10, 4]);
        assert_eq!(byol_flops_per_item(&products, 2, 8), 216.0 + 18.0);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn resnet18_products_match_the_published_forward_count() {
        let config = bench_config(64, Algorithm::Winograd).branch;
        let branch = config.init(&Device::flex());
        let products = branch_products(&branch, [32, 32]);
        // 1 stem + 16 block convolutions + 3 shortcuts + 2 projector layers.
        assert_eq!(products.len(), 22);
        assert!(!products[0].input_grad && products[1..].iter().all(|p| p.input_grad));
        // The CIFAR ResNet-18 (3×3 stem, no max-pool) by stage: stem 3·64·9·32²; stage 1 four
        // 64 → 64 convolutions at 32²; stages 2–4 each cost the same (channels double, the
        // plane shrinks 4×): C → 2C stride 2, three 2C → 2C, the 1×1 shortcut, at stage 2
        // 64 → 128 on 16². 555.4 M multiply-adds, the "0.56 G" usually quoted.
        let stem = 3 * 64 * 9 * 1024;
        let stage1 = 4 * 64 * 64 * 9 * 1024;
        let stage = 64 * 128 * 9 * 256 + 3 * 128 * 128 * 9 * 256 + 64 * 128 * 256;
        let resnet: u64 = stem + stage1 + 3 * stage;
        assert_eq!(resnet, 555_417_600);
        let projector = 512 * 512 + 512 * 128;
        let forward: u64 = products.iter().map(|p| p.macs).sum();
        assert_eq!(forward, resnet + projector);
        // Per image: two views × (online 3 passes less the stem's input gradient + target
        // forward) ≈ 8 forward passes.
        let per_image = flops_per_item(&branch, &config, 64);
        let rough = 2.0 * 8.0 * forward as f64;
        assert!((per_image / rough - 1.0).abs() < 0.01, "{per_image} vs {rough}");
    }
}
