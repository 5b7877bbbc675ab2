//! Variance of PES against the number of unrolls (paper §5.4, Fig. 7).
//!
//! For a fixed θ and a sequence of T tokens, the PES gradient of the whole sequence is the
//! sum of the T/K per-truncation estimates. Its normalised variance
//! `E‖ĝ − g‖² / ‖g‖²` is measured over repeats for each K and plotted against the number of
//! unrolls T/K. The reference gradient `g` is exact full BPTT of the sequence (the paper uses
//! ES with 5000 particles and σ = 1e-3 instead; with our σ = 0.01 the smoothing bias is
//! negligible). The theory (§4.2) predicts a flat curve when the truncations' gradients are
//! strongly correlated (a repeated token) and growth with T/K when they are not (random
//! tokens). Penn Treebank is not available offline; see [`crate::problems::rnn`].

use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind, build};
use crate::problems::rnn::{CharRnn, SequenceKind};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Settings of the variance experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VarianceConfig {
    /// Vocabulary size of the RNN.
    pub vocab: usize,
    /// Hidden units of the RNN.
    pub hidden: usize,
    /// Sequence length T.
    pub length: usize,
    /// Truncation lengths (divisors of T).
    pub truncations: Vec<usize>,
    /// PES particles N.
    pub particles: usize,
    /// PES perturbation σ.
    pub sigma: f64,
    /// Repeats per K.
    pub repeats: usize,
    /// Std of the random θ.
    pub theta_scale: f64,
    /// The sequences, one curve each.
    pub sequences: Vec<SequenceKind>,
    /// Seed of the sequences, θ and the perturbations.
    pub seed: u64,
}

impl Default for VarianceConfig {
    fn default() -> Self {
        Self {
            vocab: 8,
            hidden: 5,
            length: 200,
            truncations: vec![1, 2, 5, 10, 20, 50, 100, 200],
            particles: 100,
            sigma: 0.01,
            repeats: 50,
            theta_scale: 0.5,
            sequences: vec![SequenceKind::Repeat, SequenceKind::Random],
            seed: 0,
        }
    }
}

impl VarianceConfig {
    /// Fewer repeats and a shorter sequence.
    pub fn quick() -> Self {
        Self {
            length: 100,
            truncations: vec![1, 2, 5, 10, 20, 50, 100],
            repeats: 20,
            ..Self::default()
        }
    }
}

/// One curve of the figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VarianceCurve {
    /// Which sequence.
    pub sequence: SequenceKind,
    /// `(T/K, normalised variance)` per K.
    pub points: Vec<(usize, f64)>,
}

/// Runs the experiment for every sequence kind.
pub fn run(config: &VarianceConfig, device: &Device) -> Result<Vec<VarianceCurve>> {
    let mut curves = Vec::new();
    for &kind in &config.sequences {
        let problem = CharRnn::new(kind, config.vocab, config.hidden, config.length, config.seed);
        let theta = problem.random_theta(config.theta_scale, config.seed + 1);
        let exact = {
            let cfg = EstimatorConfig::new(EstimatorKind::Tbptt, config.length, 1, 0.0);
            build(&cfg, &problem, device)?.estimate(&problem, &theta)?.grad
        };
        let norm2: f64 = exact.iter().map(|g| g * g).sum();
        let mut points = Vec::new();
        for &k in &config.truncations {
            let calls = config.length / k;
            let mut total = 0.0;
            for r in 0..config.repeats {
                let seed = config.seed * 1_000_003 + (k as u64) * 10_007 + r as u64;
                let cfg = EstimatorConfig::new(EstimatorKind::Pes, k, config.particles, config.sigma)
                    .with_seed(seed);
                let mut pes = build(&cfg, &problem, device)?;
                let mut g = vec![0.0; theta.len()];
                for _ in 0..calls {
                    let e = pes.estimate(&problem, &theta)?;
                    g.iter_mut().zip(&e.grad).for_each(|(a, b)| *a += b);
                }
                total += g.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            }
            points.push((calls, total / config.repeats as f64 / norm2));
        }
        curves.push(VarianceCurve {
            sequence: kind,
            points,
        });
    }
    Ok(curves)
}
