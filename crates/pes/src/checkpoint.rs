//! Meta-training checkpoints: θ, the outer optimiser, the estimator's persistent values
//! (clock, ξ, perturbation counters) and the particles' inner states, in the workspace's one
//! checkpoint format ([`repro_core::train::checkpoint`]) under the workspace's resume rule
//! ([`repro_core::train::resume`]).
//!
//! **Step.** A checkpoint's step is `MetaState::iteration`: the number of outer iterations
//! completed (estimates taken and applied to θ). Resuming from step `n` runs iteration
//! `n + 1` next, exactly as the uninterrupted run would.
//!
//! **Randomness on resume.** No generator state is saved because none is carried: every
//! random draw is a pure function of saved counters. Perturbations are drawn from
//! `(seed, call)` ([`crate::noise::antithetic`]), the call counter being part of the
//! estimator's snapshot; MNIST minibatches from `(seed, episode, t)`, the episode clock being
//! part of the snapshot too; initial networks from the config's seed. A resumed run therefore
//! reseeds each generator where the interrupted one would have, and draws the same numbers.
//!
//! **Files.** The JSON index holds [`MetaState`] (θ, optimiser, estimator snapshot, history);
//! the particles' inner states go to the checkpoint's safetensors file (f32, in
//! [`ParticleState::to_data`](crate::problems::ParticleState::to_data) order, format
//! `pes-particles-v1`).

use crate::error::{PesError, Result};
use crate::estimators::Snapshot;
use crate::outer::OuterOptimizer;
use repro_core::train::Checkpointer;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One logged outer iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRecord {
    /// Outer iterations completed.
    pub iteration: usize,
    /// θ after `iteration` outer iterations.
    pub theta: Vec<f64>,
    /// Mean truncation loss seen by the estimator at this iteration (none at iteration 0).
    pub truncation_loss: Option<f64>,
    /// The problem's evaluation metric at `theta`, when evaluated.
    pub eval: Option<f64>,
}

/// Everything but the particle tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaState {
    /// The checkpoint's step: outer iterations completed.
    pub iteration: usize,
    /// θ after them.
    pub theta: Vec<f64>,
    /// The outer optimiser with its moments.
    pub optimizer: OuterOptimizer,
    /// The estimator's [`Snapshot::meta`] (clock, ξ, perturbation counters).
    pub estimator: serde_json::Value,
    /// The evaluated records so far.
    pub history: Vec<MetaRecord>,
    /// Wall-clock seconds spent on the method up to this checkpoint (0 in checkpoints
    /// written before it was recorded).
    #[serde(default)]
    pub seconds: f64,
}

/// The format tag of the particle tensors.
const FORMAT: &str = "pes-particles-v1";

/// The checkpoints of one method's meta-training, in `dir`.
#[derive(Debug, Clone)]
pub struct MetaCheckpointer {
    /// The folder of this method's checkpoints.
    pub dir: PathBuf,
}

impl MetaCheckpointer {
    /// Checkpoints in `dir` (created on the first save).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn inner(&self) -> Checkpointer {
        Checkpointer {
            dir: self.dir.clone(),
            keep: 1,
        }
    }

    fn err(&self, e: repro_core::Error) -> PesError {
        PesError::Checkpoint {
            path: self.dir.clone(),
            message: e.to_string(),
        }
    }

    /// Saves the state after `state.iteration` outer iterations.
    pub fn save(&self, state: &MetaState, snapshot: &Snapshot) -> Result<()> {
        self.inner()
            .save_tensors(state.iteration, FORMAT, &snapshot.tensors, state)
            .map_err(|e| self.err(e))
    }

    /// The state of the latest complete checkpoint without its particle tensors, if any.
    pub fn latest_state(&self) -> Result<Option<MetaState>> {
        let ck = self.inner().latest::<MetaState>().map_err(|e| self.err(e))?;
        Ok(ck.map(|c| c.state))
    }

    /// The latest complete checkpoint, if any.
    pub fn load(&self) -> Result<Option<(MetaState, Snapshot)>> {
        let inner = self.inner();
        let Some(ck) = inner.latest::<MetaState>().map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let tensors = inner.load_tensors(&ck, FORMAT).map_err(|e| self.err(e))?;
        let snapshot = Snapshot {
            meta: ck.state.estimator.clone(),
            tensors,
        };
        Ok(Some((ck.state, snapshot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// θ, the optimiser, the estimator snapshot and every particle tensor come back, in order
    /// (also past ten tensors), from the latest of several checkpoints.
    #[test]
    fn the_latest_checkpoint_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let ck = MetaCheckpointer::new(dir.path().join("m"));
        assert!(ck.load().unwrap().is_none());
        for it in 1..=3 {
            let state = MetaState {
                iteration: it,
                theta: vec![it as f64, -0.5],
                optimizer: OuterOptimizer::new(crate::outer::OuterConfig::adam(1e-2, 0.9), 2),
                estimator: serde_json::json!({ "clock": it }),
                history: Vec::new(),
                seconds: it as f64,
            };
            let tensors = (0..12)
                .map(|i| TensorData::new(vec![(it * 100 + i) as f32; i + 1], [1, i + 1]))
                .collect();
            ck.save(
                &state,
                &Snapshot {
                    meta: state.estimator.clone(),
                    tensors,
                },
            )
            .unwrap();
        }
        let (state, snap) = ck.load().unwrap().unwrap();
        assert_eq!((state.iteration, state.theta.clone()), (3, vec![3.0, -0.5]));
        assert_eq!(snap.meta["clock"], 3);
        assert_eq!(snap.tensors.len(), 12);
        for (i, t) in snap.tensors.iter().enumerate() {
            assert_eq!(t.shape().to_vec(), vec![1, i + 1]);
            assert_eq!(
                t.clone().try_to_vec::<f32>().unwrap(),
                vec![(300 + i) as f32; i + 1]
            );
        }
    }
}
