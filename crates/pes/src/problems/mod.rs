//! The inner problems of the paper's experiments, behind one interface ([`base`]: unrolled
//! computation graphs with particles as a batch dimension, paper §2).
//!
//! | module | paper | θ |
//! |---|---|---|
//! | [`base`] | §2, Eq. 1: the [`UnrolledProblem`] and [`ParticleState`] traits | — |
//! | [`host`] | small problems in plain f64 with exact step derivatives | — |
//! | [`influence`] | §5.1, Fig. 3 (influence balancing, from UORO) | one scalar |
//! | [`toy_regression`] | §5.2, Fig. 4 (2-D regression, linear LR schedule) | log lr at t = 0 and t = T |
//! | [`mnist_schedule`] | §5.3, Figs. 5–6 (MNIST MLP, inverse-time-decay schedule) | log lr₀, log decay |
//! | [`lstm`] | §5.4, Fig. 7 (variance; the paper's character-level LSTM, f64) | all LSTM weights |
//! | [`rnn`] | §5.4, Fig. 7 (variance; a small RNN on synthetic sequences) | all RNN weights |

pub mod base;
pub mod host;
pub mod influence;
pub mod lstm;
pub mod mnist_schedule;
pub mod rnn;
pub mod toy_regression;

pub use base::{ParticleState, UnrolledProblem, Window, matrix, row_sums, theta_matrix};
pub use host::{HostDynamics, HostState, StepJacobians};
