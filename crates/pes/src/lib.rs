//! Persistent Evolution Strategies — "Unbiased Gradient Estimation in Unrolled Computation
//! Graphs with Persistent Evolution Strategies" (Vicol, Metz & Sohl-Dickstein, ICML 2021) on
//! Burn.
//!
//! | module | paper | what it holds |
//! |---|---|---|
//! | [`problems`] | §2 (Eq. 1), §5 | the [`UnrolledProblem`] interface (particles as a batch dimension) and the inner problems: influence balancing, toy regression, MNIST schedule, character LSTM, small RNN |
//! | [`estimators`] | §3–§4, Table 1 | the [`GradientEstimator`] trait, [`EstimatorConfig`], [`build`]; one file per method: PES (§4, Eq. 7), truncated/full ES (§3, Eq. 4), noise-reuse ES, TBPTT/BPTT, RTRL |
//! | [`noise`] | §3 | antithetic Gaussian perturbations, reproducible per `(seed, call)` |
//! | [`outer`] | §5 | SGD and Adam on θ |
//! | [`meta`] | Algorithm 1 | the meta-training loop, with checkpoints and `--resume` |
//! | [`checkpoint`] | — | θ, optimiser and estimator state (JSON) and particle states (safetensors), atomic |
//! | [`experiments`] | §5.1–§5.4, Figs. 3–7 | each experiment's config and runner (all methods from one θ₀, landscapes, variance) |
//! | [`reproduce`] | — | `pes reproduce`: which experiments run at which scale |
//! | [`sharded`] | — | particles sharded across devices; the estimate is the sum of the devices' shares |
//! | [`records`] | — | run records kept in the repository (config, metrics, summary) |
//! | [`report`] | — | figures and `pes.md` rendered from the records |
//! | [`bench`](mod@bench) | — | the `pes-mnist-mlp` throughput benchmark |
//! | [`error`] | — | [`PesError`] and [`Result`] |

#![warn(missing_docs)]

pub mod bench;
pub mod checkpoint;
pub mod error;
pub mod estimators;
pub mod experiments;
pub mod meta;
pub mod noise;
pub mod outer;
pub mod problems;
pub mod records;
pub mod report;
pub mod reproduce;
pub mod sharded;

pub use error::{PesError, Result};
pub use estimators::{
    Estimate, EstimatorConfig, EstimatorKind, GradientEstimator, NoiseReuseEs, Persistent, Rtrl, Tbptt,
    TruncatedEs, Uoro, build,
};
pub use problems::{ParticleState, UnrolledProblem, Window};
