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
