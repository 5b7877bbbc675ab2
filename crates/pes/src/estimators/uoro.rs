//! Unbiased Online Recurrent Optimisation (Tallec & Ollivier, ICLR 2018, Algorithm 1), a
//! baseline of the paper's influence-balancing comparison (§5.1).
//!
//! UORO replaces RTRL's sensitivity `J = ds/dθ` (`S × d`) by a rank-one product `s̃ θ̃ᵀ`
//! whose expectation is `J`. Per inner step, with `ν` a vector of independent random signs:
//! the step's gradient is `(∂ℓ/∂s · s̃) θ̃ + ∂ℓ/∂θ`, then
//! `s̃ ← ρ₀ (∂f/∂s s̃) + ρ₁ ν` and `θ̃ ← θ̃ / ρ₀ + (νᵀ ∂f/∂θ) / ρ₁` with
//! `ρ₀ = √(‖θ̃‖ / ‖∂f/∂s s̃‖)`, `ρ₁ = √(‖νᵀ ∂f/∂θ‖ / ‖ν‖)` (variance-minimising scales). The
//! cross terms have mean zero (`E[ν] = 0`, `ρ₁(ν) = ρ₁(−ν)`) and `E[ν νᵀ] = I`, so
//! `E[s̃ θ̃ᵀ] = J` step after step. Both vectors are reset when an episode ends. Needs the
//! exact step derivatives of a host problem ([`HostDynamics`]).

use super::base::{Clock, Estimate, EstimatorConfig, GradientEstimator, Snapshot, check_finite, meta_field};
use super::rtrl::host_of;
use crate::error::Result;
use crate::noise::mix;
use crate::problems::{HostDynamics, UnrolledProblem};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Guards the scales against zero norms (as UORO's reference implementation).
const TINY: f64 = 1e-7;

/// The UORO estimator (`kind = uoro`).
pub struct Uoro {
    config: EstimatorConfig,
    clock: Clock,
    calls: u64,
    /// The particle's state; empty before the first truncation.
    state: Vec<f64>,
    /// `s̃` (length `S`; empty = zero).
    s_tilde: Vec<f64>,
    /// `θ̃` (length `d`; empty = zero).
    theta_tilde: Vec<f64>,
}

impl Uoro {
    /// The estimator of `config` (K already resolved, see [`build`](super::build)).
    pub fn new(config: EstimatorConfig) -> Self {
        Self {
            config,
            clock: Clock::default(),
            calls: 0,
            state: Vec::new(),
            s_tilde: Vec::new(),
            theta_tilde: Vec::new(),
        }
    }

    /// One inner step: the step's loss and gradient estimate; updates `s̃`, `θ̃` and the state.
    fn step(
        &mut self,
        h: &dyn HostDynamics,
        theta: &[f64],
        t: usize,
        last: bool,
        rng: &mut StdRng,
    ) -> (f64, Vec<f64>) {
        let (n, d) = (h.state_size(), h.dim());
        if self.s_tilde.len() != n || self.theta_tilde.len() != d {
            self.s_tilde = vec![0.0; n];
            self.theta_tilde = vec![0.0; d];
        }
        let j = h.jacobians(&self.state, theta, t, last);
        let ls_dot: f64 = j.ls.iter().zip(&self.s_tilde).map(|(a, b)| a * b).sum();
        let grad: Vec<f64> = j
            .ltheta
            .iter()
            .zip(&self.theta_tilde)
            .map(|(l, tt)| l + ls_dot * tt)
            .collect();
        // ∂f/∂s s̃ and νᵀ ∂f/∂θ.
        let fs_s: Vec<f64> = (0..n)
            .map(|r| (0..n).map(|i| j.fs[r * n + i] * self.s_tilde[i]).sum())
            .collect();
        let nu: Vec<f64> = (0..n)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let nu_f: Vec<f64> = (0..d)
            .map(|k| (0..n).map(|i| nu[i] * j.ftheta[i * d + k]).sum())
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let rho0 = ((norm(&self.theta_tilde) + TINY) / (norm(&fs_s) + TINY)).sqrt();
        let rho1 = ((norm(&nu_f) + TINY) / (norm(&nu) + TINY)).sqrt();
        self.s_tilde = fs_s.iter().zip(&nu).map(|(f, v)| rho0 * f + rho1 * v).collect();
        self.theta_tilde = self
            .theta_tilde
            .iter()
            .zip(&nu_f)
            .map(|(tt, f)| tt / rho0 + f / rho1)
            .collect();
        let loss = h.step(&mut self.state, theta, t, last);
        (loss, grad)
    }
}

impl<P: UnrolledProblem> GradientEstimator<P> for Uoro {
    fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate> {
        let h = host_of(problem, "UORO")?;
        if self.state.is_empty() {
            self.state = h.initial();
        }
        let mut rng = StdRng::seed_from_u64(mix(self.config.seed, self.calls));
        self.calls += 1;
        let mut grad = vec![0.0; theta.len()];
        let (mut loss, mut ended) = (0.0, 0);
        for seg in self.clock.segments(self.config.truncation, problem.horizon()) {
            for i in 0..seg.window.steps {
                let last = i + 1 == seg.window.steps;
                let (l, g) = self.step(h, theta, seg.window.t0 + i, last, &mut rng);
                loss += l;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            self.clock.advance(&seg);
            if seg.ends_episode {
                ended += 1;
                self.s_tilde.clear();
                self.theta_tilde.clear();
                self.state = h.initial();
            }
        }
        check_finite(&grad, loss, "UORO")?;
        Ok(Estimate {
            grad,
            loss,
            episodes_ended: ended,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            meta: serde_json::json!({
                "clock": self.clock, "calls": self.calls, "state": self.state,
                "s_tilde": self.s_tilde, "theta_tilde": self.theta_tilde,
            }),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<()> {
        self.clock = meta_field(&snapshot.meta, "clock")?;
        self.calls = meta_field(&snapshot.meta, "calls")?;
        self.state = meta_field(&snapshot.meta, "state")?;
        self.s_tilde = meta_field(&snapshot.meta, "s_tilde")?;
        self.theta_tilde = meta_field(&snapshot.meta, "theta_tilde")?;
        Ok(())
    }
}
