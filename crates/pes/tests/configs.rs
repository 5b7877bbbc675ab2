//! The shipped JSON configs are the library defaults (the paper's settings), and the
//! binary-level pieces (MNIST experiment, plots, benchmark) run end to end at a tiny scale.

use burn::tensor::Device;
use pes::estimator::{EstimatorConfig, EstimatorKind};
use pes::experiments::{Context, mnist};
use pes::problems::influence::InfluenceConfig;
use pes::problems::mnist_schedule::MnistConfig;
use pes::problems::toy_regression::ToyConfig;
use pes::variance::VarianceConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn same<C: Serialize + DeserializeOwned>(file: &str, default: C) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: C = serde_json::from_str(&text).unwrap();
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
