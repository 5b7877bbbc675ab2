//! Pre-training loop: two augmented views per image, [`SslTrainer::train_step`], a kNN monitor
//! and the collapse monitor every epoch, then a linear probe of the final encoder. With a run
//! directory, a checkpoint (online and target networks, optimiser state, DirectPred estimate,
//! logs so far) is written atomically after every epoch, and [`pretrain_resumable`] continues
//! from the latest one; on the same backend and thread count a resumed run is bit-exact with an
//! uninterrupted one (see `tests/checkpoint_resume.rs` for what is and is not).

use crate::augment::Recipe;
use crate::byol::{SslTrainer, StepStats};
use crate::config::PretrainConfig;
use crate::dynamics::{TheoryPoint, theory_point};
use crate::error::{Result, SslError};
use crate::knn::knn_accuracy;
use crate::nets::Encoder;
use crate::probe::{Features, ProbeConfig, ProbeResult, extract_features, linear_probe, standardize};
use burn::module::Module;
use burn::tensor::Device;
use repro_core::data::dataset::epoch_batches;
use repro_core::data::{DataArgs, ImageBatcher, ImageDataset, Split, load};
use repro_core::train::{Checkpointer, DataParallel, RunDir, progress_bar};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Labelled and pre-training data of a run.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Pre-training images (labels unused).
    pub pretrain: ImageDataset,
    /// Labelled training split (kNN monitor and probe).
    pub train: ImageDataset,
    /// Test split (kNN monitor and probe).
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
    pub fn load(cfg: &PretrainConfig, args: &DataArgs) -> Result<Self> {
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
            let e =
                repro_core::Error::invalid("pre-training config", "pretrain_splits", "at least one split");
            return Err(e.into());
        }
        let mut pretrain = if parts.len() == 1 {
            parts.remove(0)
        } else {
            concat(parts, "pretrain")
        };
        if let Some(n) = cfg.train_limit {
            pretrain = pretrain.take(n.min(pretrain.len()));
        }
        let embedded_subset = train.embedded_subset || test.embedded_subset;
        let limit = |d: ImageDataset, n: Option<usize>| match n {
            Some(n) => d.take(n),
            None => d,
        };
        Ok(Self {
            pretrain,
            train: limit(train.dataset, cfg.probe.train_limit),
            test: limit(test.dataset, cfg.probe.test_limit),
            embedded_subset,
        })
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epochs completed (1-based).
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: usize,
    /// Mean loss over the epoch's steps.
    pub loss: f64,
    /// Mean collapse monitor of the projector output ([`crate::monitor`]).
    pub z_std: f64,
    /// Mean collapse monitor of the predictor output.
    pub p_std: f64,
    /// kNN accuracy at the end of the epoch.
    pub knn_acc: f64,
    /// Wall time of the epoch, monitors included.
    pub seconds: f64,
    /// Fraction of the training time spent in the eigendecomposition.
    pub eig_share: f64,
    /// Theory monitors every [`THEORY_EVERY`] steps (spectra at the first and the last).
    #[serde(default)]
    pub theory: Vec<TheoryPoint>,
}

/// Steps between two [`TheoryPoint`]s.
pub const THEORY_EVERY: usize = 10;

/// The theory monitors of `trainer` now (`None` before the first batch).
pub fn theory_now(trainer: &SslTrainer, spectra: bool) -> Option<TheoryPoint> {
    let f = trainer.monitor.matrix(false)?;
    let w = if trainer.config.predictor.is_linear() {
        trainer.online().predictor.linear_weight()
    } else {
        None
    };
    Some(theory_point(trainer.step, w.as_ref(), &f, spectra))
}

/// What a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainResult {
    /// One entry per epoch.
    pub logs: Vec<EpochLog>,
    /// Linear probe of the final encoder.
    pub probe: ProbeResult,
    /// Per-step losses (for plots).
    pub losses: Vec<f64>,
}

/// Linear probe of `encoder` on `device`: features of the labelled splits, standardised, then
/// logistic regression.
pub fn probe_encoder(
    encoder: &Encoder,
    data: &RunData,
    recipe: Recipe,
    cfg: ProbeConfig,
    device: &Device,
) -> ProbeResult {
    let mut tr = extract_features(encoder, &data.train, recipe, device);
    let mut te = extract_features(encoder, &data.test, recipe, device);
    standardize(&mut tr, &mut te);
    linear_probe(&tr, &te, data.train.num_classes, cfg, device)
}

fn knn_monitor(encoder: &Encoder, data: &RunData, cfg: &PretrainConfig, device: &Device) -> f64 {
    let limit = cfg.knn_train_limit.min(data.train.len());
    let tr: Features = extract_features(encoder, &data.train.take(limit), cfg.recipe, device);
    let te = extract_features(encoder, &data.test, cfg.recipe, device);
    knn_accuracy(&tr, &te, data.train.num_classes, cfg.knn_k, device)
}

/// Runs forward passes in training mode so that batch-norm running statistics describe the
/// data (used for the random-init baseline, whose statistics would otherwise be the defaults).
pub fn calibrate_batch_norm(
    encoder: Encoder,
    data: &ImageDataset,
    recipe: Recipe,
    batches: usize,
    device: &Device,
) -> Encoder {
    let device = device.clone().autodiff();
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
    /// `d`.
    pub dim: usize,
    /// `F̂`, row-major.
    pub corr: Option<Vec<f64>>,
    /// `μ̂`.
    pub mean: Option<Vec<f64>>,
    /// Batches added.
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
    /// Epoch logs so far.
    pub logs: Vec<EpochLog>,
    /// Per-step losses so far.
    pub losses: Vec<f64>,
    /// The DirectPred estimate, if the predictor is set directly.
    pub directpred: Option<EstimatorState>,
}

/// Pre-trains with `cfg` on `data`, logging to `run` (and checkpointing after every epoch) if given.
pub fn pretrain(
    cfg: &PretrainConfig,
    data: &RunData,
    run: Option<&RunDir>,
    device: &Device,
) -> Result<(SslTrainer, PretrainResult)> {
    train_loop(cfg, data, run, false, std::slice::from_ref(device))
}

/// [`pretrain`] into `run`; with `resume`, continues from the run's latest checkpoint (networks,
/// optimiser, DirectPred estimate, step count, logs) up to `cfg.epochs` epochs in all. Without a
/// checkpoint it starts from scratch.
pub fn pretrain_resumable(
    cfg: &PretrainConfig,
    data: &RunData,
    run: &RunDir,
    resume: bool,
    device: &Device,
) -> Result<(SslTrainer, PretrainResult)> {
    train_loop(cfg, data, Some(run), resume, std::slice::from_ref(device))
}

/// [`pretrain_resumable`] data-parallel on `devices`, the first one main
/// ([`SslTrainer::train_step_parallel`]): the same global batch, learning rate and checkpoints
/// as one device, so a run resumes on any number of devices. The batch must divide by the
/// number of devices (checked before any work); views are drawn on the main device.
pub fn pretrain_resumable_on(
    cfg: &PretrainConfig,
    data: &RunData,
    run: &RunDir,
    resume: bool,
    devices: &[Device],
) -> Result<(SslTrainer, PretrainResult)> {
    train_loop(cfg, data, Some(run), resume, devices)
}

fn train_loop(
    cfg: &PretrainConfig,
    data: &RunData,
    run: Option<&RunDir>,
    resume: bool,
    devices: &[Device],
) -> Result<(SslTrainer, PretrainResult)> {
    let dp = DataParallel::new(devices.to_vec())?;
    dp.check_batch(cfg.batch)?;
    let plain = devices[0].clone().inner();
    let device = dp.main().clone();
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
                eprintln!("resuming after epoch {start} (step {})", trainer.step);
            }
            None => eprintln!("no checkpoint to resume from; starting from scratch"),
        }
    }
    for epoch in start..cfg.epochs {
        if epoch > 0 {
            // Each later epoch's augmentations come from (seed, epoch), so a resumed run draws
            // the same views as an uninterrupted one.
            device.seed(repro_core::train::unit_seed(cfg.seed, epoch));
        }
        let t0 = Instant::now();
        let batches = epoch_batches(data.pretrain.len(), cfg.batch, Some(cfg.seed), epoch, true);
        let bar = progress_bar(
            batches.len() as u64,
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
        );
        let mut sum = StepStats::default();
        let mut theory = vec![];
        for (i, b) in batches.iter().enumerate() {
            let x = batcher.batch_indices(&data.pretrain, b, &device).images;
            let v1 = cfg.recipe.view(x.clone());
            let v2 = cfg.recipe.view(x);
            let s = trainer.train_step_parallel(&dp, v1, v2)?;
            losses.push(s.loss);
            sum.loss += s.loss;
            sum.z_std += s.z_std;
            sum.p_std += s.p_std;
            sum.eig_s += s.eig_s;
            let last = i + 1 == batches.len();
            if trainer.step.is_multiple_of(THEORY_EVERY) || last {
                let spectra = last || (epoch == 0 && theory.is_empty());
                theory.extend(theory_now(&trainer, spectra));
            }
            bar.set_message(format!("loss {:.3} std {:.3}", s.loss, s.z_std));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let n = batches.len().max(1) as f64;
        let train_s = t0.elapsed().as_secs_f64();
        let knn_acc = knn_monitor(&trainer.encoder(), data, cfg, &plain);
        let log = EpochLog {
            epoch: epoch + 1,
            step: trainer.step,
            loss: sum.loss / n,
            z_std: sum.z_std / n,
            p_std: sum.p_std / n,
            knn_acc,
            seconds: t0.elapsed().as_secs_f64(),
            eig_share: sum.eig_s / train_s.max(1e-9),
            theory,
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
    let probe = probe_encoder(&trainer.encoder(), data, cfg.recipe, cfg.probe, &plain);
    if let Some(r) = run {
        save_encoder(&trainer.encoder(), &r.file("encoder.bpk"))?;
    }
    Ok((trainer, PretrainResult { logs, probe, losses }))
}

/// Saves the encoder (Burn record).
pub fn save_encoder(encoder: &Encoder, path: &Path) -> Result<()> {
    Ok(repro_core::train::checkpoint::save_model(encoder, path)?)
}

/// Loads an encoder saved by [`save_encoder`] into a freshly built one of the same config.
pub fn load_encoder(fresh: Encoder, path: &Path) -> Result<Encoder> {
    Ok(repro_core::train::checkpoint::load_model(fresh, path)?)
}
