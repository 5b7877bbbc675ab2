//! Checkpoints that survive a killed run. Each checkpoint is a model record, an optional
//! optimiser record and the loop's own state (`S`, e.g. epoch and metrics so far) as JSON.
//! Every file is written under a temporary name and renamed when complete, and
//! `checkpoint.json`, which names the files of the latest checkpoint, is renamed into place
//! last: a run killed at any instant resumes from the last complete checkpoint.

use super::run_dir::{RunDir, tmp_path, write_atomic};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A model or optimiser record could not be saved or loaded.
    #[error("{path}: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// Burn's error.
        message: String,
    },
    /// `checkpoint.json` is not a checkpoint index of the expected state type.
    #[error("{path}: not a checkpoint index: {source}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// The index of one checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint<S> {
    /// Steps or epochs completed when it was taken.
    pub step: usize,
    /// The model record, relative to the checkpoint directory.
    pub model_file: String,
    /// The optimiser record, relative to the checkpoint directory, when one was saved.
    pub optimizer_file: Option<String>,
    /// The training loop's own state.
    pub state: S,
}

/// Writes and reads the checkpoints of a run (in `<run>/checkpoints/`).
#[derive(Debug, Clone)]
pub struct Checkpointer {
    /// Where the checkpoints go.
    pub dir: PathBuf,
    /// How many checkpoints to keep on disk.
    pub keep: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.into(),
        source,
    }
}

impl Checkpointer {
    /// Checkpoints in `<run>/checkpoints/`, keeping the two most recent.
    pub fn new(run: &RunDir) -> Self {
        Self {
            dir: run.file("checkpoints"),
            keep: 2,
        }
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }

    /// Saves a checkpoint taken after `step`.
    pub fn save<M: Module, S: Serialize>(
        &self,
        step: usize,
        model: &M,
        optimizer: Option<&ModuleOptimizer>,
        state: &S,
    ) -> Result<(), CheckpointError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let model_file = format!("model-{step:06}.bpk");
        save_model(model, &self.dir.join(&model_file))?;
        let optimizer_file = match optimizer {
            Some(opt) => {
                let name = format!("optimizer-{step:06}.bpk");
                let path = self.dir.join(&name);
                let tmp = tmp_path(&path);
                opt.save(&tmp).map_err(|e| CheckpointError::Record {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                std::fs::rename(&tmp, &path).map_err(io(&path))?;
                Some(name)
            }
            None => None,
        };
        let index = Checkpoint {
            step,
            model_file,
            optimizer_file,
            state,
        };
        let json = serde_json::to_vec_pretty(&index).expect("checkpoint index serialises");
        let index_path = self.index_path();
        write_atomic(&index_path, &json).map_err(io(&index_path))?;
        self.prune(step);
        Ok(())
    }

    /// Removes the files of checkpoints older than the `keep` most recent.
    fn prune(&self, step: usize) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut steps: Vec<usize> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("model-")?.strip_suffix(".bpk")?.parse().ok()
            })
            .filter(|s| *s <= step)
            .collect();
        steps.sort_unstable();
        let n = steps.len().saturating_sub(self.keep);
        for s in &steps[..n] {
            for prefix in ["model", "optimizer"] {
                let _ = std::fs::remove_file(self.dir.join(format!("{prefix}-{s:06}.bpk")));
            }
        }
    }

    /// The latest complete checkpoint, or `None` when the run has none.
    pub fn latest<S: DeserializeOwned>(&self) -> Result<Option<Checkpoint<S>>, CheckpointError> {
        let path = self.index_path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CheckpointError::Io { path, source: e }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| CheckpointError::Index { path, source })
    }

    /// Loads the checkpoint's parameters into `model`.
    pub fn load_model<M: Module, S>(&self, ck: &Checkpoint<S>, model: M) -> Result<M, CheckpointError> {
        load_model(model, &self.dir.join(&ck.model_file))
    }

    /// Loads the checkpoint's optimiser state into `optimizer` (unchanged if none was saved).
    pub fn load_optimizer<S>(
        &self,
        ck: &Checkpoint<S>,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer, CheckpointError> {
        match &ck.optimizer_file {
            None => Ok(optimizer),
            Some(name) => {
                let path = self.dir.join(name);
                optimizer.load(&path).map_err(|e| CheckpointError::Record {
                    path,
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Saves a model's record (Burn's burnpack format) atomically.
pub fn save_model<M: Module>(model: &M, path: &Path) -> Result<(), CheckpointError> {
    let tmp = tmp_path(path);
    model
        .clone()
        .into_record()
        .save(&tmp)
        .map_err(|e| CheckpointError::Record {
            path: path.into(),
            message: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Loads a model's record saved by [`save_model`] into a freshly initialised `model`.
pub fn load_model<M: Module>(model: M, path: &Path) -> Result<M, CheckpointError> {
    if !path.is_file() {
        return Err(CheckpointError::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "model file not found"),
        });
    }
    let record = ModuleRecord::load(path).map_err(|e| CheckpointError::Record {
        path: path.into(),
        message: e.to_string(),
    })?;
    model
        .try_load_record(record)
        .map_err(|e| CheckpointError::Record {
            path: path.into(),
            message: format!("does not fit this model: {e}"),
        })
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::models::MlpConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Device, Tensor};

    #[test]
    fn save_resume_and_prune() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "core", "ck", false).unwrap();
        let ck = Checkpointer::new(&run);
        let device = Device::flex().autodiff();
        let cfg = MlpConfig::new(3, vec![4], 2);
        let mut model = cfg.init(&device);
        let mut opt = AdamConfig::new().init();
        let x = Tensor::<2>::ones([2, 3], &device);
        for step in 1..=3 {
            let loss = model.forward(x.clone()).powf_scalar(2.0).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(1e-2, model, grads);
            ck.save(step, &model, Some(&opt), &serde_json::json!({"step": step}))
                .unwrap();
        }
        let latest: Checkpoint<serde_json::Value> = ck.latest().unwrap().unwrap();
        assert_eq!(latest.step, 3);
        let bpks = std::fs::read_dir(&ck.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".bpk")
            })
            .count();
        assert_eq!(bpks, 4, "two checkpoints of model + optimiser kept");

        // A fresh model loaded from the checkpoint predicts exactly like the trained one,
        // and the optimiser state makes the next step identical too.
        let reloaded = ck.load_model(&latest, cfg.init(&device)).unwrap();
        let mut opt2 = ck.load_optimizer(&latest, AdamConfig::new().init()).unwrap();
        let a = model.forward(x.clone()).into_data();
        let b = reloaded.forward(x.clone()).into_data();
        assert_eq!(a, b);
        let step = |m: crate::models::Mlp, o: &mut ModuleOptimizer| {
            let loss = m.forward(x.clone()).powf_scalar(2.0).sum();
            let g = GradientsParams::from_grads(loss.backward(), &m);
            o.step(1e-2, m, g).forward(x.clone()).into_data()
        };
        assert_eq!(step(model, &mut opt), step(reloaded, &mut opt2));
    }

    #[test]
    fn wrong_model_and_missing_file_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let path = dir.path().join("m.bpk");
        save_model(&MlpConfig::new(3, vec![4], 2).init(&device), &path).unwrap();
        let err = load_model(MlpConfig::new(5, vec![4], 2).init(&device), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.bpk") && err.contains("does not fit"), "{err}");
        let err = load_model(
            MlpConfig::new(3, vec![4], 2).init(&device),
            &dir.path().join("x.bpk"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("x.bpk"), "{err}");
    }
}
