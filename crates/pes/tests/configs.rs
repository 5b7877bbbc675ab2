//! The shipped JSON configs are the library defaults (the paper's settings), and the
//! binary-level pieces (MNIST experiment, plots, benchmark) run end to end at a tiny scale.

use burn::tensor::Device;
use pes::PesError;
use pes::estimators::{EstimatorConfig, EstimatorKind};
use pes::experiments::mnist::run as mnist;
use pes::experiments::{Context, InfluenceConfig, MnistConfig, ToyConfig, VarianceConfig, load_config};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

fn same<C: Serialize + DeserializeOwned + Default>(file: &str, default: C) {
    let parsed: C = load_config(Some(&configs_dir().join(file))).unwrap();
    assert_eq!(
        serde_json::to_value(parsed).unwrap(),
        serde_json::to_value(default).unwrap(),
        "{file} differs from the defaults"
    );
}

#[test]
fn shipped_configs_are_the_paper_defaults() {
    same("influence.json", InfluenceConfig::default());
    same("toy.json", ToyConfig::default());
    same("mnist.json", MnistConfig::full());
    same("mnist-quick.json", MnistConfig::quick());
    same("variance.json", VarianceConfig::default());
    let inf = InfluenceConfig::default();
    assert_eq!((inf.theta0, inf.iterations), (0.5, 3000));
    let toy = ToyConfig::default();
    assert_eq!((toy.horizon, toy.theta0), (100, [-4.0, -4.0]));
    let m = MnistConfig::full();
    assert_eq!((m.horizon, m.batch_size, m.hidden), (5000, 100, [100, 100]));
    // Partial configs fall back to the defaults field by field.
    let partial: ToyConfig = serde_json::from_str(r#"{"iterations": 7}"#).unwrap();
    assert_eq!((partial.iterations, partial.horizon), (7, 100));
}

/// Loads `path` as the config type its file name names (`influence*`, `toy*`, `mnist*`,
/// `variance*`); a file of no known experiment is an error too.
fn load_by_name(path: &Path) -> pes::Result<()> {
    let name = path.file_name().unwrap().to_string_lossy();
    if name.starts_with("influence") {
        load_config::<InfluenceConfig>(Some(path)).map(drop)
    } else if name.starts_with("toy") {
        load_config::<ToyConfig>(Some(path)).map(drop)
    } else if name.starts_with("mnist") {
        load_config::<MnistConfig>(Some(path)).map(drop)
    } else if name.starts_with("variance") {
        load_config::<VarianceConfig>(Some(path)).map(drop)
    } else {
        panic!("{}: no experiment config type for this file name", path.display())
    }
}

/// Every JSON file shipped under `configs/` loads strictly as its experiment's config.
#[test]
fn every_shipped_config_loads() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            if let Err(e) = load_by_name(&path) {
                panic!("{e}");
            }
            loaded += 1;
        }
    }
    assert!(loaded >= 5, "only {loaded} configs found");
}

/// A misspelt key, at the top level or inside a method or the outer optimiser, is an error
/// that names the file and the field instead of a silently applied default.
#[test]
fn misspelt_config_keys_are_rejected_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    // (file, text, accepted paths of the offending field, misspelt key)
    let cases: [(&str, &str, &[&str], &str); 3] = [
        (
            "top.json",
            r#"{"iterations": 7, "itrations": 8}"#,
            &["itrations"],
            "itrations",
        ),
        (
            "method.json",
            r#"{"methods": [{"kind": "pes", "particles": 10, "sigma": 0.1, "truncation": 10, "seed": 0, "sigm": 1.0}]}"#,
            &["methods[0].sigm"],
            "sigm",
        ),
        (
            "outer.json",
            r#"{"outer": {"kind": "adam", "lr": 0.01, "beta_1": 0.9}}"#,
            // The tagged optimiser enum is buffered before its variant is read.
            &["outer.beta_1", "outer"],
            "beta_1",
        ),
    ];
    for (file, text, fields, key) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let err = load_config::<ToyConfig>(Some(&path)).unwrap_err();
        let message = err.to_string();
        match &err {
            PesError::Core(repro_core::Error::Parse {
                field: f, message: m, ..
            }) => {
                assert!(fields.contains(&f.as_str()), "{file}: field `{f}`: {message}");
                assert!(m.contains(&format!("unknown field `{key}`")), "{message}");
            }
            other => panic!("{file}: expected a parse error, got {other:?}"),
        }
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
}

/// A tiny MNIST meta-training (embedded subset when full MNIST is absent): landscape,
/// PES and truncated ES, plots.
#[test]
fn mnist_experiment_runs_end_to_end_at_tiny_scale() {
    let m = |kind| EstimatorConfig::new(kind, 5, 4, 0.1);
    let cfg = MnistConfig {
        hidden: [16, 16],
        batch_size: 20,
        horizon: 10,
        iterations: 4,
        methods: vec![m(EstimatorKind::Pes), m(EstimatorKind::TruncatedEs)],
        eval_every: 2,
        grid: 2,
        train_images: 500,
        ..MnistConfig::quick()
    };
    let device = Device::flex();
    let result = mnist(&cfg, &Default::default(), &Context::quiet(&device)).unwrap();
    assert_eq!(result.heatmap.values.len(), 2);
    assert_eq!(result.runs.len(), 2);
    for r in &result.runs {
        assert_eq!(r.last().iteration, 4);
        // Sum over T = 10 steps of a cross-entropy near ln 10 at the start.
        let e = r.history[0].eval.unwrap();
        assert!(e > 5.0 && e < 40.0, "meta-loss {e}");
        // At lr₀ = 0.003 a 10-step episode barely trains: both methods raise lr₀ and the
        // (deterministic) meta-loss of a fresh episode falls.
        let end = r.last().eval.unwrap();
        eprintln!(
            "{}: meta-loss {e:.4} → {end:.4}, θ = {:?}",
            r.label,
            r.last().theta
        );
        assert!(end < e - 0.05, "{}: meta-loss {e} → {end} did not fall", r.label);
        assert!(r.last().theta[0] > cfg.theta0[0], "{}: lr₀ did not rise", r.label);
    }
    let dir = tempfile::tempdir().unwrap();
    pes::report::plot_mnist(&result, dir.path()).unwrap();
    assert!(dir.path().join("mnist_heatmap.png").exists());
}

/// The benchmark runs the library's PES step and reports throughput.
#[test]
fn bench_reports_items_per_second() {
    let args = pes::bench::BenchArgs {
        steps: 1,
        warmup: 0,
        particles: 2,
        k: 1,
    };
    let r = pes::bench::run(&args, &Device::flex()).unwrap();
    assert_eq!(r.workload, "pes-mnist-mlp");
    assert!(r.items_per_s > 0.0 && r.step_ms > 0.0);
}

/// Two processes share one MNIST config (different seeds, one of them also the landscape)
/// in separate run folders; `record_mnist_runs` merges them into one record, a run stopped
/// early is recorded as partial from its checkpoint, and the report says which are complete.
#[test]
fn mnist_runs_of_several_processes_merge_into_one_record() {
    use pes::experiments::mnist::{LandscapeMode, MnistSelection, run_selected};
    let m = |kind| EstimatorConfig::new(kind, 5, 4, 0.1);
    let mut cfg = MnistConfig {
        hidden: [8, 8],
        batch_size: 10,
        horizon: 10,
        iterations: 4,
        methods: vec![m(EstimatorKind::Pes), m(EstimatorKind::TruncatedEs)],
        eval_every: 2,
        grid: 2,
        train_images: 200,
        seeds: vec![0, 1],
        ..MnistConfig::quick()
    };
    let device = Device::flex();
    let root = tempfile::tempdir().unwrap();
    let process = |name: &str, cfg: &MnistConfig, selection: MnistSelection| {
        let run = repro_core::train::RunDir::create(root.path(), "pes", name, true).unwrap();
        run.write_config(&cfg).unwrap();
        let ctx = Context {
            run: Some(run.clone()),
            resume: true,
            checkpoint_every: 2,
            ..Context::quiet(&device)
        };
        run_selected(cfg, &selection, &Default::default(), &ctx).unwrap();
        run.path
    };
    let a = process(
        "a",
        &cfg,
        MnistSelection {
            seeds: vec![0],
            ..Default::default()
        },
    );
    // the second process ran seed 1's PES for 2 of the 4 iterations (stopped early), and no
    // landscape; its config.json is the shared config
    cfg.iterations = 2;
    let b = process(
        "b",
        &cfg,
        MnistSelection {
            seeds: vec![1],
            methods: vec!["pes-k-5".into()],
            landscape: LandscapeMode::Skip,
        },
    );
    cfg.iterations = 4;
    repro_core::train::RunDir::create(root.path(), "pes", "b", true)
        .unwrap()
        .write_config(&cfg)
        .unwrap();
    let bad = MnistSelection {
        seeds: vec![7],
        ..Default::default()
    };
    assert!(bad.pick(&cfg).is_err());
    let out = tempfile::tempdir().unwrap();
    pes::reproduce::record_mnist_runs(&[a, b], "mnist-t1000", "test", out.path()).unwrap();
    let rec: pes::records::Record<MnistConfig, pes::experiments::MnistResult> =
        pes::records::load(out.path(), "mnist-t1000").unwrap().unwrap();
    let runs = &rec.metrics.runs;
    assert_eq!(runs.len(), 3, "seed 0: PES and TES; seed 1: PES");
    assert_eq!(rec.metrics.heatmap.values.len(), 2);
    let partial: Vec<_> = runs.iter().filter(|r| r.is_partial()).collect();
    assert_eq!(partial.len(), 1);
    assert_eq!((partial[0].config.seed, partial[0].completed), (1, Some(2)));
    assert!(runs.iter().all(|r| r.seconds > 0.0));
    let status = pes::report::mnist_status(&rec.config, runs);
    assert!(
        status.contains("- PES K=5: complete for seed 0; partial: seed 1 at 2/4"),
        "{status}"
    );
    assert!(
        status.contains("- TES K=5: complete for seed 0; not run for seed 1."),
        "{status}"
    );
    let md = std::fs::read_to_string(pes::report::render(out.path()).unwrap()).unwrap();
    assert!(
        md.contains("no verdict (seeds: PES 1, truncated ES 1; 3 needed)"),
        "{md}"
    );
}
