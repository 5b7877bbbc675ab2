//! `ssl-dynamics reproduce`: the experiments behind `ssl-dynamics.md`. The theory claims
//! (Sec. 3–5, [`run_theory`]) and the CPU pre-training runs on MNIST ([`run_training`], the
//! shipped `configs/mnist-*.json`) are run here; [`crate::report`] draws and writes them.
//!
//! Scale ([`Scale`]): `--quick` trains each MNIST config for 2 epochs on its first 16000 images
//! (250 steps per run); `--full` uses the shipped files unchanged (15 epochs on every image).

use crate::config::PretrainConfig;
use crate::error::{Result, SslError};
use crate::linear::claims::{
    self, Alignment, EmaProtection, ModeRun, NoStopGradient, PhasePortrait, PredictorLr, SgdCheck,
    SgdSettings,
};
use crate::linear::fixed_points::collapse_boundary;
use crate::linear::{FixedPoints, Mode, OdeParams, fixed_points};
use crate::probe::ProbeResult;
use crate::report::{self, ReportInput};
use crate::train::{PretrainResult, RunData, calibrate_batch_norm, pretrain, probe_encoder};
use burn::tensor::Device;
use repro_core::data::DataArgs;
use repro_core::reproduce::Scale;
use std::path::PathBuf;
use std::time::Instant;

/// What `reproduce` runs and where the report goes.
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    /// Quick or full.
    pub scale: Scale,
    /// Results directory: `out/ssl-dynamics.md` and `out/ssl-dynamics/*.png`.
    pub out: PathBuf,
    /// Only the theory.
    pub skip_training: bool,
    /// Where the datasets are.
    pub data: DataArgs,
}

/// The CPU pre-training runs of the report, each one shipped config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuRun {
    /// BYOL with a linear predictor trained by SGD.
    ByolLinear,
    /// BYOL with DirectPred.
    ByolDirectPred,
    /// SimSiam with DirectPred.
    SimSiamDirectPred,
    /// SimSiam with a linear predictor and no stop-gradient: the collapsing control (Theorem 1).
    NoStopGradient,
}

impl CpuRun {
    /// Every run, in report order.
    pub const ALL: [CpuRun; 4] = [
        CpuRun::ByolLinear,
        CpuRun::ByolDirectPred,
        CpuRun::SimSiamDirectPred,
        CpuRun::NoStopGradient,
    ];

    /// The shipped config file (in `crates/ssl-dynamics/configs/`).
    pub fn config_file(self) -> &'static str {
        match self {
            CpuRun::ByolLinear => "mnist-byol-linear.json",
            CpuRun::ByolDirectPred => "mnist-byol-directpred.json",
            CpuRun::SimSiamDirectPred => "mnist-simsiam-directpred.json",
            CpuRun::NoStopGradient => "mnist-simsiam-nostopgrad.json",
        }
    }

    fn config_text(self) -> &'static str {
        match self {
            CpuRun::ByolLinear => include_str!("../configs/mnist-byol-linear.json"),
            CpuRun::ByolDirectPred => include_str!("../configs/mnist-byol-directpred.json"),
            CpuRun::SimSiamDirectPred => include_str!("../configs/mnist-simsiam-directpred.json"),
            CpuRun::NoStopGradient => include_str!("../configs/mnist-simsiam-nostopgrad.json"),
        }
    }

    /// Row label of the report.
    pub fn label(self) -> &'static str {
        match self {
            CpuRun::ByolLinear => "BYOL + linear predictor (SGD)",
            CpuRun::ByolDirectPred => "BYOL + DirectPred",
            CpuRun::SimSiamDirectPred => "SimSiam + DirectPred",
            CpuRun::NoStopGradient => "SimSiam + linear, no stop-gradient (control)",
        }
    }

    /// The shipped config at `scale`.
    pub fn config(self, scale: Scale) -> Result<PretrainConfig> {
        let mut cfg = PretrainConfig::parse(self.config_text(), self.config_file())?;
        if scale == Scale::Quick {
            cfg.epochs = QUICK_EPOCHS;
            cfg.train_limit = Some(QUICK_IMAGES);
        }
        Ok(cfg)
    }
}

/// Epochs of a `--quick` run.
pub const QUICK_EPOCHS: usize = 2;
/// Pre-training images of a `--quick` run.
pub const QUICK_IMAGES: usize = 16_000;
/// Batches that calibrate the random-init encoder's batch-norm statistics.
pub const CALIBRATION_BATCHES: usize = 20;

/// One trained CPU run.
#[derive(Debug, Clone)]
pub struct TrainedRun {
    /// Which.
    pub run: CpuRun,
    /// Its config (after scaling).
    pub config: PretrainConfig,
    /// Logs, losses and probe.
    pub result: PretrainResult,
    /// Wall time.
    pub seconds: f64,
}

/// Sizes of the data the runs used.
#[derive(Debug, Clone, Copy)]
pub struct DataSummary {
    /// Whether MNIST fell back to the embedded 10000/2000 subset.
    pub embedded_subset: bool,
    /// Pre-training images.
    pub pretrain: usize,
    /// Labelled training images (probe).
    pub train: usize,
    /// Test images.
    pub test: usize,
}

/// The CPU training runs and the random-init baseline.
#[derive(Debug, Clone)]
pub struct TrainingResults {
    /// In [`CpuRun::ALL`] order.
    pub runs: Vec<TrainedRun>,
    /// Probe of the untrained encoder of the first config (batch-norm statistics calibrated).
    pub random_init: ProbeResult,
    /// Wall time of the baseline.
    pub random_init_seconds: f64,
    /// The data.
    pub data: DataSummary,
}

/// Trains every [`CpuRun`] at `scale` on `device` and probes the random-init baseline.
pub fn run_training(scale: Scale, data_args: &DataArgs, device: &Device) -> Result<TrainingResults> {
    let configs = CpuRun::ALL
        .iter()
        .map(|&run| Ok((run, run.config(scale)?)))
        .collect::<Result<Vec<_>>>()?;
    let cfg0 = configs[0].1.clone();
    let data = RunData::load(&cfg0, data_args)?;
    let mut runs = vec![];
    for (run, config) in configs {
        eprintln!("== {}", run.label());
        let t0 = Instant::now();
        let (_, result) = pretrain(&config, &data, None, device)?;
        runs.push(TrainedRun {
            run,
            config,
            result,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let t0 = Instant::now();
    let plain = device.clone().inner();
    repro_core::train::seed_everything(cfg0.seed, &plain);
    let random = calibrate_batch_norm(
        cfg0.ssl.branch.init(&plain).encoder,
        &data.pretrain,
        cfg0.recipe,
        CALIBRATION_BATCHES,
        &plain,
    );
    let random_init = probe_encoder(&random, &data, cfg0.recipe, cfg0.probe, &plain);
    Ok(TrainingResults {
        runs,
        random_init,
        random_init_seconds: t0.elapsed().as_secs_f64(),
        data: DataSummary {
            embedded_subset: data.embedded_subset,
            pretrain: data.pretrain.len(),
            train: data.train.len(),
            test: data.test.len(),
        },
    })
}

/// The numbers and curves of the seven theory claims.
#[derive(Debug, Clone)]
pub struct TheoryResults {
    /// Claim 1 (Theorem 1): weights vanish without stop-gradient.
    pub no_stop_gradient: NoStopGradient,
    /// Claim 2: the eigenvalue ODE just below and just above the threshold, same start.
    pub threshold_runs: [(f64, ModeRun); 2],
    /// Fixed points below the threshold.
    pub fixed_points: FixedPoints,
    /// Claim 3: phase portrait below the threshold.
    pub portrait: PhasePortrait,
    /// Claim 3: `(p₀, s_c(p₀))` on the collapse-basin boundary.
    pub basin_boundary: Vec<(f64, f64)>,
    /// Claim 4: basin against the predictor's relative learning rate.
    pub predictor_lr: PredictorLr,
    /// The `α_p` of claim 4.
    pub alphas: Vec<f64>,
    /// Claim 5: EMA and a weak mode.
    pub ema: EmaProtection,
    /// Claim 6: the predictor aligns with `F`.
    pub alignment: Alignment,
    /// Claim 7: SGD settings.
    pub sgd_settings: SgdSettings,
    /// Claim 7: the linear model trained by SGD.
    pub sgd: SgdCheck,
    /// Claim 7: `(η, p*+)` of the theory.
    pub sgd_theory: Vec<(f64, f64)>,
    /// Wall time of all claims.
    pub seconds: f64,
}

/// Runs the seven theory claims (seconds; deterministic).
pub fn run_theory() -> TheoryResults {
    let t0 = Instant::now();
    let no_stop_gradient = claims::no_stop_gradient(&[0.01, 0.05, 0.2], 0.1, 300.0);
    let start = Mode::new(0.5, 0.5);
    let threshold_runs =
        [0.24, 0.26].map(|eta| (eta, claims::run_mode(OdeParams::simsiam(eta), start, 1500.0)));
    let params = OdeParams::simsiam(0.24);
    let fixed = fixed_points(&params, 1.0).expect("η = 0.24 is below the threshold");
    let portrait = claims::phase_portrait(params, 1.2, 1.0, 60);
    let basin_boundary = (1..12)
        .map(|i| i as f64 * 0.05)
        .filter_map(|p0| collapse_boundary(&params, p0, 1.0, 20).map(|s| (p0, s)))
        .collect();
    let alphas = vec![1.0, 2.0, 4.0];
    let p0s: Vec<f64> = (1..8).map(|i| i as f64 * 0.05).collect();
    let predictor_lr = claims::predictor_lr(0.24, &alphas, &p0s, 40);
    let ema = claims::ema_protection(0.24, 0.26, Mode::new(0.2, 0.19), &[0.01, 0.1, 1.0], 5000.0);
    let alignment = claims::alignment(0.1, Some(0.1), 300.0);
    let sgd_settings = SgdSettings::default();
    let sgd = claims::sgd_check(sgd_settings, &[0.05, 0.1, 0.15], 0.25, 0.1);
    let sgd_theory = (0..=40)
        .map(|i| i as f64 * 0.2 / 40.0 + 0.005)
        .filter_map(|eta| {
            let p = OdeParams {
                sigma2: sgd_settings.data.sigma2,
                ..OdeParams::simsiam(eta)
            };
            fixed_points(&p, 1.0).map(|f| (eta, f.p_plus))
        })
        .collect();
    TheoryResults {
        no_stop_gradient,
        threshold_runs,
        fixed_points: fixed,
        portrait,
        basin_boundary,
        predictor_lr,
        alphas,
        ema,
        alignment,
        sgd_settings,
        sgd,
        sgd_theory,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Runs everything `opts` asks for on `device` and writes `out/ssl-dynamics.md` and its
/// figures; returns the report's path.
pub fn reproduce(opts: &ReproduceOptions, device: &Device) -> Result<PathBuf> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(SslError::io(&opts.out))?;
    let theory = run_theory();
    let training = if opts.skip_training {
        None
    } else {
        Some(run_training(opts.scale, &opts.data, device)?)
    };
    report::write(
        &opts.out,
        &ReportInput {
            scale: opts.scale,
            theory: &theory,
            training: training.as_ref(),
            started: t0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_runs_change_only_the_length_of_the_shipped_configs() {
        for run in CpuRun::ALL {
            let path = crate::config::configs_dir().join(run.config_file());
            let shipped = PretrainConfig::load(&path).unwrap();
            let quick = run.config(Scale::Quick).unwrap();
            assert_eq!(
                (quick.epochs, quick.train_limit),
                (QUICK_EPOCHS, Some(QUICK_IMAGES))
            );
            assert_eq!(
                PretrainConfig {
                    epochs: shipped.epochs,
                    train_limit: shipped.train_limit,
                    ..quick
                },
                shipped
            );
        }
        // The control is the only run without stop-gradient.
        let controls: Vec<CpuRun> = CpuRun::ALL
            .into_iter()
            .filter(|r| !r.config(Scale::Full).unwrap().ssl.stop_gradient)
            .collect();
        assert_eq!(controls, vec![CpuRun::NoStopGradient]);
    }
}
