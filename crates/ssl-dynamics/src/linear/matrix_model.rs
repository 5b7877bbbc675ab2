//! The full-matrix linear model (paper Sec. 3, Eq. 1–3): online encoder `W ∈ ℝ^{n×d}`, linear
//! predictor `W_p ∈ ℝ^{n×n}`, target `W_a`, loss `½ E‖W_p W x₁ − StopGrad(W_a x₂)‖²` with
//! `x₁ = x + e₁`, `x₂ = x + e₂`, `E[xxᵀ] = X`, `E[eeᵀ] = X'`.
//!
//! Gradient flow (with stop-gradient):
//! ```text
//! Ẇ_p = α_p (−W_p W (X+X') + W_a X) Wᵀ − η_p W_p
//! Ẇ   = W_pᵀ (−W_p W (X+X') + W_a X) − η W
//! Ẇ_a = β (W − W_a)                      (W_a = W without EMA)
//! ```
//! Without stop-gradient (`W_a = W` and the gradient also flows through the target branch)
//! `Ẇ` gains `−W(X+X') + W_p W X` and `d‖W‖²/dt ≤ −2η‖W‖²` (paper Theorem 1): collapse.
//!
//! [`MatrixFlow`] integrates the flow with RK4; [`SgdTrainer`] trains the same model by
//! minibatch SGD on Gaussian samples, computing the gradients of the sampled loss by hand.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Options shared by the flow and the SGD trainer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearHyper {
    /// Relative learning rate of the predictor, `α_p`.
    pub alpha_p: f64,
    /// Weight decay of `W`, `η`.
    pub eta: f64,
    /// Weight decay of `W_p`, `η_p`.
    pub eta_p: f64,
    /// EMA rate `β` of the target; `None`: `W_a = W` (SimSiam).
    pub beta: Option<f64>,
    /// Stop the gradient at the target branch (BYOL/SimSiam); `false` is the collapsing control.
    pub stop_gradient: bool,
    /// Keep `W_p` symmetric by symmetrising its update (the paper's symmetric-predictor setting).
    pub symmetric_predictor: bool,
}

impl LinearHyper {
    /// SimSiam-style defaults: `α_p = 1`, `η_p = η`, no EMA, stop-gradient, free predictor.
    pub fn new(eta: f64) -> Self {
        Self {
            alpha_p: 1.0,
            eta,
            eta_p: eta,
            beta: None,
            stop_gradient: true,
            symmetric_predictor: false,
        }
    }
}

/// Weights of the linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearState {
    /// Online weight `W`.
    pub w: DMatrix<f64>,
    /// Predictor `W_p`.
    pub wp: DMatrix<f64>,
    /// Target weight `W_a`.
    pub wa: DMatrix<f64>,
}

impl LinearState {
    /// Gaussian `W` (entries `N(0, w_scale²/d)`) and `W_p = p0·I + N(0, wp_noise²)`; `W_a = W`.
    pub fn random(n: usize, d: usize, w_scale: f64, p0: f64, wp_noise: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut g = || -> f64 { StandardNormal.sample(&mut rng) };
        let w = DMatrix::from_fn(n, d, |_, _| g() * w_scale / (d as f64).sqrt());
        let wp = DMatrix::from_fn(n, n, |i, j| if i == j { p0 } else { 0.0 } + g() * wp_noise);
        Self { wa: w.clone(), w, wp }
    }

    /// `F = W Wᵀ`.
    pub fn f(&self) -> DMatrix<f64> {
        &self.w * self.w.transpose()
    }

    /// Relative commutator `‖F W_p − W_p F‖ / (‖F‖ ‖W_p‖)` (Frobenius norms).
    pub fn commutator(&self) -> f64 {
        let f = self.f();
        let c = &f * &self.wp - &self.wp * &f;
        let denom = f.norm() * self.wp.norm();
        if denom > 0.0 { c.norm() / denom } else { 0.0 }
    }

    /// Singular values of `W_p`, largest first.
    pub fn predictor_singular_values(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.wp.clone().singular_values().iter().copied().collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v
    }

    /// Eigenvalues of `F`, largest first.
    pub fn f_eigenvalues(&self) -> Vec<f64> {
        let mut v: Vec<f64> = SymmetricEigen::new(self.f())
            .eigenvalues
            .iter()
            .copied()
            .collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v
    }

    fn axpy(&self, h: f64, d: &LinearState) -> LinearState {
        LinearState {
            w: &self.w + &d.w * h,
            wp: &self.wp + &d.wp * h,
            wa: &self.wa + &d.wa * h,
        }
    }
}

/// Population gradient flow with data covariance `x` and augmentation covariance `x_aug`.
#[derive(Debug, Clone)]
pub struct MatrixFlow {
    /// Data covariance `X`.
    pub x: DMatrix<f64>,
    /// Augmentation covariance `X'`.
    pub x_aug: DMatrix<f64>,
    /// Learning rates, weight decays, EMA, stop-gradient.
    pub hyper: LinearHyper,
}

impl MatrixFlow {
    /// Time derivative of the weights.
    pub fn derivative(&self, s: &LinearState) -> LinearState {
        let h = &self.hyper;
        let wa = if h.beta.is_some() { &s.wa } else { &s.w };
        let x_sum = &self.x + &self.x_aug;
        // −W_p W (X+X') + W_a X : minus the residual's correlation with x₁.
        let g = -(&s.wp * &s.w * &x_sum) + wa * &self.x;
        let mut dwp = (&g * s.w.transpose()) * h.alpha_p - &s.wp * h.eta_p;
        if h.symmetric_predictor {
            dwp = (&dwp + dwp.transpose()) * 0.5;
        }
        let mut dw = s.wp.transpose() * &g - &s.w * h.eta;
        if !h.stop_gradient {
            // Gradient through the target branch, with W_a = W.
            dw += -(&s.w * &x_sum) + &s.wp * &s.w * &self.x;
        }
        let dwa = match h.beta {
            Some(beta) => (&s.w - &s.wa) * beta,
            None => DMatrix::zeros(s.wa.nrows(), s.wa.ncols()),
        };
        LinearState {
            w: dw,
            wp: dwp,
            wa: dwa,
        }
    }

    /// One RK4 step.
    pub fn rk4_step(&self, s: &LinearState, h: f64) -> LinearState {
        let k1 = self.derivative(s);
        let k2 = self.derivative(&s.axpy(h / 2.0, &k1));
        let k3 = self.derivative(&s.axpy(h / 2.0, &k2));
        let k4 = self.derivative(&s.axpy(h, &k3));
        LinearState {
            w: &s.w + (&k1.w + &k2.w * 2.0 + &k3.w * 2.0 + &k4.w) * (h / 6.0),
            wp: &s.wp + (&k1.wp + &k2.wp * 2.0 + &k3.wp * 2.0 + &k4.wp) * (h / 6.0),
            wa: &s.wa + (&k1.wa + &k2.wa * 2.0 + &k3.wa * 2.0 + &k4.wa) * (h / 6.0),
        }
    }

    /// Integrates to `t_end`, calling `observe(t, state)` about `samples` times.
    pub fn integrate(
        &self,
        mut s: LinearState,
        t_end: f64,
        dt: f64,
        samples: usize,
        mut observe: impl FnMut(f64, &LinearState),
    ) -> LinearState {
        let steps = (t_end / dt).ceil().max(1.0) as usize;
        let h = t_end / steps as f64;
        let every = (steps / samples.max(1)).max(1);
        observe(0.0, &s);
        for k in 1..=steps {
            s = self.rk4_step(&s, h);
            if self.hyper.beta.is_none() {
                s.wa = s.w.clone();
            }
            if k % every == 0 || k == steps {
                observe(k as f64 * h, &s);
            }
        }
        s
    }
}

/// Synthetic data: `x ~ N(0, diag(1,…,1 (signal), 0,…,0 (nuisance)))`, views
/// `x_v = x + e_v` with `e_v ~ N(0, σ²I)`. Nuisance directions carry only augmentation noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyntheticData {
    /// Input dimension `d`.
    pub dim: usize,
    /// Signal directions (the first `signal` coordinates).
    pub signal: usize,
    /// Augmentation noise variance `σ²`.
    pub sigma2: f64,
}

impl SyntheticData {
    /// Population covariances `(X, X')`.
    pub fn covariances(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        let x = DMatrix::from_fn(self.dim, self.dim, |i, j| {
            if i == j && i < self.signal { 1.0 } else { 0.0 }
        });
        (x, DMatrix::identity(self.dim, self.dim) * self.sigma2)
    }

    /// A batch of two views, each `d × B` (samples are columns).
    pub fn sample(&self, batch: usize, rng: &mut StdRng) -> (DMatrix<f64>, DMatrix<f64>) {
        let sd = self.sigma2.sqrt();
        let mut g = || -> f64 { StandardNormal.sample(rng) };
        let x = DMatrix::from_fn(self.dim, batch, |i, _| if i < self.signal { g() } else { 0.0 });
        let mut noise = || DMatrix::from_fn(self.dim, batch, |_, _| sd * g());
        let x1 = &x + noise();
        let x2 = &x + noise();
        (x1, x2)
    }

    /// Energy of the rows of `W` in the nuisance directions: `‖W[:, signal..]‖_F`.
    pub fn nuisance_norm(&self, w: &DMatrix<f64>) -> f64 {
        w.columns(self.signal, self.dim - self.signal).norm()
    }

    /// `‖W[:, ..signal]‖_F`.
    pub fn signal_norm(&self, w: &DMatrix<f64>) -> f64 {
        w.columns(0, self.signal).norm()
    }
}

/// Minibatch SGD on the sampled loss `½ mean_b ‖W_p W x₁ − W_a x₂‖²` (plus weight decay).
#[derive(Debug, Clone)]
pub struct SgdTrainer {
    /// The data distribution.
    pub data: SyntheticData,
    /// Relative rates, weight decays, EMA, stop-gradient.
    pub hyper: LinearHyper,
    /// Step size.
    pub lr: f64,
    /// Samples per step.
    pub batch: usize,
}

impl SgdTrainer {
    /// One SGD step; returns the batch loss.
    pub fn step(&self, s: &mut LinearState, rng: &mut StdRng) -> f64 {
        let h = &self.hyper;
        let (x1, x2) = self.data.sample(self.batch, rng);
        let b = self.batch as f64;
        let wa = if h.beta.is_some() { &s.wa } else { &s.w };
        let z1 = &s.w * &x1;
        let r = &s.wp * &z1 - wa * &x2; // n × B residuals
        let loss = 0.5 * r.norm_squared() / b;
        let mut g_wp = (&r * z1.transpose()) / b;
        if h.symmetric_predictor {
            g_wp = (&g_wp + g_wp.transpose()) * 0.5;
        }
        let mut g_w = (s.wp.transpose() * &r * x1.transpose()) / b;
        if !h.stop_gradient {
            g_w -= (&r * x2.transpose()) / b;
        }
        s.wp -= (g_wp * h.alpha_p + &s.wp * h.eta_p) * self.lr;
        s.w -= (g_w + &s.w * h.eta) * self.lr;
        match h.beta {
            Some(beta) => {
                let lr_beta = (beta * self.lr).min(1.0);
                s.wa = &s.wa * (1.0 - lr_beta) + &s.w * lr_beta;
            }
            None => s.wa = s.w.clone(),
        }
        loss
    }

    /// `steps` SGD steps from `s`, observing every `every` steps.
    pub fn train(
        &self,
        mut s: LinearState,
        steps: usize,
        seed: u64,
        every: usize,
        mut observe: impl FnMut(usize, &LinearState, f64),
    ) -> LinearState {
        let mut rng = StdRng::seed_from_u64(seed);
        observe(0, &s, f64::NAN);
        for k in 1..=steps {
            let loss = self.step(&mut s, &mut rng);
            if k % every.max(1) == 0 || k == steps {
                observe(k, &s, loss);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_gradient_matches_the_population_flow_on_average() {
        // The expected SGD update direction equals the flow's derivative (stop-grad and
        // no-stop-grad): compare a large-batch gradient with the analytic one.
        for stop_gradient in [true, false] {
            let data = SyntheticData {
                dim: 5,
                signal: 3,
                sigma2: 0.3,
            };
            let (x, x_aug) = data.covariances();
            let mut hyper = LinearHyper::new(0.1);
            hyper.stop_gradient = stop_gradient;
            let s0 = LinearState::random(4, 5, 1.0, 0.5, 0.3, 3);
            let flow = MatrixFlow { x, x_aug, hyper };
            let d = flow.derivative(&s0);
            let lr = 1e-3;
            let trainer = SgdTrainer {
                data,
                hyper,
                lr,
                batch: 400_000,
            };
            let mut s = s0.clone();
            trainer.step(&mut s, &mut StdRng::seed_from_u64(1));
            let dw = (&s.w - &s0.w) / lr;
            let dwp = (&s.wp - &s0.wp) / lr;
            assert!(
                (dw - &d.w).norm() / d.w.norm() < 0.02,
                "W, stop_grad={stop_gradient}"
            );
            assert!((dwp - &d.wp).norm() / d.wp.norm() < 0.02, "W_p");
        }
    }
}
