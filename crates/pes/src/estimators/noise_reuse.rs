//! Noise-reuse ES (Li, Wu, Sohl-Dickstein & Metz, "Noise-Reuse in Online Evolution
//! Strategies", 2023) — beyond the PES paper, for comparison.
//!
//! Each antithetic particle keeps its own state and draws ONE perturbation `ε_i` per
//! episode, reused in every truncation of that episode; `ĝ = Σ_i L_i ε_i / (N σ²)`. The sum
//! over an episode is then vanilla ES on the whole episode (unbiased), computed online. A
//! truncation crossing the end of an episode is split, the part after the end using the new
//! episode's perturbation. With no episode end (T = ∞) the perturbation is never redrawn.

use super::base::{
    Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, accumulate_weighted, mean, meta_field,
};
use crate::error::Result;
use crate::noise::{antithetic, perturbed};
use crate::problems::{UnrolledProblem, row_sums, theta_matrix};
use burn::tensor::Device;

/// The noise-reuse ES estimator.
pub struct NoiseReuseEs<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    draws: u64,
    states: Option<S>,
    /// The current episode's perturbations (`N × d`); empty when a new one must be drawn.
    eps: Vec<f64>,
}

impl<S> NoiseReuseEs<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            draws: 0,
            states: None,
            eps: Vec::new(),
        }
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for NoiseReuseEs<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let (n, d, sigma) = (self.config.particles, theta.len(), self.config.sigma);
        let mut state = match self.states.take() {
            Some(s) => s,
            None => problem.init_state(n, &self.device),
        };
        let mut grad = vec![0.0; d];
        let mut total = vec![0.0; n];
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            if self.eps.len() != n * d {
                self.eps = antithetic(n, d, sigma, self.config.seed, self.draws)?;
                self.draws += 1;
            }
            let thetas = theta_matrix(problem, &perturbed(theta, &self.eps), n, d, &self.device);
            let (next, terms) = problem.unroll(state, thetas, seg.window);
            let losses = row_sums(terms, "noise-reuse ES unroll")?;
            accumulate_weighted(&mut grad, &losses, &self.eps, sigma);
            total.iter_mut().zip(&losses).for_each(|(t, l)| *t += l);
            self.clock.advance(&seg);
            state = if seg.ends_episode {
                ended += 1;
                self.eps.clear();
                problem.init_state(n, &self.device)
            } else {
                next
            };
        }
        self.states = Some(state);
        Ok(Estimate {
            grad,
            loss: mean(&total),
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            serde_json::json!({ "clock": self.clock, "draws": self.draws, "eps": self.eps }),
            self.states.as_ref(),
        )
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.draws = meta_field(&snapshot.meta, "draws")?;
        self.eps = meta_field(&snapshot.meta, "eps")?;
        self.states = snapshot.state(&self.device)?;
        Ok(())
    }
}
