//! A small character-level RNN on a fixed token sequence — the stand-in for the paper's
//! LSTM on Penn Treebank characters in the variance experiment (§5.4, Fig. 7). Penn Treebank
//! is not available offline, so the sequences are synthetic: one token repeated, or
//! uniformly random tokens.
//!
//! `h_{t+1} = tanh(W_x[x_t] + W_h h_t + b)`, logits `W_y h_{t+1} + c`, loss the
//! cross-entropy of the next token `x_{t+1}`. θ holds every weight (flattened); the inner
//! state is only the hidden state. Every particle has its own weights (row of `thetas`),
//! applied by batched matrix products. The episode never ends (T = ∞ inside the
//! estimator); the sequence is `len` tokens and step `t` reads token `t mod len`.

use crate::problems::{UnrolledProblem, Window};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which synthetic sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SequenceKind {
    /// One token repeated (strongly correlated truncations).
    Repeat,
    /// Independent uniform tokens.
    Random,
}

/// The RNN problem.
#[derive(Debug, Clone)]
pub struct CharRnn {
    /// Vocabulary size.
    pub vocab: usize,
    /// Hidden units.
    pub hidden: usize,
    /// The token sequence (one more than the number of predicted tokens).
    pub tokens: Vec<usize>,
}

impl CharRnn {
    /// An RNN on `len` predictions of the given sequence kind.
    pub fn new(kind: SequenceKind, vocab: usize, hidden: usize, len: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let tokens = match kind {
            SequenceKind::Repeat => vec![rng.random_range(0..vocab); len + 1],
            SequenceKind::Random => (0..=len).map(|_| rng.random_range(0..vocab)).collect(),
        };
        Self {
            vocab,
            hidden,
            tokens,
        }
    }

    /// Number of predicted tokens (the sequence length T).
    pub fn len(&self) -> usize {
        self.tokens.len() - 1
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A random θ (`N(0, scale²)` entries).
    pub fn random_theta(&self, scale: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(0.0, scale).unwrap();
        (0..self.theta_dim())
            .map(|_| rand_distr::Distribution::sample(&normal, &mut rng))
            .collect()
    }
}

impl UnrolledProblem for CharRnn {
    type State = Tensor<2>;

    fn name(&self) -> &'static str {
        "char-rnn"
    }
    fn theta_dim(&self) -> usize {
        let (v, h) = (self.vocab, self.hidden);
        v * h + h * h + h + h * v + v
    }
    fn horizon(&self) -> Option<usize> {
        None
    }
    fn init_state(&self, particles: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([particles, self.hidden], device)
    }
    fn unroll(&self, state: Tensor<2>, thetas: Tensor<2>, window: Window) -> (Tensor<2>, Tensor<2>) {
        let (v, h) = (self.vocab, self.hidden);
        let p = thetas.dims()[0];
        let device = thetas.device();
        let mut at = 0;
        let mut take = |n: usize| {
            let t = thetas.clone().narrow(1, at, n);
            at += n;
            t
        };
        let wx = take(v * h).reshape([p, v, h]);
        let wh = take(h * h).reshape([p, h, h]);
        let b = take(h);
        let wy = take(h * v).reshape([p, h, v]);
        let c = take(v);
        let mut hs = state;
        let mut terms = Vec::with_capacity(window.steps);
        for i in 0..window.steps {
            let t = (window.t0 + i) % self.len();
            let (x, y) = (self.tokens[t], self.tokens[t + 1]);
            let input = wx.clone().narrow(1, x, 1).reshape([p, h]);
            let recur = hs.unsqueeze_dim::<3>(1).matmul(wh.clone()).reshape([p, h]);
            hs = (input + recur + b.clone()).tanh();
            let logits = hs
                .clone()
                .unsqueeze_dim::<3>(1)
                .matmul(wy.clone())
                .reshape([p, v])
                + c.clone();
            let mut onehot = vec![0.0f32; v];
            onehot[y] = 1.0;
            let target = Tensor::<2>::from_data(TensorData::new(onehot, [1, v]), &device);
            terms.push((log_softmax(logits, 1) * target).sum_dim(1).neg());
        }
        (hs, Tensor::cat(terms, 1))
    }
}
