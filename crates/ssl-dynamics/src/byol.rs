//! BYOL and SimSiam training step (paper Sec. 2, Eq. 1–3; reference `byol_trainer.py`).
//!
//! Online network `θ` = encoder + projector + predictor; target = an EMA copy of encoder +
//! projector (BYOL, `m = 0.996`, independently initialised unless `copy_target_at_start`) or the
//! online branch itself (SimSiam). The loss is the symmetric cosine loss; the target side is
//! detached unless `stop_gradient` is off (the collapsing control of Theorem 1).
//!
//! Order within a step (reference): forward both views → add them to `F̂` (DirectPred) →
//! predictor (its weight from the previous step, or set now when `set_before_use`) → loss,
//! backward, SGD → set the predictor from `F̂` → EMA update of the target.

use crate::directpred::{CorrelationEstimator, DirectPred};
use crate::ema::{copy_weights, ema_update};
use crate::error::{Result, SslError};
use crate::loss::symmetric_cosine_loss;
use crate::monitor::normalized_std;
use crate::nets::{Branch, BranchConfig};
use crate::predictor::{Predictor, PredictorKind};
use burn::module::Module;
use burn::module::ParamGroup;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Where the regression target comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum TargetKind {
    /// BYOL: a separate network updated by `ξ ← m ξ + (1 − m) θ` after every step.
    Ema {
        /// `m` (0.996 in BYOL).
        momentum: f64,
    },
    /// SimSiam: the online branch itself (`m = 0`).
    Online,
}

/// Everything that defines the method (defaults: the reference's BYOL settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslConfig {
    /// Encoder and projector.
    pub branch: BranchConfig,
    /// The predictor on top of the online projector.
    pub predictor: PredictorKind,
    /// Where the regression target comes from.
    pub target: TargetKind,
    /// Detach the target branch (always true for BYOL/SimSiam; false = collapse control).
    pub stop_gradient: bool,
    /// Start the EMA target as a copy of the online network (the reference does not).
    pub copy_target_at_start: bool,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum (no dampening).
    pub momentum: f64,
    /// Weight decay (`η` of the paper's analysis) of the encoder and projector, and of the
    /// predictor unless [`PredictorOptim::weight_decay`] sets its own.
    pub weight_decay: f64,
    /// The predictor's parameter group (reference `predictor_optimizer`); absent = the same
    /// settings as the encoder and projector.
    #[serde(default)]
    pub predictor_optim: PredictorOptim,
}

/// Optimiser settings of the predictor's parameter group: the relative learning rate `α_p`
/// and weight decay `η_p` of the paper's analysis (Sec. 4, Eq. 6–7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorOptim {
    /// `α_p`: the predictor's learning rate is `α_p · lr`.
    pub lr_mult: f64,
    /// `η_p`; `null` = the encoder's `weight_decay`.
    pub weight_decay: Option<f64>,
}

impl Default for PredictorOptim {
    fn default() -> Self {
        Self {
            lr_mult: 1.0,
            weight_decay: None,
        }
    }
}

impl SslConfig {
    /// The predictor's weight decay `η_p`.
    pub fn predictor_weight_decay(&self) -> f64 {
        self.predictor_optim.weight_decay.unwrap_or(self.weight_decay)
    }
}

impl SslConfig {
    /// BYOL with `m = 0.996`, SGD lr 0.03, momentum 0.9, weight decay 4e-4.
    pub fn byol(branch: BranchConfig, predictor: PredictorKind) -> Self {
        Self {
            branch,
            predictor,
            target: TargetKind::Ema { momentum: 0.996 },
            stop_gradient: true,
            copy_target_at_start: false,
            lr: 0.03,
            momentum: 0.9,
            weight_decay: 4e-4,
            predictor_optim: PredictorOptim::default(),
        }
    }

    /// SimSiam: the same with the online branch as target.
    pub fn simsiam(branch: BranchConfig, predictor: PredictorKind) -> Self {
        Self {
            target: TargetKind::Online,
            ..Self::byol(branch, predictor)
        }
    }

    /// Checks ranges and combinations that make no sense; the error names `origin` and the
    /// field (as a path below the pre-training config's `ssl`).
    pub fn validate(&self, origin: &str) -> Result<(), repro_core::Error> {
        let invalid = |field: &str, message: String| Err(repro_core::Error::invalid(origin, field, message));
        if !self.stop_gradient && self.target != TargetKind::Online {
            return invalid(
                "ssl.stop_gradient",
                "false needs target online (an EMA target receives no gradient)".into(),
            );
        }
        if let TargetKind::Ema { momentum } = self.target
            && !(0.0..=1.0).contains(&momentum)
        {
            return invalid("ssl.target.momentum", format!("{momentum} is not in [0, 1]"));
        }
        if let PredictorKind::DirectPred(c) = &self.predictor {
            if c.freq == 0 {
                return invalid("ssl.predictor.freq", "at least 1".into());
            }
            if !(0.0..1.0).contains(&c.rho) {
                return invalid("ssl.predictor.rho", format!("{} is not in [0, 1)", c.rho));
            }
            if c.eps.is_nan() || c.eps < 0.0 {
                return invalid("ssl.predictor.eps", format!("{} is not ≥ 0", c.eps));
            }
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return invalid("ssl.lr", format!("{} is not > 0", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return invalid("ssl.momentum", format!("{} is not in [0, 1)", self.momentum));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return invalid("ssl.weight_decay", format!("{} is not ≥ 0", self.weight_decay));
        }
        let po = &self.predictor_optim;
        if po.lr_mult.is_nan() || po.lr_mult < 0.0 {
            return invalid(
                "ssl.predictor_optim.lr_mult",
                format!("{} is not ≥ 0", po.lr_mult),
            );
        }
        if let Some(wd) = po.weight_decay
            && (wd.is_nan() || wd < 0.0)
        {
            return invalid("ssl.predictor_optim.weight_decay", format!("{wd} is not ≥ 0"));
        }
        self.branch.validate(origin)
    }
}

/// `ρ` of the monitor's running `F̂` (the reference's `dyn_lambda` of DirectPred).
pub const MONITOR_RHO: f64 = 0.3;

/// The trained part: encoder + projector + predictor.
#[derive(Module, Debug)]
pub struct Online {
    /// Encoder and projector.
    pub branch: Branch,
    /// The predictor.
    pub predictor: Predictor,
}

/// What one step reports.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StepStats {
    /// The symmetric cosine loss (Eq. 4), in [−4, 4].
    pub loss: f64,
    /// [`normalized_std`] of the online projector output of view 1.
    pub z_std: f64,
    /// [`normalized_std`] of the predictor output of view 1.
    pub p_std: f64,
    /// Seconds in DirectPred's host work (estimator update, eigendecomposition, weight write).
    pub directpred_s: f64,
    /// Seconds in the eigendecomposition alone.
    pub eig_s: f64,
}

/// SGD with momentum (no dampening) and weight decay `wd`, as in the reference.
fn sgd(config: &SslConfig, wd: f64) -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(config.momentum)
                .with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(wd as f32)))
}

/// The predictor's parameters inside [`Online`] (matched by module path, so the group survives
/// a checkpoint reload, which assigns parameters by path).
fn predictor_group() -> ParamGroup {
    ParamGroup::from_regex("^predictor\\.").expect("a valid pattern")
}

/// SGD over [`Online`]: the encoder and projector with `weight_decay`, the predictor's group
/// with `η_p` when it differs (the reference's separate `predictor_optimizer`).
fn optimizer(config: &SslConfig) -> ModuleOptimizer {
    let base = sgd(config, config.weight_decay).init();
    let wd_p = config.predictor_weight_decay();
    if wd_p == config.weight_decay {
        base
    } else {
        base.with_group(predictor_group(), sgd(config, wd_p).build(), None)
    }
}

/// Learning rates of one step: `lr` for the encoder and projector, `α_p · lr` for the predictor.
fn learning_rates(config: &SslConfig) -> ModuleLearningRate {
    let alpha = config.predictor_optim.lr_mult;
    if alpha == 1.0 {
        return config.lr.into();
    }
    ModuleLrScheduler::new(config.lr)
        .with_group(predictor_group(), config.lr * alpha)
        .step()
}

/// Online and target networks together: the model part of a training checkpoint.
#[derive(Module, Debug)]
pub struct Networks {
    /// Encoder, projector and predictor.
    pub online: Online,
    /// The EMA target (`None` for SimSiam).
    pub target: Option<Branch>,
}

/// The BYOL/SimSiam trainer: networks, optimiser, DirectPred state.
pub struct SslTrainer {
    /// The method.
    pub config: SslConfig,
    online: Option<Online>,
    /// The EMA target; `None` for SimSiam.
    pub target: Option<Branch>,
    /// SGD with momentum over the online network.
    pub optim: ModuleOptimizer,
    /// The `F̂` estimate and schedule of a directly set predictor.
    pub directpred: Option<DirectPred>,
    /// A running `F̂` for the theory monitors ([`crate::dynamics`]) of every predictor kind
    /// (`ρ` = 0.3; not checkpointed: after a resume it restarts from the next batch).
    pub monitor: CorrelationEstimator,
    /// Optimiser steps taken.
    pub step: usize,
    /// The autodiff device everything lives on.
    pub device: Device,
}

impl SslTrainer {
    /// Builds the networks on `device` (must be an autodiff device).
    pub fn new(config: SslConfig, device: &Device) -> Result<Self> {
        config.validate("method config")?;
        if !device.is_autodiff() {
            return Err(SslError::NotAutodiff(format!("{device:?}")));
        }
        let branch = config.branch.init(device);
        let predictor = config.predictor.init(config.branch.projector_out, device);
        let online = Online { branch, predictor };
        let target = match config.target {
            TargetKind::Ema { .. } => {
                let t = config.branch.init(device).no_grad();
                Some(if config.copy_target_at_start {
                    copy_weights(t, &online.branch)
                } else {
                    t
                })
            }
            TargetKind::Online => None,
        };
        let optim = optimizer(&config);
        let directpred = match &config.predictor {
            PredictorKind::DirectPred(c) => Some(DirectPred::new(*c)),
            _ => None,
        };
        Ok(Self {
            config,
            online: Some(online),
            target,
            optim,
            directpred,
            monitor: CorrelationEstimator::new(MONITOR_RHO),
            step: 0,
            device: device.clone(),
        })
    }

    /// Adds `[z₁; z₂]` to the monitor's `F̂` and to DirectPred's (one small `d × d` product on
    /// the device, read back); returns the seconds of DirectPred's share of the host work.
    fn accumulate(&mut self, z1: &Tensor<2>, z2: &Tensor<2>) -> f64 {
        let f = Tensor::cat(vec![z1.clone().detach(), z2.clone().detach()], 0);
        let [n, d] = f.dims();
        let corr = f.clone().transpose().matmul(f.clone()).div_scalar(n as f64);
        let mean = f.mean_dim(0);
        let t0 = Instant::now();
        let corr: Vec<f32> = corr
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let mean: Vec<f32> = mean
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let c = nalgebra::DMatrix::from_row_slice(d, d, &corr).map(|x| x as f64);
        let m = nalgebra::DVector::from_iterator(d, mean.iter().map(|&x| x as f64));
        let Some(dp) = self.directpred.as_mut() else {
            self.monitor.update(c, m);
            return 0.0;
        };
        dp.estimator.update(c.clone(), m.clone());
        let seconds = t0.elapsed().as_secs_f64();
        self.monitor.update(c, m);
        seconds
    }

    /// `W_p` from `F̂` if DirectPred is due this step: (weight, host seconds, eig seconds).
    fn due_weight(&self) -> Result<(Option<nalgebra::DMatrix<f64>>, f64)> {
        let Some(dp) = self.directpred.as_ref() else {
            return Ok((None, 0.0));
        };
        if !dp.due(self.step) {
            return Ok((None, 0.0));
        }
        let t0 = Instant::now();
        let w = dp.weight()?;
        Ok((w, t0.elapsed().as_secs_f64()))
    }

    /// Writes `W_p` into `online` if due; adds the timings to `stats`.
    fn refresh_predictor(&self, online: Online, stats: &mut StepStats) -> Result<Online> {
        let t0 = Instant::now();
        let (w, eig) = self.due_weight()?;
        let online = match w {
            Some(w) => Online {
                predictor: online.predictor.set_linear_weight(&w),
                branch: online.branch,
            },
            None => online,
        };
        stats.directpred_s += t0.elapsed().as_secs_f64();
        stats.eig_s += eig;
        Ok(online)
    }

    /// One training step on two augmented views `[B, C, H, W]` (on the trainer's device).
    pub fn train_step(&mut self, v1: Tensor<4>, v2: Tensor<4>) -> Result<StepStats> {
        let mut stats = StepStats::default();
        let mut online = self.online.take().ok_or(SslError::Poisoned)?;
        let z1 = online.branch.forward(v1.clone());
        let z2 = online.branch.forward(v2.clone());
        stats.directpred_s += self.accumulate(&z1, &z2);
        let set_before = self
            .directpred
            .as_ref()
            .is_some_and(|dp| dp.config.set_before_use);
        if set_before {
            online = self.refresh_predictor(online, &mut stats)?;
        }
        let p1 = online.predictor.forward(z1.clone());
        let p2 = online.predictor.forward(z2.clone());
        let (t1, t2) = match &self.target {
            Some(target) => (target.forward(v1).detach(), target.forward(v2).detach()),
            None if self.config.stop_gradient => (z1.clone().detach(), z2.clone().detach()),
            None => (z1.clone(), z2.clone()),
        };
        stats.z_std = normalized_std(z1);
        stats.p_std = normalized_std(p1.clone());
        let loss = symmetric_cosine_loss(p1, p2, t1, t2);
        let grads = loss.backward();
        stats.loss = loss.into_scalar::<f32>() as f64;
        if !stats.loss.is_finite() {
            self.online = Some(online);
            return Err(SslError::NonFinite(format!("loss at step {}", self.step)));
        }
        let grads = GradientsParams::from_grads(grads, &online);
        online = self.optim.step(learning_rates(&self.config), online, grads);
        if self.config.predictor == PredictorKind::LinearSymmetric {
            // Reference `predictor_reg: symmetric`: W_p ← (W_p + W_pᵀ)/2 after every step.
            online.predictor = online.predictor.symmetrize();
        }
        if !set_before {
            online = self.refresh_predictor(online, &mut stats)?;
        }
        if let (Some(target), TargetKind::Ema { momentum }) = (self.target.take(), self.config.target) {
            self.target = Some(ema_update(target, &online.branch, momentum));
        }
        self.online = Some(online);
        self.step += 1;
        Ok(stats)
    }

    /// [`Self::train_step`] with the batch split over the devices of `dp`
    /// ([`repro_core::train::data_parallel`]): each device runs the online and target networks on
    /// its rows of both views, the shard-mean gradients are averaged on the main device and SGD
    /// steps there; `F̂` and the monitors see the whole batch (the shards' projections gathered
    /// in order). Batch norm normalises each shard by its own statistics, and the running
    /// statistics kept are the main device's, as in PyTorch DDP without SyncBatchNorm: the step
    /// is not the one-device step on the whole batch, unlike for networks without batch norm.
    /// A predictor set before use needs the whole batch's `F̂` before the predictor runs and is
    /// refused here.
    pub fn train_step_parallel(
        &mut self,
        dp: &repro_core::train::DataParallel,
        v1: Tensor<4>,
        v2: Tensor<4>,
    ) -> Result<StepStats> {
        if dp.len() == 1 {
            return self.train_step(v1, v2);
        }
        if self.directpred.as_ref().is_some_and(|d| d.config.set_before_use) {
            return Err(SslError::NotParallel(
                "a DirectPred predictor set before use (set_before_use) needs the whole batch".into(),
            ));
        }
        let mut stats = StepStats::default();
        let online = self.online.take().ok_or(SslError::Poisoned)?;
        let nets = Networks {
            online,
            target: self.target.take(),
        };
        let b = v1.dims()[0];
        let main = dp.main().clone();
        let stop_gradient = self.config.stop_gradient;
        let shard = |m: &Networks, device: &Device, rows: std::ops::Range<usize>| {
            let n = rows.len();
            let v1 = v1.clone().narrow(0, rows.start, n).to_device(device);
            let v2 = v2.clone().narrow(0, rows.start, n).to_device(device);
            let z1 = m.online.branch.forward(v1.clone());
            let z2 = m.online.branch.forward(v2.clone());
            let p1 = m.online.predictor.forward(z1.clone());
            let p2 = m.online.predictor.forward(z2.clone());
            let (t1, t2) = match &m.target {
                Some(target) => (target.forward(v1).detach(), target.forward(v2).detach()),
                None if stop_gradient => (z1.clone().detach(), z2.clone().detach()),
                None => (z1.clone(), z2.clone()),
            };
            let loss = symmetric_cosine_loss(p1.clone(), p2, t1, t2);
            let grads = loss.backward();
            let loss = loss.into_scalar::<f32>() as f64;
            if !loss.is_finite() {
                return Err(loss);
            }
            let grads = GradientsParams::from_grads(grads, &m.online);
            let gather = |t: Tensor<2>| t.detach().to_device(&main);
            Ok((grads, (loss * n as f64, gather(z1), gather(z2), gather(p1))))
        };
        let result = dp.gradients(&nets, b, shard);
        let Networks { mut online, target } = nets;
        self.target = target;
        let (grads, outs) = match result {
            Ok(r) => r,
            Err(_) => {
                self.online = Some(online);
                return Err(SslError::NonFinite(format!("loss at step {}", self.step)));
            }
        };
        stats.loss = outs.iter().map(|o| o.0).sum::<f64>() / b as f64;
        let cat = |pick: fn(&(f64, Tensor<2>, Tensor<2>, Tensor<2>)) -> Tensor<2>| {
            Tensor::cat(outs.iter().map(pick).collect(), 0)
        };
        let (z1, z2, p1) = (cat(|o| o.1.clone()), cat(|o| o.2.clone()), cat(|o| o.3.clone()));
        stats.directpred_s += self.accumulate(&z1, &z2);
        stats.z_std = normalized_std(z1);
        stats.p_std = normalized_std(p1);
        online = self.optim.step(learning_rates(&self.config), online, grads);
        if self.config.predictor == PredictorKind::LinearSymmetric {
            online.predictor = online.predictor.symmetrize();
        }
        online = self.refresh_predictor(online, &mut stats)?;
        if let (Some(target), TargetKind::Ema { momentum }) = (self.target.take(), self.config.target) {
            self.target = Some(ema_update(target, &online.branch, momentum));
        }
        self.online = Some(online);
        self.step += 1;
        Ok(stats)
    }

    /// Online and target networks (for checkpoints), batch-norm statistics up to date.
    pub fn networks(&self) -> Networks {
        let networks = Networks {
            online: self.online().clone(),
            target: self.target.clone(),
        };
        // Burn's `RunningState` keeps the last update pending until the statistic is next read,
        // and records read the committed value: without this a checkpoint would hold the
        // statistics of one step earlier. `valid()` commits pending updates (clones share them).
        let _ = networks.valid();
        networks
    }

    /// Freshly initialised networks of this trainer's shape, to load a checkpoint into.
    pub fn fresh_networks(&self) -> Networks {
        let online = Online {
            branch: self.config.branch.init(&self.device),
            predictor: self
                .config
                .predictor
                .init(self.config.branch.projector_out, &self.device),
        };
        let target = self
            .target
            .as_ref()
            .map(|_| self.config.branch.init(&self.device));
        Networks { online, target }
    }

    /// A fresh optimiser of this trainer's settings, to load a checkpoint's state into.
    pub fn fresh_optimizer(&self) -> ModuleOptimizer {
        optimizer(&self.config)
    }

    /// Continues from restored networks, optimiser state and step count. The target and a
    /// directly set predictor are put back out of the autodiff graph, as [`SslTrainer::new`] does.
    pub fn restore(&mut self, networks: Networks, optim: ModuleOptimizer, step: usize) {
        let mut online = networks.online;
        if !self.config.predictor.is_trained() {
            online.predictor = online.predictor.no_grad();
        }
        self.online = Some(online);
        self.target = networks.target.map(|t| t.no_grad());
        self.optim = optim;
        self.step = step;
    }

    /// The online network (encoder, projector, predictor).
    pub fn online(&self) -> &Online {
        self.online
            .as_ref()
            .expect("trainer poisoned by an earlier error")
    }

    /// The online encoder for evaluation (plain device, running BN statistics).
    pub fn encoder(&self) -> crate::nets::Encoder {
        self.online().branch.encoder.valid()
    }
}
