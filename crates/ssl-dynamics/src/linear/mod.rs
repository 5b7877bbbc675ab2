//! Linear theory of non-contrastive SSL (paper Sec. 3–5).
//!
//! - [`ode`]: reduced eigenvalue dynamics `(p_j, s_j, τ_j)` and an RK4 integrator over many modes.
//! - [`fixed_points`](mod@fixed_points): `p*±`, `s*±`, the weight-decay threshold, the collapse basin.
//! - [`matrix_model`]: the full-matrix model: gradient flow and minibatch SGD on synthetic data.
//! - [`claims`]: the paper's claims as deterministic experiments (checked by tests, drawn by the report).

pub mod claims;
pub mod fixed_points;
pub mod matrix_model;
pub mod ode;

pub use fixed_points::{FixedPoints, Outcome, eta_threshold, fixed_points};
pub use matrix_model::{LinearHyper, LinearState, MatrixFlow, SgdTrainer, SyntheticData};
pub use ode::{Mode, OdeParams, Trajectory, integrate};
