//! Influence balancing (Tallec & Ollivier 2017, UORO; paper §5.1, Fig. 3).
//!
//! `s ∈ R²³` starts at ones and evolves as `s ← A s + θ·b`, `A = 0.5 I + 0.5 U` (`U` the
//! superdiagonal), `b` = ten +1 then thirteen −1. The loss of an unroll is `½(s₀ − 1)²` of
//! its final state; the episode never ends. Computed in f64 on the host ([`host`](super::host)). At the fixed point `s₀ = −6θ`, so the optimum is
//! `θ* = −1/6`. Short truncations see only the direct, positive influence of θ on `s₀` and
//! push θ the wrong way; PES and RTRL account for the long-term negative influence.

use crate::problems::host::{HostDynamics, HostState, StepJacobians, host_unroll};
use crate::problems::{UnrolledProblem, Window};
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

    /// Loss of a fresh `steps`-step unroll (final state) for each θ (the paper's metric), in
    /// f64.
    pub fn eval_losses(&self, thetas: &[f64], steps: usize) -> Vec<f64> {
        thetas
            .iter()
            .map(|&th| {
                let mut s = self.initial();
                (0..steps).fold(0.0, |_, t| self.step(&mut s, &[th], t, t + 1 == steps))
            })
            .collect()
    }
}

impl HostDynamics for InfluenceBalancing {
    fn state_size(&self) -> usize {
        self.n
    }
    fn dim(&self) -> usize {
        1
    }
    fn initial(&self) -> Vec<f64> {
        vec![1.0; self.n]
    }
    /// `s ← A s + θ b`; the loss `½(s₀ − 1)²` at the end of the window.
    fn step(&self, s: &mut [f64], theta: &[f64], _t: usize, last: bool) -> f64 {
        let n = self.n;
        for i in 0..n {
            let next = if i + 1 < n { s[i + 1] } else { 0.0 };
            let b = if i < self.positives { 1.0 } else { -1.0 };
            s[i] = 0.5 * s[i] + 0.5 * next + theta[0] * b;
        }
        if last { 0.5 * (s[0] - 1.0).powi(2) } else { 0.0 }
    }
    fn jacobians(&self, s: &[f64], theta: &[f64], t: usize, last: bool) -> StepJacobians {
        let n = self.n;
        let mut fs = vec![0.0; n * n];
        for i in 0..n {
            fs[i * n + i] = 0.5;
            if i + 1 < n {
                fs[i * n + i + 1] = 0.5;
            }
        }
        let ftheta = self.signs();
        let (mut ls, mut ltheta) = (vec![0.0; n], vec![0.0]);
        if last {
            let mut next = s.to_vec();
            self.step(&mut next, theta, t, false);
            let r = next[0] - 1.0;
            for j in 0..n {
                ls[j] = r * fs[j];
            }
            ltheta[0] = r * ftheta[0];
        }
        StepJacobians {
            fs,
            ftheta,
            ls,
            ltheta,
        }
    }
}

impl UnrolledProblem for InfluenceBalancing {
    type State = HostState;

    fn name(&self) -> &'static str {
        "influence-balancing"
    }
    fn theta_dim(&self) -> usize {
        1
    }
    fn horizon(&self) -> Option<usize> {
        self.horizon
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
