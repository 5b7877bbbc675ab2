//! Outer optimisers on θ (a handful of f64 values): plain SGD (influence balancing, §5.1)
//! and Adam (toy regression and MNIST, §5.2–5.3), matching optax's update rules.

use serde::{Deserialize, Serialize};

/// Which outer optimiser and its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OuterConfig {
    /// `θ ← θ − lr·g` (with heavy-ball momentum `m ← μ m + g` when `momentum > 0`).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Heavy-ball momentum μ (0: none).
        #[serde(default)]
        momentum: f64,
    },
    /// Adam with bias correction (Kingma & Ba), optax defaults `ε = 1e-8`.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay β1 (0.9).
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Second-moment decay β2 (0.999).
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// ε added to the denominator (1e-8).
        #[serde(default = "default_eps")]
        eps: f64,
    },
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl OuterConfig {
    /// Plain SGD.
    pub fn sgd(lr: f64) -> Self {
        OuterConfig::Sgd { lr, momentum: 0.0 }
    }
    /// Adam with β1 = `beta1`, β2 = 0.999, ε = 1e-8.
    pub fn adam(lr: f64, beta1: f64) -> Self {
        OuterConfig::Adam {
            lr,
            beta1,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl std::fmt::Display for OuterConfig {
    /// `SGD (lr 0.0001)`, `SGD (lr 0.01, momentum 0.9)`, `Adam (lr 0.01, β₁ 0.99, β₂ 0.999, ε 1e-8)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            OuterConfig::Sgd { lr, momentum } => {
                if momentum == 0.0 {
                    write!(f, "SGD (lr {lr})")
                } else {
                    write!(f, "SGD (lr {lr}, momentum {momentum})")
                }
            }
            OuterConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                write!(f, "Adam (lr {lr}, β₁ {beta1}, β₂ {beta2}, ε {eps:e})")
            }
        }
    }
}

/// An outer optimiser with its moment estimates (serialisable for checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OuterOptimizer {
    /// Which optimiser.
    pub config: OuterConfig,
    /// First moment (momentum buffer for SGD).
    pub m: Vec<f64>,
    /// Second moment (Adam).
    pub v: Vec<f64>,
    /// Updates applied so far.
    pub steps: u64,
}

impl OuterOptimizer {
    /// A fresh optimiser for a θ of `dim` values (zero moments).
    pub fn new(config: OuterConfig, dim: usize) -> Self {
        Self {
            config,
            m: vec![0.0; dim],
            v: vec![0.0; dim],
            steps: 0,
        }
    }

    /// One update of `theta` along `-grad`.
    pub fn step(&mut self, theta: &mut [f64], grad: &[f64]) {
        self.steps += 1;
        match self.config {
            OuterConfig::Sgd { lr, momentum } => {
                for i in 0..theta.len() {
                    let g = if momentum > 0.0 {
                        self.m[i] = momentum * self.m[i] + grad[i];
                        self.m[i]
                    } else {
                        grad[i]
                    };
                    theta[i] -= lr * g;
                }
            }
            OuterConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let c1 = 1.0 - beta1.powi(self.steps as i32);
                let c2 = 1.0 - beta2.powi(self.steps as i32);
                for i in 0..theta.len() {
                    self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * grad[i];
                    self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * grad[i] * grad[i];
                    theta[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + eps);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimisers_print_readably() {
        assert_eq!(OuterConfig::sgd(1e-4).to_string(), "SGD (lr 0.0001)");
        assert_eq!(
            OuterConfig::adam(0.01, 0.99).to_string(),
            "Adam (lr 0.01, β₁ 0.99, β₂ 0.999, ε 1e-8)"
        );
    }

    #[test]
    fn adam_first_step_moves_by_lr_and_sgd_by_lr_times_grad() {
        let mut th = vec![1.0, -1.0];
        let mut adam = OuterOptimizer::new(OuterConfig::adam(0.01, 0.99), 2);
        adam.step(&mut th, &[3.0, -0.5]);
        assert!((th[0] - 0.99).abs() < 1e-9 && (th[1] + 0.99).abs() < 1e-9);
        let mut th = vec![1.0];
        OuterOptimizer::new(OuterConfig::sgd(0.1), 1).step(&mut th, &[2.0]);
        assert!((th[0] - 0.8).abs() < 1e-12);
    }
}
