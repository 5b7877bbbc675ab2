//! What every estimator of the paper's comparison (§3–§4, Table 1) shares: the
//! [`GradientEstimator`] trait, its settings ([`EstimatorConfig`], [`EstimatorKind`]), the
//! episode [`Clock`], checkpoint [`Snapshot`]s and the host-side arithmetic of the estimates.
//!
//! An estimator owns whatever persists between truncations (inner states, accumulated
//! perturbations ξ, the position in the episode) and turns "the next K inner steps" into
//! an estimate of `∇_θ` of the (smoothed) loss of those steps.

use crate::error::{PesError, Result};
use crate::problems::{ParticleState, UnrolledProblem, Window};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// One gradient estimate from one truncation.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The estimate of `∇_θ` (length `theta_dim`).
    pub grad: Vec<f64>,
    /// Mean over particles of the truncation loss `L_i` (for the unperturbed θ where the
    /// method has one, e.g. TBPTT).
    pub loss: f64,
    /// Number of episodes that ended during this truncation.
    pub episodes_ended: usize,
}

/// Position of the (lock-step) particles in the episode sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Inner steps taken in the current episode.
    pub t: usize,
    /// Index of the current episode.
    pub episode: u64,
}

/// A piece of a truncation that does not cross an episode end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The inner steps of the piece.
    pub window: Window,
    /// Whether the episode ends after this segment (the state must then be reset).
    pub ends_episode: bool,
}

impl Clock {
    /// Splits the next `k` inner steps at episode ends (`horizon` = `T`), as
    /// learned_optimization does for truncations that cross the end of an episode.
    pub fn segments(&self, k: usize, horizon: Option<usize>) -> Vec<Segment> {
        let mut out = Vec::new();
        let (mut t, mut episode, mut left) = (self.t, self.episode, k);
        while left > 0 {
            let room = horizon.map_or(left, |h| h - t);
            let steps = left.min(room);
            let ends_episode = horizon.is_some_and(|h| t + steps >= h);
            out.push(Segment {
                window: Window {
                    episode,
                    t0: t,
                    steps,
                },
                ends_episode,
            });
            left -= steps;
            if ends_episode {
                t = 0;
                episode += 1;
            } else {
                t += steps;
            }
        }
        out
    }

    /// Moves past a segment returned by [`Clock::segments`].
    pub fn advance(&mut self, segment: &Segment) {
        if segment.ends_episode {
            self.t = 0;
            self.episode += 1;
        } else {
            self.t += segment.window.steps;
        }
    }
}

/// Which estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum EstimatorKind {
    /// Persistent ES (§4, Eq. 7): per-particle states, accumulated perturbations ξ.
    Pes,
    /// Truncated ES: particles restart from a shared state advanced with the mean θ (biased).
    TruncatedEs,
    /// Vanilla ES over whole episodes (truncated ES with K = T).
    Es,
    /// Truncated backpropagation through time (biased).
    Tbptt,
    /// Backpropagation through whole episodes (TBPTT with K = T).
    Bptt,
    /// Real-time recurrent learning (exact forward-mode gradient; small states only).
    Rtrl,
    /// Noise-reuse ES (Li et al., 2023): one perturbation per episode, per-particle states.
    NoiseReuseEs,
    /// Unbiased online recurrent optimisation (Tallec & Ollivier, 2018): a rank-one
    /// stochastic estimate of the RTRL sensitivity (small host problems only).
    Uoro,
}

impl EstimatorKind {
    /// Short display name.
    pub fn label(self) -> &'static str {
        match self {
            EstimatorKind::Pes => "PES",
            EstimatorKind::TruncatedEs => "TES",
            EstimatorKind::Es => "ES",
            EstimatorKind::Tbptt => "TBPTT",
            EstimatorKind::Bptt => "BPTT",
            EstimatorKind::Rtrl => "RTRL",
            EstimatorKind::NoiseReuseEs => "NRES",
            EstimatorKind::Uoro => "UORO",
        }
    }

    /// Whether the method draws perturbations (uses `particles` and `sigma`).
    pub fn is_evolutionary(self) -> bool {
        matches!(
            self,
            EstimatorKind::Pes | EstimatorKind::TruncatedEs | EstimatorKind::Es | EstimatorKind::NoiseReuseEs
        )
    }
}

/// A method of the comparison: the estimator and, for the methods that truncate, K. Results
/// are keyed by it (reports match on it, never on display labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// The estimator.
    pub kind: EstimatorKind,
    /// The truncation length K; `None` for the whole-episode methods (ES, BPTT: K = T).
    pub truncation: Option<usize>,
}

impl Method {
    /// `kind` with truncation length `k` (dropped for ES and BPTT).
    pub fn new(kind: EstimatorKind, k: usize) -> Self {
        let truncation = match kind {
            EstimatorKind::Es | EstimatorKind::Bptt => None,
            _ => Some(k),
        };
        Self { kind, truncation }
    }
}

/// A label such as `PES K=10` (or `ES` for a whole-episode method).
impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.truncation {
            Some(k) => write!(f, "{} K={k}", self.kind.label()),
            None => f.write_str(self.kind.label()),
        }
    }
}

/// Settings of an estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatorConfig {
    /// Which estimator.
    pub kind: EstimatorKind,
    /// Number of particles N (even; antithetic pairs). Ignored by TBPTT/BPTT/RTRL.
    pub particles: usize,
    /// Perturbation standard deviation σ.
    pub sigma: f64,
    /// Truncation length K (ignored by ES and BPTT, which use K = T).
    pub truncation: usize,
    /// Seed of the perturbations.
    pub seed: u64,
}

impl EstimatorConfig {
    /// A configuration of `kind` with K, N and σ.
    pub fn new(kind: EstimatorKind, truncation: usize, particles: usize, sigma: f64) -> Self {
        Self {
            kind,
            particles,
            sigma,
            truncation,
            seed: 0,
        }
    }

    /// The same with another perturbation seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The truncation length actually used on a problem with episode length `horizon`.
    pub fn effective_truncation(&self, horizon: Option<usize>) -> Result<usize> {
        match self.kind {
            EstimatorKind::Es | EstimatorKind::Bptt => horizon.ok_or_else(|| {
                PesError::Config(format!(
                    "{} unrolls whole episodes, but this problem never ends (T = ∞)",
                    self.kind.label()
                ))
            }),
            _ if self.truncation == 0 => Err(PesError::Config("the truncation length K must be ≥ 1".into())),
            _ => Ok(self.truncation),
        }
    }

    /// The method these settings run (kind and K).
    pub fn method(&self) -> Method {
        Method::new(self.kind, self.truncation)
    }

    /// A label such as `PES K=10` (the [`Method`]'s display).
    pub fn label(&self) -> String {
        self.method().to_string()
    }
}

/// What an estimator must save so that a run resumes exactly.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Small values (clock, ξ, perturbation counters) as JSON.
    pub meta: serde_json::Value,
    /// Inner states of the particles.
    pub tensors: Vec<TensorData>,
}

impl Snapshot {
    /// A snapshot of `meta` and the (possibly not yet created) particle state.
    pub fn new<S: ParticleState>(meta: serde_json::Value, state: Option<&S>) -> Self {
        Self {
            meta,
            tensors: state.map(|s| s.to_data()).unwrap_or_default(),
        }
    }

    /// The particle state saved by [`Snapshot::new`], rebuilt on `device`.
    pub fn state<S: ParticleState>(&mut self, device: &Device) -> Result<Option<S>> {
        if self.tensors.is_empty() {
            return Ok(None);
        }
        S::from_data(std::mem::take(&mut self.tensors), device).map(Some)
    }
}

/// A gradient estimator for the problem `P` (one per method; swappable through
/// [`build`](super::build)).
pub trait GradientEstimator<P: UnrolledProblem> {
    /// The settings it was built with.
    fn config(&self) -> &EstimatorConfig;
    /// Runs the next truncation at the current `theta` and estimates the gradient.
    fn estimate(&mut self, problem: &P, theta: &[f64]) -> Result<Estimate>;
    /// Everything that persists between truncations.
    fn snapshot(&self) -> Snapshot;
    /// Restores a [`GradientEstimator::snapshot`].
    fn restore(&mut self, snapshot: Snapshot) -> Result<()>;
}

/// `Σ_i L_i v_i / (N σ²)` accumulated into `grad` (`v`: `N × d` row-major).
pub fn accumulate_weighted(grad: &mut [f64], losses: &[f64], v: &[f64], sigma: f64) {
    let d = grad.len();
    let scale = 1.0 / (losses.len() as f64 * sigma * sigma);
    for (i, l) in losses.iter().enumerate() {
        for j in 0..d {
            grad[j] += l * v[i * d + j] * scale;
        }
    }
}

/// Mean of a slice.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The host values of a `[1, d]` or `[d]` gradient (zeros when absent); non-finite values
/// are an error.
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

/// Rejects a non-finite gradient or loss of a forward-mode estimator.
pub(crate) fn check_finite(grad: &[f64], loss: f64, what: &str) -> Result<()> {
    if let Some(bad) = grad.iter().copied().chain([loss]).find(|x| !x.is_finite()) {
        return Err(PesError::NonFiniteLoss {
            what: format!("{what} estimate"),
            particle: 0,
            value: bad,
        });
    }
    Ok(())
}

/// Reads a field of a snapshot's JSON.
pub(crate) fn meta_field<T: serde::de::DeserializeOwned>(meta: &serde_json::Value, key: &str) -> Result<T> {
    serde_json::from_value(meta.get(key).cloned().unwrap_or(serde_json::Value::Null))
        .map_err(|e| PesError::Config(format!("estimator snapshot field `{key}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncations_are_split_at_episode_ends() {
        let clock = Clock { t: 6, episode: 2 };
        let segs = clock.segments(7, Some(10));
        assert_eq!(segs.len(), 2);
        assert_eq!(
            segs[0].window,
            Window {
                episode: 2,
                t0: 6,
                steps: 4
            }
        );
        assert!(segs[0].ends_episode);
        assert_eq!(
            segs[1].window,
            Window {
                episode: 3,
                t0: 0,
                steps: 3
            }
        );
        assert!(!segs[1].ends_episode);
        let mut c = clock;
        for s in &segs {
            c.advance(s);
        }
        assert_eq!(c, Clock { t: 3, episode: 3 });
        assert_eq!(Clock::default().segments(5, None).len(), 1);
        assert!(Clock::default().segments(10, Some(10))[0].ends_episode);
    }
}
