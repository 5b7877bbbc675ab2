//! Meta-training checkpoints: θ, the outer optimiser, the estimator's persistent values
//! (clock, ξ, perturbation counters) and the particles' inner states.
//!
//! `state-<iteration>.json` and `particles-<iteration>.bin` are written atomically, then
//! `latest.json` (naming the iteration) is renamed into place, so a run killed at any instant
//! resumes from the last complete checkpoint. The tensor file is a tiny binary format:
//! `PESB`, count (u32), then per tensor rank (u32), dims (u64 each), f32 values (LE).

use crate::error::{PesError, Result};
use crate::estimators::Snapshot;
use crate::outer::OuterOptimizer;
use burn::tensor::TensorData;
use repro_core::train::run_dir::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One logged outer iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRecord {
    /// Outer iterations completed.
    pub iteration: usize,
    pub theta: Vec<f64>,
    /// Mean truncation loss seen by the estimator at this iteration (none at iteration 0).
    pub truncation_loss: Option<f64>,
    /// The problem's evaluation metric at `theta`, when evaluated.
    pub eval: Option<f64>,
}

/// Everything but the particle tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaState {
    pub iteration: usize,
    pub theta: Vec<f64>,
    pub optimizer: OuterOptimizer,
    pub estimator: serde_json::Value,
    pub history: Vec<MetaRecord>,
}

fn err(path: &Path, message: impl ToString) -> PesError {
    PesError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Writes `tensors` (f32) to `path` atomically.
pub fn write_tensors(path: &Path, tensors: &[TensorData]) -> Result<()> {
    let mut bytes = b"PESB".to_vec();
    bytes.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        let shape = t.shape().to_vec();
        bytes.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in &shape {
            bytes.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        let values = t
            .clone()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| err(path, format!("{e:?}")))?;
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    write_atomic(path, &bytes).map_err(|e| err(path, e))
}

/// Reads a file written by [`write_tensors`].
pub fn read_tensors(path: &Path) -> Result<Vec<TensorData>> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes
            .get(pos..pos + n)
            .ok_or_else(|| err(path, "truncated tensor file"))?;
        pos += n;
        Ok(s)
    };
    if take(4)? != b"PESB" {
        return Err(err(path, "not a PES tensor file"));
    }
    let count = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let rank = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize);
        }
        let len: usize = shape.iter().product();
        let raw = take(4 * len)?;
        let values: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        out.push(TensorData::new(values, shape));
    }
    Ok(out)
}

/// The checkpoints of one method's meta-training, in `dir`.
#[derive(Debug, Clone)]
pub struct MetaCheckpointer {
    pub dir: PathBuf,
}

impl MetaCheckpointer {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Saves the state after `state.iteration` outer iterations.
    pub fn save(&self, state: &MetaState, snapshot: &Snapshot) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let it = state.iteration;
        write_tensors(
            &self.dir.join(format!("particles-{it:07}.bin")),
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
            let _ = std::fs::remove_file(self.dir.join(format!("particles-{p:07}.bin")));
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
        let tensors = read_tensors(&self.dir.join(format!("particles-{it:07}.bin")))?;
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

    #[test]
    fn tensor_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bin");
        let a = TensorData::new(vec![1.0f32, -2.5, 3.0, 4.0, 5.0, 6.0], [2, 3]);
        let b = TensorData::new(vec![7.0f32], [1]);
        write_tensors(&p, &[a.clone(), b.clone()]).unwrap();
        let back = read_tensors(&p).unwrap();
        assert_eq!(back[0].shape().to_vec(), vec![2, 3]);
        assert_eq!(
            back[0].clone().try_to_vec::<f32>().unwrap(),
            a.try_to_vec::<f32>().unwrap()
        );
        assert_eq!(back[1].clone().try_to_vec::<f32>().unwrap(), vec![7.0]);
    }
}
