//! Variance of PES against the number of unrolls (paper §5.4, Fig. 7).
//!
//! The paper's model: a character-level LSTM with 5 hidden units ([`CharLstm`]) and a fixed
//! θ₀. For a sequence of T characters the PES gradient of the whole sequence is the sum of the
//! T/K per-truncation estimates; its normalised variance `E‖ĝ − g‖² / ‖g‖²` is measured over
//! repeats for each K and plotted against the number of unrolls T/K. The reference gradient
//! `g` is the exact gradient of the sequence's total loss (forward mode in f64, equal to full
//! BPTT; the paper uses ES with 5000 particles at σ = 1e-3, whose smoothing bias is O(σ²)).
//! The theory (§4.2) predicts a flat curve when the truncations' gradients are strongly
//! correlated (a repeated character), growth with T/K when they are not (random characters),
//! and real text in between. Penn Treebank is not available offline: the real text is an
//! English text file read at run time ([`VarianceConfig::text`]).

use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind, build};
use crate::problems::lstm::{CharLstm, TextSequence, load_text};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of the variance experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VarianceConfig {
    /// Hidden units (and embedding size) of the LSTM.
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
    /// The sequences, one curve each.
    pub sequences: Vec<TextSequence>,
    /// English text file of the real-text sequence (also defines the vocabulary of all
    /// three sequences).
    pub text: PathBuf,
    /// Character offset of the real-text sequence in the normalised text.
    pub text_offset: usize,
    /// Seed of θ₀, the random sequence and the perturbations.
    pub seed: u64,
}

/// The real text read when the config names none: present on every Debian system.
pub const DEFAULT_TEXT: &str = "/usr/share/common-licenses/GPL-3";

impl Default for VarianceConfig {
    /// The reference script's settings: T = 1000, N = 1000, σ = 1e-3, K from 1 to T.
    fn default() -> Self {
        Self {
            hidden: 5,
            length: 1000,
            truncations: vec![1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
            particles: 1000,
            sigma: 1e-3,
            repeats: 20,
            sequences: vec![TextSequence::Real, TextSequence::Repeat, TextSequence::Random],
            text: PathBuf::from(DEFAULT_TEXT),
            text_offset: 0,
            seed: 0,
        }
    }
}

impl VarianceConfig {
    /// A shorter sequence and fewer particles (seconds).
    pub fn quick() -> Self {
        Self {
            length: 100,
            truncations: vec![1, 2, 5, 10, 20, 50, 100],
            particles: 100,
            ..Self::default()
        }
    }
}

/// One curve of the figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VarianceCurve {
    /// Which sequence.
    pub sequence: TextSequence,
    /// `(T/K, normalised variance)` per K.
    pub points: Vec<(usize, f64)>,
    /// Standard error of each point (over the repeats).
    pub std_errors: Vec<f64>,
    /// `‖g‖²` of the reference gradient.
    pub grad_norm2: f64,
    /// Vocabulary size of the LSTM (θ has `V·H + 8H² + 4H + H·V + V` entries).
    pub vocab: usize,
    /// Wall-clock seconds of the curve.
    pub seconds: f64,
}

/// Runs the experiment for every sequence kind.
pub fn run(config: &VarianceConfig, device: &Device) -> Result<Vec<VarianceCurve>> {
    let text = load_text(&config.text)?;
    let mut curves = Vec::new();
    for &kind in &config.sequences {
        let start = std::time::Instant::now();
        let problem = CharLstm::new(
            kind,
            &text,
            config.hidden,
            config.length,
            config.text_offset,
            config.seed,
        )?;
        let theta = problem.init_theta(config.seed + 1);
        let exact = {
            let cfg = EstimatorConfig::new(EstimatorKind::Tbptt, config.length, 1, 0.0);
            build(&cfg, &problem, device)?.estimate(&problem, &theta)?.grad
        };
        let norm2: f64 = exact.iter().map(|g| g * g).sum();
        let (mut points, mut std_errors) = (Vec::new(), Vec::new());
        for &k in &config.truncations {
            let calls = config.length / k;
            let mut errors = Vec::with_capacity(config.repeats);
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
                let err: f64 = g.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum();
                errors.push(err / norm2);
            }
            let n = errors.len() as f64;
            let mean = errors.iter().sum::<f64>() / n;
            let var = errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            points.push((calls, mean));
            std_errors.push((var / n).sqrt());
            eprintln!(
                "{kind}: K = {k}, T/K = {calls}: {mean:.4e} ± {:.1e}",
                (var / n).sqrt()
            );
        }
        curves.push(VarianceCurve {
            sequence: kind,
            points,
            std_errors,
            grad_norm2: norm2,
            vocab: problem.vocab,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(curves)
}
