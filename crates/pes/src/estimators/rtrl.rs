//! Real-time recurrent learning (Williams & Zipser, 1989; a baseline in the paper's §5.1).
//!
//! Carries the exact sensitivity `J_t = ds_t/dθ` (`S × d`, f64) forward:
//! `J_{t+1} = ∂f/∂s · J_t + ∂f/∂θ` and `dℓ_t/dθ = ∂ℓ/∂s · J_t + ∂ℓ/∂θ`, one inner step at
//! a time (so the loss terms are those of one-step windows; use K = 1 on problems whose loss
//! is taken at the end of a window). Both Jacobians come from ONE reverse pass: the state is
//! replicated as `S + 1` particles, copy `j < S` contributes output component `j`, copy `S`
//! the loss. Only for states given as one small matrix ([`ParticleState::as_flat`]).

use super::base::{Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, grad_values, meta_field};
use crate::error::{PesError, Result};
use crate::problems::{ParticleState, UnrolledProblem, Window, matrix, row_sums};
use burn::tensor::{Device, Tensor, TensorData};

/// The RTRL estimator.
pub struct Rtrl<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    state: Option<S>,
    /// `ds/dθ`, `S × d` row-major (empty = zero, at the start of an episode).
    jac: Vec<f64>,
}

impl<S> Rtrl<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            state: None,
            jac: Vec::new(),
        }
    }
}

fn host(t: Tensor<2>) -> Result<Vec<f64>> {
    grad_values(Some(t), 0)
}

impl<S: ParticleState> Rtrl<S> {
    /// One inner step: returns (new state, loss, dℓ/dθ) and updates the sensitivity.
    fn step<P: UnrolledProblem<State = S>>(
        &mut self,
        problem: &P,
        state: S,
        theta: &[f64],
        window: Window,
    ) -> Result<(S, f64, Vec<f64>)> {
        let flat = state.as_flat().ok_or_else(|| {
            PesError::Config(format!(
                "RTRL needs a small flat state; the {} problem's state is not one",
                problem.name()
            ))
        })?;
        let s = flat.dims()[1];
        let d = theta.len();
        let values = host(flat)?;
        let mut rep = Vec::with_capacity((s + 1) * s);
        for _ in 0..=s {
            rep.extend_from_slice(&values);
        }
        let s_rep = matrix(&rep, s + 1, s, &self.device).autodiff().require_grad();
        let mut th = Vec::with_capacity((s + 1) * d);
        for _ in 0..=s {
            th.extend_from_slice(theta);
        }
        let th_rep = matrix(&th, s + 1, d, &self.device).autodiff().require_grad();
        let s_state = S::from_flat(s_rep.clone()).expect("as_flat implies from_flat");
        let (next, terms) = problem.unroll(s_state, th_rep.clone(), window);
        let next_flat = next.as_flat().expect("flat state");
        let loss = row_sums(terms.clone(), "RTRL step")?[s];
        let mut mask = vec![0.0f32; (s + 1) * s];
        for j in 0..s {
            mask[j * s + j] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [s + 1, s]), &self.device);
        let objective = (next_flat.clone() * mask).sum() + terms.narrow(0, s, 1).sum();
        let grads = objective.backward();
        let gs = grad_values(s_rep.grad(&grads), (s + 1) * s)?;
        let gt = grad_values(th_rep.grad(&grads), (s + 1) * d)?;
        if self.jac.len() != s * d {
            self.jac = vec![0.0; s * d];
        }
        // dℓ/dθ = ∂ℓ/∂s·J + ∂ℓ/∂θ (row s of the replicated pass).
        let mut g = gt[s * d..(s + 1) * d].to_vec();
        for (k, gk) in g.iter_mut().enumerate() {
            for i in 0..s {
                *gk += gs[s * s + i] * self.jac[i * d + k];
            }
        }
        // J' = ∂f/∂s·J + ∂f/∂θ (rows 0..s).
        let mut jac = gt[..s * d].to_vec();
        for r in 0..s {
            for i in 0..s {
                let a = gs[r * s + i];
                if a != 0.0 {
                    for k in 0..d {
                        jac[r * d + k] += a * self.jac[i * d + k];
                    }
                }
            }
        }
        self.jac = jac;
        let next_state = S::from_flat(next_flat.narrow(0, s, 1).without_autodiff())
            .expect("flat state")
            .detach();
        Ok((next_state, loss, g))
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Rtrl<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let d = theta.len();
        let mut state = match self.state.take() {
            Some(s) => s,
            None => problem.init_state(1, &self.device),
        };
        let mut grad = vec![0.0; d];
        let mut loss = 0.0;
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            for i in 0..seg.window.steps {
                let window = Window {
                    episode: seg.window.episode,
                    t0: seg.window.t0 + i,
                    steps: 1,
                };
                let (next, l, g) = self.step(problem, state, theta, window)?;
                state = next;
                loss += l;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            self.clock.advance(&seg);
            if seg.ends_episode {
                ended += 1;
                self.jac.clear();
                state = problem.init_state(1, &self.device);
            }
        }
        self.state = Some(state);
        Ok(Estimate {
            grad,
            loss,
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            serde_json::json!({ "clock": self.clock, "jac": self.jac }),
            self.state.as_ref(),
        )
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.jac = meta_field(&snapshot.meta, "jac")?;
        self.state = snapshot.state(&self.device)?;
        Ok(())
    }
}
