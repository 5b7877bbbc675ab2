//! Training-throughput benchmarks of the workloads `gloro-2c2f` and `gloro-6c2f`, defined
//! exactly as in `shared/bench/torch_ref.py`: batch 256 of uniform random images and labels,
//! MinMax after every layer but the last, one power iteration per layer per step, ε = 0.3,
//! TRADES-KL with λ = 1.5, Adam lr 1e-3. Each step is [`crate::train::step`], the same code
//! as training.

use crate::loss::LossKind;
use crate::margin::MarginForm;
use crate::model::{Activation, Architecture, GloroNetConfig};
use crate::train::{STEP_PHASES, StepParams, step, step_with_phases};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use repro_core::flops::{chain, conv_out, conv2d_macs, dense_macs, forward_backward};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One measured workload, in the JSON-line format of the reference scripts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    /// The workload (`gloro-2c2f` or `gloro-6c2f`).
    pub workload: Workload,
    /// `burn`.
    pub framework: String,
    /// Images per second at the median step time.
    pub items_per_s: f64,
    /// Median milliseconds per training step over the repetitions.
    pub step_ms: f64,
    /// Per-repetition step times, for the spread.
    pub step_ms_samples: Vec<f64>,
    /// CPU worker threads.
    pub threads: usize,
    /// The device, as Burn prints it.
    pub device: String,
    /// Resident set size after the warm-up steps, MiB.
    pub rss_after_warmup_mb: f64,
    /// Peak resident set size of the process at the end, MiB.
    pub peak_rss_mb: f64,
    /// Floating-point operations of one training step per image ([`Workload::flops_per_item`]).
    pub flops_per_item: f64,
}

/// The workloads this crate benchmarks, named as in the reference script (on the command line
/// and in the JSON lines `cargo xtask bench` reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Workload {
    /// 2C2F on 1×28×28 inputs (MNIST-shaped).
    #[serde(rename = "gloro-2c2f")]
    #[value(name = "gloro-2c2f")]
    TwoC2F,
    /// 6C2F on 3×32×32 inputs (CIFAR-10-shaped).
    #[serde(rename = "gloro-6c2f")]
    #[value(name = "gloro-6c2f")]
    SixC2F,
}

impl Workload {
    /// Every workload, in the order `bench` runs them by default.
    pub const ALL: [Workload; 2] = [Workload::TwoC2F, Workload::SixC2F];

    /// The architecture and input shape (channels, height, width).
    pub fn spec(self) -> (Architecture, [usize; 3]) {
        match self {
            Workload::TwoC2F => (Architecture::C2F2, [1, 28, 28]),
            Workload::SixC2F => (Architecture::C6F2, [3, 32, 32]),
        }
    }

    /// FLOPs of one training step of this workload per image: [`step_flops`] of its network
    /// with the reference's batch and the benchmark's power iterations, divided by the batch.
    pub fn flops_per_item(self) -> f64 {
        self.flops_per_item_at(BATCH)
    }

    /// [`Self::flops_per_item`] at batch size `batch` (the bound's cost is amortised over it).
    pub fn flops_per_item_at(self, batch: usize) -> f64 {
        let (arch, input) = self.spec();
        step_flops(&arch.config(input, 10), batch, params().power_iterations) as f64 / batch as f64
    }
}

/// Forward multiply-adds per image of each layer of `config`'s body (convolutions, then hidden
/// dense layers), and of the head.
fn layer_macs(config: &GloroNetConfig) -> (Vec<u64>, u64) {
    let [mut c, mut h, mut w] = config.input;
    let mut body = Vec::new();
    for conv in &config.convs {
        let pad = 2 * conv.padding;
        let (oh, ow) = (
            conv_out(h, conv.kernel, conv.stride, pad),
            conv_out(w, conv.kernel, conv.stride, pad),
        );
        body.push(conv2d_macs(c, conv.channels, [conv.kernel; 2], [oh, ow]));
        (c, h, w) = (conv.channels, oh, ow);
    }
    let mut d = c * h * w;
    for &width in &config.dense {
        body.push(dense_macs(d, width));
        d = width;
    }
    (body, dense_macs(d, config.num_classes))
}

/// FLOPs of one training step on `batch` images ([`repro_core::flops`]: matrix products only,
/// 2 per multiply-add). The network: forward, weight gradients and input gradients of every
/// layer but the first. The bound `K`: per body layer (the head is not in `K`), each
/// power iteration applies the layer and its adjoint to a one-item iterate, and the final
/// `‖A v‖` applies it once more and back-propagates to the weights; this is per step, not per
/// image. The margin's `‖w_j − w_i‖`, MinMax, the loss and Adam are elementwise and not counted.
pub fn step_flops(config: &GloroNetConfig, batch: usize, power_iterations: usize) -> u64 {
    let (body, head) = layer_macs(config);
    let network = forward_backward(&chain(body.iter().copied().chain([head])));
    let bound: u64 = body
        .iter()
        .map(|&m| 2 * m * (2 * power_iterations as u64) + 2 * m + 2 * m)
        .sum();
    network * batch as u64 + bound
}

/// Batch size of both workloads in the reference script.
pub const BATCH: usize = 256;

/// The model, optimiser and fixed batch of a workload, as the reference script builds them.
struct Setup {
    model: crate::model::GloroNet,
    optim: burn::optim::ModuleOptimizer,
    x: Tensor<4>,
    y: Tensor<1, Int>,
}

fn setup(workload: Workload, batch: usize, device: &Device) -> Setup {
    let (arch, input) = workload.spec();
    let ad = device.clone().autodiff();
    ad.seed(0);
    Setup {
        model: arch
            .config(input, 10)
            .with_activation(Activation::MinMax)
            .init(&ad),
        optim: AdamConfig::new().with_epsilon(1e-8).init(),
        x: Tensor::random([batch, input[0], input[1], input[2]], Distribution::Default, &ad),
        y: Tensor::random([batch], Distribution::Uniform(0.0, 10.0), &ad),
    }
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

/// How long to measure: `warmup` untimed steps, then `reps` timed runs of `steps` steps, each
/// of a batch of `batch` images.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Timed steps per repetition.
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed repetitions (the median is reported).
    pub reps: usize,
    /// Images per step ([`BATCH`] in the reference).
    pub batch: usize,
}

/// Runs `warmup` then `steps` training steps of `workload`, `reps` times.
pub fn run(workload: Workload, timing: Timing, device: &Device) -> BenchResult {
    let Timing {
        steps,
        warmup,
        reps,
        batch,
    } = timing;
    let Setup {
        mut model,
        mut optim,
        x,
        y,
    } = setup(workload, batch, device);
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
    BenchResult {
        workload,
        framework: "burn".into(),
        items_per_s: batch as f64 / (median / 1e3),
        step_ms: median,
        step_ms_samples: samples,
        threads: repro_core::backend::cpu_threads(),
        device: format!("{device:?}"),
        rss_after_warmup_mb,
        peak_rss_mb: repro_core::allocator::peak_rss_mib(),
        flops_per_item: workload.flops_per_item_at(batch),
    }
}

/// Mean milliseconds per step spent in each phase of [`crate::train::step`], measured by
/// running the phases one after the other with a clock around each (the flex backend runs
/// operations eagerly, so the clock sees their cost; on an asynchronous backend the figures
/// would shift between phases).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseProfile {
    /// The workload profiled.
    pub workload: Workload,
    /// Timed steps (after the warm-up).
    pub steps: usize,
    /// `(phase, ms per step)` in execution order.
    pub phases: Vec<(String, f64)>,
}

/// Profiles `steps` training steps of `workload` phase by phase (after `warmup` steps): the
/// real step ([`step_with_phases`]) on batches of `batch` images, with a clock read as each
/// phase ends.
pub fn profile(
    workload: Workload,
    steps: usize,
    warmup: usize,
    batch: usize,
    device: &Device,
) -> PhaseProfile {
    let Setup {
        mut model,
        mut optim,
        x,
        y,
    } = setup(workload, batch, device);
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
    PhaseProfile {
        workload,
        steps,
        phases: STEP_PHASES
            .iter()
            .zip(totals)
            .map(|(n, t)| (n.to_string(), t / steps as f64))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConvSpec;
    use clap::ValueEnum;

    /// `cargo xtask bench` and `torch_ref.py` know the workloads by these names.
    const NAMES: [(Workload, &str); 2] = [(Workload::TwoC2F, "gloro-2c2f"), (Workload::SixC2F, "gloro-6c2f")];

    #[test]
    fn workloads_keep_the_reference_names_on_the_command_line_and_in_json() {
        for (w, name) in NAMES {
            assert_eq!(serde_json::to_value(w).unwrap(), name);
            assert_eq!(serde_json::from_value::<Workload>(name.into()).unwrap(), w);
            assert_eq!(Workload::from_str(name, false), Ok(w));
            assert_eq!(w.to_possible_value().unwrap().get_name(), name);
        }
        assert_eq!(Workload::value_variants(), Workload::ALL);
        // Input shapes of torch_ref.py: MNIST 1×28×28 and CIFAR 3×32×32.
        assert_eq!(Workload::TwoC2F.spec(), (Architecture::C2F2, [1, 28, 28]));
        assert_eq!(Workload::SixC2F.spec(), (Architecture::C6F2, [3, 32, 32]));
    }

    #[test]
    fn step_flops_of_tiny_networks_by_hand() {
        // A head only (3 → 2, 6 multiply-adds): forward 12, weight gradient 12, no input
        // gradient, no bound (the head is not in K). Batch 4.
        let head_only = GloroNetConfig::new([3, 1, 1], vec![], vec![], 2);
        assert_eq!(step_flops(&head_only, 4, 1), 4 * 24);
        // conv 1 → 2, k3 s1 p1 on 4×4 (4·4·2·9 = 288 multiply-adds, the first layer: no input
        // gradient), then the head 32 → 2 (64): per image 4·288 + 6·64 = 1536. The bound, once
        // per step: one iteration (A then Aᵀ, 2·2·288) plus ‖A v‖ and its weight gradient
        // (2·288 + 2·288) = 2304.
        let one_conv = GloroNetConfig::new(
            [1, 4, 4],
            vec![ConvSpec::new(2, 3).with_stride(1).with_padding(1)],
            vec![],
            2,
        );
        assert_eq!(step_flops(&one_conv, 4, 1), 4 * 1536 + 2304);
        // Two iterations add one more A and Aᵀ: 2·2·288.
        assert_eq!(step_flops(&one_conv, 4, 2), 4 * 1536 + 2304 + 1152);
    }

    #[test]
    fn gloro_2c2f_flops_match_the_layer_shapes_of_torch_ref() {
        // conv16 k4 s2 p1: 28 → 14, 16·14²·1·16 = 50176; conv32 k4 s2 p1: 14 → 7,
        // 32·7²·16·16 = 401408; dense 1568 → 100 = 156800; head 100 → 10 = 1000.
        let (convs, dense, head) = (50176u64 + 401408, 156800u64, 1000u64);
        let forward = convs + dense + head;
        let per_image = 3 * 2 * forward - 2 * 50176;
        let bound = 8 * (convs + dense);
        let expected = (256 * per_image + bound) as f64 / 256.0;
        assert_eq!(Workload::TwoC2F.flops_per_item(), expected);
        // About 3.57 MFLOP per image.
        assert!((expected - 3.575e6).abs() < 1e3, "{expected}");
    }

    #[cfg(feature = "flex")]
    #[test]
    fn a_run_prints_the_json_line_xtask_reads() {
        let timing = Timing {
            steps: 1,
            warmup: 0,
            reps: 3,
            batch: 32,
        };
        let r = run(Workload::TwoC2F, timing, &Device::flex());
        let line: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(
            (&line["workload"], &line["framework"]),
            (&"gloro-2c2f".into(), &"burn".into())
        );
        let (items_per_s, step_ms) = (
            line["items_per_s"].as_f64().unwrap(),
            line["step_ms"].as_f64().unwrap(),
        );
        // The median of the three repetitions, and the throughput at that step time.
        let mut samples = r.step_ms_samples.clone();
        samples.sort_by(f64::total_cmp);
        assert!(
            samples.len() == 3 && step_ms > 0.0 && step_ms == samples[1],
            "{line}"
        );
        assert!((items_per_s * step_ms / 1e3 - 32.0).abs() < 1e-6, "{line}");
    }
}
