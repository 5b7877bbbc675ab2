//! The report is rendered from run records alone, and its result-dependent sentences follow
//! the records.

use pes::checkpoint::MetaRecord;
use pes::estimators::{EstimatorConfig, EstimatorKind};
use pes::experiments::toy::Optimum;
use pes::experiments::{Grid, MethodRun, ToyConfig, ToyResult};
use pes::records::{self, Record};

fn toy_record(final_loss: f64) -> Record<ToyConfig, ToyResult> {
    let config = EstimatorConfig::new(EstimatorKind::Pes, 10, 100, 0.3);
    let rec = |iteration, eval: f64| MetaRecord {
        iteration,
        theta: vec![0.0, 0.0],
        truncation_loss: None,
        eval: Some(eval),
    };
    let runs = (0..3)
        .map(|seed| MethodRun {
            label: config.label(),
            config: config.clone().with_seed(seed),
            history: vec![rec(0, 2000.0), rec(10, final_loss)],
            seconds: 1.0,
            completed: None,
        })
        .collect();
    Record {
        command: "test".into(),
        config: ToyConfig::default(),
        metrics: ToyResult {
            runs,
            heatmap: Grid {
                x: (-5.0, 5.0),
                y: (-5.0, 5.0),
                values: vec![vec![1.0, 2.0], vec![3.0, f64::INFINITY]],
            },
            optimum: Optimum {
                theta: [1.0, -1.0],
                meta_loss: 500.0,
            },
        },
        summary: serde_json::Value::Null,
    }
}

fn render(final_loss: f64) -> String {
    let dir = tempfile::tempdir().unwrap();
    records::save(dir.path(), "toy", &toy_record(final_loss)).unwrap();
    let path = pes::report::render(dir.path()).unwrap();
    assert!(dir.path().join("pes/toy_heatmap.png").exists());
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn toy_verdict_follows_the_record() {
    // 0.5 % above the optimum: within the 1 % tolerance.
    let md = render(502.5);
    assert!(md.contains("on every seed): PES K=10."), "{md}");
    assert!(md.contains("No record `pes/runs/influence/record.json`"), "{md}");
    // 5 % above: not reached.
    let md = render(525.0);
    assert!(md.contains("on every seed): none. Do not: PES K=10."), "{md}");
}

#[test]
fn unrun_methods_are_costed_from_the_measured_rate() {
    let cfg: pes::experiments::MnistConfig =
        repro_core::config::parse(include_str!("../configs/mnist-t1000.json"), "mnist-t1000.json").unwrap();
    let run = |kind, seed| MethodRun {
        label: String::new(),
        config: EstimatorConfig::new(kind, 10, 100, 0.1).with_seed(seed),
        history: vec![],
        seconds: 1.0,
        completed: None,
    };
    let runs = vec![run(EstimatorKind::Pes, 0), run(EstimatorKind::TruncatedEs, 0)];
    // 1000 iterations × 100 particles × K = 100 steps at 1.8 ms: 5.0 h per method and seed;
    // two methods, three seeds: 30 h. The K = 10 methods have runs and are not costed.
    let line = pes::report::unrun_cost(&cfg, &runs, 1.8e-3).unwrap();
    assert!(line.contains("PES K=100 ≈ 5.0 h, TES K=100 ≈ 5.0 h;"), "{line}");
    assert!(line.contains("≈ 30 h."), "{line}");
    assert!(!line.contains("K=10 "), "{line}");
    let all = vec![
        run(EstimatorKind::Pes, 0),
        run(EstimatorKind::TruncatedEs, 0),
        MethodRun {
            config: EstimatorConfig::new(EstimatorKind::Pes, 100, 100, 0.1),
            ..run(EstimatorKind::Pes, 0)
        },
        MethodRun {
            config: EstimatorConfig::new(EstimatorKind::TruncatedEs, 100, 100, 0.1),
            ..run(EstimatorKind::Pes, 0)
        },
    ];
    assert_eq!(pes::report::unrun_cost(&cfg, &all, 1.8e-3), None);
}
