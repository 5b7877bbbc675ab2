//! Toy 2-D regression with a learned linear learning-rate schedule (paper §5.2, Fig. 5).
//!
//! Inner problem: minimise `f(x) = √(x₀² + 5) − √5 + sin²(x₁)·e^{−5x₀²} + 0.25|x₁ − 100|`
//! from `x = (1, 1)` by SGD with `lr_t = e^{θ₀}(T − t)/T + e^{θ₁} t/T` for `t = 0..T−1`.
//! Meta-objective: `Σ_t f(x_{t+1})` over the episode (`T = 100`). The sin² term makes the
//! meta-loss surface ragged, which traps TBPTT; the optimum needs large learning rates so
//! that `x₁` travels to 100. (The reference adds weight decay 1e-10 to the inner gradient;
//! below f32 resolution, so omitted.)

use crate::problems::{UnrolledProblem, Window, matrix, row_sums};
use burn::tensor::{Device, Tensor};

/// The toy regression inner problem with episode length `horizon`.
#[derive(Debug, Clone)]
pub struct ToyRegression {
    /// `T` (100).
    pub horizon: usize,
}

impl Default for ToyRegression {
    fn default() -> Self {
        Self { horizon: 100 }
    }
}

/// `f(x)` for a batch `x: [P, 2]`, as `[P, 1]`.
pub fn objective(x: Tensor<2>) -> Tensor<2> {
    let x0 = x.clone().narrow(1, 0, 1);
    let x1 = x.narrow(1, 1, 1);
    let bump = (x0.clone().powi_scalar(2) * -5.0).exp();
    (x0.powi_scalar(2) + 5.0).sqrt() - 5f64.sqrt()
        + x1.clone().sin().powi_scalar(2) * bump
        + (x1 - 100.0).abs() * 0.25
}

/// `∇f(x)` for a batch `x: [P, 2]`.
pub fn gradient(x: Tensor<2>) -> Tensor<2> {
    let x0 = x.clone().narrow(1, 0, 1);
    let x1 = x.narrow(1, 1, 1);
    let bump = (x0.clone().powi_scalar(2) * -5.0).exp();
    let s = x1.clone().sin();
    let g0 = x0.clone() / (x0.clone().powi_scalar(2) + 5.0).sqrt()
        - x0 * s.clone().powi_scalar(2) * bump.clone() * 10.0;
    let g1 = s * x1.clone().cos() * bump * 2.0 + (x1 - 100.0).sign() * 0.25;
    Tensor::cat(vec![g0, g1], 1)
}

impl ToyRegression {
    /// Full-episode meta-objective `Σ_t f(x_{t+1})` for each θ (`thetas`: `n × 2`
    /// row-major), all in one batched unroll (used for evaluation and the heatmap).
    pub fn meta_losses(&self, thetas: &[f64], device: &Device) -> Vec<f64> {
        let n = thetas.len() / 2;
        let (_, terms) = self.unroll(
            self.init_state(n, device),
            matrix(thetas, n, 2, device),
            Window {
                episode: 0,
                t0: 0,
                steps: self.horizon,
            },
        );
        row_sums(terms, "toy evaluation").unwrap_or_else(|_| vec![f64::INFINITY; n])
    }
}

impl UnrolledProblem for ToyRegression {
    type State = Tensor<2>;

    fn name(&self) -> &'static str {
        "toy-regression"
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> Option<usize> {
        Some(self.horizon)
    }
    fn init_state(&self, particles: usize, device: &Device) -> Tensor<2> {
        Tensor::ones([particles, 2], device)
    }
    fn unroll(&self, state: Tensor<2>, thetas: Tensor<2>, window: Window) -> (Tensor<2>, Tensor<2>) {
        let big_t = self.horizon as f64;
        let lr_start = thetas.clone().narrow(1, 0, 1).exp();
        let lr_end = thetas.narrow(1, 1, 1).exp();
        let mut x = state;
        let mut terms = Vec::with_capacity(window.steps);
        for i in 0..window.steps {
            let t = (window.t0 + i) as f64;
            let lr = lr_start.clone() * ((big_t - t) / big_t) + lr_end.clone() * (t / big_t);
            x = x.clone() - gradient(x) * lr;
            terms.push(objective(x.clone()));
        }
        (x, Tensor::cat(terms, 1))
    }
}
