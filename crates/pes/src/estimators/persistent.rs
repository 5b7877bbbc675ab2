//! Persistent Evolution Strategies (paper §4, Eq. 7; Algorithm 1).
//!
//! Each particle keeps its own inner state `s_i` and the sum `ξ_i` of every perturbation it
//! has used since its episode began. Per truncation: draw antithetic `ε_i`, unroll particle
//! `i` for K steps from `s_i` with `θ + ε_i` giving `L_i`, then `ξ_i ← ξ_i + ε_i` and
//! `ĝ = Σ_i L_i ξ_i / (N σ²)`. Because ξ carries the perturbations that shaped the incoming
//! state, the sum of the estimates over an episode is an unbiased estimate of the gradient of
//! the Gaussian-smoothed total loss (§4.1). When the episode ends states and ξ are reset; a
//! truncation that crosses the end is split as in learned_optimization's `truncated_pes`: the
//! part before the end is weighted by `ξ + ε`, the part after by `ε` alone.

use super::base::{
    Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, accumulate_weighted, mean, meta_field,
};
use crate::error::Result;
use crate::noise::{antithetic, perturbed};
use crate::problems::{UnrolledProblem, row_sums, theta_matrix};
use burn::tensor::Device;

/// The PES estimator (`kind = pes`).
pub struct Persistent<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    calls: u64,
    /// Per-particle states; `None` before the first truncation.
    states: Option<S>,
    /// Accumulated perturbations ξ (`N × d`, row-major); empty before the first truncation.
    xi: Vec<f64>,
    fault: Option<PesFault>,
}

/// Deliberate mistakes, for tests that must tell a broken PES from the real one.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PesFault {
    /// ξ is not reset when an episode ends (the new episode's losses are weighted by the
    /// old episode's perturbations too).
    XiNotReset,
    /// ξ is not accumulated: each truncation is weighted by its own ε only (truncated ES
    /// with persistent particle states).
    XiNotAccumulated,
}

impl<S> Persistent<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            calls: 0,
            states: None,
            xi: Vec::new(),
            fault: None,
        }
    }

    /// The same estimator with a deliberate mistake (tests only).
    #[doc(hidden)]
    pub fn with_fault(mut self, fault: PesFault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// The accumulated perturbations ξ (`N × d`, row-major).
    pub fn xi(&self) -> &[f64] {
        &self.xi
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Persistent<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let (n, d, sigma) = (self.config.particles, theta.len(), self.config.sigma);
        let eps = antithetic(n, d, sigma, self.config.seed, self.calls)?;
        self.calls += 1;
        let thetas = theta_matrix(problem, &perturbed(theta, &eps), n, d, &self.device);
        let mut state = match self.states.take() {
            Some(s) => s,
            None => problem.init_state(n, &self.device),
        };
        if self.xi.len() != n * d {
            self.xi = vec![0.0; n * d];
        }
        let mut acc = std::mem::take(&mut self.xi);
        let mut added = false;
        let mut grad = vec![0.0; d];
        let mut total = vec![0.0; n];
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            if !added {
                if self.fault == Some(PesFault::XiNotAccumulated) {
                    acc.copy_from_slice(&eps);
                } else {
                    acc.iter_mut().zip(&eps).for_each(|(a, e)| *a += e);
                }
                added = true;
            }
            let (next, terms) = problem.unroll(state, thetas.clone(), seg.window);
            let losses = row_sums(terms, "PES unroll")?;
            accumulate_weighted(&mut grad, &losses, &acc, sigma);
            total.iter_mut().zip(&losses).for_each(|(t, l)| *t += l);
            self.clock.advance(&seg);
            state = if seg.ends_episode {
                ended += 1;
                if self.fault != Some(PesFault::XiNotReset) {
                    acc.iter_mut().for_each(|a| *a = 0.0);
                    added = false;
                }
                problem.init_state(n, &self.device)
            } else {
                next
            };
        }
        self.states = Some(state);
        self.xi = acc;
        Ok(Estimate {
            grad,
            loss: mean(&total),
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            serde_json::json!({ "clock": self.clock, "calls": self.calls, "xi": self.xi }),
            self.states.as_ref(),
        )
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.calls = meta_field(&snapshot.meta, "calls")?;
        self.xi = meta_field(&snapshot.meta, "xi")?;
        self.states = snapshot.state(&self.device)?;
        Ok(())
    }
}
