//! Truncated ES and vanilla (full-episode) ES, with antithetic sampling (paper §3, Eq. 4).
//!
//! All particles start each truncation from one *shared* state `s`; particle `i` unrolls K
//! steps with `θ + ε_i` and returns `L_i`; `ĝ = Σ_i L_i ε_i / (N σ²)`. The shared state is
//! then advanced K steps with the unperturbed θ: it rides along as particle `N` of the same
//! batched unroll. Truncated ES ignores how θ influenced the incoming state, so it is biased
//! (§3); with K = T every truncation is a whole episode and it is plain ES.

use super::base::{
    Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, accumulate_weighted, mean, meta_field,
};
use crate::error::Result;
use crate::noise::{antithetic, perturbed};
use crate::problems::{ParticleState, UnrolledProblem, row_sums, theta_matrix};
use burn::tensor::Device;

/// Truncated ES (`kind = truncated-es`) or ES over whole episodes (`kind = es`, K = T).
pub struct TruncatedEs<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    calls: u64,
    /// The shared state (one particle); `None` before the first truncation.
    shared: Option<S>,
}

impl<S> TruncatedEs<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            calls: 0,
            shared: None,
        }
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for TruncatedEs<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let (n, d, sigma) = (self.config.particles, theta.len(), self.config.sigma);
        let eps = antithetic(n, d, sigma, self.config.seed, self.calls)?;
        self.calls += 1;
        let mut rows = perturbed(theta, &eps);
        rows.extend_from_slice(theta);
        let thetas = theta_matrix(problem, &rows, n + 1, d, &self.device);
        let mut state = match &self.shared {
            Some(s) => s.repeat(n + 1),
            None => problem.init_state(n + 1, &self.device),
        };
        let mut losses = vec![0.0; n];
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            let (next, terms) = problem.unroll(state, thetas.clone(), seg.window);
            let sums = row_sums(terms, "truncated ES unroll")?;
            for (l, s) in losses.iter_mut().zip(&sums) {
                *l += s;
            }
            self.clock.advance(&seg);
            state = if seg.ends_episode {
                ended += 1;
                problem.init_state(n + 1, &self.device)
            } else {
                next
            };
        }
        self.shared = Some(state.particle(n));
        let mut grad = vec![0.0; d];
        accumulate_weighted(&mut grad, &losses, &eps, sigma);
        Ok(Estimate {
            grad,
            loss: mean(&losses),
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            serde_json::json!({ "clock": self.clock, "calls": self.calls }),
            self.shared.as_ref(),
        )
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.calls = meta_field(&snapshot.meta, "calls")?;
        self.shared = snapshot.state(&self.device)?;
        Ok(())
    }
}
