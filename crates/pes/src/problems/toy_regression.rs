//! Toy 2-D regression with a learned linear learning-rate schedule (paper §5.2, Fig. 4).
//!
//! Inner problem: minimise `f(x) = √(x₀² + 5) − √5 + sin²(x₁)·e^{−5x₀²} + 0.25|x₁ − 100|`
//! from `x = (1, 1)` by SGD with weight decay 1e-10 (as the reference) and
//! `lr_t = e^{θ₀}(T − t)/T + e^{θ₁} t/T` for `t = 0..T−1`. Meta-objective: `Σ_t f(x_{t+1})`
//! over the episode (`T = 100`). The sin² term makes the meta-loss surface ragged, which
//! traps TBPTT; the optimum needs large learning rates so that `x₁` travels to 100. Computed
//! in f64 on the host ([`host`](super::host)) with the exact Hessian for forward mode.

use crate::problems::host::{HostDynamics, HostState, StepJacobians, host_unroll};
use crate::problems::{UnrolledProblem, Window};
use burn::tensor::{Device, Tensor};

/// Weight decay of the inner SGD (the reference's default).
pub const WEIGHT_DECAY: f64 = 1e-10;

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

/// `f(x)`.
pub fn objective(x: &[f64]) -> f64 {
    let bump = (-5.0 * x[0] * x[0]).exp();
    (x[0] * x[0] + 5.0).sqrt() - 5f64.sqrt() + x[1].sin().powi(2) * bump + 0.25 * (x[1] - 100.0).abs()
}

/// `∇f(x)`.
pub fn gradient(x: &[f64]) -> [f64; 2] {
    let bump = (-5.0 * x[0] * x[0]).exp();
    let s2 = x[1].sin().powi(2);
    let g0 = x[0] / (x[0] * x[0] + 5.0).sqrt() - 10.0 * x[0] * s2 * bump;
    let g1 = (2.0 * x[1]).sin() * bump + 0.25 * sign(x[1] - 100.0);
    [g0, g1]
}

/// `∇²f(x)` as `[h00, h01, h11]` (the |·| kink contributes nothing).
pub fn hessian(x: &[f64]) -> [f64; 3] {
    let bump = (-5.0 * x[0] * x[0]).exp();
    let s2 = x[1].sin().powi(2);
    let r = x[0] * x[0] + 5.0;
    let h00 = 5.0 / (r * r.sqrt()) - 10.0 * s2 * bump * (1.0 - 10.0 * x[0] * x[0]);
    let h01 = -10.0 * x[0] * (2.0 * x[1]).sin() * bump;
    let h11 = 2.0 * (2.0 * x[1]).cos() * bump;
    [h00, h01, h11]
}

/// The sign as `jnp.sign`: 0 at 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl ToyRegression {
    /// `(∂lr_t/∂θ₀, ∂lr_t/∂θ₁)`; their sum is `lr_t`.
    fn lr_parts(&self, theta: &[f64], t: usize) -> [f64; 2] {
        let big_t = self.horizon as f64;
        let t = t as f64;
        [theta[0].exp() * (big_t - t) / big_t, theta[1].exp() * t / big_t]
    }

    /// Full-episode meta-objective `Σ_t f(x_{t+1})` of one θ, in f64.
    pub fn meta_loss(&self, theta: &[f64]) -> f64 {
        let mut x = self.initial();
        (0..self.horizon)
            .map(|t| self.step(&mut x, theta, t, false))
            .sum()
    }

    /// [`ToyRegression::meta_loss`] for each θ (`thetas`: `n × 2` row-major); a diverging
    /// θ gives +∞.
    pub fn meta_losses(&self, thetas: &[f64]) -> Vec<f64> {
        thetas
            .chunks(2)
            .map(|th| {
                let l = self.meta_loss(th);
                if l.is_finite() { l } else { f64::INFINITY }
            })
            .collect()
    }
}

impl HostDynamics for ToyRegression {
    fn state_size(&self) -> usize {
        2
    }
    fn dim(&self) -> usize {
        2
    }
    fn initial(&self) -> Vec<f64> {
        vec![1.0, 1.0]
    }
    /// `x ← x − lr_t (∇f(x) + wd·x)`; the loss term is `f` of the new `x`.
    fn step(&self, x: &mut [f64], theta: &[f64], t: usize, _last: bool) -> f64 {
        let [a, b] = self.lr_parts(theta, t);
        let lr = a + b;
        let g = gradient(x);
        x[0] -= lr * (g[0] + WEIGHT_DECAY * x[0]);
        x[1] -= lr * (g[1] + WEIGHT_DECAY * x[1]);
        objective(x)
    }
    fn jacobians(&self, x: &[f64], theta: &[f64], t: usize, _last: bool) -> StepJacobians {
        let parts = self.lr_parts(theta, t);
        let lr = parts[0] + parts[1];
        let g = gradient(x);
        let [h00, h01, h11] = hessian(x);
        let u = [g[0] + WEIGHT_DECAY * x[0], g[1] + WEIGHT_DECAY * x[1]];
        // x' = x − lr·u(x): ∂x'/∂x = I − lr(H + wd I), ∂x'/∂θ_k = −u ∂lr/∂θ_k.
        let fs = vec![
            1.0 - lr * (h00 + WEIGHT_DECAY),
            -lr * h01,
            -lr * h01,
            1.0 - lr * (h11 + WEIGHT_DECAY),
        ];
        let ftheta = vec![
            -u[0] * parts[0],
            -u[0] * parts[1],
            -u[1] * parts[0],
            -u[1] * parts[1],
        ];
        let next = [x[0] - lr * u[0], x[1] - lr * u[1]];
        let gn = gradient(&next);
        let ls = vec![gn[0] * fs[0] + gn[1] * fs[2], gn[0] * fs[1] + gn[1] * fs[3]];
        let ltheta = vec![
            gn[0] * ftheta[0] + gn[1] * ftheta[2],
            gn[0] * ftheta[1] + gn[1] * ftheta[3],
        ];
        StepJacobians {
            fs,
            ftheta,
            ls,
            ltheta,
        }
    }
}

impl UnrolledProblem for ToyRegression {
    type State = HostState;

    fn name(&self) -> &'static str {
        "toy-regression"
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> Option<usize> {
        Some(self.horizon)
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

    /// The Hessian and the step Jacobians against central differences in f64.
    #[test]
    fn derivatives_match_finite_differences() {
        let p = ToyRegression::default();
        let h = 1e-6;
        for x in [[0.3, 1.7], [-0.8, 4.2], [0.05, -2.0]] {
            let hs = hessian(&x);
            for (j, col) in [[0usize, 1], [1, 2]].iter().enumerate() {
                let (mut a, mut b) = (x, x);
                a[j] += h;
                b[j] -= h;
                let (ga, gb) = (gradient(&a), gradient(&b));
                for i in 0..2 {
                    let fd = (ga[i] - gb[i]) / (2.0 * h);
                    assert!(
                        (fd - hs[col[i]]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "H[{i}{j}] {fd} vs {}",
                        hs[col[i]]
                    );
                }
            }
            let theta = [-0.7, 0.4];
            let jac = p.jacobians(&x, &theta, 30, false);
            let step = |x: [f64; 2], th: [f64; 2]| {
                let mut s = x.to_vec();
                let l = p.step(&mut s, &th, 30, false);
                (s, l)
            };
            for j in 0..2 {
                let (mut a, mut b) = (x, x);
                a[j] += h;
                b[j] -= h;
                let ((sa, la), (sb, lb)) = (step(a, theta), step(b, theta));
                for i in 0..2 {
                    let fd = (sa[i] - sb[i]) / (2.0 * h);
                    assert!((fd - jac.fs[i * 2 + j]).abs() < 1e-5 * (1.0 + fd.abs()));
                }
                let fd = (la - lb) / (2.0 * h);
                assert!(
                    (fd - jac.ls[j]).abs() < 1e-5 * (1.0 + fd.abs()),
                    "ℓ_s {fd} vs {}",
                    jac.ls[j]
                );
                let (mut ta, mut tb) = (theta, theta);
                ta[j] += h;
                tb[j] -= h;
                let ((sa, la), (sb, lb)) = (step(x, ta), step(x, tb));
                for i in 0..2 {
                    let fd = (sa[i] - sb[i]) / (2.0 * h);
                    assert!((fd - jac.ftheta[i * 2 + j]).abs() < 1e-5 * (1.0 + fd.abs()));
                }
                let fd = (la - lb) / (2.0 * h);
                assert!(
                    (fd - jac.ltheta[j]).abs() < 1e-5 * (1.0 + fd.abs()),
                    "ℓ_θ {fd} vs {}",
                    jac.ltheta[j]
                );
            }
        }
    }
}
