//! Unrolled computation graphs with particles as a leading batch dimension.
//!
//! An [`UnrolledProblem`] is the inner loop of the paper's §2: a state `s_t` updated by
//! `s_{t+1} = f(s_t, θ)` with a loss term per step (or per unroll). Every tensor of a state
//! has the particle index as its leading dimension, and [`UnrolledProblem::unroll`] advances
//! all particles at once, particle `i` with its own `θ_i` (row `i` of `thetas`), so that the
//! estimators never loop over particles in Rust.

use super::host::{HostDynamics, f64_matrix};
use crate::error::{PesError, Result};
use burn::tensor::{Device, Tensor, TensorData};

/// Where in the episode an unroll starts and how many inner steps it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index of the episode (selects e.g. the minibatch sequence; the same for all particles).
    pub episode: u64,
    /// Inner step index `t` at the start of the window (0 after a reset).
    pub t0: usize,
    /// Number of inner steps to run.
    pub steps: usize,
}

/// The state of every particle, batched along the leading dimension.
pub trait ParticleState: Clone + Sized {
    /// Number of particles held.
    fn particles(&self) -> usize;
    /// `n` copies of a one-particle state.
    fn repeat(&self, n: usize) -> Self;
    /// Particle `i` alone (a one-particle state).
    fn particle(&self, i: usize) -> Self;
    /// The same values with no autodiff graph attached (a constant for the next truncation).
    fn detach(self) -> Self;
    /// Host copies of every tensor, for checkpoints.
    fn to_data(&self) -> Vec<TensorData>;
    /// Inverse of [`ParticleState::to_data`].
    fn from_data(data: Vec<TensorData>, device: &Device) -> Result<Self>;
    /// The state as one `[particles, size]` matrix, when it is small enough for RTRL.
    fn as_flat(&self) -> Option<Tensor<2>> {
        None
    }
    /// Inverse of [`ParticleState::as_flat`].
    fn from_flat(_flat: Tensor<2>) -> Option<Self> {
        None
    }
}

/// A plain `[particles, size]` state.
impl ParticleState for Tensor<2> {
    fn particles(&self) -> usize {
        self.dims()[0]
    }
    fn repeat(&self, n: usize) -> Self {
        self.clone().repeat_dim(0, n)
    }
    fn particle(&self, i: usize) -> Self {
        self.clone().narrow(0, i, 1)
    }
    fn detach(self) -> Self {
        self.without_autodiff()
    }
    fn to_data(&self) -> Vec<TensorData> {
        vec![self.clone().into_data()]
    }
    fn from_data(mut data: Vec<TensorData>, device: &Device) -> Result<Self> {
        if data.len() != 1 || data[0].shape().len() != 2 {
            return Err(PesError::Config(
                "saved state is not one matrix; was it written by another problem?".into(),
            ));
        }
        Ok(Tensor::from_data(data.remove(0), device))
    }
    fn as_flat(&self) -> Option<Tensor<2>> {
        Some(self.clone())
    }
    fn from_flat(flat: Tensor<2>) -> Option<Self> {
        Some(flat)
    }
}

/// An inner problem whose unrolls the estimators differentiate (paper §2, Eq. 1).
pub trait UnrolledProblem {
    /// Batched inner state.
    type State: ParticleState;
    /// Short name used in logs.
    fn name(&self) -> &'static str;
    /// Dimension of θ.
    fn theta_dim(&self) -> usize;
    /// Episode length `T`; `None` when the inner problem never ends (no resets).
    fn horizon(&self) -> Option<usize>;
    /// The initial state `s_0`, identical for all `particles`.
    fn init_state(&self, particles: usize, device: &Device) -> Self::State;
    /// Runs `window.steps` inner steps for every particle, particle `i` with `θ_i = thetas[i]`
    /// (`thetas`: `[particles, theta_dim]`; it may carry an autodiff graph). Returns the new
    /// state and the objective terms `[particles, terms]`: the truncation's loss `L_i` is the
    /// sum of row `i`.
    fn unroll(&self, state: Self::State, thetas: Tensor<2>, window: Window) -> (Self::State, Tensor<2>);
    /// The problem's f64 dynamics with exact derivatives, when it is small enough to run on
    /// the host ([`host`](super::host)): θ then reaches [`UnrolledProblem::unroll`] in f64
    /// and the forward-mode estimators (RTRL, UORO, TBPTT) use the derivatives.
    fn host(&self) -> Option<&dyn HostDynamics> {
        None
    }
}

/// The θ rows handed to `problem`'s unroll: f64 for host problems (so that θ + ε keeps every
/// digit of ε), f32 otherwise.
pub fn theta_matrix<P: UnrolledProblem + ?Sized>(
    problem: &P,
    values: &[f64],
    rows: usize,
    cols: usize,
    device: &Device,
) -> Tensor<2> {
    if problem.host().is_some() {
        f64_matrix(values, rows, cols, device)
    } else {
        matrix(values, rows, cols, device)
    }
}

/// Sums each row of `terms` (f32 or f64) in f64 and rejects non-finite values.
pub fn row_sums(terms: Tensor<2>, what: &str) -> Result<Vec<f64>> {
    let [rows, cols] = terms.dims();
    let values = terms
        .without_autodiff()
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|e| PesError::Config(format!("{what}: cannot read losses: {e:?}")))?;
    let mut sums = vec![0.0f64; rows];
    for (i, sum) in sums.iter_mut().enumerate() {
        for &v in &values[i * cols..(i + 1) * cols] {
            *sum += v;
        }
        if !sum.is_finite() {
            return Err(PesError::NonFiniteLoss {
                what: what.to_string(),
                particle: i,
                value: *sum,
            });
        }
    }
    Ok(sums)
}

/// `[rows, cols]` f64 values (row-major) as an f32 tensor.
pub fn matrix(values: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    assert_eq!(values.len(), rows * cols, "matrix: wrong number of values");
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}
