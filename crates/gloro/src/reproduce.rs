//! `gloro reproduce`: the registered runs, the toy problem and the soundness check, assembled
//! into `docs/results/gloro.md` by [`crate::report`].
//!
//! Finished runs are kept in the repository as records (`docs/results/gloro/runs/<name>/
//! record.json`: configuration, per-epoch metrics, final evaluations; no weights), so the report
//! regenerates from a clone. `--quick` trains the quick configuration on the embedded MNIST
//! subset (rewriting its record) and reads the other records; `--full` trains (or resumes) every
//! registered configuration and rewrites their records. A run trained by hand becomes a record
//! with `gloro record --run runs/gloro/<name>`.

use crate::attack::PgdConfig;
use crate::certify::{Certifier, CertifyOptions};
use crate::config::{TrainConfig, configs_dir};
use crate::error::{GloroError, Result};
use crate::model::GloroNet;
use crate::report::{self, ReportInput};
use crate::train::{self, Summary};
use crate::{soundness, toy};
use burn::tensor::Device;
use repro_core::data::{DataArgs, Split, load};
use repro_core::train::RunDir;
use std::path::{Path, PathBuf};

/// Configurations whose results the report shows, with their labels, in report order.
pub const REGISTERED: [(&str, &str); 6] = [
    ("MNIST eps 0.3 (2C2F, 30-epoch recipe)", "mnist-0.3-30ep"),
    ("MNIST eps 0.3 (2C2F, TRADES, 30 epochs)", "mnist-0.3-trades-30ep"),
    ("MNIST eps 1.58 (4C3F, 10-epoch recipe)", "mnist-1.58-10ep"),
    ("MNIST eps 1.58 (4C3F, TRADES, 40 epochs)", "mnist-1.58-40ep"),
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
    /// Train every registered configuration (else only the quick one).
    pub full: bool,
    /// Results directory (`docs/results`).
    pub out: PathBuf,
    /// Where training runs live (`runs`).
    pub runs_dir: PathBuf,
    /// Where data lives.
    pub data: DataArgs,
    /// Test points attacked by the soundness check.
    pub soundness_points: usize,
}

/// The command that trains registered run `name`.
pub fn command(name: &str, seed: u64, subset: bool) -> String {
    let config = config_name(name, seed);
    let seed = if seed == 0 {
        String::new()
    } else {
        format!(" --seed {seed}")
    };
    format!(
        "cargo run --release -p gloro -- train --config crates/gloro/configs/{config}.json --name {name}{seed}{}",
        if subset { " --subset" } else { "" }
    )
}

/// The configuration of run `name`: runs with seed `s` ≠ 0 are named `<config>-s<s>`.
pub fn config_name(name: &str, seed: u64) -> &str {
    if seed == 0 {
        return name;
    }
    name.strip_suffix(&format!("-s{seed}")).unwrap_or(name)
}

/// A finished run in the compact form kept in the repository: configuration, per-epoch metrics
/// and final evaluations (the per-point radii and the weights are left out), and the command
/// that produced it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// The command that trains this run.
    pub command: String,
    /// The run's summary without per-point radii.
    pub summary: Summary,
}

/// Where the record of run `name` lives: `<out>/gloro/runs/<name>/record.json`.
pub fn record_path(out: &Path, name: &str) -> PathBuf {
    repro_core::reproduce::record_path(out, "gloro", name)
}

/// Writes (or overwrites) the record of run `name` under `out`.
pub fn write_record(out: &Path, name: &str, summary: &Summary) -> Result<PathBuf> {
    let mut summary = summary.clone();
    summary.final_eval.correct_radii.clear();
    if let Some(e) = summary.estimate_eval.as_mut() {
        e.correct_radii.clear();
    }
    let record = RunRecord {
        command: command(name, summary.seed, summary.embedded_subset),
        summary,
    };
    repro_core::reproduce::write_record(out, "gloro", name, &record)
        .map_err(|e| GloroError::file(record_path(out, name), e))
}

/// Reads the record of run `name` under `out`, if one was written.
pub fn read_record(out: &Path, name: &str) -> Result<Option<RunRecord>> {
    Ok(repro_core::reproduce::read_record(out, "gloro", name)?)
}

/// The records of run `name` trained from other seeds (`<name>-s<seed>`), in seed order.
pub fn seed_records(out: &Path, name: &str) -> Result<Vec<(u64, RunRecord)>> {
    let dir = out.join("gloro").join("runs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for e in entries {
        let e = e.map_err(|e| GloroError::file(&dir, e))?;
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(seed) = file
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix("-s"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if let Some(r) = read_record(out, &file)? {
            if r.summary.seed != seed {
                return Err(GloroError::file(
                    record_path(out, &file),
                    format!("the record's seed {} does not match its name", r.summary.seed),
                ));
            }
            found.push((seed, r));
        }
    }
    found.sort_by_key(|(s, _)| *s);
    Ok(found)
}

/// Runs the reproduction and writes the report; returns its path.
pub fn run(opts: &Options, device: &Device) -> Result<PathBuf> {
    let mut input = ReportInput::default();
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
    let mut best: Option<(TrainConfig, GloroNet, RunDir)> = None;
    for (label, name) in registered {
        let cfg = TrainConfig::load(&configs_dir().join(format!("{name}.json")))?;
        if opts.full {
            let dir = RunDir::create(&opts.runs_dir, "gloro", name, true)?;
            let (model, summary) = train::train(&cfg, &dir, &opts.data, 0, true, device)?;
            write_record(&opts.out, name, &summary)?;
            if best.is_none() && cfg.eps == 0.3 {
                best = Some((cfg.clone(), model, dir));
            }
        }
        if let Some(r) = read_record(&opts.out, name)? {
            let mut group = vec![(r.command.clone(), r.summary.clone())];
            input.runs.push((label.to_string(), r.command, r.summary));
            for (_, seeded) in seed_records(&opts.out, name)? {
                group.push((seeded.command, seeded.summary));
            }
            if group.len() > 1 {
                input.seeds.push((label.to_string(), group));
            }
        }
    }
    if !opts.full {
        let mut data = opts.data.clone();
        data.subset = true;
        let name = "mnist-0.3-quick";
        let cfg = TrainConfig::load(&configs_dir().join(format!("{name}.json")))?;
        let dir = RunDir::create(&opts.runs_dir, "gloro", name, false)?;
        let (model, summary) = train::train(&cfg, &dir, &data, 0, false, device)?;
        write_record(&opts.out, name, &summary)?;
        input.runs.push((
            "MNIST eps 0.3 (2C2F, quick, embedded subset)".into(),
            command(name, 0, true),
            summary,
        ));
        input.quick = true;
        best = Some((cfg, model, dir));
    }
    let toy_cfg = toy::ToyConfig::default();
    let (toy_model, toy_result) = toy::run(&toy_cfg, device)?;
    toy::plot(&toy_model, &toy_cfg, &opts.out.join("gloro/moons.png"), device)?;
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
        let certifier = Certifier::new(&model, cfg.eps, CertifyOptions::sound(cfg.convergence))?;
        ad.seed(0);
        let r = soundness::check(&certifier, &model_ad, &x, &ad, PgdConfig::new(cfg.eps), 250);
        // negative control: the same attack against a certifier whose K is halved
        ad.seed(0);
        let control = soundness::check(
            &certifier.with_scaled_k(0.5)?,
            &model_ad,
            &x,
            &ad,
            PgdConfig::new(cfg.eps),
            250,
        );
        let cmd = format!(
            "cargo run --release -p gloro -- soundness --run {} --limit {}{}",
            dir.path.display(),
            opts.soundness_points,
            if subset { " --subset" } else { "" }
        );
        input.soundness = Some((r, control, cmd));
    }
    // per-layer tightness of the sound bounds on 6C2F with seeded random weights
    device.seed(0);
    let c6 = crate::model::Architecture::C6F2
        .config([3, 32, 32], 10)
        .init(device);
    let rows = crate::bounds::tightness(&c6, Default::default(), crate::bounds::EXACT_LIMIT)?;
    input.tightness.push((
        "6C2F, orthogonal random weights (seed 0)".into(),
        "cargo run --release -p gloro -- bounds --arch 6c2f --input 3,32,32".into(),
        rows,
    ));
    Ok(report::write(&opts.out, &input)?)
}
