//! Influence balancing (Tallec & Ollivier 2017, UORO; paper §5.1, Fig. 4).
//!
//! `s ∈ R²³` starts at ones and evolves as `s ← A s + θ·b`, `A = 0.5 I + 0.5 U` (`U` the
//! superdiagonal), `b` = ten +1 then thirteen −1. The loss of an unroll is `½(s₀ − 1)²` of
//! its final state; the episode never ends. At the fixed point `s₀ = −6θ`, so the optimum is
//! `θ* = −1/6`. Short truncations see only the direct, positive influence of θ on `s₀` and
//! push θ the wrong way; PES and RTRL account for the long-term negative influence.

use crate::problems::{UnrolledProblem, Window, matrix};
use burn::tensor::{Device, Tensor};

/// The influence-balancing system.
#[derive(Debug, Clone)]
pub struct InfluenceBalancing {
    /// State size (23).
    pub n: usize,
    /// Number of leading +1 entries of `b` (10).
    pub positives: usize,
    /// Episode length; `None` (the paper's setting) never resets. Tests use a finite one.
    pub horizon: Option<usize>,
}

impl Default for InfluenceBalancing {
    fn default() -> Self {
        Self {
            n: 23,
            positives: 10,
            horizon: None,
        }
    }
}

impl InfluenceBalancing {
    /// `Aᵀ` (row-major `n × n`), so that a row-vector state updates as `s Aᵀ`.
    fn a_transposed(&self) -> Vec<f64> {
        let n = self.n;
        let mut at = vec![0.0; n * n];
        for i in 0..n {
            at[i * n + i] = 0.5;
            if i + 1 < n {
                // A[i][i+1] = 0.5  ⇒  Aᵀ[i+1][i] = 0.5
                at[(i + 1) * n + i] = 0.5;
            }
        }
        at
    }

    /// The sign vector `b`.
    pub fn signs(&self) -> Vec<f64> {
        (0..self.n)
            .map(|i| if i < self.positives { 1.0 } else { -1.0 })
            .collect()
    }

    /// The optimum `θ* = 1 / (2 Σ b)` of the steady-state loss (−1/6 for 10 and 13).
    pub fn optimum(&self) -> f64 {
        1.0 / (2.0 * self.signs().iter().sum::<f64>())
    }

    /// Exact (f64) total loss and its derivative for a constant θ: the loss of every
    /// `k`-step window summed over `steps` steps from the initial state (forward-mode
    /// sensitivity `ds/dθ ← A ds/dθ + b`). The loss is quadratic in θ, so Gaussian smoothing
    /// of θ only adds a constant and this is also the gradient PES is unbiased for.
    pub fn exact(&self, theta: f64, steps: usize, k: usize) -> (f64, f64) {
        let windows: Vec<(usize, bool)> = (0..steps / k).map(|_| (k, false)).collect();
        self.exact_windows(theta, &windows)
    }

    /// As [`InfluenceBalancing::exact`] for an arbitrary sequence of windows `(steps,
    /// ends_episode)`: the loss is taken at the end of every window and the state (and its
    /// sensitivity) restart from ones after a window that ends an episode.
    pub fn exact_windows(&self, theta: f64, windows: &[(usize, bool)]) -> (f64, f64) {
        let n = self.n;
        let b = self.signs();
        let mut s = vec![1.0; n];
        let mut ds = vec![0.0; n];
        let (mut loss, mut grad) = (0.0, 0.0);
        for &(steps, ends) in windows {
            for _ in 0..steps {
                for i in 0..n {
                    let next = if i + 1 < n { s[i + 1] } else { 0.0 };
                    let dnext = if i + 1 < n { ds[i + 1] } else { 0.0 };
                    s[i] = 0.5 * s[i] + 0.5 * next + theta * b[i];
                    ds[i] = 0.5 * ds[i] + 0.5 * dnext + b[i];
                }
            }
            loss += 0.5 * (s[0] - 1.0).powi(2);
            grad += (s[0] - 1.0) * ds[0];
            if ends {
                s.iter_mut().for_each(|v| *v = 1.0);
                ds.iter_mut().for_each(|v| *v = 0.0);
            }
        }
        (loss, grad)
    }

    /// Loss of a fresh `steps`-step unroll (final state) for each θ (the paper's metric).
    pub fn eval_losses(&self, thetas: &[f64], steps: usize, device: &Device) -> Vec<f64> {
        let t = matrix(thetas, thetas.len(), 1, device);
        let s = self.init_state(thetas.len(), device);
        let (_, terms) = self.unroll(
            s,
            t,
            Window {
                episode: 0,
                t0: 0,
                steps,
            },
        );
        crate::problems::row_sums(terms, "influence evaluation")
            .unwrap_or_else(|_| vec![f64::INFINITY; thetas.len()])
    }
}

impl UnrolledProblem for InfluenceBalancing {
    type State = Tensor<2>;

    fn name(&self) -> &'static str {
        "influence-balancing"
    }
    fn theta_dim(&self) -> usize {
        1
    }
    fn horizon(&self) -> Option<usize> {
        self.horizon
    }
    fn init_state(&self, particles: usize, device: &Device) -> Tensor<2> {
        Tensor::ones([particles, self.n], device)
    }
    fn unroll(&self, state: Tensor<2>, thetas: Tensor<2>, window: Window) -> (Tensor<2>, Tensor<2>) {
        let device = thetas.device();
        let at = matrix(&self.a_transposed(), self.n, self.n, &device);
        let drive = thetas * matrix(&self.signs(), 1, self.n, &device);
        let mut s = state;
        for _ in 0..window.steps {
            s = s.matmul(at.clone()) + drive.clone();
        }
        let s0 = s.clone().narrow(1, 0, 1);
        let loss = (s0 - 1.0).powi_scalar(2) * 0.5;
        (s, loss)
    }
}
