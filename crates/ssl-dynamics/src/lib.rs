//! Understanding Self-Supervised Learning Dynamics without Contrastive Pairs
//! (Tian, Chen, Ganguli, ICML 2021), on Burn.
//!
//! | module | paper | what it holds |
//! |---|---|---|
//! | [`linear`] | Sec. 3–5 | linear model, eigenvalue ODE, fixed points, collapse basin, SGD on synthetic data |
//! | [`directpred`] | Sec. 6, Eq. 18–19 | `F̂` estimator, eigendecomposition, `W_p` formulas, DirectCopy |
//! | [`dynamics`] | Sec. 5–6 | theory monitors: commutator `[W_p, F̂]`, asymmetry, spectra |
//! | [`nets`] | Sec. 6 | encoders (ResNet-18, small conv net) and the projector |
//! | [`predictor`] | Sec. 6 | 2-layer MLP, SGD-trained linear, directly set linear predictors |
//! | [`loss`] | Eq. 4 | symmetric cosine loss |
//! | [`ema`] | Eq. 3 | EMA target update |
//! | [`byol`] | Sec. 2 | BYOL / SimSiam training step |
//! | [`augment`] | App. | two-view augmentation recipes (CIFAR-10, STL-10, MNIST) |
//! | [`monitor`] | Sec. 6 | collapse monitor (std of ℓ2-normalised outputs) |
//! | [`knn`] | — | kNN accuracy monitor |
//! | [`probe`] | Sec. 6 | linear probe on frozen standardised features |
//! | [`config`] | Sec. 6 | pre-training configs (the JSON files in `configs/`), strict loading and range checks |
//! | [`train`] | Sec. 6 | pre-training loop with monitors, per-epoch checkpoints and resume, encoder save/load |
//! | [`reproduce`] | Sec. 3–6 | `reproduce`: the theory claims and the CPU training runs |
//! | [`sweep`] | Sec. 4–6 | the CPU comparison of predictors and the ablations: named runs, records |
//! | [`report`] | — | `ssl-dynamics.md` and its figures from the results of [`reproduce`] |
//! | [`report_training`] | Sec. 4–6 | the training section of the report from run records and anchors |
//! | [`figures`] | — | where the report's figures go, and the line-plot helpers of both sections |
//! | [`bench`](mod@bench) | — | the `byol-resnet18` speed benchmark on the real training step |
//! | [`error`] | — | the library's error type and `Result` |

#![warn(missing_docs)]

pub mod augment;
pub mod bench;
pub mod byol;
pub mod config;
pub mod directpred;
pub mod dynamics;
pub mod ema;
pub mod error;
pub mod figures;
pub mod knn;
pub mod linear;
pub mod loss;
pub mod monitor;
pub mod nets;
pub mod predictor;
pub mod probe;
pub mod report;
pub mod report_training;
pub mod reproduce;
pub mod sweep;
pub mod train;

pub use error::{Result, SslError};
