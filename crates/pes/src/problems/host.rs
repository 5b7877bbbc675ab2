//! Small inner problems computed in plain f64 on the host (influence balancing, toy
//! regression).
//!
//! Evolution strategies divide loss differences by σ² (§3, Eq. 4): in f32 the perturbed
//! θ + ε and the losses keep about seven digits, so at small σ most of the signal is
//! rounding. Tiny problems therefore run in f64 here: [`HostDynamics`] is one particle's
//! inner step with its exact derivatives, and [`host_unroll`] implements
//! [`UnrolledProblem::unroll`](super::UnrolledProblem::unroll) on top of it with θ read from
//! an f64 tensor ([`theta_matrix`](super::theta_matrix)) and the loss terms returned in f64.
//! The derivatives drive the forward-mode estimators (RTRL, UORO, and TBPTT on these
//! problems) instead of reverse-mode autodiff.

use super::base::{ParticleState, Window};
use crate::error::{PesError, Result};
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Derivatives of one inner step `s' = f(s, θ, t)` with loss term `ℓ(s, θ)` (the loss of the
/// updated state, 0 where the step has none), at the incoming `(s, θ)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepJacobians {
    /// `∂f/∂s`, `S × S` row-major.
    pub fs: Vec<f64>,
    /// `∂f/∂θ`, `S × d` row-major.
    pub ftheta: Vec<f64>,
    /// `∂ℓ/∂s` (length `S`).
    pub ls: Vec<f64>,
    /// `∂ℓ/∂θ` (length `d`).
    pub ltheta: Vec<f64>,
}

/// One particle's inner dynamics in f64 (paper §2, Eq. 1), with exact derivatives.
pub trait HostDynamics {
    /// State size `S`.
    fn state_size(&self) -> usize;
    /// Dimension of θ.
    fn dim(&self) -> usize;
    /// The initial state `s₀`.
    fn initial(&self) -> Vec<f64>;
    /// Advances `s` by inner step `t` with `θ`; returns the step's loss term. `last`: the
    /// step ends its window (problems whose loss is taken at the end of an unroll add it
    /// there).
    fn step(&self, s: &mut [f64], theta: &[f64], t: usize, last: bool) -> f64;
    /// The derivatives of [`HostDynamics::step`] at `(s, θ)`.
    fn jacobians(&self, s: &[f64], theta: &[f64], t: usize, last: bool) -> StepJacobians;
}

/// The states of all particles, `particles × size` f64 values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct HostState {
    /// The values, particle after particle.
    pub values: Vec<f64>,
    /// State size `S` of one particle.
    pub size: usize,
}

impl HostState {
    /// `particles` copies of `initial`.
    pub fn filled(initial: &[f64], particles: usize) -> Self {
        Self {
            values: initial.repeat(particles),
            size: initial.len(),
        }
    }

    /// Particle `i`'s state.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.size..(i + 1) * self.size]
    }
}

/// Checkpoints hold f32 tensors: every f64 is saved exactly as its 64 bits in four 16-bit
/// pieces (integers, exact in f32), one `[particles, 4·size]` tensor.
impl ParticleState for HostState {
    fn particles(&self) -> usize {
        self.values.len() / self.size.max(1)
    }
    fn repeat(&self, n: usize) -> Self {
        Self {
            values: self.values.repeat(n),
            size: self.size,
        }
    }
    fn particle(&self, i: usize) -> Self {
        Self {
            values: self.row(i).to_vec(),
            size: self.size,
        }
    }
    fn detach(self) -> Self {
        self
    }
    fn to_data(&self) -> Vec<TensorData> {
        let pieces: Vec<f32> = self
            .values
            .iter()
            .flat_map(|x| {
                let bits = x.to_bits();
                (0..4).map(move |k| ((bits >> (16 * k)) & 0xFFFF) as f32)
            })
            .collect();
        vec![TensorData::new(pieces, [self.particles(), 4 * self.size])]
    }
    fn from_data(data: Vec<TensorData>, _device: &Device) -> Result<Self> {
        let [d]: [TensorData; 1] = data.try_into().map_err(|_| {
            PesError::Config(
                "saved state is not an f64 host state; was it written by another problem?".into(),
            )
        })?;
        let shape = d.shape().to_vec();
        let pieces = d
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| PesError::Config(format!("cannot read saved state: {e:?}")))?;
        if shape.len() != 2 || !shape[1].is_multiple_of(4) {
            return Err(PesError::Config("saved host state has the wrong shape".into()));
        }
        let values = pieces
            .chunks(4)
            .map(|c| {
                f64::from_bits(
                    c.iter()
                        .enumerate()
                        .fold(0u64, |b, (k, &p)| b | ((p as u64) << (16 * k))),
                )
            })
            .collect();
        Ok(Self {
            values,
            size: shape[1] / 4,
        })
    }
}

/// `[rows, cols]` f64 values as an f64 tensor (θ and loss terms of host problems).
pub fn f64_matrix(values: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    assert_eq!(values.len(), rows * cols, "f64_matrix: wrong number of values");
    Tensor::from_data(
        TensorData::new(values.to_vec(), [rows, cols]),
        (device, DType::F64),
    )
}

/// The f64 values of a matrix (`rows × cols`, row-major).
pub fn host_values(t: Tensor<2>) -> Vec<f64> {
    t.without_autodiff()
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("a float tensor converts to f64")
}

/// [`UnrolledProblem::unroll`](super::UnrolledProblem::unroll) of a host problem: particle
/// `i` runs `window.steps` steps with row `i` of `thetas`; the terms are `[particles, steps]`
/// (f64).
pub fn host_unroll<H: HostDynamics + ?Sized>(
    h: &H,
    mut state: HostState,
    thetas: Tensor<2>,
    window: Window,
) -> (HostState, Tensor<2>) {
    let device = thetas.device();
    let d = h.dim();
    let theta = host_values(thetas);
    let particles = state.particles();
    assert_eq!(theta.len(), particles * d, "one θ row per particle");
    let steps = window.steps;
    let cols = steps.max(1);
    let mut terms = vec![0.0; particles * cols];
    let size = state.size;
    for i in 0..particles {
        let s = &mut state.values[i * size..(i + 1) * size];
        let th = &theta[i * d..(i + 1) * d];
        for j in 0..steps {
            terms[i * cols + j] = h.step(s, th, window.t0 + j, j + 1 == steps);
        }
    }
    (state, f64_matrix(&terms, particles, cols, &device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_restore_f64_states_exactly() {
        let s = HostState {
            values: vec![1.0 + 1e-12, -std::f64::consts::PI, 1e-30, 12_345.678_901_234_5],
            size: 2,
        };
        let back = HostState::from_data(s.to_data(), &Device::flex()).unwrap();
        assert_eq!(back.size, 2);
        assert_eq!(back.values, s.values);
    }
}
