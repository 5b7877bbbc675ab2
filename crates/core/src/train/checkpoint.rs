//! Checkpoints that survive a killed run, in one format for every paper crate. Each
//! checkpoint is an optional model record (Burn's burnpack), an optional optimiser record, an
//! optional file of plain tensors ([`super::tensors`], safetensors) and the loop's own state
//! (`S`, e.g. epoch and metrics so far) as JSON. Every file is written under a temporary name
//! and renamed when complete, and `checkpoint.json`, which names the files of the latest
//! checkpoint, is renamed into place last: a run killed at any instant resumes from the last
//! complete checkpoint. What a step means and how randomness resumes: [`super::resume`].

use super::run_dir::{RunDir, tmp_path, write_atomic};
use crate::error::Error;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The index of one checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint<S> {
    /// Steps or epochs completed when it was taken.
    pub step: usize,
    /// The model record, relative to the checkpoint directory, when one was saved.
    #[serde(default)]
    pub model_file: Option<String>,
    /// The optimiser record, relative to the checkpoint directory, when one was saved.
    #[serde(default)]
    pub optimizer_file: Option<String>,
    /// Plain tensors ([`super::tensors`]), relative to the checkpoint directory, when saved.
    #[serde(default)]
    pub tensors_file: Option<String>,
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
    ) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::write(&self.dir))?;
        let model_file = format!("model-{step:06}.bpk");
        save_model(model, &self.dir.join(&model_file))?;
        let optimizer_file = match optimizer {
            Some(opt) => {
                let name = format!("optimizer-{step:06}.bpk");
                let path = self.dir.join(&name);
                let tmp = tmp_path(&path);
                opt.save(&tmp).map_err(|e| Error::Record {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                std::fs::rename(&tmp, &path).map_err(Error::write(&path))?;
                Some(name)
            }
            None => None,
        };
        self.commit(step, Some(model_file), optimizer_file, None, state)
    }

    /// Saves a checkpoint taken after `step` whose state is plain tensors (tagged `format`,
    /// see [`super::tensors`]) and the loop's JSON state, for loops without a Burn module.
    pub fn save_tensors<S: Serialize>(
        &self,
        step: usize,
        format: &str,
        tensors: &[burn::tensor::TensorData],
        state: &S,
    ) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::write(&self.dir))?;
        let name = format!("tensors-{step:06}.safetensors");
        super::tensors::write_tensors(&self.dir.join(&name), format, tensors)?;
        self.commit(step, None, None, Some(name), state)
    }

    /// Writes the index naming the files of the checkpoint just written, then prunes.
    fn commit<S: Serialize>(
        &self,
        step: usize,
        model_file: Option<String>,
        optimizer_file: Option<String>,
        tensors_file: Option<String>,
        state: &S,
    ) -> Result<(), Error> {
        let index = Checkpoint {
            step,
            model_file,
            optimizer_file,
            tensors_file,
            state,
        };
        let json = serde_json::to_vec_pretty(&index).expect("checkpoint index serialises");
        let index_path = self.index_path();
        write_atomic(&index_path, &json).map_err(Error::write(&index_path))?;
        self.prune(step);
        Ok(())
    }

    /// Removes the files of checkpoints older than the `keep` most recent (the files named
    /// `<part>-<step>.<ext>`; the current index's files are always among the kept).
    fn prune(&self, step: usize) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let parse = |name: &str| -> Option<usize> {
            let (stem, _ext) = name.split_once('.')?;
            let (part, s) = stem.rsplit_once('-')?;
            ["model", "optimizer", "tensors"].contains(&part).then_some(())?;
            s.parse().ok()
        };
        let files: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((parse(&e.file_name().to_string_lossy())?, e.path())))
            .filter(|(s, _)| *s <= step)
            .collect();
        let mut steps: Vec<usize> = files.iter().map(|(s, _)| *s).collect();
        steps.sort_unstable();
        steps.dedup();
        let n = steps.len().saturating_sub(self.keep);
        for (s, path) in &files {
            if steps[..n].contains(s) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The latest complete checkpoint, or `None` when the run has none.
    pub fn latest<S: DeserializeOwned>(&self) -> Result<Option<Checkpoint<S>>, Error> {
        let path = self.index_path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Read { path, source: e }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| Error::Index { path, source })
    }

    /// Loads the checkpoint's parameters into `model`.
    pub fn load_model<M: Module, S>(&self, ck: &Checkpoint<S>, model: M) -> Result<M, Error> {
        let name = ck.model_file.as_ref().ok_or_else(|| Error::Record {
            path: self.index_path(),
            message: format!("checkpoint {} holds no model", ck.step),
        })?;
        load_model(model, &self.dir.join(name))
    }

    /// The checkpoint's plain tensors (written by [`Self::save_tensors`] with `format`).
    pub fn load_tensors<S>(
        &self,
        ck: &Checkpoint<S>,
        format: &str,
    ) -> Result<Vec<burn::tensor::TensorData>, Error> {
        let name = ck.tensors_file.as_ref().ok_or_else(|| Error::Record {
            path: self.index_path(),
            message: format!("checkpoint {} holds no tensors", ck.step),
        })?;
        super::tensors::read_tensors(&self.dir.join(name), format)
    }

    /// Loads the checkpoint's optimiser state into `optimizer` (unchanged if none was saved).
    pub fn load_optimizer<S>(
        &self,
        ck: &Checkpoint<S>,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer, Error> {
        match &ck.optimizer_file {
            None => Ok(optimizer),
            Some(name) => {
                let path = self.dir.join(name);
                optimizer.load(&path).map_err(|e| Error::Record {
                    path,
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Saves a model's record (Burn's burnpack format) atomically.
pub fn save_model<M: Module>(model: &M, path: &Path) -> Result<(), Error> {
    let tmp = tmp_path(path);
    model
        .clone()
        .into_record()
        .save(&tmp)
        .map_err(|e| Error::Record {
            path: path.into(),
            message: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(Error::write(path))
}

/// Loads a model's record saved by [`save_model`] into a freshly initialised `model`.
pub fn load_model<M: Module>(model: M, path: &Path) -> Result<M, Error> {
    if !path.is_file() {
        return Err(Error::Read {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "model file not found"),
        });
    }
    let record = ModuleRecord::load(path).map_err(|e| Error::Record {
        path: path.into(),
        message: e.to_string(),
    })?;
    model.try_load_record(record).map_err(|e| Error::Record {
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

    /// Loops without a Burn module (PES) checkpoint plain tensors in the same index; the
    /// newest `keep` checkpoints survive pruning, whatever parts they hold.
    #[test]
    fn tensor_checkpoints_share_the_index_and_pruning() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "core", "t", false).unwrap();
        let ck = Checkpointer::new(&run);
        for step in 1..=4 {
            let t = burn::tensor::TensorData::new(vec![step as f32; 3], [3]);
            ck.save_tensors(step, "core-test-v1", &[t], &serde_json::json!({ "it": step }))
                .unwrap();
        }
        let latest: Checkpoint<serde_json::Value> = ck.latest().unwrap().unwrap();
        assert_eq!((latest.step, latest.state["it"].as_u64()), (4, Some(4)));
        let back = ck.load_tensors(&latest, "core-test-v1").unwrap();
        assert_eq!(back[0].try_to_vec::<f32>().unwrap(), vec![4.0; 3]);
        let mut names: Vec<String> = std::fs::read_dir(&ck.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "checkpoint.json",
                "tensors-000003.safetensors",
                "tensors-000004.safetensors"
            ]
        );
        let e = ck
            .load_model(&latest, MlpConfig::new(3, vec![4], 2).init(&Device::flex()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no model"), "{e}");
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
