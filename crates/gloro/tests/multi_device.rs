//! Data-parallel training (`gloro train --devices`) on two wgpu devices: Mesa's software
//! Vulkan opens `wgpu:cpu` and `wgpu:default` as distinct devices, so these run without a GPU.
//! Built only with the wgpu feature (`cargo test --release -p gloro --features wgpu,ndarray
//! --test multi_device`), as CI does; without an adapter they fail, unless
//! `REPRO_SKIP_MISSING_GPU=1` asks to skip them.

#![cfg(feature = "wgpu")]

use burn::tensor::Device;
use gloro::config::TrainConfig;
use gloro::train::{self, Summary};
use repro_core::backend::{DeviceSpec, WgpuKind, open_devices};
use repro_core::data::DataArgs;
use repro_core::train::{Checkpointer, RunDir, float_values, kill_at_checkpoint};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const SEED: u64 = 3;

/// Relative tolerance on every weight and iterate (against the largest magnitude of the
/// model): two devices differ from one by summation order only.
const TOL: f32 = 1e-4;

/// 2C2F on 256 embedded MNIST images, batch 64 (32 per device), two epochs of 4 steps; short
/// power-iteration convergence (software Vulkan reads every iteration's residual back slowly).
const CONFIG: &str = r#"{
  "dataset": "mnist", "architecture": "2c2f", "eps": 0.3, "train_eps": 0.45,
  "loss": "cross-entropy", "epochs": 2, "batch_size": 64,
  "lr": { "base": 0.003, "floor": 1e-4, "hold": 1 },
  "power_iterations": 2, "convergence": { "tol": 0.01, "max_iters": 20 },
  "train_limit": 256, "test_limit": 32
}"#;

fn config() -> TrainConfig {
    let cfg: TrainConfig = repro_core::config::parse(CONFIG, "test config").unwrap();
    cfg.validate("test config").unwrap();
    cfg
}

fn data() -> DataArgs {
    DataArgs {
        data_dir: None,
        subset: true,
    }
}

/// `wgpu:cpu` and `wgpu:default`, or `None` when skipping on a machine without an adapter.
fn devices() -> Option<Vec<Device>> {
    let specs = [
        DeviceSpec::wgpu(WgpuKind::Cpu),
        DeviceSpec::wgpu(WgpuKind::Default),
    ];
    match open_devices(&specs) {
        Ok(d) => {
            assert_ne!(d[0], d[1], "the two adapters must be distinct devices");
            Some(d)
        }
        Err(e) if std::env::var_os("REPRO_SKIP_MISSING_GPU").is_some() => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e} (set REPRO_SKIP_MISSING_GPU=1 to skip)"),
    }
}

struct Run {
    values: Vec<Vec<f32>>,
    summary: Summary,
    _dir: tempfile::TempDir,
}

fn train_on(devices: &[Device]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), "gloro", "r", false).unwrap();
    let (model, summary) = train::train_on(&config(), &run, &data(), SEED, false, devices).unwrap();
    Run {
        values: float_values(&model),
        summary,
        _dir: dir,
    }
}

/// The uninterrupted one-device run every test compares with.
fn one_device() -> Option<&'static Run> {
    static ONE: OnceLock<Option<Run>> = OnceLock::new();
    ONE.get_or_init(|| devices().map(|d| train_on(&d[..1]))).as_ref()
}

/// Largest |a - b| over every weight and iterate, relative to the largest |a|.
fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().flatten().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
        / scale
}

/// Two devices, each on half of every batch, end where one device on the whole batch ends:
/// weights, biases and power-iteration iterates within `TOL`, while training moved them far
/// more than that; the logged losses agree too.
#[test]
fn two_devices_train_the_same_weights_as_one_device_on_the_same_global_batch() {
    let (Some(d), Some(one)) = (devices(), one_device()) else {
        return;
    };
    let two = train_on(&d);
    let diff = max_rel_diff(&one.values, &two.values);
    // how far training moved the weights: the same run's initial model
    let init = float_values(&config().network().init(&d[0]));
    let moved = max_rel_diff(&one.values, &init);
    eprintln!("two devices vs one: max relative difference {diff:.2e} (training moved {moved:.2e})");
    assert!(
        diff <= TOL,
        "two devices differ from one by {diff:.2e} > {TOL:.0e}"
    );
    assert!(
        moved > 100.0 * TOL,
        "training barely moved the weights ({moved:.2e})"
    );
    for (a, b) in one.summary.epochs.iter().zip(&two.summary.epochs) {
        assert!(
            (a.loss - b.loss).abs() <= 1e-4 * a.loss.abs(),
            "{} vs {}",
            a.loss,
            b.loss
        );
        assert_eq!(a.test_accuracy, b.test_accuracy);
    }
}

fn gloro() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gloro"))
}

fn write_config(dir: &Path) -> String {
    let path = dir.join("config.json");
    std::fs::write(&path, CONFIG).unwrap();
    path.to_str().unwrap().to_string()
}

/// A two-device run killed after its first checkpoint resumes on one device, a one-device run
/// killed likewise resumes on two, and both end where the uninterrupted one-device run ends.
#[test]
fn killed_runs_resume_on_another_number_of_devices() {
    let Some(one) = one_device() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let runs = dir.path().join("runs");
    for (name, first, then) in [
        ("two-then-one", "wgpu:cpu,wgpu:default", "wgpu:cpu"),
        ("one-then-two", "wgpu:cpu", "wgpu:cpu,wgpu:default"),
    ] {
        let args = |devices: &str, resume: bool| {
            let mut c = gloro();
            c.args([
                "--device", "wgpu", "train", "--config", &cfg, "--subset", "--name", name,
            ])
            .args(["--seed", &SEED.to_string(), "--runs-dir", runs.to_str().unwrap()])
            .args(["--devices", devices])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            if resume {
                c.arg("--resume");
            }
            c
        };
        let run = RunDir::create(&runs, "gloro", name, false).unwrap();
        let killed_at = kill_at_checkpoint(
            &mut args(first, false),
            &Checkpointer::new(&run),
            1,
            Duration::from_secs(600),
        )
        .unwrap();
        assert!(
            killed_at < config().epochs,
            "{name}: the run finished before the kill"
        );
        assert!(!run.file("summary.json").exists());
        assert!(
            args(then, true).status().unwrap().success(),
            "{name}: resume failed"
        );
        let resumed: Summary = repro_core::config::load(&run.file("summary.json")).unwrap();
        let model = train::TrainedRun::open(&run.path, &Device::default())
            .unwrap()
            .model;
        let diff = max_rel_diff(&one.values, &float_values(&model));
        eprintln!("{name}: max relative difference {diff:.2e} from the uninterrupted run");
        assert!(diff <= TOL, "{name}: {diff:.2e} > {TOL:.0e}");
        assert_eq!(resumed.epochs.len(), config().epochs);
        for (a, b) in one.summary.epochs.iter().zip(&resumed.epochs) {
            assert!(
                (a.loss - b.loss).abs() <= 1e-4 * a.loss.abs(),
                "{name}: {} vs {}",
                a.loss,
                b.loss
            );
        }
    }
}

/// Mismatches are refused before a run directory exists: devices of two backends, a device
/// that cannot be opened, a batch that does not split over the devices.
#[test]
fn mismatched_devices_and_batches_are_refused_before_any_work() {
    if devices().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let runs = dir.path().join("runs");
    for (devices, expect) in [
        ("flex,wgpu:cpu", "different backends"),
        ("wgpu:cpu,wgpu:virtual:7", "cannot be opened"),
        (
            "wgpu:cpu,wgpu:default,wgpu:cpu",
            "does not divide into 3 equal shards",
        ),
        ("wgpu:tpu", "is not a device"),
    ] {
        let out = gloro()
            .args(["train", "--config", &cfg, "--subset", "--name", "bad"])
            .args(["--runs-dir", runs.to_str().unwrap(), "--devices", devices])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{devices}: accepted");
        assert!(err.contains(expect), "{devices}: {err}");
        assert!(
            !runs.join("gloro/bad").exists(),
            "{devices}: a run directory was made"
        );
    }
}
