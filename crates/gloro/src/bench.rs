//! Training-throughput benchmarks of the workloads `gloro-2c2f` and `gloro-6c2f`, defined
//! exactly as in `shared/bench/torch_ref.py`: batch 256 of uniform random images and labels,
//! MinMax after every layer but the last, one power iteration per layer per step, ε = 0.3,
//! TRADES-KL with λ = 1.5, Adam lr 1e-3. Each step is [`crate::train::step`], the same code
//! as training.

use crate::loss::LossKind;
use crate::margin::MarginForm;
use crate::model::{Activation, Architecture};
use crate::train::{STEP_PHASES, StepParams, step, step_with_phases};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One measured workload, in the JSON-line format of the reference scripts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    pub workload: String,
    pub framework: String,
    pub items_per_s: f64,
    pub step_ms: f64,
    /// Per-repetition step times, for the spread.
    pub step_ms_samples: Vec<f64>,
    pub threads: usize,
    pub device: String,
    /// Resident set size after the warm-up steps, MiB.
    pub rss_after_warmup_mb: f64,
    /// Peak resident set size of the process at the end, MiB.
    pub peak_rss_mb: f64,
}

/// The workloads this crate benchmarks.
pub const WORKLOADS: [&str; 2] = ["gloro-2c2f", "gloro-6c2f"];

fn workload_spec(workload: &str) -> Result<(Architecture, [usize; 3]), String> {
    match workload {
        "gloro-2c2f" => Ok((Architecture::C2F2, [1, 28, 28])),
        "gloro-6c2f" => Ok((Architecture::C6F2, [3, 32, 32])),
        other => Err(format!(
            "unknown workload `{other}` (known: {})",
            WORKLOADS.join(", ")
        )),
    }
}

/// Batch size of both workloads.
const BATCH: usize = 256;

/// The model, optimiser and fixed batch of a workload, as the reference script builds them.
struct Setup {
    model: crate::model::GloroNet,
    optim: burn::optim::ModuleOptimizer,
    x: Tensor<4>,
    y: Tensor<1, Int>,
}

fn setup(workload: &str, device: &Device) -> Result<Setup, String> {
    let (arch, input) = workload_spec(workload)?;
    let ad = device.clone().autodiff();
    ad.seed(0);
    Ok(Setup {
        model: arch
            .config(input, 10)
            .with_activation(Activation::MinMax)
            .init(&ad),
        optim: AdamConfig::new().with_epsilon(1e-8).init(),
        x: Tensor::random([BATCH, input[0], input[1], input[2]], Distribution::Default, &ad),
        y: Tensor::random([BATCH], Distribution::Uniform(0.0, 10.0), &ad),
    })
}

/// The step of the reference script: TRADES-KL with λ = 1.5, ε = 0.3, one power iteration,
/// Adam lr 1e-3.
fn params() -> StepParams {
    StepParams {
        loss: LossKind::TradesKl,
        margin: MarginForm::Tight,
        power_iterations: 1,
        eps: 0.3,
        lambda: 1.5,
        lr: 1e-3,
    }
}

/// Runs `warmup` then `steps` training steps of `workload`, `reps` times.
pub fn run(
    workload: &str,
    steps: usize,
    warmup: usize,
    reps: usize,
    device: &Device,
) -> Result<BenchResult, String> {
    let Setup {
        mut model,
        mut optim,
        x,
        y,
    } = setup(workload, device)?;
    let p = params();
    for _ in 0..warmup {
        model = step(model, &mut optim, x.clone(), y.clone(), &p).0;
    }
    let rss_after_warmup_mb = repro_core::allocator::rss_mib();
    let mut samples = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        for _ in 0..steps {
            model = step(model, &mut optim, x.clone(), y.clone(), &p).0;
        }
        samples.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
    }
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];
    Ok(BenchResult {
        workload: workload.into(),
        framework: "burn".into(),
        items_per_s: BATCH as f64 / (median / 1e3),
        step_ms: median,
        step_ms_samples: samples,
        threads: repro_core::backend::cpu_threads(),
        device: format!("{device:?}"),
        rss_after_warmup_mb,
        peak_rss_mb: repro_core::allocator::peak_rss_mib(),
    })
}

/// Mean milliseconds per step spent in each phase of [`crate::train::step`], measured by
/// running the phases one after the other with a clock around each (the flex backend runs
/// operations eagerly, so the clock sees their cost; on an asynchronous backend the figures
/// would shift between phases).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseProfile {
    pub workload: String,
    pub steps: usize,
    /// `(phase, ms per step)` in execution order.
    pub phases: Vec<(String, f64)>,
}

/// Profiles `steps` training steps of `workload` phase by phase (after `warmup` steps): the
/// real step ([`step_with_phases`]) with a clock read as each phase ends.
pub fn profile(workload: &str, steps: usize, warmup: usize, device: &Device) -> Result<PhaseProfile, String> {
    let Setup {
        mut model,
        mut optim,
        x,
        y,
    } = setup(workload, device)?;
    let p = params();
    let mut totals = [0.0f64; STEP_PHASES.len()];
    for s in 0..warmup + steps {
        let mut t = Instant::now();
        let lap = |i: usize| {
            if s >= warmup {
                totals[i] += t.elapsed().as_secs_f64() * 1e3;
            }
            t = Instant::now();
        };
        model = step_with_phases(model, &mut optim, x.clone(), y.clone(), &p, lap).0;
    }
    Ok(PhaseProfile {
        workload: workload.into(),
        steps,
        phases: STEP_PHASES
            .iter()
            .zip(totals)
            .map(|(n, t)| (n.to_string(), t / steps as f64))
            .collect(),
    })
}
