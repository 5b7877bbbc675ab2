//! Reduced eigenvalue dynamics of the linear model (paper Sec. 4–5).
//!
//! With `X = I`, `X' = σ²I` and a symmetric predictor `W_p` that shares its eigenvectors with
//! `F = W Wᵀ`, every eigen-mode `j` decouples into three scalars: the predictor eigenvalue `p_j`,
//! the eigenvalue `s_j` of `F`, and the ratio `τ_j` of target to online weights:
//!
//! ```text
//! ṗ = α_p s (τ − (1+σ²) p) − η_p p
//! ṡ = 2 p s (τ − (1+σ²) p) − 2 η s
//! τ̇ = β (1 − τ) − τ ṡ / (2s)          (τ ≡ 1 without an EMA target)
//! ```
//!
//! `ṡ / (2s) = p (τ − (1+σ²) p) − η` is used directly, so `s = 0` is harmless. [`integrate`]
//! advances any number of independent modes at once with classical RK4.

use serde::{Deserialize, Serialize};

/// Hyper-parameters of the eigenvalue dynamics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OdeParams {
    /// Relative learning rate of the predictor, `α_p`.
    pub alpha_p: f64,
    /// Weight decay of the encoder, `η`.
    pub eta: f64,
    /// Weight decay of the predictor, `η_p`.
    pub eta_p: f64,
    /// Variance of the augmentation noise, `σ²` (`X' = σ²I`).
    pub sigma2: f64,
    /// EMA rate `β` of the target (`Ẇ_a = β(W − W_a)`); `None` means no EMA: `τ ≡ 1` (SimSiam).
    pub beta: Option<f64>,
}

impl OdeParams {
    /// `α_p = 1`, `η_p = η`, `σ² = 0`, no EMA: the setting of the paper's phase portraits.
    pub fn simsiam(eta: f64) -> Self {
        Self {
            alpha_p: 1.0,
            eta,
            eta_p: eta,
            sigma2: 0.0,
            beta: None,
        }
    }

    /// Time derivative of one mode.
    pub fn derivative(&self, m: Mode) -> Mode {
        let residual = m.tau - (1.0 + self.sigma2) * m.p;
        let half_log_rate = m.p * residual - self.eta; // ṡ / (2s)
        Mode {
            p: self.alpha_p * m.s * residual - self.eta_p * m.p,
            s: 2.0 * m.s * half_log_rate,
            tau: match self.beta {
                Some(beta) => beta * (1.0 - m.tau) - m.tau * half_log_rate,
                None => 0.0,
            },
        }
    }
}

/// One eigen-mode: predictor eigenvalue `p`, eigenvalue `s` of `F = WWᵀ`, target ratio `τ`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mode {
    /// Predictor eigenvalue `p`.
    pub p: f64,
    /// Eigenvalue `s` of `F = WWᵀ`.
    pub s: f64,
    /// Target ratio `τ` (`W_a = τ W` along this mode).
    pub tau: f64,
}

impl Mode {
    /// A mode with `τ = 1` (target equal to the online weights).
    pub fn new(p: f64, s: f64) -> Self {
        Self { p, s, tau: 1.0 }
    }

    fn axpy(self, h: f64, d: Mode) -> Mode {
        Mode {
            p: self.p + h * d.p,
            s: self.s + h * d.s,
            tau: self.tau + h * d.tau,
        }
    }

    /// Whether every coordinate is finite.
    pub fn is_finite(&self) -> bool {
        self.p.is_finite() && self.s.is_finite() && self.tau.is_finite()
    }
}

/// One RK4 step of size `h`.
pub fn rk4_step(params: &OdeParams, m: Mode, h: f64) -> Mode {
    let k1 = params.derivative(m);
    let k2 = params.derivative(m.axpy(h / 2.0, k1));
    let k3 = params.derivative(m.axpy(h / 2.0, k2));
    let k4 = params.derivative(m.axpy(h, k3));
    Mode {
        p: m.p + h / 6.0 * (k1.p + 2.0 * k2.p + 2.0 * k3.p + k4.p),
        s: m.s + h / 6.0 * (k1.s + 2.0 * k2.s + 2.0 * k3.s + k4.s),
        tau: m.tau + h / 6.0 * (k1.tau + 2.0 * k2.tau + 2.0 * k3.tau + k4.tau),
    }
}

/// Sampled trajectories of several modes: `states[k][j]` is mode `j` at `times[k]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trajectory {
    /// Sample times.
    pub times: Vec<f64>,
    /// `states[k][j]`: mode `j` at `times[k]`.
    pub states: Vec<Vec<Mode>>,
}

impl Trajectory {
    /// The modes at the final time.
    pub fn last(&self) -> &[Mode] {
        self.states.last().map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// The path of mode `j` as `(p, s)` points.
    pub fn path(&self, j: usize) -> Vec<(f64, f64)> {
        self.states.iter().map(|v| (v[j].p, v[j].s)).collect()
    }
}

/// Integrates all `modes` from `t = 0` to `t_end` with step `dt`, keeping about `samples` states.
pub fn integrate(params: &OdeParams, modes: &[Mode], t_end: f64, dt: f64, samples: usize) -> Trajectory {
    let steps = (t_end / dt).ceil().max(1.0) as usize;
    let h = t_end / steps as f64;
    let every = (steps / samples.max(1)).max(1);
    let mut cur = modes.to_vec();
    let mut traj = Trajectory {
        times: vec![0.0],
        states: vec![cur.clone()],
    };
    for k in 1..=steps {
        for m in cur.iter_mut() {
            *m = rk4_step(params, *m, h);
        }
        if k % every == 0 || k == steps {
            traj.times.push(k as f64 * h);
            traj.states.push(cur.clone());
        }
    }
    traj
}

/// Final states only (no sampling), for large grids of initial conditions.
pub fn final_states(params: &OdeParams, modes: &[Mode], t_end: f64, dt: f64) -> Vec<Mode> {
    let steps = (t_end / dt).ceil().max(1.0) as usize;
    let h = t_end / steps as f64;
    modes
        .iter()
        .map(|&m0| {
            let mut m = m0;
            for _ in 0..steps {
                m = rk4_step(params, m, h);
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rk4_matches_the_exact_decay_of_a_mode_with_s_zero() {
        // s = 0 stays 0 and the predictor eigenvalue decays as exp(−η_p t).
        let params = OdeParams::simsiam(0.3);
        let out = final_states(&params, &[Mode::new(1.0, 0.0)], 5.0, 0.01);
        assert!((out[0].p - (-0.3f64 * 5.0).exp()).abs() < 1e-9);
        assert_eq!(out[0].s, 0.0);
    }
}
