//! A character-level LSTM on a fixed sequence — the paper's model of the variance study
//! (§5.4, Fig. 7: an LSTM with 5 hidden units on Penn Treebank characters), computed in f64
//! on the host ([`host`](super::host)) with exact step derivatives.
//!
//! Per step, with `e = E[x_t]` the embedding (size H) of the input character:
//! `z = W_iᵀ e + W_hᵀ h + b` (4H), `f, i, o = σ(z₁), σ(z₂), σ(z₃)`, `g = tanh(z₄)`,
//! `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`; the loss term is the cross-entropy of the next
//! character `x_{t+1}` under `softmax(W_yᵀ h' + c_y)`. θ holds every weight, flattened in the
//! order `E [V×H], W_i [H×4H], W_h [H×4H], b [4H], W_y [H×V], c_y [V]`; the inner state is
//! `(h, c)`. The episode never ends (T = ∞ inside the estimators); step `t` reads position
//! `t mod len` of the sequence.
//!
//! The sequences ([`TextSequence`]): characters of real English text (Penn Treebank is not
//! available offline; the text is read at run time, see [`load_text`]), the text's first
//! character repeated, or uniformly random characters over the same vocabulary — the
//! reference script's `real`, `repeat` and `random` scenarios.

use crate::error::{PesError, Result};
use crate::problems::host::{HostDynamics, HostState, StepJacobians, host_unroll};
use crate::problems::{UnrolledProblem, Window};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which character sequence (one curve of Fig. 7 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum TextSequence {
    /// Consecutive characters of real English text.
    Real,
    /// The text's first character repeated (every truncation sees the same data).
    Repeat,
    /// Independent uniform characters over the text's vocabulary.
    Random,
}

impl std::fmt::Display for TextSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TextSequence::Real => "real text",
            TextSequence::Repeat => "repeated character",
            TextSequence::Random => "random characters",
        })
    }
}

/// Text normalised like Penn Treebank characters: lower case, every run of whitespace one
/// space.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(ch.to_lowercase());
    }
    out
}

/// The text at `path`, [normalised](normalise); an error names the path when it cannot be
/// read.
pub fn load_text(path: &Path) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| {
        PesError::Config(format!(
            "cannot read the real-text sequence from {} ({e}); set `text` in the variance config \
             to an English text file",
            path.display()
        ))
    })?;
    Ok(normalise(&raw))
}

/// The character-level LSTM problem.
#[derive(Debug, Clone)]
pub struct CharLstm {
    /// Vocabulary size V (distinct characters of the text).
    pub vocab: usize,
    /// Hidden units H (also the embedding size, as in the reference script).
    pub hidden: usize,
    /// The token sequence (one more than the number of predicted characters).
    pub tokens: Vec<usize>,
}

/// Offsets of the weight blocks in θ.
struct Layout {
    wi: usize,
    wh: usize,
    b: usize,
    wy: usize,
    c: usize,
    dim: usize,
}

/// Intermediate values of one forward step.
struct Forward {
    f: Vec<f64>,
    i: Vec<f64>,
    o: Vec<f64>,
    g: Vec<f64>,
    tanh_c: Vec<f64>,
    h: Vec<f64>,
    c: Vec<f64>,
    /// `softmax − onehot(y)`: the loss's derivative in the logits.
    dlogits: Vec<f64>,
    loss: f64,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl CharLstm {
    /// An LSTM with `hidden` units on `len` predictions of `kind` built from `text` (already
    /// [normalised](normalise)); the vocabulary is the text's distinct characters. `offset`:
    /// where the real-text sequence starts; `seed`: the random sequence.
    pub fn new(
        kind: TextSequence,
        text: &str,
        hidden: usize,
        len: usize,
        offset: usize,
        seed: u64,
    ) -> Result<Self> {
        let chars: Vec<char> = text.chars().collect();
        let mut alphabet = chars.clone();
        alphabet.sort_unstable();
        alphabet.dedup();
        let vocab = alphabet.len();
        if vocab < 2 || chars.len() < offset + len + 1 {
            return Err(PesError::Config(format!(
                "the text has {} characters ({vocab} distinct); the sequence needs {} from offset {offset} \
                 and at least 2 distinct",
                chars.len(),
                len + 1
            )));
        }
        let id = |ch: &char| alphabet.binary_search(ch).expect("in the alphabet");
        let tokens = match kind {
            TextSequence::Real => chars[offset..offset + len + 1].iter().map(id).collect(),
            TextSequence::Repeat => vec![id(&chars[offset]); len + 1],
            TextSequence::Random => {
                let mut rng = StdRng::seed_from_u64(seed);
                (0..=len).map(|_| rng.random_range(0..vocab)).collect()
            }
        };
        Ok(Self {
            vocab,
            hidden,
            tokens,
        })
    }

    /// Number of predicted characters (the sequence length T).
    pub fn len(&self) -> usize {
        self.tokens.len() - 1
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn layout(&self) -> Layout {
        let (v, h) = (self.vocab, self.hidden);
        let wi = v * h;
        let wh = wi + 4 * h * h;
        let b = wh + 4 * h * h;
        let wy = b + 4 * h;
        let c = wy + h * v;
        Layout {
            wi,
            wh,
            b,
            wy,
            c,
            dim: c + v,
        }
    }

    /// θ₀ as in the reference's initialisers: embedding `U(−0.1, 0.1)`, weight matrices
    /// `N(0, 1/fan_in)` (fan-in H), biases 0.
    pub fn init_theta(&self, seed: u64) -> Vec<f64> {
        let l = self.layout();
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(0.0, 1.0 / (self.hidden as f64).sqrt()).expect("std > 0");
        let mut theta = vec![0.0; l.dim];
        for (k, t) in theta.iter_mut().enumerate() {
            *t = if k < l.wi {
                rng.random_range(-0.1..0.1)
            } else if (l.wi..l.b).contains(&k) || (l.wy..l.c).contains(&k) {
                rand_distr::Distribution::sample(&normal, &mut rng)
            } else {
                0.0
            };
        }
        theta
    }

    /// One step from state `s`; `dlogits` is computed only when `with_dlogits` (the
    /// derivatives need it, the plain step does not).
    fn forward(&self, s: &[f64], theta: &[f64], t: usize, with_dlogits: bool) -> Forward {
        let (v, n) = (self.vocab, self.hidden);
        let l = self.layout();
        let pos = t % self.len();
        let (x, y) = (self.tokens[pos], self.tokens[pos + 1]);
        let e = &theta[x * n..(x + 1) * n];
        let (h0, c0) = s.split_at(n);
        let mut z = theta[l.b..l.b + 4 * n].to_vec();
        for a in 0..n {
            let (wi, wh) = (&theta[l.wi + a * 4 * n..], &theta[l.wh + a * 4 * n..]);
            for (j, zj) in z.iter_mut().enumerate() {
                *zj += wi[j] * e[a] + wh[j] * h0[a];
            }
        }
        let f: Vec<f64> = z[..n].iter().map(|&u| sigmoid(u)).collect();
        let i: Vec<f64> = z[n..2 * n].iter().map(|&u| sigmoid(u)).collect();
        let o: Vec<f64> = z[2 * n..3 * n].iter().map(|&u| sigmoid(u)).collect();
        let g: Vec<f64> = z[3 * n..].iter().map(|&u| u.tanh()).collect();
        let c: Vec<f64> = (0..n).map(|k| f[k] * c0[k] + i[k] * g[k]).collect();
        let tanh_c: Vec<f64> = c.iter().map(|u| u.tanh()).collect();
        let h: Vec<f64> = (0..n).map(|k| o[k] * tanh_c[k]).collect();
        let mut logits = theta[l.c..l.c + v].to_vec();
        for (k, hk) in h.iter().enumerate() {
            let row = &theta[l.wy + k * v..l.wy + (k + 1) * v];
            logits.iter_mut().zip(row).for_each(|(lg, w)| *lg += w * hk);
        }
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logits.iter().map(|u| (u - max).exp()).sum();
        let log_z = max + sum.ln();
        let loss = log_z - logits[y];
        let mut dlogits = Vec::new();
        if with_dlogits {
            dlogits = logits.iter().map(|u| (u - log_z).exp()).collect();
            dlogits[y] -= 1.0;
        }
        Forward {
            f,
            i,
            o,
            g,
            tanh_c,
            h,
            c,
            dlogits,
            loss,
        }
    }
}

impl HostDynamics for CharLstm {
    fn state_size(&self) -> usize {
        2 * self.hidden
    }
    fn dim(&self) -> usize {
        self.layout().dim
    }
    fn initial(&self) -> Vec<f64> {
        vec![0.0; 2 * self.hidden]
    }
    fn step(&self, s: &mut [f64], theta: &[f64], t: usize, _last: bool) -> f64 {
        let fw = self.forward(s, theta, t, false);
        let n = self.hidden;
        s[..n].copy_from_slice(&fw.h);
        s[n..].copy_from_slice(&fw.c);
        fw.loss
    }

    fn jacobians(&self, s: &[f64], theta: &[f64], t: usize, _last: bool) -> StepJacobians {
        let (v, n) = (self.vocab, self.hidden);
        let l = self.layout();
        let (d, sz) = (l.dim, 2 * n);
        let fw = self.forward(s, theta, t, true);
        let x = self.tokens[t % self.len()];
        let (h0, c0) = s.split_at(n);
        let mut fs = vec![0.0; sz * sz];
        let mut ftheta = vec![0.0; sz * d];
        for k in 0..n {
            // ∂c'/∂z for the forget, input and candidate pre-activations of unit k; ∂c'/∂c.
            let dc_df = c0[k] * fw.f[k] * (1.0 - fw.f[k]);
            let dc_di = fw.g[k] * fw.i[k] * (1.0 - fw.i[k]);
            let dc_dg = fw.i[k] * (1.0 - fw.g[k] * fw.g[k]);
            let dh_dc = fw.o[k] * (1.0 - fw.tanh_c[k] * fw.tanh_c[k]);
            let dh_do = fw.tanh_c[k] * fw.o[k] * (1.0 - fw.o[k]);
            // rows: h'_k then c'_k; entries (column of z, ∂row/∂z).
            let rows = [
                (
                    k,
                    [
                        (k, dh_dc * dc_df),
                        (n + k, dh_dc * dc_di),
                        (2 * n + k, dh_do),
                        (3 * n + k, dh_dc * dc_dg),
                    ],
                    dh_dc * fw.f[k],
                ),
                (
                    n + k,
                    [(k, dc_df), (n + k, dc_di), (2 * n + k, 0.0), (3 * n + k, dc_dg)],
                    fw.f[k],
                ),
            ];
            for (r, entries, dc_prev) in rows {
                fs[r * sz + n + k] = dc_prev;
                let ft = &mut ftheta[r * d..(r + 1) * d];
                for (j, gz) in entries {
                    if gz == 0.0 {
                        continue;
                    }
                    ft[l.b + j] += gz;
                    for a in 0..n {
                        let wi = theta[l.wi + a * 4 * n + j];
                        fs[r * sz + a] += gz * theta[l.wh + a * 4 * n + j];
                        ft[l.wh + a * 4 * n + j] += gz * h0[a];
                        ft[l.wi + a * 4 * n + j] += gz * theta[x * n + a];
                        ft[x * n + a] += gz * wi;
                    }
                }
            }
        }
        // The loss of the updated state: through h' and directly through W_y and c_y.
        let dh: Vec<f64> = (0..n)
            .map(|k| {
                let row = &theta[l.wy + k * v..l.wy + (k + 1) * v];
                row.iter().zip(&fw.dlogits).map(|(w, q)| w * q).sum()
            })
            .collect();
        let mut ls = vec![0.0; sz];
        let mut ltheta = vec![0.0; d];
        for (k, dk) in dh.iter().enumerate() {
            for (a, la) in ls.iter_mut().enumerate() {
                *la += dk * fs[k * sz + a];
            }
            for (lt, ft) in ltheta.iter_mut().zip(&ftheta[k * d..(k + 1) * d]) {
                *lt += dk * ft;
            }
            for (u, q) in fw.dlogits.iter().enumerate() {
                ltheta[l.wy + k * v + u] += fw.h[k] * q;
            }
        }
        for (u, q) in fw.dlogits.iter().enumerate() {
            ltheta[l.c + u] += q;
        }
        StepJacobians {
            fs,
            ftheta,
            ls,
            ltheta,
        }
    }
}

impl UnrolledProblem for CharLstm {
    type State = HostState;

    fn name(&self) -> &'static str {
        "char-lstm"
    }
    fn theta_dim(&self) -> usize {
        self.layout().dim
    }
    fn horizon(&self) -> Option<usize> {
        None
    }
    fn init_state(&self, particles: usize, _device: &Device) -> HostState {
        HostState::filled(&self.initial(), particles)
    }
    fn unroll(&self, state: HostState, thetas: Tensor<2>, window: Window) -> (HostState, Tensor<2>) {
        host_unroll(self, state, thetas, window)
    }
    fn host(&self) -> Option<&dyn HostDynamics> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.";

    fn total_loss(p: &CharLstm, theta: &[f64]) -> f64 {
        let mut s = p.initial();
        (0..p.len()).map(|t| p.step(&mut s, theta, t, false)).sum()
    }

    /// Exact forward-mode gradient of the whole sequence against central finite differences
    /// of the f64 loss, on every coordinate block (embedding, gates, biases, decoder).
    #[test]
    fn forward_mode_gradient_matches_finite_differences() {
        let text = normalise(TEXT);
        let p = CharLstm::new(TextSequence::Real, &text, 3, 12, 4, 0).unwrap();
        let mut theta = p.init_theta(1);
        // non-zero biases so that every derivative path is exercised
        let mut rng = StdRng::seed_from_u64(9);
        theta.iter_mut().for_each(|t| *t += rng.random_range(-0.3..0.3));
        let d = p.dim();
        let (mut s, mut jac) = (p.initial(), Vec::new());
        let mut grad = vec![0.0; d];
        for t in 0..p.len() {
            let (_, g) = crate::estimators::rtrl::forward_step(&p, &mut s, &theta, t, false, &mut jac);
            grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        }
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for k in 0..d {
            let mut a = theta.clone();
            a[k] += h;
            let mut b = theta.clone();
            b[k] -= h;
            let fd = (total_loss(&p, &a) - total_loss(&p, &b)) / (2.0 * h);
            worst = worst.max((fd - grad[k]).abs() / (1e-3 + fd.abs()));
        }
        assert!(worst < 1e-5, "worst relative error {worst:e}");
    }

    #[test]
    fn sequences_share_the_vocabulary() {
        let text = normalise("Ab  ab\n\tc");
        assert_eq!(text, "ab ab c");
        let real = CharLstm::new(TextSequence::Real, &text, 2, 6, 0, 0).unwrap();
        let rep = CharLstm::new(TextSequence::Repeat, &text, 2, 6, 0, 0).unwrap();
        let rnd = CharLstm::new(TextSequence::Random, &text, 2, 6, 0, 0).unwrap();
        assert_eq!((real.vocab, rep.vocab, rnd.vocab), (4, 4, 4));
        assert_eq!(real.tokens, vec![1, 2, 0, 1, 2, 0, 3]);
        assert!(rep.tokens.iter().all(|&x| x == 1));
        assert!(CharLstm::new(TextSequence::Real, &text, 2, 7, 0, 0).is_err());
        let missing = Path::new("/nonexistent/english.txt");
        let err = load_text(missing).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/english.txt"), "{err}");
    }
}
