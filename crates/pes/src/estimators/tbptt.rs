//! Truncated backpropagation through time (paper §3) and full BPTT (K = T).
//!
//! One state; per truncation, the gradient of the K-step loss with respect to θ by reverse
//! mode through the K steps, the incoming state being a constant (so the influence of θ on
//! earlier steps is dropped: biased). The state is then carried on with θ.

use super::base::{Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, grad_values, meta_field};
use crate::error::Result;
use crate::problems::{ParticleState, UnrolledProblem, matrix, row_sums};
use burn::tensor::{Device, Tensor};

/// TBPTT (`kind = tbptt`) or BPTT (`kind = bptt`, K = T).
pub struct Tbptt<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    state: Option<S>,
}

impl<S> Tbptt<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            state: None,
        }
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Tbptt<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let d = theta.len();
        let theta_t = matrix(theta, 1, d, &self.device).autodiff().require_grad();
        let mut state = match self.state.take() {
            Some(s) => s,
            None => problem.init_state(1, &self.device),
        };
        let mut objective: Option<Tensor<1>> = None;
        let mut loss = 0.0;
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            let (next, terms) = problem.unroll(state, theta_t.clone(), seg.window);
            loss += row_sums(terms.clone(), "TBPTT unroll")?[0];
            let sum = terms.sum();
            objective = Some(match objective {
                Some(o) => o + sum,
                None => sum,
            });
            self.clock.advance(&seg);
            state = if seg.ends_episode {
                ended += 1;
                problem.init_state(1, &self.device)
            } else {
                next
            };
        }
        let grad = match objective {
            Some(o) if o.is_tracked() => grad_values(theta_t.grad(&o.backward()), d)?,
            _ => vec![0.0; d],
        };
        self.state = Some(state.detach());
        Ok(Estimate {
            grad,
            loss,
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(serde_json::json!({ "clock": self.clock }), self.state.as_ref())
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.state = snapshot.state(&self.device)?;
        Ok(())
    }
}
