//! Truncated backpropagation through time (paper §3) and full BPTT (K = T).
//!
//! One state; per truncation, the gradient of the K-step loss with respect to θ by reverse
//! mode through the K steps, the incoming state being a constant (so the influence of θ on
//! earlier steps is dropped: biased). The state is then carried on with θ.

use crate::error::{PesError, Result};
use crate::estimator::{Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, meta_field};
use crate::problem::{ParticleState, UnrolledProblem, matrix, row_sums};
use burn::tensor::{Device, Tensor};

/// TBPTT (`kind = tbptt`) or BPTT (`kind = bptt`, K = T).
pub struct Tbptt<S> {
    config: EstimatorConfig,
    device: Device,
    clock: Clock,
    state: Option<S>,
}

impl<S> Tbptt<S> {
    pub fn new(config: EstimatorConfig, device: &Device) -> Self {
        Self {
            config,
            device: device.clone(),
            clock: Clock::default(),
            state: None,
        }
    }
}

/// The host values of a `[1, d]` or `[d]` gradient.
pub(crate) fn grad_values<const D: usize>(g: Option<Tensor<D>>, d: usize) -> Result<Vec<f64>> {
    let Some(g) = g else {
        return Ok(vec![0.0; d]);
    };
    let v = g
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| PesError::Config(format!("cannot read gradient: {e:?}")))?;
    let v: Vec<f64> = v.into_iter().map(f64::from).collect();
    if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
        return Err(PesError::NonFiniteLoss {
            what: "backpropagated gradient".into(),
            particle: 0,
            value: *bad,
        });
    }
    Ok(v)
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
