//! `gloro reproduce`: the registered runs, the toy problem and the soundness check, assembled
//! into `docs/results/gloro.md` by [`crate::report`].
//!
//! `--quick` trains the quick configuration on the embedded MNIST subset and includes every
//! registered run already completed under the runs directory (its `summary.json`); `--full`
//! trains (or resumes) every registered configuration.

use crate::attack::PgdConfig;
use crate::config::{TrainConfig, configs_dir};
use crate::model::GloroNet;
use crate::report::{self, ReportInput};
use crate::train::{self, Summary, TrainError};
use crate::{soundness, toy};
use burn::tensor::Device;
use repro_core::data::{DataArgs, Split, load};
use repro_core::train::RunDir;
use std::path::{Path, PathBuf};

/// Configurations whose results the report shows, with their labels, in report order.
pub const REGISTERED: [(&str, &str); 5] = [
    ("MNIST eps 0.3 (2C2F, 30-epoch recipe)", "mnist-0.3-30ep"),
    ("MNIST eps 0.3 (2C2F, TRADES, 30 epochs)", "mnist-0.3-trades-30ep"),
    ("MNIST eps 1.58 (4C3F, 10-epoch recipe)", "mnist-1.58-10ep"),
    ("MNIST eps 0.3 (2C2F, paper: 500 epochs)", "mnist-0.3"),
    ("MNIST eps 1.58 (4C3F, paper: 300 epochs)", "mnist-1.58"),
];

/// The CIFAR-10 configuration, run by `--full` only when CIFAR-10 has been fetched.
pub const CIFAR: (&str, &str) = ("CIFAR-10 eps 36/255 (6C2F, paper: 800 epochs)", "cifar10-36");

/// The Tiny-ImageNet configuration, run by `--full` only when Tiny-ImageNet has been fetched.
pub const TINY_IMAGENET: (&str, &str) = (
    "Tiny-ImageNet eps 36/255 (8C2F, paper: 500 epochs)",
    "tiny-imagenet-36",
);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub full: bool,
    pub out: PathBuf,
    pub runs_dir: PathBuf,
    pub data: DataArgs,
    /// Test points attacked by the soundness check.
    pub soundness_points: usize,
}

fn command(name: &str, subset: bool) -> String {
    format!(
        "cargo run --release -p gloro -- train --config crates/gloro/configs/{name}.json --name {name}{}",
        if subset { " --subset" } else { "" }
    )
}

fn completed(runs_dir: &Path, name: &str) -> Option<Summary> {
    let text = std::fs::read_to_string(runs_dir.join("gloro").join(name).join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs the reproduction and writes the report; returns its path.
pub fn run(opts: &Options, device: &Device) -> Result<PathBuf, TrainError> {
    let mut input = ReportInput::default();
    let mut best: Option<(TrainConfig, GloroNet, RunDir)> = None;
    let mut registered: Vec<(&str, &str)> = REGISTERED.to_vec();
    use repro_core::data::DatasetName;
    for (dataset, run) in [
        (DatasetName::Cifar10, CIFAR),
        (DatasetName::TinyImagenet, TINY_IMAGENET),
    ] {
        if opts.full && load(dataset, Split::Test, &opts.data).is_ok() {
            registered.push(run);
        }
    }
    for (label, name) in registered {
        let cfg = TrainConfig::load(&configs_dir().join(format!("{name}.json")))
            .map_err(|e| TrainError::Io(std::io::Error::other(e)))?;
        let summary = if opts.full {
            let dir = RunDir::create(&opts.runs_dir, "gloro", name, true)?;
            let (model, summary) = train::train(&cfg, &dir, &opts.data, 0, true, device)?;
            if best.is_none() && cfg.eps == 0.3 {
                best = Some((cfg.clone(), model, dir));
            }
            Some(summary)
        } else {
            completed(&opts.runs_dir, name)
        };
        if let Some(s) = summary {
            input
                .runs
                .push((label.to_string(), command(name, s.embedded_subset), s));
        }
    }
    if !opts.full {
        let mut data = opts.data.clone();
        data.subset = true;
        let name = "mnist-0.3-quick";
        let cfg = TrainConfig::load(&configs_dir().join(format!("{name}.json")))
            .map_err(|e| TrainError::Io(std::io::Error::other(e)))?;
        let dir = RunDir::create(&opts.runs_dir, "gloro", name, false)?;
        let (model, summary) = train::train(&cfg, &dir, &data, 0, false, device)?;
        input.runs.push((
            "MNIST eps 0.3 (2C2F, quick, embedded subset)".into(),
            command(name, true),
            summary,
        ));
        input.notes.push("`--quick` trains only the quick configuration (6 epochs on the embedded 10000/2000-image MNIST subset); the other rows come from completed runs under `runs/gloro/`, whose commands are given. The paper-length runs (500 and 300 epochs) and CIFAR-10 were not run on this 2-core CPU.".into());
        // the soundness check prefers the completed 30-epoch model when present
        let full_dir = opts.runs_dir.join("gloro").join("mnist-0.3-30ep");
        if full_dir.join("model.bpk").is_file()
            && let Ok(full_cfg) = TrainConfig::load(&configs_dir().join("mnist-0.3-30ep.json"))
            && let Ok(m) = repro_core::train::checkpoint::load_model(
                full_cfg.network().init(device),
                &full_dir.join("model.bpk"),
            )
        {
            best = Some((full_cfg, m, RunDir { path: full_dir }));
        } else {
            best = Some((cfg, model, dir));
        }
    }
    let toy_cfg = toy::ToyConfig::default();
    let (toy_model, toy_result) = toy::run(&toy_cfg, device);
    toy::plot(&toy_model, &toy_cfg, &opts.out.join("gloro/moons.png"), device)
        .map_err(|e| TrainError::Io(std::io::Error::other(e)))?;
    input.toy = Some((toy_result, "cargo run --release -p gloro -- toy".into()));
    if let Some((cfg, model, dir)) = best {
        let ad = device.clone().autodiff();
        let model_ad =
            repro_core::train::checkpoint::load_model(cfg.network().init(&ad), &dir.file("model.bpk"))?;
        let subset = dir.path.ends_with("mnist-0.3-quick");
        let mut data = opts.data.clone();
        data.subset |= subset;
        let ds = load(cfg.dataset, Split::Test, &data)?;
        let (x, _, _) = train::to_tensors(&ds.dataset, opts.soundness_points, device);
        ad.seed(0);
        let r = soundness::check(&model, &model_ad, &x, &ad, PgdConfig::new(cfg.eps), 250);
        let cmd = format!(
            "cargo run --release -p gloro -- soundness --run {} --limit {}{}",
            dir.path.display(),
            opts.soundness_points,
            if subset { " --subset" } else { "" }
        );
        input.soundness = Some((r, cmd));
    }
    report::write(&opts.out, &input).map_err(TrainError::Io)
}
