//! The training loop of GloRo Nets (§6): Adam on the loss over the m+1 logits, with the
//! power iterates advanced every step, ε/λ/lr schedules per epoch, and after every epoch the
//! iterates converged and the test set certified. Runs live in `runs/gloro/<name>/`:
//! `config.json`, `metrics.jsonl` (one line per epoch), checkpoints (resume with `--resume`),
//! `model.bpk` and `summary.json` at the end.

use crate::bounds::{ConvMethod, LayerBound};
use crate::certify::{Certifier, CertifyOptions, Evaluation};
use crate::config::TrainConfig;
use crate::error::{GloroError, Result};
use crate::loss::gloro_loss;
use crate::margin::gloro_logits;
use crate::model::GloroNet;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::augment;
use repro_core::data::{DataArgs, ImageBatcher, ImageDataset, Split, load};
use repro_core::train::{Checkpointer, DataParallel, Mean, RunDir, progress_bar, seed_everything};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Training radius used.
    pub train_eps: f64,
    /// TRADES λ used.
    pub lambda: f64,
    /// Mean training loss.
    pub loss: f64,
    /// Clean accuracy on the training batches as they were trained.
    pub train_accuracy: f64,
    /// Fraction of training points where the label beat ⊥ at the training ε.
    pub train_vra: f64,
    /// Sound body bound K after the epoch (Fourier bounds for convs).
    pub k: f64,
    /// Clean test accuracy.
    pub test_accuracy: f64,
    /// Certified VRA at the evaluation ε with that K and the rounding allowance.
    pub test_vra: f64,
    /// Wall-clock seconds of the epoch (training and evaluation).
    pub seconds: f64,
}

/// What a finished run reports (`summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The configuration trained.
    pub config: TrainConfig,
    /// Whether the data was the embedded MNIST subset.
    pub embedded_subset: bool,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochMetrics>,
    /// The certificate on the test set: sound per-layer bounds and the rounding allowance.
    pub final_eval: Evaluation,
    /// The paper's power-iteration estimate on the same points (not a certificate).
    #[serde(default)]
    pub estimate_eval: Option<Evaluation>,
    /// VRA with the sound bounds but no rounding allowance (what the allowance costs).
    #[serde(default)]
    pub no_margin_vra: Option<f64>,
    /// The per-layer bounds of the certificate, with the power-iteration estimate beside each.
    #[serde(default)]
    pub layer_bounds: Vec<LayerBound>,
    /// Time to certify the test set, sound against the estimate.
    #[serde(default)]
    pub certify_cost: Option<CertifyCost>,
    /// Certified VRA against radius, `(ε, VRA)` pairs, from the final certificate.
    pub vra_curve: Vec<(f64, f64)>,
    /// The device trained on.
    pub backend: String,
    /// The run's seed.
    #[serde(default)]
    pub seed: u64,
}

/// Seconds spent certifying the test set: bounding the layers, then the forward passes and
/// margins of every point; the sound certificate against the power-iteration estimate.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CertifyCost {
    /// Test points certified.
    pub points: usize,
    /// Sound per-layer bounds.
    pub sound_bound_seconds: f64,
    /// Certifying the points with the sound bounds and the rounding allowance.
    pub sound_eval_seconds: f64,
    /// Converging power iteration.
    pub estimate_bound_seconds: f64,
    /// Certifying the points with the estimate.
    pub estimate_eval_seconds: f64,
}

/// All images of a dataset as one `[N, C, H, W]` tensor in [0, 1], and the labels.
pub fn to_tensors(ds: &ImageDataset, limit: usize, device: &Device) -> (Tensor<4>, Tensor<1, Int>, Vec<u8>) {
    let n = if limit == 0 { ds.len() } else { limit.min(ds.len()) };
    let idx: Vec<usize> = (0..n).collect();
    let b = ImageBatcher::unit().batch_indices(ds, &idx, device);
    (b.images, b.targets, ds.labels()[..n].to_vec())
}

fn augment_batch(x: Tensor<4>) -> Tensor<4> {
    let [_, c, h, _] = x.dims();
    let x = augment::random_resized_crop(x, h, (0.64, 1.0), (1.0, 1.0));
    let x = augment::horizontal_flip(x, 0.5);
    let x = if c == 3 {
        let j = augment::Jitter {
            brightness: 0.0,
            contrast: 0.2,
            saturation: 0.35,
            hue: 0.0,
        };
        augment::color_jitter(x, j, 1.0)
    } else {
        x
    };
    augment::gaussian_noise(x, 0.01)
}

/// Hyper-parameters of one training step.
#[derive(Debug, Clone, Copy)]
pub struct StepParams {
    /// The loss.
    pub loss: crate::loss::LossKind,
    /// The ⊥ margin form.
    pub margin: crate::margin::MarginForm,
    /// Power iterations per layer in this step.
    pub power_iterations: usize,
    /// Training radius.
    pub eps: f64,
    /// TRADES λ.
    pub lambda: f64,
    /// Learning rate.
    pub lr: f64,
}

impl StepParams {
    /// The step's parameters at the schedule's current `eps`, `lambda` and `lr`.
    pub fn from_config(cfg: &TrainConfig, eps: f64, lambda: f64, lr: f64) -> Self {
        Self {
            loss: cfg.loss,
            margin: cfg.margin,
            power_iterations: cfg.power_iterations,
            eps,
            lambda,
            lr,
        }
    }
}

/// What one step measured on its batch.
#[derive(Debug, Clone, Copy)]
pub struct StepOutput {
    /// Batch loss.
    pub loss: f64,
    /// Rows whose logits' argmax is the label.
    pub correct: usize,
    /// Rows whose label beats ⊥ and every other logit at the step's ε.
    pub robust: usize,
}

/// The parts of [`step`], in order, as reported to [`step_with_phases`]'s callback.
pub const STEP_PHASES: [&str; 5] = [
    "forward",
    "power iteration + K",
    "margin + loss",
    "backward",
    "optimiser",
];

/// One training step (§6): forward, K with `power_iterations` fresh power iterations, the
/// ⊥ logit, the loss over the m+1 logits, backward and an Adam update. Used by [`train`]
/// and by the benchmark, so both time the same code.
pub fn step(
    model: GloroNet,
    optim: &mut burn::optim::ModuleOptimizer,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    p: &StepParams,
) -> (GloroNet, StepOutput) {
    step_with_phases(model, optim, x, y, p, |_| {})
}

/// [`step`], calling `done(i)` as each part `STEP_PHASES[i]` finishes (the phase profile of
/// `gloro bench --profile` puts a clock there).
pub fn step_with_phases(
    model: GloroNet,
    optim: &mut burn::optim::ModuleOptimizer,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    p: &StepParams,
    mut done: impl FnMut(usize),
) -> (GloroNet, StepOutput) {
    let logits = model.forward(x);
    done(0);
    let k = model.lipschitz(p.power_iterations);
    done(1);
    let ext = gloro_logits(logits.clone(), model.class_weights(), k, p.eps, p.margin);
    let loss = gloro_loss(p.loss, ext.clone(), y.clone(), p.lambda);
    let loss_value = loss.clone().into_scalar::<f64>();
    done(2);
    if !loss_value.is_finite() {
        let out = StepOutput {
            loss: loss_value,
            correct: 0,
            robust: 0,
        };
        return (model, out);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    done(3);
    let model = optim.step(p.lr, model, grads);
    done(4);
    let out = StepOutput {
        loss: loss_value,
        correct: repro_core::train::correct(logits.detach(), y.clone()),
        robust: repro_core::train::correct(ext.detach(), y),
    };
    (model, out)
}

/// [`step`] with the batch split over the devices of `dp` ([`repro_core::train::data_parallel`]):
/// each device computes the loss of its shard with its own copy of the iterates (all equal at
/// the start of the step), the shard-mean gradients are averaged on the main device, Adam
/// steps there, and the model keeps the main shard's advanced iterates. The same update as
/// [`step`] on the whole batch up to summation order. `x` and `y` live on the main device.
pub fn step_parallel(
    dp: &DataParallel,
    model: GloroNet,
    optim: &mut burn::optim::ModuleOptimizer,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    p: &StepParams,
) -> (GloroNet, StepOutput) {
    if dp.len() == 1 {
        return step(model, optim, x, y, p);
    }
    let b = x.dims()[0];
    let shard = |m: &GloroNet, device: &Device, rows: std::ops::Range<usize>| {
        let n = rows.len();
        let x = x.clone().narrow(0, rows.start, n).to_device(device);
        let y = y.clone().narrow(0, rows.start, n).to_device(device);
        let logits = m.forward(x);
        let k = m.lipschitz(p.power_iterations);
        let ext = gloro_logits(logits.clone(), m.class_weights(), k, p.eps, p.margin);
        let loss = gloro_loss(p.loss, ext.clone(), y.clone(), p.lambda);
        let loss_value = loss.clone().into_scalar::<f64>();
        if !loss_value.is_finite() {
            return Err(loss_value);
        }
        let grads = GradientsParams::from_grads(loss.backward(), m);
        let correct = repro_core::train::correct(logits.detach(), y.clone());
        let robust = repro_core::train::correct(ext.detach(), y);
        Ok((grads, (loss_value * n as f64, correct, robust)))
    };
    match dp.gradients(&model, b, shard) {
        Ok((grads, outs)) => {
            let model = optim.step(p.lr, model, grads);
            let out = StepOutput {
                loss: outs.iter().map(|o| o.0).sum::<f64>() / b as f64,
                correct: outs.iter().map(|o| o.1).sum(),
                robust: outs.iter().map(|o| o.2).sum(),
            };
            (model, out)
        }
        Err(loss) => {
            let out = StepOutput {
                loss,
                correct: 0,
                robust: 0,
            };
            (model, out)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    epochs: Vec<EpochMetrics>,
}

/// Trains `cfg` on `device` (an autodiff device is made from it), writing into `run`.
pub fn train(
    cfg: &TrainConfig,
    run: &RunDir,
    data: &DataArgs,
    seed: u64,
    resume: bool,
    device: &Device,
) -> Result<(GloroNet, Summary)> {
    train_on(cfg, run, data, seed, resume, std::slice::from_ref(device))
}

/// [`train`] data-parallel on `devices` (the first one main; see [`step_parallel`]): the same
/// global batch, schedules, run directory and checkpoints as one device, so a run resumes on
/// any number of devices. The batch size must divide by the number of devices; the error comes
/// before any work. Augmentation draws on the main device before the batch is split.
pub fn train_on(
    cfg: &TrainConfig,
    run: &RunDir,
    data: &DataArgs,
    seed: u64,
    resume: bool,
    devices: &[Device],
) -> Result<(GloroNet, Summary)> {
    let dp = DataParallel::new(devices.to_vec())?;
    dp.check_batch(cfg.batch_size)?;
    let device = &devices[0];
    let ad = dp.main().clone();
    seed_everything(seed, &ad);
    let (expected, _) = cfg.input_shape();
    let train_set = load(cfg.dataset, Split::Train, data)?;
    let test_set = load(cfg.dataset, Split::Test, data)?;
    if train_set.dataset.shape != expected {
        return Err(GloroError::Shape {
            dataset: train_set.dataset.name.clone(),
            found: train_set.dataset.shape,
            expected,
        });
    }
    let embedded_subset = train_set.embedded_subset;
    let (train_x, train_y, _) = to_tensors(&train_set.dataset, cfg.train_limit, &ad);
    let (test_x, _, test_labels) = to_tensors(&test_set.dataset, cfg.test_limit, device);
    let n = train_x.dims()[0];
    run.write_config(&serde_json::json!({ "config": cfg, "seed": seed, "data": train_set.dataset.name, "embedded_subset": embedded_subset }))?;

    let mut model = cfg.network().init(&ad);
    let mut optim = AdamConfig::new().with_epsilon(cfg.adam_epsilon as f32).init();
    let checkpoints = Checkpointer::new(run);
    let mut state = LoopState { epochs: Vec::new() };
    if resume && let Some(ck) = checkpoints.latest::<LoopState>()? {
        model = checkpoints.load_model(&ck, model)?;
        optim = checkpoints.load_optimizer(&ck, optim)?;
        eprintln!("resuming {} after epoch {}", run.path.display(), ck.step);
        state = ck.state;
    }
    // lines logged after the last checkpoint are logged again by this run
    run.rewind_metrics(state.epochs.len())?;

    let start = state.epochs.len();
    for epoch in start..cfg.epochs {
        let t0 = Instant::now();
        let lr = cfg.lr.at(epoch, cfg.epochs);
        let eps = cfg
            .eps_schedule
            .at(epoch, cfg.epochs, cfg.train_eps, cfg.overshoot);
        let lambda = cfg.lambda.at(epoch);
        if epoch > 0 {
            // the resume rule: every later epoch's random draws come from (seed, epoch)
            ad.seed(repro_core::train::unit_seed(seed, epoch));
        }
        // reshuffle per epoch from the run's seed so a resumed run sees the same order
        let batches = repro_core::data::dataset::epoch_batches(n, cfg.batch_size, Some(seed), epoch, false);
        let bar = progress_bar(
            batches.len() as u64,
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
        );
        let (mut loss_m, mut acc_m, mut vra_m) = (Mean::default(), Mean::default(), Mean::default());
        for (step_index, idx) in batches.iter().enumerate() {
            let b = idx.len();
            let it = Tensor::<1, Int>::from_data(
                TensorData::new(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), [b]),
                &ad,
            );
            let mut x = train_x.clone().select(0, it.clone());
            if cfg.augment {
                x = augment_batch(x);
            }
            let y = train_y.clone().select(0, it);
            let (next, out) = step_parallel(
                &dp,
                model,
                &mut optim,
                x,
                y,
                &StepParams::from_config(cfg, eps, lambda, lr),
            );
            model = next;
            if !out.loss.is_finite() {
                return Err(GloroError::NonFinite {
                    epoch,
                    step: step_index,
                    loss: out.loss,
                });
            }
            loss_m.add(out.loss, b as f64);
            acc_m.add(out.correct as f64 / b as f64, b as f64);
            vra_m.add(out.robust as f64 / b as f64, b as f64);
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", loss_m.value()));
        }
        bar.finish_and_clear();
        // converge the training iterates (they carry over to the next epoch), then certify
        if let Err(e) = model.converge_lipschitz(cfg.convergence.tol, cfg.convergence.max_iters) {
            eprintln!("note: {e}");
        }
        let eval_model = model.valid();
        // a certificate every epoch: sound bounds with the cheap Fourier bound for convs
        let per_epoch = CertifyOptions {
            conv: ConvMethod::Fourier,
            ..CertifyOptions::sound(cfg.convergence)
        };
        let ev =
            Certifier::new(&eval_model, cfg.eps, per_epoch)?.evaluate(&test_x, &test_labels, cfg.eval_batch);
        let m = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_eps: eps,
            lambda,
            loss: loss_m.value(),
            train_accuracy: acc_m.value(),
            train_vra: vra_m.value(),
            k: ev.k,
            test_accuracy: ev.clean_accuracy,
            test_vra: ev.vra,
            seconds: t0.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {:>3}/{}: loss {:.4}  train acc {:.4}  test acc {:.4}  VRA@{} {:.4}  K {:.3}  ({:.1}s)",
            m.epoch,
            cfg.epochs,
            m.loss,
            m.train_accuracy,
            m.test_accuracy,
            cfg.eps,
            m.test_vra,
            m.k,
            m.seconds
        );
        run.log(&m)?;
        state.epochs.push(m);
        checkpoints.save(epoch + 1, &model, Some(&optim), &state)?;
    }

    let eval_model = model.valid();
    let timer = Instant::now();
    let certifier = Certifier::new(&eval_model, cfg.eps, CertifyOptions::sound(cfg.convergence))?;
    let sound_bound_seconds = timer.elapsed().as_secs_f64();
    let timer = Instant::now();
    let final_eval = certifier.evaluate(&test_x, &test_labels, cfg.eval_batch);
    let sound_eval_seconds = timer.elapsed().as_secs_f64();
    let layer_bounds = certifier.layers.clone();
    let no_margin_vra = certifier
        .clone()
        .without_float_margin()
        .evaluate(&test_x, &test_labels, cfg.eval_batch)
        .vra;
    // the paper's estimate beside the certificate, to show what soundness costs
    let timer = Instant::now();
    let estimate = Certifier::new(
        &eval_model,
        cfg.eps,
        CertifyOptions::power_iteration(cfg.convergence),
    );
    let estimate_bound_seconds = timer.elapsed().as_secs_f64();
    let timer = Instant::now();
    let estimate_eval = estimate
        .map(|c| c.evaluate(&test_x, &test_labels, cfg.eval_batch))
        .map_err(|e| eprintln!("note: no power-iteration estimate: {e}"))
        .ok();
    let cost = CertifyCost {
        points: test_labels.len(),
        sound_bound_seconds,
        sound_eval_seconds,
        estimate_bound_seconds,
        estimate_eval_seconds: timer.elapsed().as_secs_f64(),
    };
    let vra_curve = final_eval.vra_curve(cfg.eps * 2.0, 41);
    repro_core::train::checkpoint::save_model(&eval_model, &run.file("model.bpk"))?;
    let summary = Summary {
        config: cfg.clone(),
        embedded_subset,
        epochs: state.epochs,
        final_eval,
        estimate_eval,
        no_margin_vra: Some(no_margin_vra),
        layer_bounds,
        certify_cost: Some(cost),
        vra_curve,
        backend: match devices {
            [device] => format!("{device:?}"),
            all => format!("{all:?}"),
        },
        seed,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    repro_core::train::run_dir::write_atomic(&run.file("summary.json"), &json)?;
    Ok((eval_model, summary))
}

/// A finished (or checkpointed) run opened from its directory: the configuration from
/// `config.json` and the weights from `model.bpk`.
pub struct TrainedRun {
    /// The run's configuration.
    pub config: TrainConfig,
    /// The trained model on the device it was opened on.
    pub model: GloroNet,
}

impl TrainedRun {
    /// Opens the run in `dir` on `device`.
    pub fn open(dir: &std::path::Path, device: &Device) -> Result<Self> {
        #[derive(Deserialize)]
        struct Written {
            config: TrainConfig,
        }
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            GloroError::file(&path, format!("cannot read ({e}); is it a gloro run directory?"))
        })?;
        let written: Written = serde_json::from_str(&text).map_err(|e| GloroError::file(&path, e))?;
        let config = written.config;
        let model =
            repro_core::train::checkpoint::load_model(config.network().init(device), &dir.join("model.bpk"))?;
        Ok(Self { config, model })
    }
}
