//! Meta-training checkpoints: θ, the outer optimiser, the estimator's persistent values
//! (clock, ξ, perturbation counters) and the particles' inner states.
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
//! **Files.** `state-<step>.json` (θ, optimiser, estimator snapshot, history) and
//! `particles-<step>.safetensors` (the particles' inner states, f32, tensors named
//! `particles.000`, `particles.001`, … in [`ParticleState::to_data`](crate::problems::ParticleState::to_data)
//! order) are written atomically, then `latest.json` (naming the step) is renamed into place,
//! so a run killed at any instant resumes from the last complete checkpoint.

use crate::error::{PesError, Result};
use crate::estimators::Snapshot;
use crate::outer::OuterOptimizer;
use burn::tensor::TensorData;
use repro_core::train::run_dir::write_atomic;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
}

fn err(path: &Path, message: impl ToString) -> PesError {
    PesError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The safetensors metadata key naming the format.
const FORMAT_KEY: &str = "format";
/// This module's format.
const FORMAT: &str = "pes-particles-v1";

fn tensor_name(i: usize) -> String {
    format!("particles.{i:03}")
}

/// Writes `tensors` (as f32) to the safetensors file `path`, atomically.
pub fn write_tensors(path: &Path, tensors: &[TensorData]) -> Result<()> {
    let mut named = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let values = t
            .clone()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| err(path, format!("{e:?}")))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((tensor_name(i), t.shape().to_vec(), bytes));
    }
    let views = named
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| err(path, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([(FORMAT_KEY.to_string(), FORMAT.to_string())]);
    let bytes = safetensors::serialize(views, Some(info)).map_err(|e| err(path, e))?;
    write_atomic(path, &bytes).map_err(|e| err(path, e))
}

/// Reads a file written by [`write_tensors`], in the order they were written.
pub fn read_tensors(path: &Path) -> Result<Vec<TensorData>> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| err(path, e))?;
    let format = metadata.metadata().as_ref().and_then(|m| m.get(FORMAT_KEY));
    if format.map(String::as_str) != Some(FORMAT) {
        return Err(err(
            path,
            format!("not a PES particle file (format {format:?}, expected {FORMAT})"),
        ));
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| err(path, e))?;
    let count = file.len();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let name = tensor_name(i);
        let view = file
            .tensor(&name)
            .map_err(|e| err(path, format!("tensor `{name}`: {e}")))?;
        if view.dtype() != Dtype::F32 {
            return Err(err(
                path,
                format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        out.push(TensorData::new(values, view.shape().to_vec()));
    }
    Ok(out)
}

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

    /// Saves the state after `state.iteration` outer iterations.
    pub fn save(&self, state: &MetaState, snapshot: &Snapshot) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let it = state.iteration;
        write_tensors(
            &self.dir.join(format!("particles-{it:07}.safetensors")),
            &snapshot.tensors,
        )?;
        let json = serde_json::to_vec(state).map_err(|e| err(&self.dir, e))?;
        write_atomic(&self.dir.join(format!("state-{it:07}.json")), &json).map_err(|e| err(&self.dir, e))?;
        let latest = self.dir.join("latest.json");
        let previous = self.latest_iteration();
        write_atomic(
            &latest,
            serde_json::json!({ "iteration": it }).to_string().as_bytes(),
        )
        .map_err(|e| err(&latest, e))?;
        if let Some(p) = previous.filter(|&p| p != it) {
            let _ = std::fs::remove_file(self.dir.join(format!("particles-{p:07}.safetensors")));
            let _ = std::fs::remove_file(self.dir.join(format!("state-{p:07}.json")));
        }
        Ok(())
    }

    fn latest_iteration(&self) -> Option<usize> {
        let text = std::fs::read_to_string(self.dir.join("latest.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["iteration"].as_u64().map(|i| i as usize)
    }

    /// The latest complete checkpoint, if any.
    pub fn load(&self) -> Result<Option<(MetaState, Snapshot)>> {
        let Some(it) = self.latest_iteration() else {
            return Ok(None);
        };
        let path = self.dir.join(format!("state-{it:07}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
        let state: MetaState = serde_json::from_str(&text).map_err(|e| err(&path, e))?;
        let tensors = read_tensors(&self.dir.join(format!("particles-{it:07}.safetensors")))?;
        let snapshot = Snapshot {
            meta: state.estimator.clone(),
            tensors,
        };
        Ok(Some((state, snapshot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tensor comes back with its shape and values, in the order written (also past
    /// ten tensors, where names sorted as text would misorder them).
    #[test]
    fn tensor_files_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        let mut tensors = vec![TensorData::new(vec![1.0f32, -2.5, 3.0, 4.0, 5.0, 6.0], [2, 3])];
        tensors.extend((0..11).map(|i| TensorData::new(vec![i as f32; i + 1], [1, i + 1])));
        write_tensors(&p, &tensors).unwrap();
        let back = read_tensors(&p).unwrap();
        assert_eq!(back.len(), tensors.len());
        for (a, b) in tensors.iter().zip(&back) {
            assert_eq!(a.shape().to_vec(), b.shape().to_vec());
            assert_eq!(
                a.clone().try_to_vec::<f32>().unwrap(),
                b.clone().try_to_vec::<f32>().unwrap()
            );
        }
        assert!(write_tensors(&p, &[]).is_ok() && read_tensors(&p).unwrap().is_empty());
    }

    /// A safetensors file of another program is refused with the path in the message.
    #[test]
    fn foreign_safetensors_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("other.safetensors");
        let bytes = [0u8; 4];
        let view = TensorView::new(Dtype::F32, vec![1], &bytes).unwrap();
        std::fs::write(&p, safetensors::serialize([("w", view)], None).unwrap()).unwrap();
        let e = read_tensors(&p).unwrap_err().to_string();
        assert!(
            e.contains("other.safetensors") && e.contains("not a PES particle file"),
            "{e}"
        );
    }
}
