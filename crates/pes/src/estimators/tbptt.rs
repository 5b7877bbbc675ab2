//! Truncated backpropagation through time (paper §3) and full BPTT (K = T).
//!
//! One state; per truncation, the gradient of the K-step loss with respect to θ by reverse
//! mode through the K steps, the incoming state being a constant (so the influence of θ on
//! earlier steps is dropped: biased). The state is then carried on with θ. On host problems
//! ([`HostDynamics`]) the same gradient comes from forward
//! mode in f64, the sensitivity starting at zero at every truncation.

use super::base::{
    Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, check_finite, grad_values, meta_field,
};
use super::rtrl::forward_step;
use crate::error::Result;
use crate::problems::{HostDynamics, ParticleState, UnrolledProblem, matrix, row_sums};
use burn::tensor::{Device, Tensor};

/// TBPTT (`kind = tbptt`) or BPTT (`kind = bptt`, K = T).
pub struct Tbptt<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    state: Option<S>,
    /// The state on host problems (empty before the first truncation).
    host_state: Vec<f64>,
}

impl<S> Tbptt<S> {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)) on `device`.
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            state: None,
            host_state: Vec::new(),
        }
    }
}

impl<S> Tbptt<S> {
    /// Forward-mode TBPTT on a host problem: the sensitivity starts at zero (the incoming
    /// state is a constant) and restarts at an episode end.
    fn estimate_host(
        &mut self,
        h: &dyn HostDynamics,
        horizon: Option<usize>,
        theta: &[f64],
    ) -> Result<Estimate> {
        if self.host_state.is_empty() {
            self.host_state = h.initial();
        }
        let mut jac = Vec::new();
        let mut grad = vec![0.0; theta.len()];
        let (mut loss, mut ended) = (0.0, 0);
        for seg in self.clock.segments(self.config.truncation, horizon) {
            for i in 0..seg.window.steps {
                let last = i + 1 == seg.window.steps;
                let (l, g) = forward_step(h, &mut self.host_state, theta, seg.window.t0 + i, last, &mut jac);
                loss += l;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            self.clock.advance(&seg);
            if seg.ends_episode {
                ended += 1;
                jac.clear();
                self.host_state = h.initial();
            }
        }
        check_finite(&grad, loss, "TBPTT")?;
        Ok(Estimate {
            grad,
            loss,
            episodes_ended: ended,
        })
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Tbptt<P::State> {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        if let Some(h) = problem.host() {
            return self.estimate_host(h, problem.horizon(), theta);
        }
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
        Snapshot::new(
            serde_json::json!({ "clock": self.clock, "host_state": self.host_state }),
            self.state.as_ref(),
        )
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.host_state = meta_field::<Option<Vec<f64>>>(&snapshot.meta, "host_state")?.unwrap_or_default();
        self.state = snapshot.state(&self.device)?;
        Ok(())
    }
}
