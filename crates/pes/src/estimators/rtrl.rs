//! Real-time recurrent learning (Williams & Zipser, 1989; a baseline in the paper's §5.1
//! and §5.2).
//!
//! Carries the exact sensitivity `J_t = ds_t/dθ` (`S × d`, f64) forward:
//! `dℓ_t/dθ = ∂ℓ/∂s · J_t + ∂ℓ/∂θ` and `J_{t+1} = ∂f/∂s · J_t + ∂f/∂θ`, one inner step at
//! a time, from the exact step derivatives of a host problem
//! ([`HostDynamics`]). `J` is reset when an episode ends and
//! carried across truncations otherwise (online RTRL: θ changes between truncations).

use super::base::{Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, meta_field};
use crate::error::{PesError, Result};
use crate::problems::{HostDynamics, UnrolledProblem};

/// One forward-mode step of one particle: advances `s` and `jac` (`S × d`; empty = zero) and
/// returns the step's loss and `dℓ/dθ`.
pub(crate) fn forward_step(
    h: &dyn HostDynamics,
    s: &mut [f64],
    theta: &[f64],
    t: usize,
    last: bool,
    jac: &mut Vec<f64>,
) -> (f64, Vec<f64>) {
    let (n, d) = (h.state_size(), h.dim());
    if jac.len() != n * d {
        *jac = vec![0.0; n * d];
    }
    let j = h.jacobians(s, theta, t, last);
    let mut g = j.ltheta.clone();
    for (k, gk) in g.iter_mut().enumerate() {
        for i in 0..n {
            *gk += j.ls[i] * jac[i * d + k];
        }
    }
    let mut next = j.ftheta;
    for r in 0..n {
        for i in 0..n {
            let a = j.fs[r * n + i];
            if a != 0.0 {
                for k in 0..d {
                    next[r * d + k] += a * jac[i * d + k];
                }
            }
        }
    }
    *jac = next;
    let loss = h.step(s, theta, t, last);
    (loss, g)
}

/// The host dynamics of `problem`, or an error naming the method that needs them.
pub(crate) fn host_of<'a, P: UnrolledProblem>(problem: &'a P, method: &str) -> Result<&'a dyn HostDynamics> {
    problem.host().ok_or_else(|| {
        PesError::Config(format!(
            "{method} needs exact step derivatives; the {} problem does not provide them",
            problem.name()
        ))
    })
}

/// The RTRL estimator.
pub struct Rtrl {
    config: EstimatorConfig,
    clock: Clock,
    /// The particle's state; empty before the first truncation.
    state: Vec<f64>,
    /// `ds/dθ`, `S × d` row-major (empty = zero, at the start of an episode).
    jac: Vec<f64>,
}

impl Rtrl {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)).
    pub fn new(config: EstimatorConfig) -> Self {
        Self {
            config,
            clock: Clock::default(),
            state: Vec::new(),
            jac: Vec::new(),
        }
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Rtrl {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let h = host_of(problem, "RTRL")?;
        if self.state.is_empty() {
            self.state = h.initial();
        }
        let mut grad = vec![0.0; theta.len()];
        let mut loss = 0.0;
        let mut ended = 0;
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            for i in 0..seg.window.steps {
                let last = i + 1 == seg.window.steps;
                let t = seg.window.t0 + i;
                let (l, g) = forward_step(h, &mut self.state, theta, t, last, &mut self.jac);
                loss += l;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            self.clock.advance(&seg);
            if seg.ends_episode {
                ended += 1;
                self.jac.clear();
                self.state = h.initial();
            }
        }
        super::base::check_finite(&grad, loss, "RTRL")?;
        Ok(Estimate {
            grad,
            loss,
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            meta: serde_json::json!({ "clock": self.clock, "jac": self.jac, "state": self.state }),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.jac = meta_field(&snapshot.meta, "jac")?;
        self.state = meta_field(&snapshot.meta, "state")?;
        Ok(())
    }
}
