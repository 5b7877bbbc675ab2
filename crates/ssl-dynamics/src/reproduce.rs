//! `ssl-dynamics reproduce`: the experiments behind `ssl-dynamics.md`. The theory claims
//! (Sec. 3–5, [`run_theory`]) are recomputed every time; the CPU training runs are the named
//! runs of [`crate::sweep`], kept as records, from which [`crate::report`] writes the training
//! section.
//!
//! Scale ([`Scale`]): `--quick` retrains the four runs of [`RunSet::Quick`] (MNIST, seed 0)
//! and rewrites their records; `--full` trains (or resumes) every run of [`RunSet::All`] that
//! has no up-to-date record. Both then read every record there is.

use crate::error::{Result, SslError};
use crate::linear::claims::{self, SgdSettings};
use crate::linear::fixed_points::collapse_boundary;
use crate::linear::{Mode, OdeParams, fixed_points};
use crate::report::{self, Anchors, ReportInput};
use crate::sweep::{RunSet, read_all, run_set};
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
    /// Results directory: `out/ssl-dynamics.md`, `out/ssl-dynamics/*.png`, the records in
    /// `out/ssl-dynamics/runs/` and the published numbers in `out/ssl-dynamics/anchors.json`.
    pub out: PathBuf,
    /// Only the theory (the training section is still written from the records there are).
    pub skip_training: bool,
    /// Where run directories (checkpoints) go.
    pub runs_dir: PathBuf,
    /// Where the datasets are.
    pub data: DataArgs,
}

pub use crate::linear::claims::TheoryResults;

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
    if !opts.skip_training {
        let (set, retrain) = match opts.scale {
            Scale::Quick => (RunSet::Quick, true),
            Scale::Full => (RunSet::All, false),
        };
        run_set(set, &opts.out, &opts.runs_dir, &opts.data, retrain, device)?;
    }
    let records = read_all(&opts.out)?;
    let anchors = Anchors::load(&opts.out)?;
    report::write(
        &opts.out,
        &ReportInput {
            scale: opts.scale,
            theory: &theory,
            records: &records,
            anchors: &anchors,
            started: t0,
        },
    )
}
