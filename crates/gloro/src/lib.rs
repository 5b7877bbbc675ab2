//! # GloRo Nets: globally-robust neural networks (Leino, Wang & Fredrikson, ICML 2021)
//!
//! A GloRo Net appends a logit y_⊥ to a network's logits; trained with an ordinary
//! classification loss on the m+1 logits, it learns to be certifiably ℓ2-robust, and any
//! point where y_⊥ is not the argmax is certified at radius ε by construction.
//!
//! | module | paper | what |
//! |---|---|---|
//! | [`minmax`] | §3, App. | MinMax activation (Lipschitz 1, gradient-norm preserving) |
//! | [`lipschitz`] | §4 | per-layer spectral norms by power iteration (dense, conv): training's estimate |
//! | [`bounds`] | §4 | sound per-layer bounds for certificates (Gram + Cholesky, materialised or Fourier conv) |
//! | [`model`] | §3 | GloRo bodies and the architectures 2C2F, 4C3F, 6C2F, 8C2F |
//! | [`margin`] | Eq. 4–5 | the ⊥ logit (tight per-pair and naive forms), certified radius |
//! | [`loss`] | §5 | cross-entropy over m+1 logits, TRADES-KL, TRADES-CE |
//! | [`schedule`] | §6 | ε, λ and learning-rate schedules |
//! | [`certify`] | §3 | certificates with the rounding allowance: prediction or ⊥, radius, VRA, curves |
//! | [`attack`] | — | ℓ2 PGD and the empirical margin-Lipschitz lower bound |
//! | [`soundness`] | — | attacks every certified point: one success would be a false certificate |
//! | [`bench`](mod@bench) | — | training throughput of the reference workloads |
//! | [`config`] | §6 | training configurations (files under `configs/`) |
//! | [`train`] | §6 | the training loop: run directory, checkpoints, resume |
//! | [`export`] | — | safetensors export of weights and converged Lipschitz constants |
//! | [`toy`] | Fig. 2 | two-moons toy problem and its decision-region plot |
//! | [`reproduce`] | — | the registered runs, toy and soundness check behind the report |
//! | [`error`] | — | [`GloroError`] and [`Result`] |
//! | [`report`] | — | `docs/results/gloro.md` |

#![warn(missing_docs)]

pub mod attack;
pub mod bench;
pub mod bounds;
pub mod certify;
pub mod config;
pub mod error;
pub mod export;
pub mod lipschitz;
pub mod loss;
pub mod margin;
pub mod minmax;
pub mod model;
pub mod report;
pub mod reproduce;
pub mod schedule;
pub mod soundness;
pub mod toy;
pub mod train;

pub use error::{GloroError, Result};
