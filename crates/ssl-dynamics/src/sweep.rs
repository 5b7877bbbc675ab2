//! The CPU comparison of predictors (paper Sec. 6, Tables 1–2, at toy scale) and the ablations
//! of the analysis' knobs (Sec. 4–5: weight decay `η`, EMA, predictor learning rate `α_p`,
//! stop-gradient). Every run is one named config derived from `configs/cpu-comparison.json`,
//! trained resumably into `<runs>/ssl-dynamics/<name>/` and kept as a compact record (config,
//! per-epoch metrics with the theory monitors, probe; no weights) in
//! `<out>/ssl-dynamics/runs/<name>/record.json`, from which [`crate::report`] writes the
//! report. A run whose record holds the same config is not trained again.

use crate::byol::TargetKind;
use crate::config::PretrainConfig;
use crate::directpred::{DirectPredConfig, Formula};
use crate::error::{Result, SslError};
use crate::predictor::PredictorKind;
use crate::probe::ProbeResult;
use crate::train::{EpochLog, RunData, calibrate_batch_norm, pretrain_resumable, probe_encoder};
use burn::tensor::Device;
use repro_core::data::{DataArgs, DatasetName};
use repro_core::train::RunDir;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The shipped base config of every run here.
pub const BASE_CONFIG: &str = "cpu-comparison.json";

fn base_text() -> &'static str {
    include_str!("../configs/cpu-comparison.json")
}

/// Seeds of every cell.
pub const SEEDS: [u64; 3] = [0, 1, 2];

/// BYOL (EMA target) or SimSiam (the online branch as target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// EMA target, `m = 0.996`.
    Byol,
    /// No EMA.
    SimSiam,
}

impl Method {
    /// Both, in table order.
    pub const ALL: [Method; 2] = [Method::Byol, Method::SimSiam];

    /// Name part and column title.
    pub fn name(self) -> &'static str {
        match self {
            Method::Byol => "byol",
            Method::SimSiam => "simsiam",
        }
    }

    /// Column title.
    pub fn label(self) -> &'static str {
        match self {
            Method::Byol => "BYOL (EMA)",
            Method::SimSiam => "SimSiam",
        }
    }
}

/// The predictors compared (paper Tables 1–2 and the reference's `predictor_reg` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pred {
    /// 2-layer MLP with BN (BYOL's default).
    Mlp,
    /// Linear, trained by SGD.
    Linear,
    /// Linear, trained by SGD and symmetrised every step.
    LinearSym,
    /// DirectPred, `W_p` set every step.
    DirectPred1,
    /// DirectPred, set every 5 steps, SGD in between.
    DirectPred5,
    /// DirectCopy `W_p = F̂ + εI` (reference form, no normalisation).
    DirectCopy,
    /// No predictor.
    None,
}

impl Pred {
    /// Every predictor, in table order.
    pub const ALL: [Pred; 7] = [
        Pred::Mlp,
        Pred::Linear,
        Pred::LinearSym,
        Pred::DirectPred1,
        Pred::DirectPred5,
        Pred::DirectCopy,
        Pred::None,
    ];

    /// Name part.
    pub fn name(self) -> &'static str {
        match self {
            Pred::Mlp => "mlp",
            Pred::Linear => "linear",
            Pred::LinearSym => "linear-sym",
            Pred::DirectPred1 => "directpred1",
            Pred::DirectPred5 => "directpred5",
            Pred::DirectCopy => "directcopy",
            Pred::None => "nopred",
        }
    }

    /// The predictor for projector width `d`.
    pub fn kind(self, d: usize) -> PredictorKind {
        let dp = DirectPredConfig::default();
        match self {
            Pred::Mlp => PredictorKind::Mlp { hidden: 4 * d },
            Pred::Linear => PredictorKind::Linear,
            Pred::LinearSym => PredictorKind::LinearSymmetric,
            Pred::DirectPred1 => PredictorKind::DirectPred(dp),
            Pred::DirectPred5 => PredictorKind::DirectPred(DirectPredConfig { freq: 5, ..dp }),
            Pred::DirectCopy => PredictorKind::DirectPred(DirectPredConfig {
                formula: Formula::DirectCopyRaw,
                ..dp
            }),
            Pred::None => PredictorKind::None,
        }
    }
}

/// A change to the base setting (SimSiam + SGD linear predictor on MNIST) whose direction the
/// analysis predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// Weight decay 0 (encoder, projector and predictor).
    WeightDecay0,
    /// Weight decay 4e-3 (ten times the base).
    WeightDecay4e3,
    /// Predictor learning rate × 10 (`α_p = 10`).
    PredictorLr10,
    /// No stop-gradient.
    NoStopGradient,
}

impl Ablation {
    /// Every ablation.
    pub const ALL: [Ablation; 4] = [
        Ablation::WeightDecay0,
        Ablation::WeightDecay4e3,
        Ablation::PredictorLr10,
        Ablation::NoStopGradient,
    ];

    /// Name part.
    pub fn name(self) -> &'static str {
        match self {
            Ablation::WeightDecay0 => "wd0",
            Ablation::WeightDecay4e3 => "wd4e-3",
            Ablation::PredictorLr10 => "predlr10",
            Ablation::NoStopGradient => "nostopgrad",
        }
    }

    fn apply(self, cfg: &mut PretrainConfig) {
        match self {
            Ablation::WeightDecay0 => cfg.ssl.weight_decay = 0.0,
            Ablation::WeightDecay4e3 => cfg.ssl.weight_decay = 4e-3,
            Ablation::PredictorLr10 => cfg.ssl.predictor_optim.lr_mult = 10.0,
            Ablation::NoStopGradient => cfg.ssl.stop_gradient = false,
        }
    }
}

/// The base setting of the ablations.
pub const ABLATION_BASE: (Method, Pred) = (Method::SimSiam, Pred::Linear);

/// One run: what it trains, or the random-init baseline of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// MNIST or Fashion-MNIST.
    pub dataset: DatasetName,
    /// `None`: the untrained encoder (BN statistics calibrated), probed.
    pub method: Option<Method>,
    /// The predictor (ignored for the baseline).
    pub pred: Pred,
    /// A change to the base setting.
    pub ablation: Option<Ablation>,
    /// Seed of the run.
    pub seed: u64,
}

fn dataset_name(d: DatasetName) -> &'static str {
    match d {
        DatasetName::FashionMnist => "fashion",
        _ => "mnist",
    }
}

impl RunSpec {
    /// The run's name (its directory and record).
    pub fn name(&self) -> String {
        let ds = dataset_name(self.dataset);
        match (self.method, self.ablation) {
            (None, _) => format!("{ds}-random-init-s{}", self.seed),
            (Some(m), None) => format!("{ds}-{}-{}-s{}", m.name(), self.pred.name(), self.seed),
            (Some(m), Some(a)) => format!(
                "{ds}-{}-{}-{}-s{}",
                m.name(),
                self.pred.name(),
                a.name(),
                self.seed
            ),
        }
    }

    /// The run's config: the base file with dataset, method, predictor, ablation and seed.
    pub fn config(&self) -> Result<PretrainConfig> {
        let mut cfg = PretrainConfig::parse(base_text(), BASE_CONFIG)?;
        cfg.dataset = self.dataset;
        cfg.seed = self.seed;
        let d = cfg.ssl.branch.projector_out;
        if let Some(m) = self.method {
            cfg.ssl.target = match m {
                Method::Byol => TargetKind::Ema { momentum: 0.996 },
                Method::SimSiam => TargetKind::Online,
            };
            cfg.ssl.predictor = self.pred.kind(d);
        }
        if let Some(a) = self.ablation {
            a.apply(&mut cfg);
        }
        cfg.validate(&self.name())?;
        Ok(cfg)
    }

    /// The command that trains this run and writes its record.
    pub fn command(&self) -> String {
        format!(
            "cargo run --release -p ssl-dynamics -- sweep --only {}",
            self.name()
        )
    }
}

/// Named sets of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunSet {
    /// MNIST seed 0: BYOL + DirectPred, BYOL + SGD linear, SimSiam + DirectPred, SimSiam +
    /// linear without stop-gradient (`reproduce --quick`).
    Quick,
    /// Every predictor × method × seed on MNIST, and the random-init baselines.
    ComparisonMnist,
    /// The same on Fashion-MNIST.
    ComparisonFashion,
    /// The ablations of SimSiam + SGD linear on MNIST (their base runs are in the comparison).
    Ablations,
    /// All of the above (`reproduce --full`).
    All,
}

impl RunSet {
    /// The runs of the set, in training order.
    pub fn runs(self) -> Vec<RunSpec> {
        let spec = |dataset, method, pred, ablation, seed| RunSpec {
            dataset,
            method,
            pred,
            ablation,
            seed,
        };
        let comparison = |ds: DatasetName| {
            let mut v = vec![];
            for seed in SEEDS {
                v.push(spec(ds, None, Pred::Linear, None, seed));
                for m in Method::ALL {
                    for p in Pred::ALL {
                        v.push(spec(ds, Some(m), p, None, seed));
                    }
                }
            }
            v
        };
        let (bm, bp) = ABLATION_BASE;
        match self {
            RunSet::Quick => vec![
                spec(DatasetName::Mnist, Some(Method::Byol), Pred::DirectPred1, None, 0),
                spec(DatasetName::Mnist, Some(Method::Byol), Pred::Linear, None, 0),
                spec(
                    DatasetName::Mnist,
                    Some(Method::SimSiam),
                    Pred::DirectPred1,
                    None,
                    0,
                ),
                spec(
                    DatasetName::Mnist,
                    Some(bm),
                    bp,
                    Some(Ablation::NoStopGradient),
                    0,
                ),
            ],
            RunSet::ComparisonMnist => comparison(DatasetName::Mnist),
            RunSet::ComparisonFashion => comparison(DatasetName::FashionMnist),
            RunSet::Ablations => SEEDS
                .iter()
                .flat_map(|&s| {
                    Ablation::ALL
                        .iter()
                        .map(move |&a| spec(DatasetName::Mnist, Some(bm), bp, Some(a), s))
                })
                .collect(),
            RunSet::All => [
                RunSet::ComparisonMnist,
                RunSet::Ablations,
                RunSet::ComparisonFashion,
            ]
            .iter()
            .flat_map(|s| s.runs())
            .collect(),
        }
    }

    /// The run called `name`, if any set has it.
    pub fn find(name: &str) -> Option<RunSpec> {
        RunSet::All.runs().into_iter().find(|r| r.name() == name)
    }
}

/// A finished run as kept in the repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// The command that produced it.
    pub command: String,
    /// What was run.
    pub spec: RunSpec,
    /// Its config.
    pub config: PretrainConfig,
    /// Per-epoch metrics and theory monitors (empty for the random-init baseline).
    pub logs: Vec<EpochLog>,
    /// Linear probe of the final encoder.
    pub probe: ProbeResult,
    /// Labelled training and test images of the probe.
    pub probe_images: (usize, usize),
    /// Wall time of the run (training and probe), seconds.
    pub seconds: f64,
}

/// `<out>/ssl-dynamics/runs/<name>/record.json`.
pub fn record_path(out: &Path, name: &str) -> PathBuf {
    repro_core::reproduce::record_path(out, "ssl-dynamics", name)
}

/// The record of `name` under `out`, if there is one.
pub fn read_record(out: &Path, name: &str) -> Result<Option<RunRecord>> {
    Ok(repro_core::reproduce::read_record(out, "ssl-dynamics", name)?)
}

/// Writes a record (atomically).
pub fn write_record(out: &Path, record: &RunRecord) -> Result<PathBuf> {
    let name = record.spec.name();
    repro_core::reproduce::write_record(out, "ssl-dynamics", &name, record)
        .map_err(SslError::io(record_path(out, &name)))
}

/// Every record of the runs of [`RunSet::All`] and the quick set found under `out`.
pub fn read_all(out: &Path) -> Result<Vec<RunRecord>> {
    let mut v = vec![];
    for spec in RunSet::All.runs() {
        if let Some(r) = read_record(out, &spec.name())? {
            v.push(r);
        }
    }
    Ok(v)
}

/// Trains (or resumes) `spec` into `runs/ssl-dynamics/<name>/` and writes its record under
/// `out`; returns the record. With `retrain`, an existing record with the same config is
/// trained again (from scratch) instead of kept.
pub fn run_one(
    spec: &RunSpec,
    out: &Path,
    runs: &Path,
    data: &DataArgs,
    retrain: bool,
    device: &Device,
) -> Result<RunRecord> {
    let name = spec.name();
    let cfg = spec.config()?;
    if !retrain
        && let Some(r) = read_record(out, &name)?
        && r.config == cfg
    {
        eprintln!("== {name}: record up to date");
        return Ok(r);
    }
    eprintln!("== {name}");
    let t0 = Instant::now();
    let loaded = RunData::load(&cfg, data)?;
    let plain = device.clone().inner();
    let (logs, probe) = match spec.method {
        Some(_) => {
            let dir = RunDir::create(runs, "ssl-dynamics", &name, !retrain).map_err(SslError::io(runs))?;
            dir.write_config(&cfg)
                .map_err(SslError::io(dir.file("config.json")))?;
            let (_, result) = pretrain_resumable(&cfg, &loaded, &dir, !retrain, device)?;
            (result.logs, result.probe)
        }
        None => {
            repro_core::train::seed_everything(cfg.seed, &plain);
            let random = calibrate_batch_norm(
                cfg.ssl.branch.init(&plain).encoder,
                &loaded.pretrain,
                cfg.recipe,
                CALIBRATION_BATCHES,
                &plain,
            );
            (
                vec![],
                probe_encoder(&random, &loaded, cfg.recipe, cfg.probe, &plain),
            )
        }
    };
    let record = RunRecord {
        command: spec.command(),
        spec: *spec,
        config: cfg,
        logs,
        probe,
        probe_images: (loaded.train.len(), loaded.test.len()),
        seconds: t0.elapsed().as_secs_f64(),
    };
    let path = write_record(out, &record)?;
    eprintln!(
        "   probe {:.2}% in {:.0} s -> {}",
        100.0 * probe.final_acc,
        record.seconds,
        path.display()
    );
    Ok(record)
}

/// Batches that calibrate the random-init encoder's batch-norm statistics.
pub const CALIBRATION_BATCHES: usize = 20;

/// Runs every run of `set` (keeping up-to-date records); returns the records.
pub fn run_set(
    set: RunSet,
    out: &Path,
    runs: &Path,
    data: &DataArgs,
    retrain: bool,
    device: &Device,
) -> Result<Vec<RunRecord>> {
    set.runs()
        .iter()
        .map(|spec| run_one(spec, out, runs, data, retrain, device))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_have_unique_names_and_configs_that_differ_only_where_named() {
        let all = RunSet::All.runs();
        let mut names: Vec<String> = all.iter().map(|r| r.name()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate run names");
        // 2 datasets × 3 seeds × (1 baseline + 2 methods × 7 predictors) + 3 seeds × 4 ablations.
        assert_eq!(n, 2 * 3 * (1 + 2 * 7) + 3 * 4);
        // The quick runs are part of the full set, so their records serve both.
        for q in RunSet::Quick.runs() {
            assert!(all.contains(&q), "{}", q.name());
        }
        let base = RunSpec {
            dataset: DatasetName::Mnist,
            method: Some(ABLATION_BASE.0),
            pred: ABLATION_BASE.1,
            ablation: None,
            seed: 1,
        };
        let b = base.config().unwrap();
        assert_eq!(b.ssl.target, TargetKind::Online);
        assert_eq!(b.ssl.predictor, PredictorKind::Linear);
        for a in Ablation::ALL {
            let c = RunSpec {
                ablation: Some(a),
                ..base
            }
            .config()
            .unwrap();
            let mut undone = c.clone();
            undone.ssl.weight_decay = b.ssl.weight_decay;
            undone.ssl.predictor_optim = b.ssl.predictor_optim;
            undone.ssl.stop_gradient = b.ssl.stop_gradient;
            assert_eq!(undone, b, "{a:?} changes more than its knob");
            assert_ne!(c, b, "{a:?} changes nothing");
        }
        let fashion = RunSpec {
            dataset: DatasetName::FashionMnist,
            ..base
        };
        assert_eq!(fashion.config().unwrap().dataset, DatasetName::FashionMnist);
        assert_eq!(RunSet::find(&fashion.name()), Some(fashion));
    }
}
