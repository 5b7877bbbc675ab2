//! Pre-training loop: two augmented views per image, [`SslTrainer::train_step`], a kNN monitor
//! and the collapse monitor every epoch, then a linear probe of the final encoder.

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
use repro_core::train::{RunDir, progress_bar};
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

/// Pre-trains with `cfg` on `data`, logging to `run` if given.
pub fn pretrain(
    cfg: &PretrainConfig,
    data: &RunData,
    run: Option<&RunDir>,
) -> Result<(SslTrainer, PretrainResult), SslError> {
    let device = Device::flex().autodiff();
    repro_core::train::seed_everything(cfg.seed, &device);
    let mut trainer = SslTrainer::new(cfg.ssl.clone(), &device)?;
    let batcher = ImageBatcher::unit();
    let mut logs = vec![];
    let mut losses = vec![];
    for epoch in 0..cfg.epochs {
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
        if let Some(r) = run {
            r.log(&log).map_err(SslError::io(r.file("metrics.jsonl")))?;
        }
        logs.push(log);
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
