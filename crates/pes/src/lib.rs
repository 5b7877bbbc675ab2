//! Persistent Evolution Strategies — "Unbiased Gradient Estimation in Unrolled Computation
//! Graphs with Persistent Evolution Strategies" (Vicol, Metz & Sohl-Dickstein, ICML 2021) on
//! Burn.
//!
//! | module | what it holds |
//! |---|---|
//! | [`error`] | the library's error type (non-finite losses, bad settings, checkpoints) |
//! | [`problem`] | the unrolled-computation-graph interface; particles as a batch dimension |
//! | [`estimator`] | the gradient-estimator trait, configs, episode clock, [`estimator::build`] |
//! | [`noise`] | antithetic Gaussian perturbations, reproducible per call |
//! | [`es`] | truncated ES and full-episode ES (§3) |
//! | [`pes`] | Persistent ES (§4, Eq. 7) |
//! | [`noise_reuse`] | noise-reuse ES (Li et al. 2023; beyond the paper) |
//! | [`tbptt`] | truncated and full backpropagation through time |
//! | [`rtrl`] | real-time recurrent learning (small states) |
//! | [`outer`] | SGD and Adam on θ |
//! | [`checkpoint`] | θ, optimiser, ξ and particle states on disk; atomic, resumable |
//! | [`meta`] | the meta-training loop, with checkpoints and `--resume` |
//! | [`experiments`] | runners of the experiments (all methods, landscapes) |
//! | [`problems`] | influence balancing, toy regression, MNIST LR schedule, small RNN |
//! | [`variance`] | the variance-versus-unrolls experiment (§5.4) |
//! | [`report`] | `pes reproduce`: runs the experiments and writes the figures and `pes.md` |
//! | [`bench`](mod@bench) | the `pes-mnist-mlp` throughput benchmark |

pub mod bench;
pub mod checkpoint;
pub mod error;
pub mod es;
pub mod estimator;
pub mod experiments;
pub mod meta;
pub mod noise;
pub mod noise_reuse;
pub mod outer;
pub mod pes;
pub mod problem;
pub mod problems;
pub mod report;
pub mod rtrl;
pub mod tbptt;
pub mod variance;

pub use error::{PesError, Result};
pub use estimator::{Estimate, EstimatorConfig, EstimatorKind, GradientEstimator, build};
pub use problem::{ParticleState, UnrolledProblem, Window};
