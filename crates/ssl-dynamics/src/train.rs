//! Pre-training loop: two augmented views per image, [`SslTrainer::train_step`], a kNN monitor
//! and the collapse monitor every epoch, then a linear probe of the final encoder. With a run
//! directory, a checkpoint (online and target networks, optimiser state, DirectPred estimate,
//! logs so far) is written atomically after every epoch, and [`pretrain_resumable`] continues
//! from the latest one.

use crate::augment::Recipe;
use crate::byol::{SslConfig, SslTrainer, StepStats};
use crate::error::SslError;
use crate::knn::knn_accuracy;
use crate::nets::Encoder;
use crate::probe::{Features, ProbeConfig, ProbeResult, extract_features, linear_probe, standardize};
use burn::module::Module;
use burn::tensor::Device;
use repro_core::data::dataset::epoch_batches;
use repro_core::data::{DataArgs, DatasetName, ImageBatcher, ImageDataset, Split, load};
use repro_core::train::{Checkpointer, RunDir, progress_bar};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A full pre-training run (the JSON files in `configs/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub ssl: SslConfig,
    pub dataset: DatasetName,
    /// Splits used for pre-training (STL-10: train + unlabeled).
    pub pretrain_splits: Vec<Split>,
    pub recipe: Recipe,
    pub batch: usize,
    pub epochs: usize,
    /// Use only the first `n` pre-training images (CPU runs).
    pub train_limit: Option<usize>,
    /// kNN monitor: neighbours and how many labelled training images it searches.
    pub knn_k: usize,
    pub knn_train_limit: usize,
    pub probe: ProbeConfig,
    pub seed: u64,
}

/// Labelled and pre-training data of a run.
#[derive(Debug, Clone)]
pub struct RunData {
    pub pretrain: ImageDataset,
    pub train: ImageDataset,
    pub test: ImageDataset,
    /// Whether MNIST fell back to the embedded 10000/2000 subset.
    pub embedded_subset: bool,
}

fn concat(parts: Vec<ImageDataset>, name: &str) -> ImageDataset {
    let first = &parts[0];
    let (shape, classes) = (first.shape, first.num_classes);
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for p in &parts {
        for i in 0..p.len() {
            pixels.extend_from_slice(p.image(i));
        }
        labels.extend_from_slice(p.labels());
    }
    ImageDataset::new(name, pixels, labels, shape, classes)
}

impl RunData {
    /// Loads the splits named by `cfg`.
    pub fn load(cfg: &PretrainConfig, args: &DataArgs) -> Result<Self, SslError> {
        let train = load(cfg.dataset, Split::Train, args)?;
        let test = load(cfg.dataset, Split::Test, args)?;
        let mut parts = vec![];
        for &s in &cfg.pretrain_splits {
            parts.push(if s == Split::Train {
                train.dataset.clone()
            } else {
                load(cfg.dataset, s, args)?.dataset
            });
        }
        if parts.is_empty() {
            return Err(SslError::Config("no pre-training split".into()));
        }
        let mut pretrain = if parts.len() == 1 {
            parts.remove(0)
        } else {
            concat(parts, "pretrain")
        };
        if let Some(n) = cfg.train_limit {
            pretrain = pretrain.take(n.min(pretrain.len()));
        }
        Ok(Self {
            pretrain,
            train: train.dataset,
            test: test.dataset,
            embedded_subset: train.embedded_subset || test.embedded_subset,
        })
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    pub z_std: f64,
    pub p_std: f64,
    pub knn_acc: f64,
    pub seconds: f64,
    pub eig_share: f64,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainResult {
    pub logs: Vec<EpochLog>,
    pub probe: ProbeResult,
    /// Per-step losses (for plots).
    pub losses: Vec<f64>,
}

/// Features of the labelled splits, standardised for the probe.
pub fn probe_encoder(encoder: &Encoder, data: &RunData, recipe: Recipe, cfg: ProbeConfig) -> ProbeResult {
    let device = Device::flex();
    let mut tr = extract_features(encoder, &data.train, recipe, &device);
    let mut te = extract_features(encoder, &data.test, recipe, &device);
    standardize(&mut tr, &mut te);
    linear_probe(&tr, &te, data.train.num_classes, cfg, &device)
}

fn knn_monitor(encoder: &Encoder, data: &RunData, cfg: &PretrainConfig) -> f64 {
    let device = Device::flex();
    let limit = cfg.knn_train_limit.min(data.train.len());
    let tr: Features = extract_features(encoder, &data.train.take(limit), cfg.recipe, &device);
    let te = extract_features(encoder, &data.test, cfg.recipe, &device);
    knn_accuracy(&tr, &te, data.train.num_classes, cfg.knn_k, &device)
}

/// Runs forward passes in training mode so that batch-norm running statistics describe the
/// data (used for the random-init baseline, whose statistics would otherwise be the defaults).
pub fn calibrate_batch_norm(
    encoder: Encoder,
    data: &ImageDataset,
    recipe: Recipe,
    batches: usize,
) -> Encoder {
    let device = Device::flex().autodiff();
    let encoder = encoder.fork(&device).no_grad();
    let batcher = ImageBatcher::unit();
    for b in epoch_batches(data.len(), 256, Some(1), 0, true)
        .into_iter()
        .take(batches)
    {
        let x = batcher.batch_indices(data, &b, &device).images;
        let _ = encoder.forward(recipe.finish(x));
    }
    encoder
}

/// The DirectPred estimate `F̂`, `μ̂` in a checkpoint (row-major `d × d` and `d`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EstimatorState {
    pub dim: usize,
    pub corr: Option<Vec<f64>>,
    pub mean: Option<Vec<f64>>,
    pub updates: usize,
}

impl EstimatorState {
    fn of(est: &crate::directpred::CorrelationEstimator) -> Self {
        let dim = est.corr.as_ref().map_or(0, |c| c.nrows());
        Self {
            dim,
            corr: est.corr.as_ref().map(|c| c.transpose().iter().copied().collect()),
            mean: est.mean.as_ref().map(|m| m.iter().copied().collect()),
            updates: est.updates,
        }
    }

    fn restore(&self, est: &mut crate::directpred::CorrelationEstimator) {
        let d = self.dim;
        est.corr = self
            .corr
            .as_ref()
            .map(|c| nalgebra::DMatrix::from_row_slice(d, d, c));
        est.mean = self
            .mean
            .as_ref()
            .map(|m| nalgebra::DVector::from_column_slice(m));
        est.updates = self.updates;
    }
}

/// The loop state saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: usize,
    pub logs: Vec<EpochLog>,
    pub losses: Vec<f64>,
    pub directpred: Option<EstimatorState>,
}

/// Pre-trains with `cfg` on `data`, logging to `run` (and checkpointing after every epoch) if given.
pub fn pretrain(
    cfg: &PretrainConfig,
    data: &RunData,
    run: Option<&RunDir>,
) -> Result<(SslTrainer, PretrainResult), SslError> {
    train_loop(cfg, data, run, false)
}

/// [`pretrain`] into `run`; with `resume`, continues from the run's latest checkpoint (networks,
/// optimiser, DirectPred estimate, step count, logs) up to `cfg.epochs` epochs in all. Without a
/// checkpoint it starts from scratch.
pub fn pretrain_resumable(
    cfg: &PretrainConfig,
    data: &RunData,
    run: &RunDir,
    resume: bool,
) -> Result<(SslTrainer, PretrainResult), SslError> {
    train_loop(cfg, data, Some(run), resume)
}

fn train_loop(
    cfg: &PretrainConfig,
    data: &RunData,
    run: Option<&RunDir>,
    resume: bool,
) -> Result<(SslTrainer, PretrainResult), SslError> {
    let device = Device::flex().autodiff();
    repro_core::train::seed_everything(cfg.seed, &device);
    let mut trainer = SslTrainer::new(cfg.ssl.clone(), &device)?;
    let batcher = ImageBatcher::unit();
    let mut logs = vec![];
    let mut losses = vec![];
    let mut start = 0;
    let checkpointer = run.map(Checkpointer::new);
    if let (true, Some(ck)) = (resume, &checkpointer) {
        match ck.latest::<LoopState>()? {
            Some(c) => {
                let nets = ck.load_model(&c, trainer.fresh_networks())?;
                let optim = ck.load_optimizer(&c, trainer.fresh_optimizer())?;
                trainer.restore(nets, optim, c.state.step);
                if let (Some(dp), Some(st)) = (trainer.directpred.as_mut(), &c.state.directpred) {
                    st.restore(&mut dp.estimator);
                }
                start = c.state.epoch;
                logs = c.state.logs;
                losses = c.state.losses;
                // A different stream for the remaining epochs' augmentations.
                device.seed(cfg.seed.wrapping_add(1_000_003 * start as u64));
                eprintln!("resuming after epoch {start} (step {})", trainer.step);
            }
            None => eprintln!("no checkpoint to resume from; starting from scratch"),
        }
    }
    for epoch in start..cfg.epochs {
        let t0 = Instant::now();
        let batches = epoch_batches(data.pretrain.len(), cfg.batch, Some(cfg.seed), epoch, true);
        let bar = progress_bar(
            batches.len() as u64,
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
        );
        let mut sum = StepStats::default();
        for b in &batches {
            let x = batcher.batch_indices(&data.pretrain, b, &device).images;
            let v1 = cfg.recipe.view(x.clone());
            let v2 = cfg.recipe.view(x);
            let s = trainer.train_step(v1, v2)?;
            losses.push(s.loss);
            sum.loss += s.loss;
            sum.z_std += s.z_std;
            sum.p_std += s.p_std;
            sum.eig_s += s.eig_s;
            bar.set_message(format!("loss {:.3} std {:.3}", s.loss, s.z_std));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let n = batches.len().max(1) as f64;
        let train_s = t0.elapsed().as_secs_f64();
        let knn_acc = knn_monitor(&trainer.encoder(), data, cfg);
        let log = EpochLog {
            epoch: epoch + 1,
            step: trainer.step,
            loss: sum.loss / n,
            z_std: sum.z_std / n,
            p_std: sum.p_std / n,
            knn_acc,
            seconds: t0.elapsed().as_secs_f64(),
            eig_share: sum.eig_s / train_s.max(1e-9),
        };
        eprintln!(
            "epoch {:>3}: loss {:.4}  z-std {:.4}  p-std {:.4}  kNN {:.2}%  ({:.1}s)",
            log.epoch,
            log.loss,
            log.z_std,
            log.p_std,
            100.0 * log.knn_acc,
            log.seconds
        );
        logs.push(log.clone());
        if let Some(ck) = &checkpointer {
            let state = LoopState {
                epoch: epoch + 1,
                step: trainer.step,
                logs: logs.clone(),
                losses: losses.clone(),
                directpred: trainer
                    .directpred
                    .as_ref()
                    .map(|dp| EstimatorState::of(&dp.estimator)),
            };
            ck.save(trainer.step, &trainer.networks(), Some(&trainer.optim), &state)?;
        }
        if let Some(r) = run {
            r.log(&log).map_err(SslError::io(r.file("metrics.jsonl")))?;
        }
    }
    let probe = probe_encoder(&trainer.encoder(), data, cfg.recipe, cfg.probe);
    if let Some(r) = run {
        save_encoder(&trainer.encoder(), &r.file("encoder.bpk"))?;
    }
    Ok((trainer, PretrainResult { logs, probe, losses }))
}

/// Saves the encoder (Burn record).
pub fn save_encoder(encoder: &Encoder, path: &Path) -> Result<(), SslError> {
    Ok(repro_core::train::checkpoint::save_model(encoder, path)?)
}

/// Loads an encoder saved by [`save_encoder`] into a freshly built one of the same config.
pub fn load_encoder(fresh: Encoder, path: &Path) -> Result<Encoder, SslError> {
    Ok(repro_core::train::checkpoint::load_model(fresh, path)?)
}

/// Reads a [`PretrainConfig`] from JSON.
pub fn read_config(path: &Path) -> Result<PretrainConfig, SslError> {
    let text = std::fs::read_to_string(path).map_err(SslError::io(path))?;
    serde_json::from_str(&text).map_err(|source| SslError::Json {
        path: path.into(),
        source,
    })
}
